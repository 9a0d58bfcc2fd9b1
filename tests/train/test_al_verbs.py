"""The pieces of the active-learning loop (issue 12 item 4): md --grade-status and --density-factor
with a start file, densify --as-is, al-select, al-extend, al-summary and the report's section."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.io.cfg import iter_cfg, read_cfg, write_cfg
from mtpflow.structures import Configuration
from tests.conftest import shared_path

SPECIES = "Li,Cl,Al"  # the guidebook's type order


@pytest.fixture
def guidebook(tmp_path, monkeypatch):
    """MLIP-3's trained level-8 potential, its training set, and test configurations: 77 grades
    1.21 (extrapolation), 0 and 1 lie inside the training domain."""
    monkeypatch.setenv("MTPFLOW_CACHE_DIR", str(tmp_path / "cache"))
    pot = str(shared_path("mlip_reference", "trained_L08.almtp"))
    train = str(shared_path("guidebook_LiAlCl4", "training.cfg"))
    test = read_cfg(shared_path("guidebook_LiAlCl4", "test.cfg"))
    write_cfg(tmp_path / "start.cfg", [test[77]])
    return pot, train, test


def _md(tmp_path, pot, start, *extra):
    return main(["md", pot, start, "--species", SPECIES, "--ensemble", "nvt", "--temperature-K", "600",
                 "--steps", "40", "--timestep-fs", "0.5", "--thermo-every", "5", "--traj-every", "10",
                 "--traj", str(tmp_path / "t.extxyz"), "--thermo", str(tmp_path / "t.csv"),
                 "--threads", "1", *extra])


def test_grade_status_turns_the_extrapolation_stop_into_success(tmp_path, guidebook, capsys):
    pot, train, _ = guidebook
    status, x = tmp_path / "status.json", tmp_path / "x.cfg"
    rc = _md(tmp_path, pot, str(tmp_path / "start.cfg"), "--grade-train", train, "--extrapolative",
             str(x), "--grade-save", "1.05", "--grade-break", "1.15", "--grade-every", "2",
             "--grade-status", str(status))
    assert rc == 0
    err = capsys.readouterr().err
    step = int(err.split("stopped by extrapolation at step ")[1].split(":")[0])
    st = json.loads(status.read_text())
    assert st["stopped_by_extrapolation"] is True and st["step"] == st["steps_run"] == step
    assert st["grade"] > 1.15 and st["max_grade"] == st["grade"] and st["total_steps"] == 40
    saved = read_cfg(x)
    assert st["n_saved"] == len(saved) and float(dict(saved[-1].features)["MV_grade"]) == st["grade"]
    for name in ("t.extxyz", "t.csv", "x.cfg"):
        assert (tmp_path / name).exists() and not (tmp_path / (name + ".part")).exists()


def test_grade_status_of_a_completed_run(tmp_path, guidebook, capsys):
    pot, train, _ = guidebook
    status = tmp_path / "status.json"
    assert _md(tmp_path, pot, str(tmp_path / "start.cfg"), "--grade-train", train, "--extrapolative",
               str(tmp_path / "x.cfg"), "--grade-every", "10", "--grade-status", str(status)) == 0
    st = json.loads(status.read_text())
    assert st["stopped_by_extrapolation"] is False and st["grade"] is None
    assert st["step"] == st["steps_run"] == st["total_steps"] == 40 and st["n_graded"] == 4
    assert 1.0 < st["max_grade"] < 2.0 and st["n_saved"] == 0
    assert (tmp_path / "x.cfg").read_text() == ""
    # the option needs extrapolation control
    assert _md(tmp_path, pot, str(tmp_path / "start.cfg"), "--grade-status", str(status)) == 2
    assert "--grade-status needs --grade-train" in capsys.readouterr().err


def test_grade_status_records_a_blow_up(tmp_path, guidebook, capsys):
    """An exploration run that the blow-up protection stops (two atoms far below min_dist) ends
    with status 0 under --grade-status, its outputs complete and the stop recorded."""
    pot, train, test = guidebook
    c = test[0]
    c.positions[1] = c.positions[0] + np.array([1.0, 0.0, 0.0])  # 1 Å: below min_dist - margin
    write_cfg(tmp_path / "close.cfg", [c])
    status = tmp_path / "status.json"
    args = ["--grade-train", train, "--extrapolative", str(tmp_path / "x.cfg"), "--grade-break", "1e9"]
    assert _md(tmp_path, pot, str(tmp_path / "close.cfg"), *args) == 2      # without: a failure
    assert "MD blew up at step 0" in capsys.readouterr().err
    assert _md(tmp_path, pot, str(tmp_path / "close.cfg"), *args, "--grade-status", str(status)) == 0
    st = json.loads(status.read_text())
    assert st["blew_up"] is True and "came 1.000 Å apart" in st["blow_up"] and st["step"] == 0
    assert st["stopped_by_extrapolation"] is False
    for name in ("t.extxyz", "t.csv", "x.cfg"):
        assert (tmp_path / name).exists() and not (tmp_path / (name + ".part")).exists()
    assert (tmp_path / "t.last_good.extxyz").exists()
    write_cfg(tmp_path / "empty.cfg", [])
    assert main(["al-select", pot, train, "--candidates", str(tmp_path / "x.cfg"), "--status", str(status),
                 "--out", str(tmp_path / "sel.cfg"), "--record", str(tmp_path / "rec.json")]) == 0
    assert json.loads((tmp_path / "rec.json").read_text())["n_blew_up"] == 1


def test_density_factor_scales_a_start_file(tmp_path, guidebook):
    import ase.io

    from mtpflow.data.crystal import reference_density, volume_for_density

    pot, _, test = guidebook
    start = test[77]
    assert _md(tmp_path, pot, str(tmp_path / "start.cfg"), "--density-factor", "1.25") == 0
    first = ase.io.read(tmp_path / "t.extxyz", index=0)
    d_ref, _ = reference_density()
    want = volume_for_density(float(first.get_masses().sum()), 1.25 * d_ref)
    assert first.cell.volume == pytest.approx(want, rel=1e-9)  # extxyz text
    assert abs(np.linalg.det(start.cell)) != pytest.approx(want, rel=1e-3)  # it was scaled


def test_densify_as_is_keeps_the_frames(tmp_path, guidebook, capsys):
    from ase import Atoms

    from mtpflow.data.crystal import reference_density
    from mtpflow.data.densify import as_is

    _, _, test = guidebook
    symbols = np.array(["Li", "Cl", "Al"])
    frames = [Atoms(symbols[c.types], positions=c.positions, cell=c.cell, pbc=True) for c in test[:3]]
    d_ref, _ = reference_density()
    out = as_is(frames, d_ref, "sel")
    for a, b in zip(frames, out):
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell[:], b.cell[:])
        assert b.info["density_g_cm3"] == pytest.approx(
            float(a.get_masses().sum()) / a.cell.volume * 1.66053906660, rel=1e-6)
    assert [b.info["feature_mtpflow_frame"] for b in out] == ["sel:0", "sel:1", "sel:2"]
    write_cfg(tmp_path / "sel.cfg", test[:2])
    rc = main(["densify", str(tmp_path / "sel.cfg"), "--as-is", "--volume-factors", "1.0",
               "--species", SPECIES, "--out", str(tmp_path / "o.cfg")])
    assert rc == 2 and "leave out --volume-factors" in capsys.readouterr().err


@pytest.mark.slow
def test_densify_as_is_with_chgnet(tmp_path, guidebook):
    _, _, test = guidebook
    write_cfg(tmp_path / "sel.cfg", test[:2])
    assert main(["densify", str(tmp_path / "sel.cfg"), "--as-is", "--engine", "chgnet", "--threads",
                 "1", "--species", SPECIES, "--out", str(tmp_path / "o.cfg")]) == 0
    out = read_cfg(tmp_path / "o.cfg")
    assert len(out) == 2
    for a, b in zip(test[:2], out):
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.types, b.types)
        assert np.array_equal(a.cell, b.cell)
        assert b.energy is not None and b.energy != a.energy  # CHGNet's, not the DFT label
        assert dict(b.features)["EFS_by"].startswith("CHGNet")


def _candidates(test):
    """Two extrapolative test configurations (one twice) and one inside the domain."""
    return [test[77], test[77], test[0]]


def test_al_select_over_several_runs(tmp_path, guidebook, capsys):
    pot, train, test = guidebook
    cand = _candidates(test)
    write_cfg(tmp_path / "a.cfg", cand[:2])
    write_cfg(tmp_path / "b.cfg", cand[2:])
    write_cfg(tmp_path / "empty.cfg", [])
    for name, stopped, g in (("s1.json", True, 12.5), ("s2.json", False, 1.7), ("s3.json", False, 0.9)):
        (tmp_path / name).write_text(json.dumps({"stopped_by_extrapolation": stopped, "max_grade": g}))
    rc = main(["al-select", pot, train, "--candidates", str(tmp_path / "a.cfg"), str(tmp_path / "b.cfg"),
               str(tmp_path / "empty.cfg"), "--status", *(str(tmp_path / f"s{k}.json") for k in (1, 2, 3)),
               "--iteration", "3", "--species", SPECIES, "--out", str(tmp_path / "sel.cfg"),
               "--record", str(tmp_path / "rec.json")])
    assert rc == 0
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert rec["iteration"] == 3 and rec["n_runs"] == 3 and rec["n_stopped_by_extrapolation"] == 1
    assert rec["n_candidates"] == 3 and rec["n_duplicates"] == 1 and rec["max_grade"] == 12.5
    assert rec["n_train"] == len(read_cfg(train))
    selected = read_cfg(tmp_path / "sel.cfg")
    assert rec["n_selected"] == len(selected) >= 1
    # the same selection as select-add over the merged candidates
    write_cfg(tmp_path / "all.cfg", cand)
    assert main(["select-add", pot, train, str(tmp_path / "all.cfg"), str(tmp_path / "ref.cfg")]) == 0
    ref = read_cfg(tmp_path / "ref.cfg")
    assert len(ref) == len(selected)
    for a, b in zip(ref, selected):
        assert np.array_equal(a.positions, b.positions)
    assert rec["selected_from"][0] == f"{tmp_path / 'a.cfg'}:0"


def test_al_select_with_nothing_saved_has_converged(tmp_path, guidebook, capsys):
    pot, train, _ = guidebook
    write_cfg(tmp_path / "empty.cfg", [])
    (tmp_path / "s.json").write_text(json.dumps({"stopped_by_extrapolation": False, "max_grade": 1.4}))
    assert main(["al-select", pot, train, "--candidates", str(tmp_path / "empty.cfg"), "--status",
                 str(tmp_path / "s.json"), "--out", str(tmp_path / "sel.cfg"), "--record",
                 str(tmp_path / "rec.json")]) == 0
    assert "the loop has converged" in capsys.readouterr().out
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert rec["n_selected"] == rec["n_candidates"] == 0 and rec["max_grade"] == 1.4
    assert (tmp_path / "sel.cfg").exists() and list(iter_cfg(tmp_path / "sel.cfg")) == []
    (tmp_path / "bad.json").write_text("{}")
    assert main(["al-select", pot, train, "--candidates", str(tmp_path / "empty.cfg"), "--status",
                 str(tmp_path / "bad.json"), "--out", str(tmp_path / "sel2.cfg"), "--record",
                 str(tmp_path / "rec2.json")]) == 2
    assert "bad.json" in capsys.readouterr().err and not (tmp_path / "sel2.cfg").exists()


def _labelled(n, label="CHGNet-0.3.0", seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        c = Configuration(rng.uniform(0, 6, (4, 3)), np.array([0, 1, 2, 1]), np.eye(3) * 6.0)
        c.energy, c.forces, c.plus_stress = -3.0, rng.normal(size=(4, 3)), np.zeros(6)
        c.features = [("EFS_by", label)]
        out.append(c)
    return out


def test_al_extend(tmp_path, capsys):
    write_cfg(tmp_path / "prev.cfg", _labelled(3))
    write_cfg(tmp_path / "new.cfg", _labelled(2, seed=1))
    assert main(["al-extend", str(tmp_path / "prev.cfg"), str(tmp_path / "new.cfg"), "--species",
                 "Li,Al,Cl", "--out", str(tmp_path / "next.cfg")]) == 0
    out = read_cfg(tmp_path / "next.cfg")
    want = _labelled(3) + _labelled(2, seed=1)
    assert len(out) == 5 and all(np.array_equal(a.positions, b.positions) for a, b in zip(out, want))
    write_cfg(tmp_path / "vasp.cfg", _labelled(1, label="VASP"))
    assert main(["al-extend", str(tmp_path / "prev.cfg"), str(tmp_path / "vasp.cfg"), "--species",
                 "Li,Al,Cl", "--out", str(tmp_path / "mixed.cfg")]) == 2
    assert "mix reference engines" in capsys.readouterr().err and not (tmp_path / "mixed.cfg").exists()


def _errors(e, f, s):
    return {"energy_per_atom": {"rmse": e}, "forces": {"rmse": f}, "stress": {"rmse": s}}


def test_al_summary_rows(tmp_path):
    (tmp_path / "e0.json").write_text(json.dumps(_errors(0.010, 0.30, 0.5)))
    (tmp_path / "e1.json").write_text(json.dumps(_errors(0.006, 0.25, None)))
    (tmp_path / "r1.json").write_text(json.dumps({"iteration": 1, "n_runs": 2, "n_stopped_by_extrapolation": 1,
                                                  "n_blew_up": 1,
                                                  "n_candidates": 9, "n_selected": 4, "max_grade": 25.0,
                                                  "n_train": 30}))
    (tmp_path / "r2.json").write_text(json.dumps({"iteration": 2, "n_runs": 2, "n_stopped_by_extrapolation": 0,
                                                  "n_candidates": 0, "n_selected": 0, "max_grade": 1.8,
                                                  "n_train": 34}))
    assert main(["al-summary", "--initial", str(tmp_path / "e0.json"), "--initial-potential", "p0.mtp",
                 "--iteration", str(tmp_path / "r1.json"), str(tmp_path / "e1.json"), "p1.mtp",
                 "--iteration", str(tmp_path / "r2.json"), str(tmp_path / "e1.json"), "p1.mtp",
                 "--out", str(tmp_path / "s.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert [r["iteration"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["n_selected"] == "" and float(rows[0]["energy_rmse_meV_per_atom"]) == pytest.approx(10.0)
    assert rows[1]["n_selected"] == "4" and float(rows[1]["max_grade"]) == 25.0
    assert (rows[1]["n_stopped_by_extrapolation"], rows[1]["n_blew_up"], rows[2]["n_blew_up"]) == ("1", "1", "")
    assert float(rows[1]["energy_rmse_meV_per_atom"]) == pytest.approx(6.0)
    assert rows[1]["stress_rmse_GPa"] == "" and rows[2]["potential"] == "p1.mtp"
    assert [r["n_train"] for r in rows] == ["30", "34", "34"]  # the row's potential's training set
    assert rows[2]["n_candidates"] == "0"


def test_report_shows_the_al_summary(tmp_path):
    (tmp_path / "s.csv").write_text(
        "iteration,n_runs,n_stopped_by_extrapolation,n_blew_up,n_candidates,n_selected,max_grade,n_train,"
        "energy_rmse_meV_per_atom,force_rmse_eV_A,stress_rmse_GPa,potential\n"
        "0,,,,,,,,10.5,0.31,0.52,a.mtp\n1,2,2,0,9,4,25.5,30,6.25,0.25,0.4,b.mtp\n"
        "2,2,0,0,0,0,1.8,34,6.25,0.25,0.4,b.mtp\n")
    out = tmp_path / "r.html"
    assert main(["report", "--out", str(out), "--al-summary", str(tmp_path / "s.csv")]) == 0
    html = out.read_text()
    start = html.index("Active learning")
    section = html[start:html.index("</section>", start)] if "</section>" in html[start:] else html[start:]
    assert "configurations selected" in section and "25.5" in section and "6.25" in section
    assert "data:image/png;base64," in section
