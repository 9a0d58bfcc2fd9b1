"""Evaluate an MTP: energy, per-atom energies, forces and MLIP's PlusStress virial.

    tables = build_tables(pot)                      # once per potential (re-use it across calls)
    res = evaluate(pot, config, tables=tables)      # res.energy, res.energies, res.forces, res.plus_stress
    g = site_parameter_gradients(pot, configs)      # g.rows[i] = dV_i/dtheta, g.config_sums[k] = dE_k/dtheta

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
MIN_CHUNK_ATOMS = 48  # small configurations use fewer chunks (full 8-atom lanes, less overhead)


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
    mono_axis: np.ndarray
    mono_parent: np.ndarray
    mu_len: np.ndarray
    bas_mu: np.ndarray
    bas_t: np.ndarray
    bas_m: np.ndarray
    bas_coef: np.ndarray
    n_moments: int
    g_start: np.ndarray
    g_k: np.ndarray
    g_i: np.ndarray
    g_j: np.ndarray
    g_mult: np.ndarray
    r_start: np.ndarray
    r_k: np.ndarray
    r_o: np.ndarray
    r_mult: np.ndarray
    w0: np.ndarray
    cost_per_atom: float  # in units of one pair's cost, for load balancing
    scaling: float = 1.0  # the file's `scaling` (already multiplied into rad_coeffs)
    map_new: np.ndarray | None = None  # kernel moment index of every basis function (alpha)

    def kernel_args(self):
        return (self.rmin, self.rmax, self.rad_coeffs, self.species_coeffs,
                self.mono_axis, self.mono_parent, self.mu_len, self.bas_mu, self.bas_t, self.bas_m,
                self.bas_coef, self.n_moments,
                self.g_start, self.g_k, self.g_i, self.g_j, self.g_mult,
                self.r_start, self.r_k, self.r_o, self.r_mult, self.w0)


def monomial_table(nu_max: int):
    """Exponents (a, b, c) of all monomials of rank 0..nu_max in the kernels' order (rank-major; a
    monomial t > 0 is u[axis[t]] * monomial parent[t]): returns (expo (T, 3), axis (T,), parent (T,))."""
    expo = [(0, 0, 0)]
    axis = [0]
    parent = [0]
    prev, p0 = [(0, 0, 0)], 0
    for nu in range(1, nu_max + 1):
        cur = [(a + 1, b, c) for a, b, c in prev]
        axis += [0] * len(prev)
        parent += [p0 + k for k in range(len(prev))]
        cur += [(a, b + 1, c) for a, b, c in prev[len(prev) - nu:]]
        axis += [1] * nu
        parent += [p0 + len(prev) - nu + k for k in range(nu)]
        cur.append((0, 0, nu))
        axis.append(2)
        parent.append(p0 + len(prev) - 1)
        p0 += len(prev)
        expo += cur
        prev = cur
    return (np.array(expo, dtype=np.int64).reshape(-1, 3), np.array(axis, dtype=np.int64),
            np.array(parent, dtype=np.int64))


def _topological_order(pot, nb: int):
    """Moment order for the kernels: basic moments, then never-written ones, then written moments
    by their last write. Raises InputError if a product reads a moment before all its writes."""
    times = np.asarray(pot.alpha_index_times, dtype=np.int64).reshape(-1, 4)
    last = np.full(pot.alpha_moments_count, -1, dtype=np.int64)
    for r, (i, j, _m, k) in enumerate(times.tolist()):
        if last[i] >= r or last[j] >= r:
            raise InputError(f"alpha_index_times row {r} uses moment {i if last[i] >= r else j} before "
                             "all products into it are complete; such a contraction order is not "
                             "supported (MLIP templates and mtpflow's generator never do this)")
        last[k] = r
    nonbasic = np.arange(nb, pot.alpha_moments_count)
    order_nb = sorted(nonbasic.tolist(), key=lambda m: (int(last[m]), m))
    return times, order_nb


_STRUCTURE_CACHE: dict[str, dict] = {}


def build_tables(pot, check: bool = True) -> MTPTables:
    """Per-potential kernel tables; raises InputError for an untrained or inconsistent potential.

    The basis-dependent part (renumbering, product groups, adjoint lists) is cached per basis, so
    rebuilding after a coefficient change (training) costs only O(parameters). check=False skips
    the validation (training, whose coefficients may leave the finite range in a line search)."""
    if check:
        pot.validate()
        if not pot.is_trained:
            raise InputError("the potential has no coefficients (an untrained template); train it "
                             "first (mtpflow train) or give a trained .mtp/.almtp")
    st = _structure(pot)
    map_new = np.ascontiguousarray(st.pop("new_of")[pot.alpha_moment_mapping])
    w0 = np.zeros(pot.alpha_moments_count, dtype=np.float64)
    np.add.at(w0, map_new, pot.moment_coeffs)
    c = np.ascontiguousarray
    return MTPTables(
        species_count=pot.species_count, rmin=float(pot.min_dist), rmax=float(pot.max_dist),
        rad_coeffs=c(pot.radial_coeffs * float(pot.scaling), dtype=np.float64),
        species_coeffs=c(pot.species_coeffs, dtype=np.float64), w0=w0,
        scaling=float(pot.scaling), map_new=map_new, **st)


def _structure(pot) -> dict:
    import hashlib

    h = hashlib.sha1()
    for arr in (pot.alpha_index_basic, pot.alpha_index_times, pot.alpha_moment_mapping):
        h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
        h.update(b"|")
    h.update(f"{pot.alpha_moments_count},{pot.radial_funcs_count},{pot.radial_basis_size}".encode())
    key = h.hexdigest()
    if key not in _STRUCTURE_CACHE:
        if len(_STRUCTURE_CACHE) > 32:
            _STRUCTURE_CACHE.clear()
        _STRUCTURE_CACHE[key] = _build_structure(pot)
    return dict(_STRUCTURE_CACHE[key])


def _build_structure(pot) -> dict:
    basic = np.asarray(pot.alpha_index_basic, dtype=np.int64)
    nb = len(basic)
    nr = pot.radial_funcs_count
    nu_max = int(basic[:, 1:].sum(axis=1).max()) if nb else 0
    expo, mono_axis, mono_parent = monomial_table(nu_max)
    index = {tuple(e): t for t, e in enumerate(expo.tolist())}
    t_of = np.array([index[tuple(row[1:])] for row in basic.tolist()], dtype=np.int64)
    # renumber: basic moments sorted by (mu, monomial), then the rest in topological order
    order = sorted(range(nb), key=lambda m: (int(basic[m, 0]), int(t_of[m])))
    times, order_nb = _topological_order(pot, nb)
    new_of = np.empty(pot.alpha_moments_count, dtype=np.int64)
    new_of[order + order_nb] = np.arange(pot.alpha_moments_count)
    # basic moments: (mu, monomial, moment) and the monomial weights of E's derivatives
    def parent(t, col):
        e = list(expo[t])
        if e[col] == 0:
            return 0
        e[col] -= 1
        return index[tuple(e)]

    bas_mu = basic[:, 0].copy()
    bas_t = np.concatenate([t_of] + [np.array([parent(t, col) for t in t_of], dtype=np.int64)
                                     for col in range(3)])
    bas_m = new_of[np.arange(nb)]
    bas_coef = np.column_stack([expo[t_of].sum(axis=1), expo[t_of]]).astype(np.float64).reshape(nb, 4)
    mu_len = np.zeros(nr, dtype=np.int64)
    for mu, t in zip(bas_mu.tolist(), t_of.tolist()):
        mu_len[mu] = max(mu_len[mu], t + 1)
    # products grouped by target in topological order (file order inside a group)
    rows_by_k: dict[int, list[int]] = {}
    for r, k in enumerate(times[:, 3].tolist()):
        rows_by_k.setdefault(k, []).append(r)
    g_rows = [r for k in order_nb if k in rows_by_k for r in rows_by_k[k]]
    g_k = np.array([new_of[k] for k in order_nb if k in rows_by_k], dtype=np.int64)
    g_start = np.concatenate([[0], np.cumsum([len(rows_by_k[k]) for k in order_nb if k in rows_by_k])])
    g_rows = np.array(g_rows, dtype=np.int64)
    # adjoint pulled per moment: entries (k, other, mult) for every product that reads the moment
    reads: list[list[tuple[int, int, float]]] = [[] for _ in range(pot.alpha_moments_count)]
    for i, j, mult, k in times.tolist():
        ni, nj, nk = new_of[i], new_of[j], new_of[k]
        reads[ni].append((nk, nj, float(mult)))
        reads[nj].append((nk, ni, float(mult)))
    r_start = np.concatenate([[0], np.cumsum([len(x) for x in reads])]).astype(np.int64)
    flat = [e for x in reads for e in x]
    r_k = np.array([e[0] for e in flat], dtype=np.int64)
    r_o = np.array([e[1] for e in flat], dtype=np.int64)
    r_mult = np.array([e[2] for e in flat], dtype=np.float64)
    pair_cost = 6.0 * nb + 2.0 * len(expo) + 2.0 * nr * pot.radial_basis_size + 60.0
    cost_atom = (3.0 * len(times) + 2.0 * pot.alpha_moments_count + 5 * nr * len(expo) + 50.0) / pair_cost
    c = np.ascontiguousarray
    return dict(
        new_of=new_of, nu_max=nu_max, mono_axis=mono_axis, mono_parent=mono_parent, mu_len=mu_len,
        bas_mu=c(bas_mu), bas_t=c(bas_t), bas_m=c(bas_m), bas_coef=c(bas_coef),
        n_moments=int(pot.alpha_moments_count),
        g_start=g_start.astype(np.int64), g_k=g_k,
        g_i=c(new_of[times[g_rows, 0]]) if len(g_rows) else np.zeros(0, np.int64),
        g_j=c(new_of[times[g_rows, 1]]) if len(g_rows) else np.zeros(0, np.int64),
        g_mult=c(times[g_rows, 2], dtype=np.float64) if len(g_rows) else np.zeros(0),
        r_start=r_start, r_k=r_k, r_o=r_o, r_mult=r_mult, cost_per_atom=float(cost_atom))


def _chunks(offsets: np.ndarray, cost_per_atom: float, n_chunks: int) -> np.ndarray:
    """Contiguous atom ranges of about equal cost (cost_per_atom + neighbours per atom), starting at
    multiples of kernels.LANES, with at least MIN_CHUNK_ATOMS atoms each. Depends only on the
    configuration (never on the thread count)."""
    n = len(offsets) - 1
    n_chunks = max(1, min(n_chunks, n // MIN_CHUNK_ATOMS))
    cum = offsets.astype(np.float64) + cost_per_atom * np.arange(n + 1)
    targets = cum[-1] * np.arange(1, n_chunks) / n_chunks
    lanes = kernels.LANES
    inner = np.round(np.searchsorted(cum, targets) / lanes).astype(np.int64) * lanes
    bounds = np.unique(np.concatenate([[0], np.clip(inner, 0, n), [n]]))
    return bounds.astype(np.int64)


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

    config: a Configuration or a tuple (positions, types[, cell]); or give positions (N, 3) Å,
    types (N,) and cell (3, 3 rows, or None for non-periodic) as keywords. tables: from build_tables(pot) (built here when omitted). nl: a neighbour list
    with cutoff >= max_dist to re-use (pairs beyond max_dist are ignored). where: file name for errors.
    """
    if tables is None:
        tables = build_tables(pot)
    if isinstance(config, (tuple, list)):
        if len(config) not in (2, 3):
            raise TypeError("evaluate(pot, (positions, types[, cell]))")
        positions, types = config[0], config[1]
        cell = config[2] if len(config) == 3 else None
    elif config is not None:
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


