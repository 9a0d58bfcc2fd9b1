"""The exact weighted linear least-squares solve for species and moment coefficients, and the
radial `scaling` choice, as MLIP does before its BFGS.

With radial coefficients fixed, E, F and W are linear in x = (species_coeffs, moment_coeffs):
E_k = n_k . s + e_k . w, F_k = JF_k^T w, W_k = JW_k^T w. The loss is then a quadratic in x; its
normal equations A x = b (size species + basis functions) are summed per chunk in a fixed order
(train.parallel) and solved by a symmetric eigendecomposition (minimum-norm solution: directions
the data does not determine, e.g. species coefficients when every configuration has the same
composition, are left at zero).

Scaling: every basic moment is proportional to `scaling`, a product of p basic moments to
scaling^p, so the normal equations for scaling s' = lam * s follow from those at s by
A' = D A D with D = diag(1 (species), lam^p_alpha): one pass over the data serves every
candidate. The choice is MLIP-3's Rescale (choose_scaling).
"""

from __future__ import annotations

import numpy as np

from mtpflow.train import parallel
from mtpflow.train.kernels import linear_jacobian_kernel
from mtpflow.train.loss import PackedSet, kernel_args


def moment_degrees(pot) -> np.ndarray:
    """Number of basic-moment factors of every basis function (1 for basic moments)."""
    deg = np.zeros(pot.alpha_moments_count, dtype=np.int64)
    deg[: pot.alpha_index_basic_count] = 1
    for i, j, _m, k in pot.alpha_index_times:
        d = deg[i] + deg[j]
        if deg[k] not in (0, d):
            raise ValueError(f"moment {k} is a sum of products of different degrees")
        deg[k] = d
    return deg[pot.alpha_moment_mapping]


def normal_equations(pot, data: PackedSet, comm=None):
    """(A, b, c) with loss(x) = x.A.x - 2 b.x + c for x = (species_coeffs, moment_coeffs)."""
    comm = comm if comm is not None else parallel.SerialComm()
    S = pot.species_count
    nal = pot.alpha_scalar_moments
    n = S + nal
    args = kernel_args(pot)
    rows = np.zeros((data.n_local_chunks, n * n + n + 1))
    for k in range(data.n_configs):
        a0, a1 = int(data.atom_off[k]), int(data.atom_off[k + 1])
        na = a1 - a0
        e_row = np.zeros(nal)
        jf = np.zeros((nal, na, 3))
        jw = np.zeros((nal, 3, 3))
        linear_jacobian_kernel(a0, a1, data.types, data.nbr_off, data.nbr_j, data.rvec, *args,
                               data.max_nbr, e_row, jf, jw)
        A = np.zeros((n, n))
        b = np.zeros(n)
        c = 0.0
        if data.we[k]:
            row = np.concatenate([np.bincount(data.types[a0:a1], minlength=S).astype(float), e_row])
            A += data.we[k] * np.outer(row, row)
            b += data.we[k] * row * data.e_ref[k]
            c += data.we[k] * data.e_ref[k] ** 2
        if data.wf[k]:
            J = jf.reshape(nal, 3 * na)
            y = data.f_ref[a0:a1].reshape(-1)
            A[S:, S:] += data.wf[k] * (J @ J.T)
            b[S:] += data.wf[k] * (J @ y)
            c += data.wf[k] * float(y @ y)
        if data.ws[k]:
            J = jw.reshape(nal, 9)
            y = data.w_ref[k].reshape(-1)
            A[S:, S:] += data.ws[k] * (J @ J.T)
            b[S:] += data.ws[k] * (J @ y)
            c += data.ws[k] * float(y @ y)
        ch = data.local_chunk[k]
        rows[ch, : n * n] += A.reshape(-1)
        rows[ch, n * n: n * n + n] += b
        rows[ch, -1] += c
    total = parallel.ordered_sum(comm, rows)
    A = total[: n * n].reshape(n, n)
    A = 0.5 * (A + A.T)
    return A, total[n * n: n * n + n].copy(), float(total[-1])


