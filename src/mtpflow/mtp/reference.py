"""A slow, clear pure-numpy reference evaluator of the MTP model (no numba, no tricks).

It follows ../shared/docs/mtp.md literally and exists to check faster code: the basis generator
(mtpflow.mtp.basis), the numba kernels and the training gradients. A *neighbourhood* of a central atom
is given by the relative vectors r_j - r_i of its neighbours (all with |r| < max_dist), their species
and the species of the central atom.

Functions working on one neighbourhood:
    radial_basis(r, pot)                         phi_k(r), shape (n, radial_basis_size)
    radial_functions(r, z_i, z_j, pot, coeffs)   f_mu(r) for each neighbour, shape (n, radial_funcs_count)
    basic_moments(rel, z_i, z_j, pot, coeffs)    the alpha_index_basic moments
    all_moments(...)                             every moment after the alpha_index_times pass
    basis_functions(...)                         B_alpha = moment[alpha_moment_mapping[alpha]]
    site_energy(...)                             species_coeffs[z_i] + sum_alpha moment_coeffs[alpha] B_alpha
and a batched form for many neighbourhoods at once (tests fit thousands of them):
    basis_functions_batch(pot, rel, z_i, z_j, mask, coeffs)
"""

from __future__ import annotations

import numpy as np

from mtpflow.mtp.potential import MTPPotential


def _coeffs(pot: MTPPotential, radial_coeffs):
    c = pot.radial_coeffs if radial_coeffs is None else np.asarray(radial_coeffs, dtype=np.float64)
    if c is None:
        raise ValueError("the potential has no radial_coeffs; pass radial_coeffs=")
    shape = (pot.species_count, pot.species_count, pot.radial_funcs_count, pot.radial_basis_size)
    if c.shape != shape:
        raise ValueError(f"radial_coeffs have shape {c.shape}, expected {shape}")
    return c


def radial_basis(r, pot: MTPPotential) -> np.ndarray:
    """phi_k(r) = scaling * T_k(xi) * (max_dist - r)^2 for r < max_dist, else 0."""
    r = np.asarray(r, dtype=np.float64)
    lo, hi = pot.min_dist, pot.max_dist
    xi = (2.0 * r - (lo + hi)) / (hi - lo)
    t = np.zeros(r.shape + (pot.radial_basis_size,))
    t[..., 0] = 1.0
    if pot.radial_basis_size > 1:
        t[..., 1] = xi
    for k in range(2, pot.radial_basis_size):
        t[..., k] = 2.0 * xi * t[..., k - 1] - t[..., k - 2]
    env = np.where(r < hi, (hi - r) ** 2, 0.0)
    return pot.scaling * t * env[..., None]


def radial_functions(r, z_i, z_j, pot: MTPPotential, radial_coeffs=None) -> np.ndarray:
    """f_mu(r_j) = sum_k radial_coeffs[z_i, z_j, mu, k] phi_k(r_j); shape r.shape + (radial_funcs_count,)."""
    c = _coeffs(pot, radial_coeffs)
    phi = radial_basis(r, pot)
    z_i = np.broadcast_to(np.asarray(z_i), np.shape(r))
    cij = c[z_i, np.asarray(z_j)]                      # (..., R, K)
    return np.einsum("...mk,...k->...m", cij, phi)


def basic_moments_batch(pot, rel, z_i, z_j, mask=None, radial_coeffs=None) -> np.ndarray:
    """Basic moments of S neighbourhoods, shape (alpha_index_basic_count, S).

    rel (S, n, 3) relative vectors, z_i (S,), z_j (S, n), mask (S, n) True for real neighbours
    (padding entries are ignored)."""
    rel = np.asarray(rel, dtype=np.float64)
    r = np.linalg.norm(rel, axis=-1)
    ok = r < pot.max_dist
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)
    r_safe = np.where(ok, r, 1.0)
    u = rel / r_safe[..., None]
    f = radial_functions(r_safe, np.asarray(z_i)[:, None], z_j, pot, radial_coeffs)  # (S, n, R)
    f = np.where(ok[..., None], f, 0.0)
    out = np.empty((pot.alpha_index_basic_count, rel.shape[0]))
    for m, (mu, a, b, c) in enumerate(pot.alpha_index_basic):
        out[m] = np.sum(f[..., mu] * u[..., 0] ** a * u[..., 1] ** b * u[..., 2] ** c, axis=-1)
    return out


