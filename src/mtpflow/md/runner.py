"""Run an MD protocol with any ASE calculator: seeded velocities, stages with temperature ramps,
unwrapped trajectory + thermo CSV, atomic checkpoints with bit-exact resume, blow-up protection,
and per-step hooks that can stop the run at a safe point (SIGTERM, later other criteria).

Segments: a run can stop at any global step (`stop_at_step`) and a new run can continue from its
final checkpoint with fresh outputs (`continue_path`); the segments' trajectories and thermo rows
concatenated are byte for byte those of one uninterrupted run. With `auto_resume` a job keeps its
checkpoints in `<checkpoint>.part` while it runs and, when started again with the same inputs
after a kill, continues from there (see run_protocol)."""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from ase import units

from mtpflow.errors import InputError, MtpflowError, Stopped
from mtpflow.io import md_files
from mtpflow.md.geometry import closest_pair
from mtpflow.md.integrators import make_integrator
from mtpflow.md.protocol import Protocol


class BlowUpError(MtpflowError):
    """The simulation became unphysical; the message names the cause and the last good frame.
    `step` is the step at which it was detected, `last_good_step` the last good frame's."""

    def __init__(self, message: str, step: int | None = None, last_good_step: int | None = None):
        super().__init__(message)
        self.step, self.last_good_step = step, last_good_step


@dataclass
class RunResult:
    steps: int               # global step reached
    steps_run: int           # steps integrated in this call
    wall_s: float
    ns_per_day: float
    final_temperature_K: float


@dataclass
class StepHook:
    """A callback run after every `every`-th step (global step count), once that step's thermo row,
    frame and periodic checkpoint are written. func(step, atoms) returns None to go on, or a reason
    (e.g. "SIGTERM") to stop the run there: the runner then writes a checkpoint (when it has a
    checkpoint path), leaves the trajectory and thermo as <name>.part and raises
    mtpflow.errors.Stopped. atoms carries the calculator's results for the current positions.

    output: a file the hook writes (an mtpflow.io.md_files.ResumableOutput), handled like the
    trajectory: <name>.part while the run goes on, its offset in checkpoints (so --resume truncates
    it to the checkpoint's state), renamed to its name when the run ends. final: a stop by this hook
    ends the run for good (e.g. extrapolation control): the runner finishes every output up to that
    step under its final name instead of leaving .part files, and raises Stopped with no partial
    outputs."""

    every: int
    func: Callable[[int, object], str | None]
    output: object | None = None
    final: bool = False


def last_good_path(traj_path) -> Path:
    p = Path(traj_path)
    return p.with_name(p.stem + ".last_good.extxyz")


class _Progress:
    """One self-overwriting line on a terminal (never in logs): step, %, ns/day, ETA."""

    def __init__(self, total: int, timestep_fs: float, enabled: bool):
        self.total, self.dt, self.enabled = total, timestep_fs, enabled
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.step0 = None

    def update(self, step: int, stage: str, force: bool = False):
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.step0 is None:
            self.step0, self.t0 = step, now
            return
        if not force and now - self.last < 1.0:
            return
        self.last = now
        done = step - self.step0
        el = max(now - self.t0, 1e-9)
        nsday = done * self.dt * 1e-6 / el * 86400
        eta = (self.total - step) * el / done if done else 0
        sys.stderr.write(f"\r{stage:<10} step {step:,}/{self.total:,} ({100 * step / self.total:5.1f}%) "
                         f"{nsday:7.3f} ns/day  ETA {int(eta // 3600)}h{int(eta % 3600 // 60):02d}m ")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")


def _temperature(momenta, masses, n_dof):
    ekin = 0.5 * float(np.sum(momenta * momenta / masses))
    return ekin, 2.0 * ekin / (n_dof * units.kB)


