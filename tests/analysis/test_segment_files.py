"""`mtpflow analyze SEG000 SEG001 ...`: the segments of one run read as one trajectory, streaming,
equal to the same frames in one file; files that do not continue each other (overlap, a missing
segment, wrong order, other atoms or cell, a cut frame in a middle file) are errors naming the
file and the frame."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtpflow.analysis.synthetic import brownian, wrap
from mtpflow.cli import main as cli_main
from mtpflow.errors import InputError
from mtpflow.io.md_files import format_extxyz_frame
from mtpflow.io.trajectory import read_species_trajectory

CELL = np.diag([12.0, 12.0, 12.0])
EVERY = 50        # steps between frames
DT_FS = 2.0       # MD time step


def _frames(n=60, seed=0, n_li=10, n_cl=6, cell=CELL):
    li = brownian(n, n_li, 0.3, EVERY * DT_FS * 1e-3, cell, seed=seed)
    cl = brownian(n, n_cl, 0.01, EVERY * DT_FS * 1e-3, cell, seed=seed + 1)
    return ["Li"] * n_li + ["Cl"] * n_cl, np.concatenate([li, cl], axis=1)


def _write(path, symbols, pos, steps, cell=CELL, wrapped=False):
    with open(path, "w") as fh:
        for k, s in zip(range(len(pos)), steps):
            p = wrap(pos[k], cell) if wrapped else pos[k]
            fh.write(format_extxyz_frame(symbols, p, cell, s, s * DT_FS * 1e-3))
    return path


def _segments(tmp_path, bounds=(0, 17, 40, 60), wrapped=False, **kw):
    symbols, pos = _frames(**kw)
    steps = np.arange(len(pos)) * EVERY
    one = _write(tmp_path / "whole.extxyz", symbols, pos, steps, wrapped=wrapped)
    parts = [_write(tmp_path / f"seg{k:03d}.extxyz", symbols, pos[a:b], steps[a:b], wrapped=wrapped)
             for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    return one, parts, symbols, pos, steps


@pytest.mark.parametrize("wrapped", [False, True])
def test_segments_read_as_one_trajectory(tmp_path, wrapped):
    one, parts, *_ = _segments(tmp_path, wrapped=wrapped)
    a = read_species_trajectory(one, "Li")
    b = read_species_trajectory(parts, "Li")
    assert b.n_frames == 60 and b.n_ions == 10 and b.n_frames_read == 60
    np.testing.assert_array_equal(a.positions, b.positions)   # unwrapping continues across files
    np.testing.assert_array_equal(a.times_ps, b.times_ps)
    assert b.dt_ps == a.dt_ps and b.composition == {"Li": 10, "Cl": 6}
    assert b.path == f"{parts[0]} .. {parts[-1]} (3 files)"
    every = read_species_trajectory(parts, "Li", every=4)
    np.testing.assert_array_equal(every.positions, a.positions[::4])


def test_analyze_cli_over_segments_equals_one_file(tmp_path):
    one, parts, *_ = _segments(tmp_path)
    common = ["--species", "Li", "--temperature-K", "600", "--no-plots"]
    assert cli_main(["analyze", str(one), *common, "--outdir", str(tmp_path / "a")]) == 0
    assert cli_main(["analyze", *map(str, parts), *common, "--outdir", str(tmp_path / "b")]) == 0
    sa = json.loads((tmp_path / "a" / "summary.json").read_text())
    sb = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert sb.pop("source") == f"{parts[0]} .. {parts[-1]} (3 files)"
    sa.pop("source")
    assert sa == sb
    assert (tmp_path / "a" / "msd.csv").read_text() == (tmp_path / "b" / "msd.csv").read_text()


def _err(paths, capsys):
    assert cli_main(["analyze", *map(str, paths), "--species", "Li", "--no-plots", "--outdir",
                     str(paths[0].parent / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (paths[0].parent / "out").exists()
    return err


def test_broken_chains_are_errors_naming_file_and_frame(tmp_path, capsys):
    one, (s0, s1, s2), symbols, pos, steps = _segments(tmp_path)
    # a segment left out
    err = _err([s0, s2], capsys)
    assert err.startswith(f"mtpflow analyze: error: {s2}:") and "frame 0 (step 2000)" in err
    assert f"does not follow the last frame of {s0} (step 800; frames are 50 apart)" in err
    assert "23 frame(s) are missing between the files" in err
    # out of order
    err = _err([s1, s0], capsys)
    assert f"{s0}:" in err and "comes before the end of" in err and "out of order" in err
    # the same segment twice, or overlapping segments
    err = _err([s0, s0, s1], capsys)
    assert f"{s0}: is given more than once" in err
    overlap = _write(tmp_path / "overlap.extxyz", symbols, pos[16:40], steps[16:40])
    err = _err([s0, overlap], capsys)
    assert f"{overlap}:" in err and "repeats the last frame of" in err and "(step 800)" in err
    # another run's segment: other atoms
    sym2, pos2 = _frames(seed=3, n_cl=8)
    other = _write(tmp_path / "other.extxyz", sym2, pos2[17:40], steps[17:40])
    err = _err([s0, other], capsys)
    assert f"{other}:" in err and "18 atoms (Cl8Li10), but" in err and "not segments of one run" in err
    # ... or another cell (NVT: the cell is the same in every frame of a run)
    cell = _write(tmp_path / "cell.extxyz", symbols, pos[17:40], steps[17:40], cell=CELL * 1.01)
    err = _err([s0, cell], capsys)
    assert "another cell than the last frame of" in err
    # a frame cut in a middle segment (only the last may end in a cut frame)
    cut = tmp_path / "cut.extxyz"
    text = s1.read_text()
    cut.write_text(text[: len(text) - 40])
    err = _err([s0, cut, s2], capsys)
    assert f"{cut}:" in err and "only the last of several segments may end in a cut frame" in err
    # an empty segment
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    with pytest.raises(InputError, match="empty.extxyz: holds no frame"):
        read_species_trajectory([s0, empty, s1], "Li", fmt="extxyz")


def test_segments_without_steps_use_time(tmp_path):
    symbols, pos = _frames(n=30)
    files = []
    for k, (a, b) in enumerate(((0, 10), (11, 30))):   # frame 10 missing
        path = tmp_path / f"t{k}.extxyz"
        with open(path, "w") as fh:
            for j in range(a, b):
                head = format_extxyz_frame(symbols, pos[j], CELL, 0, j * 0.1)
                fh.write(head.replace(" step=0", ""))
        files.append(path)
    with pytest.raises(InputError, match=r"frame 0 \(time 1\.1 ps\) does not follow .* \(time 0\.9 ps; "
                                          r"frames are 0\.1 ps apart\): 1 frame\(s\) are missing"):
        read_species_trajectory(files, "Li")
