"""Records that cannot be changed behind the tool's back: every row carries an authentication tag that
only the data key makes, so an edit made with the sqlite3 shell and no passphrase is refused wherever the
row is read, and a row restored from an older copy is caught by `audit verify`."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import Cli, orl, signed_in
from triage.errors import ExitStatus

INTEGRITY = int(ExitStatus.INTEGRITY)


@pytest.fixture(scope="module")
def landed(tmp_path_factory, enrolled_template_home, face_models):
    """A laptop with the watchlist, two arrivals (one a candidate of WL-007, confirmed), and a recipient."""
    home = tmp_path_factory.mktemp("integrity") / "home"
    shutil.copytree(enrolled_template_home, home)
    cli = Cli()
    with signed_in():
        a = cli.json("capture", "--home", home, "--photo", orl(7, 4), "--surname", "Hama", "--vessel", "SB-1")
        b = cli.json("capture", "--home", home, "--photo", orl(33, 3), "--surname", "Bell", "--vessel", "SB-1")
        cli(
            "review",
            a["arrival_id"],
            "--candidate",
            "WL-007",
            "--decision",
            "confirmed",
            "--reason",
            "scar",
            "--home",
            home,
        )
        me = cli.json("keys", "show", "--home", home)
        cli("keys", "recipient", "add", "Supervisor", me["age_recipient"], "--home", home)
        day = cli.json("arrivals", "list", "--home", home)[0]["landed_day"]
    return home, a["arrival_id"], b["arrival_id"], day


@pytest.fixture
def copy(landed, tmp_path):
    home, a, b, day = landed
    mine = tmp_path / "home"
    shutil.copytree(home, mine)
    return mine, a, b, day


def sql(home: Path, statement: str, *params) -> None:
    con = sqlite3.connect(home / "triage.db")
    con.execute(statement, params)
    con.commit()
    con.close()


EDITS = {  # each names the first arrival as its last parameter, where it has one
    "arrivals": "UPDATE arrivals SET safeguarding = 1 WHERE id = ?",
    "reviews": "UPDATE reviews SET decision = 'rejected' WHERE arrival_id = ?",
    "candidates": "UPDATE candidates SET distance = 0.61, below_threshold = 0 WHERE arrival_id = ?",
    "subjects": "UPDATE subjects SET category = 'missing', authorised_by = 'DS Nobody' WHERE ref = 'WL-007'",
}


@pytest.mark.parametrize("table", list(EDITS))
def test_an_edit_without_the_passphrase_is_refused_wherever_the_row_is_read(cli, copy, table):
    home, a, _, day = copy
    assert cli.json("audit", "verify", "--home", home)["ok"]
    sql(home, EDITS[table], *([a] if "?" in EDITS[table] else []))
    report = cli.json("audit", "verify", "--home", home, code=INTEGRITY)
    assert not report["ok"] and [p["table"] for p in report["row_problems"]] == [table]
    assert "changed outside triage" in report["row_problems"][0]["problem"]
    shown = cli("arrivals", "show", a, "--home", home, code=INTEGRITY)
    assert f"{table} row" in shown.stderr and "changed outside triage" in shown.stderr
    if table != "subjects":  # a subject travels in no batch; these read the arrival's own rows
        assert "changed outside triage" in cli("review", "--pending", "--home", home, code=INTEGRITY).stderr
        out = home.parent / "day.age"
        refused = cli("export", "--home", home, "--date", day, "--out", out, code=INTEGRITY)
        assert "changed outside triage" in refused.stderr and not out.exists()
    assert cli("doctor", "--home", home, code=None).exit_code != 0


def test_a_row_forged_into_a_table_is_refused(cli, copy):
    home, a, _, _ = copy
    sql(
        home,
        "INSERT INTO reviews (arrival_id, kind, ref, decision, officer, at) VALUES (?, 'watchlist', 'WL-007', "
        "'rejected', 'DS Forger', '2026-01-01T00:00:00+00:00')",
        a,
    )
    report = cli.json("audit", "verify", "--home", home, code=INTEGRITY)
    assert [p["table"] for p in report["row_problems"]] == ["reviews"]
    cli("arrivals", "show", a, "--home", home, code=INTEGRITY)


def test_an_older_sealed_version_restored_is_caught_by_verify(cli, copy):
    """The older row carries a tag that was valid once; the table's digest in the sealed head has moved on."""
    home, a, _, _ = copy
    con = sqlite3.connect(home / "triage.db")
    before = con.execute("SELECT safeguarding, sealed, ver, tag FROM arrivals WHERE id = ?", [a]).fetchone()
    con.close()
    cli("arrivals", "flag", a, "--safeguarding", "--reason", "appears about 15", "--home", home)
    assert cli.json("audit", "verify", "--home", home)["ok"]
    sql(home, "UPDATE arrivals SET safeguarding = ?, sealed = ?, ver = ?, tag = ? WHERE id = ?", *before, a)
    report = cli.json("audit", "verify", "--home", home, code=INTEGRITY)
    assert [p["table"] for p in report["row_problems"]] == ["arrivals"]
    assert "restored from an older copy" in report["row_problems"][0]["problem"]


