"""MLIP's training loss and its gradient over a (rank-local) set of configurations.

For configuration k with N_k atoms (../shared/docs/mtp.md, `mlp train`):

    L = sum_k [ w_e/N_k^p (E_k - E_k^ref)^2 + w_f/N_k^q sum_i |F_ik - F_ik^ref|^2
               + w_s/N_k^p sum_ab (W_ab,k - W_ab,k^ref)^2 ]

E in eV, F in eV/Å, W the PlusStress virial in eV (full 3x3, so off-diagonal components count
twice, as in MLIP); p = weight_scaling (default 1), q = weight_scaling_forces (default 0).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from ase.units import GPa

from mtpflow.errors import InputError
from mtpflow.train import parallel
from mtpflow.train.kernels import loss_grad_kernel

@dataclass
class LossWeights:
    energy: float = 1.0
    force: float = 0.01
    stress: float = 0.001
    scaling: int = 1          # energy and stress weights divided by N^scaling
    scaling_forces: int = 0   # force weight divided by N^scaling_forces

    def per_config(self, n_atoms: np.ndarray):
        n = n_atoms.astype(np.float64)
        return (self.energy / n ** self.scaling, self.force / n ** self.scaling_forces,
                self.stress / n ** self.scaling)


def voigt_to_full(w6: np.ndarray) -> np.ndarray:
    """MLIP PlusStress (xx yy zz yz xz xy) -> symmetric 3x3."""
    xx, yy, zz, yz, xz, xy = w6
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def check_training_configs(configs, species_count: int, weights: LossWeights, path=None) -> None:
    """Clear errors for data the loss cannot use (before any work)."""
    from mtpflow.mtp.neighbors import neighbor_list

    if not configs:
        raise InputError("no configurations: the training file is empty", path)
    for k, c in enumerate(configs):
        where = f"configuration {k + 1}"
        if c.n_atoms == 0:
            raise InputError(f"{where} has no atoms", path)
        if not np.all(np.isfinite(c.positions)):
            raise InputError(f"{where} has NaN or inf positions", path)
        if c.cell is not None and (not np.all(np.isfinite(c.cell)) or c.volume < 1e-8):
            raise InputError(f"{where} has a NaN or singular cell", path)
        try:  # atoms at 0 Å (checked here, on every rank, before the sets are split)
            neighbor_list(c.positions, c.cell, 0.01)
        except InputError as exc:
            raise InputError(f"{where}: {exc}", path) from None
        if c.types.min() < 0 or c.types.max() >= species_count:
            raise InputError(f"{where} has atom type {int(c.types.max())} but the potential has "
                             f"{species_count} species (types 0..{species_count - 1}); pass --species "
                             "with one element per type or use a potential with more species", path)
        if weights.energy != 0:
            if c.energy is None:
                raise InputError(f"{where} has no Energy but the energy weight is "
                                 f"{weights.energy}; add energies or pass --energy-weight 0", path)
            if not np.isfinite(c.energy):
                raise InputError(f"{where} has a NaN or inf Energy", path)
        if weights.force != 0:
            if c.forces is None:
                raise InputError(f"{where} has no forces (fx fy fz) but the force weight is "
                                 f"{weights.force}; add forces or pass --force-weight 0", path)
            if not np.all(np.isfinite(c.forces)):
                raise InputError(f"{where} has NaN or inf forces", path)
        if weights.stress != 0 and c.plus_stress is not None and not np.all(np.isfinite(c.plus_stress)):
            raise InputError(f"{where} has NaN or inf PlusStress", path)


def training_set_hash(configs) -> str:
    """sha256 (first 16 hex digits) over types, positions, cells and reference data."""
    h = hashlib.sha256()
    for c in configs:
        for arr in (c.types, c.positions, c.cell, c.forces, c.plus_stress):
            h.update(b"-" if arr is None else np.ascontiguousarray(arr).tobytes())
        h.update(b"-" if c.energy is None else np.float64(c.energy).tobytes())
    return h.hexdigest()[:16]


class PackedSet:
    """Configurations of one rank packed into flat arrays with their neighbour lists (fixed during
    training: the cutoff max_dist does not change)."""

    def __init__(self, configs, cutoff: float, weights: LossWeights, chunk_ids: np.ndarray):
        from mtpflow.mtp.neighbors import neighbor_list

        self.n_configs = len(configs)
        n_atoms = np.array([c.n_atoms for c in configs], dtype=np.int64)
        self.n_atoms = n_atoms
        self.atom_off = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
        na = int(self.atom_off[-1])
        self.types = np.concatenate([c.types for c in configs]).astype(np.int64) if configs else \
            np.zeros(0, np.int64)
        self.f_ref = np.zeros((na, 3))
        self.e_ref = np.zeros(self.n_configs)
        self.w_ref = np.zeros((self.n_configs, 3, 3))
        self.volume = np.full(self.n_configs, np.nan)
        we, wf, ws = weights.per_config(n_atoms) if configs else (np.zeros(0),) * 3
        self.has_e = np.array([c.energy is not None for c in configs], dtype=bool)
        self.has_f = np.array([c.forces is not None for c in configs], dtype=bool)
        self.has_s = np.array([c.plus_stress is not None and c.cell is not None for c in configs],
                              dtype=bool)
        self.we = np.where(self.has_e, we, 0.0)
        self.wf = np.where(self.has_f, wf, 0.0)
        self.ws = np.where(self.has_s, ws, 0.0)
        offs = [np.zeros(1, np.int64)]
        js, rvecs = [], []
        pair_base = 0
        self.max_nbr = 1
        for k, c in enumerate(configs):
            a0 = self.atom_off[k]
            if c.energy is not None:
                self.e_ref[k] = c.energy
            if c.forces is not None:
                self.f_ref[a0:a0 + c.n_atoms] = c.forces
            if self.has_s[k]:
                self.w_ref[k] = voigt_to_full(c.plus_stress)
            if c.cell is not None:
                self.volume[k] = c.volume
            nl = neighbor_list(c.positions, c.cell, cutoff)
            offs.append(nl.offsets[1:] + pair_base)
            js.append(nl.j + a0)
            rvecs.append(nl.rvec)
            pair_base += nl.n_pairs
            if c.n_atoms:
                self.max_nbr = max(self.max_nbr, int(np.max(np.diff(nl.offsets))))
        self.nbr_off = np.concatenate(offs).astype(np.int64)
        self.nbr_j = np.concatenate(js).astype(np.int64) if js else np.zeros(0, np.int64)
        self.rvec = np.ascontiguousarray(np.concatenate(rvecs) if rvecs else np.zeros((0, 3)))
        self.chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        if self.n_configs:
            self.first_chunk = int(self.chunk_ids[0])
            self.n_local_chunks = int(self.chunk_ids[-1]) - self.first_chunk + 1
        else:
            self.first_chunk, self.n_local_chunks = 0, 0
        self.local_chunk = self.chunk_ids - self.first_chunk


def kernel_args(pot) -> tuple:
    """The potential as the training kernels take it: the evaluation kernels' tables
    (mtpflow.mtp.evaluate.build_tables, unvalidated: a line search may try any coefficients)
    followed by `scaling` and the kernel moment index of every basis function."""
    from mtpflow.mtp.evaluate import build_tables

    t = build_tables(pot, check=False)
    return t.kernel_args() + (t.scaling, t.map_new)


# per-chunk statistics kept next to the loss: sum (dE/N)^2, n_E, sum dF^2, n_F, sum dS_GPa^2, n_S
N_STATS = 6


def evaluate_local(pot, data: PackedSet, want_grad: bool = True):
    """Run the kernel on one rank's data. Returns (rows (n_local_chunks, 1+N_STATS+n_params),
    energies (K,), forces (n_atoms, 3), virials (K, 3, 3))."""
    n_par = pot.n_params()
    ncol = 1 + N_STATS + (n_par if want_grad else 0)
    rows = np.zeros((data.n_local_chunks, ncol))
    e_out = np.zeros(data.n_configs)
    f_out = np.zeros((int(data.atom_off[-1]), 3))
    w_out = np.zeros((data.n_configs, 3, 3))
    if data.n_configs == 0:
        return rows, e_out, f_out, w_out
    loss_chunks = np.zeros(data.n_local_chunks)
    grad_chunks = np.zeros((data.n_local_chunks, n_par if want_grad else 1))
    loss_grad_kernel(data.atom_off, data.types, data.nbr_off, data.nbr_j, data.rvec, data.f_ref,
                     data.e_ref, data.w_ref, data.we, data.wf, data.ws, data.local_chunk,
                     data.n_local_chunks, want_grad, *kernel_args(pot), data.max_nbr,
                     e_out, f_out, w_out, loss_chunks, grad_chunks)
    rows[:, 0] = loss_chunks
    rows[:, 1:1 + N_STATS] = _chunk_stats(data, e_out, f_out, w_out)
    if want_grad:
        rows[:, 1 + N_STATS:] = grad_chunks
    return rows, e_out, f_out, w_out


def _chunk_stats(data: PackedSet, e_out, f_out, w_out):
    st = np.zeros((data.n_local_chunks, N_STATS))
    iu = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])
    for k in range(data.n_configs):
        ch = data.local_chunk[k]
        n = data.n_atoms[k]
        if data.has_e[k]:
            st[ch, 0] += ((e_out[k] - data.e_ref[k]) / n) ** 2
            st[ch, 1] += 1
        if data.has_f[k]:
            a0, a1 = data.atom_off[k], data.atom_off[k + 1]
            st[ch, 2] += float(np.sum((f_out[a0:a1] - data.f_ref[a0:a1]) ** 2))
            st[ch, 3] += 3 * n
        if data.has_s[k]:
            d = (w_out[k][iu] - data.w_ref[k][iu]) / data.volume[k] / GPa
            st[ch, 4] += float(np.sum(d * d))
            st[ch, 5] += 6
    return st


class LossFunction:
    """Loss and gradient over all ranks' data, identical on every rank and for any rank count."""

    def __init__(self, pot, data: PackedSet, comm=None):
        self.pot = pot.copy()
        self.data = data
        self.comm = comm if comm is not None else parallel.SerialComm()
        self.n_evals = 0

    def __call__(self, params: np.ndarray, want_grad: bool = True):
        """Return (loss, gradient or None, rmse dict) at `params` (MLIP's flat order)."""
        self.pot.set_params(params)
        rows, *_ = evaluate_local(self.pot, self.data, want_grad)
        total = parallel.ordered_sum(self.comm, rows)
        self.n_evals += 1
        loss = float(total[0])
        st = total[1:1 + N_STATS]
        rmse = {
            "energy_per_atom": float(np.sqrt(st[0] / st[1])) if st[1] else float("nan"),
            "force": float(np.sqrt(st[2] / st[3])) if st[3] else float("nan"),
            "stress_gpa": float(np.sqrt(st[4] / st[5])) if st[5] else float("nan"),
        }
        grad = total[1 + N_STATS:].copy() if want_grad else None
        return loss, grad, rmse
