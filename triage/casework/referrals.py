"""Each arrival's referral record: how the person arrived, and the steps taken to pass them on.

Roles after a landing are often unclear, so the record names each step and who took it: the national
immigration command-and-control unit contacted (when, under what reference), the lead agency that owns any
crime identified (or that none was), whether the Home Office has biometrically enrolled the person, and the
safeguarding referral an arrival with the safeguarding flag needs. Arrival method is recorded, never assumed.

Each change records a new version carrying over what was not changed; every version is kept. `incomplete`
lists the steps still missing, for the review queue and the day report.
"""

from __future__ import annotations

from triage.casework import arrivals
from triage.errors import BadInput
from triage.intake.biographic import clean_text, parse_landed_at
from triage.store.rows import Store, utcnow

METHODS = {"small-boat": "small boat", "vehicle": "vehicle or lorry", "other": "another way, described in the notes"}
ENROLMENT = ("yes", "no", "unknown")
NO_CRIME = "none"
STEPS = {  # what is missing, as the review queue and the day report name it
    "arrival-method": "arrival method",
    "control-unit": "command-and-control unit contact",
    "lead-agency": "lead agency (or none)",
    "biometric-enrolment": "biometric enrolment yes/no",
    "safeguarding-referral": "safeguarding referral",
}
CLEAR = ("arrival_method", "control_unit_at", "lead_agency", "biometric_enrolment", "safeguarding_referral_at")
SEALED = ("control_unit_ref", "safeguarding_referral_to", "safeguarding_referral_ref", "notes")


def _time(text: str, tz: str, flag: str) -> str:
    return utcnow() if text.strip().lower() == "now" else parse_landed_at(text, tz, flag)


def _choice(text: str, allowed, flag: str) -> str:
    value = text.strip().lower().replace(" ", "-")
    if value not in allowed:
        raise BadInput(f"{flag} {text!r}: choose {', '.join(allowed)}")
    return value


def missing(arrival: dict, referral: dict | None) -> list[str]:
    """The steps (keys of STEPS) not yet recorded for an arrival."""
    r = referral or {}
    steps = {
        "arrival-method": r.get("arrival_method"),
        "control-unit": r.get("control_unit_at"),
        "lead-agency": r.get("lead_agency"),
        "biometric-enrolment": r.get("biometric_enrolment") in ("yes", "no") or None,
        "safeguarding-referral": r.get("safeguarding_referral_at") or not arrival["safeguarding"] or None,
    }
    return [step for step, done in steps.items() if not done]


def history(store: Store, arrival_id: str) -> list[dict]:
    """Every version of the arrival's referral record, oldest first (through an index, checked: one rebuilt
    without the latest version would show an earlier one in force, or none)."""
    store.check_indexes_once("referrals")
    return store.rows("referrals", "arrival_id = ?", [arrival_id], order_by="id")


