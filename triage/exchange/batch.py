"""A day's batch: every arrival landed that day, in open formats, signed by the laptop that made it and
encrypted to the people allowed to read it.

Inside, once decrypted, is a zip that any tool opens:

- `manifest.json`: what the batch is (day, site, device, training or not, who exported it and when, the
  signing key) and the SHA-256 and size of every other member;
- `manifest.sig`: the exporting laptop's Ed25519 signature of `manifest.json`;
- `arrivals.jsonl`: one JSON record per arrival with its details, quality, searches (each naming the version of
  the watchlist package searched) and their candidates (each with its review state on the laptop, and a
  watchlist subject's category, so that a home that does not hold the subject still sees what the alert is),
  reviews, drafts (with their handling codes) and their outcomes;
- `debriefs.jsonl`, `referrals.jsonl`: every version of the arrivals' debriefs (declined answers as
  declined) and referral records, one per line; `ocg_links.jsonl`: every crime-group decision on them;
  `ocgs.jsonl`: the crime groups those decisions name or their debriefs' numbers and names suggest
  (`landing_records`). Each is a record of its own, so a merge recreates it as a row of its own;
- `received.jsonl`, only when there are any: the decisions this laptop took on records it received from
  other laptops (reviews and drafts on their arrivals, outcomes of their drafts, and a safeguarding flag it
  raised on one), one line per arrival;
- `corrections.jsonl`, only when there are any: every amendment and void this laptop made to the day's
  arrivals (its own or received), one per line under a key of its own, so one made after the arrival was
  exported reaches the supervisor when the day is exported again;
- `audit.jsonl`: the laptop's audit events behind them; `summary.csv`: one row per arrival for a spreadsheet;
- `portraits/<arrival>.jpg`; and, only with `--with-templates`, `templates.jsonl` (face templates).

The zip is encrypted with age to one or more recipients' public keys, so it is readable by nobody else
on the way; it is built and encrypted in memory and written under a temporary name that is renamed
into place, so no clear copy ever touches the disk and a half-written file never has the final name.

Every row carries a `key`, DEVICE:ID, naming the laptop that made it and its id there, and names the rows
it refers to by their keys too (`arrival_key`, `ref_key`, `ocg_key`, `target_key`; a debrief's
`arrival_keys` for the arrivals its answers name): merging on another laptop (`merge.py`) uses the keys to
recognise rows it already holds, whatever ids they were given locally. A batch carries its own laptop's
records only: rows that came from other laptops go back to them, if at all, in those laptops' own batches, and
are named here only as references (`records.py` checks this, and every record, before anything merges).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triage.casework import issued
from triage.casework.arrivals import PAIR_KINDS
from triage.casework.debrief import records as debrief_records
from triage.errors import BadInput, IntegrityFailure, NotFound, TriageError
from triage.exchange import keys, sealed
from triage.exchange.records import ARRIVAL_ID, CORRECTIONS, DEVICE, Checker, is_line, read_lines, shown
from triage.files import write_files
from triage.intake.biographic import Details
from triage.store.rows import Store, utcnow

FORMAT = "triage-batch/8"
MANIFEST, SIGNATURE = sealed.MANIFEST, sealed.SIGNATURE
MAX_BATCH_BYTES = 2 * 1024**3
MAX_MANIFEST_BYTES = 16 * 1024**2
SUMMARY_FIELDS = (
    "arrival_id",
    "landed_at",
    "site",
    "vessel",
    "officer",
    "device",
    "name",
    "nationality",
    "dob",
    "safeguarding",
    "quality_score",
    "alerts",
    "decisions",
    "training",
)
# Ids that only mean something inside one store: a record names rows by their keys instead.
# `voided` travels as the sealed `void`; `photo_file_key` is the sealed, unblinded `source_key` (arrivals.SOURCE).
LOCAL_COLUMNS = ("source_key", "photo_file_key", "arrival_id", "search_id", "voided")
# Records of the landing kept beside the arrivals, each in its own member `<kind>.jsonl`.
LANDING = ("debriefs", "referrals", "ocgs", "ocg_links")
RECEIVED = "received.jsonl"
# Every member a batch may hold besides its portraits (`portraits/<arrival id>.jpg`).
MEMBERS = frozenset(
    {
        "arrivals.jsonl",
        "audit.jsonl",
        "summary.csv",
        "templates.jsonl",
        RECEIVED,
        CORRECTIONS,
        *(f"{k}.jsonl" for k in LANDING),
    }
)
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Progress = Callable[[str, int, int], None]


def spreadsheet_safe(value: object) -> str:
    """Neutralise text a spreadsheet would run as a formula (=, +, -, @ and control prefixes)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# -- row keys ------------------------------------------------------------------------------------------


