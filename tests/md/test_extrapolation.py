"""Extrapolation control in MD: the runner's hook outputs (resume, final stops), GradeControl's
saved configurations, and `mtpflow md --grade-train ...` end to end (exit status 3)."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.cli import main as cli_main
from mtpflow.errors import EXIT_EXTRAPOLATION, Stopped
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.io.md_files import ResumableOutput, load_checkpoint
from mtpflow.io.mtp import write_mtp
from mtpflow.md.extrapolation import GradeControl
from mtpflow.md.protocol import protocol_from_dict
from mtpflow.md.runner import StepHook, run_protocol
from mtpflow.mtp.grade import build_active_set, grade_configs
from mtpflow.structures import Configuration

from ..conftest import shared_path
from ..train.synth import random_configs, random_potential
from .conftest import FastLJ, small_lialcl4

PROTO = {"timestep_fs": 2.0, "thermo_every": 5, "traj_every": 10, "checkpoint_every": 0, "seed": 7,
         "stages": [{"type": "melt", "temperature_K": 800, "steps": 60, "tdamp_fs": 50}]}


class Writer:
    """A hook that writes one line every call into its ResumableOutput, and may stop."""

    def __init__(self, path, stop_at=None, final=False):
        self.out = ResumableOutput(path)
        self.stop_at, self.final = stop_at, final

    def __call__(self, step, atoms):
        self.out.write(f"{step} {atoms.positions[0, 0]:.12f}\n")
        return "a planted stop" if step == self.stop_at else None

    def hook(self, every=3):
        return StepHook(every, self, output=self.out, final=self.final)


def test_hook_output_resumes_like_the_trajectory(tmp_path):
    proto = protocol_from_dict(PROTO)
    ref = Writer(tmp_path / "ref.txt")
    run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "a.extxyz", tmp_path / "a.csv",
                 hooks=[ref.hook()])
    assert (tmp_path / "ref.txt").read_text().splitlines()[-1].startswith("60 ")
    ck = tmp_path / "ck.npz"
    cut = Writer(tmp_path / "cut.txt", stop_at=33)
    with pytest.raises(Stopped) as exc:
        run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "b.extxyz", tmp_path / "b.csv",
                     checkpoint_path=ck, hooks=[cut.hook()])
    assert str(tmp_path / "cut.txt.part") in exc.value.partial and not (tmp_path / "cut.txt").exists()
    assert load_checkpoint(ck)[1]["hook_offsets"] == {"cut.txt": len((tmp_path / "cut.txt.part").read_bytes())}
    # lines written after the checkpoint would be dropped on resume; here the stop is the checkpoint
    with open(tmp_path / "cut.txt.part", "a") as fh:
        fh.write("garbage after the checkpoint\n")
    again = Writer(tmp_path / "cut.txt")
    run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "b.extxyz", tmp_path / "b.csv",
                 checkpoint_path=ck, resume_path=ck, hooks=[again.hook()])
    assert (tmp_path / "cut.txt").read_text() == (tmp_path / "ref.txt").read_text()
    assert (tmp_path / "b.extxyz").read_text() == (tmp_path / "a.extxyz").read_text()


def test_final_stop_finishes_every_output(tmp_path):
    proto = protocol_from_dict(PROTO)
    w = Writer(tmp_path / "x.txt", stop_at=27, final=True)
    ck = tmp_path / "ck.npz"
    with pytest.raises(Stopped) as exc:
        run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "t.extxyz", tmp_path / "t.csv",
                     checkpoint_path=ck, hooks=[w.hook(every=9)])
    assert exc.value.partial == [] and "step 27" in str(exc.value)
    for name in ("t.extxyz", "t.csv", "x.txt"):
        assert (tmp_path / name).exists() and not (tmp_path / (name + ".part")).exists()
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert rows[-1].startswith("25,")  # thermo every 5 steps, up to the stop at 27
    assert [line.split()[0] for line in (tmp_path / "x.txt").read_text().splitlines()] == ["9", "18", "27"]
    assert load_checkpoint(ck)[1]["step"] == 27


@pytest.fixture
def synth():
    pot = random_potential(6, seed=3)
    train = random_configs(30, seed=0)
    return pot, build_active_set(pot, train, "nbh")


def test_grade_control_saves_and_breaks(tmp_path, synth):
    pot, active = synth
    species = ["Li", "Al", "Cl"]
    proto = protocol_from_dict(PROTO)
    out = tmp_path / "x.cfg"
    ctl = GradeControl(pot, active, out, save=1.0, brk=1e12, every=10, species=species, timestep_fs=2.0)
    run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "t.extxyz", tmp_path / "t.csv",
                 hooks=[ctl.hook()])
    saved = read_cfg(out)
    assert ctl.n_graded == 6 and len(saved) == ctl.n_saved > 0
    steps = [int(dict(c.features)["md_step"]) for c in saved]
    assert steps == sorted(steps) and set(steps) <= {10, 20, 30, 40, 50, 60}
    again = grade_configs(pot, active, [Configuration(c.positions, c.types, c.cell) for c in saved])
    for c, g, nbh in zip(saved, again.grades, again.nbh_grades):
        assert float(dict(c.features)["MV_grade"]) == c.atom_data["nbh_grades"].max()
        assert float(dict(c.features)["MV_grade"]) == pytest.approx(g, rel=1e-12) and g > 1.0
        np.testing.assert_allclose(c.atom_data["nbh_grades"], nbh, rtol=1e-12)
        assert dict(c.features)["time_ps"] == repr(int(dict(c.features)["md_step"]) * 2.0 * 1e-3)
    assert sorted(set(saved[0].types)) == [0, 1, 2]  # types in the potential's order (Li, Al, Cl)
    # a break threshold below the largest grade stops at the first grading above it
    first = next(k for k, c in enumerate(saved) if float(dict(c.features)["MV_grade"]) > 1.0)
    g_break = float(dict(saved[first].features)["MV_grade"]) * 0.999
    ctl2 = GradeControl(pot, active, tmp_path / "y.cfg", save=1.0, brk=g_break, every=10,
                        species=species)
    with pytest.raises(Stopped, match="extrapolation"):
        run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "u.extxyz", tmp_path / "u.csv",
                     hooks=[ctl2.hook()])
    assert ctl2.broke == (steps[first], pytest.approx(float(dict(saved[first].features)["MV_grade"])))
    stopped = read_cfg(tmp_path / "y.cfg")  # the same run up to the stop: the same saves
    assert len(stopped) == first + 1
    for a, b in zip(stopped, saved):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert dict(a.features)["MV_grade"] == dict(b.features)["MV_grade"]


def test_grade_control_bad_thresholds(tmp_path, synth):
    from mtpflow.errors import InputError

    pot, active = synth
    with pytest.raises(InputError, match="--grade-save must be >= 1"):
        GradeControl(pot, active, tmp_path / "x.cfg", save=0.5)
    with pytest.raises(InputError, match="must be larger than --grade-save"):
        GradeControl(pot, active, tmp_path / "x.cfg", save=3.0, brk=2.0)


# -- mtpflow md end to end with the guidebook's trained level-8 potential ----------------------

@pytest.fixture
def guidebook(tmp_path, monkeypatch):
    monkeypatch.setenv("MTPFLOW_CACHE_DIR", str(tmp_path / "cache"))
    pot = str(shared_path("mlip_reference", "trained_L08.almtp"))
    train = str(shared_path("guidebook_LiAlCl4", "training.cfg"))
    test = read_cfg(shared_path("guidebook_LiAlCl4", "test.cfg"))
    write_cfg(tmp_path / "start.cfg", [test[77]])  # a test configuration (d_crystal) grading 1.21
    return pot, train, str(tmp_path / "start.cfg")


def _md(tmp_path, pot, start, *extra):
    return cli_main(["md", pot, start, "--species", "Li,Cl,Al", "--ensemble", "nvt", "--temperature-K",
                     "600", "--steps", "40", "--timestep-fs", "0.5", "--thermo-every", "5",
                     "--traj-every", "10", "--traj", str(tmp_path / "t.extxyz"), "--thermo",
                     str(tmp_path / "t.csv"), "--threads", "1", *extra])


def test_md_stops_by_extrapolation_with_status_3(tmp_path, guidebook, capsys):
    pot, train, start = guidebook
    ck = tmp_path / "ck.npz"
    rc = _md(tmp_path, pot, start, "--grade-train", train, "--extrapolative", str(tmp_path / "x.cfg"),
             "--grade-save", "1.05", "--grade-break", "1.15", "--grade-every", "2", "--checkpoint", str(ck))
    assert rc == EXIT_EXTRAPOLATION == 3
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if "stopped by extrapolation" in x]
    assert len(line) == 1 and "Traceback" not in err
    step = int(line[0].split("at step ")[1].split(":")[0])
    saved = read_cfg(tmp_path / "x.cfg")
    last = saved[-1]
    assert int(dict(last.features)["md_step"]) == step and f"grade {float(dict(last.features)['MV_grade']):.3f}" in line[0]
    assert float(dict(last.features)["MV_grade"]) > 1.15
    assert all(float(dict(c.features)["MV_grade"]) > 1.05 for c in saved)
    for name in ("t.extxyz", "t.csv", "x.cfg"):
        assert (tmp_path / name).exists() and not (tmp_path / (name + ".part")).exists()
    assert load_checkpoint(ck)[1]["step"] == step
    thermo = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1, ndmin=2)
    assert thermo[-1, 0] == step - step % 5


def test_md_with_control_completes_and_matches_calc_grade(tmp_path, guidebook, capsys):
    pot, train, start = guidebook
    rc = _md(tmp_path, pot, start, "--grade-train", train, "--extrapolative", str(tmp_path / "x.cfg"),
             "--grade-save", "1.05", "--grade-every", "10")
    assert rc == 0
    assert "extrapolation control: 4 gradings in this run" in capsys.readouterr().err
    saved = read_cfg(tmp_path / "x.cfg")
    assert len(saved) >= 1
    assert cli_main(["calc-grade", pot, train, str(tmp_path / "x.cfg"), str(tmp_path / "g.cfg")]) == 0
    for a, b in zip(saved, read_cfg(tmp_path / "g.cfg")):
        assert float(dict(a.features)["MV_grade"]) == pytest.approx(float(dict(b.features)["MV_grade"]), rel=1e-12)


def test_grade_control_reuses_the_force_calls_neighbour_list(tmp_path, guidebook):
    from mtpflow.io.mtp import read_mtp
    from mtpflow.io.structure import read_frames
    from mtpflow.mtp import MTPCalculator

    pot_path, train, start = guidebook
    pot = read_mtp(pot_path)
    active = build_active_set(pot, read_cfg(train), "nbh")
    species = ["Li", "Cl", "Al"]
    atoms = read_frames(start, species, index=-1)[0]
    ctl = GradeControl(pot, active, tmp_path / "x.cfg", save=1.0, brk=1e9, every=5, species=species)
    proto = protocol_from_dict({"timestep_fs": 0.5, "thermo_every": 5, "traj_every": 10, "seed": 1,
                                "stages": [{"type": "production", "temperature_K": 600, "steps": 20}]})
    run_protocol(atoms, MTPCalculator(pot, species=species), proto, tmp_path / "t.extxyz",
                 tmp_path / "t.csv", hooks=[ctl.hook()])
    assert ctl.n_graded == 4 and ctl.n_reused == 4
    saved = read_cfg(tmp_path / "x.cfg")
    fresh = grade_configs(pot, active, [Configuration(c.positions, c.types, c.cell) for c in saved])
    for c, g in zip(saved, fresh.grades):
        assert float(dict(c.features)["MV_grade"]) == g  # the same neighbour list: the same bits


def test_md_grade_options_bad_input(tmp_path, guidebook, capsys):
    pot, train, start = guidebook
    x = str(tmp_path / "x.cfg")
    cases = [(["--grade-save", "3"], "--grade-save needs --grade-train"),
             (["--grade-train", train], "needs --extrapolative"),
             (["--grade-train", train, "--extrapolative", x, "--grade-break", "1.5"],
              "--grade-break (1.5) must be larger than --grade-save (2)"),
             (["--grade-train", train, "--extrapolative", x, "--grade-every", "0"], "--grade-every"),
             (["--grade-train", str(tmp_path / "missing.cfg"), "--extrapolative", x], "missing.cfg")]
    for extra, needle in cases:
        assert _md(tmp_path, pot, start, *extra) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
    write_cfg(tmp_path / "two.cfg", [Configuration(c.positions, np.minimum(c.types, 1), c.cell)
                                     for c in read_cfg(train)[:5]])
    assert _md(tmp_path, pot, start, "--grade-train", str(tmp_path / "two.cfg"), "--extrapolative", x) == 2
    assert "no atoms of type 2" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists() and not (tmp_path / "x.cfg").exists()
