"""Several officers reviewing the hub's candidates at once.

A pair of arrivals found both by face and by name is one item to decide: the list shows both evidences, and one
decision decides every candidate of the pair, all in one transaction. A candidate is decided once at the hub: the
decision's row is unique per candidate, and a decision inserts the rows of its candidates in one order, so when
two officers decide the same item at the same moment PostgreSQL lets the first commit and the second finds the
first's decision, which it is told (Conflict, exit 8), whoever it was and whatever they decided. Decisions laptops
took on a pair travel in their batches (`settle_pair`): one is recorded where nobody at the hub has decided, and
a later one from a laptop takes the place of an earlier one from a laptop, as on a home. Reasons are
sealed; the decision and who took it are in clear so that the pending list is one query. Every decision is an
audit event in the same transaction. One arrival's list shows its candidates from that arrival's side, those
awaiting a decision and those decided, here or on a laptop.

Every row shown or decided on is checked against its keyed tag (`rows.py`), and what the list leaves out is
checked too: a candidate listed as pending that the audit trail records as decided (its decision deleted), an
arrival voided outside triage, a laptop alert marked decided outside triage.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from triage.casework.review import DECISIONS, MIN_REASON
from triage.casework.safeguarding import age_text, utc_minute
from triage.errors import BadInput, Conflict, IntegrityFailure, NotFound, UsageError
from triage.hub import rows, subjects
from triage.hub.hub import Hub
from triage.intake.biographic import reason_text
from triage.store.rows import utc_text

_SELECT = f"""
SELECT c.id, c.arrival AS a_row, c.other AS o_row, {rows.columns("candidates", "c_", t="c")},
       {rows.columns("arrivals", "a_", t="a")}, {rows.columns("arrivals", "o_", t="o")}
FROM candidates c JOIN arrivals a ON a.id = c.arrival LEFT JOIN arrivals o ON o.id = c.other
"""
# Not decided, neither itself nor (for a pair of arrivals) another candidate of the same pair.
_UNDECIDED = """
WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.candidate = c.id)
  AND NOT (c.kind <> 'watchlist' AND EXISTS (
      SELECT 1 FROM candidates s JOIN decisions d ON d.candidate = s.id WHERE s.kind <> 'watchlist'
        AND ((s.arrival = c.arrival AND s.other = c.other) OR (s.arrival = c.other AND s.other = c.arrival))))
  AND NOT a.voided AND (o.id IS NULL OR NOT o.voided)
"""
_ORDER = " ORDER BY CASE c.kind WHEN 'watchlist' THEN 0 WHEN 'arrival' THEN 1 ELSE 2 END, c.distance NULLS LAST, c.id"


def _checked(hub: Hub, row: dict[str, Any]) -> dict[str, Any]:
    """A candidate's row with its arrivals, every tag checked."""
    hub.rows.check("candidates", row, "c_", row["id"])
    hub.rows.check("arrivals", row, "a_", row["a_key"])
    if row["o_row"] is not None:
        hub.rows.check("arrivals", row, "o_", row["o_key"])
    return row


def _candidate(row: dict[str, Any]) -> dict[str, Any]:
    okey = row["o_key"]
    other = None
    if okey is not None:
        other = {
            "key": okey,
            "arrival_id": row["o_arrival_id"],
            "site": row["o_site"],
            "day": row["o_landed_day"].isoformat(),
        }
    return {
        "candidate": row["id"],
        "kind": row["c_kind"],
        "arrival_key": row["a_key"],
        "arrival_id": row["a_arrival_id"],
        "site": row["a_site"],
        "day": row["a_landed_day"].isoformat(),
        "ref": row["c_ref"],
        "other": other,
        "distance": row["c_distance"],
        "threshold": row["c_threshold"],
        "matched": row["c_matched"],
        "across_sites": okey is not None and row["a_site"] != row["o_site"],
    }


SAFEGUARDING = (
    "SAFEGUARDING"  # beside an arrival flagged for safeguarding (a possible child, a victim), wherever listed
)


def _flagged_records(hub: Hub, keys: Iterable[str]) -> dict[str, tuple[dict[str, Any], str]]:
    """The sealed records, opened, of those of the arrivals `keys` flagged for safeguarding, each with its day of
    landing (ISO); each row's tag checked."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found = rows.dicts(
        hub.conn,
        f"SELECT {rows.columns('arrivals', 'a_', t='a')}, a.sealed FROM arrivals a WHERE a.key = ANY(%s)",
        [wanted],
    )
    flagged = {}
    for r in found:
        hub.rows.check("arrivals", r, "a_", r["a_key"])
        record = hub.open(r["sealed"], f"arrivals:{r['a_key']}")
        if record.get("safeguarding"):
            flagged[r["a_key"]] = (record, r["a_landed_day"].isoformat())
    check_unflagged(hub, [r["a_key"] for r in found if r["a_key"] not in flagged])
    return flagged


def check_unflagged(hub: Hub, keys: Iterable[str]) -> None:
    """Refuse to show arrivals as not flagged for safeguarding when the audit trail records their flag: the hub never
    lowers one, so such an arrival's row was put back, outside triage, as it was before its flag (its tag still fits,
    and only `audit verify` sums the rows)."""
    named = {f"arrival:{key}" for key in keys}
    if not named:
        return
    row = hub.conn.execute(
        "SELECT seq, records FROM audit WHERE action = 'safeguarding-flag' AND records ?| %s::text[] ORDER BY seq "
        "LIMIT 1",
        [sorted(named)],
    ).fetchone()
    if row is not None:
        key = next(str(r) for r in row[1] if str(r) in named).split(":", 1)[1]
        raise IntegrityFailure(
            f"arrival {key} is shown as not flagged for safeguarding, but audit event {row[0]} records its flag: its "
            "row was put back as it was before the flag, outside triage; nothing was shown",
            hint="`triage hub audit verify` checks every row; restore the hub's database from a copy you trust",
        )


def safeguarded(hub: Hub, keys: Iterable[str]) -> set[str]:
    """Those of the arrivals `keys` flagged for safeguarding (a possible child, or another reason an officer gave), from their sealed
    records, each row's tag checked: wherever a reviewer sees an arrival, the flag is shown beside it."""
    return set(_flagged_records(hub, keys))


# A flag that came inside the arrival's own record, raised on its laptop before the batch: batches carry the
# laptop's trail, but the hub keeps no copy of it, so the officer's words stay in that home.
NOT_HELD = (
    "flagged when the hub received it: any reason an officer gave is in the audit trail of the home that flagged "
    "it (`triage arrivals show` there), not the hub's"
)


