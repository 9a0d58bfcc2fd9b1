"""MLIP-3's extrapolation grade (D-optimality / MaxVol) for an MTP, and multiple selection.

Rows ("equations", length m = pot.n_params(), MLIP's coefficient order: radial, species, moment):
- nbh mode: one row per neighbourhood (atom), b_i = dV_i/dtheta;
- cfg mode: one row per configuration, b = (dE/dtheta) / N^(p/2) with MLIP's weight_scaling p = 2,
  i.e. divided by the atom count N (MLIP-3's cfg_selection PrepareMatrix with energy_weight 1).

The active set of a training set is the m rows MaxVol picks from its rows (mtpflow.mtp.maxvol,
MLIP's start A = 1e-6 I and threshold 1.001). A row b grades gamma = max_j |(b A^-1)_j|; a
configuration grades the largest gamma of its rows (nbh: of its atoms). gamma <= 1 is
interpolation, gamma > 1 extrapolation; every training row grades <= the threshold.

    active = build_active_set(pot, train_configs, "nbh")
    result = grade_configs(pot, active, configs)        # .grades (per configuration), .nbh_grades
    sel = select_add(pot, active, candidates)            # .selected: candidate indices to add

No file I/O here (mtpflow.io.active_set caches active sets; the CLI writes the .cfg files).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mtpflow.errors import InputError
from mtpflow.mtp.maxvol import INIT_VALUE, THRESHOLD, maxvol
from mtpflow.structures import Configuration

MODES = ("nbh", "cfg")
WEIGHT_SCALING = 2  # MLIP-3's default weight_scaling for cfg-mode rows: divided by N^(2/2)
FORMAT = "mtpflow-active-set-1"


@dataclass
class ActiveSet:
    """The m rows A that MaxVol chose, and A^-1 (a row b grades max |b @ A_inv|).

    source (m, 2): (configuration, atom) in the training set of each row of A; atom is -1 in cfg
    mode; (-1, j) for an init row init_value * e_j that no training row displaced (the training
    rows span fewer than m directions). key: the cache key (potential, training set, mode,
    threshold, init value)."""

    mode: str
    A: np.ndarray
    A_inv: np.ndarray
    source: np.ndarray
    threshold: float = THRESHOLD
    init_value: float = INIT_VALUE
    key: str = ""
    n_swaps: int = 0
    n_rows: int = 0  # training rows MaxVol chose from
    from_cache: bool = field(default=False, compare=False)

    @property
    def n_init_rows(self) -> int:
        return int(np.sum(self.source[:, 0] < 0))


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"unknown grade mode {mode!r}; use nbh (one row per neighbourhood) or cfg "
                         "(one row per configuration)")
    return mode


def training_digest(configs: Sequence[Configuration]) -> str:
    """SHA-256 over what the rows depend on: every configuration's types, positions and cell."""
    h = hashlib.sha256()
    h.update(f"{len(configs)};".encode())
    for c in configs:
        h.update(np.ascontiguousarray(c.types, dtype=np.int64).tobytes() + b"|")
        h.update(np.ascontiguousarray(c.positions, dtype=np.float64).tobytes() + b"|")
        h.update(b"none" if c.cell is None else np.ascontiguousarray(c.cell, dtype=np.float64).tobytes())
        h.update(b";")
    return h.hexdigest()


def cache_key(pot, configs: Sequence[Configuration], mode: str, threshold: float = THRESHOLD,
              init_value: float = INIT_VALUE) -> str:
    """The key of an active set: the potential's model digest, the training set's content digest,
    the mode, the MaxVol threshold and init value (and this format's version)."""
    text = "|".join([FORMAT, pot.model_digest(), training_digest(configs), check_mode(mode),
                     repr(float(threshold)), repr(float(init_value))])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _rows(pot, configs, mode, tables, where, nls=None):
    from mtpflow.mtp.evaluate import site_parameter_gradients

    g = site_parameter_gradients(pot, configs, tables=tables, rows=(mode == "nbh"), where=where, nls=nls)
    counts = np.diff(g.atom_offsets)
    if mode == "nbh":
        return g.rows, counts, g
    scale = np.where(counts > 0, counts.astype(np.float64) ** (WEIGHT_SCALING / 2.0), 1.0)
    return g.config_sums / scale[:, None], counts, g


