"""A home made by the first release opens with today's code through the real CLI: the record of its
schema steps is brought to today's names without running or skipping a step, and its arrivals, its
review, its audit trail and new captures all work. The home is tests/data/release_home, built by
tests/data/make_release_home.py with the release's own code."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from conftest import orl
from triage.store.migrations import FIRST_RELEASE_NAMES, migrations
from triage.store.rows import connect

RELEASE_HOME = Path(__file__).parent / "data" / "release_home"
STEPS = [
    "m001_initial",
    "m002_retention",
    "m003_draft_outcomes",
    "m004_batches_and_keys",
    "m005_template_blocks",
    "m006_debriefs_crime_groups_referrals",
    "m007_matchers",
    "m008_audit_head",
    "m009_batch_audit_end",
    "m010_row_tags",
    "m011_settings",
    "m012_sealed_judgements",
    "m013_watchlist_packages",
    "m014_arrival_void_flag",
    "m015_name_keys",
    "m016_block_tags",
]
RELEASE_STEPS = STEPS[:9]  # what the first release had


def recorded(home: Path) -> list[tuple[str, str]]:
    """The schema steps the home's store records as applied, with when, in the order they were applied."""
    con = sqlite3.connect(home / "triage.db")
    try:
        return con.execute(
            "SELECT name, applied_at FROM _sqlite_migrations WHERE migration_set = 'triage' ORDER BY rowid"
        ).fetchall()
    finally:
        con.close()


@pytest.fixture
def release_home(triage_env) -> Path:
    shutil.copytree(RELEASE_HOME, triage_env)
    return triage_env


def test_steps_are_named_in_the_order_they_run(tmp_path):
    assert [m.name for m in migrations.pending(connect(tmp_path / "blank.db"))] == STEPS
    assert sorted(FIRST_RELEASE_NAMES.values()) == RELEASE_STEPS[1:]


def test_a_first_release_home_upgrades_and_keeps_working(cli, release_home):
    before = recorded(release_home)
    assert [name for name, _ in before] == ["m001_initial", *FIRST_RELEASE_NAMES]  # as that release left it

    arrivals = cli.json("arrivals", "list")
    after = recorded(release_home)
    assert [name for name, _ in after] == STEPS
    assert Counter(name for name, _ in after) == Counter(STEPS)  # each step recorded once
    assert [at for _, at in after][: len(before)] == [at for _, at in before]  # none ran again

    assert len(arrivals) == 3
    matched = next(a for a in arrivals if a["name"] == "HAMA")
    assert matched["alerts"] == 1
    assert cli.json("audit", "verify")["ok"]

    view = cli.json("review", matched["arrival_id"])
    reviewed = [c for c in view["candidates"] if c["ref"] == "WL-001"]
    assert [(r["decision"], r["reason"]) for r in reviewed[0]["reviews"]] == [
        ("confirmed", "same scar above the left eye, seen in person")
    ]

    captured = cli.json("capture", "--photo", orl(2, 2))
    assert captured["candidates"][0]["ref"] == "WL-002"  # the release's templates are searched
    assert len(cli.json("arrivals", "list")) == 4
    verified = cli.json("audit", "verify")
    assert verified["ok"] and verified["events"] > 7
    assert recorded(release_home) == after  # opening it again changes nothing


def test_a_home_from_before_block_tags_has_its_blocks_tagged_once_and_then_protected(cli, wl_home):
    """A home whose blocks were written before they carried tags (step m016 gives the columns, empty; its sealed
    head has no digest for them): the next unlock tags them, once, and from then on a block deleted is refused."""
    from conftest import OFFICER, PASSPHRASE
    from triage.store import audit
    from triage.store.rows import Store

    store = Store.open(wl_home, PASSPHRASE)
    with store.transaction():
        head = audit.read_head(store.db, store.vault)
        tables = {t: d for t, d in head.tables.items() if t not in ("template_blocks", "template_indexes")}
        audit.write_head(store.db, store.vault, audit.Head(head.seq, head.hash, tables, head.schema, head.steps))
    store.close()
    con = sqlite3.connect(wl_home / "triage.db")
    with con:
        con.execute("UPDATE template_blocks SET ver = NULL, tag = NULL")
    con.close()

    assert cli.json("audit", "verify", "--home", wl_home)["ok"]
    events = [e for e in cli.json("audit", "show", "--home", wl_home) if e["action"] == "rows-tagged"]
    assert [e["records"] for e in events] == [["table:template_blocks", "table:template_indexes"]]
    assert cli.json("audit", "verify", "--home", wl_home)["ok"]
    con = sqlite3.connect(wl_home / "triage.db")
    with con:
        assert con.execute("SELECT count(*) FROM template_blocks WHERE tag IS NULL").fetchone()[0] == 0
        con.execute("DELETE FROM template_blocks WHERE id = 1")
    con.close()
    refused = cli("capture", "--home", wl_home, "--photo", orl(2, 2), "--officer", OFFICER, code=6)
    assert "the rows of template_blocks are not the ones last written" in " ".join(refused.stderr.split())


