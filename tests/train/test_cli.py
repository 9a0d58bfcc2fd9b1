"""`mtpflow train` and `mtpflow calc-errors` end to end on small synthetic data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.io.mtp import read_mtp, write_mtp
from tests.conftest import descendant_pids, shared_path, sigterm_when
from tests.train.synth import (label_with, label_with_reference, random_configs, random_potential,
                               template)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    truth = random_potential(8, seed=11)
    configs = label_with(truth, random_configs(8, seed=12), noise=0.01)
    write_cfg(d / "train.cfg", configs)
    write_cfg(d / "test.cfg", label_with(truth, random_configs(3, seed=13)))
    tpl = template(8)
    tpl.min_dist = 2.0
    write_mtp(d / "init.mtp", tpl)
    return d


def _smallest_distance(path):
    from mtpflow.mtp.neighbors import neighbor_list

    return min(float(np.sqrt(np.min(np.sum(neighbor_list(c.positions, c.cell, 4.5).rvec ** 2, axis=1))))
               for c in read_cfg(path))


def _train(d, out, *extra):
    return main(["train", str(d / "init.mtp"), str(d / "train.cfg"), "--out", str(out),
                 "--species", "Li,Cl,Al", *extra])


def test_train_writes_mlip_potential_and_log(files, capsys):
    out = files / "trained.mtp"
    log = files / "train.csv"
    assert _train(files, out, "--max-iter", "6", "--log", str(log), "--valid",
                  str(files / "test.cfg")) == 0
    pot = read_mtp(out)
    assert pot.is_trained and pot.species_count == 3 and pot.species == ["Li", "Cl", "Al"]
    assert "training_set_hash" in pot.metadata
    text = out.read_text()
    assert "radial_coeffs" in text and "moment_coeffs" in text and "scaling = " in text
    assert pot.min_dist == pytest.approx(0.99 * _smallest_distance(files / "train.cfg"), rel=1e-12)
    rows = log.read_text().splitlines()
    assert rows[0] == "iteration,loss,rmse_energy_per_atom_eV,rmse_force_eV_A,rmse_stress_GPa"
    losses = [float(r.split(",")[1]) for r in rows[1:]]
    assert len(losses) == 7 and losses[-1] < losses[0]
    assert "validation" in capsys.readouterr().out


def test_max_iter_zero_writes_initialised_potential(files):
    out = files / "init_only.mtp"
    assert _train(files, out, "--max-iter", "0", "--no-mindist-update") == 0
    pot = read_mtp(out)
    assert pot.is_trained and pot.min_dist == 2.0
    assert np.any(pot.moment_coeffs != 0)  # the exact linear solve ran


def test_resume_gives_the_uninterrupted_result(files):
    full = files / "full.mtp"
    assert _train(files, full, "--max-iter", "8") == 0
    ck = files / "ck.npz"
    part = files / "part.mtp"
    assert _train(files, part, "--max-iter", "4", "--checkpoint", str(ck), "--checkpoint-every", "2") == 0
    resumed = files / "resumed.mtp"
    assert _train(files, resumed, "--max-iter", "8", "--resume", str(ck)) == 0
    a, b = read_mtp(full).get_params(), read_mtp(resumed).get_params()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, read_mtp(part).get_params())


def test_calc_errors_table_json_csv_plots(files, capsys):
    pot = files / "trained_ce.mtp"
    assert _train(files, pot, "--max-iter", "3") == 0
    js, csv, plots = files / "err.json", files / "per.csv", files / "plots"
    assert main(["calc-errors", str(pot), str(files / "test.cfg"), "--json", str(js), "--csv", str(csv),
                 "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert "energy (eV/atom)" in out and "RMSE" in out
    m = json.loads(js.read_text())
    assert m["n_configs"] == 3
    for key in ("energy_per_atom", "forces", "stress"):
        assert set(m[key]) >= {"mae", "rmse", "r2", "max"}
        assert m[key]["rmse"] >= m[key]["mae"] >= 0
    assert len(csv.read_text().splitlines()) == 4
    for name in ("energy", "forces", "stress"):
        assert (plots / f"{name}_parity.png").stat().st_size > 1000


def _calc_errors(pot, cfg, tmp_path, name):
    js, csv = tmp_path / f"{name}.json", tmp_path / f"{name}.csv"
    assert main(["calc-errors", str(pot), str(cfg), "--json", str(js), "--csv", str(csv)]) == 0
    rows = [line.split(",") for line in csv.read_text().splitlines()[1:]]
    return json.loads(js.read_text()), np.array(rows, dtype=float)


def test_calc_errors_against_independent_labels(tmp_path):
    """Labels from the numpy reference model and finite differences of its energy (not the numba
    engine calc-errors runs): errors ~0. Then known offsets added to the labels must come out as
    the reported errors, quantity by quantity."""
    from ase.units import GPa

    truth = random_potential(8, seed=3)
    write_mtp(tmp_path / "p.mtp", truth)
    configs = label_with_reference(truth, random_configs(2, seed=4))
    write_cfg(tmp_path / "t.cfg", configs)
    m, rows = _calc_errors(tmp_path / "p.mtp", tmp_path / "t.cfg", tmp_path, "zero")
    assert m["energy_per_atom"]["max"] < 1e-12 and m["forces"]["max"] < 1e-9
    assert m["stress"]["max"] < 1e-8
    n0, n1 = configs[0].n_atoms, configs[1].n_atoms
    configs[0].energy += 0.01 * n0                      # +0.01 eV/atom on configuration 1
    configs[1].forces[2, 1] -= 0.2                      # one force component of configuration 2
    configs[1].plus_stress[5] += 0.5 * GPa * configs[1].volume   # sigma_xy of configuration 2: -0.5 GPa
    write_cfg(tmp_path / "s.cfg", configs)
    m, rows = _calc_errors(tmp_path / "p.mtp", tmp_path / "s.cfg", tmp_path, "shifted")
    e, f, s = m["energy_per_atom"], m["forces"], m["stress"]
    assert (e["count"], f["count"], s["count"]) == (2, 3 * (n0 + n1), 12)
    assert e["max"] == pytest.approx(0.01, abs=1e-9) and e["mae"] == pytest.approx(0.005, abs=1e-9)
    assert e["rmse"] == pytest.approx(0.01 / np.sqrt(2), abs=1e-9)
    assert f["max"] == pytest.approx(0.2, abs=1e-8) and f["mae"] == pytest.approx(0.2 / f["count"], abs=1e-8)
    assert s["max"] == pytest.approx(0.5, abs=1e-7) and s["rmse"] == pytest.approx(0.5 / np.sqrt(12), abs=1e-7)
    # per-configuration CSV: config, n_atoms, E_ref/N, E_pred/N, force RMSE, stress RMSE
    assert rows[0, 2] - rows[0, 3] == pytest.approx(0.01, abs=1e-9)
    assert rows[1, 4] == pytest.approx(0.2 / np.sqrt(3 * n1), abs=1e-8)
    assert rows[1, 5] == pytest.approx(0.5 / np.sqrt(6), abs=1e-7) and rows[0, 5] < 1e-8


def test_calc_errors_on_mlip_outputs(tmp_path):
    """MLIP-3's own energies, forces and stresses of its trained potential as the labels."""
    pot = shared_path("mlip_reference", "trained_L08.almtp")
    cfg = shared_path("mlip_reference", "trained_L08__guidebook_test5.cfg")
    m, rows = _calc_errors(pot, cfg, tmp_path, "mlip")
    assert (m["n_configs"], m["n_atoms"]) == (5, 480)
    assert m["energy_per_atom"]["max"] < 1e-13 and m["forces"]["max"] < 1e-12
    assert m["stress"]["max"] < 1e-11
    assert m["forces"]["count"] == 1440 and m["stress"]["count"] == 30


