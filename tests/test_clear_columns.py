"""Without the passphrase the store file does not tell which decision was taken on a candidate, which crime
group an arrival or a subject is linked to and what was decided, or what category a watchlist subject is
in; the commands still show all of them. An older home's clear values are sealed when it is first unlocked,
once, audited."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from conftest import orl
from triage.casework.watchlist import CATEGORIES

RELEASE_HOME = Path(__file__).parent / "data" / "release_home"
JUDGED = ("reviews", "ocg_links", "subjects")
DECISIONS = ("confirmed", "rejected", "inconclusive", "linked", "not-linked")


def clear_values(home: Path) -> list[tuple[str, str, str]]:
    """Every text value of the judged tables' columns, read from the file as anyone could, with no key."""
    con = sqlite3.connect(home / "triage.db")
    try:
        found = []
        for table in JUDGED:
            cursor = con.execute(f"SELECT * FROM [{table}]")
            names = [d[0] for d in cursor.description]
            for row in cursor:
                found += [(table, n, v) for n, v in zip(names, row, strict=True) if isinstance(v, str)]
        return found
    finally:
        con.close()


def assert_nothing_judged_in_clear(home: Path, group: str | None = None) -> None:
    for table, column, value in clear_values(home):
        where = f"{table}.{column} = {value!r}"
        assert value not in DECISIONS and value not in CATEGORIES, where
        assert not any(word in value for word in ("confirmed", "rejected", "inconclusive")), where
        assert group is None or group not in value, where


def test_decisions_crime_groups_and_categories_are_not_in_clear(cli, wl_home):
    aid = cli.json("capture", "--photo", orl(7, 4))["arrival_id"]
    cli.json("review", aid, "--candidate", "WL-007", "--decision", "confirmed", "--reason", "same scar, seen in person")
    cli.json("ocg", "add", "OCG-2026-031", "--name", "Kak Rebwar", "--phone", "0033 612 345 678")
    cli.json("ocg", "link", "OCG-2026-031", "--arrival", aid, "--reason", "paid the same number for the crossing")
    cli.json("ocg", "link", "OCG-2026-031", "--subject", "WL-003", "--reason", "named in the NCA briefing")
    cli.json("ocg", "link", "OCG-2026-031", "--subject", "WL-005", "--reject", "--reason", "a namesake, checked")

    assert_nothing_judged_in_clear(wl_home, "OCG-2026-031")
    con = sqlite3.connect(wl_home / "triage.db")
    assert con.execute("SELECT count(*) FROM reviews WHERE decision IS NOT NULL").fetchone() == (0,)
    assert (
        con.execute("SELECT count(*) FROM ocg_links WHERE ocg_ref IS NOT NULL OR decision IS NOT NULL").fetchone()[0]
        == 0
    )
    assert con.execute("SELECT count(*) FROM subjects WHERE category IS NOT NULL").fetchone() == (0,)
    con.close()

    view = cli.json("review", aid)
    (reviewed,) = [c for c in view["candidates"] if c["ref"] == "WL-007"]
    assert reviewed["category"] == "wanted" and [r["decision"] for r in reviewed["reviews"]] == ["confirmed"]
    group = cli.json("ocg", "show", "OCG-2026-031")
    assert [a["arrival_id"] for a in group["arrivals"]] == [aid]
    assert [(s["ref"], s["category"]) for s in group["subjects"]] == [("WL-003", "wanted")]
    assert [n["target"] for n in group["not_linked"]] == ["WL-005"]
    (listed,) = cli.json("ocg", "list")
    assert (listed["arrivals"], listed["subjects"]) == (1, 1)
    assert cli.json("watchlist", "show", "WL-007")["category"] == "wanted"
    assert len(cli.json("watchlist", "list", "--category", "wanted")) == 20
    assert cli.json("watchlist", "list", "--category", "facilitator") == []
    assert cli.json("audit", "verify")["ok"]

    # A draft's audit event names every candidate it shows, confirmed or not: its clear records do not tell which.
    undecided = cli.json("capture", "--photo", orl(7, 5))["arrival_id"]
    cli.json("pnd", "draft", undecided, "--kind", "face", "--purpose", "To establish whether the arrival is wanted")
    con = sqlite3.connect(wl_home / "triage.db")
    (records,) = con.execute("SELECT records FROM audit_events WHERE action = 'pnd-draft'").fetchone()
    con.close()
    assert "subject:WL-007" in json.loads(records)


def test_an_older_home_has_its_clear_values_sealed_once_when_first_unlocked(cli, triage_env):
    shutil.copytree(RELEASE_HOME, triage_env)
    con = sqlite3.connect(triage_env / "triage.db")
    assert con.execute("SELECT decision FROM reviews").fetchall() == [("confirmed",)]  # as that release left it
    con.close()

    arrivals = cli.json("arrivals", "list")
    assert_nothing_judged_in_clear(triage_env)
    matched = next(a for a in arrivals if a["name"] == "HAMA")
    view = cli.json("review", matched["arrival_id"])
    (reviewed,) = [c for c in view["candidates"] if c["ref"] == "WL-001"]
    assert [r["decision"] for r in reviewed["reviews"]] == ["confirmed"] and reviewed["category"]
    cli.json("arrivals", "list")

    con = sqlite3.connect(triage_env / "triage.db")
    events = con.execute("SELECT records FROM audit_events WHERE action = 'judgements-sealed'").fetchall()
    con.close()
    assert len(events) == 1, "moved once, in one audited transaction"
    assert cli.json("audit", "verify")["ok"]
