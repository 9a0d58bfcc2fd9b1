"""A fixed linear change of the radial coefficients that makes BFGS converge several times faster.

Radial function mu of the ordered species pair (a, b) is f(r) = sum_k c_k phi_k(r) with
phi_k = T_k(xi) (max_dist - r)^2: over the pair distances that occur in the training set these
basis functions, and their r-derivatives (which set the forces), are far from orthogonal (Gram
condition numbers ~1e4), so steepest-descent-like early BFGS steps crawl. With the Gram matrix
G_ab = mean over pairs (a, b) in the set of [phi phi^T + phi' phi'^T] (r in Å) = L L^T, the
optimiser works on y = L^T c, i.e. on coefficients of a basis that is orthonormal over the data
(c = L^-T y). This is a preconditioner only: the model, the loss and its minima are unchanged.

G is summed per chunk in chunk order (train.parallel), so it is the same on any number of ranks
and is rebuilt identically when a run resumes.
"""

from __future__ import annotations

import numpy as np

from mtpflow.train import parallel
from mtpflow.train.loss import PackedSet

RIDGE = 1e-12  # relative to the trace: keeps G positive definite for degenerate distance sets


def _basis(r: np.ndarray, min_dist: float, max_dist: float, size: int):
    """phi_k(r) and phi_k'(r) (scaling 1), shape (size, n_pairs), by the evaluation kernels'
    radial basis (mtpflow.mtp.kernels.radial_basis_values)."""
    from mtpflow.mtp.kernels import radial_basis_values

    r = np.ascontiguousarray(r, dtype=np.float64)
    phi = np.empty((size, len(r)))
    dphi = np.empty((size, len(r)))
    radial_basis_values(r, float(min_dist), float(max_dist), int(size), phi, dphi)
    return phi, dphi


def radial_gram(pot, data: PackedSet, comm=None) -> np.ndarray:
    """Per ordered species pair: (count, Gram matrix sum) over this rank's pairs within max_dist,
    reduced over ranks in chunk order. Returns (S, S, 1 + B*B): count, then G flattened."""
    comm = comm if comm is not None else parallel.SerialComm()
    S, B = pot.species_count, pot.radial_basis_size
    rows = np.zeros((data.n_local_chunks, S, S, 1 + B * B))
    for k in range(data.n_configs):
        a0, a1 = int(data.atom_off[k]), int(data.atom_off[k + 1])
        p0, p1 = int(data.nbr_off[a0]), int(data.nbr_off[a1])
        if p1 == p0:
            continue
        rv = data.rvec[p0:p1]
        r = np.sqrt(np.sum(rv * rv, axis=1))
        keep = r < pot.max_dist
        zi = np.repeat(data.types[a0:a1], np.diff(data.nbr_off[a0:a1 + 1]))[keep]
        zj = data.types[data.nbr_j[p0:p1]][keep]
        phi, dphi = _basis(r[keep], pot.min_dist, pot.max_dist, B)
        ch = data.local_chunk[k]
        for a in range(S):
            for b in range(S):
                m = (zi == a) & (zj == b)
                n = int(np.count_nonzero(m))
                if n == 0:
                    continue
                pa, da = phi[:, m], dphi[:, m]
                rows[ch, a, b, 0] += n
                rows[ch, a, b, 1:] += (pa @ pa.T + da @ da.T).reshape(-1)
    return parallel.ordered_sum(comm, rows.reshape(data.n_local_chunks, -1)).reshape(S, S, 1 + B * B)


def whitening(pot, data: PackedSet, comm=None) -> np.ndarray:
    """T (S, S, B, B) with c = T y for every radial function of pair (a, b): T = L^-T where
    L L^T = mean Gram of (phi, phi') over the pairs (a, b) of the training set; the identity for
    a pair that never occurs within max_dist."""
    S, B = pot.species_count, pot.radial_basis_size
    g = radial_gram(pot, data, comm)
    T = np.zeros((S, S, B, B))
    for a in range(S):
        for b in range(S):
            n = g[a, b, 0]
            if n == 0:
                T[a, b] = np.eye(B)
                continue
            G = g[a, b, 1:].reshape(B, B) / n
            G = 0.5 * (G + G.T) + RIDGE * np.trace(G) * np.eye(B)
            L = np.linalg.cholesky(G)
            T[a, b] = np.linalg.inv(L).T
    return T


class Preconditioned:
    """lossf(c) -> (f, g, rmse) seen as a function of y with c = T y per pair and radial function:
    (f, T^T g, rmse). full_params(y) as lossf.full_params(T y)."""

    def __init__(self, lossf, T: np.ndarray, shape):
        self.lossf = lossf
        self.T = T
        self.shape = tuple(shape)  # (S, S, R, B) of radial_coeffs

    def to_coeffs(self, y: np.ndarray) -> np.ndarray:
        return np.einsum("abkl,abml->abmk", self.T, y.reshape(self.shape)).reshape(-1)

    def from_coeffs(self, c: np.ndarray) -> np.ndarray:
        Tinv = np.linalg.inv(self.T)
        return np.einsum("abkl,abml->abmk", Tinv, c.reshape(self.shape)).reshape(-1)

    def full_params(self, y: np.ndarray) -> np.ndarray:
        return self.lossf.full_params(self.to_coeffs(y))

    def __call__(self, y: np.ndarray, want_grad: bool = True):
        f, g, rmse = self.lossf(self.to_coeffs(y), want_grad)
        if want_grad:
            g = np.einsum("abkl,abmk->abml", self.T, g.reshape(self.shape)).reshape(-1)
        return f, g, rmse
