"""Errors that reach the user as one clear message (the CLI prints them without a traceback)."""

from __future__ import annotations


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
