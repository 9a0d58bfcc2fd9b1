"""Structures in any format mtpflow meets, read and written through ASE (and mtpflow.io.cfg / vasp).

Formats are chosen by file name:

| name                                         | format       | element names in the file? |
|----------------------------------------------|--------------|----------------------------|
| *.cfg                                        | MLIP .cfg    | no: types follow `species` |
| *.extxyz, *.xyz                              | extended XYZ | yes                        |
| POSCAR*, CONTCAR*, *.vasp, *.poscar          | VASP POSCAR  | yes (VASP 5 header)        |
| vasprun*.xml, *.xml                          | vasprun.xml  | yes (read only)            |
| OUTCAR*                                      | OUTCAR       | yes (read only)            |
| *.lammps_data, *.lammps-data, *.data, *.lmp  | LAMMPS data  | no: type k+1 = species[k]  |
| *.cif                                        | CIF          | yes                        |

Where a format names no elements, `species` (the project's species order, e.g. Li,Al,Cl) is
required; types are never inferred from atom positions or masses. Every write is atomic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mtpflow.errors import InputError
from mtpflow.io.ase_bridge import species_types
from mtpflow.io.atomic import atomic_path

SINGLE_FRAME = {"vasp", "lammps-data", "cif"}


def detect_format(path) -> str:
    name = Path(path).name.lower()
    suffix = Path(path).suffix.lower()
    if suffix == ".cfg":
        return "cfg"
    if suffix in (".extxyz", ".xyz"):
        return "extxyz"
    if name.startswith(("poscar", "contcar")) or suffix in (".vasp", ".poscar"):
        return "vasp"
    if suffix == ".xml":
        return "vasprun"
    if name.startswith("outcar"):
        return "outcar"
    if suffix in (".lammps_data", ".lammps-data", ".data", ".lmp") or name.endswith("lammps_data"):
        return "lammps-data"
    if suffix == ".cif":
        return "cif"
    raise InputError("unknown structure format; use a name ending in .cfg, .extxyz, .xyz, .vasp, "
                     ".cif, .lammps_data/.data, or named POSCAR/CONTCAR/OUTCAR/vasprun.xml", path)


def _need_species(species, fmt: str, path) -> list[str]:
    if not species:
        raise InputError(f"{fmt} files name no elements: pass --species (e.g. Li,Al,Cl, the element "
                         f"of type 0, 1, ...; config key 'species')", path)
    return list(species)


def read_frames(path, species: Sequence[str] | None = None, index=":",
                warn: Callable[[str], None] | None = None) -> list:
    """All frames (ase.Atoms, with energy/forces/stress attached when the file has them)."""
    path = Path(path)
    fmt = detect_format(path)
    if not path.exists():
        raise InputError("no such file", path)
    numbers, frames = _read(path, fmt, species, warn, index)
    if not numbers:
        raise InputError(f"no structures in the file (an empty {fmt} file)", path)
    chosen = _select(numbers, index, path)
    if not chosen:
        raise InputError(f"--index {index} selects none of the {len(numbers)} structure(s) in the "
                         "file", path)
    for k in chosen:
        _check_atoms(frames[k], path, k)
    return [frames[k] for k in chosen]


def _read(path: Path, fmt: str, species, warn, index) -> tuple[list[int], dict]:
    """(numbers of all structures in the file, {number: ase.Atoms} holding at least the ones
    `index` selects)."""
    if fmt == "extxyz":
        # checked first (frame and line of any damage; a truncated last frame dropped), then ASE
        # parses only the frames from the first to the last selected one
        from mtpflow.io.extxyz_check import scan_extxyz
        scan = scan_extxyz(path)
        if scan.truncated:
            (warn or _warn)(f"{path}: {scan.truncated}")
        numbers = list(range(scan.n_frames))
        wanted = _select(numbers, index, path) if numbers else []
        if not wanted:
            return numbers, {}
        lo, hi = min(wanted), max(wanted) + 1
        got = _ase_read(path, fmt, slice(lo, hi), {})
        if len(got) != hi - lo:
            raise InputError(f"ASE read {len(got)} of frames {lo}..{hi - 1}", path)
        return numbers, {lo + k: a for k, a in enumerate(got)}
    frames = _read_all(path, fmt, species, warn)
    return list(range(len(frames))), dict(enumerate(frames))


def _read_all(path: Path, fmt: str, species, warn) -> list:
    if fmt == "cfg":
        from mtpflow.io.ase_bridge import to_atoms
        from mtpflow.io.cfg import read_cfg
        species = _need_species(species, "MLIP .cfg", path)
        frames = []
        for k, c in enumerate(read_cfg(path)):
            atoms = to_atoms(c, species)
            for name, value in c.features:
                atoms.info[f"feature_{name}"] = value
            atoms.info["cfg_index"] = k
            frames.append(atoms)
        return frames
    if fmt in ("vasprun", "outcar"):
        from mtpflow.io.vasp import read_outcar, read_vasprun
        run = read_vasprun(path) if fmt == "vasprun" else read_outcar(path)
        if run.warning():
            (warn or _warn)(run.warning())
        return list(run.frames)
    kwargs = {}
    if fmt == "lammps-data":
        from ase.data import atomic_numbers
        species = _need_species(species, "LAMMPS data", path)
        n_types = _lammps_n_types(path)
        if n_types > len(species):
            raise InputError(f"the file has {n_types} atom types but --species names {len(species)} "
                             f"({','.join(species)}); name the element of every type", path)
        kwargs = {"Z_of_type": {k + 1: atomic_numbers[s] for k, s in enumerate(species)},
                  "units": "metal", "atom_style": "atomic"}
    return _ase_read(path, fmt, ":", kwargs)


def _ase_read(path, fmt, index, kwargs) -> list:
    from ase.io import read

    try:
        frames = read(path, index=index, format=fmt, **kwargs)
    except InputError:
        raise
    except Exception as exc:  # ASE raises many types for malformed files
        raise InputError(f"cannot read as {fmt}: {exc}", path) from exc
    frames = frames if isinstance(frames, list) else [frames]
    for atoms in frames:
        for key in ("type", "id", "travel", "mol-id"):  # LAMMPS bookkeeping; elements are the truth
            if key in atoms.arrays:
                del atoms.arrays[key]
    return frames


def _warn(msg: str) -> None:
    import warnings

    warnings.warn(msg, StructureWarning, stacklevel=3)


class StructureWarning(UserWarning):
    """Something in a structure file was skipped (a truncated last frame); the message says what."""


def _lammps_n_types(path) -> int:
    with open(path, errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 3 and parts[1:3] == ["atom", "types"]:
                return int(parts[0])
            if parts and parts[0] in ("Atoms", "Masses"):
                break
    raise InputError("no 'N atom types' line in the header; not a LAMMPS data file", path)


def _select(frames: list, index, path) -> list:
    """The frames `index` picks: ':' or None (all), an integer (negative from the end) or a
    slice text like 2:10 or ::5 (as --index takes them)."""
    if index in (":", None):
        return frames
    try:
        if isinstance(index, str):
            if ":" in index:
                parts = index.split(":")
                if len(parts) > 3:
                    raise ValueError(index)
                sl = slice(*[int(p) if p.strip() else None for p in parts])
                if sl.step == 0:
                    raise ValueError(index)
                return frames[sl]
            index = int(index)
        return [frames[index]]
    except ValueError:
        raise InputError(f"--index {index!r}: give ':' (all), a number such as -1 (the last), or a "
                         "slice such as 2:10 or ::5") from None
    except IndexError:
        raise InputError(f"--index {index!r} is out of range for {len(frames)} structure(s)",
                         path) from None


def _check_atoms(atoms, path, k: int | None = None) -> None:
    where = "" if k is None else f"frame {k}: "       # counted from 0, as --index counts
    if not np.all(np.isfinite(atoms.positions)):
        raise InputError(f"{where}NaN or inf in the atom positions", path)
    if atoms.pbc.any() and not np.all(np.isfinite(atoms.cell[:])):
        raise InputError(f"{where}NaN or inf in the cell", path)
    if atoms.pbc.all() and abs(atoms.cell.volume) < 1e-8:
        raise InputError(f"{where}the cell is singular (zero volume)", path)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def order_by_species(atoms, species: Sequence[str] | None):
    """A copy with atoms grouped in the project's species order (stable within a species)."""
    if not species:
        return atoms.copy()
    order = np.argsort(species_types(atoms.get_chemical_symbols(), species), kind="stable")
    out = atoms[order]
    if atoms.calc is not None and getattr(atoms.calc, "results", None):
        from ase.calculators.singlepoint import SinglePointCalculator
        res = dict(atoms.calc.results)
        for key in ("forces", "energies"):
            if key in res:
                res[key] = np.asarray(res[key])[order]
        out.calc = SinglePointCalculator(out, **res)
    return out


