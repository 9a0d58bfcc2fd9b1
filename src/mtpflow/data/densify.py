"""Multi-density configurations: melt frames isotropically scaled to volume factors of the crystal
volume (default 0.5, 1.0, 1.5 x V_crystal, i.e. 2.0, 1.0, 0.67 x d_crystal, as the guidebook's
LiAlCl4 DFT set), then single points with a reference engine.

V_crystal of a frame = mass(frame's atoms) / d_crystal, so a factor means the same density for any
composition and does not depend on the density the frame happened to have.

Each output configuration carries MLIP Feature lines used downstream:
``EFS_by`` (engine label), ``mtpflow_species`` (element of each type), ``volume_factor``,
``mtpflow_frame`` (<source>:<ordinal of the frame in its source>, for block splits).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from mtpflow.data.crystal import volume_for_density
from mtpflow.errors import InputError


def parse_factors(text: str, where: str = "--volume-factors") -> list[float]:
    try:
        factors = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise InputError(f"{where}: cannot read {text!r}; give numbers like 0.5,1.0,1.5") from exc
    if not factors:
        raise InputError(f"{where} is empty; give numbers like 0.5,1.0,1.5")
    for f in factors:
        if not (0.2 <= f <= 5.0 and math.isfinite(f)):
            raise InputError(f"{where}: factor {f} is outside 0.2-5 (volume / crystal volume)")
    if len(set(factors)) != len(factors):
        raise InputError(f"{where}: a factor is listed twice in {text!r}")
    return factors


def scaled_copy(atoms, target_volume_a3: float):
    """Cell and positions scaled isotropically to `target_volume_a3`; no results attached."""
    out = atoms.copy()
    out.calc = None
    scale = (target_volume_a3 / atoms.cell.volume) ** (1.0 / 3.0)
    out.set_cell(atoms.cell[:] * scale, scale_atoms=True)
    return out


def crystal_volume(atoms, reference_density_g_cm3: float) -> float:
    return volume_for_density(float(atoms.get_masses().sum()), reference_density_g_cm3)


def _periodic_frames(frames: Sequence, source: str, every: int, need: str):
    """(index, atoms, frame id) of every k-th frame, each checked to be periodic; the frame id is the
    frame's own mtpflow_frame feature, else <source>:<step or ordinal>."""
    if every < 1:
        raise InputError("--every must be ≥ 1")
    source = "_".join(str(source).split()).replace(":", "_")
    for index in range(0, len(frames), every):
        atoms = frames[index]
        if not atoms.pbc.all():
            raise InputError(f"frame {index} of {source} has no periodic cell; {need}")
        step = int(atoms.info.get("step", index))
        yield index, atoms, atoms.info.get("feature_mtpflow_frame", f"{source}:{step}")


def _labels(volume_factor: float, reference_density_g_cm3: float, frame_id: str, spec: str) -> dict:
    return {"volume_factor": volume_factor, "density_g_cm3": reference_density_g_cm3 / volume_factor,
            "feature_volume_factor": format(volume_factor, spec), "feature_mtpflow_frame": frame_id}


def multi_density(frames: Sequence, factors: Sequence[float], reference_density_g_cm3: float,
                  source: str, every: int = 1) -> list:
    """Scaled copies (ase.Atoms, without results): frame-major (every factor of frame 0, then of
    frame 1, ...); info holds volume_factor, density_g_cm3 and the frame id features."""
    out = []
    for _, atoms, frame_id in _periodic_frames(frames, source, every,
                                               "densify needs periodic melt configurations"):
        v_cryst = crystal_volume(atoms, reference_density_g_cm3)
        for f in factors:
            scaled = scaled_copy(atoms, f * v_cryst)
            scaled.info = _labels(f, reference_density_g_cm3, frame_id, "g")
            out.append(scaled)
    return out


def as_is(frames: Sequence, reference_density_g_cm3: float, source: str, every: int = 1) -> list:
    """Copies of the frames at their own volume (no scaling), with the same info keys as
    multi_density: volume_factor = V / V_crystal of each, density_g_cm3 and the frame id (the
    frame's own mtpflow_frame feature, else <source>:<step or ordinal>). For single points of
    configurations chosen elsewhere, e.g. the ones active learning selected."""
    out = []
    for _, atoms, frame_id in _periodic_frames(frames, source, every,
                                               "single points of periodic configurations only"):
        f = float(atoms.cell.volume / crystal_volume(atoms, reference_density_g_cm3))
        copy = atoms.copy()
        copy.calc = None
        copy.info = _labels(f, reference_density_g_cm3, frame_id, ".6g")
        out.append(copy)
    return out


def evaluate(structures: Sequence, engine, log: Callable[[str], None] | None = None) -> list:
    """Single points with an embedded engine; results attached, EFS_by feature set."""
    log = log or (lambda _m: None)
    out = []
    for k, atoms in enumerate(structures):
        res = engine.evaluate(atoms)
        res.info = dict(atoms.info)
        res.info["feature_EFS_by"] = engine.label
        out.append(res)
        if (k + 1) % max(1, len(structures) // 10) == 0:
            log(f"single point {k + 1}/{len(structures)}: E/atom = "
                f"{res.get_potential_energy() / len(res):.3f} eV, "
                f"max |F| = {np.sqrt((res.get_forces() ** 2).sum(axis=1)).max():.2f} eV/Å")
    return out


def vasp_dir_name(atoms, index: int) -> str:
    frame = str(atoms.info.get("feature_mtpflow_frame", index)).replace(":", "_").replace("/", "_")
    return f"{frame}_v{atoms.info['volume_factor']:.3f}"
