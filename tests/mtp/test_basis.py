"""The generated MTP basis: MLIP's sizes and span for every level 02-28, correct tables, invariance."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.errors import InputError
from mtpflow.mtp import reference as ref
from mtpflow.mtp.basis import (compositions, enumerate_graphs, generate_basis, n_seq,
                               radial_funcs_count_for)
from mtpflow.mtp.init import from_template, init_potential, mlip_start
from mtpflow.mtp.potential import moment_levels
from tests.conftest import shared_path

# level: (radial_funcs_count, basic moments, basis functions) of MLIP-3's templates (docs/mtp.md;
# levels 02 and 04 from depreciated-02/04.almtp)
MLIP_SIZES = {2: (1, 1, 1), 4: (1, 1, 2), 6: (2, 5, 5), 8: (2, 11, 9), 10: (3, 25, 16), 12: (3, 46, 29),
              14: (4, 81, 52), 16: (4, 130, 92), 18: (5, 201, 163), 20: (5, 295, 288),
              22: (6, 421, 500), 24: (6, 581, 864), 26: (6, 706, 1464), 28: (6, 866, 2445)}
FAST = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
SLOW = [22, 24, 26, 28]


def _template(level):
    from mtpflow.io.mtp import read_mtp
    name = f"depreciated-{level:02d}.almtp" if level < 6 else f"{level:02d}.almtp"
    return read_mtp(shared_path("mtp_templates", name))


def _neighbourhoods(rng, count, n_max, species, lo=1.5, hi=4.95):
    d = rng.uniform(lo, hi, (count, n_max))
    v = rng.normal(size=(count, n_max, 3))
    rel = v / np.linalg.norm(v, axis=-1, keepdims=True) * d[..., None]
    mask = rng.random((count, n_max)) < 0.85
    return rel, rng.integers(0, species, count), rng.integers(0, species, (count, n_max)), mask


def _span(a):
    """Orthonormal basis of the column space of a (columns normalised; numerical rank as lstsq's
    default cut-off: singular values below eps * max(shape) * s_max are round-off)."""
    a = a / np.linalg.norm(a, axis=0)
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    return u[:, s > s[0] * np.finfo(float).eps * max(a.shape)]


def _fit_residual(a, b, span_a=None):
    """Largest relative residual of fitting each column of b by the columns of a (least squares)."""
    q = _span(a) if span_a is None else span_a
    b = b / np.linalg.norm(b, axis=0)
    return float(np.linalg.norm(b - q @ (q.T @ b), axis=0).max())


@pytest.mark.parametrize("level", sorted(MLIP_SIZES))
def test_sizes_match_mlip(level):
    rfc, n_basic, n_basis = MLIP_SIZES[level]
    basis = generate_basis(level)
    assert basis.alpha_scalar_moments == n_basis
    assert len(basis.alpha_index_basic) == n_basic
    assert basis.radial_funcs_count == rfc == radial_funcs_count_for(level)


def test_radial_funcs_rule_and_odd_levels():
    assert [radial_funcs_count_for(L) for L in range(2, 31, 2)] == \
        [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6, 6, 6]
    odd = generate_basis(11)
    even = generate_basis(10)
    assert odd.alpha_scalar_moments == even.alpha_scalar_moments
    with pytest.raises(ValueError):
        generate_basis(1)


def test_enumeration_rule_details():
    graphs = enumerate_graphs(10)
    labels = [g[0] for g in graphs]
    assert ((0, 0),) * 4 in enumerate_graphs(8)[-20:] or any(g[0] == ((0, 0),) * 4 for g in enumerate_graphs(8))
    assert ((0, 0),) * 5 not in labels                       # at most 4 factors (MLIP's choice)
    assert not any(nu > 10 for g in enumerate_graphs(26) for _, nu in g[0])   # nu <= 10
    assert len(set(graphs)) == len(graphs)
    # without the 4-factor limit level 10 would also have M00^5
    assert len(enumerate_graphs(10, max_factors=5)) == len(graphs) + 1


def test_compositions_and_multiplicities():
    assert compositions(2) == ((2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 2, 0), (0, 1, 1), (0, 0, 2))
    for r in range(7):
        assert sum(n_seq(p) for p in compositions(r)) == 3 ** r


@pytest.mark.parametrize("level", [8, 16, 24])
def test_tables_are_consistent(level):
    b = generate_basis(level)
    pot = init_potential(level, 2, 1.5, 5.0)
    pot.validate()
    nb = len(b.alpha_index_basic)
    t = b.alpha_index_times
    assert np.all(t[:, 2] > 0)
    last_write = {k: row for row, k in enumerate(t[:, 3])}
    for row, (i, j, _m, k) in enumerate(t):            # every moment complete before it is read
        assert k >= nb
        for src in (i, j):
            assert src < nb or last_write[src] < row
    lev = moment_levels(pot)
    assert lev[pot.alpha_moment_mapping].max() == level
    assert len(set(b.alpha_moment_mapping.tolist())) == b.alpha_scalar_moments
    assert set(range(b.alpha_moments_count)) <= set(t[:, :2].ravel()) | set(t[:, 3]) | set(range(nb))


@pytest.mark.parametrize("level", [6, 10, 14])
def test_each_basis_function_is_its_contraction_graph(level):
    """Independent of the tables: sum over neighbour tuples of prod f_mu prod (u.u)^e."""
    rng = np.random.default_rng(level)
    pot = init_potential(level, 3, 1.5, 5.0, random_coeffs=True, seed=level)
    b = generate_basis(level)
    for _ in range(2):
        rel, zi, zj, _mask = _neighbourhoods(rng, 1, 6, 3)
        got = ref.basis_functions(rel[0], zi[0], zj[0], pot)
        want = [ref.graph_value(lab, e, rel[0], zi[0], zj[0], pot) for lab, e in b.graphs]
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("level", [12, 20])
def test_basis_functions_are_rotation_invariant(level):
    rng = np.random.default_rng(11)
    pot = init_potential(level, 2, 1.5, 5.0, random_coeffs=True, seed=3)
    rel, zi, zj, mask = _neighbourhoods(rng, 20, 10, 2)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    b0 = ref.basis_functions_batch(pot, rel, zi, zj, mask)
    for rot in (q, -q):                                  # proper and improper rotations
        b1 = ref.basis_functions_batch(pot, rel @ rot.T, zi, zj, mask)
        np.testing.assert_allclose(b1, b0, rtol=1e-9, atol=1e-9 * np.abs(b0).max())


def _check_span(level, seed=0):
    template = _template(level)
    generated = generate_basis(level)
    assert generated.alpha_scalar_moments == template.alpha_scalar_moments
    assert generated.radial_funcs_count == template.radial_funcs_count
    assert len(generated.alpha_index_basic) == template.alpha_index_basic_count
    species = 3
    gen = init_potential(level, species, 1.5, 5.0, random_coeffs=True, seed=seed)
    tpl = from_template(template, species, 1.5, 5.0, random_coeffs=False)
    rc = gen.radial_coeffs                                # the same radial functions for both
    n = template.alpha_scalar_moments
    rng = np.random.default_rng(seed)
    sample = _neighbourhoods(rng, int(1.3 * n) + 60, 14, species)
    b_gen = ref.basis_functions_batch(gen, *sample)
    b_tpl = ref.basis_functions_batch(tpl, *sample, radial_coeffs=rc)
    assert _fit_residual(b_gen, b_tpl) < 1e-11           # template functions in the generated span
    assert _fit_residual(b_tpl, b_gen) < 1e-11           # and the other way round
    return generated, b_gen, b_tpl, sample, rc


@pytest.mark.parametrize("level", FAST)
def test_span_equals_mlip_template(level):
    generated, b_gen, b_tpl, sample, rc = _check_span(level)
    if level < 6:
        return
    # the check can fail: without one generated function the template's span is not reached (drop
    # the last single-moment function M_{mu,0}, which no other function can produce) ...
    keep = np.ones(generated.alpha_scalar_moments, dtype=bool)
    keep[np.flatnonzero([len(g[0]) == 1 for g in generated.graphs])[-1]] = False
    assert _fit_residual(b_gen[:, keep], b_tpl) > 1e-3
    # ... nor with the basis of the level below
    lower = init_potential(level - 2, 3, 1.5, 5.0)
    b_low = ref.basis_functions_batch(lower, *sample, radial_coeffs=rc[:, :, :lower.radial_funcs_count])
    assert _fit_residual(b_low, b_tpl) > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("level", SLOW)
def test_span_equals_mlip_template_high_levels(level):
    _check_span(level)


def test_reading_templates_keeps_working_and_agrees_with_generated():
    """A template read from the shared folder and the generated basis give the same site energy
    when the generated coefficients are fitted on the template's functions (level 10)."""
    template = _template(10)
    tpl = from_template(template, ["Li", "Al", "Cl"], 1.9, 5.0, random_coeffs=True, seed=4)
    gen = init_potential(10, ["Li", "Al", "Cl"], 1.9, 5.0)
    rng = np.random.default_rng(5)
    rel, zi, zj, mask = _neighbourhoods(rng, 120, 12, 3, lo=1.9, hi=4.99)
    e_tpl = ref.basis_functions_batch(tpl, rel, zi, zj, mask) @ tpl.moment_coeffs
    b_gen = ref.basis_functions_batch(gen, rel, zi, zj, mask, radial_coeffs=tpl.radial_coeffs)
    w = np.linalg.lstsq(b_gen, e_tpl, rcond=None)[0]
    np.testing.assert_allclose(b_gen @ w, e_tpl, rtol=1e-10, atol=1e-12 * np.abs(e_tpl).max())
    # a single neighbourhood through the one-neighbourhood API gives the same number
    one = ref.site_energy(rel[0][mask[0]], zi[0], zj[0][mask[0]], tpl) - tpl.species_coeffs[zi[0]]
    assert one == pytest.approx(e_tpl[0], rel=1e-12)


