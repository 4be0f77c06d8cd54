"""Merging verified batches from other laptops into this home, idempotently and whole.

Each batch merges in one transaction: if anything fails, nothing of it stays. Every row a batch brings
is recorded in `merged` under its key (DEVICE:ID, see `batch.py`) with the local id it was given, so
importing the same batch again, or a later batch of the same day, adds only what is new, and an id
already used here (two laptops can draw the same arrival id, and register the same crime-group reference)
is replaced by a fresh one. References between rows (a review's candidate, a superseded decision, a
draft's arrival, a debrief's arrival, a crime-group link's group and arrival) follow the keys, and the
ids that records quote follow them too (`_quoting`). Debriefs, referral records, crime groups and their
links each become rows of their own; a laptop's decisions on records it received from elsewhere
(`received.jsonl`) join the records this home holds, and a batch naming an arrival, draft or crime group
this home does not hold is refused. Amendments and voids (`corrections.jsonl`) apply once to the arrival
they correct, whichever batch brings them first. A file that is refused is audited as refused (`batch.audit_refusal`),
and so is a batch whose merge breaks on one of its records: it names the record, and nothing of it stays.

After a merge every new arrival is searched here, against this home's watchlist and every arrival it
holds, so the same face captured on two laptops or landing at two sites shows as a repeat-arrival
candidate for a person to review. The laptop's own searches stay beside this home's, so what the laptop
found against its watchlist still awaits a decision here when this home holds another watchlist or none; the
result names every alert awaiting a decision on the batch's arrivals, watchlist alerts first, with whose search
found it. The face templates come with the batch (`--with-templates`) or are
computed again from the portrait on this laptop, for every model this home's matcher uses, in worker
processes on both cores.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn, cast

import numpy as np

from triage import workers
from triage.casework import arrivals, corrections, name_keys, ocg, review
from triage.casework.debrief import records as debrief_records
from triage.errors import BadInput, IntegrityFailure, NotFound, TriageError
from triage.exchange import batch
from triage.exchange.batch import MANIFEST, Batch, Progress
from triage.exchange.records import CORRECTIONS, shown
from triage.faces import detection as faces
from triage.faces import matchers
from triage.faces.encoders import Pipeline
from triage.store.judgements import MOVED as SEALED_JUDGEMENTS
from triage.store.rows import PK, Store, utcnow

KINDS = ("arrivals", "searches", "reviews", "drafts", "draft_outcomes", *batch.LANDING)
RENAMED = ("arrivals", "drafts", "ocgs")  # the kinds whose ids a merge may have to replace
# Fields of a batch record that name rows by their keys: resolved to local ids, never stored as they are.
REFERENCES = ("key", "ref_key", "arrival_key", "arrival_keys", "ocg_key", "target_key", "draft_key")
# Columns the store writes itself (the sealed part, each row's version and tag), never taken from a record.
STORE_OWN = ("sealed", "ver", "tag")
# What a record that breaks the merge raises: refused, naming the record, rather than a failure of triage.
BROKEN = (KeyError, TypeError, ValueError, AttributeError, IndexError, sqlite3.IntegrityError)
ENCODE_TIMEOUT = 120.0  # seconds one portrait may take in a worker
IN_PROCESS_UP_TO = 16  # fewer portraits than this are encoded here: starting workers would cost more


@dataclass
class WatchlistAlert:
    """A watchlist candidate of one of the batch's arrivals that nobody has decided on: found by the laptop's
    own search (which travelled in the batch), by this home's search of the arrival, or both (`found_by`). A
    subject this home does not hold (`held` False) is shown as the laptop recorded it: its ref, category,
    distance and threshold, and the version of the watchlist package the laptop searched."""

    arrival_id: str
    ref: str
    category: str | None
    held: bool
    distance: float
    threshold: float
    found_by: list[str]  # review.THIS_HOME, or "NAME (device D)" of the laptop whose search found it
    laptop: str  # the laptop the arrival came from
    watchlist_version: int | None  # of the package the laptop searched, when it found the alert
    figures: list[dict[str, Any]] = field(default_factory=list)  # each search's own (review.PendingCandidate)


@dataclass
class RepeatCandidate:
    """An arrival of the batch whose face is below the threshold against another arrival here, and nobody has
    decided on the pair: a repeat arrival for a person to review (one per pair, whichever way it was found).
    Listed under `duplicate_captures` instead when both hold the very same photo."""

    arrival_id: str
    candidate: str
    distance: float | None  # None for a biographic candidate
    threshold: float | None
    found_by: list[str]
    kind: str = "arrival"  # or biographic: name and date of birth agree, weaker evidence than a face
    score: float | None = None  # a biographic candidate's: how many name parts agree
    figures: list[dict[str, Any]] = field(default_factory=list)  # each search's own (review.PendingCandidate)


@dataclass(frozen=True)
class Corrected:
    """A laptop's amendment or void applied to an arrival here: which one, and who made it why."""

    arrival_id: str
    kind: str  # "amendment" or "void"
    officer: str
    reason: str


