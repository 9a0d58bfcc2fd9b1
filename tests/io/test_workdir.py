"""Working folders of external programs: emptied only when mtpflow wrote them, state files removed
by name, outputs linked (or copied) atomically."""

from __future__ import annotations

import pytest

from mtpflow.errors import InputError
from mtpflow.io.workdir import MARKER, fresh_workdir, link_or_copy, remove_files


@pytest.mark.parametrize("known, text", [
    (MARKER, ""), ("mtpflow_vasp.json", "{}"),
    ("manifest.json", '{"directories": ["a"], "volume_factors": [1.0], "species": ["Li"]}'),
])
def test_fresh_workdir_empties_folders_mtpflow_wrote(tmp_path, known, text):
    d = tmp_path / "run"
    (d / "sub").mkdir(parents=True)
    (d / known).write_text(text)
    (d / "sub" / "vasprun.xml").write_text("<old/>")
    (d / "vasp.out").write_text("old")
    assert fresh_workdir(d) == d
    assert sorted(p.name for p in d.iterdir()) == [MARKER]


def test_fresh_workdir_creates_and_refuses(tmp_path):
    d = fresh_workdir(tmp_path / "a" / "b")
    assert (d / MARKER).is_file()
    (tmp_path / "empty").mkdir()
    assert (fresh_workdir(tmp_path / "empty") / MARKER).is_file()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "data.txt").write_text("keep")
    for manifest in (None, '{"name": "another tool"}', "not json"):
        if manifest is not None:  # someone else's manifest.json is no licence to empty the folder
            (foreign / "manifest.json").write_text(manifest)
        with pytest.raises(InputError, match="did not write"):
            fresh_workdir(foreign)
        assert (foreign / "data.txt").read_text() == "keep" and not (foreign / MARKER).exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        fresh_workdir(tmp_path / "f")


def test_remove_files_and_link_or_copy(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).write_text(name)
    assert remove_files(tmp_path, ["a", "missing", "b"]) == ["a", "b"]
    assert not (tmp_path / "a").exists()
    src = tmp_path / "src.log"
    src.write_text("log\n")
    dst = tmp_path / "out" / "x.log"
    link_or_copy(src, dst)
    assert dst.read_text() == "log\n" and dst.stat().st_ino == src.stat().st_ino
    dst.write_text("replaced")  # a hard link: the source sees it
    assert src.read_text() == "replaced"
    with pytest.raises(InputError, match="did not write it"):
        link_or_copy(tmp_path / "nope", dst)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["x.log"]