def run_protocol(atoms, calc, protocol: Protocol, traj_path, thermo_path, *,
                 checkpoint_path=None, resume_path=None, continue_path=None,
                 stop_at_step: int | None = None, auto_resume: bool = False,
                 min_dist_A: float | None = None, potential_digest: str = "",
                 progress: bool | None = None, log=None,
                 hooks: tuple[StepHook, ...] | list[StepHook] = ()) -> RunResult:
    """Run `protocol` on `atoms` (positions are kept unwrapped throughout) with `calc`.

    checkpoint_path: written every protocol.checkpoint_every steps and at the end (atomically).
    resume_path: continue from this checkpoint; outputs are truncated to the checkpoint's state,
      so the result equals the uninterrupted run.
    continue_path: start from this checkpoint's state (same system, protocol and potential) with
      fresh outputs holding only the steps after it: a new segment of the run.
    stop_at_step: end at this global step of the protocol (default: its last step); the final
      checkpoint is written there, so a later run can continue from it.
    auto_resume: the job is restartable by running it again: checkpoints go to
      `<checkpoint_path>.part` while it runs (renamed to checkpoint_path when it completes); a
      `.part` checkpoint written by the same job (same start state or continue_path file, protocol,
      potential, system and stop step) whose `.part` outputs are intact is resumed, any other is
      replaced and the job starts afresh (said through `log`).
    min_dist_A: the potential's min_dist (blow-up threshold = min_dist − margin); None with no
      blowup.min_dist_A in the protocol disables the pair-distance check.
    hooks: StepHook callbacks; one that returns a reason stops the run (raises Stopped) after
      writing a checkpoint, so that --resume continues to the uninterrupted result.
    """
    log = log or (lambda msg: None)
    for h in hooks:
        if not (isinstance(h.every, int) and h.every >= 1):
            raise ValueError(f"StepHook.every must be a positive integer, got {h.every!r}")
    if progress is None:
        progress = sys.stderr.isatty()
    atoms.calc = calc
    n = len(atoms)
    symbols = atoms.get_chemical_symbols()
    masses = atoms.get_masses()[:, None]
    fingerprint = md_files.system_fingerprint(atoms.numbers, masses[:, 0])
    pdigest = protocol.digest()
    n_dof = 3 * n
    dt_fs = protocol.timestep_fs
    rng = np.random.default_rng(protocol.seed)
    traj = md_files.ResumableOutput(traj_path)
    thermo = md_files.ResumableOutput(thermo_path, md_files.thermo_header())
    extra = [h.output for h in hooks if h.output is not None]
    if checkpoint_path is not None:
        md_files.check_writable(checkpoint_path)
        if auto_resume:
            md_files.check_writable(md_files.part_path(checkpoint_path))

    bl = protocol.blowup
    dmin = bl.min_dist_A if bl.min_dist_A is not None else min_dist_A
    d_threshold = None if dmin is None else dmin - bl.min_dist_margin_A
    t_max = protocol.max_temperature_K()

    total = protocol.total_steps
    stop_step = total if stop_at_step is None else int(stop_at_step)
    if not 0 <= stop_step <= total:
        raise InputError(f"--stop-at-step {stop_step}: the protocol has steps 0 .. {total}; give a "
                         "step in that range")
    if auto_resume and checkpoint_path is None:
        raise InputError("--auto-resume needs --checkpoint FILE (its .part copy is what a rerun "
                         "continues from)")
    work_ck = md_files.part_path(checkpoint_path) if auto_resume else checkpoint_path
    if continue_path is not None and not md_files.file_exists(continue_path):
        raise InputError("checkpoint not found; give the file written by --checkpoint",
                         continue_path)
    job = job_digest(protocol, potential_digest, fingerprint, stop_step,
                     md_files.file_digest(continue_path) if continue_path is not None
                     else _state_digest(atoms))
    if auto_resume:
        if resume_path is not None:
            raise InputError("give --resume or --auto-resume, not both (--auto-resume resumes "
                             f"from {work_ck} by itself)")
        why = _own_checkpoint_problem(work_ck, job, fingerprint, traj, thermo)
        if why is None:
            resume_path = work_ck
            log(f"resuming this job from its own checkpoint {work_ck}")
        else:
            if why:
                log(f"not resuming from {work_ck}: {why}; starting the job afresh")
            md_files.remove_file(work_ck)

    state = {}
    ckpt_stage, ckpt_k = 0, 0
    source = resume_path if resume_path is not None else continue_path
    if source is not None:
        verb = "resume" if resume_path is not None else "continue"
        arrays, meta = md_files.load_checkpoint(source, fingerprint)
        if meta["protocol_digest"] != pdigest:
            raise InputError("the checkpoint was written with another protocol (stages, timestep or "
                             f"output intervals differ); {verb} with the same protocol and flags",
                             source)
        if potential_digest and meta.get("potential_digest") and meta["potential_digest"] != potential_digest:
            raise InputError(f"the checkpoint was written with another potential file; {verb} with "
                             "the same potential", source)
        if int(meta["step"]) > stop_step:
            raise InputError(f"the checkpoint is at step {meta['step']}, after --stop-at-step "
                             f"{stop_step}; give a later stop step or an earlier checkpoint", source)
        if verb == "continue" and int(meta["step"]) == stop_step:
            raise InputError(f"the checkpoint is at step {meta['step']}, the stop step already: this "
                             "segment would hold no step; give a later --stop-at-step", source)
        atoms.set_cell(arrays["cell"], scale_atoms=False)
        atoms.set_positions(arrays["positions"], apply_constraint=False)
        atoms.set_momenta(arrays["momenta"], apply_constraint=False)
        rng.bit_generator.state = meta["rng_state"]
        step = int(meta["step"])
        ckpt_stage, ckpt_k = int(meta["stage_index"]), int(meta["stage_step"])
        state = {k[6:]: v for k, v in arrays.items() if k.startswith("state_")}
        if verb == "resume":
            traj.resume(int(meta["traj_offset"]))
            thermo.resume(int(meta["thermo_offset"]))
            offsets = meta.get("hook_offsets", {})
            for out in extra:  # a hook output the checkpoint does not know starts afresh
                out.resume(int(offsets[out.path.name])) if out.path.name in offsets else out.start()
            log(f"resuming at step {step} (stage {ckpt_stage}, step {ckpt_k} of it)")
        else:
            for out in [traj, thermo, *extra]:
                out.start()
            log(f"continuing from step {step} of {source} (stage {ckpt_stage}, step {ckpt_k} of it) "
                f"with fresh outputs")
    else:
        atoms.wrap()
        # Maxwell-Boltzmann momenta from the seeded generator, zero total momentum
        p = np.sqrt(masses * units.kB * protocol.start_temperature_K()) * rng.standard_normal((n, 3))
        p -= masses * (p.sum(axis=0) / masses.sum())
        atoms.set_momenta(p, apply_constraint=False)
        step = 0
        traj.start()
        thermo.start()
        for out in extra:
            out.start()

    def write_thermo():
        epot = atoms.get_potential_energy()
        ekin, temp = _temperature(atoms.get_momenta(), masses, n_dof)
        stress = atoms.get_stress(include_ideal_gas=True)
        p_gpa = -float(np.sum(stress[:3])) / 3.0 / units.GPa
        thermo.write(md_files.format_thermo_row(step, step * dt_fs * 1e-3, temp, epot, ekin, p_gpa,
                                                atoms.get_volume()))

    def write_frame():
        traj.write(md_files.format_extxyz_frame(symbols, atoms.positions, atoms.cell[:], step,
                                                step * dt_fs * 1e-3))

    good = {"positions": atoms.positions.copy(), "cell": atoms.cell[:].copy(), "step": step}

    def blow_up(reason: str):
        gp = last_good_path(traj_path)
        md_files.write_extxyz_frame(gp, symbols, good["positions"], good["cell"], good["step"],
                                    good["step"] * dt_fs * 1e-3)
        for out in [traj, thermo, *extra]:
            out.close()
        raise BlowUpError(f"MD blew up at step {step} (t = {step * dt_fs * 1e-3:.3f} ps): {reason}. "
                          f"The last good frame (step {good['step']}) is in {gp}. Lower timestep_fs, "
                          "check that the potential was trained on such configurations, or restart "
                          "from an earlier checkpoint", step=step, last_good_step=good["step"])

    def check(full: bool):
        # the integrator has just evaluated the calculator at the current positions
        epot = calc.results.get("energy")
        if epot is None:
            epot = atoms.get_potential_energy()
        ekin, temp = _temperature(atoms.arrays["momenta"], masses, n_dof)
        if not (math.isfinite(epot) and math.isfinite(temp)):
            blow_up("the energy or velocities became NaN/inf")
        if temp > t_max:
            blow_up(f"the temperature ran away to {temp:.0f} K (limit {t_max:.0f} K, "
                    "blowup.max_temperature_K)")
        if full:
            if not np.isfinite(atoms.positions).all():
                blow_up("positions became NaN/inf")
            if d_threshold is not None:
                d, i, j = closest_pair(atoms.positions, atoms.cell[:], d_threshold)
                if d < d_threshold:
                    blow_up(f"atoms {i + 1} ({symbols[i]}) and {j + 1} ({symbols[j]}) (counting from "
                            f"1) came {d:.3f} Å apart, below the potential's min_dist {dmin:.3f} Å "
                            f"minus the margin {bl.min_dist_margin_A:.3f} Å")
            good["positions"] = atoms.positions.copy()
            good["cell"] = atoms.cell[:].copy()
            good["step"] = step

    at = {"stage": ckpt_stage, "k": ckpt_k, "integ": None}   # where the state is now

    def save_checkpoint(path):
        arrays = {"positions": atoms.positions, "momenta": atoms.get_momenta(), "cell": atoms.cell[:],
                  "numbers": atoms.numbers}
        integ_state = at["integ"].get_state() if at["integ"] is not None else state
        arrays.update({f"state_{key}": v for key, v in integ_state.items()})
        meta = {"format": "mtpflow-md-checkpoint", "step": step, "stage_index": at["stage"],
                "stage_step": at["k"], "fingerprint": fingerprint, "protocol_digest": pdigest,
                "potential_digest": potential_digest, "rng_state": rng.bit_generator.state,
                "traj_offset": traj.offset(), "thermo_offset": thermo.offset(),
                "hook_offsets": {out.path.name: out.offset() for out in extra},
                "time_ps": step * dt_fs * 1e-3, "stop_at_step": stop_step, "job_digest": job}
        md_files.save_checkpoint(path, arrays, meta)

    def stop(reason, final=False):
        at_ = f"step {step} (t = {step * dt_fs * 1e-3:.6g} ps)"
        if work_ck is not None:
            save_checkpoint(work_ck)
        if final:  # the run ends for good here: outputs (and the checkpoint) under their names
            for out in [traj, thermo, *extra]:
                out.finish()
            if auto_resume:
                md_files.replace_file(work_ck, checkpoint_path)
            raise Stopped(reason, at_, checkpoint_path, [])
        for out in [traj, thermo, *extra]:
            out.close()
        hint = (f"to continue, run the same command again (--auto-resume continues from {work_ck})"
                if auto_resume else None)
        raise Stopped(reason, at_, work_ck, [out.part for out in [traj, thermo, *extra]],
                      resume_hint=hint)

    if source is None:
        check(True)
        write_thermo()
        write_frame()

    bar = _Progress(stop_step, dt_fs, progress)
    wall0, step_start = time.perf_counter(), step
    ck_every = protocol.checkpoint_every
    try:
        for si, stage in enumerate(protocol.stages):
            if step >= stop_step:
                break
            if si < ckpt_stage:
                continue
            k0 = ckpt_k if si == ckpt_stage else 0
            if k0 >= stage.n_steps:
                continue
            integ = make_integrator(stage, atoms, dt_fs, rng)
            if si == ckpt_stage and state:
                integ.set_state(state)
            ramp = stage.start_K is not None and stage.end_K != stage.start_K
            if k0 == 0:
                log(f"stage {si} ({stage.name}): {stage.ensemble} {stage.n_steps} steps"
                    + (f", {stage.start_K:g} -> {stage.end_K:g} K" if stage.start_K else ""))
            for k in range(k0, min(stage.n_steps, k0 + stop_step - step)):
                if ramp:
                    integ.set_temperature(temperature_K=stage.target_K(k))
                integ.step()
                step += 1
                at.update(stage=si, k=k + 1, integ=integ)
                check(step % bl.check_every == 0)
                if step % protocol.thermo_every == 0:
                    write_thermo()
                if step % protocol.traj_every == 0:
                    write_frame()
                if work_ck is not None and ck_every and step % ck_every == 0:
                    save_checkpoint(work_ck)
                for hook in hooks:
                    reason = hook.func(step, atoms) if step % hook.every == 0 else None
                    if reason:
                        stop(reason, hook.final)
                bar.update(step, stage.name)
        if work_ck is not None:
            save_checkpoint(work_ck)
    finally:
        bar.close()
    wall = time.perf_counter() - wall0
    for out in [traj, thermo, *extra]:
        out.finish()
    if auto_resume:
        md_files.replace_file(work_ck, checkpoint_path)
    done = step - step_start
    _, temp = _temperature(atoms.get_momenta(), masses, n_dof)
    return RunResult(step, done, wall, done * dt_fs * 1e-6 / wall * 86400 if wall > 0 else 0.0, temp)


