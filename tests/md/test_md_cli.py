"""`mtpflow md` end to end with the trained level-8 potential (../shared/data): outputs, NVE energy
conservation, resume equality, a quench that follows its ramp, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.cli import main as cli_main
from mtpflow.errors import InputError
from mtpflow.io.md_files import THERMO_COLUMNS

from ..conftest import shared_path, sigterm_when


def _thermo(path):
    with open(path) as fh:
        assert fh.readline().strip() == ",".join(THERMO_COLUMNS)
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def test_md_single_stage_outputs(tmp_path, pot, start, capsys):
    import ase.io

    rc = cli_main(["md", pot, start, "--species", "Li,Cl,Al", "--ensemble", "nvt",
                   "--temperature-K", "600", "--steps", "40", "--thermo-every", "10",
                   "--traj-every", "20", "--traj", str(tmp_path / "t.extxyz"),
                   "--thermo", str(tmp_path / "t.csv"), "--seed", "4", "--threads", "1"])
    assert rc == 0
    assert "ns/day" in capsys.readouterr().out
    data = _thermo(tmp_path / "t.csv")
    assert data[:, 0].tolist() == [0, 10, 20, 30, 40]
    assert np.all(data[:, 2] > 100) and np.all(np.isfinite(data))
    frames = ase.io.read(tmp_path / "t.extxyz", ":")
    assert [f.info["step"] for f in frames] == [0, 20, 40] and len(frames[0]) == 96


def test_resume_equals_uninterrupted_with_mtp(tmp_path, pot, start):
    """Killed at step 33 of a melt -> quench protocol, resumed from the checkpoint at step 30."""
    from mtpflow.io.mtp import read_mtp
    from mtpflow.io.structure import read_frames
    from mtpflow.md.protocol import protocol_from_dict
    from mtpflow.md.runner import run_protocol

    from mtpflow import mtp

    potential = read_mtp(pot)
    proto = protocol_from_dict({
        "timestep_fs": 1.0, "thermo_every": 5, "traj_every": 5, "checkpoint_every": 15, "seed": 2,
        "stages": [{"type": "melt", "temperature_K": 1000, "steps": 20},
                   {"type": "quench", "start_K": 1000, "end_K": 500, "steps": 30}]})

    def atoms():
        return read_frames(start, ["Li", "Cl", "Al"], index=-1)[0]

    run_protocol(atoms(), mtp.MTPCalculator(potential, species=["Li", "Cl", "Al"]), proto,
                 tmp_path / "a.extxyz", tmp_path / "a.csv")
    calc = mtp.MTPCalculator(potential, species=["Li", "Cl", "Al"])
    inner, count = calc.calculate, [0]

    def dying(*a, **k):
        count[0] += 1
        if count[0] == 35:
            raise KeyboardInterrupt
        return inner(*a, **k)

    calc.calculate = dying
    ck = tmp_path / "ck.npz"
    with pytest.raises(KeyboardInterrupt):
        run_protocol(atoms(), calc, proto, tmp_path / "b.extxyz", tmp_path / "b.csv", checkpoint_path=ck)
    run_protocol(atoms(), mtp.MTPCalculator(potential, species=["Li", "Cl", "Al"]), proto,
                 tmp_path / "b.extxyz", tmp_path / "b.csv", checkpoint_path=ck, resume_path=ck)
    assert (tmp_path / "b.csv").read_text() == (tmp_path / "a.csv").read_text()
    assert (tmp_path / "b.extxyz").read_text() == (tmp_path / "a.extxyz").read_text()


@pytest.mark.slow
def test_nve_energy_drift_below_1meV_per_atom(tmp_path, pot, start):
    """10 ps at 1 fs, 96 ions, from 600 K velocities: drift of the total energy < 1 meV/atom."""
    rc = cli_main(["md", pot, start, "--species", "Li,Cl,Al", "--ensemble", "nve",
                   "--temperature-K", "600", "--steps", "10000", "--thermo-every", "10",
                   "--traj-every", "1000", "--traj", str(tmp_path / "t.extxyz"),
                   "--thermo", str(tmp_path / "t.csv"), "--seed", "1", "--threads", "1"])
    assert rc == 0
    data = _thermo(tmp_path / "t.csv")
    assert data[-1, 0] == 10000
    etot = data[:, 5] / 96
    first, last = etot[data[:, 1] <= 1.0].mean(), etot[data[:, 1] >= 9.0].mean()
    drift_meV = abs(last - first) * 1e3
    slope_meV = abs(np.polyfit(data[:, 1], etot, 1)[0]) * 10 * 1e3
    print(f"NVE drift over 10 ps: {drift_meV:.4f} meV/atom (fit: {slope_meV:.4f}); "
          f"max |dE| {np.abs(etot - etot[0]).max() * 1e3:.4f} meV/atom; T mean {data[:, 2].mean():.0f} K")
    assert drift_meV < 1.0 and slope_meV < 1.0
    assert data[:, 2].mean() > 150  # the system is really moving


@pytest.mark.slow
def test_mtp_quench_follows_ramp(tmp_path, pot, start):
    """1000 -> 400 K at 2e14 K/s (3 ps) on 96 ions with the Nosé–Hoover chain."""
    proto = tmp_path / "p.yaml"
    proto.write_text("timestep_fs: 1.0\nthermo_every: 10\ntraj_every: 1000\nseed: 5\nstages:\n"
                     "  - {type: melt, temperature_K: 1000, time_ps: 0.5, tdamp_fs: 50}\n"
                     "  - {type: quench, start_K: 1000, end_K: 400, rate_K_per_s: 2e14, tdamp_fs: 50}\n")
    assert cli_main(["md", pot, start, "--species", "Li,Cl,Al", "--protocol", str(proto),
                     "--traj", str(tmp_path / "t.extxyz"), "--thermo", str(tmp_path / "t.csv"),
                     "--threads", "1"]) == 0
    data = _thermo(tmp_path / "t.csv")
    q = data[data[:, 0] > 500]
    t_ps = q[:, 1] - 0.5
    slope = np.polyfit(t_ps, q[:, 2], 1)[0]
    assert slope == pytest.approx(-200, rel=0.2)
    t_set = 1000 - 200 * t_ps
    dev = [np.mean(q[k:k + 50, 2] - t_set[k:k + 50]) for k in range(0, len(q) - 49, 50)]
    assert np.max(np.abs(dev)) < 100, dev


def _run(argv):
    from mtpflow.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


def test_bad_inputs_are_clear(tmp_path, pot, start, capsys):
    out = ["--traj", str(tmp_path / "t.extxyz"), "--thermo", str(tmp_path / "t.csv")]
    one = ["--ensemble", "nvt", "--temperature-K", "300", "--steps", "5"]
    # species the potential lacks
    import ase.io
    atoms = ase.io.read(start)
    atoms.symbols[0] = "Na"
    bad_start = tmp_path / "na.extxyz"
    atoms.write(bad_start)
    with pytest.raises(InputError, match="Na that the potential lacks"):
        _run(["md", pot, str(bad_start), "--species", "Li,Cl,Al", *one, *out])
    # unknown stage type and negative rate, through the CLI: one line, exit 2
    for body, key in [("  - {type: boil, temperature_K: 300, steps: 5}\n", "stages[0].type"),
                      ("  - {type: quench, start_K: 900, end_K: 300, rate_K_per_s: -1e12}\n",
                       "stages[0].rate_K_per_s")]:
        p = tmp_path / "p.yaml"
        p.write_text("stages:\n" + body)
        assert cli_main(["md", pot, start, "--species", "Li,Cl,Al", "--protocol", str(p), *out]) == 2
        err = capsys.readouterr().err
        assert key in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # a checkpoint from another system (the replicated start)
    ck = tmp_path / "ck.npz"
    assert _run(["md", pot, start, "--species", "Li,Cl,Al", *one, *out, "--checkpoint", str(ck)]) == 0
    with pytest.raises(InputError, match="another system"):
        _run(["md", pot, start, "--species", "Li,Cl,Al", "--replicate", "2,1,1", *one, *out,
              "--resume", str(ck)])
    with pytest.raises(InputError, match="either --protocol or"):
        _run(["md", pot, start, "--species", "Li,Cl,Al", "--protocol", "x.yaml", *one, *out])
    with pytest.raises(InputError, match="--species names 2"):
        _run(["md", pot, start, "--species", "Li,Cl", *one, *out])


@pytest.mark.slow
def test_sigterm_checkpoints_and_resume_equals_uninterrupted(tmp_path, pot, start):
    """SIGTERM (as SLURM sends at a time limit) during `mtpflow md`: the current step ends, a
    checkpoint is written, one message names it and how to resume, exit status 143, only .part
    outputs are left; --resume then gives byte-identical outputs to an uninterrupted run."""
    import subprocess
    import sys

    from mtpflow.io.md_files import load_checkpoint

    run = ["md", pot, start, "--species", "Li,Cl,Al", "--ensemble", "nvt", "--temperature-K", "700",
           "--steps", "3000", "--thermo-every", "7", "--traj-every", "50", "--seed", "3",
           "--threads", "1"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    out_ref = ["--traj", str(ref / "t.extxyz"), "--thermo", str(ref / "t.csv")]
    out_cut = ["--traj", str(cut / "t.extxyz"), "--thermo", str(cut / "t.csv")]
    ck = cut / "ck.npz"
    proc = subprocess.Popen([sys.executable, "-m", "mtpflow.cli", *run, *out_cut, "--checkpoint",
                             str(ck), "--checkpoint-every", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rc, out, err = sigterm_when(proc, ck.exists)  # the first periodic checkpoint: step 100
    assert rc == 143, err
    assert "Traceback" not in err
    msg = err.strip().splitlines()[-1]
    step = load_checkpoint(ck)[1]["step"]
    assert 100 <= step < 3000
    assert msg.startswith(f"mtpflow md: stopped by SIGTERM at step {step} ")
    assert f"checkpoint written to {ck}" in msg and f"--resume {ck}" in msg
    assert not (cut / "t.csv").exists() and not (cut / "t.extxyz").exists()
    assert (cut / "t.csv.part").exists() and (cut / "t.extxyz.part").exists()
    assert cli_main([*run, *out_cut, "--checkpoint", str(ck), "--resume", str(ck)]) == 0
    assert cli_main([*run, *out_ref]) == 0
    assert (cut / "t.csv").read_bytes() == (ref / "t.csv").read_bytes()
    assert (cut / "t.extxyz").read_bytes() == (ref / "t.extxyz").read_bytes()
    assert not (cut / "t.csv.part").exists()


def test_sigterm_without_checkpoint_says_nothing_was_saved(tmp_path, pot, start, capsys,
                                                           monkeypatch):
    """The CLI's stop path, driven in-process by a real SIGTERM that the process sends itself
    while writing the thermo row of step 10."""
    import os
    import signal

    from mtpflow.io import md_files

    inner, sent = md_files.format_thermo_row, []

    def signalling(step, *a):
        if step > 0 and not sent:
            sent.append(step)
            os.kill(os.getpid(), signal.SIGTERM)
        return inner(step, *a)

    monkeypatch.setattr(md_files, "format_thermo_row", signalling)
    before = signal.getsignal(signal.SIGTERM)
    rc = cli_main(["md", pot, start, "--species", "Li,Cl,Al", "--ensemble", "nvt",
                   "--temperature-K", "600", "--steps", "50", "--thermo-every", "10",
                   "--traj", str(tmp_path / "t.extxyz"), "--thermo", str(tmp_path / "t.csv")])
    err = capsys.readouterr().err
    assert rc == 143 and sent == [10]
    assert "stopped by SIGTERM at step 10 " in err and "nothing was saved to resume from" in err
    assert not (tmp_path / "t.csv").exists() and (tmp_path / "t.csv.part").exists()
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is removed again
