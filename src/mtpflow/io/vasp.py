"""VASP outputs: vasprun.xml and OUTCAR readers that survive killed runs.

Each ionic step becomes an ase.Atoms with a SinglePointCalculator, in ASE's conventions so that
ASE's own readers and these agree value for value:

- ``free_energy`` = the free energy TOTEN (vasprun ``e_fr_energy``). This is the energy the forces
  are the derivative of (Mermin free energy), so it is the one mtpflow trains on
  (``mtpflow.io.ase_bridge.from_atoms`` takes ``free_energy``).
- ``energy`` = energy(sigma->0) (``e_0_energy``), kept for reference only.
- ``forces`` in eV/Å; ``stress`` in ASE's Voigt order (xx yy zz yz xz xy) and sign, eV/Å³:
  VASP prints kBar with positive = compressive pressure, so sigma_ASE = -0.1 GPa * stress_kB.
  MLIP's PlusStress (virial, eV) is then -sigma_ASE * V = stress_kB * V / 1602.1766.
- atom order is VASP's; elements are kept per atom (never inferred from position in the file).

A run cut by a time limit (truncated XML, OUTCAR without a final TOTEN) yields its completed ionic
steps; ``VaspRun.n_incomplete`` and ``VaspRun.warning()`` report what was dropped.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import units

from mtpflow.errors import InputError

KBAR_TO_EV_A3 = 1e3 * units.bar  # 1 kBar = 1000 bar, in ASE's eV/Å³


@dataclass
class VaspRun:
    """The completed ionic steps of one VASP run."""

    path: Path
    frames: list = field(default_factory=list)  # ase.Atoms with SinglePointCalculator
    timestep_fs: float | None = None  # POTIM for MD runs (IBRION=0), else None
    ibrion: int | None = None
    n_incomplete: int = 0  # ionic steps started but not finished (killed run)
    truncated: bool = False
    n_without_forces: int = 0  # OUTCAR steps whose positions/forces were not printed (NWRITE=0)
    pstress_kbar: float = 0.0  # PSTRESS (kBar): removed from vasprun's enthalpy-like e_fr_energy

    def warning(self) -> str | None:
        parts = []
        if self.truncated or self.n_incomplete:
            parts.append(f"the run stops early (killed or still running): kept {len(self.frames)} "
                         f"completed ionic step(s), dropped {self.n_incomplete} incomplete one(s)")
        if self.n_without_forces:
            parts.append(f"{self.n_without_forces} ionic step(s) have no printed positions/forces "
                         f"(NWRITE=0?) and were skipped; read the vasprun.xml for every step")
        return f"{self.path}: " + "; ".join(parts) if parts else None


def stress_kbar_to_ase(stress_kbar_3x3) -> np.ndarray:
    """VASP stress tensor (kBar, positive = compressive) -> ASE Voigt stress (eV/Å³)."""
    s = -np.asarray(stress_kbar_3x3, dtype=np.float64).reshape(3, 3) * KBAR_TO_EV_A3
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def _frame(symbols, cell, positions, cartesian: bool, energy0, free_energy, forces, stress, info):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = Atoms(symbols=symbols, cell=cell, pbc=True)
    if cartesian:
        atoms.positions = positions
    else:
        atoms.set_scaled_positions(positions)
    results = {"energy": energy0, "free_energy": free_energy}
    if forces is not None:
        results["forces"] = forces
    if stress is not None:
        results["stress"] = stress
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info.update(info)
    return atoms


def _check_finite(path, step: int, **arrays) -> None:
    for name, value in arrays.items():
        if value is not None and not np.all(np.isfinite(value)):
            raise InputError(f"ionic step {step}: {name} contains NaN/inf or an unreadable number "
                             f"(VASP prints ***** on overflow); the run is not usable as training data",
                             path)


# ------------------------------------------------------------------------------------- vasprun.xml

def _varray(elem) -> np.ndarray:
    rows = []
    for v in elem.findall("v"):
        try:
            rows.append([float(x) for x in v.text.split()])
        except (ValueError, AttributeError):
            rows.append([math.nan] * 3)
    return np.array(rows, dtype=np.float64)


def _named(parent, tag: str, name: str):
    for child in parent.findall(tag):
        if child.get("name") == name:
            return child
    return None


def read_vasprun(path) -> VaspRun:
    """All completed ionic steps of a vasprun.xml (VASP 5 and 6), tolerating a truncated file."""
    path = Path(path)
    run = VaspRun(path=path)
    symbols: list[str] | None = None
    last_cell = None
    n_started = 0
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read the vasprun.xml ({exc.strerror})", path) from exc
    with fh:
        try:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                tag = elem.tag
                if event == "start":
                    if tag == "calculation":
                        n_started += 1
                    continue
                if tag == "atominfo":
                    symbols = _read_atominfo(elem, path)
                elif tag == "parameters" or tag == "incar":
                    for i in elem.iter("i"):
                        name = i.get("name")
                        if name == "POTIM" and run.timestep_fs is None:
                            run.timestep_fs = float(i.text)
                        elif name == "IBRION" and run.ibrion is None:
                            run.ibrion = int(i.text)
                        elif name == "PSTRESS" and tag == "parameters":
                            run.pstress_kbar = float(i.text)
                elif tag == "structure" and elem.get("name") == "initialpos":
                    basis = elem.find("crystal/varray[@name='basis']")
                    if basis is not None:
                        last_cell = _varray(basis)
                elif tag == "calculation":
                    if symbols is None:
                        raise InputError("no <atominfo> before the first ionic step; not a vasprun.xml",
                                         path)
                    frame = _read_calculation(elem, symbols, last_cell, path, len(run.frames), run)
                    if frame is not None:
                        last_cell = np.array(frame.cell[:])
                        run.frames.append(frame)
                    elem.clear()
        except ET.ParseError as exc:
            if symbols is None:
                raise InputError(f"not a readable vasprun.xml ({exc}); check the file or give the "
                                 f"run's OUTCAR instead", path) from exc
            line = exc.position[0]
            if line < _line_count(path):   # not where the file ends: damage, not a killed run
                what = str(exc).split(":")[0]
                raise InputError(f"the vasprun.xml is damaged in the middle ({what}), not cut at its "
                                 "end as a killed run leaves it; repair it or give the run's OUTCAR",
                                 path, line) from None
            run.truncated = True
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise InputError(f"malformed vasprun.xml near ionic step {len(run.frames)} "
                             f"({type(exc).__name__}: {exc}); repair it or give the run's OUTCAR",
                             path) from None
    run.n_incomplete = n_started - len(run.frames)
    if not run.frames:
        raise InputError(f"no completed ionic step in the vasprun.xml ({n_started} started); the run "
                         f"failed or was killed before its first step finished", path)
    if run.ibrion != 0:
        run.timestep_fs = None
    return run


def _line_count(path) -> int:
    """Lines in the file (the last one counted when it has no newline)."""
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def _read_atominfo(elem, path) -> list[str]:
    arr = _named(elem, "array", "atoms")
    if arr is None:
        raise InputError("<atominfo> has no atoms array", path)
    symbols = []
    rows = arr.find("set")
    for k, rc in enumerate(rows.findall("rc") if rows is not None else []):
        cs = rc.findall("c")
        if not cs or not (cs[0].text or "").strip():
            raise InputError(f"<atominfo>: atom {k + 1} has no element name", path)
        symbols.append(cs[0].text.strip())
    if not symbols:
        raise InputError("<atominfo> lists no atoms", path)
    from ase.data import atomic_numbers
    for s in set(symbols):
        if s not in atomic_numbers:
            raise InputError(f"unknown element {s!r} in <atominfo>", path)
    return symbols


def _read_calculation(elem, symbols, last_cell, path, step, run):
    struct = elem.find("structure")
    forces_el = _named(elem, "varray", "forces")
    stress_el = _named(elem, "varray", "stress")
    energy_el = elem.find("energy")  # direct child: the converged energies of this ionic step
    if struct is None or energy_el is None:
        return None  # an ionic step without its final data: treat as incomplete
    basis = struct.find("crystal/varray[@name='basis']")
    cell = _varray(basis) if basis is not None else last_cell
    positions = _varray(_named(struct, "varray", "positions"))
    energies = {}
    for i in energy_el.findall("i"):
        try:
            energies[i.get("name")] = float(i.text)
        except (TypeError, ValueError):
            energies[i.get("name")] = math.nan
    if "e_fr_energy" not in energies:
        return None
    # calculation/energy's e_fr_energy includes PSTRESS*V (an enthalpy): remove it. Its e_0_energy
    # is wrong in VASP 5 MD runs, so sigma->0 is taken as free + (e_0 - e_fr) of the last SCF step.
    free = energies["e_fr_energy"] - run.pstress_kbar * KBAR_TO_EV_A3 * abs(np.linalg.det(cell))
    e0 = free
    scf = elem.findall("scstep/energy")
    if scf:
        last = {i.get("name"): i.text for i in scf[-1].findall("i")}
        try:
            e0 = free + float(last["e_0_energy"]) - float(last["e_fr_energy"])
        except (KeyError, TypeError, ValueError):
            pass
    forces = _varray(forces_el) if forces_el is not None else None
    stress = stress_kbar_to_ase(_varray(stress_el)) if stress_el is not None else None
    if positions.shape != (len(symbols), 3) or (forces is not None and forces.shape != positions.shape):
        raise InputError(f"ionic step {step}: {len(positions)} positions for {len(symbols)} atoms", path)
    _check_finite(path, step, cell=cell, positions=positions, forces=forces, stress=stress,
                  energy=np.array([free]))
    info = {"vasp_step": step, "energy_sigma0": e0, "source": str(path)}
    if run.ibrion == 0 and run.timestep_fs:
        info["time_fs"] = step * run.timestep_fs
    return _frame(symbols, cell, positions, False, e0, free, forces, stress, info)


# ------------------------------------------------------------------------------------------ OUTCAR

_FLOAT = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"


def _floats(text: str) -> list[float]:
    # VASP glues numbers together (e.g. "-0.123-0.456") and prints ***** on overflow
    if "*" in text:
        return [math.nan]
    return [float(x) for x in re.findall(_FLOAT, text)]


def read_outcar(path) -> VaspRun:
    """All completed ionic steps of an OUTCAR (energy TOTEN, forces, stress, cell)."""
    path = Path(path)
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the OUTCAR ({exc.strerror})", path) from exc
    run = VaspRun(path=path)
    potcars: list[str] = []
    counts: list[int] | None = None
    cell = stress = positions = forces = None
    pending = False
    n_started = 0
    i = 0
    try:
        while i < len(lines):
            line = lines[i]
            if line.startswith(" POTCAR:"):
                potcars.append(line.split()[2] if len(line.split()) > 2 else "")
            elif "ions per type =" in line:
                counts = [int(x) for x in line.split("=")[1].split()]
            elif "POTIM" in line and "time-step" in line and run.timestep_fs is None:
                run.timestep_fs = _floats(line.split("=")[1])[0]
            elif line.strip().startswith("IBRION") and run.ibrion is None:
                run.ibrion = int(_floats(line.split("=")[1])[0])
            elif "direct lattice vectors" in line:
                if i + 4 >= len(lines):
                    break  # the file ends in or just after the lattice block: a killed run
                rows = [_floats(lines[i + k]) for k in (1, 2, 3)]
                if any(len(r) != 6 for r in rows):   # 3 direct + 3 reciprocal components
                    i += 1 + next(k for k, r in enumerate(rows) if len(r) != 6)
                    raise ValueError("a lattice vector line does not hold 6 numbers")
                cell = np.array([r[:3] for r in rows])
                i += 3
            elif line.startswith("  in kB"):
                vals = _floats(line[8:])
                if len(vals) != 6:
                    vals = [math.nan] * 6
                xx, yy, zz, xy, yz, zx = vals
                stress = stress_kbar_to_ase([[xx, xy, zx], [xy, yy, yz], [zx, yz, zz]])
                if not pending:
                    n_started += 1
                    pending = True
            elif line.startswith(" POSITION") and "TOTAL-FORCE" in line:
                if counts is None:
                    raise InputError("no 'ions per type' line before the forces; not a complete OUTCAR",
                                     path)
                n = sum(counts)
                block = lines[i + 2:i + 2 + n]
                if len(block) < n or any(not b.strip() or b.strip().startswith("---") for b in block):
                    break  # cut inside the force block
                data = np.array([(_floats(b) + [math.nan] * 6)[:6] for b in block])
                positions, forces = data[:, :3], data[:, 3:]
                if not pending:
                    n_started += 1
                    pending = True
                i += 2 + n
            elif "free  energy   TOTEN" in line:
                free = _floats(line.split("=")[1])[0]
                e0 = free
                if i + 2 < len(lines) and "energy(sigma->0)" in lines[i + 2]:
                    e0 = _floats(lines[i + 2].split("energy(sigma->0) =")[1])[0]
                if positions is not None and pending:
                    symbols = _outcar_symbols(potcars, counts, path)
                    step = len(run.frames)
                    _check_finite(path, step, cell=cell, positions=positions, forces=forces,
                                  stress=stress, energy=np.array([free]))
                    info = {"vasp_step": step, "energy_sigma0": e0, "source": str(path)}
                    if run.ibrion == 0 and run.timestep_fs:
                        info["time_fs"] = step * run.timestep_fs
                    run.frames.append(_frame(symbols, cell, positions, True, e0, free, forces.copy(),
                                             None if stress is None else stress.copy(), info))
                    pending = False
                    positions = forces = None
                elif pending:
                    run.n_without_forces += 1
                    pending = False
            i += 1
    except (ValueError, IndexError, TypeError) as exc:
        raise InputError(f"cannot read this OUTCAR line ({type(exc).__name__}: {exc}); the file is "
                         "damaged or not an OUTCAR", path, i + 1) from None
    run.n_incomplete = n_started - len(run.frames) - run.n_without_forces
    run.truncated = run.n_incomplete > 0
    if not run.frames:
        raise InputError("no completed ionic step (no forces followed by 'free energy TOTEN') in "
                         "the OUTCAR; the run failed early or this is not an OUTCAR", path)
    if run.ibrion != 0:
        run.timestep_fs = None
    return run


def _outcar_symbols(potcars, counts, path) -> list[str]:
    ntypes = len(counts)
    if len(potcars) < ntypes:
        raise InputError(f"{len(potcars)} POTCAR lines for {ntypes} species; cannot name the atoms",
                         path)
    from ase.data import atomic_numbers
    elements = []
    for label in potcars[:ntypes]:
        m = re.match(r"[A-Z][a-z]?", label)
        if not m or m.group(0) not in atomic_numbers:
            raise InputError(f"cannot read an element from the POTCAR label {label!r}", path)
        elements.append(m.group(0))
    return [el for el, c in zip(elements, counts) for _ in range(c)]


def read_vasp_run(path) -> VaspRun:
    """A vasprun.xml, an OUTCAR, or a run directory (vasprun.xml preferred; OUTCAR where the
    vasprun.xml is missing or truncated and the OUTCAR holds more completed steps)."""
    path = Path(path)
    if path.is_dir():
        xml, outcar = path / "vasprun.xml", path / "OUTCAR"
        if not xml.exists() and not outcar.exists():
            raise InputError("the VASP directory has no vasprun.xml or OUTCAR: has the job run? "
                             "Run VASP there first (or remove it from the inputs)", path)
        if not xml.exists():
            return read_outcar(outcar)
        try:
            run = read_vasprun(xml)
        except InputError:
            if not outcar.exists():
                raise
            return read_outcar(outcar)
        if run.truncated and outcar.exists():
            try:
                alt = read_outcar(outcar)
            except InputError:
                return run
            if len(alt.frames) > len(run.frames):
                return alt
        return run
    if not path.exists():
        raise InputError("no such file or directory", path)
    name = path.name.lower()
    if name.endswith(".xml"):
        return read_vasprun(path)
    if "outcar" in name:
        return read_outcar(path)
    raise InputError("not a VASP output: give a vasprun.xml (*.xml), an OUTCAR, or a run directory",
                     path)


# ------------------------------------------------------------------------------- writing inputs

OUTPUT_NAMES = ("vasprun.xml", "OUTCAR", "OSZICAR")


def read_potcar_library(symbols, functional: str = "PBE") -> str:
    """The POTCAR text for `symbols` (e.g. Li_sv, Al, Cl) concatenated from the pseudopotential
    library that pymatgen's setting PMG_VASP_PSP_DIR points to (layout POT_GGA_PAW_PBE/<sym>/POTCAR
    or POT_GGA_PAW_PBE/POTCAR.<sym>, optionally .gz)."""
    import gzip
    import os

    psp_dir = os.environ.get("PMG_VASP_PSP_DIR")
    if not psp_dir:
        try:
            from pymatgen.core import SETTINGS
            psp_dir = SETTINGS.get("PMG_VASP_PSP_DIR")
        except ImportError:
            psp_dir = None
    if not psp_dir:
        raise InputError("no VASP pseudopotential library: set PMG_VASP_PSP_DIR (pymatgen's setting, "
                         "environment or ~/.config/.pmgrc.yaml) to the folder holding "
                         "POT_GGA_PAW_PBE/, or pass --potcar-spec to write POTCAR.spec for a dry run")
    try:
        from pymatgen.io.vasp.inputs import PotcarSingle
        subdir = PotcarSingle.functional_dir.get(functional)
    except ImportError:
        subdir = None
    subdir = subdir or {"PBE": "POT_GGA_PAW_PBE"}.get(functional)
    if not subdir:
        raise InputError(f"unknown POTCAR functional {functional!r}; use PBE, PBE_52 or PBE_54")
    base = Path(psp_dir) / subdir
    parts = []
    for sym in symbols:
        candidates = [base / sym / "POTCAR", base / f"POTCAR.{sym}"]
        candidates += [Path(str(c) + ".gz") for c in candidates]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise InputError(f"no POTCAR for {sym} under {base} (looked for {sym}/POTCAR and "
                             f"POTCAR.{sym}); check PMG_VASP_PSP_DIR or the POTCAR choice")
        raw = gzip.open(found, "rt").read() if found.suffix == ".gz" else found.read_text()
        if "End of Dataset" not in raw:
            raise InputError("not a complete POTCAR (no 'End of Dataset' line)", found)
        parts.append(raw if raw.endswith("\n") else raw + "\n")
    return "".join(parts)


def write_run_directory(outdir, files: dict[str, str], marker: str) -> Path:
    """Write the input files of one VASP run; each file atomically, `marker` (the metadata) last,
    so a directory with the marker is complete. Refuses a directory that already holds outputs."""
    from mtpflow.io.atomic import atomic_open, check_writable

    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError("exists and is not a directory; choose another --outdir", outdir)
    present = [n for n in OUTPUT_NAMES if (outdir / n).exists()]
    if present:
        raise InputError(f"already holds VASP outputs ({', '.join(present)}); refusing to overwrite "
                         f"a run: choose a fresh directory", outdir)
    check_writable(outdir / marker)
    (outdir / marker).unlink(missing_ok=True)
    for name in sorted(files, key=lambda n: n == marker):
        with atomic_open(outdir / name, "w") as fh:
            fh.write(files[name])
    return outdir


def read_run_metadata(run_dir) -> dict | None:
    """The mtpflow_vasp.json that `mtpflow vasp-inputs` / `densify --engine vasp` wrote, if any."""
    import json

    path = Path(run_dir) / "mtpflow_vasp.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable metadata ({exc}); delete it or rewrite the directory", path) \
            from exc
