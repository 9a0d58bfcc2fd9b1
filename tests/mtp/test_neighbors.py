"""Neighbour list: against a brute-force enumeration of images, small/triclinic/non-periodic cells."""

import numpy as np
import pytest

from mtpflow.errors import InputError
from mtpflow.mtp.neighbors import neighbor_list
from tests.conftest import numba_threads, two_threads_elsewhere


def brute_force(pos, cell, cutoff):
    """Every (i, j, image) with 0 < |r| < cutoff by enumerating enough images explicitly."""
    pairs = []
    if cell is None:
        shifts = [np.zeros(3)]
    else:
        vol = abs(np.linalg.det(cell))
        widths = [vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)]
        # positions may lie outside the cell: add the spread of fractional coordinates
        frac = pos @ np.linalg.inv(cell)
        spread = np.ceil(frac.max(axis=0) - frac.min(axis=0)).astype(int)
        m = [int(np.ceil(cutoff / w)) + 1 + s for w, s in zip(widths, spread)]
        shifts = [np.array([a, b, c]) @ cell for a in range(-m[0], m[0] + 1)
                  for b in range(-m[1], m[1] + 1) for c in range(-m[2], m[2] + 1)]
    for i in range(len(pos)):
        for j in range(len(pos)):
            for s in shifts:
                r = pos[j] + s - pos[i]
                d = np.linalg.norm(r)
                if 0 < d < cutoff:
                    pairs.append((i, j, *np.round(r, 9)))
    return sorted(pairs)


def as_sorted(nl):
    out = [(int(i), int(j), *np.round(r, 9)) for i, j, r in zip(nl.i(), nl.j, nl.rvec)]
    return sorted(out)


