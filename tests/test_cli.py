"""The command line: summary, gradcheck, the train flags' defaults, the process settings,
and every kind of bad input."""

import socket
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


def _run(argv) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's way out
        return e.code


BAD_INPUT = [
    (["serve", "--port", "99999"], "--port: must be in 0..65535"),
    (["serve", "--port", "-1"], "--port: must be in 0..65535"),
    (["serve", "--port", "http"], "--port: expected an integer"),
    (["serve", "--server", "bjoern"], "'bjoern' is not installed: pip install bjoern"),
    (["serve", "--server", "nosuch"], "unknown server 'nosuch'"),
    (["serve", "--timeout", "0"], "--timeout: must be > 0"),
    (["serve", "--weights", "/nonexistent/m.npz"], "/nonexistent/m.npz does not exist"),
    (["serve", "--weights", "README.md"], "README.md: not a readable scratchcnn model file"),
    (["bench-web", "--url", "http://127.0.0.1:1/"], "no answer from http://127.0.0.1:1/"),
    (["bench-web", "--url", "ftp://127.0.0.1/"], "url must look like http://HOST:PORT/"),
    (["bench-web", "--url", "http://127.0.0.1:99999/"], "url 'http://127.0.0.1:99999/': Port"),
    (["bench-web", "--clients", "0"], "--clients: must be >= 1"),
    (["bench-web", "--size", "5000"], "--size: must be in 1..2048"),
    (["bench-web", "--server", "bjoern"], "'bjoern' is not installed"),
    (["train", "--epochs", "0"], "--epochs: must be >= 1"),
    (["train", "--lr", "nan"], "--lr: must be > 0, got nan"),
    (["train", "--momentum", "1.5"], "--momentum: must be in 0..1"),
    (["train", "--val-size", "-1"], "--val-size: must be >= 0"),
    (["train", "--model", "nosuch"], "unknown model 'nosuch'"),
    (["train", "--out", "README.md"], "--out README.md is a file, not a folder"),
    (["fetch-mnist", "--timeout", "-1"], "--timeout: must be > 0"),
    (["fetch-mnist", "--offline", "--from", "/nonexistent"], "--from /nonexistent: no such folder"),
    (["gradcheck", "--tol", "-1"], "--tol: must be >= 0"),
    (["summary", "--model", "nosuch"], "unknown model 'nosuch'"),
]


@pytest.mark.parametrize("argv, fragment", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_a_nonzero_exit_before_anything_starts(argv, fragment, capsys):
    assert _run(argv) != 0
    out, err = capsys.readouterr()
    assert out == "", f"printed before failing: {out!r}"
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert err.startswith(f"scratchcnn {argv[0]}: error:")


def test_serve_on_a_busy_port_fails_before_saying_it_serves():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        proc = subprocess.run([sys.executable, "-m", "scratchcnn", "serve", "--port", port],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (f"scratchcnn serve: error: cannot listen on 127.0.0.1:{port}: "
                                   "Address already in use")


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
