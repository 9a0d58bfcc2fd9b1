"""AIMD / single-point results -> training configurations, for both routes in one format.

Inputs: VASP run directories, vasprun.xml or OUTCAR files (io.vasp), or extended-XYZ trajectories
written by `mtpflow aimd` (the embedded engine). Energy: the free energy TOTEN (what VASP's forces
are the derivative of; for CHGNet energy = free energy). Types follow the species list, mapped by
element name, never by the position of an atom in the file.

Features written on each configuration: EFS_by (VASP or the engine label), mtpflow_species,
mtpflow_frame (<run>:<ionic step>, for block splits), volume_factor where known.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtpflow.errors import InputError


@dataclass
class Run:
    source: str  # short unique name used in mtpflow_frame
    path: Path
    frames: list
    efs_by: str
    features: dict = field(default_factory=dict)  # extra features for every frame


def load_run(path, species: Sequence[str], warn: Callable[[str], None]) -> Run:
    from mtpflow.io.structure import detect_format, read_frames
    from mtpflow.io.vasp import read_run_metadata, read_vasp_run

    path = Path(path)
    if not path.exists():
        raise InputError("no such file or directory", path)
    if path.is_dir() or detect_format(path) in ("vasprun", "outcar"):
        run = read_vasp_run(path)
        if run.warning():
            warn(run.warning())
        run_dir = path if path.is_dir() else path.parent
        name = path.name if path.is_dir() else (
            run_dir.name if path.name in ("vasprun.xml", "OUTCAR") else path.stem)
        meta = read_run_metadata(run_dir) or {}
        feats = {}
        if "volume_factor" in meta:
            feats["volume_factor"] = f"{float(meta['volume_factor']):g}"
        if "mtpflow_frame" in meta:
            feats["mtpflow_frame"] = str(meta["mtpflow_frame"])
        for k, atoms in enumerate(run.frames):
            atoms.info.setdefault("step", atoms.info.get("vasp_step", k))
        return Run(_clean(name), path, run.frames, "VASP", feats)
    if detect_format(path) != "extxyz":
        raise InputError("collect reads VASP run directories, vasprun.xml, OUTCAR or an extxyz "
                         "trajectory from `mtpflow aimd`", path)
    frames = read_frames(path, species)
    labels = set()
    for k, atoms in enumerate(frames):
        res = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
        if "forces" not in res or ("energy" not in res and "free_energy" not in res):
            raise InputError(f"frame {k} has no energy or forces; collect needs evaluated frames "
                             f"(as `mtpflow aimd` writes them)", path)
        labels.add(str(atoms.info.get("feature_EFS_by", "unknown")))
    if len(labels) > 1:
        raise InputError(f"the trajectory mixes engines ({', '.join(sorted(labels))})", path)
    return Run(_clean(path.stem), path, frames, labels.pop())


def _clean(name: str) -> str:
    """A feature-safe run name (no blanks, no ':')."""
    return "_".join(name.split()).replace(":", "_") or "run"


def select(run: Run, skip_ps: float = 0.0, every: int = 1) -> list:
    if every < 1:
        raise InputError("--every must be ≥ 1")
    if skip_ps < 0:
        raise InputError("--skip-ps must be ≥ 0 (ps)")
    frames = run.frames
    if skip_ps > 0:
        times = [a.info.get("time_fs") for a in frames]
        if any(t is None for t in times):
            raise InputError("--skip-ps needs MD times, but this run has none (not an IBRION=0 MD "
                             "run or an `mtpflow aimd` trajectory); use --skip-ps 0", run.path)
        frames = [a for a, t in zip(frames, times) if float(t) >= skip_ps * 1000.0 - 1e-9]
    return frames[::every]


def to_configs(runs_frames: Sequence[tuple[Run, list]], species: Sequence[str]) -> list:
    """Configurations with features; refuses NaN and elements outside `species`."""
    from mtpflow.io.ase_bridge import from_atoms

    species_text = ",".join(species)
    labels = {r.efs_by for r, _ in runs_frames}
    if len(labels) > 1:
        raise InputError(f"the inputs come from different reference engines ({', '.join(sorted(labels))}); "
                         f"collect each engine's runs into its own file")
    configs = []
    for run, frames in runs_frames:
        for k, atoms in enumerate(frames):
            try:
                c = from_atoms(atoms, species)
            except InputError as exc:
                raise InputError(str(exc), run.path) from None
            if c.energy is None or c.forces is None:
                raise InputError(f"frame {k} has no energy or forces", run.path)
            vals = [np.array([c.energy]), c.forces, c.positions]
            if c.plus_stress is not None:
                vals.append(c.plus_stress)
            if not all(np.all(np.isfinite(v)) for v in vals):
                raise InputError(f"frame {k} contains NaN/inf", run.path)
            feats = {"EFS_by": run.efs_by, "mtpflow_species": species_text,
                     "mtpflow_frame": f"{run.source}:{int(atoms.info.get('step', k))}"}
            for key, value in atoms.info.items():
                if key.startswith("feature_") and key[8:] not in ("EFS_by",):
                    feats[key[8:]] = str(value)
            feats.update(run.features)
            c.features = list(feats.items())
            configs.append(c)
    return configs


def species_in_order(runs: Sequence[Run]) -> list[str]:
    """The elements the runs name: their union, in order of first appearance (runs in the order
    given, frames in file order, atoms in file order)."""
    seen: dict[str, None] = {}
    for run in runs:
        for atoms in run.frames:
            for symbol in atoms.get_chemical_symbols():
                seen.setdefault(symbol, None)
    return list(seen)


def unique_sources(runs: list[Run]) -> None:
    seen: dict[str, int] = {}
    for run in runs:
        if run.source in seen:
            seen[run.source] += 1
            run.source = f"{run.source}-{seen[run.source]}"
        else:
            seen[run.source] = 0
