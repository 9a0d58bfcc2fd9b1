"""Engine-side inputs that gave tracebacks or silent wrong answers (issue 14): a potential with a
non-finite scaling, coincident atoms, NaN references and undefined metrics in calc-errors, thread
counts above the machine's."""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.errors import InputError
from mtpflow.io.cfg import write_cfg
from mtpflow.io.mtp import format_mtp, read_mtp, write_mtp
from mtpflow.mtp.neighbors import neighbor_list
from tests.train.synth import label_with, random_configs, random_potential


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("engine")
    pot = random_potential(6, species=3, seed=2)
    pot.species = ["Li", "Cl", "Al"]
    write_mtp(d / "pot.mtp", pot)
    write_cfg(d / "ref.cfg", label_with(pot, random_configs(3, seed=4)))
    return d


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_scaling_must_be_positive_and_finite(files, tmp_path, capsys, value):
    text = (files / "pot.mtp").read_text()
    lines = text.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("scaling = "))
    lines[k] = f"scaling = {value}"
    bad = tmp_path / "bad.mtp"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="scaling") as exc:
        read_mtp(bad)
    assert exc.value.line == k + 1
    out = tmp_path / "out.cfg"
    for argv in (["calc-efs", str(bad), str(files / "ref.cfg"), str(out)],
                 ["calc-errors", str(bad), str(files / "ref.cfg")],
                 ["train", str(bad), str(files / "ref.cfg"), "--out", str(tmp_path / "t.mtp"),
                  "--max-iter", "1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{bad}:{k + 1}" in err and "scaling" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "t.mtp").exists()


def test_in_memory_potential_with_nan_scaling_is_refused():
    pot = random_potential(6, species=2)
    pot.scaling = float("nan")
    with pytest.raises(InputError, match="scaling"):
        format_mtp(pot)


@pytest.mark.parametrize("periodic", [True, False])
def test_coincident_atoms_are_named(periodic):
    rng = np.random.default_rng(0)
    cell = np.diag([7.0, 8.0, 9.0]) if periodic else None
    pos = rng.uniform(0, 7, (30, 3))
    pos[17] = pos[4]
    with pytest.raises(InputError, match="atoms 5 and 18 .*same position"):
        neighbor_list(pos, cell, 4.0)
    pos[17] = pos[4] + 1e-9            # the round-off of a position written twice
    with pytest.raises(InputError, match="atoms 5 and 18 .*same position"):
        neighbor_list(pos, cell, 4.0)
    if periodic:                       # the same place through a periodic image
        pos = rng.uniform(0, 7, (30, 3))
        pos[9] = pos[2] + cell[0] + cell[2]
        with pytest.raises(InputError, match="atoms 3 and 10 .*same position"):
            neighbor_list(pos, cell, 4.0)
        pos[9] = pos[2] + 0.5
    pos[17] = pos[4] + 1e-5            # distinct, however close: a pair as before
    nl = neighbor_list(pos, cell, 4.0)
    assert np.sqrt((nl.rvec ** 2).sum(axis=1)).min() == pytest.approx(np.sqrt(3) * 1e-5, rel=1e-6)


def test_coincident_atoms_through_the_verbs(files, tmp_path, capsys):
    """calc-efs gave a finite energy and train a wrong smallest distance; now both name the
    configuration and the atoms, and write nothing."""
    confs = label_with(read_mtp(files / "pot.mtp"), random_configs(3, seed=4))
    confs[1].positions[3] = confs[1].positions[0]
    bad = tmp_path / "coincident.cfg"
    write_cfg(bad, confs)
    out = tmp_path / "out.cfg"
    assert main(["calc-efs", str(files / "pot.mtp"), str(bad), str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "configuration 1" in err and "atoms 1 and 4" in err   # 0-based index
    assert main(["train", str(files / "pot.mtp"), str(bad), "--out", str(tmp_path / "t.mtp"),
                 "--max-iter", "1"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "configuration 2" in err and "atoms 1 and 4" in err
    assert not out.exists() and not (tmp_path / "t.mtp").exists()


def test_calc_errors_refuses_nan_references(files, tmp_path, capsys):
    pot = read_mtp(files / "pot.mtp")
    for what in ("energy", "forces", "plus_stress"):
        confs = label_with(pot, random_configs(3, seed=4))
        if what == "energy":
            confs[2].energy = float("nan")
        else:
            getattr(confs[2], what)[1] = np.inf
        bad = tmp_path / f"bad_{what}.cfg"
        write_cfg(bad, confs)
        js = tmp_path / "e.json"
        assert main(["calc-errors", str(files / "pot.mtp"), str(bad), "--json", str(js)]) == 2
        err = capsys.readouterr().err
        assert str(bad) in err and "configuration 3" in err and "NaN or inf" in err
        assert not js.exists()


def test_calc_errors_json_is_valid_with_undefined_metrics(files, tmp_path, capsys):
    """One configuration: R² of the energies is undefined (null, 'n/a' in the table), and a
    set without stresses has no stress metrics (null); the file is strict JSON."""
    pot = read_mtp(files / "pot.mtp")
    (conf,) = label_with(pot, random_configs(1, seed=5))
    conf.plus_stress = None
    one = tmp_path / "one.cfg"
    write_cfg(one, [conf])
    js = tmp_path / "e.json"
    assert main(["calc-errors", str(files / "pot.mtp"), str(one), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    text = js.read_text()
    assert "NaN" not in text and "Infinity" not in text
    m = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert m["energy_per_atom"]["r2"] is None and m["energy_per_atom"]["count"] == 1
    assert m["energy_per_atom"]["rmse"] == pytest.approx(0.0, abs=1e-12)
    assert m["stress"] == {"mae": None, "rmse": None, "r2": None, "max": None, "count": 0}
    assert m["forces"]["r2"] == pytest.approx(1.0)
    energy_row = next(ln for ln in out.splitlines() if ln.startswith("energy"))
    assert "nan" not in energy_row.lower() and ("n/a" in energy_row or "null" in energy_row)


def test_thread_count_above_the_machine_is_an_input_error(files, tmp_path, capsys):
    top = numba.config.NUMBA_NUM_THREADS
    out = tmp_path / "out.cfg"
    for n in (top + 1, 99, 0):
        assert main(["calc-efs", str(files / "pot.mtp"), str(files / "ref.cfg"), str(out),
                     "--threads", str(n)]) == 2
        err = capsys.readouterr().err
        assert "--threads" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["calc-efs", str(files / "pot.mtp"), str(files / "ref.cfg"), str(out),
                 "--threads", str(top)]) == 0
