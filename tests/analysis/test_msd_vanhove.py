"""MSD, D, sigma, van Hove and alpha2 on Brownian motion with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf
from .conftest import TRICLINIC, write_extxyz

from mtpflow.analysis.msd import MSD, msd_fft, nernst_einstein_S_per_cm
from mtpflow.analysis.synthetic import brownian
from mtpflow.analysis.vanhove import Alpha2, VanHove
from mtpflow.errors import InputError
from mtpflow.io.trajectory import SpeciesTrajectory, read_species_trajectory


def _msd_brute_force(x):
    """MSD(m) by its definition: for every lag, a loop over every time origin and every ion."""
    T, N = x.shape[:2]
    out = np.zeros(T)
    for m in range(T):
        total = 0.0
        for t0 in range(T - m):
            for i in range(N):
                d = x[t0 + m, i] - x[t0, i]
                total += d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        out[m] = total / ((T - m) * N)
    return out


@pytest.mark.parametrize("T, N, chunk", [(150, 7, 2000), (61, 5, 10 ** 7), (2, 3, 100)])
def test_msd_fft_equals_brute_force_over_all_origins(T, N, chunk):
    rng = np.random.default_rng(T)
    # a random walk far from the origin, plus a drift: the FFT's centring must not matter
    x = np.cumsum(rng.normal(size=(T, N, 3)), axis=0) + 100.0 + 0.3 * np.arange(T)[:, None, None]
    brute = _msd_brute_force(x)
    assert brute[0] == 0.0 and brute[-1] > 0
    np.testing.assert_allclose(msd_fft(x, chunk_elements=chunk), brute, rtol=1e-9, atol=1e-9)
    if T >= 10:     # the MSD analysis (it also fits D, which needs a few lags)
        m = MSD(SpeciesTrajectory.from_arrays(x, 0.5, np.eye(3) * 50)).run().results
        np.testing.assert_allclose(m.msd_A2, brute, rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(m.n_origins, T - np.arange(T))
        np.testing.assert_allclose(m.lag_ps, 0.5 * np.arange(T))


def test_brownian_wrapped_triclinic_msd_vanhove_alpha2(tmp_path):
    D, dt = 0.5, 0.01
    pos = brownian(1000, 200, D, dt, TRICLINIC, seed=11)
    from mtpflow.analysis.synthetic import wrap
    f = tmp_path / "b.xyz"
    write_extxyz(f, wrap(pos, TRICLINIC), TRICLINIC, dt_ps=dt, others=())
    tr = read_species_trajectory(f, "Li")
    m = MSD(tr).run().results
    assert m.fit_range_ps == pytest.approx([0.999, 4.995])
    assert m.D_A2_per_ps == pytest.approx(D, rel=0.06)
    assert m.loglog_slope == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(m.msd_A2[1:200], 6 * D * m.lag_ps[1:200], rtol=0.08)

    v = VanHove(tr, [0.05, 0.5, 2.0], dr_A=0.1).run().results
    np.testing.assert_allclose(v.P_per_A.sum(axis=1) * v.dr_A, 1.0, atol=1e-12)
    np.testing.assert_allclose((4 * np.pi * v.r_A ** 2 * v.Gs_per_A3).sum(axis=1) * v.dr_A, 1.0)
    for k, t in enumerate(v.lag_ps):
        gauss = (4 * np.pi * D * t) ** -1.5 * np.exp(-v.r_A ** 2 / (4 * D * t))
        P = 4 * np.pi * v.r_A ** 2 * gauss
        assert np.abs(v.P_per_A[k] - P).max() < 0.1 * P.max()
        # cumulative distribution vs the Maxwell CDF at the bin edges (Kolmogorov-type check)
        edge = v.r_A + v.dr_A / 2
        sig = np.sqrt(2 * D * t)
        cdf = erf(edge / (sig * np.sqrt(2))) - np.sqrt(2 / np.pi) * edge / sig * np.exp(
            -edge ** 2 / (2 * sig ** 2))
        assert np.abs(np.cumsum(v.P_per_A[k]) * v.dr_A - cdf).max() < 0.03

    a = Alpha2(tr).run().results
    short = a.lag_ps <= 1.0
    assert np.abs(a.value[short]).max() < 0.03


def test_alpha2_detects_heterogeneity():
    # half the ions immobile, half diffusing: alpha2 well above 0
    rng = np.random.default_rng(1)
    pos = np.cumsum(rng.normal(scale=0.1, size=(300, 100, 3)), axis=0)
    pos[:, :50] = pos[:1, :50] + rng.normal(scale=0.05, size=(300, 50, 3))
    tr = SpeciesTrajectory.from_arrays(pos, 0.01, np.eye(3) * 30)
    assert np.nanmax(Alpha2(tr).run().results.value) > 0.5


def test_conductivity_units():
    # 1 ion in 1000 Å^3 with D = 1 Å^2/ps at 300 K, q = 1: 1e27 m^-3 * e^2 * 1e-8 / (kB 300) / 100,
    # with e and kB in SI from ase.units (the constants every other mtpflow unit comes from)
    from ase import units

    s = nernst_einstein_S_per_cm(1, 1000.0, 1.0, 300.0, 1)
    expect = 1e27 * units._e ** 2 * 1e-8 / (units._k * 300.0) / 100
    assert expect == pytest.approx(0.61975, rel=1e-4)   # the number, independent of the code
    assert s == pytest.approx(expect, rel=1e-12)
    assert nernst_einstein_S_per_cm(1, 1000.0, 1.0, None, 1) is None


def test_lag_and_fit_range_errors():
    tr = SpeciesTrajectory.from_arrays(np.zeros((10, 2, 3)), 0.1, np.eye(3) * 5)
    with pytest.raises(InputError, match="no lag fits"):
        VanHove(tr, [5.0])
    with pytest.raises(InputError, match="fewer than 3 lags"):
        MSD(tr, fit_range_ps=(0.1, 0.2)).run()
    with pytest.raises(InputError, match="frames >= 2"):
        MSD(SpeciesTrajectory.from_arrays(np.zeros((1, 2, 3)), 0.1, np.eye(3)))
