"""Verbs `train` (fit an MTP as `mlp train` does, MPI over configurations) and `calc-errors`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mtpflow.errors import InputError
from mtpflow.species import parse_species


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train a Moment Tensor Potential on a .cfg training set (MLIP's loss, BFGS, MPI)",
        description="Fit an MTP like `mlp train`: loss = sum_k [w_e/N_k^p (E_k-E_k^ref)^2 + "
        "w_f sum_i |F_ik-F_ik^ref|^2 + w_s/N_k^p sum_ab (W_ab,k-W_ab,k^ref)^2] (E eV, F eV/Å, W the "
        "PlusStress virial in eV, p = --weight-scaling). An untrained template is widened to the "
        "training set's species and started as MLIP-3 starts it (radial function mu of pair p = "
        "1e-3 (p+1) T_mu; --init-random for MLIP's seeded random start), min_dist set to 0.99 x "
        "the smallest distance in the set, the radial scaling chosen and the linear coefficients "
        "solved exactly; then BFGS over the radial coefficients with the linear ones re-solved "
        "at every step. A trained potential (as INIT, or --init-from with a template) is "
        "continued from its coefficients (a warm start). "
        "Run under `mpiexec -n R` to split configurations over R ranks (same result). "
        "On SIGTERM (SLURM's time limit, scancel) it finishes the current iteration, writes the "
        "--checkpoint, removes the partial --log, says how to --resume and exits with status 143.")
    p.add_argument("init", help="initial potential: MLIP template (.almtp/.mtp) or trained potential")
    p.add_argument("train_cfg", help="training set (MLIP .cfg; energies eV, forces eV/Å, PlusStress eV)")
    p.add_argument("--out", required=True, help="trained potential to write (.mtp/.almtp, MLIP format)")
    p.add_argument("--species", help="element of each type in type order, e.g. Li,Cl,Al (stored in "
                   "the potential_name token; sets the species count)")
    p.add_argument("--energy-weight", type=float, default=1.0, help="w_e (1/eV²; default 1)")
    p.add_argument("--force-weight", type=float, default=0.01, help="w_f (Å²/eV²; default 0.01)")
    p.add_argument("--stress-weight", type=float, default=0.001, help="w_s (1/eV²; default 0.001)")
    p.add_argument("--weight-scaling", type=int, choices=(0, 1, 2), default=1,
                   help="divide energy and stress weights by N_atoms^this (dimensionless; default 1)")
    p.add_argument("--weight-scaling-forces", type=int, choices=(0, 1, 2), default=0,
                   help="divide the force weight by N_atoms^this (dimensionless; default 0)")
    p.add_argument("--max-iter", type=int, default=1000,
                   help="BFGS iterations (count; 0 writes the initialised potential)")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="as MLIP-3: at iterations 200, 250, 300, ... stop when the loss decreased "
                   "by less than this fraction of its value over the last 50 iterations "
                   "(dimensionless; 0 never stops early)")
    p.add_argument("--init-random", action="store_true",
                   help="start the radial coefficients from MLIP's random rule (seeded by --seed) "
                   "instead of MLIP's default deterministic start (dimensionless flag)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random radial coefficients with --init-random (integer)")
    p.add_argument("--checkpoint", help="checkpoint file (.npz) written atomically")
    p.add_argument("--checkpoint-every", type=int, default=50, help="iterations between checkpoints (count)")
    p.add_argument("--resume", help="continue from this checkpoint (.npz)")
    p.add_argument("--auto-resume", action="store_true",
                   help="make this a job that a rerun of the same command continues (SLURM time "
                        "limit, SIGKILL, node failure): an existing --checkpoint written by the same "
                        "job (same INIT and TRAIN_CFG contents, species, loss weights, --max-iter, "
                        "--tolerance, --seed, start options) is resumed; one written with other "
                        "inputs is refused, naming them (delete it to train afresh); the checkpoint "
                        "is removed when the training completes. The result equals an uninterrupted "
                        "run's.")
    p.add_argument("--init-from", metavar="TRAINED",
                   help="warm start: continue from this trained potential's coefficients (radial, "
                   "species, moment, scaling and min/max_dist as in the file; its basis must be "
                   "the template's, else an error: for a higher level use `init-mtp --level L "
                   "--from TRAINED`). Log row 0 is that potential's loss on this set; from "
                   "iteration 1 the linear coefficients are re-solved on this set; 0 iterations "
                   "(or no step that lowers the loss) write its coefficients unchanged. With "
                   "--resume the checkpoint's coefficients are used")
    p.add_argument("--valid", help="validation set (.cfg): errors printed after training")
    p.add_argument("--log", help="per-iteration CSV: iteration, loss, rmse_energy_per_atom_eV, "
                   "rmse_force_eV_A, rmse_stress_GPa")
    p.add_argument("--no-mindist-update", action="store_true",
                   help="keep the template's min_dist (Å) instead of setting it to 0.99 x the "
                   "smallest interatomic distance in the training set (as MLIP-3 does)")
    p.set_defaults(func=cmd_train)

    q = sub.add_parser(
        "calc-errors", help="errors of a potential on a .cfg test set: MAE, RMSE, R², max",
        description="Energy per atom (eV/atom), force components (eV/Å) and stress components "
        "(GPa, ASE sign): MAE, RMSE, R², max |error| and counts, as a table; optional JSON, "
        "per-configuration CSV and parity plots.")
    q.add_argument("potential", help="trained potential (.mtp/.almtp)")
    q.add_argument("test_cfg", help="test set (MLIP .cfg)")
    q.add_argument("--species", help="element of each type (checked against the potential's metadata)")
    q.add_argument("--json", help="write metrics as JSON (units: eV/atom, eV/Å, GPa)")
    q.add_argument("--csv", help="per-configuration CSV (energies eV/atom, force RMSE eV/Å, stress RMSE GPa)")
    q.add_argument("--plots", help="folder for energy/forces/stress parity PNGs (points coloured "
                   "by density, g/cm³)")
    q.add_argument("--density-precision", type=float, default=0.01,
                   help="g/cm³: configurations are grouped by their density (mass / volume from "
                   "the types, the species and the cell) rounded to this; the JSON's by_density "
                   "lists the metrics per group (default 0.01)")
    q.set_defaults(func=cmd_calc_errors)


def _check_outputs(*paths):
    """Fail before any work when an output cannot be written."""
    from pathlib import Path

    from mtpflow.io.atomic import check_writable

    for path in paths:
        if not path:
            continue
        parent = Path(path).parent
        if parent.exists() and not parent.is_dir():
            raise InputError("the output folder is a file, not a folder; choose another output path",
                             parent)
        check_writable(path)
        if Path(path).is_dir():
            raise InputError("the output path is a folder; give a file name", path)


def _train_job(args, species) -> dict:
    """What makes a training's result: recorded in its checkpoints under --auto-resume."""
    from mtpflow.io.md_files import file_digest

    return {"init_digest": file_digest(args.init), "train_cfg_digest": file_digest(args.train_cfg),
            "species": None if species is None else ",".join(species),
            "energy_weight": args.energy_weight, "force_weight": args.force_weight,
            "stress_weight": args.stress_weight, "weight_scaling": args.weight_scaling,
            "weight_scaling_forces": args.weight_scaling_forces, "max_iter": args.max_iter,
            "tolerance": args.tolerance, "seed": args.seed, "init_random": args.init_random,
            "no_mindist_update": args.no_mindist_update,
            "init_from_digest": None if args.init_from is None else file_digest(args.init_from)}


