"""Assemble the HTML report from loaded stage outputs (the CLI loads files; nothing here reads
or writes files). Each stage: (title, [(path, object or None, problem or None), ...])."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtpflow.report.html import Report, Section
from mtpflow.report.plots import columns_vs, sweep_plot

TRAIN_COLUMNS = {"loss": "loss", "rmse_energy_per_atom_eV": "RMSE E (eV/atom)",
                 "rmse_force_eV_A": "RMSE F (eV/Å)", "rmse_stress_GPa": "RMSE stress (GPa)"}
THERMO_COLUMNS = {"temperature_K": "T (K)", "potential_energy_eV": "E_pot (eV)",
                  "kinetic_energy_eV": "E_kin (eV)", "total_energy_eV": "E_tot (eV)",
                  "pressure_GPa": "P (GPa)", "volume_A3": "V (Å³)"}
SUMMARY_KEYS = ["species", "n_ions", "n_frames", "dt_ps", "duration_ps", "temperature_K",
                "cc_density_per_nm3", "D_A2_per_ps", "D_fit_range_ps", "msd_loglog_slope",
                "conductivity_S_per_cm", "conductivity_assumptions", "hop_distance_A",
                "hop_distance_source", "hop_fraction", "n_hops", "hop_rate_per_ion_ps",
                "mean_residence_ps", "cascade_radius_A", "cascade_window_ps", "p_casc",
                "p_casc_null", "p_casc_null_std", "p_casc_ratio", "cascade_chain_length_counts",
                "unwrap_method", "source", "warnings"]


def _dataset(sec: Section, path, df):
    sec.table(df, caption=path)


def _train(sec, path, df):
    png = columns_vs(df, "iteration", list(TRAIN_COLUMNS), TRAIN_COLUMNS, logy=True, title=path)
    if png:
        sec.image(png, f"training curve: {path}")
        sec.table(df.tail(1), caption="last iteration")
    else:
        sec.absent(f"{path}: no 'iteration' column or none of {', '.join(TRAIN_COLUMNS)}; "
                   "table shown instead")
        sec.table(df.tail(20), caption=path)


def _errors(sec, path, d):
    if not isinstance(d, dict):
        sec.absent(f"{path}: expected a JSON object")
        return
    rows = []
    for q in ("energy_per_atom", "forces", "stress"):
        m = d.get(q)
        if isinstance(m, dict):
            rows.append({"quantity": q, **{k: m.get(k) for k in ("mae", "rmse", "r2", "max")}})
    head = ", ".join(f"{k} = {d[k]}" for k in ("n_configs", "n_atoms") if k in d)
    if rows:
        sec.table(pd.DataFrame(rows), caption=f"{path} ({head})" if head else path)
    else:
        sec.absent(f"{path}: no energy_per_atom / forces / stress metrics")


def _parity(sec, path, pngs):
    for name, png in pngs:
        sec.image(png, f"{path}: {name}")


def _thermo(sec, path, df):
    x = "time_ps" if "time_ps" in df.columns else "step"
    png = columns_vs(df, x, list(THERMO_COLUMNS), THERMO_COLUMNS, title=path)
    if png:
        sec.image(png, f"thermo: {path}")
    cols = [c for c in THERMO_COLUMNS if c in df.columns]
    if cols:
        stats = df[cols].agg(["mean", "std", "min", "max"]).T.reset_index(names="quantity")
        sec.table(stats, caption=f"{path}: {len(df)} rows")
    else:
        sec.absent(f"{path}: none of the thermo columns {', '.join(THERMO_COLUMNS)}")


def _analysis(sec, path, obj):
    summary, pngs = obj
    sec.heading(path)
    if summary is not None:
        rows = [{"quantity": k, "value": _scalar(summary[k])} for k in SUMMARY_KEYS
                if k in summary]
        sec.table(pd.DataFrame(rows))
    else:
        sec.absent(f"{path}: no summary.json")
    for name, png in pngs:
        sec.image(png, f"{path}: {name}")


def _sweep(sec, path, df):
    sec.table(df, caption=path)
    for x in ("cc_density_per_nm3", "x"):
        if x in df.columns and np.isfinite(pd.to_numeric(df[x], errors="coerce")).any():
            png = sweep_plot(df, x)
            if png:
                sec.image(png, f"{path}: D, σ, hop fraction and P_casc vs {x}")


def _scalar(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        return "; ".join(map(str, v)) if isinstance(v, list) else str(v)
    return "null" if v is None else str(v)


RENDER = {"dataset_summary": _dataset, "train_log": _train, "errors": _errors,
          "parity_plots": _parity, "thermo": _thermo, "analysis": _analysis, "sweep": _sweep}


def build_report(title, stages) -> Report:
    rep = Report(title)
    for key, (stage_title, inputs) in stages.items():
        sec = rep.section(stage_title)
        if not inputs:
            sec.absent("not provided (stage absent from this run)")
            continue
        for path, obj, problem in inputs:
            if problem:
                sec.absent(problem)
                continue
            try:
                RENDER[key](sec, path, obj)
            except (KeyError, ValueError, TypeError) as exc:
                sec.absent(f"{path}: could not render ({type(exc).__name__}: {exc})")
    return rep
