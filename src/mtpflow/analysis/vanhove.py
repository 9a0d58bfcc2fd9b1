"""Self van Hove function Gs(r, t), P(r, t) = 4 pi r^2 Gs(r, t), and the non-Gaussian parameter
alpha2(t) = 3 <dr^4> / (5 <dr^2>^2) - 1, with numba kernels over all (or capped) time origins.

Normalisation: P is a histogram density of displacement lengths, so sum(P) * dr = 1 exactly when
r_max covers every displacement (the default r_max is the largest span of any ion's path, an upper
bound of every displacement); Gs = P / (4 pi r^2) at the bin centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtpflow.analysis.base import Results, lag_frames, trajectory_arrays
from mtpflow.errors import InputError
from mtpflow.jit import njit


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
    Gs_per_A3, n_samples (displacements counted per lag), n_independent (ions x non-overlapping
    windows of the lag: the independent ones among them), overflow_fraction, dr_A.

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
        # independent displacements per lag: ions x non-overlapping windows of that lag
        windows = np.maximum(1, (self.n_frames - 1) // self.lags)
        res.n_independent = np.minimum(samples, self.n_ions * windows.astype(float))
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


HOP_WINDOW_A = (1.5, 4.5)      # physical range of a cage/hop separation in chlorides (Å)
HOP_MIN_SIGMA = 3.0            # how far both peaks must rise above the minimum (counting σ)


@dataclass
class HopDistanceSearch:
    """Outcome of hop_distance_from_P. found: a minimum was accepted; distance_A, lag_ps, depth
    (1 - P_min / the lower peak, smoothed) and sigma (the weaker peak's rise above the minimum in
    counting σ) describe the accepted minimum, or the best candidate when none was accepted
    (None when there was no candidate at all); reason says why in words."""

    found: bool
    distance_A: float | None
    lag_ps: float | None
    depth: float | None
    sigma: float | None
    reason: str


def _valleys(c):
    """Valleys of smoothed counts c (Poisson variance c + 1): for every bin j, a = the highest bin
    left of j and b = the highest bin right of j; each distinct (a, b) pair bounds one valley
    whose bottom is the lowest bin between them. Returns (sigma, middle, bottom, a, b, weaker)
    per valley: sigma = the smaller rise of the two peaks above the bottom in σ, middle = the
    middle bin of the flat bottom (bins within one σ of the bottom), weaker = which peak."""
    n = c.size
    var = c + 1.0
    il = np.zeros(n, dtype=np.int64)
    ir = np.full(n, n - 1, dtype=np.int64)
    for j in range(1, n):                       # il[j] = argmax c[:j]
        il[j] = il[j - 1] if c[il[j - 1]] >= c[j - 1] else j - 1
    for j in range(n - 3, -1, -1):              # ir[j] = argmax c[j+1:]
        ir[j] = j + 1 if c[j + 1] > c[ir[j + 1]] else ir[j + 1]
    out = []
    for a, b in sorted(set(zip(il[1:n - 1].tolist(), ir[1:n - 1].tolist()))):
        if b - a < 2:
            continue
        j = a + 1 + int(np.argmin(c[a + 1:b]))
        sig_a = (c[a] - c[j]) / np.sqrt(var[a] + var[j])
        sig_b = (c[b] - c[j]) / np.sqrt(var[b] + var[j])
        floor = np.nonzero(c[a + 1:b] <= c[j] + np.sqrt(var[j]))[0] + a + 1
        out.append((float(min(sig_a, sig_b)), int(floor[(floor.size - 1) // 2]), j, a, b,
                    "hop peak" if sig_b <= sig_a else "cage peak"))
    return out


def hop_distance_from_P(r_A, P_per_A, lag_ps, n_independent, window_A=HOP_WINDOW_A,
                        min_sigma=HOP_MIN_SIGMA, smooth_bins=5) -> HopDistanceSearch:
    """The hop distance from P(r, t): a minimum of P that lies inside window_A (Å) between a cage
    peak (left of it) and a hop peak (right of it) that BOTH rise at least min_sigma counting
    standard deviations above it.

    Noise model: at lag k, P(r) dr times n_independent[k] (ions x non-overlapping time windows
    of that lag: displacements over overlapping windows are not independent) is the expected
    number of independent displacements per bin; counts are summed over smooth_bins bins and
    given the Poisson variance n + 1 (one count added so an empty bin is not taken as exact).
    Among the bins of a flat bottom (within one σ of the minimum) the middle one is taken. Of
    all lags, the one whose minimum stands out most is used. When no lag qualifies, found is
    False and reason says whether no significant minimum exists or it lies outside the window."""
    r = np.asarray(r_A, dtype=float)
    P = np.atleast_2d(np.asarray(P_per_A, dtype=float))
    lags = np.atleast_1d(np.asarray(lag_ps, dtype=float))
    n_ind = np.broadcast_to(np.asarray(n_independent, dtype=float), lags.shape)
    lo, hi = float(window_A[0]), float(window_A[1])
    if not (0 < lo < hi):
        raise InputError(f"the hop-distance window must be 0 < low < high Å, got {lo:g}-{hi:g}")
    if smooth_bins < 1 or min_sigma <= 0:
        raise InputError("hop_distance_from_P: smooth_bins must be >= 1 and min_sigma > 0")
    win = f"{lo:g}-{hi:g} Å"
    if r.size < 3:
        return HopDistanceSearch(False, None, None, None, None,
                                 "P(r,t) has fewer than 3 bins: no minimum can be located")
    dr = float(r[1] - r[0])
    best_in = best_all = None   # (sigma, middle, bottom, a, b, weaker, lag index, counts)
    for k in range(P.shape[0]):
        c = np.convolve(P[k] * dr * n_ind[k], np.ones(smooth_bins), mode="same")
        for v in _valleys(c):
            cand = v + (k, c)
            if lo <= r[v[1]] <= hi and (best_in is None or cand[0] > best_in[0]):
                best_in = cand
            if best_all is None or cand[0] > best_all[0]:
                best_all = cand
    if best_all is None:
        return HopDistanceSearch(False, None, None, None, None,
                                 "P(r,t) has no minimum between two maxima at any lag")

    def depth(cand):
        c, j, a, b = cand[7], cand[2], cand[3], cand[4]
        top = min(c[a], c[b])
        return float(1.0 - c[j] / top) if top > 0 else 0.0

    if best_in is not None and best_in[0] >= min_sigma:
        sig, m, j, a, b, _, k, c = best_in
        return HopDistanceSearch(
            True, float(r[m]), float(lags[k]), depth(best_in), sig,
            f"minimum of P(r,t) at lag {lags[k]:g} ps between the cage peak ({r[a]:.2f} Å) and "
            f"the hop peak ({r[b]:.2f} Å), both >= {sig:.1f} σ of counting noise above it "
            f"(depth {depth(best_in):.2f}), inside the window {win}")
    if best_all[0] >= min_sigma:
        sig, m, j, a, b, _, k, c = best_all
        return HopDistanceSearch(
            False, float(r[m]), float(lags[k]), depth(best_all), sig,
            f"the only minimum of P(r,t) between peaks that stand out of the counting noise "
            f"(lag {lags[k]:g} ps, at {r[m]:.2f} Å between peaks at {r[a]:.2f} and {r[b]:.2f} Å, "
            f"{sig:.1f} σ) lies outside the physical window {win}")
    cand = best_in if best_in is not None else best_all
    sig, m, j, a, b, weak, k, c = cand
    return HopDistanceSearch(
        False, float(r[m]), float(lags[k]), depth(cand), max(sig, 0.0),
        f"no minimum of P(r,t) in {win} with both a cage peak and a hop peak >= {min_sigma:g} σ "
        f"above it: at best (lag {lags[k]:g} ps, minimum at {r[m]:.2f} Å) the {weak} at "
        f"{r[b if weak == 'hop peak' else a]:.2f} Å rises only {max(sig, 0.0):.1f} σ above the "
        f"counting noise")
