"""SIGTERM as a request to stop at the next safe point.

SLURM sends SIGTERM at a job's time limit (then SIGKILL after KillWait, 30 s by default), and
`scancel` sends it too; mpiexec (MPICH's hydra) and srun pass it to every rank. While a
SigtermGuard is active, SIGTERM does not end the process: it is recorded, and the long loops poll
`guard.reason` at their next safe point (the end of an MD step, the end of a training iteration),
write a final checkpoint and stop with mtpflow.errors.Stopped. The verbs then exit with
EXIT_STATUS = 143 (128 + SIGTERM, what a shell reports for a process ended by SIGTERM).
"""

from __future__ import annotations

import signal
import threading

EXIT_STATUS = 128 + int(signal.SIGTERM)


class SigtermGuard:
    """Context manager: records SIGTERM instead of dying (main thread only; elsewhere a no-op)."""

    def __init__(self):
        self.received = 0
        self._previous = None
        self._installed = False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> bool:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False
        return False

    def _handle(self, signum, frame) -> None:
        self.received += 1

    @property
    def reason(self) -> str | None:
        """'SIGTERM' once the signal arrived, else None."""
        return "SIGTERM" if self.received else None
