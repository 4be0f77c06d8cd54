"""PND query drafts for an authorised officer to check and submit from an authorised terminal.

`triage` never transmits anything: a draft is stored, shown as text to copy from or as JSON, and its
later outcome can be recorded. Every draft states its policing purpose, who asked, the arrival's
safeguarding flag and the reviewed candidates, and is marked DRAFT — NOT SUBMITTED.
"""

from __future__ import annotations

import datetime as dt
import re

from . import arrivals, biographic
from .biographic import Details
from .errors import BadInput
from .store import Store, utcnow

MARKING = "DRAFT — NOT SUBMITTED"
KINDS = ("person", "face")
MIN_PURPOSE_WORDS = 5

# Spelling patterns that differ between common romanisations of the same name (Arabic, Persian,
# Kurdish, Pashto, Tigrinya, Amharic): each pair is tried in both directions on the Latin form.
VARIANT_RULES: list[tuple[str, str]] = [
    (r"\bMOHAMMED\b", "MUHAMMAD"), (r"\bMOHAMMED\b", "MOHAMED"), (r"\bMUHAMMAD\b", "MOHAMMAD"),
    (r"\bMHMD\b", "MUHAMMAD"), (r"\bMHMD\b", "MOHAMMED"), (r"\bAHMD\b", "AHMAD"), (r"\bAHMAD\b", "AHMED"),
    (r"\bHSYN\b", "HUSSEIN"), (r"\bHSYN\b", "HOSSEIN"), (r"\bHUSSEIN\b", "HUSAYN"), (r"\bHOSSEIN\b", "HUSSEIN"),
    (r"\bABD AL ", "ABDUL "), (r"\bABDUL ", "ABDEL "), (r"\bAL ", "EL "), (r"\bEL ", "AL "),
    (r"OU", "U"), (r"EE", "I"), (r"KH", "H"), (r"Q", "K"), (r"J", "DJ"), (r"TS", "S"),
]


def name_variants(surname: str | None, given: str | None, limit: int = 8) -> list[str]:
    """Latin forms worth searching: as given, order swapped, and common romanisation variants."""
    s, g = biographic.latin(surname or ""), biographic.latin(given or "")
    bases = [f"{s}, {g}".strip(", "), f"{g}, {s}".strip(", ")] if s and g else [s or g]
    out: list[str] = []
    for base in bases:
        if base and base not in out:
            out.append(base)
    for base in list(out):
        for pattern, repl in VARIANT_RULES:
            v = re.sub(pattern, repl, base)
            if v != base and v not in out:
                out.append(v)
            if len(out) >= limit:
                return out
    return out


def check_purpose(purpose: str | None) -> str:
    purpose = biographic.clean_text(purpose or "", "--purpose", 1000)
    if len(purpose.split()) < MIN_PURPOSE_WORDS:
        raise BadInput(f"--purpose must state the policing purpose in a sentence (at least {MIN_PURPOSE_WORDS} words), "
                       "e.g. 'to establish whether the arrival is wanted or linked to organised immigration crime'")
    return purpose


