"""Corrections to an arrival already landed: a new version of its details, and a void.

An amendment never overwrites: the details in force become an earlier version, kept with who replaced
them, when, on which laptop and why, so `arrivals show` can lay out every version. A void keeps the arrival
as a tombstone (its details, photos and reviews stay, with who voided it, when and why) but takes it out of
the review queue, out of every search (its face is neither searched nor a candidate for anyone else's) and
out of the day report. Both live in the arrival's own sealed part, so a version or a void never exists
apart from its arrival, and both are audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

from triage.casework import arrivals, name_keys, safeguarding
from triage.errors import BadInput
from triage.intake.biographic import Details, DetailText, reason_text
from triage.store.rows import Store, utcnow

# Details an officer may correct, as `Details` names them (the machine-readable zone is what was read, and
# stays as read).
AMENDABLE = tuple(f.name for f in fields(Details) if f.name not in ("mrz", "mrz_mismatches"))
# The details compared when an earlier arrival is shown as a candidate: a change to any of them makes the
# arrival's search again, so what the officer reviews is judged against the details in force.
SEARCHED_DETAILS = ("surname", "given_names", "dob", "age_range", "sex", "nationality", "document_number")


@dataclass
class Amended:
    """What an amendment did: the version now in force, the fields it changed, and whether the arrival's
    search was made again (only when a detail that searches compare changed)."""

    arrival_id: str
    version: int
    changed: list[str]
    officer: str
    at: str
    reason: str
    searched_again: bool
    safeguarding_raised: bool
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "arrival_id": self.arrival_id,
            "version": self.version,
            "changed": list(self.changed),
            "officer": self.officer,
            "at": self.at,
            "reason": self.reason,
            "searched_again": self.searched_again,
            "safeguarding_raised": self.safeguarding_raised,
            "details": self.details,
        }


@dataclass
class Voided:
    """A void as recorded: the arrival, who voided it, when and why."""

    arrival_id: str
    officer: str
    at: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "arrival_id": self.arrival_id,
            "void": True,
            "officer": self.officer,
            "at": self.at,
            "reason": self.reason,
        }


def _reason(reason: str | None, what: str) -> str:
    return reason_text(reason, f"this arrival is {what}")


def _sealed(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    """The part of an arrival as read that lives in its sealed column."""
    clear = set(store.db["arrivals"].columns_dict)
    return {k: v for k, v in row.items() if k not in clear}


def comparable(details: dict[str, Any]) -> dict[str, Any]:
    """The details an officer gave, as compared between two versions (empty lists and None alike)."""
    return {name: details.get(name) or None for name in AMENDABLE}


def differing(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """The details that differ between two versions, in the order `Details` lists them."""
    a, b = comparable(mine), comparable(theirs)
    return [name for name in AMENDABLE if a[name] != b[name]]


def amend(
    store: Store, arrival_id: str, text: DetailText, *, reason: str | None, officer: str, today: dt.date | None = None
) -> Amended:
    """Replace the details `text` gives (the others stay as they are) with a new version; the version in
    force is kept as an earlier one. Nothing given, or nothing different, is refused."""
    why = _reason(reason, "amended")
    if not text.given():
        raise BadInput("give at least one detail to correct, e.g. --surname or --dob")
    today = today or dt.date.today()
    given = text.build(today)  # every wrong flag named at once, before anything is read
    row = arrivals.live(store, arrival_id)
    current = Details.from_dict(row["details"])
    named = {f.name: getattr(text, f.name) for f in fields(DetailText)}
    replaced = {("age_range" if k == "age" else k) for k, v in named.items() if v}
    for name in replaced:
        setattr(current, name, getattr(given, name))
    new = current.to_dict()
    changed = differing(new, row["details"])
    if not changed:
        raise BadInput(f"arrival {arrival_id} already has these details; nothing to amend")
    sealed = _sealed(store, row)
    versions = list(sealed.get("versions") or [])
    at = utcnow()
    versions.append(
        {
            "version": len(versions) + 1,
            "details": row["details"],
            "replaced_at": at,
            "replaced_by": officer,
            "device": store.config.device,
            "reason": why,
            "changed": changed,
        }
    )
    child = current.is_child(today) and not row["safeguarding"]
    with store.transaction():
        store.update(
            "arrivals",
            arrival_id,
            {"safeguarding": 1} if child else None,
            sealed | {"details": new, "versions": versions},
        )
        name_keys.index(store, arrival_id, new)
        store.audit(
            "arrival-amend",
            officer,
            arrival_id=arrival_id,
            records=[f"arrival:{arrival_id}", *(f"field:{name}" for name in changed)],
            reason=why,
        )
        if child:  # why the flag was raised, recorded as an officer's flag is, so every view reads it alike
            store.audit(
                safeguarding.FLAG,
                officer,
                arrival_id=arrival_id,
                records=[f"arrival:{arrival_id}"],
                reason=f"raised by an amendment: {safeguarding.age_text(new, today.isoformat(), under_18=True)}; "
                f"amended because: {why}",
            )
    again = bool(set(changed) & set(SEARCHED_DETAILS))
    if again and store.count("templates", "owner_kind = 'arrival' AND owner_id = ?", [arrival_id]):
        arrivals.search_again(store, arrival_id, officer=officer)
    else:
        again = False
    return Amended(arrival_id, len(versions) + 1, changed, officer, at, why, again, child, new)


def void(store: Store, arrival_id: str, *, reason: str | None, officer: str) -> Voided:
    """Void an arrival landed in error (a duplicate, the wrong photo): it stays as a tombstone."""
    why = _reason(reason, "void")
    row = arrivals.live(store, arrival_id)
    at = utcnow()
    mark = {"officer": officer, "at": at, "device": store.config.device, "reason": why}
    with store.transaction():
        store.update("arrivals", arrival_id, {"voided": 1}, _sealed(store, row) | {"void": mark})
        store.audit("arrival-void", officer, arrival_id=arrival_id, records=[f"arrival:{arrival_id}"], reason=why)
    return Voided(arrival_id, officer, at, why)


def absorb(store: Store, arrival_id: str, correction: dict[str, Any], *, device: str) -> bool:
    """Apply to an arrival held here an amendment or void made on laptop `device` (a batch's correction: kind,
    officer, at, reason and, for an amendment, the details after it and the fields it changed), inside the
    caller's transaction. Only the fields the amendment changed are taken, so a correction made here meanwhile
    to another field stands. A correction the arrival already carries (it rode inside the arrival's own record)
    changes nothing, nor does a void of an arrival already void: returns whether anything changed."""
    row = arrivals.get(store, arrival_id)
    sealed = _sealed(store, row)
    who = {"officer": correction["officer"], "at": correction["at"], "device": device, "reason": correction["reason"]}
    if correction["kind"] == "void":
        if sealed.get("void"):
            return False
        store.update("arrivals", arrival_id, {"voided": 1}, sealed | {"void": who})
        return True
    versions = list(sealed.get("versions") or [])
    if any(v.get("device") == device and v.get("replaced_at") == correction["at"] for v in versions):
        return False
    new = dict(row["details"]) | {name: correction["details"].get(name) for name in correction["changed"]}
    versions.append(
        {
            "version": len(versions) + 1,
            "details": row["details"],
            "replaced_at": who["at"],
            "replaced_by": who["officer"],
            "device": device,
            "reason": who["reason"],
            "changed": differing(new, row["details"]) or list(correction["changed"]),
        }
    )
    child = Details.from_dict(new).is_child(dt.date.today()) and not row["safeguarding"]
    store.update(
        "arrivals", arrival_id, {"safeguarding": 1} if child else None, sealed | {"details": new, "versions": versions}
    )
    name_keys.index(store, arrival_id, new)
    return True