@dataclass
class Imported:
    """One batch merged: where it came from, what it added, and what awaits a decision on its arrivals. A batch
    merged here before (`already_imported`, the same file by its SHA-256) adds nothing: every record it holds is
    skipped, and `first_imported_at` says when it was merged. `arrival_ids` are the batch's arrivals as held here,
    so that an alert or a pair of arrivals can be told apart by the batch it concerns."""

    file: str
    sha256: str
    device: str
    signer: str
    day: str
    site: str | None
    training: bool
    arrivals: int
    new_arrivals: int
    already_imported: bool
    first_imported_at: str  # when this file was first merged here (this import, if it is the first)
    added: dict[str, int]  # kind of record -> rows added
    searched: int
    watchlist_alerts: list[WatchlistAlert]
    repeat_candidates: list[RepeatCandidate]
    duplicate_captures: list[RepeatCandidate]
    warnings: list[str]
    arrival_ids: list[str]  # the batch's arrivals by their ids here, in the batch's order
    corrected: list[Corrected]  # each amendment or void applied here

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def encode_portrait(jpeg: bytes, source: str, pipeline: Pipeline) -> dict[str, np.ndarray]:
    """A worker's job: the templates of the face in an imported portrait, one per model of the pipeline."""
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    return pipeline.encode(rgb, faces.choose(pipeline.detect(rgb), source).face)


def _encode_all(
    jobs: list[tuple[str, bytes]], pipeline: Pipeline, progress: Progress | None
) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """Templates for (arrival key, portrait) pairs, and a warning for each portrait with no usable face."""

    def here() -> Iterator[workers.Outcome]:
        for key, jpeg in jobs:
            try:
                yield workers.Outcome(key, encode_portrait(jpeg, key, pipeline))
            except TriageError as e:
                yield workers.Outcome(key, error=e)

    vectors: dict[str, dict[str, np.ndarray]] = {}
    warnings: list[str] = []
    if len(jobs) < IN_PROCESS_UP_TO:
        outcomes = here()
    else:
        outcomes = workers.run(
            encode_portrait,
            ((key, (jpeg, key, pipeline)) for key, jpeg in jobs),
            workers=workers.cores(),
            timeout=ENCODE_TIMEOUT,
            initializer=pipeline.load,
        )
    for i, outcome in enumerate(outcomes, 1):
        if outcome.error is None:
            vectors[str(outcome.key)] = cast(dict[str, np.ndarray], outcome.value)
        else:
            warnings.append(
                f"arrival {outcome.key}: its portrait could not be encoded ({outcome.error}); "
                "it is merged but not searched"
            )
        if progress:
            progress("encoding portraits", i, len(jobs))
    return vectors, warnings


