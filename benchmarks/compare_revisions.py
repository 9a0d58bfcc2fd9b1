"""Speed of this checkout against an older revision, measured alternately in the same run.

    python benchmarks/compare_revisions.py [--base d0fb3e9] [--rounds 3] [--tasks mtp,train,l08]

The base revision's src/ is exported with `git archive` into benchmarks/out/base_<rev>/ (no git
worktree needed; --base-src PATH uses an existing tree). Every measurement runs in a fresh Python
process with PYTHONPATH pointing at one revision's src/ (checked: the process reports which mtpflow
it imported); the revisions alternate (old, new, new, old, ...) so that load on a shared machine
hits both alike. Printed per metric: the median over rounds of each revision, the ratio new/old
of the medians and the spread (min-max) of the per-round ratios, which shows the noise.

Single-thread metrics are also given as process CPU time ("cpu"), which other jobs on a shared
machine disturb less than wall time. Tasks (the numbers of bench_mtp.py and bench_train.py):
  kernels the evaluation kernel (mtp/kernels.efs_kernel) of both revisions in ONE process, called
         alternately (possible because that module is self-contained numba code with the same
         signature in both): the most sensitive comparison on a shared machine, where separate
         processes of identical code were seen to differ by up to 1.5x;
  mtp    µs per atom per evaluation (energy + forces + stress, neighbour list included) on the
         2,592-ion glass, random potentials of levels --levels, 1 and 2 numba threads, best of
         --repeats calls;
  train  one loss + gradient (ms per atom; level 16 random_L16 on 100 configurations of the
         guidebook training set, as bench_train, and level 8 trained_L08 on all 179) and one
         exact linear solve (normal equations, level 8, all 179), best of --repeats;
  l08    `mtpflow train` of the level-08 template on training.cfg, --iters BFGS iterations on one
         rank (wall time of the process), and the test-set RMSEs of the result.
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
if not DATA.exists():
    DATA = Path("/work/shared/data")
GB = DATA / "guidebook_LiAlCl4"


# ------------------------------------------------------------------ workers (one revision) -------
def _best(fn, repeats):
    """(best wall time, best process CPU time) of `repeats` calls after a warm-up call."""
    fn()
    wall = cpu = np.inf
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        fn()
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return wall, cpu


def _random_potential(level):
    """bench_mtp.py's potential of this level (generated basis, seed = level)."""
    from mtpflow.mtp.basis import generate_basis
    from mtpflow.mtp.potential import MTPPotential

    b = generate_basis(level)
    rng = np.random.default_rng(level)
    s, r, nb = 3, b.radial_funcs_count, 8
    return MTPPotential(
        species_count=s, min_dist=1.9, max_dist=5.0, radial_basis_size=nb, radial_funcs_count=r,
        alpha_moments_count=b.alpha_moments_count, alpha_index_basic=b.alpha_index_basic,
        alpha_index_times=b.alpha_index_times, alpha_moment_mapping=b.alpha_moment_mapping,
        radial_coeffs=rng.uniform(-1, 1, (s, s, r, nb)), species_coeffs=np.zeros(s),
        moment_coeffs=rng.uniform(-1e-3, 1e-3, b.alpha_scalar_moments), scaling=0.1)


def work_mtp(levels, repeats):
    import numba

    from mtpflow.io.cfg import read_cfg
    from mtpflow.mtp.evaluate import build_tables, evaluate

    cfg = read_cfg(DATA / "mtp_oracle_inputs" / "glass_2592.cfg")[0]
    out = {}
    for level in levels:
        pot = _random_potential(level)
        tables = build_tables(pot)
        for th in (1, 2):
            if th > numba.config.NUMBA_NUM_THREADS:
                continue
            numba.set_num_threads(th)
            t, c = _best(lambda: evaluate(pot, cfg, tables=tables), repeats)
            out[f"eval L{level:02d} {th}T µs/atom"] = t * 1e6 / cfg.n_atoms
            if th == 1:
                out[f"eval L{level:02d} 1T cpu µs/atom"] = c * 1e6 / cfg.n_atoms
        out[f"_energy L{level:02d}"] = evaluate(pot, cfg, tables=tables).energy
    return out


