"""The one LAMMPS dump reader (mtpflow.io.lammps_dump) through both verbs that use it, `analyze`
and `lammps-traj`: column layouts, restarted runs, a truncated last frame, and damaged frames in
the middle (an error naming the file, the frame and the line, never a silent stop)."""

from __future__ import annotations

import warnings

import ase.io
import numpy as np
import pytest

from mtpflow.analysis.synthetic import brownian, wrap
from mtpflow.cli import main
from mtpflow.errors import InputError
from mtpflow.io.lammps_dump import LammpsDump
from mtpflow.io.trajectory import TrajectoryWarning, read_species_trajectory
from tests.analysis.conftest import ORTHO, TRICLINIC, write_dump

N_LI, N_CL = 6, 4


def _traj(cell, n_frames=10, seed=3, D=1.0):
    return brownian(n_frames, N_LI, D, 0.01, cell, seed=seed)


def _frames_text(path):
    """Split a dump into frames (lists of lines) at 'ITEM: TIMESTEP'."""
    frames = []
    for ln in path.read_text().splitlines(keepends=True):
        if ln.startswith("ITEM: TIMESTEP"):
            frames.append([])
        frames[-1].append(ln)
    return frames


def _start_line(frames, k):
    return 1 + sum(len(f) for f in frames[:k])


def _lammps_traj(path, out, capsys, species="Li,Cl"):
    rc = main(["lammps-traj", str(path), "--timestep-fs", "2", "--out", str(out)]
              + (["--species", species] if species else []))
    return rc, capsys.readouterr()


def _analyze(path, tmp_path, capsys):
    rc = main(["analyze", str(path), "--species", "1", "--frame-interval-fs", "200", "--outdir",
               str(tmp_path / "an"), "--no-plots", "--lags-ps", "0.2,0.4"])
    return rc, capsys.readouterr()


@pytest.mark.parametrize("mode, images, cell, element", [
    ("xu", False, TRICLINIC, False), ("x", True, ORTHO, False), ("x", True, TRICLINIC, True),
    ("xs", True, TRICLINIC, False), ("xs", False, ORTHO, True), ("xsu", False, TRICLINIC, False)])
def test_layouts_through_lammps_traj(tmp_path, capsys, mode, images, cell, element):
    pos = _traj(cell, D=30.0 if images else 0.5)
    wrapped = wrap(pos, cell)
    flags = np.floor(pos @ np.linalg.inv(cell)).astype(int) if images else None
    f = tmp_path / "t.dump"
    write_dump(f, pos if mode in ("xu", "xsu") else wrapped, cell, mode=mode, images=flags,
               element=element, shuffle=True, n_other=N_CL)
    out = tmp_path / "t.extxyz"
    rc, cap = _lammps_traj(f, out, capsys, species=None if element else "Li,Cl")
    assert rc == 0, cap.err
    got = ase.io.read(out, ":")
    assert [a.info["step"] for a in got] == list(range(0, 1000, 100))
    assert got[3].info["time_ps"] == pytest.approx(0.6)
    assert got[0].get_chemical_symbols() == ["Li"] * N_LI + ["Cl"] * N_CL
    np.testing.assert_allclose(got[0].cell[:], cell, atol=1e-9)
    li = np.array([a.positions[:N_LI] for a in got])
    np.testing.assert_allclose(li - li[:1], pos - pos[:1], atol=2e-5)     # unwrapped
    if images or mode in ("xu", "xsu"):
        np.testing.assert_allclose(li, pos, atol=2e-5)   # the true positions, not only steps


def test_element_column_checked_against_species(tmp_path, capsys):
    f = tmp_path / "t.dump"
    write_dump(f, _traj(ORTHO), ORTHO, mode="xu", element=True, n_other=N_CL)
    rc, cap = _lammps_traj(f, tmp_path / "o.extxyz", capsys, species="Cl,Li")
    assert rc == 2 and "is Li in the element column but type 1 = Cl by --species" in cap.err
    g = tmp_path / "noel.dump"
    write_dump(g, _traj(ORTHO), ORTHO, mode="xu", n_other=N_CL)
    rc, cap = _lammps_traj(g, tmp_path / "o.extxyz", capsys, species=None)
    assert rc == 2 and "no element column: give --species" in cap.err
    assert not (tmp_path / "o.extxyz").exists()