_JOB_NAMES = {"init_digest": "INIT's contents", "train_cfg_digest": "TRAIN_CFG's contents",
              "init_from_digest": "--init-from's contents"}


def _own_checkpoint(args, job: dict, say) -> str | None:
    """--auto-resume: the --checkpoint to resume (written by this job), None when there is none;
    InputError when it was written with other inputs."""
    from mtpflow.io.train_files import load_checkpoint

    if not args.checkpoint:
        raise InputError("--auto-resume needs --checkpoint FILE (the file a rerun of the same "
                         "command continues from)")
    if args.resume:
        raise InputError("give --resume or --auto-resume, not both (--auto-resume resumes from "
                         f"{args.checkpoint} by itself)")
    if not Path(args.checkpoint).exists():
        return None
    meta = load_checkpoint(args.checkpoint)[3]
    saved = meta.get("job")
    if not isinstance(saved, dict):
        raise InputError("the checkpoint was not written by an --auto-resume training, so it cannot "
                         "be told apart from another job's; delete it to train afresh, or continue "
                         "it with --resume", args.checkpoint)
    diff = [k for k in job if saved.get(k) != job[k]]
    if diff:
        what = ", ".join(_JOB_NAMES.get(k, f"--{k.replace('_', '-')} {saved.get(k)} (now {job[k]})")
                         for k in diff)
        raise InputError(f"the checkpoint belongs to a training with other inputs ({what} "
                         "differ); delete it to train afresh with these inputs, or rerun with the "
                         "inputs that wrote it", args.checkpoint)
    say(f"resuming this job from its own checkpoint {args.checkpoint}")
    return args.checkpoint


def _check_species(pot, species, path):
    if species is not None and pot.species is not None and pot.species != species:
        raise InputError(f"--species {','.join(species)} differs from the potential's species "
                         f"{','.join(pot.species)}", path)


