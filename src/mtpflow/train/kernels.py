"""numba kernels for MTP training: loss, its gradient by forward tangents + reverse mode, and the
Jacobian of energies/forces/virials with respect to the linear (moment) coefficients.

The model is evaluated by the shared forward pass of mtpflow.mtp.kernels (efs_range for energies,
forces and virials; moments_block for the moments of LANES atoms with their per-pair scratch:
radial basis, radial functions, monomials) and its adjoint; the chain rule from the moments to the
radial coefficients is mtpflow.mtp.param_kernels'. Only what training alone needs lives here: the
forward tangents through the monomials and the contraction table, the adjoint of that tangent, and
the loss bookkeeping. Model and notation: ../shared/docs/mtp.md. For configuration k with
residuals dE = E - E_ref, dF_i = F_i - F_ref_i and dW = W - W_ref (3x3 virial, eV):

    L_k = we_k dE^2 + wf_k sum_i |dF_i|^2 + ws_k sum_ab dW_ab^2

With g_ij = dV_i/dr_ij, F_i = sum_j g_ij - sum_(p: j(p)=i) g_p and W = -sum_p g_p (x) r_p, so

    dL_k/dtheta = d/dtheta sum_i [ a V_i + sum_j g_ij . t_ij ]    (residuals held fixed)
    a = 2 we_k dE,   t_ij = 2 wf_k (dF_i - dF_j) - 2 ws_k dW r_ij.

sum_j g_ij . t_ij = D_t V_i is the directional derivative of V_i along t (forward tangents: u' =
(t - u (u.t))/r, f_mu' = f_mu'(r) u.t, then through the monomials and the products); its parameter
gradient is one reverse sweep: A = a dV/dM + (adjoint of D_t V w.r.t. M), B = dV/dM for the
tangent moments. Per LANES atoms the kernels keep only their pair data: memory O(parameters +
atoms). Everything is evaluated in a fixed order, so results do not depend on how configurations
are spread over MPI ranks (the per-chunk sums are reduced in chunk order by train.parallel).
"""

from __future__ import annotations

import numpy as np

from mtpflow.io.numba_cache import cache_valid
from mtpflow.jit import njit
from mtpflow.mtp.kernels import FASTMATH, LANES, VW, adjoint, efs_range, moments_block, scratch
from mtpflow.mtp.param_kernels import mono_sums, mono_weights, radial_scatter

# numba functions called from other files, with their digests (mtpflow.io.numba_cache)
DEPENDS = {"mtpflow.mtp.kernels": "afb5b33e4b556d35",
           "mtpflow.mtp.param_kernels": "8a8b58357068a349"}
_CACHE = cache_valid(DEPENDS)


@njit(fastmath={"contract"}, cache=_CACHE)
def _products_tangent(mom, momd, g_start, g_k, g_i, g_j, g_mult):
    """Forward tangent of the contraction table for LANES atoms: momd[k] += m (momd[i] mom[j] +
    mom[i] momd[j]) (mom holds the finished moments; momd its basic rows, zeros elsewhere)."""
    for g in range(len(g_k)):
        k = g_k[g]
        for lane in range(LANES):
            s = momd[k, lane]
            for e in range(g_start[g], g_start[g + 1]):
                i = g_i[e]
                j = g_j[e]
                s += g_mult[e] * (momd[i, lane] * mom[j, lane] + mom[i, lane] * momd[j, lane])
            momd[k, lane] = s


@njit(fastmath={"contract"}, cache=_CACHE)
def _adjoint_tangent(mom, momd, adj, cadj, r_start, r_k, r_o, r_mult):
    """cadj[m] = d(D_t V)/dmom[m] (the tangent held as a function of the moments and their
    tangents), pulled per moment in reverse topological order; adj = dV/dmom from adjoint."""
    for m in range(mom.shape[0] - 1, -1, -1):
        for lane in range(LANES):
            s = 0.0
            for e in range(r_start[m], r_start[m + 1]):
                k = r_k[e]
                o = r_o[e]
                s += r_mult[e] * (cadj[k, lane] * mom[o, lane] + adj[k, lane] * momd[o, lane])
            cadj[m, lane] = s


