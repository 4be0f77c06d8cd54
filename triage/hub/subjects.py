"""The hub's watchlist subjects searched against every arrival it already holds, once each.

An arrival is searched against the watchlist when it is imported; a subject added to the key home's watchlist
later (someone wanted after they landed) would otherwise never meet the arrivals already held. So the hub keeps,
in its `watchlist-searched` setting, each subject it has searched every held arrival against, with a digest of
what that search used (the subject's templates under each of the matcher's models, the matcher and its
threshold), and searches again any live subject that is missing there or whose digest changed: a new subject,
one re-enrolled or updated by a newer package, one searchable again after its package was renewed. A subject
withdrawn or past its review date or package leaves the record, so it is searched again should it come back;
its candidates stay held but are not listed for review while it is not live (`live`).

One subject's search is a few index scans, not a pass over the arrivals: each of its templates asks each model's
HNSW index for the nearest arrivals, every arrival proposed is scored exactly as an import scores a watchlist
candidate (the subject's best template under each model, fused when the matcher fuses), and the list is
lengthened while an arrival not proposed could still be within the threshold. The candidates, the record and one
audit event are written in one transaction; the record carries a keyed tag, so whoever administers the database
cannot mark a subject as searched unseen. A run with nothing new writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from triage.casework import watchlist
from triage.hub import rows, search
from triage.hub.hub import Hub

SETTING = "watchlist-searched"
LOCK = 7413  # one search of the watchlist at a time
MAX_ARRIVALS = 1000  # arrivals one subject's search scores at most


@dataclass
class Searched:
    """One search of the subjects added or changed since the last: which, what it found, what left the record."""

    subjects: list[str]  # refs searched now against every arrival held
    candidates: list[dict[str, Any]]  # the watchlist candidates it added
    no_longer_searched: list[str] = field(default_factory=list)  # refs withdrawn or expired since the last search
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def live(hub: Hub) -> frozenset[str]:
    """The key home's subjects searched today: active, and neither past their review date nor their package's
    valid-until. A watchlist candidate of any other subject is not listed for review."""
    active = {r[0] for r in hub.keys.db.execute("SELECT ref FROM subjects WHERE status = 'active'")}
    return frozenset(active - watchlist.expired_refs(hub.keys))


def arrivals_held(hub: Hub) -> int:
    """How many arrivals a subject's search is against: every one held that its laptop has not voided."""
    return int(hub.conn.execute("SELECT count(*) FROM arrivals WHERE NOT voided").fetchone()[0])


def _templates(hub: Hub) -> dict[str, dict[str, np.ndarray]]:
    """ref -> model id -> its templates (one a row), for every live subject with templates of the matcher's models."""
    wanted = live(hub)
    out: dict[str, dict[str, np.ndarray]] = {}
    for model_id in hub.matcher.model_ids:
        owners, matrix = hub.keys.load_templates(model_id, "subject")
        by: dict[str, list[np.ndarray]] = {}
        for owner, row in zip(owners, matrix):
            if owner in wanted:
                by.setdefault(owner, []).append(np.asarray(row, dtype=np.float32))
        for ref, found in by.items():
            out.setdefault(ref, {})[model_id] = np.stack(found)
    return out


def _digest(hub: Hub, templates: dict[str, np.ndarray]) -> str:
    """What a subject's search used: the matcher, its threshold, and the subject's templates under each model."""
    h = hashlib.sha256(json.dumps([hub.matcher.name, float(hub.matcher.threshold)]).encode())
    for model_id in sorted(templates):
        h.update(b"\x00" + model_id.encode() + b"\x00")
        for row in sorted(np.asarray(t, dtype="<f4").tobytes() for t in templates[model_id]):
            h.update(row)
    return h.hexdigest()


