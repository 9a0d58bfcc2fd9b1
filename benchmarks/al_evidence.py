"""Evidence for the active-learning loop (issue 12 item 6; an experiment, not a test).

Starts from a deliberately small data set: the `.test` workflow's, without its compressed (0.7 x
crystal volume) configurations (densify.volume_factors [1.0, 1.3]). Its level-8 potential blows up
in the default MD protocol (config/config.yaml's md section) at 2,592 ions within the first 100
steps of the melt. Then:

1. runs the workflow (the real DAG: workflow/rules/al.smk) on that config with active learning on,
   up to results/al/L08/summary.csv and final.mtp;
2. builds an independent MD-sampled test set: a CHGNet MD run (mtpflow aimd --engine chgnet) from
   another random start (seed 11), at 1000 K and at 600 K, every 10th frame (CHGNet's energies,
   forces and stresses of frames no training set holds);
3. evaluates the potential before active learning and the final one on that set (calc-errors);
4. runs the default MD protocol at 2,592 ions with both (the same start frame and seeds): blow-up
   (and where) or completion.

Prints one table (markdown) with the iterations, configurations added, test errors before and after,
the MD outcome, the wall time of each part and the machine's load average.

    python benchmarks/al_evidence.py [--workdir DIR] [--iterations 5] [--md-seeds 0,1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SPECIES = "Li,Al,Cl"


class Load:
    """The 1-minute load average sampled every 10 s while the experiment runs."""

    def __init__(self):
        self.samples, self._stop = [], threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(10)

    def stop(self):
        self._stop.set()
        self._t.join()
        s = self.samples or [float("nan")]
        return min(s), sum(s) / len(s), max(s)


def run(cmd, log: Path, cwd=None, check=True) -> tuple[int, float]:
    """Run cmd with its output in log; (exit status, wall seconds)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.run([str(c) for c in cmd], cwd=cwd, stdout=fh, stderr=subprocess.STDOUT,
                            env=env).returncode
    wall = time.perf_counter() - t0
    if check and rc != 0:
        sys.exit(f"failed ({rc}): {' '.join(map(str, cmd))}; see {log}")
    return rc, wall


def config(iterations: int) -> dict:
    cfg = yaml.safe_load((ROOT / ".test" / "config" / "config.yaml").read_text())
    cfg["densify"]["volume_factors"] = [1.0, 1.3]   # the small set: no compressed configurations
    cfg["active_learning"] = {
        "iterations": iterations, "temperatures_K": [1000, 1300], "density_factors": [0.9, 1.0, 1.1],
        "steps": 3000, "timestep_fs": 1.0, "replicate": [1, 1, 1], "grade_save": 2.0,
        "grade_break": 11.0, "grade_every": 1, "grade_mode": "nbh", "select_threshold": 1.001,
        "max_selected": 10}
    return cfg


def default_protocol() -> dict:
    """The MLMD protocol of config/config.yaml's md section at its first temperature."""
    from mtpflow.workflow_config import check_config, md_stage_steps

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg = check_config(cfg, yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text()))
    md = cfg["md"]
    t = md["temperatures_K"][0]
    melt, quench, prod = md_stage_steps(md, t)
    return {"timestep_fs": md["timestep_fs"], "traj_every": md["traj_every"],
            "thermo_every": md["thermo_every"], "stages": [
                {"type": "melt", "temperature_K": md["melt_K"], "steps": melt, "thermostat": md["thermostat"]},
                {"type": "quench", "start_K": md["melt_K"], "end_K": t, "steps": quench,
                 "thermostat": md["thermostat"]},
                {"type": "production", "temperature_K": t, "steps": prod, "thermostat": md["thermostat"]}]}


def independent_test_set(d: Path, times: dict) -> Path:
    out = d / "independent_test.cfg"
    if out.exists():
        return out
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    run(["mtpflow", "build-initial", "--formula", "Li16Al16Cl64", "--density-factor", "1.0", "--seed", "11",
         "--out", d / "start.extxyz"], d / "build.log")
    parts = []
    for temp, start in ((1000, d / "start.extxyz"), (600, d / "aimd_1000.extxyz")):
        traj = d / f"aimd_{temp}.extxyz"
        run(["mtpflow", "aimd", start, "--engine", "chgnet", "--temperature-K", temp, "--timestep-fs", 2,
             "--steps", 200, "--prerelax-steps", 100 if temp == 1000 else 0, "--seed", 11,
             "--threads", 2, "--species", SPECIES, "--traj", traj], d / f"aimd_{temp}.log")
        cfg = d / f"frames_{temp}.cfg"
        run(["mtpflow", "collect", traj, "--species", SPECIES, "--skip-ps", 0.1, "--every", 10,
             "--out", cfg], d / f"collect_{temp}.log")
        parts.append(cfg)
    from mtpflow.io.cfg import read_cfg, write_cfg

    write_cfg(out, [c for p in parts for c in read_cfg(p)])
    times["independent test set (CHGNet MD, 2 x 200 steps)"] = time.perf_counter() - t0
    return out


