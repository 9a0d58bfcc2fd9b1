"""numba's cache must never serve a kernel compiled against an older version of a function it calls
from another file (mtpflow.io.numba_cache): the recorded digests are the current files'."""

import importlib

import pytest

from mtpflow.io.numba_cache import cache_valid, source_digest

CROSS_FILE = ["mtpflow.mtp.param_kernels", "mtpflow.train.kernels"]


@pytest.mark.parametrize("module", CROSS_FILE)
def test_recorded_digests_are_current(module):
    mod = importlib.import_module(module)
    now = {m: source_digest(m) for m in mod.DEPENDS}
    assert mod.DEPENDS == now, (f"a file that {module} calls into changed: set DEPENDS in "
                                f"{mod.__file__} to {now} (this also invalidates its numba cache)")
    assert mod._CACHE


def test_a_changed_dependency_turns_the_cache_off():
    good = {"mtpflow.mtp.kernels": source_digest("mtpflow.mtp.kernels")}
    assert cache_valid(good)
    assert not cache_valid({"mtpflow.mtp.kernels": "0" * 16})
    assert not cache_valid({**good, "mtpflow.mtp.param_kernels": "f" * 16})
