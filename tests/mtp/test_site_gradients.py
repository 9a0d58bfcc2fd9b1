"""Per-neighbourhood parameter gradients b_i = dV_i/dtheta (the rows of MLIP's extrapolation grade)
against central finite differences of the numpy reference evaluator (an independent code path)."""

import numba
import numpy as np
import pytest

from mtpflow.errors import InputError
from mtpflow.mtp import reference
from mtpflow.mtp.evaluate import evaluate, site_parameter_gradients
from mtpflow.structures import Configuration
from tests.mtp.test_kernels import medium_triclinic, random_potential, small_triclinic


def neighbourhoods(cfg, max_dist):
    """(rel (N, n, 3), z_j (N, n), mask (N, n)) of every atom, by brute force over periodic images
    (as reference.energy does), padded to the largest neighbourhood."""
    pos = np.asarray(cfg.positions, dtype=np.float64)
    shifts = np.zeros((1, 3))
    if cfg.cell is not None:
        cell = np.asarray(cfg.cell, dtype=np.float64)
        recip = np.linalg.inv(cell).T
        reps = [int(np.ceil(max_dist * np.linalg.norm(recip[d]))) + 1 for d in range(3)]
        grid = np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in reps], indexing="ij"), -1)
        shifts = grid.reshape(-1, 3) @ cell
    rels, zjs = [], []
    for i in range(len(pos)):
        rel = (pos[None, :, :] + shifts[:, None, :] - pos[i]).reshape(-1, 3)
        zj = np.tile(cfg.types, len(shifts))
        d = np.linalg.norm(rel, axis=1)
        keep = (d < max_dist) & (d > 0)
        rels.append(rel[keep])
        zjs.append(zj[keep])
    n = max(1, max(len(r) for r in rels))
    rel = np.full((len(pos), n, 3), 2.0 * max_dist)
    zj = np.zeros((len(pos), n), dtype=np.int64)
    mask = np.zeros((len(pos), n), dtype=bool)
    for i, (r, z) in enumerate(zip(rels, zjs)):
        rel[i, :len(r)] = r
        zj[i, :len(r)] = z
        mask[i, :len(r)] = True
    return rel, zj, mask


def site_energies(pot, params, hood, types):
    p = pot.copy()
    p.set_params(params)
    rel, zj, mask = hood
    basis = reference.basis_functions_batch(p, rel, types, zj, mask)
    return p.species_coeffs[types] + basis @ p.moment_coeffs


def fd_rows(pot, cfg, rel_step=1e-6):
    """Central differences of the reference site energies, (N, n_params)."""
    hood = neighbourhoods(cfg, pot.max_dist)
    types = np.asarray(cfg.types, dtype=np.int64)
    x = pot.get_params()
    out = np.empty((len(types), len(x)))
    for p in range(len(x)):
        h = rel_step * max(1.0, abs(x[p]))
        xp, xm = x.copy(), x.copy()
        xp[p] += h
        xm[p] -= h
        out[:, p] = (site_energies(pot, xp, hood, types) - site_energies(pot, xm, hood, types)) / (2 * h)
    return out


def three_species_cluster(seed):
    """Non-periodic, all three species, one atom far from the rest (no neighbours)."""
    rng = np.random.default_rng(seed)
    pos = small_triclinic(n=6, seed=seed).positions
    pos = np.vstack([pos, [[60.0, 60.0, 60.0]]])
    return Configuration(positions=pos, types=[0, 1, 2, 0, 1, 2, int(rng.integers(0, 3))], cell=None)


@pytest.mark.parametrize("level", [8, 16])
def test_rows_match_finite_differences_of_the_reference(level):
    pot = random_potential(level, seed=30 + level, scaling=0.7)
    periodic = small_triclinic(n=5, seed=31 + level, types=[0, 1, 2, 1, 0])
    cluster = three_species_cluster(32 + level)
    res = site_parameter_gradients(pot, [periodic, cluster])
    assert res.rows.shape == (12, pot.n_params())
    assert list(res.atom_offsets) == [0, 5, 12]
    s, r, b = pot.species_count, pot.radial_funcs_count, pot.radial_basis_size
    n_rad = s * s * r * b
    for k, cfg in enumerate((periodic, cluster)):
        rows = res.rows[res.atom_offsets[k]:res.atom_offsets[k + 1]]
        fd = fd_rows(pot, cfg)
        for i in range(cfg.n_atoms):
            scale = np.abs(fd[i]).max()
            np.testing.assert_allclose(rows[i], fd[i], rtol=0, atol=2e-7 * scale)
        # every block is exercised (the FD rows are not trivially zero)
        assert np.abs(fd[:, :n_rad]).max() > 0 and np.abs(fd[:, n_rad + s:]).max() > 0
        np.testing.assert_array_equal(res.config_sums[k], rows.sum(axis=0))
    # sum_i V_i = E: the species and moment blocks give E exactly (E is linear in them)
    theta = pot.get_params()
    for k, cfg in enumerate((periodic, cluster)):
        e = evaluate(pot, cfg).energy
        lin = res.config_sums[k][n_rad:] @ theta[n_rad:]
        assert lin == pytest.approx(e, rel=1e-12)


