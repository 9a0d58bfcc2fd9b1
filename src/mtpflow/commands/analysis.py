"""Verbs `analyze` and `sweep`: dynamic heterogeneity of one species and composition sweeps
(the HTML report is mtpflow.commands.report)."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open, check_writable, output_folder

ANALYZE_DESCRIPTION = """\
Dynamic heterogeneity of one species (e.g. Li+) from an MD trajectory: MSD (FFT, all time origins)
and D from a fitted diffusive range, Nernst-Einstein conductivity (Haven ratio 1), self van Hove
P(r,t) = 4 pi r^2 Gs(r,t) and alpha2(t), caged vs hopping ions (hops, hop rate, residence times),
and cascade hopping P_casc against a shuffled-time null. Writes msd.csv, vanhove.csv, alpha2.csv,
hops.csv, ions.csv, residence.csv, cascades.csv, PNG plots and summary.json into --outdir.

Input: extended XYZ (Lattice, positions unwrapped or wrapped, optional time_ps/step info keys) or
LAMMPS text dumps (id type [element] with x y z | xu yu zu | xs ys zs [ix iy iz]; orthorhombic or
triclinic); one file, or the segments of one run in order (read as one trajectory). Frames are
streamed and only the chosen species is kept in memory. Positions are unwrapped in fractional
coordinates (image flags when present, otherwise minimum image frame to frame).
Units: Å, ps (fs for --frame-interval-fs), K, S/cm."""


def _floats(text, name):
    try:
        vals = [float(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise InputError(f"{name} takes comma-separated numbers, got {text!r}") from None
    if not vals:
        raise InputError(f"{name} is empty")
    return vals


def register(sub):
    p = sub.add_parser("analyze", help="MSD, van Hove, alpha2, hops and cascade hopping of one "
                       "species in a trajectory", description=ANALYZE_DESCRIPTION,
                       formatter_class=_Fmt)
    p.add_argument("trajectory", nargs="+", help="extxyz or LAMMPS dump file (.gz accepted); several "
                   "files are read in order as one trajectory: the segments of one run, which must "
                   "continue each other (same atoms; each file's first frame one frame interval "
                   "after the previous file's last, by step or time_ps: no repeated or missing "
                   "frames; the same cell at the boundary under NVT)")
    p.add_argument("--species", required=True, help="element (e.g. Li), or a LAMMPS type number "
                   "for dumps without an element column")
    p.add_argument("--format", choices=["extxyz", "lammps-dump"], default=None,
                   help="trajectory format (default: detected from the first line)")
    p.add_argument("--frame-interval-fs", type=float, default=None, help="time between stored "
                   "frames in fs; required when frames carry no time_ps (LAMMPS dumps), ignored "
                   "(with a warning if different) when they do")
    p.add_argument("--every", type=int, default=1, help="keep every K-th frame (unwrapping still "
                   "uses all frames). Default 1")
    p.add_argument("--lags-ps", default=None, help="van Hove lags in ps, comma-separated (e.g. "
                   "1,10,100). Default: the decades 0.01 ... 10^4 ps between 2 frames and half the "
                   "trajectory, as the P(r,t) figures of the talk")
    p.add_argument("--hop-distance", type=float, default=None, help="hop threshold in Å on the "
                   "move of an ion's time-averaged position. Default: the minimum of P(r,t) "
                   "between the cage peak and the hop peak (it separates the two populations); "
                   "accepted only inside --hop-window and when both peaks rise >= 3 counting "
                   "standard deviations above it; otherwise 1.6 Å (about half a Li-Li site "
                   "distance in chlorides), with the reason in summary.json "
                   "(hop_distance_reason)")
    p.add_argument("--hop-window", default="1.5,4.5", help="low,high in Å: where a P(r,t) "
                   "minimum is accepted as the hop distance. Default 1.5,4.5 (between the Li "
                   "cage, < ~1 Å, and Li-Li site distances of ~2.5-4 Å in chlorides)")
    p.add_argument("--smooth-ps", type=float, default=0.5, help="window in ps of the moving "
                   "average removing cage vibration before hop detection. Default 0.5 ps (several "
                   "Li vibration periods of 0.1-0.2 ps, shorter than typical residence times)")
    p.add_argument("--cascade-radius", type=float, default=1.0, help="Å: a hop of B is a cascade "
                   "when it ends this close to a site another ion A left. Default 1.0 Å (~ the "
                   "cage size, well under half the Li-Li site distance)")
    p.add_argument("--cascade-window", type=float, default=1.0, help="ps: A must have left at "
                   "most this long before B's hop. Default 1.0 ps (a few cage relaxation times)")
    p.add_argument("--shuffles", type=int, default=20, help="time shuffles for the P_casc null "
                   "baseline (default 20; the std is reported)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the shuffles (default 0)")
    p.add_argument("--fit-range-ps", default=None, help="start,end in ps of the linear MSD fit "
                   "for D. Default: 10%%-50%% of the trajectory length (shorter lags are "
                   "ballistic or caged, longer ones have few independent time origins); the "
                   "log-log slope in the range is reported (1 = diffusive)")
    p.add_argument("--temperature-K", type=float, default=None, help="temperature in K for the "
                   "Nernst-Einstein conductivity; without it conductivity_S_per_cm is null")
    p.add_argument("--charge", type=float, default=None, help="ion charge in e for the "
                   "conductivity. Default: the species' formal charge (Li +1)")
    p.add_argument("--outdir", default=None, help="output folder (default: <trajectory "
                   "stem>_analysis beside the trajectory)")
    p.add_argument("--json", default=None, help="summary JSON path (default OUTDIR/summary.json)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("sweep", help="collect analysis summaries into one table and plot D, sigma, "
                       "hop fraction and P_casc against [CC]", formatter_class=_Fmt,
                       description="Collect summary.json files of `mtpflow analyze` (files or "
                       "folders holding one) into a CSV, one row per trajectory, with [CC] as the "
                       "species' number density (per nm^3) and as x = N_species / N_ref (x of "
                       "Li_xAlCl_{3+x} with ref Al); plots against both, one line per temperature "
                       "(<stem>_vs_cc.png, <stem>_vs_x.png), and against temperature, one line "
                       "per composition, when there are several (<stem>_vs_T.png). Replicas of "
                       "one state point are averaged (error bars: their standard deviation). With "
                       "one state point the plot says so instead of drawing one point.")
    p.add_argument("summaries", nargs="+", help="summary.json files or analysis folders")
    p.add_argument("--out", required=True, help="sweep CSV path; plots go beside it as "
                   "<stem>_vs_cc.png, <stem>_vs_x.png and <stem>_vs_T.png")
    p.add_argument("--reference-element", default="Al", help="element counted for x = N_species "
                   "/ N_ref (default Al)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=cmd_sweep)


class _Fmt(__import__("argparse").RawDescriptionHelpFormatter):
    pass


def _warn(verb, msg):
    print(f"mtpflow {verb}: warning: {msg}", file=sys.stderr)


def _check_analyze_options(args) -> None:
    """Values no analysis can use are errors naming the option (not a silent odd result)."""
    rules = (("--frame-interval-fs", args.frame_interval_fs, lambda v: v > 0, "> 0 fs"),
             ("--hop-distance", args.hop_distance, lambda v: v > 0, "> 0 Å"),
             ("--smooth-ps", args.smooth_ps, lambda v: v >= 0, ">= 0 ps"),
             ("--cascade-radius", args.cascade_radius, lambda v: v > 0, "> 0 Å"),
             ("--cascade-window", args.cascade_window, lambda v: v >= 0, ">= 0 ps"),
             ("--temperature-K", args.temperature_K, lambda v: v > 0, "> 0 K"),
             ("--charge", args.charge, lambda v: v != 0, "a non-zero charge in e"))
    for name, value, ok, need in rules:
        if value is not None and not (math.isfinite(value) and ok(value)):
            raise InputError(f"{name} {value:g}: give a finite number {need}")
    if args.every < 1:
        raise InputError(f"--every {args.every}: give a positive number of frames")
    if args.shuffles < 0:
        raise InputError(f"--shuffles {args.shuffles}: give a number of shuffles >= 0")


def cmd_analyze(args) -> int:
    from mtpflow.analysis.base import lag_frames
    from mtpflow.analysis.pipeline import AnalysisOptions, analyze
    from mtpflow.io.json_files import write_json
    from mtpflow.io.trajectory import read_species_trajectory

    _check_analyze_options(args)
    traj_path = Path(args.trajectory[0])
    outdir = Path(args.outdir) if args.outdir else traj_path.parent / f"{traj_path.stem}_analysis"
    json_path = Path(args.json) if args.json else outdir / "summary.json"
    check_writable(outdir / "msd.csv")
    check_writable(json_path)
    fit = _floats(args.fit_range_ps, "--fit-range-ps") if args.fit_range_ps else None
    if fit is not None and (len(fit) != 2 or not 0 <= fit[0] < fit[1] < math.inf):
        raise InputError(f"--fit-range-ps takes start,end in ps with 0 <= start < end, got "
                         f"{args.fit_range_ps!r}")
    window = _floats(args.hop_window, "--hop-window")
    if len(window) != 2 or not 0 < window[0] < window[1]:
        raise InputError(f"--hop-window takes low,high in Å with 0 < low < high, got "
                         f"{args.hop_window!r}")
    opts = AnalysisOptions(
        lags_ps=_floats(args.lags_ps, "--lags-ps") if args.lags_ps else None,
        hop_distance_A=args.hop_distance, hop_window_A=tuple(window),
        cascade_radius_A=args.cascade_radius,
        cascade_window_ps=args.cascade_window, smooth_ps=args.smooth_ps, fit_range_ps=fit,
        temperature_K=args.temperature_K, charge_e=args.charge, n_shuffles=args.shuffles,
        seed=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traj = read_species_trajectory(args.trajectory, args.species, every=args.every,
                                       frame_interval_fs=args.frame_interval_fs, fmt=args.format)
    notes = [str(w.message) for w in caught]
    if opts.lags_ps:
        try:
            lag_frames(opts.lags_ps, traj.dt_ps, traj.n_frames, name="--lags-ps lag")
        except InputError as exc:
            raise InputError(str(exc), traj.path) from None
    run = analyze(traj, opts, notes)
    plots = {}
    if not args.no_plots:
        from mtpflow.report.plots import analysis_plots
        plots = analysis_plots(run)
    for msg in run.summary["warnings"]:
        _warn("analyze", msg)
    with output_folder(outdir) as add:     # a failed write leaves no partial folder
        for name, df in run.tables.items():
            add(outdir / f"{name}.csv")
            with atomic_open(outdir / f"{name}.csv") as fh:
                df.to_csv(fh, index=False, float_format="%.8g")
        for name, png in plots.items():
            add(outdir / f"{name}.png")
            with atomic_open(outdir / f"{name}.png", "wb") as fh:
                fh.write(png)
        write_json(json_path, run.summary, indent=1)
    s = run.summary
    sig = s["conductivity_S_per_cm"]
    print(f"{s['species']}: {s['n_ions']} ions, {s['n_frames']} frames x {s['dt_ps']:g} ps; "
          f"D = {s['D_A2_per_ps']:.4g} Å²/ps (fit {s['D_fit_range_ps'][0]:g}-"
          f"{s['D_fit_range_ps'][1]:g} ps), sigma = "
          f"{'null' if sig is None else f'{sig:.4g} S/cm'}; hops {s['n_hops']} (fraction "
          f"{s['hop_fraction']:.3f}, d = {s['hop_distance_A']:.3g} Å, "
          f"{s['hop_distance_source']}); P_casc = {_fmt(s['p_casc'])} vs null "
          f"{_fmt(s['p_casc_null'])} ± {_fmt(s['p_casc_null_std'])}: {s['p_casc_verdict']} "
          f"-> {outdir}")
    return 0


def _fmt(v):
    return "n/a" if v is None else f"{v:.3g}"


def _load_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", path, exc.lineno) from None


def cmd_sweep(args) -> int:
    from mtpflow.analysis.sweep import has_x, sweep_table

    out = check_writable(args.out)
    items = []
    for s in args.summaries:
        p = Path(s)
        if p.is_dir():
            p = p / "summary.json"
        if not p.exists():
            raise InputError("summary not found (give summary.json files or analysis folders)", p)
        items.append((str(p), _load_json(p)))
    df = sweep_table(items, args.reference_element)
    with atomic_open(out) as fh:
        df.to_csv(fh, index=False, float_format="%.8g")
    if not args.no_plots:
        from mtpflow.report.plots import ONE_POINT, message_figure, state_points, sweep_plot

        one = state_points(df) < 2
        if one:
            _warn("sweep", ONE_POINT)
        for x, suffix in (("cc_density_per_nm3", "cc"), ("x", "x"), ("temperature_K", "T")):
            if x == "x" and not has_x(df):
                _warn("sweep", f"no {args.reference_element} in the compositions: no plot vs x")
                continue
            png = sweep_plot(df, x)
            if png is None and one and suffix != "T":
                png = message_figure(ONE_POINT)
            if png:
                with atomic_open(out.with_name(f"{out.stem}_vs_{suffix}.png"), "wb") as fh:
                    fh.write(png)
    print(f"{len(df)} trajectories -> {out}")
    return 0
