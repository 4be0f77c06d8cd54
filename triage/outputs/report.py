"""The supervisor's day in one page: counts by site and vessel, arrivals flagged for safeguarding (the ages given
and why each is flagged, as the audit trail and the details record it), candidates
awaiting review (watchlist alerts first, a laptop's among them even when this home does not hold the subject),
the same photo captured twice, confirmed matches, drafts and their outcomes, photo quality, and every face.

The HTML page is self-contained (styles inline, portraits as data URIs, no script), so it opens on a
laptop with no network, and its content security policy forbids fetching or running anything. It is
rendered by Jinja2 with autoescaping, because names are typed by officers from what people say and
may contain anything. The same figures render as text for the terminal. Reading the day is audited:
the page holds personal data.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import statistics
from pathlib import Path
from typing import Any

from triage.casework import name_keys, referrals, review, safeguarding
from triage.casework.arrivals import PAIR_KINDS, is_void, voided
from triage.errors import BadInput, NotFound
from triage.exchange.batch import day_arrivals, day_scope
from triage.files import check_output, write_files
from triage.intake.biographic import Details
from triage.intake.refs import vessel_key
from triage.store.rows import Store, utcnow

FORMATS = ("html", "text")
QUALITY_BINS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 100))
THUMB_PX = 96
UNNAMED = Details().full_name()  # what an arrival that gave no name is called


def _thumbnail(store: Store, arrival_id: str) -> str | None:
    """A small JPEG of the portrait as a data URI, or None when the biometrics were purged."""
    from PIL import Image

    try:
        _, jpeg = store.photo("arrival", arrival_id, "portrait")
    except NotFound:
        return None
    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    img.thumbnail((THUMB_PX, THUMB_PX))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


READ_BY_DAY = ("arrivals", "searches", "candidates", "reviews")  # the tables a day's page is chosen through


def gather(store: Store, day: str, *, site: str | None = None, thumbnails: bool = True) -> dict[str, Any]:
    """Everything the page shows, as plain data (what `--json` prints, thumbnails aside)."""
    store.check_indexes(*READ_BY_DAY)  # an index edited in the file would leave an arrival, or its alert, unseen
    rows = [r for r in day_arrivals(store, day, site) if not is_void(r)]  # a voided arrival is a tombstone
    where, params = day_scope(day, site)
    senders = {
        r["device"]: f"{r['signer']} (device {r['device']})" for r in store.rows("batches", order_by="imported_at")
    }
    arrivals: dict[str, dict[str, Any]] = {}
    why = safeguarding.flag_reasons(store, [r for r in rows if r["safeguarding"]])
    for r in rows:
        d = Details.from_dict(r["details"])
        age = d.age_range_on(dt.date.fromisoformat(r["landed_day"]))
        arrivals[r["id"]] = {
            "arrival_id": r["id"],
            "landed_at": r["landed_at"],
            "site": r["site"],
            "vessel": r["vessel"] or "not recorded",
            "name": d.full_name(),
            "dob": str(d.dob) if d.dob else None,
            "age": "unknown" if not age else str(age[0]) if age[0] == age[1] else f"{age[0]}-{age[1]}",
            **safeguarding.ages(r["details"], r["landed_day"]),
            "age_given": safeguarding.age_text(r["details"], r["landed_day"]) or "age not given",
            "nationality": d.nationality,
            "safeguarding": bool(r["safeguarding"]),
            "safeguarding_reasons": [x.as_json() for x in why.get(r["id"], [])],
            "quality": r["quality_score"],
            "quality_override": r["quality_override"],
            "origin": senders.get(r["origin"], f"device {r['origin']}") if r["origin"] else "this laptop",
            "officer": r["officer"],
            "thumbnail": _thumbnail(store, r["id"]) if thumbnails else None,
        }
    names: dict[tuple[str, str], str] = {("arrival", aid): a["name"] for aid, a in arrivals.items()}

    def who(kind: str, ref: str) -> str:
        """Who a candidate points at here; a merged batch's candidate may name a subject this home lacks."""
        if (kind, ref) not in names:
            table, pk = ("subjects", "ref") if kind == "watchlist" else ("arrivals", "id")
            row = store.get(table, ref) if store.db[table].count_where(f"{pk} = ?", [ref]) else None
            names[(kind, ref)] = (
                "not held in this home"
                if row is None
                else f"{row.get('name') or '(removed)'} [{row['category']}]"
                if kind == "watchlist"
                else Details.from_dict(row["details"]).full_name()
            )
        name = names[(kind, ref)]
        return "name not given" if name == UNNAMED else name  # shown in brackets already

    scope = f"arrival_id IN (SELECT id FROM arrivals WHERE {where})"

    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for a in arrivals.values():
        vessel = vessel_key(a["vessel"])  # one boat whatever case its reference was recorded in
        g = groups.setdefault(
            (a["site"], vessel or ""), {"site": a["site"], "vessel": vessel, "arrivals": 0, "children": 0}
        )
        g["arrivals"] += 1
        g["children"] += a["safeguarding"]
    queue = [p for p in (entry.as_json() for entry in review.pending(store)) if p["arrival_id"] in arrivals]
    awaiting = [  # watchlist alerts first, a laptop's among them whether or not this home holds the subject
        dict(
            p,
            name=arrivals[p["arrival_id"]]["name"],
            candidates=[
                dict(
                    c,
                    who=who("arrival" if c["kind"] == name_keys.BIOGRAPHIC else c["kind"], c["ref"]),
                    found=_found_by(c["found_by"]),
                    evidence=name_keys.evidence(c["score"], None) if c["kind"] == name_keys.BIOGRAPHIC else None,
                )
                for c in p["candidates"]
            ],
        )
        for p in queue
        if p["candidates"]
    ]
    duplicates = [
        {"arrival_id": p["arrival_id"], "name": arrivals[p["arrival_id"]]["name"], "of": d["ref"]}
        for p in queue
        for d in p["duplicates"]
    ]
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}  # the decision in force on each candidate
    void = voided(store)
    for r in store.rows("reviews", scope, params, order_by="id"):
        latest[(r["arrival_id"], r["kind"], r["ref"])] = r
    # A void arrival is out of the day as it is out of the queue: its decisions, and those pairing another
    # arrival with it (a duplicate capture confirmed as the same person, say), are no match of the day's.
    latest = {
        key: r
        for key, r in latest.items()
        if r["arrival_id"] in arrivals and not (r["kind"] in PAIR_KINDS and r["ref"] in void)
    }
    confirmed = []
    for r in sorted((r for r in latest.values() if r["decision"] == "confirmed"), key=lambda r: r["at"]):
        cand = store.db.execute(
            "SELECT distance, threshold FROM candidates WHERE arrival_id = ? AND kind = ? AND ref = ? "
            "ORDER BY id DESC LIMIT 1",
            [r["arrival_id"], r["kind"], r["ref"]],
        ).fetchone()
        confirmed.append(
            {
                "arrival_id": r["arrival_id"],
                "name": arrivals[r["arrival_id"]]["name"],
                "kind": r["kind"],
                "ref": r["ref"],
                "who": who(r["kind"], r["ref"]),
                "officer": r["officer"],
                "at": r["at"],
                "reason": r["reason"],
                "distance": cand[0] if cand else None,
                "threshold": cand[1] if cand else None,
            }
        )
    drafts = [
        {
            "ref": d["ref"],
            "kind": d["kind"],
            "arrival_id": d["arrival_id"],
            "officer": d["officer"],
            "created_at": d["created_at"],
            "outcome": d["outcome"] or "not yet recorded",
            "outcome_at": d["outcome_at"],
            "purged": bool(d.get("purged_at")),
        }
        for d in store.db["drafts"].rows_where(scope, params, order_by="created_at, ref")
        if d["arrival_id"] in arrivals  # a void arrival's drafts went with it
    ]
    unreferred = [
        dict(r, name=arrivals[r["arrival_id"]]["name"], missing=[referrals.STEPS[m] for m in r["missing"]])
        for r in referrals.incomplete(store, list(arrivals))
    ]
    scores = [a["quality"] for a in arrivals.values() if a["quality"] is not None]
    bins = [
        {"label": f"{lo}-{hi}", "count": sum(lo <= s < hi or (hi == 100 and s == 100) for s in scores)}
        for lo, hi in QUALITY_BINS
    ]
    origins: dict[str, int] = {}
    for a in arrivals.values():
        origins[a["origin"]] = origins.get(a["origin"], 0) + 1
    return {
        "day": day,
        "site": site,
        "generated_at": utcnow(),
        "home_site": store.config.site,
        "device": store.config.device,
        "training": bool(store.config.training),
        "totals": {
            "arrivals": len(arrivals),
            "children": sum(a["safeguarding"] for a in arrivals.values()),
            "awaiting": len(awaiting),
            "awaiting_candidates": sum(len(p["candidates"]) for p in awaiting),
            "confirmed": len(confirmed),
            "drafts": len(drafts),
            "drafts_with_outcome": sum(d["outcome"] != "not yet recorded" for d in drafts),
            "referrals_incomplete": len(unreferred),
        },
        "by_site_vessel": sorted(groups.values(), key=lambda g: (g["site"], g["vessel"])),
        "origins": [{"origin": k, "arrivals": v} for k, v in sorted(origins.items())],
        "children": [a for a in arrivals.values() if a["safeguarding"]],
        "awaiting": awaiting,
        "duplicates": duplicates,
        "confirmed": confirmed,
        "drafts": drafts,
        "referrals_incomplete": unreferred,
        "quality": {
            "bins": bins,
            "max_bin": max(b["count"] for b in bins),
            "measured": len(scores),
            "median": statistics.median(scores) if scores else None,
            "min": min(scores, default=None),
            "overrides": sum(a["quality_override"] is not None for a in arrivals.values()),
        },
        "arrivals": list(arrivals.values()),
    }


