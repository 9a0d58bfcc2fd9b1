"""Training-data verbs: build-initial, vasp-inputs, aimd, collect, densify, dataset, convert."""

from __future__ import annotations

import sys
from pathlib import Path

from mtpflow.species import parse_species

SPECIES_HELP = ("element of each type, in the project's order (config key 'species'), e.g. Li,Al,Cl; "
                "types are mapped by element name")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _ints(text: str, n: int, where: str) -> list[int]:
    from mtpflow.errors import InputError

    try:
        vals = [int(x) for x in text.split(",")]
    except ValueError as exc:
        raise InputError(f"{where}: cannot read {text!r}; give {n} integers like 3,3,3") from exc
    if len(vals) != n:
        raise InputError(f"{where}: give {n} integers like 3,3,3, got {text!r}")
    return vals


# ---------------------------------------------------------------------------------- build-initial

def cmd_build_initial(args) -> int:
    from mtpflow.data.crystal import parse_formula, reference_density
    from mtpflow.data.initial import parse_min_distances, random_structure, replicate
    from mtpflow.errors import InputError
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.structure import detect_format, write_frames

    check_writable(args.out)
    detect_format(args.out)
    counts = parse_formula(args.formula)
    if not args.density_factor > 0:
        raise InputError(f"--density-factor must be > 0, got {args.density_factor}")
    species = parse_species(args.species) if args.species else list(counts)
    d_ref, desc = reference_density(args.reference_density_from)
    density = args.density_factor * d_ref
    mind = parse_min_distances(args.min_distance, list(counts))
    atoms = random_structure(counts, density, mind, seed=args.seed, order=species,
                             tries_per_atom=args.tries_per_atom, max_restarts=args.max_restarts)
    if args.replicate:
        atoms = replicate(atoms, _ints(args.replicate, 3, "--replicate"), species)
    atoms.info.update({"density_factor": args.density_factor, "reference": desc})
    write_frames(args.out, [atoms], species)
    _log(f"{args.out}: {atoms.get_chemical_formula()} ({len(atoms)} atoms) in a "
         f"{atoms.cell.lengths()[0]:.3f} Å box, density {density:.4f} g/cm³ = "
         f"{args.density_factor:g} x {d_ref:.4f} ({desc}); mass {atoms.get_masses().sum():.2f} amu")
    return 0


# ------------------------------------------------------------------------------------ vasp-inputs

def _potcar_map(text):
    from mtpflow.errors import InputError

    out = {}
    for item in (text or "").split(","):
        if item.strip():
            if "=" not in item:
                raise InputError(f"--potcar: cannot read {item!r}; write Li=Li_sv,Al=Al,Cl=Cl")
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def cmd_vasp_inputs(args) -> int:
    from mtpflow.data.vasp_inputs import METADATA_NAME, parse_overrides, vasp_input_files
    from mtpflow.io.structure import read_frames
    from mtpflow.io.vasp import write_run_directory

    species = parse_species(args.species)
    atoms = read_frames(args.structure, species, index=args.index)[0]
    files = vasp_input_files(atoms, species, kind=args.kind, overrides=parse_overrides(args.incar),
                             vdw=args.vdw, potcar_spec=args.potcar_spec, functional=args.functional,
                             potcar_map=_potcar_map(args.potcar),
                             extra={"source_structure": str(args.structure)})
    write_run_directory(args.outdir, files, METADATA_NAME)
    _log(f"{args.outdir}: {', '.join(sorted(files))} ({args.kind}, {len(atoms)} atoms)")
    return 0


# ------------------------------------------------------------------------------------------- aimd

