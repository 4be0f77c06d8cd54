"""Search across everything the hub holds: each arrival against every other arrival of every site and day, the
hub's watchlist, and the names and dates of birth of every arrival.

Faces are found through each model's HNSW index. The search leaves out the arrival itself, which pgvector
applies after the index scan; its iterative index scans (0.8 and later) keep scanning until enough rows pass, so
a filter never leaves fewer candidates than asked. A matcher that fuses models takes the nearest arrivals of each
model, measures every model's exact distance to them, and keeps those whose fused distance is within the
matcher's threshold. The watchlist is the hub's key home's own (received as packages or enrolled there), searched
as a home searches it. A pair of arrivals is one candidate, whichever of the two was searched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triage.casework import name_keys, watchlist
from triage.faces import matchers
from triage.hub.hub import Hub

TOP_K = 10
EF_SEARCH = 400  # candidates the index scan keeps: wide enough for recall@10 of 0.99 (benchmarks/hub_search.py)


def vector_text(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(v, dtype=np.float32).ravel()) + "]"


def nearest(
    hub: Hub, arrival: int | None, vectors: dict[str, np.ndarray], k: int
) -> dict[int, dict[str, float | None]]:
    """The nearest arrivals (not `arrival` itself) under each model, and each one's distance under every model."""
    cols = hub.columns
    model_ids = [m for m in hub.matcher.model_ids if m in cols and m in vectors]
    queries = {m: vector_text(hub.stored(m, vectors[m])) for m in model_ids}
    hub.conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
    hub.conn.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, 2 * k)}")
    found: set[int] = set()
    for m in model_ids:
        col = cols[m]
        rows = hub.conn.execute(
            f"WITH near AS MATERIALIZED (SELECT arrival, {col} <-> %s::vector AS d FROM templates "
            f"WHERE arrival <> %s AND {col} IS NOT NULL ORDER BY {col} <-> %s::vector LIMIT %s) "
            "SELECT arrival FROM near ORDER BY d",
            [queries[m], arrival if arrival is not None else -1, queries[m], k],
        ).fetchall()
        found.update(r[0] for r in rows)
    if not found:
        return {}
    select = ", ".join(f"{cols[m]} <-> %s::vector" for m in model_ids)
    rows = hub.conn.execute(
        f"SELECT arrival, {select} FROM templates WHERE arrival = ANY(%s)",
        [*(queries[m] for m in model_ids), sorted(found)],
    ).fetchall()
    return {r[0]: dict(zip(model_ids, (None if d is None else float(d) for d in r[1:]))) for r in rows}


def score(matcher: matchers.Matcher, distances: dict[str, float | None]) -> float:
    if matcher.fusion:
        return float(matcher.fusion.score(distances))
    d = distances.get(matcher.model_ids[0])
    return float("inf") if d is None else float(d)


def search_arrival(
    hub: Hub, arrival: int, vectors: dict[str, np.ndarray], *, top_k: int = TOP_K
) -> list[dict[str, Any]]:
    """Record as candidates every arrival and watchlist subject within the matcher's threshold of `arrival`
    (caller holds the transaction); the candidates found."""
    m = hub.matcher
    found: list[dict[str, Any]] = []
    for other, distances in nearest(hub, arrival, vectors, top_k).items():
        d = score(m, distances)
        if d <= m.threshold:
            found.append({"kind": "arrival", "other": other, "distance": d})
    queries = {mid: np.asarray(vectors[mid], dtype=np.float32) for mid in m.model_ids if mid in vectors}
    if len(queries) == len(m.model_ids):
        wl = {mid: watchlist.gallery(hub.keys, mid) for mid in m.model_ids}
        if len(wl[m.model_ids[0]]):
            for w in m.search(wl, queries, top_k=top_k, threshold=m.threshold):
                if w.below_threshold:
                    found.append({"kind": "watchlist", "ref": w.ref, "distance": float(w.distance)})
    for c in found:
        if c["kind"] == "arrival":
            a, b = max(arrival, c["other"]), min(arrival, c["other"])
            hub.conn.execute(
                "INSERT INTO candidates (arrival, kind, ref, other, distance, threshold) "
                "SELECT %s, 'arrival', key, id, %s, %s FROM arrivals WHERE id = %s ON CONFLICT DO NOTHING",
                [a, c["distance"], m.threshold, b],
            )
        else:
            hub.conn.execute(
                "INSERT INTO candidates (arrival, kind, ref, distance, threshold) VALUES (%s, 'watchlist', %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                [arrival, c["ref"], c["distance"], m.threshold],
            )
    return found


def _details(hub: Hub, arrival: int) -> dict[str, Any]:
    key, sealed = hub.conn.execute("SELECT key, sealed FROM arrivals WHERE id = %s", [arrival]).fetchone()
    return dict(hub.open(sealed, f"arrivals:{key}").get("details") or {})


def biographic(hub: Hub, arrival: int) -> list[int]:
    """Record as candidates the arrivals whose name agrees with this arrival's in at least two parts (every part,
    when it has fewer) and whose date of birth, where both have one, agrees too: the home's rule for a
    biographic candidate (caller holds the transaction); the arrivals found."""
    parts = hub.conn.execute("SELECT count(DISTINCT part) FROM name_keys WHERE arrival = %s", [arrival]).fetchone()[0]
    if not parts:
        return []
    rows = hub.conn.execute(
        "SELECT o.arrival, count(DISTINCT n.part) FROM name_keys n JOIN name_keys o ON o.blind = n.blind "
        "JOIN arrivals a ON a.id = o.arrival AND NOT a.voided WHERE n.arrival = %s AND o.arrival <> %s "
        "GROUP BY o.arrival HAVING count(DISTINCT n.part) >= %s",
        [arrival, arrival, min(name_keys.MIN_PARTS, parts)],
    ).fetchall()
    if not rows:
        return []
    mine = name_keys.born(_details(hub, arrival))
    out = []
    for other, agree in rows:
        theirs = name_keys.born(_details(hub, other))
        dob = name_keys.dob_agreement(mine, theirs)
        if mine is not None and theirs is not None and dob is None:
            continue
        matched = f"{agree} name parts" + (f", {name_keys.AGREEMENT[dob]} date of birth" if dob else "")
        a, b = max(arrival, other), min(arrival, other)
        hub.conn.execute(
            "INSERT INTO candidates (arrival, kind, ref, other, matched) "
            "SELECT %s, 'biographic', key, id, %s FROM arrivals WHERE id = %s ON CONFLICT DO NOTHING",
            [a, matched, b],
        )
        out.append(other)
    return out
