"""Intelligence across sites: crime groups and the identifiers that tie arrivals at different sites together, and
the hub's report for a period.

A phone number, payment handle or name given in debriefs is held only as a keyed blind (and sealed), so the
hub finds the same number named at two sites without the database holding it. A crime group registered at
one site suggests every arrival anywhere whose debrief names one of the group's identifiers, or one named by an
arrival already linked to the group; an identifier named at two or more sites is itself a suggested link across
sites, whether or not any group holds it yet. Suggestions are for an officer to decide on, never links.

Every row a view rests on is read with its keyed tag checked (`rows.py`): the groups, their identifiers and
links, the debrief identifiers matched and the arrivals shown, and, for the report, every arrival landed in the
period (voided or not, so that a void made outside triage is refused rather than left out of the counts).
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from triage.casework.safeguarding import age_text
from triage.errors import BadInput, NotFound
from triage.hub import rows
from triage.hub.hub import Hub
from triage.intake.biographic import parse_full_date

_ARRIVAL = rows.columns("arrivals", "a_", t="a")
_LINKS = (
    f"SELECT l.id, l.sealed, {rows.columns('group_links', 'l_', t='l', g='g')}, {_ARRIVAL}, a.id AS a_row "
    "FROM group_links l LEFT JOIN groups g ON g.id = l.grp LEFT JOIN arrivals a ON a.id = l.arrival"
)


def _arrival(key: str, aid: str, site: str | None, day: dt.date) -> dict[str, Any]:
    return {"arrival_key": key, "arrival_id": aid, "site": site, "day": day.isoformat()}


def _shown(hub: Hub, row: dict[str, Any], prefix: str = "a_") -> dict[str, Any]:
    """An arrival as a view shows it, its row's tag checked."""
    hub.rows.check("arrivals", row, prefix, row[prefix + "key"])
    return _arrival(row[prefix + "key"], row[prefix + "arrival_id"], row[prefix + "site"], row[prefix + "landed_day"])


def _value(hub: Hub, key: str, sealed: bytes) -> str:
    return str(hub.open(sealed, f"identifiers:{key}")["value"])


def _link(hub: Hub, row: dict[str, Any]) -> dict[str, Any]:
    """A crime-group link (selected by _LINKS) opened, its row and its arrival's checked."""
    hub.rows.check("group_links", row, "l_", row["l_key"])
    body = hub.open(row["sealed"], f"group_links:{row['l_key']}")
    return {**_shown(hub, row), **body}


