"""Small random potentials and configurations for the training tests (no shared data needed)."""

from __future__ import annotations

import numpy as np

from mtpflow.mtp.potential import MTPPotential
from mtpflow.structures import Configuration



def template(level: int) -> MTPPotential:
    """The level's basis from mtpflow's generator (same tables as MLIP's templates)."""
    from mtpflow.mtp.init import init_potential

    return init_potential(level, 1, 1.5, 4.5, radial_basis_size=6)


def random_potential(level: int, species: int = 3, seed: int = 0, radial=0.02, moment=0.5):
    pot = template(level)
    rng = np.random.default_rng(seed)
    pot.species_count = species
    pot.species = None
    pot.min_dist, pot.max_dist = 1.5, 4.5
    pot.radial_coeffs = rng.uniform(-radial, radial, (species, species, pot.radial_funcs_count,
                                                       pot.radial_basis_size))
    pot.species_coeffs = rng.normal(size=species)
    pot.moment_coeffs = rng.uniform(-moment, moment, pot.alpha_scalar_moments)
    pot.scaling = 0.9
    pot.write_scaling = True
    return pot


def random_configs(n: int, species: int = 3, seed: int = 0, atoms=(6, 10), with_data=True):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        na = int(rng.integers(atoms[0], atoms[1] + 1))
        cell = np.diag(rng.uniform(4.6, 5.6, 3)) + rng.normal(scale=0.25, size=(3, 3))
        pos = _spread_positions(rng, cell, na)
        types = np.arange(na) % species
        rng.shuffle(types)
        c = Configuration(pos, types, cell)
        if with_data:
            c.energy = float(rng.normal(scale=2.0))
            c.forces = rng.normal(scale=1.0, size=(na, 3))
            c.plus_stress = rng.normal(scale=3.0, size=6)
        out.append(c)
    return out


def label_with(pot, configs, noise=0.0, seed=1):
    """Replace reference data by the potential's own E, F, PlusStress (plus optional noise)."""
    from mtpflow.train.metrics import predict

    rng = np.random.default_rng(seed)
    e, forces, w = predict(pot, configs)
    for k, c in enumerate(configs):
        c.energy = float(e[k] + noise * rng.normal())
        c.forces = forces[k] + noise * rng.normal(size=forces[k].shape)
        c.plus_stress = w[k][[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]] + noise * rng.normal(size=6)
    return configs


def _spread_positions(rng, cell, n, dmin=1.6):
    """Random positions in the cell with every periodic distance >= dmin (rejection sampling)."""
    inv = np.linalg.inv(cell)
    pos = []
    while len(pos) < n:
        p = rng.uniform(0, 1, 3) @ cell
        ok = True
        for q in pos:
            d = (p - q) @ inv
            d -= np.round(d)
            if np.linalg.norm(d @ cell) < dmin:
                ok = False
                break
        if ok:
            pos.append(p)
    return np.array(pos)
