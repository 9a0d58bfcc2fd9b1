"""Atomic writes: a temporary file in the target's folder, renamed over the target when complete,
so a killed job never leaves a partial file that Snakemake would take as done.

Temporary names: `.NAME.HOST-PID-XXXXXXXX.tmp` (atomic_open) and `.STEM.HOST-PID-XXXXXXXX.SUFFIX`
(atomic_path, for writers that choose the format by the suffix), HOST being this machine's short
name and PID the writing process. A process killed with SIGKILL cannot remove its temporary file;
the next write of the same output removes such leftovers (remove_stale_temps): a temporary of this
output made on this machine whose process is gone, or one made elsewhere (another node of a shared
file system) or by an earlier mtpflow (no HOST-PID in the name) that has not been modified for
STALE_SECONDS. A temporary file a live process is writing is never touched.

Output folders are created only when a file is written, and removed again (when empty) if that
write fails, so a verb that stops early leaves no empty folder behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import tempfile
import time
from pathlib import Path

from mtpflow.errors import InputError

STALE_SECONDS = 24 * 3600  # temporaries from other machines or older versions: removed after a day
_RAND = r"[a-z0-9_]{8}"     # what tempfile.mkstemp adds to prefix + suffix


def _host() -> str:
    name = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname().split(".")[0])[:24]
    return name or "host"


def _umask_mode() -> int:
    # mkstemp creates files 0600; a finished output gets the mode an ordinary open() would give.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _nearest_existing(folder: Path) -> Path:
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(path) -> Path:
    """Fail early (before any work) when `path` cannot be written: its folder (or the nearest
    existing one above it) must be a folder where a file can really be created (checked by creating
    and removing a temporary file of the name the write will use). Creates nothing."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError("the output path is a folder; give a file name", path)
    if parent.exists() and not parent.is_dir():
        raise InputError("the output folder is a file; choose another output path", parent)
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise InputError(f"cannot create the output folder: {base} is a file (or a broken link); "
                         "choose another output path", parent)
    try:
        fd, probe = tempfile.mkstemp(prefix=_prefix(path.name), suffix=".tmp", dir=base)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise InputError("the file name is too long for this file system; choose a shorter "
                             "output name", path) from None
        what = "the output folder is not writable" if base == parent else \
            f"cannot create the output folder under {base}"
        raise InputError(f"{what} ({exc.strerror or exc}); choose another output path", parent) from None
    os.close(fd)
    os.unlink(probe)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError("the output file exists and is not writable", path)
    return path


def _prefix(name: str) -> str:
    return f".{name}.{_host()}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or a number we cannot test): leave it
    return True


def remove_stale_temps(path, now: float | None = None) -> list[Path]:
    """Remove the temporary files that killed writes of `path` left beside it (see the module
    doc for which); returns those removed. Only names of exactly our patterns are considered."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return []
    host = _host()
    stem, suffix = path.stem, path.suffix
    patterns = [re.compile(rf"\.{re.escape(path.name)}\.(?:(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-)?"
                           rf"{_RAND}\.tmp")]
    if suffix:
        patterns.append(re.compile(rf"\.{re.escape(stem)}\.(?:(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-)?"
                                   rf"{_RAND}{re.escape(suffix)}"))
    now = time.time() if now is None else now
    removed = []
    try:
        names = [n for n in os.listdir(folder) if n.startswith(f".{stem}")]
    except OSError:
        return []
    for name in names:
        m = next((m for p in patterns if (m := p.fullmatch(name))), None)
        if m is None:
            continue
        full = folder / name
        if m.group("pid") is not None and m.group("host") == host:
            stale = not _pid_alive(int(m.group("pid")))
        else:
            try:
                stale = now - full.lstat().st_mtime > STALE_SECONDS
            except OSError:
                continue
        if stale and full.is_file():
            with contextlib.suppress(OSError):
                full.unlink()
                removed.append(full)
    return removed


def _make_folders(folder: Path) -> list[Path]:
    """Create `folder` and missing parents; returns those created (deepest last)."""
    missing = []
    f = folder
    while not os.path.lexists(f) and f != f.parent:
        missing.append(f)
        f = f.parent
    for f in reversed(missing):
        try:
            f.mkdir()
        except FileExistsError:
            pass
        except OSError as exc:
            raise InputError(f"cannot create the output folder ({exc.strerror or exc})", f) from None
    return list(reversed(missing))


def _remove_empty(folders: list[Path]) -> None:
    for f in reversed(folders):
        with contextlib.suppress(OSError):
            f.rmdir()


def _temp(path: Path, suffix: str, stem: str) -> tuple[str, list[Path]]:
    created = _make_folders(path.parent)
    remove_stale_temps(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_prefix(stem), suffix=suffix, dir=path.parent)
    except OSError as exc:
        _remove_empty(created)
        raise InputError(f"cannot write the output ({exc.strerror or exc})", path) from None
    os.fchmod(fd, _umask_mode())
    os.close(fd)
    return tmp, created


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", **kwargs):
    """Open a temporary sibling of `path` for writing; rename it to `path` on success only."""
    path = check_writable(path)
    tmp, created = _temp(path, ".tmp", path.name)
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _remove_empty(created)
        raise


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` for writers that want a file name (ASE, matplotlib);
    it is renamed to `path` when the block ends without error."""
    path = check_writable(path)
    tmp, created = _temp(path, path.suffix, path.stem)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _remove_empty(created)
        raise


@contextlib.contextmanager
def output_folder(folder):
    """For a verb that writes several files into `folder`: yields `add(path)` to register each
    file written; if the block fails, the registered files are removed, and so are `folder` and
    the folders above it that the block created (when empty), so a failed run leaves nothing."""
    folder = Path(folder)
    missing = []
    f = folder
    while not os.path.lexists(f) and f != f.parent:
        missing.append(f)
        f = f.parent
    written: list[Path] = []
    try:
        yield written.append
    except BaseException:
        for p in written:
            with contextlib.suppress(OSError):
                Path(p).unlink()
        _remove_empty(list(reversed(missing)))
        raise