@dataclass
class GroupView:
    ref: str
    records: list[dict[str, Any]]  # the group as each laptop registered it
    links: list[dict[str, Any]]
    suggestions: list[dict[str, Any]]
    sites: list[str]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def show(hub: Hub, ref: str) -> GroupView:
    """A crime group across every site: how each laptop registered it, every decision on its links, and the
    arrivals anywhere that a debrief ties to it and nobody has decided on."""
    typed = ref.strip()
    groups = rows.dicts(  # laptops keep refs in capitals, so `ocg-2026-014` names OCG-2026-014, as on a home
        hub.conn,
        f"SELECT g.id, g.sealed, {rows.columns('groups', 'g_', t='g')} FROM groups g WHERE g.ref = ANY(%s) "
        "ORDER BY g.id",
        [sorted({typed, typed.upper()})],
    )
    if not groups:
        raise NotFound(
            f"no crime group {ref!r} in the hub; groups arrive with the batches of the laptops that hold them"
        )
    for g in groups:
        hub.rows.check("groups", g, "g_", g["g_key"])
    ref = groups[0]["g_ref"]
    ids = [g["id"] for g in groups]
    sites_of: dict[str, set[str]] = {}  # device -> the sites of its arrivals (the group's last batch may add none)
    for a in rows.dicts(
        hub.conn,
        f"SELECT DISTINCT ON (a.device, a.site) {_ARRIVAL} FROM arrivals a WHERE a.device = ANY(%s) "
        "AND a.site IS NOT NULL ORDER BY a.device, a.site, a.id",
        [sorted({g["g_device"] for g in groups})],
    ):
        _shown(hub, a)
        sites_of.setdefault(a["a_device"], set()).add(a["a_site"])
    # the site the laptop named when it exported the group's batch; else (a batch of no site) where it landed anyone
    batch_site = dict(
        hub.conn.execute("SELECT sha256, site FROM batches WHERE sha256 = ANY(%s)", [[g["g_batch"] for g in groups]])
    )
    records = [
        {
            "key": g["g_key"],
            "device": g["g_device"],
            "site": batch_site.get(g["g_batch"]) or ", ".join(sorted(sites_of.get(g["g_device"], ()))) or None,
            **hub.open(g["sealed"], f"groups:{g['g_key']}"),
        }
        for g in groups
    ]
    held = rows.dicts(hub.conn, _LINKS + " WHERE l.grp = ANY(%s) ORDER BY l.id", [ids])
    held_keys = [r["l_key"] for r in held]
    later = rows.dicts(hub.conn, _LINKS + " WHERE l.supersedes = ANY(%s) AND l.key <> ALL(%s)", [held_keys, held_keys])
    for r in later:  # a link elsewhere that replaces one of these must be one triage wrote
        hub.rows.check("group_links", r, "l_", r["l_key"])
    superseded = {r["l_supersedes"] for r in [*held, *later] if r["l_supersedes"]}
    links = []
    decided: set[str] = set()
    linked: list[int] = []
    for r in held:
        link = _link(hub, r)
        if r["l_key"] in superseded:
            continue
        links.append(link)
        decided.add(r["a_key"])
        if link.get("decision") == "linked":
            linked.append(r["a_row"])
    own = rows.dicts(
        hub.conn,
        f"SELECT {rows.columns('group_identifiers', 'gi_', t='gi', g='g')} FROM group_identifiers gi "
        "JOIN groups g ON g.id = gi.grp WHERE gi.grp = ANY(%s)",
        [ids],
    )
    for r in own:
        hub.rows.check("group_identifiers", r, "gi_", f"of group {r['gi_grp']}")
    named = rows.dicts(  # what the arrivals linked to the group gave in their debriefs
        hub.conn,
        f"SELECT {rows.columns('identifiers', 'i_', t='i', a='a')}, i.id FROM identifiers i "
        "LEFT JOIN arrivals a ON a.id = i.arrival WHERE i.arrival = ANY(%s)",
        [linked],
    )
    for r in named:
        hub.rows.check("identifiers", r, "i_", r["id"])
    found: dict[str, dict[str, Any]] = {}
    for via, sql, params in (
        (
            "the group's own identifiers",
            "SELECT DISTINCT i.id FROM identifiers i JOIN group_identifiers g ON g.kind = i.kind AND g.blind = i.blind "
            "WHERE g.grp = ANY(%s)",
            [ids],
        ),
        (
            "a debrief of an arrival linked to the group",
            "SELECT DISTINCT i.id FROM identifiers i JOIN identifiers j ON j.kind = i.kind AND j.blind = i.blind "
            "WHERE j.arrival = ANY(%s) AND i.arrival <> j.arrival",
            [linked],
        ),
    ):
        idents = [r[0] for r in hub.conn.execute(sql, params)]
        for r in rows.dicts(
            hub.conn,
            f"SELECT i.id, i.sealed, {_ARRIVAL}, {rows.columns('identifiers', 'i_', t='i', a='a')} FROM identifiers i "
            "JOIN arrivals a ON a.id = i.arrival WHERE i.id = ANY(%s) ORDER BY a.landed_at, a.id",
            [idents],
        ):
            hub.rows.check("identifiers", r, "i_", r["id"])
            shown = _shown(hub, r)
            akey = r["a_key"]
            if akey in decided or r["a_voided"]:
                continue
            s = found.setdefault(akey, {**shown, "matched": [], "via": []})
            m = {"kind": r["i_kind"], "source": r["i_source"], "value": _value(hub, akey, r["sealed"])}
            if m not in s["matched"]:
                s["matched"].append(m)
            if via not in s["via"]:
                s["via"].append(via)
    suggestions = list(found.values())
    sites = sorted({x["site"] for x in [*links, *suggestions, *records] if x.get("site")})
    with hub.conn.transaction():
        hub.audit("ocg-show", records=[f"ocg:{ref}", *(f"arrival:{s['arrival_key']}" for s in suggestions)])
    return GroupView(ref, records, links, suggestions, sites)