def cmd_aimd(args) -> int:
    from mtpflow.data.aimd import AimdSettings, run_aimd
    from mtpflow.data.engines import get_engine
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.structure import read_frames, write_frames

    check_writable(args.traj)
    species = parse_species(args.species)
    start = read_frames(args.start, species, index=args.index)[0]
    settings = AimdSettings(temperature_K=args.temperature_K, timestep_fs=args.timestep_fs,
                            steps=args.steps, prerelax_steps=args.prerelax_steps,
                            prerelax_fmax=args.prerelax_fmax, tdamp_fs=args.tdamp_fs,
                            seed=args.seed, every=args.every)
    settings.validate()
    engine = get_engine(args.engine, threads=args.threads)
    _check_vasp_options(args, engine)
    if not engine.embedded:
        frames = _vasp_aimd(args, start, species, settings)
        write_frames(args.traj, frames, species)
        _log(f"{args.traj}: {len(frames)} frames of the VASP run in {args.vasp_dir}")
        return 0
    frames, stats = run_aimd(start, engine, settings, log=_log)
    write_frames(args.traj, frames, species)
    _log(f"{args.traj}: {stats.frames} frames; pre-relaxation {stats.prerelax_steps_done} steps "
         f"({stats.seconds_prerelax:.1f} s); {stats.md_steps} MD steps in {stats.seconds_md:.1f} s = "
         f"{stats.seconds_per_step:.3f} s/step on {engine.threads} thread(s); mean T "
         f"{stats.mean_temperature_K:.0f} K")
    return 0


def _vasp_aimd(args, start, species, settings) -> list:
    """The VASP route of `aimd`: a fresh run folder, VASP run in it, its frames (every k-th)."""
    from mtpflow.data.collect import load_run
    from mtpflow.data.vasp_inputs import METADATA_NAME, parse_overrides, vasp_input_files
    from mtpflow.errors import InputError
    from mtpflow.io.vasp import write_run_directory
    from mtpflow.io.workdir import fresh_workdir

    if not (args.vasp_dir and args.vasp_command):
        raise InputError(f"--engine {args.engine} is external: give --vasp-dir DIR and --vasp-command "
                         "'mpiexec -n N vasp_std' to run it here, or write its inputs with `mtpflow "
                         "vasp-inputs START --outdir DIR --kind aimd`, run them, then collect")
    overrides = {"TEBEG": settings.temperature_K, "TEEND": settings.temperature_K,
                 "POTIM": settings.timestep_fs, "NSW": settings.steps, **parse_overrides(args.incar)}
    files = vasp_input_files(start, species, kind="aimd", overrides=overrides, vdw=args.vdw,
                             potcar_spec=args.potcar_spec, functional=args.functional,
                             potcar_map=_potcar_map(args.potcar),
                             extra={"source_structure": str(args.start)})
    folder = fresh_workdir(args.vasp_dir)
    write_run_directory(folder, files, METADATA_NAME)
    _run_vasp(folder, args.vasp_command)
    run = load_run(folder, species, _log)
    frames = run.frames[::settings.every]
    for atoms in frames:
        atoms.info["feature_EFS_by"] = run.efs_by
        atoms.info["source"] = str(folder)
    return frames


def _check_vasp_options(args, engine) -> None:
    from mtpflow.errors import InputError

    if engine.embedded and (args.vasp_dir or args.vasp_command):
        raise InputError(f"--vasp-dir and --vasp-command belong to --engine vasp, not {args.engine}")


def _run_vasp(folder, command: str) -> None:
    """Run VASP (`command`, e.g. 'srun -n 32 vasp_std') in `folder`, its output in vasp.out there."""
    import shlex

    from mtpflow.errors import InputError
    from mtpflow.io.workdir import run_program

    argv = shlex.split(command)
    if not argv:
        raise InputError("--vasp-command is empty; give how to start VASP, e.g. 'mpiexec -n 4 vasp_std'")
    _log(f"running VASP in {folder} (output: vasp.out there)")
    run_program(argv, folder, "VASP", output="vasp.out")


# ---------------------------------------------------------------------------------------- collect

