"""The CLI dispatcher: every command listed, only the chosen one imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from probekit.cli import SUBCOMMANDS, main


def test_help_lists_every_command_without_importing_torch():
    code = (
        "import sys, contextlib, io\n"
        "from probekit.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules)\n"
        "print(out.getvalue())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    first, rest = done.stdout.split("\n", 1)
    assert first == "False"
    for name in SUBCOMMANDS:
        assert name in rest


def test_unknown_command_fails_with_the_list(capsys):
    with pytest.raises(SystemExit) as err:
        main(["nosuch"])
    assert err.value.code == 2
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err


def test_a_command_gets_its_own_options(capsys):
    with pytest.raises(SystemExit):
        main(["theory", "--help"])
    assert "--max-exact-d" in capsys.readouterr().out