def shared_listed(hub: Hub) -> list[dict[str, Any]]:
    """`shared` as `triage hub ocg shared` lists it: the numbers, handles and names it opens are personal data, so
    the listing is audited, as `show` and the report are."""
    out = shared(hub)
    with hub.conn.transaction():
        hub.audit("ocg-shared", records=sorted({f"arrival:{a['arrival_key']}" for s in out for a in s["arrivals"]}))
    return out


def shared(hub: Hub, *, start: dt.date | None = None, end: dt.date | None = None) -> list[dict[str, Any]]:
    """Identifiers given in debriefs at two or more sites: each a suggested link across sites, with the arrivals
    that named it and the crime groups that hold it."""
    where, params = "", []
    if start and end:
        where, params = " AND a.landed_day BETWEEN %s AND %s", [start, end]
    out = []
    for kind, blind in hub.conn.execute(
        "SELECT i.kind, i.blind FROM identifiers i JOIN arrivals a ON a.id = i.arrival "
        f"WHERE NOT a.voided{where} GROUP BY i.kind, i.blind HAVING count(DISTINCT a.site) > 1 ORDER BY 1, 2",
        params,
    ).fetchall():
        named = rows.dicts(
            hub.conn,
            f"SELECT i.id, i.sealed, {_ARRIVAL}, {rows.columns('identifiers', 'i_', t='i', a='a')} FROM identifiers i "
            f"JOIN arrivals a ON a.id = i.arrival WHERE i.kind = %s AND i.blind = %s AND NOT a.voided{where} "
            "ORDER BY a.landed_at, i.id",
            [kind, blind, *params],
        )
        arrivals: dict[str, dict[str, Any]] = {}
        for r in named:
            hub.rows.check("identifiers", r, "i_", r["id"])
            arrivals.setdefault(r["a_key"], _shown(hub, r))
        groups = set()
        for r in rows.dicts(
            hub.conn,
            f"SELECT {rows.columns('group_identifiers', 'gi_', t='gi', g='g')}, "
            f"{rows.columns('groups', 'g_', t='g')} FROM group_identifiers gi JOIN groups g ON g.id = gi.grp "
            "WHERE gi.kind = %s AND gi.blind = %s",
            [kind, blind],
        ):
            hub.rows.check("group_identifiers", r, "gi_", f"of group {r['gi_grp']}")
            hub.rows.check("groups", r, "g_", r["g_key"])
            groups.add(r["g_ref"])
        out.append(
            {
                "kind": kind,
                "value": _value(hub, named[0]["a_key"], named[0]["sealed"]),
                "sites": sorted({a["site"] for a in arrivals.values() if a["site"]}),
                "arrivals": list(arrivals.values()),
                "groups": sorted(groups),
            }
        )
    return out