def origin_keys(store: Store, kind: str) -> dict[str, str]:
    """Local id -> key, for the rows of one kind that merging brought in."""
    return {r["local"]: r["key"] for r in store.rows("merged", "kind = ?", [kind])}


def key_of(store: Store, imported: dict[str, str], local: object) -> str:
    """The key of a row: where a batch brought it from, or this device when it was made here."""
    return imported.get(str(local)) or f"{store.config.device}:{local}"


def made_here(imported: dict[str, str], local: object) -> bool:
    """Whether a row was made on this laptop rather than brought by a batch (`imported`: `origin_keys`)."""
    return str(local) not in imported


# -- export --------------------------------------------------------------------------------------------


def day_scope(day: str, site: str | None = None) -> tuple[str, list[Any]]:
    """The SQL condition and parameters selecting the arrivals of a day (and site) in `arrivals`."""
    return ("landed_day = ? AND site = ?", [day, site]) if site else ("landed_day = ?", [day])


def day_arrivals(store: Store, day: str, site: str | None = None) -> list[dict[str, Any]]:
    """The day's arrivals (details opened), oldest first; none at all is an error that says so."""
    rows = store.rows("arrivals", *day_scope(day, site), order_by="landed_at, id")
    if not rows:
        raise NotFound(f"no arrivals landed on {day}" + (f" at {site}" if site else "") + " in this home")
    return rows


def _strip(row: dict[str, Any], *drop: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in drop and k not in LOCAL_COLUMNS}


ROW_KINDS = ("arrivals", "searches", "reviews", "drafts", "draft_outcomes")


@dataclass
class _Made:
    """The rows about a day's arrivals as batch records, and which of them were made on this laptop."""

    store: Store
    keys: dict[str, dict[str, str]]  # kind -> `origin_keys`
    by_arrival: dict[str, dict[str, list[dict[str, Any]]]]  # arrival -> table -> its rows made here
    outcomes: dict[str, list[dict[str, Any]]]  # draft ref -> the outcomes recorded here
    candidates: dict[int, list[dict[str, Any]]]  # search id -> its candidates
    draft_arrival: dict[str, str]  # every draft of the day's arrivals -> its arrival
    flagged: set[str] = field(default_factory=set)  # the day's arrivals flagged for safeguarding on this home
    decisions: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (arrival, kind, ref) -> in force
    categories: dict[str, str | None] = field(default_factory=dict)  # watchlist ref -> its category here
    packages: list[tuple[str, int]] = field(default_factory=list)  # (received at, version) of watchlist packages

    @classmethod
    def read(cls, store: Store, day: str, site: str | None) -> _Made:
        where, params = day_scope(day, site)
        scope = f"arrival_id IN (SELECT id FROM arrivals WHERE {where})"
        keys = {kind: origin_keys(store, kind) for kind in ROW_KINDS}
        made = cls(store, keys, {}, {}, {}, {})
        made.packages = [
            (r["at"], r["version"]) for r in store.rows("watchlist_packages", "role = ?", [issued.RECEIVED])
        ]
        for table, pk in (("searches", "id"), ("reviews", "id"), ("drafts", "ref")):
            for row in store.rows(table, scope, params, order_by=pk):
                if table == "drafts":
                    made.draft_arrival[row["ref"]] = row["arrival_id"]
                if table == "reviews":  # later decisions win, wherever they were taken; one on a pair settles it
                    for kind in PAIR_KINDS if row["kind"] in PAIR_KINDS else (row["kind"],):
                        made.decisions[(row["arrival_id"], kind, row["ref"])] = row["decision"]
                if made_here(keys[table], row[pk]):
                    made.by_arrival.setdefault(row["arrival_id"], {}).setdefault(table, []).append(row)
        for row in store.rows(
            "draft_outcomes", f"ref IN (SELECT ref FROM drafts WHERE {scope})", params, order_by="id"
        ):
            if made_here(keys["draft_outcomes"], row["id"]):
                made.outcomes.setdefault(row["ref"], []).append(row)
        for row in store.rows("candidates", scope, params, order_by="search_id, rank"):
            made.candidates.setdefault(row["search_id"], []).append(row)
        made.flagged = {
            aid
            for (aid,) in store.db.execute(
                f"SELECT DISTINCT arrival_id FROM audit_events WHERE action = 'safeguarding-flag' AND {scope}", params
            )
        }
        return made

    def key(self, kind: str, local: object) -> str:
        return key_of(self.store, self.keys[kind], local)

    def rows(self, aid: str, table: str) -> list[dict[str, Any]]:
        return self.by_arrival.get(aid, {}).get(table, [])

    def _ref_key(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"ref_key": self.key("arrivals", row["ref"])} if row["kind"] in PAIR_KINDS else {}

    def category(self, ref: str) -> str | None:
        """A watchlist subject's category as held here (None when it is no longer held)."""
        if ref not in self.categories:
            rows = self.store.rows("subjects", "ref = ?", [ref])
            self.categories[ref] = rows[0].get("category") if rows else None
        return self.categories[ref]

    def candidate(self, c: dict[str, Any]) -> dict[str, Any]:
        """A candidate with its review state here (the decision in force, or None while nobody has decided) and,
        for a watchlist subject, its category: what the supervisor is shown when its home does not hold it."""
        return {
            **_strip(c, "id"),
            **self._ref_key(c),
            "decision": self.decisions.get((c["arrival_id"], c["kind"], c["ref"])),
            **({"category": self.category(c["ref"])} if c["kind"] == "watchlist" else {}),
        }

    def search(self, s: dict[str, Any]) -> dict[str, Any]:
        return {
            "key": self.key("searches", s["id"]),
            **_strip(s, "id"),
            "watchlist_version": searched_watchlist(self.packages, s),
            "candidates": [self.candidate(c) for c in self.candidates.get(s["id"], [])],
        }

    def review(self, r: dict[str, Any]) -> dict[str, Any]:
        return {
            "key": self.key("reviews", r["id"]),
            **_strip(r, "id"),
            **self._ref_key(r),
            "supersedes": self.key("reviews", r["supersedes"]) if r["supersedes"] else None,
        }

    def draft(self, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "key": self.key("drafts", d["ref"]),
            **_strip(d),
            "outcomes": [self.outcome(o) for o in self.outcomes.get(d["ref"], [])],
        }

    def outcome(self, o: dict[str, Any]) -> dict[str, Any]:
        return {
            "key": self.key("draft_outcomes", o["id"]),
            **_strip(o, "id", "ref"),
            "supersedes": self.key("draft_outcomes", o["supersedes"]) if o["supersedes"] else None,
        }


