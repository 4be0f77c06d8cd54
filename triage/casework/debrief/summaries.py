"""A debrief in words: one line per answer, a paragraph to pre-fill an intelligence report, and the
debrief section such a report carries.

What the officer gave always wins over what is pre-filled, and the grades are theirs alone to give. A
crime group is only ever suggested here; the section keeps the links an officer decided apart from them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from triage.casework import arrivals, ocg
from triage.casework.debrief.questions import EXPLOITATION, QUESTIONS, present, value_text
from triage.casework.debrief.records import latest, marked_void, shared_with, view
from triage.errors import NotFound
from triage.store.rows import Store

# A facilitator role other arrivals name this one in, and the intelligence indicator code it stands for.
ROLE_INDICATORS = {"pilot": "pilot", "phone_holder": "navigation", "compass_holder": "navigation"}
MAX_TEXT_CHARS = 4800  # of the summary that pre-fills an intelligence report (whose limit is 5000)


def answer_text(key: str, answer: dict[str, Any]) -> str:
    """An answer to question `key` in one line: its fields in order, or DECLINED / not known / not asked, with
    the note."""
    status = answer["status"]
    if status == "answered":
        value = answer["value"]
        parts = [
            f"{p.name.replace('_', ' ')} {value_text(value[p.name])}"
            for p in QUESTIONS[key].parts
            if value.get(p.name) is not None and value[p.name] != []
        ]
        if answer["value"].get("indicators") == []:
            parts.append("none")
        text = "; ".join(parts)
    else:
        text = {"declined": "DECLINED to answer", "unknown": "does not know", "not-asked": "not asked"}[status]
    if answer.get("note"):
        text = f"{text} — note: {answer['note']}" if text else f"note: {answer['note']}"
    return text


def _named_by_others(store: Store, arrival: dict[str, Any]) -> list[dict[str, Any]]:
    """Other arrivals on the same vessel whose current debrief names this one as pilot or phone or compass holder;
    a void arrival's debrief aside (a capture made in error indicates nothing)."""
    if not arrival["vessel"]:
        return []
    store.check_indexes_once("debriefs", "arrivals")  # read through their indexes: a debrief left out names nobody
    out = []
    void = arrivals.voided(store)
    for row in store.rows(
        "debriefs",
        "arrival_id IN (SELECT id FROM arrivals WHERE vessel = ? COLLATE NOCASE AND id != ?) "
        "AND id IN (SELECT max(id) FROM debriefs GROUP BY arrival_id)",
        [arrival["vessel"], arrival["id"]],
        order_by="arrival_id",
    ):
        if row["arrival_id"] in void:
            continue
        for role in ROLE_INDICATORS:
            a = row["answers"][role]
            if a["status"] == "answered" and a["value"]["person"]["arrival_id"] == arrival["id"]:
                out.append({"arrival_id": row["arrival_id"], "role": role, "debrief_id": row["id"]})
    return out


def _paid_nothing(answers: dict[str, Any]) -> bool:
    p = answers["payment"]
    return p["status"] == "answered" and p["value"]["amount"] is not None and Decimal(p["value"]["amount"]) == 0


def summary(section: dict[str, Any]) -> str:
    """The debrief in a paragraph, to pre-fill a report's text for the officer to edit."""
    head = f"Debrief version {section['version']} recorded by {section['recorded_by']} at {section['recorded_at']}."
    lines = [
        f"{a['question']}: {answer_text(k, a)}." for k, a in section["answers"].items() if a["status"] != "not-asked"
    ]
    text = " ".join([head, *lines])
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + " ... (the rest in the debrief section)"


def intel_fields(store: Store, arrival_id: str, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An intelligence report's fields pre-filled from the arrival's current debrief, and the debrief section
    the report carries. What the officer gave wins; the grades are theirs alone to give. The indicators come
    from other arrivals' debriefs naming this one as pilot or navigator, and from a crossing paid nothing for."""
    arrival = arrivals.live(store, arrival_id)
    row = latest(store, arrival_id)
    if row is None:
        raise NotFound(
            f"arrival {arrival_id} has no debrief to start from; record one with `triage debrief {arrival_id}`"
        )
    shown = view(row)
    named = _named_by_others(store, arrival)
    section = {
        "debrief_id": row["id"],
        "version": row["version"],
        "recorded_by": row["officer"],
        "recorded_at": row["at"],
        "answers": marked_void(store, shown["answers"]),
        "declined": [QUESTIONS[k].label for k in shown["declined"]],
        "exploitation_indicators": [{"code": c, "text": EXPLOITATION[c]} for c in shown["exploitation_indicators"]],
        "named_by_others": named,
        "ocg_links": ocg.links_of_arrival(store, arrival_id),
        "ocg_suggestions": [
            {"ocg_ref": s["ocg_ref"], "matched": s["matched"]} for s in ocg.suggestions(store, arrival_id=arrival_id)
        ],
        "shared_with": [
            {"arrival_id": s["arrival_id"], "landed_day": s["landed_day"], "site": s["site"], "matched": s["matched"]}
            for s in shared_with(store, arrival_id)
        ],
    }
    derived = [ROLE_INDICATORS[n["role"]] for n in named] + (["no-fee"] if _paid_nothing(row["answers"]) else [])
    prefilled = dict(fields)
    prefilled["indicators"] = list(dict.fromkeys([*derived, *(fields.get("indicators") or [])]))
    if not present(fields.get("text")):
        prefilled["text"] = summary(section)
    return prefilled, section


def report_lines(section: dict[str, Any]) -> list[str]:
    """The debrief section of an intelligence report's text form."""
    rows = [(a["question"], answer_text(k, a)) for k, a in section["answers"].items()] + [
        ("Declined to answer", ", ".join(section["declined"]) or "none"),
        (
            "Named as pilot or navigator by",
            "; ".join(f"{n['arrival_id']} ({n['role'].replace('_', ' ')})" for n in section["named_by_others"])
            or "nobody",
        ),
        (
            "Crime groups decided by an officer",
            "; ".join(f"{g['ocg_ref']} ({g['decision']} by {g['officer']} at {g['at']})" for g in section["ocg_links"])
            or "none",
        ),
        (
            "Crime groups suggested, NOT confirmed",
            "; ".join(
                f"{s['ocg_ref']} via " + ", ".join(f"{m['kind']} {m['value']}" for m in s["matched"])
                for s in section["ocg_suggestions"]
            )
            or "none",
        ),
        (
            "Same number, handle or name also given by",
            "; ".join(f"{s['arrival_id']} ({s['landed_day']}, {s['site']})" for s in section["shared_with"])
            or "nobody else",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    return [
        f"Debrief (version {section['version']}, {section['recorded_by']}, {section['recorded_at']})",
        *(f"  {label:<{width}} : {text}" for label, text in rows),
    ]