def contract(pot: MTPPotential, basic: np.ndarray) -> np.ndarray:
    """Run the alpha_index_times table: moment[k] += m * moment[i] * moment[j], in file order."""
    basic = np.asarray(basic, dtype=np.float64)
    moments = np.zeros((pot.alpha_moments_count,) + basic.shape[1:])
    moments[: len(basic)] = basic
    for i, j, m, k in pot.alpha_index_times:
        moments[k] += m * moments[i] * moments[j]
    return moments


def contract_batched(pot: MTPPotential, basic: np.ndarray) -> np.ndarray:
    """The same as `contract`, faster for many neighbourhoods: entries are grouped by the depth of the
    moment they write (basic moments depth 0; a product one deeper than its deepest factor) and each
    group is summed with one np.add.reduceat. Equal to file order when every entry writing a moment comes
    before every entry reading it (MLIP's templates and mtpflow's generated tables); other tables
    fall back to `contract`."""
    t = pot.alpha_index_times
    nb = len(basic)
    depth = np.zeros(pot.alpha_moments_count, dtype=np.int64)
    done = np.zeros(pot.alpha_moments_count, dtype=bool)
    done[:nb] = True
    last_write = {}
    for row, (i, j, _m, k) in enumerate(t):
        last_write[k] = row
    for row, (i, j, _m, k) in enumerate(t):
        for src in (i, j):
            if src >= nb and (src not in last_write or last_write[src] > row):
                return contract(pot, basic)      # a read before the last write: keep file order
        depth[k] = max(depth[k], depth[i] + 1, depth[j] + 1)
    moments = np.zeros((pot.alpha_moments_count,) + np.shape(basic)[1:])
    moments[:nb] = basic
    if len(t) == 0:
        return moments
    d_entry = depth[t[:, 3]]
    flat = moments.reshape(len(moments), -1)
    for d in range(1, int(d_entry.max()) + 1):
        sel = t[d_entry == d]
        sel = sel[np.argsort(sel[:, 3], kind="stable")]
        prod = sel[:, 2, None] * flat[sel[:, 0]] * flat[sel[:, 1]]
        k, start = np.unique(sel[:, 3], return_index=True)
        flat[k] += np.add.reduceat(prod, start, axis=0)
    return moments


def basis_functions_batch(pot, rel, z_i, z_j, mask=None, radial_coeffs=None, chunk=512) -> np.ndarray:
    """B_alpha of S neighbourhoods, shape (S, alpha_scalar_moments); `chunk` neighbourhoods at a time
    (bounds the memory of the moments array at high levels)."""
    n = np.shape(rel)[0]
    out = np.empty((n, pot.alpha_scalar_moments))
    for s in range(0, n, chunk):
        sl = slice(s, min(n, s + chunk))
        m = None if mask is None else np.asarray(mask)[sl]
        moments = contract_batched(pot, basic_moments_batch(pot, np.asarray(rel)[sl], np.asarray(z_i)[sl],
                                                    np.asarray(z_j)[sl], m, radial_coeffs))
        out[sl] = moments[pot.alpha_moment_mapping].T
    return out


def _one(rel, z_j):
    rel = np.asarray(rel, dtype=np.float64).reshape(1, -1, 3)
    z_j = np.asarray(z_j, dtype=np.int64).reshape(1, -1)
    return rel, z_j


