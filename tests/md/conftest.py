"""Small systems and a cheap ASE calculator for the MD protocol tests."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes


def small_lialcl4(n_formula: int = 4, seed: int = 0, density_per_A3: float = 0.041) -> Atoms:
    """A simple-cubic lattice of Li/Al/Cl (1:1:4) ions with a little noise; 6 x n_formula ions."""
    symbols = (["Li"] * n_formula + ["Al"] * n_formula + ["Cl"] * (4 * n_formula))
    n = len(symbols)
    k = int(np.ceil(n ** (1 / 3)))
    length = (n / density_per_A3) ** (1 / 3)
    grid = np.array([(i, j, m) for i in range(k) for j in range(k) for m in range(k)][:n], float)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    pos = grid[order] * (length / k) + rng.normal(0, 0.05, (n, 3))
    return Atoms(symbols=symbols, positions=pos, cell=[length] * 3, pbc=True)


class FastLJ(Calculator):
    """All-pairs minimum-image Lennard-Jones (cubic or orthorhombic cells, cutoff < half the box),
    energy shifted to zero at the cutoff: fast enough for thousands of test steps."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, sigma=2.2, epsilon=0.02, rc=4.0, **kw):
        super().__init__(**kw)
        self.sigma, self.epsilon, self.rc = sigma, epsilon, rc

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pos = self.atoms.positions
        lengths = np.diag(self.atoms.cell[:])
        d = pos[None, :, :] - pos[:, None, :]
        d -= np.round(d / lengths) * lengths
        r2 = (d * d).sum(-1)
        np.fill_diagonal(r2, np.inf)
        mask = r2 < self.rc**2
        s6 = np.where(mask, (self.sigma**2 / r2) ** 3, 0.0)
        sc6 = (self.sigma / self.rc) ** 6
        e = 0.5 * np.sum(np.where(mask, 4 * self.epsilon * (s6 * s6 - s6 - (sc6 * sc6 - sc6)), 0.0))
        fmag = np.where(mask, 24 * self.epsilon * (2 * s6 * s6 - s6) / r2, 0.0)  # -dE/dr / r
        forces = np.einsum("ij,ija->ja", fmag, d)  # sum over i of the force on j from i
        self.results = {"energy": e, "free_energy": e, "forces": forces}
        if "stress" in properties:
            virial = -0.5 * np.einsum("ij,ija,ijb->ab", fmag, d, d)
            stress = virial / self.atoms.get_volume()
            self.results["stress"] = stress.reshape(9)[[0, 4, 8, 5, 2, 1]]


def lj_calc():
    return FastLJ()


@pytest.fixture
def atoms24():
    return small_lialcl4(4)


@pytest.fixture
def lj():
    return lj_calc()


@pytest.fixture
def pot():
    """The guidebook's level-8 potential as MLIP-3 trained it (../shared/data)."""
    from ..conftest import shared_path

    return str(shared_path("mlip_reference", "trained_L08.almtp"))


@pytest.fixture
def start():
    """96 ions of LiAlCl4 melt (../shared/data)."""
    from ..conftest import shared_path

    return str(shared_path("mtp_oracle_inputs", "lialcl4_96.extxyz"))
