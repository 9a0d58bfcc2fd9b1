"""Integrators per ensemble, behind one small interface the runner needs for linear temperature
ramps and bit-exact checkpoints: step(), set_target(T), get_state() and set_state(state).

ASE 3.29 offers VelocityVerlet (NVE), NoseHooverChainNVT, Bussi, Langevin (NVT) and
IsotropicMTKNPT (NPT: MTK barostat with Nosé–Hoover chains). ASE's dynamics cost ~2 ms per step
for 2,592 atoms in Atoms/Calculator bookkeeping (compare_atoms on every get_forces), ~8 % of a
level-8 MTP force call; so NVE, NHC and Bussi run in lean loops here with the same physics (the
velocity-Verlet splitting of ASE, ASE's own NoseHooverChainThermostat, ASE's Bussi formula), which
update the Atoms arrays in place and call the calculator once per step. tests/md/test_integrators.py
checks each against its ASE class. Langevin and NPT use the ASE classes. The ramp and state hooks
reach into attributes of ASE's classes; the resume tests fail loudly if an ASE change moves them."""

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


class LeanVV(_Adapter):
    """Velocity Verlet on the Atoms arrays in place: p += dt/2 F; q += dt p/m; F(q); p += dt/2 F
    (bitwise the operations of ase.md.verlet.VelocityVerlet)."""

    def __init__(self, atoms, dt, stage, rng):
        super().__init__(None)
        if atoms.constraints:
            raise InputError("constraints are not supported in MD runs; remove them from the start")
        self.atoms, self.calc, self.dt = atoms, atoms.calc, dt
        self.m = atoms.get_masses()[:, None]
        if not atoms.has("momenta"):
            atoms.set_momenta(np.zeros((len(atoms), 3)))
        self.q = atoms.arrays["positions"]
        self.p = atoms.arrays["momenta"]
        self.f = self._forces()

    def _forces(self):
        self.calc.calculate(self.atoms, ["energy", "forces"], ["positions"])
        return self.calc.results["forces"]

    def _verlet(self):
        dt = self.dt
        self.p += 0.5 * dt * self.f
        self.q += dt * self.p / self.m
        self.f = self._forces()
        self.p += 0.5 * dt * self.f

    def step(self):
        self._verlet()


class LeanNHC(LeanVV):
    """Nosé–Hoover chain NVT with ASE's NoseHooverChainThermostat (length 3, 4th-order
    Suzuki–Yoshida) around velocity Verlet, the splitting of ase NoseHooverChainNVT. The ramp
    updates kT and the chain masses Q together, as LAMMPS fix nvt does."""

    def __init__(self, atoms, dt, stage, rng):
        from ase.md.nose_hoover_chain import NoseHooverChainThermostat

        super().__init__(atoms, dt, stage, rng)
        self.th = NoseHooverChainThermostat(num_atoms_global=len(atoms), masses=self.m,
                                            temperature_K=stage.start_K,
                                            tdamp=stage.tdamp_fs * units.fs, tchain=3)
        self.n = len(atoms)

    def step(self):
        half = 0.5 * self.dt
        p = self.th.integrate_nhc(self.p, half)
        if p is not self.p:
            self.p[:] = p
        self._verlet()
        p = self.th.integrate_nhc(self.p, half)
        if p is not self.p:
            self.p[:] = p

    def set_target(self, temperature_K):
        _set_nhc_temperature(self.th, temperature_K, self.n)

    def get_state(self):
        return {"eta": self.th._eta.copy(), "p_eta": self.th._p_eta.copy()}

    def set_state(self, state):
        self.th._eta[:] = state["eta"]
        self.th._p_eta[:] = state["p_eta"]


class LeanBussi(LeanVV):
    """Bussi–Donadio–Parrinello velocity rescaling before each velocity-Verlet step, with the
    random numbers drawn as ase.md.bussi.Bussi draws them (normal, then 2 x gamma((ndof-1)/2))."""

    def __init__(self, atoms, dt, stage, rng):
        super().__init__(atoms, dt, stage, rng)
        if not np.any(self.p):
            raise InputError("the Bussi thermostat needs non-zero initial velocities; set "
                             "initial_temperature_K > 0 in the protocol")
        self.rng = rng
        self.ndof = 3 * len(atoms)
        self.exp_term = np.exp(-dt / (stage.tdamp_fs * units.fs))
        self.set_target(stage.start_K)

    def set_target(self, temperature_K):
        self.target_ekin = 0.5 * temperature_K * units.kB * self.ndof

    def step(self):
        ekin = 0.5 * float(np.sum(self.p * self.p / self.m))
        c = self.exp_term
        scale = (1 - c) * self.target_ekin / ekin / self.ndof
        r1 = self.rng.standard_normal()
        r2 = 2.0 * self.rng.standard_gamma(0.5 * (self.ndof - 1))
        self.p *= np.sqrt(c + scale * (r2 + r1 * r1) + 2 * r1 * np.sqrt(c * scale))
        self._verlet()


def _set_nhc_temperature(th, temperature_K: float, n_atoms: int) -> None:
    th._kT = units.kB * temperature_K
    th._Q[0] = 3 * n_atoms * th._kT * th._tdamp**2
    th._Q[1:] = th._kT * th._tdamp**2


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
        return LeanVV(atoms, dt, stage, rng)
    if stage.ensemble == "npt":
        return MTKNPT(atoms, dt, stage, rng)
    cls = {"nhc": LeanNHC, "bussi": LeanBussi, "langevin": LangevinNVT}[stage.thermostat]
    return cls(atoms, dt, stage, rng)
