"""Parity plots (predicted vs reference) for energies, forces and stresses, metrics in the legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = {
    "energy_per_atom": ("energy", "eV/atom"),
    "forces": ("force component", "eV/Å"),
    "stress": ("stress component", "GPa"),
}


def parity_plot(path, pred, ref, quantity: str, unit: str, metrics: dict) -> None:
    """Write one parity PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtpflow.io.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(4.8, 4.6), dpi=130)
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
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def parity_plots(directory, pairs: dict, metrics: dict) -> list[Path]:
    """energy_parity.png, forces_parity.png, stress_parity.png in `directory` (those with data)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for key, (pred, ref) in pairs.items():
        if len(ref) == 0:
            continue
        quantity, unit = LABELS[key]
        name = {"energy_per_atom": "energy", "forces": "forces", "stress": "stress"}[key]
        path = directory / f"{name}_parity.png"
        parity_plot(path, pred, ref, quantity, unit, metrics[key])
        written.append(path)
    return written
