"""Random initial configurations: a cubic box at a chosen density, seeded random positions with
per-pair minimum distances, and replication of a cell (96 ions x 27 = 2,592).

Placement is random sequential insertion: species with the largest self distance go first; each
atom tries up to `tries_per_atom` uniform positions (minimum-image distances to every placed
atom); when one atom cannot be placed the whole box is restarted, at most `max_restarts` times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mtpflow.data.crystal import formula_mass, volume_for_density
from mtpflow.errors import InputError

# Minimum distances (Å) for a random start of chloroaluminates: short enough to pack at the crystal
# density (not at 1.5x), long enough that a brief pre-relaxation removes the close contacts.
DEFAULT_MIN_DISTANCES = {
    ("Cl", "Cl"): 2.6, ("Al", "Cl"): 1.9, ("Cl", "Li"): 2.0,
    ("Al", "Al"): 2.6, ("Al", "Li"): 2.4, ("Li", "Li"): 2.2,
}
RANDOM_CLOSE_PACKING = 0.64


def default_min_distance(a: str, b: str) -> float:
    """Table value for Li/Al/Cl pairs, else 0.8 x the sum of covalent radii."""
    key = tuple(sorted((a, b)))
    if key in DEFAULT_MIN_DISTANCES:
        return DEFAULT_MIN_DISTANCES[key]
    from ase.data import atomic_numbers, covalent_radii

    return round(0.8 * (covalent_radii[atomic_numbers[a]] + covalent_radii[atomic_numbers[b]]), 3)


def parse_min_distances(text: str | None, elements: Sequence[str]) -> dict[tuple[str, str], float]:
    """'Li-Cl=2.0,Cl-Cl=3.0' overrides on top of the defaults, for every pair of `elements`."""
    table = {tuple(sorted((a, b))): default_min_distance(a, b) for a in elements for b in elements}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            pair, value = item.split("=")
            a, b = (s.strip() for s in pair.split("-"))
            dist = float(value)
        except ValueError as exc:
            raise InputError(f"--min-distance: cannot read {item!r}; write pairs like Li-Cl=2.0 (Å)") \
                from exc
        if a not in elements or b not in elements:
            raise InputError(f"--min-distance: pair {a}-{b} names an element not in the formula "
                             f"({','.join(elements)})")
        if not (dist >= 0 and math.isfinite(dist)):
            raise InputError(f"--min-distance: {a}-{b} must be a distance ≥ 0 Å, got {value}")
        table[tuple(sorted((a, b)))] = dist
    return table


def random_structure(counts: dict[str, int], density_g_cm3: float,
                     min_distances: dict[tuple[str, str], float] | None = None, seed: int = 0,
                     tries_per_atom: int = 2000, max_restarts: int = 20, order: Sequence[str] = ()):
    """A cubic periodic ase.Atoms with `counts` atoms at `density_g_cm3`, atoms grouped by element
    in `order` (default: the order of `counts`)."""
    from ase import Atoms

    elements = list(counts)
    order = list(order) or elements
    missing = [e for e in elements if e not in order]
    if missing:
        raise InputError(f"element(s) {','.join(missing)} of the formula are not in the species "
                         f"list {','.join(order)}; add them to --species")
    order = [e for e in order if e in counts]
    if min_distances is None:
        min_distances = parse_min_distances(None, elements)
    volume = volume_for_density(formula_mass(counts), density_g_cm3)
    box = volume ** (1.0 / 3.0)
    n_total = sum(counts.values())

    # fast refusal: the exclusion spheres alone would exceed random close packing
    fill = sum(n * math.pi / 6.0 * min_distances[(e, e)] ** 3 for e, n in counts.items()) / volume
    if fill > RANDOM_CLOSE_PACKING:
        raise InputError(
            f"the composition does not fit the density: {n_total} atoms in {volume:.1f} Å³ "
            f"(cube {box:.2f} Å) with the like-pair minimum distances fill {fill:.2f} of the box, "
            f"more than random close packing ({RANDOM_CLOSE_PACKING}); lower --density-factor or "
            f"--min-distance")
    maxd = max(min_distances.values()) if min_distances else 0.0
    if maxd >= box / 2:
        raise InputError(f"a minimum distance of {maxd} Å is not below half the box ({box / 2:.2f} Å); "
                         f"use more atoms or smaller --min-distance")

    index = {e: k for k, e in enumerate(elements)}
    dmin2 = np.zeros((len(elements), len(elements)))
    for (a, b), d in min_distances.items():
        if a in index and b in index:
            dmin2[index[a], index[b]] = dmin2[index[b], index[a]] = d * d
    # place the species with the largest self distance first (the hardest to fit)
    placement = sorted(elements, key=lambda e: -min_distances[(e, e)])
    kinds = np.concatenate([[index[e]] * counts[e] for e in placement])
    rng = np.random.default_rng(seed)
    batch = 200
    for _attempt in range(max_restarts):
        pos = np.empty((n_total, 3))
        ok = True
        for i, kind in enumerate(kinds):
            need = dmin2[kind, kinds[:i]]
            placed = False
            for _ in range(0, tries_per_atom, batch):
                cand = rng.random((batch, 3)) * box
                if i == 0:
                    pos[0] = cand[0]
                    placed = True
                    break
                d = cand[:, None, :] - pos[None, :i, :]
                d -= box * np.round(d / box)
                good = np.all(np.einsum("cij,cij->ci", d, d) >= need[None, :], axis=1)
                hit = np.flatnonzero(good)
                if hit.size:
                    pos[i] = cand[hit[0]]
                    placed = True
                    break
            if not placed:
                ok = False
                break
        if ok:
            symbols = np.array([elements[k] for k in kinds])
            rank = {e: k for k, e in enumerate(order)}
            sort = np.argsort([rank[s] for s in symbols], kind="stable")
            atoms = Atoms(symbols=list(symbols[sort]), positions=pos[sort], cell=[box] * 3, pbc=True)
            atoms.info.update({"density_g_cm3": density_g_cm3, "seed": seed})
            return atoms
    pairs = ", ".join(f"{a}-{b}={d:g}" for (a, b), d in sorted(min_distances.items()))
    raise InputError(
        f"could not place {n_total} atoms in a {box:.2f} Å cube with minimum distances {pairs} "
        f"after {max_restarts} tries of up to {tries_per_atom} positions per atom; the distances "
        f"are impossible at this density: lower --min-distance or --density-factor")


def replicate(atoms, reps: Sequence[int], order: Sequence[str] = ()):
    """`atoms` repeated reps[0] x reps[1] x reps[2], atoms grouped by element in `order`."""
    reps = tuple(int(r) for r in reps)
    if len(reps) != 3 or min(reps) < 1:
        raise InputError(f"--replicate needs three positive integers like 3,3,3, got {reps}")
    big = atoms.repeat(reps)
    order = list(order) or list(dict.fromkeys(atoms.get_chemical_symbols()))
    rank = {e: k for k, e in enumerate(order)}
    sort = np.argsort([rank.get(s, len(rank)) for s in big.get_chemical_symbols()], kind="stable")
    out = big[sort]
    out.info.update(atoms.info)
    out.info["replicate"] = ",".join(map(str, reps))
    return out