def searched_watchlist(packages: Sequence[tuple[str, int]], search: dict[str, Any]) -> int | None:
    """The version of the issued watchlist package a search was run against: the newest received before it
    (`packages`: when each was received, and its version), or None when the home had received none and
    searched only the entries enrolled on it."""
    return max((version for at, version in packages if at <= search["at"]), default=None)


def _own_records(
    store: Store, rows: list[dict[str, Any]], made: _Made, where: str, params: list[Any]
) -> list[dict[str, Any]]:
    portraits = {
        r[0]: r
        for r in store.db.execute(
            f"SELECT owner_id, width, height, media_type FROM photos WHERE owner_kind = 'arrival' AND role = 'portrait' "
            f"AND data IS NOT NULL AND owner_id IN (SELECT id FROM arrivals WHERE {where})",
            params,
        ).fetchall()
    }
    out = []
    for row in rows:
        aid = row["id"]
        if not made_here(made.keys["arrivals"], aid):
            continue
        portrait = portraits.get(aid)
        rec = {"key": made.key("arrivals", aid), **_strip(row)}
        rec["portrait"] = (
            {"member": f"portraits/{aid}.jpg", "width": portrait[1], "height": portrait[2], "media_type": portrait[3]}
            if portrait
            else None
        )
        rec["searches"] = [made.search(s) for s in made.rows(aid, "searches")]
        rec["reviews"] = [made.review(r) for r in made.rows(aid, "reviews")]
        rec["drafts"] = [made.draft(d) for d in made.rows(aid, "drafts")]
        out.append(rec)
    return out


def day_records(store: Store, day: str, site: str | None = None) -> list[dict[str, Any]]:
    """The day's arrivals captured on this laptop as batch records, each with everything this laptop recorded
    about it, oldest first. What other laptops recorded travels in their own batches."""
    rows = day_arrivals(store, day, site)
    return _own_records(store, rows, _Made.read(store, day, site), *day_scope(day, site))


