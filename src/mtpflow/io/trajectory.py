"""Streaming trajectory readers that keep only one species, unwrapped.

Formats: extended XYZ (Lattice, Properties, optional `time_ps` / `step` info keys) and LAMMPS text
dumps (`id type [element] x y z | xu yu zu | xs ys zs | xsu ysu zsu [ix iy iz]`, orthorhombic or
triclinic boxes). Frames are read one at a time; only the selected species' positions are stored,
so 10^5 frames of 432 Li among 2,592 ions need ~1 GB (float64), not 6 GB.

Unwrapping (in fractional coordinates, so triclinic cells work): image flags when the dump has
them; unwrapped columns (xu, xsu) as they are; otherwise minimum-image steps frame to frame, which
is valid when no ion moves more than half a box length between stored frames (already-unwrapped
positions pass through unchanged). Unwrapping uses every frame in the file, even with `every` > 1.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter

import numpy as np

from mtpflow.errors import InputError
from mtpflow.io.extxyz_check import next_header
from mtpflow.io.lammps_dump import LammpsDump, open_text


class TrajectoryWarning(UserWarning):
    """Something in a trajectory was skipped or is suspicious; the message says what."""


@dataclass
class SpeciesTrajectory:
    """Unwrapped positions of one species: positions[t, i] in Å (Cartesian), times in ps."""

    positions: np.ndarray          # (T, N, 3) float64, unwrapped Cartesian Å
    times_ps: np.ndarray           # (T,)
    dt_ps: float
    cell: np.ndarray               # (3, 3) rows a, b, c of the first frame, Å
    species: str = "X"
    volume_A3: float = float("nan")  # mean over frames
    indices: np.ndarray | None = None  # atom index in the frame (extxyz) or LAMMPS id
    composition: dict = field(default_factory=dict)  # label -> count in the first frame
    n_atoms: int = 0
    n_frames_read: int = 0         # frames in the file, before `every`
    every: int = 1
    path: str = ""
    format: str = "arrays"
    unwrap_method: str = "given"
    cell_changed: bool = False

    @classmethod
    def from_arrays(cls, positions, dt_ps, cell, species="X"):
        """Wrap unwrapped positions (T, N, 3) Å already in memory (library use, benchmarks)."""
        pos = np.ascontiguousarray(positions, dtype=np.float64)
        if pos.ndim != 3 or pos.shape[2] != 3:
            raise InputError(f"positions must have shape (frames, ions, 3); got {pos.shape}")
        cell = np.asarray(cell, dtype=np.float64)
        if cell.shape == (3,):
            cell = np.diag(cell)
        n = pos.shape[0]
        return cls(positions=pos, times_ps=np.arange(n) * float(dt_ps), dt_ps=float(dt_ps),
                   cell=cell, species=species, volume_A3=abs(float(np.linalg.det(cell))),
                   indices=np.arange(pos.shape[1]), composition={species: pos.shape[1]},
                   n_atoms=pos.shape[1], n_frames_read=n)

    @property
    def n_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def n_ions(self) -> int:
        return self.positions.shape[1]


@dataclass
class _Frame:
    cell: np.ndarray        # (3, 3)
    origin: np.ndarray      # (3,)
    coords: np.ndarray      # (nsel, 3): Cartesian or fractional, see kind
    kind: str               # "cart" | "frac" | "cart_unwrapped" | "frac_unwrapped"
    images: np.ndarray | None
    time_ps: float | None
    step: int | None
    line: int               # first line of the frame (1-based)
    index: int = 0          # 0-based frame index in the file


def detect_format(path) -> str:
    with open_text(path, "trajectory") as fh:
        for line in fh:
            s = line.strip()
            if not s:
                continue
            if s.startswith("ITEM:"):
                return "lammps-dump"
            if s.isdigit():
                return "extxyz"
            break
    raise InputError("unrecognised trajectory format: expected extended XYZ (first line = number "
                     "of atoms) or a LAMMPS text dump (first line 'ITEM: TIMESTEP')", path, 1)


# ----------------------------------------------------------------------------------- extxyz
_KV = re.compile(r'([A-Za-z_][\w\-]*)\s*=\s*("([^"]*)"|\{[^}]*\}|\S+)')


def _parse_comment(comment, path, line, where):
    info = {}
    for m in _KV.finditer(comment):
        info[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(2)
    lat = info.get("Lattice")
    if lat is None:
        raise InputError(f"{where}: no Lattice=\"...\"; the analysis needs the periodic cell "
                         "(write frames with ase.io.write(..., format='extxyz'))", path, line)
    try:
        cell = np.array(lat.split(), dtype=float).reshape(3, 3)
    except ValueError:
        raise InputError(f"{where}: Lattice must hold 9 numbers, got {lat!r}", path, line) from None
    props = info.get("Properties", "species:S:1:pos:R:3").split(":")
    cols, col = {}, 0
    try:
        for k in range(0, len(props) - 2, 3):
            cols[props[k]] = col
            col += int(props[k + 2])
    except ValueError:
        raise InputError(f"{where}: cannot read Properties={':'.join(props)!r}", path, line) from None
    if "pos" not in cols or "species" not in cols:
        raise InputError(f"{where}: extxyz Properties must contain species and pos", path, line)
    return info, cell, cols["species"], cols["pos"], col


def _count(text):
    t = text.strip()
    return int(t) if t.isdigit() else None


def _short_frame(lines):
    """Index of the next frame's atom-count line inside `lines` (a frame short of atom lines
    swallowed the next frame's header), or None."""
    for k, ln in enumerate(lines[:-1]):
        if _count(ln) is not None and "Lattice" in lines[k + 1]:
            return k
    return None