def basic_moments(rel, z_i, z_j, pot, radial_coeffs=None) -> np.ndarray:
    rel, z_j = _one(rel, z_j)
    return basic_moments_batch(pot, rel, np.array([z_i]), z_j, None, radial_coeffs)[:, 0]


def all_moments(rel, z_i, z_j, pot, radial_coeffs=None) -> np.ndarray:
    return contract(pot, basic_moments(rel, z_i, z_j, pot, radial_coeffs))


def basis_functions(rel, z_i, z_j, pot, radial_coeffs=None) -> np.ndarray:
    return all_moments(rel, z_i, z_j, pot, radial_coeffs)[pot.alpha_moment_mapping]


def site_energy(rel, z_i, z_j, pot, radial_coeffs=None, species_coeffs=None, moment_coeffs=None) -> float:
    """V(n_i) = species_coeffs[z_i] + sum_alpha moment_coeffs[alpha] B_alpha(n_i) (eV)."""
    sc = pot.species_coeffs if species_coeffs is None else np.asarray(species_coeffs)
    mc = pot.moment_coeffs if moment_coeffs is None else np.asarray(moment_coeffs)
    if sc is None or mc is None:
        raise ValueError("the potential has no species/moment coefficients; pass them")
    return float(sc[z_i] + np.dot(mc, basis_functions(rel, z_i, z_j, pot, radial_coeffs)))


def graph_value(labels, edges, rel, z_i, z_j, pot, radial_coeffs=None) -> float:
    """The contraction graph (labels (mu, nu) per factor, edges e_ab over pairs a < b; see
    mtpflow.mtp.basis) evaluated without any moment table, straight from its definition:
        sum over neighbours j_1..j_k of prod_a f_{mu_a}(r_{j_a}) prod_{a<b} (u_{j_a} . u_{j_b})^{e_ab}.
    Cost n^k; for checking generated tables on small neighbourhoods."""
    rel = np.asarray(rel, dtype=np.float64).reshape(-1, 3)
    r = np.linalg.norm(rel, axis=1)
    u = rel / r[:, None]
    f = radial_functions(r, z_i, np.asarray(z_j), pot, radial_coeffs)
    gram = u @ u.T
    k = len(labels)
    letters = "abcd"[:k] if k <= 4 else None
    if letters is None:
        raise ValueError("graph_value handles at most 4 factors")
    operands, subs = [], []
    for a, (mu, _nu) in enumerate(labels):
        operands.append(f[:, mu])
        subs.append(letters[a])
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    for (a, b), e in zip(pairs, edges):
        if e:
            operands.append(gram ** e)
            subs.append(letters[a] + letters[b])
    return float(np.einsum(",".join(subs) + "->", *operands, optimize=True))


def energy(positions, types, pot, cell=None) -> float:
    """Total energy of a small configuration by brute force over periodic images (slow; for tests).

    cell rows are lattice vectors (None: non-periodic). Images up to the cutoff in every direction."""
    pos = np.asarray(positions, dtype=np.float64)
    types = np.asarray(types, dtype=np.int64)
    shifts = [np.zeros(3)]
    if cell is not None:
        cell = np.asarray(cell, dtype=np.float64)
        # number of images needed along each lattice vector: cutoff / plane spacing
        recip = np.linalg.inv(cell).T
        reps = [int(np.ceil(pot.max_dist * np.linalg.norm(recip[d]))) + 1 for d in range(3)]
        grid = np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in reps], indexing="ij"), -1).reshape(-1, 3)
        shifts = grid @ cell
    e = 0.0
    for i in range(len(pos)):
        rel = (pos[None, :, :] + np.asarray(shifts)[:, None, :] - pos[i]).reshape(-1, 3)
        zj = np.tile(types, len(shifts))
        d = np.linalg.norm(rel, axis=1)
        keep = (d < pot.max_dist) & (d > 0)
        e += site_energy(rel[keep], types[i], zj[keep], pot)
    return e