@njit(fastmath=FASTMATH, cache=_CACHE)
def _tangent_basic(i, lane, offsets, nbr_j, rvec, f_out, f_ref, two_wf, two_ws, dW,
                   mono_axis, mono_parent, bas_mu, bas_t, bas_m,
                   uvec, inv_r, fr, dfr, mono, monod, ut, ud, frd, momd):
    """Tangents of atom i's pair data along its t_ij (module docstring): ut = u.t, monomials
    monod, radial functions frd, and the basic moments into momd[:, lane]."""
    p0 = offsets[i]
    nn = offsets[i + 1] - p0
    npad = ((nn + VW - 1) // VW) * VW
    for q in range(npad):
        if q < nn:
            p = p0 + q
            jg = nbr_j[p]
            tx = two_wf * ((f_out[i, 0] - f_ref[i, 0]) - (f_out[jg, 0] - f_ref[jg, 0]))
            ty = two_wf * ((f_out[i, 1] - f_ref[i, 1]) - (f_out[jg, 1] - f_ref[jg, 1]))
            tz = two_wf * ((f_out[i, 2] - f_ref[i, 2]) - (f_out[jg, 2] - f_ref[jg, 2]))
            rx = rvec[p, 0]
            ry = rvec[p, 1]
            rz = rvec[p, 2]
            tx -= two_ws * (dW[0, 0] * rx + dW[0, 1] * ry + dW[0, 2] * rz)
            ty -= two_ws * (dW[1, 0] * rx + dW[1, 1] * ry + dW[1, 2] * rz)
            tz -= two_ws * (dW[2, 0] * rx + dW[2, 1] * ry + dW[2, 2] * rz)
            ux = uvec[0, q]
            uy = uvec[1, q]
            uz = uvec[2, q]
            a = ux * tx + uy * ty + uz * tz
            ir = inv_r[q]
            ut[q] = a
            ud[0, q] = (tx - ux * a) * ir
            ud[1, q] = (ty - uy * a) * ir
            ud[2, q] = (tz - uz * a) * ir
        else:
            ut[q] = 0.0
            ud[0, q] = 0.0
            ud[1, q] = 0.0
            ud[2, q] = 0.0
        monod[0, q] = 0.0
    for t in range(1, len(mono_axis)):
        ax = mono_axis[t]
        par = mono_parent[t]
        for q in range(npad):
            monod[t, q] = ud[ax, q] * mono[par, q] + uvec[ax, q] * monod[par, q]
    for mu in range(fr.shape[0]):
        for q in range(npad):
            frd[mu, q] = dfr[mu, q] * ut[q]
    for b in range(len(bas_mu)):
        mu = bas_mu[b]
        t = bas_t[b]
        sm = 0.0
        for q in range(npad):
            sm += frd[mu, q] * mono[t, q] + fr[mu, q] * monod[t, q]
        momd[bas_m[b], lane] = sm


@njit(cache=_CACHE)
def loss_grad_kernel(atom_off, types, nbr_off, nbr_j, rvec, f_ref, e_ref, w_ref,
                     we, wf, ws, cfg_chunk, n_chunks, want_grad,
                     rmin, rmax, rad_coeffs, species_coeffs,
                     mono_axis, mono_parent, mu_len, bas_mu, bas_t, bas_m, bas_coef, n_moments,
                     g_start, g_k, g_i, g_j, g_mult, r_start, r_k, r_o, r_mult, w0,
                     scaling, map_new, max_nbr, e_out, f_out, w_out, loss_chunks, grad_chunks):
    """Loss (and gradient if want_grad) of every configuration, summed per chunk.

    atom_off (K+1,) first atom of each configuration in the concatenated arrays; nbr_off
    (n_atoms+1,) CSR over all atoms, nbr_j global atom index of each pair, rvec (P, 3); the
    potential as mtpflow.mtp.evaluate.MTPTables.kernel_args() + (scaling, map_new).
    Outputs E (K,), F (n_atoms, 3), W (K, 3, 3), loss_chunks (n_chunks,), grad_chunks
    (n_chunks, n_params) (all accumulated into: pass zeros).
    """
    n_cfg = atom_off.shape[0] - 1
    S = rad_coeffs.shape[0]
    nr = rad_coeffs.shape[2]
    nb = rad_coeffs.shape[3]
    n_mono = len(mono_axis)
    n_rad = S * S * nr * nb
    nal = len(map_new)
    dxi = 2.0 / (rmax - rmin)
    uvec, inv_r, fr, dfr, mono, dd, zj, cheb, dcheb, ts, td, mom, adj, xs, acc = scratch(
        max_nbr, nr, nb, n_mono, n_moments)
    npm = ts.shape[0]
    e_site = np.empty(atom_off[-1])
    momd = np.empty((n_moments, LANES))
    cadj = np.empty((n_moments, LANES))
    monod = np.empty((LANES, n_mono, npm))
    ut = np.empty((LANES, npm))
    ud = np.empty((3, npm))
    frd = np.empty((nr, npm))
    xa = np.zeros((nr, n_mono, LANES))
    xb = np.zeros((nr, n_mono, LANES))
    pw = np.empty((nr, npm))
    dw = np.empty((nr, npm))
    tmp = np.empty((nr, npm))
    phik = np.empty(nb)
    dphik = np.empty(nb)
    for kc in range(n_cfg):
        a0 = atom_off[kc]
        a1 = atom_off[kc + 1]
        ch = cfg_chunk[kc]
        # ---------------- pass A: energy, forces, virial (the evaluation kernel's block) --------
        Wm = np.zeros((3, 3))
        efs_range(a0, a1, types, nbr_off, nbr_j, rvec, rmin, rmax, rad_coeffs, species_coeffs,
                  mono_axis, mono_parent, mu_len, bas_mu, bas_t, bas_m, bas_coef, n_moments,
                  g_start, g_k, g_i, g_j, g_mult, r_start, r_k, r_o, r_mult, w0,
                  e_site, f_out, Wm, max_nbr)
        E = 0.0
        for i in range(a0, a1):
            E += e_site[i]
        e_out[kc] = E
        for a in range(3):
            for b in range(3):
                w_out[kc, a, b] = Wm[a, b]
        # ---------------- residuals and loss ----------------
        dE = E - e_ref[kc]
        L = we[kc] * dE * dE
        sF = 0.0
        if wf[kc] != 0.0:
            for i in range(a0, a1):
                for a in range(3):
                    d = f_out[i, a] - f_ref[i, a]
                    sF += d * d
            L += wf[kc] * sF
        dW = np.zeros((3, 3))
        if ws[kc] != 0.0:
            sW = 0.0
            for a in range(3):
                for b in range(3):
                    d = Wm[a, b] - w_ref[kc, a, b]
                    dW[a, b] = d
                    sW += d * d
            L += ws[kc] * sW
        loss_chunks[ch] += L
        if not want_grad:
            continue
        # ---------------- pass B: gradient ----------------
        a_e = 2.0 * we[kc] * dE
        two_wf = 2.0 * wf[kc]
        two_ws = 2.0 * ws[kc]
        g = grad_chunks[ch]
        for i0 in range(a0, a1, LANES):
            nl = min(LANES, a1 - i0)
            moments_block(i0, nl, types, nbr_off, nbr_j, rvec, rmin, rmax, rad_coeffs, mono_axis,
                          mono_parent, bas_mu, bas_t, bas_m, g_start, g_k, g_i, g_j, g_mult,
                          uvec, inv_r, fr, dfr, mono, dd, zj, cheb, dcheb, ts, td, mom)
            momd[:, :] = 0.0
            for lane in range(nl):
                _tangent_basic(i0 + lane, lane, nbr_off, nbr_j, rvec, f_out, f_ref, two_wf, two_ws,
                               dW, mono_axis, mono_parent, bas_mu, bas_t, bas_m, uvec[lane],
                               inv_r[lane], fr[lane], dfr[lane], mono[lane], monod[lane], ut[lane],
                               ud, frd, momd)
            _products_tangent(mom, momd, g_start, g_k, g_i, g_j, g_mult)
            for lane in range(nl):
                g[n_rad + types[i0 + lane]] += a_e
                for al in range(nal):
                    m = map_new[al]
                    g[n_rad + S + al] += a_e * mom[m, lane] + momd[m, lane]
            adjoint(mom, adj, w0, r_start, r_k, r_o, r_mult)
            _adjoint_tangent(mom, momd, adj, cadj, r_start, r_k, r_o, r_mult)
            for m in range(n_moments):
                for lane in range(LANES):
                    cadj[m, lane] += a_e * adj[m, lane]
            mono_weights(cadj, mu_len, bas_mu, bas_t, bas_m, xa)
            mono_weights(adj, mu_len, bas_mu, bas_t, bas_m, xb)
            for lane in range(nl):
                i = i0 + lane
                nn = nbr_off[i + 1] - nbr_off[i]
                if nn == 0:
                    continue
                npad = ((nn + VW - 1) // VW) * VW
                # d/df_mu: A-weighted monomials + B-weighted monomial tangents;
                # d/df'_mu: B-weighted monomials times u.t
                mono_sums(xa, mu_len, lane, mono[lane], npad, pw)
                mono_sums(xb, mu_len, lane, monod[lane], npad, tmp)
                mono_sums(xb, mu_len, lane, mono[lane], npad, dw)
                for mu in range(nr):
                    for q in range(npad):
                        pw[mu, q] += tmp[mu, q]
                        dw[mu, q] *= ut[lane, q]
                radial_scatter(nn, zj[lane], types[i] * S * nr * nb, cheb[lane], dcheb[lane],
                               dd[lane], dxi, scaling, pw, dw, True, phik, dphik, g)


@njit(fastmath={"contract"}, cache=_CACHE)
def _jacobian_products(mom, lane, jac, width, g_start, g_k, g_i, g_j, g_mult):
    """Forward tangents of the contraction table in `width` directions at once (jac (n_moments,
    >= width), basic rows set, zeros elsewhere) for atom `lane` of mom."""
    for g in range(len(g_k)):
        k = g_k[g]
        for e in range(g_start[g], g_start[g + 1]):
            i = g_i[e]
            j = g_j[e]
            mult = g_mult[e]
            mi = mom[i, lane]
            mj = mom[j, lane]
            for w in range(width):
                jac[k, w] += mult * (jac[i, w] * mj + mi * jac[j, w])


@njit(cache=_CACHE)
def linear_jacobian_kernel(a0, a1, types, nbr_off, nbr_j, rvec,
                           rmin, rmax, rad_coeffs, species_coeffs,
                           mono_axis, mono_parent, mu_len, bas_mu, bas_t, bas_m, bas_coef,
                           n_moments, g_start, g_k, g_i, g_j, g_mult, r_start, r_k, r_o, r_mult,
                           w0, scaling, map_new, max_nbr, e_row, jf, jw):
    """For atoms a0..a1 (one configuration, atom indices local to it = index - a0):
    e_row[al] = sum_i B_al(i), jf[al, i, :] = dF_i/dw_al, jw[al] = dW/dw_al (accumulated into).

    dM_b/dr_q = (f' - nu f / r) u^abc u + (f / r) grad_u u^abc for a basic moment b, then forward
    tangents through the contraction table in the 3 x neighbours directions of one atom."""
    nr = rad_coeffs.shape[2]
    nb = rad_coeffs.shape[3]
    n_basic = len(bas_mu)
    uvec, inv_r, fr, dfr, mono, dd, zj, cheb, dcheb, ts, td, mom, adj, xs, acc = scratch(
        max_nbr, nr, nb, len(mono_axis), n_moments)
    npm = ts.shape[0]
    jac = np.empty((n_moments, 3 * npm))
    for i0 in range(a0, a1, LANES):
        nl = min(LANES, a1 - i0)
        moments_block(i0, nl, types, nbr_off, nbr_j, rvec, rmin, rmax, rad_coeffs, mono_axis,
                      mono_parent, bas_mu, bas_t, bas_m, g_start, g_k, g_i, g_j, g_mult,
                      uvec, inv_r, fr, dfr, mono, dd, zj, cheb, dcheb, ts, td, mom)
        for lane in range(nl):
            i = i0 + lane
            p0 = nbr_off[i]
            nn = nbr_off[i + 1] - p0
            npad = ((nn + VW - 1) // VW) * VW
            width = 3 * npad
            jac[:, :width] = 0.0
            u = uvec[lane]
            ir = inv_r[lane]
            f = fr[lane]
            df = dfr[lane]
            mo = mono[lane]
            for b in range(n_basic):
                mu = bas_mu[b]
                t0 = bas_t[b]
                m = bas_m[b]
                nu = bas_coef[b, 0]
                for a in range(3):
                    ta = bas_t[b + (a + 1) * n_basic]
                    ca = bas_coef[b, a + 1]
                    for q in range(npad):
                        radial = (df[mu, q] - nu * f[mu, q] * ir[q]) * mo[t0, q]
                        jac[m, a * npad + q] = radial * u[a, q] + f[mu, q] * ir[q] * ca * mo[ta, q]
            _jacobian_products(mom, lane, jac, width, g_start, g_k, g_i, g_j, g_mult)
            il = i - a0
            for al in range(len(map_new)):
                mm = map_new[al]
                e_row[al] += mom[mm, lane]
                for q in range(nn):
                    p = p0 + q
                    jl = nbr_j[p] - a0
                    for a in range(3):
                        d = jac[mm, a * npad + q]
                        jf[al, il, a] += d
                        jf[al, jl, a] -= d
                        for b in range(3):
                            jw[al, a, b] -= d * rvec[p, b]
