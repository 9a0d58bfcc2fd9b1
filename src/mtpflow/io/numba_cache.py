"""Whether numba may use cached machine code for kernels that call numba functions of other files.

numba keys a cached kernel on its own source file only: when a numba function that it calls from
another file changes, the stale machine code (with the old callee compiled in) is still loaded
(numba PR #8396, not merged). The kernels of mtpflow.mtp.param_kernels and mtpflow.train.kernels
call the forward pass of mtpflow.mtp.kernels, so each such module records the digests of the
files it calls into and turns its cache on only while they match (a mismatch compiles afresh in
every process: correct, slower). tests/mtp/test_kernel_cache.py fails, naming the digests to
record, when a file changed; recording them changes the calling file, which invalidates its cache.
"""

from __future__ import annotations

import hashlib
import importlib


def source_digest(module: str) -> str:
    """sha256 (16 hex digits) of an imported module's source file."""
    path = importlib.import_module(module).__file__
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


def cache_valid(depends: dict[str, str]) -> bool:
    """True when every module in `depends` has the recorded digest."""
    try:
        return all(source_digest(m) == d for m, d in depends.items())
    except OSError:  # source not readable (e.g. a zipped install): never trust the cache
        return False