def _state_digest(atoms) -> str:
    """Identifies a start state: positions, cell and elements (before any wrapping)."""
    h = hashlib.sha256()
    for a in (atoms.positions, atoms.cell[:], atoms.numbers):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def job_digest(protocol: Protocol, potential_digest: str, fingerprint: str, stop_step: int,
               start_digest: str) -> str:
    """What makes two runs the same job: protocol (seed, intervals), potential, system, start
    state (structure or continued checkpoint) and stop step. Checkpoints record it."""
    key = {"protocol": protocol.digest(), "potential": potential_digest, "system": fingerprint,
           "stop_at_step": int(stop_step), "start": start_digest}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _own_checkpoint_problem(path, job: str, fingerprint: str, traj, thermo) -> str | None:
    """None when `path` is a checkpoint of this job that the .part outputs can resume from; else
    why not ('' when there is simply no checkpoint)."""
    if not md_files.file_exists(path):
        return ""
    try:
        _, meta = md_files.load_checkpoint(path, fingerprint)
    except InputError as exc:
        return f"it cannot be used ({exc})"
    if meta.get("job_digest") != job:
        return ("it was written by another job (another start, protocol, potential, system or stop "
                "step)")
    for out, key in ((traj, "traj_offset"), (thermo, "thermo_offset")):
        if not out.can_resume(int(meta[key])):
            return f"{out.part.name} is missing or shorter than at the checkpoint"
    return None
