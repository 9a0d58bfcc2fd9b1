"""Streaming reader: unwrapping of wrapped input (ortho/triclinic, extxyz/LAMMPS), bad input."""

from __future__ import annotations

import gzip
import shutil
import warnings

import numpy as np
import pytest
from .conftest import ORTHO, TRICLINIC, write_dump, write_extxyz

from mtpflow.errors import InputError
from mtpflow.io.trajectory import TrajectoryWarning, read_species_trajectory


def _same_displacements(got, truth, atol=2e-5):
    d_got = got - got[:1]
    d_true = truth - truth[:1]
    np.testing.assert_allclose(d_got, d_true, atol=atol)


@pytest.mark.parametrize("cell", [ORTHO, TRICLINIC], ids=["ortho", "triclinic"])
def test_extxyz_wrapped_is_unwrapped(tmp_path, cell, brownian_wrapped):
    pos, wrapped = brownian_wrapped(cell, n_frames=200, D=2.0)
    assert np.abs(wrapped - pos).max() > 5.0          # wrapping really happened
    f = tmp_path / "t.xyz"
    write_extxyz(f, wrapped, cell, dt_ps=0.02)
    tr = read_species_trajectory(f, "Li")
    assert tr.positions.shape == pos.shape
    assert tr.dt_ps == pytest.approx(0.02)
    assert tr.composition == {"Al": 3, "Cl": 5, "Li": 40}
    assert tr.volume_A3 == pytest.approx(abs(np.linalg.det(cell)))
    _same_displacements(tr.positions, pos)
    # every K: frames subsampled after unwrapping with all frames
    tr3 = read_species_trajectory(f, "Li", every=3)
    assert tr3.n_frames == 67 and tr3.dt_ps == pytest.approx(0.06)
    _same_displacements(tr3.positions, pos[::3])


def test_extxyz_gzip_and_frame_interval(tmp_path, brownian_wrapped):
    pos, wrapped = brownian_wrapped(ORTHO, n_frames=50)
    f = tmp_path / "t.xyz"
    write_extxyz(f, wrapped, ORTHO, with_time=False)
    with pytest.raises(InputError, match="--frame-interval-fs"):
        read_species_trajectory(f, "Li")
    with open(f, "rb") as a, gzip.open(str(f) + ".gz", "wb") as b:
        shutil.copyfileobj(a, b)
    tr = read_species_trajectory(str(f) + ".gz", "Li", frame_interval_fs=5.0)
    assert tr.dt_ps == pytest.approx(0.005)
    _same_displacements(tr.positions, pos)


@pytest.mark.parametrize("mode,use_images,cell", [
    ("x", False, ORTHO), ("x", True, TRICLINIC), ("xs", True, ORTHO), ("xs", False, TRICLINIC),
    ("xu", False, TRICLINIC), ("xsu", False, ORTHO)])
