"""The analytic loss gradient against central finite differences, and the kernel's E/F/W against
MLIP's own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.train.loss import LossFunction, LossWeights, PackedSet, evaluate_local, voigt_to_full
from tests.conftest import assert_matches_mlip, shared_path
from tests.train.synth import label_with, random_configs, random_potential


def _fd_check(level, weights, seed):
    pot = random_potential(level, species=3, seed=seed)
    configs = label_with(pot, random_configs(3, species=3, seed=seed + 10), noise=0.5, seed=seed)
    data = PackedSet(configs, pot.max_dist, weights, np.arange(3))
    lf = LossFunction(pot, data)
    x = pot.get_params()
    loss, grad, _ = lf(x)
    assert np.isfinite(loss) and loss > 0
    fd = np.empty_like(x)
    for i in range(len(x)):  # fourth-order central differences
        h = 1e-4 * max(1e-2, abs(x[i]))
        vals = []
        for step in (2, 1, -1, -2):
            xs = x.copy()
            xs[i] += step * h
            vals.append(lf(xs, False)[0])
        fd[i] = (8 * (vals[1] - vals[2]) - (vals[0] - vals[3])) / (12 * h)
    # every block of parameters is exercised
    s, r, b = pot.species_count, pot.radial_funcs_count, pot.radial_basis_size
    n_rad = s * s * r * b
    for blk in (slice(0, n_rad), slice(n_rad + s, None)):
        assert np.linalg.norm(fd[blk]) > 0
    if weights.energy == 0:  # species coefficients only enter the energy
        assert np.all(grad[n_rad:n_rad + s] == 0) and np.allclose(fd[n_rad:n_rad + s], 0, atol=1e-9)
        fd[n_rad:n_rad + s] = 0.0
    rel = np.linalg.norm(grad - fd) / np.linalg.norm(fd)
    assert rel < 1e-6, rel
    # component-wise: each block relative to its own norm (loose: FD round-off), all to 1e-6
    for blk in (slice(0, n_rad), slice(n_rad, n_rad + s), slice(n_rad + s, None)):
        assert np.linalg.norm(grad[blk] - fd[blk]) <= 1e-5 * np.linalg.norm(fd[blk])
    assert np.abs(grad - fd).max() < 1e-6 * np.abs(fd).max()


@pytest.mark.parametrize("level", [8, 16])
def test_gradient_matches_finite_differences_efs(level):
    _fd_check(level, LossWeights(energy=1.0, force=0.3, stress=0.2), seed=level)


def test_gradient_each_term_alone():
    for w in (LossWeights(1.0, 0.0, 0.0), LossWeights(0.0, 1.0, 0.0), LossWeights(0.0, 0.0, 1.0),
              LossWeights(1.0, 0.5, 0.1, scaling=2, scaling_forces=1)):
        _fd_check(8, w, seed=3)


def test_loss_value_is_mlip_definition():
    pot = random_potential(8, seed=4)
    configs = random_configs(2, seed=5)
    w = LossWeights(0.7, 0.05, 0.02)
    data = PackedSet(configs, pot.max_dist, w, np.array([0, 0]))
    rows, e, f, wv = evaluate_local(pot, data, want_grad=False)
    expected = 0.0
    for k, c in enumerate(configs):
        n = c.n_atoms
        fk = f[data.atom_off[k]:data.atom_off[k + 1]]
        dW = wv[k] - voigt_to_full(c.plus_stress)
        expected += (0.7 / n * (e[k] - c.energy) ** 2 + 0.05 * np.sum((fk - c.forces) ** 2)
                     + 0.02 / n * np.sum(dW * dW))
    assert rows[0, 0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["random_L16", "trained_L08"])
def test_kernel_reproduces_mlip_outputs(name):
    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.mtp import read_mtp

    pot = read_mtp(shared_path("mlip_reference", f"{name}.almtp"))
    for inp in ("triclinic", "guidebook_test5"):
        configs = read_cfg(shared_path("mtp_oracle_inputs", f"{inp}.cfg"))
        ref = read_cfg(shared_path("mlip_reference", f"{name}__{inp}.cfg"))
        data = PackedSet(configs, pot.max_dist, LossWeights(), np.zeros(len(configs), np.int64))
        _, e, f, w = evaluate_local(pot, data, want_grad=False)
        assert len(e) == len(ref)
        for k, c in enumerate(ref):
            a0, a1 = data.atom_off[k], data.atom_off[k + 1]
            assert_matches_mlip(e[k], f[a0:a1], w[k], c, f"{inp} {k}")
