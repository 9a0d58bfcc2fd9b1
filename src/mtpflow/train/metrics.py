"""Validation metrics (MAE, RMSE, R², max |error|) for energies per atom, force components and
stress components, as `mtpflow calc-errors` reports them, and the predictions they compare.

    predict(pot, configs)            energies (eV), forces (eV/Å), virials (3x3, eV) by the MTP engine
    compute_errors(pot, configs)     (metrics, pairs, predictions) of a trained potential on a set
    check_references(configs)        NaN/inf reference data is an error naming the configuration
    per_config_errors(configs, ...)  one row per configuration (calc-errors --csv)
"""

from __future__ import annotations

import numpy as np
from ase.units import GPa

from mtpflow.errors import InputError

_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])


def predict(pot, configs, path=None):
    """Energies (eV), forces [(N, 3) eV/Å] and virials (3x3, eV) of each configuration, by the
    MTP engine (mtpflow.mtp.evaluate.evaluate_batch). `path` names the configurations' file in
    errors."""
    from mtpflow.mtp.evaluate import evaluate_batch

    if not pot.is_trained:
        raise InputError("the potential has no coefficients (an untrained template): train it first")
    res = evaluate_batch(pot, configs, where=path)
    return (np.array([r.energy for r in res]), [r.forces for r in res],
            np.array([r.virial for r in res]).reshape(-1, 3, 3))


def compute_errors(pot, configs, path=None):
    """(metrics as all_metrics returns them, pairs as collect_pairs returns them, (energies,
    forces, virials) predicted) of potential `pot` on `configs` (read from `path`)."""
    if not configs:
        raise InputError("no configurations: the test file is empty", path)
    check_references(configs, path)
    e, forces, w = predict(pot, configs, path)
    pairs = collect_pairs(configs, e, forces, w)
    return all_metrics(configs, pairs), pairs, (e, forces, w)


def check_references(configs, path=None) -> None:
    """Reference data a metric cannot use is an error naming the configuration (counting from 1):
    a NaN or inf Energy, force or PlusStress component, or forces of the wrong shape."""
    for k, c in enumerate(configs):
        where = f"configuration {k + 1}"
        if c.energy is not None and not np.isfinite(c.energy):
            raise InputError(f"{where} has a NaN or inf reference Energy; fix or remove it", path)
        if c.forces is not None:
            if np.shape(c.forces) != (c.n_atoms, 3):
                raise InputError(f"{where} has forces of shape {np.shape(c.forces)} for {c.n_atoms} "
                                 "atoms", path)
            if not np.all(np.isfinite(c.forces)):
                atom = int(np.nonzero(~np.isfinite(c.forces).all(axis=1))[0][0])
                raise InputError(f"{where} has a NaN or inf reference force on atom {atom + 1}; fix "
                                 "or remove it", path)
        if c.plus_stress is not None and not np.all(np.isfinite(c.plus_stress)):
            raise InputError(f"{where} has a NaN or inf reference PlusStress; fix or remove it", path)


def per_config_errors(configs, energies, forces_list, virials):
    """One tuple per configuration: (n_atoms, reference and predicted energy per atom in eV/atom,
    force-component RMSE in eV/Å, stress-component RMSE in GPa); NaN where the configuration has
    no reference for that quantity."""
    rows = []
    for k, c in enumerate(configs):
        n = c.n_atoms
        er = c.energy / n if c.energy is not None else float("nan")
        fr = (float(np.sqrt(np.mean((forces_list[k] - c.forces) ** 2)))
              if c.forces is not None else float("nan"))
        sr = float("nan")
        if c.plus_stress is not None and c.cell is not None:
            d = (virials[k][_VOIGT] - c.plus_stress) / c.volume / GPa
            sr = float(np.sqrt(np.mean(d * d)))
        rows.append((n, er, energies[k] / n, fr, sr))
    return rows


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
            s_p.append(-virials[k][_VOIGT] / v / GPa)
            s_r.append(-c.plus_stress / v / GPa)
    cat = (lambda x: np.concatenate(x) if x else np.zeros(0))
    return {"energy_per_atom": (np.array(e_p), np.array(e_r)), "forces": (cat(f_p), cat(f_r)),
            "stress": (cat(s_p), cat(s_r))}


def all_metrics(configs, pairs) -> dict:
    out = {"n_configs": len(configs), "n_atoms": int(sum(c.n_atoms for c in configs))}
    for key, (p, r) in pairs.items():
        out[key] = error_metrics(p, r)
    return out
