"""Extrapolation control options of `mtpflow md` and `mtpflow lammps-deck` (MLIP-3's
`extrapolation_control`): parsing, the MD hook (mtpflow.md.extrapolation) and the deck settings."""

from __future__ import annotations

from mtpflow.errors import EXIT_EXTRAPOLATION, InputError
from mtpflow.md.extrapolation import BREAK_DEFAULT, SAVE_DEFAULT

EXIT_HELP = (f"Exit status: 0 done; 2 bad input; {EXIT_EXTRAPOLATION} stopped by extrapolation "
             "control (a grade above --grade-break: the trajectory, thermo and --extrapolative up to "
             "that step are complete, the checkpoint is written); 143 stopped by SIGTERM.")
_NAMES = ("grade_train", "grade_save", "grade_break", "extrapolative", "grade_every", "grade_mode",
          "grade_status")


def add_options(p, deck: bool = False) -> None:
    g = p.add_argument_group(
        "extrapolation control (MLIP-3's extrapolation_control)",
        "Grade the configuration against TRAIN's active set (as mtpflow calc-grade) "
        + ("through MLIP-3's LAMMPS interface (pair_style mlip only; the potential copy carries the "
           "active set as MLIP-3's #MVS_v1.1 block; MLIP-3 grades every force call and stops LAMMPS "
           "with an error above --grade-break; --extrapolative is relative to OUTDIR, and an MPI "
           "build of MLIP appends the rank to its name)" if deck else
           "every --grade-every steps; above --grade-save it is appended to --extrapolative (Feature "
           "MV_grade, md_step, time_ps; AtomData nbh_grades in nbh mode), above --grade-break MD stops"))
    g.add_argument("--grade-train", metavar="TRAIN.cfg",
                   help="training set of the potential: turns extrapolation control on (its active "
                        "set is cached as for calc-grade)")
    g.add_argument("--grade-save", type=float, default=None,
                   help=f"save configurations grading above this (dimensionless; default {SAVE_DEFAULT:g}, "
                        "MLIP-3's threshold_save)")
    g.add_argument("--grade-break", type=float, default=None,
                   help=f"stop above this grade (dimensionless; default {BREAK_DEFAULT:g}, MLIP-3's "
                        "threshold_break)")
    g.add_argument("--extrapolative", metavar="OUT.cfg",
                   help="where the saved configurations go (.cfg; required with --grade-train)")
    g.add_argument("--grade-every", type=int, default=None,
                   help="steps between gradings (count; default 1)" +
                        ("; the deck accepts only 1" if deck else ""))
    g.add_argument("--grade-mode", choices=("nbh", "cfg"), default=None,
                   help="nbh: per-neighbourhood grades, a configuration's is their maximum (default); "
                        "cfg: one grade per configuration (periodic cells near the training set can "
                        "grade in the thousands)")
    if not deck:
        g.add_argument("--grade-status", metavar="STATUS.json",
                       help="write how the run ended as JSON (stopped_by_extrapolation, step, grade, "
                            "blew_up, blow_up, max_grade, n_graded, n_saved, steps_run, "
                            "total_steps) and exit with status 0 also when stopped by extrapolation "
                            f"(instead of {EXIT_EXTRAPOLATION}) or by the blow-up protection "
                            "(instead of 2; the outputs up to the last step written are complete): "
                            "for active-learning exploration, where leaving the potential's domain "
                            "is the outcome sought, recorded in this file")


def wanted(args) -> bool:
    """True when --grade-train is given; InputError when other grade options come without it."""
    given = [n for n in _NAMES if getattr(args, n, None) is not None]
    if args.grade_train is None:
        if given:
            raise InputError(f"--{given[0].replace('_', '-')} needs --grade-train TRAIN.cfg (the "
                             "training set whose active set grades the configurations)")
        return False
    if args.extrapolative is None:
        raise InputError("--grade-train needs --extrapolative OUT.cfg (where configurations grading "
                         "above --grade-save are saved)")
    return True


