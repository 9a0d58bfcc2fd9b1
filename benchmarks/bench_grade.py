"""MLIP-3's extrapolation grade: speed and memory of the active set, agreement with MLIP-3, and the
cost of extrapolation control in MD.

    python benchmarks/bench_grade.py [--repeats 3] [--md-steps 200] [--md-repeats 3] [--skip-md]

Everything on one core: numba 1 thread and BLAS 1 thread (set before numpy loads).

1. Active set: the LiAlCl4 training set (../shared/data/guidebook_LiAlCl4/training.cfg, 179 x 96
   neighbourhoods) with MLIP-3's trained level-08 potential (mlip_reference/trained_L08.almtp,
   156 coefficients): the rows (site_parameter_gradients) and MaxVol (build_active_set), best of
   --repeats, with the peak of Python/numpy allocations (tracemalloc) next to the size of the
   rows; then `mtpflow calc-grade` on the test set as one fresh process, without and with the
   cached active set (wall time, peak RSS of the child).
2. MLIP-3 agreement: nbh grades of the training and test sets against MLIP-3's own numbers
   (../shared/docs/active-learning.md), and cfg-mode grades of the test set with our active set
   and with the one MLIP-3 stored in trained_L08.almtp.
3. MD overhead: `mtpflow md`'s runner on the 2,592-ion glass (NVT 600 K, 1 fs) without and with
   extrapolation control every 10 steps (nbh), alternating --md-repeats times; ms/step and ratio.
"""

from __future__ import annotations

import argparse
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MTPFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
POT = SHARED / "mlip_reference" / "trained_L08.almtp"
TRAIN = SHARED / "guidebook_LiAlCl4" / "training.cfg"
TEST = SHARED / "guidebook_LiAlCl4" / "test.cfg"
MIB = 2.0 ** 20


