"""What the CLI says in sentences reads on an 80-column terminal: each line wraps between words at the console's
width (a terminal left to wrap it splits words), continuation lines of a list's entry indented, no word broken;
a command to copy keeps a line of its own. An answer refused while the details are asked names the field
asked, not a flag the officer never typed."""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len

from conftest import orl
from triage.cli.common import err, out

TABLE_LINE = re.compile(r"^[┏┃┡│└┗┣╭╰]")
PROMPT = re.compile(r"Arrival \d+: photo \(type or paste its path; q ends\): ")


@pytest.fixture
def at(monkeypatch):
    """Sets the width both consoles lay text out in, as a terminal of that many columns would."""

    def width(columns: int) -> None:
        monkeypatch.setattr(out, "width", columns)
        monkeypatch.setattr(err, "width", columns)

    return width


def _prose(text: str) -> list[str]:
    return [line for line in text.splitlines() if not TABLE_LINE.match(line)]


def test_review_of_an_arrival_wraps_its_candidates_and_history_between_words(cli, wl_home, at):
    aid = cli.json("capture", "--photo", orl(7, 4), "--surname", "Hama")["arrival_id"]
    reason = "photo too small to compare the ears, the left one hidden by the hood of a blue jacket"
    cli("review", aid, "--candidate", "WL-007", "--decision", "inconclusive", "--reason", reason)
    shown = {}
    for columns in (80, 1000):
        at(columns)
        shown[columns] = cli("review", aid).stdout
    assert all(cell_len(line) <= 80 for line in shown[80].splitlines()), shown[80]
    narrow, wide = _prose(shown[80]), _prose(shown[1000])
    assert " ".join(narrow).split() == " ".join(wide).split(), "the same words, none broken"
    assert len(narrow) > len(wide)
    said = " ".join(" ".join(narrow).split())
    assert "#1 watchlist WL-007: distance" in said and f"— {reason}" in said
    assert f"  triage review {aid} --portraits-to FOLDER" in shown[80].splitlines()  # whole, to copy


def test_an_answer_refused_while_asking_names_the_field_and_wraps_between_words(cli, home, at):
    at(80)
    answers = ["Haddad", "", "", "", "", "", "Narnia", "Eritrea", "", "", "", "", "", "y"]
    res = cli("capture", "--photo", orl(16, 2), "--interactive", "--json", input="\n".join(answers) + "\n")
    start = res.stderr.index("nationality: 'Narnia'")  # after the question, on its line when no one types
    said = res.stderr[start : res.stderr.index("try again", start) + len("try again")]
    assert " ".join(said.split()) == (
        "nationality: 'Narnia' is not a country; use a name such as Eritrea or a code such as ERI - try again"
    )
    assert len(said.splitlines()) == 2 and all(cell_len(line) <= 80 for line in said.splitlines()), said
    assert "--nationality" not in res.stderr


def test_the_sessions_standing_wraps_between_words(cli, wl_home, at):
    at(80)
    res = cli("session", "--vessel", "SB-0417", input="q\n")
    said = PROMPT.sub("\n", res.stderr)  # the question is answered on its own line at a terminal
    assert all(cell_len(line) <= 80 for line in said.splitlines()), said
    words = " ".join(said.split())
    assert "Vessel SB-0417: 0 landed, 0 awaiting review" in words and "0 flagged for safeguarding." in words
    assert "Session ended: 0 landed in this session." in words


def test_every_message_wraps_between_words_in_a_terminal_and_stays_one_line_in_a_pipe(cli, tmp_path, monkeypatch):
    """A message a command prints with `out.print` (here `init`'s) wraps between words on an 80-column terminal, a
    path longer than the line whole on its own; to a pipe or a file it stays one line for whatever reads it."""
    home = tmp_path / ("a-folder-name-long-enough-to-need-a-line-of-its-own" * 2) / "home"
    piped = cli("init", "--home", home, "--site", "Dover Western Docks", "--force-code", "KNT").stdout
    assert len(piped.splitlines()) == 1 and str(home) in piped
    monkeypatch.setattr(out, "width", 80)
    monkeypatch.setattr(type(out), "is_terminal", property(lambda self: True))
    again = tmp_path / "second" / ("a-folder-name-long-enough-to-need-a-line-of-its-own" * 2) / "home"
    lines = cli("init", "--home", again, "--site", "Dover Western Docks", "--force-code", "KNT").stdout.splitlines()
    assert str(again) in lines, lines
    assert all(cell_len(line) <= 80 for line in lines if line != str(again)) and len(lines) >= 3
    device = re.compile(r"device [0-9A-F]+")
    assert device.sub("", " ".join(" ".join(lines).split())) == device.sub(
        "", " ".join(piped.replace(str(home), str(again)).split())
    )


def test_a_document_wraps_under_its_values_in_a_terminal_and_is_kept_whole_in_a_pipe():
    """A draft or a day's report printed to a terminal wraps between words, a field's value carrying on under
    itself; to a pipe it is the document exactly as written (for a file or another program)."""
    import io

    from triage.cli.common import SafeConsole, document

    text = "Names to search : " + ", ".join(f"HASSAN{i} MOHAMMED{i}" for i in range(12)) + "\n  A-7K3F9Q  short\n"
    terminal = io.StringIO()
    document(SafeConsole(file=terminal, force_terminal=True, width=80, color_system=None), text)
    lines = terminal.getvalue().splitlines()
    assert all(cell_len(line) <= 80 for line in lines) and len(lines) > 3
    assert all(line.startswith(" " * len("Names to search : ")) for line in lines[1:-1])
    assert lines[-1] == "  A-7K3F9Q  short"
    piped = io.StringIO()
    document(SafeConsole(file=piped, force_terminal=False, width=80), text)
    assert piped.getvalue() == text


def test_the_audit_trail_at_80_columns_keeps_every_id_whole(cli, home, at):
    """Seven columns at 80 cut ids and actions mid-word; narrower than a table needs, each event is a block."""
    arrival = cli.json("capture", "--photo", orl(3, 1))["arrival_id"]
    cli("arrivals", "flag", arrival, "--safeguarding", "--reason", "says he is fifteen and travelling alone")
    at(80)
    shown = cli("audit", "show").stdout
    assert "safeguarding-flag by " in shown and f"arrival {arrival}" in shown and f"arrival:{arrival}" in shown
    assert all(cell_len(line) <= 80 for line in shown.splitlines()), shown
