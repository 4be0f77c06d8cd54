"""The hub's audit trail: who imported, looked at and decided what, one event a row, each event's hash keyed
by the hub's data key and chained to the one before.

Every role may add events and read them; none but the database's owner may change or delete them, and whoever
changes one (the owner, or an administrator of the server) breaks the chain at that event, which
`triage hub audit verify` names: without the hub's key no one can compute a hash that fits.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any

from triage.errors import IntegrityFailure
from triage.hub.hub import Hub


@dataclass
class Verified:
    events: int
    last_hash: str | None

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
    return Verified(count, prev)


def events(hub: Hub, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The trail, oldest first, reasons opened."""
    rows = hub.conn.execute(
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
        for seq, at, officer, db_user, action, records, reason in rows
    ]
    return sorted(out, key=lambda e: e["seq"])
