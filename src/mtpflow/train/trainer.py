"""Training as `mlp train` does it, with a faster optimiser.

Like MLIP-3 (src/mtpr_trainer.cpp): widen a template's species and start its radial coefficients
by MLIP's rule (mtpflow.mtp.init.mlip_start), set min_dist to 0.99 x the smallest distance in the
set, choose the radial `scaling` by MLIP's Rescale and solve the linear coefficients exactly,
stop by MLIP's convergence rule, re-choose the scaling at the end. Unlike MLIP (BFGS over all
coefficients from an identity inverse Hessian, the linear part re-solved at iterations 25, 70,
100, 150, 250, after a 75-iteration pre-training), BFGS runs over the radial coefficients only
with the linear ones solved exactly at every step (variable projection), in coordinates where the
radial basis is orthonormal over the training set's pair distances (train.precondition): fewer,
better-scaled unknowns, no pre-training needed. Per-iteration log and atomic checkpoints."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from mtpflow.errors import InputError, Stopped
from mtpflow.train import parallel
from mtpflow.io.train_files import load_checkpoint, save_checkpoint, write_train_log
from mtpflow.train.linear import ProjectedLoss, fit_linear
from mtpflow.train.loss import (LossFunction, LossWeights, PackedSet, check_training_configs,
                                training_set_hash)
from mtpflow.train.optimizer import BFGSState, bfgs_iteration, converged
from mtpflow.train.precondition import Preconditioned, whitening

LOG_COLUMNS = ["iteration", "loss", "rmse_energy_per_atom_eV", "rmse_force_eV_A", "rmse_stress_GPa"]
MINDIST_FACTOR = 0.99  # MLIP-3 sets min_dist to 0.99 x the smallest interatomic distance


@dataclass
class TrainOptions:
    weights: LossWeights
    max_iter: int = 1000
    tolerance: float = 1e-3
    seed: int = 0
    init_random: bool = False  # MLIP's --init_random (seeded); default MLIP's deterministic start
    mindist_update: bool = True
    checkpoint: str | None = None
    checkpoint_every: int = 50
    resume: str | None = None
    job: dict | None = None  # recorded in every checkpoint (`train --auto-resume`: whose job it is)
    rescale_at_end: bool = True  # re-choose `scaling` (and re-solve the linear part) at the end


def _set_state_params(pot, state, lossf):
    # collective (the linear solve reduces over ranks): call on every rank
    pot.set_params(lossf.full_params(state.x))


def initialise(pot, species_count: int, init_random: bool = False, seed: int = 0):
    """A template (no coefficients) widened to species_count with MLIP's starting coefficients
    (mtpflow.mtp.init.mlip_start; with init_random its seeded random rule). A trained potential
    is returned unchanged (it must already cover species_count)."""
    from mtpflow.mtp.init import from_template, mlip_start

    if pot.is_trained:
        if pot.species_count < species_count:
            raise InputError(f"the potential has {pot.species_count} species but the training set "
                             f"uses {species_count}; start from an untrained template")
        return pot.copy()
    species = pot.species if pot.species is not None and len(pot.species) == species_count \
        else species_count
    out = from_template(pot, species, pot.min_dist, pot.max_dist)
    out.metadata = dict(pot.metadata)
    return mlip_start(out, init_random=init_random, seed=seed)


def local_data(configs, pot, weights: LossWeights, comm):
    """This rank's PackedSet: contiguous chunks balanced by atom count."""
    chunk = parallel.make_chunks(len(configs))
    n_chunks = int(chunk[-1]) + 1
    chunk_atoms = np.zeros(n_chunks)
    for k, c in enumerate(configs):
        chunk_atoms[chunk[k]] += c.n_atoms
    lo, hi = parallel.partition_chunks(chunk_atoms, comm.size)[comm.rank]
    idx = [k for k in range(len(configs)) if lo <= chunk[k] < hi]
    return PackedSet([configs[k] for k in idx], pot.max_dist, weights, chunk[idx])


def min_pair_distance(data: PackedSet, comm) -> float:
    d = float(np.sqrt(np.min(np.sum(data.rvec ** 2, axis=1)))) if len(data.rvec) else np.inf
    return -comm.allreduce_max(-d)


