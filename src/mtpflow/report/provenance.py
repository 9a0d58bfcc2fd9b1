"""What produced a run, as report tables (pure functions on loaded data: the CLI reads the files).

    config_table(cfg)                 the config as used, one row per (dotted) key
    training_settings(cfg)            MTP and training keys of the config
    potential_row(pot, path)          level, species, basis and cutoffs of a potential
    protocol_table(protocol)          the MD protocol per stage
    stage_summary(thermo, protocol)   mean ± std of T, E_pot, P, V per protocol stage
    benchmark_table(rows)             per-rule wall time and memory from Snakemake benchmarks
    reference_rows(labels, cfg, versions)   the reference engine and its version
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STAGE_COLUMNS = {"temperature_K": "T (K)", "potential_energy_eV": "E_pot (eV)",
                 "pressure_GPa": "P (GPa)", "volume_A3": "V (Å³)"}


def _value(v) -> str:
    if isinstance(v, bool) or v is None:
        return "null" if v is None else str(v).lower()
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x) for x in v) if v else "[]"
    return str(v)


def flatten(d, prefix="") -> list[tuple[str, object]]:
    """Nested mappings -> [(dotted key, leaf value)] in the mapping's order; lists stay leaves
    unless they hold mappings."""
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.extend(flatten(v, key + "."))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, x in enumerate(v):
                out.extend(flatten(x, f"{key}[{i}]."))
        else:
            out.append((key, v))
    return out


def config_table(cfg: dict) -> pd.DataFrame:
    """Every key of the config as used (units are in the key names: _K, _fs, _ps, _A, _mb;
    resources.*.runtime in minutes)."""
    return pd.DataFrame([{"key (unit in the name)": k, "value": _value(v)}
                         for k, v in flatten(cfg)])


def training_settings(cfg: dict) -> pd.DataFrame | None:
    """MTP basis and training keys of the config, with their units, or None without them."""
    units = {"mtp.levels": "", "mtp.min_dist_A": "Å", "mtp.max_dist_A": "Å",
             "mtp.radial_basis_size": "functions", "train.energy_weight": "1/eV²",
             "train.force_weight": "Å²/eV²", "train.stress_weight": "1/eV²",
             "train.max_iter": "iterations",
             "train.tolerance": "relative", "train.seed": "", "resources.train.tasks":
             "MPI ranks", "resources.train.threads": "threads per rank"}
    flat = dict(flatten(cfg))
    rows = [{"setting": k, "value": _value(flat[k]), "unit": u} for k, u in units.items()
            if k in flat]
    rows += [{"setting": k, "value": _value(v), "unit": ""} for k, v in flat.items()
             if k.startswith("train.") and k not in units]
    return pd.DataFrame(rows) if rows else None


def potential_row(pot, path) -> dict:
    return {"file": str(path), "MTP level": pot.level,
            "species (type order)": ",".join(pot.species) if pot.species else "not named",
            "basis functions": pot.alpha_scalar_moments, "parameters": pot.n_params(),
            "radial basis size": pot.radial_basis_size, "min_dist (Å)": pot.min_dist,
            "max_dist (Å)": pot.max_dist, "trained": pot.is_trained,
            "training-set hash": pot.metadata.get("training_set_hash", "–")}


def protocol_table(protocol) -> pd.DataFrame:
    """One row per stage: type, ensemble, thermostat, thermostat target from → to (K), steps,
    global step range, time (ps), cooling rate (K/s; quench stages), pressure (GPa; npt)."""
    dt = protocol.timestep_fs
    rows = []
    for i, (st, (a, b)) in enumerate(zip(protocol.stages, protocol.stage_bounds())):
        t_ps = st.n_steps * dt * 1e-3
        rate = None
        if st.start_K is not None and st.end_K != st.start_K and st.n_steps:
            rate = abs(st.end_K - st.start_K) / (st.n_steps * dt * 1e-15)
        rows.append({
            "stage": f"{i + 1} {st.name or st.type}", "ensemble": st.ensemble,
            "thermostat": "none" if st.ensemble == "nve" else st.thermostat,
            "T_start → T_end (K)": ("–" if st.start_K is None else
                                    f"{st.start_K:g} → {st.end_K:g}"),
            "steps": st.n_steps, "global steps": f"{a + 1}–{b}" if st.n_steps else "–",
            "time (ps)": t_ps, "quench rate (K/s)": "–" if rate is None else f"{rate:.3g}",
            "pressure (GPa)": f"{st.pressure_GPa:g}" if st.ensemble == "npt" else "–"})
    return pd.DataFrame(rows)


def stage_of_steps(steps, protocol) -> np.ndarray:
    """Stage index of each global step (stage i holds steps a_i+1 .. b_i; step 0, the initial
    state, goes with the first stage); -1 beyond the protocol's last step."""
    bounds = protocol.stage_bounds()
    ends = np.array([b for _, b in bounds])
    steps = np.asarray(steps, dtype=np.int64)
    idx = np.searchsorted(ends, np.maximum(steps, 1), side="left")
    return np.where(idx < len(bounds), idx, -1)