def test_lammps_dump_columns(tmp_path, mode, use_images, cell, brownian_wrapped):
    # large steps with images: minimum-image unwrapping would fail, image flags must be used
    D = 40.0 if use_images else 1.0
    pos, wrapped = brownian_wrapped(cell, n_frames=60, n_ions=12, D=D)
    images = None
    data = pos if mode in ("xu", "xsu") else wrapped
    if use_images:
        images = np.floor(pos @ np.linalg.inv(cell)).astype(int)
    f = tmp_path / "t.dump"
    write_dump(f, data, cell, mode=mode, images=images, shuffle=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error" if not use_images else "ignore")
        tr = read_species_trajectory(f, "1", frame_interval_fs=10.0)
    assert tr.format == "lammps-dump" and tr.n_ions == 12
    assert tr.dt_ps == pytest.approx(0.01)
    assert list(tr.indices) == list(range(1, 13))
    _same_displacements(tr.positions, pos)


def test_lammps_element_column_and_species_errors(tmp_path, brownian_wrapped):
    pos, wrapped = brownian_wrapped(ORTHO, n_frames=10, n_ions=5)
    f = tmp_path / "t.lammpstrj"
    write_dump(f, wrapped, ORTHO, element=True)
    assert read_species_trajectory(f, "Li", frame_interval_fs=1).n_ions == 5
    assert read_species_trajectory(f, "2", frame_interval_fs=1).n_ions == 4
    with pytest.raises(InputError, match="not in the first frame.*Cl, Li"):
        read_species_trajectory(f, "Na", frame_interval_fs=1)
    g = tmp_path / "t.xyz"
    write_extxyz(g, wrapped, ORTHO)
    with pytest.raises(InputError, match="present: Al, Cl, Li"):
        read_species_trajectory(g, "Na")


def test_bad_input(tmp_path, brownian_wrapped):
    pos, wrapped = brownian_wrapped(ORTHO, n_frames=6, n_ions=4)
    f = tmp_path / "one.xyz"
    write_extxyz(f, wrapped[:1], ORTHO)
    with pytest.raises(InputError, match="at least 2 frames"):
        read_species_trajectory(f, "Li")
    times = np.array([0.0, 0.01, 0.02, 0.015, 0.03, 0.04])
    write_extxyz(f, wrapped, ORTHO, times=times)
    with pytest.raises(InputError, match="not increasing.*stored frame 3"):
        read_species_trajectory(f, "Li")
    times = np.array([0.0, 0.01, 0.02, 0.04, 0.05, 0.06])
    write_extxyz(f, wrapped, ORTHO, times=times)
    with pytest.raises(InputError, match="not equally spaced"):
        read_species_trajectory(f, "Li")
    with pytest.raises(InputError, match="not found"):
        read_species_trajectory(tmp_path / "nope.xyz", "Li")
    (tmp_path / "junk.txt").write_text("hello\n")
    with pytest.raises(InputError, match="unrecognised trajectory format"):
        read_species_trajectory(tmp_path / "junk.txt", "Li")


@pytest.mark.parametrize("kind", ["extxyz", "dump"])
def test_truncated_last_frame_warns(tmp_path, kind, brownian_wrapped):
    pos, wrapped = brownian_wrapped(ORTHO, n_frames=8, n_ions=6)
    f = tmp_path / "t.traj"
    if kind == "extxyz":
        write_extxyz(f, wrapped, ORTHO)
    else:
        write_dump(f, wrapped, ORTHO)
    text = f.read_text()
    f.write_text(text[: len(text) - 50])       # cut inside the last frame
    with pytest.warns(TrajectoryWarning, match="truncated.*skipped"):
        tr = read_species_trajectory(f, "Li" if kind == "extxyz" else "1", frame_interval_fs=10)
    assert tr.n_frames == 7
    _same_displacements(tr.positions, pos[:7])


def test_cell_change_warns(tmp_path, brownian_wrapped):
    pos, wrapped = brownian_wrapped(ORTHO, n_frames=10, n_ions=4)
    cells = np.array([ORTHO * (1 + 0.01 * t) for t in range(10)])
    f = tmp_path / "npt.xyz"
    write_extxyz(f, wrapped, ORTHO, cells=cells)
    with pytest.warns(TrajectoryWarning, match="cell changes.*NVT"):
        tr = read_species_trajectory(f, "Li")
    assert tr.cell_changed


def test_large_jump_warns(tmp_path):
    cell = np.eye(3) * 10.0
    pos = np.zeros((3, 1, 3))
    pos[1, 0] = [4.5, 0, 0]
    pos[2, 0] = [9.0, 0, 0]
    f = tmp_path / "j.xyz"
    write_extxyz(f, pos, cell, others=())
    with pytest.warns(TrajectoryWarning, match="minimum-image unwrapping may be wrong"):
        read_species_trajectory(f, "Li")


# ------------------------------------------------------------- damaged extxyz frames ------------
def _xyz_frames(path):
    """Frames of an extxyz file as lists of lines (count line, comment, atom lines)."""
    lines = path.read_text().splitlines(keepends=True)
    out, k = [], 0
    while k < len(lines):
        n = int(lines[k])
        out.append(lines[k:k + n + 2])
        k += n + 2
    return out


def _xyz_damage(frames, kind):
    """Damage frame 3 of a 10-frame extxyz (Li rows are interleaved with Al and Cl); returns the
    frames, the line the error must name and the message."""
    fr = frames[3]
    start = 1 + sum(len(f) for f in frames[:3])
    n = len(fr) - 2
    li_row = next(k for k in range(2, len(fr)) if fr[k].startswith("Li "))
    if kind == "missing_rows":
        del fr[5:7]
        return start, f"frame 3: {n - 2} of {n} atom lines (the next frame starts at line {start + n}"
    if kind == "extra_row":
        fr.insert(5, "Cl 1.0 1.0 1.0\n")
        return start, f"frame 3: more lines than its {n} atoms (line {start + n + 2} is not the next"
    if kind == "extra_token":
        fr[li_row] = fr[li_row].rstrip("\n") + " 0.5\n"
        return start + li_row, "frame 3: an atom line does not hold the 4 values its Properties name"
    if kind == "nan":
        fr[li_row] = "Li 1.0 nan 2.0\n"
        return start + li_row, "frame 3: position 'nan' is not a finite number"
    if kind == "bad_time":
        fr[1] = fr[1].replace("time_ps=0.03", "time_ps=O.03")
        return start + 1, "frame 3: time_ps='O.03' is not a number"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing_rows", "extra_row", "extra_token", "nan", "bad_time"])
def test_damaged_middle_extxyz_frame_is_an_error_naming_it(tmp_path, kind, brownian_wrapped, capsys):
    from mtpflow.cli import main

    pos, wrapped = brownian_wrapped(ORTHO, n_frames=10, n_ions=6)
    f = tmp_path / "t.xyz"
    write_extxyz(f, wrapped, ORTHO)
    frames = _xyz_frames(f)
    line, message = _xyz_damage(frames, kind)
    f.write_text("".join("".join(fr) for fr in frames))
    with pytest.raises(InputError) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            read_species_trajectory(f, "Li")
    assert str(info.value).startswith(f"{f}:{line}: {message}"), str(info.value)
    rc = main(["analyze", str(f), "--species", "Li", "--outdir", str(tmp_path / "an"), "--no-plots"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and f"{f}:{line}: {message}" in err
    assert not (tmp_path / "an" / "summary.json").exists()


def test_extxyz_truncated_last_frame_is_named_and_only_the_last(tmp_path, brownian_wrapped):
    pos, wrapped = brownian_wrapped(ORTHO, n_frames=10, n_ions=6)
    f = tmp_path / "t.xyz"
    write_extxyz(f, wrapped, ORTHO)
    frames = _xyz_frames(f)
    start9 = 1 + sum(len(fr) for fr in frames[:9])
    text = "".join("".join(fr) for fr in frames[:9]) + "".join(frames[9][:7])
    f.write_text(text)
    with pytest.warns(TrajectoryWarning, match=rf"the last frame \(frame 9, line {start9}\) is "
                                               r"truncated \(5 of 14 atom lines\); skipped it"):
        tr = read_species_trajectory(f, "Li")
    assert tr.n_frames == 9
    _same_displacements(tr.positions, pos[:9])
    # the last line cut in mid-line: also the last frame
    f.write_text("".join("".join(fr) for fr in frames)[:-9])
    with pytest.warns(TrajectoryWarning, match=r"the last frame \(frame 9.*its last line is cut"):
        assert read_species_trajectory(f, "Li").n_frames == 9
    # a short frame 8 (9 of 14 atom lines) followed by a last frame cut after 1 atom line: the
    # file ends inside frame 8's 14 lines, yet frame 8 is named, not "the last frame"
    bad = [list(fr) for fr in frames[:10]]
    del bad[8][6:11]
    f.write_text("".join("".join(fr) for fr in bad[:9]) + "".join(bad[9][:3]))
    start8 = 1 + sum(len(fr) for fr in frames[:8])
    with pytest.raises(InputError, match=rf":{start8}: frame 8: 9 of 14 atom lines \(the next "
                                         rf"frame starts at line {start8 + 11}\)"):
        read_species_trajectory(f, "Li")
