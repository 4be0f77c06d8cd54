"""Governed watchlist enrolment: every subject has a category, a reason, an authorising officer, an
image source and a review date. Past its review date a subject is not searched. Under-18s are enrolled
only as missing or vulnerable persons. Removal deletes the biometrics and leaves a tombstone.

Enrolment checks the governance record before any photo is analysed, so a bad row costs no face work,
and lands each subject (record, photos, templates, audit event) in one transaction. An import lands row
by row: a long import never holds the store's write lock for minutes, an interrupted one keeps what
landed, and running it again enrols only the rows that are not yet on the watchlist.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from triage import workers
from triage.errors import HOME_ERRORS, BadInput, Conflict, Faults, NotFound, TriageError
from triage.faces import analysis, ann, matchers, matching
from triage.faces import detection as faces
from triage.faces.encoders import DLIB_ONLY, Pipeline
from triage.faces.matching import Gallery
from triage.intake import biographic, csvtext
from triage.intake.photos import Photo, decode, read_file, to_jpeg
from triage.store.rows import Store, utcnow

CATEGORIES = ("facilitator", "wanted", "missing", "vulnerable", "other")
SAFEGUARDING_CATEGORIES = ("missing", "vulnerable")
REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")
# The columns of `triage watchlist import`; headers match without regard to case, '-', '_' or spaces.
IMPORT_COLUMNS = {
    "ref": "watchlist reference, e.g. WL-0012 (required; a ref already enrolled is skipped)",
    "name": "name, in any script (required)",
    "category": f"{', '.join(CATEGORIES)} (required)",
    "reason": "why the person is on the watchlist, in a sentence (required)",
    "authorised_by": "the authorising officer (required)",
    "review_date": "YYYY-MM-DD, in the future; after it the entry is not searched (required)",
    "photos": "photo files in the photos folder, separated by ';' (required)",
    "image_source": "where the photos come from",
    "aliases": "other names used, separated by ';'",
    "dob": "date of birth if known: YYYY, YYYY-MM or YYYY-MM-DD",
}
REQUIRED_COLUMNS = ("ref", "name", "category", "reason", "authorised_by", "review_date", "photos")
MAX_IMPORT_BYTES = 10 * 1024 * 1024
PHOTO_TIMEOUT = 120.0  # seconds one subject's photos may take in a worker


@dataclass
class Entry:
    """A governance record that passed every check, ready to enrol."""

    ref: str
    name: str
    category: str
    reason: str
    authorised_by: str
    review_date: dt.date
    image_source: str
    aliases: list[str]
    dob: str | None


# A subject as a person and a watchlist package see it: who, why, on whose authority and until when.
SUBJECT_FIELDS = (
    "ref",
    "name",
    "aliases",
    "dob",
    "category",
    "reason",
    "authorised_by",
    "image_source",
    "added_at",
    "review_date",
)


def _option(flag: str) -> str:
    """A field named as the command line gives it."""
    return flag


def _as_column(flag: str) -> str:
    """A field named as an import file's header gives it (`--review-date` is its review_date column)."""
    name = flag.removeprefix("--").replace("-", "_")
    return f"column {'aliases' if name == 'alias' else name}"


def _category(category: str, named: Callable[[str], str] = _option) -> str:
    """A category in any case and without stray spaces (`Wanted` from a spreadsheet), kept as it is known."""
    known = category.strip().lower()
    if known not in CATEGORIES:
        raise BadInput(f"{named('--category')} {category!r}: choose one of {', '.join(CATEGORIES)}")
    return known


def _inclusion_reason(reason: str | None, named: Callable[[str], str] = _option) -> str:
    reason = biographic.clean_text(reason or "", named("--reason"), 1000)
    if len(reason.split()) < 3:
        raise BadInput(
            f"{named('--reason')} must say why this person is on the watchlist (a sentence of three words or more)"
        )
    return reason


def _review_date(text: str, today: dt.date, named: Callable[[str], str] = _option) -> dt.date:
    review = biographic.parse_full_date(text, named("--review-date"))
    if review <= today:
        raise BadInput(
            f"{named('--review-date')} {review} is not in the future: an entry past its review date is not searched"
        )
    return review


