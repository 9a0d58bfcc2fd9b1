"""Reference crystal densities, computed from a cell and Z rather than typed in, and formulas.

The default reference is LiAlCl4 (monoclinic P2_1/c, Z = 4, a = 7.007, b = 6.504, c = 12.995 Å,
beta = 93.32°; Mairesse et al. 1977) -> 1.974 g/cm³, i.e. 2,365 Å³ for Li16Al16Cl64. A CIF can be
given instead (`density_from_cif`). For a composition other than the crystal's, "density factor f"
means a mass density of f times the crystal's: the cell volume is mass(formula) / (f * d_crystal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ase import units

from mtpflow.errors import InputError

AMU_PER_A3_TO_G_CM3 = units._amu * 1e3 * 1e24  # amu per Å³ -> g/cm³ (1 amu in g; 1e24 Å³ per cm³)


@dataclass(frozen=True)
class CrystalReference:
    name: str
    formula: str  # one formula unit
    z: int  # formula units per cell
    a: float
    b: float
    c: float
    alpha: float
    beta: float
    gamma: float
    source: str

    @property
    def volume_a3(self) -> float:
        ca, cb, cg = (math.cos(math.radians(x)) for x in (self.alpha, self.beta, self.gamma))
        return self.a * self.b * self.c * math.sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg)

    @property
    def mass_per_formula_amu(self) -> float:
        return formula_mass(parse_formula(self.formula))

    @property
    def density_g_cm3(self) -> float:
        return density_g_cm3(self.z * self.mass_per_formula_amu, self.volume_a3)


REFERENCES = {
    "LiAlCl4": CrystalReference("LiAlCl4", "LiAlCl4", 4, 7.007, 6.504, 12.995, 90.0, 93.32, 90.0,
                                "Mairesse et al. 1977, monoclinic P2_1/c"),
}
DEFAULT_REFERENCE = "LiAlCl4"


def parse_formula(formula: str, where: str = "--formula") -> dict[str, int]:
    """'Li16Al16Cl64' -> {'Li': 16, 'Al': 16, 'Cl': 64} (order kept); unknown elements are errors."""
    from ase.data import atomic_numbers
    from ase.formula import Formula

    try:
        counts = Formula(formula.strip()).count()
    except Exception as exc:
        raise InputError(f"{where}: cannot read the formula {formula!r}; write it like "
                         f"Li16Al16Cl64 (element symbols with counts)") from exc
    if not counts:
        raise InputError(f"{where}: the formula {formula!r} is empty")
    for el, n in counts.items():
        if el not in atomic_numbers or el == "X":
            raise InputError(f"{where}: unknown element {el!r} in {formula!r}")
        if n <= 0:
            raise InputError(f"{where}: element {el} has count {n} in {formula!r}; counts must be ≥ 1")
    return dict(counts)


def formula_mass(counts: dict[str, int]) -> float:
    """Mass in amu (g/mol) of the given element counts."""
    from ase.data import atomic_masses, atomic_numbers

    return float(sum(atomic_masses[atomic_numbers[el]] * n for el, n in counts.items()))


def density_g_cm3(mass_amu: float, volume_a3: float) -> float:
    return mass_amu / volume_a3 * AMU_PER_A3_TO_G_CM3


def volume_for_density(mass_amu: float, density: float) -> float:
    """Volume (Å³) holding `mass_amu` at `density` (g/cm³)."""
    if not (density > 0 and math.isfinite(density)):
        raise InputError(f"density must be positive and finite, got {density}")
    return mass_amu / density * AMU_PER_A3_TO_G_CM3


def reference_density(cif=None, name: str = DEFAULT_REFERENCE) -> tuple[float, str]:
    """(density g/cm³, description): from a CIF's cell and contents, or from the table."""
    if cif is not None:
        return density_from_cif(cif)
    if name not in REFERENCES:
        raise InputError(f"unknown reference crystal {name!r}; known: {', '.join(REFERENCES)}, or "
                         f"give --reference-density-from CIF")
    ref = REFERENCES[name]
    return ref.density_g_cm3, (f"{ref.name} ({ref.source}; Z={ref.z}, V={ref.volume_a3:.2f} Å³)")


def density_from_cif(path) -> tuple[float, str]:
    from mtpflow.io.structure import read_frames

    atoms = read_frames(path, index=0)[0]
    if not atoms.pbc.all() or atoms.cell.volume <= 0:
        raise InputError("the CIF has no 3D cell; cannot compute a crystal density", path)
    d = density_g_cm3(float(atoms.get_masses().sum()), float(atoms.cell.volume))
    return d, f"{atoms.get_chemical_formula()} from {path} (V={atoms.cell.volume:.2f} Å³)"
