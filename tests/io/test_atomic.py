"""Atomic writes: nothing half-written, ordinary permissions, clear errors."""

from __future__ import annotations

import os
import stat

import pytest

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open, atomic_path


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("partial")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_success_replaces_and_uses_umask_mode(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_open(target) as fh:
        fh.write("done")
    assert target.read_text() == "done"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    with atomic_path(tmp_path / "x.png") as tmp:
        tmp.write_bytes(b"png")
    assert (tmp_path / "x.png").read_bytes() == b"png"


def test_unwritable_output_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(InputError, match="cannot create the output folder"):
        with atomic_open(blocker / "sub" / "a.txt") as fh:
            fh.write("x")


def test_output_whose_folder_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="output folder is a file"):
        with atomic_open(blocker / "a.txt") as fh:
            fh.write("x")
    with pytest.raises(InputError, match="is a folder"):
        with atomic_open(tmp_path) as fh:
            fh.write("x")
