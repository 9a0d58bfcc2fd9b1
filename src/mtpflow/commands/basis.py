"""`mtpflow init-mtp`: write an untrained (or randomly initialised) MLIP-readable potential."""

from __future__ import annotations

import sys

from mtpflow.errors import InputError
from mtpflow.species import parse_species


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "init-mtp",
        help="write an untrained MTP of any level (generated basis, or an MLIP template), or "
        "upgrade a trained one to a higher level (--from)",
        description="Write an MLIP-readable .mtp potential with the basis of --level generated from "
        "the level definition (level of M_{mu,nu} = 2 + 4 mu + nu; at most 4 factors, mu <= 5, "
        "nu <= 10, as MLIP's templates), or with the tables of an MLIP template (--from-template). "
        "The element order is stored in the potential_name token (NAME;mtpflow;species:Li,Al,Cl), "
        "which MLIP-3 and motep read as the potential's name.",
    )
    p.add_argument("--level", type=int, help="MTP level (even, >= 2; MLIP ships 06..28)")
    p.add_argument("--from-template", metavar="FILE",
                   help="read the basis tables from this MLIP .mtp/.almtp template instead")
    p.add_argument("--from", dest="upgrade_from", metavar="TRAINED",
                   help="upgrade this trained potential to --level (>= its own): the generated "
                   "basis of --level with the same function (species coefficients, radial "
                   "functions, scaling, min/max_dist and every old basis function's coefficient "
                   "kept, matched by contraction graph; new basis functions 0; new radial "
                   "functions start as MLIP-3 starts an untrained potential's); species and "
                   "distances come from the file")
    p.add_argument("--species",
                   help="elements of types 0, 1, ... in order, comma-separated (e.g. Li,Al,Cl); "
                   "required except with --from (there it must match the file's)")
    p.add_argument("--min-dist", type=float, help="min_dist of the radial basis (Å; required "
                   "except with --from)")
    p.add_argument("--max-dist", type=float, help="cut-off radius max_dist (Å; required except "
                   "with --from)")
    p.add_argument("--radial-basis-size", type=int, default=None,
                   help="number of Chebyshev radial basis functions (count; default 8, or the "
                        "template's)")
    p.add_argument("--radial-funcs-count", type=int, default=None,
                   help="number of radial functions mu (count; default MLIP's rule "
                        "min(floor((level-2)/4), 5) + 1; smaller drops moments with mu >= R; "
                        "with --from at least the file's, default the larger of the rule and the "
                        "file's); not with --from-template")
    p.add_argument("--random-coeffs", action="store_true",
                   help="also write random coefficients (radial uniform in [-1, 1], species 0 eV, "
                        "moment uniform in [-1e-3, 1e-3] eV)")
    p.add_argument("--seed", type=int, default=None, help="random seed for --random-coeffs (integer)")
    p.add_argument("--out", required=True, help="output potential file (.mtp or .almtp)")
    p.set_defaults(func=run)


def _check_sources(args) -> None:
    if args.from_template and (args.level is not None or args.upgrade_from):
        raise InputError("give one of --level, --from-template (with --from, --level is the target "
                         "level)")
    if args.level is None and not args.from_template:
        raise InputError("give --level (the MTP level) or --from-template FILE")
    if args.upgrade_from:
        for flag, value in (("--min-dist", args.min_dist), ("--max-dist", args.max_dist),
                            ("--radial-basis-size", args.radial_basis_size),
                            ("--random-coeffs", args.random_coeffs or None)):
            if value is not None:
                raise InputError(f"{flag} cannot be given with --from: an upgrade keeps the "
                                 "file's radial basis and coefficients", args.upgrade_from)
        return
    missing = [f for f, v in (("--species", args.species), ("--min-dist", args.min_dist),
                              ("--max-dist", args.max_dist)) if v is None]
    if missing:
        raise InputError(f"{', '.join(missing)} required (or --from TRAINED to upgrade a trained "
                         "potential)")


def run(args) -> int:
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.mtp import read_mtp, write_mtp
    from mtpflow.mtp.init import from_template, init_potential

    _check_sources(args)
    check_writable(args.out)
    species = parse_species(args.species)
    warn = lambda msg: print(f"mtpflow init-mtp: warning: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    if args.upgrade_from:
        from mtpflow.mtp.upgrade import upgrade

        src = read_mtp(args.upgrade_from)
        if species is not None and src.species is not None and species != src.species:
            raise InputError(f"--species {','.join(species)} differs from the potential's species "
                             f"{','.join(src.species)}", args.upgrade_from)
        pot, info = upgrade(src, args.level, args.radial_funcs_count, args.upgrade_from)
        if species is not None:
            pot.species = species
        write_mtp(args.out, pot, warn=warn)
        print(f"upgraded {args.upgrade_from} (level {src.level}) to level {args.level}: "
              f"{info['kept']} basis functions kept (matched by contraction graph, "
              f"{info['matched']}), {info['new']} new at coefficient 0; radial functions: "
              f"{info['radial_kept']} kept, {info['radial_new']} new (MLIP-3's untrained start); "
              "the same function as the source")
    elif args.from_template:
        if args.radial_funcs_count is not None:
            raise InputError("--radial-funcs-count cannot change a template's tables; drop it or use "
                             "--level", args.from_template)
        pot = from_template(read_mtp(args.from_template), species, args.min_dist, args.max_dist,
                            args.radial_basis_size, args.random_coeffs, args.seed)
        write_mtp(args.out, pot, warn=warn)
    else:
        pot = init_potential(args.level, species, args.min_dist, args.max_dist,
                             8 if args.radial_basis_size is None else args.radial_basis_size,
                             args.radial_funcs_count, args.random_coeffs, args.seed)
        write_mtp(args.out, pot, warn=warn)
    print(f"wrote {args.out}: level {pot.level}, {pot.species_count} species "
          f"({','.join(pot.species or [])}), {pot.alpha_scalar_moments} basis functions, "
          f"{pot.alpha_moments_count} moments, {pot.alpha_index_times_count} products, "
          f"radial_funcs_count {pot.radial_funcs_count}, {pot.n_params()} parameters")
    return 0
