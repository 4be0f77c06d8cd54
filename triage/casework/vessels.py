"""One vessel's arrivals side by side, so an officer sees a group and its possible facilitators at a glance.

Each arrival carries flags: a safeguarding flag; candidates below the threshold (and how many still
await a decision); confirmed candidates; the same face as another arrival on the same vessel (one
person captured twice, perhaps under two names); a facilitator-category watchlist candidate below the
threshold; and the facilitator indicators recorded in intelligence report drafts. None of these is a
finding: each points a person to something to check. A void arrival (a capture made in error) is named
apart and counted nowhere, as in the day's report.
"""

from __future__ import annotations

from triage.casework import arrivals, review
from triage.errors import NotFound
from triage.intake.biographic import Details
from triage.intake.refs import parse_vessel
from triage.store.rows import Store

FLAGS = (
    "safeguarding",
    "below-threshold",
    "awaiting-review",
    "confirmed",
    "same-face-on-vessel",
    "facilitator-candidate",
    "facilitator-indicators",
)


def _member(store: Store, row: dict, on_board: set[str]) -> dict:
    cands = arrivals.candidates(store, row["id"])
    below = [c for c in cands if c["below_threshold"]]
    confirmed = [c for c in cands if review.latest_decision(c) == "confirmed"]
    same_face = [
        c["ref"]
        for c in below
        if c["kind"] == "arrival" and c["ref"] in on_board and review.latest_decision(c) != "rejected"
    ]
    facilitator = [
        c["ref"] for c in below if c.get("category") == "facilitator" and review.latest_decision(c) != "rejected"
    ]
    indicators = sorted(
        {i["code"] or i["text"] for r in review.stored(store, row["id"], "intel") for i in r["indicators"]}
    )
    raised = {
        "safeguarding": bool(row["safeguarding"]),
        "below-threshold": bool(below),
        "awaiting-review": any(not c["reviews"] for c in below),
        "confirmed": bool(confirmed),
        "same-face-on-vessel": bool(same_face),
        "facilitator-candidate": bool(facilitator),
        "facilitator-indicators": bool(indicators),
    }
    return {
        "arrival_id": row["id"],
        "landed_at": row["landed_at"],
        "site": row["site"],
        "name": Details.from_dict(row["details"]).full_name(),
        "name_latin": ", ".join(
            p for p in (arrivals.latin_form(row["details"], f) for f in ("surname", "given_names")) if p
        ),
        "nationality": row["details"].get("nationality"),
        "flags": [f for f in FLAGS if raised[f]],
        "candidates": [
            {
                "kind": c["kind"],
                "ref": c["ref"],
                "rank": c["rank"],
                "name": c.get("name"),
                "category": c.get("category"),
                "distance": c["distance"],
                "threshold": c["threshold"],
                "below_threshold": c["below_threshold"],
                "decision": review.latest_decision(c),
            }
            for c in cands
        ],
        "confirmed": [c["ref"] for c in confirmed],
        "same_face_as": same_face,
        "facilitator_candidates": facilitator,
        "indicators": indicators,
    }


def show(store: Store, vessel: str, *, officer: str) -> dict:
    """Every arrival recorded for one vessel, in landing order, with candidates and flags."""
    vessel = parse_vessel(vessel or "", "VESSEL")
    store.check_indexes_once("arrivals", "searches", "candidates")  # an arrival, or its alerts, left out unseen
    recorded = store.rows("arrivals", "vessel = ? COLLATE NOCASE", [vessel], order_by="landed_at")
    rows = [r for r in recorded if not r.get("voided")]
    if not recorded:
        raise NotFound(
            f"no arrivals recorded for vessel {vessel!r}; the vessel column of `triage arrivals list` "
            "shows the references in use"
        )
    on_board = {r["id"] for r in rows}
    members = [_member(store, r, on_board) for r in rows]
    by_id = {m["arrival_id"]: m for m in members}
    for m in members:  # only the later capture searched the earlier one: flag both
        for other in m["same_face_as"]:
            twin = by_id[other]
            if m["arrival_id"] not in twin["same_face_as"]:
                twin["same_face_as"].append(m["arrival_id"])
                twin["flags"] = [f for f in FLAGS if f in twin["flags"] or f == "same-face-on-vessel"]
    with store.transaction():
        store.audit("vessel-show", officer, records=[f"arrival:{r['id']}" for r in recorded][:500])
    return {
        "vessel": vessel,
        "arrivals": members,
        "void": [r["id"] for r in recorded if r.get("voided")],
        "counts": {"arrivals": len(members), **{f: sum(f in m["flags"] for m in members) for f in FLAGS}},
        "possible_facilitators": [
            m["arrival_id"] for m in members if {"facilitator-candidate", "facilitator-indicators"} & set(m["flags"])
        ],
    }