@pytest.mark.parametrize(
    "change, said",
    [
        ("DELETE FROM _sqlite_migrations WHERE name = 'm016_block_tags'", "template_blocks does not end in the data"),
        ("DELETE FROM _sqlite_migrations WHERE name = 'm012_sealed_judgements'", "lacks m012_sealed_judgements"),
        (
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('triage', 'm099_later', 'x')",
            "records schema step m099_later, which this version of triage does not have",
        ),
    ],
)
def test_a_record_of_schema_steps_changed_outside_triage_is_refused(cli, wl_home, change, said):
    """A step's record deleted would run it again over what it made; one added would skip a later release's."""
    con = sqlite3.connect(wl_home / "triage.db")
    with con:
        con.execute(change)
    con.close()
    refused = cli("arrivals", "list", "--home", wl_home, code=6)
    assert said in " ".join(refused.stderr.split())


@pytest.mark.parametrize("change", [None, "slipped", "deleted"])
def test_a_home_whose_digests_are_plain_sums_of_tags_is_checked_once_then_kept_keyed(cli, wl_home, change):
    """Digests kept as plain sums of tags could be made to add up again by a row slipped in with the right tag (a
    subject deleted, say, and a row no read finds carrying its tag). Such a home has every row checked against its
    tag once, at its next unlock, and its digests kept keyed from then on; a row slipped in is refused there."""
    import dataclasses

    from conftest import PASSPHRASE
    from triage.store import audit, tags
    from triage.store.rows import Store

    store = Store.open(wl_home, PASSPHRASE)
    with store.transaction():
        head = audit.read_head(store.db, store.vault)
        plain = {t: tags.tag_sum(store.db, t) for t in head.tables}
        audit.write_head(store.db, store.vault, dataclasses.replace(head, tables=plain, keyed=False))
    store.close()
    if change == "deleted":  # a subject taken out: only the check before keying sees it (else laundered)
        con = sqlite3.connect(wl_home / "triage.db")
        with con:
            con.execute("DELETE FROM subjects WHERE ref = 'WL-001'")
        con.close()
        refused = " ".join(cli("watchlist", "list", "--home", wl_home, code=6).stderr.split())
        assert "the rows of subjects are not the ones last written" in refused
        return
    if change == "slipped":
        con = sqlite3.connect(wl_home / "triage.db")
        with con:
            row = list(con.execute("SELECT * FROM subjects WHERE ref = 'WL-001'").fetchone())
            con.execute("DELETE FROM subjects WHERE ref = 'WL-001'")
            row[[c[1] for c in con.execute("PRAGMA table_info(subjects)")].index("ref")] = "WL-ZZZ"
            con.execute(f"INSERT INTO subjects VALUES ({', '.join('?' * len(row))})", row)  # its tag kept
        con.close()
        refused = " ".join(cli("watchlist", "list", "--home", wl_home, code=6).stderr.split())
        assert "subjects row WL-ZZZ was changed outside triage" in refused
        report = cli.json("audit", "verify", "--home", wl_home, code=6)
        assert {p["table"] for p in report["row_problems"]} == {"subjects"}
        return
    assert cli.json("audit", "verify", "--home", wl_home)["ok"]
    assert [len(cli.json("watchlist", "list", "--home", wl_home)) for _ in range(2)] == [20, 20]
    events = [e for e in cli.json("audit", "show", "--home", wl_home) if e["action"] == "table-digests-keyed"]
    assert len(events) == 1
    store = Store.open(wl_home, PASSPHRASE)
    try:
        assert audit.read_head(store.db, store.vault).keyed
    finally:
        store.close()
