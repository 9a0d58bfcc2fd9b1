"""MTPCalculator: ASE conventions, species handling, reuse, errors."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError

from mtpflow.errors import InputError
from mtpflow.mtp import MTPCalculator
from mtpflow.mtp.evaluate import evaluate
from tests.mtp.test_kernels import medium_triclinic, random_potential


def _atoms(cfg, species=("Li", "Cl", "Al")):
    return Atoms(symbols=[species[t] for t in cfg.types], positions=cfg.positions, cell=cfg.cell,
                 pbc=cfg.cell is not None)


def test_calculator_matches_evaluate_and_ase_conventions():
    pot = random_potential(8, seed=31)
    cfg = medium_triclinic(n=24, seed=32)
    atoms = _atoms(cfg)
    atoms.calc = MTPCalculator(pot)  # species from the potential's metadata
    ref = evaluate(pot, cfg)
    assert atoms.get_potential_energy() == pytest.approx(ref.energy, rel=1e-14)
    assert atoms.get_potential_energy(force_consistent=True) == pytest.approx(ref.energy, rel=1e-14)
    np.testing.assert_allclose(atoms.get_potential_energies(), ref.energies, rtol=1e-13)
    np.testing.assert_allclose(atoms.get_forces(), ref.forces, rtol=1e-13, atol=1e-13)
    stress = atoms.get_stress()  # ASE: eV/Å^3, Voigt xx yy zz yz xz xy, = -PlusStress / V
    np.testing.assert_allclose(stress, -ref.plus_stress / atoms.get_volume(), rtol=1e-12)
    # ASE's own numerical stress (strain derivative of the energy) agrees
    from ase.calculators.fd import calculate_numerical_stress

    num = calculate_numerical_stress(atoms, eps=1e-6)
    np.testing.assert_allclose(stress, num, rtol=1e-5, atol=1e-6 * np.abs(stress).max())
    # a second call after a move gives the new configuration's values (tables are reused)
    tables = atoms.calc._tables
    atoms.positions[0] += 0.05
    e2 = atoms.get_potential_energy()
    assert atoms.calc._tables is tables
    assert e2 == pytest.approx(evaluate(pot, positions=atoms.positions, types=cfg.types,
                                        cell=cfg.cell).energy, rel=1e-14)


def test_calculator_from_path_with_species(tmp_path):
    from mtpflow.io.mtp import write_mtp

    pot = random_potential(8, seed=33)
    pot.species = None  # as an MLIP file: no element names
    path = tmp_path / "pot.mtp"
    write_mtp(path, pot)
    cfg = medium_triclinic(n=10, seed=34)
    with pytest.raises(InputError, match="names no elements"):
        MTPCalculator(path)
    # types 0,1,2 = Na,K,Li here: the elements only label the types
    calc = MTPCalculator(str(path), species="Na,K,Li")
    atoms = _atoms(cfg, species=("Na", "K", "Li"))
    atoms.calc = calc
    assert atoms.get_potential_energy() == pytest.approx(evaluate(pot, cfg).energy, rel=1e-13)


def test_calculator_non_periodic_and_errors():
    pot = random_potential(8, seed=35)
    cfg = medium_triclinic(n=8, seed=36)
    atoms = Atoms(symbols=["Li", "Cl", "Al", "Li"], positions=cfg.positions[:4], pbc=False)
    atoms.calc = MTPCalculator(pot)
    e = atoms.get_potential_energy()
    assert e == pytest.approx(evaluate(pot, positions=cfg.positions[:4], types=[0, 1, 2, 0]).energy, rel=1e-14)
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()
    with pytest.raises(InputError, match="differs"):
        MTPCalculator(pot, species=["Cl", "Li", "Al"])
    with pytest.raises(InputError, match="species_count"):
        MTPCalculator(_no_species(pot), species=["Li", "Cl"])
    bad = Atoms(symbols=["Li", "Na"], positions=[[0, 0, 0], [2, 0, 0]], pbc=False)
    bad.calc = MTPCalculator(pot)
    with pytest.raises(InputError, match="Na"):
        bad.get_potential_energy()
    partly = Atoms(symbols=["Li"], positions=[[0, 0, 0]], cell=np.eye(3) * 5, pbc=[True, True, False])
    partly.calc = MTPCalculator(pot)
    with pytest.raises(InputError, match="partly periodic"):
        partly.get_potential_energy()


def _no_species(pot):
    p = pot.copy()
    p.species = None
    return p


def test_check_state_answers_as_ase():
    """The fast paths of check_state give ASE's compare_atoms answer in every case."""
    from ase.calculators.calculator import compare_atoms

    pot = random_potential(8, seed=37)
    cfg = medium_triclinic(n=12, seed=38)
    atoms = _atoms(cfg)
    atoms.positions[5, 2] = 1e-16  # so that a change below tol (1e-15) can be represented
    atoms.calc = calc = MTPCalculator(pot)
    atoms.get_forces()

    def variants():
        yield "same", atoms.copy()
        a = atoms.copy(); a.positions[3, 1] += 0.01; yield "moved", a
        a = atoms.copy(); a.positions[5, 2] = 6e-16; yield "below tol", a
        a = atoms.copy(); a.positions[0, 0] = np.nan; yield "nan", a
        a = atoms.copy(); a.numbers[0] = 3 if a.numbers[0] != 3 else 17; yield "numbers", a
        a = atoms.copy(); a.cell[0, 0] += 0.1; yield "cell", a
        a = atoms.copy(); a.positions[2] += 0.1; a.cell[1, 1] += 0.1; yield "both", a
        a = atoms.copy(); a.pbc = [True, True, False]; yield "pbc", a
        a = atoms.copy(); a.set_initial_charges(np.ones(len(a))); yield "charges", a
        a = atoms.copy(); a.set_momenta(np.ones((len(a), 3))); yield "momenta only", a

    seen = {}
    for name, other in variants():
        got = calc.check_state(other)
        want = compare_atoms(calc.atoms, other, tol=1e-15)
        assert sorted(got) == sorted(want), name
        seen[name] = sorted(got)
    assert seen["same"] == [] and seen["moved"] == ["positions"] and seen["below tol"] == []
    assert seen["momenta only"] == [] and "cell" in seen["both"]
