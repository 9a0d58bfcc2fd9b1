"""Cascade hopping: ion B hops into (near) the site that another ion A left shortly before.

A hop of B is a cascade when its end site lies within `radius_A` (minimum image) of the start site
of a hop of another ion A whose hop time t_A satisfies 0 <= t_B - t_A <= `window_ps`.
P_casc = cascade hops / all hops. Null baseline: the same count after randomly permuting the hop
times among all hops (keeps the number of hops and the overall rate, destroys the time
correlation between departures and arrivals), averaged over `n_shuffles` permutations.
Chains: each cascade hop's parent is the most recent qualifying hop; a chain is a root hop with
its descendants; its length is the longest parent path (number of hops).
"""

from __future__ import annotations

import numpy as np

from mtpflow.analysis.base import Results, trajectory_arrays
from mtpflow.errors import InputError
from mtpflow.jit import njit


@njit(cache=True)
def _min_image_dist2(d, cell, inv):
    f0 = d[0] * inv[0, 0] + d[1] * inv[1, 0] + d[2] * inv[2, 0]
    f1 = d[0] * inv[0, 1] + d[1] * inv[1, 1] + d[2] * inv[2, 1]
    f2 = d[0] * inv[0, 2] + d[1] * inv[1, 2] + d[2] * inv[2, 2]
    f0 -= np.rint(f0)
    f1 -= np.rint(f1)
    f2 -= np.rint(f2)
    best = 1e300
    for a in range(-1, 2):   # neighbouring images: exact for skewed triclinic cells
        for b in range(-1, 2):
            for e in range(-1, 2):
                g0, g1, g2 = f0 + a, f1 + b, f2 + e
                x = g0 * cell[0, 0] + g1 * cell[1, 0] + g2 * cell[2, 0]
                y = g0 * cell[0, 1] + g1 * cell[1, 1] + g2 * cell[2, 1]
                z = g0 * cell[0, 2] + g1 * cell[1, 2] + g2 * cell[2, 2]
                r2 = x * x + y * y + z * z
                if r2 < best:
                    best = r2
    return best


@njit(cache=True)
def _cascade_kernel(t, ion, start, end, cell, inv, r2max, window, parent):
    """Hops sorted by time t. parent[b] = index of the triggering hop or -1; returns the count."""
    n = t.size
    d = np.empty(3)
    count = 0
    for b in range(n):
        parent[b] = -1
        j = b + 1            # same-time hops listed after b (concerted moves)
        while j < n and t[j] == t[b]:
            if ion[j] != ion[b]:
                for k in range(3):
                    d[k] = end[b, k] - start[j, k]
                if _min_image_dist2(d, cell, inv) <= r2max:
                    parent[b] = j
                    break
            j += 1
        a = b - 1
        while parent[b] < 0 and a >= 0 and t[b] - t[a] <= window:
            if ion[a] != ion[b]:
                for k in range(3):
                    d[k] = end[b, k] - start[a, k]
                if _min_image_dist2(d, cell, inv) <= r2max:
                    parent[b] = a
            a -= 1
        if parent[b] >= 0:
            count += 1
    return count


def count_cascades(times_ps, ions, start_A, end_A, cell, radius_A, window_ps):
    """(n_cascade, parent indices in the given order) for hops in any order."""
    order = np.argsort(times_ps, kind="stable")
    inv = np.linalg.inv(cell)
    parent = np.empty(order.size, dtype=np.int64)
    n = _cascade_kernel(np.ascontiguousarray(times_ps[order], dtype=np.float64),
                        np.ascontiguousarray(ions[order], dtype=np.int64),
                        np.ascontiguousarray(start_A[order]), np.ascontiguousarray(end_A[order]),
                        np.ascontiguousarray(cell, dtype=np.float64), inv, radius_A ** 2,
                        float(window_ps) + 1e-9, parent)
    back = np.full(order.size, -1, dtype=np.int64)
    has = parent >= 0
    back[order[has]] = order[parent[has]]
    return n, back


def chain_lengths(parent):
    """Lengths (hops) of cascade chains with >= 2 hops, from parent links (index or -1).
    Concerted same-frame moves can link hops in a cycle; a cycle is cut at its first hop met."""
    n = parent.size
    depth = np.full(n, -1, dtype=np.int64)
    root = np.arange(n)
    for h in range(n):
        if depth[h] >= 0:
            continue
        path, on_path = [], set()
        k = h
        while k >= 0 and depth[k] < 0 and k not in on_path:
            on_path.add(k)
            path.append(k)
            k = parent[k]
        if k >= 0 and k in on_path:
            depth[k], root[k] = 0, k
        for node in reversed(path):
            if depth[node] >= 0:
                continue
            p = parent[node]
            if p < 0:
                depth[node], root[node] = 0, node
            else:
                depth[node], root[node] = depth[p] + 1, root[p]
    best = {}
    for h in range(n):
        if depth[h] > 0:
            best[root[h]] = max(best.get(root[h], 0), depth[h] + 1)
    return np.array(sorted(best.values()), dtype=np.int64)


NULL_SIGMA = 3.0   # P_casc "exceeds the null" when it lies this many null σ above its mean


