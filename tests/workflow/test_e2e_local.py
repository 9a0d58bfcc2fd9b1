"""The .test DAG run for real on this machine (profiles/local), every stage's outputs checked,
then rerun semantics asserted with dry runs and `snakemake --report`; a second run in another folder
with an empty numba cache gives the same bytes at every stage; and the same config stripped of
every optional key (all defaults from the schema) run end to end."""

from __future__ import annotations

import copy
import hashlib

import pytest

from .checks import (AL_AFTER_CHECKPOINT, AL_PLANNED_FIRST, DOWNSTREAM_OF_TRAINING, LOCAL_RULES,
                     check_all_stages, defined_rules)
from .smk import ROOT, TEST_CONFIG, load_config, planned_jobs, snakemake, without_optional_keys, write_config

pytestmark = pytest.mark.slow

LOCAL = ["--profile", str(ROOT / "profiles" / "local")]


def wired_rules(workdir) -> set[str]:
    res = snakemake(workdir, "--list-rules", configfile=TEST_CONFIG)
    assert res.returncode == 0, res.stdout
    return {ln.strip() for ln in res.stdout.splitlines() if ln.strip() and " " not in ln.strip()}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("wf_local")
    res = snakemake(wd, *LOCAL, configfile=TEST_CONFIG, timeout=1800)
    assert res.returncode == 0, res.stdout[-6000:]
    (wd / "snakemake_stdout.txt").write_text(res.stdout)
    return wd


def test_every_stage_output_is_valid(local_run):
    assert load_config()["active_learning"]["iterations"] >= 2  # CI runs the loop
    assert wired_rules(local_run) == defined_rules(load_config()) | {"all"}
    check_all_stages(local_run, load_config())
    # MD ran with the potential active learning ended with, each loop rule with one mtpflow verb
    shells = [ln for ln in (local_run / "snakemake_stdout.txt").read_text().splitlines()
              if ln.startswith("Shell command: ")]
    assert any(" mtpflow md results/al/L08/final.mtp " in ln for ln in shells)
    for verb in ("al-select", "al-extend", "al-summary", "densify", "train", "calc-errors", "md"):
        lines = [ln for ln in shells if f"mtpflow {verb} " in ln]
        assert lines and all(ln.count("mtpflow ") == 1 for ln in lines), verb


def test_nothing_to_do_after_a_complete_run(local_run):
    res = snakemake(local_run, "-n", configfile=TEST_CONFIG)
    assert res.returncode == 0 and "Nothing to be done" in res.stdout, res.stdout


def _dry_run_with(local_run, tmp_path, key, value):
    cfg = copy.deepcopy(load_config())
    section, name = key.split(".")
    cfg[section][name] = value
    path = write_config(cfg, tmp_path / "changed.yaml")
    res = snakemake(local_run, "-n", configfile=path)
    assert res.returncode == 0, res.stdout
    return set(planned_jobs(res.stdout))


def test_changing_a_training_weight_reruns_training_and_after_only(local_run, tmp_path):
    jobs = _dry_run_with(local_run, tmp_path, "train.force_weight", 0.02)
    # config_used rewrites the config the report shows; active learning reruns from its first
    # iteration (the dry run plans up to the first al_select, a checkpoint)
    assert jobs - {"all"} == DOWNSTREAM_OF_TRAINING | {"config_used"} | AL_PLANNED_FIRST, jobs


def test_changing_aimd_length_keeps_initial_configurations(local_run, tmp_path):
    jobs = _dry_run_with(local_run, tmp_path, "aimd.steps", 22)
    assert {"aimd", "collect", "densify", "dataset", "report"} <= jobs
    assert not jobs & {"build_initial", "init_mtp"}, jobs


def test_snakemake_report(local_run, tmp_path):
    out = tmp_path / "snakemake_report.html"
    res = snakemake(local_run, "--report", str(out), configfile=TEST_CONFIG)
    assert res.returncode == 0, res.stdout
    assert out.stat().st_size > 10_000


def test_a_new_package_version_reruns_what_it_produced(local_run, tmp_path):
    # A distribution record with another version placed first on sys.path is what
    # importlib.metadata (and so the workflow's version param) sees after an upgrade.
    dist = tmp_path / "site" / "mtpflow-99.0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mtpflow\nVersion: 99.0.0\n")
    res = snakemake(local_run, "-n", configfile=TEST_CONFIG, env={"PYTHONPATH": str(dist.parent)})
    assert res.returncode == 0, res.stdout
    # every rule whose output the package computes; md_protocol and config_used only write config
    # values out
    # (active learning: up to the first al_select, a checkpoint, as after a training change)
    planned = set(planned_jobs(res.stdout)) - {"all"}
    assert planned == defined_rules(load_config()) - LOCAL_RULES - AL_AFTER_CHECKPOINT, res.stdout[-3000:]


# results/<stage>/ in DAG order; the report is left out: it shows the rules' wall times and when it
# was generated
# (al: the active-learning loop, which the .test config runs, between training and validation)
STAGE_ORDER = ["initial", "aimd", "collect", "densify", "dataset", "mtp", "al", "validation", "md",
               "analysis", "sweep", "report"]
NOT_REPRODUCIBLE = {"results/report/report.html"}


def _stage_digests(wd) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for path in sorted((wd / "results").rglob("*")):
        rel = path.relative_to(wd).as_posix()
        if path.is_file() and rel not in NOT_REPRODUCIBLE:
            out.setdefault(path.relative_to(wd / "results").parts[0], {})[rel] = hashlib.sha256(
                path.read_bytes()).hexdigest()
    return out


def test_a_second_run_with_an_empty_numba_cache_gives_the_same_bytes(local_run, tmp_path_factory):
    """Issue 11: the same config must give the same numbers on every run. The second run compiles
    every numba kernel afresh (its own empty NUMBA_CACHE_DIR); CHGNet, the seeds and the MPI
    reductions must not vary either. The first stage whose files differ is named."""
    wd = tmp_path_factory.mktemp("wf_again")
    res = snakemake(wd, *LOCAL, configfile=TEST_CONFIG, timeout=1800,
                    env={"NUMBA_CACHE_DIR": str(wd / "numba_cache")})
    assert res.returncode == 0, res.stdout[-6000:]
    first, second = _stage_digests(local_run), _stage_digests(wd)
    assert set(first) == set(STAGE_ORDER) == set(second), (sorted(first), sorted(second))
    for stage in STAGE_ORDER:
        differ = sorted(f for f in first[stage].keys() | second[stage].keys()
                        if first[stage].get(f) != second[stage].get(f))
        assert not differ, f"stage {stage} is the first that differs between two runs: {differ}"


def test_config_without_optional_keys_runs_end_to_end(tmp_path_factory):
    wd = tmp_path_factory.mktemp("wf_defaults")
    cfg = without_optional_keys(load_config())
    assert "collect" not in cfg and "resources" not in cfg and "traj_every" not in cfg["md"]
    path = write_config(cfg, wd / "defaults.yaml")
    res = snakemake(wd, *LOCAL, configfile=path, timeout=1800)
    assert res.returncode == 0, res.stdout[-6000:]
    check_all_stages(wd, cfg)  # checks read the config with the schema's defaults filled in
    res = snakemake(wd, "-n", configfile=path)
    assert res.returncode == 0 and "Nothing to be done" in res.stdout, res.stdout