class _Merger:
    """One batch's merge, inside the caller's transaction."""

    def __init__(self, store: Store, b: Batch, officer: str):
        self.store, self.b, self.officer = store, b, officer
        self.device = store.config.device
        self.known = {
            kind: {r["key"]: r["local"] for r in store.rows("merged", "kind = ?", [kind])}
            for kind in (*KINDS, "corrections")
        }
        self.at = "the batch"  # the record being merged, for a refusal to name
        self.added = dict.fromkeys(KINDS + ("corrections", "audit_events", "safeguarding_flags"), 0)
        self.templates: list[tuple[str, int, dict[str, np.ndarray]]] = []  # (arrival, portrait, vectors), in bulk
        self.planned: dict[str, dict[str, str]] = {kind: {} for kind in RENAMED}  # key -> the id a new row gets here
        self.quoting = _quoting({})
        self.warnings: list[str] = []
        self.corrected: list[Corrected] = []
        self.columns: dict[str, set[str]] = {}  # table -> its columns, read once per merge

    def local(self, kind: str, key: str | None) -> str | None:
        """The local id of the row with this key, if this home holds it."""
        if not key:
            return None
        if key in self.known[kind]:
            local: str = self.known[kind][key]
            return local
        device, ident = key.split(":", 1)
        return ident if device == self.device and self._exists(kind, ident) else None

    def held(self, kind: str, key: str | None, what: str) -> str:
        """The local id of a row the record refers to, which this home must hold."""
        local = self.local(kind, key)
        if not local:
            device = (key or "").split(":", 1)[0]
            raise NotFound(
                f"{self.b.path}: {self.at}: {what}, {key}, is not held in this home; nothing of the batch was merged",
                hint=f"import the batch of device {device} that holds it first, then this one again",
            )
        return local

    def _exists(self, kind: str, ident: str) -> bool:
        return (
            self.store.db.execute(f"SELECT 1 FROM [{kind}] WHERE {PK.get(kind, 'id')} = ?", [ident]).fetchone()
            is not None
        )

    def _split(
        self, kind: str, record: dict[str, Any], skip: tuple[str, ...]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """A record's clear columns and its sealed remainder (None when the origin had sealed nothing), the ids it
        quotes rewritten to the ids the same records have here."""
        columns = self.columns.get(kind)
        if columns is None:
            columns = self.columns[kind] = set(self.store.db[kind].columns_dict)
        clear = {k: v for k, v in record.items() if k in columns and k not in (*STORE_OWN, *skip)}
        secret = {k: v for k, v in record.items() if k not in columns and k not in (*REFERENCES, *STORE_OWN, *skip)}
        return clear, self.quoting(secret) if secret else None

    def _insert(self, kind: str, record: dict[str, Any], clear: dict[str, Any], *, skip: tuple[str, ...] = ()) -> str:
        base, secret = self._split(kind, record, skip)
        columns = {**base, **clear}
        judged = {c: columns.pop(c) for c in SEALED_JUDGEMENTS.get(kind, ()) if c in columns}
        if kind == "arrivals" and (secret or {}).get("void"):
            columns["voided"] = 1
        if judged:  # a decision, a crime group or a category is never written in clear
            secret = {**(secret or {}), **judged}
        row = self.store.insert(kind, columns, secret)
        local = str(row[PK.get(kind, "id")])
        self.store.insert_row("merged", {"kind": kind, "key": record["key"], "local": local, "batch": self.b.sha256})
        self.known[kind][record["key"]] = local
        self.added[kind] += 1
        return local

    def _free(self, kind: str, wanted: str, taken: set[str]) -> str:
        """`wanted` if no row here has it and no other new row of the batch was given it; else a fresh arrival id,
        or for a draft or a crime group the first free `wanted-2`, `wanted-3`..."""
        ident, attempt = wanted, 1
        while ident in taken or self._exists(kind, ident):
            attempt += 1
            ident = arrivals.new_arrival_id() if kind == "arrivals" else f"{wanted}-{attempt}"
        taken.add(ident)
        return ident

    def plan(self) -> None:
        """Choose the id every new arrival, draft and crime group gets here before anything is written, so that
        every id the batch's records quote can be rewritten as they are sealed (`_quoting`)."""
        drafts = [d for rec in (*self.b.arrivals, *self.b.received) for d in rec["drafts"]]
        landing = self.b.landing
        for kind, rows, local_id in (
            ("arrivals", self.b.arrivals, "id"),
            ("drafts", drafts, "ref"),
            ("ocgs", landing["ocgs"], "ref"),
        ):
            taken: set[str] = set()
            for row in rows:
                if not self.local(kind, row["key"]):
                    self.planned[kind][row["key"]] = self._free(kind, row[local_id], taken)
        # (kind, id on the exporting laptop, key) of every row the batch names
        named = [("arrivals", rec["id"], rec["key"]) for rec in self.b.arrivals]
        named += [("arrivals", rec["id"], rec["arrival_key"]) for rec in self.b.received]
        named += [("arrivals", c["id"], c["arrival_key"]) for c in self.b.corrections]
        named += [
            ("arrivals", x["ref"], x["ref_key"])
            for rec in (*self.b.arrivals, *self.b.received)
            for x in (*rec["reviews"], *(c for s in rec.get("searches", ()) for c in s["candidates"]))
            if x.get("ref_key")
        ]
        named += [("drafts", o["ref"], o["draft_key"]) for rec in self.b.received for o in rec["outcomes"]]
        named += [("arrivals", aid, key) for d in landing["debriefs"] for aid, key in d["arrival_keys"].items()]
        named += [("arrivals", link["target"], link["target_key"]) for link in landing["ocg_links"]]
        named += [("drafts", d["ref"], d["key"]) for d in drafts]
        # Crime-group references are typed by officers ("ALI", "13" are valid) and would be found in ordinary
        # words: a renamed group follows its key in the fields that name it, and free text is left as written.
        self.quoting = _quoting(
            {
                there: here
                for kind, there, key in named
                if (here := self.local(kind, key) or self.planned[kind].get(key)) and here != there
            }
        )

    def _ref(self, row: dict[str, Any]) -> str:
        """A candidate's or review's ref here: arrivals follow their keys, watchlist refs stay as they are."""
        if row["kind"] not in arrivals.PAIR_KINDS:
            return str(row["ref"])
        return self.local("arrivals", row.get("ref_key")) or str(row["ref"])

    def arrival(self, rec: dict[str, Any], vector: dict[str, np.ndarray] | None) -> str | None:
        """Land a new arrival with its portrait and template; returns its local id, or None if already here."""
        if self.local("arrivals", rec["key"]):
            return None
        aid = self.planned["arrivals"][rec["key"]]
        self._insert(
            "arrivals",
            rec,
            {"id": aid, "origin": self.b.device, "source_key": None},
            skip=("portrait", "searches", "reviews", "drafts"),
        )
        name_keys.index(self.store, aid, rec.get("details") or {})
        if rec["portrait"]:
            p = rec["portrait"]
            pid = self.store.put_photo(
                "arrival", aid, "portrait", self.b.portraits[p["member"]], p["media_type"], p["width"], p["height"]
            )
            if vector is not None:
                self.templates.append((aid, pid, vector))
        return aid

    def history(self, rec: dict[str, Any]) -> None:
        """The searches, reviews and drafts of an arrival that this home does not hold yet, and a safeguarding
        flag raised on the laptop since this home merged the arrival (a flag is never lowered)."""
        aid = self.held("arrivals", rec["key"], "the arrival")
        if rec.get("safeguarding"):
            self._flag(aid, rec["key"], "after its earlier batch")
        for s in rec["searches"]:
            if not self.local("searches", s["key"]):
                sid = int(self._insert("searches", s, {"arrival_id": aid}, skip=("candidates", "watchlist_version")))
                for c in s["candidates"]:
                    cand, _ = self._split("candidates", c, ())
                    self.store.insert("candidates", {**cand, "search_id": sid, "arrival_id": aid, "ref": self._ref(c)})
        self._decisions(aid, rec["reviews"], rec["drafts"])

    def received(self, rec: dict[str, Any]) -> None:
        """The laptop's reviews and drafts on an arrival it received from elsewhere, and its outcomes of drafts
        made elsewhere: each joins the record this home holds, which it must hold."""
        aid = self.held("arrivals", rec["arrival_key"], "the arrival decided on")
        if rec.get("safeguarding"):
            self._flag(aid, rec["arrival_key"], "on an arrival it received")
        self._decisions(aid, rec["reviews"], rec["drafts"])
        for o in rec["outcomes"]:
            if not self.local("draft_outcomes", o["key"]):
                ref = self.held("drafts", o["draft_key"], f"the draft of outcome {o['key']}")
                sup = self.local("draft_outcomes", o["supersedes"])
                self._insert("draft_outcomes", o, {"ref": ref, "supersedes": int(sup) if sup else None})
                self._outcome(ref, o["result"], o["at"])

    def _flag(self, aid: str, key: str, when: str) -> None:
        """Raise a safeguarding flag the signing laptop raised after this home merged the arrival, or on an
        arrival it received (a flag is never lowered), audited with who raised it and why where the batch's
        trail says."""
        if self.store.get("arrivals", aid, what="arrival")["safeguarding"]:
            return
        self.store.update("arrivals", aid, {"safeguarding": 1})
        self.store.audit(
            "safeguarding-flag",
            self.officer,
            arrival_id=aid,
            records=[f"arrival:{aid}", f"batch:{self.b.sha256[:16]}"],
            reason=f"raised on laptop {self.b.device} ({self.b.signer}) {when}{self.b.flagged_by(key)}",
        )
        self.added["safeguarding_flags"] += 1

    def _outcome(self, ref: str, outcome: str | None, at: str | None) -> None:
        """A draft's current outcome, when the batch knows of a later one than this home."""
        if at and (self.store.get("drafts", ref)["outcome_at"] or "") < at:
            self.store.db.table("drafts").update(ref, {"outcome": outcome, "outcome_at": at})

    def _decisions(self, aid: str, reviews: list[dict[str, Any]], drafts: list[dict[str, Any]]) -> None:
        for r in reviews:
            if not self.local("reviews", r["key"]):
                sup = self.local("reviews", r["supersedes"])
                self._insert(
                    "reviews", r, {"arrival_id": aid, "ref": self._ref(r), "supersedes": int(sup) if sup else None}
                )
        for d in drafts:
            ref = self.local("drafts", d["key"])
            if not ref:
                ref = self.planned["drafts"][d["key"]]
                self._insert("drafts", d, {"ref": ref, "arrival_id": aid}, skip=("outcomes",))
            for o in d["outcomes"]:
                if not self.local("draft_outcomes", o["key"]):
                    sup = self.local("draft_outcomes", o["supersedes"])
                    self._insert("draft_outcomes", o, {"ref": ref, "supersedes": int(sup) if sup else None})
            self._outcome(ref, d["outcome"], d["outcome_at"])

    def corrections(self) -> None:
        """The laptop's amendments and voids, each applied once to the arrival it corrects here (which this home
        must hold) and audited; one the arrival carries already, having ridden inside its record, is only noted
        as merged. A void of an arrival voided here by someone else leaves the first void standing, and says so."""
        for n, c in enumerate(self.b.corrections, 1):
            self.at = f"{CORRECTIONS} line {n} ({c['key']})"
            if c["key"] in self.known["corrections"]:
                continue
            aid = self.held("arrivals", c["arrival_key"], "the arrival corrected")
            applied = corrections.absorb(self.store, aid, self.quoting(c), device=self.b.device)
            self.store.insert_row(
                "merged", {"kind": "corrections", "key": c["key"], "local": aid, "batch": self.b.sha256}
            )
            self.known["corrections"][c["key"]] = aid
            if applied:
                self.added["corrections"] += 1
                kind = "void" if c["kind"] == "void" else "amendment"
                self.corrected.append(Corrected(aid, kind, c["officer"], self.quoting(c["reason"])))  # ids as here
                self.store.audit(
                    "import-correction",
                    self.officer,
                    arrival_id=aid,
                    records=[f"arrival:{aid}", f"correction:{c['key']}"],
                    reason=f"{'void' if c['kind'] == 'void' else 'amendment'} by {c['officer']} on device "
                    f"{self.b.device} at {c['at']}: {self.quoting(c['reason'])}",
                )
            elif c["kind"] == "void":
                mark = arrivals.get(self.store, aid)["void"]
                if (mark.get("device"), mark.get("at")) != (self.b.device, c["at"]):
                    self.warnings.append(
                        f"arrival {aid}: voided on laptop {self.b.device} at {c['at']}, but already voided by "
                        f"{mark.get('officer')} at {mark.get('at')}; the first void stands"
                    )

    def landing(self) -> None:
        """The debrief and referral versions, crime groups and crime-group decisions this home does not hold yet,
        each a row of its own. The numbers, handles and names they give are blinded again with this home's key,
        since another laptop's blinds match nothing here; a group held already gains what the batch's copy adds."""
        debriefed: dict[str, str] = {}  # arrival -> the record of its debrief merged last
        for n, d in enumerate(self.b.landing["debriefs"], 1):
            self.at = f"debriefs.jsonl line {n} ({d['key']})"
            if self.local("debriefs", d["key"]):
                continue
            aid, version = self.held("arrivals", d["arrival_key"], "the arrival debriefed"), d["version"]
            if self.store.db["debriefs"].count_where("arrival_id = ? AND version = ?", [aid, version]):
                # this home amended the debrief itself meanwhile: its version keeps the number, the batch's follows
                # and, merged last, is the current one; both stay, and an officer is told to decide which stands
                version = self.store.db.execute(
                    "SELECT max(version) + 1 FROM debriefs WHERE arrival_id = ?", [aid]
                ).fetchone()[0]
                self.warnings.append(
                    f"arrival {aid}: its debrief was amended both here and on laptop {self.b.device}; "
                    f"both versions are kept and the laptop's, now version {version}, is the current "
                    f"one: compare them (`triage debrief {aid} --show --history`) and amend if the "
                    "other should stand"
                )
            sup = self.local("debriefs", d["supersedes"])
            self._insert(
                "debriefs", d, {"arrival_id": aid, "version": version, "supersedes": int(sup) if sup else None}
            )
            debriefed[aid] = self.at
        for aid in sorted(debriefed):  # each just inserted, under its arrival here
            self.at = debriefed[aid]
            current = debrief_records.latest(self.store, aid)
            if current is not None:
                debrief_records.index_identifiers(self.store, aid, current["id"], current["answers"])
        for n, r in enumerate(self.b.landing["referrals"], 1):
            self.at = f"referrals.jsonl line {n} ({r['key']})"
            if not self.local("referrals", r["key"]):
                sup = self.local("referrals", r["supersedes"])
                aid = self.held("arrivals", r["arrival_key"], "the arrival referred")
                self._insert("referrals", r, {"arrival_id": aid, "supersedes": int(sup) if sup else None})
        for n, g in enumerate(self.b.landing["ocgs"], 1):
            self.at = f"ocgs.jsonl line {n} ({g['key']})"
            ref = self.local("ocgs", g["key"])
            if ref:
                ocg.absorb(
                    self.store,
                    ref,
                    self._split("ocgs", g, ())[1] or {},
                    updated_at=g["updated_at"],
                    officer=self.officer,
                )
            else:
                ref = self._insert("ocgs", g, {"ref": self.planned["ocgs"][g["key"]]})
                ocg.index_identifiers(self.store, ref, g, at=utcnow(), officer=self.officer)
        for n, link in enumerate(self.b.landing["ocg_links"], 1):
            self.at = f"ocg_links.jsonl line {n} ({link['key']})"
            if not self.local("ocg_links", link["key"]):
                sup = self.local("ocg_links", link["supersedes"])
                self._insert(
                    "ocg_links",
                    link,
                    {
                        "ocg_ref": self.held("ocgs", link["ocg_key"], "the crime group linked to"),
                        "target": self.held("arrivals", link["target_key"], "the arrival linked"),
                        "supersedes": int(sup) if sup else None,
                    },
                )

    def audit_events(self) -> None:
        """The origin's audit events, kept apart from this home's own hash chain (with their hashes)."""
        for n, e in enumerate(self.b.audit, 1):
            self.at = f"audit.jsonl line {n}"
            if (
                e["device"] == self.device
                or self.store.db.execute(
                    "SELECT 1 FROM origin_audit WHERE device = ? AND seq = ?", [e["device"], e["seq"]]
                ).fetchone()
            ):
                continue
            clear = {k: e[k] for k in ("device", "seq", "at", "officer", "action", "prev_hash", "hash")}
            self.store.insert(
                "origin_audit",
                {
                    **clear,
                    "arrival_id": self.local("arrivals", e["arrival_key"]),
                    "records": json.dumps(e["records"]),
                    "batch": self.b.sha256,
                },
                {"reason": e["reason"]} if e["reason"] else None,
            )
            self.added["audit_events"] += 1


def _quoting(renamed: dict[str, str]) -> Callable[[Any], Any]:
    """A function rewriting, in the strings of a record's sealed part, every id in `renamed` (its id on the
    exporting laptop) to the id the same row has here.

    Rewriting the ids is what keeps a merged record truthful; re-rendering it here would not. A draft is a
    snapshot of what its officer saw and signed off when it was made (candidates, distances, names, their own
    words), and rendering it again from this home's records would make it state what this home holds now, under
    the officer's name. So nothing is re-derived: only the names of records change, each to the id the same
    record has here, and every id a draft, its text, a review's reason, a debrief or a note quotes still names
    the record it named on the laptop. Only ids `triage` generates are rewritten (arrival ids, draft refs), which
    no ordinary word resembles, matched whole and in any case (officers type them as they come):
    `a-7k3f9q` is found, `A-7K3F9Q` is not found in `A-7K3F9Q-2`.
    The origin's audit events keep the words they were written with: their hashes are the origin's."""
    if not renamed:
        return lambda value: value
    by_folded = {there.casefold(): here for there, here in renamed.items()}
    found = re.compile(
        r"(?<![\w/.-])(" + "|".join(map(re.escape, sorted(renamed, key=len, reverse=True))) + r")(?![\w-]|[/.]\w)",
        re.IGNORECASE,
    )

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return found.sub(lambda m: by_folded[m.group(1).casefold()], value)
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    return rewrite


def merge(store: Store, b: Batch, *, officer: str, progress: Progress | None = None) -> Imported:
    """Merge one verified batch in one transaction, then search its new arrivals here."""
    m = _Merger(store, b, officer)
    earlier = [r["imported_at"] for r in store.rows("batches", "sha256 = ?", [b.sha256])]
    new = [r for r in b.arrivals if not m.local("arrivals", r["key"])]
    pipeline = matchers.pipeline_for(store)
    # The templates a batch brought, of the models this home uses; when one is missing, the portrait is
    # encoded with all of them here, and the templates brought are kept where there are any.
    given = {r["key"]: {m: v for m, v in b.templates.get(r["key"], {}).items() if m in pipeline.model_ids} for r in new}
    vectors = {key: g for key, g in given.items() if len(g) == len(pipeline.model_ids)}
    vectors_made, warnings = _encode_all(
        [(r["key"], b.portraits[r["portrait"]["member"]]) for r in new if r["portrait"] and r["key"] not in vectors],
        pipeline,
        progress,
    )
    vectors.update({key: made | given[key] for key, made in vectors_made.items()})
    landed: dict[str, dict[str, np.ndarray] | None] = {}
    store.check_once("name_keys")  # before the merge writes its own: the new arrivals' name search relies on them
    # What was merged before, and the laptops' trails held, are found through indexes: one rebuilt without a row
    # would have a record merged again, or a rolled-back laptop pass, as if never seen.
    store.check_indexes_once("merged", "batches", "origin_audit")
    try:
        with store.transaction():
            m.plan()
            for i, rec in enumerate(b.arrivals, 1):
                m.at = f"arrivals.jsonl line {i} ({rec['key']})"
                aid = m.arrival(rec, vectors.get(rec["key"]))
                if aid:
                    landed[aid] = vectors.get(rec["key"])
                if progress:
                    progress(f"merging {b.path.name}", i, len(b.arrivals))
            if m.templates:
                m.at = "templates.jsonl"
                owners, photos, vecs = zip(*m.templates)
                for model_id in pipeline.model_ids:
                    store.put_templates(
                        "arrival", model_id, list(owners), np.vstack([v[model_id] for v in vecs]), list(photos)
                    )
            for i, rec in enumerate(b.arrivals, 1):
                m.at = f"arrivals.jsonl line {i} ({rec['key']})"
                m.history(rec)
            for i, rec in enumerate(b.received, 1):
                m.at = f"{batch.RECEIVED} line {i} ({rec['arrival_key']})"
                m.received(rec)
            m.corrections()
            m.landing()
            m.audit_events()
            m.at = MANIFEST
            trail = _trail_went_back(store, b)
            for warning in trail:  # what the supervisor was told stays in this home's own trail
                store.audit(
                    "import-trail-warning", officer, records=[f"batch:{b.sha256}", f"device:{b.device}"], reason=warning
                )
            m.warnings += trail
            end = b.manifest.get("audit_end") or {}
            now = utcnow()
            store.db.table("batches").insert(
                {
                    "sha256": b.sha256,
                    "device": b.device,
                    "signer": b.signer,
                    "day": b.manifest["day"],
                    "site": b.manifest.get("site"),
                    "training": int(b.manifest["training"]),
                    "exported_at": b.manifest.get("exported_at"),
                    "exported_by": b.manifest.get("exported_by"),
                    "arrivals": len(b.arrivals),
                    "imported_at": now,
                    "officer": officer,
                    "audit_seq": end.get("seq"),
                    "audit_hash": end.get("hash"),
                },
                ignore=True,
            )
            m.at = "the search of its new arrivals"
            _search_new(store, landed, officer=officer, progress=progress)
            for aid in landed:
                store.audit(
                    "import-arrival", officer, arrival_id=aid, records=[f"arrival:{aid}", f"batch:{b.sha256[:16]}"]
                )
            store.audit(
                "import",
                officer,
                records=[f"batch:{b.sha256}", *(f"arrival:{a}" for a in landed)][:500],
                reason=f"{b.path.name}: day {b.manifest['day']} from device {b.device}, signed by {b.signer}; "
                f"{len(landed)} of {len(b.arrivals)} arrivals new",
            )
    except BROKEN as e:
        store.cache.clear()  # the galleries may hold templates the rollback removed
        _refused(
            store,
            b.path,
            BadInput(
                f"{b.path}: {m.at}: the record cannot be merged ({type(e).__name__}: {shown(str(e))}); "
                "nothing of the batch was merged"
            ),
            officer=officer,
        )
    except (BadInput, NotFound, IntegrityFailure) as refusal:
        store.cache.clear()
        _refused(store, b.path, refusal, officer=officer)
    except BaseException:
        store.cache.clear()
        raise
    held = {aid: r["key"] for r in b.arrivals if (aid := m.local("arrivals", r["key"]))}
    return Imported(
        file=str(b.path),
        sha256=b.sha256,
        device=b.device,
        signer=b.signer,
        day=b.manifest["day"],
        site=b.manifest.get("site"),
        training=bool(b.manifest["training"]),
        arrivals=len(b.arrivals),
        new_arrivals=len(landed),
        already_imported=bool(earlier),
        first_imported_at=earlier[0] if earlier else now,
        added=m.added,
        searched=sum(v is not None for v in landed.values()),
        **_awaiting(store, b, held),
        warnings=warnings + m.warnings,
        arrival_ids=list(held),
        corrected=m.corrected,
    )


def _awaiting(store: Store, b: Batch, keys: dict[str, str]) -> dict[str, Any]:
    """What awaits a decision on the batch's arrivals (`keys`: local id -> key) now that it is merged: watchlist
    alerts, whoever's search found them, then repeat arrivals and duplicate captures."""
    laptop = f"{b.signer} (device {b.device})"
    saw: dict[tuple[str, str], tuple[str | None, int | None]] = {}  # (key, ref) -> category, version, latest last
    for rec in b.arrivals:
        for s in rec["searches"]:
            for c in s["candidates"]:
                if c["kind"] == "watchlist":
                    saw[(rec["key"], c["ref"])] = (c.get("category"), s.get("watchlist_version"))
    alerts, repeats, duplicates = [], [], []
    for item in review.pending(store, arrival_ids=keys):
        for c in item.candidates:
            if c.kind == "watchlist":
                category, version = saw.get((keys.get(item.arrival_id, ""), c.ref), (None, None))
                alerts.append(
                    WatchlistAlert(
                        item.arrival_id,
                        c.ref,
                        c.category if c.held else category,
                        c.held,
                        cast(float, c.distance),  # a face's figures: only biographic candidates have none
                        cast(float, c.threshold),
                        c.found_by,
                        laptop,
                        version if laptop in c.found_by else None,
                        c.figures,
                    )
                )
            else:
                repeats.append(
                    RepeatCandidate(
                        item.arrival_id, c.ref, c.distance, c.threshold, c.found_by, c.kind, c.score, c.figures
                    )
                )
        duplicates += [
            RepeatCandidate(item.arrival_id, c.ref, c.distance, c.threshold, c.found_by) for c in item.duplicates
        ]
    return {"watchlist_alerts": alerts, "repeat_candidates": repeats, "duplicate_captures": duplicates}


def _search_new(
    store: Store, landed: dict[str, dict[str, np.ndarray] | None], *, officer: str, progress: Progress | None
) -> None:
    """Search each new arrival against this home's watchlist and every arrival here (the new ones included).
    The laptop's own searches stay beside this one (`review.pending`), so an alert it found against a watchlist
    this home does not hold still awaits a decision here."""
    for i, (aid, vectors) in enumerate(landed.items(), 1):
        if vectors is not None:
            arrivals._search(store, aid, vectors, officer=officer, top_k=arrivals.DEFAULT_TOP_K, threshold=None)
        if progress:
            progress("searching new arrivals", i, len(landed))


def _trail_went_back(store: Store, b: Batch) -> list[str]:
    """A warning when the laptop's audit trail, as its signed manifest states it, is not the trail earlier batches
    of the same laptop carried: it ends before where one of them said it had reached, or names another event at
    the same place, or parts from theirs further on (`_trail_parted`). The laptop's store was rolled back to an
    older copy, perhaps used since, or its trail replaced, which its own `audit verify` cannot show."""
    end = b.manifest.get("audit_end") or {}
    if "seq" not in end:
        return []
    exported = b.manifest.get("exported_at")
    earlier = {
        r["sha256"]: r
        for r in store.rows("batches", "device = ? AND sha256 != ?", [b.device, b.sha256])
        if not (exported and r["exported_at"]) or exported_before(r["exported_at"], exported)
    }  # a batch exported earlier and brought later ends earlier as it should
    if not earlier:
        return []
    ours = {e["seq"]: e for e in b.audit}
    near = sorted({s + d for s in (*ours, end["seq"]) for d in (-1, 0, 1)})
    same_day = [
        sha
        for sha, r in earlier.items()
        if r["day"] == b.manifest["day"] and (b.manifest.get("site") is None or r["site"] == b.manifest.get("site"))
    ]
    held = store.rows(
        "origin_audit",
        "device = ? AND batch != ? AND (seq IN (SELECT value FROM json_each(?)) "
        "OR (batch IN (SELECT value FROM json_each(?)) AND seq <= ?))",
        [b.device, b.sha256, json.dumps(near), json.dumps(same_day), end["seq"]],
    )
    dropped = sum(1 for r in held if r["seq"] in ours and not _same_event(ours[r["seq"]], r))
    reached = max(earlier.values(), key=lambda r: r["audit_seq"] if r["audit_seq"] is not None else -1)
    if reached["audit_seq"] is not None and (
        reached["audit_seq"] > end["seq"]
        or (reached["audit_seq"] == end["seq"] and reached["audit_hash"] != end["hash"])
    ):
        seq, at = reached["audit_seq"], reached["exported_at"]
        found = (
            f"ends at event {end['seq']}, but its batch exported {at} had reached event {seq}"
            if seq > end["seq"]
            else f"has another event {seq} than its batch exported {at} named"
        )
    else:
        parted = _trail_parted(end, ours, held, earlier, same_day)
        if parted is None:
            return []
        found = parted
    return [
        f"laptop {b.device}: the audit trail this batch states {found}: the laptop's store was rolled back or "
        "its trail replaced; "
        + (
            f"{dropped} of its audit events bear the numbers of other events of that laptop held here and were "
            "not merged; "
            if dropped
            else ""
        )
        + "check the laptop before relying on its records"
    ]


def exported_before(one: str, other: str) -> bool:
    """Whether a laptop exported the batch stamped `one` before the one stamped `other` (its clock, to the second);
    stamps that are not times are taken as in order, so that the trails are compared. Two batches stamped the same
    second are not in a known order (a laptop exporting two days at once): neither is compared with the other."""
    try:
        return dt.datetime.fromisoformat(one) < dt.datetime.fromisoformat(other)
    except (TypeError, ValueError):
        return True


def _trail_parted(
    end: dict[str, Any],
    ours: dict[int, dict[str, Any]],
    held: list[dict[str, Any]],
    earlier: dict[str, dict[str, Any]],
    same_day: list[str],
) -> str | None:
    """Where the batch's trail (its events and its end) parts from the one earlier batches of the laptop carried
    (`held`: their events near the batch's, and those about the same day's arrivals up to its end), or None.

    Events are compared by what they record (when, who, what, on which records), not by their hashes: a laptop
    whose data key was replaced (`triage passphrase change --rotate`) seals every reason again and so hashes its
    whole trail anew, the same events. Two trails are one up to an event both record alike, and have parted by
    an event numbered alike that records something else. A batch carries every event about its day's arrivals,
    so an event of that day an earlier batch carried, numbered within this batch's trail, is in this batch too
    unless the trails have parted by then: a laptop put back to an older copy and used long enough to pass the
    last event the supervisor saw shows that way when its batch carries none of the numbers the supervisor
    holds."""
    parted: dict[int, str] = {}  # seq of an event the trails do not share -> the batch that carried theirs
    agreed: set[int] = set()
    for r in held:
        mine = ours.get(r["seq"])
        if mine is None:
            continue
        if _same_event(mine, r):
            agreed.add(r["seq"])
        else:
            parted.setdefault(r["seq"], r["batch"])
    for r in held:
        if r["batch"] in same_day and r["seq"] <= end["seq"] and r["seq"] not in ours:
            parted.setdefault(r["seq"], r["batch"])
    if not parted:
        return None
    seq = min(parted)
    before = max((s for s in agreed if s < seq), default=None)
    where = (
        f"at event {seq}"
        if before == seq - 1
        else (f"after event {before}, by event {seq}" if before is not None else f"by event {seq}")
    )
    at = earlier.get(parted[seq], {}).get("exported_at")
    return f"parts from the trail its batch exported {at} carried {where}"


def _same_event(event: dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether a batch's audit event records what an event held here (`origin_audit`) records: its time, officer,
    action and records (its hash aside, which a replaced data key changes)."""
    return (event["at"], event["officer"], event["action"], json.dumps(event["records"])) == (
        row["at"],
        row["officer"],
        row["action"],
        row["records"],
    )


def _refused(store: Store, path: Path, refusal: TriageError, *, officer: str) -> NoReturn:
    """Audit a refused batch, then raise the refusal."""
    try:
        batch.audit_refusal(store, path, refusal, officer=officer)
    except TriageError as unrecorded:  # a busy or full store: the refusal, not this, is what the user must see
        raise refusal from unrecorded
    raise refusal


def _verified(store: Store, path: Path, *, officer: str, progress: Progress | None) -> Batch:
    """A batch decrypted and verified; a refusal is audited here, then raised as it was."""
    try:
        return batch.open_batch(store, path, officer=officer, progress=progress)
    except TriageError as refusal:
        _refused(store, path, refusal, officer=officer)


def import_files(store: Store, paths: list[Path], *, officer: str, progress: Progress | None = None) -> list[Imported]:
    """Verify every file first, so a bad one stops the import before anything merges; then merge each. The keys
    trusted here and the record of batches merged before are checked first: a revoked key put back, or a batch's
    record removed, from an older copy of the home would let a batch in again."""
    store.check_tables("trusted_keys", "batches", "merged")
    store.check_once("origin_audit")  # the trails laptops' batches brought: a rolled-back laptop is noticed by them
    verified = [_verified(store, p, officer=officer, progress=progress) for p in paths]
    return [merge(store, b, officer=officer, progress=progress) for b in verified]