def test_isolated_atom_row_is_its_species_only():
    pot = random_potential(16, seed=40)
    cfg = three_species_cluster(41)
    res = site_parameter_gradients(pot, cfg)
    s = pot.species_count
    n_rad = s * s * pot.radial_funcs_count * pot.radial_basis_size
    expected = np.zeros(pot.n_params())
    expected[n_rad + cfg.types[-1]] = 1.0
    np.testing.assert_array_equal(res.rows[-1], expected)
    assert np.abs(res.rows[:-1, :n_rad]).max() > 0


def test_radial_block_is_the_energy_gradient_with_scaling():
    """dE/dc for the stored coefficients: E(c + h e_p) by the engine, `scaling` held fixed."""
    pot = random_potential(8, seed=42, scaling=0.37)
    cfg = medium_triclinic(n=10, seed=43)
    g = site_parameter_gradients(pot, cfg).config_sums[0]
    x = pot.get_params()
    rng = np.random.default_rng(44)
    for p in rng.choice(pot.radial_coeffs.size, 6, replace=False):
        h = 1e-6
        vals = []
        for sgn in (1, -1):
            q = pot.copy()
            xs = x.copy()
            xs[p] += sgn * h
            q.set_params(xs)
            vals.append(evaluate(q, cfg).energy)
        assert g[p] == pytest.approx((vals[0] - vals[1]) / (2 * h), rel=1e-6, abs=1e-9 * np.abs(g).max())


def test_rows_independent_of_thread_count_and_rows_false():
    from mtpflow.mtp.evaluate import N_CHUNKS, _chunks
    from mtpflow.mtp.neighbors import neighbor_list

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one CPU: cannot compare 1 and 2 threads")
    pot = random_potential(16, seed=45)
    small = medium_triclinic(n=64, seed=46)
    shifts = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3) @ small.cell
    cfg = Configuration(positions=np.concatenate([small.positions + s for s in shifts]),
                        types=np.tile(small.types, 8), cell=2 * small.cell)
    assert len(_chunks(neighbor_list(cfg.positions, cfg.cell, 5.0).offsets, 1.0, N_CHUNKS)) > 2
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = site_parameter_gradients(pot, [cfg, small])
        numba.set_num_threads(2)
        two = site_parameter_gradients(pot, [cfg, small])
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one.rows, two.rows)
    assert np.array_equal(one.config_sums, two.config_sums)
    sums_only = site_parameter_gradients(pot, [cfg, small], rows=False)
    assert sums_only.rows is None and np.array_equal(sums_only.config_sums, one.config_sums)


def test_bad_input():
    pot = random_potential(8, seed=47)
    cfg = small_triclinic(n=4, seed=48)
    bad = Configuration(positions=cfg.positions, types=[0, 1, 3, 0], cell=cfg.cell)
    with pytest.raises(InputError, match=r"train\.cfg, configuration 1: .*type 3"):
        site_parameter_gradients(pot, [cfg, bad], where="train.cfg")
    untrained = pot.copy()
    untrained.moment_coeffs = None
    with pytest.raises(InputError, match="untrained"):
        site_parameter_gradients(untrained, [cfg])
    empty = site_parameter_gradients(pot, [])
    assert empty.rows.shape == (0, pot.n_params()) and empty.config_sums.shape == (0, pot.n_params())


_CACHE_SCRIPT = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from tests.mtp.test_kernels import random_potential, medium_triclinic
from mtpflow.mtp.evaluate import site_parameter_gradients
res = site_parameter_gradients(random_potential(8, seed=50), medium_triclinic(n=20, seed=51))
np.save(sys.argv[1], res.rows)
"""


@pytest.mark.slow
def test_cached_parallel_kernel_gives_the_same_rows(tmp_path):
    """cache=True on the parallel site-gradient kernel: loaded from the cache it gives the same rows
    (to round-off, as tests/mtp/test_kernels.py's check of the evaluation kernel)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "run.py"
    script.write_text(_CACHE_SCRIPT.format(root=root))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    outs = []
    for k in range(2):
        out = tmp_path / f"r{k}.npy"
        subprocess.run([sys.executable, str(script), str(out)], check=True, env=env, cwd=root)
        outs.append(np.load(out))
    assert any(p.name.startswith("param_kernels.site_gradient_kernel") and p.suffix == ".nbi"
               for p in (tmp_path / "cache").rglob("*"))
    assert np.abs(outs[0]).max() > 0
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-12, atol=1e-12 * np.abs(outs[0]).max())
