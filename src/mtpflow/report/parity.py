"""Parity plots (predicted vs reference) for energies, forces and stresses: the pooled metrics in
a text box, the points coloured by the density of their configuration (legend in g/cm³)."""

from __future__ import annotations

import numpy as np

LABELS = {
    "energy_per_atom": ("energy", "eV/atom"),
    "forces": ("force component", "eV/Å"),
    "stress": ("stress component", "GPa"),
}


def _fmt(v, spec):
    return "null" if v is None or not np.isfinite(v) else format(v, spec)


def density_label(d) -> str:
    return "no cell" if d is None else f"{d:g} g/cm³"


def parity_plot(pred, ref, quantity: str, unit: str, metrics: dict, groups=None) -> bytes:
    """One parity plot (predicted vs reference) as PNG bytes, the metrics in a text box.
    groups: one density (g/cm³, or None for a non-periodic configuration) per point, or None."""
    from mtpflow.report.plots import new_figure, to_png

    fig, (ax,) = new_figure(size=(4.8, 4.6))
    ref = np.asarray(ref)
    pred = np.asarray(pred)
    text = (f"MAE {_fmt(metrics['mae'], '.4g')} {unit}\nRMSE {_fmt(metrics['rmse'], '.4g')} "
            f"{unit}\nR² {_fmt(metrics['r2'], '.5f')}\nmax {_fmt(metrics['max'], '.4g')} {unit}"
            f"\nN = {metrics['count']}")
    if len(ref):
        lo = float(min(ref.min(), pred.min()))
        hi = float(max(ref.max(), pred.max()))
        pad = 0.03 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.6", lw=1, zorder=1)
        size = 4 if len(ref) > 2000 else 10
        if groups is None:
            ax.scatter(ref, pred, s=size, alpha=0.5, lw=0, zorder=2)
        else:
            from matplotlib import colormaps

            dens = np.array([np.nan if g is None else g for g in groups], dtype=float)
            values = sorted(set(dens[np.isfinite(dens)].tolist())) + (
                [None] if np.isnan(dens).any() else [])
            cmap = colormaps["viridis"]
            for i, d in enumerate(values):
                sel = np.isnan(dens) if d is None else dens == d
                colour = "0.4" if d is None else cmap(i / max(1, len(values) - 1) * 0.9)
                ax.scatter(ref[sel], pred[sel], s=size, alpha=0.6, lw=0, zorder=2, color=colour,
                           label=f"{density_label(d)} ({sel.sum()})")
            ax.legend(loc="lower right", fontsize=7, title="density (points)",
                      title_fontsize=7, markerscale=2)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
    ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", ha="left", fontsize=8)
    ax.set_xlabel(f"reference {quantity} ({unit})")
    ax.set_ylabel(f"MTP {quantity} ({unit})")
    ax.set_aspect("equal")
    return to_png(fig)


def parity_plots(pairs: dict, metrics: dict, configs=None, densities=None) -> dict[str, bytes]:
    """{'energy_parity.png': png, 'forces_parity.png': ..., 'stress_parity.png': ...} for the
    quantities with data; with configs and their densities (config_densities) the points are
    coloured by density."""
    from mtpflow.train.metrics import pair_config_index

    names = {"energy_per_atom": "energy", "forces": "forces", "stress": "stress"}
    index = pair_config_index(configs) if configs is not None and densities is not None else None
    plots = {}
    for key, (pred, ref) in pairs.items():
        if len(ref) == 0:
            continue
        quantity, unit = LABELS[key]
        groups = None
        if index is not None:
            dens = np.array([np.nan if d is None else d for d in densities], dtype=float)
            groups = [None if np.isnan(v) else float(v) for v in dens[index[key]]]
        plots[f"{names[key]}_parity.png"] = parity_plot(pred, ref, quantity, unit, metrics[key],
                                                        groups)
    return plots
