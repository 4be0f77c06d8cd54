"""Search across everything the hub holds: each arrival against every other arrival of every site and day, the
hub's watchlist, and the names and dates of birth of every arrival.

Faces are found through each model's HNSW index. The search leaves out the arrival itself, which pgvector
applies after the index scan; its iterative index scans (0.8 and later) keep scanning until enough rows pass, so
a filter never leaves fewer candidates than asked. A matcher that fuses models takes the nearest arrivals of each
model, measures every model's exact distance to them, and keeps those whose fused distance is within the
matcher's threshold. The watchlist is the hub's key home's own (received as packages or enrolled there), searched
as a home searches it. A pair of arrivals is held once for each way it was found (face, name), from its later
arrival, whichever of the two was searched. Every candidate is written with its keyed tag, and the rows a
name candidate rests on (the other arrivals' name keys and dates of birth) are read with theirs checked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triage.casework import name_keys, watchlist
from triage.faces import matchers
from triage.hub import rows
from triage.hub.hub import Hub

TOP_K = 10
EF_SEARCH = 400  # candidates the index scan keeps: recall@10 of 0.99 at 1,000,000 arrivals (benchmarks/hub_scale.py)


def vector_text(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(v, dtype=np.float32).ravel()) + "]"


def nearest(
    hub: Hub, arrival: int | None, vectors: dict[str, np.ndarray], k: int
) -> dict[int, dict[str, float | None]]:
    """The nearest arrivals (not `arrival` itself) under each model, and each one's distance under every model."""
    return {other: distances for other, (_, distances) in _nearest(hub, arrival, vectors, k).items()}


def _nearest(
    hub: Hub, arrival: int | None, vectors: dict[str, np.ndarray], k: int
) -> dict[int, tuple[str, dict[str, float | None]]]:
    """The nearest arrivals, each with its key and its distance under every model. Their rows are not checked
    here: a candidate records the key it read, and its arrival's row is checked wherever the two are shown."""
    cols = hub.columns
    model_ids = [m for m in hub.matcher.model_ids if m in cols and m in vectors]
    queries = {m: vector_text(hub.stored(m, vectors[m])) for m in model_ids}
    hub.conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
    hub.conn.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, 2 * k)}")
    found: set[int] = set()
    for m in model_ids:
        col = cols[m]
        hits = hub.conn.execute(
            f"WITH near AS MATERIALIZED (SELECT arrival, {col} <-> %s::vector AS d FROM templates "
            f"WHERE arrival <> %s AND {col} IS NOT NULL ORDER BY {col} <-> %s::vector LIMIT %s) "
            "SELECT arrival FROM near ORDER BY d",
            [queries[m], arrival if arrival is not None else -1, queries[m], k],
        ).fetchall()
        found.update(r[0] for r in hits)
    if not found:
        return {}
    select = ", ".join(f"t.{cols[m]} <-> %s::vector" for m in model_ids)
    near = hub.conn.execute(
        f"SELECT t.arrival, (SELECT a.key FROM arrivals a WHERE a.id = t.arrival), {select} FROM templates t "
        "WHERE t.arrival = ANY(%s)",
        [*(queries[m] for m in model_ids), sorted(found)],
    ).fetchall()
    return {r[0]: (str(r[1]), dict(zip(model_ids, (None if d is None else float(d) for d in r[2:])))) for r in near}


def score(matcher: matchers.Matcher, distances: dict[str, float | None]) -> float:
    if matcher.fusion:
        return float(matcher.fusion.score(distances))
    d = distances.get(matcher.model_ids[0])
    return float("inf") if d is None else float(d)


def _key(hub: Hub, arrival: int) -> str:
    return str(hub.conn.execute("SELECT key FROM arrivals WHERE id = %s", [arrival]).fetchone()[0])


