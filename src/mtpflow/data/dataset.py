"""Training/test sets: a seeded split by trajectory blocks and a per-density summary.

Block key of a configuration: its ``mtpflow_frame`` feature (<source>:<ordinal>, written by
`mtpflow collect` / `densify`) -> (source, ordinal // block_size); without the feature, (input
file, position in the file // block_size). All densities of a frame and its block_size-1
neighbours go to the same side, so no frame and its near-identical neighbour straddle the split
(only the frames at a block boundary are neighbours across it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from ase.units import GPa

from mtpflow.data.crystal import density_g_cm3
from mtpflow.errors import InputError

def feature(config, name: str) -> str | None:
    for key, value in config.features:
        if key == name:
            return value
    return None


def check_consistent(sets: Sequence[tuple[str, list]], species: Sequence[str]) -> str | None:
    """Refuse a mix of engines (EFS_by) or species orders, and configurations without energy,
    forces or finite numbers. Returns the common EFS_by label (None if no file names one)."""
    wanted = ",".join(species)
    labels = {}
    for path, configs in sets:
        for k, c in enumerate(configs):
            where = f"configuration {k + 1}"
            sp = feature(c, "mtpflow_species")
            if sp is not None and sp != wanted:
                raise InputError(f"{where} was written with species order {sp} but --species is "
                                 f"{wanted}; mixed species orders would scramble the types: pass "
                                 f"--species {sp} or re-collect with one order", path)
            if c.energy is None or c.forces is None:
                raise InputError(f"{where} has no energy or no forces; only evaluated "
                                 f"configurations can be training data", path)
            values = [np.array([c.energy]), c.forces, c.positions]
            if c.plus_stress is not None:
                values.append(c.plus_stress)
            if not all(np.all(np.isfinite(v)) for v in values):
                raise InputError(f"{where} contains NaN/inf", path)
            if c.n_atoms and int(c.types.max()) >= len(species):
                raise InputError(f"{where} has type {int(c.types.max())} but --species names only "
                                 f"{len(species)} elements", path)
            label = feature(c, "EFS_by")
            if label is not None:
                labels.setdefault(label, f"{path} ({where})")
    if len(labels) > 1:
        detail = "; ".join(f"{lab} in {where}" for lab, where in labels.items())
        raise InputError(f"the inputs mix reference engines ({detail}); their energy scales differ, "
                         f"so build one training set per engine")
    return next(iter(labels), None)


def block_keys(sets: Sequence[tuple[str, list]], block_size: int) -> list[tuple]:
    """Per configuration: (source, block). Frames of one source are ranked by their step number
    (distinct frames present in the inputs), and block_size consecutive ranks form a block."""
    if block_size < 1:
        raise InputError("--block-size must be ≥ 1 (frames per block)")
    raw = []
    for path, configs in sets:
        for pos, c in enumerate(configs):
            frame = feature(c, "mtpflow_frame")
            src, _, ordinal = (frame or "").rpartition(":")
            if frame and src and ordinal.lstrip("-").isdigit():
                raw.append((src, int(ordinal)))
            else:
                raw.append((f"file:{path}", pos))
    ranks: dict[str, dict[int, int]] = {}
    for src, ordinal in raw:
        ranks.setdefault(src, {})[ordinal] = 0
    for src, table in ranks.items():
        for r, ordinal in enumerate(sorted(table)):
            table[ordinal] = r
    return [(src, ranks[src][ordinal] // block_size) for src, ordinal in raw]


def split(keys: Sequence[tuple], test_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of test configurations: whole blocks, in an order shuffled with `seed`, each
    taken when it brings the test count closer to `test_fraction` of the configurations."""
    if not (0.0 <= test_fraction < 1.0):
        raise InputError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    n = len(keys)
    is_test = np.zeros(n, dtype=bool)
    if test_fraction == 0 or n == 0:
        return is_test
    blocks = list(dict.fromkeys(keys))
    if len(blocks) < 2:
        raise InputError(f"all {n} configurations fall in one block; lower --block-size to split "
                         f"them into a training and a test set")
    members: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    order = np.random.default_rng(seed).permutation(len(blocks))
    target = test_fraction * n
    taken = 0
    for rank, b in enumerate(order):
        size = len(members[blocks[b]])
        if rank == len(order) - 1 and taken + size == n:
            break  # never put every block in the test set
        # take a block when it brings the test share closer to the target (the first always)
        if taken == 0 or abs(taken + size - target) < abs(taken - target):
            is_test[members[blocks[b]]] = True
            taken += size
    return is_test


def summary_rows(named_sets: Sequence[tuple[str, list]], species: Sequence[str]) -> list[dict]:
    """One row per (set, density group): counts, energies per atom, force and stress ranges."""
    from ase.data import atomic_masses, atomic_numbers

    masses = np.array([atomic_masses[atomic_numbers[s]] for s in species])
    rows = []
    for set_name, configs in named_sets:
        groups: dict[str, list] = {}
        for c in configs:
            if c.cell is None:
                key = "non-periodic"
            else:
                vf = feature(c, "volume_factor")
                d = density_g_cm3(float(masses[c.types].sum()), c.volume)
                key = f"vf={vf}" if vf is not None else f"d={d:.2f}"
            groups.setdefault(key, []).append(c)
        for key in sorted(groups, key=lambda k: _density_of(groups[k], masses)):
            rows.append(_row(set_name, key, groups[key], masses))
    return rows


def _density_of(configs, masses) -> float:
    ds = [density_g_cm3(float(masses[c.types].sum()), c.volume) for c in configs if c.cell is not None]
    return float(np.mean(ds)) if ds else math.inf


def _row(set_name: str, key: str, configs: list, masses) -> dict:
    e_atom = np.array([c.energy / c.n_atoms for c in configs])
    fnorm = max(float(np.sqrt((c.forces ** 2).sum(axis=1)).max()) if c.n_atoms else 0.0
                for c in configs)
    stresses = [c.stress_ase() / GPa for c in configs if c.stress_ase() is not None]
    smin = min(float(s.min()) for s in stresses) if stresses else math.nan
    smax = max(float(s.max()) for s in stresses) if stresses else math.nan
    pressure = float(np.mean([-s[:3].mean() for s in stresses])) if stresses else math.nan
    vf = key[3:] if key.startswith("vf=") else ""
    return {
        "set": set_name,
        "volume_factor": vf,
        "density_g_cm3": round(_density_of(configs, masses), 4),
        "n_configs": len(configs),
        "n_atoms": int(sum(c.n_atoms for c in configs)),
        "energy_min_eV_per_atom": round(float(e_atom.min()), 6),
        "energy_max_eV_per_atom": round(float(e_atom.max()), 6),
        "force_max_norm_eV_per_A": round(fnorm, 4),
        "stress_min_GPa": round(smin, 4),
        "stress_max_GPa": round(smax, 4),
        "pressure_mean_GPa": round(pressure, 4),
    }
