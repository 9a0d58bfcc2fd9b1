"""`mtpflow calc-efs`: output equals the library evaluation (and MLIP's, when shared data exist)."""

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.io.mtp import write_mtp
from mtpflow.mtp.evaluate import evaluate
from mtpflow.structures import Configuration
from tests.conftest import assert_matches_mlip, shared_path
from tests.mtp.test_kernels import medium_triclinic, random_potential, small_triclinic


def _inputs(tmp_path):
    pot = random_potential(8, seed=41)
    pot_path = tmp_path / "pot.mtp"
    write_mtp(pot_path, pot)
    cfgs = [medium_triclinic(n=16, seed=42), small_triclinic(n=4, seed=43),
            Configuration(positions=small_triclinic(n=5, seed=44).positions, types=[0, 1, 2, 2, 1])]
    cfgs[0].features = [("EFS_by", "VASP")]
    cfgs[0].energy = 1.0  # replaced by the potential's
    in_path = tmp_path / "in.cfg"
    write_cfg(in_path, cfgs)
    return pot, pot_path, cfgs, in_path


def test_calc_efs_writes_potential_values(tmp_path, capsys):
    pot, pot_path, cfgs, in_path = _inputs(tmp_path)
    out = tmp_path / "out.cfg"
    assert main(["calc-efs", str(pot_path), str(in_path), str(out), "--threads", "1"]) == 0
    got = read_cfg(out)
    assert len(got) == len(cfgs)
    for g, c in zip(got, cfgs):
        ref = evaluate(pot, c)
        assert g.energy == pytest.approx(ref.energy, rel=1e-15)
        np.testing.assert_allclose(g.forces, ref.forces, rtol=1e-15, atol=1e-300)
        np.testing.assert_array_equal(g.positions, c.positions)
        if c.cell is None:
            assert g.plus_stress is None
        else:
            np.testing.assert_allclose(g.plus_stress, ref.plus_stress, rtol=1e-15)
    assert got[0].features == [("EFS_by", "VASP")]
    assert "3 configuration(s)" in capsys.readouterr().out


def test_calc_efs_bad_input_writes_nothing(tmp_path, capsys):
    pot, pot_path, cfgs, in_path = _inputs(tmp_path)
    out = tmp_path / "out.cfg"
    bad = [cfgs[0], Configuration(positions=cfgs[1].positions, types=[0, 1, 7, 0], cell=cfgs[1].cell)]
    bad_path = tmp_path / "bad.cfg"
    write_cfg(bad_path, bad)
    assert main(["calc-efs", str(pot_path), str(bad_path), str(out)]) == 2
    err = capsys.readouterr().err
    assert "configuration 1" in err and "type 7" in err and str(bad_path) in err
    assert not out.exists()
    assert main(["calc-efs", str(pot_path), str(in_path), str(out), "--species", "Li,Cl"]) == 2
    assert "differs" in capsys.readouterr().err
    assert main(["calc-efs", str(tmp_path / "missing.mtp"), str(in_path), str(out)]) == 2
    assert not out.exists()


def test_calc_efs_matches_mlip(tmp_path):
    pot = shared_path("mlip_reference", "random_L16.almtp")
    inp = shared_path("mtp_oracle_inputs", "triclinic.cfg")
    ref = read_cfg(shared_path("mlip_reference", "random_L16__triclinic.cfg"))
    out = tmp_path / "out.cfg"
    assert main(["calc-efs", str(pot), str(inp), str(out), "--species", "Li,Cl,Al"]) == 0
    got = read_cfg(out)
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert_matches_mlip(g.energy, g.forces, g.plus_stress, r)