def compare_to_null(p_casc, null_samples, n_sigma=NULL_SIGMA) -> dict:
    """P_casc against its shuffled-time null: {p_casc_z: (P_casc - mean) / std of the shuffles
    (None when the shuffles have no spread), p_casc_p_value: the one-sided empirical p-value
    (k + 1) / (n + 1), k = shuffles with P >= P_casc, p_casc_exceeds_null: z >= n_sigma (or,
    with no spread, P_casc above every shuffle), p_casc_verdict: the same in words}."""
    null = np.asarray([] if null_samples is None else null_samples, dtype=float)
    if p_casc is None:
        return {"p_casc_z": None, "p_casc_p_value": None, "p_casc_exceeds_null": None,
                "p_casc_verdict": "no hops: P_casc is undefined"}
    if null.size == 0:
        return {"p_casc_z": None, "p_casc_p_value": None, "p_casc_exceeds_null": None,
                "p_casc_verdict": "no null shuffles (--shuffles 0): P_casc not compared"}
    mean, std, n = float(null.mean()), float(null.std()), null.size
    p_value = float((np.count_nonzero(null >= p_casc) + 1) / (n + 1))
    tail = f"one-sided p = {p_value:.2g} from {n} shuffles"
    if std > 0:
        z = (p_casc - mean) / std
        exceeds = bool(z >= n_sigma)
        if exceeds:
            verdict = f"exceeds the null by {z:.1f} σ ({tail})"
        elif z <= -n_sigma:
            verdict = f"below the null by {-z:.1f} σ ({tail})"
        else:
            verdict = f"consistent with the null (z = {z:+.1f} σ, below {n_sigma:g} σ; {tail})"
        return {"p_casc_z": float(z), "p_casc_p_value": p_value, "p_casc_exceeds_null": exceeds,
                "p_casc_verdict": verdict}
    exceeds = bool(p_casc > mean)
    verdict = (f"above all {n} shuffles, which have no spread (all {mean:.3g}; {tail})" if exceeds
               else f"consistent with the null: equal to all {n} shuffles ({mean:.3g}), which "
               "have no spread" if p_casc == mean else
               f"below all {n} shuffles, which have no spread (all {mean:.3g})")
    return {"p_casc_z": None, "p_casc_p_value": p_value, "p_casc_exceeds_null": exceeds,
            "p_casc_verdict": verdict}


class CascadeAnalysis:
    """results: n_hops, n_cascade, p_casc, p_casc_null (mean), p_casc_null_std, p_casc_ratio,
    p_casc_null_samples (one per shuffle), is_cascade, parent (per hop, in HopAnalysis order),
    chain_lengths, chain_length_counts.

    hops: a finished HopAnalysis of the same trajectory; radius_A: how close B's end site must be
    to A's start site (default 1.0 Å ~ the cage size, well under half a Li-Li site distance);
    window_ps: how soon after A's departure (default 1.0 ps ~ a few cage-relaxation times)."""

    def __init__(self, trajectory, hops, radius_A=1.0, window_ps=1.0, n_shuffles=20, seed=0):
        self.trajectory = trajectory
        self.positions, self.dt_ps = trajectory_arrays(trajectory)
        self.n_frames, self.n_ions = self.positions.shape[:2]
        self.results = Results()
        if radius_A <= 0 or window_ps < 0:
            raise InputError(f"cascade radius must be > 0 Å and window >= 0 ps; got {radius_A} "
                             f"Å, {window_ps} ps")
        self.hops = hops.results if hasattr(hops, "results") else hops
        self.radius_A = float(radius_A)
        self.window_ps = float(window_ps)
        self.n_shuffles = int(n_shuffles)
        self.seed = seed

    def run(self):
        h, r = self.hops, self.results
        cell = np.asarray(self.trajectory.cell, dtype=float)
        args = (h.hop_ion, h.from_site_A, h.to_site_A, cell, self.radius_A, self.window_ps)
        n = h.hop_time_ps.size
        r.n_hops = int(n)
        r.radius_A, r.window_ps = self.radius_A, self.window_ps
        if n == 0:
            r.n_cascade, r.p_casc, r.p_casc_null, r.p_casc_null_std, r.p_casc_ratio = 0, None, None, None, None
            r.p_casc_null_samples = np.zeros(0)
            r.is_cascade = np.zeros(0, bool)
            r.parent = np.zeros(0, np.int64)
            r.chain_lengths = np.zeros(0, np.int64)
            r.chain_length_counts = {}
            return self
        r.n_cascade, r.parent = count_cascades(h.hop_time_ps, *args)
        r.is_cascade = r.parent >= 0
        r.p_casc = r.n_cascade / n
        rng = np.random.default_rng(self.seed)
        null = [count_cascades(rng.permutation(h.hop_time_ps), *args)[0] / n
                for _ in range(self.n_shuffles)]
        r.p_casc_null_samples = np.asarray(null, dtype=float)
        r.p_casc_null = float(np.mean(null)) if null else None
        r.p_casc_null_std = float(np.std(null)) if null else None
        r.p_casc_ratio = (r.p_casc / r.p_casc_null) if r.p_casc_null else None
        r.chain_lengths = chain_lengths(r.parent)
        u, cnt = np.unique(r.chain_lengths, return_counts=True)
        r.chain_length_counts = {int(a): int(b) for a, b in zip(u, cnt)}
        return self
