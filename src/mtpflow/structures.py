"""In-memory configuration shared by all file formats (units: Å, eV, eV/Å; MLIP virial in eV)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Configuration:
    """One atomic configuration as MLIP's .cfg describes it.

    positions   (N, 3) Cartesian coordinates, Å
    types       (N,) integer species index 0..C-1 (the element order lives with the potential)
    cell        (3, 3) lattice vectors as rows, Å; None for a non-periodic configuration
    energy      total energy, eV (None if absent)
    forces      (N, 3) eV/Å (None if absent)
    plus_stress (6,) MLIP's PlusStress: the virial W = -V * sigma_ASE in eV, order xx yy zz yz xz xy
    features    MLIP `Feature` lines as (name, value) pairs, kept on round trip
    ids         (N,) atom ids as read (1-based in MLIP files); None means 1..N
    direct      (N, 3) fractional coordinates when the file gave `direct_x..` (kept for a bit-exact
                round trip); positions are then cell-converted from them
    atom_data   further per-atom AtomData columns by name, in file order (N,) each, e.g. MLIP's
                `nbh_grades`; kept on round trip
    """

    positions: np.ndarray
    types: np.ndarray
    cell: np.ndarray | None = None
    energy: float | None = None
    forces: np.ndarray | None = None
    plus_stress: np.ndarray | None = None
    features: list[tuple[str, str]] = field(default_factory=list)
    ids: np.ndarray | None = None
    direct: np.ndarray | None = None
    atom_data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float64).reshape(-1, 3)
        self.types = np.ascontiguousarray(self.types, dtype=np.int64).reshape(-1)
        if self.cell is not None:
            self.cell = np.ascontiguousarray(self.cell, dtype=np.float64).reshape(3, 3)
        if self.forces is not None:
            self.forces = np.ascontiguousarray(self.forces, dtype=np.float64).reshape(-1, 3)
        if self.plus_stress is not None:
            self.plus_stress = np.ascontiguousarray(self.plus_stress, dtype=np.float64).reshape(6)
        if len(self.types) != len(self.positions):
            raise ValueError(f"{len(self.types)} types for {len(self.positions)} positions")
        self.atom_data = {str(k): np.ascontiguousarray(v, dtype=np.float64).reshape(-1)
                          for k, v in self.atom_data.items()}
        for name, col in self.atom_data.items():
            if len(col) != len(self.types):
                raise ValueError(f"AtomData column {name!r} has {len(col)} values for "
                                 f"{len(self.types)} atoms")

    @property
    def n_atoms(self) -> int:
        return len(self.types)

    @property
    def periodic(self) -> bool:
        return self.cell is not None

    @property
    def volume(self) -> float | None:
        return None if self.cell is None else abs(float(np.linalg.det(self.cell)))

    def stress_ase(self) -> np.ndarray | None:
        """ASE stress in Voigt order (xx yy zz yz xz xy), eV/Å³: sigma = -W / V."""
        if self.plus_stress is None or self.cell is None:
            return None
        return -self.plus_stress / self.volume


def plus_stress_from_ase(stress_voigt: np.ndarray, volume_a3: float) -> np.ndarray:
    """MLIP PlusStress (eV) from an ASE Voigt stress (eV/Å³): W = -sigma * V."""
    return -np.asarray(stress_voigt, dtype=np.float64).reshape(6) * volume_a3
