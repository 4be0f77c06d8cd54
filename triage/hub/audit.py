"""The hub's audit trail: who imported, looked at and decided what, one event a row, each event's hash keyed
by the hub's data key and chained to the one before.

Every role may add events and read them; none but the database's owner may change or delete them, and whoever
changes one (the owner, or an administrator of the server) breaks the chain at that event, which
`triage hub audit verify` names: without the hub's key no one can compute a hash that fits.

The same check reads every row that carries a keyed tag (`rows.py`) and compares the decisions with the trail:
each decision event must have its decision rows, with the same decision, and each decision row its event, so a
decision deleted, or a candidate deleted with its decision, is named even though no tag is left to fail. A void
the trail's corrections record must still hold on its arrival.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from triage.errors import IntegrityFailure
from triage.hub import rows
from triage.hub.hub import Hub


@dataclass
class Verified:
    events: int
    last_hash: str | None
    rows: dict[str, int] = field(default_factory=dict)  # rows whose keyed tag fits, table by table
    decisions: int = 0  # decisions that match the audit event that recorded them

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def verify(hub: Hub) -> Verified:
    """Check every event's hash and link; IntegrityFailure names the first event that fails."""
    prev: str | None = None
    expected = 1
    count = 0
    for seq, at, officer, db_user, action, records, reason, prev_hash, digest in hub.conn.execute(
        "SELECT seq, at, officer, db_user, action, records, reason, prev_hash, hash FROM audit ORDER BY seq"
    ):
        if seq != expected:
            raise IntegrityFailure(f"the hub's audit trail misses event {expected}: it was deleted")
        if prev_hash != prev or hub.chain_hash(prev, seq, at, officer, db_user, action, records, reason) != digest:
            raise IntegrityFailure(f"the hub's audit trail fails at event {seq} ({action}): it was altered")
        prev, expected, count = digest, expected + 1, count + 1
    head = hub.conn.execute("SELECT seq, hash, mac FROM audit_head WHERE id = 1").fetchone()
    if count and (head is None or not hmac.compare_digest(head[2], hub.head_mac(head[0], head[1]))):
        raise IntegrityFailure("the keyed record of the hub's audit trail's end is missing or altered")
    if head is not None and (head[0], head[1]) != (count, prev):
        raise IntegrityFailure(
            f"the hub's audit trail ends at event {count}, but its keyed record of the end names event {head[0]}: "
            "events were removed from its end"
        )
    return Verified(count, prev, verify_rows(hub), verify_decisions(hub))


def verify_rows(hub: Hub) -> dict[str, int]:
    """Check the keyed tag of every row of every tagged table; the rows checked, table by table."""
    counts: dict[str, int] = {}
    with hub.conn.transaction():  # the rows are read through cursors on the server, a table at a time
        for table in rows.TABLES:
            counts[table] = 0
            for label, values, mac, _ in rows.scan(hub.conn, table):
                if not hub.rows.valid(table, values, mac):
                    raise rows.changed(table, label, mac is None)
                counts[table] += 1
    return counts


def verify_decisions(hub: Hub) -> int:
    """Compare every decision with the audit event that recorded it; the decisions that match. Run after the rows'
    tags are checked, so the decisions compared are ones triage wrote."""
    held = dict(hub.conn.execute("SELECT candidate, decision FROM decisions").fetchall())
    recorded: dict[int, tuple[int, str]] = {}  # candidate -> (event, decision)
    for seq, records, reason in hub.conn.execute(
        "SELECT seq, records, reason FROM audit WHERE action = 'review' ORDER BY seq"
    ).fetchall():
        decision = hub.vault.open(bytes(reason), f"hub:audit:{seq}").decode().split(":", 1)[0] if reason else ""
        for r in records if isinstance(records, list) else json.loads(records):
            if str(r).startswith("candidate:"):
                recorded[int(str(r).split(":", 1)[1])] = (seq, decision)
    for cid, (seq, decision) in recorded.items():
        if cid not in held:
            gone = hub.conn.execute("SELECT 1 FROM candidates WHERE id = %s", [cid]).fetchone() is None
            raise IntegrityFailure(
                f"candidate {cid} was decided in audit event {seq}, but "
                + ("the candidate and its decision are gone" if gone else "its decisions row is gone")
                + ": deleted outside triage"
            )
        if held[cid] != decision:
            raise IntegrityFailure(
                f"the decision on candidate {cid} is {held[cid]!r} in the decisions table but {decision!r} in audit "
                f"event {seq}: changed outside triage"
            )
    unrecorded = sorted(set(held) - set(recorded))
    if unrecorded:
        raise IntegrityFailure(
            f"the decision on candidate {unrecorded[0]} has no audit event: it was written outside triage, or its "
            "event removed"
        )
    voids = hub.conn.execute(
        "SELECT c.key, a.key FROM corrections c JOIN arrivals a ON a.id = c.arrival WHERE c.kind = 'void' AND NOT "
        "a.voided ORDER BY c.key LIMIT 1"
    ).fetchone()
    if voids is not None:
        raise IntegrityFailure(
            f"arrival {voids[1]} was voided by correction {voids[0]} but is not voided: changed outside triage"
        )
    return len(held)


def events(hub: Hub, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The trail, oldest first, reasons opened."""
    found = hub.conn.execute(
        "SELECT seq, at, officer, db_user, action, records, reason FROM audit ORDER BY seq"
        + (f" DESC LIMIT {int(limit)}" if limit else "")
    ).fetchall()
    out = [
        {
            "seq": seq,
            "at": at,
            "officer": officer,
            "db_user": db_user,
            "action": action,
            "records": records if isinstance(records, list) else json.loads(records),
            "reason": hub.vault.open(bytes(reason), f"hub:audit:{seq}").decode() if reason else None,
        }
        for seq, at, officer, db_user, action, records, reason in found
    ]
    return sorted(out, key=lambda e: e["seq"])
