"""The embedded MLMD of the workflow in chained segments, for real (profiles/local, the .test
config with small segments and the trained level-8 potential of ../shared/data in place of the
training): the md process of a production segment is killed with SIGKILL mid-run, snakemake is
rerun and continues that segment from its last checkpoint; every part's trajectory and thermo
file then equals an uninterrupted workflow run's byte for byte, and the parts concatenated equal
one uninterrupted `mtpflow md` run of the whole protocol."""

from __future__ import annotations

import copy
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtpflow.io.md_files import load_checkpoint
from mtpflow.workflow_config import md_parts

from ..conftest import descendant_pids, shared_path
from .checks import check_analysis, check_md
from .smk import ROOT, SNAKEFILE, load_config, snakemake, with_defaults, write_config

pytestmark = pytest.mark.slow

LOCAL = ["--profile", str(ROOT / "profiles" / "local")]
RUN = "L08/LiAlCl4/T600K/r0"
TARGETS = ["results/sweep/L08/sweep.csv", "--allowed-rules", "md_protocol", "md", "analyze", "sweep"]
KILLED = "production/seg001"


def _config():
    cfg = copy.deepcopy(load_config())
    cfg["species"] = ["Li", "Cl", "Al"]          # the type order of MLIP's trained_L08.almtp
    cfg["active_learning"]["iterations"] = 0     # MD from results/mtp/ (seeded below)
    cfg["md"].update(production_ps=2.0, segment_ps=0.5, checkpoint_every=50)
    cfg["analysis"]["lags_ps"] = [0.1, 0.5]
    return cfg


def _seed_upstream(wd: Path) -> None:
    """The trained potential and a 96-ion start in place of training and AIMD."""
    from mtpflow.cli import main

    (wd / "results/aimd/LiAlCl4/r0").mkdir(parents=True)
    start = shared_path("mtp_oracle_inputs", "lialcl4_96.extxyz")
    (wd / "results/aimd/LiAlCl4/r0/traj.extxyz").write_bytes(start.read_bytes())
    assert main(["convert", str(shared_path("mlip_reference", "trained_L08.almtp")),
                 str(wd / "results/mtp/L08/trained.mtp"), "--species", "Li,Cl,Al"]) == 0


def _mtpflow(*args):
    res = subprocess.run([sys.executable, "-m", "mtpflow.cli", *args], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res


def _digests(wd: Path, names) -> dict[str, str]:
    return {f"{name}{ext}": hashlib.sha256((wd / f"results/md/{RUN}/{name}{ext}").read_bytes()).hexdigest()
            for name in names for ext in (".extxyz", ".csv")}


def _md_pid(snakemake_pid: int, part: str) -> int | None:
    """The mtpflow md process (not its shell) of `part` among snakemake's descendants."""
    for pid in descendant_pids(snakemake_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(argv[0].decode()).name not in ("bash", "sh") and \
                any(a.decode().endswith(f"{part}.ckpt") for a in argv):
            return pid
    return None


def test_segment_killed_mid_run_is_continued_on_rerun_and_matches(tmp_path):
    cfg = _config()
    path = write_config(cfg, tmp_path / "segments.yaml")
    parts = md_parts(with_defaults(cfg)["md"], 600)
    assert list(parts) == ["equilibration"] + [f"production/seg{k:03d}" for k in range(4)]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for wd in (whole, killed):
        wd.mkdir()
        _seed_upstream(wd)
    pot, start = whole / "results/mtp/L08/trained.mtp", whole / "results/aimd/LiAlCl4/r0/traj.extxyz"
    # every MD below is its own process loading numba's cached kernels: fill the cache first
    # (machine code compiled in a process can differ at round-off from the cached code, README)
    _mtpflow("md", str(pot), str(start), "--ensemble", "nvt", "--temperature-K", "600", "--steps", "2",
             "--traj", str(tmp_path / "warm.extxyz"), "--thermo", str(tmp_path / "warm.csv"))

    res = snakemake(whole, *LOCAL, *TARGETS, configfile=path, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]

    # the same workflow; the md process of segment 1 is killed once its checkpoint is 100 steps in
    start_step, stop_step = parts[KILLED]
    part_ck = killed / f"results/md/{RUN}/{KILLED}.ckpt.part"
    exe = Path(sys.executable).parent / "snakemake"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen([str(exe), "-s", str(SNAKEFILE), "--directory", str(killed), "--configfile",
                             str(path), *LOCAL, *TARGETS], cwd=killed, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    while True:
        assert proc.poll() is None, "the workflow ended before segment 1 could be killed:\n" + \
            proc.communicate()[0][-4000:]
        assert time.monotonic() - t0 < 600
        try:
            at = load_checkpoint(part_ck)[1]["step"] if part_ck.exists() else 0
        except Exception:  # written at this moment (never half-written: renamed into place)
            at = 0
        if at >= start_step + 100:
            pid = _md_pid(proc.pid, KILLED)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                break
        time.sleep(0.01)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode != 0, out[-4000:]
    killed_at = load_checkpoint(part_ck)[1]["step"]
    assert start_step + 100 <= killed_at < stop_step
    assert not (killed / f"results/md/{RUN}/{KILLED}.extxyz").exists()
    assert (killed / f"results/md/{RUN}/{KILLED}.extxyz.part").exists()
    assert (killed / f"results/md/{RUN}/production/seg000.extxyz").exists()

    # rerun: that segment continues from its own last checkpoint, the later ones follow
    res = snakemake(killed, *LOCAL, *TARGETS, configfile=path, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]
    log = (killed / f"logs/md/{RUN}/{KILLED}.log").read_text()
    assert f"resuming this job from its own checkpoint results/md/{RUN}/{KILLED}.ckpt.part" in log
    assert f"resuming at step {killed_at} " in log
    check_md(killed, cfg)
    check_analysis(killed, cfg)

    # byte for byte what the uninterrupted workflow wrote, and its analysis
    assert _digests(killed, parts) == _digests(whole, parts)
    for name in ("summary.json", "msd.csv", "hops.csv"):
        assert (killed / f"results/analysis/{RUN}/{name}").read_bytes() == \
            (whole / f"results/analysis/{RUN}/{name}").read_bytes(), name

    # ... and the parts concatenated are one uninterrupted mtpflow md run of the whole protocol
    _mtpflow("md", str(pot), str(start), "--protocol", str(whole / "results/md/protocols/T600K.yaml"),
             "--replicate", "1,1,1", "--species", "Li,Cl,Al", "--seed", "0", "--threads", "1",
             "--traj", str(tmp_path / "one.extxyz"), "--thermo", str(tmp_path / "one.csv"))
    traj = b"".join((killed / f"results/md/{RUN}/{name}.extxyz").read_bytes() for name in parts)
    assert traj == (tmp_path / "one.extxyz").read_bytes()
    csv = [(killed / f"results/md/{RUN}/{name}.csv").read_bytes() for name in parts]
    assert csv[0] + b"".join(c.split(b"\n", 1)[1] for c in csv[1:]) == (tmp_path / "one.csv").read_bytes()
