"""Records that cannot be changed behind the tool's back: every row carries an authentication tag that
only the data key makes, so an edit made with the sqlite3 shell and no passphrase is refused wherever the
row is read, and a row restored from an older copy is caught by `audit verify`."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import Cli, index_pointing, index_without, orl, signed_in
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


def test_an_older_sealed_version_restored_is_caught_by_verify_and_refused_by_export(cli, copy):
    """The older row carries a tag that was valid once; the table's digest in the sealed head has moved on."""
    home, a, _, day = copy
    con = sqlite3.connect(home / "triage.db")
    before = con.execute("SELECT safeguarding, sealed, ver, tag FROM arrivals WHERE id = ?", [a]).fetchone()
    con.close()
    cli("arrivals", "flag", a, "--safeguarding", "--reason", "appears about 15", "--home", home)
    assert cli.json("audit", "verify", "--home", home)["ok"]
    sql(home, "UPDATE arrivals SET safeguarding = ?, sealed = ?, ver = ?, tag = ? WHERE id = ?", *before, a)
    report = cli.json("audit", "verify", "--home", home, code=INTEGRITY)
    assert [p["table"] for p in report["row_problems"]] == ["arrivals"]
    assert "restored from an older copy" in report["row_problems"][0]["problem"]
    _export_refused(cli, home, day, "arrivals")


def test_a_deleted_decision_is_caught_by_verify_and_refused_by_export(cli, copy):
    home, a, _, day = copy
    sql(home, "DELETE FROM reviews WHERE arrival_id = ?", a)
    report = cli.json("audit", "verify", "--home", home, code=INTEGRITY)
    assert [p["table"] for p in report["row_problems"]] == ["reviews"]
    _export_refused(cli, home, day, "reviews")


DELETIONS = {  # what an everyday command would otherwise show as it stands
    "reviews": "DELETE FROM reviews WHERE arrival_id = ?",  # the candidate back in the queue, undecided
    "candidates": "DELETE FROM candidates WHERE arrival_id = ? AND kind = 'watchlist'",  # an alert gone
    "searches": "DELETE FROM searches WHERE arrival_id = ?",  # the threshold it was judged against
}


@pytest.mark.parametrize("table", list(DELETIONS))
def test_a_row_deleted_or_put_back_is_refused_by_every_command_not_only_verify(cli, copy, table):
    """Each row's tag shows an edit where it is read; a row deleted, or put back from an older copy, shows only in
    its table's digest, which every command now checks as it opens the home."""
    home, a, b, _ = copy
    sql(home, DELETIONS[table], a)
    for command in (("arrivals", "show", a), ("review", "--pending"), ("review", a), ("arrivals", "list")):
        refused = _said(cli(*command, "--home", home, code=INTEGRITY))
        assert f"the rows of {table} are not the ones last written" in refused, command
    assert cli("doctor", "--home", home, code=None).exit_code != 0


UNREAD = [  # a row a read would leave out, or read in plain SQL without checking its tag
    pytest.param("reviews", "UPDATE reviews SET arrival_id = 'A-ZZZZZZ' WHERE arrival_id = ?", id="review moved"),
    pytest.param(
        "candidates",
        "UPDATE candidates SET arrival_id = 'A-ZZZZZZ' WHERE arrival_id = ? AND kind = 'watchlist'",
        id="alert moved",
    ),
    pytest.param(
        "candidates",
        "UPDATE candidates SET below_threshold = 0 WHERE arrival_id = ? AND kind = 'watchlist'",
        id="alert counted as none",
    ),
    pytest.param("arrivals", "UPDATE arrivals SET voided = 1 WHERE id = ?", id="gone from a name search"),
    pytest.param(
        "searches", "INSERT INTO searches SELECT * FROM searches WHERE arrival_id = ?", id="a latest search, no tag"
    ),
]


@pytest.mark.parametrize(("table", "statement"), UNREAD)
def test_a_row_edited_in_place_or_slipped_in_without_a_tag_is_refused_by_every_command(cli, copy, table, statement):
    """A row's tag shows an edit only where the row is read: a row moved to another arrival is no longer read for
    its own, a column a count reads in plain SQL is read without its tag, and a row slipped in without a tag
    added nothing to a digest. What a row adds to its table's digest covers its tag (or its lack of one), its
    number and every clear column, so each shows in the digest every command checks as it opens the home."""
    home, a, _, _ = copy
    if statement.startswith("INSERT"):
        con = sqlite3.connect(home / "triage.db")
        columns = [c[1] for c in con.execute(f"PRAGMA table_info({table})")]
        con.close()
        chosen = ", ".join("NULL" if c == "tag" else "id + 1000" if c == "id" else c for c in columns)
        statement = statement.replace("SELECT *", f"SELECT {chosen}")
    sql(home, statement, a)
    for command in (("arrivals", "show", a), ("review", "--pending"), ("arrivals", "list")):
        refused = _said(cli(*command, "--home", home, code=INTEGRITY))
        assert f"{table} row" in refused and "was changed outside triage" in refused, (command, refused)
        if table != "arrivals":  # named with the arrival it is about, where it is now
            assert f"(arrival {'A-ZZZZZZ' if 'SET arrival_id' in statement else a})" in refused, refused


