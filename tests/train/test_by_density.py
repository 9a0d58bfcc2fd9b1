"""`calc-errors --json` by_density: metrics per density group on a self-made set whose densities
and errors are known by construction (hand-computed from atomic masses, volumes and offsets)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.io.cfg import write_cfg
from mtpflow.io.mtp import write_mtp
from mtpflow.structures import Configuration
from tests.train.synth import _spread_positions, label_with, random_potential

MASS = {"Li": 6.94, "Cl": 35.45, "Al": 26.9815385}       # amu (ASE's standard atomic weights)
G_CM3 = 1.66053906660                                   # amu/Å³ -> g/cm³
TYPES = np.array([0, 1, 2, 1, 1, 0, 2, 1])              # Li Cl Al Cl Cl Li Al Cl (types Li,Cl,Al)
MASS_CELL = 2 * MASS["Li"] + 4 * MASS["Cl"] + 2 * MASS["Al"]


def _strict_json(path):
    def no_constants(name):
        raise AssertionError(f"{path} holds a bare {name}: not valid JSON")
    return json.loads(path.read_text(), parse_constant=no_constants)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    d = tmp_path_factory.mktemp("dens")
    rng = np.random.default_rng(5)
    sides = [5.2, 5.2, 5.2, 6.0, 6.0]                     # three at 5.2 Å, two at 6.0 Å
    configs = []
    for L in sides:
        cell = np.eye(3) * L
        configs.append(Configuration(_spread_positions(rng, cell, TYPES.size), TYPES.copy(), cell))
    # a non-periodic cluster: no cell, no density
    configs.append(Configuration(_spread_positions(rng, np.eye(3) * 5.6, 8), TYPES.copy(), None))
    # a lone configuration at a third density
    configs.append(Configuration(_spread_positions(rng, np.eye(3) * 7.0, 8), TYPES.copy(),
                                 np.eye(3) * 7.0))
    truth = random_potential(8, seed=3)
    configs = label_with(truth, configs)
    configs[5].plus_stress = None
    write_mtp(d / "p.mtp", truth)
    # known errors: energies +0.01, -0.03, +0.02 eV/atom on the three 5.2 Å cells; one force
    # component -0.2 eV/Å on the first 6.0 Å cell
    for k, de in ((0, 0.01), (1, -0.03), (2, 0.02)):
        configs[k].energy += de * 8
    configs[3].forces[4, 2] -= 0.2
    write_cfg(d / "t.cfg", configs)
    return d, configs


def test_by_density_groups_and_metrics(labelled, capsys):
    d, configs = labelled
    js = d / "e.json"
    assert main(["calc-errors", str(d / "p.mtp"), str(d / "t.cfg"), "--species", "Li,Cl,Al",
                 "--json", str(js), "--plots", str(d / "parity")]) == 0
    out = capsys.readouterr().out
    m = _strict_json(js)
    # pooled blocks kept
    assert m["n_configs"] == 7 and m["energy_per_atom"]["count"] == 7
    assert m["energy_per_atom"]["max"] == pytest.approx(0.03, abs=1e-9)
    groups = m["by_density"]
    dens = [MASS_CELL / L ** 3 * G_CM3 for L in (7.0, 6.0, 5.2)]       # 1.015, 1.611, 2.476
    assert [g["density_g_cm3"] for g in groups] == [round(x, 2) for x in dens] + [None]
    assert [g["n_configs"] for g in groups] == [1, 2, 3, 1]
    assert [g["n_atoms"] for g in groups] == [8, 16, 24, 8]
    dense = groups[2]                                   # 5.2 Å: the energy offsets
    e = dense["energy_per_atom"]
    errs = np.array([0.01, -0.03, 0.02])
    assert e["mae"] == pytest.approx(np.abs(errs).mean(), abs=1e-9)
    assert e["rmse"] == pytest.approx(np.sqrt((errs ** 2).mean()), abs=1e-9)
    assert e["max"] == pytest.approx(0.03, abs=1e-9) and e["count"] == 3
    ref = np.array([c.energy / 8 for c in configs[:3]])
    r2 = 1 - (errs ** 2).sum() / ((ref - ref.mean()) ** 2).sum()
    assert e["r2"] == pytest.approx(r2, abs=1e-9)
    assert dense["forces"]["max"] < 1e-9 and dense["stress"]["count"] == 18
    mid = groups[1]                                     # 6.0 Å: one force component off
    assert mid["energy_per_atom"]["max"] < 1e-9
    assert mid["forces"]["max"] == pytest.approx(0.2, abs=1e-9)
    assert mid["forces"]["mae"] == pytest.approx(0.2 / 48, abs=1e-9) and mid["forces"]["count"] == 48
    assert mid["forces"]["rmse"] == pytest.approx(0.2 / np.sqrt(48), abs=1e-9)
    lone = groups[0]                                    # one configuration: R² null everywhere
    assert all(lone[k]["r2"] is None for k in ("energy_per_atom", "forces", "stress"))
    cluster = groups[3]                                 # non-periodic: density null, no stress
    assert cluster["density_g_cm3"] is None and cluster["stress"]["count"] == 0
    assert cluster["stress"]["mae"] is None and cluster["energy_per_atom"]["r2"] is None
    assert "non-periodic" in m["by_density_note"] and m["density_precision_g_cm3"] == 0.01
    assert "by density" in out and "no cell" in out
    assert (d / "parity" / "forces_parity.png").stat().st_size > 1000


def test_species_from_the_potential_and_a_coarser_precision(labelled, capsys):
    d, _ = labelled
    js = d / "coarse.json"
    from mtpflow.io.mtp import read_mtp
    pot = read_mtp(d / "p.mtp")
    pot.species = ["Li", "Cl", "Al"]
    write_mtp(d / "named.mtp", pot)
    assert main(["calc-errors", str(d / "named.mtp"), str(d / "t.cfg"), "--json", str(js),
                 "--density-precision", "0.5"]) == 0
    groups = _strict_json(js)["by_density"]
    assert [g["density_g_cm3"] for g in groups] == [1.0, 1.5, 2.5, None]   # 1.015, 1.611, 2.476
    assert [g["n_configs"] for g in groups] == [1, 2, 3, 1]
    # no names anywhere: no grouping, said in the JSON and on stderr
    assert main(["calc-errors", str(d / "p.mtp"), str(d / "t.cfg"), "--json", str(js)]) == 0
    m = _strict_json(js)
    assert m["by_density"] is None and "--species" in m["by_density_note"]
    assert "--species" in capsys.readouterr().err
    assert main(["calc-errors", str(d / "p.mtp"), str(d / "t.cfg"), "--species", "Li,Cl,Al",
                 "--density-precision", "0"]) == 2
