"""`mtpflow md` (embedded MD with an MTP: melt/quench/production protocols, checkpoints, resume)
and `mtpflow lammps-deck` (the same protocol as a restartable LAMMPS input deck)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtpflow.errors import InputError


def _replicate(text: str | None):
    if not text:
        return None
    try:
        reps = tuple(int(x) for x in text.split(","))
    except ValueError:
        reps = ()
    if len(reps) != 3 or min(reps) < 1:
        raise InputError(f"--replicate {text!r}: give three positive integers, e.g. 3,3,3")
    return reps


def _add_common(p, verb: str) -> None:
    p.add_argument("potential", metavar="POT", help="trained MTP (.mtp or .almtp, MLIP format)")
    p.add_argument("start", metavar="START", nargs="?",
                   help="start structure (.extxyz, .cfg, POSCAR, LAMMPS data, ...; last frame used); "
                        "omit it with --random")
    p.add_argument("--random", metavar="FORMULA",
                   help="instead of START: a random configuration of this cell content (e.g. "
                        "Li16Al16Cl64) at --density-factor x the reference crystal density, seeded by "
                        "--seed, with build-initial's minimum pair distances")
    p.add_argument("--density-factor", type=float, default=None,
                   help="multiple of the reference crystal density (LiAlCl4, 1.974 g/cm³; "
                        "dimensionless): the density of the --random start (default 1.0), or, with "
                        "START, START's cell and positions scaled isotropically to it (default: "
                        "START as it is)")
    p.add_argument("--species", help="elements of MTP types 0, 1, ... comma-separated (e.g. Li,Cl,Al); "
                                     "default: the potential's species metadata")
    p.add_argument("--replicate", metavar="A,B,C",
                   help="repeat the start cell A x B x C times (counts; e.g. 3,3,3: 96 -> 2,592 ions)")
    p.add_argument("--protocol", help="protocol YAML (stages melt/quench/anneal/production; see "
                                      "mtpflow.md.protocol); or use the one-stage flags below")
    g = p.add_argument_group("one stage instead of --protocol")
    g.add_argument("--ensemble", choices=["nve", "nvt", "npt"], help="ensemble of the single stage")
    g.add_argument("--temperature-K", type=float,
                   help="thermostat temperature (K); for nve the initial velocities' temperature")
    g.add_argument("--steps", type=int, help="number of MD steps (count)")
    g.add_argument("--timestep-fs", type=float, default=1.0, help="time step (fs; default 1.0)")
    g.add_argument("--pressure-GPa", type=float, default=0.0, help="npt pressure (GPa; default 0)")
    o = p.add_argument_group("overrides of protocol keys")
    o.add_argument("--seed", type=int, help="random seed (integer) for velocities and stochastic thermostats")
    o.add_argument("--traj-every", type=int, help="steps between trajectory frames (count)")
    o.add_argument("--thermo-every", type=int, help="steps between thermo rows (count)")


def _protocol(args):
    """The protocol file, or the one stage of --ensemble/--temperature-K/--steps; then the
    overrides --seed, --traj-every, --thermo-every."""
    from mtpflow.io.md_files import read_protocol
    from mtpflow.md.protocol import single_stage_protocol

    single = [args.ensemble, args.temperature_K, args.steps]
    if args.protocol:
        if any(v is not None for v in single):
            raise InputError("give either --protocol or the one-stage flags (--ensemble, "
                             "--temperature-K, --steps), not both")
        proto = read_protocol(args.protocol)
    else:
        if args.ensemble is None or args.steps is None:
            raise InputError("give --protocol FILE, or --ensemble and --steps (and --temperature-K)")
        proto = single_stage_protocol(args.ensemble, args.temperature_K, args.steps,
                                      args.timestep_fs, pressure_GPa=args.pressure_GPa)
    for key in ("seed", "traj_every", "thermo_every"):
        v = getattr(args, key, None)
        if v is not None:
            if v < (0 if key == "seed" else 1):
                raise InputError(f"--{key.replace('_', '-')} {v}: must be {'>= 0' if key == 'seed' else 'positive'}")
            setattr(proto, key, v)
    return proto


def _start_atoms(args, species):
    """The start structure: the last frame of START, or a random one built by --random."""
    from mtpflow.io.structure import read_frames

    from mtpflow.data.crystal import reference_density

    if (args.start is None) == (args.random is None):
        raise InputError("give a START structure file or --random FORMULA (one of the two)")
    factor = args.density_factor
    if factor is not None and not (0 < factor < float("inf")):
        raise InputError(f"--density-factor must be a finite number > 0, got {factor}")
    if args.start is not None:
        atoms = read_frames(args.start, species, index=-1)[0]
        if factor is None:
            return atoms
        from mtpflow.data.densify import crystal_volume, scaled_copy

        if not atoms.pbc.all():
            raise InputError("--density-factor scales a periodic cell; the start structure has "
                             "none", args.start)
        d_ref, _desc = reference_density()
        return scaled_copy(atoms, crystal_volume(atoms, d_ref) / factor)
    from mtpflow.data.crystal import parse_formula
    from mtpflow.data.initial import random_structure

    counts = parse_formula(args.random, "--random")
    d_ref, _desc = reference_density()
    return random_structure(counts, (1.0 if factor is None else factor) * d_ref,
                            seed=args.seed or 0, order=species)


def _load(args):
    """(potential, species, start atoms) with species and elements checked."""
    from mtpflow.species import parse_species
    from mtpflow.io.mtp import read_mtp

    pot = read_mtp(args.potential)
    species = parse_species(args.species) if args.species else (list(pot.species) if pot.species else None)
    if not species:
        raise InputError("the potential names no elements; pass --species (element of MTP type "
                         "0, 1, ..., e.g. Li,Cl,Al)", args.potential)
    if len(species) != pot.species_count:
        raise InputError(f"--species names {len(species)} elements but the potential has "
                         f"species_count = {pot.species_count}", args.potential)
    atoms = _start_atoms(args, species)
    lacking = sorted(set(atoms.get_chemical_symbols()) - set(species))
    if lacking:
        raise InputError(f"the start structure has element(s) {','.join(lacking)} that the potential "
                         f"lacks (its species: {','.join(species)}); use a structure of these elements "
                         "or a potential trained on them", args.start)
    if not atoms.pbc.all():
        raise InputError("the start structure must be periodic in 3D (a cell is needed)", args.start)
    reps = _replicate(args.replicate)
    if reps:
        atoms.wrap()
        atoms = atoms.repeat(reps)
    atoms.calc = None
    _check_distinct(atoms, args.start)
    return pot, species, atoms


def _check_distinct(atoms, path) -> None:
    """Two atoms at one position is an error naming the start file (before any output exists)."""
    from mtpflow.mtp.neighbors import neighbor_list

    try:
        neighbor_list(atoms.positions, atoms.cell[:], 0.01)
    except InputError as exc:
        raise InputError(f"the start structure: {exc}", path) from None


def run_md(args) -> int:
    from mtpflow.errors import Stopped
    from mtpflow.sigterm import EXIT_STATUS, SigtermGuard

    with SigtermGuard() as sigterm:
        try:
            return _run_md(args, sigterm)
        except Stopped as exc:
            print(f"mtpflow md: {exc}", file=sys.stderr)
            return EXIT_STATUS


def _run_md(args, sigterm) -> int:
    from mtpflow.io.md_files import file_digest
    from mtpflow.md.runner import BlowUpError, StepHook, run_protocol

    pot, species, atoms = _load(args)
    if not pot.is_trained:
        raise InputError("the potential is untrained (no coefficients); train it first", args.potential)
    proto = _protocol(args)
    if args.checkpoint_every is not None:
        if args.checkpoint_every < 0:
            raise InputError("--checkpoint-every must be >= 0 (steps; 0: only at the end)")
        proto.checkpoint_every = args.checkpoint_every
    ckpt = args.checkpoint or args.resume
    if args.auto_resume and not args.checkpoint:
        raise InputError("--auto-resume needs --checkpoint FILE (the job keeps FILE.part while it "
                         "runs and a rerun of the same command continues from it)")
    if args.auto_resume and args.resume:
        raise InputError("give --resume or --auto-resume, not both (--auto-resume resumes from "
                         f"{args.checkpoint}.part by itself)")
    if args.stop_at_step is not None and args.stop_at_step < 0:
        raise InputError(f"--stop-at-step {args.stop_at_step}: give a global step >= 0")
    if proto.checkpoint_every and not ckpt:
        raise InputError("checkpoints are requested (--checkpoint-every or checkpoint_every in the "
                         "protocol) but no --checkpoint FILE is given")
    if args.threads is not None:
        if args.threads < 1:
            raise InputError("--threads must be >= 1")
        from mtpflow.mtp.evaluate import set_threads
        set_threads(args.threads)
    from mtpflow.mtp import MTPCalculator

    from mtpflow.commands import md_grade
    from mtpflow.errors import EXIT_EXTRAPOLATION, Stopped

    calc = MTPCalculator(pot, species=species)

    def log(msg):
        print(f"mtpflow md: {msg}", file=sys.stderr)

    control = md_grade.md_control(args, pot, species, calc, proto.timestep_fs, log)
    hooks = [StepHook(1, lambda step, atoms: sigterm.reason)] + ([control.hook()] if control else [])
    log(f"{len(atoms)} atoms, {proto.total_steps} steps of {proto.timestep_fs:g} fs "
        f"({proto.total_steps * proto.timestep_fs * 1e-6:.4g} ns)")
    outputs = [args.traj, args.thermo] + ([args.extrapolative] if control else [])
    if args.grade_status:
        from mtpflow.io.atomic import check_writable

        check_writable(args.grade_status)
    try:
        res = run_protocol(atoms, calc, proto, args.traj, args.thermo, checkpoint_path=ckpt,
                           resume_path=args.resume, continue_path=args.continue_from,
                           stop_at_step=args.stop_at_step, auto_resume=args.auto_resume,
                           min_dist_A=pot.min_dist,
                           potential_digest=file_digest(args.potential), log=log, hooks=hooks)
    except BlowUpError as exc:
        if not args.grade_status:
            raise
        # exploration: leaving the potential's domain this way is an outcome too; the outputs up
        # to the last step written are complete, as after a stop by extrapolation
        from mtpflow.io.md_files import ResumableOutput

        for path in outputs:
            ResumableOutput(path).finish()
        md_grade.write_status(args.grade_status, control, exc.step, proto.total_steps, exc.step,
                              blow_up=str(exc))
        log(f"{exc}; recorded in {args.grade_status}; exit status 0 (--grade-status)")
        return 0
    except Stopped:
        if control is None or control.broke is None:
            raise
        log(md_grade.extrapolation_message(control, outputs + ([ckpt] if ckpt else [])))
        if args.grade_status:
            step = control.broke[0]
            md_grade.write_status(args.grade_status, control, step, proto.total_steps, step)
            log(f"recorded in {args.grade_status}; exit status 0 (--grade-status)")
            return 0
        return EXIT_EXTRAPOLATION
    if control:
        log(f"extrapolation control: {control.n_graded} gradings in this run, max grade "
            f"{control.max_grade:.3f}, {control.n_saved} configuration(s) above {control.save:g} "
            f"saved to {args.extrapolative}")
        if args.grade_status:
            md_grade.write_status(args.grade_status, control, res.steps, proto.total_steps,
                                  res.steps_run)
            outputs.append(args.grade_status)
    print(f"mtpflow md: {res.steps_run} steps to step {res.steps} in {res.wall_s:.1f} s "
          f"({res.ns_per_day:.3f} ns/day); "
          f"final T = {res.final_temperature_K:.1f} K; wrote {', '.join(str(o) for o in outputs)}"
          + (f", {ckpt}" if ckpt else ""))
    return 0


def run_deck(args) -> int:
    from ase.data import atomic_masses, atomic_numbers

    from mtpflow.io.atomic import atomic_open
    from mtpflow.io.md_files import write_lammps_data
    from mtpflow.io.mtp import write_mtp
    from mtpflow.io.workdir import remove_files
    from mtpflow.md.deck import DEFAULT_PART, DeckFiles, make_deck

    from mtpflow.commands import md_grade

    pot, species, atoms = _load(args)
    if not pot.is_trained and not args.pair_style_override:
        raise InputError("the potential is untrained (no coefficients); train it first", args.potential)
    proto = _protocol(args)
    settings, active = [], None
    if md_grade.wanted(args):
        from mtpflow.mtp.evaluate import build_tables

        tables = build_tables(pot)
        settings, active = md_grade.deck_settings(
            args, pot, tables, args.pair_style, args.pair_style_override,
            log=lambda msg: print(f"mtpflow lammps-deck: {msg}"))
    if args.restart_every is not None and args.restart_every < 1:
        raise InputError("--restart-every must be a positive number of steps")
    out = Path(args.outdir)
    ext = Path(args.potential).suffix or ".mtp"
    files = DeckFiles(potential=f"potential{ext}")
    masses = [float(atomic_masses[atomic_numbers[s]]) for s in species]
    deck = make_deck(proto, species, masses, files, args.pair_style, args.pair_style_override,
                     args.restart_every, title=f"{len(atoms)} atoms, {','.join(species)}",
                     pair_settings=settings)
    # a new deck starts afresh: an earlier run's restart files, logs and dumps (of every part that
    # ran here: each left its stamp) belong to another setup
    parts = {DEFAULT_PART} | {p.name[:-len(".job")] for p in out.glob("*.job")} if out.is_dir() else set()
    removed = remove_files(out, [name for part in sorted(parts) for name in DeckFiles.part_files(part)])
    if removed:
        print(f"mtpflow lammps-deck: removed the earlier run's {', '.join(removed)} from {out}")
    write_lammps_data(out / files.data, atoms, species, masses)
    pot.species = species  # the deck's copy names its elements; MLIP-3's active set is kept as it is
    if active is not None:  # ... unless extrapolation control brings TRAIN's active set
        from mtpflow.io.active_set import write_potential_with_active_set

        write_potential_with_active_set(out / files.potential, pot, active)
    else:
        write_mtp(out / files.potential, pot,
                  warn=lambda msg: print(f"mtpflow lammps-deck: warning: {msg}", file=sys.stderr, flush=True))
    with atomic_open(out / files.deck) as fh:
        fh.write(deck)
    print(f"mtpflow lammps-deck: wrote {out / files.deck}, {out / files.data}, {out / files.potential} "
          f"({len(atoms)} atoms, {proto.total_steps} steps); run in {out}: srun <lmp> -in {files.deck}, "
          f"or mtpflow lammps-run {out} --command 'srun -n N <lmp>' ...")
    return 0


def run_lammps_run(args) -> int:
    import shlex

    from mtpflow.errors import ExternalProgramError
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.md_files import file_digest
    from mtpflow.io.workdir import claim_part, link_or_copy, run_program, text_after
    from mtpflow.md.deck import (COMPLETE_MARKER, DEFAULT_PART, REACHED_MARKER, DeckFiles,
                                 deck_total_steps)

    files = DeckFiles()
    work = Path(args.workdir)
    deck = work / files.deck
    if not deck.is_file():
        raise InputError(f"no {files.deck} here; write the deck first (mtpflow lammps-deck ... --outdir "
                         f"{work})", work)
    argv = shlex.split(args.command)
    if not argv:
        raise InputError("--command is empty; give how to start LAMMPS, e.g. 'mpiexec -n 2 lmp'")
    part = args.part or DEFAULT_PART
    if not all(c.isalnum() or c in "_-" for c in part):
        raise InputError(f"--part {part!r}: use letters, digits, '_' and '-' only (it names files "
                         "in the working folder)")
    segmented = args.stop_at_step is not None or args.continue_from is not None or args.part is not None
    total = deck_total_steps(deck.read_text(errors="replace"))
    if total is None and segmented:
        raise InputError("the deck has no 'variable stop index' line (written by an earlier "
                         "mtpflow): write it again with mtpflow lammps-deck", deck)
    stop = total if args.stop_at_step is None else args.stop_at_step
    if total is not None and not 0 <= stop <= total:
        raise InputError(f"--stop-at-step {stop}: the deck's protocol has steps 0 .. {total}")
    continue_from = None
    if args.continue_from is not None:
        continue_from = Path(args.continue_from).resolve()
        if not continue_from.is_file():
            raise InputError("the restart file to continue from does not exist; run the previous "
                             "part first", args.continue_from)
    outputs = [args.log, args.dump] + ([args.restart_out] if args.restart_out else [])
    for path in outputs:
        check_writable(path)
    # the part's files in the folder belong to this job only if its stamp says so; files of
    # another job (another deck, stop step or start) are removed and this job starts afresh
    job = {"deck": file_digest(deck), "stop_at_step": stop,
           "from": file_digest(continue_from) if continue_from else None}
    removed = claim_part(work, files.stamp(part), job, DeckFiles.part_files(part)[:-1])
    if removed:
        print(f"mtpflow lammps-run: removed {', '.join(removed)} of another job from {work}", flush=True)
    log = work / files.log(part)
    seen = log.stat().st_size if log.is_file() else 0
    print(f"running LAMMPS in {work.resolve()} ({'' if stop is None else f'part {part} up to step {stop}; '}"
          f"thermo: {files.log(part)} there)", flush=True)
    restart = "; rerun to continue from the newer restart file"
    variables = ["-var", "part", part, "-var", "stop", str(stop)] if total is not None else []
    if continue_from:
        variables += ["-var", "from", str(continue_from)]
    run_program(argv + ["-in", files.deck, "-log", "none", *variables], work, "LAMMPS", hint=restart)
    marker = REACHED_MARKER.format(stop) if total is not None else COMPLETE_MARKER
    if marker not in text_after(log, seen):
        where = "the end of the protocol" if stop is None else f"step {stop} of the protocol"
        raise ExternalProgramError(f"LAMMPS stopped before {where} (no '{marker}' in {log})"
                                   f"{restart}")
    link_or_copy(log, args.log)
    link_or_copy(work / files.dump(part), args.dump)
    if args.restart_out:
        link_or_copy(work / files.end_restart(part), args.restart_out)
    print(f"mtpflow lammps-run: {'protocol' if stop is None else f'part {part} up to step {stop}'} "
          f"complete; {', '.join(str(p) for p in outputs)}")
    return 0


def run_lammps_outputs(args) -> int:
    import argparse

    run_lammps_thermo(argparse.Namespace(log=args.log, out=args.thermo, after_step=args.after_step))
    run_lammps_traj(argparse.Namespace(dump=args.dump, species=args.species,
                                       timestep_fs=args.timestep_fs, out=args.traj,
                                       after_step=args.after_step))
    return 0


def run_lammps_thermo(args) -> int:
    from mtpflow.io.atomic import atomic_open
    from mtpflow.io.md_files import format_thermo_row, lammps_thermo_rows, read_lammps_log, thermo_header

    try:
        rows = lammps_thermo_rows(read_lammps_log(args.log))
    except InputError as exc:
        if exc.path is None:
            raise InputError(str(exc.args[0]), args.log) from None
        raise
    if args.after_step is not None:
        rows = rows[rows[:, 0] > args.after_step]
    if not len(rows):
        raise InputError("the LAMMPS log has a thermo header but no rows"
                         + (f" after step {args.after_step}" if args.after_step is not None else "")
                         + "; did the run start?", args.log)
    with atomic_open(args.out) as fh:
        fh.write(thermo_header())
        for step, time_ps, temp, epot, ekin, _etot, press_gpa, vol in rows:
            fh.write(format_thermo_row(step, time_ps, temp, epot, ekin, press_gpa, vol))
    print(f"mtpflow lammps-thermo: {len(rows)} rows (steps {int(rows[0, 0])} .. {int(rows[-1, 0])}) "
          f"-> {args.out}")
    return 0


def run_lammps_traj(args) -> int:
    from mtpflow.io.atomic import atomic_open, check_writable
    from mtpflow.io.lammps_dump import LammpsDump
    from mtpflow.io.md_files import format_extxyz_frame
    from mtpflow.io.trajectory import Unwrapper
    from mtpflow.species import parse_species

    species = parse_species(args.species)
    if not args.timestep_fs > 0:
        raise InputError(f"--timestep-fs {args.timestep_fs}: give the MD time step in fs (> 0)")
    check_writable(args.out)
    dump = LammpsDump(args.dump)
    if not dump.n_frames:
        raise InputError("the dump holds no frames; did the run start?", args.dump)
    for note in dump.notes:
        print(f"mtpflow lammps-traj: warning: {args.dump}: {note}", file=sys.stderr)
    unwrap = Unwrapper(args.dump)
    steps = []
    after = args.after_step
    with atomic_open(args.out) as fh:
        for f in dump.frames():
            if after is not None and f.step <= after:
                unwrap(f)   # keeps minimum-image unwrapping continuous; the frame is not written
                continue
            symbols = _dump_symbols(f, species, args.dump)
            fh.write(format_extxyz_frame(symbols, unwrap(f) - f.origin, f.cell, f.step,
                                         f.step * args.timestep_fs * 1e-3))
            steps.append(f.step)
    if not steps:
        raise InputError(f"the dump holds no frame after step {after}; did the run start?", args.dump)
    if unwrap.max_jump[0] > 0.35:
        print(f"mtpflow lammps-traj: warning: {args.dump}: an atom moved {unwrap.max_jump[0]:.2f} "
              "box lengths between two frames; minimum-image unwrapping (no xu yu zu or image flags "
              "in the dump) may be wrong there", file=sys.stderr)
    print(f"mtpflow lammps-traj: {len(steps)} frames (steps {steps[0]} .. {steps[-1]}; positions "
          f"by {unwrap.method}) -> {args.out}")
    return 0


def _dump_symbols(f, species, path):
    """Element of each atom: the dump's element column (checked against --species when both are
    given), else --species indexed by the LAMMPS type."""
    import numpy as np

    where = f"frame {f.index} (TIMESTEP {f.step})"
    by_type = None
    if f.types is not None and species is not None:
        if f.types.min() < 1 or f.types.max() > len(species):
            raise InputError(f"{where}: atom types {int(f.types.min())}..{int(f.types.max())} but "
                             f"--species names {len(species)} elements ({','.join(species)}); give "
                             "one element per LAMMPS type", path, f.line)
        by_type = np.array(species, dtype=object)[f.types - 1]
    if f.elements is not None:
        if by_type is not None and not np.array_equal(by_type.astype(str), f.elements):
            k = int(np.nonzero(by_type.astype(str) != f.elements)[0][0])
            raise InputError(f"{where}: atom id {f.ids[k]} is {f.elements[k]} in the element column "
                             f"but type {f.types[k]} = {by_type[k]} by --species", path, f.line)
        return f.elements
    if by_type is None:
        raise InputError("the dump has no element column: give --species (the element of LAMMPS "
                         "types 1, 2, ...)", path)
    return by_type


class _KeepLayout(argparse.HelpFormatter):
    """Wraps one-line texts (the description) and keeps multi-line ones (the epilog) as written."""

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


MD_EPILOG = """\
segments: a long run as a chain of jobs, each within a time limit
  mtpflow md POT START --protocol P --stop-at-step 5000 --checkpoint eq.ckpt ...   steps 0 .. 5000
  mtpflow md POT START --protocol P --continue-from eq.ckpt --stop-at-step 105000 \\
      --checkpoint seg000.ckpt --traj seg000.extxyz --thermo seg000.csv ...        steps 5001 .. 105000
  The first job's outputs hold steps 0 .. N, a continued one's the steps after its checkpoint's
  step, so the files concatenated in order equal one uninterrupted run's byte for byte (step
  numbers are global; the RNG and thermostat state travel in the checkpoint).
  Add --auto-resume --checkpoint-every K to every job: one killed mid-segment (SIGKILL at a time
  limit, a node failure) continues from its last checkpoint when the same command runs again.

