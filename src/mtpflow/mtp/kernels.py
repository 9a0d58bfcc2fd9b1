"""numba kernels: MTP energy, per-atom energies, forces and virial (MLIP PlusStress), float64.

Follows "Evaluating fast" in ../shared/docs/mtp.md. Per atom i: one pass over its neighbours (radial
functions, powers of u = r/|r|, basic moments), the contraction table forward, its adjoint backward,
and a second pass over the neighbours for the gradients g_ij = dE_i/dr_ij.

Internal layout (built once per potential by mtpflow.mtp.evaluate.build_tables):
- monomials u_x^a u_y^b u_z^c of every rank 0..nu_max, rank-major, inside a rank a descending then
  b descending; rank nu is built from rank nu-1 as [u_x * all, u_y * last nu, u_z * last one];
- moments renumbered so that basic moments sorted by (mu, monomial) come first: they form a few
  contiguous "blocks" (mu, first monomial t0, first moment m0, length), so the moment updates per
  pair are contiguous axpy/dot loops;
- the product table and the moment→basis mapping renumbered accordingly; the basis coefficients
  scattered into a dense vector `w0` over moments (the adjoint's starting value).

Parallel over atoms in a fixed number of chunks (independent of the thread count), each with its own
force/virial accumulators, reduced in chunk order: results are bit-identical for any thread count.
Only public Python functions (mtpflow.mtp.evaluate) validate input; these kernels trust it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}  # no nnan/ninf: NaN stays visible


@njit(fastmath=_FM, inline="always")
def _radial(r, rmin, rmax, rc_ij, nb, nr, cheb, dcheb, f, df):
    """f_mu(r) and df_mu/dr for one pair; rc_ij (nr, nb) already multiplied by `scaling`."""
    xi = (2.0 * r - (rmin + rmax)) / (rmax - rmin)
    dxi = 2.0 / (rmax - rmin)
    d = rmax - r
    d2 = d * d
    cheb[0] = 1.0
    dcheb[0] = 0.0
    if nb > 1:
        cheb[1] = xi
        dcheb[1] = 1.0
    for k in range(2, nb):
        cheb[k] = 2.0 * xi * cheb[k - 1] - cheb[k - 2]
        dcheb[k] = 2.0 * cheb[k - 1] + 2.0 * xi * dcheb[k - 1] - dcheb[k - 2]
    for mu in range(nr):
        s = 0.0
        ds = 0.0
        for k in range(nb):
            c = rc_ij[mu, k]
            s += c * cheb[k]
            ds += c * dcheb[k]
        # Q_k = T_k d^2; dQ_k/dr = T'_k dxi d^2 - 2 T_k d
        f[mu] = s * d2
        df[mu] = ds * dxi * d2 - 2.0 * s * d


@njit(fastmath=_FM, inline="always")
def _monomials(ux, uy, uz, nu_max, rank_start, mono):
    mono[0] = 1.0
    for nu in range(1, nu_max + 1):
        p0 = rank_start[nu - 1]
        plen = rank_start[nu] - p0
        q0 = rank_start[nu]
        for k in range(plen):
            mono[q0 + k] = ux * mono[p0 + k]
        for k in range(nu):
            mono[q0 + plen + k] = uy * mono[p0 + plen - nu + k]
        mono[q0 + plen + nu] = uz * mono[p0 + plen - 1]


@njit(parallel=True, fastmath=_FM)
def efs_kernel(types, offsets, nbr_j, rvec, chunk_bounds,
               rmin, rmax, rad_coeffs, species_coeffs,
               nu_max, rank_start, mono_nu, mono_ea, mono_eb, mono_ec, mono_px, mono_py, mono_pz,
               blk_mu, blk_t0, blk_m0, blk_len, n_moments,
               t_i, t_j, t_mult, t_k, w0,
               energies, forces_chunks, virial_chunks, nn_max):
    """Energies per atom (N,), forces per chunk (K, N, 3) and virial per chunk (K, 3, 3).

    rvec/nbr_j/offsets: CSR neighbour list with |r| < rmax; rad_coeffs (S, S, R, B) * scaling.
    forces_chunks and virial_chunks must be zeroed by the caller."""
    n_chunks = len(chunk_bounds) - 1
    nr = rad_coeffs.shape[2]
    nb = rad_coeffs.shape[3]
    n_mono = rank_start[nu_max + 1]
    n_blk = len(blk_mu)
    n_times = len(t_i)
    for c in prange(n_chunks):
        # per-chunk scratch: allocated once per chunk, reused for all its atoms
        cheb = np.empty(nb)
        dcheb = np.empty(nb)
        fr = np.empty((nn_max, nr))
        dfr = np.empty((nn_max, nr))
        mono = np.empty((nn_max, n_mono))
        u4 = np.empty((nn_max, 4))
        mom = np.empty(n_moments)
        adj = np.empty(n_moments)
        c2 = np.empty(n_mono)
        dedf = np.empty(nr)
        fc = forces_chunks[c]
        vir = virial_chunks[c]
        for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
            zi = types[i]
            p0 = offsets[i]
            nn = offsets[i + 1] - p0
            for m in range(n_moments):
                mom[m] = 0.0
            # ---- pass 1: radial functions, monomials, basic moments -------------------------
            for q in range(nn):
                p = p0 + q
                rx = rvec[p, 0]
                ry = rvec[p, 1]
                rz = rvec[p, 2]
                r = np.sqrt(rx * rx + ry * ry + rz * rz)
                inv_r = 1.0 / r
                ux = rx * inv_r
                uy = ry * inv_r
                uz = rz * inv_r
                u4[q, 0] = ux
                u4[q, 1] = uy
                u4[q, 2] = uz
                u4[q, 3] = inv_r
                fq = fr[q]
                dfq = dfr[q]
                if r < rmax:
                    _radial(r, rmin, rmax, rad_coeffs[zi, types[nbr_j[p]]], nb, nr, cheb, dcheb, fq, dfq)
                else:
                    for mu in range(nr):
                        fq[mu] = 0.0
                        dfq[mu] = 0.0
                mq = mono[q]
                _monomials(ux, uy, uz, nu_max, rank_start, mq)
                for b in range(n_blk):
                    fmu = fq[blk_mu[b]]
                    t0 = blk_t0[b]
                    m0 = blk_m0[b]
                    for k in range(blk_len[b]):
                        mom[m0 + k] += fmu * mq[t0 + k]
            # ---- products forward, site energy ------------------------------------------------
            for t in range(n_times):
                mom[t_k[t]] += t_mult[t] * mom[t_i[t]] * mom[t_j[t]]
            e = species_coeffs[zi]
            for m in range(n_moments):
                e += w0[m] * mom[m]
                adj[m] = w0[m]
            energies[i] = e
            if nn == 0:
                continue
            # ---- adjoint backward: adj = dE_i / d moment ------------------------------------
            for t in range(n_times - 1, -1, -1):
                a = t_mult[t] * adj[t_k[t]]
                if a != 0.0:
                    adj[t_i[t]] += a * mom[t_j[t]]
                    adj[t_j[t]] += a * mom[t_i[t]]
            # ---- pass 2: gradients per pair -------------------------------------------------
            fix = 0.0
            fiy = 0.0
            fiz = 0.0
            for q in range(nn):
                p = p0 + q
                mq = mono[q]
                fq = fr[q]
                for t in range(n_mono):
                    c2[t] = 0.0
                for mu in range(nr):
                    dedf[mu] = 0.0
                for b in range(n_blk):
                    mu = blk_mu[b]
                    fmu = fq[mu]
                    t0 = blk_t0[b]
                    m0 = blk_m0[b]
                    s = 0.0
                    for k in range(blk_len[b]):
                        a = adj[m0 + k]
                        s += a * mq[t0 + k]
                        c2[t0 + k] += fmu * a
                    dedf[mu] += s
                s1 = 0.0
                for mu in range(nr):
                    s1 += dedf[mu] * dfr[q, mu]
                s2 = 0.0
                gx = 0.0
                gy = 0.0
                gz = 0.0
                for t in range(1, n_mono):
                    ct = c2[t]
                    s2 += ct * mono_nu[t] * mq[t]
                    gx += ct * mono_ea[t] * mq[mono_px[t]]
                    gy += ct * mono_eb[t] * mq[mono_py[t]]
                    gz += ct * mono_ec[t] * mq[mono_pz[t]]
                ux = u4[q, 0]
                uy = u4[q, 1]
                uz = u4[q, 2]
                inv_r = u4[q, 3]
                radial_part = s1 - s2 * inv_r
                g0 = ux * radial_part + gx * inv_r
                g1 = uy * radial_part + gy * inv_r
                g2 = uz * radial_part + gz * inv_r
                fix += g0
                fiy += g1
                fiz += g2
                jj = nbr_j[p]
                fc[jj, 0] -= g0
                fc[jj, 1] -= g1
                fc[jj, 2] -= g2
                rx = rvec[p, 0]
                ry = rvec[p, 1]
                rz = rvec[p, 2]
                vir[0, 0] -= g0 * rx
                vir[0, 1] -= g0 * ry
                vir[0, 2] -= g0 * rz
                vir[1, 0] -= g1 * rx
                vir[1, 1] -= g1 * ry
                vir[1, 2] -= g1 * rz
                vir[2, 0] -= g2 * rx
                vir[2, 1] -= g2 * ry
                vir[2, 2] -= g2 * rz
            fc[i, 0] += fix
            fc[i, 1] += fiy
            fc[i, 2] += fiz


@njit(parallel=True)
def reduce_forces(forces_chunks, out):
    """out[i] = sum over chunks in chunk order (deterministic)."""
    k = forces_chunks.shape[0]
    for i in prange(forces_chunks.shape[1]):
        for d in range(3):
            s = 0.0
            for c in range(k):
                s += forces_chunks[c, i, d]
            out[i, d] = s