def _restarted(tmp_path, cut_mid_line):
    """Steps 0..900 of run 1, killed while writing step 1000 (after 2 of its atom lines, or in
    the middle of its first atom line), then a restart from step 500 that writes 500..1400 with
    other positions: the later copies must win."""
    run1 = _traj(ORTHO, n_frames=11, seed=1)
    run2 = _traj(ORTHO, n_frames=10, seed=2) + 0.5
    a, b = tmp_path / "a.dump", tmp_path / "b.dump"
    write_dump(a, run1, ORTHO, mode="xu", n_other=N_CL)
    write_dump(b, run2, ORTHO, mode="xu", n_other=N_CL)
    text_a = a.read_text()
    first_row = text_a.index("\n", text_a.rindex("ITEM: ATOMS")) + 1     # of step 1000
    cut_at = first_row + 17 if cut_mid_line else text_a.index("\n", text_a.index("\n", first_row) + 1) + 1
    lines = b.read_text().splitlines(keepends=True)
    for k, ln in enumerate(lines):                    # run 2's steps 0..900 -> 500..1400
        if ln.startswith("ITEM: TIMESTEP"):
            lines[k + 1] = f"{int(lines[k + 1]) + 500}\n"
    f = tmp_path / "restarted.dump"
    f.write_text(text_a[:cut_at] + "".join(lines))
    return f, np.concatenate([run1[:5], run2])      # steps 0..400 of run 1, 500..1400 of run 2


@pytest.mark.parametrize("cut_mid_line", [False, True], ids=["line_boundary", "mid_line"])
def test_restarted_run_keeps_the_later_copy(tmp_path, capsys, cut_mid_line):
    f, truth = _restarted(tmp_path, cut_mid_line)
    dump = LammpsDump(f)
    assert dump.n_frames_in_file == 21 and dump.n_frames == 15
    frames = list(dump.frames("1"))
    assert [fr.step for fr in frames] == list(range(0, 1500, 100))
    np.testing.assert_allclose(np.array([fr.coords for fr in frames]), truth, atol=2e-9)
    assert len(dump.notes) == 1
    assert dump.notes[0].startswith("dropped 6 frame(s) that a restarted run wrote again "
                                    "(TIMESTEP 500..1000; the later copies are kept)")
    assert "frame 10 (line" in dump.notes[0] and "cut short by the kill" in dump.notes[0]
    # analyze: all 15 frames, with the note as a warning
    with pytest.warns(TrajectoryWarning, match="dropped 6 frame"):
        tr = read_species_trajectory(f, "1", frame_interval_fs=100)
    assert tr.n_frames == 15
    np.testing.assert_allclose(tr.positions, truth, atol=2e-9)
    # lammps-traj: the same 15 frames, the note on stderr
    rc, cap = _lammps_traj(f, tmp_path / "r.extxyz", capsys)
    assert rc == 0 and "warning" in cap.err and "dropped 6 frame(s)" in cap.err
    got = ase.io.read(tmp_path / "r.extxyz", ":")
    assert [a.info["step"] for a in got] == list(range(0, 1500, 100))
    np.testing.assert_allclose(np.array([a.positions[:N_LI] for a in got]), truth, atol=2e-9)


def test_truncated_last_frame_is_dropped_with_its_name(tmp_path, capsys):
    f = tmp_path / "t.dump"
    write_dump(f, _traj(ORTHO), ORTHO, mode="xu", n_other=N_CL)
    frames = _frames_text(f)
    text = f.read_text()
    f.write_text(text[:-30])                    # cut inside the last atom line of step 900
    dump = LammpsDump(f)
    assert dump.n_frames == 9
    s9 = _start_line(frames, 9)
    assert dump.notes == [f"the last frame (frame 9, TIMESTEP 900, line {s9}) is truncated (its "
                          f"last atom line (line {s9 + 18}) is cut); skipped it"]
    with pytest.warns(TrajectoryWarning, match=r"the last frame \(frame 9, TIMESTEP 900"):
        assert read_species_trajectory(f, "1", frame_interval_fs=100).n_frames == 9
    rc, cap = _lammps_traj(f, tmp_path / "o.extxyz", capsys)
    assert rc == 0 and "the last frame (frame 9, TIMESTEP 900" in cap.err
    assert len(ase.io.read(tmp_path / "o.extxyz", ":")) == 9
    # a header cut short is a truncated last frame too
    f.write_text("".join("".join(fr) for fr in frames[:9]) + "ITEM: TIMESTEP\n900\nITEM: NUMB")
    assert LammpsDump(f).n_frames == 9


