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

import gzip
import os
import re
import warnings
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from mtpflow.errors import InputError


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


def _open(path):
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt")
    return open(path, "r")


def detect_format(path) -> str:
    with _open(path) as fh:
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


def _parse_comment(comment, path, line):
    info = {}
    for m in _KV.finditer(comment):
        info[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(2)
    lat = info.get("Lattice")
    if lat is None:
        raise InputError("extxyz frame has no Lattice=\"...\"; the analysis needs the periodic "
                         "cell (write frames with ase.io.write(..., format='extxyz'))", path, line)
    try:
        cell = np.array(lat.split(), dtype=float).reshape(3, 3)
    except ValueError:
        raise InputError(f"Lattice must hold 9 numbers, got {lat!r}", path, line) from None
    props = info.get("Properties", "species:S:1:pos:R:3").split(":")
    cols, col = {}, 0
    for k in range(0, len(props) - 2, 3):
        cols[props[k]] = col
        col += int(props[k + 2])
    if "pos" not in cols or "species" not in cols:
        raise InputError("extxyz Properties must contain species and pos", path, line)
    return info, cell, cols["species"], cols["pos"], col


def _iter_extxyz(path, species, state):
    line_no = 0
    sel = None
    with _open(path) as fh:
        while True:
            header = fh.readline()
            if not header:
                return
            line_no += 1
            if not header.strip():
                continue
            start = line_no
            try:
                natoms = int(header)
            except ValueError:
                raise InputError(f"expected the number of atoms, got {header.strip()[:40]!r}",
                                 path, start) from None
            comment = fh.readline()
            lines = list(islice(fh, natoms))
            line_no += 1 + len(lines)
            complete = bool(comment) and len(lines) == natoms
            info, cell, sp_col, pos_col, ncols = (None,) * 5
            if complete:
                info, cell, sp_col, pos_col, ncols = _parse_comment(comment, path, start + 1)
                complete = len(lines[-1].split()) >= ncols
            if not complete:
                state["truncated"] = (f"last frame (line {start}) is truncated: {len(lines)} of "
                                      f"{natoms} atom lines; skipped it")
                return
            if sel is None:
                state["frame_chars"] = len(header) + len(comment) + sum(map(len, lines))
                symbols = [ln.split()[sp_col] for ln in lines]
                labels, counts = np.unique(symbols, return_counts=True)
                state["composition"] = {str(a): int(b) for a, b in zip(labels, counts)}
                sel = [i for i, s in enumerate(symbols) if s == species]
                if not sel:
                    raise InputError(f"species {species!r} not in the first frame; present: "
                                     f"{', '.join(state['composition'])} (use --species with one "
                                     "of these)", path, start)
                state["indices"] = np.array(sel)
                state["n_atoms"] = natoms
            elif natoms != state["n_atoms"]:
                raise InputError(f"frame has {natoms} atoms, the first frame {state['n_atoms']}; "
                                 "the analysis needs a fixed set of atoms", path, start)
            rows = np.array(" ".join([lines[i] for i in sel]).split()).reshape(len(sel), -1)
            if not (rows[:, sp_col] == species).all():
                raise InputError(f"the atoms of species {species!r} changed order or identity; "
                                 "write frames in a fixed atom order", path, start)
            t = info.get("time_ps")
            step = info.get("step")
            yield _Frame(cell, np.zeros(3), rows[:, pos_col:pos_col + 3].astype(float), "cart",
                         None, None if t is None else float(t),
                         None if step is None else int(float(step)), start)


# ----------------------------------------------------------------------------- LAMMPS dump
def _lammps_box(lines, header, path, line):
    b = np.array(" ".join(lines).split(), dtype=float).reshape(3, -1)
    if "abc" in header:
        raise InputError("general triclinic 'BOX BOUNDS abc origin' dumps are not supported; "
                         "write restricted triclinic (xy xz yz)", path, line)
    xy = xz = yz = 0.0
    if b.shape[1] == 3:
        xy, xz, yz = b[0, 2], b[1, 2], b[2, 2]
    xlo = b[0, 0] - min(0.0, xy, xz, xy + xz)
    xhi = b[0, 1] - max(0.0, xy, xz, xy + xz)
    ylo = b[1, 0] - min(0.0, yz)
    yhi = b[1, 1] - max(0.0, yz)
    cell = np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, b[2, 1] - b[2, 0]]])
    return cell, np.array([xlo, ylo, b[2, 0]])


