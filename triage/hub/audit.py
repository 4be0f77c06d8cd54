"""The hub's audit trail: who imported, looked at and decided what, one event a row, each event's hash keyed
by the hub's data key and chained to the one before.

Every role may add events and read them; none but the database's owner may change or delete them, and whoever
changes one (the owner, or an administrator of the server) breaks the chain at that event, which
`triage hub audit verify` names: without the hub's key no one can compute a hash that fits.

The same check reads every row that carries a keyed tag (`rows.py`) and compares the decisions with the trail:
each decision event must have its decision rows, with the same decision, and each decision row its event, so a
decision deleted, or a candidate deleted with its decision, is named even though no tag is left to fail. A void
the trail's corrections record must still hold on its arrival. And it sums every row again and compares each
table's digest with the one the trail's keyed end holds, so a row deleted, put back as it was earlier, copied or
added is found even though every tag left fits; everything is read in one snapshot, so imports and decisions
going on meanwhile do not disturb it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from triage.errors import IntegrityFailure
from triage.hub import rows
from triage.hub.hub import Hub, refuse_foreign_code


@dataclass
class Verified:
    events: int
    last_hash: str | None
    rows: dict[str, int] = field(default_factory=dict)  # rows whose keyed tag fits, table by table
    decisions: int = 0  # decisions that match the audit event that recorded them

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def verify(hub: Hub) -> Verified:
    """Check every event's hash and link, then every row against its tag and the tables against the digests the
    trail's end holds; IntegrityFailure names the first event, row or table that fails."""
    with hub.conn.transaction():
        hub.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        count, prev, recorded = verify_trail(hub)
        counts, held = verify_rows(hub)
        decisions = verify_decisions(hub)  # names a decision deleted or changed, before the digests say only how many
        if recorded is not None:
            differ = rows.differences(held, recorded)
            if differ:
                raise IntegrityFailure(
                    f"the hub's rows are not what triage last wrote ({'; '.join(differ)}): rows were deleted, put "
                    "back as they were earlier, copied or added outside triage",
                    hint="restore the hub's database from a copy you trust",
                )
        return Verified(count, prev, counts, decisions)


def verify_trail(hub: Hub) -> tuple[int, str | None, rows.Digests | None]:
    """The trail's events, each against its hash and link, and its keyed end: how many, the last hash, and the
    digests its end holds (None on a hub that keeps none yet)."""
    if hub.summing:
        refuse_foreign_code(hub.conn)
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
    head = hub.head()
    if head is None and not count:  # a database no command has written to yet: it holds no row either
        return 0, None, {} if hub.summing else None
    if head is None or not hub.head_fits(head, summing=hub.summing):
        raise IntegrityFailure("the keyed record of the hub's audit trail's end is missing or altered")
    if (head[0], head[1]) != (count, prev):
        raise IntegrityFailure(
            f"the hub's audit trail ends at event {count}, but its keyed record of the end names event {head[0]}: "
            "events were removed from its end"
        )
    return count, prev, head[3] if hub.summing else None


def verify_rows(hub: Hub) -> tuple[dict[str, int], rows.Digests]:
    """Check the keyed tag of every row of every tagged table and sum every summed table; the rows checked, table
    by table, and the digests of what the tables hold (read through cursors on the server, a table at a time)."""
    with hub.conn.transaction():
        digests, counts = rows.summed(hub.conn, hub.rows, check=True)
    return counts, digests


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
