"""`mtpflow calc-grade` and `mtpflow select-add`: outputs, the active-set cache, bad input."""

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.io.mtp import read_mtp, write_mtp
from mtpflow.mtp import grade as grade_mod
from mtpflow.mtp.grade import build_active_set, grade_configs
from mtpflow.mtp.selection import select_add
from mtpflow.structures import Configuration
from tests.conftest import shared_path
from tests.train.synth import random_configs, random_potential


@pytest.fixture
def synth(tmp_path):
    pot = random_potential(6, seed=3)
    train = random_configs(30, seed=0)
    for c in train:
        c.features = [("EFS_by", "VASP")]
    configs = random_configs(4, seed=1)
    configs[0].atom_data = {"charge": np.linspace(-1, 1, configs[0].n_atoms)}
    configs[1].features = [("MV_grade", "7.0"), ("note", "kept")]
    paths = {"pot": tmp_path / "pot.mtp", "train": tmp_path / "train.cfg", "in": tmp_path / "in.cfg",
             "cache": tmp_path / "cache"}
    write_mtp(paths["pot"], pot)
    write_cfg(paths["train"], train)
    write_cfg(paths["in"], configs)
    return pot, train, configs, {k: str(v) for k, v in paths.items()}


def _grade(p, out, *extra):
    return main(["calc-grade", p["pot"], p["train"], p["in"], str(out), "--cache-dir", p["cache"], *extra])


def test_calc_grade_writes_grades_and_keeps_everything(synth, tmp_path):
    pot, train, configs, p = synth
    out = tmp_path / "out.cfg"
    assert _grade(p, out) == 0
    got = read_cfg(out)
    ref = grade_configs(read_mtp(p["pot"]), build_active_set(pot, read_cfg(p["train"]), "nbh"), configs)
    for k, (g, c) in enumerate(zip(got, configs)):
        feats = dict(g.features)
        assert [name for name, _ in g.features].count("MV_grade") == 1
        assert float(feats["MV_grade"]) == g.atom_data["nbh_grades"].max()
        assert float(feats["MV_grade"]) == pytest.approx(ref.grades[k], rel=1e-12)
        np.testing.assert_allclose(g.atom_data["nbh_grades"], ref.nbh_grades[k], rtol=1e-12)
        np.testing.assert_array_equal(g.positions, c.positions)
        np.testing.assert_array_equal(g.forces, c.forces)
        np.testing.assert_array_equal(g.plus_stress, c.plus_stress)
        assert g.energy == c.energy
    assert dict(got[1].features)["note"] == "kept" and dict(got[1].features)["MV_grade"] != "7.0"
    np.testing.assert_array_equal(got[0].atom_data["charge"], configs[0].atom_data["charge"])
    # OUT = IN, and grading a graded file again gives the same file
    assert _grade({**p, "in": str(out)}, out) == 0
    assert out.read_text() == (tmp_path / "out.cfg").read_text()
    twice = read_cfg(out)
    assert [dict(c.features)["MV_grade"] for c in twice] == [dict(c.features)["MV_grade"] for c in got]


def test_calc_grade_cfg_mode_has_no_nbh_grades(synth, tmp_path):
    pot, train, configs, p = synth
    out = tmp_path / "nbh.cfg"
    assert _grade(p, out) == 0
    out2 = tmp_path / "cfg.cfg"
    assert _grade({**p, "in": str(out)}, out2, "--mode", "cfg") == 0
    got = read_cfg(out2)
    ref = grade_configs(pot, build_active_set(pot, train, "cfg"), configs).grades
    for g, r in zip(got, ref):
        assert "nbh_grades" not in g.atom_data
        assert float(dict(g.features)["MV_grade"]) == pytest.approx(r, rel=1e-12)