def training_rows(pot, configs: Sequence[Configuration], mode: str, tables=None, where=None):
    """(rows (n, m), source (n, 2)) of a training set: one row per atom (nbh; source (config,
    atom)) or per non-empty configuration (cfg; source (config, -1))."""
    rows, counts, g = _rows(pot, list(configs), check_mode(mode), tables, where)
    if mode == "nbh":
        cfg = np.repeat(np.arange(len(counts)), counts)
        atom = np.arange(len(rows)) - g.atom_offsets[cfg]
        return rows, np.column_stack([cfg, atom]).astype(np.int64)
    keep = counts > 0
    return rows[keep], np.column_stack([np.flatnonzero(keep), np.full(int(keep.sum()), -1)]).astype(np.int64)


def check_training_species(pot, configs: Sequence[Configuration], where=None) -> None:
    """InputError unless the training set has atoms of every type 0..species_count-1 and no other:
    without atoms of a type, every neighbourhood of that type would grade as an extrapolation."""
    if sum(c.n_atoms for c in configs) == 0:
        raise InputError("the training set has no atoms, so no rows to choose an active set from; "
                         "give the training set the potential was trained on", where)
    present = np.zeros(pot.species_count, dtype=bool)
    for k, c in enumerate(configs):
        if c.n_atoms and (c.types.min() < 0 or c.types.max() >= pot.species_count):
            bad = int(c.types.max())
            raise InputError(f"configuration {k} has atom type {bad}, but the potential has "
                             f"species_count = {pot.species_count} (types 0..{pot.species_count - 1}); "
                             "grade with the potential trained on this training set", where)
        present[np.unique(c.types)] = True
    if not present.all():
        missing = [str(t) + (f" ({pot.species[t]})" if pot.species else "") for t in np.flatnonzero(~present)]
        raise InputError(f"the training set has no atoms of type {', '.join(missing)} but the potential "
                         f"has species_count = {pot.species_count}: every neighbourhood of such an atom "
                         "would grade as an extrapolation; give the training set the potential was "
                         "trained on", where)


def build_active_set(pot, configs: Sequence[Configuration], mode: str = "nbh", *,
                     threshold: float = THRESHOLD, init_value: float = INIT_VALUE, tables=None,
                     where=None) -> ActiveSet:
    """MaxVol over the training set's rows (see the module doc). InputError (naming `where`, the
    training set's file) for a training set without rows or with types the potential lacks."""
    configs = list(configs)
    check_mode(mode)
    check_training_species(pot, configs, where)
    rows, source = training_rows(pot, configs, mode, tables, where)
    res = maxvol(rows, threshold=threshold, init_value=init_value)
    m = rows.shape[1]
    src = np.empty((m, 2), dtype=np.int64)
    from_rows = res.sel < len(rows)
    src[from_rows] = source[res.sel[from_rows]]
    src[~from_rows, 0] = -1
    src[~from_rows, 1] = res.sel[~from_rows] - len(rows)
    return ActiveSet(mode=mode, A=res.A, A_inv=res.A_inv, source=src, threshold=float(threshold),
                     init_value=float(init_value), key=cache_key(pot, configs, mode, threshold, init_value),
                     n_swaps=res.n_swaps, n_rows=len(rows))


