"""The extrapolation grade against MLIP-3 (../shared/data: the guidebook's trained level-8 potential
with MLIP-3's own active set in its #MVS_v1.1 block, training and test sets), and its invariances."""

import numpy as np
import pytest

from mtpflow.errors import InputError
from mtpflow.io.active_set import read_mvs_block
from mtpflow.io.cfg import read_cfg
from mtpflow.io.mtp import read_mtp
from mtpflow.mtp.evaluate import site_parameter_gradients
from mtpflow.mtp.grade import build_active_set, grade_configs, training_rows
from mtpflow.structures import Configuration
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def guidebook():
    pot = read_mtp(shared_path("mlip_reference", "trained_L08.almtp"))
    train = read_cfg(shared_path("guidebook_LiAlCl4", "training.cfg"))
    test = read_cfg(shared_path("guidebook_LiAlCl4", "test.cfg"))
    return pot, train, test


@pytest.fixture(scope="module")
def nbh_active(guidebook):
    pot, train, _ = guidebook
    return build_active_set(pot, train, "nbh")


def test_cfg_rows_are_mlips_active_set_rows(guidebook):
    """MLIP-3's `mlp train` stored its cfg-mode active set (energy_weight 1, weight_scaling 2) in
    trained_L08.almtp: every row of its A that is not an init row equals one of our cfg rows
    (dE/dtheta / N of a training configuration), and our rows grade <= 1.001 against its A^-1."""
    pot, train, test = guidebook
    weights, A, A_inv = read_mvs_block(pot.selection.data, pot.n_params())
    assert weights == {"energy_weight": 1.0, "force_weight": 0.0, "stress_weight": 0.0,
                       "site_en_weight": 0.0, "weight_scaling": 2.0}
    rows, source = training_rows(pot, train, "cfg")
    init = (np.count_nonzero(A, axis=1) == 1) & np.isclose(np.abs(A).max(axis=1), 1e-6)
    assert 0 < init.sum() < 10
    for a in A[~init]:
        err = np.abs(rows - a).max(axis=1) / np.abs(a).max()
        assert err.min() < 1e-13
    assert np.abs(rows @ A_inv).max() <= 1.001


def test_cfg_active_set_is_mlips(guidebook):
    """MaxVol from MLIP's start (1e-6 I, greedy swaps, threshold 1.001) over the same cfg rows picks
    MLIP-3's active set: the same rows in the same slots (init rows included), and the same A^-1
    up to the round-off of two different update sequences (A is ill-conditioned: init rows 1e-6)."""
    pot, train, _ = guidebook
    _, A, A_inv = read_mvs_block(pot.selection.data, pot.n_params())
    ours = build_active_set(pot, train, "cfg")
    scale = np.abs(A).max(axis=1, keepdims=True)
    assert (np.abs(ours.A - A) / scale).max() < 1e-12
    assert np.abs(ours.A_inv - A_inv).max() < 1e-7 * np.abs(A_inv).max()
    assert ours.n_init_rows == 5


def test_nbh_grades_match_mlip(guidebook, nbh_active):
    """MLIP-3 (`mlp train --al_mode=nbh --iteration_limit=0`, then `mlp calculate_grade`) on the
    same files: training max 1.000, test median 0.90, 95th percentile 1.56, max 3.4
    (../shared/docs/active-learning.md). MaxVol is not unique: similar, not equal, numbers."""
    pot, train, test = guidebook
    assert nbh_active.A.shape == (156, 156) and nbh_active.mode == "nbh"
    tr = grade_configs(pot, nbh_active, train).grades
    assert 0.99 < tr.max() <= 1.001
    g = grade_configs(pot, nbh_active, test).grades
    assert np.median(g) == pytest.approx(0.90, abs=0.03)
    assert np.percentile(g, 95) == pytest.approx(1.56, abs=0.08)
    assert g.max() == pytest.approx(3.4, abs=0.2)


def test_active_set_rows_are_training_rows(guidebook, nbh_active):
    pot, train, _ = guidebook
    src = nbh_active.source
    real = src[:, 0] >= 0
    assert nbh_active.n_init_rows == (~real).sum() and (~real).sum() <= 5
    for (k, atom), a in zip(src[real][:20], nbh_active.A[real][:20]):
        b = site_parameter_gradients(pot, [train[k]]).rows[atom]
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(nbh_active.A[~real], 1e-6 * np.eye(156)[src[~real, 1]])


def _grades(pot, active, cfg):
    r = grade_configs(pot, active, [cfg])
    return r.grades[0], (None if r.nbh_grades is None else r.nbh_grades[0])


def test_invariances_and_extremes(guidebook, nbh_active):
    pot, train, test = guidebook
    cfg = test[int(np.argmax(grade_configs(pot, nbh_active, test).grades))]
    g0, nbh0 = _grades(pot, nbh_active, cfg)
    assert g0 == nbh0.max() and len(nbh0) == cfg.n_atoms
    perm = np.random.default_rng(0).permutation(cfg.n_atoms)
    shifted = Configuration(positions=cfg.positions[perm] + [3.3, -7.1, 11.9], types=cfg.types[perm],
                            cell=cfg.cell)
    g1, nbh1 = _grades(pot, nbh_active, shifted)
    assert g1 == pytest.approx(g0, rel=1e-10)
    np.testing.assert_allclose(nbh1, nbh0[perm], rtol=1e-9)
    # a configuration of the training set: <= 1 up to MaxVol's threshold
    assert _grades(pot, nbh_active, train[17])[0] <= 1.001
    # compressed to 60 % of the shortest cell: far outside the training densities
    squeezed = Configuration(positions=cfg.positions * 0.6, types=cfg.types, cell=cfg.cell * 0.6)
    assert _grades(pot, nbh_active, squeezed)[0] > 20.0


def test_cfg_mode(guidebook):
    pot, train, test = guidebook
    active = build_active_set(pot, train, "cfg")
    rows, _ = training_rows(pot, train, "cfg")
    g = site_parameter_gradients(pot, train[:3], rows=False)
    np.testing.assert_allclose(rows[:3], g.config_sums / 96.0, rtol=1e-15)
    res = grade_configs(pot, active, train + test)
    assert res.nbh_grades is None
    assert res.grades[:len(train)].max() <= 1.001
    assert res.grades[len(train):].max() > 1.5


def test_training_set_errors(guidebook):
    pot, train, _ = guidebook
    two = [Configuration(positions=c.positions, types=np.minimum(c.types, 1), cell=c.cell) for c in train[:3]]
    with pytest.raises(InputError, match="no atoms of type 2"):
        build_active_set(pot, two, "nbh", where="t.cfg")
    four = [Configuration(positions=train[0].positions, types=np.where(train[0].types == 2, 3, train[0].types),
                          cell=train[0].cell)]
    with pytest.raises(InputError, match="t.cfg.*type 3.*species_count = 3"):
        build_active_set(pot, four, "nbh", where="t.cfg")
    with pytest.raises(InputError, match="t.cfg: the training set has no atoms"):
        build_active_set(pot, [Configuration(positions=np.zeros((0, 3)), types=[])], "cfg", where="t.cfg")
