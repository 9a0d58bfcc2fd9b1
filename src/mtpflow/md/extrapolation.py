"""Extrapolation control in MD, as MLIP-3's LAMMPS interface does it (`extrapolation_control`):
every K steps the current configuration is graded against the training set's active set
(mtpflow.mtp.grade); one grading above `save` (threshold_save, 2.0) is appended to the
extrapolative .cfg (with Feature MV_grade, nbh_grades in nbh mode, and md_step / time_ps), and one
above `brk` (threshold_break, 11.0) stops the run for good (the runner's StepHook with final=True:
the outputs up to that step are complete; `mtpflow md` exits with errors.EXIT_EXTRAPOLATION).

    control = GradeControl(pot, active, "extrapolative.cfg", save=2.0, brk=11.0, every=10,
                           species=["Li", "Cl", "Al"])
    run_protocol(..., hooks=[control.hook()])
    control.n_saved, control.max_grade, control.broke   # broke: (step, grade) or None
"""

from __future__ import annotations

import numpy as np

from mtpflow.errors import InputError
from mtpflow.io.cfg import format_cfg
from mtpflow.io.md_files import ResumableOutput
from mtpflow.md.runner import StepHook
from mtpflow.mtp.grade import ActiveSet, Grader, with_grade
from mtpflow.structures import Configuration

SAVE_DEFAULT = 2.0   # MLIP-3's threshold_save
BREAK_DEFAULT = 11.0  # MLIP-3's threshold_break


class GradeControl:
    """Grades the MD configuration every `every` steps; see the module doc."""

    def __init__(self, pot, active: ActiveSet, out_path, *, save: float = SAVE_DEFAULT,
                 brk: float = BREAK_DEFAULT, every: int = 1, species=None, tables=None,
                 timestep_fs: float | None = None):
        if not (save >= 1.0):
            raise InputError(f"--grade-save must be >= 1 (a grade <= 1 is interpolation), got {save}")
        if not (brk > save):
            raise InputError(f"--grade-break ({brk}) must be larger than --grade-save ({save})")
        if not (isinstance(every, int) and every >= 1):
            raise InputError(f"--grade-every must be a positive number of steps, got {every}")
        self.grader = Grader(pot, active, tables)
        self.output = ResumableOutput(out_path)
        self.save, self.brk, self.every = float(save), float(brk), every
        self.species = list(species) if species is not None else None
        self.timestep_fs = timestep_fs
        self._types = None
        self.n_graded = 0
        self.n_reused = 0  # gradings that re-used the force call's neighbour list
        self.n_saved = 0
        self.max_grade = 0.0
        self.broke: tuple[int, float] | None = None

    def hook(self) -> StepHook:
        return StepHook(self.every, self.check, output=self.output, final=True)

    def _type_indices(self, atoms) -> np.ndarray:
        if self._types is None or len(self._types) != len(atoms):
            symbols = atoms.get_chemical_symbols()
            if self.species is None:
                self._types = np.asarray(atoms.numbers, dtype=np.int64)
            else:
                index = {s: k for k, s in enumerate(self.species)}
                missing = sorted(set(symbols) - set(index))
                if missing:
                    raise InputError(f"element(s) {','.join(missing)} are not among the potential's "
                                     f"species {','.join(self.species)}")
                self._types = np.array([index[s] for s in symbols], dtype=np.int64)
        return self._types

    def check(self, step: int, atoms) -> str | None:
        cfg = Configuration(positions=np.array(atoms.positions), types=self._type_indices(atoms),
                            cell=np.array(atoms.cell[:]))
        # the force call of this step built the neighbour list for these positions already
        reuse = getattr(atoms.calc, "neighbor_list_for", None)
        nl = reuse(cfg.positions, cfg.cell, self.grader.tables.rmax) if reuse is not None else None
        self.n_reused += nl is not None
        grade, nbh = self.grader.grade(cfg, nl=nl)
        self.n_graded += 1
        self.max_grade = max(self.max_grade, grade)
        if grade > self.save:
            cfg.features = [("md_step", str(int(step)))]
            if self.timestep_fs is not None:
                cfg.features.append(("time_ps", repr(step * self.timestep_fs * 1e-3)))
            self.output.write(format_cfg(with_grade(cfg, grade, nbh)))
            self.n_saved += 1
        if grade > self.brk:
            self.broke = (int(step), grade)
            return f"extrapolation (grade {grade:.3f} > --grade-break {self.brk:g})"
        return None
