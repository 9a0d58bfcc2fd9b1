"""Chained segments of one MD run (stop_at_step, continue_path) and restartable jobs (auto_resume),
with the fast Lennard-Jones calculator: the segments' outputs concatenated are byte for byte the
uninterrupted run's, for every integrator; a job killed mid-segment and started again with the
same inputs resumes from its own checkpoint; anything else starts afresh or is refused."""

from __future__ import annotations

import pytest

from mtpflow.errors import InputError, Stopped
from mtpflow.io.md_files import load_checkpoint
from mtpflow.md.runner import StepHook, run_protocol

from .conftest import FastLJ, small_lialcl4
from .test_runner import STAGES, Interrupting, _protocol

# 50 melt steps + 70 of the second stage; thermo every 5, frames every 10, checkpoints every 40.
# Boundaries: mid-melt off the frame grid (37), the stage boundary (50), mid-stage (90), the end.
BOUNDS = (37, 50, 90, 120)


def _concat(paths, header: bool):
    texts = [p.read_text() for p in paths]
    if header:  # every thermo CSV has the header line; the uninterrupted one has it once
        texts = texts[:1] + [t.split("\n", 1)[1] for t in texts[1:]]
    return "".join(texts)


def _segments(tmp_path, proto, bounds, calc=FastLJ, **kw):
    """Run the protocol as chained segments ending at `bounds`; returns the segment folders."""
    folders, previous = [], None
    for k, stop in enumerate(bounds):
        d = tmp_path / f"seg{k}"
        d.mkdir()
        run_protocol(small_lialcl4(8, seed=10 * k), calc(), proto, d / "t.extxyz", d / "t.csv",
                     checkpoint_path=d / "ck.npz", continue_path=previous, stop_at_step=stop, **kw)
        folders.append(d)
        previous = d / "ck.npz"
    return folders


@pytest.mark.parametrize("name", list(STAGES))
def test_segments_concatenated_equal_the_uninterrupted_run(tmp_path, name):
    proto = _protocol(STAGES[name])
    ref = tmp_path / "ref"
    ref.mkdir()
    run_protocol(small_lialcl4(8), FastLJ(), proto, ref / "t.extxyz", ref / "t.csv",
                 checkpoint_path=ref / "ck.npz")
    # the first segment starts from the structure; the later ones from an unused structure object
    # (all state comes from the checkpoint: positions, momenta, cell, thermostat and RNG state)
    folders = _segments(tmp_path, proto, BOUNDS)
    assert _concat([d / "t.csv" for d in folders], header=True) == (ref / "t.csv").read_text()
    assert _concat([d / "t.extxyz" for d in folders], header=False) == (ref / "t.extxyz").read_text()
    # a segment holds only its own steps: (start, stop], the first one from step 0
    first_steps = [int(d.joinpath("t.csv").read_text().splitlines()[1].split(",")[0]) for d in folders]
    assert first_steps == [0, 40, 55, 95]
    ends = [load_checkpoint(d / "ck.npz")[1] for d in folders]
    assert [m["step"] for m in ends] == list(BOUNDS)
    assert [(m["stage_index"], m["stage_step"]) for m in ends] == [(0, 37), (0, 50), (1, 40), (1, 70)]
    final, meta = load_checkpoint(folders[-1] / "ck.npz")
    ref_final, ref_meta = load_checkpoint(ref / "ck.npz")
    for key in ("positions", "momenta", "cell"):
        assert final[key].tobytes() == ref_final[key].tobytes(), key
    assert meta["rng_state"] == ref_meta["rng_state"]


def test_one_segment_can_be_the_whole_equilibration_of_zero_steps(tmp_path):
    """A stop at step 0 writes the start's row and frame and a checkpoint to continue from."""
    proto = _protocol(STAGES["nhc-quench"])
    ref = tmp_path / "ref"
    ref.mkdir()
    run_protocol(small_lialcl4(8), FastLJ(), proto, ref / "t.extxyz", ref / "t.csv")
    folders = _segments(tmp_path, proto, (0, 120))
    assert (folders[0] / "t.csv").read_text().count("\n") == 2  # header + step 0
    assert _concat([d / "t.csv" for d in folders], header=True) == (ref / "t.csv").read_text()
    assert _concat([d / "t.extxyz" for d in folders], header=False) == (ref / "t.extxyz").read_text()


