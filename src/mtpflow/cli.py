"""The `mtpflow` command line: one sub-module of mtpflow.commands per verb group.

Each module in VERB_MODULES defines `register(subparsers)`, adding its verbs with
`parser.set_defaults(func=handler)`; a handler takes the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from mtpflow import __version__
from mtpflow.errors import MtpflowError

# A verb group is listed here only once its verbs really work.
VERB_MODULES: list[str] = [
    "mtpflow.commands.basis",
    "mtpflow.commands.analysis",
    "mtpflow.commands.report",
    "mtpflow.commands.data",
    "mtpflow.commands.md",
    "mtpflow.commands.train",
    "mtpflow.commands.engine",
    "mtpflow.commands.grade",
    "mtpflow.commands.al",
]


def _set_numba_cache_dir() -> None:
    # numba caches compiled kernels beside the package; where that is read-only use a user folder.
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    pkg_dir = os.path.dirname(os.path.abspath(__file__))
    if not os.access(pkg_dir, os.W_OK):
        base = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        os.environ["NUMBA_CACHE_DIR"] = os.path.join(base, "mtpflow", "numba")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtpflow",
        description="Moment Tensor Potentials from AIMD to dynamic heterogeneity. "
        "Units: Å, eV, eV/Å, fs (MD time steps), ps (analysis), K, GPa (reported stress).",
    )
    parser.add_argument("--version", action="version", version=f"mtpflow {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _one_line_warnings(verb: str) -> None:
    """mtpflow's own warnings (a skipped truncated frame, a dropped active set, ...) print as one
    line `mtpflow VERB: warning: ...`, like its errors; other libraries' warnings as usual."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.split(".")[0] == "mtpflow":
            print(f"mtpflow {verb}: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    _set_numba_cache_dir()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            _one_line_warnings(args.verb)
            return int(args.func(args) or 0)
    except MtpflowError as exc:
        print(f"mtpflow {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mtpflow {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
