"""MLIP .cfg files: any number of configurations, read and written at full double precision.

Format (one block per configuration)::

    BEGIN_CFG
     Size
        N
     Supercell                       (absent: non-periodic)
        a1x a1y a1z
        a2x a2y a2z
        a3x a3y a3z
     AtomData:  id type cartes_x cartes_y cartes_z fx fy fz     (or direct_x direct_y direct_z)
        ...                          (further columns, e.g. MLIP's nbh_grades, are kept by name)
     Energy
        E
     PlusStress:  xx yy zz yz xz xy  (the virial in eV: -V * sigma_ASE)
        ...
     Feature   name value
    END_CFG

Written numbers use 17 significant digits, so reading what was written gives the same doubles.
`fixed_point=True` writes them without exponents instead (the shortest digits that give the same
double back), for readers that take no exponent notation, such as motep 0.2.0's .cfg reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open
from mtpflow.structures import Configuration

_STRESS_KEYS = ("xx", "yy", "zz", "yz", "xz", "xy")


def _num(tok: str, path, line_no: int, what: str) -> float:
    try:
        value = float(tok)
    except ValueError:
        raise InputError(f"expected a number for {what}, found {tok!r}", path, line_no) from None
    return value


def _int(tok: str, path, line_no: int, what: str) -> int:
    try:
        return int(tok)
    except ValueError:
        raise InputError(f"expected an integer for {what}, found {tok!r}", path, line_no) from None


class _Lines:
    """Line reader that remembers the line number (1-based) for messages."""

    def __init__(self, fh, path):
        self.fh = fh
        self.path = path
        self.no = 0

    def next(self, what: str) -> str:
        while True:
            line = self.fh.readline()
            if not line:
                raise InputError(f"file ends inside a configuration (expected {what})", self.path, self.no)
            self.no += 1
            if line.strip():
                return line


def iter_cfg(path) -> Iterator[Configuration]:
    """Yield the configurations of an MLIP .cfg file one at a time."""
    path = Path(path)
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read the .cfg file ({exc.strerror})", path) from exc
    with fh:
        lines = _Lines(fh, path)
        while True:
            line = fh.readline()
            if not line:
                return
            lines.no += 1
            text = line.strip()
            if not text:
                continue
            if text != "BEGIN_CFG":
                raise InputError(f"expected BEGIN_CFG, found {text[:40]!r}", path, lines.no)
            yield _read_block(lines, path)


def read_cfg(path) -> list[Configuration]:
    """All configurations of an MLIP .cfg file (an empty file gives an error)."""
    configs = list(iter_cfg(path))
    if not configs:
        raise InputError("no configurations (no BEGIN_CFG block) in the file", path)
    return configs


def _read_block(lines: _Lines, path) -> Configuration:
    size = None
    cell = None
    columns = None
    atom_rows = None
    energy = None
    plus_stress = None
    features: list[tuple[str, str]] = []
    start = lines.no
    while True:
        line = lines.next("END_CFG")
        text = line.strip()
        key = text.split(":")[0].split()[0]
        if key == "END_CFG":
            break
        if key == "Size":
            size = _int(lines.next("the atom count").split()[0], path, lines.no, "Size")
            if size < 0:
                raise InputError(f"Size must be non-negative, found {size}", path, lines.no)
        elif key == "Supercell":
            rows = []
            for k in range(3):
                toks = lines.next("3 lattice vectors under Supercell").split()
                if len(toks) != 3:
                    raise InputError(
                        f"Supercell row {k + 1} needs 3 numbers, found {len(toks)} "
                        "(mtpflow supports 3D periodic cells or none)", path, lines.no)
                rows.append([_num(t, path, lines.no, "a lattice vector") for t in toks])
            cell = np.array(rows)
        elif key == "AtomData":
            if size is None:
                raise InputError("AtomData before Size", path, lines.no)
            columns = text.split(":", 1)[1].split() if ":" in text else text.split()[1:]
            for need in ("type",):
                if need not in columns:
                    raise InputError(f"AtomData has no '{need}' column: {columns}", path, lines.no)
            atom_rows = np.empty((size, len(columns)))
            for a in range(size):
                toks = lines.next(f"{size} atom rows (got {a})").split()
                if len(toks) != len(columns):
                    raise InputError(
                        f"atom row has {len(toks)} values for {len(columns)} columns {columns}"
                        f" (Size says {size} atoms; {a} rows read)", path, lines.no)
                try:
                    atom_rows[a] = [float(t) for t in toks]
                except ValueError:
                    bad = next(t for t in toks if not _is_float(t))
                    raise InputError(f"non-number {bad!r} in an atom row", path, lines.no) from None
        elif key == "Energy":
            energy = _num(lines.next("the energy").split()[0], path, lines.no, "Energy")
        elif key == "PlusStress":
            toks = lines.next("6 stress components").split()
            names = text.split(":", 1)[1].split() if ":" in text else list(_STRESS_KEYS)
            if len(toks) != 6 or len(names) != 6:
                raise InputError(f"PlusStress needs 6 values, found {len(toks)}", path, lines.no)
            vals = dict(zip(names, (_num(t, path, lines.no, "PlusStress") for t in toks)))
            try:
                plus_stress = np.array([vals[k] for k in _STRESS_KEYS])
            except KeyError as exc:
                raise InputError(f"PlusStress lacks component {exc.args[0]}", path, lines.no) from None
        elif key == "Feature":
            parts = text.split(None, 2)
            features.append((parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""))
        elif key == "BEGIN_CFG":
            raise InputError("BEGIN_CFG inside a configuration (missing END_CFG above)", path, lines.no)
        else:
            raise InputError(f"unknown section {key!r} in a configuration", path, lines.no)
    if size is None:
        raise InputError("configuration has no Size", path, start)
    if atom_rows is None:
        if size:
            raise InputError("configuration has no AtomData", path, start)
        atom_rows, columns = np.empty((0, 2)), ["id", "type"]
    col = {name: k for k, name in enumerate(columns)}
    types = atom_rows[:, col["type"]]
    if np.any(types != np.round(types)) or np.any(types < 0):
        raise InputError("atom types must be non-negative integers", path, start)
    ids = atom_rows[:, col["id"]].astype(np.int64) if "id" in col else None
    direct = None
    if all(c in col for c in ("cartes_x", "cartes_y", "cartes_z")):
        positions = atom_rows[:, [col["cartes_x"], col["cartes_y"], col["cartes_z"]]]
    elif all(c in col for c in ("direct_x", "direct_y", "direct_z")):
        if cell is None:
            raise InputError("direct coordinates need a Supercell", path, start)
        direct = atom_rows[:, [col["direct_x"], col["direct_y"], col["direct_z"]]].copy()
        positions = direct @ cell
    else:
        raise InputError(f"AtomData needs cartes_x/y/z or direct_x/y/z columns, found {columns}", path, start)
    forces = None
    if all(c in col for c in ("fx", "fy", "fz")):
        forces = atom_rows[:, [col["fx"], col["fy"], col["fz"]]]
    used = {"id", "type"} | ({"fx", "fy", "fz"} if forces is not None else set()) | (
        {"direct_x", "direct_y", "direct_z"} if direct is not None else {"cartes_x", "cartes_y", "cartes_z"})
    extra = {}
    for name in columns:
        if name in used:
            continue
        if name in extra:
            raise InputError(f"AtomData column {name!r} appears twice: {columns}", path, start)
        extra[name] = atom_rows[:, col[name]].copy()
    return Configuration(positions=positions, types=types.astype(np.int64), cell=cell, energy=energy,
                         forces=forces, plus_stress=plus_stress, features=features, ids=ids, direct=direct,
                         atom_data=extra)


def _is_float(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def _fmt_exp(x: float) -> str:
    return f"{x:.16e}"


def _fmt_fixed(x: float) -> str:
    return np.format_float_positional(float(x), unique=True, trim="0")


def format_cfg(config: Configuration, fixed_point: bool = False) -> str:
    """One configuration as MLIP .cfg text (numbers without exponents if fixed_point)."""
    _fmt = _fmt_fixed if fixed_point else _fmt_exp
    out = ["BEGIN_CFG", " Size", f"    {config.n_atoms}"]
    if config.cell is not None:
        out.append(" Supercell")
        out.extend("    " + " ".join(_fmt(v) for v in row) for row in config.cell)
    use_direct = config.direct is not None and config.cell is not None
    cols = ["id", "type"] + (["direct_x", "direct_y", "direct_z"] if use_direct else
                             ["cartes_x", "cartes_y", "cartes_z"])
    if config.forces is not None:
        cols += ["fx", "fy", "fz"]
    extra = list(config.atom_data.items())
    cols += [name for name, _ in extra]
    out.append(" AtomData:  " + " ".join(cols))
    ids = config.ids if config.ids is not None else np.arange(1, config.n_atoms + 1)
    coords = config.direct if use_direct else config.positions
    for a in range(config.n_atoms):
        row = f"    {int(ids[a])} {int(config.types[a])}  " + " ".join(_fmt(v) for v in coords[a])
        if config.forces is not None:
            row += "  " + " ".join(_fmt(v) for v in config.forces[a])
        if extra:
            row += "  " + " ".join(_fmt(v[a]) for _, v in extra)
        out.append(row)
    if config.energy is not None:
        out += [" Energy", "    " + _fmt(config.energy)]
    if config.plus_stress is not None:
        out.append(" PlusStress:  xx yy zz yz xz xy")
        out.append("    " + " ".join(_fmt(v) for v in config.plus_stress))
    for name, value in config.features:
        out.append(f" Feature   {name}\t{value}" if value else f" Feature   {name}")
    out.append("END_CFG")
    return "\n".join(out) + "\n\n"


def write_cfg(path, configs: Iterable[Configuration], fixed_point: bool = False) -> int:
    """Write configurations atomically (see format_cfg); returns how many were written."""
    n = 0
    with atomic_open(path, "w", encoding="utf-8") as fh:
        for config in configs:
            fh.write(format_cfg(config, fixed_point))
            n += 1
    return n
