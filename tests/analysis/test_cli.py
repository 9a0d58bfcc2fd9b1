"""`mtpflow analyze`, `sweep` and `report` end to end on small synthetic files and fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from .conftest import write_dump, write_extxyz
from .report_inputs import write_inputs

from mtpflow.analysis.synthetic import lattice_hopping, wrap
from mtpflow.cli import main

FIX = Path(__file__).parent / "fixtures"
REQUIRED_KEYS = {"species", "n_frames", "dt_ps", "D_A2_per_ps", "conductivity_S_per_cm", "msd",
                 "alpha2", "hop_fraction", "n_hops", "p_casc", "p_casc_null"}


def _lattice_file(path, n_al=3, seed=5):
    pos, cell, truth = lattice_hopping(n_frames=1500, n_sites_side=5, n_ions=80, hop_prob=6e-4,
                                       cascade_prob=0.6, seed=seed)
    write_extxyz(path, wrap(pos, cell), cell, others=(("Al", n_al), ("Cl", 4)))
    return truth


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    d = tmp_path_factory.mktemp("an")
    out = {}
    for n_al, temp in ((2, 600.0), (4, 600.0)):
        traj = d / f"li_al{n_al}.xyz"
        truth = _lattice_file(traj, n_al)
        outdir = d / f"al{n_al}"
        rc = main(["analyze", str(traj), "--species", "Li", "--temperature-K", str(temp),
                   "--lags-ps", "0.1,1,5", "--outdir", str(outdir)])
        assert rc == 0
        out[n_al] = (outdir, truth)
    return d, out


@pytest.mark.slow
def test_analyze_outputs(analysed):
    _, out = analysed
    outdir, truth = out[2]
    s = json.loads((outdir / "summary.json").read_text())
    assert REQUIRED_KEYS <= set(s)
    assert s["species"] == "Li" and s["n_frames"] == 1500 and s["dt_ps"] == pytest.approx(0.01)
    assert s["n_hops"] == truth.ion.size
    assert s["conductivity_S_per_cm"] > 0 and s["haven_ratio"] == 1.0
    assert s["p_casc"] > 3 * s["p_casc_null"]
    assert 1.0 < s["hop_distance_A"] < 2.5 and "minimum of P(r,t)" in s["hop_distance_source"]
    assert "cage peak" in s["hop_distance_reason"] and s["hop_distance_window_A"] == [1.5, 4.5]
    assert s["p_casc_exceeds_null"] is True and s["p_casc_verdict"].startswith("exceeds the null")
    assert s["vanhove_lags_ps"] == pytest.approx([0.1, 1.0, 5.0])
    assert len(s["alpha2"]["lag_ps"]) == len(s["alpha2"]["value"])
    for name in ("msd", "vanhove", "alpha2", "hops", "ions", "residence", "cascades"):
        assert (outdir / f"{name}.csv").stat().st_size > 0
    for name in ("msd", "vanhove", "alpha2", "hops", "cascades"):
        assert (outdir / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    msd = pd.read_csv(outdir / "msd.csv")
    assert len(msd) == 1500 and list(msd.columns) == ["lag_ps", "msd_A2", "n_origins"]
    hops = pd.read_csv(outdir / "hops.csv")
    assert len(hops) == s["n_hops"] and hops["is_cascade"].sum() == s["n_cascade_hops"]
    vh = pd.read_csv(outdir / "vanhove.csv")
    for _, g in vh.groupby("lag_ps"):
        assert g["P_per_A"].sum() * s["vanhove_dr_A"] == pytest.approx(1.0, abs=1e-6)


def test_analyze_without_temperature_and_bad_input(tmp_path, capsys):
    pos = np.cumsum(np.random.default_rng(0).normal(scale=0.1, size=(60, 5, 3)), axis=0)
    cell = np.eye(3) * 8
    f = tmp_path / "b.dump"
    write_dump(f, wrap(pos, cell), cell)
    assert main(["analyze", str(f), "--species", "1", "--outdir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--frame-interval-fs" in err and "Traceback" not in err
    assert main(["analyze", str(f), "--species", "1", "--frame-interval-fs", "10",
                 "--outdir", str(tmp_path / "o")]) == 0
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["conductivity_S_per_cm"] is None
    assert "give --temperature-K" in capsys.readouterr().err
    assert main(["analyze", str(f), "--species", "7", "--frame-interval-fs", "10",
                 "--outdir", str(tmp_path / "p")]) == 2
    assert "types present: 1, 2" in capsys.readouterr().err
    assert main(["analyze", str(f), "--species", "1", "--frame-interval-fs", "10",
                 "--hop-window", "4,2", "--outdir", str(tmp_path / "p")]) == 2
    assert "--hop-window takes low,high" in capsys.readouterr().err
    assert not (tmp_path / "p" / "summary.json").exists()


@pytest.mark.slow
def test_sweep_table_and_plots(analysed, tmp_path):
    _, out = analysed
    csv = tmp_path / "sweep.csv"
    assert main(["sweep", str(out[2][0]), str(out[4][0] / "summary.json"), "--out", str(csv)]) == 0
    df = pd.read_csv(csv)
    assert len(df) == 2 and sorted(df["x"]) == [20.0, 40.0]
    assert {"cc_density_per_nm3", "D_A2_per_ps", "conductivity_S_per_cm", "hop_fraction",
            "p_casc", "p_casc_null"} <= set(df.columns)
    # both compositions have the same [CC] (same cell and Li count): a trend only against x
    assert (tmp_path / "sweep_vs_x.png").exists() and not (tmp_path / "sweep_vs_cc.png").exists()
    for n_al, row in zip((2, 4), df.sort_values("x", ascending=False).itertuples()):
        s = json.loads((out[n_al][0] / "summary.json").read_text())
        assert row.p_casc_null_std == pytest.approx(s["p_casc_null_std"])
        assert row.p_casc_z == pytest.approx(s["p_casc_z"]) and row.p_casc_exceeds_null
        assert row.p_casc_verdict == s["p_casc_verdict"]
        assert row.hop_distance_A == pytest.approx(s["hop_distance_A"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"species": "Li"}')
    assert main(["sweep", str(bad), "--out", str(tmp_path / "s2.csv")]) == 2


@pytest.mark.slow
def test_report_all_sections(analysed, tmp_path, capsys):
    _, out = analysed
    sweep = tmp_path / "sweep.csv"
    main(["sweep", str(out[2][0]), str(out[4][0]), "--out", str(sweep), "--no-plots"])
    html = tmp_path / "report.html"
    rc = main(["report", "--out", str(html), "--title", "LiAlCl4 test", *write_inputs(tmp_path),
               "--dataset-summary", str(FIX / "dataset_summary.csv"),
               "--train-log", str(FIX / "train_log.csv"), str(FIX / "train_log_partial.csv"),
               "--errors", str(FIX / "errors.json"), "--parity-plots", str(FIX),
               "--thermo", str(FIX / "thermo.csv"), "--analysis", str(out[2][0]),
               "--sweep", str(sweep)])
    assert rc == 0
    text = html.read_text()
    assert "absent" not in capsys.readouterr().err
    # active learning is off here: the section says so; it is neither content nor a warning
    assert "Not run: active learning is off in this config" in text
    for title in ("What produced this report", "Configuration as used",
                  "Model and training settings", "Dataset summary", "Training curve",
                  "Validation metrics", "Parity plots", "MD thermodynamics",
                  "Dynamic heterogeneity", "Composition sweep", "Wall time per rule"):
        assert f">{title}</h2>" in text
    # training 2, parity 1, thermo 2 (the run, the plain file), analysis 5, sweep 2 (vs [CC] has
    # one value: vs x and vs T... T has one value too: vs x only) -> 1
    assert text.count("data:image/png;base64,") == 2 + 1 + 2 + 5 + 1
    assert "0.0042" in text and "density_g_cm3" in text and "p_casc" in text
    assert "src=\"http" not in text and "<link" not in text          # self-contained


def test_report_absent_stages(tmp_path, capsys):
    html = tmp_path / "r.html"
    rc = main(["report", "--out", str(html), "--thermo", str(tmp_path / "missing.csv"),
               "--errors", str(FIX / "thermo.csv")])
    assert rc == 0
    text = html.read_text()
    assert "not provided" in text and "missing.csv: not found" in text
    assert "not valid JSON" in text
    err = capsys.readouterr().err
    assert "Training curve: absent" in err and "MD thermodynamics: absent" in err
