"""Structural check of an extended XYZ file before ASE reads it (convert, collect, densify, md START).

ASE's reader stops with a message that names no line at a frame short of atom lines, takes a
line with an extra value or a last line cut mid-number as it is, and reports NaN positions
nowhere. `scan_extxyz` reads the file once, line by line, and checks what mtpflow's own
trajectory reader (mtpflow.io.trajectory) checks: every frame has its atom count, a comment line
and that many atom lines; every atom line holds the values its Properties name, numbers where
they are numeric and finite positions. A truncated last frame (fewer lines, or its last line cut:
the file does not end with a newline) is reported for dropping; any other damage is an
InputError naming the frame (counting from 0, as ASE's index does) and the line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from mtpflow.errors import InputError
from mtpflow.io.lammps_dump import open_text

_KV = re.compile(r'([A-Za-z_][\w\-]*)\s*=\s*("([^"]*)"|\{[^}]*\}|\S+)')
_DEFAULT_PROPERTIES = "species:S:1:pos:R:3"


@dataclass
class ExtxyzScan:
    n_frames: int            # complete frames, in file order
    truncated: str | None    # what was wrong with a dropped last frame, or None


def _count(text: str):
    t = text.strip()
    return int(t) if t.isdigit() else None


def _columns(comment: str, path, line: int, where: str):
    """[(kind, is_pos)] per value of an atom line, from the comment's Properties."""
    props = None
    for m in _KV.finditer(comment):
        if m.group(1).lower() == "properties":
            props = m.group(3) if m.group(3) is not None else m.group(2)
    parts = (props or _DEFAULT_PROPERTIES).split(":")
    if len(parts) % 3 != 0:
        raise InputError(f"{where}: Properties={props!r} is not name:type:count triples", path, line)
    cols = []
    for k in range(0, len(parts), 3):
        name, kind, count = parts[k], parts[k + 1].upper(), parts[k + 2]
        if kind not in ("S", "R", "I", "L") or not count.isdigit() or int(count) < 1:
            raise InputError(f"{where}: cannot read Properties entry {':'.join(parts[k:k + 3])!r}",
                             path, line)
        cols += [(kind, name == "pos")] * int(count)
    return cols


def _check_atom_line(text: str, cols, path, line: int, where: str) -> None:
    toks = text.split()
    if len(toks) != len(cols):
        raise InputError(f"{where}: an atom line holds {len(toks)} values, its Properties name "
                         f"{len(cols)}", path, line)
    for tok, (kind, is_pos) in zip(toks, cols):
        if kind in ("R", "I"):
            try:
                x = float(tok) if kind == "R" else int(tok)
            except ValueError:
                raise InputError(f"{where}: {tok[:30]!r} is not a number", path, line) from None
            if is_pos and not math.isfinite(x):
                raise InputError(f"{where}: position {tok!r} is not a finite number", path, line)


def next_header(fh, pending: str | None, line_no: int) -> tuple[str, int]:
    """(the next frame's atom-count line, its line number): `pending` if a line was read ahead,
    else the next line, skipping blank lines; ("", line_no) at the end of the file."""
    header = pending if pending is not None else fh.readline()
    if pending is None and header:
        line_no += 1
    while header and not header.strip():
        header = fh.readline()
        line_no += 1 if header else 0
    return header, line_no


def scan_extxyz(path) -> ExtxyzScan:
    """Check the frames of an extended XYZ file (see the module doc)."""
    n = 0
    line_no = 0
    with open_text(path, "extended XYZ file") as fh:
        pending = None
        while True:
            header, line_no = next_header(fh, pending, line_no)
            pending = None
            if not header:
                return ExtxyzScan(n, None)
            start, where = line_no, f"frame {n}"
            natoms = _count(header)
            if natoms is None:
                raise InputError(f"{where}: expected the number of atoms, got "
                                 f"{header.strip()[:40]!r}", path, start)
            comment = fh.readline()
            if not comment or not comment.endswith("\n") and natoms:
                return ExtxyzScan(n, f"the last frame ({where}, line {start}) is truncated (no "
                                  "complete comment line); skipped it")
            line_no += 1
            cols = _columns(comment, path, line_no, where)
            for a in range(natoms):
                text = fh.readline()
                if not text or not text.endswith("\n"):
                    cut = ", its last line is cut" if text else ""
                    return ExtxyzScan(n, f"the last frame ({where}, line {start}) is truncated "
                                      f"({a + bool(text)} of {natoms} atom lines{cut}); skipped it")
                line_no += 1
                if _count(text) is not None and len(cols) > 1 and "=" in fh.readline():
                    raise InputError(f"{where}: {a} of {natoms} atom lines (the next frame starts "
                                     f"at line {line_no}); repair or cut the file there", path, start)
                _check_atom_line(text, cols, path, line_no, where)
            pending = fh.readline()
            if pending:
                line_no += 1
                if pending.strip() and _count(pending) is None:
                    raise InputError(f"{where}: more lines than its {natoms} atoms (line {line_no} "
                                     "is not the next frame's atom count); repair or cut the file "
                                     "there", path, start)
            n += 1
