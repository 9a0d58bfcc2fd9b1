"""Mean-squared displacement over all time origins by FFT, diffusion coefficient from a fitted
diffusive range, and the Nernst-Einstein conductivity.

MSD(m) = <|r_i(t0 + m) - r_i(t0)|^2> over ions i and all T - m origins t0, computed as
S1(m) - 2 S2(m) (Calandrini et al. 2011): S2 is the position autocorrelation from one FFT of all
ions' coordinates (the |F|^2 of every ion and axis are summed before a single inverse FFT), S1 a
running sum of |r|^2. Cost O(N T log T), memory bounded by processing ions in chunks.
"""

from __future__ import annotations

import numpy as np
from ase import units
from scipy import fft as sfft

from mtpflow.analysis.base import Results, trajectory_arrays
from mtpflow.errors import InputError

E_CHARGE_C = units._e      # elementary charge, C (ASE's CODATA set, as every unit in mtpflow)
KB_J_PER_K = units._k      # Boltzmann constant, J/K

# Formal charges (e) of common ions in the chloroaluminate and related glasses.
FORMAL_CHARGE = {"H": 1, "Li": 1, "Na": 1, "K": 1, "Rb": 1, "Cs": 1, "Ag": 1, "Cu": 1, "Mg": 2,
                 "Ca": 2, "Zn": 2, "Al": 3, "Ga": 3, "F": -1, "Cl": -1, "Br": -1, "I": -1,
                 "O": -2, "S": -2}


def msd_fft(positions: np.ndarray, chunk_elements: int = 8_000_000) -> np.ndarray:
    """MSD (Å^2) for every lag 0..T-1 of unwrapped positions (T, N, 3) Å, all time origins."""
    pos = np.asarray(positions, dtype=np.float64)
    T, N = pos.shape[:2]
    nfft = sfft.next_fast_len(2 * T, real=True)
    s2 = np.zeros(nfft)
    s1 = np.zeros(T)
    sq_sum = np.zeros(T)
    per_chunk = max(1, chunk_elements // (nfft * 3))
    for a in range(0, N, per_chunk):
        x = pos[:, a:a + per_chunk, :]
        x = (x - x.mean(axis=0)).reshape(T, -1)
        f = sfft.rfft(x, n=nfft, axis=0)
        power = (f.real ** 2 + f.imag ** 2).sum(axis=1)
        s2 += sfft.irfft(power, n=nfft)
        sq_sum += (x * x).sum(axis=1)
    cs = np.concatenate([[0.0], np.cumsum(sq_sum)])   # cs[k] = sum_{j<k}
    m = np.arange(T)
    s1 = cs[T - m] + (cs[T] - cs[m])
    counts = (T - m) * N
    return (s1 - 2.0 * s2[:T]) / counts


def fit_diffusion(lag_ps, msd_A2, fit_range_ps):
    """Least-squares MSD = 6 D t + c over lag_ps in [a, b]; returns D (Å^2/ps), intercept,
    the log-log slope over the range (1 = diffusive) and the number of points used."""
    a, b = fit_range_ps
    sel = (lag_ps >= a) & (lag_ps <= b) & (lag_ps > 0)
    if sel.sum() < 3:
        raise InputError(f"the MSD fit range {a:g}-{b:g} ps holds fewer than 3 lags; widen "
                         "--fit-range-ps or use a longer trajectory")
    t, y = lag_ps[sel], msd_A2[sel]
    slope, intercept = np.polyfit(t, y, 1)
    pos = y > 0
    beta = float(np.polyfit(np.log(t[pos]), np.log(y[pos]), 1)[0]) if pos.sum() >= 3 else float("nan")
    return float(slope / 6.0), float(intercept), beta, int(sel.sum())


def nernst_einstein_S_per_cm(n_ions, volume_A3, D_A2_per_ps, temperature_K, charge_e):
    """sigma = N q^2 D / (V k_B T), Haven ratio 1 (no ion-ion velocity cross-correlations)."""
    if temperature_K is None or charge_e is None or not np.isfinite(D_A2_per_ps):
        return None
    n_per_m3 = n_ions / (volume_A3 * 1e-30)
    d_m2_per_s = D_A2_per_ps * 1e-8
    sigma_S_per_m = n_per_m3 * (charge_e * E_CHARGE_C) ** 2 * d_m2_per_s / (KB_J_PER_K * temperature_K)
    return float(sigma_S_per_m / 100.0)


class MSD:
    """results: lag_ps, msd_A2, n_origins, D_A2_per_ps, fit_range_ps, fit_intercept_A2,
    loglog_slope, n_fit_points. Default fit range: 10 %-50 % of the trajectory length (short lags
    are ballistic or caged, long lags have few independent origins)."""

    def __init__(self, trajectory, fit_range_ps=None):
        self.trajectory = trajectory
        self.positions, self.dt_ps = trajectory_arrays(trajectory)
        self.n_frames, self.n_ions = self.positions.shape[:2]
        self.results = Results()
        self.fit_range_ps = fit_range_ps

    def run(self):
        r = self.results
        r.msd_A2 = msd_fft(self.positions)
        r.lag_ps = np.arange(self.n_frames) * self.dt_ps
        r.n_origins = self.n_frames - np.arange(self.n_frames)
        total = r.lag_ps[-1]
        if self.fit_range_ps is None:
            a, b = 0.1 * total, 0.5 * total
            if np.count_nonzero((r.lag_ps >= a) & (r.lag_ps <= b)) < 3:
                a, b = r.lag_ps[1], total
        else:
            a, b = (float(v) for v in self.fit_range_ps)
            if not (0 <= a < b):
                raise InputError(f"--fit-range-ps needs 0 <= start < end, got {a:g},{b:g}")
        r.fit_range_ps = [float(a), float(b)]
        (r.D_A2_per_ps, r.fit_intercept_A2, r.loglog_slope,
         r.n_fit_points) = fit_diffusion(r.lag_ps, r.msd_A2, (a, b))
        return self