def _check_age(ref: str, dob: str | None, category: str, today: dt.date) -> None:
    birth = biographic.parse_date(dob, "--dob") if dob else None
    if birth and birth.age_range_on(today)[0] < 18 and category not in SAFEGUARDING_CATEGORIES:
        raise BadInput(
            f"{ref}: a person who may be under 18 can be enrolled only as "
            f"{' or '.join(SAFEGUARDING_CATEGORIES)}, not as {category}"
        )


def _aliases(
    aliases: Sequence[str], named: Callable[[str], str] = _option, names: Callable[..., str] = biographic.name_text
) -> list[str]:
    return [names(a, named("--alias")) for a in aliases if a and a.strip()]


def check_entry(
    *,
    ref: str,
    name: str,
    category: str,
    reason: str,
    authorised_by: str,
    review_date: str,
    image_source: str = "not stated",
    aliases=(),
    dob: str | None = None,
    today: dt.date | None = None,
    named: Callable[[str], str] = _option,
    names: Callable[..., str] = biographic.name_text,
) -> Entry:
    """Every governance check, before any photo is looked at; raises one BadInput naming every problem found, so
    the entry is corrected in one go. `named` says a field as the officer gave it: an option, or an import
    file's column. `names` checks the name and aliases: as typed here (`name_text`), or as an issuer's package
    holds them (`clean_text`: an issuer of an earlier version may have enrolled a name with a sign in it)."""
    today = today or dt.date.today()
    faults = Faults()
    if not REF_PATTERN.match(ref or ""):
        faults.found.append(f"{named('--ref')} {ref!r}: use 1-40 letters, digits, '.', '_', '/' or '-'")
    ref = (ref or "").upper()  # `wl-0005` and `WL-0005` are one entry, written in capitals as issuers write them
    cleaned = faults.check(names, name or "", named("--name"))
    if cleaned == "":  # None: refused above, and said why
        faults.found.append(f"{named('--name')} is required for a watchlist subject")
    authorised = faults.check(biographic.clean_text, authorised_by or "", named("--authorised-by"))
    if authorised == "":
        faults.found.append(f"{named('--authorised-by')} is required: the officer who authorised this entry")
    checked_category = faults.check(_category, category, named)
    birth_date = faults.check(biographic.parse_date, dob, named("--dob")) if dob else None
    birth = str(birth_date) if birth_date else None
    if checked_category is not None:
        faults.check(_check_age, ref, birth, checked_category, today)
    why = faults.check(_inclusion_reason, reason, named)
    review = faults.check(_review_date, review_date, today, named)
    source = faults.check(biographic.clean_text, image_source or "not stated", named("--image-source"))
    also = faults.check(_aliases, aliases, named, names)
    faults.raise_any()
    assert checked_category and why and review and authorised and source is not None and also is not None
    return Entry(ref, str(cleaned), checked_category, why, authorised, review, source, also, birth)


def _exists(store: Store, ref: str) -> dict | None:
    """The subject a ref names, however its letters were cased (one recorded before refs were kept in capitals
    may be in small letters)."""
    exact = next(iter(store.db["subjects"].rows_where("ref = ?", [ref])), None)
    if exact:
        return exact
    folded = list(store.db["subjects"].rows_where("ref = ? COLLATE NOCASE", [ref]))
    if len(folded) > 1:  # two entries a ref in small and capital letters (one issued before refs were in capitals)
        raise BadInput(
            f"{ref!r} names {' and '.join(r['ref'] for r in folded)}: give the ref exactly as `triage watchlist "
            "list` shows it"
        )
    return folded[0] if folded else None


def stored_ref(store: Store, ref: str) -> str:
    """A ref as typed, as this home records it: `wl-0005` names `WL-0005` (and an entry recorded in small letters
    before refs were kept in capitals is named by either). Returned as given when no subject has it."""
    row = _exists(store, (ref or "").strip())
    return str(row["ref"]) if row else ref


