"""One call for the whole dynamic-heterogeneity analysis of one species' trajectory: MSD and D,
Nernst-Einstein sigma, van Hove P(r, t), alpha2, hops (caged vs hopping), cascades; returns the
analysis objects, the summary dict (summary.json) and tables (one CSV each)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mtpflow.analysis.cascades import CascadeAnalysis, compare_to_null
from mtpflow.analysis.hops import HopAnalysis
from mtpflow.analysis.msd import FORMAL_CHARGE, MSD, nernst_einstein_S_per_cm
from mtpflow.analysis.vanhove import (HOP_MIN_SIGMA, HOP_WINDOW_A, Alpha2, VanHove,
                                      hop_distance_from_P)

FALLBACK_HOP_DISTANCE_A = 1.6    # about half a Li-Li site distance in chlorides
HAVEN_NOTE = ("Nernst-Einstein sigma = N q^2 D / (V k_B T) with Haven ratio 1 (ion-ion velocity "
              "cross-correlations neglected), q = formal charge, V = mean cell volume")


@dataclass
class AnalysisOptions:
    lags_ps: list | None = None            # van Hove lags; None: decades in [2 dt, T/2]
    hop_distance_A: float | None = None    # None: P(r, t) minimum, else 1.6 Å
    hop_window_A: tuple = HOP_WINDOW_A     # where a P(r, t) minimum is accepted (Å)
    hop_min_sigma: float = HOP_MIN_SIGMA   # both peaks this many counting σ above the minimum
    cascade_radius_A: float = 1.0
    cascade_window_ps: float = 1.0
    smooth_ps: float = 0.5
    fit_range_ps: tuple | None = None
    temperature_K: float | None = None
    charge_e: float | None = None          # None: formal charge of the species
    dr_A: float = 0.05
    n_shuffles: int = 20
    seed: int = 0


@dataclass
class AnalysisRun:
    summary: dict
    tables: dict = field(default_factory=dict)   # name -> DataFrame
    msd: MSD | None = None
    vanhove: VanHove | None = None
    alpha2: Alpha2 | None = None
    hops: HopAnalysis | None = None
    cascades: CascadeAnalysis | None = None


def default_lags_ps(dt_ps, n_frames):
    half = (n_frames - 1) * dt_ps / 2.0
    lags = [x for x in (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0) if 2 * dt_ps <= x <= half]
    if len(lags) < 2:
        lags = sorted({max(dt_ps, half / 4), max(dt_ps, half / 2), max(dt_ps, half)})
    return lags


def _finite(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def analyze(traj, opts: AnalysisOptions | None = None, warnings_list=None) -> AnalysisRun:
    o = opts or AnalysisOptions()
    notes = list(warnings_list or [])
    msd = MSD(traj, o.fit_range_ps).run()
    lags = o.lags_ps if o.lags_ps else default_lags_ps(traj.dt_ps, traj.n_frames)
    vh = VanHove(traj, lags, dr_A=o.dr_A).run()
    a2 = Alpha2(traj).run()
    window = (float(o.hop_window_A[0]), float(o.hop_window_A[1]))
    search = None
    if o.hop_distance_A is not None:
        hop_d, hop_src = float(o.hop_distance_A), "given (--hop-distance)"
        hop_reason = f"given: {hop_d:g} Å (--hop-distance); P(r,t) not searched"
    else:
        v = vh.results
        search = hop_distance_from_P(v.r_A, v.P_per_A, v.lag_ps, v.n_independent, window,
                                     o.hop_min_sigma)
        if search.found:
            hop_d, hop_src, hop_reason = search.distance_A, "minimum of P(r,t)", search.reason
        else:
            hop_d = FALLBACK_HOP_DISTANCE_A
            hop_src = f"fallback {FALLBACK_HOP_DISTANCE_A:g} Å"
            hop_reason = (f"fallback {FALLBACK_HOP_DISTANCE_A:g} Å (about half a Li-Li site "
                          f"distance): {search.reason}")
            notes.append(f"hop distance: {hop_reason}")
    hops = HopAnalysis(traj, hop_d, o.smooth_ps).run()
    casc = CascadeAnalysis(traj, hops, o.cascade_radius_A, o.cascade_window_ps, o.n_shuffles,
                           o.seed).run()
    m, h, c = msd.results, hops.results, casc.results
    sp = traj.species
    charge = o.charge_e if o.charge_e is not None else FORMAL_CHARGE.get(sp)
    sigma = nernst_einstein_S_per_cm(traj.n_ions, traj.volume_A3, m.D_A2_per_ps,
                                     o.temperature_K, charge)
    if o.temperature_K is None:
        notes.append("conductivity is null: give --temperature-K")
    elif charge is None:
        notes.append(f"conductivity is null: no formal charge known for {sp!r}; give --charge")
    if m.loglog_slope is not None and m.loglog_slope < 0.8:
        notes.append(f"MSD log-log slope over the fit range is {m.loglog_slope:.2f} (< 0.8): not "
                     "yet diffusive, D is an apparent value")
    T = traj.n_frames
    idx = np.unique(np.concatenate([[0], np.rint(np.geomspace(1, T - 1, 200)).astype(int)]))
    ratio = _finite(c.p_casc_ratio)
    summary = {
        "species": sp, "n_frames": int(T), "dt_ps": float(traj.dt_ps),
        "D_A2_per_ps": _finite(m.D_A2_per_ps), "conductivity_S_per_cm": sigma,
        "msd": {"lag_ps": m.lag_ps[idx].tolist(), "msd_A2": m.msd_A2[idx].tolist()},
        "alpha2": {"lag_ps": a2.results.lag_ps.tolist(),
                   "value": [_finite(v) for v in a2.results.value]},
        "hop_fraction": h.hop_fraction, "n_hops": h.n_hops,
        "p_casc": _finite(c.p_casc), "p_casc_null": _finite(c.p_casc_null),
        # additional keys
        "p_casc_null_std": _finite(c.p_casc_null_std), "p_casc_ratio": ratio,
        **compare_to_null(c.p_casc, c.p_casc_null_samples),
        "n_cascade_hops": int(c.n_cascade),
        "cascade_chain_length_counts": {str(k): v for k, v in c.chain_length_counts.items()},
        "cascade_radius_A": o.cascade_radius_A, "cascade_window_ps": o.cascade_window_ps,
        "cascade_null": f"hop times permuted among all hops, {o.n_shuffles} shuffles (mean, std)",
        "n_ions": int(traj.n_ions), "n_atoms": int(traj.n_atoms),
        "composition": traj.composition, "volume_A3": float(traj.volume_A3),
        "cc_density_per_nm3": float(traj.n_ions / traj.volume_A3 * 1000.0),
        "duration_ps": float((T - 1) * traj.dt_ps),
        "D_fit_range_ps": m.fit_range_ps, "msd_loglog_slope": _finite(m.loglog_slope),
        "msd_fit_intercept_A2": m.fit_intercept_A2, "msd_note": "log-spaced subset; msd.csv has all lags",
        "temperature_K": o.temperature_K, "charge_e": charge, "haven_ratio": 1.0,
        "conductivity_assumptions": HAVEN_NOTE,
        "vanhove_lags_ps": vh.results.lag_ps.tolist(), "vanhove_dr_A": o.dr_A,
        "hop_distance_A": hop_d, "hop_distance_source": hop_src,
        "hop_distance_reason": hop_reason, "hop_distance_window_A": list(window),
        "hop_distance_min_sigma": o.hop_min_sigma,
        "hop_distance_lag_ps": search.lag_ps if search and search.found else None,
        "hop_distance_significance_sigma": (_finite(search.sigma) if search and search.found
                                            else None),
        "smooth_ps": o.smooth_ps,
        "smooth_frames": h.smooth_frames, "hop_rate_per_ion_ps": h.hop_rate_per_ion_ps,
        "mean_residence_ps": h.mean_residence_ps,
        "source": traj.path, "format": traj.format, "unwrap_method": traj.unwrap_method,
        "every": traj.every, "n_frames_read": traj.n_frames_read,
        "cell_changed": bool(traj.cell_changed), "warnings": notes,
    }
    ids = traj.indices if traj.indices is not None else np.arange(traj.n_ions)
    v = vh.results
    tables = {
        "msd": pd.DataFrame({"lag_ps": m.lag_ps, "msd_A2": m.msd_A2, "n_origins": m.n_origins}),
        "vanhove": pd.DataFrame({
            "lag_ps": np.repeat(v.lag_ps, v.r_A.size), "r_A": np.tile(v.r_A, v.lag_ps.size),
            "P_per_A": v.P_per_A.ravel(), "Gs_per_A3": v.Gs_per_A3.ravel()}),
        "alpha2": pd.DataFrame({"lag_ps": a2.results.lag_ps, "alpha2": a2.results.value,
                                "msd_A2": a2.results.msd_A2, "mean_r4_A4": a2.results.mean_r4_A4,
                                "n_samples": a2.results.n_samples}),
        "hops": pd.DataFrame({
            "hop": np.arange(h.n_hops), "ion_index": ids[h.hop_ion], "time_ps": h.hop_time_ps,
            "from_x_A": h.from_site_A[:, 0], "from_y_A": h.from_site_A[:, 1],
            "from_z_A": h.from_site_A[:, 2], "to_x_A": h.to_site_A[:, 0],
            "to_y_A": h.to_site_A[:, 1], "to_z_A": h.to_site_A[:, 2],
            "length_A": h.hop_length_A, "is_cascade": c.is_cascade, "parent_hop": c.parent}),
        "ions": pd.DataFrame({"ion_index": ids, "n_hops": h.ion_n_hops,
                              "class": np.where(h.ion_is_hopping, "hopping", "caged")}),
        "residence": pd.DataFrame({"residence_ps": h.residence_times_ps}),
        "cascades": pd.DataFrame({"chain_length": list(c.chain_length_counts),
                                  "n_chains": list(c.chain_length_counts.values())}),
    }
    return AnalysisRun(summary, tables, msd, vh, a2, hops, casc)