@dataclass
class Report:
    start: str
    end: str
    arrivals: int
    by_site: dict[str, int]
    by_week: dict[str, int]
    by_nationality: dict[str, int]
    pending_alerts: list[dict[str, Any]]
    # laptops' alerts decided anywhere, and the hub's own decided here: each alert once, with its standing decision
    # and the one a correction replaced (`review.decided_alerts`)
    decided_alerts: list[dict[str, Any]]
    repeat_arrivals: list[dict[str, Any]]
    group_links: list[dict[str, Any]]
    shared_identifiers: list[dict[str, Any]]
    safeguarding: list[dict[str, Any]] = field(default_factory=list)  # arrivals flagged, each with why

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def report(hub: Hub, start: str, end: str) -> Report:
    """What the hub holds for arrivals landed from `start` to `end` (inclusive)."""
    first, last = parse_full_date(start, "--from"), parse_full_date(end, "--to")  # each named when it is wrong
    start, end = first.isoformat(), last.isoformat()
    if last < first:
        raise BadInput(f"--to {end} is before --from {start}")
    from triage.hub import review

    sites: Counter[str] = Counter()
    weeks: Counter[str] = Counter()
    nationalities: Counter[str] = Counter()
    flagged: list[dict[str, Any]] = []
    records: dict[str, tuple[dict[str, Any], str]] = {}  # the flagged arrivals' records, for why each is flagged
    ids, keyed = [], []
    for row in rows.dicts(  # voided ones too: each is checked, so a void made outside triage is not just left out
        hub.conn,
        f"SELECT a.id, a.sealed, {_ARRIVAL} FROM arrivals a WHERE a.landed_day BETWEEN %s AND %s",
        [first, last],
    ):
        _shown(hub, row)
        if row["a_voided"]:
            continue
        ids.append(row["id"])
        keyed.append(row["a_key"])
        sites[row["a_site"] or "(no site)"] += 1
        year, week, _ = row["a_landed_day"].isocalendar()
        weeks[f"{year}-W{week:02d}"] += 1
        record = hub.open(row["sealed"], f"arrivals:{row['a_key']}")
        details = record.get("details") or {}
        nationalities[details.get("nationality") or "(not recorded)"] += 1
        if record.get("safeguarding"):
            day = row["a_landed_day"].isoformat()
            flagged.append({**_shown(hub, row), "age_given": age_text(details, day) or "age not given"})
            records[row["a_key"]] = (record, day)
    review.check_unflagged(hub, [key for key in keyed if key not in records])
    why = review.reasons_of(hub, records)
    for a in flagged:
        a["reasons"] = why[a["arrival_key"]]
    held = [c for c in review.pending_candidates(hub, arrivals=ids) if c["kind"] == "watchlist"]
    laptops = review.pending_alerts(hub, arrivals=ids)
    hits, laptops = review.one_per_hit(hub, review.found_by(held, laptops), laptops, ids)
    alerts = laptops + hits
    review.with_safeguarding(hub, alerts)
    repeats = []
    undecided = []
    for r in rows.dicts(
        hub.conn,
        f"SELECT c.id, {rows.columns('candidates', 'c_', t='c')}, {_ARRIVAL}, "
        f"{rows.columns('arrivals', 'o_', t='o')}, d.candidate AS decided, {rows.columns('decisions', 'd_', t='d')} "
        "FROM candidates c JOIN arrivals a ON a.id = c.arrival JOIN arrivals o ON o.id = c.other "
        "LEFT JOIN decisions d ON d.candidate = c.id WHERE c.kind = 'arrival' AND a.site IS DISTINCT FROM o.site "
        "AND (a.id = ANY(%s) OR o.id = ANY(%s)) AND NOT a.voided AND NOT o.voided ORDER BY c.distance, c.id",
        [ids, ids],
    ):
        hub.rows.check("candidates", r, "c_", r["id"])
        if r["decided"] is not None:
            hub.rows.check("decisions", r, "d_", f"of candidate {r['id']}")
        else:
            undecided.append(r["id"])
        repeats.append(
            {
                "candidate": r["id"],
                "distance": r["c_distance"],
                "threshold": r["c_threshold"],
                "decision": r["d_decision"],
                "arrival": _shown(hub, r),
                "other": _shown(hub, r, "o_"),
            }
        )
    review.check_undecided(hub, undecided)
    review.check_as_recorded(hub, [x["candidate"] for x in repeats if x["decision"] is not None])
    links = []
    for r in rows.dicts(
        hub.conn,
        f"SELECT {rows.columns('groups', 'g_', t='g')}, q.* FROM ({_LINKS} WHERE l.arrival = ANY(%s)) q "
        "JOIN groups g ON g.key = q.l_grp ORDER BY g.ref, q.a_landed_at, q.id",
        [ids],
    ):
        hub.rows.check("groups", r, "g_", r["g_key"])
        link = _link(hub, r)
        shown = {k: link[k] for k in ("arrival_key", "arrival_id", "site", "day")}
        links.append({"ref": r["g_ref"], **shown, "decision": link.get("decision")})
    result = Report(
        start=first.isoformat(),
        end=last.isoformat(),
        arrivals=len(ids),
        by_site=dict(sorted(sites.items())),
        by_week=dict(sorted(weeks.items())),
        by_nationality=dict(sorted(nationalities.items(), key=lambda kv: (-kv[1], kv[0]))),
        pending_alerts=alerts,
        decided_alerts=review.decided_alerts(hub, arrivals=ids),
        repeat_arrivals=repeats,
        group_links=links,
        shared_identifiers=shared(hub, start=first, end=last),
        safeguarding=flagged,
    )
    with hub.conn.transaction():
        hub.audit("report", records=[f"period:{result.start}/{result.end}"])
    return result


