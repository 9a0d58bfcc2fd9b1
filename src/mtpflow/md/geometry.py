"""Shortest interatomic distance under periodic boundaries (the blow-up check), with a cell list:
O(N), exact for any triclinic cell (bins are at least `cutoff` thick along each plane normal)."""

from __future__ import annotations

import math

import numpy as np

from mtpflow.jit import njit


@njit(cache=True)
def _min_dist_sq(frac, cell, nb0, nb1, nb2, cutoff):
    n = frac.shape[0]
    nbins = nb0 * nb1 * nb2
    head = np.full(nbins, -1, dtype=np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    bx = np.empty((n, 3), dtype=np.int64)
    for i in range(n):
        b0 = min(int(frac[i, 0] * nb0), nb0 - 1)
        b1 = min(int(frac[i, 1] * nb1), nb1 - 1)
        b2 = min(int(frac[i, 2] * nb2), nb2 - 1)
        bx[i, 0], bx[i, 1], bx[i, 2] = b0, b1, b2
        b = (b0 * nb1 + b1) * nb2 + b2
        nxt[i] = head[b]
        head[b] = i
    best = cutoff * cutoff
    bi = -1
    bj = -1
    for i in range(n):
        for d0 in range(-1, 2):
            c0 = bx[i, 0] + d0
            s0 = math.floor(c0 / nb0)
            c0 -= s0 * nb0
            for d1 in range(-1, 2):
                c1 = bx[i, 1] + d1
                s1 = math.floor(c1 / nb1)
                c1 -= s1 * nb1
                for d2 in range(-1, 2):
                    c2 = bx[i, 2] + d2
                    s2 = math.floor(c2 / nb2)
                    c2 -= s2 * nb2
                    j = head[(c0 * nb1 + c1) * nb2 + c2]
                    while j >= 0:
                        if not (j == i and s0 == 0 and s1 == 0 and s2 == 0):
                            f0 = frac[j, 0] + s0 - frac[i, 0]
                            f1 = frac[j, 1] + s1 - frac[i, 1]
                            f2 = frac[j, 2] + s2 - frac[i, 2]
                            x = f0 * cell[0, 0] + f1 * cell[1, 0] + f2 * cell[2, 0]
                            y = f0 * cell[0, 1] + f1 * cell[1, 1] + f2 * cell[2, 1]
                            z = f0 * cell[0, 2] + f1 * cell[1, 2] + f2 * cell[2, 2]
                            r2 = x * x + y * y + z * z
                            if r2 < best:
                                best = r2
                                bi = i
                                bj = j
                        j = nxt[j]
    return best, bi, bj


def closest_pair(positions, cell, cutoff_A: float) -> tuple[float, int, int]:
    """(distance, i, j) of the closest two atoms (periodic images included; i == j: an atom and
    its own image) if closer than cutoff_A, else (inf, -1, -1); NaN positions: (nan, -1, -1).
    positions (N, 3) Å, any (unwrapped) values; cell rows in Å."""
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.ascontiguousarray(cell, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3 or cell.shape != (3, 3):
        raise ValueError("positions must be (N, 3) and cell (3, 3)")
    if not cutoff_A > 0:
        raise ValueError("cutoff_A must be positive")
    if not np.isfinite(pos).all():
        return math.nan, -1, -1
    frac = np.linalg.solve(cell.T, pos.T).T
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0
    vol = abs(np.linalg.det(cell))
    heights = [vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)]
    nb = [max(1, min(int(h / cutoff_A), 200)) for h in heights]
    r2, i, j = _min_dist_sq(frac, cell, nb[0], nb[1], nb[2], float(cutoff_A))
    if r2 < cutoff_A * cutoff_A:
        return math.sqrt(r2), int(min(i, j)), int(max(i, j))
    return math.inf, -1, -1


def min_pair_distance(positions, cell, cutoff_A: float) -> float:
    """The shortest distance between two atoms (periodic images included) if it is below
    cutoff_A, else inf. positions (N, 3) Å, any (unwrapped) values; cell rows in Å."""
    return closest_pair(positions, cell, cutoff_A)[0]