exit status:
  0    done
  2    bad input (one message naming the file or option)
  3    stopped by extrapolation control (a grade above --grade-break): the trajectory, thermo and
       --extrapolative up to that step are complete, the checkpoint is written
  143  stopped by SIGTERM (128 + 15): checkpoint written, outputs left as <name>.part; rerun with
       --resume CHECKPOINT, or with --auto-resume the same command"""


AFTER_STEP_HELP = ("keep only the rows and frames after global step S: a part continued from "
                   "another (lammps-run --continue-from) writes its start step's row and frame "
                   "again, which the previous part already holds")


def register(subparsers) -> None:
    from mtpflow.commands import md_grade

    p = subparsers.add_parser(
        "md", help="run MD with an MTP: melt / quench / production protocol, checkpoints, resume",
        formatter_class=_KeepLayout,
        description="Embedded MD (ASE integrators, the numba MTP engine). Writes an extxyz trajectory "
        "with unwrapped positions (info: step, time_ps) and a thermo CSV (step,time_ps,temperature_K,"
        "potential_energy_eV,kinetic_energy_eV,total_energy_eV,pressure_GPa,volume_A3); outputs are "
        "<name>.part until the run ends. Stops with a clear message and <traj>.last_good.extxyz when "
        "atoms come closer than the potential's min_dist minus a margin, T runs away, or NaN appears. "
        "On SIGTERM (SLURM's time limit, scancel) it finishes the current step, writes the "
        "--checkpoint, says how to --resume and exits with status 143. With --grade-train, "
        "MLIP-3's extrapolation control (see below).",
        epilog=MD_EPILOG)
    _add_common(p, "md")
    p.add_argument("--traj", required=True, help="trajectory output (.extxyz)")
    p.add_argument("--thermo", required=True, help="thermo CSV output")
    p.add_argument("--checkpoint", help="checkpoint file (.npz) written atomically")
    p.add_argument("--checkpoint-every", type=int,
                   help="steps between checkpoints (count; overrides the protocol; 0: at the end only)")
    p.add_argument("--resume", help="continue from this checkpoint (same START, protocol and flags); "
                                    "the result equals the uninterrupted run")
    s = p.add_argument_group("segments of one run (see below)")
    s.add_argument("--stop-at-step", type=int, metavar="N",
                   help="end at global step N of the protocol (steps counted from its start across "
                        "all stages; default: its last step): the --checkpoint is written at N and "
                        "the outputs are finished there")
    s.add_argument("--continue-from", metavar="CK",
                   help="start from the state in checkpoint CK (written with the same START, "
                        "--replicate, protocol and potential, e.g. at a --stop-at-step) with fresh "
                        "outputs: the next segment, holding the steps after CK's step only")
    s.add_argument("--auto-resume", action="store_true",
                   help="make this a job that a rerun of the same command continues: checkpoints "
                        "(periodic, SIGTERM) go to CHECKPOINT.part, renamed to the --checkpoint "
                        "when the run completes; a CHECKPOINT.part written by the same job (same "
                        "start or --continue-from file, protocol, potential, system and stop step) "
                        "whose .part outputs are intact is resumed, any other is replaced and the "
                        "job starts afresh (the log says which and why)")
    p.add_argument("--threads", type=int, help="numba threads for the force call (count)")
    md_grade.add_options(p)
    p.set_defaults(func=run_md)

    q = subparsers.add_parser(
        "lammps-deck", help="write a restartable LAMMPS deck, data file and potential for a protocol",
        description="Writes OUTDIR/in.lammps (units metal, read_data with masses, fix nvt/npt with "
        "temperature ramps, alternating restart files; a rerun continues from the newer one), "
        "OUTDIR/data.lammps (types 1..S = MTP types 0..S-1) and the potential (same coefficients, "
        "rewritten with its element order in potential_name; MLIP-3's active-learning block kept). "
        "Outputs when run: md.log (thermo), md.lammpstrj (id type xu yu zu), or PART.log and "
        "PART.lammpstrj for one part of the run (-var part PART -var stop N [-var from RESTART]: "
        "see mtpflow lammps-run). Writing a deck removes the restart files, logs and dumps that "
        "earlier runs left in OUTDIR.")
    _add_common(q, "lammps-deck")
    q.add_argument("--outdir", required=True, help="folder for in.lammps, data.lammps and the potential")
    q.add_argument("--pair-style", choices=["mlip", "mtp"], default="mlip",
                   help="mlip: MLIP-3 LAMMPS interface (pair_style mlip load_from=...); mtp: LAMMPS "
                        "ML-MTP package (pair_style mtp)")
    q.add_argument("--pair-style-override",
                   help="replace the pair commands, ';'-separated (testing with a LAMMPS without MTP), "
                        "e.g. 'pair_style lj/cut 5.0; pair_coeff * * 0.01 2.5'")
    q.add_argument("--restart-every", type=int,
                   help="steps between restart files (count; default: the protocol's checkpoint_every, "
                        "else 10000)")
    md_grade.add_options(q, deck=True)
    q.set_defaults(func=run_deck)

    r = subparsers.add_parser(
        "lammps-run", help="run a lammps-deck folder (or one part of its run) with LAMMPS; on "
        "completion link its log, dump and final restart file out",
        description="Starts COMMAND -in in.lammps -log none -var part PART -var stop N [-var from "
        "RESTART] in WORKDIR. The deck runs the protocol's global steps up to N (--stop-at-step; "
        "default: its last step) from the newer of the part's own restart files when they exist "
        "(a rerun after a time limit or a kill continues there), else from --continue-from, else "
        "from the data file; at N it writes PART.end.restart. The part's files in WORKDIR "
        "(PART.log, PART.lammpstrj, PART.restart.1.lmp/.2.lmp, PART.end.restart) belong to the job "
        "recorded in PART.job (deck, stop step, --continue-from file); files of another job are "
        "removed before LAMMPS starts. When LAMMPS ends and the log says step N was reached, --log, "
        "--dump and --restart-out become hard links to the part's log, dump and final restart file "
        "(copies where links are impossible). A failure or an early stop exits with status 2 and "
        "leaves WORKDIR as it is, for the rerun.")
    r.add_argument("workdir", metavar="WORKDIR", help="folder written by mtpflow lammps-deck")
    r.add_argument("--command", required=True,
                   help="how to start LAMMPS, e.g. 'mpiexec -n 2 lmp' or 'srun -n 32 lmp_mpi' (the "
                        "launcher and the LAMMPS executable built with the MLIP interface or ML-MTP)")
    r.add_argument("--log", required=True, help="output: the completed part's LAMMPS log (PART.log)")
    r.add_argument("--dump", required=True, help="output: the completed part's dump (PART.lammpstrj)")
    r.add_argument("--part", help="name of this part of the run (letters, digits, _ and -; e.g. "
                   "equilibration, seg003): the prefix of its files in WORKDIR (default md)")
    r.add_argument("--stop-at-step", type=int, metavar="N",
                   help="end at global step N of the protocol (default: its last step)")
    r.add_argument("--continue-from", metavar="RESTART",
                   help="start from this restart file (the previous part's final restart, "
                        "--restart-out) unless the part has restart files of its own")
    r.add_argument("--restart-out", metavar="FILE",
                   help="output: the state at step N (PART.end.restart), for the next part's "
                        "--continue-from")
    r.set_defaults(func=run_lammps_run)

    t = subparsers.add_parser(
        "lammps-thermo", help="thermo CSV (as mtpflow md writes) from a LAMMPS log of a lammps-deck run",
        description="Reads the thermo rows of a LAMMPS log (thermo_style custom step time temp pe ke "
        "etotal press vol, metal units; rows a restarted job wrote twice are dropped) and writes the "
        "thermo CSV of mtpflow md: step,time_ps,temperature_K,potential_energy_eV,kinetic_energy_eV,"
        "total_energy_eV,pressure_GPa,volume_A3 (pressure converted from bar).")
    t.add_argument("log", metavar="LOG", help="LAMMPS log (md.log of a lammps-deck run)")
    t.add_argument("--out", required=True, help="thermo CSV output")
    t.add_argument("--after-step", type=int, metavar="S", help=AFTER_STEP_HELP)
    t.set_defaults(func=run_lammps_thermo)

    u = subparsers.add_parser(
        "lammps-traj", help="extxyz trajectory (as mtpflow md writes) from the dump of a lammps-deck run",
        description="Reads a LAMMPS dump custom file (id, type and/or element, and xu yu zu, x y z "
        "or xs ys zs, with or without ix iy iz; orthorhombic or triclinic; frames a restarted job "
        "wrote twice are dropped, the later copy kept; a truncated last frame is dropped with a "
        "warning) and writes an extxyz trajectory with unwrapped positions relative to the cell "
        "origin (Å; without unwrapped columns or image flags: minimum-image steps between frames), "
        "element names from the element column or --species and info keys step and time_ps = step "
        "x --timestep-fs, as mtpflow md writes it.")
    u.add_argument("dump", metavar="DUMP", help="LAMMPS dump (traj.lammpstrj of a lammps-deck run)")
    u.add_argument("--species",
                   help="element of LAMMPS types 1, 2, ... comma-separated (the MTP types 0, 1, ... of "
                        "lammps-deck; e.g. Li,Al,Cl); needed unless the dump has an element column")
    u.add_argument("--timestep-fs", type=float, required=True, help="MD time step of the run (fs)")
    u.add_argument("--out", required=True, help="trajectory output (.extxyz)")
    u.add_argument("--after-step", type=int, metavar="S", help=AFTER_STEP_HELP)
    u.set_defaults(func=run_lammps_traj)

    v = subparsers.add_parser(
        "lammps-outputs", help="thermo CSV and extxyz trajectory (as mtpflow md writes them) from a "
        "lammps-deck run", description="lammps-thermo and lammps-traj in one call: LOG -> --thermo, "
        "DUMP -> --traj.")
    v.add_argument("log", metavar="LOG", help="LAMMPS log (md.log of a lammps-deck run)")
    v.add_argument("dump", metavar="DUMP", help="LAMMPS dump (traj.lammpstrj of a lammps-deck run)")
    v.add_argument("--species", required=True, help="element of LAMMPS types 1, 2, ... (e.g. Li,Al,Cl)")
    v.add_argument("--timestep-fs", type=float, required=True, help="MD time step of the run (fs)")
    v.add_argument("--thermo", required=True, help="thermo CSV output")
    v.add_argument("--traj", required=True, help="trajectory output (.extxyz)")
    v.add_argument("--after-step", type=int, metavar="S", help=AFTER_STEP_HELP)
    v.set_defaults(func=run_lammps_outputs)