def as_text(r: Report) -> str:
    from triage.hub.review import SAFEGUARDING

    lines = [f"Regional hub report, {r.start} to {r.end}: {r.arrivals} arrivals", ""]
    for title, counts in (("By site", r.by_site), ("By week", r.by_week), ("By nationality", r.by_nationality)):
        lines.append(title)
        lines += [f"  {name:<30} {n:>7}" for name, n in counts.items()] or ["  none"]
        lines.append("")
    lines.append(f"Flagged for safeguarding (a possible child, or the reason given): {len(r.safeguarding)}")
    for a in r.safeguarding:
        lines.append(f"  {a['arrival_key']} ({a['site']}, {a['day']}): {a['age_given']}")
        lines += [f"      {x['summary']}" for x in a["reasons"]]
    lines += ["", f"Pending alerts: {len(r.pending_alerts)}"]
    lines += [
        f"  {a['arrival_key']} ({a['site']}, {a['day']}{', ' + SAFEGUARDING if a.get('safeguarding') else ''}) - "
        f"{a['ref']} at {a['distance']:.3f}{_against(a)}, found by {a.get('found_by') or a['laptop']}: " + _to_decide(a)
        for a in r.pending_alerts
    ]
    corrected = _corrected(r)
    lines += [
        "",
        f"Alerts decided: {len(r.decided_alerts)}" + (f" ({corrected} corrected at the hub)" if corrected else ""),
    ]
    lines += [
        f"  {a['arrival_key']} ({a['site']}, {a['day']}) - {a['ref']}: {a['decision']}"
        + (f" by {a['officer']}" if a["officer"] else "")
        + f", {_decided_where(a)}"
        + "".join(f"; {x}" for x in _also(a))
        for a in r.decided_alerts
    ]
    lines += ["", f"Repeat arrivals across sites: {len(r.repeat_arrivals)}"]
    lines += [
        f"  {x['arrival']['arrival_key']} ({x['arrival']['site']}, {x['arrival']['day']}) and "
        f"{x['other']['arrival_key']} ({x['other']['site']}, {x['other']['day']}): distance {x['distance']:.3f}"
        f"{_against(x)}, "
        f"{x['decision'] or 'not decided'}"
        for x in r.repeat_arrivals
    ]
    lines += ["", f"Crime-group links: {len(r.group_links)}"]
    lines += [f"  {g['ref']}: {g['arrival_key']} ({g['site']}, {g['day']}) {g['decision']}" for g in r.group_links]
    lines += ["", f"Identifiers named at several sites: {len(r.shared_identifiers)}"]
    lines += [
        f"  {s['kind']} {s['value']}: {', '.join(s['sites'])} ({len(s['arrivals'])} arrivals"
        + (f"; groups {', '.join(s['groups'])}" if s["groups"] else "")
        + ")"
        for s in r.shared_identifiers
    ]
    lines += ["", NOT_AN_IDENTIFICATION]
    return "\n".join(_within(line) for line in lines) + "\n"


