"""Run the real workflow with snakemake in a scratch directory (helpers for tests/workflow)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"
TEST_CONFIG = ROOT / ".test" / "config" / "config.yaml"
EXAMPLES = sorted((ROOT / "config" / "examples").glob("*.yaml"))


def snakemake(workdir: Path, *args: str, configfile: Path | None = None, timeout: float = 600,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """`snakemake -s ROOT/Snakefile --directory workdir ...`; output (stdout+stderr) in .stdout."""
    exe = Path(sys.executable).parent / "snakemake"
    cmd = [str(exe), "-s", str(SNAKEFILE), "--directory", str(workdir)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    cmd += list(args)
    run_env = dict(os.environ)
    # the venv's bin first: mtpflow, mpiexec of the mpich wheel, snakemake
    run_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{run_env.get('PATH', '')}"
    run_env.update(env or {})
    return subprocess.run(cmd, cwd=workdir, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout, env=run_env)


def planned_jobs(output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a (dry) run."""
    jobs: dict[str, int] = {}
    m = re.search(r"Job stats:\n(.*?)\n\s*\n", output, re.S)
    if not m:
        return jobs
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def shell_commands(output: str) -> list[str]:
    """The shell command of every job printed by a (dry) run with -p, in order."""
    return [line.split("Shell command:", 1)[1].strip() for line in output.splitlines()
            if "Shell command:" in line]


def load_config(path: Path = TEST_CONFIG) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def write_config(cfg: dict, path: Path) -> Path:
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)
    return path


SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def load_schema() -> dict:
    with open(SCHEMA) as fh:
        return yaml.safe_load(fh)


def with_defaults(cfg: dict) -> dict:
    """A copy of `cfg` as the workflow reads it: the schema's defaults filled in (and validated)."""
    import copy

    from mtpflow.workflow_config import check_config

    return check_config(copy.deepcopy(cfg), load_schema())


def without_optional_keys(cfg: dict, schema: dict | None = None) -> dict:
    """A copy of `cfg` holding only the keys the schema requires (recursively): what a user who
    relies on every default writes."""
    schema = load_schema() if schema is None else schema
    definitions = schema.get("definitions", {})

    def resolve(node):
        while isinstance(node, dict) and "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def strip(value, node):
        node = resolve(node)
        if not isinstance(value, dict) or not isinstance(node, dict):
            return value
        props, required = node.get("properties", {}), set(node.get("required", []))
        extra = node.get("additionalProperties")
        out = {}
        for key, sub in value.items():
            if key in props:
                if key in required:
                    out[key] = strip(sub, props[key])
            elif isinstance(extra, dict):  # named entries (compositions): keep, strip inside
                out[key] = strip(sub, extra)
        return out

    return strip(cfg, schema)