def _found_by(found_by: list[str]) -> str | None:
    """Whose searches found a candidate, when a laptop's did: None when only this home's search did."""
    return None if found_by == [review.THIS_HOME] else "found by " + " and ".join(found_by)


def render(data: dict[str, Any], fmt: str) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("triage.outputs", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(f"report.{'html' if fmt == 'html' else 'txt'}.j2").render(**data)


def report(
    store: Store,
    day: str,
    *,
    officer: str,
    fmt: str = "html",
    out: Path | None = None,
    site: str | None = None,
    force: bool = False,
) -> tuple[dict[str, Any], str]:
    """Build the day's report; with `out`, write it there atomically (an existing file only with `force`,
    never inside the home). Returns the data and the rendered text."""
    if fmt not in FORMATS:
        raise BadInput(f"--format {fmt!r}: choose html or text")
    if out is not None:
        if out.is_dir():
            raise BadInput(f"--out {out} is a folder; give a file name such as {out / f'report-{day}.html'}")
        if not out.parent.is_dir():
            raise BadInput(f"--out {out}: the folder {out.parent} does not exist")
        check_output(out, home=store.home, force=force)
    data = gather(store, day, site=site, thumbnails=fmt == "html")
    text = render(data, fmt)
    with store.transaction():
        store.audit(
            "report",
            officer,
            records=[f"arrival:{a['arrival_id']}" for a in data["arrivals"]][:500],
            reason=f"{fmt} report of {day}" + (f" at {site}" if site else "") + (f" to {out.name}" if out else ""),
        )
        if out is not None:
            write_files({out: text.encode("utf-8")})
    return data, text