CELLS = {
    "cubic_small": np.diag([3.0, 3.5, 4.0]),  # much smaller than twice the cutoff
    "triclinic_small": np.array([[3.0, 0, 0], [1.5, 2.8, 0], [0.7, -0.9, 2.5]]),
    "triclinic_large": np.array([[11.0, 0, 0], [4.0, 10.5, 0], [-3.0, 2.0, 12.0]]),
    "one_bin_thin": np.array([[20.0, 0, 0], [0, 20.0, 0], [0.0, 0.0, 1.2]]),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_periodic_matches_brute_force(name):
    rng = np.random.default_rng(1)
    cell = CELLS[name]
    n = 9
    # some positions outside the cell (not wrapped) on purpose
    pos = rng.random((n, 3)) @ cell + rng.normal(size=(n, 3)) * 2.0
    cutoff = 4.7
    nl = neighbor_list(pos, cell, cutoff)
    assert nl.offsets.dtype == np.int64 and nl.j.dtype == np.int64 and nl.rvec.dtype == np.float64
    assert nl.offsets.shape == (n + 1,) and nl.rvec.shape == (nl.n_pairs, 3)
    assert as_sorted(nl) == brute_force(pos, cell, cutoff)
    # rvec is r_j + integer lattice shift - r_i
    shift = nl.rvec - (pos[nl.j] - pos[nl.i()])
    frac = shift @ np.linalg.inv(cell)
    assert np.allclose(frac, np.round(frac), atol=1e-9)


def test_single_atom_sees_its_images():
    cell = np.diag([2.0, 2.0, 2.0])
    nl = neighbor_list(np.zeros((1, 3)), cell, 2.5)
    # images at distance 2 (6) only; sqrt(8) > 2.5
    assert nl.n_pairs == 6 and np.all(nl.j == 0)


def test_non_periodic_matches_brute_force():
    rng = np.random.default_rng(2)
    pos = rng.random((40, 3)) * 9.0
    pos[0] = [100.0, 100.0, 100.0]  # an isolated atom with no neighbours
    nl = neighbor_list(pos, None, 3.3)
    assert as_sorted(nl) == brute_force(pos, None, 3.3)
    assert nl.counts()[0] == 0


def test_strict_cutoff_and_deterministic_order():
    pos = np.array([[0.0, 0, 0], [3.0, 0, 0], [0, 2.999999, 0]])
    nl = neighbor_list(pos, None, 3.0)
    assert 1 not in set(nl.j[nl.offsets[0]:nl.offsets[1]])  # exactly at the cutoff: excluded
    assert 2 in set(nl.j[nl.offsets[0]:nl.offsets[1]])
    rng = np.random.default_rng(3)
    cell = CELLS["triclinic_large"]
    pos = rng.random((50, 3)) @ cell
    a, b = neighbor_list(pos, cell, 5.0), neighbor_list(pos, cell, 5.0)
    assert np.array_equal(a.j, b.j) and np.array_equal(a.rvec, b.rvec)


def test_empty_and_bad_input():
    nl = neighbor_list(np.zeros((0, 3)), np.eye(3) * 5, 3.0)
    assert nl.n_pairs == 0 and nl.offsets.tolist() == [0]
    with pytest.raises(InputError, match="NaN or inf"):
        neighbor_list(np.array([[0.0, np.nan, 0]]), np.eye(3) * 5, 3.0)
    with pytest.raises(InputError, match="singular"):
        neighbor_list(np.zeros((2, 3)), np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]]), 3.0)
    with pytest.raises(InputError, match="cutoff"):
        neighbor_list(np.zeros((2, 3)), None, -1.0)
    with pytest.raises(InputError, match="cell"):
        neighbor_list(np.zeros((2, 3)), np.array([[np.inf, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]), 3.0)


def test_sparse_large_box_stays_small():
    pos = np.array([[0.0, 0, 0], [1.0, 0, 0], [500.0, 500.0, 500.0]])
    nl = neighbor_list(pos, np.eye(3) * 1000.0, 2.0)
    assert nl.n_pairs == 2


THREAD_CASES = {
    # periodic triclinic cell larger than twice the cutoff: several bins per direction
    "triclinic_large": (CELLS["triclinic_large"], 300, 4.7),
    # cell smaller than twice the cutoff: atoms see several images of themselves and of others
    "triclinic_small": (CELLS["triclinic_small"], 40, 4.7),
    "non_periodic": (None, 300, 3.3),
}


@pytest.mark.parametrize("name", sorted(THREAD_CASES))
def test_identical_for_any_thread_count(name, request):
    """The list (pairs, their order and vectors, bit for bit) does not depend on the thread count."""
    if two_threads_elsewhere(request):
        return
    cell, n, cutoff = THREAD_CASES[name]
    rng = np.random.default_rng(4)
    pos = rng.random((n, 3)) * 9.0 if cell is None else rng.random((n, 3)) @ cell
    pos = pos + rng.normal(size=(n, 3)) * 0.5  # some atoms outside the cell
    lists = []
    for threads in (1, 2):
        with numba_threads(threads):
            lists.append(neighbor_list(pos, cell, cutoff))
    a, b = lists
    assert a.n_pairs > n  # a real list, not an empty one
    assert np.array_equal(a.offsets, b.offsets)
    assert np.array_equal(a.j, b.j)
    assert np.array_equal(a.rvec, b.rvec)  # bit-identical vectors, same order


def test_too_little_buffer_room_rescans_to_the_same_list(monkeypatch):
    """The parallel scan writes into per-chunk buffers sized from the expected neighbour count; a
    chunk that finds more (here: no room at all, and a dense cluster) triggers an exact second scan."""
    import mtpflow.mtp.neighbors as nbm

    rng = np.random.default_rng(5)
    pos = np.concatenate([rng.random((200, 3)) * 2.5, rng.random((40, 3)) * 60.0])
    cell = CELLS["triclinic_large"]
    ref = [neighbor_list(pos, None, 3.0), neighbor_list(pos[:150] @ np.eye(3) * 0.5, cell, 4.7)]
    monkeypatch.setattr(nbm, "_ROOM", 0.0)
    calls = []
    real_scan = nbm._scan
    monkeypatch.setattr(nbm, "_scan", lambda *a: calls.append(1) or real_scan(*a))
    new = [neighbor_list(pos, None, 3.0), neighbor_list(pos[:150] @ np.eye(3) * 0.5, cell, 4.7)]
    assert len(calls) == 4  # every list needed its second scan
    for a, b in zip(ref, new):
        assert a.n_pairs > 16 * 4
        assert np.array_equal(a.offsets, b.offsets) and np.array_equal(a.j, b.j)
        assert np.array_equal(a.rvec, b.rvec)
