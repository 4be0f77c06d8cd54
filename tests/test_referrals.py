"""Arrival method and the referral record through the real CLI and store: the steps still missing show in the
review queue, the day report and the day's batch until an officer records them; every version is kept."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from types import SimpleNamespace

import pytest

from conftest import OFFICER, PASSPHRASE, Cli, orl, signed_in
from triage.casework import referrals
from triage.errors import BadInput, ExitStatus
from triage.exchange import batch
from triage.store.rows import Store

DAY = (dt.date.today() - dt.timedelta(days=1)).isoformat()
ALL_STEPS = ["arrival-method", "control-unit", "lead-agency", "biometric-enrolment"]


@pytest.fixture(scope="module")
def landing(tmp_path_factory, face_models):
    """An adult and a possible child landed yesterday, captured through the CLI once; tests work on copies."""
    home = tmp_path_factory.mktemp("referrals") / "home"
    cli = Cli()
    with signed_in():
        cli("init", "--home", home, "--site", "Dover", "--force-code", "KNT")
        adult = cli.json(
            "capture",
            "--home",
            home,
            "--photo",
            orl(15, 1),
            "--surname",
            "Karimi",
            "--vessel",
            "SB-3",
            "--landed-at",
            f"{DAY}T03:10",
        )["arrival_id"]
        child = cli.json(
            "capture",
            "--home",
            home,
            "--photo",
            orl(16, 2),
            "--surname",
            "Ahmadi",
            "--age",
            "15",
            "--vessel",
            "SB-3",
            "--landed-at",
            f"{DAY}T03:20",
        )["arrival_id"]
    return home, adult, child


@pytest.fixture
def site(landing, triage_env, cli) -> SimpleNamespace:
    shutil.copytree(landing[0], triage_env)
    return SimpleNamespace(home=triage_env, adult=landing[1], child=landing[2])


def gaps(cli) -> dict[str, list[str]]:
    return {r["arrival_id"]: r["missing"] for r in cli.json("referral", "--incomplete", "--date", DAY)}


def test_missing_referral_steps_are_queued_until_recorded(cli, site):
    assert gaps(cli) == {site.adult: ALL_STEPS, site.child: [*ALL_STEPS, "safeguarding-referral"]}
    pending = cli("review", "--pending").stdout
    assert "Referrals incomplete" in pending and site.adult in pending and site.child in pending
    listed = pending[pending.index("Referrals incomplete") :].splitlines()
    (child_row,) = [n for n, line in enumerate(listed) if site.child in line]
    assert "SAFEGUARDING" in listed[child_row + 1].split("│")[1], "flagged beside the arrival, not among the steps"
    report = cli("report", "--date", DAY, "--format", "text").stdout
    section = report[report.index("Referrals incomplete") :]
    assert (
        f"{site.child}  AHMADI  SAFEGUARDING  missing: arrival method; command-and-control unit contact; "
        "lead agency (or none); biometric enrolment yes/no; safeguarding referral"
    ) in section
    assert cli.json("report", "--date", DAY, "--format", "text")["totals"]["referrals_incomplete"] == 2

    done = cli.json(
        "referral",
        site.adult,
        "--arrival-method",
        "small-boat",
        "--control-unit-ref",
        "CCU/26/1187",
        "--lead-agency",
        "none",
        "--biometric-enrolment",
        "yes",
    )
    assert done["missing"] == [] and done["history"] == []
    assert done["current"]["control_unit_ref"] == "CCU/26/1187" and done["current"]["control_unit_at"]
    assert [done["current"][k] for k in ("arrival_method", "lead_agency", "officer")] == ["small-boat", "none", OFFICER]
    assert gaps(cli) == {site.child: [*ALL_STEPS, "safeguarding-referral"]}

    first = cli.json(
        "referral",
        site.child,
        "--arrival-method",
        "vehicle",
        "--control-unit-at",
        f"{DAY}T07:45",
        "--lead-agency",
        "Kent Police",
        "--biometric-enrolment",
        "unknown",
    )
    assert first["missing"] == ["biometric-enrolment", "safeguarding-referral"], "unknown is not an answer to act on"
    assert first["current"]["control_unit_at"].startswith(DAY) and first["current"]["control_unit_at"].endswith(
        "+00:00"
    )
    second = cli.json(
        "referral",
        site.child,
        "--biometric-enrolment",
        "no",
        "--safeguarding-referral-to",
        "Kent County Council children's services",
        "--safeguarding-referral-ref",
        "KCC-4471",
    )
    assert second["missing"] == [] and second["current"]["supersedes"] == first["current"]["id"]
    assert [second["current"][k] for k in ("arrival_method", "lead_agency")] == ["vehicle", "Kent Police"], (
        "earlier steps carry over"
    )
    assert gaps(cli) == {}
    assert "Every arrival's referral record is complete." in cli("review", "--pending").stdout
    shown = cli.json("referral", site.child)
    assert [v["biometric_enrolment"] for v in shown["history"]] == ["unknown"] and shown["missing"] == []
    assert "every referral record is complete" in cli("report", "--date", DAY, "--format", "text").stdout

    store = Store.open(site.home, PASSPHRASE)
    try:
        records = batch.day_records(store, DAY)
        keys = {r["id"]: r["key"] for r in records}
        exported = batch.landing_records(store, records)["referrals"]
        actions = [e["action"] for e in store.db["audit_events"].rows_where("arrival_id = ?", [site.child])]
    finally:
        store.close()
    child = [r for r in exported if r["arrival_key"] == keys[site.child]]
    assert [r["biometric_enrolment"] for r in child] == ["unknown", "no"] and child[1]["supersedes"] == child[0]["key"]
    assert child[-1]["safeguarding_referral_to"] == "Kent County Council children's services"
    assert [r["arrival_method"] for r in exported if r["arrival_key"] == keys[site.adult]] == ["small-boat"]
    assert actions.count("referral") == 2 and "referral-show" in actions


def test_a_day_that_is_not_a_date_is_refused_not_taken_for_a_day_with_no_gaps(cli, site):
    """`--incomplete --date garbage` said every record was complete (exit 0): a false all-clear."""
    res = cli("referral", "--incomplete", "--date", "garbage", code=int(ExitStatus.BAD_INPUT))
    assert "--date" in res.stderr
    day = dt.date.fromisoformat(DAY)
    written = cli.json("referral", "--incomplete", "--date", f"{day.day:02d}/{day.month:02d}/{day.year}")
    assert {r["arrival_id"] for r in written} == {site.adult, site.child}


def test_referral_steps_that_cannot_be_used_are_refused(cli, site):
    store = Store.open(site.home, PASSPHRASE)
    try:
        for given, message in (
            ({"arrival_method": "boat"}, "--arrival-method 'boat': choose small-boat, vehicle, other"),
            ({"arrival_method": "other"}, "describe how the person arrived with --notes"),
            ({"control_unit_at": "yesterday"}, "--control-unit-at: 'yesterday' is not a time"),
            ({"control_unit_at": "2999-01-01T00:00"}, "is in the future"),
            ({"biometric_enrolment": "maybe"}, "choose yes, no, unknown"),
            ({"safeguarding_referral_ref": "KCC-1"}, "--safeguarding-referral-to is needed"),
            ({"notes": "   "}, "nothing to record"),
        ):
            with pytest.raises(BadInput, match=re.escape(message)):
                referrals.record(store, site.adult, officer=OFFICER, **given)
        assert store.count("referrals") == 0
    finally:
        store.close()
    assert "is not a time" in cli("referral", site.adult, "--control-unit-at", "soon", code=3).stderr
    cli("referral", "A-000000", "--lead-agency", "none", code=int(ExitStatus.NOT_FOUND))
    cli("referral", code=int(ExitStatus.USAGE))
    recorded = cli.json("referral", site.adult, "--arrival-method", "other", "--notes", "came in a fishing boat's hold")
    assert recorded["current"]["arrival_method"] == "other"
    assert recorded["current"]["notes"] == "came in a fishing boat's hold"


def test_the_review_queue_shows_the_latest_incomplete_referrals_and_says_how_many_more(cli, site, monkeypatch):
    """A year of referral records left incomplete (ten thousand rows, seconds to draw) would bury the queue above
    them: `review --pending` shows the latest and counts the rest; `referral --incomplete` still lists every one."""
    from triage.cli import review as review_cli

    monkeypatch.setattr(review_cli, "INCOMPLETE_ROWS", 1)
    shown = cli("review", "--pending").stdout
    assert site.child in shown and site.adult not in shown
    assert "The latest 1 of 2 arrivals whose referral record is incomplete" in " ".join(shown.split())
    listed = cli("referral", "--incomplete").stdout
    assert site.child in listed and site.adult in listed and "The latest" not in listed


def test_the_arrivals_table_shows_the_latest_and_says_how_to_see_them_all(cli, site, monkeypatch):
    """`arrivals list` draws the latest arrivals (a year's home would take seconds to draw ten thousand), says
    how many there are, and lists them all with --limit 0, with --date and as JSON."""
    from triage.cli import arrivals as arrivals_cli

    monkeypatch.setattr(arrivals_cli, "TABLE_ROWS", 1)
    shown = cli("arrivals", "list").stdout
    assert site.child in shown and site.adult not in shown
    assert "The latest 1 of 2 arrivals: --limit 0 lists them all" in " ".join(shown.split())
    for every in (("--limit", "0"), ("--date", DAY)):
        listed = cli("arrivals", "list", *every).stdout
        assert site.child in listed and site.adult in listed and "The latest" not in listed
    assert [a["arrival_id"] for a in cli.json("arrivals", "list")] == [site.adult, site.child]
    assert [a["arrival_id"] for a in cli.json("arrivals", "list", "--limit", "1")] == [site.child]
    listings = [e for e in cli.json("audit", "show") if e["action"] == "arrivals-list"]
    assert listings[-1]["records"] == ["all", "latest:1"]


def test_a_void_arrival_leaves_the_incomplete_referrals_and_its_record_is_closed(cli, site):
    """No one is passed on from a capture made in error: a void arrival is out of the list of referrals to
    complete, and its record refuses a step as `arrivals amend` refuses a correction."""
    cli("arrivals", "void", site.adult, "--reason", "duplicate capture")
    assert gaps(cli) == {site.child: [*ALL_STEPS, "safeguarding-referral"]}
    assert site.adult not in cli("review", "--pending").stdout
    conflict = int(ExitStatus.CONFLICT)
    refused = cli("referral", site.adult, "--arrival-method", "small-boat", code=conflict).stderr
    amend = cli("arrivals", "amend", site.adult, "--surname", "Karim", "--reason", "typo", code=conflict).stderr
    assert refused == amend and f"arrival {site.adult} was voided by {OFFICER}" in refused
    assert "it cannot be changed" in refused
    assert cli.json("referral", site.adult)["current"] is None, "nothing was recorded"
