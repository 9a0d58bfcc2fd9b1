"""motep (PyPI, the test extra) as a real client: it reads every kind of potential mtpflow writes
(tests/io/potential_kinds.py), finds the element order in potential_name, and its C engine agrees with
`mtpflow calc-efs` on energies, forces and stresses to 1e-10 on periodic triclinic configurations.

motep 0.2.0's .cfg reader takes no exponent notation, so it reads a fixed-point copy
(write_cfg(..., fixed_point=True)) that holds the same doubles. Its reader cannot decode MLIP-3's
binary active-learning block either: kinds that keep one are given to motep as the copy
`mtpflow convert --drop-selection` makes.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from ase.data import atomic_numbers
from motep.calculator import MTP
from motep.io.mlip.cfg import read_cfg as motep_read_cfg
from motep.io.mlip.mtp import read_mtp as motep_read_mtp

from mtpflow.cli import main
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.io.mtp import parse_potential_name, read_mtp
from tests.conftest import SHARED_DATA
from tests.io.potential_kinds import KINDS, TRAINED, UNTRAINED, build
from tests.mtp.test_kernels import medium_triclinic, small_triclinic

TOL = 1e-10


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("motep_client")


def for_motep(kind, folder):
    """(Written, the file motep reads): the file itself, or its --drop-selection copy."""
    w = build(kind, folder)
    if w.motep_readable:
        assert w.block is None
        return w, w.path
    out = w.path.with_name(w.path.stem + "_for_motep.mtp")
    if not out.exists():
        assert main(["convert", str(w.path), str(out), "--drop-selection"]) == 0
    assert b"#" not in out.read_bytes()
    return w, out


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """(label, .cfg path, number of types) of periodic triclinic inputs: self-made ones always, the
    shared oracle inputs (types 0 = Li, 1 = Cl, 2 = Al) where ../shared/data is present."""
    d = tmp_path_factory.mktemp("motep_cfgs")
    write_cfg(d / "three.cfg", [small_triclinic(n=6, seed=11), medium_triclinic(n=40, seed=12)])
    write_cfg(d / "two.cfg", [small_triclinic(n=9, seed=13, types=[0, 1, 1, 0, 1, 0, 0, 1, 1])])
    out = [("self-made triclinic, 3 types", d / "three.cfg", 3), ("self-made triclinic, 2 types", d / "two.cfg", 2)]
    for name in ("triclinic.cfg", "guidebook_test5.cfg"):
        path = SHARED_DATA / "mtp_oracle_inputs" / name
        if path.exists():
            out.append((name, path, 3))
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_motep_reads_every_kind(kind, folder):
    w, path = for_motep(kind, folder)
    ours = read_mtp(path)
    data = motep_read_mtp(path)
    _name, species, _meta = parse_potential_name(data.potential_name)
    assert species == w.species == ours.species
    assert data.species_count == ours.species_count
    assert data.radial_basis.type == "RBChebyshev"
    assert (data.radial_basis.min, data.radial_basis.max) == (ours.min_dist, ours.max_dist)
    assert data.radial_basis.size == ours.radial_basis_size
    assert data.radial_funcs_count == ours.radial_funcs_count
    assert data.alpha_moments_count == ours.alpha_moments_count
    for key in ("alpha_index_basic", "alpha_index_times", "alpha_moment_mapping"):
        np.testing.assert_array_equal(np.asarray(getattr(data, key)).reshape(getattr(ours, key).shape),
                                      getattr(ours, key), err_msg=key)
    assert w.trained == (kind not in UNTRAINED) == ours.is_trained
    if w.trained:
        assert data.scaling == ours.scaling
        for key in ("radial_coeffs", "species_coeffs", "moment_coeffs"):  # 17 digits: the same doubles
            np.testing.assert_array_equal(np.asarray(getattr(data, key)), getattr(ours, key), err_msg=key)
    else:
        assert data.radial_coeffs is None


def test_fixed_point_cfg_holds_the_same_doubles(tmp_path):
    configs = [small_triclinic(n=6, seed=1), medium_triclinic(n=12, seed=2)]
    configs[0].positions[0] = [1e-20, -3.5e-7, 123456789.125]
    configs[1].energy, configs[1].forces = -1.234e-9, np.full((12, 3), 2.5e15)
    configs[1].plus_stress = np.array([1e-300, -0.0, 7.0, 1 / 3, -2 / 3, 5e-5])
    write_cfg(tmp_path / "fixed.cfg", configs, fixed_point=True)
    text = (tmp_path / "fixed.cfg").read_text()
    assert not re.search(r"[0-9.][eE]", text) and "0.00000000000000000001" in text
    for a, b in zip(configs, read_cfg(tmp_path / "fixed.cfg")):
        for key in ("positions", "cell", "forces", "plus_stress"):
            x, y = getattr(a, key), getattr(b, key)
            assert (x is None and y is None) or np.array_equal(x, y), key
        assert a.energy == b.energy
    images = motep_read_cfg(str(tmp_path / "fixed.cfg"), index=":", species=[3, 17, 13])
    np.testing.assert_array_equal(images[0].positions, configs[0].positions)


@pytest.mark.parametrize("kind", TRAINED)
def test_motep_agrees_with_calc_efs(kind, folder, configs, tmp_path):
    w, path = for_motep(kind, folder)
    data = motep_read_mtp(path)
    _name, species, _meta = parse_potential_name(data.potential_name)
    numbers = [atomic_numbers[s] for s in species]
    data.species = numbers
    compared = 0
    for label, cfg_path, n_types in configs:
        if n_types != len(species):
            continue
        out = tmp_path / "efs.cfg"
        assert main(["calc-efs", str(w.path), str(cfg_path), str(out)]) == 0
        ref = read_cfg(out)
        fixed = tmp_path / "fixed.cfg"
        write_cfg(fixed, read_cfg(cfg_path), fixed_point=True)
        images = motep_read_cfg(str(fixed), index=":", species=numbers)
        assert len(images) == len(ref)
        for k, (atoms, r) in enumerate(zip(images, ref)):
            np.testing.assert_array_equal(atoms.positions, r.positions)  # motep got the same doubles
            np.testing.assert_array_equal(atoms.cell[:], r.cell)
            atoms.calc = MTP(data, engine="cext")
            e = atoms.get_potential_energy()
            f = atoms.get_forces()
            virial = -atoms.get_stress(voigt=True) * atoms.get_volume()  # PlusStress xx yy zz yz xz xy
            where = f"{kind}, {label} #{k}"
            assert abs(e - r.energy) <= TOL * abs(r.energy), where
            assert np.max(np.abs(f - r.forces)) <= TOL * np.max(np.abs(r.forces)), where
            assert np.max(np.abs(virial - r.plus_stress)) <= TOL * np.max(np.abs(r.plus_stress)), where
            compared += 1
    assert compared >= 1
