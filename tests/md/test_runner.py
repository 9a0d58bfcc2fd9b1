"""The embedded MD runner with a fast Lennard-Jones calculator: bit-exact resume for every
integrator, ramps that follow the set rate, blow-up detection, unwrapped trajectories."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes

from mtpflow.errors import InputError, Stopped
from mtpflow.io.md_files import THERMO_COLUMNS, load_checkpoint
from mtpflow.md.protocol import protocol_from_dict
from mtpflow.md.runner import BlowUpError, StepHook, last_good_path, run_protocol

from .conftest import FastLJ, small_lialcl4


def _protocol(stage2: dict, **top):
    d = {"timestep_fs": 2.0, "thermo_every": 5, "traj_every": 10, "checkpoint_every": 40, "seed": 7,
         "stages": [{"type": "melt", "temperature_K": 800, "steps": 50, "tdamp_fs": 50},
                    dict(stage2, steps=70)]}
    d.update(top)
    return protocol_from_dict(d)


class Interrupting(FastLJ):
    """Raises KeyboardInterrupt (like a killed job) at the given new set of positions (step)."""

    def __init__(self, stop_at, **kw):
        super().__init__(**kw)
        self.calls, self.stop_at = 0, stop_at

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        self.calls += "positions" in system_changes
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        super().calculate(atoms, properties, system_changes)


STAGES = {
    "nhc-quench": {"type": "quench", "start_K": 800, "end_K": 300, "tdamp_fs": 50},
    "bussi": {"type": "anneal", "temperature_K": 500, "thermostat": "bussi", "tdamp_fs": 50},
    "langevin-quench": {"type": "quench", "start_K": 800, "end_K": 400, "thermostat": "langevin",
                        "friction_per_fs": 0.02},
    "npt-quench": {"type": "quench", "start_K": 800, "end_K": 500, "ensemble": "npt",
                   "pressure_GPa": 0.5, "pdamp_fs": 300, "tdamp_fs": 50},
    "nve": {"type": "production", "ensemble": "nve"},
}


@pytest.mark.parametrize("name", list(STAGES))
def test_resume_equals_uninterrupted(tmp_path, name):
    proto = _protocol(STAGES[name])
    ref = tmp_path / "ref"
    ref.mkdir()
    run_protocol(small_lialcl4(8), FastLJ(), proto, ref / "t.extxyz", ref / "t.csv")
    cut = tmp_path / "cut"
    cut.mkdir()
    ck = cut / "ck.npz"
    with pytest.raises(KeyboardInterrupt):  # killed at step ~95 (stage 2); last checkpoint: 80
        run_protocol(small_lialcl4(8), Interrupting(stop_at=97), proto, cut / "t.extxyz",
                     cut / "t.csv", checkpoint_path=ck)
    assert not (cut / "t.extxyz").exists() and (cut / "t.extxyz.part").exists()
    assert load_checkpoint(ck)[1]["step"] == 80
    # the resumed run starts from a different (unused) structure object: all state is in the file
    run_protocol(small_lialcl4(8, seed=5), FastLJ(), proto, cut / "t.extxyz", cut / "t.csv",
                 checkpoint_path=ck, resume_path=ck)
    assert (cut / "t.csv").read_text() == (ref / "t.csv").read_text()
    assert (cut / "t.extxyz").read_text() == (ref / "t.extxyz").read_text()
    assert load_checkpoint(ck)[1]["step"] == 120


@pytest.mark.parametrize("name", ["npt-quench", "nhc-quench"])
def test_hook_stop_checkpoints_and_resume_equals_uninterrupted(tmp_path, name):
    """A StepHook runs every `every` steps and can stop the run: checkpoint at that step, outputs
    left as .part, Stopped raised; the resumed run equals the uninterrupted one."""
    proto = _protocol(STAGES[name], checkpoint_every=0)
    run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "a.extxyz", tmp_path / "a.csv")
    calls = []

    def hook(step, atoms):
        calls.append(step)
        assert atoms.calc.results["energy"] is not None
        return "a planted stop" if step == 90 else None

    ck = tmp_path / "ck.npz"
    with pytest.raises(Stopped) as exc:
        run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "b.extxyz", tmp_path / "b.csv",
                     checkpoint_path=ck, hooks=[StepHook(15, hook)])
    assert calls == [15, 30, 45, 60, 75, 90]
    assert str(exc.value).startswith("stopped by a planted stop at step 90 ")
    assert exc.value.checkpoint == str(ck) and f"--resume {ck}" in str(exc.value)
    assert load_checkpoint(ck)[1]["step"] == 90
    assert not (tmp_path / "b.csv").exists() and (tmp_path / "b.csv.part").exists()
    run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "b.extxyz", tmp_path / "b.csv",
                 checkpoint_path=ck, resume_path=ck)
    assert (tmp_path / "b.csv").read_text() == (tmp_path / "a.csv").read_text()
    assert (tmp_path / "b.extxyz").read_text() == (tmp_path / "a.extxyz").read_text()
    with pytest.raises(Stopped, match="nothing was saved"):  # no checkpoint path
        run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "c.extxyz", tmp_path / "c.csv",
                     hooks=[StepHook(1, lambda step, atoms: "x" if step == 3 else None)])


def test_outputs_unwrapped_and_columns(tmp_path):
    proto = protocol_from_dict({"timestep_fs": 2.0, "thermo_every": 10, "traj_every": 10, "seed": 1,
                                "stages": [{"type": "melt", "temperature_K": 3000, "steps": 400}]})
    res = run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "t.extxyz", tmp_path / "t.csv")
    assert res.steps == 400 and res.steps_run == 400
    header = (tmp_path / "t.csv").read_text().splitlines()[0]
    assert header == ",".join(THERMO_COLUMNS)
    data = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1)
    assert data.shape == (41, 8)
    np.testing.assert_allclose(data[:, 5], data[:, 3] + data[:, 4], atol=2e-8)
    frames = ase.io.read(tmp_path / "t.extxyz", ":")
    assert [f.info["step"] for f in frames] == list(range(0, 401, 10))
    assert frames[-1].info["time_ps"] == pytest.approx(0.8)
    assert frames[0].get_chemical_symbols() == small_lialcl4(8).get_chemical_symbols()
    pos = np.array([f.positions for f in frames])
    length = frames[0].cell[0, 0]
    frac = pos / length
    assert (frac < 0).any() or (frac >= 1).any(), "some atom should have left the box (unwrapped)"
    assert np.abs(np.diff(pos, axis=0)).max() < 0.3 * length, "no jumps by a box length"


@pytest.mark.parametrize("thermostat", ["nhc", pytest.param("bussi", marks=pytest.mark.slow),
                                        pytest.param("langevin", marks=pytest.mark.slow)])
def test_quench_follows_the_ramp(tmp_path, thermostat):
    # 1500 -> 300 K in 1,500 steps of 2 fs: 4e14 K/s; 108 ions
    proto = protocol_from_dict({
        "timestep_fs": 2.0, "thermo_every": 5, "traj_every": 1000, "seed": 3,
        "stages": [{"type": "melt", "temperature_K": 1500, "steps": 250, "thermostat": thermostat,
                    "tdamp_fs": 50, "friction_per_fs": 0.02},
                   {"type": "quench", "start_K": 1500, "end_K": 300, "rate_K_per_s": 4e14,
                    "thermostat": thermostat, "tdamp_fs": 50, "friction_per_fs": 0.02}]})
    assert proto.stages[1].n_steps == 1500
    run_protocol(small_lialcl4(18), FastLJ(), proto, tmp_path / "t.extxyz", tmp_path / "t.csv")
    data = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1)
    q = data[data[:, 0] > 500]
    t_ps = q[:, 1] - 0.5
    t_set = 1500 - 4e14 * t_ps * 1e-12
    slope = np.polyfit(t_ps, q[:, 2], 1)[0]  # K/ps
    assert slope == pytest.approx(-400, rel=0.12)
    # windows of 0.3 ps: mean deviation from the set ramp within thermostat noise + lag
    dev = [np.mean(q[k:k + 30, 2] - t_set[k:k + 30]) for k in range(0, len(q) - 29, 30)]
    assert np.max(np.abs(dev)) < 90, dev


class Collapsing(FastLJ):
    """LJ plus a stiff spring pulling atoms 0 and 1 together: a planted collapse."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions[1] - self.atoms.positions[0]
        k = 5.0
        self.results["energy"] += 0.5 * k * d @ d
        self.results["free_energy"] = self.results["energy"]
        self.results["forces"][0] += k * d
        self.results["forces"][1] -= k * d


