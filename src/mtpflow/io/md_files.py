"""MD files: protocol YAML, trajectory (extxyz, unwrapped) and thermo CSV writers that can resume,
checkpoints, LAMMPS data files and the LAMMPS log (thermo) reader. LAMMPS dumps are read by
mtpflow.io.lammps_dump."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from ase import units

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open, check_writable

THERMO_COLUMNS = ("step", "time_ps", "temperature_K", "potential_energy_eV", "kinetic_energy_eV",
                  "total_energy_eV", "pressure_GPa", "volume_A3")
BAR_TO_GPA = units.bar / units.GPa


# -- protocol -------------------------------------------------------------------------------------
def read_protocol(path):
    """Read and validate a protocol YAML file (see mtpflow.md.protocol); errors name the key."""
    import yaml

    from mtpflow.md.protocol import protocol_from_dict

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read the protocol ({exc.strerror})", path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path,
                         None if line is None else line + 1) from None
    return protocol_from_dict(data, path)


# -- system identity ------------------------------------------------------------------------------
def system_fingerprint(numbers, masses=None) -> str:
    """Identifies a system by its atom count, order of elements and masses (not its positions)."""
    h = hashlib.sha256()
    h.update(np.asarray(numbers, dtype=np.int64).tobytes())
    if masses is not None:
        h.update(np.round(np.asarray(masses, dtype=np.float64), 6).tobytes())
    return f"{len(numbers)}-{h.hexdigest()[:16]}"


def file_digest(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


# -- trajectory and thermo: append, resume by truncation, rename when finished -------------------
class ResumableOutput:
    """A text output written to `<path>.part` while the run goes on and renamed to `path` by
    finish(), so an unfinished run never leaves a complete-looking file. `offset()` is recorded in
    checkpoints; resume(offset) truncates the .part file there and appends."""

    def __init__(self, path, header: str = ""):
        self.path = check_writable(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self.header = header
        self.fh = None

    def start(self):
        self.part.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.part, "w")
        self.fh.write(self.header)
        return self

    def resume(self, offset: int):
        if not self.part.exists():
            if self.path.exists():  # a finished run being extended: continue its file
                os.replace(self.path, self.part)
            else:
                raise InputError(f"cannot resume: neither {self.part.name} nor {self.path.name} exists "
                                 "(the checkpoint continues that file); start without --resume",
                                 self.part)
        size = self.part.stat().st_size
        if size < offset:
            raise InputError(f"cannot resume: the file is shorter ({size} bytes) than at the "
                             f"checkpoint ({offset} bytes); it was truncated or replaced", self.part)
        self.fh = open(self.part, "r+")
        self.fh.truncate(offset)
        self.fh.seek(offset)
        return self

    def can_resume(self, offset: int) -> bool:
        """Whether resume(offset) can continue this output: its .part file holds offset bytes."""
        return self.part.is_file() and self.part.stat().st_size >= offset

    def write(self, text: str):
        self.fh.write(text)

    def offset(self) -> int:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        return self.fh.tell()

    def close(self):
        if self.fh is not None:
            self.fh.flush()
            self.fh.close()
            self.fh = None

    def finish(self):
        self.close()
        os.replace(self.part, self.path)


def part_path(path) -> Path:
    """`<path>.part`: where an output (or a restartable job's checkpoint) is kept until it is done."""
    path = Path(path)
    return path.with_name(path.name + ".part")


def file_exists(path) -> bool:
    return Path(path).is_file()


def remove_file(path) -> None:
    """Remove `path` if it exists (a stale working file)."""
    Path(path).unlink(missing_ok=True)


def replace_file(src, dst) -> None:
    """Rename `src` over `dst` (atomic on one file system): a finished working file."""
    os.replace(src, dst)


def format_extxyz_frame(symbols, positions, cell, step: int, time_ps: float) -> str:
    """One extxyz frame: Lattice, pbc, species and (unwrapped) Cartesian positions in Å, with
    info keys step and time_ps. Positions are written with 10 decimals."""
    cell = np.asarray(cell, dtype=np.float64)
    lattice = " ".join(f"{x:.10f}" for x in cell.reshape(-1))
    head = (f'{len(symbols)}\nLattice="{lattice}" Properties=species:S:1:pos:R:3 '
            f'step={int(step)} time_ps={time_ps:.6f} pbc="T T T"\n')
    pos = np.asarray(positions, dtype=np.float64).tolist()
    return head + "".join([f"{s} {x:.10f} {y:.10f} {z:.10f}\n" for s, (x, y, z) in zip(symbols, pos)])


def write_extxyz_frame(path, symbols, positions, cell, step: int = 0, time_ps: float = 0.0) -> None:
    """One frame, written atomically (e.g. the last good frame before a blow-up)."""
    with atomic_open(path) as fh:
        fh.write(format_extxyz_frame(symbols, positions, cell, step, time_ps))


def thermo_header() -> str:
    return ",".join(THERMO_COLUMNS) + "\n"


def format_thermo_row(step, time_ps, temperature_K, epot, ekin, pressure_GPa, volume) -> str:
    return (f"{int(step)},{time_ps:.6f},{temperature_K:.4f},{epot:.8f},{ekin:.8f},"
            f"{epot + ekin:.8f},{pressure_GPa:.6f},{volume:.6f}\n")


# -- checkpoints ----------------------------------------------------------------------------------
def save_checkpoint(path, arrays: dict, meta: dict) -> None:
    """Arrays (positions, momenta, cell, thermostat state, ...) and JSON metadata (step, RNG state,
    fingerprints, output offsets) in one .npz, written atomically."""
    payload = {f"a_{k}": np.asarray(v) for k, v in arrays.items()}
    payload["meta_json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    with atomic_open(path, "wb") as fh:
        write_npz_reproducible(fh, payload)


def write_npz_reproducible(fh, arrays: dict) -> None:
    """np.savez's format (an uncompressed zip of .npy members, read by np.load) with a fixed member
    timestamp, so the same arrays give the same bytes whenever they are written (np.savez stamps
    each member with the current time)."""
    import io
    import zipfile

    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o600 << 16
            zf.writestr(info, buf.getvalue())


def load_checkpoint(path, fingerprint: str | None = None) -> tuple[dict, dict]:
    """(arrays, meta); with `fingerprint`, a checkpoint of another system is rejected. A missing,
    truncated or damaged file, or one whose arrays do not fit its system, is an InputError."""
    import zipfile
    import zlib

    from mtpflow.io.train_files import open_npz

    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found; give the file written by --checkpoint", path)
    try:
        with open_npz(path, "md --checkpoint") as z:
            if "meta_json" not in z.files:
                raise InputError("not an mtpflow MD checkpoint (no metadata); give the file written "
                                 "by md --checkpoint", path)
            meta = json.loads(bytes(z["meta_json"]).decode())
            arrays = {k[2:]: z[k].copy() for k in z.files if k.startswith("a_")}
    except InputError:
        raise
    except (OSError, EOFError, ValueError, KeyError, UnicodeDecodeError, zipfile.BadZipFile,
            zlib.error) as exc:
        raise InputError(f"cannot read the checkpoint: the file is damaged or truncated ({exc}); use "
                         "an intact checkpoint or start the run again", path) from None
    if not isinstance(meta, dict) or meta.get("format") != "mtpflow-md-checkpoint":
        raise InputError("not an mtpflow MD checkpoint", path)
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise InputError(f"the checkpoint belongs to another system (fingerprint {meta.get('fingerprint')}, "
                         f"this start structure: {fingerprint}); resume with the same start structure, "
                         "--replicate and --species", path)
    _check_md_arrays(arrays, meta, path)
    return arrays, meta


def _check_md_arrays(arrays: dict, meta: dict, path) -> None:
    """The metadata the runner reads is there, the per-atom arrays match the atom count in the
    fingerprint ("N-hash"), the cell is 3x3, and nothing is NaN or inf."""
    try:
        n_atoms = int(str(meta.get("fingerprint", "")).split("-")[0])
    except ValueError:
        n_atoms = None
    need = {"step": int, "stage_index": int, "stage_step": int, "traj_offset": int,
            "thermo_offset": int, "protocol_digest": str, "rng_state": dict}
    for key, kind in need.items():
        v = meta.get(key)
        if not isinstance(v, kind) or isinstance(v, bool) or (kind is int and v < 0):
            raise InputError(f"the checkpoint's metadata lacks a valid {key}; it is damaged: use an "
                             "intact checkpoint or start the run again", path)
    for key in ("positions", "momenta", "cell"):
        if key not in arrays:
            raise InputError(f"the checkpoint lacks {key}; it is damaged: use an intact checkpoint "
                             "or start the run again", path)
        a = arrays[key]
        if key == "cell":
            if a.shape != (3, 3):
                raise InputError(f"the checkpoint's cell has shape {a.shape}; it is damaged", path)
        elif a.ndim != 2 or a.shape[1] != 3 or (n_atoms is not None and a.shape[0] != n_atoms):
            raise InputError(f"the checkpoint's {key} have shape {a.shape} for {n_atoms} atoms; it is "
                             "damaged: use an intact checkpoint or start the run again", path)
    for key, a in arrays.items():
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise InputError(f"the checkpoint's {key} hold NaN or inf; use an earlier checkpoint or "
                             "start the run again", path)


# -- LAMMPS data file -----------------------------------------------------------------------------
def lammps_cell(cell) -> tuple[np.ndarray, np.ndarray]:
    """(LAMMPS cell rows: a along x, b in the xy plane, and the rotation R with r_lmp = r @ R)."""
    cell = np.asarray(cell, dtype=np.float64)
    a, b, c = cell
    ax = np.linalg.norm(a)
    ahat = a / ax
    bx = b @ ahat
    by = np.linalg.norm(np.cross(ahat, b))
    cx = c @ ahat
    cy = (b @ c - bx * cx) / by
    cz = np.sqrt(max(c @ c - cx * cx - cy * cy, 0.0))
    new = np.array([[ax, 0, 0], [bx, by, 0], [cx, cy, cz]])
    rot = np.linalg.solve(cell, new)  # cell @ rot = new
    return new, rot


def write_lammps_data(path, atoms, species, masses=None) -> None:
    """`atomic`-style data file: types 1..S in the order of `species` (MTP type + 1), Masses for
    every species, positions wrapped into the box with image flags (so xu/yu/zu are continuous)."""
    from ase.data import atomic_masses, atomic_numbers

    species = list(species)
    index = {s: k for k, s in enumerate(species)}
    symbols = atoms.get_chemical_symbols()
    missing = sorted(set(symbols) - set(index))
    if missing:
        raise InputError(f"element(s) {','.join(missing)} are not in the species list {','.join(species)}")
    if masses is None:
        masses = [float(atomic_masses[atomic_numbers[s]]) for s in species]
    new, rot = lammps_cell(atoms.cell[:])
    frac = np.linalg.solve(np.asarray(atoms.cell[:]).T, atoms.positions.T).T
    image = np.floor(frac).astype(np.int64)
    frac -= image
    pos = frac @ new
    lines = ["LAMMPS data file written by mtpflow (units metal, atom_style atomic)", "",
             f"{len(atoms)} atoms", f"{len(species)} atom types", "",
             f"0.0 {new[0, 0]:.12f} xlo xhi", f"0.0 {new[1, 1]:.12f} ylo yhi",
             f"0.0 {new[2, 2]:.12f} zlo zhi"]
    if abs(new[1, 0]) > 1e-12 or abs(new[2, 0]) > 1e-12 or abs(new[2, 1]) > 1e-12:
        lines.append(f"{new[1, 0]:.12f} {new[2, 0]:.12f} {new[2, 1]:.12f} xy xz yz")
    lines += ["", "Masses", ""]
    lines += [f"{k + 1} {m:.6f}  # {s}" for k, (s, m) in enumerate(zip(species, masses))]
    lines += ["", "Atoms # atomic", ""]
    for i, (s, p, im) in enumerate(zip(symbols, pos, image)):
        lines.append(f"{i + 1} {index[s] + 1} {p[0]:.12f} {p[1]:.12f} {p[2]:.12f} {im[0]} {im[1]} {im[2]}")
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")


# -- LAMMPS outputs -------------------------------------------------------------------------------
def _drop_rerun(rows_steps: list, first_step: int) -> int:
    """Index up to which earlier rows are kept when a (restarted) block starts at first_step."""
    k = len(rows_steps)
    while k and rows_steps[k - 1] >= first_step:
        k -= 1
    return k


class LammpsLogWarning(UserWarning):
    """Part of a LAMMPS log was skipped (a thermo row cut by a kill); the message says what."""


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def read_lammps_log(path) -> dict[str, np.ndarray]:
    """Thermo columns of a LAMMPS log (all runs; after a restart, re-run steps replace the earlier
    rows). Keys are LAMMPS's column names (Step, Time, Temp, PotEng, ...). WARNING lines inside a
    thermo block are skipped; a row with a wrong number of values or a non-number is an error naming
    its line, except the file's last line when a kill cut it (no newline: dropped with a warning)."""
    import warnings

    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines(keepends=True)
    except OSError as exc:
        raise InputError(f"cannot read the LAMMPS log ({exc.strerror})", path) from None
    columns: list[str] | None = None
    rows: list[list[float]] = []
    cols_seen: list[str] | None = None
    block_start = True
    for no, line in enumerate(lines, start=1):
        tok = line.split()
        if tok and tok[0] == "Step":
            columns, block_start = tok, True
            if cols_seen is not None and cols_seen != columns:
                raise InputError("thermo columns change between runs; use one thermo_style", path, no)
            cols_seen = columns
            continue
        if columns is None or not tok or tok[0].startswith("WARNING"):
            continue
        if not _is_number(tok[0]):          # "Loop time of ...", "ERROR: ...": the block ends
            columns = None
            continue
        vals = [float(t) if _is_number(t) else None for t in tok]
        if len(vals) != len(columns) or None in vals or not line.endswith("\n"):
            if no == len(lines) and not line.endswith("\n"):
                warnings.warn(f"{path}: the last line (line {no}) is a thermo row cut short (the "
                              "run was killed while writing it); skipped it", LammpsLogWarning,
                              stacklevel=2)
                break
            what = (f"{len(vals)} values for the {len(columns)} thermo columns"
                    if len(vals) != len(columns) else
                    f"a non-number {tok[vals.index(None)][:20]!r}")
            raise InputError(f"thermo row with {what} ({' '.join(columns)}); repair the log or cut "
                             "it there", path, no)
        if block_start:
            rows = rows[:_drop_rerun([r[0] for r in rows], vals[0])]
            block_start = False
        rows.append(vals)
    if cols_seen is None:
        raise InputError("no thermo output found (no 'Step ...' header); did LAMMPS run?", path)
    arr = np.array(rows, dtype=np.float64).reshape(-1, len(cols_seen))
    return {c: arr[:, k] for k, c in enumerate(cols_seen)}


def lammps_thermo_rows(log: dict[str, np.ndarray]) -> np.ndarray:
    """The mtpflow thermo columns (THERMO_COLUMNS) from a metal-units LAMMPS log read by
    read_lammps_log with thermo_style custom step time temp pe ke etotal press vol."""
    need = ["Step", "Time", "Temp", "PotEng", "KinEng", "TotEng", "Press", "Volume"]
    missing = [c for c in need if c not in log]
    if missing:
        raise InputError(f"the LAMMPS log lacks thermo column(s) {', '.join(missing)}; use "
                         "thermo_style custom step time temp pe ke etotal press vol")
    out = np.column_stack([log[c] for c in need])
    out[:, 6] *= BAR_TO_GPA
    return out
