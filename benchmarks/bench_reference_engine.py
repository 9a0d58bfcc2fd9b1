"""Seconds per MD step of the embedded reference engine (CHGNet) for 96-ion LiAlCl4.

Run: OMP_NUM_THREADS=2 python benchmarks/bench_reference_engine.py [--steps 20] [--threads 1,2]

Prints a table: per thread count, seconds per single-point call and per NVT MD step (Nosé-Hoover
chain, 2 fs, 1000 K, after a 30-step pre-relaxation), the ratio MD step / single point (driver
overhead; peer in the same run) and the speed-up against 1 thread, and the wall time this implies
for an AIMD of 1,000 steps (2 ps).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed MD steps per thread count")
    ap.add_argument("--calls", type=int, default=5, help="timed single-point calls")
    ap.add_argument("--threads", default="1,2", help="torch thread counts to compare")
    args = ap.parse_args()

    from mtpflow.data.aimd import AimdSettings, run_aimd
    from mtpflow.data.crystal import parse_formula, reference_density
    from mtpflow.data.engines import get_engine
    from mtpflow.data.initial import random_structure

    atoms = random_structure(parse_formula("Li16Al16Cl64"), reference_density()[0], seed=0)
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        engine = get_engine("chgnet", threads=threads)
        calc = engine.calculator()
        work = atoms.copy()
        work.calc = calc
        work.get_potential_energy()  # warm-up
        t0 = time.perf_counter()
        for k in range(args.calls):
            work.positions[0, 0] += 1e-4 * (k + 1)
            work.get_forces()
        s_call = (time.perf_counter() - t0) / args.calls
        _, stats = run_aimd(atoms, engine, AimdSettings(steps=args.steps, prerelax_steps=30))
        rows.append((threads, s_call, stats.seconds_per_step, stats.seconds_prerelax))
    base = rows[0][2]
    print(f"\n96-ion LiAlCl4, CHGNet 0.3.0 (CPU), {args.steps} NVT steps per row")
    print(f"{'threads':>7} {'s/call':>8} {'s/MD step':>10} {'step/call':>9} {'speed-up':>8} "
          f"{'1000 steps (min)':>16} {'pre-relax 30 (s)':>16}")
    for threads, s_call, s_step, s_pre in rows:
        print(f"{threads:>7d} {s_call:>8.3f} {s_step:>10.3f} {s_step / s_call:>9.2f} "
              f"{base / s_step:>8.2f} {1000 * s_step / 60:>16.1f} {s_pre:>16.1f}")


if __name__ == "__main__":
    main()