def subject_record(entry: Entry, *, added_at: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A subject's row: what stays in clear (to find, order and review it) and what is sealed."""
    secret = {
        "name": entry.name,
        "name_latin": biographic.latin(entry.name),
        "aliases": entry.aliases,
        "aliases_latin": [biographic.latin(a) for a in entry.aliases],
        "dob": entry.dob,
        "reason": entry.reason,
        "category": entry.category,
    }
    clear = {
        "ref": entry.ref,
        "added_at": added_at or utcnow(),
        "review_date": entry.review_date.isoformat(),
        "authorised_by": entry.authorised_by,
        "image_source": entry.image_source,
        "status": "active",
    }
    return clear, secret


def enrol(
    store: Store, entry: Entry, results: list[analysis.Analysis], *, officer: str, override_reason: str | None = None
) -> dict:
    """Land a checked entry and its analysed photos: record, photos, templates and audit event, all or nothing."""
    if not results:
        raise BadInput("at least one photo is needed to enrol a subject")
    clear, secret = subject_record(entry)
    with store.transaction():
        if found := _exists(store, entry.ref):
            raise Conflict(
                f"watchlist subject {found['ref']} already exists; use `triage watchlist update` or another --ref"
            )
        store.insert("subjects", clear, secret)
        photo_ids = []
        for res in results:
            photo_ids.append(
                store.put_photo(
                    "subject",
                    entry.ref,
                    "original",
                    res.photo.original,
                    res.photo.media_type,
                    res.photo.width,
                    res.photo.height,
                )
            )
            store.put_photo(
                "subject", entry.ref, "portrait", to_jpeg(res.portrait), "image/jpeg", *res.portrait.shape[1::-1]
            )
        for model_id in results[0].vectors:  # every model the home uses, each photo's template under each
            store.put_templates(
                "subject",
                model_id,
                [entry.ref] * len(results),
                np.stack([r.vectors[model_id] for r in results]),
                photo_ids,
            )
        store.audit(
            "watchlist-add",
            officer,
            records=[f"subject:{entry.ref}"] + [f"photo:{p}" for p in photo_ids],
            reason=f"{entry.category}; authorised by {entry.authorised_by}"
            + (f"; quality override: {override_reason}" if override_reason else ""),
        )
    return {
        "ref": entry.ref,
        "category": entry.category,
        "review_date": entry.review_date.isoformat(),
        "photos": len(results),
        "quality": [r.quality.to_dict() for r in results],
        "warnings": [w for r in results for w in r.warnings],
    }


def add_subject(
    store: Store,
    *,
    ref: str,
    name: str,
    category: str,
    reason: str,
    authorised_by: str,
    review_date: str,
    photos: list[Photo],
    officer: str,
    image_source: str = "not stated",
    aliases: Sequence[str] = (),
    dob: str | None = None,
    override_reason: str | None = None,
    today: dt.date | None = None,
    face_index: int | None = None,
) -> dict:
    """Enrol one subject with one or more photos through the `enrol` quality profile, all or nothing; in a photo
    of several people, `face_index` says which face is the subject's (1 = largest)."""
    entry = check_entry(
        ref=ref,
        name=name,
        category=category,
        reason=reason,
        authorised_by=authorised_by,
        review_date=review_date,
        image_source=image_source,
        aliases=aliases,
        dob=dob,
        today=today,
    )
    if not photos:
        raise BadInput("at least one photo is needed to enrol a subject")
    if found := _exists(store, entry.ref):
        raise Conflict(
            f"watchlist subject {found['ref']} already exists; use `triage watchlist update` or another --ref"
        )
    pipeline = matchers.pipeline_for(store)
    results = [
        analysis.analyse(p, "enrol", face_index=face_index, override_reason=override_reason, pipeline=pipeline)
        for p in photos
    ]
    return enrol(store, entry, results, officer=officer, override_reason=override_reason)


# -- import ------------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    enrolled: list[dict] = field(default_factory=list)
    already_enrolled: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)  # row, ref, reason: what to fix

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "rows": self.rows,
            "enrolled": self.enrolled,
            "already_enrolled": self.already_enrolled,
            "refused": sorted(self.refused, key=lambda r: r["row"]),
        }


