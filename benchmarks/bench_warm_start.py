"""Warm start by level upgrade (prints a table; not a test).

MLIP-3's trained level-8 potential of the guidebook (../shared/data/mlip_reference/trained_L08.almtp)
upgraded to level 16 (`init-mtp --level 16 --from`) and trained on the guidebook training set,
next to a level-16 training from MLIP's untrained start, the same number of iterations, one rank,
one run after the other (their wall times are noise on a shared machine; their losses are not). Reports the loss at iterations 0, 1, 10 and N and the test-set RMSEs.

    python benchmarks/bench_warm_start.py [--iters 30]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MTPFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
BIN = Path(sys.executable).parent
SPECIES = "Li,Cl,Al"  # the guidebook's type order


def sh(*cmd):
    t0 = time.perf_counter()
    res = subprocess.run([str(BIN / "mtpflow")] + [str(c) for c in cmd], capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"mtpflow {' '.join(map(str, cmd))} failed:\n{res.stdout}\n{res.stderr}")
    return time.perf_counter() - t0


def losses(log: Path) -> list[float]:
    with open(log) as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=30)
    args = ap.parse_args()
    train, test = DATA / "guidebook_LiAlCl4" / "training.cfg", DATA / "guidebook_LiAlCl4" / "test.cfg"
    src = DATA / "mlip_reference" / "trained_L08.almtp"
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sh("init-mtp", "--level", 16, "--species", SPECIES, "--min-dist", 1.6, "--max-dist", 5.0,
           "--out", d / "init16.mtp")
        sh("init-mtp", "--level", 16, "--from", src, "--species", SPECIES, "--out", d / "up16.mtp")
        rows = []
        for name, extra in (("level 16 from MLIP's untrained start", []),
                            ("level 16 upgraded from MLIP's trained level 8", ["--init-from", d / "up16.mtp"])):
            tag = "cold" if not extra else "warm"
            wall = sh("train", d / "init16.mtp", train, "--species", SPECIES, "--max-iter", args.iters,
                      "--out", d / f"{tag}.mtp", "--log", d / f"{tag}.csv", *extra)
            sh("calc-errors", d / f"{tag}.mtp", test, "--species", SPECIES, "--json", d / f"{tag}.json")
            e = json.loads((d / f"{tag}.json").read_text())
            rows.append((name, losses(d / f"{tag}.csv"), e, wall))
        sh("calc-errors", src, test, "--species", SPECIES, "--json", d / "l08.json")
        e08 = json.loads((d / "l08.json").read_text())
    n = args.iters
    print(f"guidebook training set, {n} BFGS iterations, 1 rank; loss in eV² (mlp train's loss); "
          f"test RMSE: energy meV/atom, force components eV/Å, stress GPa")
    print(f"| start | loss it. 0 | it. 1 | it. 10 | it. {n} | test E | test F | test S | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| MLIP-3's trained level 8 (the source) | – | – | – | – | "
          f"{e08['energy_per_atom']['rmse'] * 1e3:.2f} | {e08['forces']['rmse']:.3f} | "
          f"{e08['stress']['rmse']:.3f} | – |")
    for name, loss, e, wall in rows:
        pick = [loss[k] if k < len(loss) else float("nan") for k in (0, 1, 10, n)]
        print(f"| {name} | " + " | ".join(f"{v:.4g}" for v in pick) + f" | "
              f"{e['energy_per_atom']['rmse'] * 1e3:.2f} | {e['forces']['rmse']:.3f} | "
              f"{e['stress']['rmse']:.3f} | {wall:.0f} |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
