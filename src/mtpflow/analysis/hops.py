"""Caged vs hopping ions: hop events from jumps of each ion's time-averaged position.

Per ion: s(t) = centred moving average of the unwrapped position over `smooth_ps` (removes cage
vibration). The current site is the mean of s over the ion's current residence (except its last window). A hop is recorded
when s(t) moves farther than `hop_distance_A` from the site: hop time t, start site = that mean.
The next residence starts one smoothing window later (when s has finished its ramp), and its mean
is the hop's end site. Residence time = time between consecutive hops of one ion (the censored
first and last residences are excluded). Ions without a hop in the window are "caged".
Hops closer than half a smoothing window to either end of the trajectory can be missed.
"""

from __future__ import annotations

import numpy as np

from mtpflow.analysis.base import Results, trajectory_arrays
from mtpflow.errors import InputError
from mtpflow.jit import njit


@njit(cache=True)
def _hops_one_ion(pos, i, half, skip, d2, s, c, out_t, out_site):
    """Fills out_t[k] (frame of hop k) and out_site[k] (mean site of residence k, k = 0..n);
    returns the number of hops n (out_site[n] is the site after the last hop).
    The site of a residence starting at frame a, seen at frame t, is the mean of s over
    [a, t - skip): the last window is left out as it may hold the start of a departure."""
    T = pos.shape[0]
    for k in range(3):
        c[0, k] = 0.0
    for t in range(T):
        for k in range(3):
            c[t + 1, k] = c[t, k] + pos[t, i, k]
    for t in range(T):
        lo = max(0, t - half)
        hi = min(T, t + half + 1)
        for k in range(3):
            s[t, k] = (c[hi, k] - c[lo, k]) / (hi - lo)
    for k in range(3):          # c becomes the prefix sum of s
        c[0, k] = 0.0
    for t in range(T):
        for k in range(3):
            c[t + 1, k] = c[t, k] + s[t, k]
    nh = 0
    a = 0
    t = 1
    while t < T:
        e = max(a + 1, t - skip)
        n = e - a
        mx = (c[e, 0] - c[a, 0]) / n
        my = (c[e, 1] - c[a, 1]) / n
        mz = (c[e, 2] - c[a, 2]) / n
        dx, dy, dz = s[t, 0] - mx, s[t, 1] - my, s[t, 2] - mz
        if dx * dx + dy * dy + dz * dz > d2:
            out_t[nh] = t
            out_site[nh, 0], out_site[nh, 1], out_site[nh, 2] = mx, my, mz
            nh += 1
            a = min(t + skip, T - 1)
            t = a + 1
        else:
            t += 1
    n = T - a
    for k in range(3):
        out_site[nh, k] = (c[T, k] - c[a, k]) / n
    return nh


class HopAnalysis:
    """results: hop_ion, hop_frame, hop_time_ps, from_site_A, to_site_A, hop_length_A (one row per
    hop, time-ordered), ion_n_hops, ion_is_hopping, hop_fraction, n_hops, hop_rate_per_ion_ps,
    residence_times_ps, mean_residence_ps, smooth_frames.

    hop_distance_A: threshold on the move of the smoothed position (Å); smooth_ps: averaging
    window (default 0.5 ps: several Li cage-vibration periods of ~0.1-0.2 ps)."""

    def __init__(self, trajectory, hop_distance_A, smooth_ps=0.5):
        self.trajectory = trajectory
        self.positions, self.dt_ps = trajectory_arrays(trajectory)
        self.n_frames, self.n_ions = self.positions.shape[:2]
        self.results = Results()
        if not hop_distance_A or hop_distance_A <= 0:
            raise InputError(f"the hop distance must be > 0 Å, got {hop_distance_A}")
        if smooth_ps < 0:
            raise InputError(f"the smoothing window must be >= 0 ps, got {smooth_ps}")
        self.hop_distance_A = float(hop_distance_A)
        self.smooth_frames = max(1, int(round(smooth_ps / self.dt_ps)))

    def run(self):
        T, N, W = self.n_frames, self.n_ions, self.smooth_frames
        s = np.empty((T, 3))
        c = np.empty((T + 1, 3))
        out_t = np.empty(T, dtype=np.int64)
        out_site = np.empty((T + 1, 3))
        ions, frames, starts, ends, res = [], [], [], [], []
        n_per_ion = np.zeros(N, dtype=np.int64)
        for i in range(N):
            nh = _hops_one_ion(self.positions, i, W // 2, W, self.hop_distance_A ** 2, s, c,
                               out_t, out_site)
            n_per_ion[i] = nh
            if nh:
                ions.append(np.full(nh, i))
                frames.append(out_t[:nh].copy())
                starts.append(out_site[:nh].copy())
                ends.append(out_site[1:nh + 1].copy())
                res.append(np.diff(out_t[:nh]) * self.dt_ps)
        r = self.results
        cat = (lambda xs, shape: np.concatenate(xs) if xs else np.zeros(shape))
        hop_ion = cat(ions, (0,)).astype(np.int64)
        hop_frame = cat(frames, (0,)).astype(np.int64)
        order = np.lexsort((hop_ion, hop_frame))
        r.hop_ion = hop_ion[order]
        r.hop_frame = hop_frame[order]
        r.hop_time_ps = r.hop_frame * self.dt_ps
        r.from_site_A = cat(starts, (0, 3))[order]
        r.to_site_A = cat(ends, (0, 3))[order]
        r.hop_length_A = np.linalg.norm(r.to_site_A - r.from_site_A, axis=1)
        r.ion_n_hops = n_per_ion
        r.ion_is_hopping = n_per_ion > 0
        r.n_hops = int(n_per_ion.sum())
        r.hop_fraction = float(r.ion_is_hopping.mean())
        duration = (T - 1) * self.dt_ps
        r.hop_rate_per_ion_ps = r.n_hops / (N * duration)
        r.residence_times_ps = cat(res, (0,))
        r.mean_residence_ps = (float(r.residence_times_ps.mean()) if r.residence_times_ps.size
                               else None)
        r.smooth_frames = W
        r.hop_distance_A = self.hop_distance_A
        return self
