"""Evaluate an MTP: energy, per-atom energies, forces and MLIP's PlusStress virial.

    tables = build_tables(pot)                      # once per potential (re-use it across calls)
    res = evaluate(pot, config, tables=tables)      # res.energy, res.energies, res.forces, res.plus_stress

Input is validated here (type index >= species_count, NaN/inf positions, singular cell, an untrained
potential → InputError); the numba kernels in mtpflow.mtp.kernels trust it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numba
import numpy as np

from mtpflow.errors import InputError
from mtpflow.mtp import kernels
from mtpflow.mtp.neighbors import NeighborList, neighbor_list
from mtpflow.structures import Configuration

N_CHUNKS = 8  # fixed (not the thread count): results are bit-identical for 1..8 threads


@dataclass
class EvalResult:
    """energy eV; energies (N,) eV; forces (N, 3) eV/Å; plus_stress (6,) eV (MLIP virial, order
    xx yy zz yz xz xy; None for a non-periodic configuration); virial (3, 3) eV, always."""

    energy: float
    energies: np.ndarray
    forces: np.ndarray
    plus_stress: np.ndarray | None
    virial: np.ndarray


@dataclass
class MTPTables:
    """Flattened, renumbered per-potential tables for the kernels (see mtpflow.mtp.kernels)."""

    species_count: int
    rmin: float
    rmax: float
    rad_coeffs: np.ndarray
    species_coeffs: np.ndarray
    nu_max: int
    rank_start: np.ndarray
    mono_nu: np.ndarray
    mono_ea: np.ndarray
    mono_eb: np.ndarray
    mono_ec: np.ndarray
    mono_px: np.ndarray
    mono_py: np.ndarray
    mono_pz: np.ndarray
    blk_mu: np.ndarray
    blk_t0: np.ndarray
    blk_m0: np.ndarray
    blk_len: np.ndarray
    n_moments: int
    t_i: np.ndarray
    t_j: np.ndarray
    t_mult: np.ndarray
    t_k: np.ndarray
    w0: np.ndarray
    cost_per_atom: float  # in units of one pair's cost, for load balancing

    def kernel_args(self):
        return (self.rmin, self.rmax, self.rad_coeffs, self.species_coeffs, self.nu_max,
                self.rank_start, self.mono_nu, self.mono_ea, self.mono_eb, self.mono_ec,
                self.mono_px, self.mono_py, self.mono_pz, self.blk_mu, self.blk_t0, self.blk_m0,
                self.blk_len, self.n_moments, self.t_i, self.t_j, self.t_mult, self.t_k, self.w0)


def monomial_table(nu_max: int):
    """Exponents (a, b, c) of all monomials of rank 0..nu_max in the kernels' order, and rank starts."""
    expo = [(0, 0, 0)]
    rank_start = [0, 1]
    prev = [(0, 0, 0)]
    for nu in range(1, nu_max + 1):
        cur = [(a + 1, b, c) for a, b, c in prev]
        cur += [(a, b + 1, c) for a, b, c in prev[len(prev) - nu:]]
        cur.append((0, 0, nu))
        expo += cur
        rank_start.append(rank_start[-1] + len(cur))
        prev = cur
    return np.array(expo, dtype=np.int64).reshape(-1, 3), np.array(rank_start, dtype=np.int64)


