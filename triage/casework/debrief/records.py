"""A debrief as kept: recorded in versions, indexed for links, and shown.

Amending a debrief records a new version that carries over the questions not given again; earlier
versions are kept. Phone numbers, payment handles and names given are indexed as keyed hashes, so a crime
group registered with the same number is suggested for an officer to confirm (`ocg.py`) and other
arrivals who gave it are shown. Any exploitation indicator raises the arrival's safeguarding flag in the
same transaction that records the debrief.
"""

from __future__ import annotations

import copy
from typing import Any

from triage.casework import arrivals, ocg
from triage.casework.debrief.questions import NOT_ASKED, QUESTIONS, Context, context, parse
from triage.errors import BadInput, Conflict, NotFound
from triage.intake.refs import same_vessel
from triage.store.rows import Store, utcnow

MODES = ("interactive", "scripted")
PEOPLE_QUESTIONS = ("pilot", "phone_holder", "compass_holder", "companions")


def latest(store: Store, arrival_id: str) -> dict[str, Any] | None:
    """The arrival's current debrief, through an index, checked: one rebuilt without the latest version would show
    an earlier one as current (and number the next version as one already held)."""
    store.check_indexes_once("debriefs")
    rows = store.rows(
        "debriefs",
        "arrival_id = ? AND version = (SELECT max(version) FROM debriefs WHERE arrival_id = ?)",
        [arrival_id, arrival_id],
    )
    return rows[0] if rows else None


def _identifiers(answers: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, value, where it was given) for every phone number, payment handle and name in the answers."""
    found = []
    contacts, payment = answers["contacts"], answers["payment"]
    if contacts["status"] == "answered":
        found += [("phone", p, "contacts.phones") for p in contacts["value"]["phones"]]
        found += [("name", n, "contacts.names") for n in contacts["value"]["names"]]
    if payment["status"] == "answered":
        if payment["value"]["handle"]:
            found.append(("handle", payment["value"]["handle"], "payment.handle"))
        if payment["value"]["paid_to"]:
            found.append(("name", payment["value"]["paid_to"], "payment.paid_to"))
    return found


def index_identifiers(store: Store, arrival_id: str, debrief_id: int, answers: dict[str, Any]) -> None:
    """Blind the phone numbers, handles and names of the arrival's current debrief with this home's key, in place of
    the earlier version's: only what the current version says suggests links. Merging a batch calls this too, since
    another laptop's blinds mean nothing here. The caller holds the transaction."""
    store.db.execute("DELETE FROM debrief_identifiers WHERE arrival_id = ?", [arrival_id])
    for kind, value, source in _identifiers(answers):
        for k, blind in ocg.identifier_keys(store, kind, value):
            store.insert(
                "debrief_identifiers",
                {"debrief_id": debrief_id, "arrival_id": arrival_id, "kind": k, "source": source, "blind": blind},
                {"value": value},
            )


def _people(answer: dict[str, Any]) -> list[dict[str, Any] | None]:
    """The people one answered question names (a pilot, a holder, or several companions)."""
    return list(answer["value"].get("people") or [answer["value"].get("person")])


def _warnings(ctx: Context, answers: dict[str, Any]) -> list[str]:
    """People named by arrival id who did not land from the same vessel: worth a second look, not an error."""
    out = []
    for key in PEOPLE_QUESTIONS:
        a = answers[key]
        if a["status"] != "answered":
            continue
        for person in _people(a):
            if person and person["arrival_id"]:
                vessel = ctx.store.get("arrivals", person["arrival_id"])["vessel"]
                if vessel != ctx.arrival["vessel"] and not same_vessel(vessel, ctx.arrival["vessel"]):
                    out.append(
                        f"{QUESTIONS[key].label.lower()}: {person['arrival_id']} is recorded on vessel "
                        f"{vessel or 'not recorded'}, this arrival on {ctx.arrival['vessel'] or 'not recorded'}"
                    )
    return out


def marked_void(store: Store, answers: dict[str, Any]) -> dict[str, Any]:
    """The answers with each person named by an arrival voided since marked `void`: the debrief was given
    before the capture was found made in error, so the name stays, read as standing for no one."""
    void = arrivals.voided(store)
    marked = copy.deepcopy(answers)
    for key in PEOPLE_QUESTIONS:
        value = marked[key].get("value") or {}
        for person in value.get("people") or [value.get("person")]:
            if person and person["arrival_id"] in void:
                person["void"] = True
    return marked


def indicators_of(answers: dict[str, Any]) -> list[str]:
    a = answers["exploitation"]
    return list(a["value"]["indicators"]) if a["status"] == "answered" else []


def named_arrivals(answers: dict[str, Any]) -> list[str]:
    """The arrival ids the answers name as pilot, phone or compass holder or companion: a day's batch carries
    their keys, so the names follow the arrivals wherever a merge gives them other ids."""
    people = []
    for key in PEOPLE_QUESTIONS:
        a = answers[key]
        if a["status"] == "answered":
            people += _people(a)
    return list(dict.fromkeys(p["arrival_id"] for p in people if p and p["arrival_id"]))


