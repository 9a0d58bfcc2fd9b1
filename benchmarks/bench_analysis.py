"""Speed of the dynamic-heterogeneity analysis on 432 Li among 2,592 ions (LiAlCl4) x 2,000 frames,
against peers run in the same process: freud and pymatgen (DiffusionAnalyzer) for the MSD, a
vectorised numpy histogram for Gs, ASE for reading extxyz.

    python benchmarks/bench_analysis.py [--frames 2000] [--repeat 3]

Targets (issue 7): MSD <= freud's time; Gs at 10 lags <= 0.3 s; hops + cascades <= 10 s.
Times are the best of --repeat runs after a warm-up (numba compilation reported separately).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np


def best(fn, repeat):
    out, ts = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return min(ts), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--read-frames", type=int, default=200, help="frames for the reader test")
    a = ap.parse_args()

    from mtpflow.analysis.cascades import CascadeAnalysis
    from mtpflow.analysis.hops import HopAnalysis
    from mtpflow.analysis.msd import MSD
    from mtpflow.analysis.synthetic import lattice_hopping, wrap
    from mtpflow.analysis.vanhove import VanHove
    from mtpflow.io.trajectory import SpeciesTrajectory, read_species_trajectory

    dt = 0.01
    pos, cell, truth = lattice_hopping(n_frames=a.frames, n_sites_side=9, n_ions=432, dt_ps=dt,
                                       hop_prob=2e-4, cascade_prob=0.5, seed=1)
    traj = SpeciesTrajectory.from_arrays(pos, dt, cell, "Li")
    T, N = pos.shape[:2]
    rows = []

    # warm-up: numba compilation (cached on disk after the first run ever)
    small = SpeciesTrajectory.from_arrays(pos[:50, :4], dt, cell, "Li")
    t0 = time.perf_counter()
    VanHove(small, [0.01]).run()
    CascadeAnalysis(small, HopAnalysis(small, 1.6).run()).run()
    MSD(small).run()
    compile_s = time.perf_counter() - t0

    # ---------------------------------------------------------------- MSD
    t_ours, m = best(lambda: MSD(traj).run().results, a.repeat)
    import freud
    fmsd = freud.msd.MSD(box=None, mode="window")
    t_freud, fm = best(lambda: fmsd.compute(pos).msd.copy(), a.repeat)
    rel = float(np.abs(m.msd_A2[1:T // 2] - fm[1:T // 2]).max() / m.msd_A2[T // 2])
    rows.append(("MSD (all origins, all lags)", t_ours, "freud", t_freud, "<= freud",
                 t_ours <= t_freud, f"max |diff|/MSD(T/2) {rel:.1e}"))
    try:
        from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
        from pymatgen.core import Lattice, Structure
        rng = np.random.default_rng(0)
        n_al, n_cl = N, 4 * N
        species = ["Li"] * N + ["Al"] * n_al + ["Cl"] * n_cl
        frac = np.vstack([pos[0] @ np.linalg.inv(cell) % 1.0, rng.random((n_al + n_cl, 3))])
        struct = Structure(Lattice(cell), species, frac)
        disp = np.zeros((len(species), T, 3))
        disp[:N] = np.transpose(pos - pos[:1], (1, 0, 2))

        def pmg():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return DiffusionAnalyzer(struct, disp, "Li", 600, int(dt * 1000), 1)
        t_pmg, da = best(pmg, 1)
        rows.append(("MSD (all origins, all lags)", t_ours, "pymatgen DiffusionAnalyzer", t_pmg,
                     "", True, f"pymatgen 'max' smoothing, {da.msd.size} lags"))
    except ImportError as exc:
        rows.append(("MSD", t_ours, f"pymatgen (not installed: {exc})", float("nan"), "", True, ""))

    # ---------------------------------------------------------------- van Hove, 10 lags
    lags = np.unique(np.rint(np.geomspace(1, T // 2, 10))).astype(int) * dt
    t_gs, vh = best(lambda: VanHove(traj, lags).run().results, a.repeat)

    def numpy_gs():
        hists = []
        for m_ in vh.lag_frames:
            r = np.linalg.norm(pos[m_:] - pos[:T - m_], axis=2).ravel()
            hists.append(np.histogram(r, bins=vh.r_A.size, range=(0, vh.r_A.size * vh.dr_A))[0])
        return np.array(hists)
    t_np, h = best(numpy_gs, 1)
    same = np.allclose(h / (h.sum(1, keepdims=True) * vh.dr_A), vh.P_per_A)
    rows.append((f"Gs(r,t) at {len(vh.lag_frames)} lags, all origins", t_gs, "numpy histogram",
                 t_np, "<= 0.3 s", t_gs <= 0.3, f"identical histograms: {same}"))

    # ---------------------------------------------------------------- hops + cascades
    def hc():
        h_ = HopAnalysis(traj, 1.6).run()
        return h_.results, CascadeAnalysis(traj, h_, 1.0, 1.0, n_shuffles=20).run().results
    t_hc, (hr, cr) = best(hc, a.repeat)
    rows.append(("hops + cascades (20 null shuffles)", t_hc, "-", float("nan"), "<= 10 s",
                 t_hc <= 10.0, f"hops {hr.n_hops} (planted {truth.ion.size}), P_casc "
                 f"{cr.p_casc:.3f} vs null {cr.p_casc_null:.3f}"))

    # ---------------------------------------------------------------- reader
    nf = min(a.read_frames, T)
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "t.xyz")
        rng = np.random.default_rng(2)
        others = rng.random((5 * N, 3)) @ cell
        w = wrap(pos[:nf], cell)
        lat = " ".join(f"{v:.6f}" for v in cell.ravel())
        with open(f, "w") as fh:
            for t in range(nf):
                fh.write(f"{6 * N}\nLattice=\"{lat}\" Properties=species:S:1:pos:R:3 "
                         f"time_ps={t * dt:.4f} step={t} pbc=\"T T T\"\n")
                fh.writelines(f"Li {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in w[t])
                fh.writelines(f"{'Al' if k < N else 'Cl'} {x:.6f} {y:.6f} {z:.6f}\n"
                              for k, (x, y, z) in enumerate(others))
        t_read, tr = best(lambda: read_species_trajectory(f, "Li"), 1)
        from ase.io import iread

        def ase_read():
            return [at.positions[at.numbers == 3] for at in iread(f, format="extxyz")]
        t_ase, _ = best(ase_read, 1)
        ok = np.allclose(tr.positions - tr.positions[:1], pos[:nf] - pos[:1], atol=1e-4)
    rows.append((f"read extxyz, {6 * N} ions x {nf} frames (Li kept, unwrapped)", t_read,
                 "ase.io.iread (no unwrapping)", t_ase, "", True,
                 f"{t_read / nf * 1e3:.2f} ms/frame; unwrapped == truth: {ok}"))

    print(f"\n{N} Li among {6 * N} ions, {T} frames x {dt} ps; numba warm-up {compile_s:.2f} s "
          f"(best of {a.repeat})\n")
    print(f"{'task':48s} {'mtpflow s':>10s} {'peer':>28s} {'peer s':>9s} {'peer/ours':>9s} "
          f"{'target':>9s}  note")
    for task, ours, peer, tp, target, ok, note in rows:
        ratio = tp / ours if np.isfinite(tp) else float("nan")
        flag = "" if not target else ("ok" if ok else "MISS")
        print(f"{task:48s} {ours:10.3f} {peer:>28s} {tp:9.3f} {ratio:9.1f} {target:>9s} {flag:4s} "
              f"{note}")


if __name__ == "__main__":
    main()
