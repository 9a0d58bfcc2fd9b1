"""MD inputs (issue 14 item 12): an unstable start names the atom pair that came too close, and a
protocol stage longer than LAMMPS's largest run is refused, naming the key."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.errors import InputError
from mtpflow.md.geometry import closest_pair, min_pair_distance
from mtpflow.md.protocol import MAX_STAGE_STEPS, protocol_from_dict
from mtpflow.md.runner import BlowUpError, run_protocol
from tests.md.conftest import FastLJ, small_lialcl4


def test_closest_pair_names_the_atoms_and_agrees_with_brute_force():
    rng = np.random.default_rng(2)
    cell = np.array([[9.0, 0, 0], [2.5, 8.0, 0], [-1.5, 1.0, 7.5]])
    pos = rng.uniform(0, 8, (60, 3)) + rng.integers(-2, 3, (60, 1)) * cell[0]   # unwrapped values
    d, i, j = closest_pair(pos, cell, 6.0)
    frac = np.linalg.solve(cell.T, pos.T).T
    best = (np.inf, -1, -1)
    shifts = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])
    for p in range(60):
        for q in range(p + 1, 60):
            f = frac[q] - frac[p]
            f -= np.round(f)
            r = np.min(np.linalg.norm((f + shifts) @ cell, axis=1))
            if r < best[0]:
                best = (r, p, q)
    assert d == pytest.approx(best[0], rel=1e-12) and (i, j) == best[1:]
    assert min_pair_distance(pos, cell, 6.0) == d
    assert closest_pair(pos, cell, d / 2) == (np.inf, -1, -1)


def test_unstable_start_names_the_pair(tmp_path):
    atoms = small_lialcl4(2)
    atoms.positions[7] = atoms.positions[2] + [0.4, 0.0, 0.0]
    proto = protocol_from_dict({"timestep_fs": 1.0, "stages": [
        {"type": "production", "ensemble": "nve", "steps": 5}]})
    symbols = atoms.get_chemical_symbols()
    with pytest.raises(BlowUpError) as exc:
        run_protocol(atoms, FastLJ(), proto, tmp_path / "t.extxyz", tmp_path / "t.csv", min_dist_A=1.5)
    msg = str(exc.value)
    assert f"atoms 3 ({symbols[2]}) and 8 ({symbols[7]})" in msg and "0.400 Å apart" in msg


@pytest.mark.parametrize("stage", [
    {"type": "production", "temperature_K": 300, "time_ns": 1e12},
    {"type": "production", "temperature_K": 300, "steps": MAX_STAGE_STEPS + 1},
    {"type": "quench", "start_K": 1000, "end_K": 300, "rate_K_per_s": 1.0}])
def test_stage_longer_than_a_lammps_run_is_refused(stage):
    with pytest.raises(InputError, match=r"stages\[0\]\..*at most 2,147,483,647 steps"):
        protocol_from_dict({"timestep_fs": 1.0, "stages": [stage]})
    ok = dict(stage)
    for key in ("time_ns", "steps"):
        if key in ok:
            ok[key] = 1e-3 if key == "time_ns" else MAX_STAGE_STEPS
    if "rate_K_per_s" in ok:
        ok["rate_K_per_s"] = 1e12
    protocol_from_dict({"timestep_fs": 1.0, "stages": [ok]})
