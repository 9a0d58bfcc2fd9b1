"""`mtpflow init-mtp`: write an untrained (or randomly initialised) MLIP-readable potential."""

from __future__ import annotations

import sys

from mtpflow.errors import InputError
from mtpflow.species import parse_species


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "init-mtp",
        help="write an untrained MTP of any level (generated basis, or an MLIP template)",
        description="Write an MLIP-readable .mtp potential with the basis of --level generated from "
        "the level definition (level of M_{mu,nu} = 2 + 4 mu + nu; at most 4 factors, mu <= 5, "
        "nu <= 10, as MLIP's templates), or with the tables of an MLIP template (--from-template). "
        "The element order is stored in the potential_name token (NAME;mtpflow;species:Li,Al,Cl), "
        "which MLIP-3 and motep read as the potential's name.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--level", type=int, help="MTP level (even, >= 2; MLIP ships 06..28)")
    src.add_argument("--from-template", metavar="FILE",
                     help="read the basis tables from this MLIP .mtp/.almtp template instead")
    p.add_argument("--species", required=True,
                   help="elements of types 0, 1, ... in order, comma-separated (e.g. Li,Al,Cl)")
    p.add_argument("--min-dist", type=float, required=True, help="min_dist of the radial basis (Å)")
    p.add_argument("--max-dist", type=float, required=True, help="cut-off radius max_dist (Å)")
    p.add_argument("--radial-basis-size", type=int, default=None,
                   help="number of Chebyshev radial basis functions (count; default 8, or the "
                        "template's)")
    p.add_argument("--radial-funcs-count", type=int, default=None,
                   help="number of radial functions mu (count; default MLIP's rule "
                        "min(floor((level-2)/4), 5) + 1; smaller drops moments with mu >= R); "
                        "not with --from-template")
    p.add_argument("--random-coeffs", action="store_true",
                   help="also write random coefficients (radial uniform in [-1, 1], species 0 eV, "
                        "moment uniform in [-1e-3, 1e-3] eV)")
    p.add_argument("--seed", type=int, default=None, help="random seed for --random-coeffs (integer)")
    p.add_argument("--out", required=True, help="output potential file (.mtp or .almtp)")
    p.set_defaults(func=run)


def run(args) -> int:
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.mtp import read_mtp, write_mtp
    from mtpflow.mtp.init import from_template, init_potential

    check_writable(args.out)
    species = parse_species(args.species)
    if args.from_template:
        if args.radial_funcs_count is not None:
            raise InputError("--radial-funcs-count cannot change a template's tables; drop it or use "
                             "--level", args.from_template)
        pot = from_template(read_mtp(args.from_template), species, args.min_dist, args.max_dist,
                            args.radial_basis_size, args.random_coeffs, args.seed)
    else:
        pot = init_potential(args.level, species, args.min_dist, args.max_dist,
                             8 if args.radial_basis_size is None else args.radial_basis_size,
                             args.radial_funcs_count, args.random_coeffs, args.seed)
    write_mtp(args.out, pot,
              warn=lambda msg: print(f"mtpflow init-mtp: warning: {msg}", file=sys.stderr, flush=True))
    print(f"wrote {args.out}: level {pot.level}, {pot.species_count} species "
          f"({','.join(pot.species or [])}), {pot.alpha_scalar_moments} basis functions, "
          f"{pot.alpha_moments_count} moments, {pot.alpha_index_times_count} products, "
          f"radial_funcs_count {pot.radial_funcs_count}, {pot.n_params()} parameters")
    return 0
