"""BFGS (dense inverse Hessian) with a strong-Wolfe line search (Nocedal & Wright, Alg. 3.5/3.6).

Pure arithmetic on the loss and gradient, which every rank receives bit-identical (train.parallel),
so every rank takes identical steps. The whole optimizer state is a few arrays (`BFGSState`), saved
in checkpoints; resuming from it continues exactly as an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

C1 = 1e-4
C2 = 0.9
WINDOW = 50        # convergence (MLIP-3): every WINDOW iterations from FIRST_CHECK on, stop when
FIRST_CHECK = 200  # the loss decreased by less than tolerance x its current value over WINDOW


@dataclass
class BFGSState:
    x: np.ndarray
    f: float
    g: np.ndarray
    H: np.ndarray | None = None       # inverse Hessian approximation; None before the first update
    iteration: int = 0
    history: list[float] = field(default_factory=list)  # loss after each iteration (and at start)
    n_evals: int = 0
    last_step: float = 1.0


def _cubic_min(a, fa, ga, b, fb, gb):
    """Minimiser of the cubic through (a, fa, ga), (b, fb, gb); None when it does not exist."""
    d1 = ga + gb - 3 * (fa - fb) / (a - b)
    disc = d1 * d1 - ga * gb
    if disc < 0:
        return None
    d2 = np.sign(b - a) * np.sqrt(disc)
    denom = gb - ga + 2 * d2
    if denom == 0:
        return None
    return b - (b - a) * (gb + d2 - d1) / denom


def _interp(lo, flo, glo, hi, fhi, ghi):
    a = _cubic_min(lo, flo, glo, hi, fhi, ghi)
    left, right = min(lo, hi), max(lo, hi)
    span = right - left
    if a is None or not np.isfinite(a) or a < left + 0.1 * span or a > right - 0.1 * span:
        a = 0.5 * (lo + hi)
    return a


def line_search(fun, x, f0, g0, p, alpha0, max_evals=20):
    """Strong-Wolfe step along p. fun(x) -> (f, g). Returns (alpha, f, g, n_evals) or None."""
    d0 = float(g0 @ p)
    if not d0 < 0:
        return None
    evals = 0
    a_prev, f_prev, d_prev = 0.0, f0, d0
    a = alpha0
    while evals < max_evals:
        f, g = fun(x + a * p)
        evals += 1
        d = float(g @ p)
        if not np.isfinite(f) or f > f0 + C1 * a * d0 or (evals > 1 and f >= f_prev):
            return _zoom(fun, x, f0, d0, p, a_prev, f_prev, d_prev, a, f, d, evals, max_evals)
        if abs(d) <= -C2 * d0:
            return a, f, g, evals
        if d >= 0:
            return _zoom(fun, x, f0, d0, p, a, f, d, a_prev, f_prev, d_prev, evals, max_evals,
                         best=(a, f, g))
        a_prev, f_prev, d_prev = a, f, d
        last = (a, f, g)
        a = a * 4.0
        if evals >= max_evals:
            return last + (evals,)
    return None


def _zoom(fun, x, f0, d0, p, lo, flo, dlo, hi, fhi, dhi, evals, max_evals, best=None):
    if not np.isfinite(fhi):
        fhi, dhi = flo + 1e300, 0.0
    if best is None and lo > 0:
        best = None  # the lo point's gradient was not kept; it is re-evaluated if needed
    while evals < max_evals:
        a = _interp(lo, flo, dlo, hi, fhi, dhi) if np.isfinite(fhi) and abs(fhi) < 1e299 \
            else 0.5 * (lo + hi)
        f, g = fun(x + a * p)
        evals += 1
        d = float(g @ p)
        if not np.isfinite(f) or f > f0 + C1 * a * d0 or f >= flo:
            hi, fhi, dhi = a, (f if np.isfinite(f) else flo + 1e300), d
        else:
            if abs(d) <= -C2 * d0:
                return a, f, g, evals
            if d * (hi - lo) >= 0:
                hi, fhi, dhi = lo, flo, dlo
            lo, flo, dlo = a, f, d
            best = (a, f, g)
        if abs(hi - lo) < 1e-16 * max(1.0, abs(lo)):
            break
    if best is not None and best[1] < f0:
        return best + (evals,)
    return None


def bfgs_iteration(fun, state: BFGSState) -> bool:
    """One BFGS iteration in place. Returns False when no decrease could be found."""
    g = state.g
    if state.H is None:
        p = -g
        alpha0 = min(1.0, 1e-2 * max(1.0, float(np.linalg.norm(state.x))) / max(np.linalg.norm(g), 1e-300))
    else:
        p = -(state.H @ g)
        alpha0 = 1.0
        if not float(g @ p) < 0:  # lost positive definiteness: restart from a scaled identity
            state.H = None
            p = -g
            alpha0 = state.last_step
    res = line_search(fun, state.x, state.f, g, p, alpha0)
    if res is None and state.H is not None:
        state.H = None
        p = -g
        res = line_search(fun, state.x, state.f, g, p,
                          1e-2 * max(1.0, float(np.linalg.norm(state.x))) / max(np.linalg.norm(g), 1e-300))
    if res is None:
        return False
    a, f_new, g_new, evals = res
    state.n_evals += evals
    s = a * p
    y = g_new - g
    sy = float(s @ y)
    n = len(state.x)
    if sy > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)) and sy > 0:
        if state.H is None:
            state.H = np.eye(n) * (sy / float(y @ y))
        rho = 1.0 / sy
        Hy = state.H @ y
        state.H = (state.H - rho * (np.outer(s, Hy) + np.outer(Hy, s))
                   + (rho * rho * float(y @ Hy) + rho) * np.outer(s, s))
    state.x = state.x + s
    state.f = f_new
    state.g = g_new
    state.last_step = float(a * np.linalg.norm(p) / max(np.linalg.norm(g_new), 1e-300))
    state.iteration += 1
    state.history.append(f_new)
    return True


def converged(state: BFGSState, tolerance: float) -> bool:
    """MLIP-3's rule: at iterations 200, 250, 300, ... stop when (f(it - 50) - f(it)) / f(it) is
    below `tolerance` (0 or less: never)."""
    it = state.iteration
    if tolerance <= 0 or it < FIRST_CHECK or it % WINDOW or len(state.history) <= WINDOW:
        return False
    old, f = state.history[-1 - WINDOW], state.history[-1]
    return (old - f) <= tolerance * abs(f)
