"""Text shown to a person cannot drive the terminal: vessel references, sites and officers with control or
direction characters are refused at entry, and whatever reaches the store by another way (a record made
before these checks, another laptop's batch) is printed with those characters as visible escapes."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from rich.markup import escape
from rich.text import Text

from conftest import orl, row_counts
from triage.casework.arrivals import local_day
from triage.cli.common import SafeConsole, safe
from triage.errors import ExitStatus

BAD_INPUT = int(ExitStatus.BAD_INPUT)
# ESC sequences that set the window title and clear the screen, a bell, a right-to-left override, a
# left-to-right isolate, the C1 control sequence introducer and DEL.
HOSTILE = "Ali\x1b]0;owned\x07\x1b[2J\u202eevil\u2066x\x9b1m\x7fend"
OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")
FUTURE = (dt.date.today() + dt.timedelta(days=120)).isoformat()
DIRECTIONAL = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def inert(data: bytes) -> list[str]:
    """The characters in `data` that could act on a terminal: C0 but newline and tab, DEL, C1, direction."""
    return [
        c
        for c in data.decode("utf-8", "surrogateescape")
        if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F or c in DIRECTIONAL
    ]


# -- refused at entry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("vessel", ["SB-\x1b[31m1", "SB-\x07", "SB\u202e7140", "SB\n1", "S" * 100_000])
def test_a_vessel_reference_that_is_not_plain_text_is_refused(cli, home, vessel):
    before = row_counts(home)
    res = cli("capture", "--photo", orl(6, 6), "--vessel", vessel, code=BAD_INPUT)
    assert "--vessel" in res.stderr and "letters, digits, spaces and punctuation" in res.stderr
    assert len(res.stderr) < 400 and not inert(res.stderr_bytes)
    assert row_counts(home) == before
    cli("vessel", "show", vessel, code=BAD_INPUT)


def test_capture_batch_refuses_a_hostile_vessel_default_and_cell(cli, home, tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"photo,vessel\n{orl(1, 1)},SB-\x1b[2J1\n{orl(2, 1)},SB-2\n", encoding="utf-8")
    res = cli("capture-batch", manifest, "--vessel", "SB\x1b[31m", code=BAD_INPUT)
    assert "--vessel" in res.stderr and row_counts(home)["arrivals"] == 0
    report = cli.json("capture-batch", manifest, code=BAD_INPUT)
    (refused,) = report["refusals"]
    assert refused["row"] == 1 and "column vessel" in refused["reason"]
    assert [a["row"] for a in report["arrivals"]] == [2]


def test_site_filters_and_officers_are_checked_too(cli, home):
    day = dt.date.today().isoformat()
    res = cli("report", "--date", day, "--format", "text", "--site", "Dover\x1b[2J", code=BAD_INPUT)
    assert "--site" in res.stderr and "site name" in res.stderr
    res = cli("capture", "--photo", orl(6, 6), "--officer", "PC 1\x1b[8m", code=BAD_INPUT)
    assert "--officer" in res.stderr and row_counts(home)["arrivals"] == 0


# -- printed safely -----------------------------------------------------------------------------------


@pytest.fixture
def unchecked(monkeypatch):
    """Entry checks switched off, so hostile text lands in the store as a record from elsewhere would."""
    from triage.intake import biographic

    monkeypatch.setattr(biographic, "REFUSED_CATEGORIES", frozenset())
    monkeypatch.setattr(biographic, "BIDI_CONTROLS", frozenset())
    for module in ("triage.cli.capture", "triage.casework.arrivals", "triage.casework.vessels"):
        monkeypatch.setattr(f"{module}.parse_vessel", lambda text, field="--vessel": text)


def test_no_control_character_from_user_text_reaches_the_terminal(cli, home, unchecked):
    outputs = []

    def run(*args, code: int = 0):
        res = cli(*args, code=code)
        outputs.append((args, res))
        return res

    run(
        "watchlist",
        "add",
        orl(7, 1),
        "--ref",
        "WL-H1",
        "--name",
        HOSTILE,
        "--category",
        "facilitator",
        "--reason",
        "wanted on a warrant " + HOSTILE,
        "--authorised-by",
        HOSTILE,
        "--review-date",
        FUTURE,
        "--alias",
        HOSTILE,
        *OVERRIDE,
    )
    run(
        "capture",
        "--photo",
        orl(7, 4),
        "--surname",
        HOSTILE,
        "--given-names",
        HOSTILE,
        "--notes",
        HOSTILE,
        "--vessel",
        HOSTILE,
        "--officer",
        HOSTILE,
    )
    run("capture", "--photo", orl(7, 5), "--surname", "Other", "--vessel", HOSTILE)
    first = cli.json("arrivals", "list")[-1]
    aid = first["arrival_id"]
    run("arrivals", "list")
    run("arrivals", "show", aid)
    run("vessel", "show", HOSTILE)
    run("review", "--pending")
    run("review", aid, "--no-portraits")
    run(
        "review",
        aid,
        "--candidate",
        "WL-H1",
        "--decision",
        "rejected",
        "--reason",
        "ears differ " + HOSTILE,
        "--officer",
        HOSTILE,
    )
    run("arrivals", "show", aid)
    run("watchlist", "list")
    run("watchlist", "show", "WL-H1")
    run("ocg", "add", "OCG-1", "--name", HOSTILE, "--route", HOSTILE, "--notes", HOSTILE)
    run("ocg", "list")
    run("ocg", "show", "OCG-1")
    run("audit", "show")
    run("report", "--date", local_day(first["landed_at"], "Europe/London"), "--format", "text")
    run("arrivals", "show", "A-\x1b]0;x\x07", code=int(ExitStatus.NOT_FOUND))
    run("pnd", "show", "PND-\u202eX", code=int(ExitStatus.NOT_FOUND))
    for args, res in outputs:
        assert not inert(res.stdout_bytes), (args, sorted(set(inert(res.stdout_bytes))))
        assert not inert(res.stderr_bytes), (args, sorted(set(inert(res.stderr_bytes))))
    shown = cli("arrivals", "show", aid).stdout
    assert "\\x1b]0;owned" in shown and "\\u202eevil" in shown, "shown as escapes, not dropped"


def test_a_terminal_keeps_its_styles_but_never_gets_the_users_codes():
    buf = io.StringIO()
    console = SafeConsole(file=buf, force_terminal=True, color_system="standard", width=200)
    console.print(f"[bold]{escape(HOSTILE)}[/]")
    console.print(Text(HOSTILE, style="red"))
    written = buf.getvalue()
    assert "\x1b[1m" in written and "\x1b[31m" in written, "the console's own styling is kept"
    assert "\x1b]0;" not in written and "\x1b[2J" not in written and "\u202e" not in written and "\x9b" not in written
    assert safe("tab\tand\nnewline") == "tab\tand\nnewline"
    assert safe("\x1b\x00\x7f\x85\u200f\u061c") == "\\x1b\\x00\\x7f\\x85\\u200f\\u061c"


def test_a_table_holding_escaped_text_keeps_its_columns_at_80(cli, home, unchecked):
    """An escape is several characters where the character it stands for takes none: escaped only as the
    table was written, a name cell pushed its row past the column's edge and the border out of line."""
    from rich.cells import cell_len

    cli("capture", "--photo", orl(7, 4), "--surname", "Hasan\x1b[2J\u202eevil", "--given-names", "Omar\u2066")
    for args in (("arrivals", "list"), ("arrivals", "find", "Omar")):
        out = cli(*args).stdout
        assert "\\x1b" in out and "\\u2066" in out, "shown as escapes"
        rows = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
        assert rows and {cell_len(line) for line in rows} == {cell_len(rows[0])}, (args, out)
        assert cell_len(rows[0]) <= 80
