"""Why an arrival is flagged for safeguarding, read back from what the home already holds and authenticates: the
officer's reason in the audit trail (`arrivals flag`, a debrief's indicators, an amendment that gave an age under
18), the trail a laptop's batch brought with a flag raised there, and, for the flag capture raised, the age the
details gave on the day of landing, as capture judged it.

The ages are named as they came: a claimed age is what the date of birth given makes of the day of landing, an
assessed age is the range an officer recorded; both are shown where both were given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from triage.intake.biographic import Details
from triage.store.rows import Store, in_utc

FLAG = "safeguarding-flag"  # the audit action of a flag raised by an officer, or brought by a batch
# Where a reason comes from: an officer here (or an amendment that gave an age under 18, recorded as it raised the
# flag); a laptop, as its batch's trail says; this home's import of a flag a batch raised (its reason quotes the
# batch's trail); the age the details gave at capture.
SOURCES = ("officer", "laptop", "import", "capture")
NO_REASON = "no reason is recorded in this home"


@dataclass(frozen=True)
class FlagReason:
    """One reason an arrival is flagged: where it comes from (`SOURCES`), who raised the flag or gave the details
    that raised it, when, on which device, and the reason in their words or the age that raised it."""

    source: str
    reason: str
    officer: str | None
    at: str | None
    device: str | None = None  # the laptop it was raised on, where that is not this home

    def summary(self) -> str:
        """The reason as one line: who, when, where, why."""
        who = f"by {self.officer}" if self.officer else "by an officer not named"
        when = f" at {utc_minute(self.at)}" if self.at else ""
        on = f" on laptop {self.device}" if self.device else ""
        if self.source == "capture":
            return f"at capture{on} {who}{when}: {self.reason}"
        if self.source == "import":
            return f"at import {who}{when}: {self.reason}"
        return f"{who}{on}{when}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"summary": self.summary()}


def utc_minute(at: str) -> str:
    """A recorded time as a person reads it, to the minute in UTC: "2026-03-02 05:10 UTC"."""
    moment = in_utc(at)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else at


def _years(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def ages(details: dict[str, Any], day: str) -> dict[str, str | None]:
    """The ages the details give on the day of landing (`day`, ISO): `claimed_age` from the date of birth given,
    `assessed_age` from the range an officer recorded; None where not given."""
    d = Details.from_dict(details)
    on = dt.date.fromisoformat(day)
    return {
        "claimed_age": _years(*d.dob.age_range_on(on)) if d.dob else None,
        "assessed_age": _years(*d.age_range) if d.age_range else None,
    }


def age_text(details: dict[str, Any], day: str, *, under_18: bool = False) -> str | None:
    """The ages given, as a person reads them: "claimed age 15 (born 2011-03-02)", "assessed age 16-18", or both;
    with `under_18`, only those that leave room for a child. None when none (of those) was given."""
    d = Details.from_dict(details)
    on = dt.date.fromisoformat(day)
    parts = []
    if d.dob is not None and (not under_18 or d.dob.age_range_on(on)[0] < 18):
        parts.append(f"claimed age {_years(*d.dob.age_range_on(on))} (born {d.dob})")
    if d.age_range is not None and (not under_18 or d.age_range[0] < 18):
        parts.append(f"assessed age {_years(*d.age_range)}")
    return "; ".join(parts) or None


def _by_age(arrival: dict[str, Any], device: str) -> list[FlagReason]:
    """The flag the details raised at capture, when they gave an age under 18 on the day of landing (as capture
    judged it). One an amendment raised is recorded as it is raised, in the trail, and read from there."""
    versions = list(arrival.get("versions") or [])
    first = versions[0]["details"] if versions else arrival["details"]  # the details as captured
    young = age_text(first, arrival["landed_day"], under_18=True)
    if not young:
        return []
    elsewhere = arrival["device"] if arrival["device"] != device else None
    return [FlagReason("capture", young, arrival["officer"], arrival["created_at"], elsewhere)]


def flag_reasons(store: Store, flagged: Iterable[dict[str, Any]]) -> dict[str, list[FlagReason]]:
    """Why each of the `flagged` arrivals (rows as read, sealed part opened) is flagged, oldest reason first: an
    empty list where this home records none (`NO_REASON`). A flag a batch brought is shown as the laptop's trail
    records it when this home holds that trail, else as this home's import recorded it."""
    rows = {a["id"]: a for a in flagged}
    if not rows:
        return {}
    store.check_once("origin_audit")  # a laptop's event deleted from the trails batches brought is refused, not missed
    device = store.config.device
    marks = ",".join("?" * len(rows))
    local = store.events(f"action = ? AND arrival_id IN ({marks})", [FLAG, *rows])
    brought = store.rows("origin_audit", f"action = ? AND arrival_id IN ({marks})", [FLAG, *rows], order_by="id")
    found: dict[str, list[FlagReason]] = {aid: _by_age(a, device) for aid, a in rows.items()}
    for e in brought:
        found[e["arrival_id"]].append(
            FlagReason("laptop", e.get("reason") or "no reason given", e["officer"], e["at"], e["device"])
        )
    for e in local:
        batches = [r.split(":", 1)[1] for r in e["records"] if r.startswith("batch:")]
        shown = any(b["arrival_id"] == e["arrival_id"] and str(b["batch"]).startswith(tuple(batches)) for b in brought)
        if batches and shown:
            continue  # the laptop's own event, brought by that batch, says it first-hand
        source = "import" if batches else "officer"
        found[e["arrival_id"]].append(FlagReason(source, e["reason"] or "no reason given", e["officer"], e["at"]))
    return {aid: sorted(reasons, key=lambda r: r.at or "") for aid, reasons in found.items()}
