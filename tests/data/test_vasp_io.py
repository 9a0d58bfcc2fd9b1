"""VASP readers on real VASP 5.4.4 and 6.3.0 outputs, checked against ASE and pymatgen readings."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.errors import InputError
from mtpflow.io.ase_bridge import from_atoms
from mtpflow.io.vasp import KBAR_TO_EV_A3, read_outcar, read_vasp_run, read_vasprun, stress_kbar_to_ase
from tests.conftest import shared_path

XML = {
    "h2o_md_vasp5": 3, "h2o_md_triclinic": 3, "ti_aimd": 10, "ti_o_vasp6": 1,
}


def _same(a, b, tol=1e-7):
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    assert np.allclose(a.cell[:], b.cell[:], atol=1e-7)
    assert np.allclose(a.positions, b.positions, atol=1e-5)
    assert a.get_potential_energy(force_consistent=True) == pytest.approx(
        b.get_potential_energy(force_consistent=True), abs=tol)
    assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=tol)
    assert np.allclose(a.get_forces(), b.get_forces(), atol=1e-6)
    assert np.allclose(a.get_stress(), b.get_stress(), atol=1e-9)


@pytest.mark.parametrize("folder", sorted(XML))
def test_vasprun_matches_ase(folder):
    from ase.io import read

    path = shared_path("vasp_samples", folder, "vasprun.xml")
    run = read_vasprun(path)
    ref = read(path, index=":")
    assert len(run.frames) == len(ref) == XML[folder]
    assert run.warning() is None
    for a, b in zip(run.frames, ref):
        _same(a, b)


@pytest.mark.parametrize("folder", sorted(XML))
def test_vasprun_matches_pymatgen(folder):
    from pymatgen.io.vasp import Vasprun

    path = shared_path("vasp_samples", folder, "vasprun.xml")
    run = read_vasprun(path)
    vr = Vasprun(str(path), parse_dos=False, parse_eigen=False, parse_potcar_file=False)
    assert len(vr.ionic_steps) == len(run.frames)
    for atoms, step in zip(run.frames, vr.ionic_steps):
        # energy used for training: the free energy TOTEN (e_fr_energy)
        assert atoms.get_potential_energy(force_consistent=True) == pytest.approx(
            step["e_fr_energy"], abs=1e-8)
        assert np.allclose(atoms.get_forces(), step["forces"], atol=1e-8)
        assert [str(s.specie) for s in step["structure"]] == atoms.get_chemical_symbols()
        # stress: VASP kBar (positive = compressive) -> MLIP virial W = -sigma_ASE V = p V
        cfg = from_atoms(atoms, sorted(set(atoms.get_chemical_symbols())))
        kbar = np.array(step["stress"])
        volume = step["structure"].volume
        expect = np.array([kbar[0, 0], kbar[1, 1], kbar[2, 2], kbar[1, 2], kbar[0, 2], kbar[0, 1]])
        assert np.allclose(cfg.plus_stress, expect * volume / 1602.1766208, rtol=1e-9, atol=1e-12)
        assert cfg.energy == pytest.approx(step["e_fr_energy"], abs=1e-8)


def test_stress_units_and_sign():
    # 10 kBar isotropic compression = 1 GPa pressure: ASE stress -1 GPa = -1/160.2177 eV/Å³
    s = stress_kbar_to_ase(np.eye(3) * 10.0)
    assert np.allclose(s[:3], -1.0 / 160.21766208)
    assert np.allclose(s[3:], 0.0)
    assert KBAR_TO_EV_A3 == pytest.approx(6.241509e-4, rel=1e-6)
    off = stress_kbar_to_ase([[0, 1, 2], [1, 0, 3], [2, 3, 0]])
    assert np.allclose(off[3:] / -KBAR_TO_EV_A3, [3, 2, 1])  # yz xz xy


def test_free_energy_differs_from_sigma0_in_vasp6():
    run = read_vasprun(shared_path("vasp_samples", "ti_aimd", "vasprun.xml"))
    a = run.frames[0]
    assert abs(a.get_potential_energy(force_consistent=True) - a.get_potential_energy()) > 0.01
    assert from_atoms(a, ["Ti"]).energy == a.get_potential_energy(force_consistent=True)
    assert run.timestep_fs == 2.0
    assert [f.info["time_fs"] for f in run.frames[:3]] == [0.0, 2.0, 4.0]


def test_killed_run_keeps_completed_steps():
    full = read_vasprun(shared_path("vasp_samples", "ti_aimd", "vasprun.xml"))
    killed = read_vasprun(shared_path("vasp_samples", "ti_aimd_killed", "vasprun.xml"))
    assert len(killed.frames) == 6 and killed.truncated and killed.n_incomplete == 1
    assert "kept 6 completed" in killed.warning() and "dropped 1" in killed.warning()
    for a, b in zip(killed.frames, full.frames):
        _same(a, b, tol=1e-10)
    # the directory reader picks the vasprun.xml (no OUTCAR there) and keeps the warning
    assert len(read_vasp_run(shared_path("vasp_samples", "ti_aimd_killed")).frames) == 6


@pytest.mark.parametrize("folder", ["h2o_md_vasp5", "ti_o_vasp6"])
def test_outcar_matches_ase_and_vasprun(folder):
    from ase.io import read

    path = shared_path("vasp_samples", folder, "OUTCAR")
    run = read_outcar(path)
    ref = read(path, index=":")
    xml = read_vasprun(path.parent / "vasprun.xml")
    assert len(run.frames) == len(ref) == len(xml.frames)
    for a, b, c in zip(run.frames, ref, xml.frames):
        _same(a, b)
        assert np.allclose(a.get_forces(), c.get_forces(), atol=1e-6)
        assert np.allclose(a.get_stress(), c.get_stress(), atol=1e-5 * KBAR_TO_EV_A3 * 10)


def test_outcar_matches_pymatgen_final_energies():
    from pymatgen.io.vasp import Outcar

    path = shared_path("vasp_samples", "ti_o_vasp6", "OUTCAR")
    last = read_outcar(path).frames[-1]
    pmg = Outcar(str(path))
    assert last.get_potential_energy(force_consistent=True) == pytest.approx(pmg.final_fr_energy,
                                                                             abs=1e-8)
    assert last.get_potential_energy() == pytest.approx(pmg.final_energy, abs=1e-8)  # sigma->0


def test_outcar_nwrite0_skips_steps_without_forces():
    run = read_outcar(shared_path("vasp_samples", "ti_aimd", "OUTCAR"))
    assert len(run.frames) == 2 and run.n_without_forces == 8
    assert "NWRITE" in run.warning()


def test_truncated_outcar(tmp_path):
    text = shared_path("vasp_samples", "h2o_md_vasp5", "OUTCAR").read_text().splitlines()
    last_force = max(i for i, ln in enumerate(text) if "TOTAL-FORCE" in ln)
    cut = tmp_path / "OUTCAR"
    cut.write_text("\n".join(text[:last_force + 4]) + "\n")  # killed inside the 3rd force block
    run = read_outcar(cut)
    assert len(run.frames) == 2 and run.n_incomplete == 1
    assert "kept 2 completed" in run.warning()


def test_nan_and_garbage_are_clear_errors(tmp_path):
    text = shared_path("vasp_samples", "h2o_md_vasp5", "vasprun.xml").read_text()
    i = text.index('<varray name="forces" >')
    j = text.index("<v>", i)
    bad = tmp_path / "vasprun.xml"
    bad.write_text(text[:j] + "<v> ******** 0.0 0.0 </v>" + text[text.index("</v>", j) + 4:])
    with pytest.raises(InputError, match="NaN"):
        read_vasprun(bad)
    junk = tmp_path / "junk.xml"
    junk.write_text("this is not xml")
    with pytest.raises(InputError, match="not a readable vasprun"):
        read_vasprun(junk)
    empty_dir = tmp_path / "never_ran"
    empty_dir.mkdir()
    (empty_dir / "INCAR").write_text("NSW = 1\n")
    with pytest.raises(InputError, match="no vasprun.xml or OUTCAR"):
        read_vasp_run(empty_dir)


def test_species_mapped_by_element_not_position():
    # Ti-O file lists Ti, Ti, Ti, O, O, Ti, Ti, Ti (not grouped)
    atoms = read_vasprun(shared_path("vasp_samples", "ti_o_vasp6", "vasprun.xml")).frames[0]
    for species in (["O", "Ti"], ["Ti", "O"]):
        cfg = from_atoms(atoms, species)
        assert [species[t] for t in cfg.types] == atoms.get_chemical_symbols()


def test_directory_prefers_outcar_when_vasprun_is_cut(tmp_path):
    text = shared_path("vasp_samples", "h2o_md_vasp5", "vasprun.xml").read_text()
    cut_at = text.index("<calculation>", text.index("<calculation>") + 1) + 200
    (tmp_path / "vasprun.xml").write_text(text[:cut_at])  # killed inside the 2nd ionic step
    (tmp_path / "OUTCAR").symlink_to(shared_path("vasp_samples", "h2o_md_vasp5", "OUTCAR"))
    assert len(read_vasprun(tmp_path / "vasprun.xml").frames) == 1
    run = read_vasp_run(tmp_path)
    assert run.path.name == "OUTCAR" and len(run.frames) == 3
