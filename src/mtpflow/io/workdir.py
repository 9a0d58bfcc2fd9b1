"""Working folders of external programs (VASP run directories, the LAMMPS run folder): start one
afresh, run a program inside it, clear a run's state files, and link or copy its results to outputs.

A working folder is not a workflow output: it is kept when a job fails (for inspection, or for a
restart), so these functions decide explicitly what a fresh start removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import secrets
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from mtpflow.errors import ExternalProgramError, InputError

MARKER = ".mtpflow-workdir"


def _written_by_mtpflow(path: Path) -> bool:
    """The marker, or what mtpflow wrote before the marker existed: a VASP run directory
    (mtpflow_vasp.json) or densify's folder of them (manifest.json listing directories and volume
    factors)."""
    if (path / MARKER).is_file() or (path / "mtpflow_vasp.json").is_file():
        return True
    try:
        import json

        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and {"directories", "volume_factors"} <= set(manifest)


def fresh_workdir(path) -> Path:
    """Create `path` empty, removing what an earlier run left there. Refuses a folder that holds
    files but was not written by mtpflow (no marker file), so a mistyped path is never emptied."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a folder; choose another working folder", path)
    if path.is_dir() and any(path.iterdir()):
        if not _written_by_mtpflow(path):
            raise InputError(f"holds files that mtpflow did not write (no {MARKER}); refusing to "
                             "empty it: remove it yourself or choose another working folder", path)
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise InputError(f"cannot empty the working folder ({exc.strerror})", path) from exc
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / MARKER).write_text("a working folder of mtpflow: emptied when a new run starts here\n")
    except OSError as exc:
        raise InputError(f"cannot create the working folder ({exc.strerror})", path) from exc
    return path


def remove_files(folder, names: Iterable[str]) -> list[str]:
    """Delete the named files in `folder` where present; returns the names removed."""
    removed = []
    for name in names:
        p = Path(folder) / name
        if p.is_file() or p.is_symlink():
            try:
                p.unlink()
            except OSError as exc:
                raise InputError(f"cannot remove it ({exc.strerror})", p) from exc
            removed.append(name)
    return removed


def claim_part(folder, stamp_name: str, job: dict, names: Iterable[str]) -> list[str]:
    """Make the files `names` in `folder` this job's: when the stamp file `stamp_name` records
    another job (or is missing while some of the files exist), remove them; then record `job`
    (JSON) in the stamp. Returns the names removed."""
    import json

    from mtpflow.io.atomic import atomic_open

    stamp = Path(folder) / stamp_name
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        recorded = None
    removed = [] if recorded == job else remove_files(folder, names)
    if recorded != job:
        with atomic_open(stamp) as fh:
            fh.write(json.dumps(job, sort_keys=True) + "\n")
    return removed


def text_after(path, offset: int) -> str:
    """The text of `path` after its first `offset` bytes (all of it when it is shorter now: it was
    written anew; '' when it does not exist)."""
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size >= offset:
                fh.seek(offset)
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def run_program(argv: Sequence[str], cwd, name: str, output=None, hint: str = "") -> None:
    """Run `argv` in folder `cwd`; its stdout and stderr go to the file `output` (in cwd) or, when
    None, to this process's. Raises ExternalProgramError on a non-zero exit or when it cannot start."""
    cwd = Path(cwd)
    where = f"; see {cwd / output}" if output else ""
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(open(cwd / output, "wb")) if output else None
        try:
            res = subprocess.run(list(argv), cwd=cwd, stdout=fh, stderr=subprocess.STDOUT if fh else None)
        except OSError as exc:
            raise ExternalProgramError(f"cannot start {name} ({' '.join(argv)}): {exc.strerror}; check "
                                       "the command and the launcher") from exc
    if res.returncode != 0:
        raise ExternalProgramError(f"{name} ({' '.join(argv)}) in {cwd} exited with status "
                                   f"{res.returncode}{where}{hint}")


def link_or_copy(src, dst) -> None:
    """Make `dst` a hard link to `src` (a copy where links are impossible), replacing `dst`
    atomically: a reader never sees a half-written file."""
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise InputError("missing: the run did not write it", src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
