"""Memory and time of `mtpflow analyze` over a production run in chained segments (issue 11,
item 6): the study's 10,000 frames of 2,592 ions (LiAlCl4: 432 Li, 432 Al, 1,728 Cl) in 10
segment files of 1,000 frames, read as one trajectory, 432 Li analysed (MSD, van Hove, hops,
cascades, plots: the full analysis, as the workflow's analyze rule runs it).

    python benchmarks/bench_analysis_segments.py [--files 10] [--frames-per-file 1000] [--keep DIR]

The segment files are synthetic (Li hopping on a lattice, mtpflow.analysis.synthetic; the other
ions vibrating about random sites) and written as mtpflow md writes its segments (global step and
time_ps in every frame). `mtpflow analyze` runs in a child process; its peak resident memory is
the kernel's ru_maxrss for that process (os.wait4). The target is < 2 GB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_segments(folder: Path, n_files: int, frames_per_file: int, seed: int = 1) -> list[Path]:
    from mtpflow.analysis.synthetic import lattice_hopping
    from mtpflow.io.md_files import format_extxyz_frame

    n_frames = n_files * frames_per_file
    dt_ps, every = 0.01, 10          # a frame every 10 steps of 1 fs
    li, cell, _ = lattice_hopping(n_frames=n_frames, n_sites_side=9, n_ions=432, dt_ps=dt_ps,
                                  hop_prob=2e-4, cascade_prob=0.5, seed=seed)
    rng = np.random.default_rng(seed + 1)
    n_al, n_cl = 432, 1728
    sites = rng.uniform(0.0, 1.0, (n_al + n_cl, 3)) @ cell
    symbols = ["Li"] * 432 + ["Al"] * n_al + ["Cl"] * n_cl
    paths = []
    for f in range(n_files):
        path = folder / f"seg{f:03d}.extxyz"
        with open(path, "w") as fh:
            for k in range(f * frames_per_file, (f + 1) * frames_per_file):
                others = sites + rng.normal(0.0, 0.1, sites.shape)
                pos = np.concatenate([li[k], others])
                fh.write(format_extxyz_frame(symbols, pos, cell, k * every, k * dt_ps))
        paths.append(path)
    return paths


def run_analysis(paths, outdir: Path) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes, exit status) of `mtpflow analyze` over `paths`."""
    cmd = [sys.executable, "-m", "mtpflow.cli", "analyze", *map(str, paths), "--species", "Li",
           "--outdir", str(outdir), "--json", str(outdir / "summary.json")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"mtpflow analyze failed ({proc.returncode}):\n{err}")
    return wall, usage.ru_maxrss * 1024, proc.returncode   # ru_maxrss is in KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--frames-per-file", type=int, default=1000)
    ap.add_argument("--keep", help="write the segment files here and keep them (default: a temp dir)")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(a.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        paths = write_segments(folder, a.files, a.frames_per_file)
        gen_s = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in paths)
        wall, rss, _ = run_analysis(paths, folder / "analysis")
        import json

        summary = json.loads((folder / "analysis" / "summary.json").read_text())
        n_frames = a.files * a.frames_per_file
        li_bytes = n_frames * 432 * 3 * 8
        print(f"{a.files} segment files x {a.frames_per_file} frames x 2,592 ions "
              f"({size / 1e9:.2f} GB of extxyz, written in {gen_s:.0f} s)")
        print(f"{'quantity':<46}{'value':>14}")
        print(f"{'frames read as one trajectory':<46}{n_frames:>14,d}")
        print(f"{'Li analysed':<46}{432:>14,d}")
        print(f"{'Li positions, float64 (MB)':<46}{li_bytes / 1e6:>14.0f}")
        print(f"{'mtpflow analyze peak RSS (MB)':<46}{rss / 1e6:>14.0f}")
        print(f"{'mtpflow analyze wall time (s)':<46}{wall:>14.1f}")
        hops = summary.get("hops", {}).get("n_hops", summary.get("n_hops"))
        print(f"{'hops found':<46}{str(hops):>14}")
        print(f"peak RSS {'<' if rss < 2e9 else '>='} 2 GB (target < 2 GB)")


if __name__ == "__main__":
    main()