def test_a_deleted_decision_is_caught_by_verify(cli, copy):
    home, a, _, _ = copy
    sql(home, "DELETE FROM reviews WHERE arrival_id = ?", a)
    report = cli.json("audit", "verify", "--home", home, code=INTEGRITY)
    assert [p["table"] for p in report["row_problems"]] == ["reviews"]


def test_every_table_but_the_self_authenticating_ones_carries_tags(copy):
    home = copy[0]
    con = sqlite3.connect(home / "triage.db")
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    untagged = {t for t in tables if "tag" not in [c[1] for c in con.execute(f"PRAGMA table_info([{t}])")]}
    assert untagged == {
        "audit_events",
        "audit_head",
        "keyring",
        "_sqlite_migrations",
        "template_blocks",
        "template_indexes",
    }
    assert con.execute("SELECT count(*) FROM arrivals WHERE tag IS NULL OR ver IS NULL").fetchone()[0] == 0
    con.close()


def test_a_table_stripped_of_its_tags_is_refused(cli, copy):
    home, a, _, _ = copy
    sql(home, "ALTER TABLE reviews DROP COLUMN tag")
    sql(home, "UPDATE reviews SET decision = 'rejected' WHERE arrival_id = ?", a)
    refused = cli("arrivals", "show", a, "--home", home, code=INTEGRITY)
    assert "reviews has lost its authentication columns" in refused.stderr


def test_a_trigger_slipped_into_the_file_is_refused_before_it_can_run(cli, copy):
    """A trigger in the file would run inside triage's own transaction, before the rows are tagged."""
    home, a, _, _ = copy
    sql(
        home,
        "CREATE TRIGGER quiet AFTER INSERT ON reviews BEGIN UPDATE reviews SET decision = 'rejected' "
        "WHERE id = NEW.id; END",
    )
    refused = cli(
        "review",
        a,
        "--candidate",
        "WL-007",
        "--decision",
        "confirmed",
        "--reason",
        "again",
        "--home",
        home,
        code=INTEGRITY,
    )
    assert "schema was changed outside triage" in refused.stderr


def test_a_table_dropped_is_caught_by_verify(cli, copy):
    home = copy[0]
    sql(home, "DROP TABLE referrals")
    assert cli("audit", "verify", "--home", home, code=None).exit_code == INTEGRITY


def test_a_row_this_process_just_wrote_is_checked_again_once_another_connection_commits(copy):
    """Rows a store tagged itself are not re-checked while no other connection has committed (SQLite's
    data_version); a write from the sqlite3 shell, or a raw write on the store's own connection outside a
    transaction, makes every row checked again."""
    from conftest import PASSPHRASE
    from triage.errors import IntegrityFailure
    from triage.store.rows import Store

    home, a, _, _ = copy
    store = Store.open(home, PASSPHRASE)
    try:
        with store.transaction():
            store.update("arrivals", a, clear={"vessel": "SB-2"})
        assert store.get("arrivals", a)["vessel"] == "SB-2"  # fresh: its own write
        sql(home, "UPDATE arrivals SET safeguarding = 1 WHERE id = ?", a)
        with pytest.raises(IntegrityFailure):
            store.get("arrivals", a)
        with pytest.raises(IntegrityFailure):
            store.check_rows("arrivals")
    finally:
        store.close()

    store = Store.open(home, PASSPHRASE)
    try:
        with pytest.raises(IntegrityFailure):  # the shell's edit is still there for a new process
            store.get("arrivals", a)
        sql(home, "UPDATE arrivals SET safeguarding = 0 WHERE id = ?", a)  # undone: the row adds up again
        with store.transaction():
            store.update("arrivals", a, clear={"vessel": "SB-3"})
        store.db.execute("UPDATE arrivals SET vessel = 'SB-9' WHERE id = ?", [a])  # outside a transaction
        with pytest.raises(IntegrityFailure):
            store.check_rows("arrivals")
    finally:
        store.close()
