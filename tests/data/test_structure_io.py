"""Generic structure read/write and `mtpflow convert` between .cfg, extxyz, POSCAR, vasprun, LAMMPS."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.errors import InputError
from mtpflow.io.cfg import read_cfg
from mtpflow.io.structure import detect_format, order_by_species, read_frames, write_frames
from tests.conftest import shared_path


def _atoms():
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(3)
    cell = np.array([[6.0, 0.0, 0.0], [1.0, 6.5, 0.0], [0.5, 0.7, 7.0]])  # triclinic
    atoms = Atoms("ClLiClAlClCl", positions=rng.random((6, 3)) @ cell, cell=cell, pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=-10.5, free_energy=-10.5,
                                       forces=rng.normal(size=(6, 3)),
                                       stress=rng.normal(size=6) * 1e-3)
    return atoms


@pytest.mark.parametrize("name,fmt", [("a.cfg", "cfg"), ("t.extxyz", "extxyz"), ("POSCAR", "vasp"),
                                      ("CONTCAR_3", "vasp"), ("x.vasp", "vasp"),
                                      ("vasprun.xml", "vasprun"), ("OUTCAR", "outcar"),
                                      ("g.lammps_data", "lammps-data"), ("d.data", "lammps-data"),
                                      ("c.cif", "cif")])
def test_detect_format(name, fmt):
    assert detect_format(name) == fmt


def test_unknown_extension_is_an_error():
    with pytest.raises(InputError, match="unknown structure format"):
        detect_format("foo.weird")


def test_cfg_extxyz_round_trip_keeps_values(tmp_path):
    atoms = _atoms()
    species = ["Li", "Al", "Cl"]
    write_frames(tmp_path / "a.cfg", [atoms], species)
    back = read_frames(tmp_path / "a.cfg", species)[0]
    write_frames(tmp_path / "b.extxyz", [back])
    again = read_frames(tmp_path / "b.extxyz")[0]
    for other in (back, again):
        assert other.get_chemical_symbols() == atoms.get_chemical_symbols()
        assert np.allclose(other.positions, atoms.positions, atol=1e-12)
        assert np.allclose(other.get_forces(), atoms.get_forces(), atol=1e-12)
        assert np.allclose(other.get_stress(), atoms.get_stress(), atol=1e-12)
        assert other.get_potential_energy() == pytest.approx(-10.5)
    types = read_cfg(tmp_path / "a.cfg")[0].types
    assert list(types) == [2, 0, 2, 1, 2, 2]


def test_cfg_needs_species(tmp_path):
    write_frames(tmp_path / "a.cfg", [_atoms()], ["Li", "Al", "Cl"])
    with pytest.raises(InputError, match="--species"):
        read_frames(tmp_path / "a.cfg")
    with pytest.raises(InputError, match="not in the species list"):
        write_frames(tmp_path / "b.cfg", [_atoms()], ["Li", "Cl"])


def test_poscar_groups_species_in_project_order(tmp_path):
    write_frames(tmp_path / "POSCAR", [_atoms()], ["Li", "Al", "Cl"])
    lines = (tmp_path / "POSCAR").read_text().splitlines()
    assert lines[5].split() == ["Li", "Al", "Cl"] and lines[6].split() == ["1", "1", "4"]
    back = read_frames(tmp_path / "POSCAR")[0]
    ref = order_by_species(_atoms(), ["Li", "Al", "Cl"])
    assert np.allclose(back.positions, ref.positions, atol=1e-8)
    assert np.allclose(ref.get_forces()[0], _atoms().get_forces()[1])  # forces follow the atoms


def test_single_frame_formats_refuse_many(tmp_path):
    with pytest.raises(InputError, match="--index"):
        write_frames(tmp_path / "POSCAR", [_atoms(), _atoms()], ["Li", "Al", "Cl"])


def test_lammps_data_types_follow_species(tmp_path):
    species = ["Li", "Al", "Cl"]
    write_frames(tmp_path / "a.lammps_data", [_atoms()], species)
    text = (tmp_path / "a.lammps_data").read_text()
    assert "3 atom types" in text
    back = read_frames(tmp_path / "a.lammps_data", species)[0]
    assert sorted(back.get_chemical_symbols()) == sorted(_atoms().get_chemical_symbols())
    assert np.allclose(back.cell.cellpar(), _atoms().cell.cellpar(), atol=1e-8)
    with pytest.raises(InputError, match="--species"):
        read_frames(tmp_path / "a.lammps_data")
    with pytest.raises(InputError, match="3 atom types"):
        read_frames(tmp_path / "a.lammps_data", ["Li", "Al"])


def test_guidebook_glass_lammps_data():
    atoms = read_frames(shared_path("guidebook_LiAlCl4", "glass_2592.lammps_data"),
                        ["Li", "Cl", "Al"])[0]
    syms = atoms.get_chemical_symbols()
    assert (syms.count("Li"), syms.count("Cl"), syms.count("Al")) == (432, 1728, 432)


def test_convert_cli_vasprun_to_cfg_and_poscar(tmp_path, capsys):
    src = shared_path("vasp_samples", "h2o_md_triclinic", "vasprun.xml")
    assert main(["convert", str(src), str(tmp_path / "h2o.cfg"), "--species", "H,O"]) == 0
    configs = read_cfg(tmp_path / "h2o.cfg")
    assert len(configs) == 3 and configs[0].plus_stress is not None
    assert main(["convert", str(tmp_path / "h2o.cfg"), str(tmp_path / "POSCAR"), "--species", "H,O",
                 "--index", "-1"]) == 0
    assert (tmp_path / "POSCAR").read_text().splitlines()[5].split() == ["H", "O"]
    assert main(["convert", str(tmp_path / "h2o.cfg"), str(tmp_path / "x.lammps_data")]) == 2
    assert "--species" in capsys.readouterr().err
    assert not (tmp_path / "x.lammps_data").exists()
