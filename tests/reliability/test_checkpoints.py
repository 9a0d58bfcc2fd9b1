"""Checkpoints (issue 14 items 3, 4): train --resume refuses a changed loss (weights or data) as
md --resume refuses a changed protocol, and a truncated or damaged checkpoint of either is one
clear error naming it, never a zipfile.BadZipFile traceback."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.cli import main
from mtpflow.errors import InputError
from mtpflow.io.cfg import write_cfg
from mtpflow.io.mtp import write_mtp
from tests.reliability.corpus import _flip_in_data
from tests.train.synth import label_with, random_configs, random_potential, template


@pytest.fixture(scope="module")
def train_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck_train")
    truth = random_potential(6, seed=11)
    write_cfg(d / "train.cfg", label_with(truth, random_configs(6, seed=12), noise=0.01))
    write_cfg(d / "other.cfg", label_with(truth, random_configs(6, seed=14), noise=0.01))
    write_mtp(d / "init.mtp", template(6))
    ck = d / "ck.npz"
    assert _train(d, d / "part.mtp", "--max-iter", "3", "--checkpoint", str(ck)) == 0
    return d


def _train(d, out, *extra, data="train.cfg"):
    return main(["train", str(d / "init.mtp"), str(d / data), "--out", str(out),
                 "--species", "Li,Cl,Al", *extra])


@pytest.mark.parametrize("flag, value", [("--energy-weight", "2"), ("--force-weight", "0.02"),
                                         ("--stress-weight", "0"), ("--weight-scaling", "0"),
                                         ("--weight-scaling-forces", "1")])
def test_train_resume_refuses_changed_loss_weights(train_files, tmp_path, capsys, flag, value):
    out = tmp_path / "resumed.mtp"
    assert _train(train_files, out, "--max-iter", "3", "--resume", str(train_files / "ck.npz"),
                  flag, value) == 2
    err = capsys.readouterr().err
    assert str(train_files / "ck.npz") in err and flag in err and "other loss weights" in err
    assert not out.exists()


def test_train_resume_refuses_changed_data(train_files, tmp_path, capsys):
    out = tmp_path / "resumed.mtp"
    assert _train(train_files, out, "--max-iter", "3", "--resume", str(train_files / "ck.npz"),
                  data="other.cfg") == 2
    assert "different training set" in capsys.readouterr().err
    assert not out.exists()


def test_loss_check_catches_a_checkpoint_that_recorded_no_weights(train_files, tmp_path, capsys):
    """A checkpoint without recorded weights (written by a code path that did not add them) is
    still refused when the loss of its parameters differs from the one it recorded."""
    import json

    z = dict(np.load(train_files / "ck.npz", allow_pickle=False))
    meta = json.loads(str(z["meta"]))
    del meta["loss_weights"]
    z["meta"] = np.array(json.dumps(meta))
    ck = tmp_path / "noweights.npz"
    np.savez(ck, **z)
    out = tmp_path / "r.mtp"
    assert _train(train_files, out, "--max-iter", "3", "--resume", str(ck)) == 0   # same loss: fine
    capsys.readouterr()
    assert _train(train_files, out, "--max-iter", "3", "--resume", str(ck), "--energy-weight",
                  "3") == 2
    err = capsys.readouterr().err
    assert "the data or the weights differ" in err and str(ck) in err


def _damaged_copies(good, tmp_path):
    raw = good.read_bytes()
    out = {}
    for name, data in (("empty", b""), ("half", raw[:len(raw) // 2]), ("tail_cut", raw[:-10]),
                       ("text", b"not a checkpoint\n")):
        p = tmp_path / f"{name}.npz"
        p.write_bytes(data)
        out[name] = p
    p = tmp_path / "flipped.npz"
    p.write_bytes(_flip_in_data(good))                 # one bit of an array's numbers
    out["flipped"] = p
    p = tmp_path / "npy.npz"
    np.save(open(p, "wb"), np.zeros(3))                 # an .npy array, not an archive
    out["npy"] = p
    return out


def test_damaged_train_checkpoints_are_clear_errors(train_files, tmp_path, capsys):
    for name, path in _damaged_copies(train_files / "ck.npz", tmp_path).items():
        out = tmp_path / "r.mtp"
        rc = _train(train_files, out, "--max-iter", "4", "--resume", str(path))
        err = capsys.readouterr().err
        assert rc == 2, (name, err)
        assert str(path) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not out.exists()


def test_inconsistent_train_checkpoint_contents(train_files, tmp_path):
    from mtpflow.io.train_files import load_checkpoint

    z = dict(np.load(train_files / "ck.npz", allow_pickle=False))
    for key, value, match in (("x", z["x"][:-1], "parameter count"),
                              ("g", np.full_like(z["g"], np.nan), "NaN"),
                              ("log_rows", np.zeros((2, 3)), "log rows"),
                              ("iteration", np.array(-1), "negative")):
        bad = dict(z)
        bad[key] = value
        p = tmp_path / f"{key}.npz"
        np.savez(p, **bad)
        with pytest.raises(InputError, match=match):
            load_checkpoint(p)
    bad = dict(z)
    del bad["H"]
    np.savez(tmp_path / "noH.npz", **bad)
    with pytest.raises(InputError, match="lacks H"):
        load_checkpoint(tmp_path / "noH.npz")


@pytest.fixture(scope="module")
def md_files(tmp_path_factory):
    from ase.io import write

    from tests.md.conftest import small_lialcl4

    d = tmp_path_factory.mktemp("ck_md")
    pot = random_potential(6, species=3, seed=3, radial=0.002, moment=0.05)
    pot.species = ["Li", "Al", "Cl"]
    write_mtp(d / "pot.mtp", pot)
    write(d / "start.extxyz", small_lialcl4(2), format="extxyz")
    args = _md_args(d, d / "ck.npz")
    assert main(args) == 0
    return d


def _md_args(d, ck, resume=None):
    args = ["md", str(d / "pot.mtp"), str(d / "start.extxyz"), "--ensemble", "nvt",
            "--temperature-K", "300", "--steps", "6", "--timestep-fs", "0.5",
            "--traj", str(d / "t.extxyz"), "--thermo", str(d / "t.csv"), "--checkpoint", str(ck),
            "--checkpoint-every", "3", "--threads", "1"]
    return args + (["--resume", str(resume)] if resume else [])


def test_damaged_md_checkpoints_are_clear_errors(md_files, tmp_path, capsys):
    from mtpflow.io.md_files import load_checkpoint

    arrays, meta = load_checkpoint(md_files / "ck.npz")
    assert arrays["positions"].shape == (12, 3) and meta["step"] == 6
    for name, path in _damaged_copies(md_files / "ck.npz", tmp_path).items():
        rc = main(_md_args(md_files, tmp_path / "new.npz", resume=path))
        err = capsys.readouterr().err
        assert rc == 2, (name, err)
        assert str(path) in err and "Traceback" not in err
        assert not (tmp_path / "new.npz").exists()


def test_inconsistent_md_checkpoint_contents(md_files, tmp_path):
    import json

    from mtpflow.io.md_files import load_checkpoint

    z = dict(np.load(md_files / "ck.npz", allow_pickle=False))
    meta = json.loads(bytes(z["meta_json"]).decode())
    cases = [("a_positions", z["a_positions"][:-1], None, "positions have shape"),
             ("a_momenta", np.full_like(z["a_momenta"], np.inf), None, "NaN or inf"),
             ("a_cell", np.eye(2), None, "cell has shape"),
             ("meta_json", None, {"step": -3}, "valid step"),
             ("meta_json", None, {"traj_offset": "12"}, "valid traj_offset")]
    for key, value, meta_change, match in cases:
        bad = dict(z)
        if meta_change is None:
            bad[key] = value
        else:
            m = dict(meta, **meta_change)
            bad[key] = np.frombuffer(json.dumps(m).encode(), dtype=np.uint8)
        p = tmp_path / "bad.npz"
        np.savez(p, **bad)
        with pytest.raises(InputError, match=match):
            load_checkpoint(p)
