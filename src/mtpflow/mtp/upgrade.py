"""Warm starts: continue a trained potential (same basis) or upgrade it to a higher level.

    continue_from(template, trained)      trained's coefficients, checked to have template's basis
    upgrade(trained, level)               the generated basis of `level`, holding the same function

A basis function is identified by its contraction graph (mtpflow.mtp.basis: labels (mu, nu) of the
factors and the edges between them), never by its index. For a potential with mtpflow's generated
tables the graphs are known (its tables equal generate_basis of its level). For other tables (MLIP's
templates) every basis function is evaluated on random neighbourhoods with the production kernels
and matched to the one generated basis function it is proportional to (MLIP's templates hold the
same functions as mtpflow's generated basis, up to a constant factor per function: levels 08 and 16
checked in tests/mtp/test_upgrade.py); a function that matches none, or more than one, is an error.

The higher level's generated basis contains every graph of the lower level (its enumeration is the
lower one's plus the graphs of higher level, and a larger radial_funcs_count only adds graphs), so an
upgraded potential keeps the species coefficients, the radial functions mu < R_old (coefficients
copied, scaling and min/max_dist unchanged) and the moment coefficient of every old function (times
its factor), and gives 0 to every new basis function: it is the same function as the source (to
round-off: the contractions are summed in another order). New radial functions (mu >= R_old) start
as MLIP-3 starts an untrained potential's (mtpflow.mtp.init.mlip_start: 1e-3 (pair+1) on the
Chebyshev term k = mu, 1e-6 on the others), not at 0: a basis function whose radial function is
identically 0 has a zero column in the linear solve, so its coefficient stays 0 and the gradient
with respect to that radial function vanishes: training could never move it.
"""

from __future__ import annotations

import numpy as np

from mtpflow.errors import InputError
from mtpflow.mtp.basis import MLIP_MAX_MU, generate_basis, radial_funcs_count_for
from mtpflow.mtp.potential import MTPPotential

_TABLES = ("alpha_index_basic", "alpha_index_times", "alpha_moment_mapping")
MATCH_RTOL = 1e-8      # a proportional match: relative residual below this ...
DISTINCT_RTOL = 1e-3   # ... and every other generated function's residual above this


def _describe(pot: MTPPotential) -> str:
    return (f"level {pot.level}, {pot.alpha_scalar_moments} basis functions, radial_funcs_count "
            f"{pot.radial_funcs_count}, radial_basis_size {pot.radial_basis_size}, "
            f"{pot.radial_basis_type}")


def same_basis(a: MTPPotential, b: MTPPotential) -> bool:
    """True when a and b have identical basis tables and radial basis (coefficients aside)."""
    if (a.radial_basis_type, a.radial_basis_size, a.radial_funcs_count, a.alpha_moments_count) != \
            (b.radial_basis_type, b.radial_basis_size, b.radial_funcs_count, b.alpha_moments_count):
        return False
    return all(np.array_equal(getattr(a, t), getattr(b, t)) for t in _TABLES)


def continue_from(template: MTPPotential, trained: MTPPotential, template_path=None,
                  trained_path=None) -> MTPPotential:
    """A copy of `trained` (its radial, species and moment coefficients, scaling, min/max_dist) to
    start training from, after checking that it has the template's basis. The species names of
    both, where both record them, must agree."""
    if not trained.is_trained:
        raise InputError("--init-from needs a trained potential (this file has no coefficients); "
                         "give the potential a training wrote", trained_path)
    if not same_basis(template, trained):
        raise InputError(f"the basis of this potential ({_describe(trained)}) differs from the "
                         f"template {template_path}'s ({_describe(template)}): --init-from continues "
                         "a potential of the template's basis; for a higher level write an upgraded "
                         f"start with `mtpflow init-mtp --level {template.level} --from "
                         f"{trained_path}` and train that", trained_path)
    if template.species is not None and trained.species is not None and \
            template.species_count == trained.species_count and template.species != trained.species:
        raise InputError(f"the potential's species {','.join(trained.species)} differ from the "
                         f"template's {','.join(template.species)} ({template_path})", trained_path)
    return trained.copy()


