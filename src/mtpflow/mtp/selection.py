"""MLIP-3's select_add with multiple selection: which candidate configurations extend a training
set's active set (mtpflow.mtp.grade) the most.

All candidates go into one MaxVol search (mtpflow.mtp.maxvol) that starts from TRAIN's active set,
as MLIP-3's select_add does with its whole candidate file, not one configuration after another
(which adds many near-duplicates when a trajectory stays in one extrapolative region):

1. exact duplicates (same types, positions and cell) are dropped, the first one kept;
2. every candidate is graded against TRAIN's active set; only candidates grading above the
   threshold may enter (all their rows: every neighbourhood in nbh mode);
3. MaxVol swaps the largest |c_j| of all their rows into the active set while it exceeds the
   threshold (displaced rows, TRAIN's included, may come back);
4. the selection is every candidate with a row in the final active set. With max_configs = N, the
   first N candidates that MaxVol swaps in (the most extrapolative first) are the only ones that
   may enter from then on, and the search continues among them.

Afterwards every row of the selected candidates grades <= the threshold against the new active
set, i.e. once the selection is added to TRAIN it is no longer extrapolative.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtpflow.errors import InputError
from mtpflow.mtp.grade import ActiveSet, Grader, _rows
from mtpflow.mtp.maxvol import maxvol
from mtpflow.structures import Configuration


@dataclass
class SelectResult:
    """selected: candidate indices (into the list given, ascending) that entered the active set;
    grades (n_candidates,): each candidate's grade against TRAIN's active set; duplicate_of
    (n_candidates,): the index of an earlier identical candidate, or -1; n_eligible: distinct
    candidates grading above the threshold; order: the selected indices in the order MaxVol
    first swapped them in; active: the active set after the selection (source (config, atom):
    config >= 0 indexes TRAIN, -2 - k candidate k; (-1, j) init rows); n_swaps: swaps made."""

    selected: list[int]
    grades: np.ndarray
    duplicate_of: np.ndarray
    n_eligible: int
    order: list[int]
    active: ActiveSet
    n_swaps: int


def _config_digest(c: Configuration) -> bytes:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(c.types, dtype=np.int64).tobytes() + b"|")
    h.update(np.ascontiguousarray(c.positions, dtype=np.float64).tobytes() + b"|")
    h.update(b"none" if c.cell is None else np.ascontiguousarray(c.cell, dtype=np.float64).tobytes())
    return h.digest()


def select_add(pot, active: ActiveSet, candidates: Sequence[Configuration], *,
               threshold: float | None = None, max_configs: int | None = None, tables=None,
               where=None) -> SelectResult:
    """Multiple selection over `candidates` starting from TRAIN's `active` set (module doc).
    threshold: default the active set's (1.001); max_configs: at most that many selected.
    `where` names the candidates' file in errors (an empty list is an InputError)."""
    candidates = list(candidates)
    if not candidates:
        raise InputError("no candidate configurations to select from", where)
    threshold = active.threshold if threshold is None else float(threshold)
    if not (threshold >= 1.0):
        raise InputError(f"the selection threshold must be >= 1, got {threshold}")
    if max_configs is not None and max_configs < 1:
        raise InputError(f"--max-configs must be >= 1, got {max_configs}")
    grader = Grader(pot, active, tables)
    seen: dict[bytes, int] = {}
    dup = np.full(len(candidates), -1, dtype=np.int64)
    grades = np.zeros(len(candidates))
    pool_rows, pool_group, pool_atom = [], [], []
    for k, c in enumerate(candidates):
        key = _config_digest(c)
        if key in seen:
            dup[k] = seen[key]
            grades[k] = grades[seen[key]]
            continue
        seen[key] = k
        loc = f"configuration {k}" if where is None else f"{where}, configuration {k}"
        try:
            rows, counts, _ = _rows(pot, [c], active.mode, grader.tables, None)
        except InputError as exc:
            raise InputError(f"{loc}: {exc}") from None
        if counts[0] == 0:
            continue
        if active.mode == "nbh":
            g = float(grader.nbh_grades(rows, c.types).max())
        else:
            g = float(np.abs(rows[0] @ active.A_inv).max())
        grades[k] = g
        if g > threshold:
            pool_rows.append(rows)
            pool_group.append(np.full(len(rows), k, dtype=np.int64))
            pool_atom.append(np.arange(len(rows)) if active.mode == "nbh" else np.full(1, -1))
    n_eligible = len(pool_rows)
    m = pot.n_params()
    rows = np.concatenate(pool_rows) if pool_rows else np.zeros((0, m))
    group = np.concatenate(pool_group) if pool_group else np.zeros(0, dtype=np.int64)
    atom = np.concatenate(pool_atom) if pool_atom else np.zeros(0, dtype=np.int64)
    res = maxvol(rows, base=active.A, threshold=threshold, init_value=active.init_value,
                 groups=group, max_groups=max_configs or 0)
    n = len(rows)
    from_pool = res.sel < n
    selected = sorted({int(group[i]) for i in res.sel[from_pool]})
    order = []
    for i0, _ in res.history:
        if i0 < n and int(group[i0]) in selected and int(group[i0]) not in order:
            order.append(int(group[i0]))
    src = np.empty((m, 2), dtype=np.int64)
    src[from_pool, 0] = -2 - group[res.sel[from_pool]]
    src[from_pool, 1] = atom[res.sel[from_pool]]
    src[~from_pool] = active.source[res.sel[~from_pool] - n]
    new = ActiveSet(mode=active.mode, A=res.A, A_inv=res.A_inv, source=src, threshold=threshold,
                    init_value=active.init_value, n_swaps=res.n_swaps, n_rows=active.n_rows + n)
    return SelectResult(selected=selected, grades=grades, duplicate_of=dup, n_eligible=n_eligible,
                        order=order, active=new, n_swaps=res.n_swaps)