@dataclass
class SiteGradients:
    """Gradients of site energies with respect to all coefficients theta, in MLIP's order
    (pot.get_params(): radial_coeffs (S, S, R, B) flattened, species_coeffs (S), moment_coeffs);
    the radial block is with respect to the coefficients as stored in the file, with `scaling`
    held fixed (MLIP's radial basis values include `scaling`, so dV/dc carries that factor).

    rows (n_atoms, n_coeffs): b_i = dV_i/dtheta of every atom of every configuration in order
    (None when not requested); atom_offsets (n_configs + 1,): configuration k owns rows
    atom_offsets[k]:atom_offsets[k+1]; config_sums (n_configs, n_coeffs): dE_k/dtheta."""

    rows: np.ndarray | None
    atom_offsets: np.ndarray
    config_sums: np.ndarray


def site_parameter_gradients(pot, configs: Iterable[Configuration], tables: MTPTables | None = None,
                             rows: bool = True, where=None, nls=None) -> SiteGradients:
    """b_i = dV_i/dtheta for every neighbourhood (atom) of every configuration, and dE/dtheta per
    configuration: one forward pass and one adjoint sweep per atom (mtpflow.mtp.param_kernels).

    Memory: the rows, n_atoms x pot.n_params() float64 (rows=False keeps only one configuration's
    rows at a time and returns the sums). Rows do not depend on the thread count. Bad input
    raises InputError: a bad configuration is named (with `where`, the configurations' file); an
    untrained or inconsistent potential as build_tables says. nls: a neighbour list (cutoff >=
    max_dist, for the same positions and cell) per configuration to re-use, or None entries."""
    from mtpflow.mtp import param_kernels

    if tables is None:
        tables = build_tables(pot)
    configs = [configs] if isinstance(configs, Configuration) else list(configs)
    n_par = pot.n_params()
    counts = [int(np.shape(c.positions)[0]) for c in configs]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    out = np.zeros((int(offsets[-1]), n_par)) if rows else None
    sums = np.zeros((len(configs), n_par))
    for k, cfg in enumerate(configs):
        loc = f"configuration {k}" if where is None else f"{where}, configuration {k}"
        try:
            pos, typ, cell = _validate_config(tables, cfg.positions, cfg.types, cfg.cell)
            nl = nls[k] if nls is not None and nls[k] is not None else neighbor_list(pos, cell, tables.rmax)
        except InputError as exc:
            raise InputError(f"{loc}: {exc}") from None
        n = len(pos)
        if n == 0:
            continue
        block = out[offsets[k]:offsets[k + 1]] if rows else np.zeros((n, n_par))
        nn_max = int(np.diff(nl.offsets).max())
        bounds = _chunks(nl.offsets, tables.cost_per_atom, N_CHUNKS)
        param_kernels.site_gradient_kernel(typ, nl.offsets, nl.j, nl.rvec, bounds,
                                           *tables.kernel_args(), tables.scaling, tables.map_new,
                                           block, max(nn_max, 1))
        sums[k] = block.sum(axis=0)
    return SiteGradients(out, offsets, sums)


def with_results(config: Configuration, res: EvalResult) -> Configuration:
    """A copy of `config` carrying the potential's energy, forces and PlusStress."""
    import copy

    out = copy.copy(config)
    out.energy = res.energy
    out.forces = res.forces.copy()
    out.plus_stress = None if res.plus_stress is None else res.plus_stress.copy()
    return out


def set_threads(n: int | None) -> None:
    """numba thread count (None: leave as is); more than numba started with is an InputError."""
    if n is not None:
        top = numba.config.NUMBA_NUM_THREADS
        if not 1 <= int(n) <= top:
            raise InputError(f"--threads {n}: give 1 to {top} (the threads numba started with: this "
                             "machine's cores, or NUMBA_NUM_THREADS)")
        numba.set_num_threads(int(n))
