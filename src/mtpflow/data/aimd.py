"""Embedded AIMD with a reference engine's ASE calculator: a short fixed-cell pre-relaxation (FIRE)
so the random start does not explode, then NVT with a Nosé-Hoover chain (ASE
NoseHooverChainNVT) at the seed's 1000 K and 2 fs.

Frames carry energy/free_energy, forces and the potential stress (no ideal-gas term, as VASP's
printed stress), plus info: step, time_fs (0 at the start of NVT), temperature_K, engine label.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mtpflow.data.engines import ReferenceEngine, check_finite_results
from mtpflow.errors import InputError, MtpflowError


@dataclass
class AimdSettings:
    temperature_K: float = 1000.0
    timestep_fs: float = 2.0
    steps: int = 500
    prerelax_steps: int = 50
    prerelax_fmax: float = 0.5  # eV/Å: stop the pre-relaxation earlier once forces are below this
    tdamp_fs: float = 100.0  # thermostat time constant
    tchain: int = 3
    seed: int = 0
    every: int = 1  # keep every k-th MD step (step 0 always kept)

    def validate(self) -> None:
        checks = [
            (self.temperature_K > 0, "--temperature-K must be > 0 (K)"),
            (0 < self.timestep_fs <= 10, "--timestep-fs must be in (0, 10] fs"),
            (self.steps >= 0, "--steps must be ≥ 0"),
            (self.prerelax_steps >= 0, "--prerelax-steps must be ≥ 0"),
            (self.every >= 1, "--every must be ≥ 1"),
            (self.tdamp_fs > 0, "--tdamp-fs must be > 0 (fs)"),
            (self.tchain >= 1, "the Nosé-Hoover chain length must be ≥ 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)


@dataclass
class AimdStats:
    prerelax_steps_done: int = 0
    prerelax_fmax_final: float = float("nan")
    md_steps: int = 0
    frames: int = 0
    seconds_prerelax: float = 0.0
    seconds_md: float = 0.0
    mean_temperature_K: float = float("nan")

    @property
    def seconds_per_step(self) -> float:
        return self.seconds_md / self.md_steps if self.md_steps else float("nan")


def snapshot(atoms, step: int, time_fs: float, label: str):
    """A copy of `atoms` with the calculator's current results frozen into it."""
    from ase.calculators.singlepoint import SinglePointCalculator

    energy = float(atoms.get_potential_energy())
    forces = np.array(atoms.get_forces())
    stress = np.array(atoms.get_stress(voigt=True, include_ideal_gas=False))
    check_finite_results(energy, forces, stress, label, f" at MD step {step}")
    frame = atoms.copy()
    frame.calc = SinglePointCalculator(frame, energy=energy, free_energy=energy, forces=forces,
                                       stress=stress)
    frame.info.update({"step": step, "time_fs": time_fs,
                       "temperature_K": float(atoms.get_temperature()),
                       "feature_EFS_by": label})
    return frame


def run_aimd(atoms, engine: ReferenceEngine, settings: AimdSettings,
             log: Callable[[str], None] | None = None) -> tuple[list, AimdStats]:
    """Pre-relax then NVT; returns (frames, stats). `atoms` is not modified."""
    from ase import units
    from ase.md.nose_hoover_chain import NoseHooverChainNVT
    from ase.md import velocitydistribution as vd
    from ase.optimize import FIRE

    settings.validate()
    if not atoms.pbc.all():
        raise InputError("AIMD needs a periodic cell; the start structure has none")
    log = log or (lambda _msg: None)
    work = atoms.copy()
    work.calc = engine.calculator()
    stats = AimdStats()

    t0 = time.perf_counter()
    if settings.prerelax_steps:
        opt = FIRE(work, logfile=None, maxstep=0.1)
        opt.run(fmax=settings.prerelax_fmax, steps=settings.prerelax_steps)
        stats.prerelax_steps_done = int(opt.nsteps)
        stats.prerelax_fmax_final = float(np.sqrt((work.get_forces() ** 2).sum(axis=1).max()))
        log(f"pre-relaxation: {stats.prerelax_steps_done} FIRE steps, max |F| now "
            f"{stats.prerelax_fmax_final:.3f} eV/Å")
    stats.seconds_prerelax = time.perf_counter() - t0

    rng = np.random.default_rng(settings.seed)
    if hasattr(vd, "thermalize_momenta"):  # ASE >= 3.27
        vd.thermalize_momenta(work, settings.temperature_K, rng=rng)
    else:
        vd.MaxwellBoltzmannDistribution(work, temperature_K=settings.temperature_K, rng=rng)
    vd.Stationary(work)
    dyn = NoseHooverChainNVT(work, timestep=settings.timestep_fs * units.fs,
                             temperature_K=settings.temperature_K,
                             tdamp=settings.tdamp_fs * units.fs, tchain=settings.tchain)
    frames = [snapshot(work, 0, 0.0, engine.label)]
    temps = []
    t1 = time.perf_counter()
    report_every = max(1, settings.steps // 10)
    for step in range(1, settings.steps + 1):
        dyn.run(1)
        temp = float(work.get_temperature())
        if not np.isfinite(temp) or temp > 50 * settings.temperature_K:
            raise MtpflowError(f"the AIMD blew up at step {step} (T = {temp:.0f} K); increase "
                               f"--prerelax-steps or the minimum distances of the start")
        temps.append(temp)
        if step % settings.every == 0:
            frames.append(snapshot(work, step, step * settings.timestep_fs, engine.label))
        if step % report_every == 0:
            rate = (time.perf_counter() - t1) / step
            log(f"step {step}/{settings.steps}  T = {temp:.0f} K  "
                f"E = {work.get_potential_energy():.3f} eV  {rate:.3f} s/step")
    stats.seconds_md = time.perf_counter() - t1
    stats.md_steps = settings.steps
    stats.frames = len(frames)
    stats.mean_temperature_K = float(np.mean(temps)) if temps else float("nan")
    return frames, stats
