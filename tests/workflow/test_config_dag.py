"""Config schema, lint and dry-run DAG tests of the Snakemake workflow (fast: no rule runs)."""

from __future__ import annotations

import copy

import pytest

from .smk import (DEFAULT_CONFIG, EXAMPLES, ROOT, TEST_CONFIG, load_config, planned_jobs, shell_commands,
                  snakemake, write_config)


@pytest.mark.parametrize("configfile", [DEFAULT_CONFIG, TEST_CONFIG], ids=lambda p: p.parent.parent.name)
def test_lint_reports_nothing(tmp_path, configfile):
    # the .test config turns active learning on (workflow/rules/al.smk is linted too)
    res = snakemake(tmp_path, "--lint", configfile=configfile)
    assert res.returncode == 0, res.stdout
    assert "Lints for" not in res.stdout
    assert "Congratulations" in res.stdout


@pytest.mark.parametrize("configfile", [DEFAULT_CONFIG, TEST_CONFIG, *EXAMPLES], ids=lambda p: p.name)
def test_dry_run_plans_the_dag(tmp_path, configfile):
    res = snakemake(tmp_path, "-n", configfile=configfile)
    assert res.returncode == 0, res.stdout
    jobs = planned_jobs(res.stdout)
    assert jobs.get("all") == 1, res.stdout


