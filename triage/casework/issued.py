"""Watchlist subjects that came in an issued package, kept apart from a home's own (local) entries.

A subject landed from a package carries a row naming its issuer (signing key and device) and the version
that last wrote it; a subject without one is local. A package is searched only until its valid-until:
after it, every subject its issuer sent is hidden from searches, every capture says that no valid
watchlist is held, and once the retention period (a setting, `EXPIRED_DAYS` by default) has passed too,
those subjects are deleted like any removal: biometrics and personal details gone, a tombstone and an
audit event left. Nothing issued is dropped or used silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from triage.casework import watchlist
from triage.errors import BadInput
from triage.intake.biographic import reason_text
from triage.store.rows import Store, utcnow

ISSUED, RECEIVED = "issued", "received"
LOCAL = "local"
# College of Policing practice for live facial recognition: a watchlist is compiled for a deployment and
# destroyed after it (South Wales Police kept theirs 24 hours). An expired package's subjects go a day
# after its valid-until unless the home's setting says otherwise.
EXPIRED_DAYS = 1
MAX_EXPIRED_DAYS = 31
SETTING = "watchlist-expired-days"


@dataclass(frozen=True)
class Held:
    """The newest package a home holds from one issuer."""

    signer: str
    issuer: str
    version: int
    issued_at: str
    valid_until: str
    received_at: str

    def expired(self, now: str) -> bool:
        return self.valid_until < now


def held(store: Store) -> list[Held]:
    """The newest package received from each issuer, every row's tag checked, and the index they are read
    through: one rebuilt without the newest package would make an older one count (expired, its subjects purged)."""
    store.check_indexes_once("watchlist_packages")
    newest: dict[str, dict[str, Any]] = {}
    for r in store.rows("watchlist_packages", "role = ?", [RECEIVED], order_by="version"):
        newest[r["signer"]] = r
    return [
        Held(r["signer"], r["issuer"], r["version"], r["issued_at"], r["valid_until"], r["at"])
        for r in sorted(newest.values(), key=lambda r: r["at"])
    ]


def held_version(store: Store, signer: str) -> int:
    """The newest version received from this issuer, 0 when none was."""
    return max(
        (r["version"] for r in store.rows("watchlist_packages", "role = ? AND signer = ?", [RECEIVED, signer])),
        default=0,
    )


def last_issued(store: Store) -> dict[str, Any] | None:
    """The newest package this home issued, its row checked."""
    found = store.rows("watchlist_packages", "role = ?", [ISSUED], order_by="version DESC")
    return found[0] if found else None


def origins(store: Store, signer: str | None = None) -> dict[str, dict[str, Any]]:
    """ref -> origin row (signer, issuer, version, digest) of subjects that came in packages."""
    where, params = ("signer = ?", [signer]) if signer else (None, [])
    return {r["ref"]: r for r in store.rows("issued_subjects", where, params)}


def no_valid_watchlist(store: Store, now: str | None = None) -> list[str]:
    """A plain sentence for each issuer whose newest package has expired (empty when every package held is
    valid, or none was received): what every capture and `triage doctor` say."""
    now = now or utcnow()
    out = []
    for h in held(store):
        if h.expired(now):
            count = store.count(
                "issued_subjects",
                "signer = ? AND ref IN (SELECT ref FROM subjects WHERE status = 'active')",
                [h.signer],
            )
            out.append(
                f"no valid watchlist is held: the package from {h.issuer} (version {h.version}) expired at "
                f"{h.valid_until}, so its {count} subject(s) are not searched; receive a newer one with "
                "`triage watchlist receive FILE`"
            )
    return out


def subject_digest(record: dict[str, Any]) -> str:
    """What a subject's package record holds, as one digest: a change to any of it is an update."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def land(
    store: Store,
    entry: watchlist.Entry,
    portraits: list[tuple[bytes, int, int]],
    templates: dict[str, np.ndarray],
    *,
    signer: str,
    issuer: str,
    version: int,
    digest: str,
    added_at: str,
    officer: str,
    why: str,
) -> str:
    """Add or replace one issued subject (caller holds the transaction): its record, its portraits (each
    stored as the subject's photo and portrait) and each model's templates, one per portrait, and its
    origin. Returns "added" or "updated"."""
    clear, secret = watchlist.subject_record(entry, added_at=added_at)
    existing = store.db.execute("SELECT 1 FROM subjects WHERE ref = ?", [entry.ref]).fetchone()
    if existing:
        store.delete_templates("subject", entry.ref)
        store.db.execute("DELETE FROM photos WHERE owner_kind = 'subject' AND owner_id = ?", [entry.ref])
        store.update("subjects", entry.ref, dict(clear, removed_at=None), secret)
    else:
        store.insert("subjects", clear, secret)
    photo_ids = []
    for data, width, height in portraits:
        photo_ids.append(store.put_photo("subject", entry.ref, "original", data, "image/jpeg", width, height))
        store.put_photo("subject", entry.ref, "portrait", data, "image/jpeg", width, height)
    for model_id, matrix in templates.items():
        store.put_templates("subject", model_id, [entry.ref] * len(photo_ids), matrix, photo_ids)
    _set_origin(store, entry.ref, signer=signer, issuer=issuer, version=version, digest=digest)
    store.audit(
        "watchlist-update" if existing else "watchlist-add",
        officer,
        records=[f"subject:{entry.ref}"] + [f"photo:{p}" for p in photo_ids],
        reason=f"{entry.category}; authorised by {entry.authorised_by}; {why}",
    )
    return "updated" if existing else "added"