def test_cache_hit_and_misses(synth, tmp_path, capsys, monkeypatch):
    pot, train, configs, p = synth
    assert _grade(p, tmp_path / "a.cfg") == 0
    assert "built from" in capsys.readouterr().out
    # a hit does no MaxVol at all
    with monkeypatch.context() as mp:
        mp.setattr(grade_mod, "maxvol", lambda *a, **k: pytest.fail("MaxVol ran on a cache hit"))
        assert _grade(p, tmp_path / "b.cfg") == 0
    assert "from the cache" in capsys.readouterr().out
    assert (tmp_path / "a.cfg").read_text() == (tmp_path / "b.cfg").read_text()
    # another training set (one atom moved) or another potential (one coefficient) misses
    moved = [Configuration(c.positions.copy(), c.types, c.cell) for c in train]
    moved[5].positions[0, 0] += 1e-6
    write_cfg(tmp_path / "train2.cfg", moved)
    assert _grade({**p, "train": str(tmp_path / "train2.cfg")}, tmp_path / "c.cfg") == 0
    assert "built from" in capsys.readouterr().out
    pot2 = pot.copy()
    pot2.moment_coeffs[0] *= 1.0 + 1e-9
    write_mtp(tmp_path / "pot2.mtp", pot2)
    assert _grade({**p, "pot": str(tmp_path / "pot2.mtp")}, tmp_path / "d.cfg") == 0
    assert "built from" in capsys.readouterr().out
    # the energies and forces of the training set do not enter the rows: still a hit
    relabelled = read_cfg(p["train"])
    for c in relabelled:
        c.energy = 0.0
    write_cfg(tmp_path / "train3.cfg", relabelled)
    assert _grade({**p, "train": str(tmp_path / "train3.cfg")}, tmp_path / "e.cfg") == 0
    assert "from the cache" in capsys.readouterr().out
    # a damaged entry is recomputed, never trusted
    entries = sorted((tmp_path / "cache").glob("*.npz"))
    assert len(entries) == 3
    key = grade_mod.cache_key(pot, train, "nbh")
    entry = tmp_path / "cache" / f"{key}.npz"
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])
    assert _grade(p, tmp_path / "f.cfg") == 0
    assert "unreadable cache entry" in capsys.readouterr().out
    assert (tmp_path / "f.cfg").read_text() == (tmp_path / "a.cfg").read_text()
    # an entry whose numbers were changed (valid npz, stale checksum) is not used either
    import io
    import json

    with np.load(entry) as z:
        arrays = {k: np.array(z[k]) for k in z.files}
    arrays["A_inv"][0, 0] += 1.0
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    entry.write_bytes(buf.getvalue())
    assert json.loads(bytes(arrays["header"]).decode())["key"] == key
    assert _grade(p, tmp_path / "g.cfg") == 0
    assert "checksum mismatch" in capsys.readouterr().out
    assert (tmp_path / "g.cfg").read_text() == (tmp_path / "a.cfg").read_text()
    assert main(["calc-grade", p["pot"], p["train"], p["in"], str(tmp_path / "h.cfg"), "--no-cache",
                 "--cache-dir", str(tmp_path / "nocache")]) == 0
    assert not (tmp_path / "nocache").exists()


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)


def test_bad_input(synth, tmp_path, capsys):
    pot, train, configs, p = synth
    out = tmp_path / "out.cfg"
    # the training set's types do not fit the potential's species count
    bad = [Configuration(c.positions, np.where(c.types == 2, 3, c.types), c.cell) for c in train]
    write_cfg(tmp_path / "t4.cfg", bad)
    assert _grade({**p, "train": str(tmp_path / "t4.cfg")}, out) == 2
    _one_line_error(capsys, "t4.cfg", "type 3", "species_count = 3")
    two = [Configuration(c.positions, np.minimum(c.types, 1), c.cell) for c in train]
    write_cfg(tmp_path / "t2.cfg", two)
    assert _grade({**p, "train": str(tmp_path / "t2.cfg")}, out) == 2
    _one_line_error(capsys, "t2.cfg", "no atoms of type 2")
    # an untrained potential
    template = pot.copy()
    template.radial_coeffs = template.species_coeffs = template.moment_coeffs = None
    write_mtp(tmp_path / "untrained.mtp", template)
    assert _grade({**p, "pot": str(tmp_path / "untrained.mtp")}, out) == 2
    _one_line_error(capsys, "untrained.mtp", "untrained template")
    # a training set with no atoms
    write_cfg(tmp_path / "empty_atoms.cfg", [Configuration(np.zeros((0, 3)), [])])
    assert _grade({**p, "train": str(tmp_path / "empty_atoms.cfg")}, out) == 2
    _one_line_error(capsys, "empty_atoms.cfg", "no atoms")
    # IN with a type beyond the potential's
    write_cfg(tmp_path / "bad_in.cfg", [configs[0], Configuration(configs[1].positions,
                                                                  configs[1].types + 5, configs[1].cell)])
    assert _grade({**p, "in": str(tmp_path / "bad_in.cfg")}, out) == 2
    _one_line_error(capsys, "bad_in.cfg", "configuration 1", "type")
    # a candidate with a type the potential lacks is named
    args = ["select-add", p["pot"], p["train"], str(tmp_path / "bad_in.cfg"), str(out), "--cache-dir", p["cache"]]
    assert main(args) == 2
    _one_line_error(capsys, "bad_in.cfg", "configuration 1", "type")
    # empty candidates, a bad --max-configs, a missing potential
    (tmp_path / "none.cfg").write_text("")
    args = ["select-add", p["pot"], p["train"], str(tmp_path / "none.cfg"), str(out), "--cache-dir", p["cache"]]
    assert main(args) == 2
    _one_line_error(capsys, "none.cfg", "no candidate configurations")
    assert main(["select-add", p["pot"], p["train"], p["in"], str(out), "--max-configs", "0"]) == 2
    _one_line_error(capsys, "--max-configs")
    assert main(["select-add", p["pot"], p["train"], p["in"], str(out), "--threshold", "0.5"]) == 2
    _one_line_error(capsys, "--threshold")
    assert _grade({**p, "pot": str(tmp_path / "missing.mtp")}, out) == 2
    _one_line_error(capsys, "missing.mtp")
    assert not out.exists()


