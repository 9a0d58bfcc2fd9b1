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


def label_with_reference(pot, configs, h=1e-4):
    """Replace reference data by values independent of the numba engine: energies from the numpy
    reference (mtpflow.mtp.reference.energy), forces and PlusStress (the virial -dE/dstrain, eV)
    by fourth-order central differences of that energy (h = 1e-4 Å and 1e-4 strain: ~1e-11 eV/Å,
    ~1e-11 eV on the small random cells of random_configs)."""
    from mtpflow.mtp.reference import energy

    def e_of(pos, cell, types):
        return energy(pos, types, pot, cell=cell)

    def derivative(fn):
        return (8.0 * (fn(h) - fn(-h)) - (fn(2 * h) - fn(-2 * h))) / (12.0 * h)

    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    for c in configs:
        c.energy = e_of(c.positions, c.cell, c.types)
        forces = np.zeros_like(c.positions)
        for a in range(c.n_atoms):
            for d in range(3):
                def moved(x, a=a, d=d):
                    p = c.positions.copy()
                    p[a, d] += x
                    return e_of(p, c.cell, c.types)
                forces[a, d] = -derivative(moved)
        c.forces = forces
        w = np.zeros(6)
        for v, (a, b) in enumerate(voigt):
            def strained(x, a=a, b=b):
                eps = np.zeros((3, 3))
                eps[a, b] += x / (1 if a == b else 2)
                eps[b, a] = eps[a, b]
                deform = np.eye(3) + eps
                return e_of(c.positions @ deform, c.cell @ deform, c.types)
            w[v] = -derivative(strained)
        c.plus_stress = w
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
