"""Checks of every stage's outputs after a real run of the workflow (not just existence). Each check
takes the config as written and reads it as the workflow does (the schema's defaults filled in)."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from mtpflow.workflow_config import md_parts, md_stage_steps, production_frames

from .smk import with_defaults

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(np.asarray(a, dtype=float))) for a in arrays)


def _counts(formula: str, replicate=(1, 1, 1)) -> dict[str, int]:
    n = int(np.prod(replicate))
    return {el: int(k or 1) * n for el, k in re.findall(r"([A-Z][a-z]?)(\d*)", formula)}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, f"{path}: no rows"
    return rows


def _png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path}: not a PNG"


def check_initial(wd: Path, cfg: dict) -> None:
    import ase.io

    cfg = with_defaults(cfg)
    for comp in cfg["initial"]["compositions"]:
        for r in range(cfg["initial"]["replicas"]):
            atoms = ase.io.read(wd / f"results/initial/{comp}/r{r}/start.extxyz")
            want = _counts(cfg["compositions"][comp]["formula"])
            symbols = atoms.get_chemical_symbols()
            assert {el: symbols.count(el) for el in want} == want
            assert atoms.cell.volume > 0 and _finite(atoms.positions)


def check_aimd(wd: Path, cfg: dict) -> None:
    import ase.io

    cfg = with_defaults(cfg)
    for comp in cfg["initial"]["compositions"]:
        for r in range(cfg["initial"]["replicas"]):
            frames = ase.io.read(wd / f"results/aimd/{comp}/r{r}/traj.extxyz", ":")
            every = cfg["aimd"]["every"]
            assert len(frames) == cfg["aimd"]["steps"] // every + 1, len(frames)  # step 0 and every k-th
            energies = [f.get_potential_energy() for f in frames]
            forces = np.array([f.get_forces() for f in frames])
            assert _finite(energies, forces)
            assert np.ptp(energies) > 0  # the system moved


def check_collect_densify_dataset(wd: Path, cfg: dict) -> None:
    from mtpflow.io.cfg import read_cfg

    cfg = with_defaults(cfg)
    comps = cfg["initial"]["compositions"]
    n_dense = 0
    for comp in comps:
        for r in range(cfg["initial"]["replicas"]):
            melt = read_cfg(wd / f"results/collect/{comp}/r{r}/melt.cfg")
            dense = read_cfg(wd / f"results/densify/{comp}/r{r}/multi_density.cfg")
            n_aimd = cfg["aimd"]["steps"] // cfg["aimd"]["every"] + 1
            assert len(melt) == -(-n_aimd // cfg["collect"]["every"]) or cfg["collect"]["skip_ps"] > 0
            kept = -(-len(melt) // cfg["densify"]["every"])
            assert melt and len(dense) == kept * len(cfg["densify"]["volume_factors"])
            for c in dense:
                assert c.energy is not None and c.forces is not None and c.plus_stress is not None
                assert _finite(c.energy, c.forces, c.plus_stress, c.positions)
            volumes = sorted({round(abs(np.linalg.det(c.cell)), 3) for c in dense[: len(cfg["densify"]["volume_factors"])]})
            assert len(volumes) == len(cfg["densify"]["volume_factors"])
            n_dense += len(dense)
    train = read_cfg(wd / "results/dataset/train.cfg")
    test = read_cfg(wd / "results/dataset/test.cfg")
    assert train and test and len(train) + len(test) == n_dense
    rows = _read_csv(wd / "results/dataset/summary.csv")
    assert {"volume_factor", "n_configs"} <= set(rows[0])
    assert sum(int(row["n_configs"]) for row in rows) == n_dense


def check_training(wd: Path, cfg: dict) -> None:
    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.mtp import read_mtp

    cfg = with_defaults(cfg)
    n_test = len(read_cfg(wd / "results/dataset/test.cfg"))
    for level in cfg["mtp"]["levels"]:
        d = f"L{level:02d}"
        pot = read_mtp(wd / f"results/mtp/{d}/trained.mtp")
        assert pot.species_count == len(cfg["species"])
        assert pot.moment_coeffs is not None and _finite(pot.moment_coeffs, pot.radial_coeffs)
        rows = _read_csv(wd / f"results/mtp/{d}/train_log.csv")
        loss = [float(row["loss"]) for row in rows]
        assert _finite(loss) and len(rows) <= cfg["train"]["max_iter"] + 1
        assert loss[-1] <= loss[0]
        errors = json.loads((wd / f"results/validation/{d}/errors.json").read_text())
        assert errors["n_configs"] == n_test
        for quantity in ("energy_per_atom", "forces", "stress"):
            metrics = errors[quantity]
            for key in ("mae", "rmse", "r2", "max"):
                assert math.isfinite(metrics[key]), (quantity, key)
            assert 0 <= metrics["mae"] <= metrics["rmse"] <= metrics["max"]
        pngs = sorted((wd / f"results/validation/{d}/parity").glob("*.png"))
        assert len(pngs) == 3
        for p in pngs:
            _png(p)


def check_report(wd: Path, cfg: dict, sections: list[str]) -> None:
    import yaml

    from mtpflow import __version__

    html = (wd / "results/report/report.html").read_text()
    assert "<html" in html[:500].lower()
    assert "data:image/png;base64," in html
    # what produced it: the version, the engine of the data, the config as used, the protocol
    # per stage, the thermo per stage and the wall time per rule
    assert f"by mtpflow {__version__}" in html and "CHGNet-0.3.0" in html
    used = yaml.safe_load((wd / "results/report/config_used.yaml").read_text())
    assert used["train"]["force_weight"] == cfg["train"]["force_weight"]
    assert "train.force_weight" in html and "md.quench_rate_K_per_s" in html
    assert "T_start → T_end (K)" in html and "T (K) mean ± std" in html
    assert "1 melt" in html and "3 production" in html
    assert "total wall (s)" in html and "max RSS (MB)" in html
    assert "overflow-x:auto" in html
    log = (wd / "logs/report/all.log").read_text()
    for name in sections:  # mtpflow report lists each section as present or absent
        assert f"{name}: present" in log, (name, log)


def check_logs_and_benchmarks(wd: Path, rules: list[str]) -> None:
    for rule in rules:
        logs = list((wd / "logs" / rule).rglob("*.log"))
        assert logs, f"no log for rule {rule}"
        benches = list((wd / "logs" / "benchmarks" / rule).rglob("*.tsv"))
        assert benches, f"no benchmark for rule {rule}"
        rows = list(csv.DictReader(open(benches[0]), delimiter="\t"))
        assert rows and float(rows[0]["s"]) >= 0


def _md_runs(cfg: dict):
    for level in cfg["mtp"]["levels"]:
        for comp in cfg["md"]["compositions"]:
            for t in cfg["md"]["temperatures_K"]:
                for r in range(cfg["md"]["replicas"]):
                    yield f"L{level:02d}/{comp}/T{t}K/r{r}", comp, t


def check_md(wd: Path, cfg: dict) -> None:
    """Each MLMD run: its parts (equilibration, production segments) hold consecutive global steps
    (start, stop], each ends in its checkpoint (embedded) or restart file (LAMMPS) at its stop
    step, no unfinished .part file is left, and together they hold every thermo row and frame of
    the protocol once."""
    import ase.io
    import yaml

    from mtpflow.io.md_files import load_checkpoint

    cfg = with_defaults(cfg)
    md = cfg["md"]
    cols = ["step", "time_ps", "temperature_K", "potential_energy_eV", "kinetic_energy_eV",
            "total_energy_eV", "pressure_GPa", "volume_A3"]
    for run, comp, t in _md_runs(cfg):
        n_ions = sum(_counts(cfg["compositions"][comp]["formula"], md["replicate"]).values())
        parts = md_parts(md, t)
        assert list(parts)[0] == "equilibration" and len(parts) >= 2
        data, frames, prod = [], [], []
        for name, (start, stop) in parts.items():
            rows = _read_csv(wd / f"results/md/{run}/{name}.csv")
            assert list(rows[0]) == cols
            part = np.array([[float(row[c]) for c in cols] for row in rows])
            assert _finite(part)
            first = 0 if start is None else start + 1
            assert first <= part[0, 0] and part[-1, 0] <= stop, (name, part[0, 0], part[-1, 0])
            part_frames = ase.io.read(wd / f"results/md/{run}/{name}.extxyz", ":")
            assert all(len(f) == n_ions for f in part_frames)
            assert all(first <= f.info["step"] <= stop for f in part_frames), name
            if md["engine"] == "lammps":
                assert (wd / f"results/md/{run}/{name}.restart").stat().st_size > 0
            else:
                assert load_checkpoint(wd / f"results/md/{run}/{name}.ckpt")[1]["step"] == stop
            data.append(part)
            frames += part_frames
            if name.startswith("production/"):
                prod += part_frames
        assert not list((wd / f"results/md/{run}").rglob("*.part")), "unfinished outputs left"
        data = np.concatenate(data)
        # a thermo row every thermo_every steps and a frame every traj_every steps through the
        # whole run (melt + quench + production), each once
        total = sum(md_stage_steps(md, t))
        np.testing.assert_array_equal(data[:, 0], np.arange(0, total + 1, md["thermo_every"]))
        np.testing.assert_allclose(data[:, 1], data[:, 0] * md["timestep_fs"] * 1e-3, atol=1e-9)
        assert np.all(data[:, 2] > 0)
        assert [int(f.info["step"]) for f in frames] == list(range(0, total + 1, md["traj_every"]))
        # the production segments: the frames after melt + quench
        first, n_prod = production_frames(md, t)
        assert len(prod) == n_prod and prod[0].info["step"] == frames[first].info["step"]
        times = [f.info["time_ps"] for f in prod]
        frame_ps = md["traj_every"] * md["timestep_fs"] * 1e-3
        assert abs((times[-1] - times[0]) - (n_prod - 1) * frame_ps) < 1e-9
        assert 0 <= md["production_ps"] - (times[-1] - times[0]) < 2 * frame_ps
        # the protocol the run used ends in production at the run's temperature
        protocol = yaml.safe_load((wd / f"results/md/protocols/T{t}K.yaml").read_text())
        assert protocol["stages"][0]["temperature_K"] == md["melt_K"]
        assert protocol["stages"][-1]["type"] == "production"
        assert protocol["stages"][-1]["temperature_K"] == t
        assert {s["thermostat"] for s in protocol["stages"]} == {md["thermostat"]}
        assert (protocol["traj_every"], protocol["thermo_every"]) == (md["traj_every"], md["thermo_every"])


def check_analysis(wd: Path, cfg: dict) -> None:
    cfg = with_defaults(cfg)
    species = cfg["analysis"]["species"]
    n_runs = 0
    for run, comp, t in _md_runs(cfg):
        d = wd / f"results/analysis/{run}"
        summary = json.loads((d / "summary.json").read_text())
        assert summary["species"] == species and summary["n_frames"] > 1
        # every production segment, read as one trajectory
        assert summary["n_frames"] == production_frames(cfg["md"], t)[1]
        n_segments = len(md_parts(cfg["md"], t)) - 1
        assert summary["source"].endswith(f"({n_segments} files)" if n_segments > 1 else "seg000.extxyz")
        assert math.isfinite(summary["D_A2_per_ps"]) and summary["D_A2_per_ps"] >= 0
        assert summary["conductivity_S_per_cm"] is not None and math.isfinite(summary["conductivity_S_per_cm"])
        msd = np.asarray(summary["msd"]["msd_A2"], dtype=float)
        assert msd.size > 1 and _finite(msd) and abs(msd[0]) < 1e-9 and msd[-1] > 0
        assert 0 <= summary["hop_fraction"] <= 1 and summary["n_hops"] >= 0
        for name in ("msd.csv", "vanhove.csv", "alpha2.csv"):
            assert _read_csv(d / name)
        _png(d / "msd.png")
        n_runs += 1
    for level in cfg["mtp"]["levels"]:
        rows = _read_csv(wd / f"results/sweep/L{level:02d}/sweep.csv")
        assert len(rows) == n_runs
        assert all(math.isfinite(float(r["D_A2_per_ps"])) for r in rows)


def _grade(c) -> float:
    return float(dict(c.features)["MV_grade"])


def _same_positions(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x.positions, y.positions) and
                                    np.array_equal(x.types, y.types) for x, y in zip(a, b))


def check_active_learning(wd: Path, cfg: dict) -> set[str]:
    """results/al/L<level>/: every iteration's exploration runs, selection, labels, training set,
    warm-started potential and errors agree with summary.csv; the loop stopped only by the limit or
    an empty selection; final.mtp is the last trained potential and validation used it. Returns the
    rules that must have run."""
    from mtpflow.io.cfg import iter_cfg, read_cfg
    from mtpflow.io.mtp import read_mtp

    cfg = with_defaults(cfg)
    al = cfg["active_learning"]
    if al["iterations"] == 0:
        assert not (wd / "results/al").exists()
        return set()
    n_runs = len(cfg["md"]["compositions"]) * len(al["temperatures_K"]) * len(al["density_factors"])
    rules = {"al_explore", "al_select", "al_errors", "al_final", "al_summary"}
    for level in cfg["mtp"]["levels"]:
        d = wd / f"results/al/L{level:02d}"
        rows = _read_csv(d / "summary.csv")
        assert [int(r["iteration"]) for r in rows] == list(range(len(rows)))
        selected = [int(r["n_selected"]) for r in rows[1:]]
        assert 1 <= len(selected) <= al["iterations"]
        assert all(selected[:-1]) and (len(selected) == al["iterations"] or selected[-1] == 0), selected
        train = read_cfg(wd / "results/dataset/train.cfg")
        pot = wd / f"results/mtp/L{level:02d}/trained.mtp"
        for k, row in enumerate(rows):
            errors = json.loads((d / f"iter{k if k == 0 or int(row['n_selected']) else k - 1}"
                                 / "errors.json").read_text())
            assert float(row["energy_rmse_meV_per_atom"]) == np.float64(f"{errors['energy_per_atom']['rmse'] * 1e3:.8g}")
            assert float(row["force_rmse_eV_A"]) == np.float64(f"{errors['forces']['rmse']:.8g}")
            if k == 0:
                continue
            it = d / f"iter{k}"
            status = [json.loads(p.read_text()) for p in sorted(it.glob("explore/*/status.json"))]
            assert len(status) == n_runs == int(row["n_runs"])
            assert sum(s["stopped_by_extrapolation"] for s in status) == int(row["n_stopped_by_extrapolation"])
            assert sum(s["blew_up"] for s in status) == int(row["n_blew_up"])
            for s in status:
                if s["stopped_by_extrapolation"]:
                    assert s["grade"] > al["grade_break"] and s["step"] <= al["steps"]
                elif s["blew_up"]:
                    assert "MD blew up" in s["blow_up"] and s["step"] <= al["steps"]
                else:
                    assert s["step"] == al["steps"] and s["max_grade"] <= al["grade_break"]
            saved = [c for p in sorted(it.glob("explore/*/extrapolative.cfg")) for c in iter_cfg(p)]
            assert len(saved) == int(row["n_candidates"]) == sum(s["n_saved"] for s in status)
            assert all(_grade(c) > al["grade_save"] for c in saved)
            # summary.csv writes floats with 8 significant digits
            assert float(row["max_grade"]) == np.float64(f"{max(s['max_grade'] for s in status):.8g}")
            chosen = list(iter_cfg(it / "selected.cfg"))
            assert len(chosen) == int(row["n_selected"]) <= (al["max_selected"] or len(saved))
            assert all(_grade(c) > al["select_threshold"] for c in chosen)
            if not chosen:
                assert not (it / "trained.mtp").exists()
                continue
            rules |= {"al_label", "al_extend", "al_train"}
            labelled = read_cfg(it / "labelled.cfg")
            assert _same_positions(labelled, chosen)
            assert all(c.energy is not None and _finite(c.energy, c.forces, c.plus_stress) for c in labelled)
            assert {dict(c.features)["EFS_by"] for c in labelled} == {dict(c.features)["EFS_by"] for c in train}
            grown = read_cfg(it / "train.cfg")
            assert _same_positions(grown, train + labelled) and int(row["n_train"]) == len(grown)
            train = grown
            # warm start: same basis and cutoffs as the potential before, loss never above its start
            before, after = read_mtp(pot), read_mtp(it / "trained.mtp")
            assert (after.min_dist, after.max_dist, after.alpha_scalar_moments) == \
                (before.min_dist, before.max_dist, before.alpha_scalar_moments)
            loss = [float(r["loss"]) for r in _read_csv(it / "train_log.csv")]
            assert loss[-1] <= loss[0] and loss[-1] < loss[1]
            pot = it / "trained.mtp"
        final = read_mtp(d / "final.mtp")
        assert np.array_equal(final.get_params(), read_mtp(pot).get_params())
        assert rows[-1]["potential"] == str(pot.relative_to(wd))
        # validation used the final potential: its errors are the loop's last row's
        validation = json.loads((wd / f"results/validation/L{level:02d}/errors.json").read_text())
        assert float(rows[-1]["energy_rmse_meV_per_atom"]) == np.float64(
            f"{validation['energy_per_atom']['rmse'] * 1e3:.8g}")
    return rules


RULES = {"build_initial", "aimd", "collect", "densify", "dataset", "init_mtp", "train", "calc_errors",
         "md_protocol", "md", "analyze", "sweep", "config_used", "report"}
AL_RULES = {"al_explore", "al_select", "al_label", "al_extend", "al_train", "al_errors", "al_final",
            "al_summary"}
LOCAL_RULES = {"md_protocol", "config_used"}   # run by snakemake itself (never SLURM jobs)
DOWNSTREAM_OF_TRAINING = {"train", "calc_errors", "md", "analyze", "sweep", "report"}
# with active learning: what a dry run plans up to the first al_select (a checkpoint: the jobs
# after it are planned when it has run)
AL_PLANNED_FIRST = {"al_explore", "al_select", "al_errors", "al_final", "al_summary"}
AL_AFTER_CHECKPOINT = AL_RULES - AL_PLANNED_FIRST


def defined_rules(cfg: dict) -> set[str]:
    """The rules the workflow defines for this config (--list-rules)."""
    return RULES | (AL_RULES if with_defaults(cfg)["active_learning"]["iterations"] else set())


def ran_rules(wd: Path) -> set[str]:
    return {p.name for p in (wd / "logs").iterdir() if p.is_dir() and p.name != "benchmarks"}


def check_all_stages(wd: Path, cfg: dict) -> None:
    """Every stage of the DAG: parseable, finite, metrics present; a log and a benchmark per rule."""
    cfg = with_defaults(cfg)
    check_initial(wd, cfg)
    check_aimd(wd, cfg)
    check_collect_densify_dataset(wd, cfg)
    check_training(wd, cfg)
    al_rules = check_active_learning(wd, cfg)
    assert ran_rules(wd) == RULES | al_rules
    check_md(wd, cfg)
    check_analysis(wd, cfg)
    one_point = len(cfg["md"]["compositions"]) * len(cfg["md"]["temperatures_K"]) < 2
    check_report(wd, cfg, ["What produced this report", "Configuration as used",
                           "Model and training settings", "Wall time per rule",
                           "Dataset summary", "Training curve", "Validation metrics", "Parity plots",
                           "MD thermodynamics", "Dynamic heterogeneity"]
                 + ([] if one_point else ["Composition sweep"])
                 + (["Active learning"] if al_rules else []))
    if one_point:  # no trend to draw: the sweep section says why (and is listed as partial)
        html = (wd / "results/report/report.html").read_text()
        assert "one state point: a trend needs at least two" in html
        assert "Composition sweep: partial" in (wd / "logs/report/all.log").read_text()
    check_logs_and_benchmarks(wd, sorted(RULES | al_rules))
