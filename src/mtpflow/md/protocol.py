"""MD protocols: a list of stages (melt, quench, anneal, production) with validation.

A protocol (YAML, see mtpflow.io.md_files.read_protocol) looks like

    timestep_fs: 1.0
    thermo_every: 100        # steps between thermo CSV rows
    traj_every: 100          # steps between trajectory frames (default 100)
    checkpoint_every: 10000  # steps between checkpoints (0: none)
    seed: 42
    initial_temperature_K: 1000   # Maxwell-Boltzmann velocities (default: first stage's temperature)
    blowup: {min_dist_margin_A: 0.2, max_temperature_K: 5000, check_every: 10}
    stages:
      - {type: melt, temperature_K: 1000, time_ps: 100}
      - {type: quench, start_K: 1000, end_K: 300, rate_K_per_s: 4.5e11}
      - {type: anneal, temperature_K: 300, time_ps: 100, ensemble: npt, pressure_GPa: 0.0}
      - {type: production, temperature_K: 300, time_ns: 10}

Durations are given as exactly one of steps, time_fs, time_ps, time_ns (quench: from its rate).
Thermostats: nhc (Nosé–Hoover chain, default), bussi, langevin; NPT uses the isotropic MTK
barostat with a Nosé–Hoover chain (ASE IsotropicMTKNPT). Times in fs unless the key says ps/ns.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from mtpflow.errors import InputError

STAGE_TYPES = ("melt", "quench", "anneal", "production")
ENSEMBLES = ("nve", "nvt", "npt")
THERMOSTATS = ("nhc", "bussi", "langevin")

_STAGE_KEYS = {"type", "ensemble", "thermostat", "temperature_K", "start_K", "end_K",
               "rate_K_per_s", "steps", "time_fs", "time_ps", "time_ns", "tdamp_fs", "pdamp_fs",
               "pressure_GPa", "friction_per_fs", "name"}
_TOP_KEYS = {"timestep_fs", "thermo_every", "traj_every", "checkpoint_every", "seed",
             "initial_temperature_K", "blowup", "stages"}
_BLOWUP_KEYS = {"min_dist_margin_A", "max_temperature_K", "check_every", "min_dist_A"}


@dataclass
class Stage:
    """One stage; `start_K`/`end_K` hold the thermostat target at its start and end (equal except
    for a quench). `n_steps` is resolved from the duration or the quench rate."""

    type: str
    ensemble: str
    thermostat: str
    start_K: float | None
    end_K: float | None
    n_steps: int
    tdamp_fs: float = 100.0
    pdamp_fs: float = 1000.0
    pressure_GPa: float = 0.0
    friction_per_fs: float = 0.01
    rate_K_per_s: float | None = None
    name: str = ""

    def target_K(self, k: int) -> float | None:
        """Thermostat target before step k+1 of this stage (k = 0 .. n_steps-1): a linear ramp."""
        if self.start_K is None:
            return None
        if self.n_steps <= 0 or self.end_K == self.start_K:
            return self.start_K
        return self.start_K + (self.end_K - self.start_K) * (k / self.n_steps)


@dataclass
class BlowupSettings:
    """Stop when a pair comes closer than min_dist − margin, T exceeds max_temperature_K, or NaN."""

    min_dist_margin_A: float = 0.2
    max_temperature_K: float | None = None  # default: 3 x the highest temperature in the protocol
    check_every: int = 10                   # steps between pair-distance checks (T, NaN: every step)
    min_dist_A: float | None = None         # default: the potential's min_dist


@dataclass
class Protocol:
    stages: list[Stage]
    timestep_fs: float = 1.0
    thermo_every: int = 100
    traj_every: int = 100
    checkpoint_every: int = 0
    seed: int = 0
    initial_temperature_K: float | None = None
    blowup: BlowupSettings = field(default_factory=BlowupSettings)

    @property
    def total_steps(self) -> int:
        return sum(s.n_steps for s in self.stages)

    def stage_bounds(self) -> list[tuple[int, int]]:
        """(first global step, last global step) of each stage; stage i runs steps a+1 .. b."""
        out, a = [], 0
        for s in self.stages:
            out.append((a, a + s.n_steps))
            a += s.n_steps
        return out

    def start_temperature_K(self) -> float:
        if self.initial_temperature_K is not None:
            return self.initial_temperature_K
        for s in self.stages:
            if s.start_K is not None:
                return s.start_K
        return 300.0

    def max_temperature_K(self) -> float:
        if self.blowup.max_temperature_K is not None:
            return self.blowup.max_temperature_K
        temps = [self.start_temperature_K()] + [t for s in self.stages for t in (s.start_K, s.end_K)
                                                if t is not None]
        return 3.0 * max(max(temps), 300.0)

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        """A hash of everything that determines the outputs (checkpoints must match it); the
        checkpoint interval is left out, so a resumed run may checkpoint more or less often."""
        d = self.to_dict()
        d.pop("checkpoint_every")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _number(d: dict, key: str, where: str, positive: bool = False, nonneg: bool = False,
            integer: bool = False, default=None):
    if key not in d or d[key] is None:
        return default
    v = d[key]
    if isinstance(v, str):  # PyYAML reads 4.5e11 (no dot / exponent sign) as a string
        try:
            v = float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{where}.{key} = {v!r} is not a number; give a plain number")
    if not math.isfinite(v):
        raise InputError(f"{where}.{key} = {v!r} must be finite")
    if integer and int(v) != v:
        raise InputError(f"{where}.{key} = {v!r} must be a whole number")
    if positive and v <= 0:
        raise InputError(f"{where}.{key} = {v!r} must be positive")
    if nonneg and v < 0:
        raise InputError(f"{where}.{key} = {v!r} must not be negative")
    return int(v) if integer else float(v)


def _duration_steps(d: dict, where: str, timestep_fs: float) -> int:
    given = [k for k in ("steps", "time_fs", "time_ps", "time_ns") if d.get(k) is not None]
    if len(given) != 1:
        raise InputError(f"{where}: give exactly one duration key of steps, time_fs, time_ps, "
                         f"time_ns (found {', '.join(given) or 'none'})")
    key = given[0]
    if key == "steps":
        return _check_steps(_number(d, key, where, nonneg=True, integer=True), where, key)
    t = _number(d, key, where, nonneg=True)
    fs = t * {"time_fs": 1.0, "time_ps": 1e3, "time_ns": 1e6}[key]
    return _check_steps(int(round(fs / timestep_fs)), where, key)


# LAMMPS runs at most 2^31 - 1 steps per `run` command (MAXSMALLINT; run.cpp: "Invalid run command
# N value"), and lammps-deck writes one run per stage; the embedded MD takes the same bound
# (2.1e9 steps: 2.1 µs at 1 fs, far beyond any MLMD stage).
MAX_STAGE_STEPS = 2 ** 31 - 1


def _check_steps(n: int, where: str, key: str) -> int:
    if n > MAX_STAGE_STEPS:
        raise InputError(f"{where}.{key}: {n:.3g} steps; a stage runs at most {MAX_STAGE_STEPS:,} "
                         "steps (LAMMPS's limit per run command); check the unit of the duration "
                         "(time_fs, time_ps, time_ns) or split the stage")
    return n


def _stage(d, i: int, timestep_fs: float) -> Stage:
    where = f"stages[{i}]"
    if not isinstance(d, dict):
        raise InputError(f"{where} must be a mapping like {{type: melt, temperature_K: 1000, time_ps: 10}}")
    unknown = sorted(set(d) - _STAGE_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_STAGE_KEYS))}")
    stype = d.get("type")
    if stype not in STAGE_TYPES:
        raise InputError(f"{where}.type = {stype!r} is not a stage type; use one of {', '.join(STAGE_TYPES)}")
    ensemble = d.get("ensemble", "nvt")
    if ensemble not in ENSEMBLES:
        raise InputError(f"{where}.ensemble = {ensemble!r}; use one of {', '.join(ENSEMBLES)}")
    if stype in ("melt", "quench") and ensemble == "nve":
        raise InputError(f"{where}: a {stype} stage needs a thermostat; set ensemble to nvt or npt")
    thermostat = d.get("thermostat", "nhc")
    if thermostat not in THERMOSTATS:
        raise InputError(f"{where}.thermostat = {thermostat!r}; use one of {', '.join(THERMOSTATS)}")
    if ensemble == "npt" and thermostat != "nhc":
        raise InputError(f"{where}: npt uses the Nosé–Hoover chain (MTK) thermostat; remove "
                         f"thermostat: {thermostat} or set it to nhc")
    kw = dict(tdamp_fs=_number(d, "tdamp_fs", where, positive=True, default=100.0),
              pdamp_fs=_number(d, "pdamp_fs", where, positive=True, default=1000.0),
              pressure_GPa=_number(d, "pressure_GPa", where, default=0.0),
              friction_per_fs=_number(d, "friction_per_fs", where, positive=True, default=0.01),
              name=str(d.get("name", stype)))
    if stype == "quench":
        t1 = _number(d, "start_K", where, positive=True)
        t2 = _number(d, "end_K", where, positive=True)
        if t1 is None or t2 is None:
            raise InputError(f"{where}: a quench needs start_K and end_K (K)")
        rate = _number(d, "rate_K_per_s", where)
        if rate is not None:
            if rate <= 0:
                raise InputError(f"{where}.rate_K_per_s = {d['rate_K_per_s']!r} must be positive "
                                 "(the cooling rate's magnitude, K/s)")
            if any(d.get(k) is not None for k in ("steps", "time_fs", "time_ps", "time_ns")):
                raise InputError(f"{where}: give either rate_K_per_s or a duration, not both")
            n = _check_steps(int(round(abs(t1 - t2) / rate * 1e15 / timestep_fs)), where,
                             "rate_K_per_s")
        else:
            n = _duration_steps(d, where, timestep_fs)
        if n < 1:
            raise InputError(f"{where}: the quench lasts less than one step; lower rate_K_per_s")
        return Stage(stype, ensemble, thermostat, t1, t2, n, rate_K_per_s=rate, **kw)
    for k in ("start_K", "end_K", "rate_K_per_s"):
        if d.get(k) is not None:
            raise InputError(f"{where}: {k} belongs to quench stages; use temperature_K for {stype}")
    temp = _number(d, "temperature_K", where, positive=True)
    if ensemble != "nve" and temp is None:
        raise InputError(f"{where}: temperature_K is required for an {ensemble} stage")
    if ensemble == "nve":
        temp = None
    return Stage(stype, ensemble, thermostat, temp, temp, _duration_steps(d, where, timestep_fs), **kw)


def protocol_from_dict(d, path=None) -> Protocol:
    """Validate a protocol mapping; errors name the key (and the file when `path` is given)."""
    try:
        if not isinstance(d, dict):
            raise InputError("a protocol is a mapping with a 'stages' list")
        unknown = sorted(set(d) - _TOP_KEYS)
        if unknown:
            raise InputError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_TOP_KEYS))}")
        where = "protocol"
        dt = _number(d, "timestep_fs", where, positive=True, default=1.0)
        stages_raw = d.get("stages")
        if not isinstance(stages_raw, list) or not stages_raw:
            raise InputError("'stages' must be a non-empty list of stages")
        stages = [_stage(s, i, dt) for i, s in enumerate(stages_raw)]
        b = d.get("blowup") or {}
        if not isinstance(b, dict):
            raise InputError("'blowup' must be a mapping")
        bad = sorted(set(b) - _BLOWUP_KEYS)
        if bad:
            raise InputError(f"blowup: unknown key(s) {', '.join(bad)}; allowed: {', '.join(sorted(_BLOWUP_KEYS))}")
        blowup = BlowupSettings(
            min_dist_margin_A=_number(b, "min_dist_margin_A", "blowup", nonneg=True, default=0.2),
            max_temperature_K=_number(b, "max_temperature_K", "blowup", positive=True),
            check_every=_number(b, "check_every", "blowup", positive=True, integer=True, default=10),
            min_dist_A=_number(b, "min_dist_A", "blowup", positive=True))
        return Protocol(
            stages=stages, timestep_fs=dt,
            thermo_every=_number(d, "thermo_every", where, positive=True, integer=True, default=100),
            traj_every=_number(d, "traj_every", where, positive=True, integer=True, default=100),
            checkpoint_every=_number(d, "checkpoint_every", where, nonneg=True, integer=True, default=0),
            seed=_number(d, "seed", where, nonneg=True, integer=True, default=0),
            initial_temperature_K=_number(d, "initial_temperature_K", where, nonneg=True),
            blowup=blowup)
    except InputError as exc:
        if path is not None and exc.path is None:
            raise InputError(str(exc), path) from None
        raise


def single_stage_protocol(ensemble: str, temperature_K: float | None, steps: int,
                          timestep_fs: float = 1.0, pressure_GPa: float = 0.0, **top) -> Protocol:
    """The protocol of `mtpflow md`'s one-stage flags (--ensemble --temperature-K --steps
    --timestep-fs --pressure-GPa): one production stage. For nve, temperature_K is the initial
    velocities' temperature (none: the atoms start at rest); pressure_GPa is used by npt only.
    `top` sets other top-level protocol keys (seed, traj_every, ...); None values are left out."""
    stage = {"type": "production", "ensemble": ensemble, "steps": steps}
    d = {"timestep_fs": timestep_fs, "stages": [stage]}
    if ensemble == "nve":
        d["initial_temperature_K"] = 0.0 if temperature_K is None else temperature_K
    elif temperature_K is not None:
        stage["temperature_K"] = temperature_K
    if ensemble == "npt":
        stage["pressure_GPa"] = pressure_GPa
    d.update({k: v for k, v in top.items() if v is not None})
    return protocol_from_dict(d)
