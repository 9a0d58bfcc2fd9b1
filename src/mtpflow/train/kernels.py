"""numba kernels for MTP training: loss, its gradient by forward tangents + reverse mode, and the
Jacobian of energies/forces/virials with respect to the linear (moment) coefficients.

Model and notation: ../shared/docs/mtp.md. For configuration k with residuals dE = E - E_ref,
dF_i = F_i - F_ref_i and dW = W - W_ref (3x3 virial, eV):

    L_k = we_k dE^2 + wf_k sum_i |dF_i|^2 + ws_k sum_ab dW_ab^2

With g_ij = dV_i/dr_ij, F_i = sum_j g_ij - sum_(p: j(p)=i) g_p and W = -sum_p g_p (x) r_p, so

    dL_k/dtheta = d/dtheta sum_i [ a V_i + sum_j g_ij . t_ij ]    (residuals held fixed)
    a = 2 we_k dE,   t_ij = 2 wf_k (dF_i - dF_j) - 2 ws_k dW r_ij.

sum_j g_ij . t_ij is the directional derivative of V_i along t (forward tangents through the
moments); its parameter gradient is one reverse sweep. Per atom the kernels keep only that atom's
pair data (scratch of size max_neighbours x basic moments): memory O(parameters + atoms).
Everything is evaluated in a fixed order, so results do not depend on how configurations are
spread over MPI ranks (the per-chunk sums are reduced in chunk order by train.parallel).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def _pair_scratch(p_loc, rx, ry, rz, zi, zj, rc, min_dist, max_dist, scaling,
                  bmu, ba, bb, bc, max_pow, phi, dphi, f, df, U, GU, uvec, px, py, pz):
    """Radial basis, radial functions and angular monomials of one pair into row p_loc."""
    nb = bmu.shape[0]
    nrad = rc.shape[2]
    nbas = rc.shape[3]
    r = np.sqrt(rx * rx + ry * ry + rz * rz)
    inv_r = 1.0 / r
    ux = rx * inv_r
    uy = ry * inv_r
    uz = rz * inv_r
    uvec[p_loc, 0] = ux
    uvec[p_loc, 1] = uy
    uvec[p_loc, 2] = uz
    width = max_dist - min_dist
    xi = (2.0 * r - (min_dist + max_dist)) / width
    dxi = 2.0 / width
    d = max_dist - r
    d2 = d * d
    # Chebyshev T_k and dT_k/dxi
    t_prev = 1.0
    t_cur = xi
    dt_prev = 0.0
    dt_cur = 1.0
    phi[p_loc, 0] = scaling * d2
    dphi[p_loc, 0] = scaling * (-2.0 * d)
    if nbas > 1:
        phi[p_loc, 1] = scaling * xi * d2
        dphi[p_loc, 1] = scaling * (dxi * d2 - 2.0 * d * xi)
    for k in range(2, nbas):
        t_new = 2.0 * xi * t_cur - t_prev
        dt_new = 2.0 * t_cur + 2.0 * xi * dt_cur - dt_prev
        phi[p_loc, k] = scaling * t_new * d2
        dphi[p_loc, k] = scaling * (dt_new * dxi * d2 - 2.0 * d * t_new)
        t_prev = t_cur
        t_cur = t_new
        dt_prev = dt_cur
        dt_cur = dt_new
    for mu in range(nrad):
        s = 0.0
        ds = 0.0
        for k in range(nbas):
            c = rc[zi, zj, mu, k]
            s += c * phi[p_loc, k]
            ds += c * dphi[p_loc, k]
        f[p_loc, mu] = s
        df[p_loc, mu] = ds
    px[0] = 1.0
    py[0] = 1.0
    pz[0] = 1.0
    for q in range(1, max_pow + 1):
        px[q] = px[q - 1] * ux
        py[q] = py[q - 1] * uy
        pz[q] = pz[q - 1] * uz
    for m in range(nb):
        a = ba[m]
        b = bb[m]
        c = bc[m]
        val = px[a] * py[b] * pz[c]
        U[p_loc, m] = val
        nu_val = (a + b + c) * val
        gx = -nu_val * ux
        gy = -nu_val * uy
        gz = -nu_val * uz
        if a > 0:
            gx += a * px[a - 1] * py[b] * pz[c]
        if b > 0:
            gy += b * px[a] * py[b - 1] * pz[c]
        if c > 0:
            gz += c * px[a] * py[b] * pz[c - 1]
        GU[p_loc, m, 0] = gx * inv_r
        GU[p_loc, m, 1] = gy * inv_r
        GU[p_loc, m, 2] = gz * inv_r
    return r


@njit(cache=True)
def loss_grad_kernel(atom_off, types, nbr_off, nbr_j, rvec, f_ref, e_ref, w_ref,
                     we, wf, ws, cfg_chunk, n_chunks, want_grad,
                     rc, sc, mc, bmu, ba, bb, bc, times, mapping, n_moments,
                     min_dist, max_dist, scaling, max_nbr,
                     e_out, f_out, w_out, loss_chunks, grad_chunks):
    """Loss (and gradient if want_grad) of every configuration, summed per chunk.

    atom_off (K+1,) first atom of each configuration in the concatenated arrays; nbr_off
    (n_atoms+1,) CSR over all atoms, nbr_j global atom index of each pair, rvec (P, 3).
    Outputs E (K,), F (n_atoms, 3), W (K, 3, 3), loss_chunks (n_chunks,), grad_chunks
    (n_chunks, n_params) (all accumulated into: pass zeros).
    """
    n_cfg = atom_off.shape[0] - 1
    S = rc.shape[0]
    nrad = rc.shape[2]
    nbas = rc.shape[3]
    nb = bmu.shape[0]
    nt = times.shape[0]
    nal = mapping.shape[0]
    n_rad_par = S * S * nrad * nbas
    max_pow = 0
    for m in range(nb):
        max_pow = max(max_pow, ba[m], bb[m], bc[m])
    phi = np.empty((max_nbr, nbas))
    dphi = np.empty((max_nbr, nbas))
    f = np.empty((max_nbr, nrad))
    df = np.empty((max_nbr, nrad))
    U = np.empty((max_nbr, nb))
    GU = np.empty((max_nbr, nb, 3))
    uvec = np.empty((max_nbr, 3))
    tvec = np.empty((max_nbr, 3))
    px = np.empty(max_pow + 1)
    py = np.empty(max_pow + 1)
    pz = np.empty(max_pow + 1)
    M = np.empty(n_moments)
    Md = np.empty(n_moments)
    A = np.empty(n_moments)
    Ab = np.empty(n_moments)
    P = np.empty(nrad)
    Q = np.empty(nrad)
    for kc in range(n_cfg):
        a0 = atom_off[kc]
        a1 = atom_off[kc + 1]
        ch = cfg_chunk[kc]
        # ---------------- pass A: energy, forces, virial ----------------
        E = 0.0
        Wm = np.zeros((3, 3))
        for i in range(a0, a1):
            zi = types[i]
            p0 = nbr_off[i]
            n_nb = nbr_off[i + 1] - p0
            for m in range(n_moments):
                M[m] = 0.0
            for pl in range(n_nb):
                p = p0 + pl
                zj = types[nbr_j[p]]
                _pair_scratch(pl, rvec[p, 0], rvec[p, 1], rvec[p, 2], zi, zj, rc, min_dist,
                              max_dist, scaling, bmu, ba, bb, bc, max_pow, phi, dphi, f, df, U,
                              GU, uvec, px, py, pz)
                for m in range(nb):
                    M[m] += f[pl, bmu[m]] * U[pl, m]
            for q in range(nt):
                M[times[q, 3]] += times[q, 2] * M[times[q, 0]] * M[times[q, 1]]
            Ei = sc[zi]
            for al in range(nal):
                Ei += mc[al] * M[mapping[al]]
            E += Ei
            for m in range(n_moments):
                A[m] = 0.0
            for al in range(nal):
                A[mapping[al]] += mc[al]
            for q in range(nt - 1, -1, -1):
                ii = times[q, 0]
                jj = times[q, 1]
                ak = times[q, 2] * A[times[q, 3]]
                A[ii] += ak * M[jj]
                A[jj] += ak * M[ii]
            for pl in range(n_nb):
                p = p0 + pl
                s_r = 0.0
                gx = 0.0
                gy = 0.0
                gz = 0.0
                for m in range(nb):
                    am = A[m]
                    if am == 0.0:
                        continue
                    mu = bmu[m]
                    s_r += am * df[pl, mu] * U[pl, m]
                    fm = am * f[pl, mu]
                    gx += fm * GU[pl, m, 0]
                    gy += fm * GU[pl, m, 1]
                    gz += fm * GU[pl, m, 2]
                gx += s_r * uvec[pl, 0]
                gy += s_r * uvec[pl, 1]
                gz += s_r * uvec[pl, 2]
                jg = nbr_j[p]
                f_out[i, 0] += gx
                f_out[i, 1] += gy
                f_out[i, 2] += gz
                f_out[jg, 0] -= gx
                f_out[jg, 1] -= gy
                f_out[jg, 2] -= gz
                Wm[0, 0] -= gx * rvec[p, 0]
                Wm[0, 1] -= gx * rvec[p, 1]
                Wm[0, 2] -= gx * rvec[p, 2]
                Wm[1, 0] -= gy * rvec[p, 0]
                Wm[1, 1] -= gy * rvec[p, 1]
                Wm[1, 2] -= gy * rvec[p, 2]
                Wm[2, 0] -= gz * rvec[p, 0]
                Wm[2, 1] -= gz * rvec[p, 1]
                Wm[2, 2] -= gz * rvec[p, 2]
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
        for i in range(a0, a1):
            zi = types[i]
            p0 = nbr_off[i]
            n_nb = nbr_off[i + 1] - p0
            for m in range(n_moments):
                M[m] = 0.0
                Md[m] = 0.0
            for pl in range(n_nb):
                p = p0 + pl
                jg = nbr_j[p]
                zj = types[jg]
                _pair_scratch(pl, rvec[p, 0], rvec[p, 1], rvec[p, 2], zi, zj, rc, min_dist,
                              max_dist, scaling, bmu, ba, bb, bc, max_pow, phi, dphi, f, df, U,
                              GU, uvec, px, py, pz)
                tx = 0.0
                ty = 0.0
                tz = 0.0
                if two_wf != 0.0:
                    tx = two_wf * ((f_out[i, 0] - f_ref[i, 0]) - (f_out[jg, 0] - f_ref[jg, 0]))
                    ty = two_wf * ((f_out[i, 1] - f_ref[i, 1]) - (f_out[jg, 1] - f_ref[jg, 1]))
                    tz = two_wf * ((f_out[i, 2] - f_ref[i, 2]) - (f_out[jg, 2] - f_ref[jg, 2]))
                if two_ws != 0.0:
                    rx = rvec[p, 0]
                    ry = rvec[p, 1]
                    rz = rvec[p, 2]
                    tx -= two_ws * (dW[0, 0] * rx + dW[0, 1] * ry + dW[0, 2] * rz)
                    ty -= two_ws * (dW[1, 0] * rx + dW[1, 1] * ry + dW[1, 2] * rz)
                    tz -= two_ws * (dW[2, 0] * rx + dW[2, 1] * ry + dW[2, 2] * rz)
                tvec[pl, 0] = tx
                tvec[pl, 1] = ty
                tvec[pl, 2] = tz
                ut = uvec[pl, 0] * tx + uvec[pl, 1] * ty + uvec[pl, 2] * tz
                for m in range(nb):
                    mu = bmu[m]
                    um = U[pl, m]
                    gut = GU[pl, m, 0] * tx + GU[pl, m, 1] * ty + GU[pl, m, 2] * tz
                    # keep GU.t in GU[.., 0] for the sweep below (GU not needed otherwise)
                    GU[pl, m, 0] = gut
                    M[m] += f[pl, mu] * um
                    Md[m] += df[pl, mu] * um * ut + f[pl, mu] * gut
                tvec[pl, 0] = ut
            for q in range(nt):
                ii = times[q, 0]
                jj = times[q, 1]
                kk = times[q, 3]
                mult = times[q, 2]
                Md[kk] += mult * (Md[ii] * M[jj] + M[ii] * Md[jj])
                M[kk] += mult * M[ii] * M[jj]
            g[n_rad_par + zi] += a_e
            for al in range(nal):
                g[n_rad_par + S + al] += a_e * M[mapping[al]] + Md[mapping[al]]
            for m in range(n_moments):
                A[m] = 0.0
                Ab[m] = 0.0
            for al in range(nal):
                A[mapping[al]] += a_e * mc[al]
                Ab[mapping[al]] += mc[al]
            for q in range(nt - 1, -1, -1):
                ii = times[q, 0]
                jj = times[q, 1]
                kk = times[q, 3]
                mult = times[q, 2]
                bk = mult * Ab[kk]
                ak = mult * A[kk]
                A[ii] += ak * M[jj] + bk * Md[jj]
                A[jj] += ak * M[ii] + bk * Md[ii]
                Ab[ii] += bk * M[jj]
                Ab[jj] += bk * M[ii]
            for pl in range(n_nb):
                p = p0 + pl
                zj = types[nbr_j[p]]
                ut = tvec[pl, 0]
                for mu in range(nrad):
                    P[mu] = 0.0
                    Q[mu] = 0.0
                for m in range(nb):
                    mu = bmu[m]
                    um = U[pl, m]
                    P[mu] += A[m] * um + Ab[m] * GU[pl, m, 0]
                    Q[mu] += Ab[m] * um * ut
                base = (zi * S + zj) * nrad
                for mu in range(nrad):
                    off = (base + mu) * nbas
                    pm = P[mu]
                    qm = Q[mu]
                    for k in range(nbas):
                        g[off + k] += pm * phi[pl, k] + qm * dphi[pl, k]


@njit(cache=True)
def linear_jacobian_kernel(a0, a1, types, nbr_off, nbr_j, rvec, rc, bmu, ba, bb, bc, times, mapping,
                           n_moments, min_dist, max_dist, scaling, max_nbr, e_row, jf, jw):
    """For atoms a0..a1 (one configuration, atom indices local to it = index - a0):
    e_row[al] = sum_i B_al(i), jf[al, i, :] = dF_i/dw_al, jw[al] = dW/dw_al (accumulated into)."""
    S = rc.shape[0]
    nrad = rc.shape[2]
    nbas = rc.shape[3]
    nb = bmu.shape[0]
    nt = times.shape[0]
    nal = mapping.shape[0]
    max_pow = 0
    for m in range(nb):
        max_pow = max(max_pow, ba[m], bb[m], bc[m])
    phi = np.empty((max_nbr, nbas))
    dphi = np.empty((max_nbr, nbas))
    f = np.empty((max_nbr, nrad))
    df = np.empty((max_nbr, nrad))
    U = np.empty((max_nbr, nb))
    GU = np.empty((max_nbr, nb, 3))
    uvec = np.empty((max_nbr, 3))
    px = np.empty(max_pow + 1)
    py = np.empty(max_pow + 1)
    pz = np.empty(max_pow + 1)
    M = np.empty(n_moments)
    D = np.empty((n_moments, max_nbr, 3))
    for i in range(a0, a1):
        zi = types[i]
        p0 = nbr_off[i]
        n_nb = nbr_off[i + 1] - p0
        for m in range(n_moments):
            M[m] = 0.0
            for pl in range(n_nb):
                D[m, pl, 0] = 0.0
                D[m, pl, 1] = 0.0
                D[m, pl, 2] = 0.0
        for pl in range(n_nb):
            p = p0 + pl
            zj = types[nbr_j[p]]
            _pair_scratch(pl, rvec[p, 0], rvec[p, 1], rvec[p, 2], zi, zj, rc, min_dist, max_dist,
                          scaling, bmu, ba, bb, bc, max_pow, phi, dphi, f, df, U, GU, uvec,
                          px, py, pz)
            for m in range(nb):
                mu = bmu[m]
                um = U[pl, m]
                M[m] += f[pl, mu] * um
                s = df[pl, mu] * um
                for a in range(3):
                    D[m, pl, a] = s * uvec[pl, a] + f[pl, mu] * GU[pl, m, a]
        for q in range(nt):
            ii = times[q, 0]
            jj = times[q, 1]
            kk = times[q, 3]
            mult = times[q, 2]
            mi = M[ii]
            mj = M[jj]
            for pl in range(n_nb):
                for a in range(3):
                    D[kk, pl, a] += mult * (D[ii, pl, a] * mj + mi * D[jj, pl, a])
            M[kk] += mult * mi * mj
        for al in range(nal):
            mm = mapping[al]
            e_row[al] += M[mm]
            for pl in range(n_nb):
                p = p0 + pl
                jl = nbr_j[p] - a0
                il = i - a0
                for a in range(3):
                    d = D[mm, pl, a]
                    jf[al, il, a] += d
                    jf[al, jl, a] -= d
                    for b in range(3):
                        jw[al, a, b] -= d * rvec[p, b]
    return S
