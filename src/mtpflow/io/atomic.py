"""Atomic writes: a temporary file in the target's folder, renamed over the target when complete,
so a killed job never leaves a partial file that Snakemake would take as done."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from mtpflow.errors import InputError


def _umask_mode() -> int:
    # mkstemp creates files 0600; a finished output gets the mode an ordinary open() would give.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def check_writable(path) -> Path:
    """Fail early (before any work) when `path` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InputError("the output folder is a file; choose another output path", parent)
    if path.is_dir():
        raise InputError("the output path is a folder; give a file name", path)
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the output folder ({exc.strerror})", parent) from exc
    if not os.access(parent, os.W_OK):
        raise InputError("the output folder is not writable; choose another output path", parent)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError("the output file exists and is not writable", path)
    return path


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", **kwargs):
    """Open a temporary sibling of `path` for writing; rename it to `path` on success only."""
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.fchmod(fd, _umask_mode())
    os.close(fd)
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` for writers that want a file name (ASE, matplotlib);
    it is renamed to `path` when the block ends without error."""
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent or ".")
    os.fchmod(fd, _umask_mode())
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