class Progress:
    """One CSV row per iteration (rewritten atomically) and a terminal line (rank 0 only)."""

    def __init__(self, comm, log_path=None, total=0, rows=None):
        self.rank0 = comm.rank == 0
        self.log_path = log_path
        self.rows = list(rows or [])
        self.total = total
        self.tty = self.rank0 and sys.stderr.isatty()
        self.t0 = time.perf_counter()

    def record(self, it, loss, rmse):
        self.rows.append([it, loss, rmse["energy_per_atom"], rmse["force"], rmse["stress_gpa"]])
        if not self.rank0:
            return
        if self.log_path:
            write_train_log(self.log_path, LOG_COLUMNS, self.rows)
        if self.tty:
            el = time.perf_counter() - self.t0
            sys.stderr.write(f"\r  iter {it:5d}/{self.total}  loss {loss:.6e}  "
                             f"E {rmse['energy_per_atom'] * 1e3:8.3f} meV/atom  "
                             f"F {rmse['force']:.4f} eV/Å  S {rmse['stress_gpa']:.3f} GPa  "
                             f"{el:7.1f} s ")
            sys.stderr.flush()

    def close(self):
        if self.tty:
            sys.stderr.write("\n")


_WEIGHT_OPTIONS = {"energy": "--energy-weight", "force": "--force-weight", "stress": "--stress-weight",
                   "scaling": "--weight-scaling", "scaling_forces": "--weight-scaling-forces"}
RESUME_LOSS_RTOL = 1e-9  # the same loss evaluated again; only the MPI reduction order may differ


def check_resume(lossf, state: BFGSState, meta: dict, opts: TrainOptions) -> None:
    """Refuse to continue a checkpoint with another loss (as `md --resume` refuses another
    protocol): the loss weights it recorded must equal opts.weights, and the loss of its parameters
    evaluated now must equal the loss it recorded (catches other weights or data in checkpoints
    that recorded no weights). Collective: call on every rank."""
    saved = meta.get("loss_weights")
    now = asdict(opts.weights)
    if isinstance(saved, dict) and saved != now:
        diff = ", ".join(f"{_WEIGHT_OPTIONS.get(k, k)} {saved.get(k)} (now {now[k]})" for k in now
                         if saved.get(k) != now[k])
        raise InputError(f"the checkpoint was written with other loss weights: {diff}; resume with "
                         "the same weights, or start a new training without --resume", opts.resume)
    f_now = float(lossf(state.x)[0])
    if not abs(f_now - state.f) <= RESUME_LOSS_RTOL * max(abs(state.f), 1e-300):
        raise InputError(f"the checkpoint's loss was {state.f:.10g} but its parameters give "
                         f"{f_now:.10g} with this training set and these loss weights: the data or "
                         "the weights differ from the run that wrote it; resume with the same "
                         "inputs, or start a new training without --resume", opts.resume)


def _stop_reason(should_stop, comm) -> str | None:
    """The stop request of any rank (collective: every rank gets the same answer, so all ranks
    stop after the same iteration even when only some of them received the signal)."""
    mine = should_stop() if should_stop is not None else None
    return comm.allreduce_max(mine or "") or None


