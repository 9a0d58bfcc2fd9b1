"""MaxVol (mtpflow.mtp.maxvol) against its definition, checked with determinants computed directly
(an independent path from the rank-1 bookkeeping): at the end no pool row can replace a row of A
and raise |det A| by more than the threshold factor."""

import numpy as np
import pytest

from mtpflow.mtp.maxvol import INIT_VALUE, grades, maxvol


def _pool(n=60, m=6, rank=None, seed=0):
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, m)) * rng.uniform(0.01, 100.0, m)  # very different column scales
    if rank is not None:
        rows = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, m))
    return rows


def _det_ratios(A, pool):
    """|det A'| / |det A| for every pool row put into every slot, by determinants."""
    d0 = abs(np.linalg.det(A))
    out = np.empty((len(pool), len(A)))
    for i, b in enumerate(pool):
        for j in range(len(A)):
            A2 = A.copy()
            A2[j] = b
            out[i, j] = abs(np.linalg.det(A2)) / d0
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_result_is_a_local_volume_maximum(seed):
    rows = _pool(seed=seed)
    res = maxvol(rows, threshold=1.001, refresh_every=5)
    m = rows.shape[1]
    assert (res.sel < len(rows)).all()  # full rank: every init row displaced
    np.testing.assert_array_equal(res.A, rows[res.sel])
    np.testing.assert_allclose(res.A @ res.A_inv, np.eye(m), atol=1e-9)
    ratios = _det_ratios(res.A, rows)
    assert ratios.max() <= 1.001 + 1e-9
    np.testing.assert_allclose(grades(rows, res.A_inv), ratios.max(axis=1), rtol=1e-8, atol=1e-12)
    assert res.max_c <= 1.001


def test_swaps_increase_the_volume_and_match_a_re_inverting_search():
    rows = _pool(n=40, m=5, seed=3)
    res = maxvol(rows, refresh_every=1000)  # rank-1 updates only between start and end
    # replay the swaps with explicit determinants: each one multiplies |det A| by > threshold
    A = INIT_VALUE * np.eye(5)
    pool = np.vstack([rows, INIT_VALUE * np.eye(5)])
    sel = list(range(40, 45))
    for i0, j0 in res.history:
        ratio = _det_ratios(A, pool[[i0]])[0, j0]
        best = _det_ratios(A, np.delete(pool, sel, axis=0)).max()
        assert ratio > 1.001 and ratio == pytest.approx(best, rel=1e-9)  # the greedy choice
        A[j0] = pool[i0]
        sel[j0] = i0
    np.testing.assert_array_equal(A, res.A)


def test_rank_deficient_pool_keeps_init_rows():
    rows = _pool(n=50, m=6, rank=4, seed=4)
    res = maxvol(rows)
    init = res.sel >= len(rows)
    assert init.sum() == 2  # two directions the pool does not span
    assert grades(rows, res.A_inv).max() <= 1.001
    # a row with a component e outside the pool's span grades about |e| / init_value
    basis = np.linalg.svd(rows)[2]
    outside = basis[4] * 1e-3
    assert grades(rows[:1] + outside, res.A_inv)[0] > 1e-3 / INIT_VALUE * 0.1


def test_start_from_a_base_and_groups():
    rows = _pool(n=30, m=5, seed=6)
    first = maxvol(rows[:10])
    more = _pool(n=40, m=5, seed=7) * 3.0
    groups = np.repeat(np.arange(8), 5)
    res = maxvol(more, base=first.A, groups=groups, max_groups=2)
    assert res.entered.sum() == 2
    entered_rows = np.flatnonzero(res.entered[groups])
    in_a = res.sel[res.sel < len(more)]
    assert set(in_a) <= set(entered_rows)
    # the first swap takes the largest |c| of all candidates against the base
    c = np.abs(more @ first.A_inv)
    assert res.history[0, 0] == np.unravel_index(np.argmax(c), c.shape)[0]
    allowed_rows = np.isin(np.arange(len(more)), entered_rows)
    assert grades(more[allowed_rows], res.A_inv).max() <= 1.001 + 1e-12
    assert grades(rows[:10], first.A_inv).max() <= 1.001


def test_bad_arrays():
    with pytest.raises(ValueError):
        maxvol(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError):
        maxvol(np.ones((3, 2)), threshold=0.5)
    with pytest.raises(ValueError):
        maxvol(np.ones((3, 2)), base=np.eye(3))
