"""`mtpflow report` says what produced it (version, engine, config, model, protocol, per-stage MD,
wall times), shows validation per density, and panels without data say why in words."""

from __future__ import annotations

import json
from importlib import metadata
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from mtpflow import __version__
from mtpflow.cli import main
from mtpflow.report import plots
from mtpflow.report.provenance import stage_summary
from mtpflow.md.protocol import protocol_from_dict

from .report_inputs import CONFIG, PROTOCOL, thermo_rows, write_inputs


class _TableParser(HTMLParser):
    """Every <table> of a page as a DataFrame of the cell texts (no type conversion)."""

    def __init__(self):
        super().__init__()
        self.tables, self.rows, self.cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.rows = []
        elif tag == "tr" and self.rows is not None:
            self.rows.append([])
        elif tag in ("td", "th") and self.rows is not None:
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None
        elif tag == "table" and self.rows:
            self.tables.append(pd.DataFrame(self.rows[1:], columns=self.rows[0]))
            self.rows = None


def _tables(html):
    parser = _TableParser()
    parser.feed(html)
    return parser.tables


def _table_with(tables, column):
    found = [t for t in tables if column in t.columns]
    assert found, f"no table with a column {column!r}"
    return found[0]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    args = write_inputs(d)
    out = d / "report.html"
    # seg000.csv is also given as a plain thermo file: it is shown with its run only
    assert main(["report", "--out", str(out), *args, "--thermo", str(d / "seg000.csv")]) == 0
    return d, out.read_text()


def _flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_versions_engine_and_config(report):
    d, html = report
    assert f"by mtpflow {__version__}" in html
    tables = _tables(html)
    prov = _table_with(tables, "source").set_index("item")["value"]
    assert prov["mtpflow version"] == __version__
    assert prov["reference engine (Feature EFS_by of the data)"] == "CHGNet-0.3.0"
    assert prov["CHGNet model"] == "0.3.0"
    assert prov["chgnet package"] == metadata.version("chgnet")
    assert prov["reference engine (config)"] == "chgnet"
    assert "3 configurations in" in html
    cfg = _table_with(tables, "key (unit in the name)").set_index("key (unit in the name)")["value"]
    for key, value in _flat(CONFIG):           # every key, in full
        want = ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in value) \
            if isinstance(value, list) else (f"{value:g}" if isinstance(value, float) else str(value))
        assert cfg[key] == want, key
    model = _table_with(tables, "MTP level")
    assert model["MTP level"].tolist() == ["8"] and model["species (type order)"].tolist() == ["Li,Al,Cl"]
    assert model["training-set hash"].tolist() == ["abcdef0123456789"]
    settings = _table_with(tables, "setting").set_index("setting")
    assert settings.loc["resources.train.tasks", "value"] == "2"
    assert settings.loc["resources.train.tasks", "unit"] == "MPI ranks"
    assert settings.loc["train.max_iter", "value"] == "400"


def test_protocol_and_md_summary_per_stage(report):
    d, html = report
    tables = _tables(html)
    proto = _table_with(tables, "T_start → T_end (K)")
    assert proto["stage"].tolist() == ["1 melt", "2 quench", "3 production"]
    assert proto["T_start → T_end (K)"].tolist() == ["1000 → 1000", "1000 → 600", "600 → 600"]
    assert proto["steps"].tolist() == ["100", "100", "200"]
    assert proto["time (ps)"].tolist() == ["0.1", "0.1", "0.2"]
    assert proto["quench rate (K/s)"].tolist() == ["–", "4e+15", "–"]   # 400 K in 100 fs
    per_stage = _table_with(tables, "T (K) mean ± std")
    df = thermo_rows()
    by_hand = [df.step <= 100, (df.step > 100) & (df.step <= 200), df.step > 200]
    assert per_stage["rows"].tolist() == [str(int(m.sum())) for m in by_hand] == ["11", "10", "20"]
    for col, label in (("temperature_K", "T (K)"), ("pressure_GPa", "P (GPa)"),
                       ("volume_A3", "V (Å³)")):
        want = [f"{df[col][m].mean():.6g} ± {df[col][m].std():.3g}" for m in by_hand]
        assert per_stage[f"{label} mean ± std"].tolist() == want
    assert per_stage["T (K) mean ± std"].tolist()[0] == "1004.55 ± 5.22"   # 6 x 1000, 5 x 1010
    # the run's thermo file is not averaged again on its own over all stages
    assert "one average over all of them" not in html


