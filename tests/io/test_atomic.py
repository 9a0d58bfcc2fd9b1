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


def test_output_folder_is_made_only_by_a_write_and_removed_when_it_fails(tmp_path):
    from mtpflow.io.atomic import check_writable

    target = tmp_path / "new" / "deeper" / "out.txt"
    check_writable(target)
    assert not (tmp_path / "new").exists()          # the check creates nothing
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []           # neither the file nor the folders stay
    with atomic_open(target) as fh:
        fh.write("done")
    assert target.read_text() == "done"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_folder_where_no_file_can_be_created_fails_the_check():
    # /proc passes os.access(W_OK) for root, but creating a file there fails with ENOENT: the check
    # must find that out before any work, and never as a FileNotFoundError from mkstemp later
    from mtpflow.io.atomic import check_writable

    with pytest.raises(InputError, match="not writable"):
        check_writable("/proc/mtpflow-test.cfg")
    with pytest.raises(InputError, match="not writable"):
        with atomic_open("/proc/mtpflow-test.cfg") as fh:
            fh.write("x")


def test_too_long_output_name_is_a_clear_error(tmp_path):
    from mtpflow.io.atomic import check_writable

    with pytest.raises(InputError, match="too long"):
        check_writable(tmp_path / ("a" * 250 + ".cfg"))


def _dead_pid():
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_the_same_output_are_removed(tmp_path):
    """kill -9 leaves `.NAME.HOST-PID-XXXXXXXX.tmp`: the next write of NAME removes those whose
    process is gone (same machine), and those of other machines or of older versions once they
    are older than STALE_SECONDS; a temporary of a live process or of another output stays."""
    import subprocess
    import sys
    import time

    from mtpflow.io.atomic import STALE_SECONDS, _host

    host = _host()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _dead_pid()
        names = {
            "dead_same_host": f".out.cfg.{host}-{dead}-abcd1234.tmp",
            "dead_ck": f".ck.npz.{host}-{dead}-abcd_234.tmp",
            "live_same_host": f".out.cfg.{host}-{live.pid}-abcd1234.tmp",
            "mine": f".out.cfg.{host}-{os.getpid()}-abcd1234.tmp",
            "other_host_new": f".out.cfg.othernode7-{dead}-abcd1234.tmp",
            "other_host_old": f".out.cfg.othernode7-{dead}-zzzz1234.tmp",
            "legacy_new": ".out.cfg.k2j4h5g6.tmp",
            "legacy_old": ".out.cfg.k2j4h5g7.tmp",
            "path_style_dead": f".plot.{host}-{dead}-abcd1234.png",
            "other_output": f".other.cfg.{host}-{dead}-abcd1234.tmp",
            "not_ours": ".out.cfg.notours.tmp",
            "user_file": ".out.cfg.backup",
        }
        for name in names.values():
            (tmp_path / name).write_text("x")
        old = time.time() - STALE_SECONDS - 60
        for key in ("other_host_old", "legacy_old"):
            os.utime(tmp_path / names[key], (old, old))
        with atomic_open(tmp_path / "out.cfg") as fh:
            fh.write("new")
        with atomic_open(tmp_path / "ck.npz", "wb") as fh:
            fh.write(b"new")
        with atomic_path(tmp_path / "plot.png") as tmp:
            tmp.write_bytes(b"png")
    finally:
        live.kill()
        live.wait()
    left = {p.name for p in tmp_path.iterdir()}
    gone = {"dead_same_host", "dead_ck", "other_host_old", "legacy_old", "path_style_dead"}
    for key, name in names.items():
        assert (name in left) == (key not in gone), key
    assert {"out.cfg", "ck.npz", "plot.png"} <= left
    assert not any(n.startswith(".out.cfg.") and n.endswith(".tmp") and n not in names.values()
                   for n in left)                  # the write's own temporary was renamed


def test_killed_writer_leaves_a_temporary_that_the_next_run_removes(tmp_path):
    """A real kill -9 during a write, then the same output written again."""
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "out.cfg"
    code = ("import sys, time; from mtpflow.io.atomic import atomic_open\n"
            f"with atomic_open({str(target)!r}) as fh:\n"
            "    fh.write('partial'); fh.flush(); print('writing', flush=True); time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "writing"
    temps = [n for n in os.listdir(tmp_path) if n.startswith(".out.cfg.")]
    assert len(temps) == 1
    # while the writer lives, another write of the same output leaves its temporary alone
    with atomic_open(target) as fh:
        fh.write("first")
    assert (tmp_path / temps[0]).exists()
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(0.05)
    with atomic_open(target) as fh:
        fh.write("second")
    assert sorted(os.listdir(tmp_path)) == ["out.cfg"]
    assert target.read_text() == "second"