def _received_records(rows: list[dict[str, Any]], made: _Made) -> list[dict[str, Any]]:
    """For each of the day's arrivals, what this laptop decided on records other laptops made: its reviews and
    drafts on an arrival received from elsewhere, a safeguarding flag raised here on one (by an officer, or
    brought by a later batch of the laptop that landed it), and its outcomes of drafts received from elsewhere."""
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for ref, found in made.outcomes.items():
        if not made_here(made.keys["drafts"], ref):
            outcomes.setdefault(made.draft_arrival[ref], []).extend(
                {**made.outcome(o), "ref": ref, "draft_key": made.key("drafts", ref)} for o in found
            )
    out = []
    for row in rows:
        aid = row["id"]
        received = not made_here(made.keys["arrivals"], aid)
        out.append(
            {
                "arrival_key": made.key("arrivals", aid),
                "id": aid,
                "reviews": [made.review(r) for r in made.rows(aid, "reviews")] if received else [],
                "drafts": [made.draft(d) for d in made.rows(aid, "drafts")] if received else [],
                "outcomes": outcomes.get(aid, []),
                "safeguarding": received and bool(row["safeguarding"]) and aid in made.flagged,
            }
        )
    return out


def correction_records(store: Store, rows: list[dict[str, Any]], made: _Made) -> list[dict[str, Any]]:
    """Every amendment and void this laptop made to the arrivals of `rows`, oldest version first: an amendment
    with the details after it and the fields it changed, each keyed by the arrival's id here and its step."""
    device = store.config.device
    out: list[dict[str, Any]] = []
    for row in rows:
        aid = row["id"]
        named = {"arrival_key": made.key("arrivals", aid), "id": aid}
        versions = row.get("versions") or []
        for i, v in enumerate(versions):
            if v.get("device") == device:
                after = versions[i + 1]["details"] if i + 1 < len(versions) else row["details"]
                out.append(
                    {
                        "key": f"{device}:{aid}-v{v['version']}",
                        **named,
                        "kind": "amend",
                        "officer": v["replaced_by"],
                        "at": v["replaced_at"],
                        "reason": v["reason"],
                        "details": after,
                        "changed": v["changed"],
                    }
                )
        mark = row.get("void")
        if mark and mark.get("device") == device:
            out.append(
                {
                    "key": f"{device}:{aid}-void",
                    **named,
                    "kind": "void",
                    **{k: mark[k] for k in ("officer", "at", "reason")},
                }
            )
    return out


def landing_records(
    store: Store, records: list[dict[str, Any]], received: Sequence[dict[str, Any]] = ()
) -> dict[str, list[dict[str, Any]]]:
    """The debrief and referral versions and crime-group decisions this laptop recorded on the arrivals of
    `records` (`day_records`) and of `received` (arrivals from other laptops: `arrival_key` and `id`), and the
    crime groups registered here that those decisions name or the arrivals' debriefs are suggested for, oldest
    first."""
    akeys = {r["id"]: r["key"] for r in records} | {r["id"]: r["arrival_key"] for r in received}
    ids = list(akeys)
    marks = ",".join("?" * len(ids))
    k = {kind: origin_keys(store, kind) for kind in ("arrivals", *LANDING)}

    def key(kind: str, local: object) -> str | None:
        return key_of(store, k[kind], local) if local is not None else None

    debriefs = [
        {
            "key": key("debriefs", d["id"]),
            "arrival_key": akeys[d["arrival_id"]],
            **_strip(d, "id"),
            "supersedes": key("debriefs", d["supersedes"]),
            "arrival_keys": {aid: key("arrivals", aid) for aid in debrief_records.named_arrivals(d["answers"])},
        }
        for d in store.rows("debriefs", f"arrival_id IN ({marks})", ids, order_by="id")
        if made_here(k["debriefs"], d["id"])
    ]
    referrals = [
        {
            "key": key("referrals", r["id"]),
            "arrival_key": akeys[r["arrival_id"]],
            **_strip(r, "id"),
            "supersedes": key("referrals", r["supersedes"]),
        }
        for r in store.rows("referrals", f"arrival_id IN ({marks})", ids, order_by="id")
        if made_here(k["referrals"], r["id"])
    ]
    links = [
        link
        for link in store.rows("ocg_links", f"target_kind = 'arrival' AND target IN ({marks})", ids, order_by="id")
        if made_here(k["ocg_links"], link["id"])
    ]
    refs = sorted(
        ref
        for ref in {link["ocg_ref"] for link in links}
        | {
            ref
            for (ref,) in store.db.execute(
                f"SELECT DISTINCT o.ocg_ref FROM debrief_identifiers d JOIN ocg_identifiers o ON o.kind = d.kind "
                f"AND o.blind = d.blind WHERE d.arrival_id IN ({marks})",
                ids,
            )
        }
        if made_here(k["ocgs"], ref)
    )
    groups = [
        {"key": key("ocgs", g["ref"]), **g}
        for g in store.rows("ocgs", f"ref IN ({','.join('?' * len(refs))})", refs, order_by="ref")
    ]
    return {
        "debriefs": debriefs,
        "referrals": referrals,
        "ocgs": groups,
        "ocg_links": [
            {
                "key": key("ocg_links", link["id"]),
                "ocg_key": key("ocgs", link["ocg_ref"]),
                "target_key": akeys[link["target"]],
                **_strip(link, "id"),
                "supersedes": key("ocg_links", link["supersedes"]),
            }
            for link in links
        ],
    }