def _iter_lammps(path, species, state):
    line_no = 0
    sel_ids = None
    prev_ids = None
    with _open(path) as fh:
        while True:
            item = fh.readline()
            if not item:
                return
            line_no += 1
            if not item.strip():
                continue
            start = line_no
            head = list(islice(fh, 8))
            line_no += len(head)
            if len(head) < 8:
                state["truncated"] = f"last frame (line {start}) has an incomplete header; skipped it"
                return
            if not item.startswith("ITEM: TIMESTEP") or not head[1].startswith("ITEM: NUMBER"):
                raise InputError("expected 'ITEM: TIMESTEP' then 'ITEM: NUMBER OF ATOMS'", path,
                                 start)
            step = int(head[0])
            natoms = int(head[2])
            cell, origin = _lammps_box(head[4:7], head[3], path, start + 4)
            columns = head[7].split()[2:]
            lines = list(islice(fh, natoms))
            line_no += len(lines)
            if len(lines) < natoms or len(lines[-1].split()) < len(columns):
                state["truncated"] = (f"last frame (line {start}, step {step}) is truncated: "
                                      f"{len(lines)} of {natoms} atom lines; skipped it")
                return
            col = {c: k for k, c in enumerate(columns)}
            rows = np.array(" ".join(lines).split()).reshape(natoms, -1)
            if "id" not in col:
                raise InputError("LAMMPS dump needs an 'id' column", path, start + 8)
            ids = rows[:, col["id"]].astype(np.int64)
            if sel_ids is None:
                label_col = col.get("element", col.get("type"))
                if label_col is None:
                    raise InputError("LAMMPS dump needs a 'type' or 'element' column", path,
                                     start + 8)
                labels = rows[:, label_col]
                if "element" in col and species.isdigit() and "type" in col:
                    labels = rows[:, col["type"]]
                u, counts = np.unique(labels, return_counts=True)
                state["composition"] = {str(a): int(b) for a, b in zip(u, counts)}
                mask = labels == species
                if not mask.any():
                    kind = "element" if "element" in col and not species.isdigit() else "type"
                    raise InputError(f"species {species!r} not in the first frame; {kind}s "
                                     f"present: {', '.join(state['composition'])} (--species takes "
                                     "an element when the dump has an element column, otherwise "
                                     "a type number)", path, start)
                sel_ids = np.sort(ids[mask])
                state["frame_chars"] = len(item) + sum(map(len, head)) + sum(map(len, lines))
                state["indices"] = sel_ids
                state["n_atoms"] = natoms
                state["label_col"] = col["type"] if species.isdigit() else label_col
            if prev_ids is None or not np.array_equal(ids, prev_ids):
                lookup = np.full(ids.max() + 1, -1, dtype=np.int64)
                lookup[ids] = np.arange(natoms)
                if sel_ids.max() >= lookup.size or (lookup[sel_ids] < 0).any():
                    raise InputError("atoms of the selected species are missing from this frame",
                                     path, start)
                sel_rows = lookup[sel_ids]
                prev_ids = ids
            r = rows[sel_rows]
            if not (r[:, state["label_col"]] == species).all():
                raise InputError(f"an atom id changed species (not {species!r} any more)", path,
                                 start)
            images = None
            if all(c in col for c in ("ix", "iy", "iz")):
                images = r[:, [col["ix"], col["iy"], col["iz"]]].astype(float)
            for names, kind in ((("xu", "yu", "zu"), "cart_unwrapped"),
                                (("xsu", "ysu", "zsu"), "frac_unwrapped"),
                                (("x", "y", "z"), "cart"), (("xs", "ys", "zs"), "frac")):
                if all(c in col for c in names):
                    coords = r[:, [col[c] for c in names]].astype(float)
                    break
            else:
                raise InputError("LAMMPS dump needs position columns x y z, xu yu zu, xs ys zs "
                                 "or xsu ysu zsu", path, start + 8)
            yield _Frame(cell, origin, coords, kind, images, None, step, start)


