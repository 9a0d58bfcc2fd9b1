"""mtpflow.mtp: the MTP model (potential, basis), neighbour lists, numba kernels, ASE calculator.

Heavy submodules are imported lazily: `from mtpflow.mtp import MTPCalculator, evaluate`.
"""

import os

# Shared nodes (several jobs on few cores): OpenMP threads that spin while waiting steal the cores of
# the threads doing the work; numba's parallel kernels with 2 threads became 2-4x slower than with 1
# (benchmarks/bench_mtp.py). Passive waiting costs microseconds per parallel region. Only a default,
# read when numba first starts its OpenMP pool: set OMP_WAIT_POLICY=ACTIVE to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_LAZY = {
    "MTPCalculator": ("mtpflow.mtp.calculator", "MTPCalculator"),
    "evaluate": ("mtpflow.mtp.evaluate", "evaluate"),
    "evaluate_batch": ("mtpflow.mtp.evaluate", "evaluate_batch"),
    "build_tables": ("mtpflow.mtp.evaluate", "build_tables"),
    "site_parameter_gradients": ("mtpflow.mtp.evaluate", "site_parameter_gradients"),
    "neighbor_list": ("mtpflow.mtp.neighbors", "neighbor_list"),
    "MTPPotential": ("mtpflow.mtp.potential", "MTPPotential"),
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'mtpflow.mtp' has no attribute {name!r}")
