"""Plots as PNG bytes (matplotlib Figure + Agg canvas: no pyplot state, no display needed)."""

from __future__ import annotations

import io
import textwrap

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


def say_why(ax, message, title=None):
    """An axes with no data: the reason in words instead of empty axes."""
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    ax.text(0.5, 0.5, textwrap.fill(message, 48), transform=ax.transAxes, ha="center",
            va="center", fontsize=9, color="#a40",
            bbox={"boxstyle": "round", "facecolor": "#fff8f0", "edgecolor": "#dcb"})


def message_figure(message, size=(6.0, 2.0)) -> bytes:
    """A PNG that only says why there is no plot."""
    fig, (ax,) = new_figure(size=size)
    say_why(ax, message)
    return to_png(fig)


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
    if n.size:
        ax1.hist(n, bins=np.arange(n.max() + 2) - 0.5)
        ax1.set_xlabel("hops per ion")
        ax1.set_ylabel("ions")
        ax1.set_title(f"caged: {np.mean(n == 0):.0%}, hopping: {np.mean(n > 0):.0%}", fontsize=9)
    else:
        say_why(ax1, "no ions of the species in the trajectory")
    if len(residence_ps):
        ax2.hist(residence_ps, bins=30)
        ax2.set_xlabel("residence time between hops (ps)")
        ax2.set_ylabel("count")
    else:
        total = int(n.sum())
        say_why(ax2, "no residence times: a residence is the time between two hops of the "
                f"same ion, and {'no ion hopped' if total == 0 else 'no ion hopped twice'} "
                f"({total} hop{'s' if total != 1 else ''} in all)",
                title="residence time between hops (ps)")
    return to_png(fig)


def cascades_plot(p_casc, p_null, p_null_std, chain_counts, n_hops=None) -> bytes:
    fig, (ax1, ax2) = new_figure(2)
    if p_casc is None:
        say_why(ax1, "no hops: P_casc (cascade hops / all hops) is undefined",
                title="P_casc vs shuffled null")
    else:
        ax1.bar(["P_casc", "null (shuffled)"], [p_casc, p_null or 0.0],
                yerr=[0.0, p_null_std or 0.0], color=["C0", "C7"], capsize=4)
        ax1.set_ylabel("probability")
    if chain_counts:
        ax2.bar([int(k) for k in chain_counts], list(chain_counts.values()))
        ax2.set_xlabel("cascade chain length (hops)")
        ax2.set_ylabel("chains")
    else:
        why = ("no hops, so no cascades" if not n_hops else
               f"no cascade chains: none of the {n_hops} hop{'s' if n_hops != 1 else ''} "
               "ended at a site another ion had just left")
        say_why(ax2, why, title="cascade chain length (hops)")
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
                                  c.chain_length_counts, c.n_hops),
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
SWEEP_AXES = {"cc_density_per_nm3": "[CC] (Li⁺ per nm³)", "x": "x in Li_xAlCl_{3+x}",
              "temperature_K": "T (K)"}
ONE_POINT = "one state point: a trend needs at least two (add compositions or temperatures)"


def state_points(df) -> int:
    """Distinct (temperature, [CC], x) state points of a sweep table."""
    cols = [c for c in ("temperature_K", "cc_density_per_nm3", "x") if c in df.columns]
    return len(df[cols].round(9).drop_duplicates()) if cols else len(df)


def _distinct(df, col) -> int:
    return int(df[col].dropna().round(9).nunique()) if col in df.columns else 0


def sweep_plot(df, x) -> bytes | None:
    """D, sigma, hop fraction and P_casc (with its shuffled null ± its std) against x, one line
    (markers + line) per temperature, or per composition when x is the temperature; replicas of
    one state point are averaged, with their standard deviation as error bars. None when x has
    fewer than two distinct values (one state point: say so with message_figure(ONE_POINT))."""
    if x not in df.columns or _distinct(df, x) < 2:
        return None
    by = "x" if x == "temperature_K" else "temperature_K"
    if by not in df.columns or df[by].isna().all():
        by = "cc_density_per_nm3" if x == "temperature_K" else None
    fig, axes = new_figure(4, 1, size=(3.8, 3.4))
    groups = list(df.groupby(by, dropna=False)) if by else [(None, df)]
    for ax, (col, label) in zip(axes, SWEEP_QUANTITIES.items()):
        null_label = "null ± std"
        for key, g in groups:
            if col not in g or not g[col].notna().any():
                continue
            stats = g.groupby(x)[col].agg(["mean", "std", "count"]).reset_index()
            err = stats["std"].where(stats["count"] > 1)
            if key is None or key != key:
                name = "T = ?" if by == "temperature_K" else "all"
            elif by == "temperature_K":
                name = f"{key:g} K"
            else:
                name = f"x = {key:g}" if by == "x" else f"[CC] = {key:.3g} nm⁻³"
            ax.errorbar(stats[x], stats["mean"], yerr=err if err.notna().any() else None,
                        fmt="o-", capsize=3, label=name)
            if col == "p_casc" and "p_casc_null" in g:
                null = g.groupby(x)[["p_casc_null"] + (["p_casc_null_std"] if
                                                       "p_casc_null_std" in g else [])].mean()
                ax.errorbar(null.index, null["p_casc_null"],
                            yerr=null.get("p_casc_null_std"), fmt="x:", color="grey",
                            capsize=3, label=null_label)
                null_label = None
        ax.set_xlabel(SWEEP_AXES.get(x, x))
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7)
    axes[3].legend(fontsize=7)
    return to_png(fig)