def _tag(hub: Hub, subjects: dict[str, str]) -> str:
    text = json.dumps(subjects, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hub.blind(SETTING, hashlib.sha256(text.encode()).hexdigest())


def _recorded(hub: Hub) -> dict[str, str]:
    """ref -> digest of every subject searched against the arrivals held, its keyed tag checked."""
    row = hub.conn.execute("SELECT value FROM settings WHERE name = %s", [SETTING]).fetchone()
    if row is None:
        return {}
    value = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    subjects = value.get("subjects") if isinstance(value, dict) else None
    tag = value.get("tag") if isinstance(value, dict) else None
    if not isinstance(subjects, dict) or not all(isinstance(v, str) for v in subjects.values()):
        raise rows.changed("settings", SETTING, tag is None)
    if tag is None or tag != _tag(hub, subjects):
        raise rows.changed("settings", SETTING, tag is None)
    return {str(k): v for k, v in subjects.items()}


def _nearest(hub: Hub, templates: dict[str, np.ndarray]) -> tuple[dict[int, dict[str, float | None]], bool]:
    """The arrivals whose score may be within the matcher's threshold, each with the subject's distance under every
    model (its best template's), and whether the list was cut at MAX_ARRIVALS while more could have been."""
    m = hub.matcher
    cols = hub.columns
    model_ids = [mid for mid in m.model_ids if mid in cols and mid in templates]
    queries = {mid: [search.vector_text(v) for v in hub.stored(mid, templates[mid])] for mid in model_ids}
    k = search.TOP_K
    while True:
        hub.conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        hub.conn.execute(f"SET LOCAL hnsw.ef_search = {max(search.EF_SEARCH, 2 * k)}")
        found: set[int] = set()
        floor: dict[str, float | None] = {}
        for mid in model_ids:
            col, lasts = cols[mid], []
            for q in queries[mid]:
                hits = hub.conn.execute(
                    f"WITH near AS MATERIALIZED (SELECT arrival, {col} <-> %s::vector AS d FROM templates "
                    f"WHERE {col} IS NOT NULL ORDER BY {col} <-> %s::vector LIMIT %s) "
                    "SELECT arrival, d FROM near ORDER BY d",
                    [q, q, k],
                ).fetchall()
                found.update(r[0] for r in hits)
                lasts.append(float(hits[-1][1]) if len(hits) == k else None)
            # an arrival no template proposed is at least this far under the model (None: every one was proposed)
            floor[mid] = None if None in lasts else min(v for v in lasts if v is not None)
        more = any(f is not None for f in floor.values()) and search.score(m, floor) < m.threshold
        if not more or k >= MAX_ARRIVALS:
            break
        k = min(k * 4, MAX_ARRIVALS)
    if not found:
        return {}, False
    select = ", ".join(
        f"least({', '.join(f't.{cols[mid]} <-> %s::vector' for _ in queries[mid])})" for mid in model_ids
    )
    near = hub.conn.execute(
        f"SELECT t.arrival, {select} FROM templates t WHERE t.arrival = ANY(%s)",
        [*(q for mid in model_ids for q in queries[mid]), sorted(found)],
    ).fetchall()
    distances = {int(r[0]): dict(zip(model_ids, (None if d is None else float(d) for d in r[1:]))) for r in near}
    return distances, more


def _arrivals(hub: Hub, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The arrivals a subject's candidates name, each row's tag checked."""
    found = rows.dicts(
        hub.conn, f"SELECT a.id, {rows.columns('arrivals', 'a_', t='a')} FROM arrivals a WHERE a.id = ANY(%s)", [ids]
    )
    for r in found:
        hub.rows.check("arrivals", r, "a_", r["a_key"])
    return {int(r["id"]): r for r in found}


def _search(hub: Hub, ref: str, templates: dict[str, np.ndarray], result: Searched) -> None:
    """Record as watchlist candidates the arrivals held within the matcher's threshold of one subject."""
    m = hub.matcher
    threshold = float(m.threshold)
    distances, cut = _nearest(hub, templates)
    if cut:
        result.warnings.append(
            f"watchlist subject {ref} is close to more than {MAX_ARRIVALS} arrivals: only the nearest "
            f"{MAX_ARRIVALS} were compared; check its photos"
        )
    scored = {aid: search.score(m, d) for aid, d in distances.items()}
    within = {aid: s for aid, s in scored.items() if s < m.threshold}
    if not within:
        return
    held = _arrivals(hub, sorted(within))
    for aid, s in sorted(within.items(), key=lambda kv: (kv[1], kv[0])):
        row = held.get(aid)
        if row is None or row["a_voided"]:
            continue
        distance = round(s, 4)
        values = {"arrival": row["a_key"], "kind": "watchlist", "ref": ref, "other": None, "matched": None}
        added = hub.conn.execute(
            "INSERT INTO candidates (arrival, kind, ref, distance, threshold, mac) "
            "VALUES (%s, 'watchlist', %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            [
                aid,
                ref,
                distance,
                threshold,
                hub.rows.mac("candidates", **values, distance=distance, threshold=threshold),
            ],
        ).fetchone()
        if added is not None:
            result.candidates.append(
                {
                    "candidate": int(added[0]),
                    "kind": "watchlist",
                    "arrival_key": row["a_key"],
                    "arrival_id": row["a_arrival_id"],
                    "site": row["a_site"],
                    "day": row["a_landed_day"].isoformat(),
                    "ref": ref,
                    "distance": distance,
                    "threshold": threshold,
                }
            )


def search_since(hub: Hub) -> Searched:
    """Search every arrival held against each live subject added or changed since the last search, in one
    transaction with its audit event; nothing is written when no subject is new and none left."""
    templates = _templates(hub)
    with hub.conn.transaction():
        hub.conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])
        recorded = _recorded(hub)
        digests = {ref: _digest(hub, t) for ref, t in templates.items()}
        due = sorted(ref for ref, d in digests.items() if recorded.get(ref) != d)
        gone = sorted(set(recorded) - set(digests))
        result = Searched(due, [], gone)
        if not due and not gone:
            return result
        for ref in due:
            _search(hub, ref, templates[ref], result)
        kept = {ref: d for ref, d in recorded.items() if ref in digests}
        kept.update({ref: digests[ref] for ref in due})
        value = json.dumps({"subjects": kept, "tag": _tag(hub, kept)})
        hub.conn.execute(
            "INSERT INTO settings (name, value) VALUES (%s, %s::jsonb) "
            "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            [SETTING, value],
        )
        hub.audit(
            "watchlist-search",
            records=[
                *(f"subject:{ref}" for ref in [*due, *gone]),
                *(f"candidate:{c['candidate']}" for c in result.candidates),
            ],
            reason=f"{len(due)} watchlist subject(s) added or changed since searched against every arrival held: "
            f"{len(result.candidates)} candidate(s) found; {len(gone)} no longer searched (withdrawn or expired)",
        )
    return result
