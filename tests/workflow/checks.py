"""Checks of every stage's outputs after a real run of the workflow (not just existence)."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

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

    for comp in cfg["initial"].get("compositions", list(cfg["compositions"])):
        for r in range(cfg["initial"]["replicas"]):
            atoms = ase.io.read(wd / f"results/initial/{comp}/r{r}/start.extxyz")
            want = _counts(cfg["compositions"][comp]["formula"])
            symbols = atoms.get_chemical_symbols()
            assert {el: symbols.count(el) for el in want} == want
            assert atoms.cell.volume > 0 and _finite(atoms.positions)


def check_aimd(wd: Path, cfg: dict) -> None:
    import ase.io

    for comp in cfg["initial"].get("compositions", list(cfg["compositions"])):
        for r in range(cfg["initial"]["replicas"]):
            frames = ase.io.read(wd / f"results/aimd/{comp}/r{r}/traj.extxyz", ":")
            every = cfg["aimd"].get("every", 1)
            assert len(frames) >= cfg["aimd"]["steps"] // every, len(frames)
            energies = [f.get_potential_energy() for f in frames]
            forces = np.array([f.get_forces() for f in frames])
            assert _finite(energies, forces)
            assert np.ptp(energies) > 0  # the system moved


def check_collect_densify_dataset(wd: Path, cfg: dict) -> None:
    from mtpflow.io.cfg import read_cfg

    comps = cfg["initial"].get("compositions", list(cfg["compositions"]))
    n_dense = 0
    for comp in comps:
        for r in range(cfg["initial"]["replicas"]):
            melt = read_cfg(wd / f"results/collect/{comp}/r{r}/melt.cfg")
            dense = read_cfg(wd / f"results/densify/{comp}/r{r}/multi_density.cfg")
            assert melt and len(dense) == len(melt) * len(cfg["densify"]["volume_factors"])
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
    html = (wd / "results/report/report.html").read_text()
    assert "<html" in html[:500].lower()
    assert "data:image/png;base64," in html
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