@pytest.mark.parametrize("name", ["nhc-quench", "langevin-quench"])
def test_killed_segment_rerun_resumes_from_its_own_checkpoint(tmp_path, name):
    """auto_resume: checkpoints go to <checkpoint>.part; a job killed mid-segment and started again
    with the same inputs resumes there (a different, unused structure object is passed) and ends
    with the uninterrupted outputs; the .part checkpoint becomes the checkpoint when it completes."""
    proto = _protocol(STAGES[name], checkpoint_every=20)
    ref = tmp_path / "ref"
    ref.mkdir()
    run_protocol(small_lialcl4(8), FastLJ(), proto, ref / "t.extxyz", ref / "t.csv")
    (seg0,) = _segments(tmp_path, proto, (50,), auto_resume=True)
    assert not (seg0 / "ck.npz.part").exists() and load_checkpoint(seg0 / "ck.npz")[1]["step"] == 50
    d = tmp_path / "seg1"
    d.mkdir()
    args = dict(checkpoint_path=d / "ck.npz", continue_path=seg0 / "ck.npz", stop_at_step=120,
                auto_resume=True)
    with pytest.raises(KeyboardInterrupt):  # killed at step 50 + 47: last checkpoint at step 80
        run_protocol(small_lialcl4(8), Interrupting(stop_at=48), proto, d / "t.extxyz", d / "t.csv",
                     **args)
    assert not (d / "ck.npz").exists() and load_checkpoint(d / "ck.npz.part")[1]["step"] == 80
    said = []
    run_protocol(small_lialcl4(8, seed=3), FastLJ(), proto, d / "t.extxyz", d / "t.csv",
                 log=said.append, **args)
    assert any("resuming this job from its own checkpoint" in m for m in said), said
    assert any("resuming at step 80" in m for m in said), said
    assert _concat([seg0 / "t.csv", d / "t.csv"], header=True) == (ref / "t.csv").read_text()
    assert _concat([seg0 / "t.extxyz", d / "t.extxyz"], header=False) == (ref / "t.extxyz").read_text()
    assert not (d / "ck.npz.part").exists() and load_checkpoint(d / "ck.npz")[1]["step"] == 120


def test_auto_resume_starts_afresh_for_another_job_or_lost_outputs(tmp_path):
    proto = _protocol(STAGES["nhc-quench"], checkpoint_every=20)
    ref = tmp_path / "ref"
    ref.mkdir()
    run_protocol(small_lialcl4(8), FastLJ(), proto, ref / "t.extxyz", ref / "t.csv", stop_at_step=90)
    d = tmp_path / "job"
    d.mkdir()
    args = dict(checkpoint_path=d / "ck.npz", auto_resume=True)
    with pytest.raises(KeyboardInterrupt):
        run_protocol(small_lialcl4(8), Interrupting(stop_at=70), proto, d / "t.extxyz", d / "t.csv",
                     stop_at_step=100, **args)
    assert load_checkpoint(d / "ck.npz.part")[1]["step"] == 60
    # another stop step: another job; its checkpoint is not used (and is replaced)
    said = []
    run_protocol(small_lialcl4(8), FastLJ(), proto, d / "t.extxyz", d / "t.csv", stop_at_step=90,
                 log=said.append, **args)
    assert any("written by another job" in m and "starting the job afresh" in m for m in said), said
    assert (d / "t.csv").read_text() == (ref / "t.csv").read_text()
    # a .part checkpoint of this very job whose .part outputs are gone (a workflow removed them)
    with pytest.raises(KeyboardInterrupt):
        run_protocol(small_lialcl4(8), Interrupting(stop_at=70), proto, d / "t.extxyz", d / "t.csv",
                     stop_at_step=90, **args)
    (d / "t.extxyz.part").unlink()
    said.clear()
    run_protocol(small_lialcl4(8), FastLJ(), proto, d / "t.extxyz", d / "t.csv", stop_at_step=90,
                 log=said.append, **args)
    assert any("t.extxyz.part is missing" in m for m in said), said
    assert (d / "t.extxyz").read_text() == (ref / "t.extxyz").read_text()
    # another start structure is another job too
    with pytest.raises(KeyboardInterrupt):
        run_protocol(small_lialcl4(8), Interrupting(stop_at=70), proto, d / "t.extxyz", d / "t.csv",
                     stop_at_step=90, **args)
    said.clear()
    run_protocol(small_lialcl4(8, seed=4), FastLJ(), proto, d / "u.extxyz", d / "u.csv",
                 stop_at_step=90, log=said.append, **args)
    assert any("written by another job" in m for m in said), said


