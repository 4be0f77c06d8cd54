"""Ctrl-C in the first moment of a command, while Python still imports the command line: one line and exit
status 130, as anywhere later in a command, never a traceback. The process sends the signal to itself at a
chosen point of its start (a `sitecustomize` this test puts on PYTHONPATH, which Python runs before
triage), so each point is hit every time, however fast or slow the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from triage.errors import INTERRUPTED_TEXT, ExitStatus

ROOT = Path(__file__).resolve().parents[1]

# At the first call of FUNCTION in MODULE (`<module>`: its import), the process sends itself the signal.
HOOK = """
import os, signal, sys

module, function = os.environ["SIGNAL_AT"].split(":")
sent = getattr(signal, os.environ["SIGNAL_SENT"])


def profile(frame, event, arg):
    if event == "call" and frame.f_code.co_name == function and frame.f_globals.get("__name__") == module:
        sys.setprofile(None)
        os.kill(os.getpid(), sent)


sys.setprofile(profile)
"""


def start(tmp_path: Path, at: str, sent: str, *command: str) -> subprocess.CompletedProcess[str]:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    env = dict(os.environ, PYTHONPATH=str(hook), SIGNAL_AT=at, SIGNAL_SENT=sent, TRIAGE_HOME=str(tmp_path / "home"))
    env.pop("TRIAGE_DEBUG", None)
    return subprocess.run(
        [*command, "arrivals", "list"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


MODULE = [sys.executable, "-m", "triage"]


@pytest.mark.parametrize(
    "at",
    [
        "triage.cli.app:<module>",  # the command line's import begins
        "typer:<module>",
        "rich.console:<module>",
        "triage.cli.capture:<module>",  # a command group's
        "triage.cli.app:main",  # its first lines, before it catches anything itself
        "triage.cli.capture:start_early",
        "typer.main:get_command",  # the command line is built from every command
        "triage.cli.app:make_context",  # and the arguments read
        "triage.cli.arrivals:list_cmd",  # the command itself, as before
    ],
)
def test_ctrl_c_while_a_command_starts_ends_it_in_one_line_with_exit_130(tmp_path, at):
    done = start(tmp_path, at, "SIGINT", *MODULE)
    assert "Traceback" not in done.stderr and "ignored" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == [f"interrupted: {INTERRUPTED_TEXT}"], done.stderr
    assert done.returncode == int(ExitStatus.INTERRUPTED) and done.stdout == ""


def test_the_triage_command_is_started_the_same_way(tmp_path):
    script = Path(sys.executable).parent / "triage"  # the console script, as an officer types it
    if not script.exists():
        pytest.skip("no `triage` console script beside this Python")
    done = start(tmp_path, "triage.cli.app:<module>", "SIGINT", str(script))
    assert done.stderr.splitlines() == [f"interrupted: {INTERRUPTED_TEXT}"], done.stderr
    assert done.returncode == int(ExitStatus.INTERRUPTED)


def test_a_term_signal_while_a_command_starts_ends_it_as_it_ends_any_command(tmp_path):
    """TERM ends triage at once, with nothing said, wherever it falls (`capture --watch` alone stops its watch
    cleanly): while it starts too, and with no traceback."""
    done = start(tmp_path, "triage.cli.app:<module>", "SIGTERM", *MODULE)
    assert done.returncode == -signal.SIGTERM and done.stderr == "", done.stderr
