"""The embedded reference engine really runs: CHGNet single points, stress sign, AIMD -> collect ->
densify -> dataset on a small LiAlCl4 cell (slow: loads the model, a few seconds)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("chgnet")

from mtpflow.cli import main  # noqa: E402
from mtpflow.data.engines import get_engine  # noqa: E402
from mtpflow.errors import InputError  # noqa: E402
from mtpflow.io.cfg import read_cfg  # noqa: E402
from mtpflow.io.structure import read_frames  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine():
    return get_engine("chgnet", threads=1)


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    d = tmp_path_factory.mktemp("chg")
    out = d / "POSCAR"
    assert main(["build-initial", "--formula", "Li2Al2Cl8", "--density-factor", "0.9", "--seed",
                 "1", "--out", str(out)]) == 0
    return out


def test_unknown_engine():
    with pytest.raises(InputError, match="unknown reference engine"):
        get_engine("mace")


def test_stress_is_ase_convention(engine, start):
    atoms = read_frames(start)[0]
    res = engine.evaluate(atoms)
    stress, volume = res.get_stress(), atoms.cell.volume
    e = []
    for eps in (1e-4, -1e-4):  # sigma = (1/V) dE/d(strain)
        a = atoms.copy()
        a.set_cell(atoms.cell[:] * (1 + eps), scale_atoms=True)
        e.append(engine.evaluate(a).get_potential_energy())
    assert (e[0] - e[1]) / 2e-4 / volume / 3 == pytest.approx(stress[:3].mean(), abs=2e-4)
    assert res.get_potential_energy() == res.get_potential_energy(force_consistent=True)


def test_aimd_collect_densify_dataset(start, tmp_path):
    traj = tmp_path / "aimd.extxyz"
    assert main(["aimd", str(start), "--engine", "chgnet", "--temperature-K", "1000",
                 "--timestep-fs", "2", "--steps", "4", "--prerelax-steps", "3", "--seed", "0",
                 "--every", "1", "--threads", "1", "--traj", str(traj)]) == 0
    frames = read_frames(traj)
    assert len(frames) == 5 and [f.info["step"] for f in frames] == [0, 1, 2, 3, 4]
    assert frames[2].info["time_fs"] == 4.0 and frames[0].get_forces().shape == (12, 3)
    assert frames[0].get_stress().shape == (6,)
    # the same collector as the VASP route
    assert main(["collect", str(traj), "--out", str(tmp_path / "aimd.cfg"), "--every", "2"]) == 0
    configs = read_cfg(tmp_path / "aimd.cfg")
    assert len(configs) == 3 and dict(configs[0].features)["EFS_by"] == "CHGNet-0.3.0"
    assert configs[1].energy == pytest.approx(frames[2].get_potential_energy())
    # multi-density single points: compressed cell pushes outwards (positive virial)
    out = tmp_path / "dens.cfg"
    assert main(["densify", str(tmp_path / "aimd.cfg"), "--engine", "chgnet", "--volume-factors",
                 "0.5,1.0,1.5", "--threads", "1", "--out", str(out)]) == 0
    dens = read_cfg(out)
    assert len(dens) == 9
    assert [dict(c.features)["volume_factor"] for c in dens[:3]] == ["0.5", "1", "1.5"]
    assert dens[0].plus_stress[:3].sum() > 0 and dens[0].energy > dens[1].energy
    assert dict(dens[3].features)["mtpflow_frame"] == dict(configs[1].features)["mtpflow_frame"]
    assert main(["dataset", str(out), "--test-fraction", "0.34", "--block-size", "1", "--train",
                 str(tmp_path / "train.cfg"), "--test", str(tmp_path / "test.cfg"), "--summary",
                 str(tmp_path / "s.csv")]) == 0
    assert len(read_cfg(tmp_path / "test.cfg")) == 3
    # CHGNet and VASP data never go into one set
    assert main(["collect", str(traj), "--species", "Li,Al,Cl", "--out", str(tmp_path / "m.cfg")]) == 0
    np.testing.assert_equal(len(read_cfg(tmp_path / "m.cfg")), 5)