def errors(pot: Path, test: Path, out: Path) -> dict:
    run(["mtpflow", "calc-errors", pot, test, "--species", SPECIES, "--json", out], out.with_suffix(".log"))
    return json.loads(out.read_text())


def md_outcome(pot: Path, start: Path, protocol: Path, d: Path, seed: int) -> tuple[str, float]:
    d.mkdir(parents=True, exist_ok=True)
    log = d / f"md_seed{seed}.log"
    rc, wall = run(["mtpflow", "md", pot, start, "--protocol", protocol, "--replicate", "3,3,3",
                    "--species", SPECIES, "--seed", seed, "--threads", 2, "--traj", d / f"traj{seed}.extxyz",
                    "--thermo", d / f"thermo{seed}.csv"], log, check=False)
    text = log.read_text()
    m = re.search(r"MD blew up at step (\d+)[^:]*: (.*?)\. The last good", text)
    if rc == 0:
        return "completed", wall
    if m:
        return f"blew up at step {m.group(1)} ({m.group(2)[:60]}...)", wall
    return f"failed (exit {rc}, see {log})", wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("al_evidence"))
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--md-seeds", default="0,1", help="MD velocity seeds (comma-separated)")
    args = ap.parse_args()
    wd = args.workdir.resolve()
    wd.mkdir(parents=True, exist_ok=True)
    load = Load()
    t_all = time.perf_counter()
    times = {}
    cfg_path = wd / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(config(args.iterations), sort_keys=False))
    _, times["workflow: data, training, active learning"] = run(
        [BIN / "snakemake", "-s", ROOT / "Snakefile", "--directory", wd, "--configfile", cfg_path,
         "--profile", ROOT / "profiles" / "local", "results/al/L08/summary.csv", "results/al/L08/final.mtp"],
        wd / "snakemake.log")
    before, after = wd / "results/mtp/L08/trained.mtp", wd / "results/al/L08/final.mtp"
    with open(wd / "results/al/L08/summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    test = independent_test_set(wd / "independent", times)
    protocol = wd / "default_protocol.yaml"
    protocol.write_text(yaml.safe_dump(default_protocol(), sort_keys=False))
    start = wd / "results/aimd/LiAlCl4/r0/traj.extxyz"
    e = {name: errors(p, test, wd / f"errors_{name}.json") for name, p in (("before", before), ("after", after))}
    outcomes = {}
    for name, p in (("before", before), ("after", after)):
        for seed in (int(s) for s in args.md_seeds.split(",")):
            outcomes[(name, seed)], times[f"default MD, {name}, seed {seed}"] = md_outcome(
                p, start, protocol, wd / f"md_{name}", seed)
    lo, mean, hi = load.stop()
    total = time.perf_counter() - t_all
    from mtpflow.io.cfg import read_cfg

    n0 = len(read_cfg(wd / "results/dataset/train.cfg"))
    n_added = sum(int(r["n_selected"] or 0) for r in rows[1:])
    last = rows[-1]
    print(f"\niterations run: {len(rows) - 1} (limit {args.iterations}); the last selected "
          f"{last['n_selected']} configuration(s)")
    print(f"training set: {n0} configurations before, {n0 + n_added} after ({n_added} added, 96 atoms each)")
    print(f"independent test set: {len(read_cfg(test))} configurations (CHGNet MD frames, seed 11)\n")
    print("| potential | test RMSE energy (meV/atom) | forces (eV/Å) | stress (GPa) | default MD at 2,592 ions |")
    print("|---|---|---|---|---|")
    for name, label in (("before", "before active learning"), ("after", "after active learning")):
        m = e[name]
        md = "; ".join(f"seed {s}: {o}" for (n, s), o in outcomes.items() if n == name)
        print(f"| {label} | {m['energy_per_atom']['rmse'] * 1e3:.2f} | {m['forces']['rmse']:.3f} | "
              f"{m['stress']['rmse']:.3f} | {md} |")
    print("\nper iteration (results/al/L08/summary.csv; RMSEs on the dataset's own test set):")
    print("| iteration | candidates | selected | max grade | E (meV/atom) | F (eV/Å) | S (GPa) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['iteration']} | {r['n_candidates']} | {r['n_selected']} | {r['max_grade']} | "
              f"{float(r['energy_rmse_meV_per_atom']):.2f} | {float(r['force_rmse_eV_A']):.3f} | "
              f"{float(r['stress_rmse_GPa']):.3f} |")
    print("\nwall times:")
    for k, v in times.items():
        print(f"  {k}: {v:.0f} s")
    print(f"  total: {total:.0f} s; load average (1 min) min {lo:.1f} mean {mean:.1f} max {hi:.1f} on "
          f"{os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