def record(
    store: Store,
    arrival_id: str,
    *,
    officer: str,
    arrival_method: str | None = None,
    control_unit_at: str | None = None,
    control_unit_ref: str | None = None,
    lead_agency: str | None = None,
    biometric_enrolment: str | None = None,
    safeguarding_referral_to: str | None = None,
    safeguarding_referral_at: str | None = None,
    safeguarding_referral_ref: str | None = None,
    notes: str | None = None,
) -> dict:
    """Record referral steps (raw text as typed; times are ISO 8601 in the site's time zone, or "now"). A
    reference given without its time means the step was taken now. Returns what `show` does. A void arrival's
    record is closed: it was landed in error, and no one is passed on from it."""
    arrival = arrivals.live(store, arrival_id)
    tz = store.config.timezone
    given = {
        k: v.strip()
        for k, v in dict(
            arrival_method=arrival_method,
            control_unit_at=control_unit_at,
            control_unit_ref=control_unit_ref,
            lead_agency=lead_agency,
            biometric_enrolment=biometric_enrolment,
            safeguarding_referral_to=safeguarding_referral_to,
            safeguarding_referral_at=safeguarding_referral_at,
            safeguarding_referral_ref=safeguarding_referral_ref,
            notes=notes,
        ).items()
        if v is not None and v.strip()
    }
    if not given:
        raise BadInput(
            "nothing to record: give --arrival-method, --control-unit-at/--control-unit-ref, "
            "--lead-agency, --biometric-enrolment, --safeguarding-referral-to or --notes"
        )
    new: dict = {}
    if "arrival_method" in given:
        new["arrival_method"] = _choice(given["arrival_method"], METHODS, "--arrival-method")
    if "control_unit_ref" in given:
        new["control_unit_ref"] = clean_text(given["control_unit_ref"], "--control-unit-ref", 100)
        given.setdefault("control_unit_at", "now")
    if "control_unit_at" in given:
        new["control_unit_at"] = _time(given["control_unit_at"], tz, "--control-unit-at")
    if "lead_agency" in given:
        agency = clean_text(given["lead_agency"], "--lead-agency", 100)
        new["lead_agency"] = NO_CRIME if agency.lower() == NO_CRIME else agency
    if "biometric_enrolment" in given:
        new["biometric_enrolment"] = _choice(given["biometric_enrolment"], ENROLMENT, "--biometric-enrolment")
    if "safeguarding_referral_to" in given:
        new["safeguarding_referral_to"] = clean_text(
            given["safeguarding_referral_to"], "--safeguarding-referral-to", 200
        )
        given.setdefault("safeguarding_referral_at", "now")
    elif "safeguarding_referral_at" in given or "safeguarding_referral_ref" in given:
        raise BadInput("--safeguarding-referral-to is needed: say to whom the safeguarding referral was made")
    if "safeguarding_referral_at" in given:
        new["safeguarding_referral_at"] = _time(given["safeguarding_referral_at"], tz, "--safeguarding-referral-at")
    if "safeguarding_referral_ref" in given:
        new["safeguarding_referral_ref"] = clean_text(
            given["safeguarding_referral_ref"], "--safeguarding-referral-ref", 100
        )
    if "notes" in given:
        new["notes"] = clean_text(given["notes"], "--notes", 2000)
    before = history(store, arrival_id)
    current = before[-1] if before else {}
    merged = {k: new.get(k, current.get(k)) for k in (*CLEAR, *SEALED)}
    if merged["arrival_method"] == "other" and not merged["notes"]:
        raise BadInput("--arrival-method other: describe how the person arrived with --notes")
    with store.transaction():
        row = store.insert(
            "referrals",
            {
                "arrival_id": arrival_id,
                "officer": officer,
                "at": utcnow(),
                "supersedes": current.get("id"),
                **{k: merged[k] for k in CLEAR},
            },
            {k: merged[k] for k in SEALED},
        )
        store.audit(
            "referral",
            officer,
            arrival_id=arrival_id,
            records=[f"referral:{row['id']}"],
            reason="recorded: " + ", ".join(sorted(new)),
        )
    return _view(arrival, history(store, arrival_id))


def _view(arrival: dict, versions: list[dict]) -> dict:
    current = versions[-1] if versions else None
    return {
        "arrival_id": arrival["id"],
        "safeguarding": bool(arrival["safeguarding"]),
        "current": current,
        "history": versions[:-1],
        "missing": missing(arrival, current),
    }


def show(store: Store, arrival_id: str, *, officer: str) -> dict:
    """The referral record in force, every earlier version, and the steps still missing."""
    arrival = store.get("arrivals", arrival_id, what="arrival")
    versions = history(store, arrival_id)
    with store.transaction():
        store.audit("referral-show", officer, arrival_id=arrival_id, records=[f"referral:{r['id']}" for r in versions])
    return _view(arrival, versions)


def incomplete(
    store: Store, arrival_ids: list[str] | None = None, *, day: str | None = None, officer: str | None = None
) -> list[dict]:
    """Arrivals (all, those named, or those landed on `day`) whose referral record misses a step, oldest landing
    first, from clear columns only; void ones aside, as the review queue leaves them (no one is passed on from a
    capture made in error). With `officer`, the look is audited (a command's; reports audit their own). Both
    tables are read through indexes, checked: an arrival or a referral left out would change the list."""
    store.check_indexes_once("arrivals", "referrals")
    void = arrivals.voided(store)  # each read, so checked: a flag set outside triage hides nothing
    sql = (
        "SELECT a.id, a.landed_at, a.landed_day, a.site, a.vessel, a.safeguarding, "
        + ", ".join(f"r.{c}" for c in CLEAR)
        + " FROM arrivals a LEFT JOIN referrals r ON r.id = (SELECT max(id) FROM referrals x WHERE x.arrival_id = a.id)"
        + " WHERE 1"
    )
    params: list = []
    if arrival_ids is not None:
        sql += f" AND a.id IN ({','.join('?' * len(arrival_ids))})"
        params += list(arrival_ids)
    if day is not None:
        sql += " AND a.landed_day = ?"
        params.append(day)
    out = []
    for row in store.db.execute(sql + " ORDER BY a.landed_at, a.id", params):
        aid, landed_at, landed_day, site, vessel, sg, *steps = row
        gaps = missing({"safeguarding": sg}, dict(zip(CLEAR, steps)))
        if gaps and aid not in void:
            out.append(
                {
                    "arrival_id": aid,
                    "landed_at": landed_at,
                    "landed_day": landed_day,
                    "site": site,
                    "vessel": vessel,
                    "safeguarding": bool(sg),
                    "missing": gaps,
                }
            )
    if officer:
        with store.transaction():
            store.audit("referrals-incomplete", officer, records=[f"arrival:{r['arrival_id']}" for r in out][:500])
    return out
