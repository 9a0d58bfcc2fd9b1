"""The hop distance from P(r,t): a minimum is accepted only between a cage peak and a hop peak that
both stand out of the counting noise, inside the physical window; otherwise the analysis falls back
to the stated default and says why."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.analysis.pipeline import FALLBACK_HOP_DISTANCE_A, AnalysisOptions, analyze
from mtpflow.analysis.synthetic import lattice_hopping
from mtpflow.analysis.vanhove import VanHove, hop_distance_from_P
from mtpflow.errors import InputError
from mtpflow.io.trajectory import SpeciesTrajectory

DR = 0.05
R = (np.arange(240) + 0.5) * DR          # 0 .. 12 Å


def _histogram_P(displacements_A):
    """P(r) (1/Å) as VanHove builds it from a list of displacement lengths."""
    h = np.histogram(displacements_A, bins=R.size, range=(0.0, R.size * DR))[0]
    return h / (len(displacements_A) * DR)


def _cage(rng, n, sigma_A=0.3):
    return np.linalg.norm(rng.normal(scale=sigma_A, size=(n, 3)), axis=1)


def test_noisy_single_peak_falls_back():
    # The case: caged ions only, plus a handful of long excursions scattered over the
    # tail (432 Li x 4 independent windows). The old rule took a "minimum" between two of the
    # scattered counts in the tail (6.18 Å there); none of those bumps is above the noise.
    rng = np.random.default_rng(11)
    n = 432 * 4
    d = np.concatenate([_cage(rng, n - 9), rng.uniform(2.0, 9.0, 9)])
    P = _histogram_P(d)
    res = hop_distance_from_P(R, P[None], [1.0], [n])
    assert not res.found
    assert "no minimum of P(r,t) in 1.5-4.5 Å" in res.reason
    assert "the hop peak at" in res.reason and "rises only" in res.reason
    assert res.sigma < 3
    # the noise model is what rejects it: the same shape with 1000 x the independent counts is
    # a real (if sparse) second population and is accepted
    many = np.concatenate([_cage(rng, 1000 * (n - 9)), rng.normal(3.0, 0.3, 9000)])
    res_many = hop_distance_from_P(R, _histogram_P(many)[None], [1.0], [many.size])
    assert res_many.found and 1.5 <= res_many.distance_A <= 2.6


def test_the_same_weak_second_peak_depends_on_the_counts():
    shape = np.exp(-((R - 0.45) / 0.2) ** 2) + 0.01 * np.exp(-((R - 3.0) / 0.3) ** 2)
    P = shape / (shape.sum() * DR)
    few = hop_distance_from_P(R, P[None], [1.0], [300])       # ~1 count in the hop peak
    lots = hop_distance_from_P(R, P[None], [1.0], [1e6])      # ~ 10^4 counts in it
    assert not few.found and lots.found
    assert 1.5 <= lots.distance_A <= 2.4 and lots.sigma > 10
    assert lots.lag_ps == 1.0 and lots.depth > 0.99


def test_minimum_outside_the_window_falls_back_and_a_wider_window_takes_it():
    # a cage peak with a slowly decaying tail and a second peak at 7.5 Å: the valley between
    # them bottoms out near 6 Å; inside 1.5-4.5 Å P only falls (no minimum there)
    shape = (np.exp(-((R - 0.45) / 0.2) ** 2) + 0.05 * np.exp(-R / 1.5)
             + 0.2 * np.exp(-((R - 7.5) / 0.4) ** 2))
    P = shape / (shape.sum() * DR)
    res = hop_distance_from_P(R, P[None], [2.0], [1e5])
    assert not res.found and "outside the physical window 1.5-4.5 Å" in res.reason
    assert 5.5 < res.distance_A < 7.0 and res.sigma > 10
    wide = hop_distance_from_P(R, P[None], [2.0], [1e5], window_A=(1.5, 7.0))
    assert wide.found and wide.distance_A == res.distance_A
    with pytest.raises(InputError, match="window"):
        hop_distance_from_P(R, P[None], [2.0], [1e5], window_A=(4.0, 2.0))


def test_independent_counts_of_overlapping_windows():
    # 21 frames, 3 ions: lag 1 has 20 windows, lag 5 has 4 non-overlapping windows of 5 frames
    pos = np.cumsum(np.random.default_rng(0).normal(size=(21, 3, 3)), axis=0)
    tr = SpeciesTrajectory.from_arrays(pos, 0.1, np.eye(3) * 50, "Li")
    v = VanHove(tr, [0.1, 0.5, 1.5]).run().results
    np.testing.assert_array_equal(v.n_samples, [60, 48, 18])
    np.testing.assert_array_equal(v.n_independent, [60, 12, 3])


@pytest.fixture(scope="module")
def lattice():
    pos, cell, truth = lattice_hopping(n_frames=1500, n_sites_side=5, n_ions=80, hop_prob=6e-4,
                                       cascade_prob=0.6, seed=5)
    return SpeciesTrajectory.from_arrays(pos, 0.01, cell, "Li"), truth


def test_lattice_finds_its_minimum_without_a_given_distance(lattice):
    tr, truth = lattice
    s = analyze(tr, AnalysisOptions(lags_ps=[0.1, 1.0, 5.0], temperature_K=600)).summary
    assert s["hop_distance_source"] == "minimum of P(r,t)"
    assert 1.5 <= s["hop_distance_A"] <= 2.6          # between the cage (<1 Å) and 3 Å hops
    assert s["hop_distance_significance_sigma"] >= 3 and s["hop_distance_lag_ps"] in (0.1, 1.0, 5.0)
    assert s["hop_distance_window_A"] == [1.5, 4.5]
    assert "cage peak" in s["hop_distance_reason"] and "hop peak" in s["hop_distance_reason"]
    assert s["n_hops"] == truth.ion.size
    # a window that excludes the gap between cage and hop peaks: fallback, with the reason
    s2 = analyze(tr, AnalysisOptions(lags_ps=[0.1, 1.0, 5.0], hop_window_A=(3.5, 4.5))).summary
    assert s2["hop_distance_A"] == FALLBACK_HOP_DISTANCE_A
    assert s2["hop_distance_source"].startswith("fallback")
    assert "3.5-4.5 Å" in s2["hop_distance_reason"]
    assert any("hop distance: fallback" in w for w in s2["warnings"])
    # a given distance is used as given
    s3 = analyze(tr, AnalysisOptions(lags_ps=[1.0], hop_distance_A=2.2)).summary
    assert s3["hop_distance_A"] == 2.2 and "given" in s3["hop_distance_source"]
    assert s3["hop_distance_lag_ps"] is None