def _audit_records(store: Store, akeys: dict[str, str], day: str, site: str | None) -> list[dict[str, Any]]:
    """This home's own audit events about the day's arrivals (`akeys`: each arrival's key). The events that
    batches brought from other laptops are theirs to send."""
    scope, params = day_scope(day, site)
    where = f"arrival_id IN (SELECT id FROM arrivals WHERE {scope})"
    return [
        {
            "device": store.config.device,
            **{c: e[c] for c in ("seq", "at", "officer", "action", "arrival_id")},
            "arrival_key": akeys[e["arrival_id"]],
            **{c: e[c] for c in ("records", "reason", "prev_hash", "hash")},
        }
        for e in store.events(where, params)
    ]


def _summary_csv(records: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(SUMMARY_FIELDS)
    for r in records:
        d = Details.from_dict(r["details"])
        latest = r["searches"][-1]["candidates"] if r["searches"] else []
        decisions = {(v["kind"], v["ref"]): v["decision"] for v in r["reviews"]}  # later reviews win
        writer.writerow(
            [
                spreadsheet_safe(v)
                for v in (
                    r["id"],
                    r["landed_at"],
                    r["site"],
                    r["vessel"],
                    r["officer"],
                    r["device"],
                    d.full_name(),
                    d.nationality,
                    d.dob,
                    bool(r["safeguarding"]),
                    r["quality_score"],
                    sum(c["below_threshold"] for c in latest),
                    "; ".join(f"{ref}={dec}" for (_, ref), dec in decisions.items()),
                    bool(r["training"]),
                )
            ]
        )
    return buf.getvalue().encode("utf-8-sig")


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()


@dataclass
class Exported:
    """A day's batch as written: where, what it holds, whom it is encrypted to and who signed it."""

    out: str
    day: str
    site: str | None
    arrivals: int
    training: bool
    with_templates: bool
    recipients: list[str]  # age public keys
    fingerprint: str  # of this laptop's signing key
    members: list[str]
    bytes: int  # the encrypted file's size
    # reviews, drafts and draft outcomes this home recorded on arrivals other laptops landed (a supervisor's work)
    received_decisions: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# The tables a day's batch is made from, checked before export against the sealed head, so a row deleted, or
# put back from an older copy of the home (a safeguarding flag undone, a decision removed), never leaves in a
# signed batch. Every row of those read by a condition (a row edited to fall outside the day would otherwise
# be left out unseen); subjects and templates by their digests, as export reads subjects by key and only a
# template's model from its row. Photos are opened through their own seals.
EXPORTED_FROM = (
    "arrivals",
    "searches",
    "candidates",
    "reviews",
    "drafts",
    "draft_outcomes",
    "merged",
    "watchlist_packages",
    "debriefs",
    "debrief_identifiers",
    "referrals",
    "ocgs",
    "ocg_links",
    "ocg_identifiers",
    "laptop_keys",
    "trusted_keys",
)
EXPORTED_BY_KEY = ("subjects", "templates")


def export_day(
    store: Store,
    day: str,
    out: Path,
    *,
    officer: str,
    site: str | None = None,
    recipients: list[str] | None = None,
    with_templates: bool = False,
    progress: Progress | None = None,
) -> Exported:
    """Write the day's signed, encrypted batch to `out`; `recipients` default to the home's listed ones."""
    out = Path(out)
    if out.is_dir():
        raise BadInput(f"--out {out} is a folder; give a file name such as {out / f'batch-{day}.age'}")
    store.check_tables(*EXPORTED_FROM)
    store.check_tables(*EXPORTED_BY_KEY, every_row=False)
    store.check_indexes(*EXPORTED_FROM, *EXPORTED_BY_KEY)  # the day's rows are chosen through them
    if not out.parent.is_dir():
        raise BadInput(f"--out {out}: the folder {out.parent} does not exist")
    listed = keys.recipients(store)  # read, and so checked, even when --recipient replaces it
    to = list(recipients or listed)
    if not to:
        raise BadInput(
            "no recipient to encrypt the batch to: add the age public key of whoever receives it (a supervisor, "
            "the regional hub) with `triage keys recipient add NAME age1...`, or pass --recipient age1..."
        )
    parsed = [keys.parse_recipient(r) for r in to]
    laptop = keys.own(store, officer=officer)
    rows = day_arrivals(store, day, site)
    made = _Made.read(store, day, site)
    records = _own_records(store, rows, made, *day_scope(day, site))
    decided = _received_records(rows, made)
    own = {r["key"] for r in records}
    landing = landing_records(store, records, [r for r in decided if r["arrival_key"] not in own])
    named = {r["arrival_key"] for kind in ("debriefs", "referrals") for r in landing[kind]}
    named |= {link["target_key"] for link in landing["ocg_links"]}
    received = [
        r
        for r in decided
        if r["reviews"]
        or r["drafts"]
        or r["outcomes"]
        or r["safeguarding"]
        or (r["arrival_key"] in named and r["arrival_key"] not in own)
    ]
    corrected = correction_records(store, rows, made)
    members = {
        "arrivals.jsonl": _jsonl(records),
        **{f"{kind}.jsonl": _jsonl(found) for kind, found in landing.items()},
        **({RECEIVED: _jsonl(received)} if received else {}),
        **({CORRECTIONS: _jsonl(corrected)} if corrected else {}),
        "audit.jsonl": _jsonl(_audit_records(store, {r["id"]: r["arrival_key"] for r in decided}, day, site)),
        "summary.csv": _summary_csv(records),
    }
    for i, r in enumerate(records, 1):
        if r["portrait"]:
            members[r["portrait"]["member"]] = store.photo("arrival", r["id"], "portrait")[1]
        if progress:
            progress("reading", i, len(records))
    if with_templates:  # every model's template of each arrival, each line naming its model
        ids = [r["id"] for r in records]
        lines = []
        for model_id in sorted(
            {
                m
                for (m,) in store.db.execute(
                    f"SELECT DISTINCT model_id FROM templates WHERE owner_kind = 'arrival' AND owner_id IN "
                    f"({','.join('?' * len(ids))})",
                    ids,
                )
            }
        ):
            owners, matrix = store.load_templates(model_id, "arrival", ids)
            row_of = {owner: i for i, owner in enumerate(owners)}
            lines += [
                {
                    "arrival_key": r["key"],
                    "model_id": model_id,
                    "dim": int(matrix.shape[1]),
                    "vector": base64.b64encode(matrix[row_of[r["id"]]].astype("<f4").tobytes()).decode(),
                }
                for r in records
                if r["id"] in row_of
            ]
        members["templates.jsonl"] = _jsonl(lines)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "day": day,
        "site": site,
        "device": store.config.device,
        "home_site": store.config.site,
        "force_code": store.config.force_code,
        "training": store.is_training,
        "exported_at": utcnow(),
        "exported_by": officer,
        "arrivals": len(records),
        "with_templates": with_templates,
        "audit_end": audit_end(store),
        "signer": keys.encode_signing_key(laptop.signing_public),
        "recipients": [str(r) for r in parsed],
        "members": sealed.member_digests(members),
    }
    if progress:
        progress("encrypting", 0, 1)
    encrypted = sealed.seal(manifest, members, laptop, parsed)
    with store.transaction():
        store.audit(
            "export",
            officer,
            records=[f"arrival:{r['id']}" for r in records][:500],
            reason=f"batch of {day}{f' at {site}' if site else ''} to {out.name}, encrypted to "
            f"{', '.join(manifest['recipients'])}{', with templates' if with_templates else ''}",
        )
        write_files({out: encrypted})
    if progress:
        progress("encrypting", 1, 1)
    return Exported(
        out=str(out),
        day=day,
        site=site,
        arrivals=len(records),
        training=manifest["training"],
        with_templates=with_templates,
        recipients=manifest["recipients"],
        fingerprint=keys.fingerprint(laptop.signing_public),
        members=[MANIFEST, SIGNATURE, *members],
        bytes=out.stat().st_size,
        received_decisions=sum(len(r["reviews"]) + len(r["drafts"]) + len(r["outcomes"]) for r in received),
    )