def test_blowup_on_planted_collapse(tmp_path):
    atoms = small_lialcl4(8)
    proto = protocol_from_dict({"timestep_fs": 1.0, "seed": 1, "blowup": {"check_every": 1, "max_temperature_K": 1e6},
                                "stages": [{"type": "melt", "temperature_K": 300, "steps": 2000}]})
    with pytest.raises(BlowUpError) as exc:
        run_protocol(atoms, Collapsing(), proto, tmp_path / "t.extxyz", tmp_path / "t.csv",
                     min_dist_A=1.6)
    msg = str(exc.value)
    assert "Å apart" in msg and "last good frame" in msg
    good = ase.io.read(last_good_path(tmp_path / "t.extxyz"))
    assert good.get_distance(0, 1, mic=True) > 1.4
    assert not (tmp_path / "t.extxyz").exists()


class NaNAfter(FastLJ):
    def __init__(self, n, **kw):
        super().__init__(**kw)
        self.calls, self.n = 0, n

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.calls > self.n:
            self.results["forces"][3] = np.nan
            self.results["energy"] = np.nan


def test_blowup_on_nan_and_runaway(tmp_path):
    proto = protocol_from_dict({"seed": 1, "stages": [{"type": "production", "ensemble": "nve",
                                                       "steps": 100}], "initial_temperature_K": 300})
    with pytest.raises(BlowUpError, match="NaN"):
        run_protocol(small_lialcl4(8), NaNAfter(20), proto, tmp_path / "t.extxyz", tmp_path / "t.csv")
    hot = protocol_from_dict({"seed": 1, "blowup": {"max_temperature_K": 400},
                              "stages": [{"type": "melt", "temperature_K": 2000, "steps": 300,
                                          "thermostat": "bussi", "tdamp_fs": 10}],
                              "initial_temperature_K": 300})
    with pytest.raises(BlowUpError, match="ran away"):
        run_protocol(small_lialcl4(8), FastLJ(), hot, tmp_path / "h.extxyz", tmp_path / "h.csv")


def test_checkpoint_of_another_system_rejected(tmp_path):
    proto = _protocol(STAGES["nve"])
    ck = tmp_path / "ck.npz"
    run_protocol(small_lialcl4(8), FastLJ(), proto, tmp_path / "a.extxyz", tmp_path / "a.csv",
                 checkpoint_path=ck)
    with pytest.raises(InputError, match="another system"):
        run_protocol(small_lialcl4(9), FastLJ(), proto, tmp_path / "b.extxyz", tmp_path / "b.csv",
                     resume_path=ck)
    other = _protocol(STAGES["bussi"])
    with pytest.raises(InputError, match="another protocol"):
        run_protocol(small_lialcl4(8), FastLJ(), other, tmp_path / "a.extxyz", tmp_path / "a.csv",
                     resume_path=ck)
    (tmp_path / "junk.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not an mtpflow checkpoint"):
        load_checkpoint(tmp_path / "junk.npz")
