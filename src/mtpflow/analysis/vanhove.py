"""Self van Hove function Gs(r, t), P(r, t) = 4 pi r^2 Gs(r, t), and the non-Gaussian parameter
alpha2(t) = 3 <dr^4> / (5 <dr^2>^2) - 1, with numba kernels over all (or capped) time origins.

Normalisation: P is a histogram density of displacement lengths, so sum(P) * dr = 1 exactly when
r_max covers every displacement (the default r_max is the largest span of any ion's path, an upper
bound of every displacement); Gs = P / (4 pi r^2) at the bin centres.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mtpflow.analysis.base import Results, lag_frames, trajectory_arrays
from mtpflow.errors import InputError


@njit(cache=True)
def _origin_stride(n_orig, max_origins):
    if max_origins <= 0 or n_orig <= max_origins:
        return 1
    return (n_orig + max_origins - 1) // max_origins


@njit(cache=True)
def _vanhove_kernel(pos, lags, dr, nbins, max_origins):
    T, N = pos.shape[0], pos.shape[1]
    hist = np.zeros((lags.size, nbins))
    overflow = np.zeros(lags.size)
    samples = np.zeros(lags.size)
    for li in range(lags.size):
        m = lags[li]
        stride = _origin_stride(T - m, max_origins)
        for t0 in range(0, T - m, stride):
            for i in range(N):
                dx = pos[t0 + m, i, 0] - pos[t0, i, 0]
                dy = pos[t0 + m, i, 1] - pos[t0, i, 1]
                dz = pos[t0 + m, i, 2] - pos[t0, i, 2]
                b = int(np.sqrt(dx * dx + dy * dy + dz * dz) / dr)
                if b < nbins:
                    hist[li, b] += 1.0
                else:
                    overflow[li] += 1.0
            samples[li] += N
    return hist, overflow, samples


@njit(cache=True)
def _moments_kernel(pos, lags, max_origins):
    T, N = pos.shape[0], pos.shape[1]
    out = np.zeros((lags.size, 3))
    for li in range(lags.size):
        m = lags[li]
        stride = _origin_stride(T - m, max_origins)
        s2 = 0.0
        s4 = 0.0
        n = 0.0
        for t0 in range(0, T - m, stride):
            for i in range(N):
                dx = pos[t0 + m, i, 0] - pos[t0, i, 0]
                dy = pos[t0 + m, i, 1] - pos[t0, i, 1]
                dz = pos[t0 + m, i, 2] - pos[t0, i, 2]
                r2 = dx * dx + dy * dy + dz * dz
                s2 += r2
                s4 += r2 * r2
            n += N
        out[li, 0] = n
        out[li, 1] = s2 / n
        out[li, 2] = s4 / n
    return out


def path_span_A(positions) -> float:
    """Largest extent of any ion's path (Å): an upper bound of every displacement."""
    ptp = np.ptp(positions, axis=0)            # (N, 3)
    return float(np.sqrt((ptp ** 2).sum(axis=1)).max())


class VanHove:
    """results: lag_frames, lag_ps, r_A (bin centres), P_per_A (lags x bins, P = 4 pi r^2 Gs),
    Gs_per_A3, n_samples, overflow_fraction, dr_A.

    lags_ps: times (rounded to whole frames); dr_A: bin width (default 0.05 Å: well below the
    ~0.5 Å cage width); r_max_A: default covers every displacement so the integral is exactly 1;
    max_origins: origins per lag (0 = all)."""

    def __init__(self, trajectory, lags_ps, dr_A=0.05, r_max_A=None, max_origins=0):
        self.trajectory = trajectory
        self.positions, self.dt_ps = trajectory_arrays(trajectory)
        self.n_frames, self.n_ions = self.positions.shape[:2]
        self.results = Results()
        if dr_A <= 0:
            raise InputError(f"the van Hove bin width must be > 0 Å, got {dr_A}")
        self.lags = lag_frames(lags_ps, self.dt_ps, self.n_frames)
        self.dr_A = float(dr_A)
        self.r_max_A = r_max_A
        self.max_origins = int(max_origins)

    def run(self):
        r_max = self.r_max_A if self.r_max_A is not None else path_span_A(self.positions) + self.dr_A
        nbins = max(1, int(np.ceil(r_max / self.dr_A)))
        hist, overflow, samples = _vanhove_kernel(self.positions, self.lags, self.dr_A, nbins,
                                                  self.max_origins)
        res = self.results
        res.dr_A = self.dr_A
        res.lag_frames = self.lags
        res.lag_ps = self.lags * self.dt_ps
        res.r_A = (np.arange(nbins) + 0.5) * self.dr_A
        res.P_per_A = hist / (samples[:, None] * self.dr_A)
        res.Gs_per_A3 = res.P_per_A / (4.0 * np.pi * res.r_A ** 2)
        res.n_samples = samples
        res.overflow_fraction = overflow / samples
        return self


class Alpha2:
    """results: lag_ps, msd_A2, mean_r4_A4, value (alpha2), n_samples at n_lags log-spaced lags
    up to half the trajectory; at most max_origins evenly spaced origins per lag."""

    def __init__(self, trajectory, n_lags=60, max_origins=2000, max_lag_fraction=0.5):
        self.trajectory = trajectory
        self.positions, self.dt_ps = trajectory_arrays(trajectory)
        self.n_frames, self.n_ions = self.positions.shape[:2]
        self.results = Results()
        top = max(1, int((self.n_frames - 1) * max_lag_fraction))
        self.lags = np.unique(np.rint(np.geomspace(1, top, n_lags)).astype(np.int64))
        self.max_origins = int(max_origins)

    def run(self):
        m = _moments_kernel(self.positions, self.lags, self.max_origins)
        res = self.results
        res.lag_ps = self.lags * self.dt_ps
        res.n_samples = m[:, 0]
        res.msd_A2 = m[:, 1]
        res.mean_r4_A4 = m[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            res.value = 3.0 * m[:, 2] / (5.0 * m[:, 1] ** 2) - 1.0
        return self


def hop_distance_from_P(r_A, P_per_A, lag_ps, smooth_bins=5, min_depth=0.2, r_cage_max_A=1.5):
    """The minimum of P(r, t) between the cage peak (below r_cage_max_A) and the hop peak, taken
    at the lag with the deepest minimum. Returns (distance_A, lag_ps, depth) or None."""
    best = None
    kernel = np.ones(smooth_bins) / smooth_bins
    for k in range(P_per_A.shape[0]):
        p = np.convolve(P_per_A[k], kernel, mode="same")
        cage = r_A <= r_cage_max_A
        if not cage.any() or p[cage].max() <= 0:
            continue
        i1 = int(np.argmax(np.where(cage, p, -1.0)))
        rest = p[i1:]
        # the hop peak: the highest point beyond the first local minimum after the cage peak
        run_min = np.minimum.accumulate(rest)
        rise = rest - run_min
        j2 = int(np.argmax(rise))
        if rise[j2] <= 0:
            continue
        valley = rest[:j2 + 1]
        pmin, pk2 = valley.min(), rest[j2]
        flat = np.nonzero(valley <= pmin + 0.05 * (pk2 - pmin))[0]   # middle of a flat bottom
        jmin = int(flat[(flat.size - 1) // 2])
        depth = 1.0 - pmin / min(p[i1], pk2)
        if depth >= min_depth and (best is None or depth > best[2]):
            best = (float(r_A[i1 + jmin]), float(lag_ps[k]), float(depth))
    return best