def search_arrival(
    hub: Hub, arrival: int, vectors: dict[str, np.ndarray], *, top_k: int = TOP_K, key: str | None = None
) -> list[dict[str, Any]]:
    """Record as candidates every arrival and watchlist subject within the matcher's threshold of `arrival` (whose
    key is `key`; caller holds the transaction); the candidates found."""
    m = hub.matcher
    key = key or _key(hub, arrival)
    threshold = float(m.threshold)
    found: list[dict[str, Any]] = []
    for other, (other_key, distances) in _nearest(hub, arrival, vectors, top_k).items():
        d = score(m, distances)
        if d <= m.threshold:
            found.append({"kind": "arrival", "other": other, "other_key": other_key, "distance": d})
    queries = {mid: np.asarray(vectors[mid], dtype=np.float32) for mid in m.model_ids if mid in vectors}
    if len(queries) == len(m.model_ids):
        wl = {mid: watchlist.gallery(hub.keys, mid) for mid in m.model_ids}
        if len(wl[m.model_ids[0]]):
            for w in m.search(wl, queries, top_k=top_k, threshold=m.threshold):
                if w.below_threshold:
                    found.append({"kind": "watchlist", "ref": w.ref, "distance": float(w.distance)})
    for c in found:
        if c["kind"] == "arrival":  # a pair is held once, from its later arrival, whichever of the two searched
            (a, a_key), (b, b_key) = sorted([(arrival, key), (c["other"], c["other_key"])], reverse=True)
            values = {"arrival": a_key, "kind": "arrival", "ref": b_key, "other": b_key, "matched": None}
            hub.conn.execute(
                "INSERT INTO candidates (arrival, kind, ref, other, distance, threshold, mac) "
                "VALUES (%s, 'arrival', %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [
                    a,
                    b_key,
                    b,
                    c["distance"],
                    threshold,
                    hub.rows.mac("candidates", **values, distance=c["distance"], threshold=threshold),
                ],
            )
        else:
            values = {"arrival": key, "kind": "watchlist", "ref": c["ref"], "other": None, "matched": None}
            hub.conn.execute(
                "INSERT INTO candidates (arrival, kind, ref, distance, threshold, mac) "
                "VALUES (%s, 'watchlist', %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [
                    arrival,
                    c["ref"],
                    c["distance"],
                    threshold,
                    hub.rows.mac("candidates", **values, distance=c["distance"], threshold=threshold),
                ],
            )
    return found


def _details(hub: Hub, arrival: int) -> tuple[str, dict[str, Any]]:
    """An arrival's key and details, its row's tag checked."""
    (row,) = rows.dicts(
        hub.conn,
        f"SELECT {rows.columns('arrivals', 'a_', t='a')}, a.sealed FROM arrivals a WHERE a.id = %s",
        [arrival],
    )
    hub.rows.check("arrivals", row, "a_", row["a_key"])
    return str(row["a_key"]), dict(hub.open(row["sealed"], f"arrivals:{row['a_key']}").get("details") or {})


def biographic(hub: Hub, arrival: int) -> list[int]:
    """Record as candidates the arrivals whose name agrees with this arrival's in at least two parts and whose
    date of birth agrees too (both must have one): the home's rule for a biographic candidate, since one name
    part, or a name without a date, is shared by too many people to be worth a reviewer's time (caller holds
    the transaction); the arrivals found. The other arrivals' name keys a candidate rests on are read with
    their tags, and the parts that agree are counted from them."""
    mine_keys = hub.conn.execute("SELECT part, blind FROM name_keys WHERE arrival = %s", [arrival]).fetchall()
    parts = len({p for p, _ in mine_keys})
    need = name_keys.MIN_PARTS
    if parts < need:
        return []
    key, details = _details(hub, arrival)
    mine = name_keys.born(details)
    if mine is None:  # no date of birth: no candidate, so no other arrival's keys are read
        return []
    found = rows.dicts(
        hub.conn,
        "WITH hits AS (SELECT o.arrival FROM name_keys n JOIN name_keys o ON o.blind = n.blind "
        "JOIN arrivals a ON a.id = o.arrival AND NOT a.voided WHERE n.arrival = %s AND o.arrival <> %s "
        "GROUP BY o.arrival HAVING count(DISTINCT n.part) >= %s) "
        f"SELECT n.arrival AS id, {rows.columns('name_keys', 'n_', t='n', a='x')} FROM name_keys n "
        "LEFT JOIN arrivals x ON x.id = n.arrival WHERE n.arrival = ANY(ARRAY(SELECT arrival FROM hits)) "
        "ORDER BY n.arrival",
        [arrival, arrival, need],
    )
    if not found:
        return []
    theirs_keys: dict[int, set[str]] = {}
    for r in found:
        hub.rows.check("name_keys", r, "n_", f"of arrival {r['n_arrival']}")
        theirs_keys.setdefault(r["id"], set()).add(r["n_blind"])
    out = []
    for other, blinds in theirs_keys.items():
        agree = len({p for p, blind in mine_keys if blind in blinds})
        if agree < need:
            continue
        other_key, other_details = _details(hub, other)
        theirs = name_keys.born(other_details)
        dob = name_keys.dob_agreement(mine, theirs)
        if dob is None:  # theirs not given, or too far from mine
            continue
        matched = f"{agree} name parts, {name_keys.AGREEMENT[dob]} date of birth"
        (a, a_key), (b, b_key) = sorted([(arrival, key), (other, other_key)], reverse=True)
        values = {"arrival": a_key, "kind": "biographic", "ref": b_key, "other": b_key, "matched": matched}
        hub.conn.execute(
            "INSERT INTO candidates (arrival, kind, ref, other, matched, mac) "
            "VALUES (%s, 'biographic', %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [a, b_key, b, matched, hub.rows.mac("candidates", **values, distance=None, threshold=None)],
        )
        out.append(other)
    return out