def build_tables(pot) -> MTPTables:
    """Per-potential kernel tables; raises InputError for an untrained or inconsistent potential."""
    pot.validate()
    if not pot.is_trained:
        raise InputError("the potential has no coefficients (an untrained template); train it first "
                         "(mtpflow train) or give a trained .mtp/.almtp")
    basic = np.asarray(pot.alpha_index_basic, dtype=np.int64)
    nb = len(basic)
    nu_max = int(basic[:, 1:].sum(axis=1).max()) if nb else 0
    expo, rank_start = monomial_table(nu_max)
    index = {tuple(e): t for t, e in enumerate(expo.tolist())}
    t_of = np.array([index[tuple(row[1:])] for row in basic.tolist()], dtype=np.int64)
    # renumber: basic moments sorted by (mu, monomial), others keep their order after them
    order = sorted(range(nb), key=lambda m: (int(basic[m, 0]), int(t_of[m])))
    new_of = np.arange(pot.alpha_moments_count, dtype=np.int64)
    for new, old in enumerate(order):
        new_of[old] = new
    blk_mu, blk_t0, blk_m0, blk_len = [], [], [], []
    for new, old in enumerate(order):
        mu, t = int(basic[old, 0]), int(t_of[old])
        if blk_mu and blk_mu[-1] == mu and blk_t0[-1] + blk_len[-1] == t and blk_m0[-1] + blk_len[-1] == new:
            blk_len[-1] += 1
        else:
            blk_mu.append(mu)
            blk_t0.append(t)
            blk_m0.append(new)
            blk_len.append(1)
    times = np.asarray(pot.alpha_index_times, dtype=np.int64).reshape(-1, 4)
    w0 = np.zeros(pot.alpha_moments_count, dtype=np.float64)
    np.add.at(w0, new_of[pot.alpha_moment_mapping], pot.moment_coeffs)

    def parent(col):
        out = np.zeros(len(expo), dtype=np.int64)
        for t, e in enumerate(expo.tolist()):
            if e[col] > 0:
                e = list(e)
                e[col] -= 1
                out[t] = index[tuple(e)]
        return out

    pair_cost = 3.0 * nb + 6.0 * len(expo) + 2.0 * pot.radial_funcs_count * pot.radial_basis_size
    cost_atom = (3.0 * len(times) + 2.0 * pot.alpha_moments_count + 50.0) / pair_cost
    c = np.ascontiguousarray
    return MTPTables(
        species_count=pot.species_count, rmin=float(pot.min_dist), rmax=float(pot.max_dist),
        rad_coeffs=c(pot.radial_coeffs * float(pot.scaling), dtype=np.float64),
        species_coeffs=c(pot.species_coeffs, dtype=np.float64),
        nu_max=nu_max, rank_start=rank_start,
        mono_nu=c(expo.sum(axis=1), dtype=np.float64),
        mono_ea=c(expo[:, 0], dtype=np.float64), mono_eb=c(expo[:, 1], dtype=np.float64),
        mono_ec=c(expo[:, 2], dtype=np.float64),
        mono_px=parent(0), mono_py=parent(1), mono_pz=parent(2),
        blk_mu=np.array(blk_mu, np.int64), blk_t0=np.array(blk_t0, np.int64),
        blk_m0=np.array(blk_m0, np.int64), blk_len=np.array(blk_len, np.int64),
        n_moments=int(pot.alpha_moments_count),
        t_i=c(new_of[times[:, 0]]), t_j=c(new_of[times[:, 1]]),
        t_mult=c(times[:, 2], dtype=np.float64), t_k=c(new_of[times[:, 3]]),
        w0=w0, cost_per_atom=float(cost_atom))


def _chunks(offsets: np.ndarray, cost_per_atom: float, n_chunks: int) -> np.ndarray:
    """Contiguous atom ranges of about equal cost (cost_per_atom + neighbours per atom)."""
    n = len(offsets) - 1
    n_chunks = max(1, min(n_chunks, n))
    cum = offsets.astype(np.float64) + cost_per_atom * np.arange(n + 1)
    targets = cum[-1] * np.arange(1, n_chunks) / n_chunks
    inner = np.searchsorted(cum, targets)
    return np.concatenate([[0], inner, [n]]).astype(np.int64)


