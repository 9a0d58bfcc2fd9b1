"""ASE's integrators per ensemble, used through their public API, plus the two things the runner
needs that ASE 3.29 does not offer for every class: a temperature setter (linear ramps of quench
stages) and the integrator's own state for bit-exact checkpoints.

    nve                 ase.md.verlet.VelocityVerlet
    nvt, nhc (default)  ase.md.nose_hoover_chain.NoseHooverChainNVT (chain of 3)
    nvt, bussi          ase.md.bussi.Bussi
    nvt, langevin       ase.md.langevin.Langevin
    npt                 ase.md.nose_hoover_chain.IsotropicMTKNPT (thermostat and barostat chains of 3)

Every class below is the ASE class with `set_temperature(temperature_K=...)`, `get_state()` and
`set_state(state)`; step() is ASE's, untouched. Langevin has its own set_temperature; Bussi's target
is its public attributes `temp` and `target_kinetic_energy`. Langevin, Bussi and Verlet keep no
state besides the atoms and the random generator (the runner checkpoints both). The Nosé–Hoover
chain and the MTK barostat have no public setter or state interface in ASE 3.29: `_ChainInternals`
is the one class that relies on ASE internals for them (listed there; checked when an integrator is
built and in tests/md/test_integrators.py, which fails if an ASE release moves them).
"""

from __future__ import annotations

import warnings

import numpy as np
from ase import units
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.nose_hoover_chain import (IsotropicMTKBarostat, IsotropicMTKNPT, NoseHooverChainNVT,
                                      NoseHooverChainThermostat)
from ase.md.verlet import VelocityVerlet

from mtpflow.errors import InputError, MtpflowError

CHAIN_LENGTH = 3  # thermostat and barostat chain length (ASE's default, LAMMPS' tchain/pchain)


class _Stateless:
    """Integrators whose whole state is the atoms and the random generator."""

    def get_state(self) -> dict[str, np.ndarray]:
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        if state:
            raise InputError(f"the checkpoint holds integrator state ({', '.join(sorted(state))}) "
                             f"that {type(self).__name__} does not have; resume with the protocol "
                             "that wrote it")


class NVE(_Stateless, VelocityVerlet):
    """ASE's velocity Verlet."""


class BussiNVT(_Stateless, Bussi):
    """ASE's Bussi–Donadio–Parrinello thermostat; the target is set through its public attributes
    exactly as Bussi.__init__ computes them."""

    def set_temperature(self, temperature_K: float) -> None:
        self.temp = temperature_K * units.kB
        self.target_kinetic_energy = 0.5 * self.temp * self.ndof


class LangevinNVT(_Stateless, Langevin):
    """ASE's Langevin dynamics (set_temperature is ASE's)."""


class _ChainInternals:
    """Temperature ramps and checkpoint state for ASE's Nosé–Hoover chain dynamics: the only code
    in mtpflow that touches ASE internals. It depends on these attributes of ASE 3.29
    (ase/md/nose_hoover_chain.py), none of which has a public accessor:

      dynamics._thermostat        the NoseHooverChainThermostat that step() uses (read, replaced)
      thermostat._eta, _p_eta     chain positions and momenta, arrays of the chain length
      dynamics._barostat          (MTK) the IsotropicMTKBarostat that step() uses (read, replaced)
      barostat._xi, _p_xi         barostat chain positions and momenta
      dynamics._eps, _p_eps       (MTK) log volume strain ε (cell = cell0·e^ε) and its momentum
      dynamics._cell0, _volume0   (MTK) the reference cell of ε and its volume

    set_temperature(T) builds a new thermostat (and barostat) with ASE's public constructors at T,
    so the target kT and every chain mass (Q, and the barostat's W and R) follow the target as LAMMPS
    fix nvt/npt does, and moves the chain state into it: the integrator then behaves bit for bit as
    a fresh ASE object built at T with the same state. get_state/set_state copy the arrays above.
    """

    def _init_chain(self, tdamp: float, pdamp: float | None = None) -> None:
        self.n_atoms_global = self.atoms.get_global_number_of_atoms()
        self.tdamp, self.pdamp = tdamp, pdamp
        self.check_ase_internals()

    def check_ase_internals(self) -> None:
        """Fail with a clear message when the installed ASE lacks the internals listed above."""
        import ase

        base = "NoseHooverChainNVT" if self.pdamp is None else "IsotropicMTKNPT"
        need = [("_thermostat", NoseHooverChainThermostat, ("_eta", "_p_eta"))]
        if self.pdamp is not None:
            need.append(("_barostat", IsotropicMTKBarostat, ("_xi", "_p_xi")))
        missing = []
        for name, cls, arrays in need:
            part = getattr(self, name, None)
            if not isinstance(part, cls):
                missing.append(f"{base}.{name}")
                continue
            for a in arrays:
                v = getattr(part, a, None)
                if not (isinstance(v, np.ndarray) and v.shape == (CHAIN_LENGTH,)):
                    missing.append(f"{cls.__name__}.{a}")
        if self.pdamp is not None:
            for name in ("_eps", "_p_eps", "_volume0"):
                if not isinstance(getattr(self, name, None), float):
                    missing.append(f"IsotropicMTKNPT.{name}")
            if np.shape(getattr(self, "_cell0", None)) != (3, 3):
                missing.append("IsotropicMTKNPT._cell0")
        if missing:
            raise MtpflowError(f"ASE {ase.__version__} changed the Nosé–Hoover chain internals that "
                               f"mtpflow's ramps and checkpoints use ({', '.join(missing)}); install "
                               "the ASE version mtpflow supports (pip install 'ase>=3.29,<3.30')")

    def set_temperature(self, temperature_K: float) -> None:
        old = self._thermostat
        new = NoseHooverChainThermostat(num_atoms_global=self.n_atoms_global, masses=self.masses,
                                        temperature_K=temperature_K, tdamp=self.tdamp,
                                        tchain=CHAIN_LENGTH)
        new._eta, new._p_eta = old._eta, old._p_eta
        self._thermostat = new
        if self.pdamp is not None:
            old = self._barostat
            new = IsotropicMTKBarostat(num_atoms_global=self.n_atoms_global,
                                       temperature_K=temperature_K, pdamp=self.pdamp,
                                       pchain=CHAIN_LENGTH)
            new._xi, new._p_xi = old._xi, old._p_xi
            self._barostat = new

    def get_state(self) -> dict[str, np.ndarray]:
        th = self._thermostat
        state = {"eta": th._eta.copy(), "p_eta": th._p_eta.copy()}
        if self.pdamp is not None:
            b = self._barostat
            state.update(xi=b._xi.copy(), p_xi=b._p_xi.copy(), eps=np.array(self._eps),
                         p_eps=np.array(self._p_eps), cell0=self._cell0.copy(),
                         volume0=np.array(self._volume0))
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        keys = {"eta", "p_eta"} | ({"xi", "p_xi", "eps", "p_eps", "cell0", "volume0"}
                                   if self.pdamp is not None else set())
        if set(state) != keys:
            raise InputError(f"the checkpoint's integrator state ({', '.join(sorted(state))}) is not "
                             f"that of {type(self).__name__} ({', '.join(sorted(keys))}); resume "
                             "with the protocol that wrote it")
        th = self._thermostat
        th._eta[:] = state["eta"]
        th._p_eta[:] = state["p_eta"]
        if self.pdamp is not None:
            b = self._barostat
            b._xi[:] = state["xi"]
            b._p_xi[:] = state["p_xi"]
            self._eps = float(state["eps"])
            self._p_eps = float(state["p_eps"])
            self._cell0 = np.array(state["cell0"], dtype=np.float64).reshape(3, 3)
            self._volume0 = float(state["volume0"])


