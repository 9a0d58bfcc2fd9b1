"""The .cfg reader on damaged input (issue 14): a repeated section, a bad type named at its row,
NaN positions and singular cells at their line, non-UTF-8 Feature bytes kept byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.errors import InputError
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.structures import Configuration


def _two_atoms(**kw):
    return Configuration(positions=[[0.0, 0, 0], [1.5, 0, 0]], types=[0, 1], cell=np.eye(3) * 6,
                         energy=-1.0, forces=np.zeros((2, 3)), plus_stress=np.arange(6.0), **kw)


def _lines(path):
    return path.read_text().splitlines(keepends=True)


@pytest.mark.parametrize("section", ["Size", "Supercell", "AtomData", "Energy", "PlusStress"])
def test_a_repeated_section_is_an_error_at_its_second_line(tmp_path, section):
    good = tmp_path / "good.cfg"
    write_cfg(good, [_two_atoms()])
    lines = _lines(good)
    k = next(i for i, ln in enumerate(lines) if ln.strip().startswith(section))
    n_body = {"Size": 1, "Supercell": 3, "AtomData": 2, "Energy": 1, "PlusStress": 1}[section]
    block = lines[k:k + 1 + n_body]
    end = next(i for i, ln in enumerate(lines) if ln.strip() == "END_CFG")
    bad = tmp_path / "bad.cfg"
    bad.write_text("".join(lines[:end] + block + lines[end:]))
    with pytest.raises(InputError, match=rf"{section} appears twice .*first at line {k + 1}") as exc:
        read_cfg(bad)
    assert exc.value.line == end + 1 and exc.value.path == str(bad)


def test_bad_type_is_reported_at_its_row(tmp_path):
    path = tmp_path / "t.cfg"
    write_cfg(path, [_two_atoms(), _two_atoms()])
    lines = _lines(path)
    rows = [i for i, ln in enumerate(lines) if ln.strip().startswith("2 1 ")]
    k = rows[1]                                   # second atom of the second configuration
    lines[k] = lines[k].replace("2 1 ", "2 1.5 ", 1)
    path.write_text("".join(lines))
    with pytest.raises(InputError, match="atom type 1.5") as exc:
        read_cfg(path)
    assert exc.value.line == k + 1
    lines[k] = lines[k].replace("2 1.5 ", "2 -1 ", 1)
    path.write_text("".join(lines))
    with pytest.raises(InputError, match="atom type -1") as exc:
        read_cfg(path)
    assert exc.value.line == k + 1


def test_nan_position_and_singular_cell_are_errors_at_their_line(tmp_path):
    path = tmp_path / "t.cfg"
    write_cfg(path, [_two_atoms()])
    lines = _lines(path)
    k = next(i for i, ln in enumerate(lines) if ln.strip().startswith("2 1 "))
    parts = lines[k].split()
    parts[3] = "nan"
    bad = list(lines)
    bad[k] = "    " + " ".join(parts) + "\n"
    path.write_text("".join(bad))
    with pytest.raises(InputError, match="NaN or inf") as exc:
        read_cfg(path)
    assert exc.value.line == k + 1
    s = next(i for i, ln in enumerate(lines) if ln.strip() == "Supercell")
    bad = list(lines)
    bad[s + 3] = bad[s + 1]                       # a3 = a1: zero volume
    path.write_text("".join(bad))
    with pytest.raises(InputError, match="singular") as exc:
        read_cfg(path)
    assert exc.value.line == s + 1


def test_line_starting_with_a_colon_is_an_unknown_section(tmp_path):
    path = tmp_path / "t.cfg"
    write_cfg(path, [_two_atoms()])
    lines = _lines(path)
    lines.insert(3, " : stray\n")
    path.write_text("".join(lines))
    with pytest.raises(InputError, match="unknown section") as exc:
        read_cfg(path)
    assert exc.value.line == 4


def test_non_utf8_feature_bytes_survive_calc_efs_in_place(tmp_path):
    """calc-efs IN IN rewrites the file: a Latin-1 byte in a Feature must come back unchanged."""
    from mtpflow.io.mtp import write_mtp
    from tests.train.synth import random_potential

    pot = random_potential(6, species=2, seed=1)
    pot_path = tmp_path / "p.mtp"
    write_mtp(pot_path, pot)
    path = tmp_path / "in.cfg"
    write_cfg(path, [_two_atoms(features=[("source", "x")])])
    raw = path.read_bytes().replace(b"Feature   source\tx", b"Feature   source\tcaf\xe9 \xff")
    path.write_bytes(raw)
    (conf,) = read_cfg(path)
    assert conf.features == [("source", "caf\udce9 \udcff")]     # kept as surrogate escapes
    assert main(["calc-efs", str(pot_path), str(path), str(path)]) == 0
    out = path.read_bytes()
    assert b"Feature   source\tcaf\xe9 \xff\n" in out
    assert read_cfg(path)[0].features == conf.features
