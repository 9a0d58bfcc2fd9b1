"""The same inputs give the same bits whether numba compiled the kernels in this process (empty
cache), loaded them from its cache, or loaded other kernels first (mtpflow.jit): evaluation,
training loss and gradient, the linear system, site gradients, MD trajectories."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, shared_path


def _env(cache: Path, **extra) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), **extra)
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def _probe_cmd(*args):
    return [sys.executable, "-m", "tests.jit_probe", *args]


def _result(proc_out: str) -> dict:
    return json.loads(proc_out.strip().splitlines()[-1])


def test_private_callee_copies_are_installed():
    from numba.core.registry import cpu_target

    import mtpflow.jit as jit

    assert jit.private_callee_copies_installed
    assert jit._MARK in cpu_target.target_context.codegen().magic_tuple()  # cache key changed too


def test_every_kernel_module_takes_njit_from_mtpflow_jit():
    """mtpflow.jit installs the renaming when it is imported; a kernel module that took njit from
    numba directly could be imported, and its kernels compiled, before that."""
    offenders = []
    for path in sorted((ROOT / "src" / "mtpflow").rglob("*.py")):
        if path.name == "jit.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "numba" and any(
                    a.name in ("njit", "jit", "prange", "vectorize", "guvectorize") for a in node.names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if (isinstance(node, ast.Attribute) and node.attr in ("njit", "jit")
                    and isinstance(node.value, ast.Name) and node.value.id == "numba"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"use `from mtpflow.jit import njit, prange` in {offenders}"


@pytest.mark.slow
def test_cold_warm_concurrent_and_load_order_give_identical_bits(tmp_path):
    """Two processes fill an empty cache at the same time (each compiles what the other has not
    yet written), then two read it, one running the kernel families in the opposite order."""
    cache = tmp_path / "numba"
    env = _env(cache)
    cold = [subprocess.Popen(_probe_cmd(), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = {}
    for k, proc in enumerate(cold):
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err
        results[f"cold {k}"] = _result(out)
    for name, args in (("warm", ()), ("warm, reverse order", ("reverse",))):
        res = subprocess.run(_probe_cmd(*args), cwd=ROOT, env=_env(cache, NUMBA_DEBUG_CACHE="1"),
                             capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stderr
        # the warm runs load every kernel: nothing compiled (nothing saved), the cache served them
        assert "data saved to" not in res.stdout and "data loaded from" in res.stdout
        for kernel in ("efs_kernel", "loss_grad_kernel", "linear_jacobian_kernel",
                       "site_gradient_kernel"):
            assert f".{kernel}-" in res.stdout, kernel
        results[name] = _result(res.stdout)
    first = results["cold 0"]
    assert set(first) == {"energy", "energies", "forces", "virial", "loss", "gradient",
                          "normal_equations", "site_gradients"}
    for name, res in results.items():
        differ = sorted(k for k in first if res[k] != first[k])
        assert not differ, f"{name} differs from the first cold run in {differ}"


@pytest.mark.slow
def test_md_trajectory_cold_equals_warm(tmp_path):
    """`mtpflow md` (NVT, 96 ions, trained level 8): the same trajectory, thermo and final state
    (checkpoint arrays, every bit) with an empty numba cache and with the cache it filled."""
    pot = shared_path("mlip_reference", "trained_L08.almtp")
    start = shared_path("mtp_oracle_inputs", "lialcl4_96.extxyz")
    cache = tmp_path / "numba"
    outs = {}
    for run in ("cold", "warm"):
        d = tmp_path / run
        d.mkdir()
        cmd = [sys.executable, "-m", "mtpflow.cli", "md", str(pot), str(start), "--species",
               "Li,Cl,Al", "--ensemble", "nvt", "--temperature-K", "800", "--steps", "300",
               "--timestep-fs", "2", "--thermo-every", "10", "--traj-every", "50", "--seed", "3",
               "--traj", str(d / "t.extxyz"), "--thermo", str(d / "t.csv"),
               "--checkpoint", str(d / "md.ckpt")]
        res = subprocess.run(cmd, cwd=tmp_path, env=_env(cache), capture_output=True, text=True,
                             timeout=900)
        assert res.returncode == 0, res.stderr
        with np.load(d / "md.ckpt") as z:
            state = {k: z[k].copy() for k in z.files if k != "meta_json"}
        outs[run] = ((d / "t.extxyz").read_bytes(), (d / "t.csv").read_bytes(), state)
    (traj_c, thermo_c, state_c), (traj_w, thermo_w, state_w) = outs["cold"], outs["warm"]
    assert traj_c == traj_w and thermo_c == thermo_w
    assert state_c.keys() == state_w.keys() and "a_positions" in state_c
    for key in state_c:
        assert state_c[key].tobytes() == state_w[key].tobytes(), key