def audit_end(store: Store) -> dict[str, Any]:
    """The number and hash of the home's last audit event. Signed into each batch's manifest, it leaves the
    laptop with the batch, so a supervisor can tell when a laptop's trail later ends earlier than it did: a
    rollback of the whole store to an older copy, which nothing inside the store can show."""
    row = store.db.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    return {"seq": row[0], "hash": row[1]} if row else {"seq": 0, "hash": None}


# -- reading a batch -----------------------------------------------------------------------------------


@dataclass
class Batch:
    """A batch decrypted and verified: signed by a trusted laptop, every member matching its hash."""

    path: Path
    sha256: str  # of manifest.json, which names every member's hash: the batch's identity
    manifest: dict[str, Any]
    signer: str
    arrivals: list[dict[str, Any]]
    landing: dict[str, list[dict[str, Any]]]  # kind (LANDING) -> its records
    received: list[dict[str, Any]]  # the laptop's decisions on records from other laptops (RECEIVED)
    audit: list[dict[str, Any]]
    portraits: dict[str, bytes] = field(repr=False)
    templates: dict[str, dict[str, np.ndarray]] = field(repr=False)  # arrival key -> model id -> template
    corrections: list[dict[str, Any]] = field(default_factory=list)  # amendments and voids (CORRECTIONS)

    @property
    def device(self) -> str:
        device: str = self.manifest["device"]
        return device

    def flagged_by(self, key: str) -> str:
        """Who raised arrival `key`'s safeguarding flag and why, as the batch's audit trail says ("" if it
        does not say)."""
        flagged = (e for e in reversed(self.audit) if e["action"] == "safeguarding-flag")
        last = next((e for e in flagged if e.get("arrival_key") == key), None)
        if last is None:
            return ""
        return f" by {last['officer']} at {last['at']}" + (f": {last['reason']}" if last.get("reason") else "")