def _column(header: str) -> str:
    return "_".join(header.strip().lower().replace("-", " ").replace("_", " ").split())


def read_import(path: Path) -> list[tuple[int, dict]]:
    """(row number, fields) of each non-blank row; a header this tool does not know refuses the file,
    since a misspelt column would otherwise be ignored on every row."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such CSV file")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise BadInput(f"{path}: over {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split the file")
    records = csvtext.records(path)
    numbered = [(n, r) for n, r in enumerate(records, 1) if any(cell.strip() for cell in r)]
    if not numbered:
        raise BadInput(f"{path}: the file is empty; its first line names the columns ({', '.join(REQUIRED_COLUMNS)})")
    header = [_column(h) for h in numbered[0][1]]
    unknown = [h for h in header if h not in IMPORT_COLUMNS]
    if unknown:
        raise BadInput(
            f"{path}: unknown column {unknown[0]!r}; the columns are {', '.join(IMPORT_COLUMNS)}",
            hint=csvtext.separator_hint(numbered[0][1], "a watchlist import file"),
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing or len(set(header)) < len(header):
        raise BadInput(f"{path}: " + (f"no {missing[0]} column" if missing else "a column appears twice in the header"))
    start = numbered[0][0]  # row 1 is the first line after the header; blank lines are skipped but counted
    return [
        (n - start, {h: cells[i].strip() if i < len(cells) else "" for i, h in enumerate(header)})
        for n, cells in numbered[1:]
    ]


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(";") if part.strip()]


def analyse_enrol_photos(
    files: list[tuple[bytes, str]], override_reason: str | None, pipeline: Pipeline = DLIB_ONLY
) -> list[analysis.Analysis]:
    """A worker's job: one subject's photos through the `enrol` profile."""
    return [
        analysis.analyse(decode(data, source), "enrol", override_reason=override_reason, pipeline=pipeline)
        for data, source in files
    ]


def _in_process(jobs: Iterator[tuple[object, tuple]]) -> Iterator[workers.Outcome]:
    """The jobs run here, one after another: for `--workers 1`, without starting a process."""
    for key, args in jobs:
        try:
            yield workers.Outcome(key, analyse_enrol_photos(*args))
        except TriageError as e:
            yield workers.Outcome(key, error=e)


def import_csv(
    store: Store,
    csv_path: Path,
    photo_dir: Path,
    *,
    officer: str,
    override_reason: str | None = None,
    workers_count: int | None = None,
    today: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
    index_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Enrol every row of a CSV (see IMPORT_COLUMNS) with its photos from `photo_dir`; report the rows
    refused and why. Rows already on the watchlist are skipped, so a re-run after a fix or a crash adds
    only what is missing. An import that takes the watchlist past the cut-over builds its search index."""

    rows = read_import(csv_path)
    report = ImportReport(str(csv_path), len(rows))
    entries: dict[int, tuple[Entry, list[str]]] = {}
    seen: dict[str, int] = {}
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, len(rows))

    def refuse(number: int, ref: str, reason: str) -> None:
        report.refused.append({"row": number, "ref": ref, "reason": reason})
        tick()

    def jobs() -> Iterator[tuple[int, tuple]]:
        for number, f in rows:
            ref = f.get("ref", "")
            if ref in seen:
                refuse(number, ref, f"the ref {ref} is also on row {seen[ref]}")
                continue
            seen[ref] = number
            try:
                entry = check_entry(
                    ref=ref,
                    name=f["name"],
                    category=f["category"],
                    reason=f["reason"],
                    authorised_by=f["authorised_by"],
                    review_date=f["review_date"],
                    image_source=f.get("image_source") or "not stated",
                    aliases=_split(f.get("aliases", "")),
                    dob=f.get("dob") or None,
                    today=today,
                    named=_as_column,
                )
                existing = _exists(store, entry.ref)
                if existing and existing["status"] == "active":
                    report.already_enrolled.append({"row": number, "ref": entry.ref})
                    tick()
                    continue
                if existing:
                    raise Conflict(f"{entry.ref} was removed from the watchlist; enrol the person under a new ref")
                names = _split(f["photos"])
                if not names:
                    raise BadInput("no photo given")
                files = [(read_file(Path(photo_dir) / name), name) for name in names]
            except HOME_ERRORS:  # the home's, not the row's: no later row would be enrolled either
                raise
            except TriageError as e:
                refuse(number, ref, str(e))
                continue
            entries[number] = (entry, names)
            yield number, (files, override_reason, pipeline)

    pipeline = matchers.pipeline_for(store)
    count = workers_count or workers.cores()
    outcomes = (
        workers.run(analyse_enrol_photos, jobs(), workers=count, timeout=PHOTO_TIMEOUT, initializer=pipeline.load)
        if count > 1
        else _in_process(jobs())
    )
    for outcome in outcomes:
        key = cast(int, outcome.key)
        entry, names = entries.pop(key)
        try:
            if outcome.error is not None:
                raise outcome.error
            analysed = cast(list[analysis.Analysis], outcome.value)
            result = enrol(store, entry, analysed, officer=officer, override_reason=override_reason)
        except HOME_ERRORS:
            raise
        except TriageError as e:
            refuse(key, entry.ref, str(e))
            continue
        report.enrolled.append(
            {"row": outcome.key, "ref": entry.ref, "photos": len(names), "warnings": result["warnings"]}
        )
        tick()
    with store.transaction():
        store.audit(
            "watchlist-import",
            officer,
            records=[f"subject:{e['ref']}" for e in report.enrolled][:500],
            reason=f"{Path(csv_path).name}: {len(report.enrolled)} enrolled, {len(report.already_enrolled)} "
            f"already enrolled, {len(report.refused)} refused",
        )
    if gallery(store, today=today).live >= ann.CUTOVER:
        build_index(store, officer=officer, progress=index_progress)
    return report


