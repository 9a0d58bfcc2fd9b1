"""Per-neighbourhood parameter gradients (the rows of MLIP's extrapolation grade), one thread.

    python benchmarks/bench_site_gradients.py [--repeats 5]

The LiAlCl4 training set (../shared/data/guidebook_LiAlCl4/training.cfg, 179 configurations x 96
atoms) with MLIP's trained level-08 potential (mlip_reference/trained_L08.almtp, species Li,Cl,Al):
mtpflow.mtp.evaluate.site_parameter_gradients for all 17,184 neighbourhoods, rows w.r.t. all
coefficients. "total" is one fresh process's wall time from the start of the imports to the rows
(reading both files, numba's cache load or compile, neighbour lists, kernel); "warm" is the best of
--repeats further calls. Issue 12's target for the whole grade (MaxVol included): 10 s on one core.
"""

from __future__ import annotations

import argparse
import os
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("MTPFLOW_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    import numba

    numba.set_num_threads(1)
    from mtpflow.io.cfg import read_cfg
    from mtpflow.io.mtp import read_mtp
    from mtpflow.mtp.evaluate import site_parameter_gradients

    pot = read_mtp(os.path.join(DATA, "mlip_reference", "trained_L08.almtp"))
    configs = read_cfg(os.path.join(DATA, "guidebook_LiAlCl4", "training.cfg"))
    t_read = time.perf_counter()
    res = site_parameter_gradients(pot, configs)
    t_first, c_first = time.perf_counter(), time.process_time()
    warm, cpu = np.inf, np.inf
    for _ in range(a.repeats):
        c, t = time.process_time(), time.perf_counter()
        site_parameter_gradients(pot, configs)
        warm = min(warm, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    n = res.rows.shape[0]
    print(f"{len(configs)} configurations, {n} neighbourhoods, {res.rows.shape[1]} coefficients "
          f"(level 08, 3 species); rows {res.rows.nbytes / 2**20:.1f} MiB")
    print(f"total (fresh process: imports, reading, numba cache load, rows): {t_first - T_START:.2f} s "
          f"wall, {c_first:.2f} s CPU (imports and reading {t_read - T_START:.2f} s wall)")
    print(f"warm: {warm:.3f} s wall, {cpu:.3f} s CPU ({warm / n * 1e6:.1f} µs per neighbourhood)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
