"""Text from officers, files and the store is printed as written: square brackets in names, aliases, notes,
reasons, vessels and error messages are never read as rich markup (styling, links) nor swallowed."""

from __future__ import annotations

import datetime as dt

import pytest
from test_mrz import make_td3

from conftest import orl
from triage.cli.common import err, out
from triage.errors import ExitStatus

OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")
FUTURE = (dt.date.today() + dt.timedelta(days=120)).isoformat()

NAME = "Omar [bold]"
ALIAS = "[bold]Abu[/]"
REASON = "Smuggling [red]x[/red] pilot [/] seen twice"
AUTHORITY = "[link=file:///etc/passwd]DS 1[/link]"
SURNAME = "[bold]Hama[/]"
GIVEN = "Karwan [i]"
NOTES = "[red]x[/red] said [/] twice"
TYPED_VESSEL = "SB-[b]7"
VESSEL = TYPED_VESSEL.upper()  # as kept: a vessel reference is kept in capitals
REVIEW_REASON = "ears differ [/] see [link=file:///etc/passwd]notes[/link]"
REVIEWER = "PC 9 [bold]Reviewer[/]"


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    """No table cell wraps, so every value is on one line to be found whole."""
    monkeypatch.setattr(out, "width", 400)
    monkeypatch.setattr(err, "width", 400)


@pytest.fixture
def subject(cli, home):
    cli(
        "watchlist",
        "add",
        orl(7, 1),
        "--ref",
        "WL-H1",
        "--name",
        NAME,
        "--category",
        "facilitator",
        "--reason",
        REASON,
        "--authorised-by",
        AUTHORITY,
        "--review-date",
        FUTURE,
        "--alias",
        ALIAS,
        *OVERRIDE,
    )
    return "WL-H1"


@pytest.fixture
def arrival(cli, subject):
    """An arrival with hostile details whose only watchlist candidate is the hostile subject."""
    res = cli(
        "capture",
        "--photo",
        orl(7, 4),
        "--surname",
        SURNAME,
        "--given-names",
        GIVEN,
        "--alias",
        ALIAS,
        "--notes",
        NOTES,
        "--vessel",
        TYPED_VESSEL,
    )
    assert f"{NAME} [facilitator]" in res.stdout  # the candidate table
    return cli.json("arrivals", "list")[0]


def test_watchlist_list_and_show(cli, subject):
    listed = cli("watchlist", "list").stdout
    assert NAME in listed and AUTHORITY in listed
    shown = cli("watchlist", "show", subject).stdout
    for text in (NAME, ALIAS, REASON, AUTHORITY):
        assert text in shown, text


def test_capture_candidates_and_arrivals_list_and_show(cli, arrival):
    full_name = arrival["name"]  # "[BOLD]HAMA[/], Karwan [i]": the surname is shown in capitals
    assert "[BOLD]HAMA[/]" in full_name and GIVEN in full_name
    again = cli("capture", "--photo", orl(7, 5), "--surname", "Other", "--vessel", TYPED_VESSEL).stdout
    assert full_name in again  # the earlier arrival as a candidate
    listed = cli("arrivals", "list").stdout
    assert VESSEL in listed and full_name in listed
    shown = cli("arrivals", "show", arrival["arrival_id"]).stdout
    for text in (SURNAME, GIVEN, ALIAS, NOTES, VESSEL, f"{NAME} [facilitator]"):
        assert text in shown, text


def test_review_history_pending_and_audit(cli, arrival, subject):
    arrival = arrival["arrival_id"]
    pending = cli("review", "--pending").stdout
    assert VESSEL in pending
    recorded = cli(
        "review",
        arrival,
        "--candidate",
        subject,
        "--decision",
        "rejected",
        "--reason",
        REVIEW_REASON,
        "--officer",
        REVIEWER,
    ).stdout
    assert REVIEW_REASON in recorded and REVIEWER in recorded
    view = cli("review", arrival, "--no-portraits").stdout
    assert f"{NAME} [facilitator]" in view and REVIEW_REASON in view and VESSEL in view
    shown = cli("arrivals", "show", arrival).stdout
    assert f"rejected by {REVIEWER}" in shown and REVIEW_REASON in shown
    audit = cli("audit", "show").stdout
    assert REVIEW_REASON in audit and REVIEWER in audit


def test_error_and_warning_messages_quote_the_input_as_given(cli, home, tmp_path):
    for ref in ("WL-[red]x[/red]", "[/]", "[link=file:///etc/passwd]WL[/link]"):
        res = cli(
            "watchlist",
            "add",
            orl(1, 1),
            "--ref",
            ref,
            "--name",
            "A B",
            "--category",
            "wanted",
            "--reason",
            "wanted on a warrant",
            "--authorised-by",
            "DS 1",
            "--review-date",
            FUTURE,
            *OVERRIDE,
            code=int(ExitStatus.BAD_INPUT),
        )
        assert f"error: --ref {ref!r}" in res.stderr, res.stderr
    missing = tmp_path / "[bold]no photo[/].jpg"
    res = cli("capture", "--photo", missing, code=int(ExitStatus.BAD_INPUT))
    assert str(missing) in res.stderr, res.stderr
    res = cli("capture", "--photo", orl(1, 1), "--dob", "[red]1990[/red]", code=int(ExitStatus.BAD_INPUT))
    assert "[red]1990[/red]" in res.stderr, res.stderr
    zone = make_td3(
        state="ERI",
        nationality="ERI",
        name="HAILE<<YONAS",
        number="EP1234567",
        birth="900203",
        sex="M",
        expiry="350415",
        personal="",
    )
    res = cli("capture", "--photo", orl(3, 2), "--mrz", zone, "--surname", "[red]Tesfay[/red]")
    assert "surname: typed '[red]Tesfay[/red]', the MRZ has 'HAILE'" in res.stderr, res.stderr
