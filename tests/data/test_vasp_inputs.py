"""`mtpflow vasp-inputs`: INCAR tags (seed defaults, overrides, echo), KPOINTS, POSCAR, POTCAR."""

from __future__ import annotations

import json

import pytest

from mtpflow.cli import main
from mtpflow.data.vasp_inputs import incar_tags, parse_overrides
from mtpflow.errors import InputError


@pytest.fixture
def poscar(tmp_path):
    out = tmp_path / "POSCAR"
    assert main(["build-initial", "--formula", "Cl4AlLi", "--density-factor", "0.7",
                 "--out", str(out)]) == 0
    return out


def _incar(path):
    return dict(line.split(" = ", 1) for line in path.read_text().splitlines())


def test_aimd_defaults_are_the_seed(poscar, tmp_path, monkeypatch):
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    run = tmp_path / "run"
    assert main(["vasp-inputs", str(poscar), "--outdir", str(run), "--potcar-spec"]) == 0
    tags = _incar(run / "INCAR")
    for key, value in {"IBRION": "0", "MDALGO": "2", "TEBEG": "1000", "TEEND": "1000",
                       "POTIM": "2.0", "ENCUT": "520", "ISYM": "0", "ISMEAR": "0",
                       "LWAVE": ".FALSE.", "LCHARG": ".FALSE."}.items():
        assert tags[key] == value, key
    for key in ("SMASS", "NSW", "PREC", "EDIFF", "SIGMA", "LREAL"):
        assert key in tags
    assert (run / "KPOINTS").read_text().splitlines()[2:4] == ["Gamma", "1 1 1"]
    assert (run / "POSCAR").read_text().splitlines()[5].split() == ["Li", "Al", "Cl"]
    assert (run / "POTCAR.spec").read_text().split() == ["Li_sv", "Al", "Cl"]
    assert not (run / "POTCAR").exists()
    meta = json.loads((run / "mtpflow_vasp.json").read_text())
    assert meta["incar"]["POTIM"] == 2.0 and meta["species_order"] == ["Li", "Al", "Cl"]


def test_static_vdw_and_overrides_are_echoed(poscar, tmp_path):
    run = tmp_path / "sp"
    assert main(["vasp-inputs", str(poscar), "--outdir", str(run), "--kind", "static",
                 "--vdw", "optb88", "--potcar-spec", "--incar", "ENCUT=600", "LREAL=.FALSE."]) == 0
    tags = _incar(run / "INCAR")
    assert tags["IBRION"] == "-1" and tags["NSW"] == "0" and tags["GGA"] == "BO"
    assert tags["LUSE_VDW"] == ".TRUE." and tags["ENCUT"] == "600" and tags["LREAL"] == ".FALSE."
    meta = json.loads((run / "mtpflow_vasp.json").read_text())
    assert meta["incar"]["ENCUT"] == 600 and meta["incar"]["LREAL"] is False


def test_without_library_clear_error_names_setting(poscar, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    from pymatgen.core import SETTINGS
    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", None)
    assert main(["vasp-inputs", str(poscar), "--outdir", str(tmp_path / "r")]) == 2
    assert "PMG_VASP_PSP_DIR" in capsys.readouterr().err
    assert not (tmp_path / "r" / "INCAR").exists()


def test_potcar_from_library_in_poscar_order(poscar, tmp_path, monkeypatch):
    lib = tmp_path / "psp" / "POT_GGA_PAW_PBE"
    for sym in ("Li_sv", "Al", "Cl"):
        (lib / sym).mkdir(parents=True)
        (lib / sym / "POTCAR").write_text(f"  PAW_PBE {sym} fake\n body\n End of Dataset\n")
    monkeypatch.setenv("PMG_VASP_PSP_DIR", str(tmp_path / "psp"))
    run = tmp_path / "run"
    assert main(["vasp-inputs", str(poscar), "--outdir", str(run)]) == 0
    titles = [ln.split()[1] for ln in (run / "POTCAR").read_text().splitlines() if "PAW_PBE" in ln]
    assert titles == ["Li_sv", "Al", "Cl"]
    (lib / "Cl" / "POTCAR").unlink()
    with pytest.raises(InputError, match="no POTCAR for Cl"):
        from mtpflow.io.vasp import read_potcar_library
        read_potcar_library(["Cl"])


def test_refuses_directory_with_outputs(poscar, tmp_path, capsys):
    run = tmp_path / "done"
    run.mkdir()
    (run / "OUTCAR").write_text("x")
    assert main(["vasp-inputs", str(poscar), "--outdir", str(run), "--potcar-spec"]) == 2
    assert "already holds VASP outputs" in capsys.readouterr().err


def test_override_parsing():
    assert parse_overrides(["NSW=10", "LREAL=.FALSE.", "EDIFF=1e-7", "ALGO=Fast"]) == {
        "NSW": 10, "LREAL": False, "EDIFF": 1e-7, "ALGO": "Fast"}
    with pytest.raises(InputError, match="TAG=VALUE"):
        parse_overrides(["NSW"])
    with pytest.raises(InputError, match="--kind"):
        incar_tags("relax")