def _set_origin(store: Store, ref: str, *, signer: str, issuer: str, version: int, digest: str) -> None:
    store.check_rows("issued_subjects", "ref = ?", [ref])
    store.db.execute(
        "INSERT INTO issued_subjects (ref, signer, issuer, version, digest) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (ref) DO UPDATE SET signer = excluded.signer, issuer = excluded.issuer, "
        "version = excluded.version, digest = excluded.digest",
        [ref, signer, issuer, version, digest],
    )


def withdraw(store: Store, ref: str, *, version: int, officer: str, reason: str) -> None:
    """Remove an issued subject as its issuer asked, or as its package's expiry requires (caller holds the
    transaction): biometrics and personal details deleted, tombstone and audit event kept."""
    origin = origins(store).get(ref)
    watchlist.remove_subject(store, ref, reason=reason, officer=officer)
    if origin is not None:
        _set_origin(store, ref, signer=origin["signer"], issuer=origin["issuer"], version=version, digest="removed")


# -- expiry -------------------------------------------------------------------------------------------


def expired_days(store: Store) -> int:
    """How many days an expired package's subjects are kept (hidden) before they are deleted."""
    rows = store.rows("settings", "name = ?", [SETTING])
    return int(json.loads(rows[0]["value"])) if rows else EXPIRED_DAYS


def set_expired_days(store: Store, days: int, *, officer: str, reason: str) -> dict[str, Any]:
    """Change the retention period of expired packages, audited."""
    if not 0 <= days <= MAX_EXPIRED_DAYS:
        raise BadInput(f"--days {days}: give 0 to {MAX_EXPIRED_DAYS} days")
    why = reason_text(reason, "the retention period changes", min_words=2)
    before = expired_days(store)
    with store.transaction():
        store.check_rows("settings", "name = ?", [SETTING])
        store.db.execute(
            "INSERT INTO settings (name, value, at, officer) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
            "SET value = excluded.value, at = excluded.at, officer = excluded.officer",
            [SETTING, json.dumps(days), utcnow(), officer],
        )
        store.audit(
            "watchlist-retention",
            officer,
            records=[f"settings:{SETTING}"],
            reason=f"{why} (expired package subjects kept {before} -> {days} days)",
        )
    return {"expired_days": days, "previous": before}


def delete_expired(store: Store, *, officer: str, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Delete the subjects of every issuer whose newest package expired more than the retention period
    ago, each removal audited and tombstoned, in one transaction. Returns what went, by issuer."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    cutoff = (moment - dt.timedelta(days=expired_days(store))).isoformat(timespec="seconds")
    store.check_indexes_once("subjects", "issued_subjects")  # read through their indexes: a subject left out is kept
    gone = []
    with store.transaction():
        for h in held(store):
            if not h.valid_until < cutoff:
                continue
            active = {r[0] for r in store.db.execute("SELECT ref FROM subjects WHERE status = 'active'")} & set(
                origins(store, h.signer)
            )
            for ref in sorted(active):
                withdraw(
                    store,
                    ref,
                    version=h.version,
                    officer=officer,
                    reason=f"watchlist package version {h.version} from {h.issuer} expired at {h.valid_until}; "
                    f"deleted after the retention period of {expired_days(store)} day(s)",
                )
            if active:
                gone.append(
                    {"issuer": h.issuer, "version": h.version, "valid_until": h.valid_until, "refs": sorted(active)}
                )
    return gone


def counts(store: Store, today: dt.date | None = None) -> dict[str, int]:
    """Active subjects: issued, local, and expired (not searched: past the review date or the package)."""
    issued_refs = set(origins(store))
    active = {r[0] for r in store.db.execute("SELECT ref FROM subjects WHERE status = 'active'")}
    hidden = watchlist.expired_refs(store, today)
    return {
        "issued": len(active & issued_refs),
        LOCAL: len(active - issued_refs),
        "expired": len(active & hidden),
    }
