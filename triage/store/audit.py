"""The hash-chained audit trail.

Each event's hash covers its own fields and the previous event's hash, so editing, deleting or
reordering any row breaks the chain from that row on, and `verify` names the first broken one. The
chain covers the sealed reason as stored, so it verifies without the passphrase. Removing the last
events leaves an intact but shorter chain; so the last event's number and hash are also kept sealed
under the data key (`audit_head`, rewritten with each event), which only the passphrase can forge, and
`verify` checks the chain's end against it when it has the passphrase. What no record inside the file
can show is a rollback of the whole file (or of the trail and its head together) to an older copy; a
day's signed batch carries the events behind it to the supervisor, outside the laptop. Events hold
record ids, never personal or biometric content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from triage.errors import IntegrityFailure
from triage.store.crypto import Vault

GENESIS = "0" * 64
HEAD_AAD = "audit_head:1"
FIELDS = ("seq", "at", "officer", "action", "arrival_id", "records", "reason", "prev_hash")


def event_hash(row: dict[str, Any]) -> str:
    """The SHA-256 of the event's fields as sorted, ASCII-only JSON. Written out field by field where each has the
    type triage writes (a read of the trail hashes every event after the first it shows, so this is three times
    quicker than `json.dumps`); any other value goes through `json.dumps`, which gives the same text."""
    seq, reason = row["seq"], row["reason"]
    text = (row["at"], row["officer"], row["action"], row["records"], row["prev_hash"])
    if (
        type(seq) is int
        and all(type(v) is str for v in text)
        and (row["arrival_id"] is None or type(row["arrival_id"]) is str)
        and (reason is None or type(reason) is bytes)
    ):
        at, officer, action, records, prev = (_ascii(v) for v in text)
        written = (
            f'{{"action": {action}, "arrival_id": {_ascii(row["arrival_id"])}, "at": {at}, "officer": {officer}, '
            f'"prev_hash": {prev}, "reason": {_ascii(reason.hex() if reason is not None else None)}, '
            f'"records": {records}, "seq": {seq}}}'
        )
        return hashlib.sha256(written.encode()).hexdigest()
    body = {k: row[k] for k in FIELDS}
    body["reason"] = reason.hex() if reason is not None else None
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def _ascii(value: str | None) -> str:
    """A string as `json.dumps(..., ensure_ascii=True)` writes it; None as null."""
    return "null" if value is None else json.encoder.encode_basestring_ascii(value)


def append(
    db: Database,
    *,
    at: str,
    officer: str,
    action: str,
    arrival_id: str | None,
    records: list[str],
    reason: bytes | None,
) -> dict[str, Any]:
    """Append one event; the caller holds the write transaction, so the chain cannot fork."""
    last = db.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    row = {
        "seq": seq,
        "at": at,
        "officer": officer,
        "action": action,
        "arrival_id": arrival_id,
        "records": json.dumps(records),
        "reason": reason,
        "prev_hash": prev,
    }
    row["hash"] = event_hash(row)
    db.table("audit_events").insert(row, pk="seq")
    return row


def mark(db: Database, seq: int | None = None) -> tuple[int, str] | None:
    """Event `seq` (by default the last) as another store keeps it to know this trail again later (a hub, of its
    key home): its number and a digest of when, by whom and what it recorded. Not its hash, which a rotation of
    the home's key makes again with the reasons it seals. None when the trail holds no such event."""
    query = "SELECT seq, at, officer, action, records FROM audit_events "
    found = db.execute(
        query + ("WHERE seq = ?" if seq is not None else "ORDER BY seq DESC LIMIT 1"), [seq] if seq is not None else []
    ).fetchone()
    if found is None:
        return None
    number = int(found[0])
    return number, hashlib.sha256(json.dumps([number, *(str(v) for v in found[1:])]).encode()).hexdigest()


def read(
    db: Database, vault: Vault, where: str | None, params: Sequence[Any], *, end: tuple[int, str] | None
) -> list[dict[str, Any]]:
    """The events that match `where`, oldest first, their records parsed and reasons opened (a reason is sealed to
    its event's number, so it cannot be forged or moved). The trail is walked from the first event read to its
    end, each event against its own hash and the one before, and the last against `end` (the sealed head's number
    and hash; None for a home from before it): the hashes are not keyed, so an event rewritten has only to have
    every hash after it made again to pass any check short of the sealed head, and a reader is never shown an
    event `triage audit verify` would refuse (the walk hashes every event after the first read, a few
    microseconds each)."""
    events = list(db.table("audit_events").rows_where(where, list(params), order_by="seq"))
    broken = broken_from(db, events[0]["seq"], end) if events else None
    if broken is not None:
        raise IntegrityFailure(
            f"audit event {broken} or the trail around it was altered after it was written: "
            "`triage audit verify` shows the trail",
            hint="restore the home from a backup",
        )
    found = []
    for row in events:
        reason = row["reason"]
        found.append(
            {
                **{k: row[k] for k in ("seq", "at", "officer", "action", "arrival_id", "prev_hash", "hash")},
                "records": json.loads(row["records"]),
                "reason": vault.open(reason, f"audit_events:{row['seq']}").decode() if reason is not None else None,
            }
        )
    return found


