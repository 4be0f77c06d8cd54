"""Several officers reviewing the hub's candidates at once.

A candidate is decided once: the decision's row is unique per candidate, so when two officers decide the same
candidate at the same moment PostgreSQL lets the first commit and the second finds the first's decision, which
it is told (Conflict, exit 8), whoever it was and whatever they decided. Reasons are sealed; the decision and
who took it are in clear so that the pending list is one query. Every decision is an audit event in the same
transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from triage.casework.review import DECISIONS
from triage.errors import BadInput, Conflict, NotFound
from triage.hub.hub import Hub
from triage.intake.biographic import clean_text

_CANDIDATES = """
SELECT c.id, c.kind, c.ref, c.distance, c.threshold, c.matched, a.key, a.arrival_id, a.site, a.landed_day,
       o.key, o.arrival_id, o.site, o.landed_day
FROM candidates c JOIN arrivals a ON a.id = c.arrival LEFT JOIN arrivals o ON o.id = c.other
WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.candidate = c.id) AND NOT a.voided
  AND (o.id IS NULL OR NOT o.voided)
"""


def _candidate(row: tuple[Any, ...]) -> dict[str, Any]:
    cid, kind, ref, distance, threshold, matched, key, aid, site, day, okey, oid, osite, oday = row
    return {
        "candidate": cid,
        "kind": kind,
        "arrival_key": key,
        "arrival_id": aid,
        "site": site,
        "day": day.isoformat(),
        "ref": ref,
        "other": None if okey is None else {"key": okey, "arrival_id": oid, "site": osite, "day": oday.isoformat()},
        "distance": distance,
        "threshold": threshold,
        "matched": matched,
        "across_sites": okey is not None and site != osite,
    }


def pending_candidates(
    hub: Hub, *, arrivals: list[int] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Candidates nobody has decided, closest first (watchlist, then arrivals, then names)."""
    sql, params = _CANDIDATES, []
    if arrivals is not None:
        sql += " AND (c.arrival = ANY(%s) OR c.other = ANY(%s))"
        params += [arrivals, arrivals]
    sql += " ORDER BY CASE c.kind WHEN 'watchlist' THEN 0 WHEN 'arrival' THEN 1 ELSE 2 END, c.distance NULLS LAST, c.id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [_candidate(r) for r in hub.conn.execute(sql, params).fetchall()]


def pending_alerts(hub: Hub, *, arrivals: list[int] | None = None) -> list[dict[str, Any]]:
    """Watchlist alerts a laptop found and nobody there has decided, as the laptop recorded them."""
    sql = (
        "SELECT l.ref, l.distance, l.threshold, l.watchlist_version, l.laptop, l.sealed, a.key, a.arrival_id, a.site, "
        "a.landed_day FROM laptop_alerts l JOIN arrivals a ON a.id = l.arrival WHERE NOT l.decided AND NOT a.voided"
    )
    params: list[Any] = []
    if arrivals is not None:
        sql += " AND l.arrival = ANY(%s)"
        params.append(arrivals)
    out = []
    for ref, distance, threshold, version, laptop, sealed, key, aid, site, day in hub.conn.execute(
        sql + " ORDER BY l.distance, l.id", params
    ):
        opened = hub.open(sealed, f"laptop_alerts:{key}:{ref}")
        out.append(
            {
                "arrival_key": key,
                "arrival_id": aid,
                "site": site,
                "day": day.isoformat(),
                "ref": ref,
                "category": opened.get("category"),
                "distance": distance,
                "threshold": threshold,
                "watchlist_version": version,
                "laptop": laptop,
            }
        )
    return out


@dataclass
class Pending:
    candidates: list[dict[str, Any]]
    laptop_alerts: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def pending(hub: Hub, *, limit: int | None = None) -> Pending:
    result = Pending(pending_candidates(hub, limit=limit), pending_alerts(hub))
    with hub.conn.transaction():
        hub.audit("review-pending", records=[f"candidate:{c['candidate']}" for c in result.candidates])
    return result


@dataclass
class Decided:
    candidate: int
    arrival_key: str
    ref: str
    kind: str
    decision: str
    officer: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _resolve(hub: Hub, arrival: str, candidate: str) -> tuple[int, str, str, str]:
    """The candidate (id, arrival key, ref, kind) named by an arrival (its key, or its id where only one arrival
    has it) and the candidate (its number in the pending list, or its ref: an arrival's key or id, a subject)."""
    rows = hub.conn.execute(
        "SELECT id, key FROM arrivals WHERE key = %s OR arrival_id = %s", [arrival, arrival]
    ).fetchall()
    if not rows:
        raise NotFound(f"no arrival {arrival!r} in the hub; see `triage hub review --pending`")
    if len(rows) > 1:
        raise BadInput(
            f"arrival {arrival!r} names {len(rows)} arrivals from different laptops: give its key, one of "
            + ", ".join(k for _, k in rows)
        )
    aid, key = rows[0]
    found = hub.conn.execute(
        "SELECT c.id, c.ref, c.kind, c.arrival, o.arrival_id, a.key, a.arrival_id FROM candidates c "
        "LEFT JOIN arrivals o ON o.id = c.other JOIN arrivals a ON a.id = c.arrival "
        "WHERE (c.arrival = %s OR c.other = %s)",
        [aid, aid],
    ).fetchall()
    for cid, ref, kind, a, other_id, a_key, a_id in found:
        names = {str(cid), ref} | ({other_id} if other_id else set())
        if a != aid:  # the pair was recorded from the other side: the candidate is the arrival searched
            names = {str(cid), a_key, a_id}
        if candidate in names:
            return cid, key, ref if a == aid else a_key, kind
    raise NotFound(f"{candidate!r} is not a candidate of arrival {key}; see `triage hub review --pending`")


def decide(hub: Hub, arrival: str, candidate: str, decision: str, reason: str) -> Decided:
    if decision not in DECISIONS:
        raise BadInput(f"--decision {decision!r}: choose {', '.join(DECISIONS)}")
    reason = clean_text(reason or "", "--reason", 1000)
    if not reason:
        raise BadInput("--reason is required: say what the decision rests on")
    cid, key, ref, kind = _resolve(hub, arrival, candidate)
    with hub.conn.transaction():
        row = hub.conn.execute(
            "INSERT INTO decisions (candidate, decision, officer, sealed) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (candidate) DO NOTHING RETURNING id",
            [cid, decision, hub.officer, hub.seal({"reason": reason}, f"decisions:{cid}")],
        ).fetchone()
        if row is not None:
            hub.audit(
                "review",
                records=[f"candidate:{cid}", f"arrival:{key}", f"{kind}:{ref}"],
                reason=f"{decision}: {reason}",
            )
    if row is None:
        earlier = hub.conn.execute("SELECT decision, officer, at FROM decisions WHERE candidate = %s", [cid]).fetchone()
        raise Conflict(
            f"candidate {cid} ({ref} for arrival {key}) was already decided: {earlier[0]} by {earlier[1]} at "
            f"{earlier[2].isoformat(timespec='seconds')}; your decision was not recorded"
        )
    return Decided(cid, key, ref, kind, decision, hub.officer)