def _info_number(info, key, cast, where, path, line):
    v = info.get(key)
    if v is None:
        return None
    try:
        x = cast(float(v))
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where}: {key}={v!r} is not a number", path, line) from None
    if not np.isfinite(x):
        raise InputError(f"{where}: {key}={v!r} is not a finite number", path, line)
    return x


def _iter_extxyz(path, species, state):
    """Frames of an extended XYZ file. A frame with fewer atom lines than its count, extra lines,
    a wrong number of values in a line, or non-numeric positions is an InputError naming the frame
    and the line; only a truncated last frame is dropped (with a warning naming it)."""
    line_no = 0
    index = 0
    pending = None
    getters = None
    with open_text(path, "extended XYZ trajectory") as fh:
        while True:
            header, line_no = next_header(fh, pending, line_no)
            pending = None
            if not header:
                return
            start = line_no
            where = f"frame {index}"
            natoms = _count(header)
            if natoms is None:
                raise InputError(f"{where}: expected the number of atoms, got "
                                 f"{header.strip()[:40]!r}", path, start)
            comment = fh.readline()
            lines = list(islice(fh, natoms)) if comment else []
            line_no += bool(comment) + len(lines)
            cut = bool(lines) and not lines[-1].endswith("\n") or (comment and not comment.endswith("\n"))
            if not comment or len(lines) < natoms or cut:
                k = _short_frame(lines)
                if k is not None:
                    raise InputError(f"{where}: {k} of {natoms} atom lines (the next frame starts at "
                                     f"line {start + 2 + k}); repair or cut the file there", path, start)
                got = f"{len(lines)} of {natoms} atom lines" if comment else "no comment line"
                state["truncated"] = (f"the last frame ({where}, line {start}) is truncated ({got}"
                                      f"{', its last line is cut' if cut else ''}); skipped it")
                return
            pending = fh.readline()
            if pending:
                line_no += 1
                if pending.strip() and _count(pending) is None:
                    k = _short_frame(lines + [pending])
                    msg = (f"{k} of {natoms} atom lines (the next frame starts at line "
                           f"{start + 2 + k})" if k is not None else
                           f"more lines than its {natoms} atoms (line {line_no} is not the next "
                           "frame's atom count)")
                    raise InputError(f"{where}: {msg}; repair or cut the file there", path, start)
            info, cell, sp_col, pos_col, ncols = _parse_comment(comment, path, start + 1, where)
            tok = "".join(lines).split()
            if len(tok) != natoms * ncols:
                bad = next((k for k, ln in enumerate(lines) if len(ln.split()) != ncols), 0)
                raise InputError(f"{where}: an atom line does not hold the {ncols} values its "
                                 "Properties name", path, start + 2 + bad)
            if getters is None:
                state["frame_chars"] = len(header) + len(comment) + sum(map(len, lines))
                symbols = tok[sp_col::ncols]
                labels, counts = np.unique(symbols, return_counts=True)
                state["composition"] = {str(a): int(b) for a, b in zip(labels, counts)}
                sel = np.array([i for i, s in enumerate(symbols) if s == species], dtype=np.int64)
                if not sel.size:
                    raise InputError(f"species {species!r} not in the first frame; present: "
                                     f"{', '.join(state['composition'])} (use --species with one "
                                     "of these)", path, start)
                state["indices"] = sel
                state["n_atoms"] = natoms
                sp_idx = sel * ncols + sp_col
                pos_idx = (sel[:, None] * ncols + pos_col + np.arange(3)[None, :]).ravel()
                getters = (ncols, _getter(sp_idx), _getter(pos_idx), pos_idx)
            elif natoms != state["n_atoms"]:
                raise InputError(f"{where}: {natoms} atoms, the first frame {state['n_atoms']}; "
                                 "the analysis needs a fixed set of atoms", path, start)
            if getters[0] != ncols:
                raise InputError(f"{where}: Properties differ from the first frame's", path, start + 1)
            names = getters[1](tok)
            if names.count(species) != len(names):
                raise InputError(f"{where}: the atoms of species {species!r} changed order or "
                                 "identity; write frames in a fixed atom order", path, start)
            vals = getters[2](tok)
            try:
                coords = np.array(vals, dtype=np.float64).reshape(-1, 3)
                ok = np.isfinite(coords).all()
            except ValueError:
                ok = False
            if not ok:
                j = _first_bad_number(vals)
                raise InputError(f"{where}: position {vals[j]!r} is not a finite number", path,
                                 start + 2 + int(getters[3][j]) // ncols)
            t = _info_number(info, "time_ps", float, where, path, start + 1)
            step = _info_number(info, "step", int, where, path, start + 1)
            yield _Frame(cell, np.zeros(3), coords, "cart", None, t, step, start, index)
            index += 1


def _getter(idx):
    idx = [int(i) for i in idx]
    if len(idx) == 1:
        return lambda tok: (tok[idx[0]],)
    return itemgetter(*idx)


def _first_bad_number(vals):
    for j, v in enumerate(vals):
        try:
            if np.isfinite(float(v)):
                continue
        except ValueError:
            pass
        return j
    return 0


def _iter_lammps(path, species, state):
    dump = LammpsDump(path)
    state["notes"] = dump.notes
    state["n_frames"] = dump.n_frames
    yield from dump.frames(species)
    state.update(indices=dump.ids, composition=dump.composition, n_atoms=dump.n_atoms)


# ----------------------------------------------------------------------------------- unwrap
class Unwrapper:
    """Unwrapped Cartesian positions (Å, the file's frame of reference) of successive frames:
    image flags when the frame has them; unwrapped columns (xu, xsu) as they are; otherwise
    minimum-image steps in fractional coordinates from the previous frame (valid when no atom
    moves more than half a box length between frames). `method` names what was used and
    `max_jump` = (largest fractional minimum-image step, frame) for the warning."""

    def __init__(self, path=""):
        self.path = path
        self.method = None
        self.max_jump = (0.0, 0)
        self._cell = self._inv = None
        self._prev_frac = self._unwrapped = None
        self._n = 0

    def __call__(self, fr) -> np.ndarray:
        if self._cell is None or (fr.cell is not self._cell and not np.array_equal(fr.cell, self._cell)):
            if abs(np.linalg.det(fr.cell)) < 1e-9:
                raise InputError(f"frame {fr.index}: the cell is singular (zero volume)", self.path,
                                 fr.line)
            self._inv = np.linalg.inv(fr.cell)
            self._cell = fr.cell
        n = self._n
        self._n += 1
        if fr.kind == "cart_unwrapped":
            self.method = "unwrapped columns xu yu zu"
            return fr.coords
        if fr.kind == "frac_unwrapped":
            self.method = "unwrapped scaled columns xsu ysu zsu"
            return fr.coords @ fr.cell + fr.origin
        frac = (fr.coords - fr.origin) @ self._inv if fr.kind == "cart" else fr.coords
        if fr.images is not None:
            self.method = "image flags ix iy iz"
            return (frac + fr.images) @ fr.cell + fr.origin
        if self._prev_frac is None:
            self._unwrapped = frac.copy()
        else:
            d = frac - self._prev_frac
            d -= np.rint(d)
            jump = float(np.abs(d).max()) if d.size else 0.0
            if jump > self.max_jump[0]:
                self.max_jump = (jump, n)
            self._unwrapped += d
        self._prev_frac = frac
        self.method = "minimum image frame to frame in fractional coordinates"
        return self._unwrapped @ fr.cell + fr.origin


# ----------------------------------------------------------------------------------- reader
def read_species_trajectory(path, species, *, frame_interval_fs=None, every=1, fmt=None,
                            max_half_box_fraction=0.35) -> SpeciesTrajectory:
    """Read the unwrapped positions of `species` (element, or LAMMPS type number) from `path`, or
    from several files read in order as one trajectory (a list: the segments of one run, which
    must continue each other, see mtpflow.io.trajectory_chain).

    Times: `time_ps` of extxyz frames when present (must increase in equal steps); otherwise
    `frame_interval_fs` (the time between stored frames) is required. `every` keeps every k-th
    frame. A truncated last frame (of the last file) is skipped, and LAMMPS frames a restarted run
    wrote again are dropped, each with a TrajectoryWarning; any other bad input raises InputError.
    """
    from mtpflow.io.trajectory_chain import Chain

    paths = [str(p) for p in path] if isinstance(path, (list, tuple)) else [str(path)]
    if not paths:
        raise InputError("no trajectory file given")
    for p in paths:
        if not os.path.exists(p):
            raise InputError("trajectory file not found", p)
    species = str(species).strip()
    if every < 1:
        raise InputError(f"--every must be >= 1, got {every}")
    if frame_interval_fs is not None and not (np.isfinite(frame_interval_fs) and frame_interval_fs > 0):
        raise InputError(f"--frame-interval-fs must be a finite time > 0 fs, got {frame_interval_fs}")
    formats = [fmt or detect_format(p) for p in paths]
    if len(set(formats)) > 1:
        k = formats.index(next(f for f in formats if f != formats[0]))
        raise InputError(f"is {formats[k]} but {paths[0]} is {formats[0]}; give segments of one "
                         "format", paths[k])
    it = {"extxyz": _iter_extxyz, "lammps-dump": _iter_lammps}.get(formats[0])
    if it is None:
        raise InputError(f"unknown trajectory format {formats[0]!r} (extxyz or lammps-dump)", paths[0])
    where = paths[0] if len(paths) == 1 else f"{paths[0]} .. {paths[-1]} ({len(paths)} files)"
    chain = Chain(paths)
    buf = None
    n_read = n_kept = 0
    times, steps, volumes = [], [], []
    cell0 = None
    unwrap = Unwrapper(paths[0])
    max_cell_change = (0.0, 0)
    first_state: dict = {}
    for fi, p in enumerate(paths):
        state: dict = {}
        unwrap.path = p
        chain.start_file(p)
        for fr in it(p, species, state):
            chain.frame(fr)
            cart = unwrap(fr)
            if cell0 is None:
                cell0 = fr.cell.copy()
            else:
                change = float(np.abs(fr.cell - cell0).max() / np.abs(cell0).max())
                if change > max_cell_change[0]:
                    max_cell_change = (change, n_read)
            if n_read % every == 0:
                if buf is None:
                    est = _estimate_total(paths, state) // every + 2
                    buf = np.empty((est, cart.shape[0], 3))
                if n_kept == buf.shape[0]:
                    buf = np.concatenate([buf, np.empty((buf.shape[0] // 2 + 2,) + buf.shape[1:])])
                buf[n_kept] = cart
                times.append(fr.time_ps)
                steps.append(fr.step)
                volumes.append(abs(np.linalg.det(fr.cell)))
                n_kept += 1
            n_read += 1
        for note in state.get("notes", []):
            warnings.warn(f"{p}: {note}", TrajectoryWarning, stacklevel=2)
        if "truncated" in state:
            if fi < len(paths) - 1:
                raise InputError(f"{state['truncated'].replace('; skipped it', '')}: only the last "
                                 "of several segments may end in a cut frame (a run killed while "
                                 "writing it); repair this one", p)
            warnings.warn(f"{p}: {state['truncated']}", TrajectoryWarning, stacklevel=2)
        chain.end_file(state)
        first_state = first_state or state
    if n_kept < 2:
        raise InputError(f"needs at least 2 frames after --every {every}; found {n_kept} "
                         f"(of {n_read} in the file{'s' if len(paths) > 1 else ''})", where)
    max_jump = unwrap.max_jump
    if max_jump[0] > max_half_box_fraction:
        warnings.warn(f"{where}: an ion of {species} moved {max_jump[0]:.2f} box lengths between "
                      f"frames {max_jump[1] - 1} and {max_jump[1]}; minimum-image unwrapping may be "
                      "wrong: write unwrapped positions or image flags, or store frames more often",
                      TrajectoryWarning, stacklevel=2)
    cell_changed = max_cell_change[0] > 1e-6
    if cell_changed:
        warnings.warn(f"{where}: the cell changes between frames (largest relative change "
                      f"{max_cell_change[0]:.2g} at frame {max_cell_change[1]}); the analysis "
                      "assumes NVT: positions are unwrapped in each frame's cell and the volume "
                      "used for the conductivity is the mean", TrajectoryWarning, stacklevel=2)
    times_ps, dt_ps = _frame_times(where, times, steps, frame_interval_fs, every)
    return SpeciesTrajectory(
        positions=buf[:n_kept], times_ps=times_ps, dt_ps=dt_ps, cell=cell0, species=species,
        volume_A3=float(np.mean(volumes)), indices=first_state.get("indices"),
        composition=first_state.get("composition", {}), n_atoms=first_state.get("n_atoms", 0),
        n_frames_read=n_read, every=every, path=where, format=formats[0],
        unwrap_method=unwrap.method, cell_changed=cell_changed)


def _estimate_total(paths, state) -> int:
    """Frames in all files, estimated at the first frame of the first: its frame count (dumps) or
    size / the first frame's size (extxyz), scaled by the files' total size."""
    first = state["n_frames"] if "n_frames" in state else _estimate_frames(paths[0], state)
    if len(paths) == 1:
        return first
    if any(p.endswith(".gz") for p in paths):
        return first * len(paths)
    size0 = max(1, os.path.getsize(paths[0]))
    return int(first * sum(os.path.getsize(p) for p in paths) / size0 * 1.02) + 2


def _estimate_frames(path, state):
    if path.endswith(".gz"):
        return 1024
    # frames are near-constant in size: preallocate for the whole file, grow if it was short
    return int(os.path.getsize(path) / max(1, state.get("frame_chars", 1)) * 1.02) + 2


def _frame_times(path, times, steps, frame_interval_fs, every):
    have = [t is not None for t in times]
    if any(have):
        if not all(have):
            k = have.index(False)
            raise InputError(f"stored frame {k * every} has no time_ps while others do; write "
                             "time_ps in every frame or in none", path)
        t = np.array(times, dtype=float)
        source = "time_ps"
    else:
        if frame_interval_fs is None:
            raise InputError("the trajectory carries no times (no time_ps info key): give "
                             "--frame-interval-fs, the time between stored frames in fs", path)
        if frame_interval_fs <= 0:
            raise InputError(f"--frame-interval-fs must be > 0, got {frame_interval_fs}")
        t = np.arange(len(times)) * float(frame_interval_fs) * every / 1000.0
        source = "--frame-interval-fs"
        if all(s is not None for s in steps):
            _check_spacing(path, np.array(steps, dtype=float), "step")
    dt = _check_spacing(path, t, source)
    if source == "time_ps" and frame_interval_fs is not None:
        if abs(dt * 1000.0 / every - frame_interval_fs) > 1e-3 * frame_interval_fs:
            warnings.warn(f"{path}: --frame-interval-fs {frame_interval_fs} differs from the "
                          f"file's time_ps spacing ({dt * 1000.0 / every:g} fs); using the file's",
                          TrajectoryWarning, stacklevel=3)
    return t, dt


def _check_spacing(path, t, what):
    d = np.diff(t)
    bad = np.nonzero(d <= 0)[0]
    if bad.size:
        k = int(bad[0])
        raise InputError(f"{what} is not increasing: stored frame {k + 1} has {t[k + 1]:g} after "
                         f"{t[k]:g} (duplicate or restarted segment?); remove the overlap", path)
    dt = float(f"{(t[-1] - t[0]) / (t.size - 1):.12g}")  # mean spacing, without float noise
    off = np.nonzero(np.abs(d - dt) > 1e-3 * dt + 1e-9)[0]
    if off.size:
        k = int(off[0])
        raise InputError(f"{what} is not equally spaced: step {d[k]:g} between stored frames {k} "
                         f"and {k + 1}, typical {dt:g}; the analysis needs equally spaced frames",
                         path)
    return dt