def _random_clusters(species_count: int, max_dist: float, n_configs: int, seed: int):
    """Non-periodic clusters whose neighbourhoods span the interesting distances (0.3-1 x max_dist)."""
    from mtpflow.structures import Configuration

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_configs):
        n = int(rng.integers(6, 13))
        pos = rng.uniform(-0.45, 0.45, (n, 3)) * max_dist
        keep = [0]
        for k in range(1, n):  # no two atoms closer than 0.25 x max_dist
            if min(np.linalg.norm(pos[k] - pos[j]) for j in keep) > 0.25 * max_dist:
                keep.append(k)
        pos = pos[keep]
        out.append(Configuration(pos, rng.integers(0, species_count, len(pos)), None))
    return out


def _basis_values(pot: MTPPotential, configs) -> np.ndarray:
    """B_alpha at every neighbourhood (atom) of configs: the moment-coefficient block of
    dV_i/dtheta (mtpflow.mtp.evaluate.site_parameter_gradients), shape (n_atoms, n_basis)."""
    from mtpflow.mtp.evaluate import site_parameter_gradients

    rows = site_parameter_gradients(pot, configs).rows
    return rows[:, pot.n_params() - pot.alpha_scalar_moments:]


def identify_graphs(pot: MTPPotential, where=None):
    """(graphs, factors, how): the contraction graph of every basis function of pot, the factor f
    with B_pot = f * B_graph, and how they were found: "tables" (mtpflow's generated tables, f = 1)
    or "numerically" (other tables)."""
    level, r = pot.level, pot.radial_funcs_count
    ref = generate_basis(level, max_mu=min(r - 1, MLIP_MAX_MU))
    gen_pot = _with_tables(pot, ref)
    if same_basis(pot, gen_pot):
        return list(ref.graphs), np.ones(pot.alpha_scalar_moments), "tables"
    # other tables (e.g. MLIP's templates): match numerically, the same radial functions for both
    probe = pot.copy()
    rng = np.random.default_rng(1)
    s = probe.species_count
    probe.radial_coeffs = rng.uniform(-1.0, 1.0, (s, s, r, pot.radial_basis_size))
    probe.species_coeffs = np.zeros(s)
    probe.moment_coeffs = np.zeros(pot.alpha_scalar_moments)
    probe.scaling = 1.0
    gen_probe = _with_tables(probe, ref)
    gen_probe.radial_coeffs = probe.radial_coeffs
    gen_probe.species_coeffs = probe.species_coeffs
    gen_probe.moment_coeffs = np.zeros(ref.alpha_scalar_moments)
    configs = _random_clusters(s, pot.max_dist, 3 * max(pot.alpha_scalar_moments, 20), seed=2)
    b_pot, b_gen = _basis_values(probe, configs), _basis_values(gen_probe, configs)
    norm_gen = np.linalg.norm(b_gen, axis=0)
    graphs, factors, used = [], [], set()
    for k in range(pot.alpha_scalar_moments):
        col = b_pot[:, k]
        nk = np.linalg.norm(col)
        f = (b_gen.T @ col) / np.where(norm_gen > 0, norm_gen ** 2, 1.0)
        resid = np.linalg.norm(col[:, None] - b_gen * f, axis=0) / max(nk, 1e-300)
        resid[norm_gen == 0] = np.inf
        best = int(np.argmin(resid))
        others = np.delete(resid, best)
        if nk == 0 or resid[best] > MATCH_RTOL or (len(others) and others.min() < DISTINCT_RTOL) \
                or best in used:
            raise InputError(f"basis function {k} of this potential ({_describe(pot)}) is not one "
                             "contraction graph of the generated basis of its level: its basis "
                             "cannot be matched function by function; train a potential of "
                             f"`mtpflow init-mtp --level {level}` and upgrade that", where)
        used.add(best)
        graphs.append(ref.graphs[best])
        factors.append(f[best])
    return graphs, np.array(factors), "numerically"


