"""MTP evaluation: MLIP's own numbers, finite differences, invariances, threads, bad input."""

import numpy as np
import pytest

from mtpflow.errors import InputError
from mtpflow.mtp.evaluate import build_tables, evaluate, evaluate_batch
from mtpflow.mtp.neighbors import neighbor_list
from mtpflow.mtp.potential import MTPPotential
from mtpflow.structures import Configuration
from tests.conftest import assert_matches_mlip, numba_threads, shared_path, two_threads_elsewhere

ORACLE_INPUTS = ["guidebook_test5", "triclinic"]


def random_potential(level, species_count=3, seed=0, min_dist=1.9, max_dist=5.0, scaling=0.3):
    """A potential on the generated basis of `level` with random coefficients."""
    from mtpflow.mtp.basis import generate_basis

    b = generate_basis(level)
    rng = np.random.default_rng(seed)
    s, r, nb = species_count, b.radial_funcs_count, 8
    return MTPPotential(
        species_count=s, min_dist=min_dist, max_dist=max_dist, radial_basis_size=nb,
        radial_funcs_count=r, alpha_moments_count=b.alpha_moments_count,
        alpha_index_basic=b.alpha_index_basic, alpha_index_times=b.alpha_index_times,
        alpha_moment_mapping=b.alpha_moment_mapping,
        radial_coeffs=rng.uniform(-1, 1, (s, s, r, nb)), species_coeffs=rng.uniform(-2, 0, s),
        moment_coeffs=rng.uniform(-1, 1, b.alpha_scalar_moments) * 10.0 ** -rng.integers(0, 4, b.alpha_scalar_moments),
        scaling=scaling, species=["Li", "Cl", "Al"][:s] if s <= 3 else None)


def small_triclinic(n=5, seed=1, types=None):
    """A cell much smaller than twice the cutoff (atoms see many images), one close pair."""
    rng = np.random.default_rng(seed)
    cell = np.array([[4.3, 0.0, 0.0], [1.2, 4.0, 0.0], [-0.8, 0.9, 4.6]])
    pos = rng.random((n, 3)) @ cell
    pos[1] = pos[0] + [1.1, 0.5, 0.3]  # closer than min_dist: evaluated without clamping
    types = rng.integers(0, 3, n) if types is None else np.asarray(types)
    return Configuration(positions=pos, types=types, cell=cell)


def medium_triclinic(n=40, seed=2):
    rng = np.random.default_rng(seed)
    cell = np.array([[9.0, 0.0, 0.0], [2.5, 8.5, 0.0], [1.5, -2.0, 9.5]])
    # jittered grid: no pairs at absurdly small distances
    g = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    frac = (g + 0.5 + rng.uniform(-0.25, 0.25, g.shape)) / 4
    return Configuration(positions=frac @ cell, types=rng.integers(0, 3, n), cell=cell)


def energy_of(pot, tables, pos, types, cell):
    return evaluate(pot, positions=pos, types=types, cell=cell, tables=tables).energy


def fd_forces(pot, tables, cfg, h=1e-5):
    f = np.zeros_like(cfg.positions)
    for a in range(cfg.n_atoms):
        for d in range(3):
            p, m = cfg.positions.copy(), cfg.positions.copy()
            p[a, d] += h
            m[a, d] -= h
            f[a, d] = -(energy_of(pot, tables, p, cfg.types, cfg.cell)
                        - energy_of(pot, tables, m, cfg.types, cfg.cell)) / (2 * h)
    return f


def fd_virial(pot, tables, cfg, h=1e-6):
    """-dE/d(strain) in Voigt order xx yy zz yz xz xy, i.e. MLIP's PlusStress."""
    out = np.zeros(6)
    for v, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        es = []
        for sgn in (1, -1):
            eps = np.zeros((3, 3))
            eps[a, b] += sgn * h / (1 if a == b else 2)
            eps[b, a] = eps[a, b]
            deform = np.eye(3) + eps
            es.append(energy_of(pot, tables, cfg.positions @ deform, cfg.types, cfg.cell @ deform))
        out[v] = -(es[0] - es[1]) / (2 * h)
    return out


def assert_close(a, b, rel):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.abs(b).max(), 1e-300)
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * scale)


# ---------------------------------------------------------------- MLIP's own outputs ------------
def _mlip_case(potname, inp):
    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.mtp import read_mtp

    pot = read_mtp(shared_path("mlip_reference", f"{potname}.almtp"))
    inputs = read_cfg(shared_path("mtp_oracle_inputs", f"{inp}.cfg"))
    refs = read_cfg(shared_path("mlip_reference", f"{potname}__{inp}.cfg"))
    assert len(inputs) == len(refs)
    results = evaluate_batch(pot, inputs)
    for k, (res, ref) in enumerate(zip(results, refs)):
        assert_matches_mlip(res.energy, res.forces, res.plus_stress, ref, f"{inp} {k}")


