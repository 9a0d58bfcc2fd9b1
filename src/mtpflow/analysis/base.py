"""What the analyses share: the check of their input trajectory, the results bag and the
conversion of lag times to frames.

Every analysis (MSD, VanHove, Alpha2, HopAnalysis, CascadeAnalysis) is constructed with a
`mtpflow.io.trajectory.SpeciesTrajectory` (the unwrapped positions of one species, already in
memory: the readers stream the file and keep only that species) and computes on the whole
(T, N, 3) array in `run()`, with vectorised numpy or numba kernels; there is no per-frame pass.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from mtpflow.errors import InputError


class Results(SimpleNamespace):
    """Attribute bag of an analysis' results (arrays and numbers, units in the names)."""


def trajectory_arrays(trajectory):
    """(positions as C-contiguous float64 (T, N, 3) Å, dt_ps) of a SpeciesTrajectory, checked."""
    pos = getattr(trajectory, "positions", None)
    if pos is None or not hasattr(trajectory, "dt_ps"):
        raise InputError("analyses take a SpeciesTrajectory (positions, dt_ps, cell); build "
                         "one with read_species_trajectory() or SpeciesTrajectory.from_arrays()")
    pos = np.asarray(pos)
    if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[0] < 2 or pos.shape[1] < 1:
        raise InputError(f"positions must be (frames >= 2, ions >= 1, 3); got {pos.shape}")
    if pos.dtype != np.float64 or not pos.flags.c_contiguous:
        pos = np.ascontiguousarray(pos, dtype=np.float64)
    if not np.isfinite(trajectory.dt_ps) or trajectory.dt_ps <= 0:
        raise InputError(f"the frame interval must be > 0 ps, got {trajectory.dt_ps}")
    return pos, float(trajectory.dt_ps)


def lag_frames(lags_ps, dt_ps, n_frames, *, name="lag"):
    """Lags in ps -> distinct frame counts in [1, T-1] (nearest frame). A lag longer than the
    trajectory or shorter than half a frame interval is an error naming it (never dropped or
    changed silently)."""
    lags = np.atleast_1d(np.asarray(lags_ps, dtype=float))
    if (lags <= 0).any() or not np.isfinite(lags).all():
        raise InputError(f"{name}s must be positive times in ps; got {list(lags)}")
    frames = np.rint(lags / dt_ps).astype(np.int64)
    span = (n_frames - 1) * dt_ps
    long = [float(x) for x in lags[frames > n_frames - 1]]
    if long:
        raise InputError(f"{'no' if len(long) == len(lags) else 'not every'} {name} fits in the "
                         f"trajectory ({n_frames} frames of {dt_ps:g} ps = {span:g} ps): {long} ps "
                         f"{'is' if len(long) == 1 else 'are'} longer; give {name}s up to {span:g} ps")
    short = [float(x) for x in lags[frames < 1]]
    if short:
        raise InputError(f"{name}s {short} ps are shorter than half the time between frames "
                         f"({dt_ps:g} ps); give {name}s of at least {dt_ps:g} ps")
    return np.unique(frames)
