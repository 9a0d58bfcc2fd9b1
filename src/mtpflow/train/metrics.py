"""Validation metrics (MAE, RMSE, R², max |error|) for energies per atom, force components and
stress components, as `mtpflow calc-errors` reports them."""

from __future__ import annotations

import numpy as np

from mtpflow.train.loss import EV_A3_TO_GPA

_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])


def error_metrics(pred, ref) -> dict:
    """{"mae","rmse","r2","max","count"} of pred - ref (flattened); NaN when there is no data."""
    pred = np.asarray(pred, dtype=np.float64).ravel()
    ref = np.asarray(ref, dtype=np.float64).ravel()
    n = len(ref)
    if n == 0:
        return {"mae": float("nan"), "rmse": float("nan"), "r2": float("nan"), "max": float("nan"),
                "count": 0}
    d = pred - ref
    ss_tot = float(np.sum((ref - ref.mean()) ** 2))
    r2 = 1.0 - float(np.sum(d * d)) / ss_tot if ss_tot > 0 else float("nan")
    return {"mae": float(np.mean(np.abs(d))), "rmse": float(np.sqrt(np.mean(d * d))), "r2": r2,
            "max": float(np.max(np.abs(d))), "count": n}


def collect_pairs(configs, energies, forces_list, virials):
    """Predicted/reference arrays: energy per atom (eV/atom), force components (eV/Å), stress
    components (GPa, ASE sign: sigma = -W/V, Voigt xx yy zz yz xz xy). Configurations without a
    reference quantity are left out of that quantity."""
    e_p, e_r, f_p, f_r, s_p, s_r = [], [], [], [], [], []
    for k, c in enumerate(configs):
        if c.energy is not None:
            e_p.append(energies[k] / c.n_atoms)
            e_r.append(c.energy / c.n_atoms)
        if c.forces is not None:
            f_p.append(forces_list[k].ravel())
            f_r.append(c.forces.ravel())
        if c.plus_stress is not None and c.cell is not None:
            v = c.volume
            s_p.append(-virials[k][_VOIGT] / v * EV_A3_TO_GPA)
            s_r.append(-c.plus_stress / v * EV_A3_TO_GPA)
    cat = (lambda x: np.concatenate(x) if x else np.zeros(0))
    return {"energy_per_atom": (np.array(e_p), np.array(e_r)), "forces": (cat(f_p), cat(f_r)),
            "stress": (cat(s_p), cat(s_r))}


def all_metrics(configs, pairs) -> dict:
    out = {"n_configs": len(configs), "n_atoms": int(sum(c.n_atoms for c in configs))}
    for key, (p, r) in pairs.items():
        out[key] = error_metrics(p, r)
    return out
