"""Intelligence report drafts graded 3x5x2, from what officers learn at the landing site.

The grading follows the national intelligence model's 3x5x2: the source evaluated 1-3, the
intelligence assessed A-E, and a handling code, P (lawful sharing permitted) or C (permitted subject
to conditions, which the report must then state). A report links its subject to the vessel, the other
arrivals on it, the phone numbers given and the candidates a person confirmed, and lists indicators
of a facilitator role from a documented set of codes or in free text.

`draft` takes its inputs as one plain dict of fields (the keys of FIELDS), so a form, a structured
debrief or an earlier report can pre-fill it; `validate` checks and normalises such a dict alone. A
report is stored, listed and shown like every draft (`drafts.py`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from triage.casework import arrivals
from triage.casework.debrief import records, summaries
from triage.errors import BadInput, Faults
from triage.intake import biographic
from triage.intake.biographic import Details
from triage.outputs import drafts
from triage.store.rows import Store, utcnow

SOURCE_GRADES = {"1": "reliable", "2": "untested", "3": "not reliable"}
INTEL_GRADES = {
    "A": "known directly to the source",
    "B": "known indirectly to the source but corroborated",
    "C": "known indirectly to the source",
    "D": "not known",
    "E": "suspected to be false or malicious",
}
HANDLING_CODES = {"P": "lawful sharing permitted", "C": "lawful sharing permitted subject to conditions"}

# Indicators that an arrival had a facilitator role. A code stands for its wording in every report, so
# reports from different officers can be counted together; anything else is recorded as free text.
INDICATORS = {
    "pilot": "named by others as the pilot",
    "steering": "seen steering the boat or working the engine",
    "satphone": "held the satellite phone",
    "navigation": "held the GPS, compass or navigation phone",
    "directing": "gave instructions to others before or during the crossing",
    "payments": "said by others to have collected payments",
    "coercion": "said by others to have threatened or coerced passengers",
    "no-fee": "says they paid nothing for the crossing",
    "phones": "carried several phones or SIM cards",
    "cash": "carried a large amount of cash",
    "equipment": "handed out life jackets or fuel",
    "repeat-crossing": "an earlier crossing is recorded or admitted",
}
# Flags of the fields, used in messages so an officer at the command line knows what to change.
FIELDS = {
    "source_grade": "--source-grade",
    "intel_grade": "--intel-grade",
    "handling": "--handling",
    "conditions": "--conditions",
    "text": "--text",
    "indicators": "--indicator",
}
MIN_TEXT_WORDS = 3
_CODE_LIKE = re.compile(r"[a-z][a-z0-9-]*")


def _choice(fields: dict[str, Any], key: str, allowed: dict[str, str]) -> str:
    value = str(fields.get(key) if fields.get(key) is not None else "").strip().upper()
    if value not in allowed:
        options = ", ".join(f"{k} ({v})" for k, v in allowed.items())
        raise BadInput(f"{FIELDS[key]} {value or 'missing'}: choose {options}")
    return value


def _indicator(item: object) -> dict[str, str | None]:
    """A known code, or free text; a single word that is not a code is taken for a mistyped code."""
    if isinstance(item, dict):
        item = item.get("code") or item.get("text") or ""
    text = biographic.clean_text(str(item), "--indicator", 300)
    if text.lower() in INDICATORS:
        return {"code": text.lower(), "text": INDICATORS[text.lower()]}
    if _CODE_LIKE.fullmatch(text):
        raise BadInput(
            f"--indicator {text!r} is not a known code ({', '.join(INDICATORS)}); describe anything else in a few words"
        )
    if not text:
        raise BadInput("--indicator is empty: give a code or describe the indicator in a few words")
    if text in INDICATORS.values():
        return {"code": next(k for k, v in INDICATORS.items() if v == text), "text": text}
    return {"code": None, "text": text}


def validate(fields: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise the fields of a report: grades, handling code and its conditions, text, indicators."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise BadInput(f"unknown intelligence report field(s): {', '.join(unknown)}; expected {', '.join(FIELDS)}")
    faults = Faults()  # every field named at once, so the officer corrects the command in one go
    source_grade = faults.check(_choice, fields, "source_grade", SOURCE_GRADES)
    intel_grade = faults.check(_choice, fields, "intel_grade", INTEL_GRADES)
    handling = faults.check(_choice, fields, "handling", HANDLING_CODES)
    conditions = faults.check(drafts.optional_text, fields.get("conditions"), "--conditions", 1000)
    if handling == "C" and not conditions:
        faults.found.append("--handling C needs --conditions: state the conditions on sharing this report")
    if handling == "P" and conditions:
        faults.found.append("--conditions go with --handling C; with P sharing is permitted without conditions")
    text = faults.check(
        drafts.check_text,
        fields.get("text"),
        "--text",
        "what was learned, and how the source knows it",
        MIN_TEXT_WORDS,
        5000,
    )
    indicators: list[dict[str, str | None]] = []
    for item in fields.get("indicators") or []:
        entry = faults.check(_indicator, item)
        if entry is not None and entry not in indicators:
            indicators.append(entry)
    faults.raise_any()
    return {
        "source_grade": source_grade,
        "intel_grade": intel_grade,
        "handling": handling,
        "conditions": conditions,
        "text": text,
        "indicators": indicators,
    }


def links(store: Store, arrival: dict[str, Any], candidates: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The vessel, the other arrivals on it (void ones aside: a capture made in error was no one aboard), phone
    numbers and confirmed candidates; and the records read."""
    same_vessel, read = [], []
    if arrival["vessel"]:
        for other in store.rows(
            "arrivals",
            "vessel = ? COLLATE NOCASE AND id != ?",
            [arrival["vessel"], arrival["id"]],
            order_by="landed_at",
        ):
            if arrivals.is_void(other):
                continue
            read.append(f"arrival:{other['id']}")
            same_vessel.append(
                {
                    "arrival_id": other["id"],
                    "landed_at": other["landed_at"],
                    "name": Details.from_dict(other["details"]).full_name(),
                    "safeguarding": bool(other["safeguarding"]),
                }
            )
    confirmed = [
        {"kind": c["kind"], "ref": c["ref"], "category": c["category"]}
        for c in candidates
        if c["decision"] == "confirmed"
    ]
    return {
        "vessel": arrival["vessel"],
        "same_vessel": same_vessel,
        "phones": list(arrival["details"].get("phones") or []),
        "confirmed_candidates": confirmed,
    }, read


