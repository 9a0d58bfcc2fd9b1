"""Configuration <-> ase.Atoms, with the element of each type given explicitly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtpflow.errors import InputError
from mtpflow.structures import Configuration, plus_stress_from_ase


def to_atoms(config: Configuration, species: Sequence[str]):
    """An ase.Atoms with real chemical symbols; energy/forces/stress attached as a
    SinglePointCalculator when present (stress in ASE convention, eV/Å³)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    species = list(species)
    if config.n_atoms and int(config.types.max()) >= len(species):
        raise InputError(
            f"type {int(config.types.max())} appears but only {len(species)} species are named "
            f"({','.join(species)}); pass --species with one element per type")
    symbols = [species[t] for t in config.types]
    periodic = config.cell is not None
    atoms = Atoms(symbols=symbols, positions=config.positions,
                  cell=config.cell if periodic else None, pbc=periodic)
    results = {}
    if config.energy is not None:
        results["energy"] = config.energy
        results["free_energy"] = config.energy
    if config.forces is not None:
        results["forces"] = config.forces.copy()
    if config.plus_stress is not None and periodic:
        results["stress"] = config.stress_ase()
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def species_types(symbols: Sequence[str], species: Sequence[str]) -> np.ndarray:
    """Type index of each symbol in the `species` order; an element outside it is an InputError."""
    species = list(species)
    index = {s: k for k, s in enumerate(species)}
    missing = sorted(set(symbols) - set(index))
    if missing:
        raise InputError(f"element(s) {','.join(missing)} are not in the species list "
                         f"{','.join(species)}; add them to --species (config key 'species')")
    return np.array([index[s] for s in symbols], dtype=np.int64)


def from_atoms(atoms, species: Sequence[str], energy_key: str = "free_energy") -> Configuration:
    """A Configuration from ase.Atoms; types follow `species`. Energy, forces and stress are taken
    from atoms.calc when present (`energy_key`: free_energy, falling back to energy)."""
    types = species_types(atoms.get_chemical_symbols(), species)
    pbc = np.asarray(atoms.pbc)
    if pbc.any() and not pbc.all():
        raise InputError("partly periodic structures are not supported (MLIP .cfg is 3D periodic or not)")
    cell = np.array(atoms.cell[:]) if pbc.all() else None
    energy = forces = plus_stress = None
    calc = atoms.calc
    if calc is not None:
        res = getattr(calc, "results", {})
        if energy_key in res:
            energy = float(res[energy_key])
        elif "energy" in res:
            energy = float(res["energy"])
        if "forces" in res:
            forces = np.array(res["forces"], dtype=np.float64)
        if "stress" in res and cell is not None:
            stress = np.asarray(res["stress"], dtype=np.float64)
            if stress.shape == (3, 3):
                stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            plus_stress = plus_stress_from_ase(stress, abs(atoms.get_volume()))
    return Configuration(positions=np.array(atoms.positions), types=types, cell=cell, energy=energy,
                         forces=forces, plus_stress=plus_stress)
