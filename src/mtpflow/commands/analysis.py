"""Verbs `analyze`, `sweep`, `report`: dynamic heterogeneity of one species, composition sweeps,
and the self-contained HTML report over every pipeline stage given."""

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
triclinic). Only the chosen species is kept in memory. Positions are unwrapped in fractional
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
    p.add_argument("trajectory", help="extxyz or LAMMPS dump file (.gz accepted)")
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
                   "1.6 Å (about half a Li-Li site distance in chlorides) when P(r,t) has no "
                   "such minimum")
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
                       "Li_xAlCl_{3+x} with ref Al); plots against both, one line per temperature.")
    p.add_argument("summaries", nargs="+", help="summary.json files or analysis folders")
    p.add_argument("--out", required=True, help="sweep CSV path; plots go beside it as "
                   "<stem>_vs_cc.png and <stem>_vs_x.png")
    p.add_argument("--reference-element", default="Al", help="element counted for x = N_species "
                   "/ N_ref (default Al)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("report", help="self-contained HTML report over the pipeline stages given",
                       formatter_class=_Fmt, description="Build one HTML file (plots embedded as "
                       "base64; usable as a snakemake --report entry) from whichever stage "
                       "outputs are given; stages not given or whose files are missing are listed "
                       "as absent instead of failing.")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--title", default="mtpflow report", help="report title")
    p.add_argument("--dataset-summary", nargs="*", default=[], help="dataset summary CSV(s)")
    p.add_argument("--train-log", nargs="*", default=[], help="training log CSV(s): iteration, "
                   "loss, rmse_energy_per_atom_eV, rmse_force_eV_A, rmse_stress_GPa")
    p.add_argument("--errors", nargs="*", default=[], help="validation errors JSON(s)")
    p.add_argument("--parity-plots", nargs="*", default=[], help="PNG files or folders of PNGs")
    p.add_argument("--thermo", nargs="*", default=[], help="MD thermo CSV(s): step, time_ps, "
                   "temperature_K, potential_energy_eV, kinetic_energy_eV, total_energy_eV, "
                   "pressure_GPa, volume_A3")
    p.add_argument("--analysis", nargs="*", default=[], help="`mtpflow analyze` output folders")
    p.add_argument("--sweep", nargs="*", default=[], help="`mtpflow sweep` CSV(s)")
    p.set_defaults(func=cmd_report)


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
    traj_path = Path(args.trajectory)
    outdir = Path(args.outdir) if args.outdir else traj_path.parent / f"{traj_path.stem}_analysis"
    json_path = Path(args.json) if args.json else outdir / "summary.json"
    check_writable(outdir / "msd.csv")
    check_writable(json_path)
    fit = _floats(args.fit_range_ps, "--fit-range-ps") if args.fit_range_ps else None
    if fit is not None and (len(fit) != 2 or not 0 <= fit[0] < fit[1] < math.inf):
        raise InputError(f"--fit-range-ps takes start,end in ps with 0 <= start < end, got "
                         f"{args.fit_range_ps!r}")
    opts = AnalysisOptions(
        lags_ps=_floats(args.lags_ps, "--lags-ps") if args.lags_ps else None,
        hop_distance_A=args.hop_distance, cascade_radius_A=args.cascade_radius,
        cascade_window_ps=args.cascade_window, smooth_ps=args.smooth_ps, fit_range_ps=fit,
        temperature_K=args.temperature_K, charge_e=args.charge, n_shuffles=args.shuffles,
        seed=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traj = read_species_trajectory(traj_path, args.species, every=args.every,
                                       frame_interval_fs=args.frame_interval_fs, fmt=args.format)
    notes = [str(w.message) for w in caught]
    if opts.lags_ps:
        try:
            lag_frames(opts.lags_ps, traj.dt_ps, traj.n_frames, name="--lags-ps lag")
        except InputError as exc:
            raise InputError(str(exc), traj_path) from None
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
          f"{s['hop_fraction']:.3f}, d = {s['hop_distance_A']:.3g} Å); P_casc = "
          f"{_fmt(s['p_casc'])} vs null {_fmt(s['p_casc_null'])} -> {outdir}")
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
        from mtpflow.report.plots import sweep_plot
        for x, suffix in (("cc_density_per_nm3", "cc"), ("x", "x")):
            if x == "x" and not has_x(df):
                _warn("sweep", f"no {args.reference_element} in the compositions: no plot vs x")
                continue
            png = sweep_plot(df, x)
            if png:
                with atomic_open(out.with_name(f"{out.stem}_vs_{suffix}.png"), "wb") as fh:
                    fh.write(png)
    print(f"{len(df)} trajectories -> {out}")
    return 0


STAGES = [("dataset_summary", "Dataset summary", "csv"), ("train_log", "Training curve", "csv"),
          ("errors", "Validation metrics", "json"), ("parity_plots", "Parity plots", "png"),
          ("thermo", "MD thermodynamics", "csv"), ("analysis", "Dynamic heterogeneity", "dir"),
          ("sweep", "Composition sweep", "csv")]
ANALYSIS_PNGS = ("msd", "vanhove", "alpha2", "hops", "cascades")


def _load_input(kind, path):
    """-> (path, object or None, problem or None); never raises for a missing or bad file."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        return str(p), None, f"{p}: not found"
    try:
        if kind == "csv":
            return str(p), pd.read_csv(p), None
        if kind == "json":
            return str(p), _load_json(p), None
        if kind == "png":
            files = sorted(p.glob("*.png")) if p.is_dir() else [p]
            if not files:
                return str(p), None, f"{p}: no PNG files"
            return str(p), [(f.name, f.read_bytes()) for f in files], None
        summary = _load_json(p / "summary.json") if (p / "summary.json").exists() else None
        pngs = [(n, (p / f"{n}.png").read_bytes()) for n in ANALYSIS_PNGS if (p / f"{n}.png").exists()]
        pngs += [(f.stem, f.read_bytes()) for f in sorted(p.glob("*.png")) if f.stem not in ANALYSIS_PNGS]
        if summary is None and not pngs:
            return str(p), None, f"{p}: no summary.json or PNGs (not an `mtpflow analyze` folder)"
        return str(p), (summary, pngs), None
    except (OSError, ValueError, InputError) as exc:
        return str(p), None, f"{p}: could not read ({exc})"


def cmd_report(args) -> int:
    from mtpflow.report.build import build_report

    out = check_writable(args.out)
    stages = {key: (title, [_load_input(kind, p) for p in getattr(args, key)])
              for key, title, kind in STAGES}
    rep = build_report(args.title, stages)
    for sec in rep.sections:
        if sec.status != "present":
            _warn("report", f"{sec.title}: {sec.status}")
    with atomic_open(out) as fh:
        fh.write(rep.render())
    status = ", ".join(f"{s.title}: {s.status}" for s in rep.sections)
    print(f"report -> {out} ({status})")
    return 0
