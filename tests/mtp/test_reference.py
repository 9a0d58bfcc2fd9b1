"""The pure-numpy reference evaluator against the model's definition (../shared/docs/mtp.md)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import chebyshev

from mtpflow.mtp import reference as ref
from mtpflow.mtp.init import init_potential, randomize
from tests.conftest import shared_path


def _rot(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _neigh(rng, n, species, lo=1.6, hi=4.9):
    d = rng.uniform(lo, hi, n)
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1)[:, None] * d[:, None], rng.integers(0, species, n)


def test_radial_basis_is_chebyshev_times_envelope_and_strict_cutoff():
    pot = init_potential(8, 2, 1.9, 5.0, radial_basis_size=7)
    r = np.array([0.5, 1.9, 2.7, 4.99, 5.0, 5.3])
    phi = ref.radial_basis(r, pot)
    xi = (2 * r - 6.9) / 3.1
    for k in range(7):
        expect = chebyshev.chebval(xi, [0] * k + [1]) * (5.0 - r) ** 2
        expect[r >= 5.0] = 0.0
        np.testing.assert_allclose(phi[:, k], expect, rtol=1e-13, atol=1e-13)
    assert np.all(phi[-2:] == 0.0)
    pot.scaling = 0.37
    np.testing.assert_allclose(ref.radial_basis(r, pot), 0.37 * phi, rtol=1e-15)


def test_basic_moments_match_an_explicit_loop():
    rng = np.random.default_rng(1)
    pot = randomize(init_potential(12, 3, 1.5, 5.0), seed=2)
    rel, zj = _neigh(rng, 9, 3)
    zi = 1
    got = ref.basic_moments(rel, zi, zj, pot)
    for m, (mu, a, b, c) in enumerate(pot.alpha_index_basic):
        total = 0.0
        for x, z in zip(rel, zj):
            r = np.linalg.norm(x)
            f = sum(pot.radial_coeffs[zi, z, mu, k] * ref.radial_basis(r, pot)[k]
                    for k in range(pot.radial_basis_size))
            u = x / r
            total += f * u[0] ** a * u[1] ** b * u[2] ** c
        assert got[m] == pytest.approx(total, rel=1e-12, abs=1e-12)


def test_neighbours_beyond_cutoff_and_padding_are_ignored():
    rng = np.random.default_rng(3)
    pot = randomize(init_potential(10, 2, 1.5, 5.0), seed=4)
    rel, zj = _neigh(rng, 6, 2)
    far = np.array([[5.0, 0, 0], [0, 6.0, 0]])
    b0 = ref.basis_functions(rel, 0, zj, pot)
    b1 = ref.basis_functions(np.vstack([rel, far]), 0, np.r_[zj, 1, 0], pot)
    np.testing.assert_allclose(b1, b0, rtol=1e-14, atol=1e-14)
    pad = np.vstack([rel, np.zeros((3, 3))])[None]
    mask = np.r_[np.ones(6, bool), np.zeros(3, bool)][None]
    bb = ref.basis_functions_batch(pot, pad, np.array([0]), np.r_[zj, 0, 0, 0][None], mask)
    np.testing.assert_allclose(bb[0], b0, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("source", ["generated", "template"])
def test_batched_contraction_equals_file_order(source):
    if source == "template":
        from mtpflow.io.mtp import read_mtp
        from mtpflow.mtp.init import from_template
        pot = from_template(read_mtp(shared_path("mtp_templates", "16.almtp")), 2, 1.5, 5.0, random_coeffs=True,
                            seed=5)
    else:
        pot = init_potential(16, 2, 1.5, 5.0, random_coeffs=True, seed=5)
    rng = np.random.default_rng(6)
    basic = rng.normal(size=(pot.alpha_index_basic_count, 7))
    np.testing.assert_allclose(ref.contract_batched(pot, basic), ref.contract(pot, basic), rtol=1e-13, atol=1e-13)
    # a table that reads a moment before its last write must keep file order
    weird = pot.copy()
    nb = pot.alpha_index_basic_count
    weird.alpha_index_times = np.vstack([[0, nb, 1, nb + 1], pot.alpha_index_times])
    np.testing.assert_array_equal(ref.contract_batched(weird, basic), ref.contract(weird, basic))


def test_site_energy_and_rotation_invariance():
    rng = np.random.default_rng(7)
    pot = init_potential(16, 3, 1.5, 5.0, random_coeffs=True, seed=8)
    pot.species_coeffs = np.array([-1.0, -2.0, -3.5])
    rel, zj = _neigh(rng, 12, 3)
    b = ref.basis_functions(rel, 2, zj, pot)
    e = ref.site_energy(rel, 2, zj, pot)
    assert e == pytest.approx(-3.5 + pot.moment_coeffs @ b, rel=1e-14)
    rot = _rot(rng)
    np.testing.assert_allclose(ref.basis_functions(rel @ rot.T, 2, zj, pot), b, rtol=1e-10, atol=1e-12)
    perm = rng.permutation(12)
    np.testing.assert_allclose(ref.basis_functions(rel[perm], 2, zj[perm], pot), b, rtol=1e-10, atol=1e-12)


def test_total_energy_invariances_periodic_and_free():
    rng = np.random.default_rng(9)
    pot = init_potential(8, 2, 1.5, 4.0, random_coeffs=True, seed=10)
    pot.species_coeffs = np.array([-0.5, -1.0])
    cell = np.array([[4.2, 0.0, 0.0], [0.7, 3.9, 0.0], [0.3, -0.4, 4.4]])   # smaller than 2 cutoffs
    frac = rng.random((4, 3))
    pos = frac @ cell
    types = np.array([0, 1, 1, 0])
    e = ref.energy(pos, types, pot, cell)
    rot = _rot(rng)
    assert ref.energy(pos @ rot.T + 1.3, types, pot, cell @ rot.T) == pytest.approx(e, rel=1e-11)
    shifted = pos + cell[0] - 2 * cell[2]                                  # images of the same atoms
    assert ref.energy(shifted, types, pot, cell) == pytest.approx(e, rel=1e-11)
    # free dimer: each atom sees the other once
    dimer = np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 0.0]])
    e2 = ref.energy(dimer, [0, 1], pot)
    e_sites = (ref.site_energy(dimer[1:] - dimer[0], 0, [1], pot)
               + ref.site_energy(dimer[:1] - dimer[1], 1, [0], pot))
    assert e2 == pytest.approx(e_sites, rel=1e-14)