def cmd_train(args) -> int:
    from mtpflow.errors import Stopped
    from mtpflow.sigterm import EXIT_STATUS, SigtermGuard
    from mtpflow.train import parallel

    with SigtermGuard() as sigterm:
        try:
            return _train(args, sigterm)
        except Stopped as exc:
            if parallel.get_comm().rank == 0:
                note = ""
                if args.log and Path(args.log).exists():  # a partial log must not look finished
                    Path(args.log).unlink()
                    note = (f"; removed the partial log {args.log}"
                            + (" (the checkpoint keeps its rows)" if exc.checkpoint else ""))
                print(f"mtpflow train: {exc}{note}", file=sys.stderr, flush=True)
            return EXIT_STATUS


def _train(args, sigterm) -> int:
    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.mtp import read_mtp, write_mtp
    from mtpflow.train import parallel
    from mtpflow.train.loss import LossWeights
    from mtpflow.train.trainer import TrainOptions, train

    comm = parallel.get_comm()
    if args.max_iter < 0:
        raise InputError("--max-iter must be >= 0")
    if args.checkpoint_every < 1:
        raise InputError("--checkpoint-every must be >= 1")
    if not (np.isfinite(args.tolerance) and args.tolerance >= 0):
        raise InputError(f"--tolerance must be a finite number >= 0, got {args.tolerance}")
    for name in ("energy_weight", "force_weight", "stress_weight"):
        v = getattr(args, name)
        if not np.isfinite(v) or v < 0:
            raise InputError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v}")
    species = parse_species(args.species)
    if comm.rank == 0:
        _check_outputs(args.out, args.log, args.checkpoint)
    say = (lambda msg: print(msg, flush=True)) if comm.rank == 0 else (lambda msg: None)
    job, resume = None, args.resume
    if args.auto_resume:
        job = _train_job(args, species)
        resume = _own_checkpoint(args, job, say)
    pot = read_mtp(args.init)
    if args.init_from:
        from mtpflow.mtp.upgrade import continue_from

        pot = continue_from(pot, read_mtp(args.init_from), args.init, args.init_from)
    _check_species(pot, species, args.init_from or args.init)
    configs = read_cfg(args.train_cfg)
    if not configs:
        raise InputError("no configurations: the training file is empty", args.train_cfg)
    valid = read_cfg(args.valid) if args.valid else None
    max_type = max(int(c.types.max()) for c in configs if c.n_atoms) if configs else 0
    if species is not None:
        n_species = len(species)
    elif pot.is_trained:
        n_species = pot.species_count
    else:
        n_species = max_type + 1
    weights = LossWeights(args.energy_weight, args.force_weight, args.stress_weight,
                          args.weight_scaling, args.weight_scaling_forces)
    opts = TrainOptions(weights=weights, max_iter=args.max_iter, tolerance=args.tolerance,
                        seed=args.seed, init_random=args.init_random,
                        mindist_update=not args.no_mindist_update,
                        checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
                        resume=resume, job=job)
    say(f"training on {len(configs)} configurations ({sum(c.n_atoms for c in configs)} atoms), "
        f"{n_species} species, {comm.size} rank(s)")
    trained, summary = train(pot, configs, n_species, opts, comm=comm, log_path=args.log, say=say,
                             train_path=args.train_cfg, should_stop=lambda: sigterm.reason)
    if species is not None:
        trained.species = species
    if comm.rank == 0:
        write_mtp(args.out, trained,
                  warn=lambda msg: print(f"mtpflow train: warning: {msg}", file=sys.stderr, flush=True))
        fin = summary.get("final")
        if fin:
            say(f"iterations {summary['iterations']} ({summary['stop_reason']}), loss {fin[1]:.6g}; "
                f"training RMSE: energy {fin[2] * 1e3:.3f} meV/atom, force {fin[3]:.4f} eV/Å, "
                f"stress {fin[4]:.4f} GPa; {summary['seconds']:.1f} s")
        say(f"wrote {args.out}")
        if args.auto_resume:  # the job is done: its restart file would only block other inputs
            Path(args.checkpoint).unlink(missing_ok=True)
            say(f"removed this job's checkpoint {args.checkpoint} (the training is complete)")
        if valid is not None:
            from mtpflow.train.metrics import compute_errors

            metrics, *_ = compute_errors(trained, valid, args.valid)
            print(format_table(metrics, f"validation ({args.valid})"))
    return 0


def _num(x, spec: str) -> str:
    """A metric in the table; n/a where it is undefined (no data; R² of a single value)."""
    width = spec.split(".")[0]
    return f"{x:>{spec}}" if x is not None and np.isfinite(x) else f"{'n/a':>{width}}"


