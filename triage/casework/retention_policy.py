"""Changing the home's retention policy: how many days biometrics of arrivals with no confirmed candidate,
and draft contents, are kept before `triage purge` removes them.

The policy is one of the home's recorded settings (triage/store/settings.py), so it changes only here: each
value a whole number of days within bounds, a reason required, the record and config.json changed together
and the change audited with the old and new values, all in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from triage.errors import BadInput, UsageError
from triage.intake.biographic import clean_text
from triage.store import settings
from triage.store.config import Retention
from triage.store.rows import Store

# The longest each may be set to: a purge that never comes is no policy, and a slip of the keyboard
# (310 for 31) should be refused, not obeyed. Biometrics of people nobody matched are kept the shortest.
LIMITS = {"unmatched_biometrics_days": 365, "drafts_days": 3650}
FLAGS = {"unmatched_biometrics_days": "--unmatched-biometrics-days", "drafts_days": "--drafts-days"}
ACTION = "retention-set"


@dataclass
class PolicyChange:
    retention: Retention
    previous: Retention
    changed: bool

    def as_json(self) -> dict[str, Any]:
        return {"retention": asdict(self.retention), "previous": asdict(self.previous), "changed": self.changed}


@dataclass
class Policy:
    retention: Retention
    set_at: str | None  # when and by whom the recorded value was last written
    set_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {"retention": asdict(self.retention), "set_at": self.set_at, "set_by": self.set_by}


def days(value: str, field: str) -> int:
    """A number of days as typed for `field` (a retention field's name), checked: a whole number from 1 to
    the field's limit; BadInput naming the flag otherwise."""
    flag, limit = FLAGS[field], LIMITS[field]
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= limit:
        raise BadInput(f"{flag}: {text[:20]!r} is not a whole number of days from 1 to {limit}")
    return int(text)


def current(store: Store) -> Policy:
    """The policy in force, as the home's store records it (checked when the home was unlocked)."""
    row = next(iter(store.rows(settings.TABLE, "name = ?", [settings.RETENTION])), None)
    if row is None:
        return Policy(Retention(**asdict(store.config.retention)), None, None)
    return Policy(Retention(**json.loads(row["value"])), row["at"], row["officer"])


def describe(r: Retention) -> str:
    return f"unmatched biometrics {r.unmatched_biometrics_days} days, drafts {r.drafts_days} days"


def change(store: Store, *, officer: str, reason: str, **values: int) -> PolicyChange:
    """Set the named retention fields (the others keep their value), audited with the reason and the old
    and new values. Setting what the policy already says changes and audits nothing."""
    if not values:
        raise UsageError(f"say what to change: {' and/or '.join(FLAGS.values())}")
    reason = clean_text(reason or "", "--reason", 1000)
    if not reason:
        raise BadInput("--reason is required: say why the retention policy changes (kept in the audit trail)")
    with store.transaction():  # the record, config.json and the audit event together, or none of them
        before = current(store).retention
        after = Retention(**{**asdict(before), **values})
        if after == before:
            return PolicyChange(after, before, changed=False)
        moved = [
            f"{f.name} {getattr(before, f.name)} -> {getattr(after, f.name)}"
            for f in fields(Retention)
            if getattr(before, f.name) != getattr(after, f.name)
        ]
        store.audit(
            ACTION, officer, records=[f"settings:{settings.RETENTION}"], reason=f"{reason} ({'; '.join(moved)})"
        )
        settings.change(store, officer=officer, retention=after)
    return PolicyChange(after, before, changed=True)