@pytest.fixture(scope="module")
def guidebook(tmp_path_factory):
    d = tmp_path_factory.mktemp("sel")
    pot_path = shared_path("mlip_reference", "trained_L08.almtp")
    train = read_cfg(shared_path("guidebook_LiAlCl4", "training.cfg"))
    test = read_cfg(shared_path("guidebook_LiAlCl4", "test.cfg"))
    # candidates: the test set, some of it three times, and a few training configurations
    cands = test + test[:10] + test[5:8] + train[:4]
    write_cfg(d / "cands.cfg", cands)
    pot = read_mtp(pot_path)
    active = build_active_set(pot, train, "nbh")
    return pot, str(pot_path), str(shared_path("guidebook_LiAlCl4", "training.cfg")), train, cands, active, d


def _select(gb, out, *extra):
    pot, pot_path, train_path, train, cands, active, d = gb
    return main(["select-add", pot_path, train_path, str(d / "cands.cfg"), str(out),
                 "--cache-dir", str(d / "cache"), *extra])


def _check_selection(gb, out):
    """The four properties of select-add's output."""
    pot, pot_path, train_path, train, cands, active, d = gb
    sel = read_cfg(out)
    grades_before = grade_configs(pot, active, sel).grades
    assert (grades_before > 1.001).all()  # 1. nothing that grades <= the threshold
    keys = [(c.positions.tobytes(), c.types.tobytes()) for c in sel]
    assert len(set(keys)) == len(keys)  # 2. no duplicated selections
    after = build_active_set(pot, train + sel, "nbh")  # 3. appended to TRAIN: <= 1 (threshold)
    assert grade_configs(pot, after, sel).grades.max() <= 1.001
    return sel


@pytest.mark.slow
def test_select_add_properties(guidebook, tmp_path, capsys):
    pot, pot_path, train_path, train, cands, active, d = guidebook
    out = tmp_path / "sel.cfg"
    assert _select(guidebook, out) == 0
    assert "13 duplicate(s) ignored" in capsys.readouterr().out
    sel = _check_selection(guidebook, out)
    res = select_add(pot, active, cands)
    assert 3 <= len(sel) == len(res.selected) < res.n_eligible
    # 4. OUT holds exactly the candidates with a row in the new active set, whole and in order
    in_active = sorted({-2 - int(k) for k in res.active.source[:, 0] if k <= -2})
    assert in_active == res.selected
    for c, k in zip(sel, res.selected):
        np.testing.assert_array_equal(c.positions, cands[k].positions)
        np.testing.assert_array_equal(c.forces, cands[k].forces)
        assert c.energy == cands[k].energy and res.duplicate_of[k] == -1
    # every candidate row that could enter now grades <= the threshold against the new set
    eligible = [c for k, c in enumerate(cands) if res.grades[k] > 1.001 and res.duplicate_of[k] < 0]
    assert grade_configs(pot, res.active, eligible).grades.max() <= 1.001 + 1e-9


@pytest.mark.slow
def test_select_add_max_configs(guidebook, tmp_path):
    pot, pot_path, train_path, train, cands, active, d = guidebook
    full = select_add(pot, active, cands)
    top = int(np.argmax(full.grades))
    out = tmp_path / "one.cfg"
    assert _select(guidebook, out, "--max-configs", "1") == 0
    one = _check_selection(guidebook, out)
    assert len(one) == 1 and np.array_equal(one[0].positions, cands[top].positions)
    res3 = select_add(pot, active, cands, max_configs=3)
    assert len(res3.selected) <= 3 and res3.order[0] == top
    assert set(res3.order) == set(res3.selected)
    out3 = tmp_path / "three.cfg"
    assert _select(guidebook, out3, "--max-configs", "3") == 0
    assert len(_check_selection(guidebook, out3)) == len(res3.selected)


def test_select_add_nothing_to_select(guidebook, tmp_path, capsys):
    pot, pot_path, train_path, train, cands, active, d = guidebook
    write_cfg(d / "train_only.cfg", train[10:20])
    out = tmp_path / "none.cfg"
    assert main(["select-add", pot_path, train_path, str(d / "train_only.cfg"), str(out),
                 "--cache-dir", str(d / "cache")]) == 0
    assert out.read_text() == "" and "0 selected" in capsys.readouterr().out