def _signed_manifest(
    store: Store, z: zipfile.ZipFile, path: Path, *, officer: str
) -> tuple[bytes, dict[str, Any], str]:
    """The manifest, checked: right format, right kind of home, signature valid, signer trusted."""
    raw = sealed.member(z, path, MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw)
        sig = sealed.signature(z, path)
        signer = keys.parse_signing_key(manifest["signer"])
        well_formed = (
            isinstance(manifest, dict)
            and isinstance(manifest["members"], dict)
            and all(manifest.get(k) for k in ("device", "day"))
        )
    except (ValueError, KeyError, TypeError, RecursionError, BadInput):
        well_formed = False
    if not well_formed or manifest.get("format") != FORMAT:
        sealed.refuse_other_kind(z, path, raw, expected=FORMAT, store=store)
    if not well_formed:
        raise IntegrityFailure(f"{path}: {MANIFEST} or {SIGNATURE} is malformed; this is not a triage batch")
    if manifest.get("format") != FORMAT:
        raise IntegrityFailure(
            f"{path}: batch format {manifest.get('format')!r} is not {FORMAT}; "
            "export it again with this version of triage"
        )
    if bool(manifest.get("training")) != store.is_training:
        raise BadInput(
            f"{path} is a TRAINING batch and this is a real {store.called}: training data never enters real records"
            if manifest.get("training")
            else f"{path} is a real batch and this is a TRAINING {store.called}: real records never enter training"
        )
    if not keys.verify_signature(signer, raw, sig):
        raise IntegrityFailure(
            f"{path}: the signature of {MANIFEST} does not verify: the batch was altered after "
            f"device {manifest['device']} signed it"
        )
    name = keys.signer_name(store, signer, officer=officer)
    if name is None:
        raise IntegrityFailure(
            f"{path}: signed by a laptop this {store.called} does not trust (device {manifest['device']}, fingerprint "
            f"{keys.fingerprint(signer)})",
            hint=f"check the fingerprint with that laptop's officer, then run "
            f"`triage keys trust NAME {keys.encode_signing_key(signer)} --home {store.home}`",
        )
    _check_manifest(path, manifest)
    _bound_device(store, path, manifest["device"], name)
    return raw, manifest, name


