"""Hops and cascades on lattice hopping with planted hops and planted cascades."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.analysis.cascades import CascadeAnalysis, chain_lengths, compare_to_null
from mtpflow.analysis.hops import HopAnalysis
from mtpflow.analysis.pipeline import AnalysisOptions, analyze
from mtpflow.analysis.synthetic import lattice_hopping
from mtpflow.io.trajectory import SpeciesTrajectory


@pytest.fixture(scope="module")
def lattice():
    pos, cell, truth = lattice_hopping(n_frames=3000, n_ions=150, hop_prob=4e-4,
                                       cascade_prob=0.6, seed=7)
    return SpeciesTrajectory.from_arrays(pos, 0.01, cell, "Li"), truth


def test_planted_hops_found_exactly(lattice):
    tr, truth = lattice
    h = HopAnalysis(tr, hop_distance_A=1.6, smooth_ps=0.5).run().results
    assert truth.ion.size > 60
    assert h.n_hops == truth.ion.size
    np.testing.assert_array_equal(np.bincount(truth.ion, minlength=150), h.ion_n_hops)
    assert h.hop_fraction == pytest.approx(np.unique(truth.ion).size / 150)
    # per-ion hop times within one smoothing window of the planted frame, sites on the lattice
    for i in np.unique(truth.ion):
        assert np.abs(np.sort(h.hop_frame[h.hop_ion == i]) - truth.frame[truth.ion == i]).max() <= 50
    np.testing.assert_allclose(h.hop_length_A, 3.0, atol=0.15)
    assert h.mean_residence_ps >= 1.5     # min gap between an ion's planted hops


def test_planted_cascades_above_null(lattice):
    tr, truth = lattice
    h = HopAnalysis(tr, 1.6).run()
    c = CascadeAnalysis(tr, h, radius_A=1.0, window_ps=1.0, n_shuffles=20).run().results
    true_flags = truth.cascade_flags(window_frames=100)
    assert truth.planted_cascade.sum() > 15
    assert abs(c.p_casc - true_flags.mean()) <= 0.03
    assert c.p_casc >= 0.9 * truth.planted_cascade.mean()
    assert c.p_casc_ratio > 4 and c.p_casc > c.p_casc_null + 5 * c.p_casc_null_std
    assert sum(k * v for k, v in c.chain_length_counts.items()) <= c.n_hops
    assert c.chain_length_counts and min(c.chain_length_counts) >= 2


def test_no_cascades_without_planting():
    pos, cell, truth = lattice_hopping(n_frames=2000, n_ions=100, hop_prob=4e-4, cascade_prob=0.0,
                                       seed=3)
    tr = SpeciesTrajectory.from_arrays(pos, 0.01, cell, "Li")
    c = CascadeAnalysis(tr, HopAnalysis(tr, 1.6).run()).run().results
    assert c.p_casc <= max(0.08, 3 * c.p_casc_null)


def test_cascade_across_periodic_boundary():
    # A leaves a site at x = 0.2; B arrives at x = 0.2 + box (unwrapped image): still a cascade
    cell = np.eye(3) * 12.0
    T = 400
    pos = np.zeros((T, 2, 3))
    pos[:, 0] = [0.2, 6.0, 6.0]
    pos[200:, 0, 0] = 3.2                                  # A hops +x at frame 200
    pos[:, 1] = [12.2 - 3.0, 6.0, 6.0]
    pos[220:, 1, 0] = 12.2                                 # B hops into A's old site (image)
    tr = SpeciesTrajectory.from_arrays(pos, 0.01, cell, "Li")
    c = CascadeAnalysis(tr, HopAnalysis(tr, 1.6, 0.1).run(), window_ps=1.0).run().results
    assert c.n_hops == 2 and c.n_cascade == 1 and c.p_casc == 0.5
    assert c.chain_length_counts == {2: 1}


def test_chain_lengths_cycles_and_chains():
    assert list(chain_lengths(np.array([-1, 0, 1, -1, 3]))) == [2, 3]
    assert list(chain_lengths(np.array([1, 0]))) == [2]      # concerted swap: cut cycle
    assert chain_lengths(np.array([-1, -1])).size == 0


def test_pipeline_summary_on_caged_only():
    rng = np.random.default_rng(0)
    pos = rng.normal(scale=0.2, size=(300, 20, 3)) + rng.random((20, 3)) * 10
    tr = SpeciesTrajectory.from_arrays(pos, 0.01, np.eye(3) * 10, "Li")
    run = analyze(tr, AnalysisOptions(temperature_K=None))
    s = run.summary
    assert s["n_hops"] == 0 and s["hop_fraction"] == 0.0 and s["p_casc"] is None
    assert s["conductivity_S_per_cm"] is None
    assert "fallback 1.6" in s["hop_distance_source"]
    assert any("--temperature-K" in w for w in s["warnings"])


def test_p_casc_compared_to_its_null():
    null = [0.1, 0.2, 0.3]                        # mean 0.2, std sqrt(2/3) / 10 = 0.08165
    hi = compare_to_null(0.5, null)
    assert hi["p_casc_z"] == pytest.approx(0.3 / np.sqrt(2 / 3) * 10)        # 3.674
    assert hi["p_casc_exceeds_null"] is True and hi["p_casc_p_value"] == pytest.approx(0.25)
    assert hi["p_casc_verdict"].startswith("exceeds the null by 3.7 σ")
    mid = compare_to_null(0.25, null)
    assert mid["p_casc_z"] == pytest.approx(0.6124, abs=1e-4)
    assert mid["p_casc_exceeds_null"] is False and mid["p_casc_p_value"] == pytest.approx(0.5)
    assert mid["p_casc_verdict"].startswith("consistent with the null (z = +0.6 σ")
    low = compare_to_null(0.0, null)
    assert low["p_casc_verdict"].startswith("consistent with the null (z = -2.4 σ")   # not 3 σ
    assert low["p_casc_exceeds_null"] is False and low["p_casc_p_value"] == 1.0
    assert compare_to_null(0.0, [0.19, 0.2, 0.21])["p_casc_verdict"].startswith(
        "below the null by 24.5 σ")
    flat = compare_to_null(0.1, [0.0, 0.0])
    assert flat["p_casc_z"] is None and flat["p_casc_exceeds_null"] is True
    assert "no spread" in flat["p_casc_verdict"]
    same = compare_to_null(0.0, [0.0, 0.0])
    assert same["p_casc_exceeds_null"] is False and "consistent with the null" in same["p_casc_verdict"]
    none = compare_to_null(None, [])
    assert none["p_casc_z"] is None and "no hops" in none["p_casc_verdict"]


def test_pipeline_reports_p_casc_against_the_null(lattice):
    tr, _ = lattice
    s = analyze(tr, AnalysisOptions(lags_ps=[0.1, 1.0], n_shuffles=20)).summary
    assert s["p_casc_z"] == pytest.approx((s["p_casc"] - s["p_casc_null"]) / s["p_casc_null_std"])
    assert s["p_casc_z"] > 5 and s["p_casc_exceeds_null"] is True
    assert s["p_casc_p_value"] == pytest.approx(1 / 21)
    assert s["p_casc_verdict"].startswith(f"exceeds the null by {s['p_casc_z']:.1f} σ")
    pos, cell, _ = lattice_hopping(n_frames=2000, n_ions=100, hop_prob=4e-4, cascade_prob=0.0,
                                   seed=3)
    tr = SpeciesTrajectory.from_arrays(pos, 0.01, cell, "Li")
    s = analyze(tr, AnalysisOptions(lags_ps=[0.1, 1.0], n_shuffles=20)).summary
    assert s["p_casc_exceeds_null"] is False and abs(s["p_casc_z"]) < 3
    assert s["p_casc_verdict"].startswith("consistent with the null")
