"""What every stored draft shares, PND queries (`pnd.py`) and intelligence reports (`intel.py`) alike: a
unique reference, storage sealed in the `drafts` table with its audit event, listing, showing, writing a
copy to a file, and the subject, candidate and marking blocks of their text forms.

`triage` never transmits anything: a draft is stored, shown as text to copy from or as JSON, and its
later outcome can be recorded. Every draft states who asked, the arrival's safeguarding flag and the
reviewed candidates, and is marked DRAFT — NOT SUBMITTED. A draft is a snapshot: showing it later gives
what the officer saw when it was made, not the record as it is now. Storing a draft and writing its files
happen in one transaction: if a file cannot be written, nothing is stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pycountry

from triage.casework import arrivals
from triage.errors import BadInput, NotFound
from triage.files import check_output, write_files
from triage.intake import biographic, names
from triage.intake.biographic import Details
from triage.store.rows import Store, utcnow

MARKING = "DRAFT — NOT SUBMITTED"
FORMATS = ("text", "json")
ALIAS_FORMS = 6  # search forms kept per alias; the subject's own name gets more
RULE = "=" * 72

Renderer = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Family:
    """One family of drafts: the prefix of its references, the kinds it stores, its plain-text form, what
    is added from the store when one is shown again (a PND draft's outcomes), and the search image a
    draft of it can name."""

    prefix: str
    kinds: tuple[str, ...]
    render_text: Renderer
    since: Callable[[Store, str, dict[str, Any]], None] | None = None
    image: Callable[[Store, dict[str, Any]], tuple[int, bytes]] | None = None


@dataclass(frozen=True)
class DraftResult:
    """A draft stored or shown, and the files written from it. Its JSON form is the draft document exactly
    as stored; it reads as that document too (`result["ref"]`)."""

    draft: dict[str, Any]
    out: Path | None = None  # the draft, in the format asked for
    image_out: Path | None = None  # a facial search draft's search image

    @property
    def ref(self) -> str:
        return str(self.draft["ref"])

    @property
    def warnings(self) -> list[str]:
        """What the officer must check before submitting (a PND draft's; an intelligence report has none)."""
        return list(self.draft.get("warnings", []))

    def as_json(self) -> dict[str, Any]:
        return self.draft


@dataclass(frozen=True)
class DraftRow:
    """One draft in a listing, from the clear columns only: its contents stay sealed."""

    ref: str
    kind: str
    arrival_id: str
    officer: str
    created_at: str
    outcome: str | None
    outcome_at: str | None
    training: bool
    purged: bool
    arrival_void: bool = False  # the arrival was voided since the draft was made: it stands for no one

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DraftList:
    """Drafts newest first."""

    drafts: tuple[DraftRow, ...]

    def as_json(self) -> list[dict[str, Any]]:
        return [d.as_json() for d in self.drafts]


# -- who a draft is about, and the candidates behind it ------------------------------------------------


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
            found.append((d.full_name(), names.latin_variants(d.surname, d.given_names, ALIAS_FORMS)))
    return found + [(n, names.latin_part_variants(n, ALIAS_FORMS)) for n in aliases]


def _entry(
    store: Store,
    kind: str,
    ref: str,
    cand: dict[str, Any] | None,
    reviews: list[dict[str, Any]],
    latest: bool,
) -> dict[str, Any]:
    last = reviews[-1] if reviews else None
    category = (cand or {}).get("category")
    if kind == "watchlist" and category is None and store.db["subjects"].count_where("ref = ?", [ref]):
        category = store.get("subjects", ref, what="watchlist subject")["category"]
    return {
        "kind": kind,
        "ref": ref,
        "category": category,
        "distance": cand["distance"] if cand else None,
        "threshold": cand["threshold"] if cand else None,
        # the matcher's calibrated threshold now: where it differs, the search was given --threshold
        "calibrated_threshold": (
            arrivals.calibrated_threshold(store, cand.get("matcher")) if cand and cand["threshold"] else None
        ),
        "below_threshold": bool(cand["below_threshold"]) if cand else None,
        "decision": last["decision"] if last else "not reviewed",
        "decided_by": last["officer"] if last else None,
        "decided_at": last["at"] if last else None,
        "reason": last["reason"] if last else None,
        "in_latest_search": latest,
    }


def reviewed_candidates(store: Store, arrival_id: str) -> list[dict[str, Any]]:
    """Candidates a person has decided on, and those below the threshold still awaiting a decision.

    Decisions on candidates of earlier searches are included, so a confirmation is never dropped from a
    draft because a later search ranked that candidate out of its top k. A void arrival is left out, decided on
    or not, as the review queue and the day report leave it: its names are no one's aliases."""
    out, seen = [], set()
    void = arrivals.voided(store)
    for c in arrivals.candidates(store, arrival_id):
        seen.add((c["kind"], c["ref"]))
        if c["kind"] in arrivals.PAIR_KINDS and c["ref"] in void:
            continue
        if c["reviews"] or c["below_threshold"] or c["kind"] == "biographic":
            out.append(_entry(store, c["kind"], c["ref"], c, c["reviews"], True))
    earlier: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in store.rows("reviews", "arrival_id = ?", [arrival_id], order_by="id"):
        kinds = arrivals.decided_kinds(r["kind"])  # a decision on a pair shows under whichever kind found it
        if not any((k, r["ref"]) in seen for k in kinds):
            earlier.setdefault((r["kind"], r["ref"]), []).append(r)
    for (kind, ref), reviews in earlier.items():
        if kind in arrivals.PAIR_KINDS and ref in void:
            continue
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


def _document_name(d: Details) -> tuple[str, str] | None:
    """The name as the document's machine-readable zone gives it, when one was read."""
    zone = d.mrz or {}
    return (zone.get("surname") or "", zone.get("given_names") or "") if zone else None


def _country_name(code: str | None) -> str | None:
    country = pycountry.countries.get(alpha_3=code) if code else None
    return str(country.name) if country else None


def subject(
    store: Store, arrival: dict[str, Any], candidates: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """Who the draft is about, and the records read to say so (for the audit event): every candidate the draft
    shows, confirmed or not, so the event's clear records do not tell which were confirmed (decisions are sealed).

    Aliases come from the arrival and from every confirmed candidate: a watchlist subject's name and
    aliases, or the names an earlier arrival with the same face gave."""
    d = Details.from_dict(arrival["details"])
    age = d.age_range_on(dt.date.fromisoformat(arrival["landed_day"]))
    aliases = [
        {
            "name": a,
            "latin": names.usual(a) or biographic.latin(a),
            "search_forms": names.latin_part_variants(a, ALIAS_FORMS),
            "source": "given by the arrival",
        }
        for a in d.aliases
    ]
    read: list[str] = []
    named: set[str] = set()
    for c in candidates:
        record = f"{'subject' if c['kind'] == 'watchlist' else 'arrival'}:{c['ref']}"
        if record not in read:
            read.append(record)
        # An earlier arrival found by face and by name is one person: its names are listed once.
        if c["decision"] == "confirmed" and record not in named:
            named.add(record)
            aliases += [
                {
                    "name": n,
                    "latin": names.usual(n) or biographic.latin(n),
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
        "surname_latin": names.usual(d.surname),
        "given_names_latin": names.usual(d.given_names),
        "name_variants": names.latin_variants(d.surname, d.given_names, document=_document_name(d)),
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


# -- checking what an officer gives ------------------------------------------------------------------


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


def check_outputs(
    fmt: str, out: Path | None, image_out: Path | None = None, *, home: Path | None = None, force: bool = False
) -> None:
    """Refuse an unknown format or an unwritable file before anything is stored; with `home`, also a
    file that exists (unless `force`) or that lies inside the home."""
    if fmt not in FORMATS:
        raise BadInput(f"--format {fmt!r}: choose text or json")
    for flag, path in (("--out", out), ("--image-out", image_out)):
        if path is None:
            continue
        if path.is_dir():
            raise BadInput(f"{path} is a folder; give a file name")
        if not path.parent.is_dir():
            raise BadInput(f"{path}: the folder {path.parent} does not exist")
        if home is not None:
            check_output(path, home=home, force=force, flag=flag)


# -- storing, reading and writing drafts ---------------------------------------------------------------


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


def json_text(draft: dict[str, Any]) -> str:
    return json.dumps(draft, ensure_ascii=False, indent=2) + "\n"


def _outputs(
    store: Store,
    draft: dict[str, Any],
    family: Family,
    *,
    officer: str,
    fmt: str,
    out: Path | None,
    image_out: Path | None,
    force: bool,
) -> None:
    """Write the draft (and a facial search's image) to files, audited; the caller holds the transaction."""
    files = {}
    if out:
        files[out] = (family.render_text(draft) if fmt == "text" else json_text(draft)).encode("utf-8")
    if image_out:
        if family.image is None:
            raise BadInput("--image-out: a search image goes with a PND facial search draft")
        photo_id, files[image_out] = family.image(store, draft)
        store.audit(
            "search-image-out",
            officer,
            arrival_id=draft["arrival_id"],
            records=[f"draft:{draft['ref']}", f"photo:{photo_id}"],
            reason=f"written to {image_out}",
        )
    for flag, path in (("--out", out), ("--image-out", image_out)):
        if path is not None:
            check_output(path, home=store.home, force=force, flag=flag)
    write_files(files)


def save(
    store: Store,
    draft: dict[str, Any],
    family: Family,
    *,
    officer: str,
    action: str,
    records: list[str],
    reason: str | None,
    fmt: str = "text",
    out: Path | None = None,
    image_out: Path | None = None,
    force: bool = False,
) -> DraftResult:
    """Give the draft its reference, store it sealed with its audit event, and write any files asked for,
    in one transaction: if a file cannot be written (or is there already and `force` is not given),
    nothing is stored."""
    with store.transaction():
        draft["ref"] = new_ref(store, family.prefix)
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
        _outputs(store, draft, family, officer=officer, fmt=fmt, out=out, image_out=image_out, force=force)
    return DraftResult(draft, out, image_out)


def stored_ref(store: Store, ref: str) -> str:
    """A draft's ref as typed, as this home records it: `pnd-3fa29c-20261128-001` names `PND-3FA29C-20261128-001`,
    as arrival ids and crime-group refs are read in any case; a ref no draft has is left as typed (to be refused)."""
    ref = (ref or "").strip()
    if store.db.execute("SELECT 1 FROM drafts WHERE ref = ?", [ref]).fetchone():
        return ref
    folded = [str(r[0]) for r in store.db.execute("SELECT ref FROM drafts WHERE ref = ? COLLATE NOCASE", [ref])]
    return folded[0] if len(folded) == 1 else ref


def get_draft(store: Store, ref: str, family: Family) -> dict[str, Any]:
    """A stored draft of the family, with what the family adds from the store (a PND draft's outcomes), and
    the arrival's void if it was voided since (`arrival_void`). `ref` as stored (`stored_ref`)."""
    row = store.get("drafts", ref, what="draft")
    if row["kind"] not in family.kinds:
        command = "intel" if row["kind"] == "intel" else "pnd"
        raise BadInput(f"{ref} is a {row['kind']} draft; use `triage {command} show {ref}`")
    if "draft" not in row:
        raise NotFound(
            f"the contents of draft {ref} were removed under the retention policy"
            + (f" on {row['purged_at'][:10]}" if row.get("purged_at") else "")
        )
    draft: dict[str, Any] = row["draft"]
    voided = voided_since(store, draft["arrival_id"])
    if voided:
        draft["arrival_void"] = voided
    if family.since:
        family.since(store, ref, draft)
    return draft


def voided_since(store: Store, arrival_id: str) -> dict[str, Any] | None:
    """Who voided a draft's arrival, when and why, if it was voided after the draft was made (a void arrival
    is drafted about no more): the draft then stands for no one and must not be submitted."""
    row = arrivals.get(store, arrival_id)
    return dict(row["void"]) if arrivals.is_void(row) else None


def show(
    store: Store,
    ref: str,
    family: Family,
    *,
    officer: str,
    fmt: str = "text",
    out: Path | None = None,
    image_out: Path | None = None,
    force: bool = False,
) -> DraftResult:
    """A stored draft as it was drafted, audited, and written to the files asked for; an existing file is
    replaced only with `force`, and never one inside the home."""
    check_outputs(fmt, out, image_out)
    ref = stored_ref(store, ref)
    draft = get_draft(store, ref, family)
    with store.transaction():
        store.audit("draft-show", officer, arrival_id=draft["arrival_id"], records=[f"draft:{ref}"])
        _outputs(store, draft, family, officer=officer, fmt=fmt, out=out, image_out=image_out, force=force)
    return DraftResult(draft, out, image_out)


def list_drafts(
    store: Store, family: Family, *, officer: str, arrival_id: str | None = None, pending: bool = False
) -> DraftList:
    """Drafts of the family newest first, from the clear columns only: reference, kind, arrival, officer,
    time, outcome; and whether the arrival was voided since."""
    where = f"kind IN ({','.join('?' * len(family.kinds))})"
    params: list[str] = list(family.kinds)
    if arrival_id:
        where += " AND arrival_id = ?"
        params.append(arrival_id)
    if pending:
        where += " AND outcome IS NULL"
    void = arrivals.voided(store)
    rows = tuple(
        DraftRow(
            ref=r["ref"],
            kind=r["kind"],
            arrival_id=r["arrival_id"],
            officer=r["officer"],
            created_at=r["created_at"],
            outcome=r["outcome"],
            outcome_at=r["outcome_at"],
            training=bool(r["training"]),
            purged=bool(r.get("purged_at")),
            arrival_void=r["arrival_id"] in void,
        )
        for r in store.db["drafts"].rows_where(where, params, order_by="created_at desc, ref desc")
    )
    with store.transaction():
        store.audit("drafts-list", officer, arrival_id=arrival_id, records=[f"kind:{k}" for k in family.kinds])
    return DraftList(rows)


# -- the blocks every text form shares ----------------------------------------------------------------


def marking(record: dict[str, Any]) -> str:
    """The protective marking, TRAINING first for a training home's record."""
    return f"{'TRAINING — ' if record['training'] else ''}{record['marking']}"


def heading(record: dict[str, Any], title: str) -> list[str]:
    """The banner every plain-text draft opens with, so a printed page cannot be mistaken for another kind."""
    return [RULE, marking(record), title, RULE]


def void_lines(record: dict[str, Any]) -> list[str]:
    """The line saying the draft's arrival was voided after it was made, if it was (`get_draft`)."""
    v = record.get("arrival_void")
    if not v:
        return []
    return [
        f"VOID: arrival {record['arrival_id']} was voided by {v['officer']} at {v['at']} ({v['reason']}), "
        "after this draft was made: it stands for no one, do not submit it"
    ]


def safeguarding_line(record: dict[str, Any]) -> str:
    return "Safeguarding flag  : " + (
        "YES — safeguarding concern (possible child or exploitation)" if record["safeguarding"] else "no"
    )


def _span(pair: list[int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}-{pair[1]}"


def subject_lines(s: dict[str, Any]) -> list[str]:
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


def candidate_lines(candidates: list[dict[str, Any]]) -> list[str]:
    lines = ["Local candidates (for corroboration, not identification)"]
    if not candidates:
        lines.append("  none reviewed or awaiting review")
    for c in candidates:
        calibrated = c.get("calibrated_threshold")
        overridden = calibrated is not None and c["threshold"] is not None and abs(c["threshold"] - calibrated) > 1e-9
        where = (
            f"distance {c['distance']:.3f} (threshold {c['threshold']:.2f}"
            + (f", an override: calibrated {calibrated:.2f}" if overridden else "")
            + f", {'below' if c['below_threshold'] else 'above'})"
            if c["distance"] is not None
            else "name and date of birth agree: weaker evidence than a face"
            if c["kind"] == "biographic"
            else "distance not kept"
        )
        lines.append(
            f"  {c['kind']:<9} {c['ref']:<14} {where} — {c['decision']}"
            + (f" by {c['decided_by']} at {c['decided_at']}: {c['reason']}" if c["decided_by"] else "")
        )
    return lines