def stage_summary(thermo: pd.DataFrame, protocol) -> pd.DataFrame:
    """mean ± std of T (K), E_pot (eV), P (GPa) and V (Å³) over the thermo rows of each stage
    (rows split by the protocol's global step ranges), with the rows and steps covered."""
    stage = stage_of_steps(thermo["step"].to_numpy(), protocol)
    rows = []
    for i, st in enumerate(protocol.stages):
        sel = thermo[stage == i]
        row = {"stage": f"{i + 1} {st.name or st.type}", "rows": len(sel),
               "steps covered": (f"{int(sel['step'].min())}–{int(sel['step'].max())}"
                                 if len(sel) else "–")}
        for col, label in STAGE_COLUMNS.items():
            if col not in thermo.columns:
                continue
            v = sel[col].to_numpy(dtype=float)
            row[f"{label} mean ± std"] = (f"{v.mean():.6g} ± {v.std(ddof=1):.3g}" if v.size > 1
                                          else f"{v[0]:.6g}" if v.size else "no rows")
        rows.append(row)
    beyond = int((stage < 0).sum())
    if beyond:
        rows.append({"stage": "beyond the protocol", "rows": beyond, "steps covered":
                     f"> {protocol.total_steps}"})
    return pd.DataFrame(rows)


def benchmark_table(rows: list[dict]) -> pd.DataFrame:
    """rows: {rule, s, max_rss, cpu_time} per benchmark file (Snakemake: s = wall seconds,
    max_rss in MB, cpu_time in s; NaN where Snakemake wrote NA, e.g. a job too short to sample
    its memory). One row per rule, slowest first, and a total."""
    df = pd.DataFrame(rows)
    for c in ("s", "max_rss", "cpu_time"):
        df[c] = pd.to_numeric(df.get(c), errors="coerce")
    g = df.groupby("rule")
    out = pd.DataFrame({"jobs": g.size(), "total wall (s)": g["s"].sum(),
                        "longest job (s)": g["s"].max(),
                        "CPU time (s)": g["cpu_time"].sum(min_count=1),
                        "max RSS (MB)": g["max_rss"].max()})
    out = out.sort_values("total wall (s)", ascending=False).reset_index(names="rule")
    total = {"rule": "all rules", "jobs": int(out["jobs"].sum()),
             "total wall (s)": float(out["total wall (s)"].sum()),
             "longest job (s)": float(out["longest job (s)"].max()),
             "CPU time (s)": float(out["CPU time (s)"].sum()),
             "max RSS (MB)": float(out["max RSS (MB)"].max())}
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def reference_rows(labels: dict, cfg: dict | None, versions: dict) -> list[dict]:
    """The reference engine: labels = {EFS_by label: {file: configurations}} read from the data
    sets, cfg = the config as used, versions = installed package versions (name -> version)."""
    rows = []
    for label, files in labels.items():
        where = "; ".join(f"{n} configurations in {f}" for f, n in files.items())
        rows.append({"item": "reference engine (Feature EFS_by of the data)", "value": label,
                     "source": where})
        if label.lower().startswith("chgnet"):
            model = label.split("-", 1)[1] if "-" in label else "?"
            rows.append({"item": "CHGNet model", "value": model, "source": "the EFS_by label"})
            for pkg in ("chgnet", "torch"):
                rows.append({"item": f"{pkg} package", "value": versions.get(pkg, "not installed"),
                             "source": "installed where this report was built"})
        elif label.upper().startswith("VASP"):
            rows.append({"item": "VASP version", "value": "not recorded",
                         "source": "the collected files (.cfg) name the engine only"})
    if cfg:
        ref = cfg.get("reference", {})
        if ref.get("engine"):
            rows.append({"item": "reference engine (config)", "value": ref["engine"],
                         "source": "reference.engine"})
        for k, v in flatten(ref.get("vasp", {}), "reference.vasp."):
            rows.append({"item": k, "value": _value(v), "source": "config"})
    if not rows:
        rows.append({"item": "reference engine", "value": "unknown",
                     "source": "give --reference-data (the data set .cfg) or --config-used"})
    return rows
