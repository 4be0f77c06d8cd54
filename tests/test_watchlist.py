"""Watchlist governance through the real CLI and store: import with its report of refused rows and an
idempotent re-run, update with an audited reason, list filters, show, removal that deletes the
biometrics and keeps a tombstone, and the under-18 rule."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3

import pytest

from conftest import OFFICER, PASSPHRASE, orl, row_counts
from triage.errors import ExitStatus
from triage.faces import detection as faces
from triage.intake.samples import orl_path
from triage.store.rows import Store

OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")
FUTURE = (dt.date.today() + dt.timedelta(days=120)).isoformat()
CHILD_DOB = (dt.date.today() - dt.timedelta(days=15 * 365)).isoformat()


def _write_csv(path, rows):
    fields = ["Ref", "Name", "Category", "Reason", "Authorised By", "review-date", "photos", "aliases", "dob"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        for r in rows:
            writer.writerow(r)
    return path


def _row(ref, photos, *, category="wanted", review=FUTURE, dob="", name=None):
    return [
        ref,
        name or f"Person {ref}",
        category,
        "Wanted on warrant for an assault in Kent",
        "DS 4411 Clarke",
        review,
        photos,
        "Abu Omar; Omar H",
        dob,
    ]


@pytest.fixture
def import_csv(tmp_path):
    """Four good rows (one with two photos) and five bad ones; photo paths are relative to the ORL folder."""
    rows = [
        _row("WL-I01", "s1/1.pgm"),
        _row("WL-I02", "s2/1.pgm;s2/2.pgm"),
        _row("WL-I03", "s3/1.pgm", category="facilitator"),
        _row("WL-I04", "s4/1.pgm", category="missing", dob=CHILD_DOB),
        _row("WL-I05", "s5/1.pgm", category="facilitator", dob=CHILD_DOB),
        _row("WL-I06", "s6/nope.pgm"),
        _row("WL-I07", "s7/1.pgm", category="smuggler"),
        _row("WL-I01", "s8/1.pgm"),
        _row("WL-I09", "s9/1.pgm", review="2020-01-01"),
    ]
    return _write_csv(tmp_path / "watchlist.csv", rows)


REFUSED = {
    5: "only as missing or vulnerable, not as facilitator",
    6: "no such file",
    7: "column category 'smuggler'",  # named as the file names it, not as an option
    8: "also on row 1",
    9: "column review_date 2020-01-01 is not in the future",
}


def test_import_reports_refused_rows_and_a_rerun_adds_nothing(cli, home, import_csv):
    photos = orl_path(1, 1).parent.parent
    first = cli(
        "watchlist",
        "import",
        import_csv,
        "--photos",
        photos,
        "--workers",
        "2",
        *OVERRIDE,
        "--json",
        code=int(ExitStatus.BAD_INPUT),
    )
    report = json.loads(first.stdout)
    assert [e["ref"] for e in sorted(report["enrolled"], key=lambda e: e["row"])] == [
        "WL-I01",
        "WL-I02",
        "WL-I03",
        "WL-I04",
    ]
    assert {r["row"]: r["reason"] for r in report["refused"]}.keys() == REFUSED.keys()
    for r in report["refused"]:
        assert REFUSED[r["row"]] in r["reason"], r
    listed = {r["ref"]: r for r in cli.json("watchlist", "list")}
    assert set(listed) == {"WL-I01", "WL-I02", "WL-I03", "WL-I04"}
    assert listed["WL-I02"]["photos"] == 2 and listed["WL-I01"]["aliases"] == ["Abu Omar", "Omar H"]
    before = row_counts(home)
    again = cli(
        "watchlist",
        "import",
        import_csv,
        "--photos",
        photos,
        "--workers",
        "1",
        *OVERRIDE,
        code=int(ExitStatus.BAD_INPUT),
    )
    assert "0 enrolled, 4 already on the watchlist, 5 refused" in again.stdout
    after = row_counts(home)
    assert after.pop("audit_events") == before.pop("audit_events") + 1  # the re-run itself is audited
    assert after == before


def test_import_refuses_a_file_with_an_unknown_column(cli, home, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("ref,name,category,reason,authorised_by,review_date,photos,nickname\n")
    res = cli("watchlist", "import", path, "--photos", tmp_path, code=int(ExitStatus.BAD_INPUT))
    assert "unknown column 'nickname'" in res.stderr
    path.write_text("ref;name;category;reason;authorised_by;review_date;photos\n")  # a spreadsheet in another locale
    said = " ".join(
        cli("watchlist", "import", path, "--photos", tmp_path, code=int(ExitStatus.BAD_INPUT)).stderr.split()
    )
    assert "columns are separated by commas, not semicolons" in said, said


def test_import_help_documents_the_columns(cli):
    text = cli("watchlist", "import", "--help").stdout
    for column in (
        "ref",
        "name",
        "category",
        "reason",
        "authorised_by",
        "review_date",
        "photos",
        "image_source",
        "aliases",
        "dob",
        "Example",
    ):
        assert column in text


def test_under_18_can_be_enrolled_only_as_missing_or_vulnerable(cli, home):
    args = [
        "watchlist",
        "add",
        orl(9, 1),
        "--name",
        "Young Person",
        "--reason",
        "Reported missing from care in Kent",
        "--authorised-by",
        "DS 1 Test",
        "--review-date",
        FUTURE,
        "--dob",
        CHILD_DOB,
        *OVERRIDE,
    ]
    res = cli(*args, "--ref", "WL-C1", "--category", "facilitator", code=int(ExitStatus.BAD_INPUT))
    assert (
        "WL-C1: a person who may be under 18 can be enrolled only as missing or vulnerable, not as facilitator"
        in res.stderr
    )
    assert row_counts(home)["subjects"] == 0
    assert cli.json(*args, "--ref", "WL-C2", "--category", "vulnerable")["category"] == "vulnerable"
    res = cli(
        "watchlist",
        "update",
        "WL-C2",
        "--category",
        "wanted",
        "--reason",
        "recategorised after review",
        code=int(ExitStatus.BAD_INPUT),
    )
    assert "only as missing or vulnerable" in res.stderr
    updated = ("watchlist", "update", "WL-C2", "--category", "Missing", "--reason", "recategorised after review")
    assert cli.json(*updated)["category"] == "missing", "a safeguarding category in capitals is that category"


def test_a_ref_in_small_letters_names_the_same_entry_in_capitals(cli, home):
    """`wl-0005` and `WL-0005` are one subject: kept in capitals, found either way, never enrolled twice."""
    enrol = ("watchlist", "add", orl(5, 1), "--name", "Subject Five", "--category", "wanted", "--reason",
             "Wanted on warrant in a test", "--authorised-by", "DS 1", "--review-date", "2099-01-01")  # fmt: skip
    said = " ".join(cli(*enrol, "--ref", "wl-0005", code=int(ExitStatus.NO_FACE)).stderr.split())
    assert "pass --accept-low-quality --override-reason TEXT" in said, said  # enrolment's own --reason is another
    enrol += ("--accept-low-quality", "--override-reason", "the only photo held")
    assert cli.json(*enrol, "--ref", "wl-0005")["ref"] == "WL-0005"
    cli(*enrol, "--ref", "WL-0005", code=int(ExitStatus.CONFLICT))
    assert cli.json("watchlist", "show", "wl-0005")["ref"] == "WL-0005"
    cli("watchlist", "update", "wl-0005", "--category", "facilitator", "--reason", "new intelligence today")
    assert cli.json("watchlist", "show", "WL-0005")["category"] == "facilitator"


def test_update_changes_governance_fields_with_an_audited_reason(cli, wl_home):
    new_date = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    res = cli.json(
        "watchlist",
        "update",
        "WL-003",
        "--review-date",
        new_date,
        "--category",
        "facilitator",
        "--authorised-by",
        "DI 2211 Shah",
        "--alias",
        "Abu Karwan",
        "--inclusion-reason",
        "Suspected pilot of three crossings this autumn",
        "--reason",
        "quarterly review by DI Shah",
    )
    assert res["changed"] == ["aliases", "authorised_by", "category", "reason", "review_date"]
    shown = cli.json("watchlist", "show", "WL-003")
    assert (shown["review_date"], shown["category"], shown["authorised_by"], shown["aliases"], shown["reason"]) == (
        new_date,
        "facilitator",
        "DI 2211 Shah",
        ["Abu Karwan"],
        "Suspected pilot of three crossings this autumn",
    )
    store = Store.open(wl_home, PASSPHRASE)
    event = store.db.execute(
        "SELECT officer, records, reason, seq FROM audit_events WHERE action = 'watchlist-update'"
    ).fetchone()
    assert event[0] == OFFICER and json.loads(event[1]) == ["subject:WL-003"]
    why = store.vault.open(event[2], f"audit_events:{event[3]}").decode()
    assert why.startswith("quarterly review by DI Shah") and "category: 'wanted' -> 'facilitator'" in why
    store.close()
    cli("watchlist", "update", "WL-003", "--review-date", new_date, code=int(ExitStatus.USAGE))  # no --reason
    res = cli(
        "watchlist",
        "update",
        "WL-003",
        "--review-date",
        "2020-01-01",
        "--reason",
        "moved back by mistake",
        code=int(ExitStatus.BAD_INPUT),
    )
    assert "not in the future" in res.stderr


def test_list_filters_by_category_and_expiry(cli, wl_home):
    cli("watchlist", "update", "WL-002", "--category", "facilitator", "--reason", "new intelligence on the crossing")
    store = Store.open(wl_home, PASSPHRASE)  # two days pass for WL-005 (the CLI refuses a past review date)
    with store.transaction():
        store.update("subjects", "WL-005", {"review_date": (dt.date.today() - dt.timedelta(days=2)).isoformat()})
    store.close()
    assert [r["ref"] for r in cli.json("watchlist", "list", "--category", "facilitator")] == ["WL-002"]
    expired = cli.json("watchlist", "list", "--expired")
    assert [(r["ref"], r["expired"]) for r in expired] == [("WL-005", True)]
    current = cli.json("watchlist", "list", "--current")
    assert len(current) == 19 and not any(r["expired"] for r in current)
    assert "EXPIRED" in cli("watchlist", "list").stdout
    assert cli.json("watchlist", "list", "--category", "wanted", "--expired")[0]["ref"] == "WL-005"
    res = cli("watchlist", "list", "--category", "pilot", code=int(ExitStatus.BAD_INPUT))
    assert "choose one of facilitator, wanted, missing, vulnerable, other" in res.stderr
    shown = cli("watchlist", "show", "WL-005")
    assert "is past its review date and is not searched" in shown.stderr


def test_remove_deletes_biometrics_and_keeps_a_tombstone(cli, wl_home):
    cap = cli.json("capture", "--photo", orl(4, 6))
    assert cap["candidates"][0]["ref"] == "WL-004"
    con = sqlite3.connect(wl_home / "triage.db")
    held = sum(
        con.execute(f"SELECT count(*) FROM {t} WHERE owner_id = 'WL-004'").fetchone()[0]
        for t in ("templates", "photos")
    )
    assert held >= 3  # a template per model, the original photo and its portrait
    res = cli.json("watchlist", "remove", "WL-004", "--reason", "warrant executed on 20 November")
    assert res["rows_deleted"] == held
    assert con.execute("SELECT count(*) FROM templates WHERE owner_id = 'WL-004'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM photos WHERE owner_id = 'WL-004'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM template_blocks WHERE stale = 1").fetchone()[0] == 0
    assert con.execute("SELECT status FROM subjects WHERE ref = 'WL-004'").fetchone() == ("removed",)
    assert con.execute("SELECT officer FROM tombstones WHERE kind = 'subject' AND ref = 'WL-004'").fetchone() == (
        OFFICER,
    )
    store = Store.open(wl_home, PASSPHRASE)
    owners, _ = store.load_templates(faces.MODEL_ID, "subject")
    assert "WL-004" not in owners and len(owners) == 19, "gone from the sealed blocks too"
    kept = store.get("subjects", "WL-004")
    assert kept["category"] and not {"name", "aliases", "dob", "reason"} & set(kept), "only its category stays"
    store.close()
    shown = cli.json("watchlist", "show", "WL-004")
    assert shown["status"] == "removed" and shown["photos"] == 0 and "name" not in shown
    assert shown["tombstone"]["officer"] == OFFICER
    assert "WL-004" not in [r["ref"] for r in cli.json("watchlist", "list")]
    assert "WL-004" in [r["ref"] for r in cli.json("watchlist", "list", "--include-removed")]
    again = cli.json("match", cap["arrival_id"], "--top", "20")
    assert "WL-004" not in [c["ref"] for c in again["candidates"]]
    cli("watchlist", "remove", "WL-004", "--reason", "removed twice by mistake", code=int(ExitStatus.NOT_FOUND))
    assert "watchlist-remove" in [e["action"] for e in cli.json("audit", "show")]


def test_index_command_builds_and_searches_can_ask_for_it(cli, wl_home):
    res = cli.json("watchlist", "index")
    assert res["watchlist"]["indexed"] == 20 and res["watchlist"]["cutover"] > 100_000
    cap = cli.json("capture", "--photo", orl(11, 3))
    approx = cli.json("match", cap["arrival_id"], "--index", "approximate")
    exact = cli.json("match", cap["arrival_id"], "--index", "exact")
    assert approx["candidates"][0]["ref"] == exact["candidates"][0]["ref"] == "WL-011"
    assert abs(approx["candidates"][0]["distance"] - exact["candidates"][0]["distance"]) <= 1e-4
    con = sqlite3.connect(wl_home / "triage.db")
    methods = [r[0] for r in con.execute("SELECT method FROM searches ORDER BY id")]
    assert methods == ["exact", "approximate", "exact"]


def test_an_entry_with_several_wrong_fields_names_every_one_at_once(cli, home):
    res = cli(
        "watchlist", "add", orl_path(3, 1), "--ref", "bad ref!", "--name", "", "--category", "nope",
        "--reason", "short", "--authorised-by", "", "--review-date", "tomorrow", code=int(ExitStatus.BAD_INPUT),
    )  # fmt: skip
    said = " ".join(res.stderr.split())
    for fault in (
        "--ref 'bad ref!'",
        "--name is required",
        "--authorised-by is required",
        "--category 'nope'",
        "--reason must say why",
        "--review-date: 'tomorrow' is not a date",
    ):
        assert fault in said, said