def _best(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _traced(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, peak


def _child(args):
    """Wall time and peak RSS (MiB) of one `mtpflow ...` process."""
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = subprocess.run([sys.executable, "-m", "mtpflow.cli", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(r.stderr)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(rss, before) / 1024.0, r.stdout.strip().splitlines()


def active_set_table(repeats):
    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.mtp import read_mtp
    from mtpflow.mtp.evaluate import build_tables, site_parameter_gradients
    from mtpflow.mtp.grade import build_active_set, grade_configs
    from mtpflow.mtp.maxvol import maxvol

    pot, train, test = read_mtp(POT), read_cfg(TRAIN), read_cfg(TEST)
    tables = build_tables(pot)
    build_active_set(pot, train[:5], "nbh", tables=tables)  # numba: load or compile once
    t_rows, g = _best(lambda: site_parameter_gradients(pot, train, tables=tables), repeats)
    rows = g.rows
    t_mv, res = _best(lambda: maxvol(rows), repeats)
    t_all, active = _best(lambda: build_active_set(pot, train, "nbh", tables=tables), repeats)
    _, peak = _traced(lambda: build_active_set(pot, train, "nbh", tables=tables))
    t_grade, _ = _best(lambda: grade_configs(pot, active, test, tables=tables), repeats)
    print(f"\n1. Active set: {rows.shape[0]} neighbourhoods x {rows.shape[1]} coefficients "
          f"(rows {rows.nbytes / MIB:.1f} MiB), one core, best of {repeats}")
    print(f"{'step':<44} {'s':>7}")
    print(f"{'rows (site_parameter_gradients)':<44} {t_rows:7.3f}")
    print(f"{'MaxVol (' + str(res.n_swaps) + ' swaps, ' + str(int((res.sel >= len(rows)).sum())) + ' init rows kept)':<44} {t_mv:7.3f}")
    print(f"{'build_active_set (rows + MaxVol)':<44} {t_all:7.3f}")
    print(f"{'grade the test set (82 x 96 neighbourhoods)':<44} {t_grade:7.3f}")
    print(f"peak traced allocations while building: {peak / MIB:.1f} MiB = "
          f"{peak / rows.nbytes:.2f} x the rows (O(rows x coefficients))")
    with tempfile.TemporaryDirectory() as tmp:
        out, cache = Path(tmp) / "out.cfg", Path(tmp) / "cache"
        cmd = ["calc-grade", str(POT), str(TRAIN), str(TEST), str(out), "--cache-dir", str(cache),
               "--threads", "1"]
        w1, rss1, _ = _child(cmd)
        w2, rss2, _ = _child(cmd)
    print(f"`mtpflow calc-grade` on test.cfg, fresh process: {w1:.2f} s (active set built), "
          f"{w2:.2f} s (from the cache); peak RSS of the children {max(rss1, rss2):.0f} MiB")
    return pot, train, test, active, tables


def mlip_table(pot, train, test, active, tables):
    from mtpflow.io.active_set import read_mvs_block
    from mtpflow.mtp.grade import build_active_set, grade_configs

    tr = grade_configs(pot, active, train, tables=tables).grades
    te = grade_configs(pot, active, test, tables=tables).grades
    cfg_active = build_active_set(pot, train, "cfg", tables=tables)
    te_cfg = grade_configs(pot, cfg_active, test, tables=tables).grades
    _, _, mlip_inv = read_mvs_block(pot.selection.data, pot.n_params())
    mlip_cfg = cfg_active.__class__(mode="cfg", A=cfg_active.A, A_inv=mlip_inv, source=cfg_active.source)
    te_mlip = grade_configs(pot, mlip_cfg, test, tables=tables).grades
    tr_mlip = grade_configs(pot, mlip_cfg, train, tables=tables).grades

    def stats(g):
        return f"{np.median(g):7.3f} {np.percentile(g, 95):7.3f} {g.max():7.3f}"

    print("\n2. Grades against MLIP-3 (nbh: MLIP-3's numbers from ../shared/docs/active-learning.md)")
    print(f"{'':<52} {'median':>7} {'p95':>7} {'max':>7}")
    print(f"{'nbh, training set, mtpflow':<52} {stats(tr)}")
    print(f"{'nbh, test set, mtpflow':<52} {stats(te)}")
    print(f"{'nbh, test set, MLIP-3 (mlp calculate_grade)':<52} {0.90:7.3f} {1.56:7.3f} {3.4:7.3f}")
    print(f"{'cfg, test set, mtpflow active set':<52} {stats(te_cfg)}")
    print(f"{'cfg, test set, MLIP-3 active set (trained_L08.almtp)':<52} {stats(te_mlip)}")
    print(f"{'cfg, training set, MLIP-3 active set (max <= 1.001)':<52} {stats(tr_mlip)}")
    squeezed = test[0].__class__(positions=test[0].positions * 0.6, types=test[0].types,
                                 cell=test[0].cell * 0.6)
    print(f"test configuration 0 compressed to 0.6 x its cell (nbh): "
          f"{grade_configs(pot, active, [squeezed], tables=tables).grades[0]:.1f}")


def md_table(pot, train, active, steps, repeats, every=10):
    from mtpflow.io.structure import read_frames
    from mtpflow.md.extrapolation import GradeControl
    from mtpflow.md.protocol import protocol_from_dict
    from mtpflow.md.runner import run_protocol
    from mtpflow.mtp import MTPCalculator

    atoms0 = read_frames(SHARED / "mtp_oracle_inputs" / "glass_2592.cfg", ["Li", "Cl", "Al"], index=-1)[0]
    atoms0.calc = None
    proto = protocol_from_dict({
        "timestep_fs": 1.0, "thermo_every": 100, "traj_every": 100, "seed": 1,
        "blowup": {"max_temperature_K": 1e9, "check_every": 10},
        "stages": [{"type": "production", "temperature_K": 600, "steps": steps}]})

    def run(control: bool):
        calc = MTPCalculator(pot, species=["Li", "Cl", "Al"])
        hook_s = [0.0]
        with tempfile.TemporaryDirectory() as tmp:
            hooks = []
            if control:
                ctl = GradeControl(pot, active, Path(tmp) / "x.cfg", save=1e9, brk=1e10, every=every,
                                   species=["Li", "Cl", "Al"], tables=calc._tables)
                inner = ctl.check

                def timed(step, atoms):
                    t0 = time.process_time()
                    out = inner(step, atoms)
                    hook_s[0] += time.process_time() - t0
                    return out

                ctl.check = timed
                hooks = [ctl.hook()]
            t, c = time.perf_counter(), time.process_time()
            run_protocol(atoms0.copy(), calc, proto, Path(tmp) / "t.extxyz", Path(tmp) / "t.csv",
                         min_dist_A=pot.min_dist, progress=False, hooks=hooks)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        return wall / steps * 1e3, cpu / steps * 1e3, hook_s[0] / steps * 1e3

    run(True)  # numba: load or compile once
    plain, ctrl = [], []
    for _ in range(repeats):
        plain.append(run(False))
        ctrl.append(run(True))
    print(f"\n3. MD with extrapolation control every {every} steps (nbh), 2,592 ions, level 8, "
          f"{steps} steps, {repeats} alternating runs each, one core; ms per MD step")
    print(f"{'':<18} {'wall best':>9} {'median':>7} {'CPU best':>9} {'median':>7} {'grading CPU':>11}   all wall")
    for name, rows in (("without control", plain), ("with control", ctrl)):
        w = [r[0] for r in rows]
        c = [r[1] for r in rows]
        h = [r[2] for r in rows]
        print(f"{name:<18} {min(w):9.2f} {statistics.median(w):7.2f} {min(c):9.2f} "
              f"{statistics.median(c):7.2f} {statistics.median(h):11.2f}   " + " ".join(f"{x:.2f}" for x in w))
    wp, wc = [r[0] for r in plain], [r[0] for r in ctrl]
    cp, cc = [r[1] for r in plain], [r[1] for r in ctrl]
    inrun = [r[2] / (r[1] - r[2]) for r in ctrl]
    print(f"overhead: wall {100 * (min(wc) / min(wp) - 1):.1f} % (best), "
          f"{100 * (statistics.median(wc) / statistics.median(wp) - 1):.1f} % (median); CPU "
          f"{100 * (min(cc) / min(cp) - 1):.1f} % (best), {100 * (statistics.median(cc) / statistics.median(cp) - 1):.1f} % "
          f"(median); grading CPU / rest of the run's CPU {100 * statistics.median(inrun):.1f} % (median)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="timings per step (count)")
    ap.add_argument("--md-steps", type=int, default=200, help="MD steps per run (count)")
    ap.add_argument("--md-repeats", type=int, default=3, help="alternating MD runs each (count)")
    ap.add_argument("--skip-md", action="store_true")
    a = ap.parse_args()
    pot, train, test, active, tables = active_set_table(a.repeats)
    mlip_table(pot, train, test, active, tables)
    if not a.skip_md:
        md_table(pot, train, active, a.md_steps, a.md_repeats)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
