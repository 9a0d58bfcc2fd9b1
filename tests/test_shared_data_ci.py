"""Missing ../shared/data: the tests that need it skip with a reason locally, but under CI=true the
run fails at once with one message (the independent checks must not silently vanish from CI)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

TARGET = "tests/io/test_cfg_mtp.py"   # a quick file with tests that use shared_path


def _pytest(env_changes, tmp_path):
    env = dict(os.environ, **env_changes)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TARGET],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_missing_shared_data_fails_under_ci_and_skips_locally(tmp_path):
    absent = str(tmp_path / "absent")
    ci = _pytest({"CI": "true", "MTPFLOW_SHARED_DATA": absent}, tmp_path)
    out = ci.stdout + ci.stderr
    assert ci.returncode != 0
    assert out.count(f"CI=true: shared data not present: {absent}") == 1, out
    assert "passed" not in out                      # stopped before running anything
    local = _pytest({"CI": "", "MTPFLOW_SHARED_DATA": absent}, tmp_path)
    assert local.returncode == 0 and "skipped" in local.stdout
    assert f"shared data not present: {absent}" in local.stdout


def test_a_missing_file_fails_its_test_under_ci(tmp_path):
    (tmp_path / "empty").mkdir()
    ci = _pytest({"CI": "true", "MTPFLOW_SHARED_DATA": str(tmp_path / "empty")}, tmp_path)
    assert ci.returncode == 1 and "failed" in ci.stdout and "skipped" not in ci.stdout.splitlines()[-1]
    assert "CI=true: shared data not present" in ci.stdout
