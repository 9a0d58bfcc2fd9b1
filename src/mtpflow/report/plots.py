"""Plots as PNG bytes (matplotlib Figure + Agg canvas: no pyplot state, no display needed)."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(ncols=1, nrows=1, size=(5.0, 3.6)):
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def to_png(fig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.canvas.print_png(buf)
    return buf.getvalue()


def msd_plot(lag_ps, msd_A2, D_A2_per_ps, fit_range_ps, intercept_A2=0.0, species="") -> bytes:
    fig, (ax,) = new_figure()
    sel = lag_ps > 0
    ax.loglog(lag_ps[sel], msd_A2[sel], label=f"MSD {species}")
    if D_A2_per_ps is not None and np.isfinite(D_A2_per_ps):
        a, b = fit_range_ps
        t = lag_ps[(lag_ps >= a) & (lag_ps <= b)]
        ax.loglog(t, 6 * D_A2_per_ps * t + intercept_A2, "--",
                  label=f"fit: D = {D_A2_per_ps:.3g} Å²/ps")
        ax.axvspan(a, b, alpha=0.1, color="grey", label="fit range")
    ax.set_xlabel("t (ps)")
    ax.set_ylabel("MSD (Å²)")
    ax.legend(fontsize=8)
    return to_png(fig)


def vanhove_plot(r_A, P_per_A, lag_ps, hop_distance_A=None) -> bytes:
    fig, (ax1, ax2) = new_figure(2)
    last = np.nonzero(P_per_A.sum(axis=0) > 0)[0]
    r_hi = r_A[last[-1]] + 0.5 if last.size else r_A[-1]
    for k, t in enumerate(lag_ps):
        ax1.plot(r_A, P_per_A[k], label=f"t = {t:g} ps")
        ax2.semilogy(r_A, np.where(P_per_A[k] > 0, P_per_A[k], np.nan))
    for ax in (ax1, ax2):
        if hop_distance_A:
            ax.axvline(hop_distance_A, ls=":", color="k", label="hop distance")
        ax.set_xlim(0, r_hi)
        ax.set_xlabel("r (Å)")
    ax1.set_ylabel("P(r,t) = 4πr² Gs(r,t) (1/Å)")
    ax2.set_ylabel("P(r,t) (1/Å), log")
    ax1.legend(fontsize=7)
    return to_png(fig)


def alpha2_plot(lag_ps, alpha2) -> bytes:
    fig, (ax,) = new_figure()
    ax.semilogx(lag_ps, alpha2, "o-", ms=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("t (ps)")
    ax.set_ylabel("α₂(t)")
    return to_png(fig)


def hops_plot(ion_n_hops, residence_ps) -> bytes:
    fig, (ax1, ax2) = new_figure(2)
    n = np.asarray(ion_n_hops)
    ax1.hist(n, bins=np.arange(n.max() + 2) - 0.5 if n.size else 1)
    ax1.set_xlabel("hops per ion")
    ax1.set_ylabel("ions")
    ax1.set_title(f"caged: {np.mean(n == 0):.0%}, hopping: {np.mean(n > 0):.0%}", fontsize=9)
    if len(residence_ps):
        ax2.hist(residence_ps, bins=30)
    ax2.set_xlabel("residence time between hops (ps)")
    ax2.set_ylabel("count")
    return to_png(fig)


def cascades_plot(p_casc, p_null, p_null_std, chain_counts) -> bytes:
    fig, (ax1, ax2) = new_figure(2)
    ax1.bar(["P_casc", "null (shuffled)"], [p_casc or 0.0, p_null or 0.0],
            yerr=[0.0, p_null_std or 0.0], color=["C0", "C7"])
    ax1.set_ylabel("probability")
    if chain_counts:
        ax2.bar([int(k) for k in chain_counts], list(chain_counts.values()))
    ax2.set_xlabel("cascade chain length (hops)")
    ax2.set_ylabel("chains")
    return to_png(fig)


def analysis_plots(run) -> dict:
    """name -> PNG bytes for an AnalysisRun (mtpflow.analysis.pipeline)."""
    m, v, a, h, c = (run.msd.results, run.vanhove.results, run.alpha2.results, run.hops.results,
                     run.cascades.results)
    return {
        "msd": msd_plot(m.lag_ps, m.msd_A2, m.D_A2_per_ps, m.fit_range_ps, m.fit_intercept_A2,
                        run.summary["species"]),
        "vanhove": vanhove_plot(v.r_A, v.P_per_A, v.lag_ps, h.hop_distance_A),
        "alpha2": alpha2_plot(a.lag_ps, a.value),
        "hops": hops_plot(h.ion_n_hops, h.residence_times_ps),
        "cascades": cascades_plot(c.p_casc, c.p_casc_null, c.p_casc_null_std,
                                  c.chain_length_counts),
    }


def columns_vs(df, x, columns, labels=None, logy=False, title=None) -> bytes | None:
    """One panel per present column of a DataFrame against column x; None if none present."""
    cols = [c for c in columns if c in df.columns and df[c].notna().any()]
    if x not in df.columns or not cols:
        return None
    fig, axes = new_figure(min(3, len(cols)), (len(cols) + 2) // 3)
    for ax, col in zip(axes, cols):
        ax.plot(df[x], df[col], ".-", ms=3)
        if logy and (df[col] > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel((labels or {}).get(col, col))
    for ax in axes[len(cols):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return to_png(fig)


SWEEP_QUANTITIES = {"D_A2_per_ps": "D (Å²/ps)", "conductivity_S_per_cm": "σ (S/cm)",
                    "hop_fraction": "hop fraction", "p_casc": "P_casc"}


def sweep_plot(df, x) -> bytes | None:
    """D, sigma, hop fraction, P_casc (and its null) against x, one line per temperature."""
    if x not in df.columns or df[x].isna().all():
        return None
    fig, axes = new_figure(4, 1, size=(3.8, 3.4))
    groups = df.groupby("temperature_K", dropna=False) if "temperature_K" in df else [(None, df)]
    for ax, (col, label) in zip(axes, SWEEP_QUANTITIES.items()):
        for temp, g in groups:
            g = g.sort_values(x)
            if col in g and g[col].notna().any():
                name = "T = ?" if temp is None or temp != temp else f"{temp:g} K"
                ax.plot(g[x], g[col], "o-", label=name)
                if col == "p_casc" and "p_casc_null" in g:
                    ax.plot(g[x], g["p_casc_null"], "x:", color="grey", label="null")
        ax.set_xlabel(x)
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7)
    return to_png(fig)
