"""What makes training converge like (or faster than) MLIP: the whitening preconditioner, MLIP's
scaling choice and convergence rule, and the MLIP start of an untrained template."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.train.linear import ProjectedLoss, _spread, choose_scaling, solve_normal
from mtpflow.train.loss import LossFunction, LossWeights, PackedSet
from mtpflow.train.optimizer import BFGSState, converged
from mtpflow.train.precondition import Preconditioned, _basis, radial_gram, whitening
from mtpflow.train.trainer import initialise
from tests.train.synth import label_with, random_configs, random_potential, template


@pytest.fixture(scope="module")
def setup():
    truth = random_potential(8, seed=51, radial=0.01)
    configs = label_with(truth, random_configs(6, seed=52), noise=0.05)
    data = PackedSet(configs, truth.max_dist, LossWeights(), np.arange(6))
    return truth, configs, data


def test_whitened_basis_is_orthonormal_over_the_data(setup):
    pot, _, data = setup
    T = whitening(pot, data)
    g = radial_gram(pot, data)
    B = pot.radial_basis_size
    for a in range(3):
        for b in range(3):
            G = g[a, b, 1:].reshape(B, B) / g[a, b, 0]
            np.testing.assert_allclose(T[a, b].T @ G @ T[a, b], np.eye(B), atol=1e-8)
    # the Gram sums what it says: phi phi^T + phi' phi'^T over the pairs (0, 1) within max_dist
    r = np.sqrt(np.sum(data.rvec ** 2, axis=1))
    zi = np.repeat(data.types, np.diff(data.nbr_off))
    m = (zi == 0) & (data.types[data.nbr_j] == 1) & (r < pot.max_dist)
    phi, dphi = _basis(r[m], pot.min_dist, pot.max_dist, B)
    np.testing.assert_allclose(g[0, 1, 1:].reshape(B, B), phi @ phi.T + dphi @ dphi.T, rtol=1e-12)
    assert g[0, 1, 0] == np.count_nonzero(m)
    # the same whatever the chunking (ranks own whole chunks)
    one_chunk = PackedSet(setup[1], pot.max_dist, LossWeights(), np.zeros(6, int))
    np.testing.assert_allclose(whitening(pot, one_chunk), T, rtol=1e-12)


def test_basis_derivative_is_the_derivative(setup):
    r = np.linspace(1.6, 4.4, 7)
    phi, dphi = _basis(r, 1.5, 4.5, 6)
    h = 1e-6
    fd = (_basis(r + h, 1.5, 4.5, 6)[0] - _basis(r - h, 1.5, 4.5, 6)[0]) / (2 * h)
    np.testing.assert_allclose(dphi, fd, rtol=1e-6, atol=1e-8)


def test_preconditioned_loss_and_gradient(setup):
    pot, _, data = setup
    pl = ProjectedLoss(LossFunction(pot, data), data)
    pc = Preconditioned(pl, whitening(pot, data), pot.radial_coeffs.shape)
    c = pot.radial_coeffs.reshape(-1)
    y = pc.from_coeffs(c)
    np.testing.assert_allclose(pc.to_coeffs(y), c, rtol=1e-12, atol=1e-16)
    f, g, _ = pc(y)
    assert f == pytest.approx(pl(c, False)[0], rel=1e-12)
    rng = np.random.default_rng(3)
    v = rng.normal(size=y.size)
    h = 1e-6 * np.linalg.norm(y) / np.linalg.norm(v)
    fd = (pc(y + h * v, False)[0] - pc(y - h * v, False)[0]) / (2 * h)
    assert float(g @ v) == pytest.approx(fd, rel=1e-5)


def test_choose_scaling_finds_the_smallest_spread():
    # diagonal problem: the coefficient of an unknown of degree p at scaling lam is x_p / lam^p
    deg = np.array([0, 0, 1, 1, 2, 2, 3, 4], dtype=float)
    x = np.array([5.0, -3.0, 0.2, 0.4, 7.0, -0.5, 30.0, 900.0])
    A = np.diag(np.full(len(x), 2.0))
    b = A @ x
    lam = choose_scaling(A, b, deg)
    grid = np.exp(np.linspace(np.log(0.01), np.log(100), 4001))
    spreads = [_spread(x / g ** deg) for g in grid]
    best = grid[int(np.argmin(spreads))]
    assert best / 1.2 <= lam <= best * 1.2
    assert _spread(solve_normal(A * np.outer(lam ** deg, lam ** deg), b * lam ** deg)) <= \
        1.05 * min(spreads)
    assert choose_scaling(A, A @ np.ones(len(x)), np.zeros(len(x))) == 1.0  # nothing to gain


def test_convergence_rule_is_mlips():
    st = BFGSState(x=np.zeros(1), f=1.0, g=np.zeros(1))
    st.history = list(np.linspace(2.0, 1.0, 201))  # 200 iterations, decreasing 0.005 each
    st.iteration = 200
    # decrease over the last 50 iterations 0.25, relative to the current 1.0
    assert not converged(st, 0.2) and converged(st, 0.3)
    st.iteration = 199
    st.history = st.history[:200]
    assert not converged(st, 0.9)  # only at 200, 250, ...
    st.iteration, st.history = 150, st.history[:151]
    assert not converged(st, 0.9)  # never before 200
    st.iteration, st.history = 200, list(np.linspace(2.0, 1.0, 201))
    assert not converged(st, 0.0)


def test_initialise_template_as_mlip():
    tpl = template(8)
    pot = initialise(tpl, 3)
    assert pot.species_count == 3 and pot.radial_coeffs.shape == (3, 3, 2, 6)
    assert pot.radial_coeffs[2, 1, 1, 1] == 1e-3 * 8 and pot.radial_coeffs[2, 1, 1, 0] == 1e-6
    assert tpl.radial_coeffs is None  # the template is not modified
    r = initialise(tpl, 3, init_random=True, seed=5)
    assert np.abs(r.radial_coeffs).max() <= 5e-7
    trained = random_potential(8)
    again = initialise(trained, 3)
    np.testing.assert_array_equal(again.get_params(), trained.get_params())
