"""What an officer reads about a crime-group suggestion and a void arrival at an 80-column terminal: no id, time or
source cut in two, times under "(UTC)" written as other tables write them, and the command to confirm a link on a
line of its own, whole, to copy."""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len

from conftest import orl
from triage.cli.common import out

TABLE_LINE = re.compile(r"^[┏┃┡│└┗┣╭╰]")


@pytest.fixture
def terminal(monkeypatch):
    """stdout as an 80-column terminal, where a message wraps between words."""
    monkeypatch.setattr(out, "width", 80)
    monkeypatch.setattr(type(out), "is_terminal", property(lambda self: True))


@pytest.fixture
def suggested(cli, home):
    """An arrival whose debrief gives a phone number registered against a group, and the group."""
    aid = cli.json("capture", "--photo", orl(22, 1), "--vessel", "SB-TR-0417")["arrival_id"]
    cli("ocg", "add", "OCG-2026-014", "--phone", "0033 612 345 678", "--name", "Kak Rebwar")
    return aid


def test_a_debriefs_suggested_link_gives_the_command_to_confirm_on_a_line_of_its_own(cli, suggested, terminal):
    lines = cli("debrief", suggested, "--contact-phone", "0033612345678", "--paid-to", "Kak Rebwar").stdout.splitlines()
    assert all(cell_len(line) <= 80 for line in lines), lines
    assert f'  triage ocg link OCG-2026-014 --arrival {suggested} --reason "..."' in lines
    said = " ".join(" ".join(line for line in lines if not TABLE_LINE.match(line)).split())
    assert "Suggested crime-group link, not confirmed: OCG-2026-014 via phone +33612345678 (contacts.phones)" in said


def test_the_suggestions_table_keeps_ids_times_and_sources_whole(cli, suggested, terminal):
    cli("debrief", suggested, "--contact-phone", "0033612345678", "--paid-to", "Kak Rebwar")
    landed = cli.json("arrivals", "show", suggested)["landed_at"]
    lines = cli("ocg", "suggestions").stdout.splitlines()
    assert all(cell_len(line) <= 80 for line in lines), lines
    cells = [cell.strip() for line in lines if TABLE_LINE.match(line) for cell in line.strip("│┃ ").split("│")]
    for whole in ("OCG-2026-014", suggested, "phone +33612345678", "(contacts.phones)", "(payment.paid_to)"):
        assert any(whole in cell for cell in cells), (whole, lines)
    day, time = landed[:10], landed[11:19]
    assert day in cells and time in cells, lines  # the date above its time, as `arrivals list` shows it
    assert not any(re.search(r"\d{4}-\d\d-\d\dT", line) for line in lines), lines


def test_a_void_arrivals_reason_wraps_between_words(cli, home, terminal):
    aid = cli.json("capture", "--photo", orl(3, 1))["arrival_id"]
    reason = "duplicate of A-7K3F9Q: the same person captured twice at the tent by two officers on the night shift"
    cli("arrivals", "void", aid, "--reason", reason)
    lines = cli("arrivals", "show", aid).stdout.splitlines()
    assert all(cell_len(line) <= 80 for line in lines), lines
    said = " ".join(" ".join(line for line in lines if not TABLE_LINE.match(line)).split())
    assert f": {reason}" in said and "VOID: voided by " in said