def test_a_name_key_moved_to_another_name_is_refused_by_the_name_search(cli, copy):
    """A name key given another blind hid its arrival from a name search and from a capture's biographic
    candidates, every command passing."""
    home, a, _, _ = copy
    assert [r["arrival_id"] for r in cli.json("arrivals", "find", "Hama", "--home", home)["arrivals"]] == [a]
    for name, keys in (("keys", "field <> 'made'"), ("made", "field = 'made'")):  # or the row saying they are made
        moved = home.parent / name
        shutil.copytree(home, moved)
        sql(moved, f"UPDATE name_keys SET blind = blind || '~' WHERE arrival_id = ? AND {keys}", a)
        refused = _said(cli("arrivals", "find", "Hama", "--home", moved, code=INTEGRITY))
        assert "name_keys row" in refused and "was changed outside triage" in refused, refused


def _export_refused(cli, home: Path, day: str, table: str) -> None:
    out = home.parent / "day.age"
    said = _said(cli("export", "--home", home, "--date", day, "--out", out, code=INTEGRITY))
    assert f"the rows of {table} are not the ones last written" in said
    assert "triage audit verify" in said and not out.exists()


def _said(result) -> str:
    return " ".join(result.stderr.split())


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
    }
    assert con.execute("SELECT count(*) FROM template_blocks WHERE tag IS NULL OR ver IS NULL").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM arrivals WHERE tag IS NULL OR ver IS NULL").fetchone()[0] == 0
    con.close()


def test_a_table_stripped_of_its_tags_is_refused(cli, copy):
    home, a, _, _ = copy
    sql(home, "ALTER TABLE reviews DROP COLUMN tag")
    sql(home, "UPDATE reviews SET decision = 'rejected' WHERE arrival_id = ?", a)
    refused = cli("arrivals", "show", a, "--home", home, code=INTEGRITY)
    assert "reviews has lost its authentication columns" in refused.stderr


@pytest.fixture(params=["quiet", "sqlitex_quiet", "SQLITE_quiet"])
def trigger_name(request):
    return request.param


def test_a_trigger_slipped_into_the_file_is_refused_before_it_can_run(cli, copy, trigger_name):
    """A trigger in the file would run inside triage's own transaction, before the rows are tagged; whatever
    its name (SQLite's own objects, left out of the schema's digest, are named `sqlite_`, and LIKE would take
    `sqlitex` or `SQLITE_` for one; the last needs `writable_schema` to be made)."""
    home, a, _, _ = copy
    body = "AFTER INSERT ON reviews BEGIN UPDATE reviews SET decision = 'rejected' WHERE id = NEW.id; END"
    if trigger_name.lower().startswith("sqlite_"):
        con = sqlite3.connect(home / "triage.db")
        con.execute("PRAGMA writable_schema = ON")
        con.execute(
            "INSERT INTO sqlite_master (type, name, tbl_name, rootpage, sql) VALUES ('trigger', ?, 'reviews', 0, ?)",
            [trigger_name, f"CREATE TRIGGER {trigger_name} {body}"],
        )
        con.commit()
        con.close()
    else:
        sql(home, f"CREATE TRIGGER {trigger_name} {body}")
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


def test_a_trigger_slipped_in_while_a_command_runs_is_refused_at_its_next_write_never_sealed(cli, copy):
    """The schema was checked at unlock only, and each commit sealed the schema the file held by then: a trigger
    added while `capture --watch` ran silenced every later alert inside triage's own transactions, and was
    sealed as triage's own. Each commit now seals the schema checked at unlock, and refuses another."""
    from conftest import OFFICER, PASSPHRASE
    from triage.errors import IntegrityFailure
    from triage.store.rows import Store

    home, a, _, _ = copy
    store = Store.open(home, PASSPHRASE)
    try:
        sql(home, "CREATE TRIGGER quiet AFTER INSERT ON candidates BEGIN UPDATE candidates SET below_threshold = 0 "
            "WHERE id = NEW.id; END")  # fmt: skip
        with pytest.raises(IntegrityFailure, match="schema was changed outside triage while this command ran"):
            with store.transaction():
                store.audit("arrival-viewed", OFFICER, arrival_id=a)
    finally:
        store.close()
    refused = cli("arrivals", "show", a, "--home", home, code=INTEGRITY)
    assert "schema was changed outside triage" in refused.stderr


