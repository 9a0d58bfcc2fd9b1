"""Errors that reach the user as one clear message (the CLI prints them without a traceback)."""

from __future__ import annotations

# Exit statuses of the verbs (also documented in `mtpflow md --help` and the README): 0 done,
# 2 bad input (InputError and other MtpflowErrors), 3 MD stopped by extrapolation control (a grade
# above --grade-break; the outputs up to that step are complete), 143 stopped by SIGTERM
# (mtpflow.sigterm.EXIT_STATUS).
EXIT_BAD_INPUT = 2
EXIT_EXTRAPOLATION = 3


class MtpflowError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class InputError(MtpflowError):
    """Bad input: names the file (and line or config key) where known."""

    def __init__(self, message: str, path=None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
            where += ": "
        super().__init__(where + message)


class ExternalProgramError(MtpflowError):
    """An external program (VASP, LAMMPS) failed or stopped early; names where its output is."""


class Stopped(MtpflowError):
    """A run stopped early on request (SIGTERM, or a hook's stop) at a safe point, after writing
    its checkpoint if it had a checkpoint file. `at` says where ("step 120", "iteration 37");
    `partial` names unfinished outputs that were left under names that do not look complete."""

    def __init__(self, reason: str, at: str, checkpoint=None, partial=()):
        self.reason, self.at = reason, at
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.partial = [str(p) for p in partial]
        if self.checkpoint:
            saved = (f"checkpoint written to {self.checkpoint}; to continue, run the same command "
                     f"with --resume {self.checkpoint}")
        else:
            saved = "nothing was saved to resume from (no --checkpoint FILE was given)"
        left = f"; unfinished outputs left as {', '.join(self.partial)}" if self.partial else ""
        super().__init__(f"stopped by {reason} at {at}; {saved}{left}")
