"""Validation metrics (MAE, RMSE, R², max |error|) for energies per atom, force components and
stress components, as `mtpflow calc-errors` reports them, and the predictions they compare.

    predict(pot, configs)            energies (eV), forces (eV/Å), virials (3x3, eV) by the MTP engine
    compute_errors(pot, configs)     (metrics, pairs, predictions) of a trained potential on a set
    check_references(configs)        NaN/inf reference data is an error naming the configuration
    per_config_errors(configs, ...)  one row per configuration (calc-errors --csv)
    config_densities(configs, ...)   density of each configuration (g/cm³, rounded), None without cell
    metrics_by_density(...)          the metrics per density group (calc-errors --json by_density)
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


def _has(c, key) -> bool:
    """Whether configuration c has a reference for quantity `key` (collect_pairs' rule)."""
    if key == "energy_per_atom":
        return c.energy is not None
    if key == "forces":
        return c.forces is not None
    return c.plus_stress is not None and c.cell is not None


def pair_config_index(configs) -> dict:
    """For each quantity, the configuration index of every element of collect_pairs' arrays."""
    sizes = {"energy_per_atom": lambda c: 1, "forces": lambda c: 3 * c.n_atoms,
             "stress": lambda c: 6}
    return {key: np.concatenate([np.full(size(c), k, dtype=np.int64)
                                 for k, c in enumerate(configs) if _has(c, key)] or
                                [np.zeros(0, np.int64)])
            for key, size in sizes.items()}


def collect_pairs(configs, energies, forces_list, virials):
    """Predicted/reference arrays: energy per atom (eV/atom), force components (eV/Å), stress
    components (GPa, ASE sign: sigma = -W/V, Voigt xx yy zz yz xz xy). Configurations without a
    reference quantity are left out of that quantity (pair_config_index tells which config each
    element comes from)."""
    e_p, e_r, f_p, f_r, s_p, s_r = [], [], [], [], [], []
    for k, c in enumerate(configs):
        if _has(c, "energy_per_atom"):
            e_p.append(energies[k] / c.n_atoms)
            e_r.append(c.energy / c.n_atoms)
        if _has(c, "forces"):
            f_p.append(forces_list[k].ravel())
            f_r.append(c.forces.ravel())
        if _has(c, "stress"):
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


DENSITY_PRECISION_G_CM3 = 0.01


def config_densities(configs, species, precision=DENSITY_PRECISION_G_CM3, path=None):
    """Mass density (g/cm³) of each configuration from its types -> species -> atomic masses
    and its cell volume, rounded to a multiple of `precision`; None for a non-periodic one."""
    from ase.data import atomic_masses, atomic_numbers

    from mtpflow.data.crystal import density_g_cm3

    if not precision > 0:
        raise InputError(f"the density precision must be > 0 g/cm³, got {precision}")
    masses = np.array([atomic_masses[atomic_numbers[s]] for s in species])
    digits = max(0, int(np.ceil(-np.log10(precision))) + 1)
    out = []
    for k, c in enumerate(configs):
        if c.n_atoms and int(c.types.max()) >= len(species):
            raise InputError(f"configuration {k + 1} has type {int(c.types.max())} but the "
                             f"species are {','.join(species)}; give --species with every "
                             "element in type order", path)
        if c.cell is None:
            out.append(None)
            continue
        d = density_g_cm3(float(masses[c.types].sum()), c.volume)
        out.append(round(round(d / precision) * precision, digits))
    return out


def _group_metrics(p, r, n_configs) -> dict:
    m = error_metrics(p, r)
    if n_configs < 2:
        m["r2"] = float("nan")          # one configuration is no sample of the set
    return m


def metrics_by_density(configs, pairs, densities) -> list[dict]:
    """[{density_g_cm3, n_configs, n_atoms, energy_per_atom, forces, stress}, ...] with the
    metrics of all_metrics per density group (densities as config_densities gives them), sorted by
    density, the non-periodic group (density None) last. R² is NaN (null in JSON) for a group of
    one configuration or with zero variance of the reference."""
    index = pair_config_index(configs)
    dens = np.array([np.nan if d is None else d for d in densities], dtype=float)
    keys = sorted({d for d in densities if d is not None}) + ([None] if None in densities else [])
    out = []
    for d in keys:
        members = np.isnan(dens) if d is None else dens == d
        row = {"density_g_cm3": d, "n_configs": int(members.sum()),
               "n_atoms": int(sum(configs[k].n_atoms for k in np.nonzero(members)[0]))}
        for key, (p, r) in pairs.items():
            sel = members[index[key]]
            row[key] = _group_metrics(p[sel], r[sel], row["n_configs"])
        out.append(row)
    return out


