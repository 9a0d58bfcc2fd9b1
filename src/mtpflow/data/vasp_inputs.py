"""Ready-to-run VASP inputs (INCAR, KPOINTS, POSCAR, POTCAR or POTCAR.spec, metadata JSON).

Defaults are the seed's DFT level: PBE PAW, ENCUT 520 eV, Gamma-only 1x1x1, NVT Nosé-Hoover AIMD
at 1000 K with a 2 fs step (IBRION=0, MDALGO=2). Static single points use the same basis, tighter
EDIFF, and optionally optB88-vdW (the DFT level of the guidebook's LiAlCl4 data). Every tag can be
overridden (config / `--incar KEY=VALUE`); the final tags are echoed into mtpflow_vasp.json.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

from mtpflow.errors import InputError

AIMD_INCAR = {
    "SYSTEM": "mtpflow AIMD NVT",
    "PREC": "Normal",
    "ENCUT": 520,
    "EDIFF": 1e-5,
    "ALGO": "Fast",
    "NELM": 100,
    "ISMEAR": 0,
    "SIGMA": 0.05,
    "LREAL": "Auto",
    "ISYM": 0,
    "IBRION": 0,
    "MDALGO": 2,  # Nosé-Hoover
    "SMASS": 0,  # Nosé mass for a ~40-step temperature oscillation
    "TEBEG": 1000,
    "TEEND": 1000,
    "POTIM": 2.0,  # fs
    "NSW": 5000,  # 10 ps
    "ISIF": 2,  # stress is computed (needed for PlusStress); cell fixed
    "NBLOCK": 1,
    "NWRITE": 1,
    "LWAVE": False,
    "LCHARG": False,
}

STATIC_INCAR = {
    "SYSTEM": "mtpflow single point",
    "PREC": "Accurate",
    "ENCUT": 520,
    "EDIFF": 1e-6,
    "ALGO": "Normal",
    "NELM": 200,
    "ISMEAR": 0,
    "SIGMA": 0.05,
    "LREAL": "Auto",
    "ISYM": 0,
    "IBRION": -1,
    "NSW": 0,
    "ISIF": 2,
    "LWAVE": False,
    "LCHARG": False,
}

# optB88-vdW (Klimeš et al.), as the VASP wiki gives it; VASP 5 also needs vdw_kernel.bindat
OPTB88_VDW = {"GGA": "BO", "PARAM1": 0.1833333333, "PARAM2": 0.22, "LUSE_VDW": True,
              "AGGAC": 0.0, "LASPH": True}

# PAW_PBE choices (those of the Materials Project for these elements); others: the bare symbol
DEFAULT_POTCARS = {"Li": "Li_sv", "Al": "Al", "Cl": "Cl", "Na": "Na_pv", "K": "K_sv", "Mg": "Mg_pv"}

METADATA_NAME = "mtpflow_vasp.json"


def parse_value(text: str):
    t = text.strip()
    low = t.lower().strip(".")
    if low in ("true", "t"):
        return True
    if low in ("false", "f"):
        return False
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def parse_overrides(items: Sequence[str] | None, where: str = "--incar") -> dict:
    """['NSW=2000', 'LREAL=.FALSE.'] -> {'NSW': 2000, 'LREAL': False}."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"{where}: cannot read {item!r}; write TAG=VALUE, e.g. NSW=2000")
        key, value = item.split("=", 1)
        key = key.strip().upper()
        if not key.isidentifier() or not value.strip():
            raise InputError(f"{where}: cannot read {item!r}; write TAG=VALUE, e.g. NSW=2000")
        out[key] = parse_value(value)
    return out


def incar_tags(kind: str = "aimd", overrides: dict | None = None, vdw: str | None = None) -> dict:
    if kind not in ("aimd", "static"):
        raise InputError(f"--kind must be aimd or static, not {kind!r}")
    tags = dict(AIMD_INCAR if kind == "aimd" else STATIC_INCAR)
    if vdw:
        if vdw.lower() != "optb88":
            raise InputError(f"--vdw: only optb88 is known, not {vdw!r}")
        tags.update(OPTB88_VDW)
    tags.update(overrides or {})
    return tags


def _fmt(value) -> str:
    if isinstance(value, bool):
        return ".TRUE." if value else ".FALSE."
    if isinstance(value, float):
        return repr(value)
    return str(value)


def format_incar(tags: dict) -> str:
    return "".join(f"{k} = {_fmt(v)}\n" for k, v in tags.items())


def kpoints_gamma(mesh=(1, 1, 1)) -> str:
    return "Gamma-centred mesh (mtpflow)\n0\nGamma\n{} {} {}\n0 0 0\n".format(*mesh)


def potcar_symbols(elements: Sequence[str], overrides: dict | None = None) -> list[str]:
    table = dict(DEFAULT_POTCARS)
    table.update(overrides or {})
    return [table.get(el, el) for el in elements]


def poscar_text(atoms, species: Sequence[str]) -> tuple[str, list[str]]:
    """POSCAR in the project's species order; returns (text, elements in POSCAR order)."""
    from ase.io import write

    from mtpflow.io.structure import order_by_species

    ordered = order_by_species(atoms, species)
    buf = io.StringIO()
    write(buf, ordered, format="vasp", direct=True, sort=False)
    elements = list(dict.fromkeys(ordered.get_chemical_symbols()))
    return buf.getvalue(), elements


def vasp_input_files(atoms, species: Sequence[str], kind: str = "aimd", overrides: dict | None = None,
                     vdw: str | None = None, potcar_spec: bool = False, functional: str = "PBE",
                     potcar_map: dict | None = None, kpoints=(1, 1, 1), extra: dict | None = None
                     ) -> dict[str, str]:
    """{file name: text} of one VASP run directory (POTCAR read from the pseudopotential library
    unless `potcar_spec`, which writes POTCAR.spec instead)."""
    from mtpflow.io.vasp import read_potcar_library

    if not atoms.pbc.all():
        raise InputError("VASP needs a periodic cell; the structure has none")
    tags = incar_tags(kind, overrides, vdw)
    poscar, elements = poscar_text(atoms, species)
    symbols = potcar_symbols(elements, potcar_map)
    files = {"INCAR": format_incar(tags), "KPOINTS": kpoints_gamma(kpoints), "POSCAR": poscar}
    if potcar_spec:
        files["POTCAR.spec"] = "".join(f"{s}\n" for s in symbols)
    else:
        files["POTCAR"] = read_potcar_library(symbols, functional)
    meta = {
        "kind": kind, "incar": tags, "kpoints": list(kpoints), "species_order": elements,
        "potcar_symbols": symbols, "potcar_functional": functional,
        "potcar": "POTCAR.spec (dry run: no POTCAR written)" if potcar_spec else "POTCAR",
        "n_atoms": len(atoms), "formula": atoms.get_chemical_formula(),
        "volume_a3": float(atoms.cell.volume),
        "energy_used_for_training": "free energy TOTEN (e_fr_energy), consistent with the forces",
    }
    if vdw:
        meta["note"] = "optB88-vdW: VASP 5 needs vdw_kernel.bindat in the run directory"
    meta.update(extra or {})
    files[METADATA_NAME] = json.dumps(meta, indent=2) + "\n"
    return files
