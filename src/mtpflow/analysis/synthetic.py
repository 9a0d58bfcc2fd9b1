"""Synthetic trajectories with known answers, for tests and benchmarks.

- brownian(): free diffusion, MSD = 6 D t exactly in expectation, Gaussian Gs, alpha2 = 0.
- lattice_hopping(): ions vibrating on a simple cubic lattice of sites with vacancies, hopping to
  empty neighbour sites, plus planted cascades (after ion A leaves site S, an ion B next to S hops
  into S a few frames later). Returns the true hop list.
Positions are unwrapped Cartesian Å; wrap() folds them into the cell (fractional coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def brownian(n_frames, n_ions, D_A2_per_ps, dt_ps, cell, seed=0):
    """Unwrapped Brownian positions (T, N, 3) Å with diffusion coefficient D (Å^2/ps)."""
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, dtype=float)
    start = rng.random((n_ions, 3)) @ cell
    steps = rng.normal(scale=np.sqrt(2.0 * D_A2_per_ps * dt_ps), size=(n_frames, n_ions, 3))
    steps[0] = 0.0
    return start[None] + np.cumsum(steps, axis=0)


def wrap(positions, cell):
    """Fold Cartesian positions into the cell [0, 1)^3 in fractional coordinates."""
    cell = np.asarray(cell, dtype=float)
    frac = positions @ np.linalg.inv(cell)
    return (frac - np.floor(frac)) @ cell


@dataclass
class HopTruth:
    ion: np.ndarray           # (H,) ion index
    frame: np.ndarray         # (H,) first frame at the new site
    from_site: np.ndarray     # (H,) site index
    to_site: np.ndarray
    planted_cascade: np.ndarray  # (H,) bool

    def cascade_flags(self, window_frames):
        """Cascades by definition on the true site indices (B ends at the site A left within the
        window, A != B)."""
        flags = np.zeros(self.ion.size, dtype=bool)
        for b in range(self.ion.size):
            dtf = self.frame[b] - self.frame
            m = (dtf >= 0) & (dtf <= window_frames) & (self.ion != self.ion[b])
            flags[b] = bool((self.from_site[m] == self.to_site[b]).any())
        return flags


def lattice_hopping(n_frames=2000, n_sites_side=6, n_ions=150, spacing_A=3.0, dt_ps=0.01,
                    vib_A=0.12, hop_prob=5e-4, cascade_prob=0.5, cascade_delay_frames=(5, 40),
                    min_gap_frames=150, seed=0):
    """Returns (positions (T, N, 3) unwrapped Å, cell (3, 3), HopTruth). An ion hops at most
    once per min_gap_frames so that every hop is resolvable by a smoothed-trajectory detector."""
    rng = np.random.default_rng(seed)
    L = n_sites_side
    n_sites = L ** 3
    if n_ions >= n_sites:
        raise ValueError("lattice_hopping needs vacancies: n_ions < n_sites_side**3")
    grid = np.stack(np.meshgrid(np.arange(L), np.arange(L), np.arange(L), indexing="ij"), -1)
    grid = grid.reshape(-1, 3)
    site_of = rng.choice(n_sites, n_ions, replace=False)
    occupant = np.full(n_sites, -1)
    occupant[site_of] = np.arange(n_ions)
    unwrapped = grid[site_of].astype(float) * spacing_A
    moves = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
    last = np.zeros(n_ions, dtype=np.int64)   # no hop in the first min_gap_frames either
    pending = []  # (frame, vacated site)
    hops = []
    pos = np.empty((n_frames, n_ions, 3))

    def neighbour(site, mv):
        return int(np.ravel_multi_index(tuple((grid[site] + mv) % L), (L, L, L)))

    def do_hop(i, mv, t, planted):
        s0 = site_of[i]
        s1 = neighbour(s0, mv)
        occupant[s0], occupant[s1] = -1, i
        site_of[i] = s1
        unwrapped[i] += mv * spacing_A
        last[i] = t
        hops.append((i, t, s0, s1, planted))
        if rng.random() < cascade_prob:
            pending.append((t + int(rng.integers(*cascade_delay_frames)), s0))

    for t in range(n_frames):
        for item in [p for p in pending if p[0] == t]:
            pending.remove(item)
            s = item[1]
            if occupant[s] >= 0:
                continue
            cands = []
            for mv in moves:
                j = occupant[neighbour(s, mv)]
                if j >= 0 and t - last[j] >= min_gap_frames:
                    cands.append((j, -mv))
            if cands:
                j, mv = cands[int(rng.integers(len(cands)))]
                do_hop(j, mv, t, True)
        if t > 0:
            for i in np.nonzero(rng.random(n_ions) < hop_prob)[0]:
                if t - last[i] < min_gap_frames:
                    continue
                mv = moves[int(rng.integers(6))]
                if occupant[neighbour(site_of[i], mv)] < 0:
                    do_hop(i, mv, t, False)
        pos[t] = unwrapped + rng.normal(scale=vib_A, size=(n_ions, 3))
    cell = np.eye(3) * spacing_A * L
    h = np.array(hops, dtype=np.int64).reshape(-1, 5)
    truth = HopTruth(h[:, 0], h[:, 1], h[:, 2], h[:, 3], h[:, 4].astype(bool))
    return pos, cell, truth