@pytest.mark.parametrize("inp", ORACLE_INPUTS)
@pytest.mark.parametrize("potname", ["random_L16", "trained_L08"])
def test_matches_mlip_outputs(potname, inp):
    _mlip_case(potname, inp)


@pytest.mark.slow
@pytest.mark.parametrize("potname", ["random_L16", "trained_L08"])
def test_matches_mlip_outputs_glass_2592(potname):
    _mlip_case(potname, "glass_2592")


# ---------------------------------------------------------------- derivatives -------------------
@pytest.mark.parametrize("level", [8, 16, 20])
def test_forces_and_stress_are_derivatives_small_triclinic(level):
    pot = random_potential(level, seed=level)
    tables = build_tables(pot)
    cfg = small_triclinic(n=4 if level == 20 else 5, seed=level)
    res = evaluate(pot, cfg, tables=tables)
    assert_close(res.forces, fd_forces(pot, tables, cfg), 1e-6)
    assert_close(res.plus_stress, fd_virial(pot, tables, cfg), 1e-6)
    assert res.energy == pytest.approx(res.energies.sum(), rel=1e-14)


def test_forces_and_stress_are_derivatives_medium_cell():
    pot = random_potential(16, seed=5)
    tables = build_tables(pot)
    cfg = medium_triclinic(n=12)
    res = evaluate(pot, cfg, tables=tables)
    assert_close(res.forces, fd_forces(pot, tables, cfg), 1e-6)
    assert_close(res.plus_stress, fd_virial(pot, tables, cfg), 1e-6)


@pytest.mark.parametrize("level", [8, 16])
def test_energy_matches_independent_reference_evaluator(level):
    reference = pytest.importorskip("mtpflow.mtp.reference")
    pot = random_potential(level, seed=10 + level)
    for cfg in (small_triclinic(n=4, seed=3), Configuration(
            positions=small_triclinic(n=6, seed=4).positions, types=[0, 1, 2, 0, 1, 2], cell=None)):
        e_ref = reference.energy(cfg.positions, cfg.types, pot, cell=cfg.cell)
        assert evaluate(pot, cfg).energy == pytest.approx(e_ref, rel=1e-11)


def test_non_periodic_isolated_atoms_and_absent_species():
    pot = random_potential(16, seed=7)
    tables = build_tables(pot)
    rng = np.random.default_rng(8)
    pos = rng.random((7, 3)) * 6.0
    pos[6] = [40.0, 40.0, 40.0]  # no neighbours at all
    cfg = Configuration(positions=pos, types=[0, 2, 0, 2, 2, 0, 2], cell=None)  # no type 1
    res = evaluate(pot, cfg, tables=tables)
    assert res.plus_stress is None
    assert res.energies[6] == pot.species_coeffs[2]  # V(empty) = species coefficient
    assert np.all(res.forces[6] == 0.0)
    assert_close(res.forces, fd_forces(pot, tables, cfg), 1e-6)
    np.testing.assert_allclose(res.forces.sum(axis=0), 0.0, atol=1e-10 * np.abs(res.forces).max())


# ---------------------------------------------------------------- invariances -------------------
def _check_same(a, b, rel=1e-11, rot=None, perm=None):
    """a is the transformed configuration's result, b the original's (rot: positions @ rot.T)."""
    fb, wb = b.forces, b.virial
    if perm is not None:
        fb = fb[perm]
    if rot is not None:
        fb = fb @ rot.T
        wb = rot @ wb @ rot.T
    assert a.energy == pytest.approx(b.energy, rel=rel)
    assert_close(a.forces, fb, rel)
    assert_close(a.virial, wb, rel)