# -- governance: list, show, update, remove ------------------------------------------------------------


def _expired(row: dict, today: dt.date) -> bool:
    return dt.date.fromisoformat(row["review_date"]) < today


def _photo_count(store: Store, ref: str) -> int:
    return store.count("photos", "owner_kind = 'subject' AND owner_id = ? AND role = 'original'", [ref])


def list_subjects(
    store: Store,
    *,
    officer: str,
    category: str | None = None,
    expired: bool | None = None,
    include_removed: bool = False,
    today: dt.date | None = None,
) -> list[dict]:
    today = today or dt.date.today()
    store.check_once("subjects")  # a subject deleted outside triage would leave the list short, unseen
    where, params = [], []
    wanted = _category(category) if category else None  # sealed: chosen once the rows are opened
    if not include_removed:
        where.append("status = 'active'")
    if expired is not None:
        where.append("review_date < ?" if expired else "review_date >= ?")
        params.append(today.isoformat())
    out = []
    for r in store.rows("subjects", " AND ".join(where) or None, params, order_by="ref"):
        if wanted is not None and r["category"] != wanted:
            continue
        r["expired"] = _expired(r, today)
        r["photos"] = _photo_count(store, r["ref"])
        out.append({k: r.get(k) for k in (*SUBJECT_FIELDS, "expired", "status", "photos")})
    with store.transaction():
        store.audit("watchlist-list", officer, records=[f"subject:{r['ref']}" for r in out][:200])
    return out


def show_subject(store: Store, ref: str, *, officer: str, today: dt.date | None = None) -> dict:
    """One subject's governance record; a removed one shows its tombstone (its personal data is gone)."""
    ref = stored_ref(store, ref)
    row = store.get("subjects", ref, what="watchlist subject")
    row["expired"] = _expired(row, today or dt.date.today())
    row["photos"] = _photo_count(store, ref)
    row["tombstone"] = next(iter(store.db["tombstones"].rows_where("kind = 'subject' AND ref = ?", [ref])), None)
    with store.transaction():
        store.audit("watchlist-show", officer, records=[f"subject:{ref}"])
    return row