def test_default_config_used_without_configfile(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(DEFAULT_CONFIG.read_text())
    res = snakemake(tmp_path, "-n")
    assert res.returncode == 0, res.stdout


def _mutate(cfg, dotted, value):
    node = cfg
    keys = dotted.split(".")
    for k in keys[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return cfg


_DELETE = object()

# Schema errors are all reported in one message; cross-checks run once the schema holds.
SCHEMA_ERRORS = [
    ("md.temperatures_K", [-300], "md.temperatures_K[0]", "less than the minimum"),
    ("aimd.timestep_fs", "2e-3", "aimd.timestep_fs", "exponents with a sign"),
    ("train.max_iterations", 5, "train", "max_iterations"),
    ("mtp.levels", [7], "mtp.levels[0]", "7"),
    ("dataset.test_fraction", 1.5, "dataset.test_fraction", "1.5"),
    ("reference", _DELETE, "(top level)", "'reference' is a required property"),
    ("resources.trian", {"threads": 2}, "resources", "trian"),
]
CROSS_ERRORS = [
    ("md.compositions", ["LiAlCl5"], "md.compositions", "LiAlCl5"),
    ("species", ["Li", "Cl", "Na"], "compositions.LiAlCl4.formula", "Al"),
    ("analysis.species", "Br", "analysis.species", "Br"),
    ("reference.engine", "vasp", "reference.vasp", "reference.vasp.command"),
]


@pytest.mark.parametrize("errors", [SCHEMA_ERRORS, CROSS_ERRORS], ids=["schema", "cross-checks"])
def test_bad_config_gives_clear_error(tmp_path, errors):
    cfg = copy.deepcopy(load_config())
    for key, value, _, _ in errors:
        _mutate(cfg, key, value)
    path = write_config(cfg, tmp_path / "bad.yaml")
    res = snakemake(tmp_path, "-n", configfile=path)
    assert res.returncode != 0
    assert "invalid workflow configuration in" in res.stdout and str(path) in res.stdout, res.stdout
    lines = [ln.strip() for ln in res.stdout.splitlines()]
    for _, _, where, what in errors:
        assert any(ln.startswith(where) and what in ln for ln in lines), (where, what, res.stdout)
    assert "Traceback" not in res.stdout


def test_sweep_example_plans_one_training_and_every_composition_and_temperature(tmp_path):
    example = next(p for p in EXAMPLES if "sweep" in p.name)
    cfg = load_config(example)
    n_comp, n_temp = len(cfg["md"]["compositions"]), len(cfg["md"]["temperatures_K"])
    assert n_comp >= 5
    res = snakemake(tmp_path, "-n", configfile=example)
    assert res.returncode == 0, res.stdout
    jobs = planned_jobs(res.stdout)
    assert jobs["aimd"] == len(cfg["initial"]["compositions"]) and jobs["dataset"] == 1
    assert jobs["train"] == len(cfg["mtp"]["levels"])
    assert jobs["analyze"] == n_comp * n_temp * len(cfg["mtp"]["levels"])
    # one equilibration job and the production segments per run
    from mtpflow.workflow_config import md_parts

    from .smk import with_defaults
    md = with_defaults(cfg)["md"]
    parts = sum(len(md_parts(md, t)) for t in md["temperatures_K"]) * n_comp * len(cfg["mtp"]["levels"])
    assert jobs["md"] == parts >= 2 * jobs["analyze"]
    assert jobs["sweep"] == len(cfg["mtp"]["levels"]) and jobs["report"] == 1
    for comp in cfg["md"]["compositions"]:
        assert f"results/analysis/L16/{comp}/T400K/r0" in res.stdout


def test_vasp_route_runs_vasp_under_srun_with_its_own_resources(tmp_path):
    example = next(p for p in EXAMPLES if "vasp" in p.name)
    cfg = load_config(example)
    res = snakemake(tmp_path, "-n", "-p", "--profile", str(ROOT / "profiles" / "slurm"), configfile=example)
    assert res.returncode == 0, res.stdout
    jobs = planned_jobs(res.stdout)
    assert jobs.get("vasp_aimd") == 1 and jobs.get("vasp_densify") == 1
    assert "aimd" not in jobs and "densify" not in jobs
    command = cfg["reference"]["vasp"]["command"]
    for rule in ("vasp_aimd", "vasp_densify"):
        tasks = cfg["resources"][rule]["tasks"]
        assert f"srun -n {tasks} {command}" in res.stdout, rule
    assert f"srun -n {cfg['resources']['train']['tasks']} mtpflow train" in res.stdout


def test_vdw_goes_to_the_static_single_points_only(tmp_path):
    """reference.vasp.vdw: optb88 labels the densified frames with optB88-vdW; the AIMD that samples
    them runs the plain functional (the study's protocol)."""
    example = next(p for p in EXAMPLES if "vasp" in p.name)
    cfg = load_config(example)
    cfg["reference"]["vasp"]["vdw"] = "optb88"
    res = snakemake(tmp_path, "-n", "-p", configfile=write_config(cfg, tmp_path / "vdw.yaml"))
    assert res.returncode == 0, res.stdout
    shell = shell_commands(res.stdout)
    aimd = [line for line in shell if line.startswith("mtpflow aimd")]
    densify = [line for line in shell if line.startswith("mtpflow densify")]
    assert aimd and densify, res.stdout
    assert all("--vdw" not in line for line in aimd), aimd
    assert all("--vdw optb88" in line for line in densify), densify


def test_active_learning_dag(tmp_path):
    """Off by default (no al rule); on, a dry run plans the first iteration up to its checkpoint,
    validation and MD take results/al/L08/final.mtp; the VASP route labels with VASP statics."""
    res = snakemake(tmp_path, "-n", "-p", configfile=DEFAULT_CONFIG)
    assert res.returncode == 0 and "al_" not in res.stdout and "results/al/" not in res.stdout
    cfg = load_config()
    assert cfg["active_learning"]["iterations"] >= 2
    res = snakemake(tmp_path, "-n", "-p", configfile=TEST_CONFIG)
    assert res.returncode == 0, res.stdout
    jobs = planned_jobs(res.stdout)
    assert {k: jobs.get(k) for k in ("al_explore", "al_select", "al_errors", "al_final", "al_summary")} == \
        {"al_explore": 1, "al_select": 1, "al_errors": 1, "al_final": 1, "al_summary": 1}
    assert "checkpoint al_select:" in res.stdout and "--grade-status results/al/L08/iter1/explore/" in res.stdout
    assert "mtpflow calc-errors results/al/L08/final.mtp results/dataset/test.cfg" in res.stdout
    assert "mtpflow md results/al/L08/final.mtp" in res.stdout
    vasp = copy.deepcopy(cfg)
    vasp["reference"] = {"engine": "vasp", "vasp": {"command": "vasp_std", "potcar_spec": True}}
    path = write_config(vasp, tmp_path / "vasp_al.yaml")
    res = snakemake(tmp_path, "--list-rules", configfile=path)
    rules = set(res.stdout.split())
    assert res.returncode == 0 and "vasp_al_label" in rules and "al_label" not in rules, res.stdout
    res = snakemake(tmp_path, "-n", configfile=path)
    assert res.returncode == 0 and planned_jobs(res.stdout).get("al_select") == 1, res.stdout
    # the loop's keys are checked with the rest of the config
    bad = copy.deepcopy(cfg)
    bad["active_learning"]["grade_break"] = 1.5
    res = snakemake(tmp_path, "-n", configfile=write_config(bad, tmp_path / "bad_al.yaml"))
    assert res.returncode != 0 and "active_learning.grade_break: 1.5 must be larger than" in res.stdout


def test_study_config_plans_on_slurm_without_potcars(tmp_path, monkeypatch):
    """config/examples/study.yaml (issue 11): the seed's study at full scale plans under the SLURM
    profile with no POTCAR library: VASP AIMD (PBE) and optB88-vdW statics under srun, level 16,
    9 MLMD runs of 2,592-ion scale cut into 1 ns jobs, and the sweep."""
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    study = ROOT / "config" / "examples" / "study.yaml"
    cfg = load_config(study)
    res = snakemake(tmp_path, "-n", "-p", "--profile", str(ROOT / "profiles" / "slurm"), configfile=study)
    assert res.returncode == 0, res.stdout[-5000:]
    jobs = planned_jobs(res.stdout)
    md = cfg["md"]
    n_runs = len(md["compositions"]) * len(md["temperatures_K"])
    n_segments = round(md["production_ps"] / md["segment_ps"])
    assert md["production_ps"] >= 10_000 and md["replicate"] == [3, 3, 3]
    assert cfg["compositions"]["LiAlCl4"]["formula"] == "Li16Al16Cl64"
    assert md["quench_rate_K_per_s"] == 4.5e11 and cfg["densify"]["volume_factors"] == [0.5, 1.0, 1.5]
    assert jobs["md"] == n_runs * (1 + n_segments) and jobs["analyze"] == n_runs == 9
    assert jobs["vasp_aimd"] == jobs["vasp_densify"] == 3 and jobs["sweep"] == 1
    shell = shell_commands(res.stdout)
    aimd = [c for c in shell if c.startswith("mtpflow aimd")]
    densify = [c for c in shell if c.startswith("mtpflow densify")]
    assert all("--vdw" not in c and "--incar ENCUT=520" in c and "--functional PBE" in c for c in aimd)
    assert all("--vdw optb88" in c and "--incar ENCUT=520" in c for c in densify)
    assert all(f"srun -n {cfg['resources']['vasp_aimd']['tasks']} vasp_gam" in c for c in aimd)
    assert any("production/seg009.extxyz" in c for c in shell)
