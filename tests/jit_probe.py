"""Run by tests/test_jit_determinism.py in a fresh process (NUMBA_CACHE_DIR set by the test):
prints one JSON line with the exact bits (float.hex, sha256 of the arrays' bytes) of what every
fastmath kernel family computes on small synthetic data: evaluation (energy, per-atom energies,
forces, virial), the training loss and its gradient, the linear least-squares system, and the
per-neighbourhood parameter gradients. No shared data needed. With the argument `reverse` the
families run in the opposite order (which kernels a process loads first must not matter)."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np


def _sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def probe(reverse: bool = False) -> dict:
    from mtpflow.mtp.evaluate import build_tables, evaluate, site_parameter_gradients
    from mtpflow.structures import Configuration
    from mtpflow.train import parallel
    from mtpflow.train.linear import normal_equations
    from mtpflow.train.loss import LossFunction, LossWeights, PackedSet
    from tests.train.synth import random_configs, random_potential

    pot = random_potential(10, seed=5)
    # a 3x3x3 replica of a small random cell: several evaluation chunks, ~20 neighbours per atom
    small = random_configs(1, seed=6, atoms=(10, 10), with_data=False)[0]
    shifts = np.array([(a, b, c) for a in range(3) for b in range(3) for c in range(3)], float)
    positions = (small.positions[None, :, :] + (shifts @ small.cell)[:, None, :]).reshape(-1, 3)
    big = Configuration(positions, np.tile(small.types, 27), 3.0 * small.cell)
    configs = random_configs(6, seed=8)  # random reference data: no kernel runs before the steps
    out = {}

    def evaluation():
        res = evaluate(pot, big, tables=build_tables(pot))
        out["energy"] = float(res.energy).hex()
        out["energies"] = _sha(res.energies)
        out["forces"] = _sha(res.forces)
        out["virial"] = _sha(res.virial)

    def training():
        data = PackedSet(configs, pot.max_dist, LossWeights(), parallel.make_chunks(len(configs)))
        loss, grad, _ = LossFunction(pot, data)(pot.get_params())
        out["loss"] = float(loss).hex()
        out["gradient"] = _sha(grad)
        A, b, c = normal_equations(pot, data)
        out["normal_equations"] = _sha(np.concatenate([A.ravel(), b, [c]]))

    def site_gradients():
        out["site_gradients"] = _sha(site_parameter_gradients(pot, [big] + configs).rows)

    steps = [evaluation, training, site_gradients]
    for step in (steps[::-1] if reverse else steps):
        step()
    return out


if __name__ == "__main__":
    print(json.dumps(probe(reverse="reverse" in sys.argv[1:]), sort_keys=True))