def cmd_collect(args) -> int:
    from mtpflow.data.collect import load_run, select, species_in_order, to_configs, unique_sources
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.cfg import write_cfg
    from mtpflow.io.structure import write_frames

    species = parse_species(args.species)
    check_writable(args.out)
    if args.extxyz:
        check_writable(args.extxyz)
    runs = [load_run(p, species, _log) for p in args.inputs]
    if species is None:
        species = species_in_order(runs)
        print(f"species (type order, as first named in the inputs): {','.join(species)}; "
              "pass --species to choose another order", flush=True)
    unique_sources(runs)
    chosen = [(run, select(run, args.skip_ps, args.every)) for run in runs]
    configs = to_configs(chosen, species)
    if not configs:
        from mtpflow.errors import InputError
        raise InputError("no frames left after --skip-ps/--every; lower them")
    if args.extxyz:
        frames = []
        for (run, fr), _ in zip(chosen, runs):
            for atoms in fr:
                a = atoms.copy()
                a.calc = atoms.calc
                a.info["source"] = str(run.path)
                frames.append(a)
        write_frames(args.extxyz, frames, species)
    write_cfg(args.out, configs)
    for run, fr in chosen:
        _log(f"{run.path}: {len(fr)} of {len(run.frames)} frames ({run.efs_by})")
    _log(f"{args.out}: {len(configs)} configurations (energy: free energy TOTEN)")
    return 0


# ---------------------------------------------------------------------------------------- densify

DEFAULT_VOLUME_FACTORS = "0.5,1.0,1.5"


def cmd_densify(args) -> int:
    from mtpflow.data.crystal import reference_density
    from mtpflow.data.densify import as_is, evaluate, multi_density, parse_factors, vasp_dir_name
    from mtpflow.data.engines import get_engine
    from mtpflow.errors import InputError
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.structure import read_frames, write_frames

    species = parse_species(args.species)
    if args.as_is and args.volume_factors is not None:
        raise InputError("--as-is evaluates the frames at their own volume: leave out "
                         "--volume-factors")
    factors = None if args.as_is else parse_factors(args.volume_factors or DEFAULT_VOLUME_FACTORS)
    engine = get_engine(args.engine, threads=args.threads)
    _check_vasp_options(args, engine)
    if engine.embedded or args.vasp_command:
        if not args.out:
            raise InputError("--out OUT.cfg is required with an embedded engine or --vasp-command")
        check_writable(args.out)
    if not engine.embedded and not args.vasp_dir:
        raise InputError("--engine vasp writes run directories: give --vasp-dir DIR")
    frames = []
    for path in args.inputs:
        fr = read_frames(path, species)
        _check_species_feature(fr, species, path)
        frames.append((Path(path).stem, fr))
    d_ref, desc = reference_density(args.reference_density_from)
    structures = []
    for source, fr in frames:
        structures += as_is(fr, d_ref, source, every=args.every) if args.as_is else \
            multi_density(fr, factors, d_ref, source, every=args.every)
    if args.as_is:
        _log(f"{len(structures)} structures at their own volume ({desc})")
        factors = sorted({s.info["volume_factor"] for s in structures})
    else:
        _log(f"{len(structures)} structures = {len(structures) // len(factors)} frames x "
             f"{len(factors)} volume factors of the crystal volume ({desc})")
    if engine.embedded:
        results = evaluate(structures, engine, log=_log)
        for atoms in results:
            atoms.info["feature_mtpflow_species"] = ",".join(species)
        write_frames(args.out, results, species)
        _log(f"{args.out}: {len(results)} single points by {engine.label}")
        return 0
    import json

    from mtpflow.data.vasp_inputs import METADATA_NAME, parse_overrides, vasp_input_files
    from mtpflow.io.atomic import atomic_open
    from mtpflow.io.vasp import write_run_directory

    root = Path(args.vasp_dir)
    if args.vasp_command:
        from mtpflow.io.workdir import fresh_workdir
        fresh_workdir(root)
    names = []
    for k, atoms in enumerate(structures):
        name = vasp_dir_name(atoms, k)
        files = vasp_input_files(
            atoms, species, kind="static", overrides=parse_overrides(args.incar), vdw=args.vdw,
            potcar_spec=args.potcar_spec, functional=args.functional, potcar_map=_potcar_map(args.potcar),
            extra={"volume_factor": atoms.info["volume_factor"],
                   "mtpflow_frame": atoms.info["feature_mtpflow_frame"]})
        write_run_directory(root / name, files, METADATA_NAME)
        names.append(name)
    with atomic_open(root / "manifest.json") as fh:
        json.dump({"directories": names, "volume_factors": factors, "species": species}, fh, indent=2)
    if args.vasp_command:
        _vasp_single_points(root, names, species, args)
        return 0
    _log(f"{root}: {len(names)} static VASP directories + manifest.json; run them, then "
         f"`mtpflow collect {root}/*/ --species {','.join(species)} --out OUT.cfg`")
    return 0