class NoseHooverChain(_ChainInternals, NoseHooverChainNVT):
    """ASE's NoseHooverChainNVT with set_temperature, get_state and set_state."""

    def __init__(self, atoms, timestep: float, temperature_K: float, tdamp: float):
        super().__init__(atoms, timestep=timestep, temperature_K=temperature_K, tdamp=tdamp,
                         tchain=CHAIN_LENGTH)
        self._init_chain(tdamp)


class IsotropicMTK(_ChainInternals, IsotropicMTKNPT):
    """ASE's IsotropicMTKNPT with set_temperature (thermostat and barostat masses follow the
    target), get_state and set_state."""

    def __init__(self, atoms, timestep: float, temperature_K: float, pressure_au: float,
                 tdamp: float, pdamp: float):
        super().__init__(atoms, timestep=timestep, temperature_K=temperature_K,
                         pressure_au=pressure_au, tdamp=tdamp, pdamp=pdamp, tchain=CHAIN_LENGTH,
                         pchain=CHAIN_LENGTH)
        self._init_chain(tdamp, pdamp)


def make_integrator(stage, atoms, timestep_fs: float, rng):
    """The ASE integrator of `stage` (mtpflow.md.protocol.Stage) on `atoms` (calculator attached,
    momenta set), at the stage's start temperature; `rng` drives the stochastic thermostats."""
    if atoms.constraints:
        raise InputError("constraints are not supported in MD runs; remove them from the start")
    dt = timestep_fs * units.fs
    if stage.ensemble == "nve":
        return NVE(atoms, timestep=dt)
    if stage.ensemble == "npt":
        return IsotropicMTK(atoms, dt, stage.start_K, stage.pressure_GPa * units.GPa,
                            stage.tdamp_fs * units.fs, stage.pdamp_fs * units.fs)
    if stage.thermostat == "nhc":
        return NoseHooverChain(atoms, dt, stage.start_K, stage.tdamp_fs * units.fs)
    if stage.thermostat == "bussi":
        if atoms.get_kinetic_energy() <= 1e-12:  # ASE's Bussi refuses a system at rest
            raise InputError("the Bussi thermostat needs non-zero initial velocities; set "
                             "initial_temperature_K > 0 in the protocol")
        return BussiNVT(atoms, timestep=dt, temperature_K=stage.start_K,
                        taut=stage.tdamp_fs * units.fs, rng=rng)
    if stage.thermostat == "langevin":
        with warnings.catch_warnings():  # ASE 3.28+ deprecates fixcm; it keeps the COM at rest
            warnings.simplefilter("ignore", FutureWarning)
            return LangevinNVT(atoms, timestep=dt, temperature_K=stage.start_K,
                               friction=stage.friction_per_fs / units.fs, rng=rng, fixcm=True)
    raise ValueError(f"unknown thermostat {stage.thermostat!r}")