# ----------------------------------------------------------------------------------- reader
def read_species_trajectory(path, species, *, frame_interval_fs=None, every=1, fmt=None,
                            max_half_box_fraction=0.35) -> SpeciesTrajectory:
    """Read the unwrapped positions of `species` (element, or LAMMPS type number) from `path`.

    Times: `time_ps` of extxyz frames when present (must increase in equal steps); otherwise
    `frame_interval_fs` (the time between stored frames) is required. `every` keeps every k-th
    frame. A truncated last frame is skipped with a TrajectoryWarning; bad input raises InputError.
    """
    path = str(path)
    if not os.path.exists(path):
        raise InputError("trajectory file not found", path)
    species = str(species).strip()
    if every < 1:
        raise InputError(f"--every must be >= 1, got {every}")
    fmt = fmt or detect_format(path)
    it = {"extxyz": _iter_extxyz, "lammps-dump": _iter_lammps}.get(fmt)
    if it is None:
        raise InputError(f"unknown trajectory format {fmt!r} (extxyz or lammps-dump)", path)
    state: dict = {}
    buf = None
    n_read = n_kept = 0
    times, steps, volumes = [], [], []
    cell0 = inv = cell_prev = None
    prev_frac = unwrapped = None
    method = None
    max_jump = (0.0, 0)
    max_cell_change = (0.0, 0)
    for fr in it(path, species, state):
        if fr.cell is not cell_prev and (cell_prev is None or not np.array_equal(fr.cell, cell_prev)):
            det = np.linalg.det(fr.cell)
            if abs(det) < 1e-9:
                raise InputError("cell is singular (zero volume)", path, fr.line)
            inv = np.linalg.inv(fr.cell)
            cell_prev = fr.cell
        if cell0 is None:
            cell0 = fr.cell.copy()
        else:
            change = float(np.abs(fr.cell - cell0).max() / np.abs(cell0).max())
            if change > max_cell_change[0]:
                max_cell_change = (change, n_read)
        if fr.kind == "cart":
            frac = (fr.coords - fr.origin) @ inv
        elif fr.kind == "frac" or fr.kind == "frac_unwrapped":
            frac = fr.coords
        else:
            frac = None
        if fr.kind == "cart_unwrapped":
            cart = fr.coords
            method = "unwrapped columns xu yu zu"
        elif fr.kind == "frac_unwrapped":
            cart = frac @ fr.cell
            method = "unwrapped scaled columns xsu ysu zsu"
        elif fr.images is not None:
            cart = (frac + fr.images) @ fr.cell
            method = "image flags ix iy iz"
        else:
            if prev_frac is None:
                unwrapped = frac.copy()
            else:
                d = frac - prev_frac
                d -= np.rint(d)
                jump = float(np.abs(d).max())
                if jump > max_jump[0]:
                    max_jump = (jump, n_read)
                unwrapped += d
            prev_frac = frac
            cart = unwrapped @ fr.cell
            method = "minimum image frame to frame in fractional coordinates"
        if n_read % every == 0:
            if buf is None:
                est = _estimate_frames(path, fr, state) // every + 2
                buf = np.empty((est, cart.shape[0], 3))
            if n_kept == buf.shape[0]:
                buf = np.concatenate([buf, np.empty((buf.shape[0] // 2 + 2,) + buf.shape[1:])])
            buf[n_kept] = cart
            times.append(fr.time_ps)
            steps.append(fr.step)
            volumes.append(abs(np.linalg.det(fr.cell)))
            n_kept += 1
        n_read += 1
    if "truncated" in state:
        warnings.warn(f"{path}: {state['truncated']}", TrajectoryWarning, stacklevel=2)
    if n_kept < 2:
        raise InputError(f"needs at least 2 frames after --every {every}; found {n_kept} "
                         f"(of {n_read} in the file)", path)
    if max_jump[0] > max_half_box_fraction:
        warnings.warn(f"{path}: an ion of {species} moved {max_jump[0]:.2f} box lengths between "
                      f"frames {max_jump[1] - 1} and {max_jump[1]}; minimum-image unwrapping may be "
                      "wrong: write unwrapped positions or image flags, or store frames more often",
                      TrajectoryWarning, stacklevel=2)
    cell_changed = max_cell_change[0] > 1e-6
    if cell_changed:
        warnings.warn(f"{path}: the cell changes between frames (largest relative change "
                      f"{max_cell_change[0]:.2g} at frame {max_cell_change[1]}); the analysis "
                      "assumes NVT: positions are unwrapped in each frame's cell and the volume "
                      "used for the conductivity is the mean", TrajectoryWarning, stacklevel=2)
    times_ps, dt_ps = _frame_times(path, times, steps, frame_interval_fs, every)
    return SpeciesTrajectory(
        positions=buf[:n_kept], times_ps=times_ps, dt_ps=dt_ps, cell=cell0, species=species,
        volume_A3=float(np.mean(volumes)), indices=state.get("indices"),
        composition=state.get("composition", {}), n_atoms=state.get("n_atoms", 0),
        n_frames_read=n_read, every=every, path=path, format=fmt, unwrap_method=method,
        cell_changed=cell_changed)


def _estimate_frames(path, frame, state):
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
