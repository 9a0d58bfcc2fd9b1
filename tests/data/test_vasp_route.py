"""The VASP route run by mtpflow itself (aimd / densify --engine vasp --vasp-command): a fresh run
folder, VASP started in it, the results read back. A stand-in VASP (a script that puts a real VASP
output from ../shared/data/vasp_samples into the folder) plays the program."""

from __future__ import annotations

import json
import stat

import ase.io
import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.data.vasp_inputs import parse_value
from mtpflow.io.cfg import read_cfg
from mtpflow.io.vasp import read_vasprun
from mtpflow.io.workdir import MARKER
from tests.conftest import shared_path


def fake_vasp(tmp_path, sample, exit_code=0, name="vasp"):
    """A VASP stand-in: records its arguments, copies `sample` (a real vasprun.xml) in, exits."""
    script = tmp_path / f"{name}.sh"
    script.write_text(f'#!/bin/sh\necho "fake VASP $@ in $(basename $PWD)"\n'
                      f'[ -f INCAR ] && [ -f POSCAR ] || exit 9\n'
                      f'cp "{sample}" vasprun.xml\nexit {exit_code}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _incar(path):
    tags = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            tags[k.strip()] = parse_value(v.split("#")[0].split("!")[0])
    return tags


def test_aimd_runs_vasp_in_a_fresh_folder(tmp_path, capsys):
    sample = shared_path("vasp_samples", "ti_aimd", "vasprun.xml")
    reference = read_vasprun(sample).frames
    start = tmp_path / "start.extxyz"
    ase.io.write(start, reference[0])
    run, traj = tmp_path / "vasp" / "aimd", tmp_path / "traj.extxyz"
    args = ["aimd", str(start), "--engine", "vasp", "--vasp-dir", str(run), "--temperature-K", "1500",
            "--timestep-fs", "2", "--steps", "10", "--every", "2", "--species", "Ti", "--potcar-spec",
            "--incar", "ENCUT=400", "--traj", str(traj)]

    # VASP fails: the run folder stays for inspection, no trajectory
    assert main([*args, "--vasp-command", f"{fake_vasp(tmp_path, sample, 1, 'bad')} -x"]) == 2
    err = capsys.readouterr().err
    assert "VASP" in err and "exited with status 1" in err and str(run / "vasp.out") in err
    assert not traj.exists() and (run / "vasp.out").read_text().startswith("fake VASP -x in aimd")

    # the rerun starts afresh (the failed run's vasprun.xml would otherwise block the inputs)
    assert main([*args, "--vasp-command", str(fake_vasp(tmp_path, sample))]) == 0
    incar = _incar(run / "INCAR")
    assert (incar["NSW"], incar["POTIM"], incar["TEBEG"], incar["TEEND"], incar["ENCUT"]) == (10, 2, 1500, 1500, 400)
    assert incar["IBRION"] == 0 and (run / "POTCAR.spec").exists() and (run / MARKER).exists()
    frames = ase.io.read(traj, ":")
    assert len(frames) == 5  # every 2nd of the 10 ionic steps
    for got, want in zip(frames, reference[::2]):
        assert got.info["feature_EFS_by"] == "VASP"
        assert got.get_potential_energy(force_consistent=True) == pytest.approx(
            want.get_potential_energy(force_consistent=True), abs=1e-8)  # TOTEN
        np.testing.assert_allclose(got.get_forces(), want.get_forces(), atol=1e-8)
    # collect (the next rule) reads the trajectory as VASP data
    assert main(["collect", str(traj), "--species", "Ti", "--out", str(tmp_path / "melt.cfg")]) == 0
    assert {dict(c.features)["EFS_by"] for c in read_cfg(tmp_path / "melt.cfg")} == {"VASP"}


def test_densify_runs_each_single_point_and_collects(tmp_path, capsys):
    sample = shared_path("vasp_samples", "ti_o_vasp6", "vasprun.xml")
    point = read_vasprun(sample).frames[0]
    melt = tmp_path / "melt.extxyz"
    ase.io.write(melt, [point, point])
    root, out = tmp_path / "sp", tmp_path / "sp.cfg"
    assert main(["densify", str(melt), "--engine", "vasp", "--vasp-dir", str(root), "--vasp-command",
                 str(fake_vasp(tmp_path, sample)), "--volume-factors", "0.9,1.1", "--species", "Ti,O",
                 "--potcar-spec", "--functional", "PBE_54", "--out", str(out)]) == 0
    names = json.loads((root / "manifest.json").read_text())["directories"]
    assert len(names) == 4
    err = capsys.readouterr().err
    assert [ln.split()[3] for ln in err.splitlines() if ln.startswith("running VASP")] == \
        [f"{root / n}" for n in names]  # run in the manifest's order
    configs = read_cfg(out)
    assert len(configs) == 4
    feats = [dict(c.features) for c in configs]
    assert [f["volume_factor"] for f in feats] == ["0.9", "1.1", "0.9", "1.1"]
    assert [f["mtpflow_frame"] for f in feats] == ["melt:0", "melt:0", "melt:1", "melt:1"]
    assert {f["EFS_by"] for f in feats} == {"VASP"}
    for c in configs:
        assert c.energy == pytest.approx(point.get_potential_energy(force_consistent=True), abs=1e-8)
    meta = json.loads((root / names[0] / "mtpflow_vasp.json").read_text())
    assert meta["kind"] == "static" and meta["potcar_functional"] == "PBE_54"


def test_a_folder_mtpflow_did_not_write_is_never_emptied(tmp_path, capsys):
    sample = shared_path("vasp_samples", "ti_aimd", "vasprun.xml")
    start = tmp_path / "start.extxyz"
    ase.io.write(start, read_vasprun(sample).frames[0])
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    assert main(["aimd", str(start), "--engine", "vasp", "--vasp-dir", str(mine), "--vasp-command",
                 str(fake_vasp(tmp_path, sample)), "--species", "Ti", "--potcar-spec",
                 "--traj", str(tmp_path / "t.extxyz")]) == 2
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]


def test_vasp_options_belong_to_the_vasp_engine(tmp_path, capsys):
    from mtpflow.data.crystal import parse_formula
    from mtpflow.data.initial import random_structure

    start = tmp_path / "start.extxyz"
    ase.io.write(start, random_structure(parse_formula("Li2Al2Cl8"), 1.0, seed=0))
    base = ["aimd", str(start), "--species", "Li,Al,Cl", "--traj", str(tmp_path / "t.extxyz")]
    assert main([*base, "--engine", "vasp"]) == 2
    assert "give --vasp-dir DIR and --vasp-command" in capsys.readouterr().err
    assert main([*base, "--engine", "chgnet", "--vasp-dir", str(tmp_path / "v")]) == 2
    assert "belong to --engine vasp, not chgnet" in capsys.readouterr().err
    assert main(["densify", str(start), "--engine", "vasp", "--vasp-dir", str(tmp_path / "v"),
                 "--vasp-command", "vasp_std", "--species", "Li,Al,Cl"]) == 2
    assert "--out OUT.cfg is required" in capsys.readouterr().err
    assert not (tmp_path / "t.extxyz").exists() and not (tmp_path / "v").exists()