@pytest.mark.parametrize("case", ["no_forces", "no_energy", "species", "empty", "nan", "unwritable", "parent_is_file"])
def test_bad_input_fails_before_work(files, tmp_path, case, capsys):
    configs = read_cfg(files / "train.cfg")
    out = tmp_path / "out.mtp"
    extra = []
    if case == "no_forces":
        configs[2].forces = None
    elif case == "no_energy":
        configs[1].energy = None
    elif case == "species":
        configs[0].types[0] = 3
    elif case == "nan":
        configs[0].forces[0, 1] = np.nan
    cfg = tmp_path / "bad.cfg"
    if case == "empty":
        cfg.write_text("")
    else:
        write_cfg(cfg, configs)
    if case == "unwritable":
        ro = tmp_path / "ro"
        ro.mkdir()
        os.chmod(ro, 0o500)
        out = ro / "out.mtp"
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
    if case == "parent_is_file":  # not writable even for root
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "out.mtp"
    rc = main(["train", str(files / "init.mtp"), str(cfg), "--out", str(out), "--max-iter", "2",
               "--species", "Li,Cl,Al", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and "error" in err and "Traceback" not in err
    assert not out.exists()
    expect = {"no_forces": "no forces", "no_energy": "no Energy", "species": "atom type",
              "empty": "no configurations", "nan": "NaN", "unwritable": "writable", "parent_is_file": "output folder"}[case]
    assert expect in err


def test_force_weight_zero_accepts_missing_forces(files, tmp_path):
    configs = read_cfg(files / "train.cfg")
    for c in configs:
        c.forces = None
    write_cfg(tmp_path / "e.cfg", configs)
    assert main(["train", str(files / "init.mtp"), str(tmp_path / "e.cfg"), "--out",
                 str(tmp_path / "o.mtp"), "--max-iter", "2", "--force-weight", "0"]) == 0


@pytest.mark.mpi
@pytest.mark.slow
def test_two_ranks_equal_one_rank(files, tmp_path):
    from mpi4py import MPI  # noqa: F401  (the mpich wheel provides mpiexec)

    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        pytest.skip("mpiexec not found next to the Python interpreter")
    # every run starts from an empty numba cache except the last, which reads the cache the first
    # filled: the result depends neither on the rank count nor on whether the kernels were
    # compiled in the process (the 2 ranks compile at the same time into one empty cache)
    outs = {}
    for name, n, cache in (("1 rank", 1, "a"), ("2 ranks", 2, "b"), ("1 rank, warm", 1, "a")):
        out = tmp_path / f"{name}.mtp"
        cmd = [mpiexec, "-n", str(n), sys.executable, "-m", "mtpflow.cli", "train",
               str(files / "init.mtp"), str(files / "train.cfg"), "--out", str(out), "--max-iter", "6",
               "--log", str(tmp_path / f"{name}.csv")]
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / f"numba_{cache}"))
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        assert res.returncode == 0, res.stderr + res.stdout
        assert f"{n} rank(s)" in res.stdout
        outs[name] = (read_mtp(out).get_params(), out.read_bytes(),
                      (tmp_path / f"{name}.csv").read_bytes())
    ref, ref_file, ref_log = outs["1 rank"]
    for name, (params, file_bytes, log) in outs.items():
        np.testing.assert_allclose(params, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
        # the reductions are order-fixed and the kernels the same code: bit-identical
        assert np.array_equal(params, ref) and file_bytes == ref_file and log == ref_log, name


def _log_rows(path, n):
    def ready():
        try:
            return len(path.read_text().splitlines()) > n
        except OSError:
            return False
    return ready


SIGTERM_RUN = ["--species", "Li,Cl,Al", "--max-iter", "300", "--tolerance", "0"]


def _check_stopped(rc, err, ck, out, log):
    """Exit 143, one message naming the checkpoint and --resume, no output that looks finished."""
    from mtpflow.io.train_files import load_checkpoint

    assert rc == 143, err
    assert "Traceback" not in err
    msg = err.strip().splitlines()[-1]
    iteration = load_checkpoint(ck)[1].iteration
    assert 9 <= iteration < 300  # the log showed iterations 0..9 when the signal was sent
    assert msg.startswith(f"mtpflow train: stopped by SIGTERM at iteration {iteration}; ")
    assert f"checkpoint written to {ck}" in msg and f"--resume {ck}" in msg
    assert f"removed the partial log {log}" in msg
    assert not out.exists() and not log.exists()


@pytest.mark.slow
def test_sigterm_checkpoints_and_resume_equals_uninterrupted(files, tmp_path):
    """SIGTERM during `mtpflow train`: the current iteration ends, the checkpoint is written, the
    partial log removed, exit 143; --resume gives the uninterrupted run's files byte for byte."""
    data = [str(files / "init.mtp"), str(files / "train.cfg")]
    out, log, ck = tmp_path / "cut.mtp", tmp_path / "cut.csv", tmp_path / "ck.npz"
    proc = subprocess.Popen([sys.executable, "-m", "mtpflow.cli", "train", *data, *SIGTERM_RUN,
                             "--out", str(out), "--log", str(log), "--checkpoint", str(ck)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rc, _, err = sigterm_when(proc, _log_rows(log, 10))
    _check_stopped(rc, err, ck, out, log)
    assert main(["train", *data, *SIGTERM_RUN, "--out", str(out), "--log", str(log),
                 "--checkpoint", str(ck), "--resume", str(ck)]) == 0
    ref, ref_log = tmp_path / "ref.mtp", tmp_path / "ref.csv"
    assert main(["train", *data, *SIGTERM_RUN, "--out", str(ref), "--log", str(ref_log)]) == 0
    assert out.read_bytes() == ref.read_bytes()
    assert log.read_bytes() == ref_log.read_bytes()


@pytest.mark.mpi
@pytest.mark.slow
def test_sigterm_to_one_of_two_ranks(files, tmp_path):
    """Under `mpiexec -n 2`, SIGTERM reaching only one rank stops both after the same iteration
    (the decision is collective); rank 0 writes the checkpoint; resuming on 2 ranks gives the
    uninterrupted (1-rank) result byte for byte."""
    from mpi4py import MPI  # noqa: F401  (the mpich wheel provides mpiexec)

    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        pytest.skip("mpiexec not found next to the Python interpreter")
    data = [str(files / "init.mtp"), str(files / "train.cfg")]
    out, log, ck = tmp_path / "cut.mtp", tmp_path / "cut.csv", tmp_path / "ck.npz"
    cmd = [mpiexec, "-n", "2", sys.executable, "-m", "mtpflow.cli", "train", *data, *SIGTERM_RUN,
           "--out", str(out), "--log", str(log), "--checkpoint", str(ck)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def one_rank():
        ranks = [p for p in descendant_pids(proc.pid)
                 if b"mtpflow.cli" in open(f"/proc/{p}/cmdline", "rb").read()]
        if len(ranks) != 2:
            proc.kill()
            pytest.skip(f"cannot find the 2 rank processes under /proc (found {ranks})")
        return max(ranks)

    rc, _, err = sigterm_when(proc, _log_rows(log, 10), pid=one_rank)
    _check_stopped(rc, err, ck, out, log)
    res = subprocess.run([*cmd, "--resume", str(ck)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    ref, ref_log = tmp_path / "ref.mtp", tmp_path / "ref.csv"
    assert main(["train", *data, *SIGTERM_RUN, "--out", str(ref), "--log", str(ref_log)]) == 0
    assert out.read_bytes() == ref.read_bytes()
    assert log.read_bytes() == ref_log.read_bytes()