def _vasp_single_points(root, names, species, args) -> None:
    """Run VASP in each static directory (in the manifest's order) and collect them into --out."""
    from mtpflow.data.collect import load_run, to_configs, unique_sources
    from mtpflow.io.cfg import write_cfg

    for name in names:
        _run_vasp(root / name, args.vasp_command)
    runs = [load_run(root / name, species, _log) for name in names]
    unique_sources(runs)
    configs = to_configs([(run, run.frames) for run in runs], species)
    write_cfg(args.out, configs)
    _log(f"{args.out}: {len(configs)} single points by VASP in {len(names)} directories of {root}")


def _check_species_feature(frames, species, path) -> None:
    from mtpflow.errors import InputError

    wanted = ",".join(species)
    for atoms in frames:
        sp = atoms.info.get("feature_mtpflow_species")
        if sp is not None and sp != wanted:
            raise InputError(f"written with species order {sp} but --species is {wanted}; pass "
                             f"--species {sp}", path)


# ---------------------------------------------------------------------------------------- dataset

def cmd_dataset(args) -> int:
    import numpy as np

    from mtpflow.data.dataset import block_keys, check_consistent, split, summary_rows
    from mtpflow.io.atomic import atomic_open, check_writable
    from mtpflow.io.cfg import read_cfg, write_cfg

    species = parse_species(args.species)
    for out in (args.train, args.test, args.summary):
        check_writable(out)
    sets = [(p, read_cfg(p)) for p in args.inputs]
    label = check_consistent(sets, species)
    keys = block_keys(sets, args.block_size)
    is_test = split(keys, args.test_fraction, args.seed)
    everything = [c for _, configs in sets for c in configs]
    train = [c for c, t in zip(everything, is_test) if not t]
    test = [c for c, t in zip(everything, is_test) if t]
    rows = summary_rows([("train", train), ("test", test)], species)
    import pandas as pd

    table = pd.DataFrame(rows)
    with atomic_open(args.summary) as fh:
        table.to_csv(fh, index=False)
    write_cfg(args.train, train)
    write_cfg(args.test, test)
    print(table.to_string(index=False))
    n_blocks = len(set(keys))
    n_test_blocks = len({k for k, t in zip(keys, is_test) if t})
    print(f"train {len(train)}, test {len(test)} configurations ({n_test_blocks} of {n_blocks} "
          f"blocks of {args.block_size} frames in test, seed {args.seed}); EFS by {label or 'unknown'}; "
          f"test share {np.mean(is_test):.3f}")
    return 0


# ---------------------------------------------------------------------------------------- convert

POTENTIAL_SUFFIXES = (".mtp", ".almtp")


