"""Human review of candidates. A decision needs a reason and is never overwritten: a later decision
supersedes the earlier one, and both stay in the record with officer and time.
"""

from __future__ import annotations

from . import biographic
from .errors import BadInput, NotFound
from .store import Store, utcnow

DECISIONS = ("confirmed", "rejected", "inconclusive")


def record(store: Store, arrival_id: str, *, candidate: str, decision: str, reason: str, officer: str,
           kind: str | None = None) -> dict:
    """Record one decision on a candidate (a watchlist ref or an arrival id) of an arrival."""
    if decision not in DECISIONS:
        raise BadInput(f"--decision {decision!r}: choose one of {', '.join(DECISIONS)}")
    reason = biographic.clean_text(reason or "", "--reason", 1000)
    if len(reason) < 3:
        raise BadInput("--reason is required: say why you reached this decision")
    store.get("arrivals", arrival_id, what="arrival")
    where = "arrival_id = ? AND ref = ?" + (" AND kind = ?" if kind else "")
    rows = list(store.db["candidates"].rows_where(where, [arrival_id, candidate] + ([kind] if kind else []),
                                                  order_by="id desc", limit=1))
    if not rows:
        raise NotFound(f"{candidate!r} is not a candidate of arrival {arrival_id}; see `triage arrivals show {arrival_id}`")
    cand = rows[0]
    prior = store.db.execute("SELECT max(id) FROM reviews WHERE arrival_id = ? AND kind = ? AND ref = ?",
                             [arrival_id, cand["kind"], candidate]).fetchone()[0]
    with store.transaction():
        row = store.insert("reviews", {"arrival_id": arrival_id, "kind": cand["kind"], "ref": candidate,
                                       "decision": decision, "officer": officer, "at": utcnow(), "supersedes": prior},
                           {"reason": reason})
        store.audit("review", officer, arrival_id=arrival_id, records=[f"review:{row['id']}", f"{cand['kind']}:{candidate}"],
                    reason=reason)
    return {"review_id": row["id"], "arrival_id": arrival_id, "kind": cand["kind"], "candidate": candidate,
            "decision": decision, "officer": officer, "at": row["at"], "supersedes": prior,
            "distance": cand["distance"], "threshold": cand["threshold"]}


def pending(store: Store) -> list[dict]:
    """Arrivals with a candidate below the threshold in their latest search and no decision on it, oldest first."""
    sql = """
        SELECT a.id, a.landed_at, a.site, a.vessel, a.safeguarding, c.kind, c.ref, c.distance, c.threshold
        FROM arrivals a
        JOIN candidates c ON c.arrival_id = a.id
          AND c.search_id = (SELECT max(id) FROM searches s WHERE s.arrival_id = a.id)
        WHERE c.below_threshold = 1
          AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.arrival_id = a.id AND r.kind = c.kind AND r.ref = c.ref)
        ORDER BY a.landed_at, a.id, c.rank
    """
    out: dict[str, dict] = {}
    for aid, landed, site, vessel, sg, kind, ref, dist, th in store.db.execute(sql):
        item = out.setdefault(aid, {"arrival_id": aid, "landed_at": landed, "site": site, "vessel": vessel,
                                    "safeguarding": bool(sg), "candidates": []})
        item["candidates"].append({"kind": kind, "ref": ref, "distance": dist, "threshold": th})
    return list(out.values())
