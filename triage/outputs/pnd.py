"""PND person and facial search drafts for an authorised officer to check and submit from an authorised
terminal, and the outcomes recorded for them afterwards.

A PND draft is refused whole, storing nothing, unless it states the policing purpose in a sentence. A
facial search names the arrival's normalised portrait by its digest, so the image written out later is
checked to be the one the draft was made from. A later outcome supersedes an earlier one; both are kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage.casework import arrivals
from triage.errors import BadInput, IntegrityFailure, NotFound
from triage.faces import detection as faces
from triage.outputs import drafts
from triage.store.rows import Store, utcnow

KINDS = ("person", "face")
PND_KINDS = ("pnd-person", "pnd-face")
RESULTS = ("submitted", "no-trace", "trace", "declined")
NOTE_REQUIRED = {"trace": "what was found and its PND reference", "declined": "why the search was not made"}
MIN_PURPOSE_WORDS = 5


@dataclass(frozen=True)
class OutcomeRecorded:
    """What became of a PND draft, as recorded; `supersedes` is the outcome it replaces, if any."""

    ref: str
    id: int
    result: str
    note: str | None
    officer: str
    at: str
    supersedes: int | None
    arrival_id: str
    arrival_void: bool = False  # the draft's arrival was voided since: the outcome is kept all the same

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def search_image(store: Store, draft: dict[str, Any]) -> tuple[int, bytes]:
    """The stored portrait a facial search draft names, checked against the digest the draft states."""
    image = draft.get("search_image")
    if not image:
        raise BadInput(
            f"--image-out: {draft['ref'] or 'this draft'} is a person search; "
            "a search image goes with a facial search draft (--kind face)"
        )
    row, jpeg = store.photo("arrival", draft["arrival_id"], "portrait")
    if hashlib.sha256(jpeg).hexdigest() != image["sha256"]:
        raise IntegrityFailure(f"the portrait of {draft['arrival_id']} is not the one draft {draft['ref']} states")
    return row["id"], jpeg


def _search_image_block(store: Store, arrival: dict[str, Any]) -> dict[str, Any]:
    """The normalised portrait as a search image, with the figures an authorised officer checks."""
    row, jpeg = store.photo("arrival", arrival["id"], "portrait")
    q = arrival["quality"]
    m = q["measures"]
    return {
        "photo_id": row["id"],
        "portrait_of": arrival["id"],
        "media_type": row["media_type"],
        "width_px": row["width"],
        "height_px": row["height"],
        "sha256": hashlib.sha256(jpeg).hexdigest(),
        "source_width_px": m["image_width"],
        "source_height_px": m["image_height"],
        "source_face_box": m["face_box"],
        "inter_eye_px": m["inter_eye_px"],
        "portrait_inter_eye_px": round(faces.PORTRAIT_EYE_SPAN * row["width"], 1),
        "crop": (
            f"turned upright and scaled so the eye centres sit level at {faces.PORTRAIT_EYE_LINE:.0%} of the "
            f"height, {faces.PORTRAIT_EYE_SPAN:.0%} of the width apart"
        ),
        "quality_score": q["score"],
        "quality_profile": q["profile"],
        "quality_override": arrival["quality_override"],
    }


def _warnings(candidates: list[dict[str, Any]], arrival: dict[str, Any], kind: str) -> list[str]:
    found = [
        f"candidate {c['kind']} {c['ref']} is below the threshold and not yet reviewed: review it before this "
        "draft is submitted"
        for c in candidates
        if c["decision"] == "not reviewed"
    ]
    if kind == "face" and arrival["quality_override"]:
        found.append(f"the photo passed the quality gate only by an officer's override ({arrival['quality_override']})")
    return found


def draft(
    store: Store,
    arrival_id: str,
    *,
    kind: str,
    purpose: str | None,
    officer: str,
    justification: str | None = None,
    fmt: str = "text",
    out: Path | None = None,
    image_out: Path | None = None,
    force: bool = False,
) -> drafts.DraftResult:
    """Build and store a PND person or facial search draft for one arrival; refused whole, storing
    nothing, when the purpose is missing or not a sentence or a file cannot be written (or is there
    already and `force` is not given)."""
    if kind not in KINDS:
        raise BadInput(f"--kind {kind!r}: choose person or face")
    purpose = drafts.check_text(purpose, "--purpose", "the policing purpose", MIN_PURPOSE_WORDS)
    justification = drafts.optional_text(justification, "--justification")
    if image_out and kind != "face":
        raise BadInput("--image-out goes with a facial search draft: add --kind face")
    drafts.check_outputs(fmt, out, image_out, home=store.home, force=force)
    arrival = arrivals.live(store, arrival_id)
    cands = drafts.reviewed_candidates(store, arrival_id)
    who, read = drafts.subject(store, arrival, cands)
    d = arrival["details"]
    if kind == "person" and not (
        d.get("surname") or d.get("given_names") or d.get("aliases") or d.get("document_number")
    ):
        raise BadInput(
            f"arrival {arrival_id} has no name, alias or document number to search by; "
            "draft a facial search with --kind face"
        )
    body = {
        "ref": None,
        "marking": drafts.MARKING,
        "training": bool(arrival["training"]),
        "kind": f"pnd-{kind}",
        "created_at": utcnow(),
        "requesting_officer": officer,
        "force_code": store.config.force_code,
        "site": arrival["site"],
        "arrival_id": arrival_id,
        "landed_at": arrival["landed_at"],
        "vessel": arrival["vessel"],
        "purpose": purpose,
        "justification": justification,
        "safeguarding": bool(arrival["safeguarding"]),
        "subject": who,
        "candidates": cands,
        "warnings": _warnings(cands, arrival, kind),
    }
    if kind == "face":
        body["search_image"] = _search_image_block(store, arrival)
    return drafts.save(
        store,
        body,
        FAMILY,
        officer=officer,
        action="pnd-draft",
        records=[f"arrival:{arrival_id}", *read],
        reason=purpose,
        fmt=fmt,
        out=out,
        image_out=image_out,
        force=force,
    )


def outcomes(store: Store, ref: str, draft: dict[str, Any]) -> None:
    """Add to a stored PND draft the outcomes recorded since it was drafted, oldest first."""
    store.check_indexes_once("draft_outcomes")  # an outcome left out of the index would not be shown
    draft["outcomes"] = [
        {k: o.get(k) for k in ("id", "result", "note", "officer", "at", "supersedes")}
        for o in store.rows("draft_outcomes", "ref = ?", [ref], order_by="id")
    ]


def record_outcome(store: Store, ref: str, *, result: str, note: str | None, officer: str) -> OutcomeRecorded:
    """What became of a PND draft. A later outcome supersedes the earlier one; both are kept."""
    typed, result = result, (result or "").strip().lower()  # `--result No-Trace` as `no-trace`, as refs are read
    if result not in RESULTS:
        raise BadInput(f"--result {typed!r}: choose one of {', '.join(RESULTS)}")
    note = drafts.optional_text(note, "--note", 1000)
    if result in NOTE_REQUIRED and not note:
        raise BadInput(f"--note is required with --result {result}: say {NOTE_REQUIRED[result]}")
    ref = drafts.stored_ref(store, ref)
    row = next(iter(store.db["drafts"].rows_where("ref = ?", [ref])), None)
    if row is None:
        raise NotFound(f"no draft {ref!r} in this home; see `triage pnd list`")
    if row["kind"] not in PND_KINDS:
        raise BadInput(f"{ref} is an intelligence report draft; outcomes are recorded for PND drafts")
    store.check_indexes_once("draft_outcomes")  # the outcome this one supersedes is found through an index
    with store.transaction():
        prior = store.db.execute("SELECT max(id) FROM draft_outcomes WHERE ref = ?", [ref]).fetchone()[0]
        at = utcnow()
        saved = store.insert(
            "draft_outcomes",
            {"ref": ref, "result": result, "officer": officer, "at": at, "supersedes": prior},
            {"note": note},
        )
        store.update("drafts", ref, {"outcome": result, "outcome_at": at})
        store.audit(
            "pnd-outcome",
            officer,
            arrival_id=row["arrival_id"],
            records=[f"draft:{ref}", f"outcome:{saved['id']}"],
            reason=f"{result}: {note}" if note else result,
        )
    return OutcomeRecorded(
        ref=ref,
        id=saved["id"],
        result=result,
        note=note,
        officer=officer,
        at=at,
        supersedes=prior,
        arrival_id=row["arrival_id"],
        arrival_void=drafts.voided_since(store, row["arrival_id"]) is not None,
    )


def render_text(draft: dict[str, Any]) -> str:
    """The plain-text form an authorised officer reads and copies from."""
    s = draft["subject"]
    lines = [
        *drafts.heading(
            draft, f"PND {'facial' if draft['kind'] == 'pnd-face' else 'person'} search draft {draft['ref']}"
        ),
        f"Requesting officer : {draft['requesting_officer']} (force {draft['force_code']})",
        f"Drafted            : {draft['created_at']}",
        f"Landing site       : {draft['site']}   vessel: {draft['vessel'] or 'not recorded'}",
        f"Arrival            : {draft['arrival_id']} landed {draft['landed_at']}",
        *drafts.void_lines(draft),
        drafts.safeguarding_line(draft),
        f"Policing purpose   : {draft['purpose']}",
    ]
    if draft.get("justification"):
        lines.append(f"Justification      : {draft['justification']}")
    lines += ["", *drafts.subject_lines(s)]
    if "search_image" in draft:
        im = draft["search_image"]
        lines += [
            "",
            "Search image",
            f"  Normalised portrait of {im['portrait_of']} (photo {im['photo_id']}), "
            f"{im['width_px']}x{im['height_px']} px {im['media_type']}",
            f"  SHA-256            : {im['sha256']} (of the image file, to check it is the one sent)",
            f"  Crop               : {im['crop']}; {im['portrait_inter_eye_px']} px between the eyes in the portrait",
            f"  Source photo       : {im['source_width_px']}x{im['source_height_px']} px, face box "
            f"{im['source_face_box']}, {im['inter_eye_px']} px between the eyes",
            f"  Quality            : {im['quality_score']}/100 ({im['quality_profile']})"
            + (f", passed by override: {im['quality_override']}" if im["quality_override"] else ""),
        ]
    lines += ["", *drafts.candidate_lines(draft["candidates"])]
    if draft.get("warnings"):
        lines += ["", "Check before submitting", *[f"  ! {w}" for w in draft["warnings"]]]
    if draft.get("outcomes"):
        lines += ["", "Outcomes recorded"]
        lines += [
            f"  {o['at']} {o['result']} by {o['officer']}" + (f" — {o['note']}" if o["note"] else "")
            for o in draft["outcomes"]
        ]
    lines += [
        "",
        drafts.marking(draft),
        "Check every field before submitting from an authorised terminal.",
        drafts.RULE,
    ]
    return "\n".join(lines) + "\n"


FAMILY = drafts.Family(prefix="PND", kinds=PND_KINDS, render_text=render_text, since=outcomes, image=search_image)
