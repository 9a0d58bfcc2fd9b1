"""One source for the workflow's defaults: the schema's `default:` values, filled into the config
before any rule reads it, equal to the `mtpflow` verbs' own defaults where both describe the same
quantity; configs whose values combine into an empty output are refused at validation; every rule
takes its log, benchmark, threads and resources from one helper and runs one mtpflow verb."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import numpy as np
import pytest

from mtpflow.cli import build_parser
from mtpflow.md.deck import DEFAULT_RESTART_EVERY
from mtpflow.md.protocol import Protocol, protocol_from_dict
from mtpflow.workflow_config import (MIN_PRODUCTION_FRAMES, ConfigError, check_config, md_parts,
                                     production_frames, schema_defaults)
from tests.conftest import shared_path

from .smk import (DEFAULT_CONFIG, EXAMPLES, ROOT, TEST_CONFIG, load_config, load_schema, planned_jobs,
                  snakemake, with_defaults, without_optional_keys, write_config)


def _verb_default(verb: str, dest: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb").choices[verb]
    assert any(a.dest == dest for a in sub._actions), f"mtpflow {verb} has no option {dest}"
    return sub.get_default(dest)


def _protocol_default(key: str):
    proto = protocol_from_dict({"stages": [{"type": "production", "temperature_K": 600, "steps": 10}]})
    if key == "thermostat":
        return proto.stages[0].thermostat
    assert getattr(proto, key) == Protocol.__dataclass_fields__[key].default  # parser = dataclass
    return getattr(proto, key)


# config key -> the verb options (verb, argparse dest) whose default describes the same quantity
VERB_DEFAULTS = {
    "reference.vasp.functional": [("vasp-inputs", "functional"), ("aimd", "functional"), ("densify", "functional")],
    "reference.vasp.potcar": [("vasp-inputs", "potcar"), ("aimd", "potcar"), ("densify", "potcar")],
    "reference.vasp.potcar_spec": [("vasp-inputs", "potcar_spec"), ("aimd", "potcar_spec"), ("densify", "potcar_spec")],
    "reference.vasp.vdw": [("vasp-inputs", "vdw"), ("aimd", "vdw"), ("densify", "vdw")],
    "reference.vasp.aimd_incar": [("vasp-inputs", "incar"), ("aimd", "incar")],
    "reference.vasp.static_incar": [("vasp-inputs", "incar"), ("densify", "incar")],
    "aimd.prerelax_steps": [("aimd", "prerelax_steps")],
    "aimd.every": [("aimd", "every")],
    "collect.skip_ps": [("collect", "skip_ps")],
    "collect.every": [("collect", "every")],
    "densify.every": [("densify", "every")],
    "dataset.block_size": [("dataset", "block_size")],
    "train.tolerance": [("train", "tolerance")],
    "train.seed": [("train", "seed")],
    "train.checkpoint_every": [("train", "checkpoint_every")],
    "md.lammps.pair_style": [("lammps-deck", "pair_style")],
    "md.lammps.pair_style_override": [("lammps-deck", "pair_style_override")],
    "analysis.lags_ps": [("analyze", "lags_ps")],
    "analysis.hop_distance_A": [("analyze", "hop_distance")],
    "analysis.hop_window_A": [("analyze", "hop_window")],
    "analysis.cascade_radius_A": [("analyze", "cascade_radius")],
    "analysis.cascade_window_ps": [("analyze", "cascade_window")],
    "report.title": [("report", "title")],
    "active_learning.timestep_fs": [("md", "timestep_fs")],
    "active_learning.grade_mode": [("al-select", "mode"), ("select-add", "mode"), ("calc-grade", "mode")],
    "active_learning.select_threshold": [("al-select", "threshold"), ("select-add", "threshold")],
    "active_learning.max_selected": [("al-select", "max_configs"), ("select-add", "max_configs")],
}
# config key -> the value `mtpflow md` uses when its extrapolation-control option is left out (the
# options default to None, meaning these)
MD_GRADE_DEFAULTS = {"active_learning.grade_save": 0, "active_learning.grade_break": 1,
                     "active_learning.grade_every": 2}
# config key -> the protocol's default (mtpflow md and lammps-deck read protocols)
PROTOCOL_DEFAULTS = {"md.traj_every": "traj_every", "md.thermo_every": "thermo_every",
                     "md.thermostat": "thermostat"}
# keys no verb option describes, and why
WORKFLOW_ONLY = {
    "md.engine": "which rule runs MLMD (md or lammps_deck/lammps/lammps_outputs)",
    "md.segment_ps": "how the workflow splits the production into jobs (mtpflow md --stop-at-step)",
    "md.checkpoint_every": "mtpflow md checkpoints only when asked (--checkpoint-every, protocol "
                           "default 0); the workflow's MLMD jobs always do, to continue after a kill",
    "md.lammps.restart_every": "lammps-deck's --restart-every has no default of its own; compared with the deck's",
    "validation.plots": "whether calc_errors is given --plots (a folder, no default)",
    "mtp.min_dist_A": "init-mtp requires --min-dist; compared with MLIP's templates",
    "resources.default.threads": "Snakemake resources", "resources.default.mem_mb": "Snakemake resources",
    "resources.default.runtime": "Snakemake resources", "resources.default.tasks": "Snakemake resources",
    "resources.default.mpi": "Snakemake resources",
    "active_learning.iterations": "how many loop iterations the workflow plans (0: none)",
    "active_learning.temperatures_K": "the exploration runs' --temperature-K, one run each",
    "active_learning.density_factors": "the exploration runs' --density-factor, one run each",
    "active_learning.steps": "the exploration runs' --steps (md has no default)",
    "active_learning.replicate": "md --replicate has no default (the start as it is, = [1, 1, 1])",
}


def _same(config_value, verb_value):
    if config_value == {} and verb_value == []:  # no INCAR overrides either way
        return True
    if isinstance(config_value, list) and isinstance(verb_value, str):  # a list option: "a,b"
        return config_value == [float(v) for v in verb_value.split(",")]
    return config_value == verb_value and type(config_value) is type(verb_value) or (
        isinstance(config_value, float) and config_value == verb_value)


def test_every_schema_default_equals_the_verb_default():
    defaults = schema_defaults(load_schema())
    # every default is compared, or listed with the reason it has no verb counterpart
    known = set(VERB_DEFAULTS) | set(PROTOCOL_DEFAULTS) | set(WORKFLOW_ONLY) | set(MD_GRADE_DEFAULTS)
    assert set(defaults) == known, set(defaults) ^ known
    for key, options in VERB_DEFAULTS.items():
        for verb, dest in options:
            got = _verb_default(verb, dest)
            assert _same(defaults[key], got), f"{key} = {defaults[key]!r} but mtpflow {verb} defaults to {got!r}"
    for key, attr in PROTOCOL_DEFAULTS.items():
        assert defaults[key] == _protocol_default(attr), key
    assert defaults["md.lammps.restart_every"] == DEFAULT_RESTART_EVERY
    from types import SimpleNamespace

    from mtpflow.commands.md_grade import _values

    parser = build_parser()
    md = next(a for a in parser._actions if a.dest == "verb").choices["md"]
    unset = SimpleNamespace(**{a.dest: md.get_default(a.dest) for a in md._actions})
    used = _values(unset)  # (save, break, every, mode) when the options are left out
    for key, index in MD_GRADE_DEFAULTS.items():
        assert defaults[key] == used[index], f"{key} = {defaults[key]!r} but mtpflow md uses {used[index]!r}"
    assert defaults["active_learning.grade_mode"] == used[3]


def test_a_drifted_default_is_caught(monkeypatch):
    # the comparison itself can fail: change the verb's default and it does
    from mtpflow.commands import data

    original = data.register

    def register(sub):
        original(sub)
        sub.choices["collect"].set_defaults(every=2)

    monkeypatch.setattr(data, "register", register)
    with pytest.raises(AssertionError, match="collect.every = 1 but mtpflow collect defaults to 2"):
        test_every_schema_default_equals_the_verb_default()


def test_min_dist_default_is_mlips_template():
    from mtpflow.io.mtp import read_mtp

    template = read_mtp(shared_path("mtp_templates", "08.almtp"))
    defaults = schema_defaults(load_schema())
    assert defaults["mtp.min_dist_A"] == template.min_dist


def test_defaults_are_filled_in_place_once_and_never_shared():
    schema = load_schema()
    a = without_optional_keys(load_config())
    assert "collect" not in a and "resources" not in a and "lags_ps" not in a["analysis"]
    assert check_config(a, schema) is a
    # whole optional sections get their keys' defaults; derived defaults name other keys
    assert a["collect"] == {"skip_ps": 0.0, "every": 1}
    assert a["validation"] == {"plots": True} and a["report"] == {"title": "mtpflow report"}
    assert a["resources"] == {"default": {"threads": 1, "mem_mb": 1000, "runtime": 30, "tasks": 2, "mpi": "mpiexec"}}
    assert a["initial"]["compositions"] == ["LiAlCl4"]
    assert a["compositions"]["LiAlCl4"]["density_factor"] == a["initial"]["density_factor"]
    assert a["md"]["engine"] == "embedded" and "lammps" not in a["md"]
    assert a["analysis"]["lags_ps"] is None and a["analysis"]["cascade_window_ps"] == 1.0
    # a rule's own resources are not filled (resources.default applies to what it leaves out)
    b = load_config()
    check_config(b, schema)
    assert b["resources"]["aimd"] == load_config()["resources"]["aimd"]
    assert b["resources"]["default"] == {"threads": 1, "mem_mb": 800, "runtime": 15, "tasks": 2, "mpi": "mpiexec"}
    # given values are kept; filling twice changes nothing; defaults are copies
    assert check_config(copy.deepcopy(b), schema) == b
    a["resources"]["default"]["threads"] = 7
    c = check_config(without_optional_keys(load_config()), schema)
    assert c["resources"]["default"]["threads"] == 1


def test_config_without_optional_keys_runs_every_verb_with_the_defaults(tmp_path):
    stripped = write_config(without_optional_keys(load_config()), tmp_path / "stripped.yaml")
    res = snakemake(tmp_path, "-n", "-p", configfile=stripped)
    assert res.returncode == 0, res.stdout
    assert planned_jobs(res.stdout).get("all") == 1
    out = res.stdout
    for text in ("--prerelax-steps 100 --every 1", "--skip-ps 0.0 --every 1", "--every 1 --threads",
                 "--block-size 5", "--min-dist 2.0", "--tolerance 0.001 --seed 0",
                 "--cascade-radius 1.0 --cascade-window 1.0", "--title 'mtpflow report'",
                 "--plots results/validation/L08/parity"):
        assert text in out, text
    analyze = next(ln for ln in out.splitlines() if "mtpflow analyze" in ln)
    assert "--lags-ps" not in analyze and "--hop-distance" not in analyze  # null: the analysis chooses
    # md.segment_ps null: one production job after the equilibration job; at the default
    # trajectory interval (100 steps) the production holds enough frames
    cfg = with_defaults(load_config(stripped))
    (eq, (_, eq_stop)), (seg, (start, stop)) = md_parts(cfg["md"], 600).items()
    assert (eq, seg, start) == ("equilibration", "production/seg000", eq_stop)
    md_lines = [ln for ln in out.splitlines() if "mtpflow md " in ln]
    assert len(md_lines) == 2 and f"--stop-at-step {eq_stop} " in md_lines[0]
    assert f"--continue-from results/md/L08/LiAlCl4/T600K/r0/equilibration.ckpt --stop-at-step {stop} " \
        in md_lines[1] and "--checkpoint-every 10000 --auto-resume" in md_lines[1]
    assert "mtpflow analyze results/md/L08/LiAlCl4/T600K/r0/production/seg000.extxyz --species" in analyze
    assert production_frames(cfg["md"], 600)[1] >= MIN_PRODUCTION_FRAMES


def test_validation_plots_false_drops_the_parity_plots(tmp_path):
    cfg = load_config()
    cfg["validation"]["plots"] = False
    res = snakemake(tmp_path, "-n", "-p", configfile=write_config(cfg, tmp_path / "c.yaml"))
    assert res.returncode == 0, res.stdout
    calc = next(ln for ln in res.stdout.splitlines() if "mtpflow calc-errors" in ln)
    report = next(ln for ln in res.stdout.splitlines() if "mtpflow report" in ln)
    assert "--plots" not in calc and "--parity-plots" not in report and "--errors" in report


def _set(cfg, dotted, value):
    node = cfg
    *path, last = dotted.split(".")
    for k in path:
        node = node.setdefault(k, {})
    node[last] = value


# (changes, the key the message starts with, words it must hold)
EMPTY_OUTPUTS = [
    ({"md.traj_every": 1000}, "md.traj_every", ["holds 0 trajectory frame", "lower md.traj_every to 125",
                                                 "raise md.production_ps to 3.85"]),
    ({"analysis.lags_ps": [0.1, 0.6]}, "analysis.lags_ps", ["[0.6] ps exceed", "0.495 ps", "md.production_ps"]),
    ({"collect.skip_ps": 0.1}, "collect.skip_ps", ["skips the whole AIMD run", "0.08 ps", "aimd.steps"]),
    ({"dataset.block_size": 21}, "dataset.block_size", ["gives 21 frame(s)", "one block", "below 21"]),
    ({"md.thermo_every": 1000}, "md.thermo_every", ["650 steps", "step 0 only"]),
    ({"md.segment_ps": 0.003}, "md.segment_ps", ["segment 0 of 167 at 600 K (steps 151 .. 153",
                                                 "holds no trajectory frame", "and no thermo row",
                                                 "raise md.segment_ps"]),
    ({"md.traj_every": 20, "md.segment_ps": 0.49}, "md.segment_ps",
     ["segment 1 of 2 at 600 K (steps 641 .. 650: 10 of", "holds no trajectory frame (a frame every",
      "the last segment is not that short"]),
]


@pytest.mark.parametrize("changes, where, words", EMPTY_OUTPUTS, ids=[",".join(e[0]) for e in EMPTY_OUTPUTS])
def test_values_that_combine_into_an_empty_output_are_refused(tmp_path, changes, where, words):
    cfg = load_config()
    for key, value in changes.items():
        _set(cfg, key, value)
    with pytest.raises(ConfigError) as err:
        check_config(copy.deepcopy(cfg), load_schema())
    line = next((ln.strip() for ln in str(err.value).splitlines() if ln.strip().startswith(where)), None)
    assert line is not None, str(err.value)
    for w in words:
        assert w in line, (w, line)
    # the same through snakemake: one message, no traceback, nothing planned
    res = snakemake(tmp_path, "-n", configfile=write_config(cfg, tmp_path / "bad.yaml"))
    assert res.returncode != 0 and "invalid workflow configuration in" in res.stdout
    assert line in res.stdout and "Traceback" not in res.stdout


def test_the_suggested_fixes_work():
    schema = load_schema()
    # (one production job for the first fix: .test's 0.25 ps segments would hold no frame every 1 ps)
    for fix in ({"md.traj_every": 1000, "md.production_ps": 3.85, "md.segment_ps": None},
                *({"md.traj_every": e} for e in range(1, 126))):
        cfg = load_config()
        for key, value in fix.items():
            _set(cfg, key, value)
        check_config(cfg, schema)
        assert production_frames(cfg["md"], 600)[1] >= MIN_PRODUCTION_FRAMES
    cfg = load_config()
    _set(cfg, "md.traj_every", 1000)
    _set(cfg, "md.production_ps", 3.84)
    with pytest.raises(ConfigError, match="holds 3 trajectory frame"):
        check_config(cfg, schema)
    # the frame count is not monotonic in the interval (149 leaves 3 frames, 162 leaves 4), so the
    # suggestion is the bound that always works: production steps / MIN_PRODUCTION_FRAMES
    assert [production_frames(with_defaults(load_config())["md"], 600, e)[1] for e in (149, 162)] == [3, 4]


@pytest.mark.parametrize("n_frames, ok", [(MIN_PRODUCTION_FRAMES - 1, False), (MIN_PRODUCTION_FRAMES, True)])
def test_min_production_frames_is_what_the_analysis_needs(tmp_path, n_frames, ok):
    from mtpflow.analysis.synthetic import brownian

    pos = brownian(n_frames, 8, 0.5, 0.1, np.eye(3) * 10.0, seed=1)
    traj = tmp_path / "p.extxyz"
    with open(traj, "w") as fh:
        for k in range(n_frames):
            fh.write(f'8\nLattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 time_ps={0.1 * k} '
                     f'pbc="T T T"\n' + "".join(f"Li {x} {y} {z}\n" for x, y, z in pos[k]))
    res = subprocess.run([sys.executable, "-m", "mtpflow.cli", "analyze", str(traj), "--species", "Li",
                          "--outdir", str(tmp_path / "a")], capture_output=True, text=True)
    assert (res.returncode == 0) == ok, res.stderr


def test_every_rule_takes_log_benchmark_threads_resources_from_job():
    text = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))
    rules = re.findall(r"^ *rule (\w+):\n(.*?)(?=^ *rule \w+:|\Z)", text, re.S | re.M)
    assert len(rules) >= 19
    for name, body in rules:
        directives = {d: re.search(rf"^\s+{d}:\s*\n?\s*(.*)$", body, re.M) for d in
                      ("log", "benchmark", "threads", "resources")}
        for d, m in directives.items():
            assert m is not None, f"rule {name} has no {d}"
        job_var = directives["log"].group(1).split(".")[0]
        assert re.search(rf"^\s*{job_var} = job\(\"{name}\"", text, re.M), f"rule {name}: {job_var} is not job('{name}')"
        assert directives["benchmark"].group(1).strip() == f"{job_var}.benchmark"
        assert directives["threads"].group(1).strip() == f"{job_var}.threads"
        assert directives["resources"].group(1).strip() == f"**{job_var}.resources,"
    # no defaults retyped with .get (Snakemake's checkpoints.<rule>.get is its API, not a default)
    assert "res(" not in text and "log_path(" not in text and ".get(" not in text.replace(
        'config["resources"].get(rule_name, {})', "").replace("checkpoints.al_select.get(", "")
    checkpoint = re.search(r"^checkpoint al_select:\n(.*?)(?=^\S)", text, re.S | re.M).group(1)
    assert "AL_SELECT.log" in checkpoint and "**AL_SELECT.resources," in checkpoint


def _shell_commands(output: str) -> dict[str, str]:
    out = {}
    for block in output.split("\nrule ")[1:] + output.split("\nlocalrule ")[1:]:
        name = block.split(":", 1)[0]
        m = re.search(r"^Shell command: (.*)$", block, re.M)
        if m and m.group(1) != "None":  # None: a run: rule (md_protocol writes config values out)
            out[name] = m.group(1)
    return out


def test_rules_are_thin_one_verb_each(tmp_path):
    lammps = load_config()
    lammps["md"]["engine"] = "lammps"
    lammps["md"]["lammps"] = {"command": "lmp", "pair_style_override": "pair_style lj/cut 4.0; pair_coeff * * 0.02 2.2"}
    configs = [DEFAULT_CONFIG, write_config(lammps, tmp_path / "lammps.yaml"),
               next(p for p in EXAMPLES if "vasp" in p.name)]
    seen = set()
    for path in configs:
        res = snakemake(tmp_path, "-n", "-p", "--profile", str(ROOT / "profiles" / "slurm"), configfile=path)
        assert res.returncode == 0, res.stdout
        for rule, shell in _shell_commands(res.stdout).items():
            seen.add(rule)
            unquoted = re.sub(r"'[^']*'", "''", shell)  # titles, launch commands
            assert len(re.findall(r"(?:^|\s)mtpflow [a-z]", unquoted)) == 1, (rule, shell)
            words = unquoted.split()
            for forbidden in ("rm", "cd", "grep", "ln", "cp", "for", "&&", "||", ";"):
                assert forbidden not in words, (rule, forbidden, shell)
    assert {"vasp_aimd", "vasp_densify", "lammps_deck", "lammps", "lammps_outputs", "aimd", "train"} <= seen


@pytest.mark.parametrize("configfile", [DEFAULT_CONFIG, TEST_CONFIG, *EXAMPLES], ids=lambda p: p.name)
def test_shipped_configs_validate_with_defaults(configfile):
    cfg = with_defaults(load_config(configfile))
    assert cfg["md"]["traj_every"] >= 1 and cfg["resources"]["default"]["mpi"]