def _within(line: str, width: int = 80) -> str:
    """A line of the text report wrapped between words to `width` columns, each entry's later lines indented
    under it; an arrival's key, a hyphenated word, is never split."""
    if len(line) <= width:
        return line
    lead = line[: len(line) - len(line.lstrip())]
    return textwrap.fill(line, width, subsequent_indent=lead + "    ", break_long_words=False, break_on_hyphens=False)


NOT_AN_IDENTIFICATION = (
    "Candidates are for a person to review: a distance below the threshold is a reason to look, never an "
    "identification."
)


def threshold_note(threshold: float | None) -> str:
    """The threshold a distance was judged against, to show beside it: a distance alone says nothing."""
    return "" if threshold is None else f" (threshold {threshold:.2f})"


def _against(x: dict[str, Any]) -> str:
    return threshold_note(x.get("threshold"))


def _to_decide(a: dict[str, Any]) -> str:
    """Where a pending alert is decided: a laptop's alert the hub's search did not find, on that laptop or by a
    supervisor who imports its batch (`review.decided_where`); the hub's own candidate, here, by its number."""
    if a.get("decided_where"):
        return str(a["decided_where"])
    numbers = a.get("candidates") or [a.get("candidate")]
    return f"decided at the hub, candidate {'+'.join(map(str, numbers))}"


def _decided_where(a: dict[str, Any]) -> str:
    return "decided at the hub" if a["laptop"] is None else f"decided on {a['decided_on']}"


def _corrected(r: Report) -> int:
    """How many of the alerts decided stand corrected at the hub (each alert counts once, as its decision stands)."""
    return sum(1 for a in r.decided_alerts if a.get("corrects"))


def _also(a: dict[str, Any]) -> list[str]:
    """The other decisions recorded on an alert, kept in the record though not standing: the one a correction at
    the hub replaced, and a laptop's that came later than the hub's."""
    said = [f"correcting {_taken(a['corrects'])}"] if a.get("corrects") else []
    return said + ([f"also {_taken(a['also'])}, which does not stand"] if a.get("also") else [])


def _taken(d: dict[str, Any]) -> str:
    """A decision as the report names one that does not stand: what, by whom, where."""
    from triage.hub.review import HUB

    where = "at the hub" if d.get("decided_on") in (None, HUB) else f"on {d['decided_on']}"
    return f"{d.get('decision')} by {d.get('officer')} {where}"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Regional hub report {{ r.start }} to {{ r.end }}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin:0 0 1.5em}
