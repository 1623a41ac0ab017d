"""The command line: summary, gradcheck, the train flags' defaults, the process settings."""

import subprocess
import sys

import pytest

from scratchcnn import bench, parallel
from scratchcnn.cli import build_parser, main
from scratchcnn.train import DEFAULTS


def test_gradcheck_command_passes_every_layer(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "Conv2D 3x3 s2 p1 [naive]" in out and "whole network [fast]" in out
    assert "FAIL" not in out


def test_gradcheck_command_fails_with_an_impossible_tolerance(capsys):
    assert main(["gradcheck", "--tol", "0"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_summary_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "scratchcnn", "summary"], capture_output=True,
                         text=True, check=True).stdout
    assert "total parameters: 225,034" in out


def test_missing_weights_file_is_a_clear_error(capsys, tmp_path):
    assert main(["summary", "--weights", str(tmp_path / "nope.npz")]) == 2
    assert "nope.npz" in capsys.readouterr().err


def test_train_flags_default_to_train_defaults():
    args = build_parser().parse_args(["train"])
    assert {key: getattr(args, key) for key in DEFAULTS} == DEFAULTS


def test_train_help_names_every_default():
    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    for action in train_parser._actions:
        if action.dest not in ("help", "resume"):
            assert "default" in (action.help or ""), action.dest


@pytest.mark.parametrize("argv, applied", [
    (["train", "--data-dir", "{empty}"], True),  # stops at the missing MNIST files
    (["serve", "--server", "no-such-server"], True),  # stops at the unknown server
    (["bench", "--quick"], True),  # the bench itself is replaced below
    (["summary"], False),
])
def test_long_running_commands_apply_the_process_settings(monkeypatch, tmp_path, argv, applied):
    calls = []
    monkeypatch.setattr(parallel, "configure_process", lambda: calls.append(argv[0]) or True)
    monkeypatch.setattr(bench, "main", lambda **kwargs: 0)
    main([a.replace("{empty}", str(tmp_path)) for a in argv])
    assert calls == ([argv[0]] if applied else [])
