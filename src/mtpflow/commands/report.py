"""Verb `report`: one self-contained HTML file over every pipeline stage given, saying what
produced it (versions, reference engine, the config as used, the model, the MD protocol, wall
times per rule). This module reads the files; mtpflow.report builds the page."""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open, check_writable

DESCRIPTION = """\
Build one HTML file (plots embedded as base64; usable as a snakemake --report entry) from
whichever stage outputs are given; stages not given or whose files are missing are listed as
absent, with the reason, instead of failing.

What produced the run: the mtpflow version (always); the reference engine from the data sets'
`Feature EFS_by` labels (--reference-data) with the package versions where known; the config as
the workflow used it (--config-used, shown in full); the MTP level and basis (--potential) and
the training settings (config); the MD protocol per stage and the thermo summary per stage
(--md-run PROTOCOL THERMO...: rows split by the protocol's global step ranges); the wall time and
memory per rule (--benchmarks logs/benchmarks). Units: eV, Å, K, GPa, ps, s, MB."""


class _Fmt(argparse.RawDescriptionHelpFormatter):
    pass


def register(sub):
    p = sub.add_parser("report", help="self-contained HTML report over the pipeline stages given",
                       formatter_class=_Fmt, description=DESCRIPTION)
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--title", default="mtpflow report", help="report title")
    p.add_argument("--config-used", default=None, help="the config as used (YAML with defaults "
                   "applied; the workflow writes results/report/config_used.yaml): shown in "
                   "full as a table, and the source of the training settings")
    p.add_argument("--reference-data", nargs="*", default=[], help="data set .cfg file(s) "
                   "(e.g. results/dataset/train.cfg test.cfg): the reference engine from their "
                   "`Feature EFS_by` labels")
    p.add_argument("--potential", nargs="*", default=[], help="trained potential(s) "
                   "(.mtp/.almtp): MTP level, species, basis size, cutoffs")
    p.add_argument("--md-run", nargs="+", action="append", default=[],
                   metavar=("PROTOCOL", "THERMO"), help="one MD run: its protocol YAML, then "
                   "its thermo CSV(s) (equilibration and production segments in any order: rows "
                   "are sorted by global step). Repeat per run. Shows the protocol per stage and "
                   "mean ± std of T, E_pot, P, V per stage")
    p.add_argument("--benchmarks", nargs="*", default=[], help="folder(s) of Snakemake "
                   "benchmark files, <folder>/<rule>/*.tsv (the workflow's logs/benchmarks): "
                   "jobs, total wall time (s) and max RSS (MB) per rule")
    p.add_argument("--dataset-summary", nargs="*", default=[], help="dataset summary CSV(s)")
    p.add_argument("--train-log", nargs="*", default=[], help="training log CSV(s): iteration, "
                   "loss, rmse_energy_per_atom_eV, rmse_force_eV_A, rmse_stress_GPa")
    p.add_argument("--al-summary", nargs="*", default=[], help="active-learning summary CSV(s) "
                   "of `mtpflow al-summary` (one row per iteration): table and plot")
    p.add_argument("--errors", nargs="*", default=[], help="validation errors JSON(s) of "
                   "`mtpflow calc-errors` (pooled and by_density)")
    p.add_argument("--parity-plots", nargs="*", default=[], help="PNG files or folders of PNGs")
    p.add_argument("--thermo", nargs="*", default=[], help="MD thermo CSV(s) without a protocol "
                   "(files also given with --md-run are shown there): step, time_ps, "
                   "temperature_K, potential_energy_eV, kinetic_energy_eV, total_energy_eV, "
                   "pressure_GPa, volume_A3")
    p.add_argument("--analysis", nargs="*", default=[], help="`mtpflow analyze` output folders")
    p.add_argument("--sweep", nargs="*", default=[], help="`mtpflow sweep` CSV(s)")
    p.set_defaults(func=cmd_report)


ANALYSIS_PNGS = ("msd", "vanhove", "alpha2", "hops", "cascades")


@dataclass
class MdRun:
    """One MD run: its protocol and its thermo rows (sorted by step, duplicates dropped)."""
    protocol_path: str
    thermo_paths: list
    protocol: object
    thermo: object          # DataFrame


def _warn(msg):
    print(f"mtpflow report: warning: {msg}", file=sys.stderr)


def _load_json(path):
    from mtpflow.commands.analysis import _load_json as load

    return load(path)


def _guard(path, load):
    """-> (path, object or None, problem or None); never raises for a missing or bad file."""
    p = Path(path)
    if not p.exists():
        return str(p), None, f"{p}: not found"
    try:
        return str(p), load(p), None
    except (OSError, ValueError, KeyError, InputError) as exc:
        return str(p), None, f"{p}: could not read ({exc})"


def _csv(p):
    import pandas as pd

    return pd.read_csv(p)


def _pngs(p):
    files = sorted(p.glob("*.png")) if p.is_dir() else [p]
    if not files:
        raise ValueError("no PNG files")
    return [(f.name, f.read_bytes()) for f in files]


def _analysis_dir(p):
    summary = _load_json(p / "summary.json") if (p / "summary.json").exists() else None
    pngs = [(n, (p / f"{n}.png").read_bytes()) for n in ANALYSIS_PNGS if (p / f"{n}.png").exists()]
    pngs += [(f.stem, f.read_bytes()) for f in sorted(p.glob("*.png"))
             if f.stem not in ANALYSIS_PNGS]
    if summary is None and not pngs:
        raise ValueError("no summary.json or PNGs: not an `mtpflow analyze` folder")
    return summary, pngs