def _values(args):
    save = SAVE_DEFAULT if args.grade_save is None else args.grade_save
    brk = BREAK_DEFAULT if args.grade_break is None else args.grade_break
    every = 1 if args.grade_every is None else args.grade_every
    mode = args.grade_mode or "nbh"
    if not (save >= 1.0):
        raise InputError(f"--grade-save must be >= 1 (a grade <= 1 is interpolation), got {save:g}")
    if not (brk > save):
        raise InputError(f"--grade-break ({brk:g}) must be larger than --grade-save ({save:g})")
    if every < 1:
        raise InputError(f"--grade-every must be a positive number of steps, got {every}")
    return save, brk, every, mode


def _active(args, pot, tables, log):
    from mtpflow.commands.grade import active_set_for

    save, brk, every, mode = _values(args)
    active, _ = active_set_for(pot, tables, args.grade_train, mode, log=log)
    return active, save, brk, every


def md_control(args, pot, species, calc, timestep_fs, log):
    """The GradeControl for `mtpflow md`, or None without --grade-train."""
    if not wanted(args):
        return None
    from mtpflow.io.atomic import check_writable
    from mtpflow.md.extrapolation import GradeControl

    check_writable(args.extrapolative)
    active, save, brk, every = _active(args, pot, calc._tables, log)
    return GradeControl(pot, active, args.extrapolative, save=save, brk=brk, every=every,
                        species=species, tables=calc._tables, timestep_fs=timestep_fs)


def write_status(path, control, step: int, total_steps: int, steps_run: int,
                 blow_up: str | None = None) -> None:
    """The --grade-status JSON: how the run ended (see add_options)."""
    from mtpflow.io.json_files import write_json

    broke = control.broke
    write_json(path, {
        "stopped_by_extrapolation": broke is not None, "step": int(step),
        "grade": None if broke is None else broke[1], "blew_up": blow_up is not None,
        "blow_up": blow_up, "grade_save": control.save,
        "grade_break": control.brk, "max_grade": control.max_grade, "n_graded": control.n_graded,
        "n_saved": control.n_saved, "extrapolative": str(control.output.path),
        "steps_run": int(steps_run), "total_steps": int(total_steps)})


def extrapolation_message(control, files) -> str:
    step, grade = control.broke
    return (f"stopped by extrapolation at step {step}: grade {grade:.3f} > --grade-break "
            f"{control.brk:g} ({control.n_saved} configuration(s) grading above --grade-save "
            f"{control.save:g} saved to {control.output.path}, this step's included); the outputs up to "
            f"step {step} are complete: {', '.join(str(f) for f in files)}; exit status "
            f"{EXIT_EXTRAPOLATION}")


def deck_settings(args, pot, tables, pair_style: str, override, log):
    """(pair_style key=value settings, ActiveSet) for the deck, or ([], None) without
    --grade-train. Refused for pair_style mtp and with --grade-every other than 1. The
    --extrapolative name goes into the deck as given (relative to the folder LAMMPS runs in)."""
    if not wanted(args):
        return [], None
    if override:
        raise InputError("extrapolation control (--grade-train) is written for pair_style mlip; it "
                         "cannot go with --pair-style-override")
    if pair_style != "mlip":
        raise InputError("extrapolation control (--grade-train ...) needs --pair-style mlip (MLIP-3's "
                         "LAMMPS interface, settings extrapolation_control:...): pair_style mtp "
                         "(LAMMPS ML-MTP) has no extrapolation control; use --pair-style mlip, or "
                         "mtpflow md with the same options")
    if args.grade_every not in (None, 1):
        raise InputError(f"--grade-every {args.grade_every}: MLIP-3's LAMMPS interface grades every "
                         "force call and has no setting for fewer; leave --grade-every out (1) for "
                         "the deck, or use mtpflow md")
    if any(ch.isspace() for ch in args.extrapolative):
        raise InputError(f"--extrapolative {args.extrapolative!r}: the file name goes into the "
                         "pair_style command and must not contain whitespace")
    active, save, brk, _ = _active(args, pot, tables, log)
    return ["extrapolation_control=true", f"extrapolation_control:threshold_save={save:g}",
            f"extrapolation_control:threshold_break={brk:g}",
            f"extrapolation_control:save_extrapolative_to={args.extrapolative}",
            "extrapolation_control:add_grade_feature=true"], active