def work_kernels(levels, repeats, old_src):
    """The evaluation kernel of both revisions in one process: each revision's mtp/kernels.py is a
    self-contained numba module with the same efs_kernel signature, loaded side by side and
    called alternately on the same tables and neighbour list (per-call CPU time; the median of
    the per-pair ratios is robust to load that changes between processes)."""
    import importlib.util

    import numba

    from mtpflow.io.cfg import read_cfg
    from mtpflow.mtp import kernels as new
    from mtpflow.mtp.evaluate import N_CHUNKS, _chunks, build_tables
    from mtpflow.mtp.neighbors import neighbor_list

    spec = importlib.util.spec_from_file_location("old_kernels", Path(old_src) / "mtpflow/mtp/kernels.py")
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    cfg = read_cfg(DATA / "mtp_oracle_inputs" / "glass_2592.cfg")[0]
    n = cfg.n_atoms
    typ = np.asarray(cfg.types, dtype=np.int64)
    out = {}
    for level in levels:
        t = build_tables(_random_potential(level))
        nl = neighbor_list(cfg.positions, cfg.cell, t.rmax)
        nn_max = int(np.diff(nl.offsets).max())
        bounds = _chunks(nl.offsets, t.cost_per_atom, N_CHUNKS)
        k = len(bounds) - 1

        def call(mod):
            e, f, v = np.zeros(n), np.zeros((k, n, 3)), np.zeros((k, 3, 3))
            c, w = time.process_time(), time.perf_counter()
            mod.efs_kernel(typ, nl.offsets, nl.j, nl.rvec, bounds, *t.kernel_args(), e, f, v, nn_max)
            return time.process_time() - c, time.perf_counter() - w, e.sum()

        for th in (1, 2):
            if th > numba.config.NUMBA_NUM_THREADS:
                continue
            numba.set_num_threads(th)
            call(old), call(new)
            res = {"old": [], "new": []}
            pairs = (("old", old), ("new", new))
            for rep in range(repeats):
                for name, mod in (pairs if rep % 2 == 0 else pairs[::-1]):
                    res[name].append(call(mod))
            o, w = np.array(res["old"]), np.array(res["new"])
            col = 0 if th == 1 else 1  # 1 thread: CPU time; 2 threads: wall time
            key = f"kernel L{level:02d} {th}T {'cpu' if th == 1 else 'wall'}"
            out[key + " old µs/atom"] = float(o[:, col].min() * 1e6 / n)
            out[key + " new µs/atom"] = float(w[:, col].min() * 1e6 / n)
            out[key + " ratio"] = float(np.median(w[:, col] / o[:, col]))
            out[f"_kernel energy L{level:02d} rel diff"] = float(abs(w[0, 2] - o[0, 2]) / abs(o[0, 2]))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return out


def work_train(repeats):
    import numba

    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.mtp import read_mtp
    from mtpflow.train.linear import normal_equations
    from mtpflow.train.loss import LossFunction, LossWeights, PackedSet
    from mtpflow.train.parallel import make_chunks

    numba.set_num_threads(1)
    configs = read_cfg(GB / "training.cfg")
    out = {}
    for name, n_cfg in (("random_L16", 100), ("trained_L08", len(configs))):
        pot = read_mtp(DATA / "mlip_reference" / f"{name}.almtp")
        part = configs[:n_cfg]
        n_atoms = sum(c.n_atoms for c in part)
        data = PackedSet(part, pot.max_dist, LossWeights(), make_chunks(len(part)))
        lf = LossFunction(pot, data)
        x = pot.get_params()
        t, c = _best(lambda: lf(x), repeats)
        out[f"loss+grad {name[-3:]} ms/atom"] = t * 1e3 / n_atoms
        out[f"loss+grad {name[-3:]} cpu ms/atom"] = c * 1e3 / n_atoms
        out[f"_loss {name[-3:]}"] = lf(x)[0]
        if name == "trained_L08":
            t, c = _best(lambda: normal_equations(pot, data), repeats)
            out["linear solve L08 ms/atom"] = t * 1e3 / n_atoms
            out["linear solve L08 cpu ms/atom"] = c * 1e3 / n_atoms
    return out


