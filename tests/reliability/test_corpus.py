"""Every verb on every file of the malformed-input corpus (tests/reliability/corpus.py; issue 14):
no traceback; the exit status; for a failure, one error line naming the file (and its line, where
the corpus knows it) or the option, and nothing left in the case's output folder; for a usable
input, the frames or configurations its output holds and the warning about what was dropped.

The verbs run in this process through mtpflow.cli.main (an exception escaping it is what a user
would see as a traceback); test_real_cli_subprocess runs a few through the installed command."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from mtpflow.cli import main
from tests.conftest import SHARED_DATA
from tests.reliability.corpus import build


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return root, build(root, SHARED_DATA if SHARED_DATA.is_dir() else None)


def _count(path: Path, kind: str) -> int:
    if kind == "cfg":
        return sum(1 for ln in path.read_text(errors="replace").splitlines() if ln.strip() == "BEGIN_CFG")
    if kind == "extxyz":
        import ase.io
        return len(ase.io.read(path, ":", format="extxyz"))
    if kind == "csv":
        return len(path.read_text().splitlines()) - 1
    key = kind.split(":", 1)[1]
    return int(json.loads(path.read_text())[key])


def run_case(root: Path, case) -> list[str]:
    """Problems found (empty: the case holds)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            rc = main(case.argv)
    except SystemExit as exc:          # argparse: usage line + error, status 2
        rc = exc.code
    except BaseException as exc:       # what a user would see as a traceback
        return [f"{type(exc).__name__} escaped: {exc}"]
    err = err.getvalue()
    problems = []
    if rc != case.rc:
        problems.append(f"exit status {rc}, expected {case.rc}; stderr: {err.strip()[-400:]}")
    if "Traceback" in err:
        problems.append("a traceback on stderr")
    folder = root / "out" / case.id
    if case.rc:
        errors = [ln for ln in err.splitlines() if ": error:" in ln]
        if len(errors) != 1:
            problems.append(f"{len(errors)} error lines: {err.strip()[-400:]}")
        if case.names and case.names not in err:
            problems.append(f"the error does not name {case.names}: {err.strip()[-300:]}")
        if case.line is not None and f"{case.names}:{case.line}:" not in err:
            problems.append(f"the error does not name line {case.line}: {err.strip()[-300:]}")
        if folder.exists():
            left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) or ["(empty folder)"]
            problems.append(f"left behind in {folder.name}: {left}")
    else:
        if case.count is not None:
            path, kind, n = case.count
            got = _count(Path(path), kind) if Path(path).exists() else None
            if n is not None and got != n:
                problems.append(f"{Path(path).name} holds {got} {kind}, expected {n}")
            if n is None and not got:
                problems.append(f"{Path(path).name} holds nothing")
        if case.warns and case.warns not in err:
            problems.append(f"no warning mentioning {case.warns!r}: {err.strip()[-300:]}")
        temps = [p.name for p in folder.rglob(".*") if p.is_file()] if folder.exists() else []
        if temps:
            problems.append(f"temporary files left: {temps}")
    return problems


def _run(corpus, slow: bool):
    root, cases = corpus
    chosen = [c for c in cases if ("slow" in c.tags) == slow]
    assert chosen
    failures = {}
    for case in chosen:
        problems = run_case(root, case)
        if problems:
            failures[case.id] = (case.text(), problems)
    assert not failures, f"{len(failures)} of {len(chosen)} cases fail:\n" + "\n".join(
        f"- {cid}: {' | '.join(p)}\n    mtpflow {argv}" for cid, (argv, p) in failures.items())
    return chosen


def test_corpus(corpus):
    chosen = _run(corpus, slow=False)
    kinds = {c.id.split("-")[0] for c in chosen}
    assert kinds >= {"cfg", "mtp", "xyz", "dump", "log", "protocol", "vasp", "ckpt", "cli"}
    assert len(chosen) > 300


@pytest.mark.slow
def test_corpus_slow(corpus):
    _run(corpus, slow=True)


def test_real_cli_subprocess(corpus):
    """A few cases through the installed command: the exit status and stderr a user sees."""
    root, cases = corpus
    exe = Path(sys.executable).parent / "mtpflow"
    picked = [c for c in cases if c.id in ("cfg-energy_twice-calc-efs", "mtp-scaling_nan-calc-errors",
                                           "dump-traj-restarted-lammps-traj", "cli-00-calc-efs")]
    assert len(picked) == 4
    for case in picked:
        argv = [a.replace(str(root / "out"), str(root / "out_sub")) for a in case.argv]
        res = subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=300,
                             env=dict(os.environ))
        assert res.returncode == case.rc, (case.id, res.stderr)
        assert "Traceback" not in res.stderr
        if case.rc:
            assert res.stderr.count(": error:") == 1 and case.names in res.stderr


# ---------------------------------------------------------------- workflow config.yaml
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _workflow_validator():
    """The workflow's own validation: mtpflow.workflow_config.check_config where it exists, else
    validate_config as workflow/rules/common.smk defines it (taken from that file, not copied)."""
    import ast

    import yaml

    try:
        from mtpflow.workflow_config import check_config
    except ImportError:
        tree = ast.parse((ROOT / "workflow" / "rules" / "common.smk").read_text())
        keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) or (
            isinstance(n, (ast.FunctionDef, ast.ClassDef))
            and n.name in ("ConfigError", "_key_path", "validate_config"))]
        ns: dict = {}
        exec(compile(ast.Module(keep, []), "common.smk", "exec"), ns)
        return lambda cfg, src: ns["validate_config"](cfg, SCHEMA, src), ns["ConfigError"]
    from mtpflow.workflow_config import ConfigError
    schema = yaml.safe_load(SCHEMA.read_text())
    return lambda cfg, src: check_config(cfg, schema, src), ConfigError


def _set(cfg, dotted, value):
    *parents, last = dotted.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()
CONFIG_CASES = [  # (key, value, text the one message must hold)
    ("species", _DELETE, "species"),
    ("species", "Li,Al,Cl", "species"),
    ("compositions.LiAlCl4.formula", "Li16Xx16Cl64", "compositions.LiAlCl4.formula"),
    ("mtp.levels", [7], "mtp.levels"),
    ("mtp.max_dist_A", -5.0, "mtp.max_dist_A"),
    ("mtp.min_dist_A", 9.0, "mtp.min_dist_A"),
    ("md.timestep_fs", 0, "md.timestep_fs"),
    ("md.production_ps", "10ps", "md.production_ps"),
    ("md.quench_rate_K_per_s", "4.5e11", "md.quench_rate_K_per_s"),
    ("md.replicate", [3, 3], "md.replicate"),
    ("md.compositions", ["Li3AlCl6"], "md.compositions"),
    ("train.energy_weight", "abc", "train.energy_weight"),
    ("analysis.species", "Xx", "analysis.species"),
    ("dataset.test_fraction", 1.5, "dataset.test_fraction"),
    ("unknown_section", {"a": 1}, "unknown_section"),
]


def test_workflow_config_corpus(tmp_path):
    import copy

    import yaml

    validate, config_error = _workflow_validator()
    good = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(copy.deepcopy(good), "config/config.yaml")
    for key, value, must in CONFIG_CASES:
        cfg = copy.deepcopy(good)
        _set(cfg, key, value)
        path = tmp_path / f"{key}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        with pytest.raises(config_error) as exc:
            validate(yaml.safe_load(path.read_text()), str(path))
        msg = str(exc.value)
        assert str(path) in msg and must in msg, (key, msg)
