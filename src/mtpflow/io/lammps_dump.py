"""The one reader of LAMMPS text dumps (`dump custom`), used by `mtpflow analyze` (through
mtpflow.io.trajectory) and by `mtpflow lammps-traj`.

Columns: `id`, `type` and/or `element`, positions as x y z | xu yu zu | xs ys zs | xsu ysu zsu,
optional image flags ix iy iz, any other columns ignored; orthorhombic or restricted triclinic
(xy xz yz) boxes; plain text or .gz. Frames are streamed: a first pass finds the frames and their
TIMESTEPs without parsing atoms, the second parses only the frames kept, one at a time.

A LAMMPS job killed and restarted from a restart file appends frames again from the restart's
step, so TIMESTEPs repeat or go back (and the frame the kill interrupted may be cut short, even in
mid-line). Every frame at or after the first TIMESTEP of a later block is dropped, the later copy
is kept, and `notes` says how many frames were dropped. A truncated last frame (a run killed while
writing it) is dropped with a note naming it. Any other short or malformed frame (missing or
extra atom lines, a wrong number of values in a line, a non-integer TIMESTEP, non-numeric or
non-finite numbers) is an InputError naming the file, the frame (index and TIMESTEP) and the line.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter

import numpy as np

from mtpflow.errors import InputError

MARK = "ITEM: TIMESTEP"
POSITION_COLUMNS = ((("xu", "yu", "zu"), "cart_unwrapped"), (("xsu", "ysu", "zsu"), "frac_unwrapped"),
                    (("x", "y", "z"), "cart"), (("xs", "ys", "zs"), "frac"))


@dataclass
class DumpFrame:
    """One parsed frame; atoms sorted by id (the selected ones only when a species is chosen)."""

    index: int                  # 0-based position among all frames in the file
    step: int                   # TIMESTEP
    line: int                   # line of its ITEM: TIMESTEP (1-based)
    cell: np.ndarray            # (3, 3) rows a, b, c in Å (LAMMPS orientation)
    origin: np.ndarray          # (3,) xlo, ylo, zlo
    ids: np.ndarray             # (n,) int64, ascending
    coords: np.ndarray          # (n, 3) float64; Cartesian or fractional, see kind
    kind: str                   # "cart" | "frac" | "cart_unwrapped" | "frac_unwrapped"
    images: np.ndarray | None   # (n, 3) image flags when the dump has ix iy iz
    types: np.ndarray | None = None     # (n,) int64 LAMMPS types (species=None only)
    elements: np.ndarray | None = None  # (n,) element column (species=None only)
    time_ps: float | None = None        # dumps carry no time


@dataclass
class _Raw:
    line: int            # line of ITEM: TIMESTEP
    head: list           # lines after it, up to ITEM: ATOMS (8 when complete)
    rows: list           # atom lines
    rows_line: int       # line of the first atom line
    cut: bool            # its last line was cut (by the end of the file or by a restart's frame)


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


class _Lines:
    """Lines of a file with their numbers, with push-back."""

    def __init__(self, fh):
        self.fh = fh
        self.back: list = []     # (text, line number); the last one is returned next
        self.line_no = 0

    def next(self):
        if self.back:
            return self.back.pop()
        text = self.fh.readline()
        if not text:
            return None
        self.line_no += 1
        return text, self.line_no

    def take(self, n):
        out = []
        first = None
        while self.back and len(out) < n:
            text, no = self.back.pop()
            first = no if first is None else first
            out.append(text)
        if len(out) < n:
            more = list(islice(self.fh, n - len(out)))
            first = self.line_no + 1 if first is None else first
            self.line_no += len(more)
            out += more
        return out, first

    def push(self, items):
        self.back.extend(reversed(items))


def _until_mark(src, out):
    """Append lines to `out` up to the next ITEM: TIMESTEP (which may start in mid-line, after a
    line a killed run left unfinished); returns (the mark with its line number or None, cut)."""
    while True:
        item = src.next()
        if item is None:
            return None, bool(out) and not out[-1].endswith("\n")
        text, no = item
        k = text.find(MARK)
        if k == 0:
            return item, False
        if k > 0:
            out.append(text[:k])
            return (text[k:], no), True
        out.append(text)


def _raw_frames(fh, path):
    """Split the file into frames without parsing atoms (the same split in both passes)."""
    src = _Lines(fh)
    item = src.next()
    while item is not None and not item[0].strip():
        item = src.next()
    if item is None:
        return
    if not item[0].startswith(MARK):
        raise InputError(f"expected 'ITEM: TIMESTEP', found {item[0].strip()[:40]!r}: not a LAMMPS "
                         "text dump", path, item[1])
    while item is not None:
        start = item[1]
        head: list = []
        nxt, cut = None, False
        for _ in range(8):
            got = src.next()
            if got is None:
                cut = bool(head) and not head[-1].endswith("\n")
                break
            text, no = got
            k = text.find(MARK)
            if k >= 0:
                if k > 0:
                    head.append(text[:k])
                    cut = True
                nxt = (text[k:], no)
                break
            head.append(text)
        if len(head) < 8:
            yield _Raw(start, head, [], start + len(head) + 1, cut)
            item = nxt
            continue
        natoms = _int(head[2])
        rows: list = []
        rows_line = start + 9
        if natoms is not None and natoms >= 0:
            rows, first = src.take(natoms)
            rows_line = first
            peek = src.next()
            if len(rows) == natoms and (peek is None or peek[0].startswith(MARK)):
                yield _Raw(start, head, rows, rows_line, bool(rows) and not rows[-1].endswith("\n"))
                item = peek
                continue
            src.push([(t, rows_line + i) for i, t in enumerate(rows)] + ([peek] if peek else []))
            rows = []
        item, cut = _until_mark(src, rows)
        while rows and not cut and not rows[-1].strip():
            rows.pop()        # blank lines before the next frame or the end of the file
        yield _Raw(start, head, rows, rows_line, cut)


@contextlib.contextmanager
def open_text(path, what="LAMMPS text dump"):
    """A text file, plain or .gz (by its name); unreadable or undecodable bytes while it is read
    become one InputError naming the file."""
    path = str(path)
    try:
        with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as fh:
            yield fh
    except UnicodeDecodeError:
        raise InputError(f"not a text file (undecodable bytes): not a {what}", path) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read the {what} ({getattr(exc, 'strerror', None) or exc})",
                         path) from None


@dataclass
class _Entry:
    index: int
    line: int
    step: int | None
    step_text: str
    problem: str | None     # why the frame is incomplete; None when complete
    key: float = 0.0


def _entry(index, raw: _Raw, path) -> _Entry:
    head = raw.head
    step_line_whole = bool(head) and (len(head) > 1 or not raw.cut)
    step_text = head[0].strip() if head else ""
    step = _int(step_text) if step_line_whole else None
    problem = None
    if len(head) < 8:
        problem = f"its header ends after {len(head)} of 8 lines"
    elif _int(head[2]) is None:
        problem = None  # a malformed header, not a truncation: reported when parsed
    elif len(raw.rows) != _int(head[2]):
        n = _int(head[2])
        problem = (f"{len(raw.rows)} of {n} atom lines" if len(raw.rows) < n else
                   f"{len(raw.rows)} atom lines but NUMBER OF ATOMS is {n}")
    elif raw.cut:
        problem = f"its last atom line (line {raw.rows_line + len(raw.rows) - 1}) is cut"
    if step_line_whole and step is None and problem is None:
        raise InputError(f"frame {index}: TIMESTEP {step_text[:30]!r} is not an integer", path,
                         raw.line + 1)
    return _Entry(index, raw.line, step, step_text if step is not None else "?", problem)


class LammpsDump:
    """A LAMMPS text dump, scanned on construction (which frames are kept); `frames()` streams
    them. `notes` holds the frames dropped (restart repeats, a truncated last frame)."""

    def __init__(self, path):
        self.path = str(path)
        if not os.path.exists(self.path):
            raise InputError("LAMMPS dump not found", self.path)
        self.notes: list[str] = []
        self.composition: dict = {}
        self.n_atoms = 0
        self.ids = None
        entries = []
        with open_text(self.path) as fh:
            for k, raw in enumerate(_raw_frames(fh, self.path)):
                entries.append(_entry(k, raw, self.path))
        self.n_frames_in_file = len(entries)
        self._kept = self._plan(entries)

    @property
    def n_frames(self) -> int:
        """Frames that frames() yields."""
        return len(self._kept)

    def _plan(self, entries):
        kept: list = []
        dropped: list = []
        for i, e in enumerate(entries):
            e.key = e.step if e.step is not None else (kept[-1].key + 0.5 if kept else -math.inf)
            if kept and e.step is not None and kept[-1].key >= e.key:
                if i == len(entries) - 1 and sum(k.key >= e.key for k in kept) > 1:
                    # one frame going back, then the end: a restart killed after one frame or a
                    # damaged TIMESTEP; the frames before it are one consistent run: keep those
                    self.notes.append(
                        f"the last frame (frame {e.index}, TIMESTEP {e.step_text}, line {e.line}) goes "
                        f"back from TIMESTEP {kept[-1].step_text}: a restarted run that stopped after "
                        "one frame, or a damaged TIMESTEP; skipped it and kept the frames before it")
                    break
                self._check_restart(entries, i, kept)
            while kept and kept[-1].key >= e.key:
                dropped.append(kept.pop())
            kept.append(e)
        if kept and kept[-1].problem is not None and kept[-1] is entries[-1] and not self.notes:
            e = kept.pop()
            self.notes.append(f"the last frame (frame {e.index}, TIMESTEP {e.step_text}, line "
                              f"{e.line}) is truncated ({e.problem}); skipped it")
        for e in kept:
            if e.problem is not None:
                raise InputError(f"frame {e.index} (TIMESTEP {e.step_text}) is incomplete: "
                                 f"{e.problem}, and it is not the last frame nor one a restarted "
                                 "run wrote again; repair or cut the file there", self.path, e.line)
        if dropped:
            steps = sorted(e.step for e in dropped if e.step is not None)
            cut = [e for e in dropped if e.problem is not None]
            span = f"TIMESTEP {steps[0]}..{steps[-1]}" if steps else "TIMESTEP unknown"
            self.notes.append(
                f"dropped {len(dropped)} frame(s) that a restarted run wrote again ({span}; the "
                "later copies are kept)" + "".join(
                    f"; frame {e.index} (line {e.line}) was cut short by the kill" for e in cut))
        return kept

    def _check_restart(self, entries, i, kept) -> None:
        """Entry i goes back to (or repeats) an earlier TIMESTEP. A restarted run writes the steps
        from its restart point again, in the same stride, replacing a regular run of frames; one
        damaged TIMESTEP instead breaks the sequence of its neighbours. That is an error naming the
        frame, not frames silently dropped as a restart's repeats."""
        e = entries[i]
        steps = [k.step for k in kept if k.step is not None]
        block = [k for k in kept if k.key >= e.key]
        before = [k.step for k in kept[:len(kept) - len(block)] if k.step is not None]
        first = next((k for k in entries if k.step is not None), None)
        if first is not None and e.step < first.step:
            # a restart goes back to a restart file its run wrote, never before the run's start
            raise InputError(f"frame {e.index}: TIMESTEP {e.step_text} is before the first frame's "
                             f"TIMESTEP {first.step_text} (frame {first.index}): one of them looks "
                             "damaged: repair it", self.path, e.line + 1)
        if len(steps) < 2:
            return
        stride = before[-1] - before[-2] if len(before) >= 2 else steps[1] - steps[0]
        last = steps[-1]
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        if nxt is not None and nxt.step is not None and nxt.step > last and nxt.step - e.step != stride:
            bad, why = e, (f"goes back from {last} but the next frame (TIMESTEP {nxt.step}) continues "
                           f"after {last}")
        else:
            seq = before[-1:] + [k.step for k in block if k.step is not None]
            gaps = [b - a for a, b in zip(seq, seq[1:])]
            if all(g == stride for g in gaps):
                return
            bad = block[next(j for j, g in enumerate(gaps) if g != stride)]
            why = (f"breaks the stride of {stride} steps (TIMESTEP {seq[0]}, then "
                   f"{', '.join(str(x) for x in seq[1:4])}{', ...' if len(seq) > 4 else ''}) before "
                   f"frame {e.index} goes back to TIMESTEP {e.step}")
        raise InputError(f"frame {bad.index}: TIMESTEP {bad.step_text} {why}: not a restarted run "
                         "(that writes the steps from its restart point again in the same stride); the "
                         "TIMESTEP looks damaged: repair it", self.path, bad.line + 1)

    def frames(self, species: str | None = None):
        """Yield the kept frames as DumpFrame. species: None for every atom (with types and
        elements), else an element (dumps with an element column) or a LAMMPS type number; only
        those atoms are parsed and returned, fixed by id from the first frame."""
        want = {e.index: e for e in self._kept}
        parser = _FrameParser(self, species)
        with open_text(self.path) as fh:
            for k, raw in enumerate(_raw_frames(fh, self.path)):
                e = want.get(k)
                if e is not None:
                    yield parser.parse(raw, e)


