"""The store: migrations on a blank database, and the encryption boundary."""

from __future__ import annotations

import os
import sqlite3

import pytest

from triage.errors import IntegrityFailure
from triage.store.crypto import Vault
from triage.store.migrations import migrations
from triage.store.rows import connect


def test_migrating_a_blank_database_gives_the_schema(tmp_path):
    db = connect(tmp_path / "blank.db")
    migrations.apply(db)
    tables = set(db.table_names())
    assert {
        "arrivals",
        "photos",
        "templates",
        "subjects",
        "candidates",
        "reviews",
        "drafts",
        "audit_events",
        "searches",
        "keyring",
        "tombstones",
        "_sqlite_migrations",
    } <= tables
    assert {"model_id", "dtype", "dim", "data"} <= set(db["templates"].columns_dict)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [m.name for m in migrations.applied(db)]
    assert applied[0] == "m001_initial" and len(applied) == len(migrations.pending(db)) + len(applied)
    # applying again is a no-op
    migrations.apply(db)
    assert [m.name for m in migrations.applied(db)] == applied


def test_personal_data_is_not_in_clear(cli, home, tmp_path):
    from conftest import orl

    cli(
        "capture",
        "--photo",
        orl(4, 2),
        "--surname",
        "Zzyzxqwerty",
        "--given-names",
        "Qwertyzzyx",
        "--dob",
        "1990-01-01",
    )
    raw = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert b"Zzyzxqwerty" not in raw and b"ZZYZXQWERTY" not in raw and b"1990-01-01" not in raw
    con = sqlite3.connect(home / "triage.db")
    assert con.execute("select count(*) from arrivals").fetchone()[0] == 1


def test_opening_into_a_buffer_equals_opening_and_refuses_what_open_refuses():
    vault = Vault(os.urandom(32))
    plain = os.urandom(600_000)
    blob = vault.seal(plain, "template_blocks:1")
    out = bytearray(700_000)
    assert (
        bytes(vault.open_into(blob, "template_blocks:1", memoryview(out)))
        == plain
        == vault.open(blob, "template_blocks:1")
    )
    for bad_blob, aad in ((blob, "template_blocks:2"), (blob[:-1] + bytes([blob[-1] ^ 1]), "template_blocks:1")):
        with pytest.raises(IntegrityFailure):
            vault.open_into(bad_blob, aad, memoryview(out))


def test_an_events_hash_written_field_by_field_is_the_one_json_gives():
    """Trails written before keep verifying: the quick way of hashing an event gives json.dumps's text exactly,
    whatever the fields hold, and any value of another type goes through json.dumps itself."""
    import hashlib
    import json

    from triage.store.audit import FIELDS, event_hash

    def reference(row):
        body = {k: row[k] for k in FIELDS}
        body["reason"] = row["reason"].hex() if row["reason"] is not None else None
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=True).encode()).hexdigest()

    texts = ["", "PC 1 Test", "ولي, احمد", "ሰላም", 'a "quoted" \\ back\\slash', "tab\there\nnew line\x00\x1f", "\ud83d"]
    rows = [
        {
            "seq": seq,
            "at": "2026-12-06T19:00:00+00:00",
            "officer": officer,
            "action": "safeguarding-flag",
            "arrival_id": arrival,
            "records": json.dumps([f"arrival:{officer}", "photo:3"]),
            "reason": reason,
            "prev_hash": "0" * 64,
        }
        for seq in (1, 10**15)
        for officer in texts
        for arrival in (None, "A-7K3F9Q", officer)
        for reason in (None, b"", bytes(range(256)))
    ]
    rows += [{**rows[0], "seq": True}, {**rows[0], "seq": 2.0}, {**rows[0], "arrival_id": 7}]  # json.dumps's way
    assert [event_hash(r) for r in rows] == [reference(r) for r in rows]