def _check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """The signed manifest's fields that name things here: the device, the training flag, the members."""
    why = None
    if not isinstance(manifest["device"], str) or not DEVICE.fullmatch(manifest["device"]):
        why = f"the device {shown(manifest['device'])} is not a device name"
    elif not isinstance(manifest.get("training"), bool):
        why = f"the training flag {shown(manifest.get('training'))} is not true or false"
    elif not isinstance(manifest["day"], str) or not DAY.fullmatch(manifest["day"]):
        why = f"the day {shown(manifest['day'])} is not a date"
    elif bad := next((k for k in ("site", "exported_at", "exported_by") if not is_line(manifest.get(k))), None):
        why = f"the {bad} {shown(manifest.get(bad))} is not a plain line of text"
    elif not isinstance(end := manifest.get("audit_end", {}), dict) or not (
        isinstance(end.get("seq", 0), int) and isinstance(end.get("hash"), (str, type(None)))
    ):
        why = "the end of the laptop's audit trail is malformed"
    else:
        for name, expected in manifest["members"].items():
            if name not in MEMBERS and not (
                name.startswith("portraits/") and name.endswith(".jpg") and ARRIVAL_ID.fullmatch(name[10:-4])
            ):
                why = f"the member name {shown(name)} is not one a batch holds"
            elif not (
                isinstance(expected, dict)
                and isinstance(expected.get("bytes"), int)
                and not isinstance(expected["bytes"], bool)
                and 0 <= expected["bytes"] <= MAX_BATCH_BYTES
                and isinstance(expected.get("sha256"), str)
            ):
                why = f"the size or hash of member {name} is malformed"
            if why:
                break
        else:
            missing = sorted(
                {"arrivals.jsonl", "audit.jsonl", *(f"{k}.jsonl" for k in LANDING)} - set(manifest["members"])
            )
            why = f"member {missing[0]} is missing" if missing else None
    if why:
        raise BadInput(f"{path}: {MANIFEST}: {why}; nothing of the batch was merged")


def _bound_device(store: Store, path: Path, device: str, signer: str) -> None:
    """Refuse a batch whose signer names a device that another trusted laptop signs for, this home's own among
    them: the records of a batch are its device's, so a device is bound to the first key that signed for it
    here (for as long as that laptop stays trusted)."""
    if signer == keys.THIS_LAPTOP:
        return
    if device == store.config.device:
        raise IntegrityFailure(
            f"{path}: signed by {signer} but made, it says, on device {device}, which is this {store.called}'s own: "
            "a laptop signs only its own device's batches; nothing of the batch was merged"
        )
    trusted = {r["name"] for r in keys.listed(store)[keys.SIGNER]}
    for row in store.rows("batches", "device = ? AND signer != ?", [device, signer], order_by="imported_at"):
        if row["signer"] in trusted:
            raise IntegrityFailure(
                f"{path}: signed by {signer} but made, it says, on device {device}, whose batches {row['signer']} "
                "signs: a laptop signs only its own device's batches; nothing of the batch was merged"
            )


def open_batch(store: Store, path: Path, *, officer: str, progress: Progress | None = None) -> Batch:
    """Decrypt a batch with this home's identity and verify it; any failure names the file and what failed."""
    path = Path(path)
    clear = sealed.decrypt(store, path, officer=officer, limit=MAX_BATCH_BYTES, larger_than="any day's batch")
    z = sealed.open_zip(clear, path, "a triage batch")
    raw, manifest, signer = _signed_manifest(store, z, path, officer=officer)
    data = sealed.verified_members(z, path, manifest["members"], progress)
    portraits = {n: b for n, b in data.items() if n.startswith("portraits/")}
    check = Checker(path, manifest["device"], manifest["training"], portraits)
    arrivals = read_lines(path, "arrivals.jsonl", data["arrivals.jsonl"])
    check.arrivals(arrivals)
    received = read_lines(path, RECEIVED, data.get(RECEIVED, b""))
    check.received(received)
    corrections = read_lines(path, CORRECTIONS, data.get(CORRECTIONS, b""))
    check.corrections(corrections)
    landing = {kind: read_lines(path, f"{kind}.jsonl", data[f"{kind}.jsonl"]) for kind in LANDING}
    check.landing(landing)
    audit = read_lines(path, "audit.jsonl", data["audit.jsonl"])
    check.audit(audit)
    templates = check.templates(read_lines(path, "templates.jsonl", data.get("templates.jsonl", b"")))
    return Batch(
        path,
        hashlib.sha256(raw).hexdigest(),
        manifest,
        signer,
        arrivals,
        landing,
        received,
        audit,
        portraits,
        templates,
        corrections,
    )


def audit_refusal(store: Store, path: Path, error: TriageError, *, officer: str) -> None:
    """Record that a batch file was refused, and why, in a transaction of its own: nothing of the file is merged,
    so there is no other change to share it with, and the refusal stays recorded whatever the import does next.
    The file is named by its SHA-256 and the reason is the refusal's message, which names members, keys and
    devices, never what a record holds. A file that does not exist was never offered, so nothing is recorded."""
    path = Path(path)
    if not path.is_file():
        return
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    with store.transaction():
        store.audit("import-refused", officer, records=[f"batch-file:{digest.hexdigest()}"], reason=str(error))
