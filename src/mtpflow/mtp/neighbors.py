"""Neighbour lists for MTP evaluation: O(N) cell lists, periodic triclinic or non-periodic.

`neighbor_list(positions, cell, cutoff)` returns every pair (i, j, image) with 0 < |r| < cutoff
(strict, as MLIP), r = r_j + shift - r_i, including periodic images of j and of i itself, in CSR form:
the neighbours of atom i are j[offsets[i]:offsets[i+1]] with vectors rvec[offsets[i]:offsets[i+1]].
Two atoms at the same position (closer than COINCIDENT_A = 1e-8 Å, also through a periodic image)
have no pair direction and would silently drop out of the energy: an InputError names them.

Cells smaller than twice the cutoff are handled: the search reaches as many images as the cell's
perpendicular widths require. The order is deterministic (by i, then bin offset, then atom index)
and does not depend on the numba thread count.

Parallel build in one scan: atoms are split into fixed chunks (from N only); chunks run in parallel
(prange), each writing its atoms' pairs, in atom order, into its own buffer region sized from the
expected neighbour count (a chunk that finds more sends the scan round once more with exact sizes);
offsets are the prefix sum of the per-atom counts and the regions are then compacted in place. The
returned j/rvec may be views of that buffer (kept only while it holds at most 2 × pairs + 1024).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtpflow.errors import InputError
from mtpflow.jit import njit, prange

# Bins are made a hair wider than the cutoff so that round-off in binning never loses a pair.
_SAFETY = 1.0 + 1e-9
# Bin edge as a fraction of the cutoff (measured: 1.0 is fastest at liquid densities; smaller bins
# scan fewer candidates but loop over many nearly empty bins).
_BIN_FRACTION = 1.0
# Parallel scan: fixed chunks of at least _CHUNK_ATOMS atoms, at most _MAX_CHUNKS of them; each chunk
# gets buffer room for _ROOM times its expected number of pairs (too little: one more scan).
_CHUNK_ATOMS = 64
_MAX_CHUNKS = 64
_ROOM = 1.3
# Two atoms closer than this (Å) are one position written twice (0 Å up to the round-off of
# wrapping into the cell); the pair has no direction, so it is an error, not a neighbour.
COINCIDENT_A = 1e-8


@dataclass
class NeighborList:
    """CSR neighbour list. offsets (N+1,) int64; j (P,) int64; rvec (P, 3) float64, Å."""

    offsets: np.ndarray
    j: np.ndarray
    rvec: np.ndarray

    @property
    def n_atoms(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_pairs(self) -> int:
        return len(self.j)

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def i(self) -> np.ndarray:
        """The centre atom of every pair, (P,) int64."""
        return np.repeat(np.arange(self.n_atoms, dtype=np.int64), self.counts())


@njit(cache=True)
def _bin_atoms(bins_xyz, nbins):
    """Counting sort of atoms into bins (stable: atom order kept inside each bin)."""
    n = bins_xyz.shape[0]
    nb_total = nbins[0] * nbins[1] * nbins[2]
    flat = np.empty(n, dtype=np.int64)
    start = np.zeros(nb_total + 1, dtype=np.int64)
    for a in range(n):
        f = (bins_xyz[a, 0] * nbins[1] + bins_xyz[a, 1]) * nbins[2] + bins_xyz[a, 2]
        flat[a] = f
        start[f + 1] += 1
    for b in range(nb_total):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for a in range(n):
        order[fill[flat[a]]] = a
        fill[flat[a]] += 1
    return start, order


@njit(parallel=True, cache=True)
def _scan(pw, cell, bins_xyz, nbins, reach, periodic, start, order, ps, cutoff,
          chunk_lo, buf_start, buf_cap, counts, buf_j, buf_r, need, coincident, coincident_d2):
    """One pass over the candidates of every atom, in parallel over fixed chunks of atoms.

    Chunk c writes the pairs of atoms chunk_lo[c]..chunk_lo[c+1]-1, in atom order, into its own region
    buf_start[c] .. buf_start[c] + buf_cap[c] of buf_j/buf_r (as far as they fit) and stores the number
    it found in need[c] (> buf_cap[c]: the region was too small, the caller runs again with room for
    need[c]). counts[i]: neighbours of atom i. pw: wrapped positions (N, 3); ps: the same sorted by bin
    (ps[q] = pw[order[q]]).
    coincident[i] (set to -1 by the caller) becomes an atom j with |r|^2 <= coincident_d2 from atom i
    (another atom, or a periodic image); such pairs are not neighbours, the caller reports them."""
    cut2 = cutoff * cutoff
    for c in prange(len(chunk_lo) - 1):
        base = buf_start[c]
        cap = buf_cap[c]
        total = 0
        for i in range(chunk_lo[c], chunk_lo[c + 1]):
            cnt = 0
            xi = pw[i, 0]
            yi = pw[i, 1]
            zi = pw[i, 2]
            for d0 in range(-reach[0], reach[0] + 1):
                u0 = bins_xyz[i, 0] + d0
                s0 = 0
                if periodic:
                    s0 = u0 // nbins[0]
                elif u0 < 0 or u0 >= nbins[0]:
                    continue
                b0 = u0 - s0 * nbins[0]
                for d1 in range(-reach[1], reach[1] + 1):
                    u1 = bins_xyz[i, 1] + d1
                    s1 = 0
                    if periodic:
                        s1 = u1 // nbins[1]
                    elif u1 < 0 or u1 >= nbins[1]:
                        continue
                    b1 = u1 - s1 * nbins[1]
                    for d2 in range(-reach[2], reach[2] + 1):
                        u2 = bins_xyz[i, 2] + d2
                        s2 = 0
                        if periodic:
                            s2 = u2 // nbins[2]
                        elif u2 < 0 or u2 >= nbins[2]:
                            continue
                        b2 = u2 - s2 * nbins[2]
                        # image shift of this bin, minus atom i's position
                        ox = s0 * cell[0, 0] + s1 * cell[1, 0] + s2 * cell[2, 0] - xi
                        oy = s0 * cell[0, 1] + s1 * cell[1, 1] + s2 * cell[2, 1] - yi
                        oz = s0 * cell[0, 2] + s1 * cell[1, 2] + s2 * cell[2, 2] - zi
                        f = (b0 * nbins[1] + b1) * nbins[2] + b2
                        for q in range(start[f], start[f + 1]):
                            rx = ps[q, 0] + ox
                            ry = ps[q, 1] + oy
                            rz = ps[q, 2] + oz
                            d2r = rx * rx + ry * ry + rz * rz
                            if d2r <= coincident_d2:
                                if order[q] != i or s0 != 0 or s1 != 0 or s2 != 0:
                                    coincident[i] = order[q]
                            elif d2r < cut2:
                                if np.sqrt(d2r) < cutoff:
                                    if total < cap:
                                        w = base + total
                                        buf_j[w] = order[q]
                                        buf_r[w, 0] = rx
                                        buf_r[w, 1] = ry
                                        buf_r[w, 2] = rz
                                    total += 1
                                    cnt += 1
            counts[i] = cnt
        need[c] = total


@njit(cache=True)
def _compact(chunk_lo, buf_start, offsets, buf_j, buf_r):
    """Move every chunk's pairs left, in place, to their CSR place (buf_start[c] >= offsets[chunk_lo[c]];
    chunks in increasing order, so no pair is overwritten before it moves)."""
    for c in range(len(chunk_lo) - 1):
        src = buf_start[c]
        dst = offsets[chunk_lo[c]]
        if src == dst:
            continue
        for k in range(offsets[chunk_lo[c + 1]] - dst):
            buf_j[dst + k] = buf_j[src + k]
            buf_r[dst + k, 0] = buf_r[src + k, 0]
            buf_r[dst + k, 1] = buf_r[src + k, 1]
            buf_r[dst + k, 2] = buf_r[src + k, 2]


def _validate(positions, cell, cutoff):
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise InputError(f"positions must have shape (N, 3), got {pos.shape}")
    if not np.all(np.isfinite(pos)):
        bad = int(np.argwhere(~np.isfinite(pos))[0, 0])
        raise InputError(f"position of atom {bad} (0-based) is NaN or inf; fix the configuration")
    cutoff = float(cutoff)
    if not (np.isfinite(cutoff) and cutoff > 0.0):
        raise InputError(f"cutoff must be a positive finite distance in Å, got {cutoff}")
    if cell is not None:
        cell = np.ascontiguousarray(cell, dtype=np.float64)
        if cell.shape != (3, 3):
            raise InputError(f"cell must be 3x3 (lattice vectors as rows), got shape {cell.shape}")
        if not np.all(np.isfinite(cell)):
            raise InputError("cell contains NaN or inf; fix the Supercell / lattice vectors")
        vol = abs(float(np.linalg.det(cell)))
        norms = np.linalg.norm(cell, axis=1)
        if not (vol > 1e-12 * max(float(np.prod(norms)), 1e-300)):
            raise InputError(f"the cell is singular (volume {vol:.3g} Å³); its three lattice vectors "
                             "must be linearly independent")
    return pos, cell, cutoff


def _cap_bins(nbins: np.ndarray, n_atoms: int) -> np.ndarray:
    # sparse systems (few atoms in a large box): coarser bins keep memory O(N); still correct,
    # since the reach is computed from the bin widths actually used
    nbins = nbins.copy()
    while int(np.prod(nbins)) > 8 * n_atoms + 64:
        k = int(np.argmax(nbins))
        nbins[k] = max(1, nbins[k] // 2)
    return nbins


def neighbor_list(positions, cell, cutoff: float) -> NeighborList:
    """All pairs with 0 < |r_j + shift - r_i| < cutoff (Å). cell: (3, 3) lattice vectors as rows
    (periodic in all three directions) or None (non-periodic). Raises InputError on NaN/inf
    positions, a singular cell, a non-positive cutoff or two atoms at the same position."""
    pos, cell, cutoff = _validate(positions, cell, cutoff)
    n = len(pos)
    offsets = np.zeros(n + 1, dtype=np.int64)
    if n == 0:
        return NeighborList(offsets, np.zeros(0, np.int64), np.zeros((0, 3), np.float64))
    rc = cutoff * _SAFETY
    if cell is not None:
        inv = np.linalg.inv(cell)
        frac = pos @ inv
        wrap = np.floor(frac).astype(np.int64)
        frac = frac - wrap
        pw = pos - wrap @ cell  # positions wrapped into the cell (differ by lattice vectors)
        # spacing of the lattice planes: 1 / |reciprocal vector| (columns of the inverse)
        widths = 1.0 / np.sqrt((inv * inv).sum(axis=0))
        nbins = _cap_bins(np.maximum(1, np.floor(widths / (rc * _BIN_FRACTION))).astype(np.int64), n)
        # bins along k have perpendicular width widths[k]/nbins[k]; reach enough of them for rc
        reach = np.ceil(rc * nbins / widths).astype(np.int64)
        bins = np.floor(frac * nbins).astype(np.int64)
        bins = np.minimum(np.maximum(bins, 0), nbins - 1)
        periodic = True
        cell_arr = cell
    else:
        lo = pos.min(axis=0)
        extent = pos.max(axis=0) - lo
        nbins = _cap_bins(np.maximum(1, np.floor(extent / (rc * _BIN_FRACTION))).astype(np.int64), n)
        width = np.where(extent > 0, extent / nbins, 1.0)
        reach = np.minimum(np.ceil(rc / width), nbins).astype(np.int64)
        bins = np.floor((pos - lo) / width).astype(np.int64)
        bins = np.minimum(np.maximum(bins, 0), nbins - 1)
        pw = pos
        periodic = False
        cell_arr = np.zeros((3, 3))
    bins = np.ascontiguousarray(bins)
    start, order = _bin_atoms(bins, nbins)
    pw = np.ascontiguousarray(pw)
    ps = np.ascontiguousarray(pw[order])
    # fixed chunks (from N only, never from the thread count); every atom's pairs keep their order
    n_chunks = max(1, min(_MAX_CHUNKS, n // _CHUNK_ATOMS))
    chunk_lo = (np.arange(n_chunks + 1, dtype=np.int64) * n) // n_chunks
    # room per chunk from the expected neighbour count (density x sphere volume, images included);
    # a chunk that finds more asks for exactly what it needs and the scan runs once more
    if cell is not None:
        volume = abs(float(np.linalg.det(cell)))
    else:
        volume = float(np.prod(np.maximum(extent, rc)))
    expected = n / volume * (4.0 / 3.0) * np.pi * rc ** 3
    buf_cap = (np.diff(chunk_lo) * (_ROOM * expected) + 16).astype(np.int64)
    counts = np.zeros(n, dtype=np.int64)
    need = np.zeros(n_chunks, dtype=np.int64)
    coincident = np.full(n, -1, dtype=np.int64)
    for _attempt in range(2):
        buf_start = np.zeros(n_chunks, dtype=np.int64)
        np.cumsum(buf_cap[:-1], out=buf_start[1:])
        buf_j = np.empty(int(buf_cap.sum()), dtype=np.int64)
        buf_r = np.empty((len(buf_j), 3), dtype=np.float64)
        _scan(pw, cell_arr, bins, nbins, reach, periodic, start, order, ps, cutoff,
              chunk_lo, buf_start, buf_cap, counts, buf_j, buf_r, need, coincident,
              COINCIDENT_A ** 2)
        if (coincident >= 0).any():
            i = int(np.nonzero(coincident >= 0)[0][0])
            j = int(coincident[i])
            raise InputError(f"atoms {min(i, j) + 1} and {max(i, j) + 1} (counting from 1) are at the "
                             f"same position (closer than {COINCIDENT_A:g} Å, or through a periodic "
                             "image); the MTP needs distinct positions: remove the duplicate atom or "
                             "fix the configuration")
        if np.all(need <= buf_cap):
            break
        buf_cap = need.copy()  # exact sizes: the second pass always fits
    np.cumsum(counts, out=offsets[1:])
    n_pairs = int(offsets[-1])
    _compact(chunk_lo, buf_start, offsets, buf_j, buf_r)
    if len(buf_j) > 2 * n_pairs + 1024:  # much spare room (e.g. a sparse box): do not keep it
        return NeighborList(offsets, buf_j[:n_pairs].copy(), buf_r[:n_pairs].copy())
    return NeighborList(offsets, buf_j[:n_pairs], buf_r[:n_pairs])
