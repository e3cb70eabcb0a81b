"""`--threads N` on every command: the default, its precedence, and that it is restored."""

from __future__ import annotations

import argparse
import os

import pytest
import torch

from probekit.cli import SUBCOMMANDS, build_parser, main, thread_count, threads_for


def test_default_is_one_thread_unless_the_environment_says_otherwise():
    assert threads_for(None, environ={}) == 1
    assert threads_for(None, environ={"OMP_NUM_THREADS": "4"}) is None  # torch reads it
    assert threads_for(3, environ={"OMP_NUM_THREADS": "4"}) == 3  # the flag wins
    assert threads_for(0, environ={}) is None  # 0 leaves torch's own default


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_command_takes_threads(name):
    parser = build_parser(load=name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "--threads" in sub.choices[name].format_help()


def test_thread_count_sets_and_restores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    with thread_count(2):
        assert torch.get_num_threads() == 2
        assert os.environ["OMP_NUM_THREADS"] == "2"  # reaches the processes a command starts
    assert torch.get_num_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_a_command_runs_with_the_requested_threads(monkeypatch, capsys):
    seen = {}

    def fake_run(args):
        seen["threads"] = torch.get_num_threads()
        return 0

    import probekit.commands.fourier as fourier

    monkeypatch.setattr(fourier, "run", fake_run)
    torch.set_num_threads(1)
    assert main(["fourier", "--threads", "2"]) == 0
    assert seen["threads"] == 2
    assert torch.get_num_threads() == 1


def test_a_bad_thread_count_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--threads", "-2"])
    assert exc.value.code == 2
    assert "--threads must be a whole number >= 0" in capsys.readouterr().err