def test_stage_split_handles_rows_beyond_the_protocol():
    p = protocol_from_dict(PROTOCOL)
    df = pd.concat([thermo_rows(), pd.DataFrame([{"step": 450, "temperature_K": 1.0}])])
    out = stage_summary(df, p)
    assert out["stage"].tolist()[-1] == "beyond the protocol" and out["rows"].tolist() == [11, 10, 20, 1]


def test_wall_time_per_rule_and_wide_tables(report):
    _, html = report
    bench = _table_with(_tables(html), "total wall (s)").set_index("rule")
    assert bench.loc["md", "jobs"] == "2" and bench.loc["md", "total wall (s)"] == "50"
    assert bench.loc["md", "longest job (s)"] == "30" and bench.loc["md", "CPU time (s)"] == "90"
    assert bench.loc["md", "max RSS (MB)"] == "800"          # the NA job left out
    assert bench.loc["train", "max RSS (MB)"] == "350.2"
    assert bench.loc["all rules", "jobs"] == "3" and bench.loc["all rules", "total wall (s)"] == "62.5"
    assert bench.index[0] == "md"                             # slowest first
    assert ".scroll{overflow-x:auto" in html
    assert html.count('<div class="scroll"><table>') == html.count("<table>") - 1   # all but the index


def test_validation_by_density_table(tmp_path):
    errors = {"n_configs": 3, "n_atoms": 288,
              "energy_per_atom": {"mae": 0.01, "rmse": 0.02, "r2": 0.9, "max": 0.03, "count": 3},
              "forces": {"mae": 0.1, "rmse": 0.2, "r2": 0.95, "max": 0.5, "count": 864},
              "stress": {"mae": 0.3, "rmse": 0.4, "r2": None, "max": 0.6, "count": 12},
              "by_density": [
                  {"density_g_cm3": 1.32, "n_configs": 2,
                   "energy_per_atom": {"mae": 0.011, "rmse": 0.012, "r2": 0.5, "max": 0.013},
                   "forces": {"mae": 0.11, "rmse": 0.12, "r2": 0.8, "max": 0.13},
                   "stress": {"mae": 0.31, "rmse": 0.32, "r2": 0.7, "max": 0.33}},
                  {"density_g_cm3": None, "n_configs": 1,
                   "energy_per_atom": {"mae": 0.021, "rmse": 0.022, "r2": None, "max": 0.023},
                   "forces": {"mae": 0.21, "rmse": 0.22, "r2": None, "max": 0.23},
                   "stress": {"mae": None, "rmse": None, "r2": None, "max": None}}],
              "by_density_note": "density = mass / volume"}
    f = tmp_path / "errors.json"
    f.write_text(json.dumps(errors))
    out = tmp_path / "r.html"
    assert main(["report", "--out", str(out), "--errors", str(f)]) == 0
    tables = _tables(out.read_text())
    pooled = _table_with(tables, "forces (eV/Å)").set_index("metric")
    assert pooled.loc["RMSE", "energy (eV/atom)"] == "0.02" and pooled.loc["R²", "stress (GPa)"] == "null"
    dens = _table_with(tables, "density (g/cm³)")
    assert dens["density (g/cm³)"].tolist() == ["1.32", "no cell"]
    assert dens["energy RMSE (eV/atom)"].tolist() == ["0.012", "0.022"]
    assert dens["forces max (eV/Å)"].tolist() == ["0.13", "0.23"]
    assert dens["stress R²"].tolist() == ["0.7", "null"]


@pytest.fixture
def figures(monkeypatch):
    """Plot functions return their Figure instead of PNG bytes, to read what they draw."""
    monkeypatch.setattr(plots, "to_png", lambda fig: fig)


def _texts(ax):
    """The words drawn on an axes, line breaks undone."""
    return " ".join(t.get_text().replace("\n", " ") for t in ax.texts)


def test_empty_panels_say_why(figures):
    fig = plots.hops_plot(np.zeros(5, int), np.zeros(0))
    ax1, ax2 = fig.axes
    assert ax1.patches and not ax2.axison
    assert "no ion hopped (0 hops in all)" in _texts(ax2)
    fig = plots.hops_plot(np.array([1, 1, 0]), np.zeros(0))
    assert "no ion hopped twice (2 hops in all)" in _texts(fig.axes[1])
    fig = plots.cascades_plot(None, None, None, {}, 0)
    assert "P_casc (cascade hops / all hops) is undefined" in _texts(fig.axes[0])
    assert "no hops, so no cascades" in _texts(fig.axes[1])
    fig = plots.cascades_plot(0.0, 0.01, 0.01, {}, 7)
    assert fig.axes[0].patches and "none of the 7 hops" in _texts(fig.axes[1])