def format_table(m: dict, title: str) -> str:
    lines = [f"{title}: {m['n_configs']} configurations, {m['n_atoms']} atoms",
             f"{'quantity':<26}{'MAE':>12}{'RMSE':>12}{'R²':>10}{'max':>12}{'count':>10}"]
    for key, name in (("energy_per_atom", "energy (eV/atom)"), ("forces", "force comp. (eV/Å)"),
                      ("stress", "stress comp. (GPa)")):
        q = m[key]
        lines.append(f"{name:<26}{_num(q['mae'], '12.5g')}{_num(q['rmse'], '12.5g')}"
                     f"{_num(q['r2'], '10.5f')}{_num(q['max'], '12.5g')}{q['count']:>10d}")
    return "\n".join(lines)


def format_density_table(groups: list) -> str:
    """RMSE per density group: energy (meV/atom), force components (eV/Å), stress (GPa)."""
    lines = ["by density: RMSE (R²)",
             f"{'density (g/cm³)':<17}{'configs':>8}{'energy (meV/atom)':>26}"
             f"{'forces (eV/Å)':>24}{'stress (GPa)':>24}"]
    for g in groups:
        d = "no cell" if g["density_g_cm3"] is None else f"{g['density_g_cm3']:g}"
        cells = []
        for key, scale in (("energy_per_atom", 1e3), ("forces", 1.0), ("stress", 1.0)):
            q = g[key]
            rmse = None if q["count"] == 0 else q["rmse"] * scale
            cells.append(f"{_num(rmse, '.4g')} ({_num(q['r2'], '.4f')})")
        lines.append(f"{d:<17}{g['n_configs']:>8d}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def _species_for_density(args_species, pot, configs):
    """Element of each type: --species, else the potential's, else the test set's own record."""
    if args_species is not None:
        return args_species, "--species"
    if pot.species is not None:
        return pot.species, "the potential's species"
    from mtpflow.data.dataset import feature

    recorded = {feature(c, "mtpflow_species") for c in configs} - {None}
    if len(recorded) == 1:
        return parse_species(recorded.pop()), "the test set's mtpflow_species feature"
    return None, None


def cmd_calc_errors(args) -> int:
    from mtpflow.io.atomic import atomic_open
    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.json_files import write_json
    from mtpflow.io.mtp import read_mtp
    from mtpflow.train.metrics import (compute_errors, config_densities, metrics_by_density,
                                       per_config_errors)

    _check_outputs(args.json, args.csv)
    if not args.density_precision > 0:
        raise InputError(f"--density-precision must be > 0 g/cm³, got {args.density_precision}")
    species = parse_species(args.species)
    pot = read_mtp(args.potential)
    _check_species(pot, species, args.potential)
    configs = read_cfg(args.test_cfg)
    metrics, pairs, (e, forces, w) = compute_errors(pot, configs, args.test_cfg)
    print(format_table(metrics, args.test_cfg))
    elements, source = _species_for_density(species, pot, configs)
    densities = None
    metrics["density_precision_g_cm3"] = args.density_precision
    if elements is None:
        metrics["by_density"] = None
        metrics["by_density_note"] = ("no element names for the types (none in the potential or "
                                      "the test set): give --species to group by density")
        print(f"mtpflow calc-errors: warning: {metrics['by_density_note']}", file=sys.stderr)
    else:
        densities = config_densities(configs, elements, args.density_precision, args.test_cfg)
        metrics["by_density"] = metrics_by_density(configs, pairs, densities)
        n_none = sum(d is None for d in densities)
        metrics["by_density_note"] = (
            f"density = mass / volume (masses of {','.join(elements)} from {source}) rounded "
            f"to {args.density_precision:g} g/cm³; R² is null for a group of one configuration "
            "or without variance"
            + (f"; {n_none} non-periodic configuration(s) have no density: grouped under null"
               if n_none else ""))
        print(format_density_table(metrics["by_density"]))
    if args.json:
        write_json(args.json, metrics)
    if args.csv:
        with atomic_open(args.csv, "w") as fh:
            fh.write("config,n_atoms,energy_ref_eV_per_atom,energy_pred_eV_per_atom,"
                     "force_rmse_eV_A,stress_rmse_GPa\n")
            for k, (n, er, ep, fr, sr) in enumerate(per_config_errors(configs, e, forces, w)):
                fh.write(f"{k + 1},{n},{er:.12g},{ep:.12g},{fr:.8g},{sr:.8g}\n")
    if args.plots:
        from mtpflow.io.atomic import atomic_open
        from mtpflow.report.parity import parity_plots

        for name, png in parity_plots(pairs, metrics, configs, densities).items():
            path = Path(args.plots) / name
            with atomic_open(path, "wb") as fh:
                fh.write(png)
            print(f"wrote {path}", file=sys.stderr)
    return 0
