"""The integrators are ASE's own classes, built with the stage's parameters; set_temperature(T2)
makes each behave bit for bit like a fresh ASE object built at T2 with the same state; the state
round trip is exact; and a change of the ASE internals the chain classes rely on fails loudly."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.nose_hoover_chain import IsotropicMTKNPT, NoseHooverChainNVT
from ase.md.verlet import VelocityVerlet

from mtpflow.errors import InputError, MtpflowError
from mtpflow.md.integrators import make_integrator
from mtpflow.md.protocol import protocol_from_dict

from .conftest import FastLJ, small_lialcl4

DT_FS = 2.0


def _start(seed=0):
    atoms = small_lialcl4(8, seed=seed)
    rng = np.random.default_rng(seed)
    m = atoms.get_masses()[:, None]
    atoms.set_momenta(np.sqrt(m * units.kB * 600) * rng.standard_normal((len(atoms), 3)))
    atoms.calc = FastLJ()
    return atoms


def _stage(**kw):
    d = {"type": "anneal", "temperature_K": 600, "steps": 10, "tdamp_fs": 40, "pdamp_fs": 400,
         "pressure_GPa": 0.3, "friction_per_fs": 0.02}
    d.update(kw)
    return protocol_from_dict({"stages": [d]}).stages[0]


def _plain_ase(kind, atoms, temperature_K, rng=None):
    """The ASE class itself, built as the documentation shows."""
    dt = DT_FS * units.fs
    if kind == "nve":
        return VelocityVerlet(atoms, timestep=dt)
    if kind == "nhc":
        return NoseHooverChainNVT(atoms, timestep=dt, temperature_K=temperature_K,
                                  tdamp=40 * units.fs, tchain=3)
    if kind == "bussi":
        return Bussi(atoms, timestep=dt, temperature_K=temperature_K, taut=40 * units.fs, rng=rng)
    if kind == "langevin":
        with pytest.warns(FutureWarning):
            return Langevin(atoms, timestep=dt, temperature_K=temperature_K,
                            friction=0.02 / units.fs, rng=rng, fixcm=True)
    return IsotropicMTKNPT(atoms, timestep=dt, temperature_K=temperature_K,
                           pressure_au=0.3 * units.GPa, tdamp=40 * units.fs, pdamp=400 * units.fs,
                           tchain=3, pchain=3)


STAGE_OF = {"nve": dict(ensemble="nve"), "nhc": {}, "bussi": dict(thermostat="bussi"),
            "langevin": dict(thermostat="langevin"), "mtk": dict(ensemble="npt")}
ASE_CLASS = {"nve": VelocityVerlet, "nhc": NoseHooverChainNVT, "bussi": Bussi,
             "langevin": Langevin, "mtk": IsotropicMTKNPT}


def _same(a, b):
    assert np.array_equal(a.positions, b.positions)
    assert np.array_equal(a.get_momenta(), b.get_momenta())
    assert np.array_equal(a.cell[:], b.cell[:])


def _copy_chain_state(dyn, state):
    """Put a chain state into a plain ASE object (what _ChainInternals.set_state does)."""
    dyn._thermostat._eta[:] = state["eta"]
    dyn._thermostat._p_eta[:] = state["p_eta"]
    if "xi" in state:
        dyn._barostat._xi[:] = state["xi"]
        dyn._barostat._p_xi[:] = state["p_xi"]
        dyn._eps, dyn._p_eps = float(state["eps"]), float(state["p_eps"])
        dyn._cell0, dyn._volume0 = state["cell0"].copy(), float(state["volume0"])


@pytest.mark.parametrize("kind", list(STAGE_OF))
def test_integrators_are_ase_built_with_the_stage_parameters(kind):
    a, b = _start(), _start()
    ours = make_integrator(_stage(**STAGE_OF[kind]), a, DT_FS, np.random.default_rng(5))
    assert isinstance(ours, ASE_CLASS[kind])
    ref = _plain_ase(kind, b, 600, np.random.default_rng(5))
    for _ in range(150):
        ours.step()
        ref.step()
    _same(a, b)
    assert a.get_kinetic_energy() > 0.1


@pytest.mark.parametrize("kind", ["nhc", "mtk", "bussi", "langevin"])
def test_set_temperature_equals_a_fresh_ase_object(kind):
    """After set_temperature(T2), stepping equals ASE's class built at T2 with the same state: the
    target kT and every chain mass (Q; for MTK also the barostat's W and R) follow the target."""
    atoms = _start()
    rng = np.random.default_rng(9)
    ours = make_integrator(_stage(**STAGE_OF[kind]), atoms, DT_FS, rng)
    for _ in range(60):
        ours.step()
    ours.set_temperature(temperature_K=250.0)
    state = ours.get_state()
    twin = atoms.copy()
    twin.calc = FastLJ()
    twin_rng = np.random.default_rng()
    twin_rng.bit_generator.state = rng.bit_generator.state
    fresh = _plain_ase(kind, twin, 250.0, twin_rng)
    if state:
        _copy_chain_state(fresh, state)
    if kind in ("nhc", "mtk"):
        np.testing.assert_array_equal(ours._thermostat._Q, fresh._thermostat._Q)
        assert ours._thermostat._kT == fresh._thermostat._kT
        assert not np.array_equal(fresh._thermostat._Q,
                                  _plain_ase(kind, _start(), 600)._thermostat._Q)
    if kind == "mtk":
        assert ours._barostat.W == fresh._barostat.W
        np.testing.assert_array_equal(ours._barostat._R, fresh._barostat._R)
    for _ in range(120):
        ours.step()
        fresh.step()
    _same(atoms, twin)


@pytest.mark.parametrize("kind", ["nhc", "mtk"])
def test_state_round_trip_is_exact(kind):
    """A new integrator given the saved atoms and get_state() continues bit for bit."""
    atoms = _start()
    stage = protocol_from_dict({"stages": [dict(
        STAGE_OF[kind], type="quench", start_K=800, end_K=300, steps=100, tdamp_fs=40,
        pdamp_fs=400)]}).stages[0]
    first = make_integrator(stage, atoms, DT_FS, None)
    for k in range(40):
        first.set_temperature(temperature_K=stage.target_K(k))
        first.step()
    saved, state = atoms.copy(), first.get_state()
    assert set(state) >= {"eta", "p_eta"} and np.any(state["p_eta"] != 0)
    saved.calc = FastLJ()
    second = make_integrator(stage, saved, DT_FS, None)
    second.set_state(state)
    for k in range(40, 100):
        for dyn in (first, second):
            dyn.set_temperature(temperature_K=stage.target_K(k))
            dyn.step()
    _same(atoms, saved)
    with pytest.raises(InputError, match="integrator state"):
        second.set_state({"eta": state["eta"]})


def test_ramp_moves_the_temperature():
    atoms = _start()
    integ = make_integrator(_stage(), atoms, DT_FS, None)
    integ.set_temperature(temperature_K=200.0)
    for _ in range(600):
        integ.step()
    assert atoms.get_temperature() < 400


def test_moved_ase_internals_fail_loudly(monkeypatch):
    """If an ASE release renames what _ChainInternals relies on, building the integrator stops
    with a message naming the attribute and the supported ASE range."""
    import ase.md.nose_hoover_chain as nhc

    inner = nhc.NoseHooverChainThermostat.__init__

    def renamed(self, *a, **k):
        inner(self, *a, **k)
        self._p_eta_renamed = self.__dict__.pop("_p_eta")

    monkeypatch.setattr(nhc.NoseHooverChainThermostat, "__init__", renamed)
    with pytest.raises(MtpflowError, match=r"NoseHooverChainThermostat\._p_eta.*ase>=3\.29,<3\.30"):
        make_integrator(_stage(), _start(), DT_FS, None)
    monkeypatch.undo()
    make_integrator(_stage(), _start(), DT_FS, None)  # the installed ASE has them


def test_bussi_needs_velocities():
    atoms = _start()
    atoms.set_momenta(np.zeros((len(atoms), 3)))
    with pytest.raises(InputError, match="initial_temperature_K"):
        make_integrator(_stage(thermostat="bussi"), atoms, DT_FS, None)
