"""lammps-deck with extrapolation control: MLIP-3's pair_style mlip settings and the active set as
its #MVS_v1.1 block in the potential copy; refused for pair_style mtp."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.cli import main as cli_main
from mtpflow.io.active_set import read_mvs_block
from mtpflow.io.cfg import write_cfg
from mtpflow.io.mtp import read_mtp, write_mtp
from mtpflow.mtp.grade import build_active_set

from ..train.synth import random_configs, random_potential
from .conftest import small_lialcl4
from .test_deck import run_lmp


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("MTPFLOW_CACHE_DIR", str(tmp_path / "cache"))
    pot = random_potential(6, seed=3)
    pot.species = ["Li", "Al", "Cl"]
    train = random_configs(30, seed=0)
    write_mtp(tmp_path / "pot.mtp", pot)
    write_cfg(tmp_path / "train.cfg", train)
    small_lialcl4(8).write(tmp_path / "start.extxyz")
    return pot, train, tmp_path


def _deck(tmp_path, *extra):
    return cli_main(["lammps-deck", str(tmp_path / "pot.mtp"), str(tmp_path / "start.extxyz"),
                     "--ensemble", "nvt", "--temperature-K", "600", "--steps", "100",
                     "--outdir", str(tmp_path / "lmp"), *extra])


def test_deck_writes_mlip_extrapolation_control(files):
    pot, train, tmp_path = files
    assert _deck(tmp_path, "--grade-train", str(tmp_path / "train.cfg"), "--extrapolative",
                 "preselected.cfg", "--grade-save", "2.5", "--grade-mode", "nbh") == 0
    deck = (tmp_path / "lmp" / "in.lammps").read_text()
    assert ("pair_style      mlip load_from=potential.mtp &\n"
            "                extrapolation_control=true &\n"
            "                extrapolation_control:threshold_save=2.5 &\n"
            "                extrapolation_control:threshold_break=11 &\n"
            "                extrapolation_control:save_extrapolative_to=preselected.cfg &\n"
            "                extrapolation_control:add_grade_feature=true\n"
            "pair_coeff      * *\n") in deck
    copy = read_mtp(tmp_path / "lmp" / "potential.mtp")
    assert copy.model_digest() == pot.model_digest() and copy.species == ["Li", "Al", "Cl"]
    weights, A, A_inv = read_mvs_block(copy.selection.data, pot.n_params())
    assert weights["site_en_weight"] == 1.0 and weights["energy_weight"] == 0.0
    ref = build_active_set(pot, train, "nbh")
    np.testing.assert_array_equal(A, ref.A)
    np.testing.assert_array_equal(A_inv, ref.A_inv)
    # LAMMPS joins the continued lines into one pair_style command (this LAMMPS has no MLIP
    # interface, so it stops there, quoting the command)
    r = run_lmp(tmp_path / "lmp", check=False)
    log = (tmp_path / "lmp" / "md.log").read_text() + r.stdout + r.stderr
    assert "Unrecognized pair style 'mlip'" in log
    assert ("Last input line: pair_style mlip load_from=potential.mtp extrapolation_control=true "
            "extrapolation_control:threshold_save=2.5 extrapolation_control:threshold_break=11 "
            "extrapolation_control:save_extrapolative_to=preselected.cfg "
            "extrapolation_control:add_grade_feature=true\n") in log


def test_deck_cfg_mode_and_no_control(files):
    pot, train, tmp_path = files
    assert _deck(tmp_path, "--grade-train", str(tmp_path / "train.cfg"), "--extrapolative", "x.cfg",
                 "--grade-mode", "cfg") == 0
    copy = read_mtp(tmp_path / "lmp" / "potential.mtp")
    weights, A, _ = read_mvs_block(copy.selection.data, pot.n_params())
    assert (weights["energy_weight"], weights["site_en_weight"], weights["weight_scaling"]) == (1.0, 0.0, 2.0)
    np.testing.assert_array_equal(A, build_active_set(pot, train, "cfg").A)
    assert _deck(tmp_path) == 0
    assert "extrapolation_control" not in (tmp_path / "lmp" / "in.lammps").read_text()
    assert read_mtp(tmp_path / "lmp" / "potential.mtp").selection is None


def test_deck_refuses_what_the_pair_style_cannot_do(files, capsys):
    pot, train, tmp_path = files
    grade = ["--grade-train", str(tmp_path / "train.cfg"), "--extrapolative", "x.cfg"]
    assert _deck(tmp_path, *grade, "--pair-style", "mtp") == 2
    err = capsys.readouterr().err
    assert "pair_style mtp (LAMMPS ML-MTP) has no extrapolation control" in err and err.count("\n") == 1
    assert _deck(tmp_path, *grade, "--grade-every", "10") == 2
    assert "grades every force call" in capsys.readouterr().err
    assert _deck(tmp_path, *grade, "--pair-style-override", "pair_style lj/cut 4.0; pair_coeff * * 0.02 2.2") == 2
    assert "--pair-style-override" in capsys.readouterr().err
    assert _deck(tmp_path, "--grade-break", "20") == 2
    assert "--grade-break needs --grade-train" in capsys.readouterr().err
    assert not (tmp_path / "lmp" / "in.lammps").exists()
