"""AnalysisBase in the style of MDAnalysis: construct with a trajectory and parameters, call
`run()` (prepare -> per-frame -> conclude), read `results`.

The trajectory is a `mtpflow.io.trajectory.SpeciesTrajectory` (unwrapped positions of one species
already in memory, so the vectorised and numba analyses work on the whole (T, N, 3) array in
`_conclude`; `_single_frame` is called only by analyses that define it).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from mtpflow.errors import InputError


class Results(SimpleNamespace):
    """Attribute bag of an analysis' results (arrays and numbers, units in the names)."""

    def as_dict(self) -> dict:
        return dict(vars(self))


class AnalysisBase:
    def __init__(self, trajectory):
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
        self.trajectory = trajectory
        self.positions = pos
        self.dt_ps = float(trajectory.dt_ps)
        self.n_frames, self.n_ions = pos.shape[:2]
        self.results = Results()

    def _prepare(self):
        pass

    def _single_frame(self, frame: int):
        pass

    def _conclude(self):
        pass

    def run(self):
        self._prepare()
        if type(self)._single_frame is not AnalysisBase._single_frame:
            for frame in range(self.n_frames):
                self._single_frame(frame)
        self._conclude()
        return self

    def lag_frames(self, lags_ps, *, name="lag"):
        """Lags in ps -> distinct frame counts in [1, T-1] (nearest frame); errors when none fit."""
        lags = np.atleast_1d(np.asarray(lags_ps, dtype=float))
        if (lags <= 0).any() or not np.isfinite(lags).all():
            raise InputError(f"{name}s must be positive times in ps; got {list(lags)}")
        frames = np.unique(np.clip(np.rint(lags / self.dt_ps).astype(np.int64), 1, None))
        keep = frames[frames <= self.n_frames - 1]
        if keep.size == 0:
            raise InputError(f"no {name} fits in the trajectory ({self.n_frames} frames of "
                             f"{self.dt_ps:g} ps = {(self.n_frames - 1) * self.dt_ps:g} ps); "
                             f"asked for {list(lags)} ps")
        return keep