def test_a_unique_index_named_like_sqlites_own_is_refused(cli, copy):
    """An index named `sqlite_autoindex_...` (made through `writable_schema`) was left out of the schema's
    digest: a unique one silently dropped rows triage wrote with INSERT OR IGNORE, or failed chosen writes."""
    home, a, _, _ = copy
    con = sqlite3.connect(home / "triage.db")
    con.execute("PRAGMA writable_schema = ON")
    con.execute("CREATE UNIQUE INDEX sqlite_autoindex_ocg_identifiers_9 ON ocg_identifiers (ocg_ref)")
    con.commit()
    con.close()
    refused = cli("arrivals", "show", a, "--home", home, code=INTEGRITY)
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

    with pytest.raises(IntegrityFailure):  # the shell's edit is still there for a new process
        Store.open(home, PASSPHRASE)
    sql(home, "UPDATE arrivals SET safeguarding = 0 WHERE id = ?", a)  # undone: the row adds up again
    store = Store.open(home, PASSPHRASE)
    try:
        with store.transaction():
            store.update("arrivals", a, clear={"vessel": "SB-3"})
        store.db.execute("UPDATE arrivals SET vessel = 'SB-9' WHERE id = ?", [a])  # outside a transaction
        with pytest.raises(IntegrityFailure):
            store.check_rows("arrivals")
    finally:
        store.close()


def test_an_event_another_process_adds_while_the_trail_is_read_is_not_taken_for_an_alteration(copy, monkeypatch):
    """The sealed head and the events are read as of one moment: an event committed between the two reads (a
    capture in another process while `audit show` runs) ended the trail past the head read, refused as altered."""
    from conftest import PASSPHRASE
    from triage.store import audit
    from triage.store.rows import Store

    home = copy[0]
    reader, writer = Store.open(home, PASSPHRASE), Store.open(home, PASSPHRASE)
    read_head = audit.read_head

    def then_another_writes(db, vault):
        head = read_head(db, vault)
        if db is reader.db:
            with writer.transaction():
                writer.audit("note", "PC 2 Other", reason="written meanwhile")
        return head

    monkeypatch.setattr(audit, "read_head", then_another_writes)
    try:
        seen = reader.events()
        assert seen and seen[-1]["action"] != "note"  # the trail as it stood when the head was read
        assert reader.events()[-1]["action"] == "note"
    finally:
        reader.close()
        writer.close()


def _events(home: Path) -> list[tuple]:
    con = sqlite3.connect(home / "triage.db")
    try:
        return con.execute("SELECT * FROM audit_events ORDER BY seq").fetchall()
    finally:
        con.close()


def test_a_trail_cut_short_is_never_sealed_over_by_the_next_command(cli, copy):
    """Without the check, the next audited command wrote a new event and head after the cut, and verify
    found the shorter trail intact."""
    home = copy[0]
    sql(home, "DELETE FROM audit_events WHERE seq >= (SELECT max(seq) - 1 FROM audit_events)")
    before = _events(home)
    said = _said(cli("arrivals", "list", "--home", home, code=INTEGRITY))
    assert "audit trail no longer ends where it was last written" in said and "triage audit verify" in said
    assert _events(home) == before  # nothing written
    assert not cli.json("audit", "verify", "--home", home, code=INTEGRITY)["ok"]


def test_a_trail_rewritten_and_chained_again_is_never_sealed_over(cli, copy):
    from triage.store.audit import GENESIS, event_hash

    home = copy[0]
    con = sqlite3.connect(home / "triage.db")
    con.row_factory = sqlite3.Row
    con.execute("UPDATE audit_events SET officer = 'PC 666 Someone Else' WHERE action = 'review'")
    prev = GENESIS
    for row in [dict(r) for r in con.execute("SELECT * FROM audit_events ORDER BY seq")]:
        row["prev_hash"] = prev
        prev = event_hash(row)
        con.execute(
            "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?", [row["prev_hash"], prev, row["seq"]]
        )
    con.commit()
    con.close()
    assert cli.json("audit", "verify", "--chain-only", "--home", home)["ok"]  # the chain alone adds up
    assert "audit trail no longer ends" in _said(cli("arrivals", "list", "--home", home, code=INTEGRITY))
    # a read writes no event: its last event read is checked against the sealed head instead
    last = _events(home)[-1][0]
    said = _said(cli("audit", "show", "--home", home, code=INTEGRITY))
    assert f"audit event {last} or the trail around it was altered" in said and "Someone Else" not in said


