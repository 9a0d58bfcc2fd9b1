"""`mtpflow calc-grade` and `mtpflow select-add`: MLIP-3's extrapolation grade and multiple
selection (mtpflow.mtp.grade, mtpflow.mtp.selection), with the training set's active set cached
(mtpflow.io.active_set)."""

from __future__ import annotations

import time

_MODE_HELP = ("nbh: one row per neighbourhood, b = dV_i/dtheta, a configuration grades the largest "
              "of its atoms' grades (default; MLIP-3's --al_mode=nbh); cfg: one row per "
              "configuration, b = (dE/dtheta)/N (MLIP-3's weight_scaling 2)")
_CACHE_HELP = ("folder of cached active sets (default $MTPFLOW_CACHE_DIR/active_sets, else "
               "$XDG_CACHE_HOME/mtpflow/active_sets, else ~/.cache/mtpflow/active_sets); an entry "
               "is keyed by the potential's model and the training set's content")


def _common(p, train_help: str) -> None:
    p.add_argument("potential", metavar="POT", help="trained potential (.mtp or .almtp)")
    p.add_argument("train", metavar="TRAIN.cfg", help=train_help)
    p.add_argument("--mode", choices=("nbh", "cfg"), default="nbh", help=_MODE_HELP)
    p.add_argument("--species", default=None,
                   help="element of each type, comma-separated (e.g. Li,Cl,Al); checked against the "
                        "potential's own list and species_count (no unit)")
    p.add_argument("--threads", type=int, default=None,
                   help="numba threads for the gradients (count; default: numba's default)")
    p.add_argument("--cache-dir", default=None, help=_CACHE_HELP)
    p.add_argument("--no-cache", action="store_true",
                   help="build the active set afresh and do not store it")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "calc-grade",
        help="MLIP-3's extrapolation grade of every configuration against a training set",
        description="Write IN.cfg to OUT.cfg with each configuration's extrapolation grade "
        "(`Feature MV_grade`; in nbh mode also the AtomData column nbh_grades, each atom's grade, "
        "whose maximum MV_grade is), like MLIP-3's `mlp calculate_grade`. The active set is chosen "
        "from TRAIN.cfg's rows by MaxVol as MLIP-3 does (start 1e-6 I, swaps while a |c_j| > "
        "1.001), with gradients with respect to all coefficients (radial, species, moment). A "
        "grade <= 1 is interpolation, > 1 extrapolation; TRAIN's own configurations grade <= "
        "1.001. The active set is cached (see --cache-dir), so grading again with the same "
        "potential and training set skips it. Every other field of IN is kept; OUT may equal IN "
        "and is written atomically (nothing is written on error). Dimensionless grades.")
    _common(p, "the training set the potential was trained on (MLIP .cfg); its rows give the "
                "active set")
    p.add_argument("input", metavar="IN.cfg", help="configurations to grade (MLIP .cfg)")
    p.add_argument("output", metavar="OUT.cfg", help="output .cfg (may equal IN.cfg)")
    p.set_defaults(func=run_calc_grade)

    p = subparsers.add_parser(
        "select-add",
        help="the candidates that extend a training set's active set (MLIP-3's select_add)",
        description="Multiple selection as MLIP-3's `mlp select_add`: one MaxVol search over all "
        "candidates (every neighbourhood of each, in nbh mode) starting from TRAIN's active set; "
        "OUT.cfg gets the candidates that enter the active set, whole and as read, in their "
        "order in CANDIDATES.cfg. Candidates grading <= --threshold against TRAIN's active set "
        "are never chosen; identical candidates (same types, positions and cell) are considered "
        "once; after OUT is added to TRAIN every selected configuration grades <= the threshold. "
        "With nothing to select OUT is written empty (no configurations).")
    _common(p, "the training set (MLIP .cfg) whose active set the selection extends")
    p.add_argument("candidates", metavar="CANDIDATES.cfg",
                   help="candidate configurations, e.g. what MD with extrapolation control saved")
    p.add_argument("output", metavar="OUT.cfg", help="the selected candidates (.cfg)")
    p.add_argument("--threshold", type=float, default=1.001,
                   help="only candidates grading above it may be chosen, and MaxVol swaps while a "
                        "|c_j| exceeds it (dimensionless, >= 1; default 1.001 as MLIP-3)")
    p.add_argument("--max-configs", type=int, default=None,
                   help="select at most N configurations: the first N that MaxVol swaps in (the "
                        "most extrapolative first); the search then continues among them only")
    p.set_defaults(func=run_select_add)