def test_init_potential_options_and_errors(tmp_path):
    from mtpflow.io.mtp import read_mtp, write_mtp
    pot = init_potential(16, ["Li", "Al", "Cl"], 1.9, 5.0, radial_basis_size=6)
    assert not pot.is_trained and pot.species == ["Li", "Al", "Cl"] and pot.level == 16
    a = init_potential(8, 2, 1.9, 5.0, random_coeffs=True, seed=7)
    b = init_potential(8, 2, 1.9, 5.0, random_coeffs=True, seed=7)
    c = init_potential(8, 2, 1.9, 5.0, random_coeffs=True, seed=8)
    np.testing.assert_array_equal(a.get_params(), b.get_params())
    assert not np.array_equal(a.get_params(), c.get_params())
    small = init_potential(16, 1, 1.9, 5.0, radial_funcs_count=2)
    assert small.radial_funcs_count == 2 and small.alpha_index_basic[:, 0].max() == 1
    assert small.alpha_scalar_moments < pot.alpha_scalar_moments
    path = tmp_path / "p.mtp"
    write_mtp(path, a)
    back = read_mtp(path)
    np.testing.assert_array_equal(back.alpha_index_times, a.alpha_index_times)
    np.testing.assert_array_equal(back.get_params(), a.get_params())
    for bad in (dict(min_dist=5.0, max_dist=4.0), dict(min_dist=-1.0, max_dist=4.0)):
        with pytest.raises(InputError):
            init_potential(8, 1, **bad)
    with pytest.raises(InputError):
        init_potential(8, ["Li", "Li"], 1.9, 5.0)
    with pytest.raises(InputError):
        init_potential(0, 1, 1.9, 5.0)


