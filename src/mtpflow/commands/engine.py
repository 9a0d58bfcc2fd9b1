"""`mtpflow calc-efs`: energies, forces and stresses of every configuration with an MTP (like
MLIP's `mlp calc-efs` / `calculate_efs`)."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "calc-efs",
        help="write every configuration of a .cfg with the potential's Energy, forces and PlusStress",
        description="Evaluate a Moment Tensor Potential on every configuration of IN.cfg and write "
        "them to OUT.cfg with the potential's Energy (eV), forces (eV/Å) and PlusStress (the "
        "virial in eV, order xx yy zz yz xz xy; only for periodic configurations), like MLIP's "
        "`mlp calc-efs`. Types in the .cfg are the potential's type indices. The output is "
        "written atomically (nothing is written on error).",
    )
    p.add_argument("potential", metavar="POT", help="trained potential (.mtp or .almtp)")
    p.add_argument("input", metavar="IN.cfg", help="configurations to evaluate (MLIP .cfg)")
    p.add_argument("output", metavar="OUT.cfg", help="output .cfg (may equal IN.cfg)")
    p.add_argument("--species", default=None,
                   help="element of each type, comma-separated (e.g. Li,Cl,Al); checked against the "
                        "potential's own list and species_count (no unit)")
    p.add_argument("--threads", type=int, default=None,
                   help="numba threads for the evaluation (count; default: numba's default)")
    p.set_defaults(func=run)


def run(args) -> int:
    from mtpflow.errors import InputError
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.cfg import read_cfg, write_cfg
    from mtpflow.io.mtp import read_mtp
    from mtpflow.mtp.calculator import resolve_species
    from mtpflow.mtp.evaluate import build_tables, evaluate_batch, set_threads, with_results

    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    check_writable(args.output)
    pot = read_mtp(args.potential)
    if args.species is not None:
        resolve_species(pot, args.species, args.potential)
    try:
        tables = build_tables(pot)
    except InputError as exc:
        raise InputError(str(exc), args.potential) from None
    configs = read_cfg(args.input)
    set_threads(args.threads)
    results = evaluate_batch(pot, configs, tables=tables, where=args.input)
    n = write_cfg(args.output, [with_results(c, r) for c, r in zip(configs, results)])
    print(f"calc-efs: {n} configuration(s) evaluated -> {args.output}")
    return 0