def shared_with(store: Store, arrival_id: str) -> list[dict[str, Any]]:
    """Other arrivals whose current debrief gave one of this debrief's phone numbers, handles or names (read
    through indexes, checked); void ones aside, as every view of other arrivals leaves them."""
    store.check_indexes_once("debrief_identifiers")
    rows = store.db.execute(
        "SELECT DISTINCT o.arrival_id, d.id FROM debrief_identifiers d JOIN debrief_identifiers o "
        "ON o.kind = d.kind AND o.blind = d.blind AND o.arrival_id != d.arrival_id WHERE d.arrival_id = ?",
        [arrival_id],
    ).fetchall()
    by_arrival: dict[str, list[int]] = {}
    for other, ident in rows:
        by_arrival.setdefault(other, []).append(ident)
    out = []
    for other, idents in by_arrival.items():
        a = store.get("arrivals", other)
        if arrivals.is_void(a):
            continue
        matched = store.rows("debrief_identifiers", f"id IN ({','.join('?' * len(idents))})", idents, order_by="id")
        out.append(
            {
                "arrival_id": other,
                "landed_at": a["landed_at"],
                "landed_day": a["landed_day"],
                "site": a["site"],
                "vessel": a["vessel"],
                "matched": list(
                    {
                        (m["kind"], m["value"]): {"kind": m["kind"], "source": m["source"], "value": m["value"]}
                        for m in matched
                    }.values()
                ),
            }
        )
    return sorted(out, key=lambda s: s["landed_at"])


def view(row: dict[str, Any]) -> dict[str, Any]:
    """A stored debrief version as shown: every question with its label, what was declined, the indicators."""
    answers = row["answers"]
    return {
        "debrief_id": row["id"],
        "arrival_id": row["arrival_id"],
        "version": row["version"],
        "officer": row["officer"],
        "at": row["at"],
        "supersedes": row["supersedes"],
        "mode": row["mode"],
        "answers": {k: {"question": QUESTIONS[k].label, **answers[k]} for k in QUESTIONS},
        "declined": [k for k in QUESTIONS if answers[k]["status"] == "declined"],
        "exploitation_indicators": indicators_of(answers),
        "warnings": row["warnings"],
    }


def record(
    store: Store,
    arrival_id: str,
    raw: dict[str, Any],
    *,
    officer: str,
    amend: bool = False,
    mode: str = "scripted",
) -> dict[str, Any]:
    """Record a debrief (or, with `amend`, a new version of it carrying over the questions not given again).
    Any exploitation indicator raises the safeguarding flag, in the same transaction."""
    if mode not in MODES:
        raise BadInput(f"mode {mode!r}: choose {' or '.join(MODES)}")
    ctx = context(store, arrival_id)
    given = parse(ctx, raw)
    current = latest(store, arrival_id)
    if current and not amend:
        raise Conflict(
            f"arrival {arrival_id} already has a debrief (version {current['version']}); "
            f"amend it with `triage debrief {arrival_id} --amend`, which keeps the earlier version"
        )
    if amend and not current:
        raise BadInput(f"arrival {arrival_id} has no debrief to amend; record one without --amend")
    if not given:
        raise BadInput(
            "no answers given: answer, decline (--declined QUESTION) or mark unknown at least one question; "
            f"the questions are {', '.join(QUESTIONS)}"
        )
    answers = {k: given.get(k) or (current["answers"][k] if current else NOT_ASKED) for k in QUESTIONS}
    found_indicators = indicators_of(answers)
    warnings = _warnings(ctx, answers)
    arrival = ctx.arrival
    with store.transaction():
        row = store.insert(
            "debriefs",
            {
                "arrival_id": arrival_id,
                "version": current["version"] + 1 if current else 1,
                "officer": officer,
                "at": utcnow(),
                "supersedes": current["id"] if current else None,
                "mode": mode,
                "declined": sum(a["status"] == "declined" for a in answers.values()),
                "indicators": len(found_indicators),
            },
            {"answers": answers, "warnings": warnings},
        )
        index_identifiers(store, arrival_id, row["id"], answers)
        raised = bool(found_indicators) and not arrival["safeguarding"]
        if raised:
            arrivals.flag_safeguarding(
                store,
                arrival_id,
                officer=officer,
                reason="debrief: exploitation indicators " + ", ".join(found_indicators),
            )
        suggested, shared = ocg.suggestions(store, arrival_id=arrival_id), shared_with(store, arrival_id)
        store.audit(
            "debrief" if row["version"] == 1 else "debrief-amend",
            officer,
            arrival_id=arrival_id,
            records=[f"debrief:{row['id']}", f"arrival:{arrival_id}", *(f"arrival:{s['arrival_id']}" for s in shared)][
                :500
            ],
        )
    row.update(answers=answers, warnings=warnings)
    return {
        **view(row),
        "safeguarding": bool(arrival["safeguarding"]) or raised,
        "safeguarding_raised": raised,
        "suggestions": suggested,
        "shared_with": shared,
    }


def show(store: Store, arrival_id: str, *, officer: str, history: bool = False) -> dict[str, Any]:
    """The arrival's current debrief, with the group links suggested and decided, other arrivals who gave
    the same numbers or names, and (with `history`) every earlier version."""
    arrival = arrivals.get(store, arrival_id)
    store.check_indexes_once("debriefs")  # as `latest`
    rows = store.rows("debriefs", "arrival_id = ?", [arrival_id], order_by="version")
    if not rows:
        raise NotFound(f"arrival {arrival_id} has no debrief; record one with `triage debrief {arrival_id}`")

    def marked(row: dict[str, Any]) -> dict[str, Any]:  # a person named who was voided since reads as void
        v = view(row)
        return {**v, "answers": marked_void(store, v["answers"])}

    shown = {
        **marked(rows[-1]),
        "safeguarding": bool(arrival["safeguarding"]),
        "void": arrival.get("void") or None,  # a tombstone's debrief is still shown, said to be void
        "suggestions": ocg.suggestions(store, arrival_id=arrival_id),
        "shared_with": shared_with(store, arrival_id),
        "ocg_links": ocg.links_of_arrival(store, arrival_id),
    }
    if history:
        shown["history"] = [marked(r) for r in rows[:-1]]
    with store.transaction():
        store.audit(
            "debrief-show",
            officer,
            arrival_id=arrival_id,
            records=[f"debrief:{r['id']}" for r in (rows if history else rows[-1:])],
        )
    return shown
