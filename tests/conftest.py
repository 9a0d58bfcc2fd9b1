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
