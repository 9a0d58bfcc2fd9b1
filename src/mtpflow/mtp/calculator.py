"""ASE calculator for an MTP: energy, free_energy, energies, forces, stress (ASE convention)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mtpflow.errors import InputError


_OTHER_CHANGES = [k for k in all_changes if k not in ("positions", "cell", "pbc")]


def resolve_species(pot, species: str | Sequence[str] | None, where=None) -> list[str]:
    """The element of each type: `species` where given (checked against the potential's own list
    and species_count), else the potential's metadata; InputError if neither names them."""
    from mtpflow.species import parse_species

    given = parse_species(species) if species is not None else None
    own = list(pot.species) if pot.species else None
    if given is not None and own is not None and given != own:
        raise InputError(f"--species {','.join(given)} differs from the species the potential names "
                         f"({','.join(own)}); omit --species or give the same order", where)
    chosen = given if given is not None else own
    if chosen is None:
        raise InputError("the potential names no elements (MLIP files have none): give the element "
                         "of each type, e.g. species=['Li','Cl','Al'] / --species Li,Cl,Al", where)
    if len(chosen) != pot.species_count:
        raise InputError(f"{len(chosen)} species given ({','.join(chosen)}) but the potential has "
                         f"species_count = {pot.species_count}; give one element per type", where)
    return chosen


class MTPCalculator(Calculator):
    """Moment Tensor Potential as an ASE calculator.

    potential: path of a .mtp/.almtp file or an MTPPotential. species: element of each type
    (e.g. ["Li", "Cl", "Al"] or "Li,Cl,Al"); needed where the potential names none.
    Stress is ASE's (eV/Å³, Voigt xx yy zz yz xz xy) = -PlusStress / volume; it exists only for
    periodic structures. The kernel tables are built once and reused for every call."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, potential, species=None, **kwargs):
        super().__init__(**kwargs)
        from mtpflow.mtp.evaluate import build_tables
        from mtpflow.mtp.potential import MTPPotential

        where = None
        if not isinstance(potential, MTPPotential):
            from mtpflow.io.mtp import read_mtp

            where = potential
            potential = read_mtp(potential)
        self.potential = potential
        self.species = resolve_species(potential, species, where)
        self._index = {s: k for k, s in enumerate(self.species)}
        self._tables = build_tables(potential)
        self._last_nl = None  # (positions, cell, NeighborList) of the last force call

    def neighbor_list_for(self, positions, cell, cutoff: float):
        """The neighbour list of the last force call if it was for exactly these positions and
        cell (Å) and has at least this cutoff (Å), else None: lets a per-step hook (extrapolation
        control) skip rebuilding it."""
        last = self._last_nl
        if last is None or cutoff > self._tables.rmax or not np.array_equal(last[0], positions):
            return None
        if (last[1] is None) != (cell is None) or (cell is not None and not np.array_equal(last[1], cell)):
            return None
        return last[2]

    def check_state(self, atoms, tol=1e-15):
        """ASE's check (compare_atoms, np.allclose over every array: ~0.3 ms for 2,592 atoms, and an
        MD step asks twice) with its two common answers found by cheap exact tests: [] when nothing
        differs at all, ["positions"] when only positions differ and some by more than `tol`.
        Every other case is left to ASE, so the answer is always ASE's."""
        old = self.atoms
        if (old is not None and np.array_equal(old.cell.array, atoms.cell.array)
                and np.array_equal(old.pbc, atoms.pbc) and not self.ignored_changes):
            a1, a2 = old.arrays, atoms.arrays
            if all((k in a1) == (k in a2) and (k not in a1 or np.array_equal(a1[k], a2[k]))
                   for k in _OTHER_CHANGES):
                p1, p2 = a1["positions"], a2["positions"]
                if p1.shape == p2.shape:
                    if np.array_equal(p1, p2):
                        return []
                    if (np.abs(p2 - p1) > tol).any():
                        return ["positions"]
        return super().check_state(atoms, tol)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from mtpflow.mtp.evaluate import evaluate

        atoms = self.atoms
        symbols = atoms.get_chemical_symbols()
        try:
            types = np.fromiter((self._index[s] for s in symbols), dtype=np.int64, count=len(symbols))
        except KeyError:
            missing = sorted(set(symbols) - set(self._index))
            raise InputError(f"element(s) {','.join(missing)} are not among the potential's species "
                             f"{','.join(self.species)}") from None
        pbc = np.asarray(atoms.pbc)
        if pbc.any() and not pbc.all():
            raise InputError("partly periodic structures are not supported: set pbc all True or all False")
        cell = np.array(atoms.cell[:]) if pbc.all() else None
        from mtpflow.mtp.neighbors import neighbor_list

        positions = np.array(atoms.positions, dtype=np.float64)
        try:
            nl = neighbor_list(positions, cell, self._tables.rmax)
        except InputError:
            nl = None  # evaluate() says what is wrong
        res = evaluate(self.potential, positions=positions, types=types, cell=cell,
                       tables=self._tables, nl=nl)
        self._last_nl = None if nl is None else (positions, cell, nl)
        self.results = {
            "energy": res.energy,
            "free_energy": res.energy,
            "energies": res.energies.copy(),
            "forces": res.forces.copy(),
        }
        if cell is not None:
            self.results["stress"] = -res.plus_stress / abs(np.linalg.det(cell))
