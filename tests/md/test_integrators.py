"""The lean integrators reproduce ASE's NVE, NHC and Bussi dynamics; temperature targets update."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.md.bussi import Bussi
from ase.md.nose_hoover_chain import NoseHooverChainNVT
from ase.md.verlet import VelocityVerlet

from mtpflow.md.integrators import make_integrator
from mtpflow.md.protocol import protocol_from_dict

from .conftest import FastLJ, small_lialcl4


def _start(seed=0):
    atoms = small_lialcl4(8, seed=seed)
    rng = np.random.default_rng(seed)
    m = atoms.get_masses()[:, None]
    atoms.set_momenta(np.sqrt(m * units.kB * 600) * rng.standard_normal((len(atoms), 3)))
    atoms.calc = FastLJ()
    return atoms


def _stage(**kw):
    d = {"type": "anneal", "temperature_K": 600, "steps": 10, "tdamp_fs": 40}
    d.update(kw)
    return protocol_from_dict({"stages": [d]}).stages[0]


@pytest.mark.parametrize("kind", ["nve", "nhc", "bussi"])
def test_lean_equals_ase(kind):
    dt = 2.0 * units.fs
    a, b = _start(), _start()
    if kind == "nve":
        ase_dyn = VelocityVerlet(a, timestep=dt)
        lean = make_integrator(_stage(ensemble="nve"), b, 2.0, None)
    elif kind == "nhc":
        ase_dyn = NoseHooverChainNVT(a, timestep=dt, temperature_K=600, tdamp=40 * units.fs, tchain=3)
        lean = make_integrator(_stage(), b, 2.0, None)
    else:
        ase_dyn = Bussi(a, timestep=dt, temperature_K=600, taut=40 * units.fs,
                        rng=np.random.default_rng(5))
        lean = make_integrator(_stage(thermostat="bussi"), b, 2.0, np.random.default_rng(5))
    for _ in range(200):
        ase_dyn.step()
        lean.step()
    np.testing.assert_allclose(b.positions, a.positions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.get_momenta(), a.get_momenta(), rtol=0, atol=1e-9)
    assert a.get_kinetic_energy() > 0.1


def test_set_target_moves_the_temperature():
    atoms = _start()
    integ = make_integrator(_stage(), atoms, 2.0, None)
    integ.set_target(200.0)
    for _ in range(600):
        integ.step()
    assert atoms.get_temperature() < 400
    assert integ.th._kT == pytest.approx(units.kB * 200)
    state = integ.get_state()
    assert set(state) == {"eta", "p_eta"} and np.any(state["p_eta"] != 0)