def test_invariances():
    pot = random_potential(16, seed=11)
    tables = build_tables(pot)
    cfg = medium_triclinic(n=30, seed=12)
    base = evaluate(pot, cfg, tables=tables)
    # the same through the tuple form
    same = evaluate(pot, (cfg.positions, cfg.types, cfg.cell), tables=tables)
    assert same.energy == base.energy and np.array_equal(same.forces, base.forces)
    # translation
    moved = evaluate(pot, positions=cfg.positions + [3.3, -1.7, 12.9], types=cfg.types, cell=cfg.cell,
                     tables=tables)
    _check_same(moved, base)
    # rotation (positions and cell rotated together)
    q, _ = np.linalg.qr(np.random.default_rng(13).normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    rotated = evaluate(pot, positions=cfg.positions @ q.T, types=cfg.types, cell=cfg.cell @ q.T, tables=tables)
    _check_same(rotated, base, rot=q)
    # permutation of atoms of one species
    idx = np.flatnonzero(cfg.types == 1)
    perm = np.arange(cfg.n_atoms)
    perm[idx] = idx[::-1]
    permuted = evaluate(pot, positions=cfg.positions[perm], types=cfg.types[perm], cell=cfg.cell, tables=tables)
    _check_same(permuted, base, perm=perm)
    # cell re-choice: unimodular change of lattice vectors, atoms wrapped into the new cell
    m = np.array([[2, 1, 0], [1, 1, 0], [0, 1, 1]])
    assert round(abs(np.linalg.det(m))) == 1
    new_cell = m @ cfg.cell
    frac = cfg.positions @ np.linalg.inv(new_cell)
    wrapped = (frac - np.floor(frac)) @ new_cell
    rechosen = evaluate(pot, positions=wrapped, types=cfg.types, cell=new_cell, tables=tables)
    _check_same(rechosen, base)


def test_longer_neighbour_list_gives_same_result():
    pot = random_potential(8, seed=14)
    cfg = small_triclinic(n=5, seed=15)
    base = evaluate(pot, cfg)
    nl = neighbor_list(cfg.positions, cfg.cell, pot.max_dist + 1.3)
    other = evaluate(pot, cfg, nl=nl)
    _check_same(base, other, rel=1e-13)


def test_thread_count_independent(request):
    from mtpflow.mtp.evaluate import N_CHUNKS, _chunks

    if two_threads_elsewhere(request):
        return
    pot = random_potential(16, seed=16)
    small = medium_triclinic(n=64, seed=17)
    shifts = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3) @ small.cell
    cfg = Configuration(positions=np.concatenate([small.positions + s for s in shifts]),
                        types=np.tile(small.types, 8), cell=2 * small.cell)
    assert len(_chunks(neighbor_list(cfg.positions, cfg.cell, 5.0).offsets, 1.0, N_CHUNKS)) == N_CHUNKS + 1
    with numba_threads(1):
        one = evaluate(pot, cfg)
    with numba_threads(2):
        two = evaluate(pot, cfg)
    # fixed chunking: bit-identical, not only equal to round-off
    assert one.energy == two.energy
    assert np.array_equal(one.forces, two.forces) and np.array_equal(one.virial, two.virial)


# ---------------------------------------------------------------- bad input ---------------------
def test_bad_input_errors():
    pot = random_potential(8, seed=18)
    cfg = small_triclinic(n=4, seed=19)
    with pytest.raises(InputError, match="type 3"):
        evaluate(pot, positions=cfg.positions, types=[0, 1, 3, 0], cell=cfg.cell)
    with pytest.raises(InputError, match="type -1"):
        evaluate(pot, positions=cfg.positions, types=[0, 1, -1, 0], cell=cfg.cell)
    bad = cfg.positions.copy()
    bad[2, 1] = np.inf
    with pytest.raises(InputError, match="NaN or inf"):
        evaluate(pot, positions=bad, types=cfg.types, cell=cfg.cell)
    with pytest.raises(InputError, match="singular"):
        evaluate(pot, positions=cfg.positions, types=cfg.types, cell=np.array([[1.0, 0, 0], [0, 1, 0], [1, 1, 0]]))
    untrained = pot.copy()
    untrained.moment_coeffs = None
    with pytest.raises(InputError, match="untrained"):
        evaluate(untrained, cfg)
    with pytest.raises(InputError, match="configuration 1"):
        evaluate_batch(pot, [cfg, Configuration(positions=cfg.positions, types=[0, 0, 0, 5], cell=cfg.cell)])


# ---------------------------------------------------------------- numba cache -------------------
_CACHE_SCRIPT = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from tests.mtp.test_kernels import random_potential, medium_triclinic
from mtpflow.mtp.evaluate import evaluate
res = evaluate(random_potential(8, seed=21), medium_triclinic(n=20, seed=22))
np.save(sys.argv[1], np.concatenate([[res.energy], res.forces.ravel(), res.virial.ravel()]))
"""


@pytest.mark.slow
def test_cached_parallel_kernels_give_identical_results(tmp_path):
    """cache=True on the parallel kernels: a run that loads them from the cache gives the same numbers
    (to round-off: machine code loaded from the cache may contract/fuse differently than a fresh
    compile within one process, ~1e-16 relative)."""
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
    assert any(p.suffix == ".nbi" for p in (tmp_path / "cache").rglob("*"))  # the cache was written
    assert np.all(np.isfinite(outs[1]))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-12, atol=1e-12 * np.abs(outs[0]).max())


def test_tables_follow_coefficient_changes():
    """The basis part of the tables is cached; coefficients must never be stale."""
    pot = random_potential(16, seed=23)
    cfg = small_triclinic(n=4, seed=24)
    e0 = evaluate(pot, cfg).energy
    params = pot.get_params()
    params[-1] += 0.5  # last moment coefficient
    params[0] += 0.1   # first radial coefficient
    pot.set_params(params)
    e1 = evaluate(pot, cfg).energy
    assert e1 != e0
    reference = pytest.importorskip("mtpflow.mtp.reference")
    assert e1 == pytest.approx(reference.energy(cfg.positions, cfg.types, pot, cell=cfg.cell), rel=1e-11)
