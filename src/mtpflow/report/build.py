"""Assemble the HTML report from loaded stage outputs (the CLI loads files; nothing here reads
or writes files). stages: {key: [(path, object or None, problem or None), ...]} for the keys of
STAGES; each section says what it shows and, when an input is missing, why."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtpflow.report import provenance as prov
from mtpflow.report.html import Report, Section
from mtpflow.report.plots import ONE_POINT, SWEEP_AXES, columns_vs, state_points, sweep_plot

STAGES = {"provenance": "What produced this report", "config_used": "Configuration as used",
          "model": "Model and training settings", "dataset_summary": "Dataset summary",
          "train_log": "Training curve", "al_summary": "Active learning",
          "errors": "Validation metrics",
          "parity_plots": "Parity plots", "thermo": "MD thermodynamics",
          "analysis": "Dynamic heterogeneity", "sweep": "Composition sweep",
          "benchmarks": "Wall time per rule"}
TRAIN_COLUMNS = {"loss": "loss (dimensionless)", "rmse_energy_per_atom_eV": "RMSE E (eV/atom)",
                 "rmse_force_eV_A": "RMSE F (eV/Å)", "rmse_stress_GPa": "RMSE stress (GPa)"}
THERMO_COLUMNS = {"temperature_K": "T (K)", "potential_energy_eV": "E_pot (eV)",
                  "kinetic_energy_eV": "E_kin (eV)", "total_energy_eV": "E_tot (eV)",
                  "pressure_GPa": "P (GPa)", "volume_A3": "V (Å³)"}
METRIC_BLOCKS = {"energy_per_atom": ("energy", "eV/atom"), "forces": ("forces", "eV/Å"),
                 "stress": ("stress", "GPa")}
SUMMARY_KEYS = {  # summary.json key -> label with its unit
    "species": "species", "n_ions": "ions", "n_frames": "frames", "dt_ps": "frame interval (ps)",
    "duration_ps": "duration (ps)", "temperature_K": "T (K)",
    "cc_density_per_nm3": "[CC] (ions/nm³)", "D_A2_per_ps": "D (Å²/ps)",
    "D_fit_range_ps": "D fit range (ps)", "msd_loglog_slope": "MSD log-log slope in the fit",
    "conductivity_S_per_cm": "σ Nernst-Einstein (S/cm)",
    "conductivity_assumptions": "σ assumptions", "hop_distance_A": "hop distance (Å)",
    "hop_distance_source": "hop distance source", "hop_distance_reason": "hop distance: why",
    "hop_fraction": "hop fraction (hopping ions / all)", "n_hops": "hops",
    "hop_rate_per_ion_ps": "hop rate (per ion per ps)",
    "mean_residence_ps": "mean residence between hops (ps)",
    "cascade_radius_A": "cascade radius (Å)", "cascade_window_ps": "cascade window (ps)",
    "p_casc": "P_casc (cascade hops / hops)", "p_casc_null": "P_casc null: mean of shuffles",
    "p_casc_null_std": "P_casc null: std of shuffles", "p_casc_z": "P_casc z-score (σ of null)",
    "p_casc_p_value": "P_casc one-sided p-value", "p_casc_verdict": "P_casc vs null",
    "p_casc_ratio": "P_casc / null", "cascade_chain_length_counts": "cascade chains by length",
    "unwrap_method": "unwrapping", "source": "trajectory", "warnings": "warnings"}


def _provenance(sec: Section, path, d):
    v = d["versions"]
    rows = [{"item": "mtpflow version", "value": v.get("mtpflow", "?"),
             "source": "the installed package that built this report"},
            {"item": "Python", "value": v.get("python", "?"), "source": "interpreter"}]
    rows += prov.reference_rows(d["labels"], d.get("config"), v)
    rows += [{"item": f"{pkg} package", "value": v[pkg], "source": "installed"}
             for pkg in ("ase", "numpy", "numba", "snakemake") if pkg in v]
    sec.table(pd.DataFrame(rows))
    for problem in d.get("problems", []):
        sec.absent(problem)
    if not d["labels"]:
        sec.note("no data set given (--reference-data): the engine is taken from the config only")


def _config_used(sec, path, cfg):
    sec.table(prov.config_table(cfg), caption=f"{path}: every key as the workflow used it "
              "(defaults applied); units are in the key names (_K, _fs, _ps, _A, _mb; "
              "runtime in minutes)", max_rows=10_000)


def _model(sec, path, obj):
    if isinstance(obj, dict):            # the config: training settings
        table = prov.training_settings(obj)
        if table is None:
            sec.note(f"{path}: no mtp / train keys in the config")
        else:
            sec.table(table, caption="MTP basis and training settings (config as used)")
        return
    sec.table(pd.DataFrame([prov.potential_row(obj, path)]), caption=f"potential {path}")


def _dataset(sec, path, df):
    sec.table(df, caption=path)


def _train(sec, path, df):
    png = columns_vs(df, "iteration", list(TRAIN_COLUMNS), TRAIN_COLUMNS, logy=True, title=path)
    if png:
        sec.image(png, f"training curve: {path}")
        last = df.tail(1).rename(columns={**TRAIN_COLUMNS, "iteration": "iteration (count)"})
        sec.table(last, caption=f"last iteration of {len(df)} logged")
    else:
        sec.absent(f"{path}: no 'iteration' column or none of {', '.join(TRAIN_COLUMNS)}; "
                   "table shown instead")
        sec.table(df.tail(20), caption=path)


AL_COLUMNS = {"n_selected": "configurations selected", "max_grade": "max grade met",
              "energy_rmse_meV_per_atom": "test RMSE E (meV/atom)",
              "force_rmse_eV_A": "test RMSE F (eV/Å)", "stress_rmse_GPa": "test RMSE stress (GPa)"}
AL_TABLE = {"iteration": "iteration", "n_runs": "exploration runs",
            "n_stopped_by_extrapolation": "stopped by extrapolation",
            "n_candidates": "candidates (saved above grade_save)", **AL_COLUMNS,
            "n_train": "training set of the potential (configurations)", "potential": "potential"}


def _al(sec, path, df):
    if "iteration" not in df.columns:
        sec.absent(f"{path}: no 'iteration' column (not an `mtpflow al-summary` CSV)")
        return
    sec.table(df.rename(columns=AL_TABLE), caption=(
        f"{path}: one row per iteration; row 0 is the potential before active learning (test "
        "errors on the dataset's test set; grades dimensionless)"))
    png = columns_vs(df, "iteration", list(AL_COLUMNS), AL_COLUMNS, title=path)
    if png:
        sec.image(png, f"active learning per iteration: {path}")


def _metric_table(blocks: dict, lead: dict | None = None) -> dict:
    row = dict(lead or {})
    for key, (name, unit) in METRIC_BLOCKS.items():
        m = blocks.get(key)
        if not isinstance(m, dict):
            continue
        for k, label in (("mae", "MAE"), ("rmse", "RMSE"), ("max", "max")):
            row[f"{name} {label} ({unit})"] = m.get(k)
        row[f"{name} R²"] = m.get("r2")
    return row


def _errors(sec, path, d):
    if not isinstance(d, dict):
        sec.absent(f"{path}: expected a JSON object")
        return
    cols = {}
    for key, (name, unit) in METRIC_BLOCKS.items():
        m = d.get(key)
        if isinstance(m, dict):
            cols[f"{name} ({unit})"] = [m.get(k) for k in ("mae", "rmse", "max", "r2", "count")]
    head = ", ".join(f"{k} = {d[k]}" for k in ("n_configs", "n_atoms") if k in d)
    if not cols:
        sec.absent(f"{path}: no energy_per_atom / forces / stress metrics")
        return
    table = pd.DataFrame({"metric": ["MAE", "RMSE", "max |error|", "R²", "count"], **cols})
    sec.table(table, caption=f"{path}: all test configurations pooled"
              + (f" ({head})" if head else "") + "; R² and count are dimensionless")
    groups = d.get("by_density")
    if groups:
        table = pd.DataFrame([_metric_table(g, {
            "density (g/cm³)": "no cell" if g.get("density_g_cm3") is None
            else g["density_g_cm3"], "configs": g.get("n_configs")}) for g in groups])
        sec.table(table, caption="by density: " + d.get("by_density_note", ""))
    elif "by_density" in d:
        sec.note(f"by density: {d.get('by_density_note', 'not computed')}")
    else:
        sec.note(f"{path}: no by_density block (written by an older calc-errors)")


def _parity(sec, path, pngs):
    for name, png in pngs:
        sec.image(png, f"{path}: {name}")


def _thermo(sec, path, obj):
    if hasattr(obj, "protocol"):                    # an MD run with its protocol
        sec.heading(f"MD run: {obj.protocol_path}")
        sec.table(prov.protocol_table(obj.protocol), caption=(
            f"protocol per stage (time step {obj.protocol.timestep_fs:g} fs)"))
        df = obj.thermo
        sec.table(prov.stage_summary(df, obj.protocol), caption=(
            f"thermo per stage: {len(df)} rows of {', '.join(obj.thermo_paths)}, split by "
            "the protocol's global step ranges"))
        title = obj.protocol_path
    else:
        df, title = obj, path
        sec.heading(f"thermo {path}")
        cols = [c for c in THERMO_COLUMNS if c in df.columns]
        if cols:
            stats = df[cols].agg(["mean", "std", "min", "max"]).T
            stats.index = [THERMO_COLUMNS[c] for c in stats.index]
            sec.table(stats.reset_index(names="quantity (unit)"), caption=(
                f"{path}: {len(df)} rows, one average over all of them: no protocol given "
                "(mtpflow report --md-run PROTOCOL THERMO... splits them per stage)"))
        else:
            sec.absent(f"{path}: none of the thermo columns {', '.join(THERMO_COLUMNS)}")
            return
    x = "time_ps" if "time_ps" in df.columns else "step"
    png = columns_vs(df, x, list(THERMO_COLUMNS), THERMO_COLUMNS, title=title)
    if png:
        sec.image(png, f"thermo: {title}")


def _analysis(sec, path, obj):
    summary, pngs = obj
    sec.heading(path)
    if summary is not None:
        rows = [{"quantity (unit)": label, "value": _scalar(summary[k])}
                for k, label in SUMMARY_KEYS.items() if k in summary]
        sec.table(pd.DataFrame(rows))
    else:
        sec.absent(f"{path}: no summary.json")
    for name, png in pngs:
        sec.image(png, f"{path}: {name}")


def _sweep(sec, path, df):
    sec.table(df, caption=f"{path}: one row per trajectory; units in the column names")
    if state_points(df) < 2:
        sec.absent(f"{path}: {ONE_POINT}")
        return
    drawn = 0
    for x in SWEEP_AXES:
        if x in df.columns and np.isfinite(pd.to_numeric(df[x], errors="coerce")).any():
            png = sweep_plot(df, x)
            if png:
                drawn += 1
                sec.image(png, f"{path}: D, σ, hop fraction and P_casc (null ± std) vs "
                          f"{SWEEP_AXES[x]}")
    if not drawn:
        sec.absent(f"{path}: no state variable ([CC], x or T) takes two values")


def _benchmarks(sec, path, rows):
    sec.table(prov.benchmark_table(rows), caption=(
        f"{path}: Snakemake benchmark files, one per job (wall time, resident memory); the "
        "running report job is not included (its benchmark is written after it; a 'report' "
        "row is an earlier report's)"))


def _scalar(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        return "; ".join(map(str, v)) if isinstance(v, list) else str(v)
    return "null" if v is None else str(v)


RENDER = {"provenance": _provenance, "config_used": _config_used, "model": _model,
          "dataset_summary": _dataset, "train_log": _train, "al_summary": _al, "errors": _errors,
          "parity_plots": _parity, "thermo": _thermo, "analysis": _analysis, "sweep": _sweep,
          "benchmarks": _benchmarks}
ABSENT_HINT = {"config_used": "give --config-used (the workflow writes "
                              "results/report/config_used.yaml)",
               "model": "give --potential or --config-used",
               "benchmarks": "give --benchmarks logs/benchmarks"}


# stages a run may leave out by choice: without inputs the section says so, and it is no warning
OPTIONAL_STAGES = {"al_summary": "Not run: active learning is off in this config "
                                 "(active_learning.iterations: 0); validation and MD use the trained "
                                 "potential of results/mtp/."}


def build_report(title, stages) -> Report:
    rep = Report(title)
    for key, stage_title in STAGES.items():
        sec = rep.section(stage_title)
        inputs = stages.get(key, [])
        if not inputs and key in OPTIONAL_STAGES:
            sec.not_run = True
            sec.note(OPTIONAL_STAGES[key])
            continue
        if not inputs:
            hint = ABSENT_HINT.get(key)
            sec.absent("not provided (stage absent from this run)" + (f": {hint}" if hint else ""))
            continue
        for path, obj, problem in inputs:
            if problem:
                sec.absent(problem)
                continue
            try:
                RENDER[key](sec, path, obj)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                sec.absent(f"{path}: could not render ({type(exc).__name__}: {exc})")
    return rep