def pnd_draft(store: Store, arrival_id: str, *, kind: str, purpose: str, officer: str,
              justification: str | None = None) -> dict:
    """Build and store a PND person or facial search draft for one arrival."""
    if kind not in KINDS:
        raise BadInput(f"--kind {kind!r}: choose person or face")
    purpose = check_purpose(purpose)
    arrival = arrivals.get(store, arrival_id)
    details = Details.from_dict(arrival["details"])
    today = dt.date.fromisoformat(arrival["landed_day"])
    cands = arrivals.candidates(store, arrival_id)
    aliases = list(details.aliases)
    for c in cands:
        latest = c["reviews"][-1]["decision"] if c["reviews"] else None
        if latest == "confirmed" and c.get("name"):
            aliases.append(c["name"])
    day = utcnow()[:10].replace("-", "")
    n = store.count("drafts", "ref LIKE ?", [f"PND-{store.config.device}-{day}-%"]) + 1
    ref = f"PND-{store.config.device}-{day}-{n:03d}"
    draft = {
        "ref": ref, "marking": MARKING, "training": bool(arrival["training"]), "kind": f"pnd-{kind}",
        "created_at": utcnow(), "requesting_officer": officer, "force_code": store.config.force_code,
        "site": arrival["site"], "arrival_id": arrival_id, "landed_at": arrival["landed_at"], "vessel": arrival["vessel"],
        "purpose": purpose, "justification": justification,
        "safeguarding": bool(arrival["safeguarding"]),
        "subject": {
            "name_as_given": details.full_name(),
            "surname": details.surname, "given_names": details.given_names,
            "name_variants": name_variants(details.surname, details.given_names),
            "dob": str(details.dob) if details.dob else None,
            "age_range": list(details.age_range_on(today)) if details.age_range_on(today) else None,
            "sex": details.sex, "nationality": details.nationality, "aliases": aliases,
        },
        "candidates": [{"kind": c["kind"], "ref": c["ref"], "distance": c["distance"], "threshold": c["threshold"],
                        "below_threshold": c["below_threshold"],
                        "decision": c["reviews"][-1]["decision"] if c["reviews"] else "not reviewed"} for c in cands],
    }
    if kind == "face":
        q = arrival["quality"]["measures"]
        draft["search_image"] = {"portrait_of": arrival_id, "size_px": [256, 256], "inter_eye_px": q.get("inter_eye_px"),
                                 "quality_score": arrival["quality"]["score"]}
    with store.transaction():
        store.insert("drafts", {"ref": ref, "kind": draft["kind"], "arrival_id": arrival_id, "officer": officer,
                                "created_at": draft["created_at"], "training": int(draft["training"])}, {"draft": draft})
        store.audit("pnd-draft", officer, arrival_id=arrival_id, records=[f"draft:{ref}"], reason=purpose)
    return draft


def render_text(draft: dict) -> str:
    """The plain-text form an authorised officer reads and copies from."""
    s = draft["subject"]
    head = f"{'TRAINING — ' if draft['training'] else ''}{draft['marking']}"
    lines = [
        "=" * 72, head, f"PND {'facial' if draft['kind'] == 'pnd-face' else 'person'} search draft {draft['ref']}", "=" * 72,
        f"Requesting officer : {draft['requesting_officer']} (force {draft['force_code']})",
        f"Landing site       : {draft['site']}   vessel: {draft['vessel'] or 'not recorded'}",
        f"Arrival            : {draft['arrival_id']} landed {draft['landed_at']}",
        f"Safeguarding flag  : {'YES — possible child' if draft['safeguarding'] else 'no'}",
        f"Policing purpose   : {draft['purpose']}",
    ]
    if draft.get("justification"):
        lines.append(f"Justification      : {draft['justification']}")
    lines += [
        "", "Subject", f"  Name as given    : {s['name_as_given']}",
        "  Names to search  : " + ("; ".join(s["name_variants"]) or "none given"),
        f"  Date of birth    : {s['dob'] or 'not given'}" + (f"   age range: {s['age_range'][0]}-{s['age_range'][1]}" if s["age_range"] else ""),
        f"  Sex              : {s['sex'] or 'not given'}   nationality: {s['nationality'] or 'not given'}",
        "  Aliases          : " + ("; ".join(s["aliases"]) or "none"),
    ]
    if "search_image" in draft:
        im = draft["search_image"]
        lines += ["", "Search image", f"  Portrait of {im['portrait_of']}, {im['size_px'][0]}x{im['size_px'][1]} px, "
                  f"{im['inter_eye_px']} px between the eyes, quality {im['quality_score']}/100"]
    lines += ["", "Local candidates (for corroboration, not identification)"]
    if not draft["candidates"]:
        lines.append("  none")
    for c in draft["candidates"]:
        lines.append(f"  {c['kind']:<9} {c['ref']:<14} distance {c['distance']:.3f} (threshold {c['threshold']:.2f}, "
                     f"{'below' if c['below_threshold'] else 'above'}) — {c['decision']}")
    lines += ["", head, "Check every field before submitting from an authorised terminal.", "=" * 72]
    return "\n".join(lines) + "\n"