def _validate_config(tables: MTPTables, positions, types, cell, where=None):
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise InputError(f"positions must have shape (N, 3), got {pos.shape}", where)
    typ = np.ascontiguousarray(types)
    if typ.shape != (len(pos),):
        raise InputError(f"{typ.size} types for {len(pos)} atoms", where)
    if typ.size and not np.issubdtype(typ.dtype, np.integer):
        raise InputError("atom types must be integers 0..species_count-1", where)
    typ = typ.astype(np.int64)
    if typ.size and (typ.min() < 0 or typ.max() >= tables.species_count):
        bad = int(typ.max() if typ.max() >= tables.species_count else typ.min())
        raise InputError(f"atom type {bad} is outside 0..{tables.species_count - 1}: the potential has "
                         f"species_count = {tables.species_count}; use a potential for all species "
                         "present or fix the types", where)
    if not np.all(np.isfinite(pos)):
        raise InputError("positions contain NaN or inf; fix the configuration", where)
    return pos, typ, cell


def evaluate(pot, config=None, *, positions=None, types=None, cell=None, tables: MTPTables | None = None,
             nl: NeighborList | None = None, where=None) -> EvalResult:
    """Energy, per-atom energies, forces and virial of one configuration.

    config: a Configuration, or give positions (N, 3) Å, types (N,) and cell (3, 3 rows, or None for
    non-periodic). tables: from build_tables(pot) (built here when omitted). nl: a neighbour list
    with cutoff >= max_dist to re-use (pairs beyond max_dist are ignored). where: file name for errors.
    """
    if tables is None:
        tables = build_tables(pot)
    if config is not None:
        positions, types, cell = config.positions, config.types, config.cell
    if positions is None or types is None:
        raise TypeError("evaluate needs a Configuration or positions and types")
    pos, typ, cell = _validate_config(tables, positions, types, cell, where)
    if nl is None:
        try:
            nl = neighbor_list(pos, cell, tables.rmax)
        except InputError as exc:
            raise InputError(str(exc), where) from None
    n = len(pos)
    counts = np.diff(nl.offsets)
    nn_max = int(counts.max()) if n else 0
    bounds = _chunks(nl.offsets, tables.cost_per_atom, N_CHUNKS)
    k = len(bounds) - 1
    energies = np.zeros(n)
    fchunks = np.zeros((k, n, 3))
    vchunks = np.zeros((k, 3, 3))
    forces = np.zeros((n, 3))
    if n:
        kernels.efs_kernel(typ, nl.offsets, nl.j, nl.rvec, bounds, *tables.kernel_args(),
                           energies, fchunks, vchunks, max(nn_max, 1))
        kernels.reduce_forces(fchunks, forces)
    virial = np.zeros((3, 3))
    for c in range(k):
        virial += vchunks[c]
    energy = float(np.sum(energies)) if n else 0.0
    plus = None
    if cell is not None:
        plus = np.array([virial[0, 0], virial[1, 1], virial[2, 2],
                         0.5 * (virial[1, 2] + virial[2, 1]), 0.5 * (virial[0, 2] + virial[2, 0]),
                         0.5 * (virial[0, 1] + virial[1, 0])])
    return EvalResult(energy, energies, forces, plus, virial)


def evaluate_batch(pot, configs: Iterable[Configuration], tables: MTPTables | None = None,
                   where=None) -> list[EvalResult]:
    """evaluate() for every configuration, with the tables built once. Errors name the config."""
    if tables is None:
        tables = build_tables(pot)
    out = []
    for k, cfg in enumerate(configs):
        try:
            out.append(evaluate(pot, cfg, tables=tables))
        except InputError as exc:
            loc = f"configuration {k}" if where is None else f"{where}, configuration {k}"
            raise InputError(f"{loc}: {exc}") from None
    return out


def with_results(config: Configuration, res: EvalResult) -> Configuration:
    """A copy of `config` carrying the potential's energy, forces and PlusStress."""
    import copy

    out = copy.copy(config)
    out.energy = res.energy
    out.forces = res.forces.copy()
    out.plus_stress = None if res.plus_stress is None else res.plus_stress.copy()
    return out


def set_threads(n: int | None) -> None:
    """numba thread count (None: leave as is)."""
    if n is not None:
        numba.set_num_threads(int(n))