def active_set_for(pot, tables, train_path, mode: str, *, cache_dir=None, use_cache: bool = True,
                   log=print):
    """The active set of the training set in `train_path` for `pot`: from the cache when a valid
    entry exists, else built (and stored). Returns (ActiveSet, training configurations)."""
    from mtpflow.io.active_set import default_cache_dir, load_cached, save_cached
    from mtpflow.io.cfg import read_cfg
    from mtpflow.mtp.grade import build_active_set, cache_key

    train = read_cfg(train_path)
    key = cache_key(pot, train, mode)
    folder = default_cache_dir() if cache_dir is None else cache_dir
    if use_cache:
        active, why = load_cached(folder, key, pot.n_params())
        if active is not None:
            log(f"active set ({mode}) from the cache: {folder}/{key}.npz")
            return active, train
        if why != "not cached yet":
            log(why)
    t0 = time.perf_counter()
    active = build_active_set(pot, train, mode, tables=tables, where=train_path)
    log(f"active set ({mode}) built from {active.n_rows} rows of {train_path} in "
        f"{time.perf_counter() - t0:.2f} s ({active.n_swaps} MaxVol swaps, "
        f"{active.n_init_rows} init rows kept)")
    if use_cache and save_cached(folder, active) is not None:
        log(f"active set cached: {folder}/{key}.npz")
    return active, train


def load_potential(path, species):
    from mtpflow.errors import InputError
    from mtpflow.io.mtp import read_mtp
    from mtpflow.mtp.calculator import resolve_species
    from mtpflow.mtp.evaluate import build_tables

    pot = read_mtp(path)
    if species is not None:
        resolve_species(pot, species, path)
    try:
        tables = build_tables(pot)
    except InputError as exc:
        raise InputError(str(exc), path) from None
    return pot, tables


def _check_threads(n):
    from mtpflow.errors import InputError
    from mtpflow.mtp.evaluate import set_threads

    if n is not None and n < 1:
        raise InputError(f"--threads must be >= 1, got {n}")
    set_threads(n)


def run_calc_grade(args) -> int:
    import numpy as np

    from mtpflow.io.atomic import check_writable
    from mtpflow.io.cfg import read_cfg, write_cfg
    from mtpflow.mtp.grade import grade_configs, with_grade

    _check_threads(args.threads)
    check_writable(args.output)
    pot, tables = load_potential(args.potential, args.species)
    configs = read_cfg(args.input)
    active, _ = active_set_for(pot, tables, args.train, args.mode, cache_dir=args.cache_dir,
                               use_cache=not args.no_cache)
    res = grade_configs(pot, active, configs, tables=tables, where=args.input)
    out = [with_grade(c, g, None if res.nbh_grades is None else res.nbh_grades[k])
           for k, (c, g) in enumerate(zip(configs, res.grades))]
    n = write_cfg(args.output, out)
    g = res.grades
    print(f"calc-grade: {n} configuration(s) graded ({args.mode}) -> {args.output}; grade median "
          f"{np.median(g):.3f}, max {g.max():.3f}; {int(np.sum(g > active.threshold))} above "
          f"{active.threshold:g} (extrapolation)")
    return 0


def check_selection_options(args) -> None:
    """--threads, --threshold and --max-configs of select-add and al-select."""
    from mtpflow.errors import InputError

    _check_threads(args.threads)
    if not (args.threshold >= 1.0):
        raise InputError(f"--threshold must be >= 1, got {args.threshold}")
    if args.max_configs is not None and args.max_configs < 1:
        raise InputError(f"--max-configs must be >= 1, got {args.max_configs}")


def run_select_add(args) -> int:
    from mtpflow.errors import InputError
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.cfg import iter_cfg, write_cfg
    from mtpflow.mtp.selection import select_add

    check_selection_options(args)
    check_writable(args.output)
    pot, tables = load_potential(args.potential, args.species)
    candidates = list(iter_cfg(args.candidates))
    if not candidates:
        raise InputError("no candidate configurations (no BEGIN_CFG block); nothing to select from",
                         args.candidates)
    active, _ = active_set_for(pot, tables, args.train, args.mode, cache_dir=args.cache_dir,
                               use_cache=not args.no_cache)
    res = select_add(pot, active, candidates, threshold=args.threshold, max_configs=args.max_configs,
                     tables=tables, where=args.candidates)
    n = write_cfg(args.output, [candidates[k] for k in res.selected])
    n_dup = int((res.duplicate_of >= 0).sum())
    print(f"select-add: {len(candidates)} candidate(s) ({n_dup} duplicate(s) ignored), "
          f"{res.n_eligible} grading above {args.threshold:g}; {n} selected -> {args.output} "
          f"({res.n_swaps} MaxVol swaps)")
    return 0
