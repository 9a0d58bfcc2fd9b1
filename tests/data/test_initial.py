"""Reference density, random initial configurations, replication, and `mtpflow build-initial`."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.data.crystal import (REFERENCES, density_from_cif, formula_mass, parse_formula,
                                  reference_density, volume_for_density)
from mtpflow.data.initial import parse_min_distances, random_structure, replicate
from mtpflow.errors import InputError
from mtpflow.io.structure import read_frames

LIALCL4 = parse_formula("Li16Al16Cl64")


def test_lialcl4_density_from_cell_and_z():
    ref = REFERENCES["LiAlCl4"]
    assert ref.volume_a3 == pytest.approx(7.007 * 6.504 * 12.995 * np.sin(np.radians(93.32)))
    assert ref.density_g_cm3 == pytest.approx(1.974, abs=5e-4)
    # 16 formula units at crystal density: 4 cells = 2,365 Å³
    assert volume_for_density(formula_mass(LIALCL4), ref.density_g_cm3) == pytest.approx(
        4 * ref.volume_a3, rel=1e-12)


def test_formula_errors():
    with pytest.raises(InputError, match="unknown element 'Xx'"):
        parse_formula("Li16Xx3")
    with pytest.raises(InputError, match="count 0"):
        parse_formula("Li0Cl")
    with pytest.raises(InputError, match="cannot read"):
        parse_formula("li2")
    assert parse_formula("Li2AlCl5") == {"Li": 2, "Al": 1, "Cl": 5}


def _min_pair_distance(atoms, a, b):
    d = atoms.get_all_distances(mic=True)
    sy = np.array(atoms.get_chemical_symbols())
    mask = (sy[:, None] == a) & (sy[None, :] == b)
    np.fill_diagonal(mask, False)
    return d[mask].min()


def test_random_structure_density_distances_and_seed():
    d = reference_density()[0]
    mind = parse_min_distances("Li-Cl=2.1", list(LIALCL4))
    a = random_structure(LIALCL4, d, mind, seed=4)
    assert len(a) == 96 and a.get_chemical_symbols()[:16] == ["Li"] * 16
    assert a.get_chemical_symbols()[16:32] == ["Al"] * 16
    assert a.get_masses().sum() / a.cell.volume * 1e24 / 6.02214076e23 == pytest.approx(d)
    for (x, y), dist in mind.items():
        assert _min_pair_distance(a, x, y) >= dist - 1e-9
    b = random_structure(LIALCL4, d, mind, seed=4)
    c = random_structure(LIALCL4, d, mind, seed=5)
    assert np.array_equal(a.positions, b.positions) and not np.allclose(a.positions, c.positions)


def test_impossible_distances_give_up_with_message():
    d = reference_density()[0]
    mind = parse_min_distances("Li-Cl=4.5", list(LIALCL4))
    with pytest.raises(InputError, match="after 3 tries of up to 400 positions"):
        random_structure(LIALCL4, d, mind, seed=0, tries_per_atom=400, max_restarts=3)


def test_composition_that_does_not_fit_the_density():
    with pytest.raises(InputError, match="does not fit the density"):
        random_structure(LIALCL4, 2.0 * reference_density()[0])


def test_min_distance_parse_errors():
    with pytest.raises(InputError, match="not in the formula"):
        parse_min_distances("Na-Cl=2", ["Li", "Al", "Cl"])
    with pytest.raises(InputError, match="Li-Cl=2.0"):
        parse_min_distances("LiCl2", ["Li", "Al", "Cl"])
    with pytest.raises(InputError, match="≥ 0"):
        parse_min_distances("Li-Cl=-1", ["Li", "Al", "Cl"])


def test_replicate_to_2592_grouped():
    a = random_structure(LIALCL4, reference_density()[0], seed=1)
    big = replicate(a, (3, 3, 3), ["Li", "Al", "Cl"])
    sy = big.get_chemical_symbols()
    assert len(big) == 2592 and sy[:432] == ["Li"] * 432 and sy[432:864] == ["Al"] * 432
    assert big.cell.volume == pytest.approx(27 * a.cell.volume)
    with pytest.raises(InputError):
        replicate(a, (3, 0, 3))


def test_density_from_cif(tmp_path):
    from ase.io import write

    a = random_structure(LIALCL4, 1.5, seed=2)
    write(tmp_path / "x.cif", a)
    assert density_from_cif(tmp_path / "x.cif")[0] == pytest.approx(1.5, rel=1e-5)


def test_build_initial_cli(tmp_path, capsys):
    out = tmp_path / "POSCAR"
    assert main(["build-initial", "--formula", "Li16Al16Cl64", "--density-factor", "1.0",
                 "--seed", "0", "--out", str(out)]) == 0
    atoms = read_frames(out)[0]
    assert len(atoms) == 96 and out.read_text().splitlines()[5].split() == ["Li", "Al", "Cl"]
    assert main(["build-initial", "--formula", "Li3AlCl6", "--density-factor", "0.8",
                 "--replicate", "2,2,2", "--out", str(tmp_path / "s.extxyz")]) == 0
    assert len(read_frames(tmp_path / "s.extxyz")[0]) == 80
    assert main(["build-initial", "--formula", "Li16Al16Cl64", "--density-factor", "2",
                 "--out", str(tmp_path / "bad.vasp")]) == 2
    assert "does not fit the density" in capsys.readouterr().err
    assert not (tmp_path / "bad.vasp").exists()