def test_mlip_start_is_mlips_rule():
    # MLIP-3 MTPR_trainer::AddSpecies: 1e-3 * (pair + 1) at k = mu, 1e-6 elsewhere
    pot = mlip_start(init_potential(16, 3, 1.9, 5.0, radial_basis_size=6))
    assert pot.radial_coeffs.shape == (3, 3, 4, 6) and pot.is_trained and pot.scaling == 1.0
    for a in range(3):
        for b in range(3):
            for mu in range(4):
                for k in range(6):
                    want = 1e-3 * (3 * a + b + 1) if k == mu else 1e-6
                    assert pot.radial_coeffs[a, b, mu, k] == want
    assert not np.any(pot.species_coeffs) and not np.any(pot.moment_coeffs)
    # more radial functions than basis functions: k = min(mu, size - 1)
    few = mlip_start(init_potential(16, 1, 1.9, 5.0, radial_basis_size=2))
    np.testing.assert_array_equal(few.radial_coeffs[0, 0, :, 1], [1e-6, 1e-3, 1e-3, 1e-3])
    # --init_random: 5e-7 U(-1, 1), 1e-7 (1 + U(-1, 1)) at k = mu; reproducible from the seed
    r1 = mlip_start(init_potential(8, 2, 1.9, 5.0), init_random=True, seed=3)
    r2 = mlip_start(init_potential(8, 2, 1.9, 5.0), init_random=True, seed=3)
    r3 = mlip_start(init_potential(8, 2, 1.9, 5.0), init_random=True, seed=4)
    np.testing.assert_array_equal(r1.radial_coeffs, r2.radial_coeffs)
    assert not np.array_equal(r1.radial_coeffs, r3.radial_coeffs)
    diag = r1.radial_coeffs[:, :, [0, 1], [0, 1]]
    off = r1.radial_coeffs.copy()
    off[:, :, [0, 1], [0, 1]] = 0
    assert np.all((diag >= 0) & (diag <= 2e-7)) and np.all(np.abs(off) <= 5e-7)
    assert np.abs(off).max() > 1e-7


def test_cli_init_mtp(tmp_path):
    from mtpflow.cli import main
    from mtpflow.io.mtp import read_mtp
    out = tmp_path / "pot.mtp"
    assert main(["init-mtp", "--level", "12", "--species", "Li,Al,Cl", "--min-dist", "1.9",
                 "--max-dist", "5.0", "--radial-basis-size", "8", "--out", str(out)]) == 0
    pot = read_mtp(out)
    assert pot.species == ["Li", "Al", "Cl"] and pot.species_count == 3 and pot.level == 12
    assert pot.alpha_scalar_moments == MLIP_SIZES[12][2] and not pot.is_trained
    tpl_out = tmp_path / "tpl.almtp"
    template = shared_path("mtp_templates", "08.almtp")
    assert main(["init-mtp", "--from-template", str(template), "--species", "Li,Cl", "--min-dist", "2.1",
                 "--max-dist", "4.5", "--random-coeffs", "--seed", "1", "--out", str(tpl_out)]) == 0
    t = read_mtp(tpl_out)
    assert (t.species_count, t.min_dist, t.max_dist, t.is_trained) == (2, 2.1, 4.5, True)
    np.testing.assert_array_equal(t.alpha_index_times, read_mtp(template).alpha_index_times)
    bad = tmp_path / "bad.mtp"
    assert main(["init-mtp", "--level", "8", "--species", "Li", "--min-dist", "5", "--max-dist", "4",
                 "--out", str(bad)]) == 2
    assert not bad.exists()