def _nbh_columns(pot) -> list[np.ndarray]:
    """Per species z, the coefficients a site gradient of an atom of type z can depend on: the
    radial coefficients of the pairs (z, *), species coefficient z and the moment coefficients."""
    s, r, b = pot.species_count, pot.radial_funcs_count, pot.radial_basis_size
    n_rad = s * s * r * b
    block = s * r * b
    moments = np.arange(n_rad + s, pot.n_params())
    return [np.concatenate([np.arange(z * block, (z + 1) * block), [n_rad + z], moments]) for z in range(s)]


class Grader:
    """Grades configurations against one active set (re-usable: MD grades every K steps).

    grade(config) -> (gamma of the configuration, per-atom gammas (nbh) or None (cfg))."""

    def __init__(self, pot, active: ActiveSet, tables=None):
        from mtpflow.mtp.evaluate import build_tables

        if active.A_inv.shape != (pot.n_params(), pot.n_params()):
            raise InputError(f"the active set has {len(active.A_inv)} coefficients but the potential "
                             f"has {pot.n_params()}")
        self.pot, self.active = pot, active
        self.tables = tables if tables is not None else build_tables(pot)
        self.cols = _nbh_columns(pot)
        self.A_inv_z = [np.ascontiguousarray(active.A_inv[c]) for c in self.cols]

    def nbh_grades(self, rows: np.ndarray, types: np.ndarray) -> np.ndarray:
        """max_j |(b_i A^-1)_j| for site-gradient rows (n, m) of atoms of the given types."""
        out = np.zeros(len(rows))
        for z, (cols, ainv) in enumerate(zip(self.cols, self.A_inv_z)):
            idx = np.flatnonzero(types == z)
            if len(idx):
                out[idx] = np.abs(rows[np.ix_(idx, cols)] @ ainv).max(axis=1)
        return out

    def grade(self, config: Configuration, where=None, nl=None):
        """nl: the configuration's neighbour list (cutoff >= max_dist) to re-use, if at hand."""
        rows, counts, _ = _rows(self.pot, [config], self.active.mode, self.tables, where, [nl])
        if counts[0] == 0:
            return 0.0, (np.zeros(0) if self.active.mode == "nbh" else None)
        if self.active.mode == "nbh":
            g = self.nbh_grades(rows, np.asarray(config.types))
            return float(g.max()), g
        return float(np.abs(rows[0] @ self.active.A_inv).max()), None


@dataclass
class GradeResult:
    grades: np.ndarray                   # (n_configs,) the configuration's grade
    nbh_grades: list[np.ndarray] | None  # nbh mode: each configuration's per-atom grades


def grade_configs(pot, active: ActiveSet, configs: Sequence[Configuration], tables=None,
                  where=None) -> GradeResult:
    """The grade of every configuration (one at a time: memory O(atoms x coefficients) of the
    largest configuration). `where` names the configurations' file in errors."""
    grader = Grader(pot, active, tables)
    grades, per_atom = [], []
    for k, c in enumerate(configs):
        try:
            g, nbh = grader.grade(c)
        except InputError as exc:
            loc = f"configuration {k}" if where is None else f"{where}, configuration {k}"
            raise InputError(f"{loc}: {exc}") from None
        grades.append(g)
        per_atom.append(nbh)
    return GradeResult(np.array(grades, dtype=np.float64), per_atom if active.mode == "nbh" else None)


def with_grade(config: Configuration, grade: float, nbh_grades: np.ndarray | None) -> Configuration:
    """A copy of `config` with `Feature MV_grade` (replacing an earlier one) and, in nbh mode, the
    AtomData column nbh_grades (cfg mode drops an earlier nbh_grades column: it would disagree)."""
    import copy

    out = copy.copy(config)
    out.features = [(k, v) for k, v in config.features if k != "MV_grade"] + [("MV_grade", repr(float(grade)))]
    data = {k: v for k, v in config.atom_data.items() if k != "nbh_grades"}
    if nbh_grades is not None and config.n_atoms:
        data["nbh_grades"] = np.asarray(nbh_grades, dtype=np.float64).copy()
    out.atom_data = data
    return out