def work_errors(pot_path):
    """Test-set RMSEs: energy meV/atom, force components eV/Å, stress GPa (ASE sign)."""
    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.mtp import read_mtp
    from mtpflow.mtp.evaluate import evaluate_batch

    pot = read_mtp(pot_path)
    configs = read_cfg(GB / "test.cfg")
    res = evaluate_batch(pot, configs)
    de = [(r.energy - c.energy) / c.n_atoms for r, c in zip(res, configs)]
    df = np.concatenate([(r.forces - c.forces).ravel() for r, c in zip(res, configs)])
    ds = np.concatenate([(r.plus_stress - c.plus_stress) / abs(np.linalg.det(c.cell)) * 160.21766208
                         for r, c in zip(res, configs) if c.plus_stress is not None])
    return {"test E meV/atom": float(np.sqrt(np.mean(np.square(de)))) * 1e3,
            "test F eV/Å": float(np.sqrt(np.mean(df * df))),
            "test S GPa": float(np.sqrt(np.mean(ds * ds)))}


def worker(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("--levels", type=int, nargs="+", default=[8, 16, 20])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pot")
    ap.add_argument("--old-src")
    a = ap.parse_args(argv)
    import mtpflow

    if a.task == "mtp":
        out = work_mtp(a.levels, a.repeats)
    elif a.task == "kernels":
        out = work_kernels(a.levels, a.repeats, a.old_src)
    elif a.task == "train":
        out = work_train(a.repeats)
    else:
        out = work_errors(a.pot)
    out["_mtpflow"] = str(Path(mtpflow.__file__).resolve().parents[1])
    print("RESULT " + json.dumps(out))


# ------------------------------------------------------------------ driver -----------------------
def base_src(rev: str, given: str | None) -> Path:
    if given:
        return Path(given).resolve()
    dest = ROOT / "benchmarks" / "out" / f"base_{rev}"
    if not (dest / "src" / "mtpflow").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def run(src: Path, args: list[str], **extra_env) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), **extra_env)
    res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker"] + args,
                         env=env, capture_output=True, text=True)
    line = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    if res.returncode or not line:
        raise SystemExit(f"worker {args} on {src} failed:\n{res.stdout}\n{res.stderr}")
    out = json.loads(line[-1][7:])
    if Path(out["_mtpflow"]) != src.resolve():
        raise SystemExit(f"worker imported mtpflow from {out['_mtpflow']}, not {src}")
    return out


