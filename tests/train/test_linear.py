"""The exact linear least-squares solve and the rank-independent reductions."""

from __future__ import annotations

import numpy as np

from mtpflow.train import parallel
from mtpflow.train.linear import fit_linear, moment_degrees, normal_equations, solve_normal
from mtpflow.train.loss import LossFunction, LossWeights, PackedSet
from tests.train.synth import label_with, random_configs, random_potential


def test_solve_normal_exact_and_minimum_norm():
    rng = np.random.default_rng(0)
    J = rng.normal(size=(40, 6))
    x_true = rng.normal(size=6)
    A, b = J.T @ J, J.T @ (J @ x_true)
    np.testing.assert_allclose(solve_normal(A, b), x_true, rtol=1e-10)
    # a rank-deficient direction (two identical columns) gets the minimum-norm split
    J2 = np.column_stack([J[:, :5], J[:, 4]])
    x = solve_normal(J2.T @ J2, J2.T @ (J[:, :5] @ x_true[:5]))
    assert abs(x[4] - x[5]) < 1e-9 and abs(x[4] + x[5] - x_true[4]) < 1e-9


def test_linear_fit_recovers_exact_coefficients():
    truth = random_potential(8, seed=21, radial=0.005, moment=1.0)
    configs = label_with(truth, random_configs(12, seed=22, atoms=(5, 11)))
    data = PackedSet(configs, truth.max_dist, LossWeights(1.0, 0.01, 0.001), np.arange(12))
    pot = truth.copy()
    pot.species_coeffs[:] = 0.0
    pot.moment_coeffs[:] = 0.0
    fit_linear(pot, data, rescale=False)
    np.testing.assert_allclose(pot.moment_coeffs, truth.moment_coeffs, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(pot.species_coeffs, truth.species_coeffs, rtol=1e-6, atol=1e-8)
    loss, grad, _ = LossFunction(pot, data)(pot.get_params())
    assert loss < 1e-12


def test_linear_fit_is_the_loss_minimum_and_rescaling_keeps_it():
    truth = random_potential(8, seed=31, radial=0.005)
    configs = label_with(truth, random_configs(10, seed=32), noise=0.2)
    data = PackedSet(configs, truth.max_dist, LossWeights(), np.arange(10))
    pot = truth.copy()
    fit_linear(pot, data, rescale=False)
    lf = LossFunction(pot, data)
    l0, g, _ = lf(pot.get_params())
    n_rad = pot.radial_coeffs.size
    # random perturbations of the linear coefficients only increase the loss
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = pot.get_params()
        x[n_rad:] *= 1 + 1e-4 * rng.normal(size=len(x) - n_rad)
        assert lf(x, False)[0] >= l0
    # scaling s -> lam*s with the exact refit gives the same loss (the model space is unchanged)
    p2 = truth.copy()
    p2.scaling *= 1.7
    fit_linear(p2, data, rescale=False)
    l2 = LossFunction(p2, data)(p2.get_params(), False)[0]
    assert abs(l2 - l0) < 1e-6 * l0
    assert set(moment_degrees(pot)) <= {1, 2, 3, 4}


def test_normal_equations_independent_of_chunking():
    truth = random_potential(8, seed=41, radial=0.005)
    configs = label_with(truth, random_configs(7, seed=42), noise=0.1)
    a = normal_equations(truth, PackedSet(configs, truth.max_dist, LossWeights(), np.arange(7)))
    b = normal_equations(truth, PackedSet(configs, truth.max_dist, LossWeights(), np.zeros(7, int)))
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)


def test_partition_balances_atoms_and_covers_all_chunks():
    atoms = np.array([96, 96, 10, 10, 10, 96, 200, 5])
    for size in (1, 2, 3, 5):
        parts = parallel.partition_chunks(atoms, size)
        assert parts[0][0] == 0 and parts[-1][1] == len(atoms)
        assert all(parts[r][1] == parts[r + 1][0] for r in range(size - 1))
    two = parallel.partition_chunks(atoms, 2)
    left = atoms[two[0][0]:two[0][1]].sum()
    assert abs(left - atoms.sum() / 2) <= atoms.max()
    ch = parallel.make_chunks(200)
    assert ch[0] == 0 and ch[-1] == parallel.MAX_CHUNKS - 1 and np.all(np.diff(ch) >= 0)