def flag_reasons(hub: Hub, keys: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Why each of the arrivals `keys` that is flagged for safeguarding is flagged, as far as the hub holds it
    (`reasons_of`); arrivals not flagged are left out."""
    return reasons_of(hub, _flagged_records(hub, keys))


def reasons_of(hub: Hub, flagged: dict[str, tuple[dict[str, Any], str]]) -> dict[str, list[dict[str, Any]]]:
    """Why each arrival of `flagged` (key -> its opened record and day of landing) is flagged: the hub's own
    `safeguarding-flag` events on it, for a flag raised after the arrival reached the hub (their reason names who
    raised it, where and why, as the batch's trail said; a flag kept until its arrival came gives the reason of the
    event that kept it), each event checked against its keyed hash; else that the flag came with the arrival
    (`NOT_HELD`); and the ages its details give that leave room for a child. Each reason has a `summary` line."""
    if not flagged:
        return {}
    found: dict[str, list[dict[str, Any]]] = {key: [] for key in flagged}
    events: dict[int, dict[str, Any]] = {}
    for seq, at, officer, db_user, action, records, reason, prev, digest in hub.conn.execute(
        "SELECT seq, at, officer, db_user, action, records, reason, prev_hash, hash FROM audit WHERE action IN "
        "('safeguarding-flag', 'safeguarding-flag-kept') AND records ?| %s ORDER BY seq",
        [[f"arrival:{key}" for key in flagged]],
    ).fetchall():
        if hub.chain_hash(prev, seq, at, officer, db_user, action, records, reason) != digest:
            raise IntegrityFailure(f"the hub's audit trail fails at event {seq} ({action}): it was altered")
        named = records if isinstance(records, list) else json.loads(records)
        events[seq] = {
            "seq": seq,
            "at": at,
            "officer": officer,
            "action": action,
            "records": [str(r) for r in named],
            "reason": hub.vault.open(bytes(reason), f"hub:audit:{seq}").decode() if reason else None,
        }
    for e in events.values():
        if e["action"] != "safeguarding-flag":
            continue
        kept = [events.get(int(r.split(":", 1)[1])) for r in e["records"] if r.startswith("audit:")]
        why = "; ".join(k["reason"] for k in kept if k is not None and k["reason"]) or e["reason"] or "no reason given"
        for r in e["records"]:
            key = r.split(":", 1)[1] if r.startswith("arrival:") else None
            if key in found:
                found[key].append(
                    {
                        "source": "hub",
                        "reason": why,
                        "at": e["at"],
                        "officer": e["officer"],
                        "event": e["seq"],
                        "summary": f"{why} (recorded at the hub {utc_minute(e['at'])})",
                    }
                )
    for key, (record, day) in flagged.items():
        if not found[key]:
            found[key].append(
                {"source": "batch", "reason": NOT_HELD, "at": None, "officer": None, "event": None, "summary": NOT_HELD}
            )
        young = age_text(record.get("details") or {}, day, under_18=True)
        if young:
            found[key].append(
                {
                    "source": "details",
                    "reason": young,
                    "at": None,
                    "officer": None,
                    "event": None,
                    "summary": f"the details give {young}",
                }
            )
    return found


def with_safeguarding(hub: Hub, *listed: list[dict[str, Any]]) -> None:
    """Mark each listed candidate or alert (and the other arrival of a pair) with `safeguarding`: whether that
    arrival is flagged for safeguarding."""
    entries = [e for found in listed for e in found]
    flagged = safeguarded(
        hub, [e["arrival_key"] for e in entries] + [e["other"]["key"] for e in entries if e.get("other")]
    )
    for e in entries:
        e["safeguarding"] = e["arrival_key"] in flagged
        if e.get("other"):
            e["other"]["safeguarding"] = e["other"]["key"] in flagged


def _with_reasons(hub: Hub, entries: list[dict[str, Any]]) -> None:
    """Beside each arrival of the listed candidates and alerts (`with_safeguarding` marked them), why it is flagged
    (`safeguarding_reasons`, empty for one not flagged)."""
    sides = [(e, e["arrival_key"]) for e in entries] + [
        (e["other"], e["other"]["key"]) for e in entries if e.get("other")
    ]
    why = flag_reasons(hub, [key for side, key in sides if side["safeguarding"]])
    for side, key in sides:
        side["safeguarding_reasons"] = why.get(key, [])


def _evidence(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in ("candidate", "kind", "distance", "threshold", "matched")}


def _items(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per watchlist candidate and per pair of arrivals (whichever way round each candidate holds it):
    the face candidate leads, with its distance and threshold, and a name candidate adds the parts that agree.
    `candidates` lists every candidate the item decides and `evidence` each one's own figures."""
    items: list[dict[str, Any]] = []
    pairs: dict[frozenset[int], dict[str, Any]] = {}
    for row in found:
        c = _candidate(row)
        pair = frozenset((row["a_row"], row["o_row"])) if row["c_kind"] != "watchlist" else None
        if pair is None or pair not in pairs:
            item = {**c, "candidates": [c["candidate"]], "evidence": [_evidence(c)], "_lead": c}
            items.append(item)
            if pair is not None:
                pairs[pair] = item
            continue
        item = pairs[pair]
        leads = c["kind"] == "arrival" and item["_lead"]["kind"] != "arrival"
        at = 0 if leads else len(item["candidates"])
        item["candidates"].insert(at, c["candidate"])
        item["evidence"].insert(at, _evidence(c))
        if leads:
            item.update(c, candidates=item["candidates"], evidence=item["evidence"], _lead=c)
        named = [e["matched"] for e in item["evidence"] if e["kind"] == "biographic" and e["matched"]]
        if named:
            item["matched"] = named[0]
    for item in items:
        del item["_lead"]
    return items


def check_undecided(hub: Hub, candidates: list[int]) -> None:
    """Refuse to show candidates as awaiting a decision when the audit trail records a decision on one of them:
    its decision's row was deleted outside triage."""
    if not candidates:
        return
    names = [f"candidate:{c}" for c in candidates]
    row = hub.conn.execute(
        "SELECT seq, records FROM audit WHERE action = 'review' AND records ?| %s::text[] ORDER BY seq LIMIT 1",
        [names],
    ).fetchone()
    if row is not None:
        named = next(r for r in row[1] if r in names)
        raise IntegrityFailure(
            f"{named.replace(':', ' ')} is shown as awaiting a decision, but audit event {row[0]} records the "
            "decision taken on it: its decisions row was deleted outside triage",
            hint="`triage hub audit verify` compares every decision with the audit trail",
        )


def check_as_recorded(hub: Hub, candidates: Iterable[int]) -> None:
    """Refuse to show or replace the decisions on `candidates` when one is not what the audit trail last recorded
    on its candidate: a decision a correction or a later laptop decision replaced, its row put back through SQL (a
    reviewer's login may change a decision, and the row's tag still fits; only `audit verify` sums the rows). Each
    decision and its last event are read in one statement, so a decision taken meanwhile is not taken for one put
    back, and the event is checked against its keyed hash."""
    wanted = sorted(set(candidates))
    if not wanted:
        return
    for cid, held, seq, at, officer, db_user, action, records, reason, prev, digest in hub.conn.execute(
        "SELECT d.candidate, d.decision, e.seq, e.at, e.officer, e.db_user, e.action, e.records, e.reason, "
        "e.prev_hash, e.hash FROM decisions d JOIN LATERAL (SELECT * FROM audit a WHERE a.action = 'review' AND "
        "a.records ? ('candidate:' || d.candidate) ORDER BY a.seq DESC LIMIT 1) e ON true "
        "WHERE d.candidate = ANY(%s) ORDER BY d.candidate",
        [wanted],
    ).fetchall():  # a decision with no event at all is `audit verify`'s to name, as before
        if hub.chain_hash(prev, seq, at, officer, db_user, action, records, reason) != digest:
            raise IntegrityFailure(f"the hub's audit trail fails at event {seq} ({action}): it was altered")
        recorded = hub.vault.open(bytes(reason), f"hub:audit:{seq}").decode().split(":", 1)[0] if reason else ""
        if held != recorded:
            raise IntegrityFailure(
                f"the decision on candidate {cid} is {held} in the decisions table, but audit event {seq} last "
                f"recorded {recorded or 'another'}: an earlier decision was put back outside triage; nothing was "
                "shown or written",
                hint="`triage hub audit verify` checks every decision; restore the hub's database from a copy you trust",
            )


def _voids_checked(hub: Hub, arrivals: list[int] | None) -> None:
    """The voided arrivals that would otherwise have candidates awaiting a decision: each must have been voided
    by triage, or the list would hide them."""
    sql = (
        f"SELECT {rows.columns('arrivals', 'a_', t='a')} FROM arrivals a WHERE a.voided AND EXISTS (SELECT 1 FROM "
        "candidates c WHERE (c.arrival = a.id OR c.other = a.id) AND NOT EXISTS "
        "(SELECT 1 FROM decisions d WHERE d.candidate = c.id))"
    )
    params: list[Any] = []
    if arrivals is not None:
        sql += " AND a.id = ANY(%s)"
        params.append(arrivals)
    for row in rows.dicts(hub.conn, sql, params):
        hub.rows.check("arrivals", row, "a_", row["a_key"])


def pending_candidates(
    hub: Hub, *, arrivals: list[int] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Candidates nobody has decided, closest first (watchlist, then arrivals, then names), a pair of arrivals
    found by face and by name as one item. A watchlist subject withdrawn or expired in the key home is not listed:
    its candidates are kept, unlisted, while it is not searched (their rows are checked all the same)."""
    sql, params = _SELECT + _UNDECIDED, list[Any]()
    if arrivals is not None:
        sql += " AND (c.arrival = ANY(%s) OR c.other = ANY(%s))"
        params += [arrivals, arrivals]
    live = sorted(subjects.live(hub))
    for r in rows.dicts(hub.conn, sql + " AND c.kind = 'watchlist' AND c.ref <> ALL(%s)", [*params, live]):
        _checked(hub, r)
    sql += _LISTED
    params.append(live)
    sql += _ORDER
    if limit:
        sql += f" LIMIT {int(limit)}"
    found = rows.dicts(hub.conn, sql, params)
    pairs = [(r["a_row"], r["o_row"]) for r in found if r["c_kind"] != "watchlist"]
    if limit and pairs:  # the other candidates of the pairs shown, which the limit may have left out
        ids = [r["id"] for r in found]
        xs, ys = [a for a, _ in pairs] + [o for _, o in pairs], [o for _, o in pairs] + [a for a, _ in pairs]
        found += rows.dicts(
            hub.conn,
            _SELECT + _UNDECIDED + " AND c.kind <> 'watchlist' AND c.id <> ALL(%s) AND (c.arrival, c.other) IN "
            "(SELECT * FROM unnest(%s::bigint[], %s::bigint[])) ORDER BY c.id",
            [ids, xs, ys],
        )
    items = _items([_checked(hub, r) for r in found])
    check_undecided(hub, [r["id"] for r in found])
    _voids_checked(hub, arrivals)
    _decisions_checked(hub, arrivals)
    return items


def _decisions_checked(hub: Hub, arrivals: list[int] | None) -> None:
    """The decisions that keep candidates (of `arrivals`) off the list: each must be one triage wrote, or a row
    slipped into `decisions` would hide a candidate."""
    if arrivals is None:
        _decision_rows(hub, "TRUE", [])
    else:
        _decision_rows(hub, "c.arrival = ANY(%s) OR c.other = ANY(%s)", [arrivals, arrivals])


def _laptop_alerts(hub: Hub, arrivals: list[int] | None) -> list[dict[str, Any]]:
    """Every laptop alert (of `arrivals`), decided or not, its row's and its arrival's tags checked."""
    sql = (
        f"SELECT l.sealed, {rows.columns('laptop_alerts', 'l_', t='l')}, {rows.columns('arrivals', 'a_', t='a')} "
        "FROM laptop_alerts l JOIN arrivals a ON a.id = l.arrival"
    )
    params: list[Any] = []
    if arrivals is not None:
        sql += " WHERE l.arrival = ANY(%s)"
        params.append(arrivals)
    found = rows.dicts(hub.conn, sql + " ORDER BY l.distance, l.id", params)
    for r in found:
        hub.rows.check("laptop_alerts", r, "l_", f"{r['a_key']}:{r['l_ref']}")
        hub.rows.check("arrivals", r, "a_", r["a_key"])
    return found


def _decided_rows(hub: Hub, where: str, params: list[Any], order: str = " ORDER BY c.id") -> list[dict[str, Any]]:
    """Candidates decided at the hub (`where` chooses which), each with its arrivals and its decision, every
    row checked."""
    found = rows.dicts(
        hub.conn,
        f"SELECT c.id, c.arrival AS a_row, c.other AS o_row, {rows.columns('candidates', 'c_', t='c')}, "
        f"{rows.columns('arrivals', 'a_', t='a')}, {rows.columns('arrivals', 'o_', t='o')}, "
        f"{rows.columns('decisions', 'd_', t='d')}, d.sealed AS d_blob FROM candidates c JOIN arrivals a ON "
        f"a.id = c.arrival LEFT JOIN arrivals o ON o.id = c.other JOIN decisions d ON d.candidate = c.id "
        f"WHERE {where}{order}",
        params,
    )
    for r in found:
        _checked(hub, r)
        hub.rows.check("decisions", r, "d_", f"of candidate {r['id']}")
    check_as_recorded(hub, [r["id"] for r in found])
    return found


def _hub_decided(hub: Hub, arrivals: list[int] | None) -> list[dict[str, Any]]:
    """The hub's own watchlist candidates (of `arrivals`) decided here, with their decisions, every row checked."""
    where = "c.kind = 'watchlist' AND NOT a.voided"
    if arrivals is None:
        return _decided_rows(hub, where, [])
    return _decided_rows(hub, where + " AND c.arrival = ANY(%s)", [arrivals])


def decided_where(laptop: str) -> str:
    """Where a laptop's watchlist alert that the hub's own search did not find is decided: the hub holds no candidate
    of it to decide (its watchlist does not hold the subject, or did not find the face), so the decision is taken
    on that laptop, or by a supervisor who imports the laptop's batch, and reaches the hub in their next batch."""
    return f"decided on {laptop} or by a supervisor who imports its batch, not at the hub"


def pending_alerts(hub: Hub, *, arrivals: list[int] | None = None) -> list[dict[str, Any]]:
    """Watchlist alerts a laptop found and nobody has decided, there, on another laptop whose decision reached
    the hub, or here on the hub's own candidate of the same arrival and subject (one hit, decided once), as the
    laptop recorded them. Every alert is read, decided or not, so that one marked decided outside triage is
    refused rather than left out."""
    out = []
    found = _laptop_alerts(hub, arrivals)
    settled = {(r["a_key"], r["c_ref"]) for r in _hub_decided(hub, arrivals)} if found else set()
    for r in found:
        if r["l_decided"] or r["a_voided"] or (r["a_key"], r["l_ref"]) in settled:
            continue
        opened = hub.open(r["sealed"], f"laptop_alerts:{r['a_key']}:{r['l_ref']}")
        out.append(
            {
                "arrival_key": r["a_key"],
                "arrival_id": r["a_arrival_id"],
                "site": r["a_site"],
                "day": r["a_landed_day"].isoformat(),
                "ref": r["l_ref"],
                "category": opened.get("category"),
                "distance": r["l_distance"],
                "threshold": r["l_threshold"],
                "watchlist_version": r["l_watchlist_version"],
                "laptop": r["l_laptop"],
                "decided_where": decided_where(r["l_laptop"]),
            }
        )
    return out


def _alert_decision(hub: Hub, r: dict[str, Any], opened: dict[str, Any] | None = None) -> dict[str, Any]:
    """The decision a laptop's alert (a row of `_laptop_alerts`) carries, from its sealed record (`opened`, when the
    caller opened it already): what, who, when, and on which laptop it was taken (the one that found it, unless the
    record names another)."""
    if opened is None:
        opened = hub.open(r["sealed"], f"laptop_alerts:{r['a_key']}:{r['l_ref']}")
    return {
        "decision": opened.get("decision"),
        "officer": opened.get("officer"),
        "at": opened.get("at"),
        "decided_on": opened.get("decided_on") or r["l_laptop"],
    }


def decided_alerts(hub: Hub, *, arrivals: list[int]) -> list[dict[str, Any]]:
    """The watchlist alerts on `arrivals` that are decided, each once with the decision standing on it: a laptop's,
    decided on the laptop that found it or on another whose decision reached the hub (`decided_on`; who and when,
    where that laptop's review is held), and the hub's own watchlist candidates decided here. A hit the hub and a
    laptop both decided is one alert, the hub's decision standing: the one it replaced, when it is a correction, is
    `corrects` (as the correction recorded it), and a laptop's decision on the hit that it did not replace (taken
    later, or since changed on the laptop) is `also`. Closest first; every row read is checked."""
    here: dict[tuple[str, str], dict[str, Any]] = {}
    for r in _hub_decided(hub, arrivals):
        opened = hub.open(bytes(r["d_blob"]), f"decisions:{r['id']}")
        here[(r["a_key"], r["c_ref"])] = {
            **_where(r),
            "ref": r["c_ref"],
            "distance": r["c_distance"],
            "decision": r["d_decision"],
            "officer": r["d_officer"],
            "at": r["d_at"].isoformat(timespec="seconds"),
            "decided_on": HUB,
            "laptop": None,
            "corrects": opened.get("corrects"),
            "also": None,
        }
    out = list(here.values())
    for r in _laptop_alerts(hub, arrivals):
        if not r["l_decided"] or r["a_voided"]:
            continue
        theirs = _alert_decision(hub, r)
        standing = here.get((r["a_key"], r["l_ref"]))
        if standing is None:
            out.append(
                {**_where(r), "ref": r["l_ref"], "distance": r["l_distance"], **theirs, "laptop": r["l_laptop"]}
                | {"corrects": None, "also": None}
            )
        elif standing["corrects"] != theirs:  # decided on a laptop too, and not the decision the hub's replaced
            standing["also"] = theirs
    return sorted(out, key=lambda x: (x["distance"] is None, x["distance"] or 0.0, x["arrival_key"], x["ref"]))


def _where(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "arrival_key": r["a_key"],
        "arrival_id": r["a_arrival_id"],
        "site": r["a_site"],
        "day": r["a_landed_day"].isoformat(),
    }


@dataclass
class Pending:
    candidates: list[dict[str, Any]]
    laptop_alerts: list[dict[str, Any]]
    held: int | None = None  # candidates awaiting a decision in all, when a limit was asked for
    more: int = 0  # of those, how many the limit left off the list

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def one_per_hit(
    hub: Hub, candidates: list[dict[str, Any]], alerts: list[dict[str, Any]], arrivals: list[int] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A watchlist hit that both a laptop and the hub found is one hit: a laptop's decision on it settles the hub's
    candidate of the same arrival and subject, and while it is pending the hub's candidate (the one a reviewer here
    can decide) is listed in place of the laptop's alert."""
    settled = {(r["a_key"], r["l_ref"]) for r in _laptop_alerts(hub, arrivals) if r["l_decided"]}
    candidates = [c for c in candidates if not (c["kind"] == "watchlist" and (c["arrival_key"], c["ref"]) in settled)]
    here = {(c["arrival_key"], c["ref"]) for c in candidates if c["kind"] == "watchlist"}
    return candidates, [a for a in alerts if (a["arrival_key"], a["ref"]) not in here]


def found_by(candidates: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hub's candidates, each saying who found it (`found_by`): the hub, and for a watchlist hit a laptop
    found too (its pending alert of the same arrival and subject), that laptop as well."""
    laptops = {(a["arrival_key"], a["ref"]): a["laptop"] for a in alerts}
    return [
        {**c, "found_by": _finders(laptops.get((c["arrival_key"], c["ref"])) if c["kind"] == "watchlist" else None)}
        for c in candidates
    ]


def _finders(laptop: str | None) -> str:
    return HUB if laptop is None else f"{HUB} and {laptop}"


_LISTED = " AND (c.kind <> 'watchlist' OR c.ref = ANY(%s))"  # a withdrawn or expired subject's are kept unlisted


def undecided(hub: Hub) -> int:
    """How many candidates await a decision and would be listed (a subject no longer searched aside)."""
    row = hub.conn.execute(
        "SELECT count(*) FROM candidates c JOIN arrivals a ON a.id = c.arrival LEFT JOIN arrivals o ON o.id = c.other"
        + _UNDECIDED
        + _LISTED,
        [sorted(subjects.live(hub))],
    ).fetchone()
    return int(row[0]) if row else 0


def pending(hub: Hub, *, limit: int | None = None) -> Pending:
    candidates, alerts = pending_candidates(hub, limit=limit), pending_alerts(hub)
    result = Pending(*one_per_hit(hub, found_by(candidates, alerts), alerts))
    if limit:
        listed = {n for c in candidates for n in c["candidates"]}
        result.held = undecided(hub)
        result.more = max(0, result.held - len(listed))
    with_safeguarding(hub, result.candidates, result.laptop_alerts)
    _with_reasons(hub, [*result.candidates, *result.laptop_alerts])
    with hub.conn.transaction():
        hub.audit("review-pending", records=[f"candidate:{n}" for c in result.candidates for n in c["candidates"]])
    return result


HUB = "the hub"  # who found a candidate that the hub's own search found

_KINDS = ("watchlist", "arrival", "biographic")  # the order a list shows candidates in, as --pending does


@dataclass
class ArrivalCandidates:
    """One arrival's candidates as seen from it: those awaiting a decision (as `--pending` lists them, a laptop's
    pending alert among them) and those decided, here or on a laptop. Each says what it is (`ref`: the subject, or
    the other arrival, which `other` describes), its figures with the threshold they were judged against, who
    found it (`found_by`: the hub, or the laptop whose search travelled in its batch), the hub's candidate numbers
    a decision here names (none for a laptop's alert, which its laptop decides; once a laptop's decision settled
    it, the hub's candidate of the same hit, which a correction names), for a laptop's alert the hub has no
    candidate of, where it is decided instead (`decided_where`), and, once decided, the decision."""

    arrival_key: str
    arrival_id: str
    site: str | None
    day: str
    voided: bool
    awaiting: list[dict[str, Any]]
    decided: list[dict[str, Any]]
    safeguarding: bool = False  # flagged for safeguarding: a possible child, or a reason an officer gave
    safeguarding_reasons: list[dict[str, Any]] = field(default_factory=list)  # why, as far as the hub holds it

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _entry(**fields: Any) -> dict[str, Any]:
    """One candidate of an arrival's list, every key present."""
    blank = dict.fromkeys(("ref", "category", "other", "distance", "threshold", "matched", "found_by"))
    blank |= dict.fromkeys(("decision", "officer", "at", "decided_on", "corrects", "decided_where", "reason"))
    base: dict[str, Any] = {
        "candidates": [],
        "kind": "watchlist",
        **blank,
        "across_sites": False,
        "evidence": [],
        "replaced": False,
    }
    return base | fields


def _seen_from(key: str, item: dict[str, Any]) -> dict[str, Any]:
    """A hub candidate (one item, as `_items` makes it) as arrival `key` sees it, whichever side recorded it."""
    other = item["other"]
    if item["kind"] != "watchlist" and item["arrival_key"] != key:
        other = {"key": item["arrival_key"], "arrival_id": item["arrival_id"], "site": item["site"], "day": item["day"]}
    return _entry(
        candidates=item["candidates"],
        kind=item["kind"],
        ref=item["ref"] if other is None else other["key"],
        other=other,
        across_sites=item["across_sites"],
        distance=item["distance"],
        threshold=item["threshold"],
        matched=item["matched"],
        evidence=item["evidence"],
        found_by=item.get("found_by", HUB),
    )


def _decided_here(hub: Hub, aid: int) -> list[dict[str, Any]]:
    """The arrival's candidates decided at the hub, a pair of arrivals as one item, each with its decision (rows
    checked)."""
    found = _decided_rows(
        hub, "(c.arrival = %s OR c.other = %s) AND NOT a.voided AND (o.id IS NULL OR NOT o.voided)", [aid, aid], _ORDER
    )
    decisions = {r["id"]: r for r in found}
    items = _items(found)
    for item in items:
        d = decisions[item["candidates"][0]]
        opened = hub.open(bytes(d["d_blob"]), f"decisions:{d['id']}")
        item["decided"] = {
            "decision": d["d_decision"],
            "officer": d["d_officer"],
            "at": d["d_at"].isoformat(timespec="seconds"),
            "decided_on": opened.get("laptop") or HUB,
            "corrects": opened.get("corrects"),
            "reason": opened.get("reason"),  # what a reviewer weighing a correction reads first
        }
    return items


def _shown_order(entry: dict[str, Any]) -> tuple[int, bool, float]:
    return _KINDS.index(entry["kind"]), entry["distance"] is None, entry["distance"] or 0.0


def _review_reason(hub: Hub, key: str | None) -> str | None:
    """The reason a laptop's review of an alert gives (`key`: the review standing on it), its row's tag checked."""
    if not key:
        return None
    found = rows.dicts(
        hub.conn,
        f"SELECT r.sealed, {rows.columns('alert_reviews', 'r_', t='r')} FROM alert_reviews r WHERE r.key = %s",
        [key],
    )
    if not found:
        return None
    hub.rows.check("alert_reviews", found[0], "r_", key)
    reason = hub.open(found[0]["sealed"], f"alert_reviews:{key}").get("reason")
    return str(reason) if reason else None


def arrival_candidates(hub: Hub, arrival: str) -> ArrivalCandidates:
    """The candidates of one arrival (its key, or its id where only one arrival has it), awaiting a decision and
    decided. A watchlist hit that a laptop and the hub both found is one hit, as in `pending`."""
    row = _arrival(hub, arrival)
    aid, key = row["id"], row["a_key"]
    held, alerts = pending_candidates(hub, arrivals=[aid]), pending_alerts(hub, arrivals=[aid])
    candidates, alerts = one_per_hit(hub, found_by(held, alerts), alerts, [aid])
    awaiting = [_seen_from(key, c) for c in candidates]
    awaiting += [
        _entry(
            ref=a["ref"],
            category=a["category"],
            distance=a["distance"],
            threshold=a["threshold"],
            found_by=a["laptop"],
            decided_where=a["decided_where"],
        )
        for a in alerts
    ]
    laptops = _laptop_alerts(hub, [aid])
    also = [{"arrival_key": key, "ref": r["l_ref"], "laptop": r["l_laptop"]} for r in laptops]  # decided or not
    decided = [_seen_from(key, c) | c["decided"] for c in found_by(_decided_here(hub, aid), also)]
    # the hub's own candidate of a hit its laptop's decision settled: the number a correction here names
    settled = {c["ref"]: c["candidates"] for c in held if c["kind"] == "watchlist" and c["arrival_key"] == key}
    ours = set(settled) | {c["ref"] for c in decided if c["kind"] == "watchlist"}  # hits the hub has a candidate of
    # what the hub's corrections replaced, by ref: a laptop's decision is shown replaced only when it is that one
    corrected = {c["ref"]: c["corrects"] for c in decided if c["kind"] == "watchlist" and c.get("corrects")}
    for r in laptops:
        if not r["l_decided"] or r["a_voided"]:
            continue
        opened = hub.open(r["sealed"], f"laptop_alerts:{r['a_key']}:{r['l_ref']}")
        theirs = _alert_decision(hub, r, opened)
        decided.append(
            _entry(
                candidates=settled.get(r["l_ref"], []),
                ref=r["l_ref"],
                category=opened.get("category"),
                distance=r["l_distance"],
                threshold=r["l_threshold"],
                found_by=_finders(r["l_laptop"]) if settled.get(r["l_ref"]) else r["l_laptop"],
                **theirs,
                decided_where=None if r["l_ref"] in ours else decided_where(r["l_laptop"]),
                reason=_review_reason(hub, opened.get("review")),
                replaced=corrected.get(r["l_ref"]) == theirs,  # kept in the record, not standing
            )
        )
    result = ArrivalCandidates(
        arrival_key=key,
        arrival_id=row["a_arrival_id"],
        site=row["a_site"],
        day=row["a_landed_day"].isoformat(),
        voided=bool(row["a_voided"]),
        awaiting=sorted(awaiting, key=_shown_order),
        decided=sorted(decided, key=_shown_order),
    )
    others = [e["other"] for e in [*result.awaiting, *result.decided] if e["other"]]
    flagged = safeguarded(hub, [key, *(o["key"] for o in others)])
    result.safeguarding = key in flagged
    result.safeguarding_reasons = flag_reasons(hub, [key] if result.safeguarding else []).get(key, [])
    for o in others:
        o["safeguarding"] = o["key"] in flagged
    shown = [n for e in [*result.awaiting, *result.decided] for n in e["candidates"]]
    with hub.conn.transaction():
        hub.audit("review-arrival", records=[f"arrival:{key}", *(f"candidate:{n}" for n in shown)])
    return result


@dataclass
class Decided:
    candidate: int
    arrival_key: str
    ref: str
    kind: str
    decision: str
    officer: str
    candidates: list[int] = field(default_factory=list)  # every candidate decided: the pair's face and name ones
    corrects: dict[str, Any] | None = None  # the decision a correction replaced: decision, officer, at, decided_on

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _arrival(hub: Hub, arrival: str) -> dict[str, Any]:
    """The arrival's row, checked, named by its key, or by its id where only one arrival has it."""
    found = rows.dicts(
        hub.conn,
        f"SELECT a.id, {rows.columns('arrivals', 'a_', t='a')} FROM arrivals a WHERE a.key = %s OR a.arrival_id = %s",
        [arrival, arrival],
    )
    if not found:
        raise NotFound(f"no arrival {arrival!r} in the hub; see `triage hub review --pending`")
    if len(found) > 1:
        raise BadInput(
            f"arrival {arrival!r} names {len(found)} arrivals from different laptops: give its key, one of "
            + ", ".join(r["a_key"] for r in found)
        )
    hub.rows.check("arrivals", found[0], "a_", found[0]["a_key"])
    return found[0]


def _resolve(hub: Hub, arrival: str, candidate: str) -> tuple[dict[str, Any], str, str]:
    """The candidate (its row, checked; the arrival's key; its ref as seen from that arrival) named by an arrival
    (its key, or its id where only one arrival has it) and the candidate (its number in the pending list, or its
    ref: an arrival's key or id, a subject)."""
    found = _arrival(hub, arrival)
    aid, key = found["id"], found["a_key"]
    for row in rows.dicts(hub.conn, _SELECT + " WHERE (c.arrival = %s OR c.other = %s) ORDER BY c.id", [aid, aid]):
        names = {str(row["id"]), row["c_ref"]} | ({row["o_arrival_id"]} if row["o_arrival_id"] else set())
        if row["a_row"] != aid:  # the pair was recorded from the other side: the candidate is the arrival searched
            names = {str(row["id"]), row["a_key"], row["a_arrival_id"]}
        if candidate in names:
            return _checked(hub, row), key, row["c_ref"] if row["a_row"] == aid else row["a_key"]
    _refuse_laptop_alert(hub, aid, key, candidate)
    raise NotFound(f"{candidate!r} is not a candidate of arrival {key}; `triage hub review {key}` lists its candidates")


def _refuse_laptop_alert(hub: Hub, aid: int, key: str, candidate: str) -> None:
    """Refuse a decision named by the ref of a laptop's watchlist alert the hub has no candidate of (Conflict), saying
    where it is decided instead: the queue lists such an alert, so an officer will try to decide it here, and "not a
    candidate" would leave them nowhere to go."""
    for r in _laptop_alerts(hub, [aid]):
        if r["a_voided"] or r["l_ref"].upper() != candidate.strip().upper():
            continue
        hint = (
            "the hub decides a hit its own search found: with the subject in the hub's watchlist (`triage watchlist "
            f"receive PACKAGE --home {shlex.quote(str(hub.keys.home))}`), `triage hub watchlist search` gives it a "
            "number here"
        )
        if not r["l_decided"]:
            raise Conflict(
                f"{r['l_ref']} for arrival {key} is a watchlist alert of {r['l_laptop']} that the hub's search did not "
                f"find, so the hub has no candidate of it: it is {decided_where(r['l_laptop'])}; no decision was recorded",
                hint=hint,
            )
        taken = _alert_decision(hub, r)
        raise Conflict(
            f"{r['l_ref']} for arrival {key} is a watchlist alert of {r['l_laptop']}, already decided: {_phrase(taken)}; "
            f"the hub has no candidate of it, so a later decision is taken on {r['l_laptop']} or by a supervisor who "
            "imports its batch, not at the hub; no decision was recorded",
            hint=hint,
        )


def _pair(hub: Hub, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Every candidate a decision on `row` decides: itself, and for a pair of arrivals each other candidate of the
    same pair, whichever way round it holds it (rows checked), in the order their decisions are written."""
    if row["c_kind"] == "watchlist":
        return [row]
    return pair_candidates(hub, row["a_row"], row["o_row"]) or [row]


def pair_candidates(hub: Hub, a: int, o: int) -> list[dict[str, Any]]:
    """The candidates that pair arrivals `a` and `o` (hub ids), by face or by name, whichever way round each holds
    the pair, rows checked, in the order their decisions are written."""
    found = rows.dicts(
        hub.conn,
        _SELECT + " WHERE c.kind <> 'watchlist' AND ((c.arrival = %s AND c.other = %s) OR (c.arrival = %s AND "
        "c.other = %s)) ORDER BY c.id",
        [a, o, o, a],
    )
    return [_checked(hub, r) for r in found]


class _Taken(Exception):
    """A candidate someone else decided while this decision was being written."""


def _conflict(hub: Hub, candidates: list[int], key: str, ref: str) -> Conflict:
    earlier = _standing(hub, candidates)
    if earlier is None:  # a decision taken and then deleted between the two reads: nothing to name but the race
        return Conflict(f"{ref} for arrival {key} was being decided by someone else; your decision was not recorded")
    where = "" if earlier["decided_on"] == HUB else f" on {earlier['decided_on']}"
    return Conflict(
        f"candidate {earlier['candidate']} ({ref} for arrival {key}) was already decided: {earlier['decision']} by "
        f"{earlier['officer']} at {utc_text(earlier['at'])} UTC{where}; your decision was not recorded",
        hint=f"the first decision stands against a second one; if it is wrong, correct it with reasons: `triage hub "
        f"review {key} --candidate {earlier['candidate']} --decision DECISION --reason TEXT --correct`",
    )


def decide(hub: Hub, arrival: str, candidate: str, decision: str, reason: str, *, correct: bool = False) -> Decided:
    """Record a decision on a candidate (a pair of arrivals: on every candidate of the pair). The first decision
    stands against a second reviewer's (Conflict); `correct` replaces the standing decision with this one, both
    kept: the replaced one in the decision's sealed part and in the trail."""
    typed, decision = decision, (decision or "").strip().lower()  # `Confirmed` as `confirmed`, as refs are read
    if decision not in DECISIONS:
        raise BadInput(f"--decision {typed!r}: choose {', '.join(DECISIONS)}")
    reason = reason_text(reason, "you reached this decision", min_chars=MIN_REASON)  # as on a laptop
    _may_decide(hub)
    row, key, ref = _resolve(hub, arrival, candidate)
    voided = [k for k, v in ((row["a_key"], row["a_voided"]), (row["o_key"], row["o_voided"])) if k and v]
    if voided:  # its laptop withdrew it: its candidates are not listed, and are not decided here either
        raise Conflict(
            f"arrival {voided[0]} was voided by its laptop: its candidates are no longer for review, and no "
            "decision was recorded"
        )
    pair = _pair(hub, row)
    ids = [r["id"] for r in pair]
    if correct:
        return _correct(hub, row, pair, key, ref, decision, reason)
    if _standing(hub, ids) is not None:  # told at once, without queueing for the trail
        raise _conflict(hub, ids, key, ref)
    on_laptop = _laptop_decision(hub, row)
    if on_laptop is not None:  # one hit: its laptop's decision, which reached the hub, decided it
        raise Conflict(
            f"candidate {row['id']} ({ref} for arrival {key}) was already decided: {_phrase(on_laptop)}; your "
            "decision was not recorded",
            hint=f"if it is wrong, correct it with reasons: `triage hub review {key} --candidate {row['id']} "
            "--decision DECISION --reason TEXT --correct`",
        )
    try:
        check_undecided(hub, ids)  # its decision's row deleted outside triage: not decided again
    except IntegrityFailure:
        if _standing(hub, ids) is None:
            raise
        raise _conflict(hub, ids, key, ref) from None  # decided, and audited, by someone else meanwhile
    try:
        with hub.conn.transaction():
            hub.hold_trail()  # before its rows: an import settling the same pair holds the trail, then writes
            _write(hub, pair, decision, hub.officer, dt.datetime.now(dt.timezone.utc), {"reason": reason})
            kinds = list(dict.fromkeys(r["c_kind"] for r in pair))
            hub.audit(
                "review",
                records=[*(f"candidate:{i}" for i in ids), f"arrival:{key}", *(f"{k}:{ref}" for k in kinds)],
                reason=f"{decision}: {reason}",
            )
    except _Taken:
        raise _conflict(hub, ids, key, ref) from None
    return Decided(row["id"], key, ref, row["c_kind"], decision, hub.officer, ids)


def _correct(
    hub: Hub, row: dict[str, Any], pair: list[dict[str, Any]], key: str, ref: str, decision: str, reason: str
) -> Decided:
    """Replace the decision standing on `pair` with `decision`, as a reviewer at the hub corrects one."""
    ids = [r["id"] for r in pair]
    standing = _standing(hub, ids)
    on_laptop = _laptop_decision(hub, row) if standing is None else None
    if on_laptop is not None:
        check_undecided(hub, ids)
        return _correct_laptop(hub, row, key, ref, decision, reason, on_laptop)
    if standing is None:
        check_undecided(hub, ids)  # its decision's row deleted outside triage: named, not decided afresh
        raise BadInput(
            f"{ref} for arrival {key} awaits its first decision: there is nothing to correct",
            hint="record it without --correct",
        )
    if standing["decision"] == decision:
        raise BadInput(
            f"{ref} for arrival {key} is {decision} already (by {standing['officer']} at {utc_text(standing['at'])} UTC): a "
            "correction changes the decision"
        )
    replaced = {k: standing[k] for k in ("decision", "officer", "at", "decided_on")}
    with hub.conn.transaction():
        hub.hold_trail()  # before its rows, as a decision and an import take them
        if _standing(hub, ids) != standing:
            raise Conflict(
                f"{ref} for arrival {key} was decided again by someone else while you corrected it; your "
                f"correction was not recorded: see `triage hub review {key}`"
            )
        sealed = {"reason": reason, "corrects": replaced}
        _rewrite(hub, pair, decision, hub.officer, dt.datetime.now(dt.timezone.utc), sealed)
        kinds = list(dict.fromkeys(r["c_kind"] for r in pair))
        where = "" if replaced["decided_on"] == HUB else f" on {replaced['decided_on']}"
        hub.audit(
            "review",
            records=[*(f"candidate:{i}" for i in ids), f"arrival:{key}", *(f"{k}:{ref}" for k in kinds)],
            reason=f"{decision}: {reason} (a correction, in place of {replaced['decision']} by "
            f"{replaced['officer']} at {utc_text(replaced['at'])} UTC{where})",
        )
    return Decided(row["id"], key, ref, row["c_kind"], decision, hub.officer, ids, replaced)


def _may_decide(hub: Hub) -> None:
    """Refuse a login that may not decide. The database lets an importer's login write decisions (it records those
    laptops took), so the database alone would let it take one of its own; deciding is a reviewer's (or the owner's).
    The roles are named after the database the command reached."""
    reviewer, allowed = hub.conn.execute(
        "SELECT current_database() || '_reviewer', r.rolsuper OR t.tableowner = current_user OR EXISTS (SELECT 1 "
        "FROM pg_roles g WHERE g.rolname = current_database() || '_reviewer' AND pg_has_role(current_user, g.oid, "
        "'USAGE')) FROM pg_roles r, pg_tables t WHERE r.rolname = current_user AND t.schemaname = 'public' "
        "AND t.tablename = 'decisions'"
    ).fetchone()
    if not allowed:
        raise UsageError(
            f"this database login ({hub.db_user}) may not record decisions: deciding needs the {reviewer} role",
            hint=f"sign in with a reviewer's login (--db or TRIAGE_HUB_DB), or ask the administrator to grant {reviewer}",
        )


def _laptop_decision(hub: Hub, row: dict[str, Any]) -> dict[str, Any] | None:
    """The decision a laptop took (on itself, or on another laptop whose batch brought it) on the alert that is
    the same hit as this watchlist candidate of the hub's, when nobody decided the candidate here: that decision
    settles it (one hit, decided once). None for any other candidate."""
    if row["c_kind"] != "watchlist":
        return None
    for r in _laptop_alerts(hub, [row["a_row"]]):
        if r["l_ref"] == row["c_ref"] and r["l_decided"]:
            return _alert_decision(hub, r)
    return None


def _phrase(d: dict[str, Any]) -> str:
    where = "" if d["decided_on"] == HUB else f" on {d['decided_on']}"
    return f"{d['decision']} by {d['officer']} at {utc_text(d['at'])} UTC{where}"


def _correct_laptop(
    hub: Hub, row: dict[str, Any], key: str, ref: str, decision: str, reason: str, replaced: dict[str, Any]
) -> Decided:
    """Correct, at the hub, the decision a laptop took on the hit this watchlist candidate is: the hub's decision
    is recorded on its candidate, naming the laptop's it replaces (which stays in the laptop's record)."""
    if replaced["decision"] == decision:
        raise BadInput(
            f"{ref} for arrival {key} is {decision} already (by {replaced['officer']} at {replaced['at']} on "
            f"{replaced['decided_on']}): a correction changes the decision"
        )
    try:
        with hub.conn.transaction():
            hub.hold_trail()
            _write(
                hub,
                [row],
                decision,
                hub.officer,
                dt.datetime.now(dt.timezone.utc),
                {"reason": reason, "corrects": replaced},
            )
            hub.audit(
                "review",
                records=[f"candidate:{row['id']}", f"arrival:{key}", f"{row['c_kind']}:{ref}"],
                reason=f"{decision}: {reason} (a correction, in place of {_phrase(replaced)})",
            )
    except _Taken:
        raise _conflict(hub, [row["id"]], key, ref) from None
    return Decided(row["id"], key, ref, row["c_kind"], decision, hub.officer, [row["id"]], replaced)


def _write(
    hub: Hub, pair: list[dict[str, Any]], decision: str, officer: str, at: dt.datetime, sealed: dict[str, Any]
) -> None:
    """One decision's rows, one per candidate of `pair`, tagged; `_Taken` when someone decided one of them first.
    Written in one order for everyone, so two deciders never deadlock."""
    for c in sorted(pair, key=lambda r: r["id"]):
        blob = hub.seal(sealed, f"decisions:{c['id']}")
        inserted = hub.conn.execute(
            "INSERT INTO decisions (candidate, decision, officer, db_user, at, sealed, mac) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (candidate) DO NOTHING RETURNING id",
            [c["id"], decision, officer, hub.db_user, at, blob, _tag(hub, c, decision, officer, at, blob)],
        ).fetchone()
        if inserted is None:
            raise _Taken()


def _tag(hub: Hub, c: dict[str, Any], decision: str, officer: str, at: dt.datetime, blob: bytes) -> str:
    """The keyed tag of a decision on candidate `c` (a row of `_SELECT`), written now by this login."""
    return hub.rows.mac(
        "decisions", arrival=c["a_key"], kind=c["c_kind"], ref=c["c_ref"], decision=decision, officer=officer,
        db_user=hub.db_user, at=at, sealed=rows.digest(blob),
    )  # fmt: skip


_DECISIONS = (
    f"SELECT d.candidate, d.sealed AS blob, {rows.columns('decisions', 'd_', t='d')} FROM decisions d "
    "LEFT JOIN candidates c ON c.id = d.candidate LEFT JOIN arrivals a ON a.id = c.arrival"
)


def _decision_rows(hub: Hub, where: str, params: list[Any], tail: str = "") -> list[dict[str, Any]]:
    """Decisions (`where` chooses which), every row's tag checked."""
    found = rows.dicts(hub.conn, f"{_DECISIONS} WHERE {where}{tail}", params)
    for d in found:
        hub.rows.check("decisions", d, "d_", f"of candidate {d['candidate']}")
    return found


def review_time(at: object) -> dt.datetime:
    """A review's time as a batch gives it (ISO 8601; one without a zone is UTC), so that reviews taken on
    different laptops are ordered by when they were taken, not by how their times are written. ValueError if it
    is not such a time."""
    if not isinstance(at, str):
        raise ValueError(f"the time {at!r} is not written as text")
    when = dt.datetime.fromisoformat(at)
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def standing_review(held: list[dict[str, Any]]) -> dict[str, Any]:
    """The review that stands among those held on one alert or pair (each with its key, `supersedes` and `at`): the
    last taken that no other supersedes, as on a home, whichever laptop took it."""
    superseded = {r.get("supersedes") for r in held}
    return max([r for r in held if r["key"] not in superseded] or held, key=lambda r: (review_time(r["at"]), r["key"]))


# What became of a decision a batch brought on a pair of arrivals (`PairDecision.state`).
RECORDED = "recorded"  # on the hub's candidates of the pair, which nobody had decided
REPLACED = "replaced"  # a decision an earlier batch brought on the pair, which this one follows
KEPT = "kept"  # until the hub holds both arrivals
UNPAIRED = "unpaired"  # the hub's search does not pair them: kept, in case it does
DECIDED = "decided"  # the pair was decided otherwise (`held`), at the hub or by a decision this one does not follow


@dataclass
class PairDecision:
    """The decision standing on a pair of arrivals among those batches brought (the last that no other supersedes,
    as on a home), and what became of it at the hub (`state`); `held`: the hub's decision it replaced, or the one
    that stands instead."""

    review: str
    arrival_key: str
    other_key: str
    decision: str
    officer: str
    at: str
    laptop: str  # where it was taken: "NAME (device D)" of the batch that brought it
    state: str
    candidates: list[int] = field(default_factory=list)
    held: dict[str, Any] | None = None


def settle_pair(hub: Hub, one: str, two: str) -> PairDecision | None:
    """Record at the hub the decision standing on the pair of arrivals `one` and `two` (keys) among the reviews
    batches brought (`pair_reviews`, every row checked): on the hub's candidates of the pair when nobody has decided
    them, or in place of a decision an earlier batch brought on it, as that officer's, at that time, with one audit
    event. None when nothing changes. Run inside an import's transaction."""
    held = []
    for r in rows.dicts(
        hub.conn,
        f"SELECT p.sealed AS blob, {rows.columns('pair_reviews', 'p_', t='p')} FROM pair_reviews p "
        "WHERE (p.arrival = %s AND p.other = %s) OR (p.arrival = %s AND p.other = %s)",
        [one, two, two, one],
    ):
        hub.rows.check("pair_reviews", r, "p_", r["p_key"])
        opened = hub.open(bytes(r["blob"]), f"pair_reviews:{r['p_key']}")
        held.append({**opened, "key": r["p_key"], "supersedes": r["p_supersedes"], "arrival": r["p_arrival"],
                     "other": r["p_other"]})  # fmt: skip
    if not held:
        return None
    last = standing_review(held)
    outcome = PairDecision(
        last["key"], last["arrival"], last["other"], last["decision"], last["officer"], str(last["at"]), last["laptop"],
        KEPT,
    )  # fmt: skip
    ids = dict(hub.conn.execute("SELECT key, id FROM arrivals WHERE key = ANY(%s)", [[one, two]]).fetchall())
    if len(ids) < 2:
        return outcome
    pair = pair_candidates(hub, ids[one], ids[two])
    if not pair:
        outcome.state = UNPAIRED
        return outcome
    cids = [c["id"] for c in pair]
    outcome.candidates = cids
    hub.hold_trail()  # held to the import's end: a reviewer's decision is committed before it is read, or waits
    standing = _standing(hub, cids)
    if standing is not None and standing["review"] == last["key"]:
        return None
    if standing is not None and standing["review"] not in {r["key"] for r in held}:
        outcome.state, outcome.held = DECIDED, standing
        return outcome
    at = review_time(last["at"])
    sealed = {"reason": last.get("reason"), "laptop": last["laptop"], "review": last["key"]}
    try:
        with hub.conn.transaction():
            if standing is None:
                check_undecided(hub, cids)  # a decision the trail records, its row deleted, is not decided again
                _write(hub, pair, last["decision"], last["officer"], at, sealed)
            else:
                _rewrite(hub, pair, last["decision"], last["officer"], at, sealed)
            kinds = list(dict.fromkeys(c["c_kind"] for c in pair))
            hub.audit(
                "review",
                records=[*(f"candidate:{i}" for i in cids), f"arrival:{last['arrival']}",
                         *(f"{k}:{last['other']}" for k in kinds), f"review:{last['key']}"],
                reason=f"{last['decision']}: {last.get('reason') or ''} (taken on {last['laptop']} by {last['officer']}"
                + (f", in place of {standing['decision']} by {standing['officer']})" if standing else ")"),
            )  # fmt: skip
    except _Taken:  # a reviewer at the hub decided it this moment
        outcome.state, outcome.held = DECIDED, _standing(hub, cids)
        return outcome
    outcome.state, outcome.held = (RECORDED, None) if standing is None else (REPLACED, standing)
    return outcome


def _rewrite(
    hub: Hub, pair: list[dict[str, Any]], decision: str, officer: str, at: dt.datetime, sealed: dict[str, Any]
) -> None:
    """A pair's decision replaced by a later one on it, brought by a batch: every candidate's row rewritten (each
    checked first: a row changed outside triage is never tagged anew), one written where none was."""
    found = _decision_rows(hub, "d.candidate = ANY(%s)", [[c["id"] for c in pair]], " FOR UPDATE OF d")
    check_as_recorded(hub, [d["candidate"] for d in found])
    decided = {d["candidate"] for d in found}
    check_undecided(hub, [c["id"] for c in pair if c["id"] not in decided])
    for c in sorted(pair, key=lambda r: r["id"]):
        if c["id"] not in decided:
            _write(hub, [c], decision, officer, at, sealed)
            continue
        blob = hub.seal(sealed, f"decisions:{c['id']}")
        hub.conn.execute(
            "UPDATE decisions SET decision = %s, officer = %s, db_user = %s, at = %s, sealed = %s, mac = %s "
            "WHERE candidate = %s",
            [decision, officer, hub.db_user, at, blob, _tag(hub, c, decision, officer, at, blob), c["id"]],
        )


def _standing(hub: Hub, candidates: list[int]) -> dict[str, Any] | None:
    """The first decision held on any of `candidates` (row checked): decision, officer, time, where it was taken, and
    the laptop's review it records (None for one taken at the hub)."""
    found = _decision_rows(hub, "d.candidate = ANY(%s)", [candidates], " ORDER BY d.at, d.id LIMIT 1")
    if not found:
        return None
    (d,) = found
    check_as_recorded(hub, [d["candidate"]])
    opened = hub.open(bytes(d["blob"]), f"decisions:{d['candidate']}")
    return {
        "candidate": d["candidate"],
        "decision": d["d_decision"],
        "officer": d["d_officer"],
        "at": d["d_at"].isoformat(timespec="seconds"),
        "decided_on": opened.get("laptop") or HUB,
        "review": opened.get("review"),
    }