def cmd_convert(args) -> int:
    from mtpflow.errors import InputError
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.structure import detect_format, read_frames, write_frames

    if any(Path(f).suffix.lower() in POTENTIAL_SUFFIXES for f in (args.input, args.output)):
        return _convert_potential(args)
    if args.drop_selection:
        raise InputError("--drop-selection applies to potentials (.mtp/.almtp) only", args.input)
    detect_format(args.output)
    check_writable(args.output)
    species = parse_species(args.species) if args.species else None
    frames = read_frames(args.input, species, index=args.index)
    n = write_frames(args.output, frames, species)
    _log(f"{args.output}: {n} structure(s) from {args.input}")
    return 0


def _convert_potential(args) -> int:
    """Rewrite a potential: same model, --species recorded in its potential_name, MLIP-3's
    active-learning block kept byte for byte unless --drop-selection."""
    from mtpflow.errors import InputError
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.mtp import read_mtp, write_mtp
    from mtpflow.mtp.calculator import resolve_species

    for path in (args.input, args.output):
        if Path(path).suffix.lower() not in POTENTIAL_SUFFIXES:
            raise InputError("a potential converts only to a potential: name both files .mtp or .almtp",
                             path)
    if args.index != ":":
        raise InputError("--index selects structure frames; a potential has none", args.input)
    check_writable(args.output)
    pot = read_mtp(args.input)
    if args.species:
        pot.species = resolve_species(pot, args.species, args.input)
    write_mtp(args.output, pot, keep_selection=not args.drop_selection, warn=_log)
    if pot.selection is None:
        block = "no active-learning block"
    else:
        block = ("MLIP-3's active-learning block left out (--drop-selection)" if args.drop_selection
                 else "MLIP-3's active-learning block kept")
    _log(f"{args.output}: potential from {args.input} (species {','.join(pot.species or ['unnamed'])}; "
         f"{block})")
    return 0


# --------------------------------------------------------------------------------------- register

