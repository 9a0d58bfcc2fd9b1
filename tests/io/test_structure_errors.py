"""Structure files through read_frames / `convert` (issue 14): an extended XYZ file is checked
before ASE reads it (damage in the middle is an error at its frame and line, a truncated last
frame is dropped with a warning, a last line cut mid-number is never read as a number), and a
bad or empty input is blamed on the input, not the output."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from mtpflow.cli import main
from mtpflow.errors import InputError
from mtpflow.io.structure import read_frames

N_FRAMES, N_ATOMS = 6, 5


@pytest.fixture
def good(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for k in range(N_FRAMES):
        a = Atoms("Li2AlCl2", positions=rng.uniform(0, 6, (N_ATOMS, 3)), cell=np.eye(3) * 6, pbc=True)
        a.info["step"] = k
        frames.append(a)
    path = tmp_path / "good.extxyz"
    write(path, frames, format="extxyz")
    return path


def _lines(path):
    return path.read_text().splitlines(keepends=True)


def _frame_start(k):
    return k * (N_ATOMS + 2)          # 0-based line index of frame k's count line


def _convert(src, tmp_path, capsys, *extra):
    out = tmp_path / "out.cfg"
    rc = main(["convert", str(src), str(out), "--species", "Li,Al,Cl", *extra])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.err, out


def test_good_file_reads_every_frame(good, tmp_path, capsys):
    rc, err, out = _convert(good, tmp_path, capsys)
    assert rc == 0 and err.count("\n") == 1 and f"{N_FRAMES} structure(s)" in err
    assert [a.info["step"] for a in read_frames(good, index="1:4")] == [1, 2, 3]
    assert read_frames(good, index="-1")[0].info["step"] == N_FRAMES - 1


@pytest.mark.parametrize("damage, match, line_of, frame", [
    ("short", "2 of 5 atom lines", lambda s: s, 2),
    ("extra", "holds 5 values, its Properties name 4", lambda s: s + 3, 2),
    ("nan", "position 'nan' is not a finite number", lambda s: s + 4, 2),
    ("text", "'x1' is not a number", lambda s: s + 2, 2),
    ("count", "more lines than its 5 atoms", lambda s: s - N_ATOMS - 2, 1),   # frame 1 runs on
    ("first", "expected the number of atoms", lambda s: 0, 0),
    ("long", "more lines than its 5 atoms", lambda s: s, 2)])
def test_damage_in_the_middle_is_an_error_at_its_line(good, tmp_path, capsys, damage, match, line_of,
                                                      frame):
    lines = _lines(good)
    s = _frame_start(2)
    if damage == "first":
        lines[0] = "five\n"
    if damage == "short":
        del lines[s + 4:s + 7]
    elif damage == "extra":
        lines[s + 3] = lines[s + 3].rstrip("\n") + " 0.5\n"
    elif damage == "nan":
        parts = lines[s + 4].split()
        parts[2] = "nan"
        lines[s + 4] = " ".join(parts) + "\n"
    elif damage == "text":
        parts = lines[s + 2].split()
        parts[1] = "x1"
        lines[s + 2] = " ".join(parts) + "\n"
    elif damage == "count":
        lines[s] = "five\n"
    elif damage == "long":
        lines.insert(s + 7, lines[s + 6])
    bad = tmp_path / "bad.extxyz"
    bad.write_text("".join(lines))
    with pytest.raises(InputError, match=match) as exc:
        read_frames(bad)
    assert exc.value.line == line_of(s) + 1 and f"frame {frame}:" in str(exc.value)
    rc, err, out = _convert(bad, tmp_path, capsys)
    assert rc == 2 and f"{bad}:{line_of(s) + 1}" in err and not out.exists()


@pytest.mark.parametrize("cut", ["lines", "mid_number", "comment"])
def test_truncated_last_frame_is_dropped_with_a_warning(good, tmp_path, capsys, cut):
    text = good.read_text()
    s = _frame_start(N_FRAMES - 1)
    lines = _lines(good)
    if cut == "lines":
        text = "".join(lines[:s + 4])
    elif cut == "mid_number":
        text = text.rstrip("\n")[:-4]           # the last coordinate loses its last digits
    else:
        text = "".join(lines[:s + 1]) + lines[s + 1][:20]
    bad = tmp_path / "cut.extxyz"
    bad.write_text(text)
    rc, err, out = _convert(bad, tmp_path, capsys)
    assert rc == 0 and f"{N_FRAMES - 1} structure(s)" in err
    assert f"mtpflow convert: warning: {bad}: the last frame (frame {N_FRAMES - 1}, line {s + 1})" in err
    assert len(read_frames(out, ["Li", "Al", "Cl"])) == N_FRAMES - 1


def test_empty_input_and_empty_selection_name_the_input(good, tmp_path, capsys):
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    rc, err, out = _convert(empty, tmp_path, capsys)
    assert rc == 2 and f"{empty}: no structures" in err and str(out) not in err
    rc, err, out = _convert(good, tmp_path, capsys, "--index", "4:2")
    assert rc == 2 and f"{good}: --index 4:2 selects none" in err
    for bad_index in ("1:2:3:4", "::0", "x"):
        rc, err, out = _convert(good, tmp_path, capsys, "--index", bad_index)
        assert rc == 2 and "--index" in err
    rc, err, out = _convert(good, tmp_path, capsys, "--index", "17")
    assert rc == 2 and "out of range for 6" in err and not out.exists()


def test_zero_volume_input_names_the_input(tmp_path, capsys):
    flat = tmp_path / "flat.vasp"
    flat.write_text("flat\n1.0\n5 0 0\n0 5 0\n5 5 0\nLi\n1\nDirect\n0.1 0.2 0.3\n")
    rc, err, out = _convert(flat, tmp_path, capsys)
    assert rc == 2 and str(flat) in err and "singular" in err and str(out) not in err
