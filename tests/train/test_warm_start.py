"""Warm starts: `train --init-from TRAINED` and `init-mtp --level L --from TRAINED` (issue 12 item 5)."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.io.mtp import read_mtp, write_mtp
from mtpflow.mtp.basis import generate_basis
from mtpflow.train.loss import LossFunction, LossWeights
from mtpflow.train.metrics import predict
from mtpflow.train.trainer import local_data
from tests.conftest import shared_path
from tests.train.synth import label_with, random_configs, random_potential, template


def _run(*argv) -> int:
    return main([str(a) for a in argv])


def _log_losses(path):
    rows = path.read_text().splitlines()[1:]
    return np.array([float(r.split(",")[1]) for r in rows])


def _loss_on(pot, cfg_path) -> float:
    """The loss of pot's own coefficients on the set, computed directly (serial, no re-solve)."""
    from mtpflow.train import parallel

    configs = read_cfg(cfg_path)
    weights = LossWeights()
    data = local_data(configs, pot, weights, parallel.SerialComm())
    return LossFunction(pot, data)(pot.get_params(), want_grad=False)[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A level-8 training of 60 iterations on a synthetic set (its log and the set)."""
    d = tmp_path_factory.mktemp("warm")
    truth = random_potential(10, seed=31)
    write_cfg(d / "train.cfg", label_with(truth, random_configs(10, seed=32), noise=0.01))
    tpl = template(8)
    write_mtp(d / "init08.mtp", tpl)
    write_mtp(d / "init12.mtp", template(12))
    assert _run("train", d / "init08.mtp", d / "train.cfg", "--out", d / "L08.mtp", "--species",
                "Li,Cl,Al", "--max-iter", 60, "--log", d / "L08.csv") == 0
    return d


def test_zero_iterations_reproduce_the_file_bit_for_bit(trained):
    d = trained
    assert _run("train", d / "init08.mtp", d / "train.cfg", "--init-from", d / "L08.mtp",
                "--out", d / "w0.mtp", "--max-iter", 0, "--log", d / "w0.csv") == 0
    a, b = read_mtp(d / "L08.mtp"), read_mtp(d / "w0.mtp")
    assert np.array_equal(a.get_params(), b.get_params())
    assert (a.scaling, a.min_dist, a.max_dist, a.species) == (b.scaling, b.min_dist, b.max_dist,
                                                              b.species)
    assert len(_log_losses(d / "w0.csv")) == 1


def test_continuing_starts_at_the_old_loss_and_never_rises(trained):
    d = trained
    assert _run("train", d / "init08.mtp", d / "train.cfg", "--init-from", d / "L08.mtp",
                "--out", d / "w10.mtp", "--max-iter", 10, "--log", d / "w10.csv") == 0
    losses = _log_losses(d / "w10.csv")
    own = _loss_on(read_mtp(d / "L08.mtp"), d / "train.cfg")
    assert losses[0] == pytest.approx(own, rel=1e-12)                   # iteration 0: the old loss
    assert losses[0] == pytest.approx(_log_losses(d / "L08.csv")[-1], rel=1e-9)  # where it ended
    assert np.all(np.diff(losses) <= 1e-12 * losses[0])                 # BFGS never goes up
    final = _loss_on(read_mtp(d / "w10.mtp"), d / "train.cfg")
    assert final <= own * (1 + 1e-12)
    assert final == pytest.approx(losses[-1], rel=1e-9)
    # a cold start of the same length ends far above the warm one
    assert _run("train", d / "init08.mtp", d / "train.cfg", "--out", d / "c10.mtp",
                "--species", "Li,Cl,Al", "--max-iter", 10) == 0
    assert _loss_on(read_mtp(d / "c10.mtp"), d / "train.cfg") > 1.5 * final


def test_init_from_errors(trained, capsys):
    d = trained
    rc = _run("train", d / "init12.mtp", d / "train.cfg", "--init-from", d / "L08.mtp",
              "--out", d / "bad.mtp", "--max-iter", 1)
    err = capsys.readouterr().err
    assert rc == 2 and "differs from the template" in err and "init-mtp --level 12 --from" in err
    assert str(d / "L08.mtp") in err and not (d / "bad.mtp").exists()
    rc = _run("train", d / "init08.mtp", d / "train.cfg", "--init-from", d / "init08.mtp",
              "--out", d / "bad.mtp", "--max-iter", 1)
    err = capsys.readouterr().err
    assert rc == 2 and "needs a trained potential" in err and "Traceback" not in err
    rc = _run("train", d / "init08.mtp", d / "train.cfg", "--init-from", d / "L08.mtp",
              "--species", "Li,Al,Cl", "--out", d / "bad.mtp", "--max-iter", 1)
    assert rc == 2 and "differs from the potential's species" in capsys.readouterr().err


def test_higher_levels_contain_the_lower_levels_graphs():
    for level in range(2, 22, 2):
        low, high = set(generate_basis(level).graphs), set(generate_basis(level + 2).graphs)
        assert low <= high, level
        assert len(high) > len(low) or level < 4


def test_upgrade_is_the_same_function_and_training_goes_below(trained, capsys):
    d = trained
    assert _run("init-mtp", "--level", 12, "--from", d / "L08.mtp", "--out", d / "up12.mtp") == 0
    out = capsys.readouterr().out
    assert "9 basis functions kept" in out and "20 new" in out and "1 new" in out
    src, up = read_mtp(d / "L08.mtp"), read_mtp(d / "up12.mtp")
    assert up.level == 12 and up.radial_funcs_count == 3 and up.species == ["Li", "Cl", "Al"]
    assert (up.min_dist, up.max_dist, up.scaling) == (src.min_dist, src.max_dist, src.scaling)
    assert np.array_equal(up.radial_coeffs[:, :, :2], src.radial_coeffs)
    assert np.array_equal(up.species_coeffs, src.species_coeffs)
    # new radial function mu = 2: MLIP-3's untrained start (1e-3 (pair+1) at k = mu, 1e-6 elsewhere)
    new = up.radial_coeffs[:, :, 2]
    assert new[0, 0, 2] == 1e-3 and new[2, 2, 2] == pytest.approx(9e-3, rel=1e-15) and new[1, 0, 0] == 1e-6
    # old coefficients moved to their graphs' places, all others 0
    g8, g12 = generate_basis(8).graphs, generate_basis(12).graphs
    for k, g in enumerate(g8):
        assert up.moment_coeffs[g12.index(g)] == src.moment_coeffs[k]
    assert np.count_nonzero(up.moment_coeffs) == np.count_nonzero(src.moment_coeffs)
    configs = read_cfg(d / "train.cfg")
    (e0, f0, w0), (e1, f1, w1) = predict(src, configs), predict(up, configs)
    np.testing.assert_allclose(e1, e0, rtol=1e-12)
    for a, b in zip(f0, f1):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * np.abs(a).max())
    # training it: iteration 0 is the level-8 loss (same function), then below it
    assert _run("train", d / "init12.mtp", d / "train.cfg", "--init-from", d / "up12.mtp",
                "--out", d / "L12.mtp", "--max-iter", 5, "--log", d / "L12.csv") == 0
    losses = _log_losses(d / "L12.csv")
    l08 = _loss_on(src, d / "train.cfg")
    assert losses[0] == pytest.approx(l08, rel=1e-11)
    assert np.all(losses[1:] < losses[0]) and losses[-1] < 0.9 * l08


def test_upgrade_errors(trained, capsys):
    d = trained
    cases = [(["--level", 6, "--from", d / "L08.mtp"], "below the potential's level 8"),
             (["--level", 12, "--from", d / "init08.mtp"], "needs a trained potential"),
             (["--level", 12, "--from", d / "L08.mtp", "--min-dist", 1.0], "cannot be given with --from"),
             (["--level", 12, "--from", d / "L08.mtp", "--radial-funcs-count", 1], "below the potential's"),
             (["--level", 12, "--from", d / "L08.mtp", "--species", "Li,Al,Cl"], "differs from"),
             (["--level", 12], "required")]
    for argv, msg in cases:
        out = d / "bad_up.mtp"
        rc = _run("init-mtp", *argv, "--out", out)
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and "Traceback" not in err, (argv, err)
        assert not out.exists()


def test_mlip_template_functions_are_identified_by_graph():
    """MLIP's level-8 and 16 templates: each function is one generated graph times a factor,
    checked against the numpy oracle's value of that graph (independent of the kernels used)."""
    from mtpflow.mtp import reference as ref
    from mtpflow.mtp.init import from_template
    from mtpflow.mtp.upgrade import identify_graphs

    for level in (8, 16):
        tpl = from_template(read_mtp(shared_path("mtp_templates", f"{level:02d}.almtp")), 3, 1.5, 5.0,
                            random_coeffs=True, seed=level)
        graphs, factors, how = identify_graphs(tpl)
        assert how == "numerically" and len(set(graphs)) == tpl.alpha_scalar_moments
        rng = np.random.default_rng(level)
        for _ in range(3):
            n = 7
            d = rng.uniform(1.6, 4.9, n)
            v = rng.normal(size=(n, 3))
            rel = v / np.linalg.norm(v, axis=1)[:, None] * d[:, None]
            zi, zj = int(rng.integers(3)), rng.integers(0, 3, n)
            got = ref.basis_functions(rel, zi, zj, tpl)
            want = [f * ref.graph_value(lab, e, rel, zi, zj, tpl) for (lab, e), f in zip(graphs, factors)]
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(got).max())


def test_upgrading_mlips_own_trained_potential(tmp_path, capsys):
    src_path = shared_path("mlip_reference", "trained_L08.almtp")
    out = tmp_path / "up16.mtp"
    assert _run("init-mtp", "--level", 16, "--from", src_path, "--species", "Li,Cl,Al", "--out", out) == 0
    assert "numerically" in capsys.readouterr().out
    configs = (read_cfg(shared_path("mtp_oracle_inputs", "guidebook_test5.cfg"))
               + read_cfg(shared_path("mtp_oracle_inputs", "glass_2592.cfg")))
    (e0, f0, w0), (e1, f1, w1) = predict(read_mtp(src_path), configs), predict(read_mtp(out), configs)
    np.testing.assert_allclose(e1, e0, rtol=2e-14)   # README: energies and forces to 2e-14,
    for a, b in zip(f0, f1):                          # stresses to 1e-13
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-14 * np.abs(a).max())
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-13 * np.abs(a).max())