def register(sub) -> None:
    def verb(name, func, help_, desc):
        p = sub.add_parser(name, help=help_, description=desc)
        p.set_defaults(func=func)
        return p

    def species_opt(p, required_default=True):
        p.add_argument("--species", default="Li,Al,Cl" if required_default else None,
                       help=SPECIES_HELP + (" (default Li,Al,Cl)" if required_default else ""))

    def vasp_run_opts(p):
        p.add_argument("--vasp-dir", metavar="DIR",
                       help="--engine vasp: the run folder (with --vasp-command it is emptied first; it "
                            "must be empty or written by mtpflow)")
        p.add_argument("--vasp-command", metavar="CMD",
                       help="--engine vasp: run VASP here, started as CMD in each run folder (e.g. "
                            "'mpiexec -n 32 vasp_std' or 'srun -n 32 vasp_std'; output: vasp.out there) "
                            "and read back; a failed run keeps its folder for inspection")

    def potcar_opts(p):
        p.add_argument("--functional", default="PBE", help="POTCAR set (pymatgen name, default PBE)")
        p.add_argument("--potcar-spec", action="store_true",
                       help="write POTCAR.spec (the POTCAR symbols) instead of POTCAR: a dry run "
                            "without a pseudopotential library")
        p.add_argument("--potcar", help="POTCAR choice per element, e.g. Li=Li_sv,Al=Al,Cl=Cl "
                                        "(default: Li_sv, Al, Cl)")
        p.add_argument("--incar", nargs="*", metavar="TAG=VALUE", default=[],
                       help="override INCAR tags (units as VASP: ENCUT eV, POTIM fs, TEBEG K)")
        p.add_argument("--vdw", choices=["optb88"], help="add optB88-vdW tags (the guidebook set's "
                                                         "DFT level)")

    p = verb("build-initial", cmd_build_initial, "random initial configuration at a density",
             "Random positions with per-pair minimum distances in a cubic box whose density is a "
             "multiple of a crystal's (default LiAlCl4, 1.974 g/cm³ from its cell and Z).")
    p.add_argument("--formula", default="Li16Al16Cl64", help="composition (default Li16Al16Cl64)")
    p.add_argument("--density-factor", type=float, default=1.0,
                   help="density as a multiple of the reference crystal density (dimensionless)")
    p.add_argument("--reference-density-from", metavar="CIF",
                   help="take the reference density (g/cm³) from this CIF's cell and contents")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--replicate", metavar="NA,NB,NC", help="repeat the box, e.g. 3,3,3 (96 -> 2,592)")
    p.add_argument("--min-distance", metavar="A-B=D,...",
                   help="minimum distances in Å overriding the defaults, e.g. Li-Cl=2.0,Cl-Cl=2.8")
    p.add_argument("--tries-per-atom", type=int, default=2000, help="random positions tried per atom")
    p.add_argument("--max-restarts", type=int, default=20, help="full restarts before giving up")
    species_opt(p, required_default=False)
    p.add_argument("--out", required=True, help="output structure: POSCAR, *.vasp, *.extxyz, *.cfg, "
                                                "*.lammps_data, *.cif")

    p = verb("vasp-inputs", cmd_vasp_inputs, "write a ready-to-run VASP directory",
             "INCAR (NVT Nosé-Hoover AIMD at 1000 K, 2 fs, 520 eV; or a static single point), "
             "KPOINTS (Gamma 1x1x1), POSCAR in species order, POTCAR from PMG_VASP_PSP_DIR (or "
             "POTCAR.spec), and mtpflow_vasp.json echoing every tag.")
    p.add_argument("structure", help="structure file (any format mtpflow reads)")
    p.add_argument("--outdir", required=True, help="run directory to write")
    p.add_argument("--kind", choices=["aimd", "static"], default="aimd", help="run type")
    p.add_argument("--index", default="-1", help="frame of a multi-frame input (default last)")
    potcar_opts(p)
    species_opt(p)

    p = verb("aimd", cmd_aimd, "AIMD with a reference engine (embedded, or VASP run here)",
             "Embedded engine: short FIRE pre-relaxation at fixed cell, then NVT with a Nosé-Hoover "
             "chain. --engine vasp with --vasp-dir and --vasp-command: the NVT run's inputs (as "
             "vasp-inputs --kind aimd, TEBEG/TEEND/POTIM/NSW from the options below) in a fresh run "
             "folder, VASP started there, its frames read back. Frames carry energy, forces and "
             "stress for `mtpflow collect` / `densify`.")
    p.add_argument("start", help="start structure (e.g. the build-initial POSCAR)")
    p.add_argument("--engine", default="chgnet", help="reference engine (default chgnet)")
    p.add_argument("--temperature-K", type=float, default=1000.0, help="thermostat temperature, K")
    p.add_argument("--timestep-fs", type=float, default=2.0, help="MD time step, fs")
    p.add_argument("--steps", type=int, default=500, help="NVT MD steps")
    p.add_argument("--prerelax-steps", type=int, default=100, help="FIRE steps before MD (max)")
    p.add_argument("--prerelax-fmax", type=float, default=0.5,
                   help="stop the pre-relaxation below this max force, eV/Å")
    p.add_argument("--tdamp-fs", type=float, default=100.0, help="thermostat time constant, fs")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial velocities")
    p.add_argument("--every", type=int, default=1, help="keep every k-th MD step")
    p.add_argument("--threads", type=int, help="torch threads (default OMP_NUM_THREADS or all cores)")
    p.add_argument("--index", default="-1", help="frame of a multi-frame start (default last)")
    p.add_argument("--traj", required=True, help="output trajectory (.extxyz)")
    vasp_run_opts(p)
    potcar_opts(p)
    species_opt(p)

    p = verb("collect", cmd_collect, "AIMD/single-point outputs -> .cfg (+ extxyz)",
             "Reads VASP run directories, vasprun.xml, OUTCAR (killed runs: completed steps) or "
             "`mtpflow aimd` extxyz. Energy = free energy TOTEN (what the forces derive from); "
             "stress kBar -> PlusStress eV (virial, -sigma*V).")
    p.add_argument("inputs", nargs="+", help="run directories, vasprun.xml, OUTCAR or .extxyz")
    p.add_argument("--out", required=True, help="output MLIP .cfg")
    p.add_argument("--extxyz", help="also write the frames as extended XYZ")
    p.add_argument("--skip-ps", type=float, default=0.0, help="drop the first T ps of each MD run")
    p.add_argument("--every", type=int, default=1, help="keep every k-th remaining frame")
    p.add_argument("--species", help=SPECIES_HELP + " (default: the elements the inputs name, in "
                                     "order of first appearance, printed)")

    p = verb("densify", cmd_densify, "scale melt frames to several densities and evaluate them",
             "Isotropic scaling to volume factors of the crystal volume (mass / d_crystal), or "
             "the frames as they are (--as-is), then single points now (embedded engine) or static VASP directories (--engine vasp), run "
             "here and collected into --out when --vasp-command is given.")
    p.add_argument("inputs", nargs="+", help="melt frames: .cfg or .extxyz")
    p.add_argument("--volume-factors", default=None,
                   help="volumes as multiples of the crystal volume (dimensionless; default "
                   f"{DEFAULT_VOLUME_FACTORS})")
    p.add_argument("--as-is", action="store_true",
                   help="evaluate the frames at their own volume, unscaled (e.g. the "
                   "configurations active learning selected); not with --volume-factors")
    p.add_argument("--engine", default="chgnet", help="chgnet (evaluated now) or vasp (directories)")
    p.add_argument("--every", type=int, default=1, help="use every k-th input frame")
    p.add_argument("--reference-density-from", metavar="CIF", help="crystal density from a CIF")
    p.add_argument("--threads", type=int, help="torch threads (default OMP_NUM_THREADS or all cores)")
    p.add_argument("--out", help="output .cfg (embedded engine, or --vasp-command)")
    vasp_run_opts(p)
    potcar_opts(p)
    species_opt(p)

    p = verb("dataset", cmd_dataset, "seeded train/test split by trajectory blocks + summary",
             "Whole blocks of consecutive frames (all their densities) go to one side. Refuses a "
             "mix of reference engines or species orders.")
    p.add_argument("inputs", nargs="+", help="evaluated configurations (.cfg)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of configurations in test")
    p.add_argument("--block-size", type=int, default=5, help="consecutive source frames per block")
    p.add_argument("--seed", type=int, default=0, help="random seed of the split")
    p.add_argument("--train", required=True, help="output training .cfg")
    p.add_argument("--test", required=True, help="output test .cfg")
    p.add_argument("--summary", required=True, help="output summary CSV (energies eV/atom, forces "
                                                    "eV/Å, stresses GPa)")
    species_opt(p)

    p = verb("convert", cmd_convert, "convert between .cfg, extxyz, POSCAR, vasprun/OUTCAR, LAMMPS data; "
             "rewrite a potential",
             "Formats by extension; --species names the element of each type where the format has "
             "no element names (.cfg, LAMMPS data). A potential (.mtp/.almtp to .mtp/.almtp) is "
             "rewritten with the same model: --species records the element order in its "
             "potential_name, MLIP-3's active-learning block (#MVS_v1.1) is kept byte for byte "
             "unless --drop-selection.")
    p.add_argument("input", help="input file")
    p.add_argument("output", help="output file")
    p.add_argument("--species", help=SPECIES_HELP)
    p.add_argument("--index", default=":", help="frames to take: ':' all, -1 last, 2:10 a slice")
    p.add_argument("--drop-selection", action="store_true",
                   help="potentials only: leave out MLIP-3's active-learning block (motep 0.2.0's "
                        "reader cannot read its binary data)")
