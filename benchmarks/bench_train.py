"""MTP training benchmarks (prints tables; not a test).

(a) accuracy: `mtpflow train` level 08 on ../shared/data/guidebook_LiAlCl4/training.cfg, then
    calc-errors on test.cfg; wall time on 1 and 2 ranks (mpiexec). MLIP-3 reference (PROVENANCE):
    8.4 meV/atom, 0.327 eV/Å per component after 400 iterations, 990 s on one core.
(b) speed: one loss + gradient over 100 configurations x 96 atoms at level 16, ms per atom, with
    motep (0.2.0, its C engine) measured in the same run as the peer.

    python benchmarks/bench_train.py [--iters 400] [--ranks 1,2] [--level16] [--skip-train]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MTPFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
GB = DATA / "guidebook_LiAlCl4"


def bench_speed(n_cfg=100, repeats=3):
    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.mtp import read_mtp
    from mtpflow.train.loss import LossFunction, LossWeights, PackedSet
    from mtpflow.train.parallel import make_chunks

    pot_path = DATA / "mlip_reference" / "random_L16.almtp"
    pot = read_mtp(pot_path)
    configs = read_cfg(GB / "training.cfg")[:n_cfg]
    n_atoms = sum(c.n_atoms for c in configs)
    data = PackedSet(configs, pot.max_dist, LossWeights(), make_chunks(len(configs)))
    lf = LossFunction(pot, data)
    x = pot.get_params()
    lf(x)  # compile
    t_ours = min(_timed(lambda: lf(x)) for _ in range(repeats))
    rows = [("mtpflow (adjoint, numba, 1 thread)", t_ours, t_ours / n_atoms * 1e3)]
    try:
        rows.append(("motep 0.2.0 (cext, Jacobians)",) + _motep_time(pot_path, n_cfg, n_atoms, repeats))
    except Exception as exc:  # the peer is optional; say why it is missing
        rows.append((f"motep failed: {type(exc).__name__}: {exc}"[:70], float("nan"), float("nan")))
    print(f"\n(b) one loss+gradient, level 16, {len(configs)} configurations, {n_atoms} atoms, "
          f"{pot.n_params()} parameters")
    print(f"{'code':<44}{'seconds':>10}{'ms/atom':>10}{'ratio':>8}")
    for name, t, per in rows:
        print(f"{name:<44}{t:>10.3f}{per:>10.4f}{t / t_ours:>8.2f}")
    print("target: <= 0.7 ms/atom (MLIP-2 about 1.35, motep about 2.6)")


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _motep_time(pot_path, n_cfg, n_atoms, repeats):
    from motep.io.mlip.cfg import read_cfg as m_read_cfg
    from motep.io.mlip.mtp import read_mtp as m_read_mtp
    from motep.loss import LossFunction as MLoss
    from motep.loss import LossSetting

    with open(GB / "training.cfg") as fh:
        images = m_read_cfg(fh, index=slice(0, n_cfg), species=["Li", "Cl", "Al"])
    mtp = m_read_mtp(str(pot_path))
    mtp.species = [3, 17, 13]
    loss = MLoss(images, mtp, LossSetting())
    p = np.array(mtp.parameters, dtype=float)
    loss(p)
    loss.jac(p)

    def one():
        loss(p)
        loss.jac(p)

    t = min(_timed(one) for _ in range(repeats))
    return t, t / n_atoms * 1e3


def bench_accuracy(level_file, iters, ranks, tag):
    from mtpflow.cli import main  # noqa: F401  (import check)

    mpiexec = Path(sys.executable).parent / "mpiexec"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in ranks:
            out = Path(tmp) / f"{tag}_r{n}.mtp"
            cmd = [sys.executable, "-m", "mtpflow.cli", "train", str(level_file), str(GB / "training.cfg"),
                   "--out", str(out), "--max-iter", str(iters), "--species", "Li,Cl,Al",
                   "--log", str(Path(tmp) / f"{tag}_r{n}.csv")]
            if n > 1:
                cmd = [str(mpiexec), "-n", str(n)] + cmd
            t = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if res.returncode:
                print(res.stdout, res.stderr)
                raise SystemExit(f"training failed on {n} rank(s)")
            js = Path(tmp) / f"{tag}_r{n}.json"
            subprocess.run([sys.executable, "-m", "mtpflow.cli", "calc-errors", str(out),
                            str(GB / "test.cfg"), "--json", str(js)], check=True, capture_output=True)
            m = json.loads(js.read_text())
            results.append((n, wall, m, np.loadtxt(out.with_suffix(".csv") if False else
                                                   Path(tmp) / f"{tag}_r{n}.csv", delimiter=",",
                                                   skiprows=1)[-1]))
            params = __import__("mtpflow.io.mtp", fromlist=["read_mtp"]).read_mtp(out).get_params()
            results[-1] += (params,)
    print(f"\n(a) {tag}: training.cfg -> test.cfg, {iters} BFGS iterations")
    print(f"{'ranks':>5}{'wall s':>9}{'train F':>9}{'test E meV/at':>15}{'test F eV/Å':>13}"
          f"{'test S GPa':>12}")
    for n, wall, m, last, _p in results:
        print(f"{n:>5}{wall:>9.1f}{last[3]:>9.4f}{m['energy_per_atom']['rmse'] * 1e3:>15.2f}"
              f"{m['forces']['rmse']:>13.4f}{m['stress']['rmse']:>12.3f}")
    if len(results) > 1:
        p0 = results[0][4]
        for n, *_rest, p in results[1:]:
            print(f"max |params({n} ranks) - params(1 rank)| = {np.abs(p - p0).max():.3e}")
    print("MLIP-3: 8.4 meV/atom, 0.327 eV/Å, 1.56 GPa after 400 iterations (+75 pre-training), 990 s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--level16", action="store_true")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    a = ap.parse_args()
    if not GB.exists():
        raise SystemExit(f"shared data not found: {GB}")
    if not a.skip_speed:
        bench_speed()
    if not a.skip_train:
        ranks = [int(r) for r in a.ranks.split(",")]
        bench_accuracy(GB / "untrained_08.almtp", a.iters, ranks, "level 08")
        if a.level16:
            bench_accuracy(DATA / "mtp_templates" / "16.almtp", a.iters, [1], "level 16")


if __name__ == "__main__":
    main()
