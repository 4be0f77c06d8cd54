"""The hash-chained audit trail.

Each event's hash covers its own fields and the previous event's hash, so editing, deleting or
reordering any row breaks the chain from that row on, and `verify` names the first broken one. The
chain covers the sealed reason as stored, so it verifies without the passphrase. Events hold record
ids, never personal or biometric content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlite_utils import Database

GENESIS = "0" * 64
FIELDS = ("seq", "at", "officer", "action", "arrival_id", "records", "reason", "prev_hash")


def event_hash(row: dict) -> str:
    body = {k: row[k] for k in FIELDS}
    body["reason"] = row["reason"].hex() if row["reason"] is not None else None
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def append(db: Database, *, at: str, officer: str, action: str, arrival_id: str | None, records: list[str],
           reason: bytes | None) -> dict:
    """Append one event; the caller holds the write transaction, so the chain cannot fork."""
    last = db.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    row = {"seq": seq, "at": at, "officer": officer, "action": action, "arrival_id": arrival_id,
           "records": json.dumps(records), "reason": reason, "prev_hash": prev}
    row["hash"] = event_hash(row)
    db["audit_events"].insert(row, pk="seq")
    return row


@dataclass
class ChainReport:
    events: int
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify(db: Database) -> ChainReport:
    prev = GENESIS
    expected_seq = 1
    count = 0
    for row in db["audit_events"].rows_where(order_by="seq"):
        count += 1
        if row["seq"] != expected_seq:
            return ChainReport(count, expected_seq, f"event {expected_seq} is missing (next is {row['seq']})")
        if row["prev_hash"] != prev:
            return ChainReport(count, row["seq"], f"event {row['seq']} does not follow event {row['seq'] - 1}")
        if event_hash(row) != row["hash"]:
            return ChainReport(count, row["seq"], f"event {row['seq']} was altered after it was written")
        prev = row["hash"]
        expected_seq += 1
    return ChainReport(count)