class _FrameParser:
    def __init__(self, dump: LammpsDump, species):
        self.dump = dump
        self.path = dump.path
        self.species = None if species is None else str(species).strip()
        self.columns = None
        self.sel_ids = None      # ids of the chosen atoms, ascending
        self.prev_ids = None
        self.sel_rows = None
        self.label_col = None

    def _err(self, e, msg, line):
        return InputError(f"frame {e.index} (TIMESTEP {e.step_text}): {msg}", self.path, line)

    def _box(self, raw, e):
        header = raw.head[3]
        if not header.startswith("ITEM: BOX BOUNDS"):
            raise self._err(e, f"expected 'ITEM: BOX BOUNDS', found {header.strip()[:40]!r}", raw.line + 4)
        if "abc" in header:
            raise self._err(e, "general triclinic 'BOX BOUNDS abc origin' dumps are not supported; "
                            "write restricted triclinic (xy xz yz)", raw.line + 4)
        try:
            b = np.array([[float(x) for x in ln.split()] for ln in raw.head[4:7]])
        except ValueError:
            b = None
        if b is None or b.shape not in ((3, 2), (3, 3)) or not np.isfinite(b).all():
            raise self._err(e, "the box bounds must be 3 lines of 2 numbers (3 for a triclinic box)",
                            raw.line + 5)
        xy = xz = yz = 0.0
        if b.shape[1] == 3:
            xy, xz, yz = b[0, 2], b[1, 2], b[2, 2]
        xlo = b[0, 0] - min(0.0, xy, xz, xy + xz)
        xhi = b[0, 1] - max(0.0, xy, xz, xy + xz)
        ylo = b[1, 0] - min(0.0, yz)
        yhi = b[1, 1] - max(0.0, yz)
        cell = np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, b[2, 1] - b[2, 0]]])
        return cell, np.array([xlo, ylo, b[2, 0]])

    def _bad_row(self, raw, e, tok_ok):
        for i, row in enumerate(raw.rows):
            if not tok_ok(row.split()):
                return raw.rows_line + i
        return raw.rows_line

    def _floats(self, tok, idx, raw, e, ncol, what):
        if not len(idx):
            return np.zeros(0)
        vals = [tok[i] for i in idx] if len(idx) == 1 else itemgetter(*idx)(tok)
        try:
            out = np.array(vals, dtype=np.float64)
        except ValueError:
            out = None
        if out is None or not np.isfinite(out).all():
            bad = 0
            for j, v in enumerate(vals):
                try:
                    ok = math.isfinite(float(v))
                except ValueError:
                    ok = False
                if not ok:
                    bad = j
                    break
            raise self._err(e, f"{what} {vals[bad]!r} is not a finite number",
                            raw.rows_line + int(idx[bad]) // ncol)
        return out

    def parse(self, raw: _Raw, e: _Entry) -> DumpFrame:
        h = raw.head
        if not h[1].startswith("ITEM: NUMBER OF ATOMS"):
            raise self._err(e, f"expected 'ITEM: NUMBER OF ATOMS', found {h[1].strip()[:40]!r}",
                            raw.line + 2)
        natoms = _int(h[2])
        if natoms is None or natoms < 0:
            raise self._err(e, f"NUMBER OF ATOMS {h[2].strip()[:30]!r} is not a count", raw.line + 3)
        cell, origin = self._box(raw, e)
        if not h[7].startswith("ITEM: ATOMS"):
            raise self._err(e, f"expected 'ITEM: ATOMS', found {h[7].strip()[:40]!r}", raw.line + 8)
        columns = h[7].split()[2:]
        if columns != self.columns:
            self._set_columns(columns, raw, e)
        col, ncol = self.col, len(columns)
        tok = "".join(raw.rows).split()
        if len(tok) != natoms * ncol:
            line = self._bad_row(raw, e, lambda t: len(t) == ncol)
            raise self._err(e, f"an atom line does not hold {ncol} values ({' '.join(columns)})", line)
        try:
            ids = np.array(tok[col["id"]::ncol], dtype=np.int64)
        except ValueError:
            line = self._bad_row(raw, e, lambda t: _int(t[col["id"]]) is not None)
            raise self._err(e, "an atom id is not an integer", line) from None
        if self.sel_ids is None:
            self._choose(tok, ids, ncol, raw, e)
        if self.prev_ids is None or not np.array_equal(ids, self.prev_ids):
            if ids.size and (ids.min() < 0 or np.unique(ids).size != ids.size):
                raise self._err(e, "atom ids repeat or are negative", raw.rows_line)
            lookup = np.full(int(ids.max()) + 1 if ids.size else 1, -1, dtype=np.int64)
            lookup[ids] = np.arange(natoms)
            if self.sel_ids.size and (self.sel_ids.max() >= lookup.size or (lookup[self.sel_ids] < 0).any()):
                raise self._err(e, "atoms of the first frame are missing from this frame (lost "
                                "atoms?); the analysis needs a fixed set of atoms", raw.line)
            if self.species is None and natoms != self.sel_ids.size:
                raise self._err(e, f"{natoms} atoms, the first frame {self.sel_ids.size}; a fixed "
                                "set of atoms is needed", raw.line + 3)
            self.sel_rows = lookup[self.sel_ids]
            self.prev_ids = ids
        rows = self.sel_rows
        types = elements = None
        if self.species is not None:
            lab = [tok[i] for i in rows * ncol + self.label_col]
            if any(v != self.species for v in lab):
                j = next(j for j, v in enumerate(lab) if v != self.species)
                raise self._err(e, f"atom id {self.sel_ids[j]} changed species (not {self.species!r} "
                                "any more)", raw.rows_line + int(rows[j]))
        else:
            if "type" in col:
                idx = rows * ncol + col["type"]
                types = self._floats(tok, idx, raw, e, ncol, "type").astype(np.int64)
            if "element" in col:
                elements = np.array([tok[i] for i in rows * ncol + col["element"]])
        idx = (rows[:, None] * ncol + np.array(self.pos_cols)[None, :]).ravel()
        coords = self._floats(tok, idx, raw, e, ncol, "coordinate").reshape(-1, 3)
        images = None
        if self.image_cols is not None:
            idx = (rows[:, None] * ncol + np.array(self.image_cols)[None, :]).ravel()
            images = self._floats(tok, idx, raw, e, ncol, "image flag").reshape(-1, 3)
        return DumpFrame(e.index, e.step, e.line, cell, origin, self.sel_ids, coords, self.kind,
                         images, types, elements)

    def _set_columns(self, columns, raw, e):
        col = {c: k for k, c in enumerate(columns)}
        if "id" not in col:
            raise self._err(e, "the dump needs an 'id' column", raw.line + 8)
        for names, kind in POSITION_COLUMNS:
            if all(c in col for c in names):
                self.pos_cols = [col[c] for c in names]
                self.kind = kind
                break
        else:
            raise self._err(e, "the dump needs position columns x y z, xu yu zu, xs ys zs or xsu ysu "
                            "zsu", raw.line + 8)
        self.image_cols = ([col[c] for c in ("ix", "iy", "iz")]
                           if all(c in col for c in ("ix", "iy", "iz")) else None)
        if self.columns is not None and self.species is not None:
            lc = self._label_col(col, raw, e)
            if columns[lc] != self.columns[self.label_col]:
                raise self._err(e, "the ATOMS columns change between frames", raw.line + 8)
            self.label_col = lc
        self.columns, self.col = columns, col

    def _label_col(self, col, raw, e):
        if "type" not in col and "element" not in col:
            raise self._err(e, "the dump needs a 'type' or 'element' column", raw.line + 8)
        if self.species is not None and self.species.isdigit() and "type" in col:
            return col["type"]
        return col.get("element", col.get("type"))

    def _choose(self, tok, ids, ncol, raw, e):
        """Fix the atoms read in every frame from the first kept frame."""
        col = self.col
        lc = self._label_col(col, raw, e)
        labels = np.array(tok[lc::ncol])
        u, counts = np.unique(labels, return_counts=True)
        self.dump.composition = {str(a): int(b) for a, b in zip(u, counts)}
        self.dump.n_atoms = int(ids.size)
        if self.species is None:
            chosen = ids
        else:
            self.label_col = lc
            chosen = ids[labels == self.species]
            if not chosen.size:
                kind = "element" if "element" in col and not self.species.isdigit() else "type"
                raise InputError(f"species {self.species!r} not in the first frame; {kind}s present: "
                                 f"{', '.join(self.dump.composition)} (--species takes an element "
                                 "when the dump has an element column, otherwise a type number)",
                                 self.path, e.line)
        self.sel_ids = np.sort(chosen)
        self.dump.ids = self.sel_ids