def _with_tables(pot: MTPPotential, basis) -> MTPPotential:
    """pot's radial basis and species with a generated basis' tables (no coefficients)."""
    return MTPPotential(
        species_count=pot.species_count, min_dist=pot.min_dist, max_dist=pot.max_dist,
        radial_basis_size=pot.radial_basis_size,
        radial_funcs_count=max(pot.radial_funcs_count, basis.radial_funcs_count),
        alpha_moments_count=basis.alpha_moments_count,
        alpha_index_basic=basis.alpha_index_basic.copy(),
        alpha_index_times=basis.alpha_index_times.copy(),
        alpha_moment_mapping=basis.alpha_moment_mapping.copy(),
        radial_basis_type=pot.radial_basis_type, species=pot.species)


def upgrade(src: MTPPotential, level: int, radial_funcs_count: int | None = None,
            where=None) -> tuple[MTPPotential, dict]:
    """The trained potential `src` in the generated basis of `level` (>= its own), the same
    function; returns (potential, info) with info: kept/new basis functions, radial functions."""
    from mtpflow.mtp.init import mlip_start

    if not src.is_trained:
        raise InputError("init-mtp --from needs a trained potential (this file has no "
                         "coefficients); for a template use --from-template", where)
    level = int(level)
    if level % 2 or level < 2:
        raise InputError(f"MTP levels are even and >= 2, got {level}")
    if level < src.level:
        raise InputError(f"--level {level} is below the potential's level {src.level}: an upgrade "
                         "keeps every basis function; give a level >= its own", where)
    r_old = src.radial_funcs_count
    r_new = max(radial_funcs_count_for(level), r_old) if radial_funcs_count is None \
        else int(radial_funcs_count)
    if r_new < r_old:
        raise InputError(f"--radial-funcs-count {r_new} is below the potential's "
                         f"{r_old}: an upgrade keeps every radial function", where)
    graphs, factors, how = identify_graphs(src, where)
    basis = generate_basis(level, max_mu=min(r_new - 1, MLIP_MAX_MU))
    index = {g: k for k, g in enumerate(basis.graphs)}
    missing = [g for g in graphs if g not in index]
    if missing:
        raise InputError(f"{len(missing)} basis functions of the potential are not in the generated "
                         f"level-{level} basis with radial_funcs_count {r_new} (e.g. the graph "
                         f"{missing[0]}); give a higher --level or --radial-funcs-count", where)
    out = _with_tables(src, basis)
    out.radial_funcs_count = r_new
    out.species = None if src.species is None else list(src.species)
    out.metadata = {k: v for k, v in src.metadata.items() if k != "basis"}
    out.metadata["basis"] = f"mtpflow-generated level {level}"
    out.metadata["upgraded_from"] = f"level {src.level}"
    start = mlip_start(out.copy())  # new radial functions: MLIP-3's untrained start
    rc = start.radial_coeffs
    rc[:, :, :r_old, :] = src.radial_coeffs
    moment = np.zeros(basis.alpha_scalar_moments)
    for k, g in enumerate(graphs):
        moment[index[g]] = src.moment_coeffs[k] * factors[k]
    out.radial_coeffs = rc
    out.species_coeffs = src.species_coeffs.copy()
    out.moment_coeffs = moment
    out.scaling = src.scaling
    out.write_scaling = True
    out.potential_name = src.potential_name
    out.validate(where)
    info = {"kept": len(graphs), "new": basis.alpha_scalar_moments - len(graphs),
            "radial_kept": r_old, "radial_new": r_new - r_old,
            "matched": how}
    return out, info
