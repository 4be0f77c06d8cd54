"""PND query drafts for an authorised officer to check and submit from an authorised terminal, and what
every stored draft shares (intelligence reports in `intel.py` included): a unique reference, storage
sealed in the `drafts` table, listing, showing, and writing a copy to a file.

`triage` never transmits anything: a draft is stored, shown as text to copy from or as JSON, and its
later outcome can be recorded. Every draft states its policing purpose, who asked, the arrival's
safeguarding flag and the reviewed candidates, and is marked DRAFT — NOT SUBMITTED. A draft is a
snapshot: showing it later gives what the officer saw when it was made, not the record as it is now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pycountry

from triage.casework import arrivals
from triage.errors import BadInput, IntegrityFailure, NotFound
from triage.faces import detection as faces
from triage.files import write_files
from triage.intake import biographic, names
from triage.intake.biographic import Details
from triage.store.rows import Store, utcnow

MARKING = "DRAFT — NOT SUBMITTED"
KINDS = ("person", "face")
PND_KINDS = ("pnd-person", "pnd-face")
FORMATS = ("text", "json")
RESULTS = ("submitted", "no-trace", "trace", "declined")
NOTE_REQUIRED = {"trace": "what was found and its PND reference", "declined": "why the search was not made"}
MIN_PURPOSE_WORDS = 5
ALIAS_FORMS = 6  # search forms kept per alias; the subject's own name gets more


# -- what every draft shares ---------------------------------------------------------------------------


def _names_of(store: Store, kind: str, ref: str) -> list[tuple[str, list[str]]]:
    """The name and aliases recorded for a watchlist subject or an earlier arrival, each with the forms
    worth searching it by."""
    found: list[tuple[str, list[str]]] = []
    if kind == "watchlist":
        s = store.get("subjects", ref, what="watchlist subject")
        aliases = [n for n in [s.get("name"), *(s.get("aliases") or [])] if n]
    else:
        d = Details.from_dict(store.get("arrivals", ref, what="arrival")["details"])
        aliases = list(d.aliases)
        if d.surname or d.given_names:
            found.append((d.full_name(), names.name_variants(d.surname, d.given_names, ALIAS_FORMS)))
    return found + [(n, names.part_forms(n)[0][:ALIAS_FORMS]) for n in aliases]


def _entry(store: Store, kind: str, ref: str, cand: dict | None, reviews: list[dict], latest: bool) -> dict:
    last = reviews[-1] if reviews else None
    category = (cand or {}).get("category")
    if kind == "watchlist" and category is None and store.db["subjects"].count_where("ref = ?", [ref]):
        category = store.db["subjects"].get(ref)["category"]
    return {
        "kind": kind,
        "ref": ref,
        "category": category,
        "distance": cand["distance"] if cand else None,
        "threshold": cand["threshold"] if cand else None,
        "below_threshold": bool(cand["below_threshold"]) if cand else None,
        "decision": last["decision"] if last else "not reviewed",
        "decided_by": last["officer"] if last else None,
        "decided_at": last["at"] if last else None,
        "reason": last["reason"] if last else None,
        "in_latest_search": latest,
    }


def reviewed_candidates(store: Store, arrival_id: str) -> list[dict]:
    """Candidates a person has decided on, and those below the threshold still awaiting a decision.

    Decisions on candidates of earlier searches are included, so a confirmation is never dropped from a
    draft because a later search ranked that candidate out of its top k."""
    out, seen = [], set()
    for c in arrivals.candidates(store, arrival_id):
        seen.add((c["kind"], c["ref"]))
        if c["reviews"] or c["below_threshold"]:
            out.append(_entry(store, c["kind"], c["ref"], c, c["reviews"], True))
    earlier: dict[tuple[str, str], list[dict]] = {}
    for r in store.rows("reviews", "arrival_id = ?", [arrival_id], order_by="id"):
        if (r["kind"], r["ref"]) not in seen:
            earlier.setdefault((r["kind"], r["ref"]), []).append(r)
    for (kind, ref), reviews in earlier.items():
        cand = next(
            iter(
                store.db["candidates"].rows_where(
                    "arrival_id = ? AND kind = ? AND ref = ?", [arrival_id, kind, ref], order_by="id desc", limit=1
                )
            ),
            None,
        )
        out.append(_entry(store, kind, ref, cand, reviews, False))
    return out


def _country_name(code: str | None) -> str | None:
    country = pycountry.countries.get(alpha_3=code) if code else None
    return country.name if country else None


def subject(store: Store, arrival: dict, candidates: list[dict]) -> tuple[dict, list[str]]:
    """Who the draft is about, and the records read to say so (for the audit event).

    Aliases come from the arrival and from every confirmed candidate: a watchlist subject's name and
    aliases, or the names an earlier arrival with the same face gave."""
    d = Details.from_dict(arrival["details"])
    age = d.age_range_on(dt.date.fromisoformat(arrival["landed_day"]))
    aliases = [
        {
            "name": a,
            "latin": biographic.latin(a),
            "search_forms": names.part_forms(a)[0][:ALIAS_FORMS],
            "source": "given by the arrival",
        }
        for a in d.aliases
    ]
    read = []
    for c in candidates:
        if c["decision"] == "confirmed":
            read.append(f"{'subject' if c['kind'] == 'watchlist' else 'arrival'}:{c['ref']}")
            aliases += [
                {
                    "name": n,
                    "latin": biographic.latin(n),
                    "search_forms": forms,
                    "source": f"confirmed {c['kind']} candidate {c['ref']}",
                }
                for n, forms in _names_of(store, c["kind"], c["ref"])
            ]
    document = {
        "type": d.document_type,
        "number": d.document_number,
        "state": d.document_state,
        "expiry": str(d.document_expiry) if d.document_expiry else None,
    }
    return {
        "name_as_given": d.full_name(),
        "surname": d.surname,
        "given_names": d.given_names,
        "surname_latin": biographic.latin(d.surname) if d.surname else None,
        "given_names_latin": biographic.latin(d.given_names) if d.given_names else None,
        "name_variants": names.name_variants(d.surname, d.given_names),
        "dob": str(d.dob) if d.dob else None,
        "dob_range": [d.dob.earliest().isoformat(), d.dob.latest().isoformat()] if d.dob else None,
        "age_range": list(age) if age else None,
        "sex": d.sex,
        "nationality": d.nationality,
        "nationality_name": _country_name(d.nationality),
        "place_of_birth": d.place_of_birth,
        "document": document if any(document.values()) else None,
        "aliases": aliases,
    }, read


def check_text(text: str | None, flag: str, what: str, min_words: int, max_len: int = 1000) -> str:
    """Free text an officer must give in a sentence, such as a policing purpose."""
    text = biographic.clean_text(text or "", flag, max_len)
    if not text:
        raise BadInput(f"{flag} is required: state {what} in a sentence")
    if len(text.split()) < min_words:
        raise BadInput(f"{flag} is too short: state {what} in a sentence of at least {min_words} words")
    return text


def optional_text(text: str | None, flag: str, max_len: int = 2000) -> str | None:
    """Free text that may be left out; blank counts as not given."""
    return biographic.clean_text(text or "", flag, max_len) or None


def new_ref(store: Store, prefix: str) -> str:
    """PREFIX-DEVICE-YYYYMMDD-NNN: the device keeps references unique when laptops' batches are merged.
    Called inside the transaction that stores the draft, so two drafts cannot take the same number."""
    day = arrivals.local_day(utcnow(), store.config.timezone).replace("-", "")
    stem = f"{prefix}-{store.config.device}-{day}-"
    n = store.db.execute(
        "SELECT coalesce(max(CAST(substr(ref, ?) AS INTEGER)), 0) + 1 FROM drafts WHERE ref LIKE ?",
        [len(stem) + 1, stem + "%"],
    ).fetchone()[0]
    return f"{stem}{n:03d}"


def check_outputs(fmt: str, *paths: Path | None) -> None:
    """Refuse an unknown format or an unwritable file before anything is stored."""
    if fmt not in FORMATS:
        raise BadInput(f"--format {fmt!r}: choose text or json")
    for path in paths:
        if path is None:
            continue
        if path.is_dir():
            raise BadInput(f"{path} is a folder; give a file name")
        if not path.parent.is_dir():
            raise BadInput(f"{path}: the folder {path.parent} does not exist")


def as_json(draft: dict) -> str:
    return json.dumps(draft, ensure_ascii=False, indent=2) + "\n"


Renderer = Callable[[dict], str]


def _outputs(
    store: Store,
    draft: dict,
    *,
    officer: str,
    fmt: str,
    render_text: Renderer,
    out: Path | None,
    image_out: Path | None,
) -> None:
    """Write the draft (and a facial search's image) to files, audited; the caller holds the transaction."""
    files = {}
    if out:
        files[out] = (render_text(draft) if fmt == "text" else as_json(draft)).encode("utf-8")
    if image_out:
        photo_id, files[image_out] = search_image(store, draft)
        store.audit(
            "search-image-out",
            officer,
            arrival_id=draft["arrival_id"],
            records=[f"draft:{draft['ref']}", f"photo:{photo_id}"],
            reason=f"written to {image_out}",
        )
    write_files(files)


def save(
    store: Store,
    draft: dict,
    *,
    prefix: str,
    officer: str,
    action: str,
    records: list[str],
    reason: str | None,
    fmt: str = "text",
    render_text: Renderer,
    out: Path | None = None,
    image_out: Path | None = None,
) -> dict:
    """Give the draft its reference, store it sealed with its audit event, and write any files asked for,
    in one transaction: if a file cannot be written, nothing is stored."""
    with store.transaction():
        draft["ref"] = new_ref(store, prefix)
        store.insert(
            "drafts",
            {
                "ref": draft["ref"],
                "kind": draft["kind"],
                "arrival_id": draft["arrival_id"],
                "officer": officer,
                "created_at": draft["created_at"],
                "training": int(draft["training"]),
            },
            {"draft": draft},
        )
        store.audit(
            action, officer, arrival_id=draft["arrival_id"], records=[f"draft:{draft['ref']}", *records], reason=reason
        )
        _outputs(store, draft, officer=officer, fmt=fmt, render_text=render_text, out=out, image_out=image_out)
    return draft


def get_draft(store: Store, ref: str, kinds: tuple[str, ...]) -> dict:
    """A stored draft; a PND draft with the outcomes recorded since, oldest first."""
    row = store.get("drafts", ref, what="draft")
    if row["kind"] not in kinds:
        command = "intel" if row["kind"] == "intel" else "pnd"
        raise BadInput(f"{ref} is a {row['kind']} draft; use `triage {command} show {ref}`")
    if "draft" not in row:
        raise NotFound(
            f"the contents of draft {ref} were removed under the retention policy"
            + (f" on {row['purged_at'][:10]}" if row.get("purged_at") else "")
        )
    draft = row["draft"]
    if row["kind"] in PND_KINDS:
        draft["outcomes"] = [
            {k: o.get(k) for k in ("id", "result", "note", "officer", "at", "supersedes")}
            for o in store.rows("draft_outcomes", "ref = ?", [ref], order_by="id")
        ]
    return draft


def show(
    store: Store,
    ref: str,
    *,
    officer: str,
    kinds: tuple[str, ...],
    render_text: Renderer,
    fmt: str = "text",
    out: Path | None = None,
    image_out: Path | None = None,
) -> dict:
    check_outputs(fmt, out, image_out)
    draft = get_draft(store, ref, kinds)
    with store.transaction():
        store.audit("draft-show", officer, arrival_id=draft["arrival_id"], records=[f"draft:{ref}"])
        _outputs(store, draft, officer=officer, fmt=fmt, render_text=render_text, out=out, image_out=image_out)
    return draft


def list_drafts(
    store: Store, *, officer: str, kinds: tuple[str, ...], arrival_id: str | None = None, pending: bool = False
) -> list[dict]:
    """Drafts newest first, from the clear columns only: reference, kind, arrival, officer, time, outcome."""
    where = f"kind IN ({','.join('?' * len(kinds))})"
    params: list = list(kinds)
    if arrival_id:
        where += " AND arrival_id = ?"
        params.append(arrival_id)
    if pending:
        where += " AND outcome IS NULL"
    rows = [
        {
            "ref": r["ref"],
            "kind": r["kind"],
            "arrival_id": r["arrival_id"],
            "officer": r["officer"],
            "created_at": r["created_at"],
            "outcome": r["outcome"],
            "outcome_at": r["outcome_at"],
            "training": bool(r["training"]),
            "purged": bool(r.get("purged_at")),
        }
        for r in store.db["drafts"].rows_where(where, params, order_by="created_at desc, ref desc")
    ]
    with store.transaction():
        store.audit("drafts-list", officer, arrival_id=arrival_id, records=[f"kind:{k}" for k in kinds])
    return rows


def search_image(store: Store, draft: dict) -> tuple[int, bytes]:
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


def _search_image_block(store: Store, arrival: dict) -> dict:
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


def _warnings(candidates: list[dict], arrival: dict, kind: str) -> list[str]:
    found = [
        f"candidate {c['kind']} {c['ref']} is below the threshold and not yet reviewed: review it before this "
        "draft is submitted"
        for c in candidates
        if c["decision"] == "not reviewed"
    ]
    if kind == "face" and arrival["quality_override"]:
        found.append(f"the photo passed the quality gate only by an officer's override ({arrival['quality_override']})")
    return found


def pnd_draft(
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
) -> dict:
    """Build and store a PND person or facial search draft for one arrival; refused whole, storing
    nothing, when the purpose is missing or not a sentence or a file cannot be written."""
    if kind not in KINDS:
        raise BadInput(f"--kind {kind!r}: choose person or face")
    purpose = check_text(purpose, "--purpose", "the policing purpose", MIN_PURPOSE_WORDS)
    justification = optional_text(justification, "--justification")
    check_outputs(fmt, out, image_out)
    if image_out and kind != "face":
        raise BadInput("--image-out goes with a facial search draft: add --kind face")
    arrival = arrivals.get(store, arrival_id)
    cands = reviewed_candidates(store, arrival_id)
    who, read = subject(store, arrival, cands)
    d = arrival["details"]
    if kind == "person" and not (
        d.get("surname") or d.get("given_names") or d.get("aliases") or d.get("document_number")
    ):
        raise BadInput(
            f"arrival {arrival_id} has no name, alias or document number to search by; "
            "draft a facial search with --kind face"
        )
    draft = {
        "ref": None,
        "marking": MARKING,
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
        draft["search_image"] = _search_image_block(store, arrival)
    return save(
        store,
        draft,
        prefix="PND",
        officer=officer,
        action="pnd-draft",
        records=[f"arrival:{arrival_id}", *read],
        reason=purpose,
        fmt=fmt,
        render_text=render_text,
        out=out,
        image_out=image_out,
    )


def record_outcome(store: Store, ref: str, *, result: str, note: str | None, officer: str) -> dict:
    """What became of a PND draft. A later outcome supersedes the earlier one; both are kept."""
    if result not in RESULTS:
        raise BadInput(f"--result {result!r}: choose one of {', '.join(RESULTS)}")
    note = optional_text(note, "--note", 1000)
    if result in NOTE_REQUIRED and not note:
        raise BadInput(f"--note is required with --result {result}: say {NOTE_REQUIRED[result]}")
    row = next(iter(store.db["drafts"].rows_where("ref = ?", [ref])), None)
    if row is None:
        raise NotFound(f"no draft {ref!r} in this home; see `triage pnd list`")
    if row["kind"] not in PND_KINDS:
        raise BadInput(f"{ref} is an intelligence report draft; outcomes are recorded for PND drafts")
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
    return {
        "ref": ref,
        "id": saved["id"],
        "result": result,
        "note": note,
        "officer": officer,
        "at": at,
        "supersedes": prior,
    }


RULE = "=" * 72


def marking(record: dict) -> str:
    """The protective marking, TRAINING first for a training home's record."""
    return f"{'TRAINING — ' if record['training'] else ''}{record['marking']}"


def heading(record: dict, title: str) -> list[str]:
    """The banner every plain-text draft opens with, so a printed page cannot be mistaken for another kind."""
    return [RULE, marking(record), title, RULE]


def safeguarding_line(record: dict) -> str:
    return "Safeguarding flag  : " + (
        "YES — safeguarding concern (possible child or exploitation)" if record["safeguarding"] else "no"
    )


def render_text(draft: dict) -> str:
    """The plain-text form an authorised officer reads and copies from."""
    s = draft["subject"]
    lines = [
        *heading(draft, f"PND {'facial' if draft['kind'] == 'pnd-face' else 'person'} search draft {draft['ref']}"),
        f"Requesting officer : {draft['requesting_officer']} (force {draft['force_code']})",
        f"Drafted            : {draft['created_at']}",
        f"Landing site       : {draft['site']}   vessel: {draft['vessel'] or 'not recorded'}",
        f"Arrival            : {draft['arrival_id']} landed {draft['landed_at']}",
        safeguarding_line(draft),
        f"Policing purpose   : {draft['purpose']}",
    ]
    if draft.get("justification"):
        lines.append(f"Justification      : {draft['justification']}")
    lines += ["", *subject_lines(s)]
    if "search_image" in draft:
        im = draft["search_image"]
        lines += [
            "",
            "Search image",
            f"  Normalised portrait of {im['portrait_of']} (photo {im['photo_id']}), "
            f"{im['width_px']}x{im['height_px']} px {im['media_type']}, sha256 {im['sha256'][:16]}...",
            f"  Crop               : {im['crop']}; {im['portrait_inter_eye_px']} px between the eyes in the portrait",
            f"  Source photo       : {im['source_width_px']}x{im['source_height_px']} px, face box "
            f"{im['source_face_box']}, {im['inter_eye_px']} px between the eyes",
            f"  Quality            : {im['quality_score']}/100 ({im['quality_profile']})"
            + (f", passed by override: {im['quality_override']}" if im["quality_override"] else ""),
        ]
    lines += ["", *candidate_lines(draft["candidates"])]
    if draft.get("warnings"):
        lines += ["", "Check before submitting", *[f"  ! {w}" for w in draft["warnings"]]]
    if draft.get("outcomes"):
        lines += ["", "Outcomes recorded"]
        lines += [
            f"  {o['at']} {o['result']} by {o['officer']}" + (f" — {o['note']}" if o["note"] else "")
            for o in draft["outcomes"]
        ]
    lines += ["", marking(draft), "Check every field before submitting from an authorised terminal.", RULE]
    return "\n".join(lines) + "\n"


def _span(pair: list[int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}-{pair[1]}"


def subject_lines(s: dict) -> list[str]:
    """The subject block of a draft's text form (PND and intelligence drafts alike)."""
    dob = s["dob"] or "not given"
    if s["dob_range"] and s["dob_range"][0] != s["dob_range"][1]:
        dob += f" (search {s['dob_range'][0]} to {s['dob_range'][1]})"
    nationality = s["nationality"] or "not given"
    if s["nationality_name"]:
        nationality += f" ({s['nationality_name']})"
    lines = [
        "Subject",
        f"  Name as given      : {s['name_as_given']}",
        f"  Latin form         : {', '.join(p for p in (s['surname_latin'], s['given_names_latin']) if p) or 'none'}",
        "  Names to search    : " + ("; ".join(s["name_variants"]) or "none given"),
        f"  Date of birth      : {dob}" + (f"   age on landing: {_span(s['age_range'])}" if s["age_range"] else ""),
        f"  Sex                : {s['sex'] or 'not given'}   nationality: {nationality}",
    ]
    if s["place_of_birth"]:
        lines.append(f"  Place of birth     : {s['place_of_birth']}")
    if s["document"]:
        doc = s["document"]
        lines.append(
            "  Document           : "
            + " ".join(str(v) for v in (doc["type"], doc["number"], doc["state"]) if v)
            + (f", expires {doc['expiry']}" if doc["expiry"] else "")
        )
    lines.append("  Aliases            :" + ("" if s["aliases"] else " none"))
    lines += [
        f"    {a['name']} ({a['source']}): search {'; '.join(a['search_forms']) or a['latin']}" for a in s["aliases"]
    ]
    return lines


def candidate_lines(candidates: list[dict]) -> list[str]:
    lines = ["Local candidates (for corroboration, not identification)"]
    if not candidates:
        lines.append("  none reviewed or awaiting review")
    for c in candidates:
        where = (
            f"distance {c['distance']:.3f} (threshold {c['threshold']:.2f}, "
            f"{'below' if c['below_threshold'] else 'above'})"
            if c["distance"] is not None
            else "distance not kept"
        )
        lines.append(
            f"  {c['kind']:<9} {c['ref']:<14} {where} — {c['decision']}"
            + (f" by {c['decided_by']} at {c['decided_at']}: {c['reason']}" if c["decided_by"] else "")
        )
    return lines
