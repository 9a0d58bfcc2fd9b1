"""The machine code numba caches for mtpflow's kernels: this checkout against an older revision.

    python benchmarks/compare_machine_code.py [--base a5a4f71] [--tasks mtp,train]

Each revision fills its own empty NUMBA_CACHE_DIR by running compare_revisions.py's workers (the
evaluation of the 2,592-ion glass at level 8; the training loss, gradient and linear system), then
every cached kernel present in both caches (same function, same signature) is disassembled
(objdump, binutils) and compared instruction by instruction; only the symbol names objdump prints
in <...> are ignored. Identical instructions mean identical speed, which no timing on a shared
machine can show as precisely. What it compares is the code a cache hit runs: for revisions
before mtpflow.jit, a process that compiled the kernels itself could run other code (the callees'
own libraries; see mtpflow/jit.py).
"""

from __future__ import annotations

import argparse
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_revisions import ROOT, base_src, run  # noqa: E402


def cached_objects(cache: Path) -> dict[tuple[str, str], bytes]:
    """(kernel 'package/module.function', signature) -> object code of every numba cache entry."""
    import numba  # noqa: F401  (the pickles hold numba types)

    out = {}
    for path in sorted(cache.rglob("*.nbc")):
        kernel = f"{path.parent.name.rsplit('_', 1)[0]}/{path.name.split('-')[0]}"
        with open(path, "rb") as fh:
            data = pickle.loads(fh.read())
        library, signature = data[0], data[3]
        name, kind, payload = library
        if kind == "object":
            out[(kernel, str(signature))] = payload[0]
    return out


def instructions(obj: bytes) -> list[str]:
    """objdump's disassembly without addresses and symbol names."""
    with tempfile.NamedTemporaryFile(suffix=".o") as fh:
        fh.write(obj)
        fh.flush()
        text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", fh.name], check=True,
                              capture_output=True, text=True).stdout
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*[0-9a-f]+:\s*(.*)$", line)
        if m and m.group(1).strip():
            out.append(re.sub(r"<[^>]*>", "", m.group(1)).strip())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="a5a4f71", help="git revision to compare against")
    ap.add_argument("--base-src", help="an existing src/ folder of the base revision")
    ap.add_argument("--tasks", default="mtp,train")
    a = ap.parse_args(argv)
    if shutil.which("objdump") is None:
        raise SystemExit("objdump not found: install binutils")
    srcs = {"old": base_src(a.base, a.base_src), "new": ROOT / "src"}
    objects = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rev, src in srcs.items():
            cache = Path(tmp) / rev
            for task in a.tasks.split(","):
                args = [task, "--repeats", "1"] + (["--levels", "8"] if task == "mtp" else [])
                run(src, args, NUMBA_CACHE_DIR=str(cache))
            objects[rev] = cached_objects(cache)
    common = sorted(set(objects["old"]) & set(objects["new"]))
    print(f"old = {a.base} ({srcs['old']}), new = this checkout; {len(common)} cached kernels "
          f"(function, signature) in both, {len(objects['old'])} old, {len(objects['new'])} new")
    n_same = 0
    for key in common:
        old, new = instructions(objects["old"][key]), instructions(objects["new"][key])
        same = old == new
        n_same += same
        print(f"  {key[0]:<40} {len(old):>7} {len(new):>7} instructions  "
              f"{'identical' if same else 'DIFFERENT'}")
    print(f"{n_same} of {len(common)} identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
