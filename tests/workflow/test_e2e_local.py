"""The .test DAG run for real on this machine (profiles/local), every stage's outputs checked,
then rerun semantics asserted with dry runs and `snakemake --report`."""

from __future__ import annotations

import copy

import pytest

from . import checks
from .smk import ROOT, TEST_CONFIG, load_config, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.slow

LOCAL = ["--profile", str(ROOT / "profiles" / "local")]
UPSTREAM = {"build_initial", "aimd", "collect", "densify", "dataset", "init_mtp"}


def wired_rules(workdir) -> set[str]:
    res = snakemake(workdir, "--list-rules", configfile=TEST_CONFIG)
    assert res.returncode == 0, res.stdout
    return {ln.strip() for ln in res.stdout.splitlines() if ln.strip() and " " not in ln.strip()}


def active(rules: set[str]) -> set[str]:
    """Rules the DAG runs: the analysis rules wait for an MLMD rule."""
    out = rules - {"all"}
    return out if "md" in rules else out - {"analyze", "sweep"}


def check_all_stages(wd, cfg, rules):
    checks.check_initial(wd, cfg)
    checks.check_aimd(wd, cfg)
    checks.check_collect_densify_dataset(wd, cfg)
    sections = ["Dataset summary"]
    if "train" in rules:
        checks.check_training(wd, cfg)
        sections += ["Training curve", "Validation metrics", "Parity plots"]
    if "md" in rules:
        checks.check_md(wd, cfg)
        sections += ["MD thermodynamics"]
    if "analyze" in rules and "md" in rules:
        checks.check_analysis(wd, cfg)
        sections += ["Dynamic heterogeneity", "Composition sweep"]
    checks.check_report(wd, cfg, sections)
    checks.check_logs_and_benchmarks(wd, sorted(rules - {"all"} & _ran_rules(wd)))


def _ran_rules(wd) -> set[str]:
    return {p.name for p in (wd / "logs").iterdir() if p.is_dir() and p.name != "benchmarks"}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("wf_local")
    res = snakemake(wd, *LOCAL, configfile=TEST_CONFIG, timeout=1800)
    assert res.returncode == 0, res.stdout[-6000:]
    return wd


def test_every_stage_output_is_valid(local_run):
    rules = wired_rules(local_run)
    assert {"build_initial", "aimd", "collect", "densify", "dataset", "report"} <= rules
    assert _ran_rules(local_run) == active(rules)
    check_all_stages(local_run, load_config(), rules)


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
    rules = wired_rules(local_run)
    downstream = {"train", "calc_errors", "md", "analyze", "sweep", "report"} & active(rules)
    assert jobs - {"all"} == downstream, jobs


def test_changing_aimd_length_keeps_initial_configurations(local_run, tmp_path):
    jobs = _dry_run_with(local_run, tmp_path, "aimd.steps", 22)
    assert {"aimd", "collect", "densify", "dataset", "report"} <= jobs
    assert not jobs & {"build_initial", "init_mtp"}, jobs


def test_snakemake_report(local_run, tmp_path):
    out = tmp_path / "snakemake_report.html"
    res = snakemake(local_run, "--report", str(out), configfile=TEST_CONFIG)
    assert res.returncode == 0, res.stdout
    assert out.stat().st_size > 10_000
