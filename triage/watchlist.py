"""Governed watchlist enrolment: every subject has a category, a reason, an authorising officer, an
image source and a review date. Past its review date a subject is not searched. Under-18s are enrolled
only as missing or vulnerable persons. Removal deletes the biometrics and leaves a tombstone.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from . import analysis, biographic, faces
from .errors import BadInput, Conflict, NotFound
from .matching import Gallery
from .photos import Photo, to_jpeg
from .store import Store, utcnow

CATEGORIES = ("facilitator", "wanted", "missing", "vulnerable", "other")
SAFEGUARDING_CATEGORIES = ("missing", "vulnerable")
REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")


def add_subject(store: Store, *, ref: str, name: str, category: str, reason: str, authorised_by: str,
                review_date: str, photos: list[Photo], officer: str, image_source: str = "not stated",
                aliases: list[str] = (), dob: str | None = None, override_reason: str | None = None,
                today: dt.date | None = None) -> dict:
    """Enrol one subject with one or more photos, all or nothing."""
    today = today or dt.date.today()
    if not REF_PATTERN.match(ref or ""):
        raise BadInput(f"--ref {ref!r}: use 1-40 letters, digits, '.', '_', '/' or '-'")
    if category not in CATEGORIES:
        raise BadInput(f"--category {category!r}: choose one of {', '.join(CATEGORIES)}")
    name = biographic.clean_text(name or "", "--name")
    if not name:
        raise BadInput("--name is required for a watchlist subject")
    reason = biographic.clean_text(reason or "", "--reason", 1000)
    if len(reason.split()) < 3:
        raise BadInput("--reason must say why this person is on the watchlist (a sentence, not a word)")
    authorised_by = biographic.clean_text(authorised_by or "", "--authorised-by")
    if not authorised_by:
        raise BadInput("--authorised-by is required: the officer who authorised this entry")
    review = biographic.parse_full_date(review_date, "--review-date")
    if review <= today:
        raise BadInput(f"--review-date {review} is not in the future: an entry past its review date is not searched")
    birth = biographic.parse_date(dob, "--dob") if dob else None
    if birth and birth.age_range_on(today)[0] < 18 and category not in SAFEGUARDING_CATEGORIES:
        raise BadInput(f"{ref}: a person who may be under 18 can be enrolled only as "
                       f"{' or '.join(SAFEGUARDING_CATEGORIES)}, not as {category}")
    if not photos:
        raise BadInput("at least one photo is needed to enrol a subject")
    aliases = [biographic.clean_text(a, "--alias") for a in aliases if a and a.strip()]
    results = [analysis.analyse(p, "enrol", override_reason=override_reason) for p in photos]
    if store.db["subjects"].count_where("ref = ?", [ref]):
        raise Conflict(f"watchlist subject {ref} already exists; use `triage watchlist update` or another --ref")

    secret = {"name": name, "name_latin": biographic.latin(name), "aliases": aliases,
              "aliases_latin": [biographic.latin(a) for a in aliases], "dob": str(birth) if birth else None,
              "reason": reason}
    clear = {"ref": ref, "category": category, "added_at": utcnow(), "review_date": review.isoformat(),
             "authorised_by": authorised_by, "image_source": biographic.clean_text(image_source, "--image-source"),
             "status": "active"}
    with store.transaction():
        store.insert("subjects", clear, secret)
        records = [f"subject:{ref}"]
        for res in results:
            pid = store.put_photo("subject", ref, "original", res.photo.original, res.photo.media_type,
                                  res.photo.width, res.photo.height)
            store.put_photo("subject", ref, "portrait", to_jpeg(res.portrait), "image/jpeg", *res.portrait.shape[1::-1])
            store.put_template("subject", ref, pid, faces.MODEL_ID, res.vector)
            records.append(f"photo:{pid}")
        store.audit("watchlist-add", officer, records=records,
                    reason=f"{category}; authorised by {authorised_by}" + (f"; quality override: {override_reason}" if override_reason else ""))
    gallery = store.cache.get(("gallery", "watchlist"))
    if gallery is not None:
        for res in results:
            gallery.add(ref, res.vector)
    return {"ref": ref, "category": category, "review_date": review.isoformat(), "photos": len(results),
            "quality": [r.quality.to_dict() for r in results],
            "warnings": [w for r in results for w in r.warnings]}


def _expired(row: dict, today: dt.date) -> bool:
    return dt.date.fromisoformat(row["review_date"]) < today


def list_subjects(store: Store, *, officer: str, category: str | None = None, expired: bool | None = None,
                  include_removed: bool = False, today: dt.date | None = None) -> list[dict]:
    today = today or dt.date.today()
    if category and category not in CATEGORIES:
        raise BadInput(f"--category {category!r}: choose one of {', '.join(CATEGORIES)}")
    where, params = [], []
    if category:
        where.append("category = ?")
        params.append(category)
    if not include_removed:
        where.append("status = 'active'")
    rows = store.rows("subjects", " AND ".join(where) or None, params, order_by="ref")
    out = []
    for r in rows:
        r["expired"] = _expired(r, today)
        if expired is not None and r["expired"] != expired:
            continue
        r["photos"] = store.count("templates", "owner_kind = 'subject' AND owner_id = ? AND data IS NOT NULL", [r["ref"]])
        out.append({k: r.get(k) for k in ("ref", "name", "aliases", "dob", "category", "reason", "authorised_by",
                                          "image_source", "added_at", "review_date", "expired", "status", "photos")})
    with store.transaction():
        store.audit("watchlist-list", officer, records=[f"subject:{r['ref']}" for r in out][:200])
    return out


def show_subject(store: Store, ref: str, *, officer: str, today: dt.date | None = None) -> dict:
    row = store.get("subjects", ref, what="watchlist subject")
    row["expired"] = _expired(row, today or dt.date.today())
    row["photos"] = store.count("templates", "owner_kind = 'subject' AND owner_id = ? AND data IS NOT NULL", [ref])
    with store.transaction():
        store.audit("watchlist-show", officer, records=[f"subject:{ref}"])
    return row


def remove_subject(store: Store, ref: str, *, reason: str, officer: str) -> dict:
    """Delete a subject's photos and templates; the subject row stays as a tombstone for the audit trail."""
    reason = biographic.clean_text(reason or "", "--reason", 1000)
    if len(reason.split()) < 2:
        raise BadInput("--reason is required to remove a watchlist subject")
    row = store.db["subjects"].get(ref) if store.db["subjects"].count_where("ref = ?", [ref]) else None
    if row is None or row["status"] == "removed":
        raise NotFound(f"no active watchlist subject {ref!r}")
    with store.transaction():
        photos = store.db.execute("DELETE FROM templates WHERE owner_kind = 'subject' AND owner_id = ?", [ref]).rowcount
        photos += store.db.execute("DELETE FROM photos WHERE owner_kind = 'subject' AND owner_id = ?", [ref]).rowcount
        store.update("subjects", ref, {"status": "removed", "removed_at": utcnow(), "sealed": None})
        store.db["tombstones"].insert({"kind": "subject", "ref": ref, "at": utcnow(), "officer": officer,
                                       "reason": "removed from watchlist"})
        store.audit("watchlist-remove", officer, records=[f"subject:{ref}"], reason=reason)
    store.cache.pop(("gallery", "watchlist"), None)
    return {"ref": ref, "status": "removed", "rows_deleted": photos}


def active_refs(store: Store, today: dt.date | None = None) -> list[str]:
    today = today or dt.date.today()
    return [r[0] for r in store.db.execute(
        "SELECT ref FROM subjects WHERE status = 'active' AND review_date >= ?", [today.isoformat()])]


def gallery(store: Store, model_id: str = faces.MODEL_ID, today: dt.date | None = None) -> Gallery:
    """The searchable watchlist of this process: active, unexpired subjects only, loaded once."""
    key = ("gallery", "watchlist")
    if key not in store.cache:
        owners, matrix = store.load_templates(model_id, "subject", active_refs(store, today))
        store.cache[key] = Gallery("watchlist", model_id, owners, matrix if len(owners) else np.zeros((0, 128), np.float32))
    return store.cache[key]
