"""Multi-density scaling, collection of both routes, and the block-split training/test sets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtpflow.cli import main
from mtpflow.data.crystal import parse_formula, reference_density, volume_for_density
from mtpflow.data.dataset import block_keys, check_consistent, split
from mtpflow.data.densify import evaluate, multi_density, parse_factors
from mtpflow.data.engines import ReferenceEngine
from mtpflow.data.initial import random_structure
from mtpflow.errors import InputError
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.io.structure import read_frames, write_frames
from mtpflow.structures import Configuration
from tests.conftest import shared_path

D_CRYST = reference_density()[0]


class LJEngine(ReferenceEngine):
    """A cheap stand-in for the embedded engine in unit tests."""

    name = "lj"
    label = "LJ-test"
    embedded = True

    def calculator(self):
        from ase.calculators.lj import LennardJones
        return LennardJones(sigma=2.0, epsilon=0.01, rc=5.0)


def _melt(n_frames=4, formula="Li4Al4Cl16"):
    frames = []
    for k in range(n_frames):
        a = random_structure(parse_formula(formula), 0.6 * D_CRYST, seed=k)
        a.info = {"step": 10 * k}
        frames.append(a)
    return frames


def test_volume_factors_of_the_crystal_volume():
    frames = _melt(2)
    out = multi_density(frames, [0.5, 1.0, 1.5], D_CRYST, "melt")
    assert len(out) == 6
    v_cryst = volume_for_density(float(frames[0].get_masses().sum()), D_CRYST)
    for atoms, f in zip(out[:3], [0.5, 1.0, 1.5]):
        assert atoms.cell.volume == pytest.approx(f * v_cryst, rel=1e-12)
        assert np.allclose(atoms.get_scaled_positions(), frames[0].get_scaled_positions())
        assert atoms.info["feature_mtpflow_frame"] == "melt:0"
    assert out[3].info["feature_mtpflow_frame"] == "melt:10"
    with pytest.raises(InputError):
        parse_factors("0.5,x")
    with pytest.raises(InputError, match="twice"):
        parse_factors("1,1")


def test_evaluate_attaches_results_and_label():
    res = evaluate(multi_density(_melt(1), [1.0], D_CRYST, "m"), LJEngine())
    assert res[0].info["feature_EFS_by"] == "LJ-test"
    assert np.isfinite(res[0].get_potential_energy()) and res[0].get_forces().shape == (24, 3)


def _configs(n, label="A", species="Li,Al,Cl", source="run"):
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        c = Configuration(positions=rng.random((3, 3)) * 5, types=[0, 1, 2], cell=np.eye(3) * 5,
                          energy=-1.0 * k, forces=rng.normal(size=(3, 3)),
                          plus_stress=rng.normal(size=6))
        c.features = [("EFS_by", label), ("mtpflow_species", species),
                      ("mtpflow_frame", f"{source}:{2 * (k // 3)}"), ("volume_factor", str(k % 3))]
        out.append(c)
    return out


def test_split_never_puts_a_block_on_both_sides():
    configs = _configs(60)  # 20 frames x 3 densities
    keys = block_keys([("a.cfg", configs)], block_size=2)
    assert len(set(keys)) == 10
    for seed in range(5):
        test = split(keys, 0.2, seed)
        for key in set(keys):
            sides = {bool(t) for k, t in zip(keys, test) if k == key}
            assert len(sides) == 1
        assert 0.15 <= test.mean() <= 0.35
    assert np.array_equal(split(keys, 0.2, 3), split(keys, 0.2, 3))
    assert not np.array_equal(split(keys, 0.2, 3), split(keys, 0.2, 4))
    with pytest.raises(InputError, match="one block"):
        split(block_keys([("a.cfg", configs)], block_size=100), 0.2, 0)


def test_refuses_mixed_engines_species_and_nan():
    with pytest.raises(InputError, match="mix reference engines"):
        check_consistent([("a.cfg", _configs(3, "VASP")), ("b.cfg", _configs(3, "CHGNet-0.3.0"))],
                         ["Li", "Al", "Cl"])
    with pytest.raises(InputError, match="mixed species orders"):
        check_consistent([("a.cfg", _configs(3, species="Li,Cl,Al"))], ["Li", "Al", "Cl"])
    bad = _configs(3)
    bad[1].forces[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        check_consistent([("a.cfg", bad)], ["Li", "Al", "Cl"])


def test_dataset_cli_on_guidebook_set(tmp_path, capsys):
    src = shared_path("guidebook_LiAlCl4", "training.cfg")
    out = [tmp_path / n for n in ("train.cfg", "test.cfg", "summary.csv")]
    assert main(["dataset", str(src), "--species", "Li,Cl,Al", "--test-fraction", "0.2",
                 "--block-size", "3", "--seed", "0", "--train", str(out[0]), "--test", str(out[1]),
                 "--summary", str(out[2])]) == 0
    train, test = read_cfg(out[0]), read_cfg(out[1])
    assert len(train) + len(test) == 179 and 30 <= len(test) <= 45
    table = pd.read_csv(out[2])
    dens = sorted(table[table.set == "train"].density_g_cm3.round(1).unique())
    assert dens == [1.3, 2.0, 4.0]
    assert table.n_configs.sum() == 179
    assert (table.energy_min_eV_per_atom >= -2.1).all() and (table.energy_max_eV_per_atom <= 1.4).all()
    assert "train" in capsys.readouterr().out


def test_densify_vasp_dirs_then_collect(tmp_path, capsys):
    write_frames(tmp_path / "melt.extxyz", _melt(2))
    vdir = tmp_path / "sp"
    assert main(["densify", str(tmp_path / "melt.extxyz"), "--engine", "vasp", "--vasp-dir",
                 str(vdir), "--potcar-spec", "--volume-factors", "0.5,1.5"]) == 0
    manifest = json.loads((vdir / "manifest.json").read_text())
    assert len(manifest["directories"]) == 4
    first = vdir / manifest["directories"][0]
    meta = json.loads((first / "mtpflow_vasp.json").read_text())
    assert meta["kind"] == "static" and meta["volume_factor"] == 0.5
    # not run yet: collect says so
    assert main(["collect", str(first), "--out", str(tmp_path / "x.cfg")]) == 2
    assert "has the job run" in capsys.readouterr().err
    # a finished run (a real vasprun standing in for the result) carries the frame id along
    (first / "vasprun.xml").symlink_to(shared_path("vasp_samples", "ti_o_vasp6", "vasprun.xml"))
    assert main(["collect", str(first), "--species", "O,Ti", "--out", str(tmp_path / "x.cfg")]) == 0
    feats = dict(read_cfg(tmp_path / "x.cfg")[0].features)
    assert feats["volume_factor"] == "0.5" and feats["mtpflow_frame"] == "melt:0"
    assert feats["EFS_by"] == "VASP"


def test_collect_refuses_mixed_engines(tmp_path, capsys):
    frames = evaluate(multi_density(_melt(1), [1.0], D_CRYST, "m"), LJEngine())
    write_frames(tmp_path / "lj.extxyz", frames)
    assert main(["collect", str(tmp_path / "lj.extxyz"), str(shared_path("vasp_samples", "ti_o_vasp6")),
                 "--species", "Li,Al,Cl,O,Ti", "--out", str(tmp_path / "o.cfg")]) == 2
    assert "different reference engines" in capsys.readouterr().err
    assert not (tmp_path / "o.cfg").exists()


def test_collect_extxyz_and_skip(tmp_path):
    frames = evaluate(multi_density(_melt(4), [1.0], D_CRYST, "m"), LJEngine())
    for k, a in enumerate(frames):
        a.info.update({"time_fs": 500.0 * k, "step": k})
    write_frames(tmp_path / "traj.extxyz", frames)
    assert main(["collect", str(tmp_path / "traj.extxyz"), "--out", str(tmp_path / "o.cfg"),
                 "--skip-ps", "1.0", "--extxyz", str(tmp_path / "o.extxyz")]) == 0
    configs = read_cfg(tmp_path / "o.cfg")
    assert len(configs) == 2 and len(read_frames(tmp_path / "o.extxyz")) == 2
    assert configs[0].energy == pytest.approx(frames[2].get_potential_energy())
    assert dict(configs[0].features)["mtpflow_frame"] == "m:20"  # frame id kept from densify input
    configs[1].energy = float("nan")
    write_cfg(tmp_path / "nan.cfg", configs)
    assert main(["dataset", str(tmp_path / "nan.cfg"), "--block-size", "1", "--train",
                 str(tmp_path / "tr.cfg"), "--test", str(tmp_path / "te.cfg"), "--summary",
                 str(tmp_path / "s.csv")]) == 2
    assert not (tmp_path / "tr.cfg").exists()