def _row(home: Path, table: str, where: str) -> tuple[list[str], tuple]:
    con = sqlite3.connect(home / "triage.db")
    try:
        cursor = con.execute(f"SELECT rowid AS rowid, * FROM {table} WHERE {where}")
        return [d[0] for d in cursor.description], cursor.fetchone()
    finally:
        con.close()


def _put_back(home: Path, table: str, row: tuple[list[str], tuple]) -> None:
    names, values = row
    sql(home, f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", *values)


def test_a_revoked_key_put_back_from_an_older_copy_is_refused_where_keys_are_used(cli, copy, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from triage.exchange.keys import encode_signing_key

    home = copy[0]
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    cli("keys", "trust", "Laptop Z", encode_signing_key(raw), "--home", home)
    old = _row(home, "trusted_keys", "name = 'Laptop Z'")
    cli("keys", "untrust", "Laptop Z", "--home", home)
    _put_back(home, "trusted_keys", old)
    dummy = tmp_path / "file.age"
    dummy.write_bytes(b"not read")
    for args in (("keys", "list"), ("import", dummy), ("watchlist", "receive", dummy)):
        said = _said(cli(*args, "--home", home, code=INTEGRITY))
        assert "the rows of trusted_keys are not the ones last written" in said and "triage audit verify" in said


def test_an_index_entry_naming_another_row_never_has_that_row_deleted(cli, copy):
    """`keys untrust "Laptop Y"` found its row through an index whose entry named Laptop Z's row, deleted Laptop Z's
    key and said Laptop Y was no longer trusted (exit 0; Laptop Y's batches still accepted, and `audit verify`
    passing once the index was rebuilt). The transaction's tables' indexes are checked before it commits."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from triage.exchange.keys import encode_signing_key

    home = copy[0]
    for name in ("Laptop Y", "Laptop Z"):
        raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        cli("keys", "trust", name, encode_signing_key(raw), "--home", home)
    (z,) = (
        sqlite3.connect(home / "triage.db").execute("SELECT rowid FROM trusted_keys WHERE name = 'Laptop Z'").fetchone()
    )
    index_pointing(home, "idx_trusted_keys_role_name", "name = 'Laptop Y'", z)
    said = _said(cli("keys", "untrust", "Laptop Y", "--home", home, code=INTEGRITY))
    assert "trusted_keys or an index of it is not as SQLite wrote it" in said
    sql(home, "REINDEX idx_trusted_keys_role_name")
    trusted = [k["name"] for k in cli.json("keys", "list", "--home", home)["trusted_laptops"]]
    assert {"Laptop Y", "Laptop Z"} <= set(trusted)


def test_an_index_entry_naming_a_row_others_refer_to_is_named_not_a_foreign_key(cli, copy):
    """`watchlist remove` deleted the subject's photos found through an index whose entry named an arrival's photo,
    which its templates refer to: "unexpected IntegrityError: FOREIGN KEY constraint failed", exit 1."""
    home, a = copy[0], copy[1]
    con = sqlite3.connect(home / "triage.db")
    (photo,) = con.execute("SELECT rowid FROM photos WHERE owner_id = ? LIMIT 1", [a]).fetchone()
    con.close()
    index_pointing(home, "idx_photos_owner_kind_owner_id", "owner_id = 'WL-007'", photo)
    said = _said(
        cli("watchlist", "remove", "WL-007", "--reason", "withdrawn by the issuer", "--home", home, code=INTEGRITY)
    )
    assert "photos or an index of it is not as SQLite wrote it" in said


def test_an_arrival_left_out_of_its_key_index_is_not_said_to_be_missing(cli, copy):
    """An arrival dropped from the index on its id was "no arrival ... in this home" (exit 5), as if never landed."""
    home, a = copy[0], copy[1]
    index_without(home, "sqlite_autoindex_arrivals_1", f"id = '{a}'")
    said = _said(cli("arrivals", "show", a, "--home", home, code=INTEGRITY))
    assert "arrivals or an index of it is not as SQLite wrote it" in said


def test_a_row_changed_outside_triage_is_never_written_over_or_deleted(cli, copy):
    """A purge updates and deletes rows it never reads: without the check made before a row is first
    changed, the edited arrival's change was sealed as triage's own and verify found nothing."""
    home, _, b, _ = copy
    # A sealed value's nonce changed: the row's tag no longer fits it (a digest leaves sealed columns to the tag).
    sql(home, "UPDATE arrivals SET sealed = CAST(X'00' || substr(sealed, 2) AS BLOB) WHERE id = ?", b)
    said = _said(cli("purge", "--as-of", "2099-01-01", "--home", home, code=INTEGRITY))
    assert f"arrivals row {b} was changed outside triage" in said and "does not write over it" in said
    assert not cli.json("audit", "verify", "--home", home, code=INTEGRITY)["ok"]


def test_a_key_put_back_cannot_be_hidden_by_a_tag_made_up_for_another_row(cli, copy):
    """A table's digest moved by the tag a row held when triage deleted it: a tag made up so that the
    deletion took the restored key's tag with it hid the restored key from every check. What a row adds to
    the digest is keyed, so no tag made up restores the sum: the next command refuses the table, naming the
    row whose tag was made up."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from triage.exchange.keys import encode_signing_key

    home = copy[0]
    for name in ("Laptop Y", "Laptop Z"):
        raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        cli("keys", "trust", name, encode_signing_key(raw), "--home", home)
    old = _row(home, "trusted_keys", "name = 'Laptop Z'")
    cli("keys", "untrust", "Laptop Z", "--home", home)
    _put_back(home, "trusted_keys", old)
    y = _row(home, "trusted_keys", "name = 'Laptop Y'")
    y_tag = y[1][y[0].index("tag")]
    z_tag = old[1][old[0].index("tag")]
    made_up = ((int.from_bytes(y_tag, "big") - int.from_bytes(z_tag, "big")) % (1 << 256)).to_bytes(32, "big")
    sql(home, "UPDATE trusted_keys SET tag = ? WHERE name = 'Laptop Y'", made_up)
    for args in (("keys", "untrust", "Laptop Y"), ("keys", "list")):
        said = _said(cli(*args, "--home", home, code=INTEGRITY))
        assert f"trusted_keys row {y[1][y[0].index('id')]} was changed outside triage" in said, said
    assert not cli.json("audit", "verify", "--home", home, code=INTEGRITY)["ok"]


def test_a_setting_put_back_from_an_older_copy_is_refused_at_unlock(cli, copy):
    from conftest import OFFICER, PASSPHRASE
    from triage.store import settings
    from triage.store.config import Retention
    from triage.store.rows import Store

    home = copy[0]
    old = _row(home, "settings", "name = 'retention'")
    config = (home / "config.json").read_bytes()
    store = Store.open(home, PASSPHRASE)
    try:
        with store.transaction():
            settings.change(store, officer=OFFICER, retention=Retention(unmatched_biometrics_days=7))
            store.audit("settings-set", OFFICER, records=["settings:retention"])
    finally:
        store.close()
    _put_back(home, "settings", old)
    (home / "config.json").write_bytes(config)  # the file agrees with the row put back
    assert "the rows of settings are not the ones last written" in _said(
        cli("arrivals", "list", "--home", home, code=INTEGRITY)
    )


def test_the_record_of_a_merged_batch_is_read_checked(cli, copy):
    """Who sent a batch, as review --pending and the report name it, and that it was merged at all."""
    from conftest import PASSPHRASE
    from triage.store.rows import Store

    home, _, _, day = copy
    store = Store.open(home, PASSPHRASE)
    try:
        with store.transaction():
            store.insert_row(
                "batches",
                {
                    "sha256": "ab" * 32,
                    "device": "laptop-9",
                    "signer": "Laptop 9",
                    "day": day,
                    "arrivals": 0,
                    "imported_at": "2026-11-28T10:00:00+00:00",
                    "officer": "PC 1 A",
                    "training": 0,
                },
            )
            store.audit("import", "PC 1 A", records=["batch:" + "ab" * 32])
    finally:
        store.close()
    cli("review", "--pending", "--home", home)
    sql(home, "UPDATE batches SET signer = 'Kent Intel'")
    for args in (("review", "--pending"), ("report", "--date", day, "--format", "text", "--json")):
        assert "batches row" in _said(cli(*args, "--home", home, code=INTEGRITY))
    sql(home, "UPDATE batches SET signer = 'Laptop 9'")
    cli("review", "--pending", "--home", home)
    sql(home, "DELETE FROM batches")
    assert "the rows of batches are not the ones last written" in _said(
        cli("import", home.parent / "missing.age", "--home", home, code=INTEGRITY)
    )


def test_a_byte_changed_inside_a_sealed_value_is_found_by_verify(cli, copy):
    """A row's tag binds its ciphertext by length, nonce and GCM tag; a byte changed between them leaves the tag
    whole and shows when the value is opened, which `audit verify` now does for every one (`doctor`, a routine
    check, leaves that to it: a supervisor's home holds gigabytes of photos)."""
    home, a, _, _ = copy
    con = sqlite3.connect(home / "triage.db")
    (blob,) = con.execute("SELECT sealed FROM arrivals WHERE id = ?", [a]).fetchone()
    middle = len(blob) // 2
    con.execute(
        "UPDATE arrivals SET sealed = ? WHERE id = ?",
        [blob[:middle] + bytes([blob[middle] ^ 1]) + blob[middle + 1 :], a],
    )
    con.commit()
    con.close()
    report = cli.json("audit", "verify", "--home", home, code=INTEGRITY)
    assert [(p["table"], a in p["problem"]) for p in report["row_problems"]] == [("arrivals", True)]
    assert "does not open under this home's key" in report["row_problems"][0]["problem"]


def test_an_index_rebuilt_without_the_watchlists_blocks_leaves_the_search_whole_and_fails_verify(cli, copy):
    """The schema's digest holds each index's text, not its contents: an index rebuilt without the watchlist's
    blocks would have left every subject out of the search, every check passing. Blocks are read from their table,
    and `audit verify` asks SQLite whether every index holds its table's rows."""
    home = copy[0]
    (index,) = [
        r[0]
        for r in sqlite3.connect(home / "triage.db").execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'template_blocks' AND sql IS NOT NULL"
        )
    ]
    index_without(home, index, "owner_kind = 'subject'")
    found = cli.json("match", copy[1], "--home", home)  # a search adds rows, and writes no block
    assert "WL-007" in [c["ref"] for c in found["candidates"] if c["kind"] == "watchlist"]
    said = _said(cli("capture", "--home", home, "--photo", orl(7, 6), "--surname", "Again", code=INTEGRITY))
    assert "template_blocks or an index of it is not as SQLite wrote it" in said  # a capture writes its block
    report = cli.json("audit", "verify", "--home", home, code=INTEGRITY)
    assert [p["table"] for p in report["row_problems"]][:1] == ["file"]


def test_a_write_decided_through_an_index_left_without_a_row_is_refused(cli, copy):
    """A block whose templates were partly deleted keeps the ones its index still lists: one rebuilt without a
    subject's template had the removal of another subject reseal the block without it, under a fresh tag (the
    subject left out of every search, `audit verify` passing once the index was rebuilt). A transaction asks
    SQLite about the indexes of every table it wrote before it commits, and is rolled back."""
    home = copy[0]
    index_without(home, "idx_templates_block_id", "owner_id = 'WL-007'")
    said = _said(
        cli("watchlist", "remove", "WL-008", "--reason", "review lapsed, not renewed", "--home", home, code=INTEGRITY)
    )
    assert "templates or an index of it is not as SQLite wrote it" in said
    sql(home, "REINDEX idx_templates_block_id")
    assert [s["ref"] for s in cli.json("watchlist", "list", "--home", home) if s["ref"] in ("WL-007", "WL-008")] == [
        "WL-007",
        "WL-008",
    ]
    found = cli.json("capture", "--home", home, "--photo", orl(7, 6), "--surname", "Again")
    assert "WL-007" in [c["ref"] for c in found["candidates"] if c["kind"] == "watchlist"]


def test_a_key_index_that_leaves_a_row_out_never_lets_a_second_row_take_its_key(cli, copy):
    """A crime group left out of the index on its reference let `ocg add` make a second group with it, shown in
    the first's place; a row inserted under a key it names has the table's index checked first."""
    home = copy[0]
    cli("ocg", "add", "OCG-1", "--name", "Abu Ali", "--home", home)
    index_without(home, "sqlite_autoindex_ocgs_1", "ref = 'OCG-1'")
    said = _said(cli("ocg", "add", "OCG-1", "--name", "Someone Else", "--home", home, code=INTEGRITY))
    assert "ocgs or an index of it is not as SQLite wrote it" in said
    assert sqlite3.connect(home / "triage.db").execute("SELECT count(*) FROM ocgs NOT INDEXED").fetchone() == (1,)


def test_an_index_that_leaves_an_arrival_out_does_not_drop_it_from_a_signed_batch(cli, copy):
    """An index rebuilt without an arrival made `export` sign a batch without it (and the supervisor import the
    rest, no warning): export asks SQLite whether the tables it reads hold what their indexes say."""
    home, a, b, day = copy
    index_without(home, "idx_arrivals_landed_day", f"id = '{b}'")
    said = _said(cli("export", "--home", home, "--date", day, "--out", home.parent / "day.age", code=INTEGRITY))
    assert "arrivals or an index of it is not as SQLite wrote it" in said and not (home.parent / "day.age").exists()
    said = _said(cli("report", "--home", home, "--date", day, "--json", code=INTEGRITY))  # the supervisor's page too
    assert "arrivals or an index of it is not as SQLite wrote it" in said


def test_an_index_that_leaves_a_row_out_is_refused_by_the_lists_that_read_through_it(cli, copy):
    """A list read through an index rebuilt without a row would be short, every tag and digest passing: the
    arrivals of a day or a vessel, the watchlist, the packages held."""
    home, a, b, day = copy
    index_without(home, "idx_arrivals_landed_day", f"id = '{b}'")
    index_without(home, "idx_subjects_status_review_date", "ref = 'WL-007'")
    for command in (("arrivals", "list", "--date", day), ("vessel", "show", "SB-1")):
        assert "arrivals or an index of it is not as SQLite wrote it" in _said(
            cli(*command, "--home", home, code=INTEGRITY)
        )
    for command in (("watchlist", "list"), ("watchlist", "status")):
        assert "subjects or an index of it is not as SQLite wrote it" in _said(
            cli(*command, "--home", home, code=INTEGRITY)
        )


def test_a_deleted_name_key_or_subject_is_refused_where_it_is_read(cli, copy):
    """Tables not summed at every unlock are summed by the first read of a result their rows would change."""
    home, a, _, _ = copy
    sql(home, "DELETE FROM name_keys WHERE arrival_id = ? AND field <> 'made'", a)
    assert "the rows of name_keys are not the ones last written" in _said(
        cli("arrivals", "find", "Hama", "--home", home, code=INTEGRITY)
    )
    sql(home, "DELETE FROM subjects WHERE ref = 'WL-007'")
    for command in (("watchlist", "list"), ("review", "--pending")):
        assert "the rows of subjects are not the ones last written" in _said(
            cli(*command, "--home", home, code=INTEGRITY)
        )


def test_an_index_that_leaves_a_decision_out_is_refused_where_the_decision_counts(cli, copy):
    """A review left out of its index showed the confirmed candidate "not reviewed" and had `purge` delete the
    biometrics of a confirmed match, every tag and digest passing: both ask SQLite about the index first."""
    home, a, _, _ = copy
    index_without(home, "idx_reviews_arrival_id_kind_ref", f"arrival_id = '{a}'")
    for command in (("review", a), ("arrivals", "show", a), ("purge", "--dry-run", "--as-of", "2099-01-01")):
        assert "reviews or an index of it is not as SQLite wrote it" in _said(
            cli(*command, "--home", home, code=INTEGRITY)
        )


def test_an_index_that_leaves_out_an_outcome_a_debrief_or_a_referral_is_refused_where_it_is_read(cli, copy):
    """Each is found by the arrival or draft it belongs to, through an index: one rebuilt without it showed a draft
    with no outcome, an arrival with no debrief, a referral step missing."""
    home, a, _, _ = copy
    purpose = "To establish whether the arrival is wanted or linked to organised immigration crime"
    ref = cli.json("pnd", "draft", a, "--purpose", purpose, "--home", home)["ref"]
    cli("pnd", "outcome", ref, "--result", "no-trace", "--home", home)
    cli("debrief", a, "--departure-country", "FRA", "--no-interactive", "--home", home)
    cli("referral", a, "--arrival-method", "small-boat", "--home", home)
    for index in ("idx_draft_outcomes_ref", "idx_debriefs_arrival_id_version", "idx_referrals_arrival_id"):
        index_without(home, index, "1")
    for command, table in (
        (("pnd", "show", ref), "draft_outcomes"),
        (("debrief", a, "--show"), "debriefs"),
        (("referral", a), "referrals"),
        (("referral", "--incomplete"), "referrals"),
    ):
        assert f"{table} or an index of it is not as SQLite wrote it" in _said(
            cli(*command, "--home", home, code=INTEGRITY)
        )


def test_a_name_key_index_rebuilt_outside_triage_is_refused_not_a_crash(cli, copy):
    home, a, _, _ = copy
    index_without(home, "idx_name_keys_blind_landed_at_arrival_id", f"arrival_id = '{a}'")
    refused = cli("arrivals", "find", "Hama", "--home", home, code=None)
    assert refused.exit_code == INTEGRITY, refused.stdout + refused.stderr


def test_an_emptied_trail_is_broken_even_checked_without_the_passphrase(cli, copy):
    """Every home's first event is its creation: `--chain-only` said "intact: 0 events" for a trail emptied."""
    home = copy[0]
    sql(home, "DELETE FROM audit_events")
    report = cli.json("audit", "verify", "--chain-only", "--home", home, code=INTEGRITY)
    assert not report["ok"] and "every home's first event is its creation" in report["problem"]


def test_a_decision_whose_sealed_part_no_longer_opens_keeps_nothing_off_the_queue(cli, copy):
    """A review's tag binds its sealed part by nonce and GCM tag; a byte changed between them is refused by the queue,
    which would otherwise count the decision it can no longer read as taken."""
    home, a, _, _ = copy
    con = sqlite3.connect(home / "triage.db")
    (blob,) = con.execute("SELECT sealed FROM reviews WHERE arrival_id = ?", [a]).fetchone()
    changed = blob[:20] + bytes([blob[20] ^ 1]) + blob[21:]
    con.execute("UPDATE reviews SET sealed = ? WHERE arrival_id = ?", [changed, a])
    con.commit()
    con.close()
    refused = cli("review", "--pending", "--home", home, code=INTEGRITY)
    assert "failed authentication" in refused.stderr or "changed outside triage" in refused.stderr


def test_text_that_is_not_utf8_put_into_the_file_is_refused_as_a_change_not_a_crash(cli, copy):
    home, a, _, _ = copy
    sql(home, "UPDATE arrivals SET vessel = CAST(X'FF' AS TEXT) WHERE id = ?", a)
    for command in (("arrivals", "list"), ("audit", "verify")):
        said = _said(cli(*command, "--home", home, code=INTEGRITY))
        assert "holds text that is not UTF-8" in said and "changed outside triage" in said, said


def test_the_fast_encoding_of_a_row_is_the_one_its_tags_were_made_with():
    """Rows' tags and digest summands are made through json's C encoder made once; the text must be exactly what
    the encoder object gives, or every home's tags would stop fitting."""
    from triage.store import tags

    values = [
        ["arrivals", 7, [["id", "A-7K3F9Q"], ["quality", 0.1 + 0.2], ["n", 10**20], ["x", -0.0], ["big", 1e300]]],
        [1, [["name", "محمد الحسن"], ["eth", "ሰላም"], ["odd", '\ud800 \x00 "quoted" \\ \u2028'], ["b", b"\x00\xff"]]],
        [2, [["nan", float("nan")], ["inf", float("inf")], ["t", True], ["empty", ""]]],
    ]
    for value in values:
        assert tags._encoded(value) == tags._BODY.encode(value)


def _put_back_under_a_running_store(home, tmp_path):
    """A store opened as a long command holds it (a session), one event saved, then the file put back under it to
    a copy taken before (`sqlite3 triage.db ".restore backup.db"`), every row and the sealed end consistent."""
    from conftest import OFFICER, PASSPHRASE
    from triage.store.rows import Store

    older = tmp_path / "backup.db"
    with sqlite3.connect(home / "triage.db") as live, sqlite3.connect(older) as copy:
        live.backup(copy)
    store = Store.open(home, PASSPHRASE)
    with store.transaction():
        store.audit("session-save", OFFICER, records=["arrival:A-SAVED1"])
    with sqlite3.connect(older) as copy, sqlite3.connect(home / "triage.db") as live:
        copy.backup(live)
    return store


def test_a_home_put_back_to_an_older_copy_under_a_running_command_is_refused_at_its_next_write(cli, home, tmp_path):
    """A command that holds the home open (a session, for a boat's length) knows how far it has seen the trail go.
    The file put back to an older copy of itself meanwhile would have its next arrival written on top and those it
    saved before silently gone: its next write is refused instead, with nothing written."""
    from conftest import OFFICER
    from triage.errors import IntegrityFailure

    store = _put_back_under_a_running_store(home, tmp_path)
    try:
        seq = store.db.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
        with pytest.raises(IntegrityFailure, match="no longer holds as written"):
            with store.transaction():
                store.audit("session-save", OFFICER, records=["arrival:A-SAVED2"])
        assert store.db.execute("SELECT max(seq) FROM audit_events").fetchone()[0] == seq  # nothing written
    finally:
        store.close()
    assert cli.json("audit", "verify", "--home", home)["ok"]  # the older copy is whole: only the command saw it


def test_a_home_put_back_under_a_running_command_is_refused_at_a_write_that_records_no_event(cli, home, tmp_path):
    """Upkeep a command writes without an audit event (a large gallery's search index, saved by a search) writes
    the sealed head too: on a file put back to an older copy under the command it is refused as an audited write
    is, and the older end is not taken for the furthest seen, so the command's next audited write is refused too."""
    from conftest import OFFICER
    from triage.errors import IntegrityFailure

    store = _put_back_under_a_running_store(home, tmp_path)
    try:
        with pytest.raises(IntegrityFailure, match="no longer holds as written"):
            store.put_template_index("dlib", "arrival", b"index", templates=1, max_id=1)
        with pytest.raises(IntegrityFailure, match="no longer holds as written"):
            with store.transaction():
                store.audit("session-save", OFFICER, records=["arrival:A-SAVED2"])
    finally:
        store.close()