def _yaml(p):
    import yaml

    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ValueError("not a YAML mapping")
    return data


def _potential(p):
    from mtpflow.io.mtp import read_mtp

    return read_mtp(p)


def _efs_labels(paths) -> tuple[dict, list]:
    """{EFS_by label: {file: configurations}} over the data sets, and problems."""
    from mtpflow.io.cfg import iter_cfg

    labels, problems = {}, []
    for path in paths:
        counts = {}
        try:
            for c in iter_cfg(path):
                label = next((v for k, v in c.features if k == "EFS_by"), "none recorded")
                counts[label] = counts.get(label, 0) + 1
        except InputError as exc:
            problems.append(str(exc))
            continue
        for label, n in counts.items():
            labels.setdefault(label, {})[str(path)] = n
    return labels, problems


def _md_run(paths):
    """(path, MdRun or None, problem or None) for --md-run PROTOCOL THERMO..."""
    import pandas as pd

    from mtpflow.io.md_files import read_protocol

    protocol_path, thermo_paths = paths[0], paths[1:]
    label = f"{protocol_path} + {len(thermo_paths)} thermo file(s)"
    if not thermo_paths:
        return label, None, f"--md-run {protocol_path}: give the run's thermo CSV(s) after it"
    try:
        protocol = read_protocol(protocol_path)
        frames = []
        for t in thermo_paths:
            _, df, problem = _guard(t, _csv)
            if problem:
                return label, None, problem
            if "step" not in df.columns:
                return label, None, f"{t}: no 'step' column (not an mtpflow thermo CSV)"
            frames.append(df)
        thermo = (pd.concat(frames, ignore_index=True).sort_values("step", kind="stable")
                  .drop_duplicates("step", keep="last").reset_index(drop=True))
    except InputError as exc:
        return label, None, str(exc)
    return label, MdRun(str(protocol_path), [str(t) for t in thermo_paths], protocol, thermo), None


def _benchmarks(folder):
    """Rows {rule, file, s, max_rss, cpu_time} of every <folder>/<rule>/**/*.tsv."""
    import pandas as pd

    rows = []
    for f in sorted(folder.rglob("*.tsv")):
        rel = f.relative_to(folder)
        if len(rel.parts) < 2:
            continue
        df = pd.read_csv(f, sep="\t", na_values=["NA", "-"])
        if "s" not in df.columns or df.empty:
            raise ValueError(f"{f}: not a Snakemake benchmark file (no 's' column)")
        # --benchmark-repeats writes one line per repeat: one job, its mean
        rows.append({"rule": rel.parts[0], "file": str(f), "s": df["s"].mean(),
                     "max_rss": df["max_rss"].max() if "max_rss" in df else float("nan"),
                     "cpu_time": df["cpu_time"].mean() if "cpu_time" in df else float("nan")})
    if not rows:
        raise ValueError("no <rule>/*.tsv benchmark files")
    return rows


def _versions() -> dict:
    from importlib import metadata

    import mtpflow

    out = {"mtpflow": mtpflow.__version__, "python": platform.python_version()}
    for pkg in ("chgnet", "torch", "ase", "numpy", "numba", "snakemake"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def cmd_report(args) -> int:
    from mtpflow.report.build import build_report

    out = check_writable(args.out)
    cfg = _guard(args.config_used, _yaml) if args.config_used else None
    runs = [_md_run(paths) for paths in args.md_run]
    in_runs = {str(Path(t)) for _, run, _ in runs if run for t in run.thermo_paths}
    thermo = [_guard(p, _csv) for p in args.thermo if str(Path(p)) not in in_runs]
    missing = [p for p in args.reference_data if not Path(p).exists()]
    labels, problems = _efs_labels([p for p in args.reference_data if p not in missing])
    stages = {
        "provenance": [("", {"versions": _versions(), "labels": labels,
                             "problems": problems + [f"{p}: not found" for p in missing],
                             "config": cfg[1] if cfg else None}, None)],
        "config_used": [cfg] if cfg else [],
        "model": [_guard(p, _potential) for p in args.potential] + (
            [("config", cfg[1], None)] if cfg and cfg[1] else []),
        "dataset_summary": [_guard(p, _csv) for p in args.dataset_summary],
        "train_log": [_guard(p, _csv) for p in args.train_log],
        "al_summary": [_guard(p, _csv) for p in args.al_summary],
        "errors": [_guard(p, _load_json) for p in args.errors],
        "parity_plots": [_guard(p, _pngs) for p in args.parity_plots],
        "thermo": runs + thermo,
        "analysis": [_guard(p, _analysis_dir) for p in args.analysis],
        "sweep": [_guard(p, _csv) for p in args.sweep],
        "benchmarks": [_guard(p, _benchmarks) for p in args.benchmarks],
    }
    rep = build_report(args.title, stages)
    for sec in rep.sections:
        if sec.status not in ("present", "not run"):
            _warn(f"{sec.title}: {sec.status}")
    with atomic_open(out) as fh:
        fh.write(rep.render())
    status = ", ".join(f"{s.title}: {s.status}" for s in rep.sections)
    print(f"report -> {out} ({status})")
    return 0