def broken_from(db: Database, first: int, end: tuple[int, str] | None) -> int | None:
    """The first event from `first` on that is not as written or not linked to the one before (named as the
    event before, whose rewriting a broken link shows), or the last when the trail does not end at `end`; None
    when the trail from `first` holds."""
    names = ", ".join(FIELDS)
    prev = GENESIS
    if first > 1:
        found = db.execute("SELECT hash FROM audit_events WHERE seq = ?", [first - 1]).fetchone()
        if found is None:
            return first
        prev = found[0]
    last: tuple[int, str] | None = None
    for values in db.execute(f"SELECT {names}, hash FROM audit_events WHERE seq >= ? ORDER BY seq", [first]):
        row = dict(zip((*FIELDS, "hash"), values))
        seq = row["seq"]
        if row["prev_hash"] != prev or (last is not None and seq != last[0] + 1):
            return last[0] if last is not None else seq
        if event_hash(row) != row["hash"]:
            return int(seq)
        prev, last = row["hash"], (seq, row["hash"])
    if end is not None and last is not None and (int(end[0]), str(end[1])) != last:
        return last[0]
    return None


@dataclass
class Head:
    """What the sealed head holds: the last event's number and hash, and each tagged table's digest
    (tags.py). `tables` is None in a head written before the home's rows were tagged."""

    seq: int
    hash: str
    tables: dict[str, int] | None
    schema: str | None = None  # the digest of the store's schema when this head was written (tags.py)
    steps: list[str] | None = None  # the schema steps applied then
    keyed: bool = True  # False: `tables` are plain sums of tags, as kept before they were keyed (tags.tag_sum)

    def sealed(self, vault: Vault) -> bytes:
        tables = None if self.tables is None else {t: format(d, "x") for t, d in sorted(self.tables.items())}
        body = {"seq": self.seq, "hash": self.hash, "tables": tables, "schema": self.schema, "steps": self.steps}
        if self.keyed:
            body["sums"] = "keyed"
        return vault.seal(json.dumps(body, sort_keys=True).encode(), HEAD_AAD)


def read_head(db: Database, vault: Vault) -> Head | None:
    """The sealed head, opened; None where there is none. A head that fails to open is an IntegrityFailure."""
    found = db.execute("SELECT sealed FROM audit_head WHERE id = 1").fetchone()
    if found is None:
        return None
    try:
        text = vault.open(found[0], HEAD_AAD).decode()
    except IntegrityFailure:
        raise IntegrityFailure("the sealed record of the audit trail's end was altered") from None
    if text.startswith("{"):
        d = json.loads(text)
        tables = None if d["tables"] is None else {t: int(v, 16) for t, v in d["tables"].items()}
        return Head(int(d["seq"]), str(d["hash"]), tables, d.get("schema"), d.get("steps"), d.get("sums") == "keyed")
    seq, digest = text.split(":")  # the first release's form: "SEQ:HASH"
    return Head(int(seq), digest, None, keyed=False)


def write_head(db: Database, vault: Vault, head: Head) -> None:
    db.execute("INSERT OR REPLACE INTO audit_head (id, sealed) VALUES (1, ?)", [head.sealed(vault)])


@dataclass
class ChainReport:
    events: int
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify(db: Database, vault: Vault | None = None) -> ChainReport:
    """The chain from the first event, and, given the home's vault, its end against the sealed head."""
    report = _chain(db)
    if report.ok and report.events == 0:  # a home's first event is its creation, so an empty trail was emptied
        return ChainReport(
            0, 1, "the trail is empty, but every home's first event is its creation: events were removed"
        )
    if not report.ok or vault is None:
        return report
    sealed = db.execute("SELECT sealed FROM audit_head WHERE id = 1").fetchone()
    last = db.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    assert last is not None  # the chain above holds events
    if sealed is None:
        return ChainReport(
            report.events,
            last[0],
            "the sealed record of the trail's last event is missing (removed, "
            "or the home predates it: any audited command writes it)",
        )
    try:
        opened = read_head(db, vault)
    except (IntegrityFailure, ValueError, KeyError):
        return ChainReport(report.events, last[0], "the sealed record of the trail's last event was altered")
    assert opened is not None  # `sealed` was found above
    seq, digest = opened.seq, opened.hash
    if int(seq) > last[0]:
        return ChainReport(
            report.events,
            last[0] + 1,
            f"the trail ends at event {last[0]}, but it was written up to "
            f"event {seq}: the events after it were removed",
        )
    if int(seq) < last[0] or digest != last[1]:
        return ChainReport(
            report.events,
            last[0],
            f"event {last[0]} is not the one the sealed record of the trail's "
            "end names: the trail or that record was replaced",
        )
    return report


def _chain(db: Database) -> ChainReport:
    prev = GENESIS
    expected_seq = 1
    count = 0
    for row in db.table("audit_events").rows_where(order_by="seq"):
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
