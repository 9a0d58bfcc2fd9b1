"""Parity plots (predicted vs reference) for energies, forces and stresses, metrics in the legend."""

from __future__ import annotations

import numpy as np

LABELS = {
    "energy_per_atom": ("energy", "eV/atom"),
    "forces": ("force component", "eV/Å"),
    "stress": ("stress component", "GPa"),
}


def parity_plot(pred, ref, quantity: str, unit: str, metrics: dict) -> bytes:
    """One parity plot (predicted vs reference) as PNG bytes, the metrics in the legend."""
    from mtpflow.report.plots import new_figure, to_png

    fig, (ax,) = new_figure(size=(4.8, 4.6))
    ref = np.asarray(ref)
    pred = np.asarray(pred)
    label = (f"MAE {metrics['mae']:.4g} {unit}\nRMSE {metrics['rmse']:.4g} {unit}\n"
             f"R² {metrics['r2']:.5f}\nmax {metrics['max']:.4g} {unit}\nN = {metrics['count']}")
    if len(ref):
        lo = float(min(ref.min(), pred.min()))
        hi = float(max(ref.max(), pred.max()))
        pad = 0.03 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.6", lw=1, zorder=1)
        ax.scatter(ref, pred, s=4 if len(ref) > 2000 else 10, alpha=0.5, lw=0, zorder=2, label=label)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.legend(loc="upper left", fontsize=8, frameon=False, handlelength=0, markerscale=0)
    ax.set_xlabel(f"reference {quantity} ({unit})")
    ax.set_ylabel(f"MTP {quantity} ({unit})")
    ax.set_aspect("equal")
    return to_png(fig)


def parity_plots(pairs: dict, metrics: dict) -> dict[str, bytes]:
    """{'energy_parity.png': png, 'forces_parity.png': ..., 'stress_parity.png': ...} for the
    quantities with data."""
    names = {"energy_per_atom": "energy", "forces": "forces", "stress": "stress"}
    plots = {}
    for key, (pred, ref) in pairs.items():
        if len(ref) == 0:
            continue
        quantity, unit = LABELS[key]
        plots[f"{names[key]}_parity.png"] = parity_plot(pred, ref, quantity, unit, metrics[key])
    return plots
