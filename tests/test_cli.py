"""The `mtpflow` entry point: every registered verb has help, and errors are one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mtpflow.cli import VERB_MODULES, build_parser, main


def _verbs():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "verb")
    return sorted(action.choices)


def test_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    verbs = _verbs()
    assert len(verbs) >= len(VERB_MODULES)
    for verb in verbs:
        assert verb in out


@pytest.mark.parametrize("verb", _verbs())
def test_each_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    assert "usage: mtpflow " + verb in capsys.readouterr().out


def test_console_script_reports_bad_input_without_traceback(tmp_path):
    missing = tmp_path / "missing.cfg"
    proc = subprocess.run([sys.executable, "-m", "mtpflow.cli", "convert", str(missing), str(tmp_path / "o.extxyz")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "missing.cfg" in proc.stderr
