"""MPI over configurations (mpi4py), with reductions whose result does not depend on the rank count.

Configurations are grouped into a fixed number of contiguous chunks (independent of the number of
ranks); every chunk is evaluated whole by one rank, ranks own contiguous runs of chunks balanced by
atom count, and chunk results are summed on rank 0 strictly in chunk order, then broadcast. A run on
1 rank and on n ranks therefore adds the same numbers in the same order: bit-identical losses and
gradients, hence identical optimizer steps.

Without mpi4py, or in a plain process, everything runs as size 1.
"""

from __future__ import annotations

import numpy as np

MAX_CHUNKS = 64


class SerialComm:
    rank = 0
    size = 1

    def bcast(self, obj, root=0):
        return obj

    def barrier(self):
        pass

    def allreduce_max(self, value):
        return value


class MPIComm:
    def __init__(self, comm):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def bcast(self, obj, root=0):
        return self.comm.bcast(obj, root=root)

    def barrier(self):
        self.comm.Barrier()

    def allreduce_max(self, value):
        from mpi4py import MPI

        return self.comm.allreduce(value, op=MPI.MAX)


def get_comm():
    """The world communicator, or a serial stand-in when MPI is absent or the size is 1."""
    try:
        from mpi4py import MPI
    except Exception:  # mpi4py missing or its MPI library unusable: run serially
        return SerialComm()
    world = MPI.COMM_WORLD
    if world.Get_size() == 1:
        return SerialComm()
    return MPIComm(world)


def make_chunks(n_configs: int) -> np.ndarray:
    """Chunk index of every configuration: at most MAX_CHUNKS contiguous, near-equal groups."""
    n_chunks = max(1, min(n_configs, MAX_CHUNKS))
    return (np.arange(n_configs, dtype=np.int64) * n_chunks) // max(n_configs, 1)


def partition_chunks(chunk_atoms: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Contiguous chunk ranges [start, stop) per rank, balanced by atom count."""
    n = len(chunk_atoms)
    total = float(np.sum(chunk_atoms))
    cum = np.concatenate([[0.0], np.cumsum(chunk_atoms, dtype=np.float64)])
    bounds = [0]
    for r in range(1, size):
        target = total * r / size
        k = int(np.searchsorted(cum, target, side="left"))
        # pick the nearer boundary, keep ranges ordered
        if k > 0 and abs(cum[k - 1] - target) <= abs(cum[min(k, n)] - target):
            k -= 1
        bounds.append(min(max(k, bounds[-1]), n))
    bounds.append(n)
    return [(bounds[r], bounds[r + 1]) for r in range(size)]


def ordered_sum(comm, local_rows: np.ndarray) -> np.ndarray:
    """Sum of all chunk rows (rank-ordered, contiguous) in chunk order; the result on every rank.

    local_rows: (n_local_chunks, ...) this rank's chunk results, in chunk order."""
    local_rows = np.ascontiguousarray(local_rows, dtype=np.float64)
    if comm.size == 1:
        return _seq_sum(local_rows)
    shape = local_rows.shape[1:]
    if comm.rank == 0:
        total = _seq_sum(local_rows, shape)
        for src in range(1, comm.size):
            rows = comm.comm.recv(source=src, tag=77)
            total = _seq_sum(rows, shape, total)
    else:
        comm.comm.send(local_rows, dest=0, tag=77)
        total = None
    return comm.bcast(total)


def _seq_sum(rows, shape=None, total=None):
    if shape is None:
        shape = rows.shape[1:]
    if total is None:
        total = np.zeros(shape)
        first = True
    else:
        first = False
    for r in rows:
        if first:
            total = r.copy()
            first = False
        else:
            total += r
    return total

