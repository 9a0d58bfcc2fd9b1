"""MaxVol as MLIP-3 runs it: choose m rows A (an m x m matrix) out of a pool of rows of length m so
that |det A| is (locally) maximal, by greedy row swaps with rank-1 (Sherman-Morrison) updates.

MLIP-3 (maxvol.cpp, cfg_selection.cpp) starts from A = init_value * I (1e-6): its m "init rows"
init_value * e_j. With c(b) = b A^-1 for a candidate row b, it swaps the row b and the slot j with
the largest |c_j| over all candidates into A while that |c_j| exceeds `threshold` (1.001); every
swap multiplies |det A| by |c_j| > 1. The row a swap displaces goes back to the pool and may
return. When the pool spans fewer than m directions, some init rows are never displaced: they
stay in A, and a later row with a component along such a direction grades about
|component| / init_value (a very large grade: the training set has no extent there). This module
does the same, with the init rows as the last m rows of the pool.

The kernels update C = pool A^-1 (one rank-1 update per swap, O(rows x m)) and keep every row's
largest |c_j|, so a swap costs one pass over C; A^-1 itself is never updated per swap. Every
`refresh_every` swaps and at the end, A^-1 is recomputed from A by LU (in coordinates where the
pool's columns have unit maximum, which leaves c unchanged) and C from it, so round-off cannot
build up; the search ends only when the recomputed C has no |c_j| above the threshold.

Numba kernels take arrays only; `maxvol` validates its input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mtpflow.jit import njit

INIT_VALUE = 1e-6  # MLIP-3's MaxVol init_value (diagonal of the initial A)
THRESHOLD = 1.001  # MLIP-3's selection threshold


@njit(cache=True)
def _row_max(C, p):
    best = 0.0
    arg = 0
    for j in range(C.shape[1]):
        v = abs(C[p, j])
        if v > best:
            best = v
            arg = j
    return best, arg


@njit(cache=True)
def _all_row_max(C, rowmax, rowarg):
    for p in range(C.shape[0]):
        rowmax[p], rowarg[p] = _row_max(C, p)


@njit(cache=True)
def _swaps(C, rowmax, rowarg, allowed, sel, group, entered, n_entered, max_groups, threshold,
           max_swaps, history):
    """Greedy swaps on C = pool A^-1 until no allowed row has |c_j| > threshold or max_swaps are
    made. sel[j]: pool row in slot j. group[p] >= 0: the candidate group (configuration) of pool
    row p, -1 for rows that never count; entered[g] marks groups that had a row swapped in;
    once max_groups (> 0) groups have entered, the rows of the other groups are disallowed.
    history[k] = (pool row, slot) of swap k. Returns (swaps made, groups entered)."""
    n_pool, m = C.shape
    u = np.empty(m)
    n_swaps = 0
    while n_swaps < max_swaps:
        i0 = -1
        best = threshold
        for p in range(n_pool):
            if allowed[p] and rowmax[p] > best:
                best = rowmax[p]
                i0 = p
        if i0 < 0:
            break
        j0 = rowarg[i0]
        pivot = C[i0, j0]
        for j in range(m):
            u[j] = C[i0, j]
        u[j0] -= 1.0
        for p in range(n_pool):
            f = C[p, j0]
            if f != 0.0:
                f /= pivot
                for j in range(m):
                    C[p, j] -= f * u[j]
                rowmax[p], rowarg[p] = _row_max(C, p)
        sel[j0] = i0
        history[n_swaps, 0] = i0
        history[n_swaps, 1] = j0
        n_swaps += 1
        g = group[i0]
        if g >= 0 and not entered[g]:
            entered[g] = True
            n_entered += 1
            if max_groups > 0 and n_entered >= max_groups:
                for p in range(n_pool):
                    gp = group[p]
                    if gp >= 0 and not entered[gp]:
                        allowed[p] = False
    return n_swaps, n_entered


@dataclass
class MaxVolResult:
    """sel (m,): the pool row in every slot of A (pool rows n.. n+m-1 are the base rows);
    A (m, m): the rows in A; A_inv (m, m): A^-1, so a row b grades max_j |(b @ A_inv)_j|;
    n_swaps: swaps made; max_c: the largest |c_j| over the pool rows that may enter, at the end
    (<= the threshold unless max_swaps ended the search); entered (n_groups,): groups that had a
    row swapped in at some point; history (n_swaps, 2): (pool row, slot) of every swap in order."""

    sel: np.ndarray
    A: np.ndarray
    A_inv: np.ndarray
    n_swaps: int
    max_c: float
    entered: np.ndarray
    history: np.ndarray


def _inverse(A: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """A^-1 computed as diag(1/scale) (A diag(1/scale))^-1, i.e. in coordinates where the pool's
    columns have unit maximum (c = b A^-1 is the same in both)."""
    inv_s = np.linalg.solve(A / scale[None, :], np.eye(len(A)))
    return inv_s / scale[:, None]


def maxvol(rows: np.ndarray, *, base: np.ndarray | None = None, threshold: float = THRESHOLD,
           init_value: float = INIT_VALUE, groups: np.ndarray | None = None, max_groups: int = 0,
           allowed: np.ndarray | None = None, refresh_every: int | None = None,
           max_swaps: int | None = None) -> MaxVolResult:
    """MLIP-3's MaxVol over the pool: `rows` (n, m), then the m rows of `base`.

    base (m, m): the active set to start from, A = base (select-add: TRAIN's active set); its rows
      return to the pool when displaced. Default init_value * I (MLIP's start: the init rows).
    groups (n,): group id (>= 0, e.g. the configuration) of every row, -1 for rows that never
      count; max_groups > 0: once that many groups had a row swapped in, only rows of those groups
      (and of group -1, and base rows) may enter (select-add --max-configs).
    allowed (n,) bool: rows that may enter at all (default all); base rows always may.
    Raises ValueError for bad arrays (the callers validate their files)."""
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] < 1:
        raise ValueError(f"rows must have shape (n, m) with m >= 1, got {rows.shape}")
    n, m = rows.shape
    if not np.all(np.isfinite(rows)):
        raise ValueError("rows contain NaN or inf")
    if not (threshold >= 1.0):
        raise ValueError(f"threshold must be >= 1, got {threshold}")
    if not (init_value > 0):
        raise ValueError(f"init_value must be > 0, got {init_value}")
    base = init_value * np.eye(m) if base is None else np.array(base, dtype=np.float64)
    if base.shape != (m, m) or not np.all(np.isfinite(base)):
        raise ValueError(f"base must be a finite ({m}, {m}) matrix, got shape {base.shape}")
    n_pool = n + m
    sel = np.arange(n, n_pool, dtype=np.int64)
    A = base.copy()
    grp = np.full(n_pool, -1, dtype=np.int64)
    n_groups = 0
    if groups is not None:
        g = np.asarray(groups, dtype=np.int64)
        if g.shape != (n,):
            raise ValueError(f"groups must have shape ({n},), got {g.shape}")
        grp[:n] = g
        n_groups = int(g.max()) + 1 if n else 0
    ok = np.ones(n_pool, dtype=np.bool_)
    if allowed is not None:
        a = np.asarray(allowed, dtype=np.bool_)
        if a.shape != (n,):
            raise ValueError(f"allowed must have shape ({n},), got {a.shape}")
        ok[:n] = a
    pool_scale = np.vstack([np.abs(rows).max(axis=0) if n else np.zeros(m), np.abs(base).max(axis=0)])
    scale = pool_scale.max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    entered = np.zeros(max(n_groups, 1), dtype=np.bool_)
    n_entered = 0
    refresh_every = refresh_every or 2 * m
    limit = max_swaps if max_swaps is not None else 50 * m + 10 * n
    C = np.empty((n_pool, m))
    rowmax = np.empty(n_pool)
    rowarg = np.empty(n_pool, dtype=np.int64)
    history = np.empty((0, 2), dtype=np.int64)
    total = 0
    while True:
        A_inv = _inverse(A, scale)
        np.matmul(rows, A_inv, out=C[:n])
        np.matmul(base, A_inv, out=C[n:])
        _all_row_max(C, rowmax, rowarg)
        rowmax[sel] = 0.0  # rows in A grade 1 exactly (c = e_j); round-off must not swap them
        budget = min(refresh_every, limit - total)
        if budget <= 0:
            break
        hist = np.empty((budget, 2), dtype=np.int64)
        k, n_entered = _swaps(C, rowmax, rowarg, ok, sel, grp, entered, n_entered, max_groups,
                              float(threshold), budget, hist)
        if k == 0:
            break
        history = np.concatenate([history, hist[:k]])
        total += k
        from_rows = sel < n
        A[from_rows] = rows[sel[from_rows]]
        A[~from_rows] = base[sel[~from_rows] - n]
    live = ok.copy()
    live[sel] = False
    max_c = float(rowmax[live].max()) if live.any() else 0.0
    return MaxVolResult(sel=sel, A=A, A_inv=A_inv, n_swaps=total, max_c=max_c,
                        entered=entered[:n_groups].copy(), history=history)


def grades(rows: np.ndarray, A_inv: np.ndarray) -> np.ndarray:
    """max_j |(b @ A_inv)_j| for every row b of rows (n, m)."""
    rows = np.asarray(rows, dtype=np.float64)
    if len(rows) == 0:
        return np.zeros(0)
    return np.abs(rows @ A_inv).max(axis=1)