def train(init_pot, configs, species_count: int, opts: TrainOptions, comm=None, log_path=None,
          say=None, train_path=None, should_stop=None):
    """Train and return (potential, summary dict). Identical result on every rank.

    should_stop: polled on every rank after each iteration; a reason (str) from any rank stops
    the training there: the checkpoint (if opts.checkpoint) is written as at a periodic checkpoint
    and mtpflow.errors.Stopped is raised on every rank, so --resume continues to the result of an
    uninterrupted run."""
    comm = comm if comm is not None else parallel.get_comm()
    say = say if (say and comm.rank == 0) else (lambda *_: None)
    check_training_configs(configs, species_count, opts.weights, train_path)
    data_hash = training_set_hash(configs)
    resume_state = None
    if opts.resume:
        pot, resume_state, rows, meta = load_checkpoint(opts.resume)
        if meta.get("training_set_hash") != data_hash:
            raise InputError("the checkpoint was made with a different training set "
                             f"(hash {meta.get('training_set_hash')} vs {data_hash})", opts.resume)
        if pot.species_count < species_count:
            raise InputError("the checkpoint's potential has fewer species than the training set",
                             opts.resume)
    else:
        pot = initialise(init_pot, species_count, opts.init_random, opts.seed)
        rows = []
    data = local_data(configs, pot, opts.weights, comm)
    summary = {"n_configs": len(configs), "n_atoms": int(sum(c.n_atoms for c in configs)),
               "training_set_hash": data_hash}
    if resume_state is None:
        if not init_pot.is_trained:
            if opts.mindist_update:  # as MLIP-3: 0.99 x the smallest distance in the set
                dmin = min_pair_distance(data, comm)
                if np.isfinite(dmin) and MINDIST_FACTOR * dmin < pot.max_dist:
                    say(f"min_dist set from {pot.min_dist:g} to {MINDIST_FACTOR * dmin:.6g} Å "
                        f"({MINDIST_FACTOR} x the smallest distance in the training set, {dmin:.6g} Å)")
                    pot.min_dist = MINDIST_FACTOR * dmin
            info = fit_linear(pot, data, comm, rescale=True, log=say)
            summary["scaling"] = info["scaling"]
    pot.metadata["training_set_hash"] = data_hash
    lossf = ProjectedLoss(LossFunction(pot, data, comm), data, comm)
    lossf = Preconditioned(lossf, whitening(pot, data, comm), pot.radial_coeffs.shape)
    progress = Progress(comm, log_path, opts.max_iter, rows)
    ck_meta = {"training_set_hash": data_hash, "loss_weights": asdict(opts.weights)}
    if opts.job is not None:
        ck_meta["job"] = opts.job
    warm = resume_state is None and init_pot.is_trained
    if resume_state is None:
        x = lossf.from_coeffs(pot.radial_coeffs.reshape(-1))
        f, g, rmse = lossf(x)
        state = BFGSState(x=x, f=f, g=g, history=[f], n_evals=1)
        if warm:
            # iteration 0 of a warm start is the given potential as it is (the same function; an
            # upgraded potential's new coefficients 0), before any linear re-solve on this set
            f0, _, rmse0 = LossFunction(pot, data, comm)(pot.get_params(), want_grad=False)
            progress.record(0, f0, rmse0)
        else:
            progress.record(0, f, rmse)
    else:
        state = resume_state
        check_resume(lossf, state, meta, opts)
        say(f"resumed at iteration {state.iteration} from {opts.resume}")

    last_rmse = {}

    def fun(x):
        f, g, r = lossf(x)
        last_rmse.clear()
        last_rmse.update(r)
        last_rmse["_x"] = x
        return f, g

    t0 = time.perf_counter()
    stop_reason = "max_iter"
    # a checkpoint written at the iteration where the run converged (periodic, then killed) ends
    # the run there, as the uninterrupted run ended
    resumed_converged = resume_state is not None and converged(state, opts.tolerance)
    if resumed_converged:
        stop_reason = "tolerance"
    try:
        while state.iteration < opts.max_iter and not resumed_converged:
            if not bfgs_iteration(fun, state):
                stop_reason = "line search found no decrease"
                break
            rmse = dict(last_rmse) if last_rmse.get("_x") is not None and \
                np.array_equal(last_rmse["_x"], state.x) else lossf(state.x)[2]
            progress.record(state.iteration, state.f, rmse)
            if opts.checkpoint and opts.checkpoint_every > 0 and \
                    state.iteration % opts.checkpoint_every == 0:
                _set_state_params(pot, state, lossf)
            if opts.checkpoint and opts.checkpoint_every > 0 and \
                    state.iteration % opts.checkpoint_every == 0 and comm.rank == 0:
                save_checkpoint(opts.checkpoint, pot, state, progress.rows,
                                ck_meta)
            if converged(state, opts.tolerance):
                stop_reason = "tolerance"
                break
            reason = _stop_reason(should_stop, comm)
            if reason:
                _set_state_params(pot, state, lossf)
                if opts.checkpoint and comm.rank == 0:
                    save_checkpoint(opts.checkpoint, pot, state, progress.rows,
                                    ck_meta)
                comm.barrier()
                raise Stopped(reason, f"iteration {state.iteration}", opts.checkpoint,
                              resume_hint="to continue, run the same command again (--auto-resume "
                                          "continues from it)" if opts.job is not None else None)
    finally:
        progress.close()
    comm.barrier()
    if not (warm and state.iteration == 0):  # a warm start that took no step keeps its coefficients
        _set_state_params(pot, state, lossf)
    if opts.checkpoint and comm.rank == 0:
        save_checkpoint(opts.checkpoint, pot, state, progress.rows,
                        ck_meta)
    if opts.rescale_at_end and state.iteration > 0:
        # as MLIP-3 after its BFGS: scaling re-chosen, linear part re-solved (same predictions)
        summary["scaling"] = fit_linear(pot, data, comm, rescale=True)["scaling"]
    summary.update(iterations=state.iteration, loss=state.f, evaluations=state.n_evals,
                   stop_reason=stop_reason, seconds=time.perf_counter() - t0,
                   final=progress.rows[-1] if progress.rows else None)
    return pot, summary
