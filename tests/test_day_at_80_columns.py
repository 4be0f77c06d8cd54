"""A whole day of the README's everyday commands, run as an officer runs them (each its own process) on an
80-column terminal: every table fits, no arrival id or path is cut short with '…', and nothing reads as
Python (None, ['English']). The threshold meant for another matcher is refused on the way, with the
scale in the message."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from conftest import OFFICER, PASSPHRASE, orl
from triage.errors import ExitStatus

COLUMNS = 80
OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")
PROBE_OVERRIDE = ("--accept-low-quality", "--reason", "fixture photos are 92x112 px")
ARRIVAL_ID = re.compile(r"(?<![0-9A-Za-z])A-[0-9ABCDEFGHJKMNPQRSTVWXYZ]+")  # not inside a fingerprint's hex
TABLE_LINE = re.compile(r"^[┏┃┡│└┗┣╭╰]")


class Day:
    """Runs `triage` as its own process with COLUMNS=80 and keeps every line it printed."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")} | {
            "COLUMNS": str(COLUMNS),
            "TRIAGE_HOME": str(root / "home"),
            "TRIAGE_PASSPHRASE": PASSPHRASE,
            "TRIAGE_OFFICER": OFFICER,
        }
        self.transcript: list[tuple[str, str]] = []  # (command, a line it printed)
        self.ids: list[str] = []  # the arrivals captured, oldest first
        self.refused = ""  # what `match --threshold 0.45` said

    def __call__(self, *args: object, code: int = 0) -> subprocess.CompletedProcess[str]:
        argv = [str(a) for a in args]
        done = subprocess.run(
            [sys.executable, "-m", "triage", *argv], env=self.env, cwd=self.root, capture_output=True, text=True
        )
        assert done.returncode == code, f"triage {' '.join(argv)} exited {done.returncode}\n{done.stderr}"
        command = " ".join(argv[:3])
        self.transcript += [(command, line) for line in (done.stdout + done.stderr).splitlines()]
        return done


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Day:
    root = tmp_path_factory.mktemp("day80")
    run = Day(root)
    today = dt.date.today().isoformat()
    run("init", "--site", "Dover Western Docks", "--force-code", "KNT")
    run(
        "watchlist",
        "add",
        orl(1, 1),
        "--ref",
        "WL-0012",
        "--name",
        "Karwan HAMA",
        "--category",
        "facilitator",
        "--reason",
        "Suspected pilot for a smuggling network",
        "--authorised-by",
        "DS 4411 Clarke",
        "--review-date",
        "2099-05-01",
        *OVERRIDE,
    )
    run(
        "capture",
        "--photo",
        orl(1, 2),
        "--surname",
        "Obama",
        "--given-names",
        "Barack",
        "--dob",
        "04/08/1961",
        "--nationality",
        "Sudan",
        "--language",
        "English",
        "--language",
        "Arabic",
        "--phone",
        "+44 7700 900123",
        "--vessel",
        "SB-0417",
        *PROBE_OVERRIDE,
    )
    run("capture", "--photo", orl(1, 3), "--surname", "Hussein", "--vessel", "SB-0417", *PROBE_OVERRIDE)
    run("capture", "--photo", orl(2, 1), "--surname", "Ahmadi", "--given-names", "Reza", "--age", "16-18")
    run("arrivals", "list")
    run.ids = [a["arrival_id"] for a in json.loads(run("arrivals", "list", "--json").stdout)]
    first, second, _ = run.ids
    run("arrivals", "show", first)
    run("arrivals", "show", second)
    run("match", second)
    run.refused = run("match", second, "--threshold", "0.45", code=int(ExitStatus.BAD_INPUT)).stderr
    run("review", "--pending")
    run("review", second)
    run("review", second, "--candidate", first, "--decision", "confirmed", "--reason", "same ear shape and scar")
    run("pnd", "draft", second, "--purpose", "To establish whether the arrival is wanted or linked to organised crime")
    sup = root / "supervisor"
    run("init", "--home", sup, "--site", "Dover HQ", "--force-code", "KNT")
    recipient = json.loads(run("keys", "show", "--json", "--home", sup).stdout)["age_recipient"]
    run("keys", "recipient", "add", "Supervisor", recipient)
    run("keys", "trust", "Laptop", json.loads(run("keys", "show", "--json").stdout)["signing_key"], "--home", sup)
    run("export", "--date", today, "--out", root / "batch.age")
    run("import", root / "batch.age", "--home", sup)
    run("review", "--pending", "--home", sup)
    run("arrivals", "find", "Hussein")
    run("names", "الحسن")
    run("report", "--date", today, "--format", "text")
    run("audit", "verify")
    run("demo", "--home", root / "demo")
    return run


def test_no_id_or_path_is_cut(day):
    cut = [(c, line) for c, line in day.transcript if "…" in line]
    assert not cut, "\n".join(f"{c}: {line}" for c, line in cut)
    for command, line in day.transcript:
        for found in ARRIVAL_ID.findall(line):
            assert len(found) == len("A-XXXXXX"), f"{command}: a cut arrival id {found!r} in\n{line}"
    lines = [line for _, line in day.transcript]
    for arrival in day.ids:
        assert any(arrival in line for line in lines)
    demo = day.root / "demo-outputs"  # beside the demo's home, never inside it
    for output in demo.iterdir():  # the demo's draft and batch, each on a line of its own
        assert any(line.strip() == str(output) for line in lines), output
    assert any(str(day.root / "batch.age") in line for line in lines)


def test_the_demo_s_commands_to_explore_it_name_its_home(day):
    """Copied as printed, each command must open the demo's home, not the officer's own."""
    lines = [line for command, line in day.transcript if command.startswith("demo")]
    for command in ("review --pending", "training score"):
        shown = [line for line in lines if f"triage {command}" in line]
        assert shown and all(f"TRIAGE_HOME={day.root / 'demo'} " in line for line in shown), (command, shown)


def test_every_table_fits_80_columns(day):
    wide = [(c, line) for c, line in day.transcript if TABLE_LINE.match(line) and cell_len(line) > COLUMNS]
    assert not wide, "\n".join(f"{c}: {line}" for c, line in wide)


def test_nothing_reads_as_python(day):
    python = [(c, line) for c, line in day.transcript if re.search(r"\bNone\b|\['|\{'", line)]
    assert not python, "\n".join(f"{c}: {line}" for c, line in python)
    text = "\n".join(line for _, line in day.transcript)
    assert "English, Arabic" in text and "+447700900123" in text


def test_the_threshold_of_another_matcher_is_refused_with_the_scale(day):
    message = day.refused
    assert "fused distances run 0-23" in message and "the calibrated threshold is 10.90" in message