def train_l08(src: Path, iters: int, tmp: Path, tag: str) -> dict:
    out = tmp / f"{tag}.mtp"
    log = tmp / f"{tag}.csv"
    env = dict(os.environ, PYTHONPATH=str(src), NUMBA_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "mtpflow.cli", "train", str(GB / "untrained_08.almtp"),
           str(GB / "training.cfg"), "--out", str(out), "--max-iter", str(iters),
           "--species", "Li,Cl,Al", "--log", str(log)]
    t, c0 = time.perf_counter(), os.times()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall, c1 = time.perf_counter() - t, os.times()
    if res.returncode:
        raise SystemExit(f"training with {src} failed:\n{res.stdout}\n{res.stderr}")
    done = int(np.loadtxt(log, delimiter=",", skiprows=1, ndmin=2)[-1, 0])
    m = run(src, ["errors", "--pot", str(out)])
    m.update({"L08 train wall s": wall, "L08 train cpu s": (c1.children_user - c0.children_user)
              + (c1.children_system - c0.children_system), "L08 iterations": done})
    return m


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="d0fb3e9", help="git revision to compare against")
    ap.add_argument("--base-src", help="an existing src/ folder of the base revision")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", default="kernels,mtp,train,l08")
    ap.add_argument("--levels", type=int, nargs="+", default=[8, 16, 20])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--iters", type=int, default=400)
    a = ap.parse_args(argv)
    srcs = {"old": base_src(a.base, a.base_src), "new": ROOT / "src"}
    tasks = a.tasks.split(",")
    print(f"old = {a.base} ({srcs['old']}), new = this checkout ({srcs['new']}); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for rev in ("old", "new"):  # compile (or load) every kernel once before timing
        if "mtp" in tasks:
            run(srcs[rev], ["mtp", "--levels"] + [str(v) for v in a.levels] + ["--repeats", "1"])
        if "train" in tasks:
            run(srcs[rev], ["train", "--repeats", "1"])
    if "kernels" in tasks:
        # a fresh numba cache: a module loaded from a file path cannot reload its own cache entries
        with tempfile.TemporaryDirectory() as cache:
            r = run(srcs["new"], ["kernels", "--old-src", str(srcs["old"]), "--repeats",
                                  str(max(10, 4 * a.repeats)), "--levels"] + [str(v) for v in a.levels],
                    NUMBA_CACHE_DIR=cache)
        print("\nevaluation kernel, both revisions in one process, alternating calls (best µs/atom; "
              "ratio = median of the per-pair ratios new/old):")
        for key in [k for k in r if k.endswith(" ratio")]:
            base = key[:-6]
            print(f"  {base:<28} old {r[base + ' old µs/atom']:8.3f}  new {r[base + ' new µs/atom']:8.3f}  "
                  f"ratio {r[key]:.3f}")
        for k in [k for k in r if k.startswith("_kernel")]:
            print(f"  check {k[1:]}: {r[k]:.1e}")
        tasks = [t for t in tasks if t != "kernels"]
    if not tasks:
        return 0
    results = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmpd:
        for rnd in range(a.rounds):
            order = ("old", "new") if rnd % 2 == 0 else ("new", "old")
            for rev in order:
                r = {}
                if "mtp" in tasks:
                    r.update(run(srcs[rev], ["mtp", "--levels"] + [str(v) for v in a.levels]
                                 + ["--repeats", str(a.repeats)]))
                if "train" in tasks:
                    r.update(run(srcs[rev], ["train", "--repeats", str(a.repeats)]))
                if "l08" in tasks:
                    r.update(train_l08(srcs[rev], a.iters, Path(tmpd), f"{rev}{rnd}"))
                results[rev].append(r)
                print(f"round {rnd + 1}/{a.rounds} {rev}: " + ", ".join(
                    f"{k} {v:.4g}" for k, v in r.items() if not k.startswith("_")), flush=True)
    keys = [k for k in results["new"][0] if not k.startswith("_")]
    print(f"\nmedian over {a.rounds} rounds; ratio = new / old of the medians (< 1: new is faster or "
          "smaller); per-round ratios min-max show the noise")
    print(f"{'metric':<30}{'old':>12}{'new':>12}{'ratio':>8}{'round ratios':>22}")
    for k in keys:
        old = np.array([r[k] for r in results["old"]], dtype=float)
        new = np.array([r[k] for r in results["new"]], dtype=float)
        per = new / old
        print(f"{k:<30}{np.median(old):>12.4g}{np.median(new):>12.4g}{np.median(new) / np.median(old):>8.3f}"
              f"{per.min():>11.3f} - {per.max():.3f}")
    for k in [k for k in results["new"][0] if k.startswith("_") and k != "_mtpflow"]:
        o, n = results["old"][0][k], results["new"][0][k]
        print(f"check {k[1:]}: old {o:.15g}, new {n:.15g}, relative difference {abs(n - o) / abs(o):.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