def update_subject(
    store: Store,
    ref: str,
    *,
    reason: str,
    officer: str,
    review_date: str | None = None,
    category: str | None = None,
    inclusion_reason: str | None = None,
    authorised_by: str | None = None,
    aliases: list[str] | None = None,
    today: dt.date | None = None,
) -> dict:
    """Change governance fields of an active subject. The change and why are audited (sealed, since the
    fields may name people); the entry keeps its ref, photos and templates."""
    today = today or dt.date.today()
    why = biographic.reason_text(reason, "the entry is changed", min_words=2)
    ref = stored_ref(store, ref)
    row = store.get("subjects", ref, what="watchlist subject")
    if row["status"] != "active":
        raise NotFound(f"no active watchlist subject {ref!r} (it was removed)")
    clear: dict[str, Any] = {}
    secret: dict[str, Any] = {
        k: row.get(k) for k in ("name", "name_latin", "aliases", "aliases_latin", "dob", "reason", "category")
    }
    if review_date is not None:
        clear["review_date"] = _review_date(review_date, today).isoformat()
    if category is not None:
        secret["category"] = _category(category)
        _check_age(ref, row.get("dob"), secret["category"], today)  # as it is known: `Missing` is missing
    if authorised_by is not None:
        clear["authorised_by"] = biographic.clean_text(authorised_by, "--authorised-by")
        if not clear["authorised_by"]:
            raise BadInput("--authorised-by cannot be empty")
    if inclusion_reason is not None:
        secret["reason"] = _inclusion_reason(inclusion_reason)
    if aliases is not None:
        secret["aliases"] = _aliases(aliases)
        secret["aliases_latin"] = [biographic.latin(a) for a in secret["aliases"]]
    changes = {k: (row.get(k), v) for k, v in {**clear, **secret}.items() if row.get(k) != v}
    if not changes:
        raise BadInput(
            f"nothing to change for {ref}: give a new --review-date, --category, --inclusion-reason, "
            "--authorised-by or --alias"
        )
    with store.transaction():
        store.update("subjects", ref, clear, secret)
        store.audit(
            "watchlist-update",
            officer,
            records=[f"subject:{ref}"],
            reason=why + "; " + "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items()),
        )
    return {
        "ref": ref,
        "changed": sorted(k for k in changes if not k.endswith("_latin")),
        "review_date": clear.get("review_date", row["review_date"]),
        "category": secret["category"],
    }


def remove_subject(store: Store, ref: str, *, reason: str, officer: str) -> dict:
    """Delete a subject's photos, templates and personal details; the subject row stays as a tombstone
    (ref, category, dates, authority) for the audit trail."""
    reason = biographic.reason_text(reason, "the watchlist subject is removed", min_words=2)
    ref = stored_ref(store, ref)
    row = _exists(store, ref)
    if row is None or row["status"] == "removed":
        raise NotFound(f"no active watchlist subject {ref!r}")
    category = store.get("subjects", ref, what="watchlist subject")["category"]
    with store.transaction():
        deleted = store.delete_templates("subject", ref)
        deleted += store.db.execute("DELETE FROM photos WHERE owner_kind = 'subject' AND owner_id = ?", [ref]).rowcount
        store.update("subjects", ref, {"status": "removed", "removed_at": utcnow()}, {"category": category})
        store.db.table("tombstones").insert(
            {"kind": "subject", "ref": ref, "at": utcnow(), "officer": officer, "reason": "removed from watchlist"}
        )
        store.audit("watchlist-remove", officer, records=[f"subject:{ref}"], reason=reason)
    return {"ref": ref, "status": "removed", "rows_deleted": deleted}


# -- search ----------------------------------------------------------------------------------------------