def _damage(frames, kind):
    """Damage frame 3 (TIMESTEP 300) of a 10-frame dump; returns (frames, line named, message)."""
    fr = frames[3]
    start = _start_line(frames, 3)
    if kind == "missing_rows":
        del fr[12:14]
        return frames, start, "frame 3 (TIMESTEP 300) is incomplete: 8 of 10 atom lines"
    if kind == "extra_token":
        fr[11] = fr[11].rstrip("\n") + " 7\n"
        return frames, start + 11, "frame 3 (TIMESTEP 300): an atom line does not hold 5 values"
    if kind == "non_numeric_timestep":
        fr[1] = "3OO\n"
        return frames, start + 1, "frame 3: TIMESTEP '3OO' is not an integer"
    if kind == "nan":
        parts = fr[13].split()
        parts[3] = "nan"
        fr[13] = " ".join(parts) + "\n"
        return frames, start + 13, "frame 3 (TIMESTEP 300): coordinate 'nan' is not a finite number"
    if kind == "text_coordinate":
        parts = fr[10].split()
        parts[2] = "1.2.3"
        fr[10] = " ".join(parts) + "\n"
        return frames, start + 10, "frame 3 (TIMESTEP 300): coordinate '1.2.3' is not a finite number"
    if kind == "extra_row":
        fr.insert(12, "99 1 0.0 0.0 0.0\n")
        return frames, start, "frame 3 (TIMESTEP 300) is incomplete: 11 atom lines but NUMBER OF ATOMS is 10"
    raise AssertionError(kind)


DAMAGE = ["missing_rows", "extra_token", "non_numeric_timestep", "nan", "text_coordinate", "extra_row"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_middle_frame_is_an_error_naming_it(tmp_path, capsys, kind):
    f = tmp_path / "t.dump"
    write_dump(f, _traj(ORTHO), ORTHO, mode="xu", n_other=N_CL)
    frames, line, message = _damage(_frames_text(f), kind)
    f.write_text("".join("".join(fr) for fr in frames))
    with pytest.raises(InputError) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            read_species_trajectory(f, "1", frame_interval_fs=100)
    assert str(info.value).startswith(f"{f}:{line}: {message}"), str(info.value)
    for rc, cap in (_analyze(f, tmp_path, capsys), _lammps_traj(f, tmp_path / "o.extxyz", capsys)):
        assert rc == 2 and "Traceback" not in cap.err
        assert f"{f}:{line}: {message}" in cap.err
        assert len(cap.err.strip().splitlines()) == 1
    assert not (tmp_path / "o.extxyz").exists()
    assert not (tmp_path / "an" / "summary.json").exists()


def test_no_frames_and_not_a_dump(tmp_path, capsys):
    f = tmp_path / "e.dump"
    f.write_text("")
    assert LammpsDump(f).n_frames == 0
    rc, cap = _lammps_traj(f, tmp_path / "o.extxyz", capsys)
    assert rc == 2 and "holds no frames" in cap.err
    f.write_text("hello\n")
    with pytest.raises(InputError, match="expected 'ITEM: TIMESTEP'.*not a LAMMPS text dump"):
        LammpsDump(f)
    with pytest.raises(InputError, match="not found"):
        LammpsDump(tmp_path / "missing.dump")


@pytest.mark.parametrize("frame, new_step, line_frame", [
    (4, 0, 4), (4, 900, 4), (4, 1300, 4), (4, 300, 4), (0, 5000, 1)])
def test_a_damaged_timestep_is_not_taken_for_a_restart(tmp_path, frame, new_step, line_frame):
    """One TIMESTEP changed (a byte flipped): before, the restart logic dropped frames silently
    but for a warning; a restart writes its steps again in the same stride, a damaged TIMESTEP
    breaks the sequence of its neighbours: an error naming the frame's TIMESTEP line."""
    f = tmp_path / "t.dump"
    write_dump(f, _traj(ORTHO), ORTHO, mode="xu", n_other=N_CL)
    frames = _frames_text(f)
    frames[frame][1] = f"{new_step}\n"
    f.write_text("".join("".join(fr) for fr in frames))
    with pytest.raises(InputError, match="TIMESTEP") as exc:
        LammpsDump(f)
    assert exc.value.line == _start_line(frames, line_frame) + 1


def test_last_frame_going_back_is_skipped_by_name(tmp_path):
    f = tmp_path / "t.dump"
    write_dump(f, _traj(ORTHO), ORTHO, mode="xu", n_other=N_CL)
    frames = _frames_text(f)
    frames[9][1] = "300\n"
    f.write_text("".join("".join(fr) for fr in frames))
    dump = LammpsDump(f)
    assert dump.n_frames == 9 and [fr.step for fr in dump.frames("1")] == list(range(0, 900, 100))
    assert dump.notes == [f"the last frame (frame 9, TIMESTEP 300, line {_start_line(frames, 9)}) goes "
                          "back from TIMESTEP 800: a restarted run that stopped after one frame, or a "
                          "damaged TIMESTEP; skipped it and kept the frames before it"]
