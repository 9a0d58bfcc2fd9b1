"""Composition/temperature sweep: one row per analysed trajectory (from summary.json dicts),
with the charge-carrier concentration [CC] as Li number density and as x (N_species / N_ref,
e.g. x in Li_xAlCl_{3+x} with ref = Al)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtpflow.errors import InputError

SWEEP_COLUMNS = ["label", "species", "temperature_K", "n_ions", "volume_A3",
                 "cc_density_per_nm3", "x", "D_A2_per_ps", "conductivity_S_per_cm",
                 "hop_fraction", "hop_rate_per_ion_ps", "n_hops", "hop_distance_A", "p_casc",
                 "p_casc_null", "p_casc_null_std", "p_casc_ratio", "p_casc_z",
                 "p_casc_exceeds_null", "p_casc_verdict", "msd_loglog_slope", "duration_ps",
                 "source"]
TEXT_COLUMNS = ("label", "species", "source", "p_casc_exceeds_null", "p_casc_verdict")
REQUIRED = ("species", "n_frames", "dt_ps", "D_A2_per_ps", "hop_fraction", "p_casc")


def sweep_row(label, summary, reference_element="Al"):
    missing = [k for k in REQUIRED if k not in summary]
    if missing:
        raise InputError(f"not an `mtpflow analyze` summary: missing keys {', '.join(missing)}",
                         label)
    comp = summary.get("composition") or {}
    n_ref = comp.get(reference_element)
    n_sp = summary.get("n_ions", comp.get(summary["species"]))
    row = {c: summary.get(c) for c in SWEEP_COLUMNS}
    row["label"] = label
    row["x"] = (n_sp / n_ref) if (n_ref and n_sp) else None
    return row


def sweep_table(items, reference_element="Al") -> pd.DataFrame:
    """items: (label, summary dict) pairs -> DataFrame sorted by temperature then [CC]."""
    if not items:
        raise InputError("sweep needs at least one summary.json")
    rows = [sweep_row(label, s, reference_element) for label, s in items]
    df = pd.DataFrame(rows, columns=SWEEP_COLUMNS)
    for c in SWEEP_COLUMNS:
        if c not in TEXT_COLUMNS:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    species = set(df["species"])
    if len(species) > 1:
        raise InputError(f"summaries are for different species {sorted(species)}; sweep one "
                         "species at a time")
    return df.sort_values(["temperature_K", "cc_density_per_nm3"], na_position="first",
                          kind="stable").reset_index(drop=True)


def has_x(df) -> bool:
    return bool(np.isfinite(df["x"].to_numpy(dtype=float)).any())