td,th{border:1px solid #999;padding:.2em .6em;text-align:left}th{background:#eee}td.n{text-align:right}</style>
</head><body>
<h1>Regional hub report</h1>
<p>Arrivals landed {{ r.start }} to {{ r.end }}: <strong>{{ r.arrivals }}</strong>. OFFICIAL-SENSITIVE.</p>
<p>{{ not_an_identification }}</p>
{% for title, counts in [("By site", r.by_site), ("By week", r.by_week), ("By nationality", r.by_nationality)] %}
<h2>{{ title }}</h2><table><tr><th>{{ title[3:] }}</th><th>arrivals</th></tr>
{% for name, n in counts.items() %}<tr><td>{{ name }}</td><td class="n">{{ n }}</td></tr>{% endfor %}</table>
{% endfor %}
<h2>Flagged for safeguarding ({{ r.safeguarding|length }})</h2>
<p>A possible child, or the reason an officer gave.</p>
<table><tr><th>arrival</th><th>site</th><th>day</th><th>age given</th><th>why flagged</th></tr>
{% for a in r.safeguarding %}<tr><td>{{ a.arrival_key }}</td><td>{{ a.site }}</td><td>{{ a.day }}</td>
<td>{{ a.age_given }}</td><td>{% for x in a.reasons %}<div>{{ x.summary }}</div>{% endfor %}</td></tr>
{% endfor %}</table>
<h2>Pending alerts ({{ r.pending_alerts|length }})</h2>
<table><tr><th>arrival</th><th>site</th><th>day</th><th>subject</th><th>distance</th><th>threshold</th><th>found by</th><th>where it is decided</th></tr>
{% for a in r.pending_alerts %}<tr><td>{{ a.arrival_key }}</td><td>{{ a.site }}</td><td>{{ a.day }}</td>
<td>{{ a.ref }}</td><td class="n">{{ "%.3f"|format(a.distance) }}</td>
<td class="n">{{ "%.2f"|format(a.threshold) if a.threshold is not none else "" }}</td><td>{{ a.found_by or a.laptop }}</td>
<td>{{ to_decide(a) }}</td></tr>
{% endfor %}</table>
<h2>Alerts decided ({{ r.decided_alerts|length }}{% if corrected(r) %}; {{ corrected(r) }} corrected at the hub{% endif %})</h2>
<table><tr><th>arrival</th><th>site</th><th>day</th><th>subject</th><th>decision</th><th>by</th><th>decided on</th><th>earlier or other decisions</th></tr>
{% for a in r.decided_alerts %}<tr><td>{{ a.arrival_key }}</td><td>{{ a.site }}</td><td>{{ a.day }}</td>
<td>{{ a.ref }}</td><td>{{ a.decision }}</td><td>{{ a.officer or "" }}</td><td>{{ a.decided_on }}</td>
<td>{% for x in also(a) %}<div>{{ x }}</div>{% endfor %}</td></tr>
{% endfor %}</table>
<h2>Repeat arrivals across sites ({{ r.repeat_arrivals|length }})</h2>
<table><tr><th>arrival</th><th>site, day</th><th>earlier arrival</th><th>site, day</th><th>distance</th><th>threshold</th><th>decision</th></tr>
{% for x in r.repeat_arrivals %}<tr><td>{{ x.arrival.arrival_key }}</td><td>{{ x.arrival.site }}, {{ x.arrival.day }}</td>
<td>{{ x.other.arrival_key }}</td><td>{{ x.other.site }}, {{ x.other.day }}</td>
<td class="n">{{ "%.3f"|format(x.distance) }}</td>
<td class="n">{{ "%.2f"|format(x.threshold) if x.threshold is not none else "" }}</td><td>{{ x.decision or "not decided" }}</td></tr>{% endfor %}</table>
<h2>Crime-group links ({{ r.group_links|length }})</h2>
<table><tr><th>group</th><th>arrival</th><th>site</th><th>day</th><th>decision</th></tr>
{% for g in r.group_links %}<tr><td>{{ g.ref }}</td><td>{{ g.arrival_key }}</td><td>{{ g.site }}</td><td>{{ g.day }}</td>
<td>{{ g.decision }}</td></tr>{% endfor %}</table>
<h2>Identifiers named at several sites ({{ r.shared_identifiers|length }})</h2>
<table><tr><th>kind</th><th>value</th><th>sites</th><th>arrivals</th><th>groups</th></tr>
{% for s in r.shared_identifiers %}<tr><td>{{ s.kind }}</td><td>{{ s.value }}</td><td>{{ s.sites|join(", ") }}</td>
<td>{{ s.arrivals|map(attribute="arrival_key")|join(", ") }}</td><td>{{ s.groups|join(", ") }}</td></tr>{% endfor %}
</table></body></html>
"""


def as_html(r: Report) -> str:
    """The report as one page with nothing to fetch: no script, no style sheet or font from elsewhere."""
    import jinja2

    return (
        jinja2.Environment(autoescape=True)
        .from_string(_PAGE)
        .render(
            r=r, not_an_identification=NOT_AN_IDENTIFICATION, corrected=_corrected, also=_also, to_decide=_to_decide
        )
    )
