"""MD speed for the 2,592-ion LiAlCl4 glass: ns/day at MTP levels 8 and 16 on 1 and 2 threads, and
the share of a step spent outside the force call (target <= 10 %). Peer in the same script: ASE's
own NoseHooverChainNVT loop (dyn.run) driving the same calculator from the same start.

`mtpflow md` steps with ASE's NoseHooverChainNVT too (mtpflow.md.integrators); its rows add what the
runner does around the steps: set-up, the first force call, blow-up checks (temperature every step,
pair distances every 10), thermo rows every 10 steps and frames every 100. The two are run
alternately, --repeats times each; the table gives the best (least disturbed) and the median
measurement of each, and the ratios of bests and of medians.

    python benchmarks/bench_md.py [--steps 100] [--threads 1,2] [--repeats 3]

Needs ../shared/data or $MTPFLOW_SHARED_DATA (glass_2592.cfg, trained_L08.almtp, random_L16.almtp).
The level-16 potential has random coefficients, scaled down 1e6 so the atoms barely move (timing
only; the pair-distance check is off for it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MTPFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
SPECIES = ["Li", "Cl", "Al"]


class TimedCalc:
    """Wraps a calculator's calculate() to add up the time spent in force calls."""

    def __init__(self, calc):
        self.calc, self.seconds, self.calls = calc, 0.0, 0
        inner = calc.calculate

        def timed(*a, **k):
            t = time.perf_counter()
            inner(*a, **k)
            self.seconds += time.perf_counter() - t
            self.calls += 1

        calc.calculate = timed


def start_atoms():
    from mtpflow.io.structure import read_frames

    atoms = read_frames(SHARED / "mtp_oracle_inputs" / "glass_2592.cfg", SPECIES, index=-1)[0]
    atoms.calc = None
    return atoms


def run_embedded(pot, atoms, steps, temperature_K, min_dist):
    from mtpflow.md.protocol import protocol_from_dict
    from mtpflow.md.runner import run_protocol
    from mtpflow.mtp import MTPCalculator

    calc = MTPCalculator(pot, species=SPECIES)
    proto = protocol_from_dict({
        "timestep_fs": 1.0, "thermo_every": 10, "traj_every": 100, "seed": 1,
        "blowup": {"max_temperature_K": 1e9, "check_every": 10},
        "stages": [{"type": "production", "temperature_K": temperature_K, "steps": steps}]})
    timer = TimedCalc(calc)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()  # everything: set-up, first force call, checks, outputs
        run_protocol(atoms.copy(), calc, proto, Path(tmp) / "t.extxyz", Path(tmp) / "t.csv",
                     min_dist_A=min_dist, progress=False)
        wall = time.perf_counter() - t
    return wall, timer.seconds


def run_ase_peer(pot, atoms, steps, temperature_K):
    from ase import units
    from ase.md.nose_hoover_chain import NoseHooverChainNVT

    from mtpflow.mtp import MTPCalculator

    calc = MTPCalculator(pot, species=SPECIES)
    a = atoms.copy()
    a.calc = calc
    rng = np.random.default_rng(1)
    m = a.get_masses()[:, None]
    a.set_momenta(np.sqrt(m * units.kB * temperature_K) * rng.standard_normal((len(a), 3)))
    dyn = NoseHooverChainNVT(a, timestep=1.0 * units.fs, temperature_K=temperature_K,
                             tdamp=100 * units.fs)
    timer = TimedCalc(calc)
    t = time.perf_counter()  # like the runner's rows: the first force call is included
    dyn.run(steps)
    return time.perf_counter() - t, timer.seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=100, help="MD steps per measurement (count)")
    ap.add_argument("--threads", default="1,2", help="numba thread counts, comma-separated")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating measurements of each engine per row (count)")
    args = ap.parse_args()

    from mtpflow.io.mtp import read_mtp
    from mtpflow.mtp.evaluate import set_threads

    atoms = start_atoms()
    l16 = read_mtp(SHARED / "mlip_reference" / "random_L16.almtp")
    l16.moment_coeffs = l16.moment_coeffs * 1e-6  # random forces are huge; same cost, gentle motion
    pots = {8: read_mtp(SHARED / "mlip_reference" / "trained_L08.almtp"), 16: l16}
    print(f"2,592-ion LiAlCl4 glass, NVT (Nosé–Hoover chain) 1 fs, {args.steps} steps per "
          f"measurement, {args.repeats} alternating measurements per engine; ms/step, force ms, "
          "outside % and ns/day of the best one")
    print(f"{'level':>5} {'thr':>3} {'engine':<28} {'ms/step':>8} {'force ms':>8} {'outside %':>9} "
          f"{'ns/day':>7} {'median':>7}  all ms/step")
    for level, pot in pots.items():
        min_dist = pot.min_dist if level == 8 else None
        temp = 600 if level == 8 else 10  # the random level-16 potential has no repulsion
        for threads in [int(t) for t in args.threads.split(",")]:
            set_threads(threads)
            run_embedded(pot, atoms, 5, temp, min_dist)  # compile and warm up
            runs = {"mtpflow md (runner, ASE NHC)": [], "ASE NoseHooverChainNVT.run": []}
            for _ in range(args.repeats):
                runs["mtpflow md (runner, ASE NHC)"].append(
                    run_embedded(pot, atoms, args.steps, temp, min_dist))
                runs["ASE NoseHooverChainNVT.run"].append(run_ase_peer(pot, atoms, args.steps, temp))
            best, med = [], []
            for name, rows in runs.items():
                wall, force = min(rows)
                best.append(wall)
                med.append(statistics.median(w for w, _ in rows))
                print(f"{level:>5} {threads:>3} {name:<28} {wall / args.steps * 1e3:8.1f} "
                      f"{force / args.steps * 1e3:8.1f} {100 * (1 - force / wall):9.1f} "
                      f"{86400 / (wall / args.steps) * 1e-6:7.3f} {med[-1] / args.steps * 1e3:7.1f}  "
                      + " ".join(f"{w / args.steps * 1e3:.1f}" for w, _ in rows))
            print(f"{level:>5} {threads:>3} {'ratio mtpflow md / ASE':<28} {best[0] / best[1]:8.3f} "
                  f"(medians: {med[0] / med[1]:.3f})")


if __name__ == "__main__":
    main()