def solve_normal(A: np.ndarray, b: np.ndarray, rcond: float = 1e-13) -> np.ndarray:
    """Minimum-norm solution of A x = b for symmetric positive semi-definite A (deterministic)."""
    d = np.sqrt(np.maximum(np.diag(A), 0.0))
    d[d == 0] = 1.0
    As = A / np.outer(d, d)
    w, V = np.linalg.eigh(As)
    keep = w > rcond * max(w.max(), 0.0)
    y = V[:, keep].T @ (b / d)
    x = V[:, keep] @ (y / w[keep])
    return x / d


RESCALE_FACTORS = (1 / 1.2, 1 / 1.1, 1.0, 1.1, 1.2)
RESCALE_MAX_ROUNDS = 200


def _spread(coeffs: np.ndarray) -> float:
    """MLIP's "condition number" of the linear coefficients: sqrt(sum c^2) / median |c|."""
    a = np.sort(np.abs(coeffs))
    med = a[len(a) // 2]
    return float(np.sqrt(np.sum(a * a)) / med) if med > 0 else float("inf")


def choose_scaling(A: np.ndarray, b: np.ndarray, deg: np.ndarray) -> float:
    """The factor lam for `scaling` chosen as MLIP-3's Rescale does: try lam x {1/1.2, 1/1.1, 1,
    1.1, 1.2}, move to the candidate with the smallest spread of the solved linear coefficients
    (species and moment coefficients), and stop when the middle one is best or the move lands
    strictly inside the range already visited. deg: scaling power of each unknown."""
    lam, lo, hi = 1.0, 1.0, 1.0
    for _ in range(RESCALE_MAX_ROUNDS):
        cands = [lam * f for f in RESCALE_FACTORS]
        spreads = []
        for c in cands:
            dd = c ** deg
            spreads.append(_spread(solve_normal(A * np.outer(dd, dd), b * dd)))
        ind = 2
        for j in range(len(cands)):
            if spreads[j] < spreads[ind]:
                ind = j
        lam = cands[ind]
        if ind == 2 or lo < lam < hi:
            break
        lo, hi = min(lo, lam), max(hi, lam)
    return lam


def fit_linear(pot, data: PackedSet, comm=None, rescale: bool = True, log=None) -> dict:
    """Set pot.species_coeffs and pot.moment_coeffs to the exact least-squares solution for its
    radial coefficients (choosing `scaling` first when rescale). Returns a summary dict."""
    S = pot.species_count
    A, b, c = normal_equations(pot, data, comm)
    info = {"scaling_before": pot.scaling}
    if rescale:
        deg = np.concatenate([np.zeros(S), moment_degrees(pot)]).astype(float)
        lam = choose_scaling(A, b, deg)
        dd = lam ** deg
        A = A * np.outer(dd, dd)
        b = b * dd
        pot.scaling = pot.scaling * lam
        if log:
            log(f"radial scaling set to {pot.scaling:.6g}")
    x = solve_normal(A, b)
    pot.species_coeffs = x[:S].copy()
    pot.moment_coeffs = x[S:].copy()
    info["scaling"] = pot.scaling
    return info


class ProjectedLoss:
    """The loss as a function of the radial coefficients alone, with species and moment
    coefficients at their exact least-squares optimum (variable projection). By the envelope
    theorem its gradient is the radial block of the full gradient at that optimum."""

    def __init__(self, lossf, data: PackedSet, comm=None):
        self.lossf = lossf
        self.data = data
        self.comm = comm
        pot = lossf.pot
        self.n_rad = pot.species_count ** 2 * pot.radial_funcs_count * pot.radial_basis_size

    def full_params(self, radial: np.ndarray) -> np.ndarray:
        pot = self.lossf.pot
        pot.radial_coeffs = np.asarray(radial, dtype=np.float64).reshape(pot.radial_coeffs.shape).copy()
        fit_linear(pot, self.data, self.comm, rescale=False)
        return pot.get_params()

    def __call__(self, radial: np.ndarray, want_grad: bool = True):
        x = self.full_params(radial)
        f, g, rmse = self.lossf(x, want_grad)
        return f, (g[: self.n_rad].copy() if want_grad else None), rmse