def grading_code(report: dict[str, Any]) -> str:
    return f"{report['source_grade']}{report['intel_grade']}{report['handling']}"


def draft(
    store: Store,
    arrival_id: str,
    fields: dict[str, Any],
    *,
    officer: str,
    fmt: str = "text",
    out: Path | None = None,
    debriefed: dict[str, Any] | None = None,
    force: bool = False,
) -> drafts.DraftResult:
    """Build and store an intelligence report draft about one arrival; nothing is stored when a field is refused.
    `debriefed` is the debrief section a report started from a debrief carries (`summaries.intel_fields`)."""
    report = validate(fields)
    drafts.check_outputs(fmt, out, home=store.home, force=force)
    arrival = arrivals.live(store, arrival_id)
    cands = drafts.reviewed_candidates(store, arrival_id)
    who, read_subject = drafts.subject(store, arrival, cands)
    linked, read_links = links(store, arrival, cands)
    body = {
        "ref": None,
        "marking": drafts.MARKING,
        "training": bool(arrival["training"]),
        "kind": "intel",
        "created_at": utcnow(),
        "officer": officer,
        "force_code": store.config.force_code,
        "site": arrival["site"],
        "arrival_id": arrival_id,
        "landed_at": arrival["landed_at"],
        "safeguarding": bool(arrival["safeguarding"]),
        **report,
        "grading": grading_code(report),
        "grading_meaning": {
            "source": SOURCE_GRADES[report["source_grade"]],
            "intelligence": INTEL_GRADES[report["intel_grade"]],
            "handling": HANDLING_CODES[report["handling"]],
        },
        "subject": who,
        "links": linked,
        "candidates": cands,
        **({"debrief": debriefed} if debriefed else {}),
    }
    return drafts.save(
        store,
        body,
        FAMILY,
        officer=officer,
        action="intel-draft",
        records=[
            f"arrival:{arrival_id}",
            *read_subject,
            *read_links,
            *([f"debrief:{debriefed['debrief_id']}"] if debriefed else []),
        ],
        reason=f"graded {body['grading']}",
        fmt=fmt,
        out=out,
        force=force,
    )


def render_text(report: dict[str, Any]) -> str:
    """The plain-text report an officer reads, checks and enters into the intelligence system."""
    m = report["grading_meaning"]
    lines = [
        *drafts.heading(report, f"Intelligence report draft {report['ref']}   grading {report['grading']}"),
        f"Officer            : {report['officer']} (force {report['force_code']})",
        f"Drafted            : {report['created_at']}",
        f"Landing site       : {report['site']}   arrival {report['arrival_id']} landed {report['landed_at']}",
        *drafts.void_lines(report),
        drafts.safeguarding_line(report),
        f"Source evaluation  : {report['source_grade']} — {m['source']}",
        f"Intelligence       : {report['intel_grade']} — {m['intelligence']}",
        f"Handling code      : {report['handling']} — {m['handling']}"
        + (f"; conditions: {report['conditions']}" if report["conditions"] else ""),
        "",
        "Intelligence",
        f"  {report['text']}",
        "",
        "Indicators of a facilitator role",
        *(
            [f"  - {i['text']}" + (f" [{i['code']}]" if i["code"] else "") for i in report["indicators"]]
            or ["  none recorded"]
        ),
        "",
        *drafts.subject_lines(report["subject"]),
    ]
    ln = report["links"]
    lines += [
        "",
        "Links",
        f"  Vessel             : {ln['vessel'] or 'not recorded'}",
        "  Phone numbers      : " + (", ".join(ln["phones"]) or "none given"),
        "  Same vessel        : "
        + (
            "; ".join(
                f"{a['arrival_id']} {a['name']}" + (" (SAFEGUARDING)" if a["safeguarding"] else "")
                for a in ln["same_vessel"]
            )
            or "no other arrivals recorded"
        ),
        "  Confirmed          : "
        + (
            "; ".join(
                f"{c['kind']} {c['ref']}" + (f" [{c['category']}]" if c["category"] else "")
                for c in ln["confirmed_candidates"]
            )
            or "none"
        ),
    ]
    if report.get("debrief"):
        lines += ["", *summaries.report_lines(report["debrief"])]
    lines += ["", *drafts.candidate_lines(report["candidates"]), "", drafts.marking(report), drafts.RULE]
    return "\n".join(lines) + "\n"


def _since(store: Store, ref: str, report: dict[str, Any]) -> None:
    """Mark in a stored report's debrief section each person named by an arrival voided since it was drafted,
    as a report drafted now marks them: the name stays, read as standing for no one."""
    if report.get("debrief"):
        report["debrief"]["answers"] = records.marked_void(store, report["debrief"]["answers"])


FAMILY = drafts.Family(prefix="INT", kinds=("intel",), render_text=render_text, since=_since)
