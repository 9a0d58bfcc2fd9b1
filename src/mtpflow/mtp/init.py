"""Build an MTPPotential from a generated basis (or an MLIP template) for a set of species.

    init_potential(16, ["Li", "Al", "Cl"], 1.9, 5.0, radial_basis_size=8)            untrained
    init_potential(16, 3, 1.9, 5.0, random_coeffs=True, seed=1)                      random start
    from_template(read_mtp("16.almtp"), ["Li", "Al", "Cl"], 1.9, 5.0)                 MLIP's tables

Random coefficients (reproducible from `seed`): radial_coeffs uniform in [-radial_scale, radial_scale],
species_coeffs 0, moment_coeffs uniform in [-moment_scale, moment_scale].

    mlip_start(pot)                     the starting coefficients `mlp train` gives an untrained potential
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mtpflow.errors import InputError
from mtpflow.mtp.basis import MLIP_MAX_MU, generate_basis, radial_funcs_count_for
from mtpflow.mtp.potential import MTPPotential
from mtpflow.species import parse_species


def _count_and_names(species) -> tuple[int, list[str] | None]:
    if isinstance(species, (int, np.integer)):
        if species < 1:
            raise InputError(f"species count must be >= 1, got {species}")
        return int(species), None
    names = parse_species(species, "species")
    return len(names), names


def _check_dists(min_dist, max_dist, radial_basis_size):
    if not (0 <= min_dist < max_dist):
        raise InputError(f"need 0 <= min_dist < max_dist (Å), got {min_dist} and {max_dist}")
    if radial_basis_size < 1:
        raise InputError(f"radial_basis_size must be >= 1, got {radial_basis_size}")


def randomize(pot: MTPPotential, seed=None, radial_scale: float = 1.0, moment_scale: float = 1e-3):
    """Fill the coefficients of `pot` in place with reproducible random values; returns pot."""
    rng = np.random.default_rng(seed)
    s, r, b = pot.species_count, pot.radial_funcs_count, pot.radial_basis_size
    pot.radial_coeffs = rng.uniform(-radial_scale, radial_scale, (s, s, r, b))
    pot.species_coeffs = np.zeros(s)
    pot.moment_coeffs = rng.uniform(-moment_scale, moment_scale, pot.alpha_scalar_moments)
    return pot


MLIP_START_DIAGONAL = 1e-3  # MLIP-3 MTPR_trainer::AddSpecies: 1e-3 * (pair + 1) at k = mu
MLIP_START_OFF = 1e-6       # ... and 1e-6 on every other radial coefficient
MLIP_RANDOM_OFF = 5e-7      # --init_random: 5e-7 * U(-1, 1) ...
MLIP_RANDOM_DIAGONAL = 1e-7  # ... and 1e-7 * (1 + U(-1, 1)) at k = mu


def mlip_start(pot: MTPPotential, init_random: bool = False, seed=None) -> MTPPotential:
    """Set the coefficients of `pot` in place as MLIP-3's `mlp train` starts an untrained potential;
    returns pot.

    Default (MLIP's AddSpecies): radial function mu of the ordered species pair (a, b) is
    1e-3 * (pair + 1) times the Chebyshev basis function k = min(mu, basis size - 1), with
    pair = a * species_count + b, plus 1e-6 on every other radial coefficient: the same smooth
    shapes for every pair, told apart by their amplitude. init_random (MLIP's --init_random):
    5e-7 * U(-1, 1) on every radial coefficient and 1e-7 * (1 + U(-1, 1)) at k = mu, drawn from
    `seed`. species_coeffs and moment_coeffs are 0 (a linear least-squares solve sets them) and
    scaling is 1."""
    s, r, b = pot.species_count, pot.radial_funcs_count, pot.radial_basis_size
    diag = np.minimum(np.arange(r), b - 1)
    if init_random:
        rng = np.random.default_rng(seed)
        rc = MLIP_RANDOM_OFF * rng.uniform(-1.0, 1.0, (s, s, r, b))
        rc[:, :, np.arange(r), diag] = MLIP_RANDOM_DIAGONAL * (1.0 + rng.uniform(-1.0, 1.0, (s, s, r)))
    else:
        rc = np.full((s, s, r, b), MLIP_START_OFF)
        pair = np.arange(s * s, dtype=np.float64).reshape(s, s) + 1.0
        rc[:, :, np.arange(r), diag] = MLIP_START_DIAGONAL * pair[:, :, None]
    pot.radial_coeffs = rc
    pot.species_coeffs = np.zeros(s)
    pot.moment_coeffs = np.zeros(pot.alpha_scalar_moments)
    pot.scaling = 1.0
    pot.write_scaling = True
    return pot


def init_potential(level: int, species: Sequence[str] | int, min_dist: float, max_dist: float,
                   radial_basis_size: int = 8, radial_funcs_count: int | None = None,
                   random_coeffs: bool = False, seed=None, radial_scale: float = 1.0,
                   moment_scale: float = 1e-3) -> MTPPotential:
    """A potential of the given level with the generated basis (see mtpflow.mtp.basis).

    species: element names (stored as mtpflow metadata) or just a count. radial_funcs_count: None for
    MLIP's rule (min(floor((level-2)/4), 5) + 1); a smaller R drops moments with mu >= R (a smaller
    basis); a larger R only adds radial functions no basic moment uses."""
    n_species, names = _count_and_names(species)
    _check_dists(min_dist, max_dist, radial_basis_size)
    if int(level) < 2:
        raise InputError(f"the MTP level must be >= 2, got {level}")
    if int(level) % 2:
        # every basis function has an even level: level 7 holds exactly level 6's functions, and a
        # file labelled 7 would misstate its model
        raise InputError(f"MTP levels are even (MLIP's templates: 06, 08, ..., 28): level {level} "
                         f"has exactly the basis functions of level {int(level) - 1}; give "
                         f"{int(level) - 1} or {int(level) + 1}")
    rule = radial_funcs_count_for(int(level))
    if radial_funcs_count is None:
        radial_funcs_count = rule
    if radial_funcs_count < 1:
        raise InputError(f"radial_funcs_count must be >= 1, got {radial_funcs_count}")
    basis = generate_basis(int(level), max_mu=min(radial_funcs_count - 1, MLIP_MAX_MU))
    pot = MTPPotential(
        species_count=n_species, min_dist=float(min_dist), max_dist=float(max_dist),
        radial_basis_size=int(radial_basis_size),
        radial_funcs_count=max(int(radial_funcs_count), basis.radial_funcs_count),
        alpha_moments_count=basis.alpha_moments_count,
        alpha_index_basic=basis.alpha_index_basic.copy(),
        alpha_index_times=basis.alpha_index_times.copy(),
        alpha_moment_mapping=basis.alpha_moment_mapping.copy(),
        species=names,
        metadata={"basis": f"mtpflow-generated level {int(level)}"},
    )
    if random_coeffs:
        randomize(pot, seed, radial_scale, moment_scale)
    pot.validate()
    return pot


def from_template(template: MTPPotential, species: Sequence[str] | int, min_dist: float, max_dist: float,
                  radial_basis_size: int | None = None, random_coeffs: bool = False, seed=None,
                  radial_scale: float = 1.0, moment_scale: float = 1e-3) -> MTPPotential:
    """A copy of an MLIP template (its tables unchanged) with species_count, distances and, if given,
    radial_basis_size set; any coefficients of the template are dropped (or randomised)."""
    n_species, names = _count_and_names(species)
    rbs = template.radial_basis_size if radial_basis_size is None else int(radial_basis_size)
    _check_dists(min_dist, max_dist, rbs)
    pot = template.copy()
    pot.species_count = n_species
    pot.species = names
    pot.min_dist, pot.max_dist, pot.radial_basis_size = float(min_dist), float(max_dist), rbs
    pot.radial_coeffs = pot.species_coeffs = pot.moment_coeffs = None
    pot.scaling, pot.write_scaling = 1.0, None
    if random_coeffs:
        randomize(pot, seed, radial_scale, moment_scale)
    pot.validate()
    return pot
