"""The SLURM tests skip on a machine whose SLURM set-up tools/local_slurm.py did not write: the
detector, pointed at temporary files (no cluster needed, nothing started or changed)."""

from __future__ import annotations

import os

import pytest

from .test_slurm import _local_slurm

slurm = _local_slurm()


def test_no_configuration_or_our_own_is_not_foreign(tmp_path):
    conf = tmp_path / "slurm.conf"
    assert slurm.foreign_configuration(conf, env={}) is None
    conf.write_text(slurm.slurm_conf(tmp_path / "state", 2, 1000))
    assert slurm.foreign_configuration(conf, env={}) is None
    assert slurm.foreign_configuration(conf, env={"SLURM_CONF": str(conf)}) is None


def test_a_real_clusters_configuration_is_foreign_and_left_alone(tmp_path):
    conf = tmp_path / "slurm.conf"
    text = "ClusterName=hpc\nSlurmctldHost=head01\nNodeName=n[001-128] CPUs=64\n"
    conf.write_text(text)
    before = os.stat(conf)
    reason = slurm.foreign_configuration(conf, env={})
    assert reason and str(conf) in reason and "not written by tools/local_slurm.py" in reason
    assert conf.read_text() == text and os.stat(conf).st_mtime_ns == before.st_mtime_ns


def test_slurm_conf_pointing_elsewhere_is_foreign(tmp_path):
    ours = tmp_path / "slurm.conf"
    ours.write_text(slurm.slurm_conf(tmp_path / "state", 2, 1000))
    reason = slurm.foreign_configuration(ours, env={"SLURM_CONF": str(tmp_path / "site" / "slurm.conf")})
    assert reason and "SLURM_CONF=" in reason


def test_unreadable_configuration_is_foreign(tmp_path):
    conf = tmp_path / "slurm.conf"
    conf.mkdir()  # reading a folder fails with an OSError whoever runs the test
    reason = slurm.foreign_configuration(conf, env={})
    assert reason and "cannot be read" in reason


def test_the_cluster_fixture_skips_with_the_reason(tmp_path, monkeypatch):
    import tests.workflow.test_slurm as t

    class Fake:
        @staticmethod
        def foreign_configuration():
            return "/etc/slurm/slurm.conf exists and was not written by tools/local_slurm.py"

    def no_cluster(action):
        raise AssertionError(f"the fixture went on to `local_slurm.py {action}`")

    monkeypatch.setattr(t, "_local_slurm", lambda: Fake)
    monkeypatch.setattr(t, "_tool", no_cluster)  # were the check missing, nothing is started
    with pytest.raises(pytest.skip.Exception, match="not written by tools/local_slurm.py"):
        next(t.cluster.__wrapped__())  # the fixture's body up to its yield