def expired_refs(store: Store, today: dt.date | None = None) -> frozenset[str]:
    """Active subjects not searched: past their review date, or issued in a package past its valid-until."""
    now = today.isoformat() if today else utcnow()
    today = today or dt.date.today()
    # Both are found through indexes, checked: an issuer's newest package left out of its index would make an older,
    # expired one count, hiding its subjects from the search, every tag passing.
    store.check_indexes_once("subjects", "watchlist_packages", "issued_subjects")
    # Hiding a subject from every search must not be one SQL edit away: the rows that hide one are
    # checked (a few, normally), and a forged one stops the search (IntegrityFailure).
    where = "status = 'active' AND review_date < ?"
    store.check_rows("subjects", where, [today.isoformat()])
    past_review = frozenset(
        r[0] for r in store.db.execute(f"SELECT ref FROM subjects WHERE {where}", [today.isoformat()])
    )
    return past_review | package_expired_refs(store, now)


def package_expired_refs(store: Store, now: str) -> frozenset[str]:
    """Active subjects whose issuer's newest package (triage/casework/issued.py) expired before `now`; the
    rows that say so are checked (IntegrityFailure for one edited outside triage)."""
    # CROSS JOIN keeps the issued subjects as the outer loop (SQLite follows that order): otherwise every
    # active subject is visited on each search, the whole watchlist, to find the few issued ones.
    found = store.db.execute(
        "SELECT o.ref, o.signer FROM issued_subjects o CROSS JOIN subjects s ON s.ref = o.ref AND s.status = 'active' "
        "WHERE (SELECT p.valid_until FROM watchlist_packages p WHERE p.role = 'received' "
        "AND p.signer = o.signer ORDER BY p.version DESC LIMIT 1) < ?",
        [now],
    ).fetchall()
    refs = sorted({ref for ref, _ in found})
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        marks = ",".join("?" * len(chunk))
        store.check_rows("issued_subjects", f"ref IN ({marks})", chunk)
        store.check_rows("subjects", f"ref IN ({marks})", chunk)
    signers = sorted({signer for _, signer in found})
    for start in range(0, len(signers), 500):
        chunk = signers[start : start + 500]
        where = f"role = 'received' AND valid_until < ? AND signer IN ({','.join('?' * len(chunk))})"
        store.check_rows("watchlist_packages", where, [now, *chunk])
    return frozenset(refs)


def gallery(store: Store, model_id: str = faces.MODEL_ID, today: dt.date | None = None) -> Gallery:
    """The searchable watchlist of this process: loaded once, kept in step with the store, and with
    every entry past its review date (as of `today`) hidden."""
    g = matching.gallery(store, "watchlist", "subject", model_id)
    g.hide(expired_refs(store, today))
    return g


def build_index(
    store: Store, *, officer: str, rebuild: bool = False, progress: Callable[[int, int], None] | None = None
) -> dict:
    """Build (or bring up to date) and store the approximate search index of the watchlist and of the
    earlier arrivals, for each model the home's matcher uses; searches use it from `ann.CUTOVER`
    templates on, or when asked to. The build runs outside any transaction (minutes at a million
    templates); storing it and its audit event are one. Per kind: the first model's figures, and every
    model's under `models`."""
    model_ids = matchers.models_for(store)
    out = {}
    for kind, get in (
        ("watchlist", lambda mid: gallery(store, mid)),
        ("arrival", lambda mid: matching.gallery(store, "arrival", "arrival", mid)),
    ):
        per = {}
        for model_id in model_ids:
            g = get(model_id)
            started = time.perf_counter()
            changed = g.attach_index(store, "rebuild" if rebuild else "build", progress) if g.live else None
            with store.transaction():
                if changed:
                    g.save_index(store)
                store.audit(
                    "search-index",
                    officer,
                    records=[f"index:{kind}:{model_id}"],
                    reason=f"{'rebuilt' if rebuild else 'built or updated'}: {g.live} templates",
                )
            per[model_id] = {
                "templates": g.live,
                "indexed": len(g.index) if g.index else 0,
                "stored_changes": changed or 0,
                "seconds": round(time.perf_counter() - started, 1),
                "cutover": ann.CUTOVER,
            }
        out[kind] = {**per[model_ids[0]], "models": per}
    return out
