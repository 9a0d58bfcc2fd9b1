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
    """Yield the configurations of an MLIP .cfg file one at a time. Bytes that are not UTF-8
    (e.g. in a Feature line) are kept as they are (surrogate escapes), so writing the
    configurations back reproduces them."""
    path = Path(path)
    try:
        fh = open(path, encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise InputError(f"cannot read the .cfg file ({exc.strerror})", path) from exc
    with fh:
        lines = _Lines(fh, path)
        while True:
            try:
                line = fh.readline()
            except OSError as exc:
                raise InputError(f"cannot read the .cfg file ({exc.strerror or exc})", path) from None
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


# sections that a configuration holds at most once (Feature lines may repeat)
_ONCE = ("Size", "Supercell", "AtomData", "Energy", "PlusStress")
_MAX_TYPE = 2 ** 31 - 1


def _read_block(lines: _Lines, path) -> Configuration:
    size = None
    cell = None
    columns = None
    atom_rows = None
    row_lines: list[int] = []
    energy = None
    plus_stress = None
    features: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    start = lines.no
    while True:
        line = lines.next("END_CFG")
        text = line.strip()
        head = text.split(":")[0].split()
        key = head[0] if head else text
        if key == "END_CFG":
            break
        if key in _ONCE:
            if key in seen:
                raise InputError(f"{key} appears twice in one configuration (first at line "
                                 f"{seen[key]}); a configuration holds one {key} section: remove "
                                 "one, or add END_CFG / BEGIN_CFG if two configurations ran together",
                                 path, lines.no)
            seen[key] = lines.no
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
            if not np.all(np.isfinite(cell)):
                raise InputError("Supercell holds NaN or inf", path, lines.no)
            norms = np.linalg.norm(cell, axis=1)
            if not abs(np.linalg.det(cell)) > 1e-12 * max(float(np.prod(norms)), 1e-300):
                raise InputError("the Supercell is singular (zero volume): its three lattice vectors "
                                 "must be linearly independent", path, seen[key])
        elif key == "AtomData":
            if size is None:
                raise InputError("AtomData before Size", path, lines.no)
            columns = text.split(":", 1)[1].split() if ":" in text else text.split()[1:]
            for need in ("type",):
                if need not in columns:
                    raise InputError(f"AtomData has no '{need}' column: {columns}", path, lines.no)
            if len(set(columns)) != len(columns):
                raise InputError(f"AtomData names a column twice: {columns}", path, lines.no)
            rows_read = []
            for a in range(size):
                toks = lines.next(f"{size} atom rows (got {a})").split()
                if len(toks) != len(columns):
                    raise InputError(
                        f"atom row has {len(toks)} values for {len(columns)} columns {columns}"
                        f" (Size says {size} atoms; {a} rows read)", path, lines.no)
                try:
                    rows_read.append([float(t) for t in toks])
                except ValueError:
                    bad = next(t for t in toks if not _is_float(t))
                    raise InputError(f"non-number {bad!r} in an atom row", path, lines.no) from None
                row_lines.append(lines.no)
            atom_rows = np.array(rows_read, dtype=np.float64).reshape(size, len(columns))
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
            raise InputError(f"unknown section {key[:40]!r} in a configuration", path, lines.no)
    if size is None:
        raise InputError("configuration has no Size", path, start)
    if atom_rows is None:
        if size:
            raise InputError("configuration has no AtomData", path, start)
        atom_rows, columns = np.empty((0, 2)), ["id", "type"]
    col = {name: k for k, name in enumerate(columns)}
    types = atom_rows[:, col["type"]]
    bad = np.nonzero((types != np.round(types)) | (types < 0) | (types > _MAX_TYPE))[0]
    if bad.size:
        raise InputError(f"atom type {types[bad[0]]:g} is not a non-negative integer (types are "
                         "0, 1, ... in the potential's species order)", path, row_lines[bad[0]])
    ids = None
    if "id" in col:
        idv = atom_rows[:, col["id"]]
        bad = np.nonzero((idv != np.round(idv)) | (np.abs(idv) > 2 ** 62))[0]
        if bad.size:
            raise InputError(f"atom id {idv[bad[0]]:g} is not an integer", path, row_lines[bad[0]])
        ids = idv.astype(np.int64)
    direct = None
    if all(c in col for c in ("cartes_x", "cartes_y", "cartes_z")):
        xyz = [col["cartes_x"], col["cartes_y"], col["cartes_z"]]
        positions = atom_rows[:, xyz]
    elif all(c in col for c in ("direct_x", "direct_y", "direct_z")):
        if cell is None:
            raise InputError("direct coordinates need a Supercell", path, start)
        xyz = [col["direct_x"], col["direct_y"], col["direct_z"]]
        direct = atom_rows[:, xyz].copy()
        positions = direct @ cell
    else:
        raise InputError(f"AtomData needs cartes_x/y/z or direct_x/y/z columns, found {columns}", path, start)
    bad = np.nonzero(~np.isfinite(atom_rows[:, xyz]).all(axis=1))[0]
    if bad.size:
        raise InputError("an atom position is NaN or inf", path, row_lines[bad[0]])
    forces = None
    if all(c in col for c in ("fx", "fy", "fz")):
        forces = atom_rows[:, [col["fx"], col["fy"], col["fz"]]]
    used = {"id", "type"} | ({"fx", "fy", "fz"} if forces is not None else set()) | (
        {"direct_x", "direct_y", "direct_z"} if direct is not None else {"cartes_x", "cartes_y", "cartes_z"})
    extra = {}
    for name in columns:
        if name in used:
            continue
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
    with atomic_open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
        for config in configs:
            fh.write(format_cfg(config, fixed_point))
            n += 1
    return n
