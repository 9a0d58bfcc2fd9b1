"""numba kernels: gradients of site energies with respect to the potential's coefficients.

Reverse mode from the moments to the parameters, on top of the forward pass of mtpflow.mtp.kernels
(moments_block: radial basis, radial functions, monomials, basic moments, contraction table) and its
adjoint (adjoint: A_m = dV_i/dM_m). With the per-lane scratch that the forward pass leaves behind:

    dV_i/dc[z_i, z_j, mu, k] = sum over pairs q of i with species z_j of  S_mu(q) * phi_k(r_q),
    S_mu(q) = sum_(basic b with radial function mu) A_b * u_q^(a_b, b_b, c_b),
    phi_k = scaling * Q_k (MLIP's RB_Calc values, which include `scaling`),

dV_i/d species_coeffs[s] = [z_i == s] and dV_i/d moment_coeffs[alpha] = B_alpha(n_i). The pieces
mono_weights, mono_sums and radial_scatter are shared with the training gradient
(mtpflow.train.kernels), which feeds them the adjoint of its loss instead of A.

Only public Python functions (mtpflow.mtp.evaluate.site_parameter_gradients) validate input.
"""

from __future__ import annotations

import numpy as np

from mtpflow.io.numba_cache import cache_valid
from mtpflow.jit import njit, prange
from mtpflow.mtp.kernels import FASTMATH, LANES, VW, adjoint, envelope, moments_block, scratch

# numba functions called from other files, with their digests (mtpflow.io.numba_cache)
DEPENDS = {"mtpflow.mtp.kernels": "afb5b33e4b556d35"}
_CACHE = cache_valid(DEPENDS)


@njit(fastmath=FASTMATH, cache=_CACHE)
def mono_weights(adj, mu_len, bas_mu, bas_t, bas_m, xw):
    """xw[mu, t, lane] = sum of adj[m, lane] over the basic moments m = (mu, monomial t): the
    weight of monomial t in the adjoint of radial function mu, for LANES atoms."""
    nr = xw.shape[0]
    for mu in range(nr):
        for t in range(mu_len[mu]):
            for lane in range(LANES):
                xw[mu, t, lane] = 0.0
    for b in range(len(bas_mu)):
        mu = bas_mu[b]
        t = bas_t[b]
        m = bas_m[b]
        for lane in range(LANES):
            xw[mu, t, lane] += adj[m, lane]


@njit(fastmath=FASTMATH, cache=_CACHE)
def mono_sums(xw, mu_len, lane, mono, npad, out):
    """out[mu, q] = sum_t xw[mu, t, lane] * mono[t, q] for the first npad pairs (two monomials per
    sweep over the pairs)."""
    nr = xw.shape[0]
    for mu in range(nr):
        for q in range(npad):
            out[mu, q] = 0.0
        tl = mu_len[mu]
        t = 0
        while t + 1 < tl:
            x0 = xw[mu, t, lane]
            x1 = xw[mu, t + 1, lane]
            for q in range(npad):
                out[mu, q] += x0 * mono[t, q] + x1 * mono[t + 1, q]
            t += 2
        if t < tl:
            x0 = xw[mu, t, lane]
            for q in range(npad):
                out[mu, q] += x0 * mono[t, q]


@njit(fastmath=FASTMATH, cache=_CACHE)
def radial_scatter(nn, zj, base, cheb, dcheb, dd, dxi, scaling, p_w, d_w, use_d, phik, dphik, g):
    """g[base + (zj[q] * R + mu) * B + k] += scaling * (p_w[mu, q] Q_k(r_q) + d_w[mu, q] Q'_k(r_q))
    for the nn pairs of one atom (d_w only when use_d): the chain rule from the radial functions
    f_mu = sum_k c_k scaling Q_k (and f'_mu) to the stored radial coefficients c."""
    nr = p_w.shape[0]
    nb = cheb.shape[0]
    for q in range(nn):
        d = dd[q]
        for k in range(nb):
            a, b = envelope(cheb[k, q], dcheb[k, q], d, dxi)
            phik[k] = scaling * a
            dphik[k] = scaling * b
        off = base + zj[q] * nr * nb
        for mu in range(nr):
            pw = p_w[mu, q]
            o = off + mu * nb
            if use_d:
                dw = d_w[mu, q]
                for k in range(nb):
                    g[o + k] += pw * phik[k] + dw * dphik[k]
            else:
                for k in range(nb):
                    g[o + k] += pw * phik[k]


@njit(parallel=True, fastmath=FASTMATH, cache=_CACHE)
def site_gradient_kernel(types, offsets, nbr_j, rvec, chunk_bounds,
                         rmin, rmax, rad_coeffs, species_coeffs,
                         mono_axis, mono_parent, mu_len, bas_mu, bas_t, bas_m, bas_coef, n_moments,
                         g_start, g_k, g_i, g_j, g_mult, r_start, r_k, r_o, r_mult, w0,
                         scaling, map_new, rows, nn_max):
    """rows[i] = dV_i/dtheta (MLIP's parameter order: radial, species, moment coefficients) for
    every atom of one configuration; rows must be zeroed. Each row is written by its own atom
    only, so the result does not depend on the thread count."""
    n_chunks = len(chunk_bounds) - 1
    n_species = rad_coeffs.shape[0]
    nr = rad_coeffs.shape[2]
    nb = rad_coeffs.shape[3]
    n_rad = n_species * n_species * nr * nb
    n_mono = len(mono_axis)
    dxi = 2.0 / (rmax - rmin)
    for c in prange(n_chunks):
        uvec, inv_r, fr, dfr, mono, dd, zj, cheb, dcheb, ts, td, mom, adj, xs, acc = scratch(
            nn_max, nr, nb, n_mono, n_moments)
        npm = ts.shape[0]
        xw = np.zeros((nr, n_mono, LANES))
        sums = np.empty((nr, npm))
        phik = np.empty(nb)
        dphik = np.empty(nb)
        for i0 in range(chunk_bounds[c], chunk_bounds[c + 1], LANES):
            nl = min(LANES, chunk_bounds[c + 1] - i0)
            moments_block(i0, nl, types, offsets, nbr_j, rvec, rmin, rmax, rad_coeffs, mono_axis,
                          mono_parent, bas_mu, bas_t, bas_m, g_start, g_k, g_i, g_j, g_mult,
                          uvec, inv_r, fr, dfr, mono, dd, zj, cheb, dcheb, ts, td, mom)
            adjoint(mom, adj, w0, r_start, r_k, r_o, r_mult)
            mono_weights(adj, mu_len, bas_mu, bas_t, bas_m, xw)
            for lane in range(nl):
                i = i0 + lane
                zi = types[i]
                row = rows[i]
                row[n_rad + zi] = 1.0
                for a in range(len(map_new)):
                    row[n_rad + n_species + a] = mom[map_new[a], lane]
                nn = offsets[i + 1] - offsets[i]
                if nn == 0:
                    continue
                npad = ((nn + VW - 1) // VW) * VW
                mono_sums(xw, mu_len, lane, mono[lane], npad, sums)
                radial_scatter(nn, zj[lane], zi * n_species * nr * nb, cheb[lane], dcheb[lane],
                               dd[lane], dxi, scaling, sums, sums, False, phik, dphik, row)
