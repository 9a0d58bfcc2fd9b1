"""`mtpflow md` in chained segments with the trained level-8 potential (../shared/data): the
segments' files concatenated equal one uninterrupted run's byte for byte (Nosé–Hoover chain and
Langevin), and a segment killed with SIGKILL mid-run, started again with the same command
(--auto-resume), continues from its last checkpoint to the same bytes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from mtpflow.cli import main as cli_main
from mtpflow.io.md_files import load_checkpoint


def _protocol(tmp_path, thermostat):
    p = tmp_path / f"{thermostat}.yaml"
    p.write_text(f"timestep_fs: 1.0\nthermo_every: 4\ntraj_every: 6\nseed: 5\nstages:\n"
                 f"  - {{type: melt, temperature_K: 1000, steps: 30, thermostat: {thermostat}}}\n"
                 f"  - {{type: quench, start_K: 1000, end_K: 600, steps: 40, thermostat: {thermostat}}}\n"
                 f"  - {{type: production, temperature_K: 600, steps: 60, thermostat: {thermostat}}}\n")
    return p


def _outputs(d, name):
    return ["--traj", str(d / f"{name}.extxyz"), "--thermo", str(d / f"{name}.csv")]


@pytest.mark.parametrize("thermostat", ["nhc", "langevin"])
def test_md_segments_equal_one_run_byte_for_byte(tmp_path, pot, start, thermostat):
    run = ["md", pot, start, "--species", "Li,Cl,Al", "--protocol", str(_protocol(tmp_path, thermostat)),
           "--threads", "1"]
    assert cli_main([*run, *_outputs(tmp_path, "whole")]) == 0
    # melt + quench (70 steps) in one job, production in segments ending at 95 and 130
    assert cli_main([*run, *_outputs(tmp_path, "eq"), "--stop-at-step", "70", "--checkpoint",
                     str(tmp_path / "eq.ckpt"), "--auto-resume"]) == 0
    previous = tmp_path / "eq.ckpt"
    for k, stop in enumerate((95, 130)):
        assert cli_main([*run, *_outputs(tmp_path, f"seg{k}"), "--continue-from", str(previous),
                         "--stop-at-step", str(stop), "--checkpoint", str(tmp_path / f"seg{k}.ckpt"),
                         "--auto-resume", "--checkpoint-every", "10"]) == 0
        previous = tmp_path / f"seg{k}.ckpt"
    csv = [(tmp_path / f"{n}.csv").read_bytes() for n in ("eq", "seg0", "seg1")]
    joined = csv[0] + b"".join(c.split(b"\n", 1)[1] for c in csv[1:])
    assert joined == (tmp_path / "whole.csv").read_bytes()
    traj = b"".join((tmp_path / f"{n}.extxyz").read_bytes() for n in ("eq", "seg0", "seg1"))
    assert traj == (tmp_path / "whole.extxyz").read_bytes()
    assert not list(tmp_path.glob("*.part"))
    # the production part of the whole run is the segments' files: global steps 72 .. 130
    seg0 = (tmp_path / "seg0.csv").read_text().splitlines()
    assert seg0[1].startswith("72,0.072000,") and seg0[-1].startswith("92,")


def _mtpflow(*args):
    res = subprocess.run([sys.executable, "-m", "mtpflow.cli", *args], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res


@pytest.mark.slow
def test_md_segment_killed_mid_run_resumes_on_rerun(tmp_path, pot, start):
    """SIGKILL (a time limit's end, a node failure) mid-segment: the rerun of the same command
    continues from the segment's last checkpoint and ends with the uninterrupted bytes. Every run
    is its own process, as in the workflow, after one that fills numba's cache: machine code
    compiled in a process can differ at round-off from the cached code (see README)."""
    proto = tmp_path / "p.yaml"
    proto.write_text("timestep_fs: 1.0\nthermo_every: 7\ntraj_every: 25\nseed: 9\nstages:\n"
                     "  - {type: melt, temperature_K: 900, steps: 50}\n"
                     "  - {type: production, temperature_K: 700, steps: 2000, thermostat: langevin}\n")
    run = ["md", pot, start, "--species", "Li,Cl,Al", "--protocol", str(proto), "--threads", "1"]
    _mtpflow(*run, *_outputs(tmp_path, "warm"), "--stop-at-step", "2")
    _mtpflow(*run, *_outputs(tmp_path, "whole"))
    _mtpflow(*run, *_outputs(tmp_path, "eq"), "--stop-at-step", "50", "--checkpoint",
             str(tmp_path / "eq.ckpt"))
    seg = [*run, *_outputs(tmp_path, "seg"), "--continue-from", str(tmp_path / "eq.ckpt"),
           "--checkpoint", str(tmp_path / "seg.ckpt"), "--auto-resume", "--checkpoint-every", "100"]
    part = tmp_path / "seg.ckpt.part"
    proc = subprocess.Popen([sys.executable, "-m", "mtpflow.cli", *seg], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not (part.exists() and load_checkpoint(part)[1]["step"] >= 250):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 300
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no handler runs, nothing is finished
    proc.communicate()
    assert proc.returncode == -9
    killed_at = load_checkpoint(part)[1]["step"]
    assert 250 <= killed_at < 2050 and not (tmp_path / "seg.csv").exists()
    res = _mtpflow(*seg)
    assert f"resuming this job from its own checkpoint {part}" in res.stderr
    assert f"resuming at step {killed_at} " in res.stderr
    whole = (tmp_path / "whole.csv").read_bytes()
    eq, sg = (tmp_path / "eq.csv").read_bytes(), (tmp_path / "seg.csv").read_bytes()
    assert eq + sg.split(b"\n", 1)[1] == whole
    assert (tmp_path / "eq.extxyz").read_bytes() + (tmp_path / "seg.extxyz").read_bytes() == \
        (tmp_path / "whole.extxyz").read_bytes()
    assert not part.exists() and load_checkpoint(tmp_path / "seg.ckpt")[1]["step"] == 2050


def test_md_segment_options_are_checked(tmp_path, pot, start, capsys):
    run = ["md", pot, start, "--species", "Li,Cl,Al", "--ensemble", "nvt", "--temperature-K", "600",
           "--steps", "20", *_outputs(tmp_path, "t")]
    assert cli_main([*run, "--auto-resume"]) == 2
    assert "--auto-resume needs --checkpoint FILE" in capsys.readouterr().err
    assert cli_main([*run, "--stop-at-step", "21"]) == 2
    assert "--stop-at-step 21: the protocol has steps 0 .. 20" in capsys.readouterr().err
    assert cli_main([*run, "--stop-at-step", "-1"]) == 2
    assert "give a global step >= 0" in capsys.readouterr().err
    assert cli_main([*run, "--continue-from", str(tmp_path / "none.ckpt")]) == 2
    assert "none.ckpt: checkpoint not found" in capsys.readouterr().err
    ck = tmp_path / "c.ckpt"
    assert cli_main([*run, "--checkpoint", str(ck), "--resume", str(ck), "--auto-resume"]) == 2
    assert "--resume or --auto-resume, not both" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