def test_sigterm_like_stop_in_an_auto_resume_job_says_rerun(tmp_path):
    proto = _protocol(STAGES["nhc-quench"], checkpoint_every=0)
    ck = tmp_path / "ck.npz"
    with pytest.raises(Stopped) as exc:
        run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "t.extxyz", tmp_path / "t.csv",
                     checkpoint_path=ck, auto_resume=True,
                     hooks=[StepHook(1, lambda step, atoms: "SIGTERM" if step == 33 else None)])
    msg = str(exc.value)
    assert f"checkpoint written to {ck}.part" in msg and "run the same command again" in msg
    assert "--resume" not in msg.split("(")[0]
    assert load_checkpoint(tmp_path / "ck.npz.part")[1]["step"] == 33 and not ck.exists()
    run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "t.extxyz", tmp_path / "t.csv",
                 checkpoint_path=ck, auto_resume=True)
    ref = tmp_path / "ref"
    ref.mkdir()
    run_protocol(small_lialcl4(8), FastLJ(), proto, ref / "t.extxyz", ref / "t.csv")
    assert (tmp_path / "t.csv").read_text() == (ref / "t.csv").read_text()


def test_segment_errors_name_the_problem(tmp_path):
    proto = _protocol(STAGES["nve"])
    ck = tmp_path / "ck.npz"
    run = lambda name, **kw: run_protocol(small_lialcl4(8), FastLJ(), proto,  # noqa: E731
                                          tmp_path / f"{name}.extxyz", tmp_path / f"{name}.csv", **kw)
    with pytest.raises(InputError, match=r"--stop-at-step 121: the protocol has steps 0 \.\. 120"):
        run("a", stop_at_step=121)
    run("a", checkpoint_path=ck, stop_at_step=60)
    with pytest.raises(InputError, match="at step 60, the stop step already"):
        run("b", continue_path=ck, stop_at_step=60)
    with pytest.raises(InputError, match="at step 60, after --stop-at-step 40"):
        run("b", continue_path=ck, stop_at_step=40)
    with pytest.raises(InputError, match="another protocol.*continue with the same protocol"):
        run_protocol(small_lialcl4(8), FastLJ(), _protocol(STAGES["bussi"]), tmp_path / "c.extxyz",
                     tmp_path / "c.csv", continue_path=ck)
    with pytest.raises(InputError, match="another system"):
        run_protocol(small_lialcl4(9), FastLJ(), proto, tmp_path / "c.extxyz", tmp_path / "c.csv",
                     continue_path=ck)
    with pytest.raises(InputError, match="checkpoint not found"):
        run("b", continue_path=tmp_path / "missing.npz")
    with pytest.raises(InputError, match="--auto-resume needs --checkpoint"):
        run("b", auto_resume=True)
    with pytest.raises(InputError, match="--resume or --auto-resume, not both"):
        run("b", checkpoint_path=tmp_path / "x.npz", resume_path=ck, auto_resume=True)
    assert not any(p.name.startswith(("b.", "c.")) for p in tmp_path.iterdir())