def _sweep_df(points):
    rows = [{"label": f"r{k}", "species": "Li", "temperature_K": t, "cc_density_per_nm3": cc,
             "x": x, "D_A2_per_ps": d, "conductivity_S_per_cm": 0.01 * d, "hop_fraction": 0.5,
             "p_casc": 0.2, "p_casc_null": 0.1, "p_casc_null_std": 0.02}
            for k, (t, cc, x, d) in enumerate(points)]
    return pd.DataFrame(rows)


def test_sweep_trend_and_one_state_point(figures):
    one = _sweep_df([(600, 10.0, 1.0, 0.1), (600, 10.0, 1.0, 0.3)])     # two replicas, one point
    assert plots.state_points(one) == 1 and plots.sweep_plot(one, "x") is None
    fig = plots.message_figure(plots.ONE_POINT)
    assert "a trend needs at least two (add compositions or temperatures)" in _texts(fig.axes[0])
    three = _sweep_df([(600, 10.0, 0.5, 0.1), (600, 10.0, 0.5, 0.3), (600, 14.0, 1.0, 0.5),
                       (600, 18.0, 1.5, 0.4)])
    fig = plots.sweep_plot(three, "x")
    d_ax, null_ax = fig.axes[0], fig.axes[3]
    line = d_ax.lines[0]
    assert line.get_marker() == "o" and line.get_linestyle() == "-"
    np.testing.assert_allclose(np.asarray(line.get_xdata(), float), [0.5, 1.0, 1.5])
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), [0.2, 0.5, 0.4])       # replicas averaged
    assert d_ax.containers[0].has_yerr                                   # their std as error bars
    assert any(c.has_yerr for c in null_ax.containers[1:])               # null ± std
    fig = plots.sweep_plot(_sweep_df([(500, 10.0, 1.0, 0.1), (600, 10.0, 1.0, 0.2)]),
                           "temperature_K")
    np.testing.assert_allclose(np.asarray(fig.axes[0].lines[0].get_xdata(), float), [500, 600])


def test_report_and_sweep_cli_with_one_state_point(tmp_path, capsys):
    csv = tmp_path / "sweep.csv"
    _sweep_df([(600, 10.0, 1.0, 0.1)]).to_csv(csv, index=False)
    out = tmp_path / "r.html"
    assert main(["report", "--out", str(out), "--sweep", str(csv)]) == 0
    html = out.read_text()
    assert plots.ONE_POINT in html and "data:image/png" not in html


def test_caged_only_run_through_analyze_sweep_and_report(tmp_path, capsys):
    from mtpflow.analysis.synthetic import wrap

    from .conftest import write_extxyz

    rng = np.random.default_rng(0)
    cell = np.eye(3) * 10.0
    pos = rng.normal(scale=0.2, size=(300, 20, 3)) + rng.random((20, 3)) * 10
    traj = tmp_path / "caged.xyz"
    write_extxyz(traj, wrap(pos, cell), cell)
    assert main(["analyze", str(traj), "--species", "Li", "--temperature-K", "600",
                 "--outdir", str(tmp_path / "a")]) == 0
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert s["n_hops"] == 0 and s["hop_distance_source"] == "fallback 1.6 Å"
    assert "hop distance: fallback 1.6 Å" in capsys.readouterr().err
    sweep = tmp_path / "sweep.csv"
    assert main(["sweep", str(tmp_path / "a"), "--out", str(sweep)]) == 0
    assert plots.ONE_POINT in capsys.readouterr().err
    assert (tmp_path / "sweep_vs_cc.png").read_bytes()[:4] == b"\x89PNG"   # says it, in words
    assert not (tmp_path / "sweep_vs_T.png").exists()
    out = tmp_path / "r.html"
    assert main(["report", "--out", str(out), "--analysis", str(tmp_path / "a"),
                 "--sweep", str(sweep)]) == 0
    html = out.read_text()
    rows = _table_with(_tables(html), "quantity (unit)").set_index("quantity (unit)")["value"]
    assert rows["hop distance source"] == "fallback 1.6 Å"
    assert rows["hop distance: why"].startswith("fallback 1.6 Å (about half a Li-Li site distance)")
    assert rows["P_casc vs null"] == "no hops: P_casc is undefined"
    assert plots.ONE_POINT in html
