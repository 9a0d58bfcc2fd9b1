"""mtpflow.mtp: the MTP model (potential, basis), neighbour lists, numba kernels, ASE calculator.

Heavy submodules are imported lazily: `from mtpflow.mtp import MTPCalculator, evaluate`.
"""

_LAZY = {
    "MTPCalculator": ("mtpflow.mtp.calculator", "MTPCalculator"),
    "evaluate": ("mtpflow.mtp.evaluate", "evaluate"),
    "evaluate_batch": ("mtpflow.mtp.evaluate", "evaluate_batch"),
    "build_tables": ("mtpflow.mtp.evaluate", "build_tables"),
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
