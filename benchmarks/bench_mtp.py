"""MTP evaluation speed: µs per atom per evaluation (energy + forces + stress), mtpflow vs motep.

    python benchmarks/bench_mtp.py [--cfg glass_2592.cfg] [--repeats 7] [--levels 8 16 20]

Configuration: the 2,592-ion LiAlCl4 glass (../shared/data/mtp_oracle_inputs/glass_2592.cfg), or,
when absent, 27 copies of a 96-ion cell built here. Potentials: random coefficients on the generated
basis of each level (3 species, min_dist 1.9 Å, max_dist 5.0 Å, radial_basis_size 8), plus MLIP's
random_L16.almtp (max_dist 5.5 Å) when the shared data exist. The same potential file is given to
motep 0.2.0 (its C extension engine "cext" and numba engine "numba", both single-threaded: motep's
C code has no OpenMP and its numba kernels are not parallel), so the thread column applies to
mtpflow only. mtpflow times include building the neighbour list every call; motep's engines keep
ASE's neighbour list between calls on an unchanged configuration (so their numbers exclude it).
Times are the best of --repeats wall-clock runs (the machine may be shared: the best run is the
least disturbed); "cpu" is process CPU time per atom of that run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MTPFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
SPECIES = ["Li", "Cl", "Al"]
Z = [3, 17, 13]


def load_config(path: Path | None):
    from mtpflow.io.cfg import read_cfg
    from mtpflow.structures import Configuration

    if path is not None and path.exists():
        return read_cfg(path)[0], path.name
    # 27 copies of a 96-ion cell (LiAlCl4 stoichiometry, crystal-like density, jittered grid)
    rng = np.random.default_rng(0)
    a = 10.0
    grid = np.stack(np.meshgrid(*[np.arange(5)] * 3, indexing="ij"), -1).reshape(-1, 3)[:96]
    frac = (grid + 0.5 + rng.uniform(-0.15, 0.15, grid.shape)) / 5 * (4.6 / 5.0)
    types = np.array([0] * 16 + [1] * 64 + [2] * 16)
    cell = np.eye(3) * a
    pos = frac * a / (4.6 / 5.0) * (4.6 / 5.0)
    reps = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    big = np.concatenate([pos + r @ cell for r in reps])
    return Configuration(positions=big, types=np.tile(types, 27), cell=cell * 3), "27 x 96-ion cell"


def make_potentials(tmp: Path, levels):
    from mtpflow.io.mtp import read_mtp, write_mtp
    from mtpflow.mtp.basis import generate_basis
    from mtpflow.mtp.potential import MTPPotential

    out = []
    for level in levels:
        b = generate_basis(level)
        rng = np.random.default_rng(level)
        s, r, nb = 3, b.radial_funcs_count, 8
        pot = MTPPotential(
            species_count=s, min_dist=1.9, max_dist=5.0, radial_basis_size=nb, radial_funcs_count=r,
            alpha_moments_count=b.alpha_moments_count, alpha_index_basic=b.alpha_index_basic,
            alpha_index_times=b.alpha_index_times, alpha_moment_mapping=b.alpha_moment_mapping,
            radial_coeffs=rng.uniform(-1, 1, (s, s, r, nb)), species_coeffs=np.zeros(s),
            moment_coeffs=rng.uniform(-1e-3, 1e-3, b.alpha_scalar_moments), scaling=0.1)
        path = tmp / f"L{level:02d}.mtp"
        write_mtp(path, pot)
        out.append((f"L{level:02d} 5.0 Å", path, read_mtp(path)))
    ref = SHARED / "mlip_reference" / "random_L16.almtp"
    if ref.exists():
        out.append(("MLIP random_L16 5.5 Å", ref, read_mtp(ref)))
    return out


def best_time(fn, repeats):
    fn()  # warm-up (JIT compile, caches)
    best = (np.inf, np.inf)
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        t1, c1 = time.perf_counter(), time.process_time()
        if t1 - t0 < best[0]:
            best = (t1 - t0, c1 - c0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cfg", type=Path, default=SHARED / "mtp_oracle_inputs" / "glass_2592.cfg")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--levels", type=int, nargs="+", default=[8, 16, 20])
    ap.add_argument("--no-motep", action="store_true")
    args = ap.parse_args(argv)

    import numba
    from ase import Atoms

    from mtpflow.mtp.evaluate import build_tables, evaluate
    from mtpflow.mtp.neighbors import neighbor_list

    cfg, cfg_name = load_config(args.cfg)
    n = cfg.n_atoms
    atoms = Atoms(numbers=[Z[t] for t in cfg.types], positions=cfg.positions, cell=cfg.cell, pbc=True)
    print(f"configuration: {cfg_name}, {n} atoms; numba {numba.__version__}, threading layer "
          f"{numba.config.THREADING_LAYER}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmpd:
        pots = make_potentials(Path(tmpd), args.levels)
        max_threads = numba.config.NUMBA_NUM_THREADS
        for name, path, pot in pots:
            tables = build_tables(pot)
            nl = neighbor_list(cfg.positions, cfg.cell, pot.max_dist)
            nn = nl.n_pairs / n
            ref_energy = None
            times = {}
            for th in (1, 2):
                if th > max_threads:
                    times[th] = None
                    continue
                numba.set_num_threads(th)
                res = evaluate(pot, cfg, tables=tables)
                ref_energy = res.energy
                times[th] = best_time(lambda: evaluate(pot, cfg, tables=tables), args.repeats)
                times[(th, "kernel")] = best_time(lambda: evaluate(pot, cfg, tables=tables, nl=nl),
                                                  args.repeats)
                times[(th, "nl")] = best_time(lambda: neighbor_list(cfg.positions, cfg.cell, pot.max_dist),
                                              args.repeats)
            numba.set_num_threads(max_threads)
            peers = {}
            for engine in ("cext", "numba"):
                if args.no_motep:
                    peers[engine] = None
                    continue
                try:
                    from motep.calculator import MTP
                    from motep.io.mlip.mtp import read_mtp as motep_read

                    data = motep_read(str(path))
                    data.species = Z
                    calc = MTP(data, engine=engine)
                    at = atoms.copy()
                    calc.calculate(at, ["energy", "forces", "stress"])
                    e_peer = calc.results["energy"]
                    agree = abs(e_peer - ref_energy) / max(abs(ref_energy), 1e-300)

                    def run():
                        calc.calculate(at, ["energy", "forces", "stress"])

                    peers[engine] = (best_time(run, max(2, args.repeats // 2)), agree)
                except Exception as exc:  # report why a peer could not run
                    peers[engine] = f"cannot run: {type(exc).__name__}: {str(exc)[:60]}"
            rows.append((name, nn, times, peers))

    def us(t):
        return f"{t[0] * 1e6 / n:8.2f}" if t else "     n/a"

    print()
    print("µs per atom per evaluation (E+F+S), best wall time; mtpflow includes the neighbour list;")
    print("kernel = evaluation with a prebuilt neighbour list, NL = neighbour list alone (1 and 2 threads);")
    print("cpu = process CPU time per atom of the best run (with 2 threads: both threads' time; cpu 2T ≈")
    print("cpu 1T means little parallel overhead — the wall-time speedup then needs two free cores)")
    hdr = (f"{'potential':<22} {'nbrs':>5} | {'mtpflow 1T':>10} {'2T':>8} {'speedup':>7} | "
           f"{'kernel 1T':>9} {'NL 1T':>7} {'NL 2T':>7} {'cpu 1T':>7} {'cpu 2T':>7} | {'motep C':>8} {'motep nb':>9} | {'C/mtpflow':>9}")
    print(hdr)
    print("-" * len(hdr))
    notes = []
    for name, nn, times, peers in rows:
        t1, t2 = times.get(1), times.get(2)
        speed = f"{t1[0] / t2[0]:7.2f}" if t1 and t2 else "    n/a"
        cpu1 = f"{t1[1] * 1e6 / n:7.2f}" if t1 else "    n/a"
        cpu2 = f"{t2[1] * 1e6 / n:7.2f}" if t2 else "    n/a"
        cells = []
        for engine in ("cext", "numba"):
            p = peers[engine]
            if isinstance(p, tuple):
                cells.append(f"{p[0][0] * 1e6 / n:8.2f}")
                if p[1] > 1e-10:
                    notes.append(f"{name}: motep {engine} energy differs by {p[1]:.1e} relative")
            else:
                cells.append("     n/a")
                if p is not None:
                    notes.append(f"{name}: motep {engine}: {p}")
        ratio = (f"{peers['cext'][0][0] / t1[0]:9.2f}" if isinstance(peers["cext"], tuple) and t1
                 else "      n/a")
        print(f"{name:<22} {nn:5.1f} | {us(t1):>10} {us(t2):>8} {speed} | {us(times.get((1, 'kernel'))):>9} "
              f"{us(times.get((1, 'nl'))):>7} {us(times.get((2, 'nl'))):>7} {cpu1} {cpu2} | {cells[0]:>8} {cells[1]:>9} | {ratio}")
    for note in notes:
        print("note:", note)
    nl_bytes = 8 * 4  # j (int64) + rvec (3 float64) per pair
    print(f"memory: neighbour list {nl_bytes} B per pair (≈{nl_bytes * rows[0][1] / 1024:.1f} KiB per atom), "
          "plus per-chunk scratch O(8 atoms × neighbours × monomials) and 8 × N × 3 force accumulators")
    return 0


if __name__ == "__main__":
    sys.exit(main())
