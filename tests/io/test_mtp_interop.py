"""Potentials follow MLIP-3's rules: no '#' except its own active-learning block, metadata in the one
potential_name token; old '#mtpflow' files still read; the block kept or dropped as the model demands."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.errors import InputError
from mtpflow.io.mtp import (SelectionDroppedWarning, format_mtp, format_potential_name,
                            parse_potential_name, potential_bytes, read_mtp, write_mtp)
from mtpflow.mtp.evaluate import evaluate
from mtpflow.mtp.init import init_potential
from tests.io.potential_kinds import FAKE_SELECTION, KINDS, build, old_format_bytes
from tests.mtp.test_kernels import medium_triclinic


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("potential_kinds")


def mlip3_header(data: bytes) -> dict:
    """What MLIP-3's MLMTPR::Load reads before the radial basis: line 1 exactly 'MTP', line 2 exactly
    'version = 1.1.0', then whitespace-separated tokens; after 'potential_name' it skips two
    characters and reads ONE token, then optional 'scaling', 'species_count', 'potential_tag' (rest
    of the line), then 'radial_basis_type' must follow."""
    lines = data.split(b"\n")
    assert lines[0].rstrip(b"\r") == b"MTP" and lines[1].rstrip(b"\r") == b"version = 1.1.0"
    rest = b"\n".join(lines[2:]).decode("utf-8", errors="replace")
    pos = 0

    def token():
        nonlocal pos
        while rest[pos].isspace():
            pos += 1
        start = pos
        while not rest[pos].isspace():
            pos += 1
        return rest[start:pos]

    out = {}
    tok = token()
    if tok == "potential_name":
        pos += 2
        out["potential_name"], tok = token(), token()
    if tok == "scaling":
        pos += 2
        out["scaling"], tok = float(token()), token()
    assert tok == "species_count", f"MLIP-3 would stop: {tok!r} where species_count belongs"
    pos += 2
    out["species_count"], tok = int(token()), token()
    if tok == "potential_tag":
        pos = rest.index("\n", pos)
        tok = token()
    assert tok == "radial_basis_type", f"MLIP-3 would stop: {tok!r} where radial_basis_type belongs"
    return out


def check_mlip3_rules(data: bytes, block: bytes | None) -> dict:
    """The file's first '#' (MLIP-3's selection start) is the block, byte for byte, or there is none;
    the header reads as MLIP-3 reads it."""
    first = data.find(b"#")
    if block is None:
        assert first == -1, f"'#' at byte {first}: {data[max(0, first - 40):first + 40]!r}"
    else:
        assert first >= 0 and data[first:] == block
        assert data[first:].startswith(b"#MVS_v1.1\n")
    return mlip3_header(data)


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_writer_follows_mlip3_rules(kind, folder):
    w = build(kind, folder)
    data = w.path.read_bytes()
    hdr = check_mlip3_rules(data, w.block)
    pot = read_mtp(w.path)
    assert pot.species == w.species
    # the one token MLIP-3 reads (and writes back on save) is the whole potential_name value
    assert hdr["potential_name"] == format_potential_name(pot)
    assert parse_potential_name(hdr["potential_name"])[1] == w.species
    assert hdr["species_count"] == pot.species_count
    assert pot.is_trained == w.trained
    assert (pot.selection is not None) == (w.block is not None)


def test_the_rule_check_rejects_the_old_format():
    pot = init_potential(6, ["Li", "Cl", "Al"], 1.9, 5.0, random_coeffs=True, seed=2)
    pot.metadata["training_set_hash"] = "abc"
    with pytest.raises(AssertionError, match="'#' at byte"):
        check_mlip3_rules(old_format_bytes(pot), None)
    spaced = format_mtp(pot).replace("potential_name = MTP1m;mtpflow;", "potential_name = MTP1m mtpflow;")
    with pytest.raises(AssertionError, match="MLIP-3 would stop"):
        check_mlip3_rules(spaced.encode(), None)


def test_old_trailing_mtpflow_lines_still_read_and_rewritten_as_token(tmp_path):
    pot = init_potential(8, ["Li", "Cl", "Al"], 1.9, 5.0, random_coeffs=True, seed=7)
    pot.metadata["training_set_hash"] = "9f2c" * 16
    old = tmp_path / "old.almtp"
    old.write_bytes(old_format_bytes(pot))
    assert b"\n#mtpflow species = Li,Cl,Al\n" in old.read_bytes()
    back = read_mtp(old)
    assert back.species == ["Li", "Cl", "Al"]
    assert back.metadata == {"basis": "mtpflow-generated level 8", "training_set_hash": "9f2c" * 16}
    assert back.potential_name == "MTP1m" and back.selection is None
    assert np.array_equal(back.get_params(), pot.get_params())
    write_mtp(tmp_path / "new.almtp", back)
    new = (tmp_path / "new.almtp").read_bytes()
    assert b"#" not in new
    assert (b"potential_name = MTP1m;mtpflow;species:Li,Cl,Al;basis:mtpflow-generated%20level%208;"
            b"training_set_hash:" + b"9f2c" * 16 + b"\n") in new
    again = read_mtp(tmp_path / "new.almtp")
    assert again.species == back.species and again.metadata == back.metadata
    assert format_mtp(again) == format_mtp(back)


def test_name_token_encodes_any_metadata():
    pot = init_potential(6, ["Li", "Cl"], 1.9, 5.0)
    pot.potential_name = "a b;c"
    pot.metadata = {"x y": "1 # 2 = 3; 4%", "empty": "", "colon": "k:v", "unicode": "Å"}
    token = format_potential_name(pot)
    assert not any(c.isspace() for c in token) and not set("#=") & set(token)
    name, species, meta = parse_potential_name(token)
    assert (name, species, meta) == ("a b;c", ["Li", "Cl"], pot.metadata)
    # MLIP's own names are left as they are; an empty name is never written (MLIP would take the
    # next token as the name)
    pot.species, pot.metadata = None, {}
    for given, written in (("MTP1m", "MTP1m"), ("", "MTP1m"), ("Li-Cl_v2.1", "Li-Cl_v2.1")):
        pot.potential_name = given
        assert format_potential_name(pot) == written
        assert parse_potential_name(written) == (written, None, {})


def test_bad_token_entry_names_file_and_line(tmp_path):
    text = format_mtp(init_potential(6, ["Li"], 1.9, 5.0)).replace("species:Li", "species:Li;oops")
    (tmp_path / "bad.mtp").write_text(text)
    with pytest.raises(InputError, match=r"bad.mtp:3: potential_name: mtpflow entry 'oops'"):
        read_mtp(tmp_path / "bad.mtp")


def _with_block(tmp_path):
    pot = init_potential(8, ["Li", "Cl", "Al"], 1.9, 5.0, random_coeffs=True, seed=9)
    pot.species, pot.metadata = None, {}
    src = tmp_path / "src.almtp"
    src.write_bytes(format_mtp(pot).encode() + FAKE_SELECTION)
    return src


def test_block_kept_byte_for_byte_while_the_model_is_unchanged(tmp_path):
    src = _with_block(tmp_path)
    pot = read_mtp(src)
    assert pot.selection.data == FAKE_SELECTION and pot.selection.source == str(src)
    write_mtp(tmp_path / "a.almtp", pot)  # plain round trip
    assert (tmp_path / "a.almtp").read_bytes() == src.read_bytes()
    a = read_mtp(tmp_path / "a.almtp")
    a.species = ["Li", "Cl", "Al"]  # relabel: names are not part of the model
    a.metadata["note"] = "x"
    write_mtp(tmp_path / "b.almtp", a)
    b_bytes = (tmp_path / "b.almtp").read_bytes()
    assert b_bytes == format_mtp(a).encode() + FAKE_SELECTION
    b = read_mtp(tmp_path / "b.almtp")
    assert b.species == ["Li", "Cl", "Al"] and b.selection.data == FAKE_SELECTION
    assert np.array_equal(b.get_params(), pot.get_params())
    # the model read back is the model: same energies with and without the block
    cfg = medium_triclinic(n=20, seed=3)
    assert evaluate(b, cfg).energy == evaluate(pot, cfg).energy
    # the library can leave it out on request, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert b"#" not in potential_bytes(b, keep_selection=False)


@pytest.mark.parametrize("change", ["moment_coeffs", "radial_coeffs", "species_coeffs", "scaling",
                                    "min_dist", "alpha_index_times"])
def test_block_dropped_with_a_message_when_the_model_changes(tmp_path, change):
    pot = read_mtp(_with_block(tmp_path))
    if change == "scaling":
        pot.scaling *= 1.5
    elif change == "min_dist":
        pot.min_dist += 0.01
    elif change == "alpha_index_times":
        pot.alpha_index_times = pot.alpha_index_times[::-1].copy()
    else:
        getattr(pot, change).flat[0] += 1e-12
    notes = []
    write_mtp(tmp_path / "out.almtp", pot, warn=notes.append)
    assert b"#" not in (tmp_path / "out.almtp").read_bytes()
    assert len(notes) == 1
    assert "#MVS_v1.1" in notes[0] and "src.almtp" in notes[0] and "out.almtp" in notes[0]
    assert "was not written" in notes[0] and "belongs to the coefficients" in notes[0]
    with pytest.warns(SelectionDroppedWarning, match="was not written"):
        potential_bytes(pot)


def test_cli_train_says_the_block_was_dropped(tmp_path, capsys):
    w = build("train from a file with an MLIP-3 block", tmp_path)
    err = capsys.readouterr().err
    assert "mtpflow train: warning: MLIP-3's active-learning state" in err and "with_block.almtp" in err
    assert b"#" not in w.path.read_bytes()


def test_cli_init_mtp_from_template_says_the_block_was_dropped(tmp_path, capsys):
    w = build("init-mtp from-template of a file with an MLIP-3 block", tmp_path)
    err = capsys.readouterr().err
    assert "mtpflow init-mtp: warning: MLIP-3's active-learning state" in err and "mlip_like.almtp" in err
    assert b"#" not in w.path.read_bytes()


def test_cli_convert_keeps_or_drops_the_block(tmp_path, capsys):
    src = _with_block(tmp_path)
    assert main(["convert", str(src), str(tmp_path / "kept.almtp")]) == 0
    assert (tmp_path / "kept.almtp").read_bytes() == src.read_bytes()
    assert "active-learning block kept" in capsys.readouterr().err
    assert main(["convert", str(src), str(tmp_path / "dropped.mtp"), "--drop-selection"]) == 0
    assert b"#" not in (tmp_path / "dropped.mtp").read_bytes()
    assert "left out (--drop-selection)" in capsys.readouterr().err
    # a wrong element count, a structure output and a frame index are refused, nothing written
    for argv, msg in (([str(tmp_path / "x.mtp"), "--species", "Li,Cl"], "species_count = 3"),
                      ([str(tmp_path / "x.cfg")], "a potential converts only to a potential"),
                      ([str(tmp_path / "x.mtp"), "--index", "0"], "--index selects structure frames")):
        assert main(["convert", str(src), *argv]) == 2
        assert msg in capsys.readouterr().err
        assert not (tmp_path / "x.mtp").exists() and not (tmp_path / "x.cfg").exists()


def test_mlip3_block_of_a_real_mlip_file_kept_and_energies_unchanged(tmp_path):
    w = build("MLIP trained_L08 relabelled", tmp_path)
    from tests.conftest import shared_path

    original = read_mtp(shared_path("mlip_reference", "trained_L08.almtp"))
    pot = read_mtp(w.path)
    assert pot.selection.data == original.selection.data and len(pot.selection.data) > 10 ** 6
    assert np.array_equal(pot.get_params(), original.get_params()) and pot.scaling == original.scaling
    # rewriting the rewritten file is stable byte for byte
    write_mtp(tmp_path / "again.almtp", pot)
    assert (tmp_path / "again.almtp").read_bytes() == w.path.read_bytes()