def write_frames(path, frames: Sequence, species: Sequence[str] | None = None,
                 features: Sequence[tuple[str, str]] = ()) -> int:
    """Write frames atomically in the format named by `path`; returns the number written.

    `species` fixes the types of .cfg and LAMMPS data and the species order of a POSCAR.
    `features` are added as MLIP Feature lines to every .cfg configuration."""
    path = Path(path)
    fmt = detect_format(path)
    frames = list(frames)
    if not frames:
        raise InputError("nothing to write (no frames)", path)
    if fmt in ("vasprun", "outcar"):
        raise InputError("VASP outputs cannot be written; write a POSCAR, .extxyz or .cfg", path)
    if fmt in SINGLE_FRAME and len(frames) != 1:
        raise InputError(f"a {fmt} file holds one structure but there are {len(frames)}; pick one "
                         f"with --index (e.g. --index -1 for the last)", path)
    for atoms in frames:
        _check_atoms(atoms, path)
    if fmt == "cfg":
        from mtpflow.io.ase_bridge import from_atoms
        from mtpflow.io.cfg import write_cfg
        species = _need_species(species, "MLIP .cfg", path)
        configs = []
        for atoms in frames:
            c = from_atoms(atoms, species)
            c.features = list(features) + [
                (k[len("feature_"):], str(v)) for k, v in atoms.info.items()
                if k.startswith("feature_") and k[len("feature_"):] not in dict(features)]
            configs.append(c)
        return write_cfg(path, configs)
    for k, atoms in enumerate(frames):
        for key, value in atoms.info.items():
            if isinstance(value, str) and _has_surrogates(value):
                raise InputError(f"structure {k + 1}: the value of {key!r} holds bytes that are not "
                                 f"UTF-8 (read from a .cfg Feature line); {fmt} files are UTF-8 text: "
                                 "fix those bytes in the input, or write a .cfg (it keeps them)", path)
    from ase.io import write
    with atomic_path(path) as tmp:
        if fmt == "vasp":
            write(tmp, order_by_species(frames[0], species), format="vasp", direct=True, sort=False)
        elif fmt == "lammps-data":
            species = _need_species(species, "LAMMPS data", path)
            atoms = order_by_species(frames[0], species)
            if "type" in atoms.arrays:  # ASE would number types from this array, not specorder
                del atoms.arrays["type"]
            write(tmp, atoms, format="lammps-data", specorder=species, masses=True,
                  units="metal", atom_style="atomic")
        elif fmt == "cif":
            write(tmp, frames[0], format="cif")
        else:
            write(tmp, frames, format="extxyz")
    return len(frames)
