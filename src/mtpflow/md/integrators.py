"""ASE dynamics per ensemble, behind one small interface the runner needs for linear temperature
ramps and bit-exact checkpoints: step(), set_target(T), get_state() and set_state(state).

ASE 3.29 offers: VelocityVerlet (NVE), NoseHooverChainNVT, Bussi, Langevin (NVT) and
IsotropicMTKNPT (NPT: MTK barostat with Nosé–Hoover chains). The ramp and state hooks reach into
their documented-by-source attributes; tests/md/test_runner.py checks each one's resume is exact,
so an ASE change that moves them fails loudly."""

from __future__ import annotations

import numpy as np
from ase import units

from mtpflow.errors import InputError


class _Adapter:
    def __init__(self, dyn):
        self.dyn = dyn

    def step(self) -> None:
        self.dyn.step()

    def set_target(self, temperature_K: float | None) -> None:
        pass

    def get_state(self) -> dict[str, np.ndarray]:
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        pass


class NVE(_Adapter):
    def __init__(self, atoms, dt, stage, rng):
        from ase.md.verlet import VelocityVerlet

        super().__init__(VelocityVerlet(atoms, timestep=dt))


def _set_nhc_temperature(th, temperature_K: float, n_atoms: int) -> None:
    th._kT = units.kB * temperature_K
    th._Q[0] = 3 * n_atoms * th._kT * th._tdamp**2
    th._Q[1:] = th._kT * th._tdamp**2


class NHC(_Adapter):
    """Nosé–Hoover chain (length 3, 4th-order Suzuki–Yoshida); the ramp updates kT and the chain
    masses Q together, as LAMMPS fix nvt does."""

    def __init__(self, atoms, dt, stage, rng):
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        super().__init__(NoseHooverChainNVT(atoms, timestep=dt, temperature_K=stage.start_K,
                                            tdamp=stage.tdamp_fs * units.fs, tchain=3))
        self.n = len(atoms)

    def set_target(self, temperature_K):
        _set_nhc_temperature(self.dyn._thermostat, temperature_K, self.n)

    def get_state(self):
        th = self.dyn._thermostat
        return {"eta": th._eta.copy(), "p_eta": th._p_eta.copy()}

    def set_state(self, state):
        th = self.dyn._thermostat
        th._eta[:] = state["eta"]
        th._p_eta[:] = state["p_eta"]


class BussiNVT(_Adapter):
    def __init__(self, atoms, dt, stage, rng):
        from ase.md.bussi import Bussi

        if atoms.get_kinetic_energy() == 0.0:
            raise InputError("the Bussi thermostat needs non-zero initial velocities; set "
                             "initial_temperature_K > 0 in the protocol")
        super().__init__(Bussi(atoms, timestep=dt, temperature_K=stage.start_K,
                               taut=stage.tdamp_fs * units.fs, rng=rng))

    def set_target(self, temperature_K):
        self.dyn.temp = temperature_K * units.kB
        self.dyn.target_kinetic_energy = 0.5 * self.dyn.temp * self.dyn.ndof


class LangevinNVT(_Adapter):
    def __init__(self, atoms, dt, stage, rng):
        import warnings

        from ase.md.langevin import Langevin

        with warnings.catch_warnings():  # ASE 3.28+ deprecates fixcm; it keeps the COM at rest
            warnings.simplefilter("ignore", FutureWarning)
            dyn = Langevin(atoms, timestep=dt, temperature_K=stage.start_K,
                           friction=stage.friction_per_fs / units.fs, rng=rng, fixcm=True)
        super().__init__(dyn)

    def set_target(self, temperature_K):
        self.dyn.set_temperature(temperature_K=temperature_K)


class MTKNPT(_Adapter):
    """Isotropic NPT (ASE IsotropicMTKNPT); the ramp updates thermostat and barostat masses."""

    def __init__(self, atoms, dt, stage, rng):
        from ase.md.nose_hoover_chain import IsotropicMTKNPT

        super().__init__(IsotropicMTKNPT(atoms, timestep=dt, temperature_K=stage.start_K,
                                         pressure_au=stage.pressure_GPa * units.GPa,
                                         tdamp=stage.tdamp_fs * units.fs,
                                         pdamp=stage.pdamp_fs * units.fs))
        self.n = len(atoms)

    def set_target(self, temperature_K):
        d = self.dyn
        d._temperature_K = temperature_K
        d._kT = units.kB * temperature_K
        _set_nhc_temperature(d._thermostat, temperature_K, self.n)
        b = d._barostat
        b._kT = d._kT
        b._W = (3 * self.n + 3) * b._kT * b._pdamp**2
        b._R[0] = 9 * b._kT * b._pdamp**2
        b._R[1:] = b._kT * b._pdamp**2

    def get_state(self):
        d = self.dyn
        return {"eta": d._thermostat._eta.copy(), "p_eta": d._thermostat._p_eta.copy(),
                "xi": d._barostat._xi.copy(), "p_xi": d._barostat._p_xi.copy(),
                "eps": np.array(d._eps), "p_eps": np.array(d._p_eps),
                "cell0": d._cell0.copy(), "volume0": np.array(d._volume0)}

    def set_state(self, state):
        d = self.dyn
        d._thermostat._eta[:] = state["eta"]
        d._thermostat._p_eta[:] = state["p_eta"]
        d._barostat._xi[:] = state["xi"]
        d._barostat._p_xi[:] = state["p_xi"]
        d._eps = float(state["eps"])
        d._p_eps = float(state["p_eps"])
        d._cell0 = np.array(state["cell0"], dtype=np.float64)
        d._volume0 = float(state["volume0"])


def make_integrator(stage, atoms, timestep_fs: float, rng) -> _Adapter:
    dt = timestep_fs * units.fs
    if stage.ensemble == "nve":
        return NVE(atoms, dt, stage, rng)
    if stage.ensemble == "npt":
        return MTKNPT(atoms, dt, stage, rng)
    cls = {"nhc": NHC, "bussi": BussiNVT, "langevin": LangevinNVT}[stage.thermostat]
    return cls(atoms, dt, stage, rng)
