"""The .test DAG through a real single-node SLURM cluster on localhost (tools/local_slurm.py) with
--profile profiles/slurm: every rule is a SLURM job (asserted from SLURM's own jobcomp record),
training runs 2 MPI ranks under srun, a failing rule exits non-zero naming its log and leaves no
output taken as done, and the rerun resumes from what finished."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .checks import (AL_PLANNED_FIRST, AL_RULES, DOWNSTREAM_OF_TRAINING, LOCAL_RULES, check_active_learning,
                     check_all_stages,
                     check_training, defined_rules)
from .smk import ROOT, TEST_CONFIG, load_config, planned_jobs, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

TOOL = ROOT / "tools" / "local_slurm.py"
STATE_DIR = Path(os.environ.get("MTPFLOW_SLURM_DIR", "/tmp/mtpflow-slurm"))
JOBCOMP = STATE_DIR / "log" / "jobcomp.txt"
SLURM = ["--profile", str(ROOT / "profiles" / "slurm"), "--seconds-between-status-checks", "3"]
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S*/rule_(\w+)/\S*)\)")


def _tool(action: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), action, "--dir", str(STATE_DIR)],
                          text=True, capture_output=True, timeout=900)


def _local_slurm():
    """tools/local_slurm.py as a module (tools/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("local_slurm", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster():
    foreign = _local_slurm().foreign_configuration()
    if foreign:  # never replace or use a real cluster's set-up
        pytest.skip(f"{foreign}; these tests need the local test cluster of tools/local_slurm.py")
    if os.geteuid() != 0:
        pytest.skip("the local SLURM cluster needs root (daemons run as root, /etc/slurm/slurm.conf)")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        pytest.skip("SLURM is not installed and apt-get is not available to install it")
    was_running = _tool("status").returncode == 0
    started = _tool("start")
    assert started.returncode == 0, started.stdout + started.stderr
    yield STATE_DIR
    if not was_running:
        stopped = _tool("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def jobcomp() -> dict[int, dict[str, str]]:
    """SLURM's own record of finished jobs: JobId -> fields."""
    records = {}
    for line in JOBCOMP.read_text().splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "JobId" in fields:
            records[int(fields["JobId"])] = fields
    return records


def submitted(output: str) -> dict[int, str]:
    """SLURM job id -> rule name, from snakemake's submission messages."""
    return {int(m.group(1)): m.group(3) for m in SUBMITTED.finditer(output)}


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    wd = tmp_path_factory.mktemp("wf_slurm")
    res = snakemake(wd, *SLURM, configfile=TEST_CONFIG, timeout=2400)
    assert res.returncode == 0, res.stdout[-8000:]
    return wd, res.stdout


def test_every_rule_ran_as_a_slurm_job(slurm_run):
    wd, output = slurm_run
    jobs = submitted(output)
    # local rules: no SLURM job (the .test config runs active learning: its rules too)
    assert sorted(set(jobs.values())) == sorted(defined_rules(load_config()) - LOCAL_RULES)
    records = jobcomp()
    for jobid, rule in jobs.items():
        rec = records.get(jobid)
        assert rec is not None, f"SLURM has no record of job {jobid} ({rule})"
        assert rec["JobState"] == "COMPLETED", (rule, rec)
        assert Path(rec["WorkDir"]).resolve() == wd.resolve(), (rule, rec)
    (train_id,) = [j for j, r in jobs.items() if r == "train"]
    assert records[train_id]["ProcCnt"] == "2"  # --ntasks=2 for the MPI rule


def test_training_ran_two_mpi_ranks_under_srun(slurm_run):
    wd, output = slurm_run
    assert re.search(r"Shell command: .*\bsrun -n 2 mtpflow train", output), "train not launched by srun -n 2"
    log = (wd / "logs/train/L08.log").read_text()
    assert "2 rank(s)" in log, log


def test_every_stage_output_is_valid(slurm_run):
    wd, _ = slurm_run
    check_all_stages(wd, load_config())


def test_failing_rule_fails_the_run_and_rerun_resumes(slurm_run):
    wd, _ = slurm_run
    train_cfg = wd / "results/dataset/train.cfg"
    good = train_cfg.read_bytes()
    trained = wd / "results/mtp/L08/trained.mtp"
    train_cfg.write_text("BEGIN_CFG\n Size\n not-a-number\nEND_CFG\n")  # newer: training reruns and fails
    res = snakemake(wd, *SLURM, configfile=TEST_CONFIG, timeout=1200)
    assert res.returncode != 0
    assert "logs/train/L08.log" in res.stdout, res.stdout[-4000:]
    assert re.search(r"slurm_logs/rule_train/\S*\.log", res.stdout), res.stdout[-4000:]
    assert not trained.exists(), "a failed training left its output behind"
    failed = [j for j, r in submitted(res.stdout).items() if r == "train"]
    assert failed and jobcomp()[failed[0]]["JobState"] == "FAILED"
    assert "train.cfg" in (wd / "logs/train/L08.log").read_text()  # the error names the file

    train_cfg.write_bytes(good)
    dry = snakemake(wd, "-n", configfile=TEST_CONFIG)
    # active learning reruns too: a dry run plans it up to its first checkpoint (al_select)
    assert set(planned_jobs(dry.stdout)) - {"all"} == DOWNSTREAM_OF_TRAINING | AL_PLANNED_FIRST, dry.stdout
    res = snakemake(wd, *SLURM, configfile=TEST_CONFIG, timeout=1800)
    assert res.returncode == 0, res.stdout[-6000:]
    ran = set(submitted(res.stdout).values())
    # al_final and al_summary take their inputs once the iterations' checkpoints have run again;
    # the retraining gives the same bytes as before the failure (deterministic), and Snakemake does
    # not rerun a job whose inputs come back with the checksums it recorded: they may be skipped
    assert DOWNSTREAM_OF_TRAINING | AL_PLANNED_FIRST - {"al_final", "al_summary"} <= ran, ran
    assert ran <= DOWNSTREAM_OF_TRAINING | AL_RULES, ran
    check_active_learning(wd, load_config())  # final.mtp is the loop's last potential
    check_training(wd, load_config())
