"""Batches into the hub: verified exactly as a supervisor's home verifies them, then loaded whole or not at all.

A batch is decrypted with the hub's identity and checked by the home's own functions (`exchange.batch`): the
signature of a laptop the hub trusts, every member against the signed manifest, the training flag against the
hub's, and every record bound to the signing laptop. The hub then binds each device to the first trusted key
that signed for it. Each batch loads in one transaction: the arrivals (each keyed DEVICE:ID, so a batch imported
again, or a later batch of the same day, adds only what is new), their portraits and templates, name and date-of-
birth blinds, the laptop's watchlist alerts, voids, debrief identifiers, crime groups and their links;
then every new arrival is searched across everything held (`search.py`). Reviews of watchlist alerts are kept
under their own keys, the laptop's own and the decisions it took on arrivals received from other laptops
(`received.jsonl`), whether or not the hub holds the alert yet: an alert is decided by the last review held that
no other supersedes, as on a home, whichever batch came first, so one decided anywhere is not reviewed again.
Decisions on pairs of arrivals (a repeat arrival) are kept the same way, until the hub holds both arrivals; the
one standing then decides the hub's candidates of that pair, unless a reviewer at the hub decided them first
(the import says whose decision stands), and a later one from a laptop takes the place of an earlier one.
Every row is written with its keyed tag (`rows.py`), and a row already held that the batch would build on (an
arrival, a correction applied before, an alert or a review of it) is checked first: a row changed outside triage
is never given a fresh tag. A refusal, wherever it happens, leaves nothing of the batch and is recorded in the
hub's audit trail in a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from triage.casework import name_keys, ocg
from triage.casework.arrivals import PAIR_KINDS
from triage.casework.debrief import records as debrief_records
from triage.casework.review import DECISIONS
from triage.errors import BadInput, IntegrityFailure, NotFound, TriageError
from triage.exchange import batch, keys, merge
from triage.exchange.batch import RECEIVED, Batch
from triage.exchange.records import CORRECTIONS, shown
from triage.faces import matchers
from triage.hub import review, rows, search, server
from triage.hub.hub import Hub, left_as_recorded
from triage.intake.biographic import latin
from triage.intake.names import part_keys

Progress = Callable[[str, int, int], None]
BROKEN = (KeyError, TypeError, ValueError, AttributeError, IndexError)
# An arrival record's fields kept in clear columns; everything else of the record is sealed.
CLEAR = ("key", "id", "site", "landed_day", "landed_at")
NOT_KEPT = ("portrait",)  # stored apart (sealed)


@dataclass
class HubImported:
    """One batch loaded (or found already loaded), and what awaits review on its arrivals."""

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
    candidates: list[dict[str, Any]]
    laptop_alerts: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    # Decisions taken on another laptop than the one that found the alert: those the batch brought, and those held
    # already that decide an alert it brought. `alert_held` False: kept until the hub holds that alert.
    alert_decisions: list[dict[str, Any]] = field(default_factory=list)
    # The decisions on pairs of arrivals (a repeat arrival) that the batch brought, or that its arrivals let the hub
    # apply, and what became of each (`review.PairDecision.state`).
    pair_decisions: list[dict[str, Any]] = field(default_factory=list)
    # Arrivals whose safeguarding flag the batch raised on the hub's record after they landed there (raised later
    # on their laptop, or by another home).
    safeguarding_raised: list[str] = field(default_factory=list)
    # Each amendment or void the batch applied first (arrival_key, kind, officer, reason): which arrivals changed.
    corrected: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def name_blinds(hub: Hub, details: dict[str, Any]) -> list[tuple[int, str]]:
    """(part, blind) for every identity key of each part of an arrival's name, under the hub's key: the same
    keys a home searches names by (any script or spelling of one name meets), blinded here again."""
    return sorted(
        {(i, hub.blind("name-key", k)) for i, part in enumerate(name_keys.name_parts(details)) for k in part_keys(part)}
    )


def identifier_blinds(hub: Hub, kind: str, value: str) -> list[tuple[str, str]]:
    """The (kind, blind) pairs a debrief's or crime group's value is matched by, under the hub's key: a payment
    handle that is a phone number matches phone numbers too."""
    if kind == "name":
        return [("name", hub.blind("ocg-name", latin(value)))]
    if kind == "handle":
        phone = ocg.handle_as_phone(value)
        return [("handle", hub.blind("ocg-handle", "".join(value.split())))] + (
            [("phone", hub.blind("ocg-phone", phone))] if phone else []
        )
    return [("phone", hub.blind("ocg-phone", value))]


def _refused(hub: Hub, path: Path, error: TriageError) -> NoReturn:
    """Record a refused file (by its SHA-256, and the refusal's message, which names no person), then raise."""
    if Path(path).is_file():
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        try:
            with hub.conn.transaction():
                hub.audit("import-refused", records=[f"batch-file:{digest}"], reason=str(error))
        except Exception:  # the refusal, not a failure to record it, is what the officer must see
            pass
    raise error


# The small tables an import relies on whole, summed before every load, and what each holds.
_WHOLE = {
    "devices": "it binds each laptop to the key that signs its batches",
    "batches": "it records each batch imported and its file's name",
}


def _whole_as_left(hub: Hub, b: Batch) -> None:
    """Refuse to load a batch while the devices or batches table is not as triage left it (its digest at the trail's
    end): a device's binding to the key that signs for it, changed or removed outside triage, would let another
    trusted key sign for that laptop; a batch's row deleted would let that batch load again as new. The tables are
    small, so they are summed before every load, not only by `audit verify`."""
    table = left_as_recorded(hub, tuple(_WHOLE))
    if table is not None:
        raise IntegrityFailure(
            f"{b.path}: the hub's {table} table is not as triage left it ({_WHOLE[table]}): a row was changed, "
            "added or removed outside triage; nothing of the batch was imported",
            hint="`triage hub audit verify` names what changed; restore the hub's database from a copy you trust",
        )


def _bound_device(hub: Hub, b: Batch) -> None:
    """A device's records come from the first trusted key that signed for it here."""
    row = hub.conn.execute("SELECT signer FROM devices WHERE device = %s", [b.device]).fetchone()
    if row is None or row[0] == b.signer:
        return
    trusted = {r["name"] for r in keys.listed(hub.keys)[keys.SIGNER]}
    if row[0] in trusted:
        raise IntegrityFailure(
            f"{b.path}: signed by {b.signer} but made, it says, on device {b.device}, whose batches {row[0]} signs: "
            "a laptop signs only its own device's batches; nothing of the batch was imported"
        )


def _trail_went_back(hub: Hub, b: Batch) -> list[str]:
    """A warning when the laptop's audit trail, as its signed manifest states it, ends before where a batch the
    laptop exported earlier said it had reached: the laptop's store was put back to an older copy, which its own
    `audit verify` cannot show. Each import records the batch's trail end and export time in the hub's own trail
    (`_trail_records`), which is read here (the batches table does not hold where a batch's trail ended). A batch
    exported earlier and brought later ends earlier as it should. Only the numbers are compared: a laptop whose data
    key was replaced hashes its whole trail anew, the same events under the same numbers (the supervisor's home,
    which keeps the events batches bring, compares them too)."""
    end = (b.manifest.get("audit_end") or {}).get("seq")
    if not isinstance(end, int):
        return []
    exported = b.manifest.get("exported_at")
    earlier: list[tuple[int, str, str]] = []  # (trail end, batch, exported at)
    for (records,) in hub.conn.execute(
        "SELECT records FROM audit WHERE action = 'import' AND records ? %s", [f"device:{b.device}"]
    ):
        said = dict(
            str(r).split(":", 1) for r in records if ":" in str(r) and not str(r).startswith(("review:", "arrival:"))
        )
        seq, at = said.get("trail-end", ""), said.get("exported", "")
        if seq.isdigit() and said.get("batch") and (not (exported and at) or merge.exported_before(at, exported)):
            earlier.append((int(seq), said["batch"], at))
    if not earlier or (reached := max(earlier))[0] <= end:
        return []
    row = hub.conn.execute("SELECT file FROM batches WHERE sha256 = %s", [reached[1]]).fetchone()
    named = row[0] if row else f"{reached[1][:12]}..."
    return [
        f"laptop {b.device}: the audit trail this batch states ends at event {end}, but its batch {named} "
        f"exported {reached[2] or 'earlier'} had reached event {reached[0]}: the laptop's store was rolled back or "
        "its trail replaced; check the laptop before relying on its records"
    ]


def _trail_records(b: Batch) -> list[str]:
    """What an import records of the laptop's trail for `_trail_went_back`: the device, where the batch says its
    trail ended, and when it was exported."""
    end = (b.manifest.get("audit_end") or {}).get("seq")
    if not isinstance(end, int):
        return []
    at = b.manifest.get("exported_at")
    return [f"device:{b.device}", f"trail-end:{end}", *([f"exported:{at}"] if isinstance(at, str) else [])]


def verified(hub: Hub, path: Path, progress: Progress | None = None) -> Batch:
    try:
        return batch.open_batch(hub.keys, Path(path), officer=hub.officer, progress=progress)
    except TriageError as e:
        _refused(hub, path, e)


def import_files(hub: Hub, paths: list[Path], *, progress: Progress | None = None) -> list[HubImported]:
    """Verify every file first, so a bad one stops the import before anything loads; then load each. A login that
    may not load batches is refused first, even for a batch held already (which would load nothing)."""
    if not hub.may("batches", "INSERT"):
        raise hub.login_refused("it may not import batches")
    batches = [verified(hub, p, progress) for p in paths]
    hub.key_home_held()  # each signer was trusted by the key home this command checked, not a copy put back since
    return [load(hub, b, progress=progress) for b in batches]


class _Loader:
    def __init__(self, hub: Hub, b: Batch):
        self.hub, self.b, self.conn = hub, b, hub.conn
        self.at = "the batch"
        self.ids: dict[str, int] = {}  # arrival key -> hub id, of the rows this batch names
        self.keys: dict[int, str] = {}  # and back
        self.laptop = f"{b.signer} (device {b.device})"
        self.new_reviews: list[str] = []  # the reviews of laptop alerts the batch brought that the hub did not hold
        self.new_pair_reviews: list[str] = []  # and its decisions on pairs of arrivals
        self.own = {rec["key"] for rec in b.arrivals}  # the arrivals of the batch's own laptop
        self.reviewed: set[tuple[str, str]] = set()  # (arrival key, ref) of the alerts its received ones decide
        self.loaded_alerts: set[tuple[str, str]] = set()  # the alerts the batch brought
        self.held_alerts: set[tuple[str, str]] = set()  # those held from earlier batches that its reviews decide
        self.standing: dict[tuple[str, str], str] = {}  # alert -> the review whose decision stands on it now
        self.elsewhere: dict[str, dict[str, Any]] = {}  # review -> a decision taken on another laptop than the finder's
        self.pairs: list[review.PairDecision] = []  # what became of the decisions on pairs of arrivals it touches
        self.flagged: list[str] = []  # arrivals whose safeguarding flag the batch raised on the hub's record
        self.corrected: list[dict[str, Any]] = []  # the amendments and voids it applied first

    def arrival_id(self, key: str, what: str) -> int:
        if key not in self.ids:
            row = self.conn.execute("SELECT id FROM arrivals WHERE key = %s", [key]).fetchone()
            if row is None:
                raise NotFound(
                    f"{self.b.path}: {self.at}: {what}, {key}, is not held in the hub; nothing of the batch was "
                    "imported",
                    hint=f"import the batch of device {key.split(':', 1)[0]} that holds it first, then this one again",
                )
            self.ids[key] = row[0]
            self.keys[row[0]] = key
        return self.ids[key]

    def row(self, aid: int) -> dict[str, Any]:
        """An arrival's row (tagged fields, tag, sealed record), its tag checked before anything changes it."""
        (row,) = rows.dicts(
            self.conn,
            f"SELECT {rows.columns('arrivals', 'a_', t='a')}, a.sealed FROM arrivals a WHERE a.id = %s",
            [aid],
        )
        self.hub.rows.check("arrivals", row, "a_", row["a_key"])
        return row

    def rewrite(self, aid: int, row: dict[str, Any], **changes: Any) -> None:
        """Change an arrival's `voided` or `sealed` and give it the tag of what it then holds."""
        values = {**rows.picked("arrivals", row, "a_"), **changes}
        if "sealed" in changes:
            values["sealed"] = rows.digest(changes["sealed"])
        sets = ", ".join(f"{name} = %s" for name in changes)
        self.conn.execute(
            f"UPDATE arrivals SET {sets}, mac = %s WHERE id = %s",
            [*changes.values(), self.hub.rows.mac("arrivals", **values), aid],
        )

    def arrival(self, rec: dict[str, Any]) -> int | None:
        """Insert one arrival; its hub id, or None when the hub holds it already."""
        sealed = self.hub.seal(
            {k: v for k, v in rec.items() if k not in CLEAR and k not in NOT_KEPT}, f"arrivals:{rec['key']}"
        )
        values = {
            "key": rec["key"],
            "device": self.b.device,
            "arrival_id": rec["id"],
            "site": rec.get("site"),
            "landed_day": dt.date.fromisoformat(rec["landed_day"]),
            "landed_at": rec["landed_at"],
            "batch": self.b.sha256,
            "voided": bool(rec.get("void")),
        }
        row = self.conn.execute(
            "INSERT INTO arrivals (key, device, arrival_id, site, landed_day, landed_at, batch, voided, sealed, mac) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING id",
            [*values.values(), sealed, self.hub.rows.mac("arrivals", **values, sealed=rows.digest(sealed))],
        ).fetchone()
        if row is None:
            self.arrival_id(rec["key"], "the arrival")
            return None
        aid = int(row[0])
        self.ids[rec["key"]] = aid
        self.keys[aid] = rec["key"]
        if rec.get("portrait"):
            member = rec["portrait"]["member"]
            self.conn.execute(
                "INSERT INTO portraits (arrival, sealed) VALUES (%s, %s)",
                [aid, self.hub.vault.seal(self.b.portraits[member], f"hub:portraits:{rec['key']}")],
            )
        self.name_keys(aid, rec["key"], rec.get("details") or {})
        return aid

    def templates(self, landed: dict[int, dict[str, np.ndarray]]) -> None:
        cols = self.hub.columns
        for aid, vectors in landed.items():
            use = {m: v for m, v in vectors.items() if m in cols}
            if not use:
                continue
            names = [cols[m] for m in use]
            self.conn.execute(
                f"INSERT INTO templates (arrival, {', '.join(names)}) VALUES (%s, "
                + ", ".join(["%s::vector"] * len(use))
                + ")",
                [aid, *(search.vector_text(self.hub.stored(m, v)) for m, v in use.items())],
            )

    def alerts(self, rec: dict[str, Any]) -> None:
        """The laptop's watchlist candidates, each with the decision standing on it (`alert_state`; None: pending).
        An alert a later batch brings again is replaced whole by what that batch says, with the tag of what it then
        holds, and keeps the decisions other laptops took on it."""
        aid = self.ids[rec["key"]]
        for s, c in _alerts_of(rec):
            ref = str(c["ref"])
            state = self.alert_state(rec["key"], ref, c.get("category"), c.get("decision"))
            values = {
                "ref": ref,
                "distance": c.get("distance"),
                "threshold": c.get("threshold"),
                "watchlist_version": s.get("watchlist_version"),
                "laptop": self.laptop,
                "decided": state["decision"] is not None,
            }
            sealed = self.hub.seal(state, f"laptop_alerts:{rec['key']}:{ref}")
            mac = self.hub.rows.mac("laptop_alerts", arrival=rec["key"], **values, sealed=rows.digest(sealed))
            self.conn.execute(
                "INSERT INTO laptop_alerts (arrival, ref, distance, threshold, watchlist_version, laptop, "
                "decided, sealed, mac) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (arrival, ref) "
                "DO UPDATE SET distance = EXCLUDED.distance, threshold = EXCLUDED.threshold, "
                "watchlist_version = EXCLUDED.watchlist_version, laptop = EXCLUDED.laptop, "
                "decided = EXCLUDED.decided, sealed = EXCLUDED.sealed, mac = EXCLUDED.mac",
                [aid, *values.values(), sealed, mac],
            )
            self.loaded_alerts.add((rec["key"], ref))

    def lock_arrivals(self) -> None:
        """Hold, until the batch commits, every arrival the batch brings and every arrival its reviews name: two
        importers loading at the same moment a laptop's batch and a decision on its alert or on a pair of its
        arrivals (a supervisor's batch, or the laptop's next day) then see each other's rows, whichever commits
        first. Taken in one order, so two importers never deadlock."""
        keys = {rec["key"] for rec in self.b.arrivals}
        keys |= {rec["arrival_key"] for rec in self.b.received if rec.get("reviews")}
        keys |= {str(r["ref_key"]) for rec in (*self.b.arrivals, *self.b.received) for r in _pair_reviews(rec)}
        if keys:
            with self.conn.cursor() as cur:
                cur.executemany("SELECT pg_advisory_xact_lock(7413, hashtext(%s))", [[k] for k in sorted(keys)])

    def _brought(self, kinds: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every review of one of `kinds` the batch brings (the laptop's on its own arrivals, and its decisions on
        arrivals it received from other laptops, `received.jsonl`), each with the key of the arrival it is on,
        checked as far as the hub relies on it."""
        for member, records, named_by in (
            ("arrivals.jsonl", self.b.arrivals, "key"),
            (batch.RECEIVED, self.b.received, "arrival_key"),
        ):
            for n, rec in enumerate(records, 1):
                for r in rec.get("reviews") or []:
                    if r.get("kind") not in kinds:
                        continue
                    self.at = f"{member} line {n} (review {r['key']})"
                    if r.get("decision") not in DECISIONS:
                        raise BadInput(
                            f"{self.b.path}: {self.at}: the decision {shown(r.get('decision'))} is not "
                            f"{', '.join(DECISIONS)}; nothing of the batch was imported"
                        )
                    if not isinstance(r.get("officer"), str):
                        raise BadInput(f"{self.b.path}: {self.at}: the review names no officer; nothing was imported")
                    review.review_time(r.get("at"))  # decisions are ordered by when they were taken
                    yield str(rec[named_by]), r

    def _keep(self, table: str, values: dict[str, Any], r: dict[str, Any]) -> bool:
        """A review kept once under its own key (`values`: its clear columns), what it decided sealed with the name
        of the batch's laptop; whether the hub did not hold it before."""
        body = {k: r.get(k) for k in ("decision", "reason", "officer", "at")} | {"laptop": self.laptop}
        sealed = self.hub.seal(body, f"{table}:{values['key']}")
        names = ", ".join(values)
        new = self.conn.execute(
            f"INSERT INTO {table} ({names}, sealed, mac) VALUES ({', '.join(['%s'] * (len(values) + 2))}) "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            [*values.values(), sealed, self.hub.rows.mac(table, **values, sealed=rows.digest(sealed))],
        ).fetchone()
        return new is not None  # else brought by an earlier batch, and applied then (its tag is checked where read)

    def alert_reviews(self) -> None:
        """Every review of a watchlist alert the batch brings, kept whether or not the hub holds the alert yet; the
        decisions taken on arrivals received from other laptops decide the alert when it arrives if it has not."""
        for key, r in self._brought(("watchlist",)):
            ref = str(r["ref"])
            values = {
                "key": r["key"],
                "arrival": key,
                "ref": ref,
                "supersedes": r.get("supersedes"),
                "batch": self.b.sha256,
            }
            if not self._keep("alert_reviews", values, r):
                continue
            self.new_reviews.append(r["key"])
            if key not in self.own:
                self.reviewed.add((key, ref))
                self.elsewhere[r["key"]] = self._elsewhere(r["key"], key, ref, r, self.laptop)

    def pair_reviews(self, landed: list[int]) -> None:
        """Decisions the batch brings on pairs of arrivals (a repeat arrival, by face or by name), kept whether or not
        the hub holds both arrivals yet; then every pair they touch, or that kept ones touch among the arrivals just
        `landed`, is settled (`review.settle_pair`). Run after the new arrivals are searched, so the hub's
        candidates of the pair exist."""
        pairs: set[tuple[str, str]] = set()
        for key, r in self._brought(PAIR_KINDS):
            if not isinstance(r.get("ref_key"), str):
                raise BadInput(f"{self.b.path}: {self.at}: the decision names no other arrival; nothing was imported")
            values = {"key": r["key"], "arrival": key, "other": r["ref_key"], "supersedes": r.get("supersedes"),
                      "batch": self.b.sha256}  # fmt: skip
            if self._keep("pair_reviews", values, r):
                self.new_pair_reviews.append(r["key"])
                pairs.add(_ordered(key, r["ref_key"]))
        keys = [self.keys[i] for i in landed]
        pairs |= {
            _ordered(a, o)
            for a, o in self.conn.execute(
                "SELECT arrival, other FROM pair_reviews WHERE arrival = ANY(%s) OR other = ANY(%s)", [keys, keys]
            ).fetchall()
        }
        for one, two in sorted(pairs):
            self.at = f"the decisions held on arrivals {one} and {two}"
            outcome = review.settle_pair(self.hub, one, two)
            if outcome is not None:
                self.pairs.append(outcome)

    @staticmethod
    def _elsewhere(review: str, key: str, ref: str, body: dict[str, Any], laptop: object) -> dict[str, Any]:
        return {
            "review": review,
            "arrival_key": key,
            "ref": ref,
            "decision": body.get("decision"),
            "officer": body.get("officer"),
            "at": body.get("at"),
            "laptop": laptop,
        }

    def alert_state(self, key: str, ref: str, category: Any, laptop_decision: Any) -> dict[str, Any]:
        """What a laptop alert's sealed column holds: its category and the decision standing on it. That is, as on a
        home, the last of the reviews held on it that no other supersedes, whichever laptop took it (who, when and
        on which laptop kept beside it); with none held, the decision the finding laptop's batch records."""
        held = []
        for r in rows.dicts(
            self.conn,
            f"SELECT r.sealed, {rows.columns('alert_reviews', 'r_', t='r')} FROM alert_reviews r "
            "WHERE r.arrival = %s AND r.ref = %s",
            [key, ref],
        ):
            self.hub.rows.check("alert_reviews", r, "r_", r["r_key"])
            opened = self.hub.open(r["sealed"], f"alert_reviews:{r['r_key']}")
            held.append({**opened, "key": r["r_key"], "supersedes": r["r_supersedes"]})
        state = {"category": category, "decision": laptop_decision}
        if not held:
            return state
        last = review.standing_review(held)
        self.standing[(key, ref)] = last["key"]
        if last["key"].partition(":")[0] != key.partition(":")[0] and last["key"] not in self.elsewhere:
            self.elsewhere[last["key"]] = self._elsewhere(last["key"], key, ref, last, last.get("laptop"))
        return {
            **state,
            "decision": last["decision"],
            "laptop_decision": laptop_decision,
            "officer": last.get("officer"),
            "at": last.get("at"),
            "decided_on": last.get("laptop"),
            "review": last["key"],
        }

    def decide_held(self) -> None:
        """The batch's decisions on arrivals received from elsewhere, on alerts the hub holds from earlier batches:
        each such alert (its row's tag checked first) comes to hold the decision standing on it now. An alert not
        held yet is left to the batch that brings it."""
        for key, ref in sorted(self.reviewed - self.loaded_alerts):
            self.at = f"{batch.RECEIVED} ({key})"
            found = rows.dicts(
                self.conn,
                f"SELECT l.id, l.sealed, {rows.columns('laptop_alerts', 'l_', t='l')} FROM laptop_alerts l "
                "JOIN arrivals a ON a.id = l.arrival WHERE a.key = %s AND l.ref = %s",
                [key, ref],
            )
            if not found:
                continue
            (row,) = found
            self.hub.rows.check("laptop_alerts", row, "l_", f"{key}:{ref}")
            aad = f"laptop_alerts:{key}:{ref}"
            held = self.hub.open(row["sealed"], aad)
            self.held_alerts.add((key, ref))
            laptop_decision = held["laptop_decision"] if "laptop_decision" in held else held.get("decision")
            state = self.alert_state(key, ref, held.get("category"), laptop_decision)
            if state == held:
                continue
            sealed = self.hub.seal(state, aad)
            values = {
                **rows.picked("laptop_alerts", row, "l_"),
                "decided": state["decision"] is not None,
                "sealed": rows.digest(sealed),
            }
            self.conn.execute(
                "UPDATE laptop_alerts SET decided = %s, sealed = %s, mac = %s WHERE id = %s",
                [values["decided"], sealed, self.hub.rows.mac("laptop_alerts", **values), row["id"]],
            )

    def decided_elsewhere(self) -> list[dict[str, Any]]:
        held = self.loaded_alerts | self.held_alerts
        return [
            {
                **e,
                "alert_held": (e["arrival_key"], e["ref"]) in held,
                "stands": self.standing.get((e["arrival_key"], e["ref"])) == e["review"],
            }
            for e in self.elsewhere.values()
        ]

    def named_reviews(self) -> list[str]:
        """The reviews of laptop alerts the batch brought, and those held already that now decide an alert."""
        return list(dict.fromkeys([*self.new_reviews, *self.standing.values()]))

    def corrections(self) -> None:
        """Each amendment and void applies once, whichever batch brings it first: an amendment replaces the
        arrival's details (and its name keys), a void takes the arrival out of every search."""
        for n, c in enumerate(self.b.corrections, 1):
            self.at = f"{CORRECTIONS} line {n} ({c['key']})"
            aid = self.arrival_id(c["arrival_key"], "the arrival corrected")
            sealed = self.hub.seal(c, f"corrections:{c['key']}")
            values = {"key": c["key"], "arrival": c["arrival_key"], "kind": c["kind"], "batch": self.b.sha256}
            first = self.conn.execute(
                "INSERT INTO corrections (key, arrival, kind, batch, sealed, mac) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (key) DO NOTHING RETURNING key",
                [
                    c["key"],
                    aid,
                    c["kind"],
                    self.b.sha256,
                    sealed,
                    self.hub.rows.mac("corrections", **values, sealed=rows.digest(sealed)),
                ],
            ).fetchone()
            if first is None:  # applied already, by the batch that brought it first (unless that row was forged)
                (held,) = rows.dicts(
                    self.conn,
                    f"SELECT {rows.columns('corrections', 'c_', t='c')} FROM corrections c "
                    "LEFT JOIN arrivals a ON a.id = c.arrival WHERE c.key = %s",
                    [c["key"]],
                )
                self.hub.rows.check("corrections", held, "c_", c["key"])
                continue
            row = self.row(aid)
            self.corrected.append(
                {
                    "arrival_key": c["arrival_key"],
                    "kind": c["kind"],
                    "officer": c.get("officer"),
                    "reason": c.get("reason"),
                }
            )
            if c["kind"] == "void":
                self.rewrite(aid, row, voided=True)
                self.conn.execute("DELETE FROM templates WHERE arrival = %s", [aid])
                continue
            key = row["a_key"]
            record = self.hub.open(row["sealed"], f"arrivals:{key}")
            record["details"] = {**(record.get("details") or {}), **c["details"]}
            self.rewrite(aid, row, sealed=self.hub.seal(record, f"arrivals:{key}"))
            self.name_keys(aid, key, record["details"])

    def flags(self, new_ids: list[int]) -> None:
        """Safeguarding flags (a possible child, or a reason an officer gave) raised after an arrival reached the hub: by its laptop
        after an earlier batch, or by another home that received it (a supervisor's batch). Each is raised on the
        hub's sealed record, never lowered, with an audit event naming who raised it where the batch's trail says.
        One on an arrival the hub does not hold yet is kept in the trail (`safeguarding-flag-kept`) and raised
        when the arrival comes."""
        brought = [("arrivals.jsonl", r["key"]) for r in self.b.arrivals if r.get("safeguarding")]
        brought += [(RECEIVED, r["arrival_key"]) for r in self.b.received if r.get("safeguarding")]
        new = {self.keys[aid] for aid in new_ids}
        for member, key in brought:
            if key in new:  # landed with its flag: why, where the batch's trail says, is kept in the hub's
                said = self.b.flagged_by(key)
                if said:
                    self.hub.audit(
                        "safeguarding-flag",
                        records=[f"arrival:{key}", f"batch:{self.b.sha256}"],
                        reason=f"raised on {self.laptop}{said}",
                    )
                continue
            self.at = f"{member} ({key}): its safeguarding flag"
            row = self.conn.execute("SELECT id FROM arrivals WHERE key = %s", [key]).fetchone()
            why = f"raised on {self.laptop}{self.b.flagged_by(key)}"
            if row is None:
                self.hub.audit(
                    "safeguarding-flag-kept", records=[f"arrival:{key}", f"batch:{self.b.sha256}"], reason=why
                )
            else:
                self._flag(int(row[0]), [f"batch:{self.b.sha256}"], why)
        for aid in new_ids:
            key = self.keys[aid]
            kept = self.conn.execute(
                "SELECT seq FROM audit WHERE action = 'safeguarding-flag-kept' AND records ? %s ORDER BY seq",
                [f"arrival:{key}"],
            ).fetchall()
            if kept:
                self._flag(aid, [f"audit:{seq}" for (seq,) in kept], "kept since an earlier batch brought it")

    def _flag(self, aid: int, records: list[str], why: str) -> None:
        row = self.row(aid)
        key = row["a_key"]
        record = self.hub.open(row["sealed"], f"arrivals:{key}")
        if record.get("safeguarding"):
            return
        record["safeguarding"] = True
        self.rewrite(aid, row, sealed=self.hub.seal(record, f"arrivals:{key}"))
        self.flagged.append(key)
        self.hub.audit("safeguarding-flag", records=[f"arrival:{key}", *records], reason=why)

    def name_keys(self, aid: int, key: str, details: dict[str, Any]) -> None:
        self.conn.execute("DELETE FROM name_keys WHERE arrival = %s", [aid])
        with self.conn.cursor() as cur:  # one round trip for all of them
            cur.executemany(
                "INSERT INTO name_keys (arrival, part, blind, mac) VALUES (%s, %s, %s, %s)",
                [
                    [aid, part, blind, self.hub.rows.mac("name_keys", arrival=key, part=part, blind=blind)]
                    for part, blind in name_blinds(self.hub, details)
                ],
            )

    def landing(self) -> None:
        latest: dict[str, dict[str, Any]] = {}
        for n, d in enumerate(self.b.landing["debriefs"], 1):
            self.at = f"debriefs.jsonl line {n} ({d['key']})"
            if d["arrival_key"] not in latest or d.get("version", 0) >= latest[d["arrival_key"]].get("version", 0):
                latest[d["arrival_key"]] = d
        for key, d in latest.items():
            self.at = f"debriefs.jsonl ({d['key']})"
            aid = self.arrival_id(key, "the arrival debriefed")
            # The version whose numbers and names the hub holds is kept with the arrival: a batch exported before
            # the one imported already (brought later) has an older version, which replaces nothing.
            row = self.row(aid)
            record = self.hub.open(row["sealed"], f"arrivals:{key}")
            version, held = int(d.get("version") or 0), record.get("debrief_version")
            if held is not None and version < int(held):
                continue
            if held != version:
                record["debrief_version"] = version
                self.rewrite(aid, row, sealed=self.hub.seal(record, f"arrivals:{key}"))
            self.conn.execute("DELETE FROM identifiers WHERE arrival = %s", [aid])
            for kind, value, source in debrief_records._identifiers(d["answers"]):
                for k, blind in identifier_blinds(self.hub, kind, value):
                    sealed = self.hub.seal({"value": value}, f"identifiers:{key}")
                    mac = self.hub.rows.mac(
                        "identifiers", arrival=key, kind=k, blind=blind, source=source, sealed=rows.digest(sealed)
                    )
                    self.conn.execute(
                        "INSERT INTO identifiers (arrival, kind, blind, source, sealed, mac) "
                        "VALUES (%s, %s, %s, %s, %s, %s)",
                        [aid, k, blind, source, sealed, mac],
                    )
        for n, g in enumerate(self.b.landing["ocgs"], 1):
            self.at = f"ocgs.jsonl line {n} ({g['key']})"
            body = {k: v for k, v in g.items() if k not in ("key", "ref")}
            group = {"key": g["key"], "device": self.b.device, "ref": ocg.check_ref(g["ref"]), "batch": self.b.sha256}
            held_group = rows.dicts(
                self.conn,
                f"SELECT g.sealed, b.exported_at, {rows.columns('groups', 'g_', t='g')} FROM groups g "
                "LEFT JOIN batches b ON b.sha256 = g.batch WHERE g.key = %s",
                [g["key"]],
            )
            if held_group:  # a record updated since, which an older batch brought later does not undo
                self.hub.rows.check("groups", held_group[0], "g_", g["key"])
                before = self.hub.open(held_group[0]["sealed"], f"groups:{g['key']}")
                mine = (str(body.get("updated_at") or ""), str(self.b.manifest.get("exported_at") or ""))
                if mine < (str(before.get("updated_at") or ""), str(held_group[0]["exported_at"] or "")):
                    continue
            sealed = self.hub.seal(body, f"groups:{g['key']}")
            row = self.conn.execute(  # a group a later batch brings again is replaced whole, tag and all
                "INSERT INTO groups (key, device, ref, batch, sealed, mac) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET device = EXCLUDED.device, ref = EXCLUDED.ref, batch = EXCLUDED.batch, "
                "sealed = EXCLUDED.sealed, mac = EXCLUDED.mac RETURNING id",
                [*group.values(), sealed, self.hub.rows.mac("groups", **group, sealed=rows.digest(sealed))],
            ).fetchone()
            for kind, values in (("phone", g.get("phones")), ("name", g.get("names")), ("handle", g.get("handles"))):
                for value in values or []:
                    for k, blind in identifier_blinds(self.hub, kind, value):
                        self.conn.execute(
                            "INSERT INTO group_identifiers (grp, kind, blind, mac) VALUES (%s, %s, %s, %s) "
                            "ON CONFLICT DO NOTHING",
                            [
                                row[0],
                                k,
                                blind,
                                self.hub.rows.mac("group_identifiers", grp=g["key"], kind=k, blind=blind),
                            ],
                        )
        for n, link in enumerate(self.b.landing["ocg_links"], 1):
            self.at = f"ocg_links.jsonl line {n} ({link['key']})"
            grp = self.conn.execute("SELECT id FROM groups WHERE key = %s", [link["ocg_key"]]).fetchone()
            if grp is None:
                raise NotFound(
                    f"{self.b.path}: {self.at}: the crime group linked to, {link['ocg_key']}, is not held in the hub; "
                    "nothing of the batch was imported"
                )
            aid = self.arrival_id(link["target_key"], "the arrival linked")
            body = {k: link.get(k) for k in ("decision", "reason", "officer", "at", "matched")}
            sealed = self.hub.seal(body, f"group_links:{link['key']}")
            values = {
                "key": link["key"],
                "grp": link["ocg_key"],
                "arrival": link["target_key"],
                "supersedes": link.get("supersedes"),
            }
            self.conn.execute(
                "INSERT INTO group_links (key, grp, arrival, supersedes, sealed, mac) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (key) DO NOTHING",
                [
                    link["key"],
                    grp[0],
                    aid,
                    link.get("supersedes"),
                    sealed,
                    self.hub.rows.mac("group_links", **values, sealed=rows.digest(sealed)),
                ],
            )


def _alerts_of(rec: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(search, candidate) of each watchlist alert a laptop's search of an arrival found below its threshold."""
    return [
        (s, c)
        for s in rec.get("searches") or []
        for c in s.get("candidates") or []
        if c.get("kind") == "watchlist" and c.get("below_threshold")
    ]


def _ordered(one: str, two: str) -> tuple[str, str]:
    """A pair of arrivals' keys in one order, whichever way round a decision names them."""
    return (one, two) if one <= two else (two, one)


def _pair_reviews(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in rec.get("reviews") or [] if r.get("kind") in PAIR_KINDS]


def _vectors(
    hub: Hub, b: Batch, new: list[dict[str, Any]], progress: Progress | None
) -> tuple[dict[str, Any], list[str]]:
    """Every new arrival's templates for the hub's models: those the batch brought, else computed again from the
    portrait here (with the home's own encoder)."""
    model_ids = hub.matcher.model_ids
    given = {r["key"]: {m: v for m, v in b.templates.get(r["key"], {}).items() if m in model_ids} for r in new}
    vectors: dict[str, Any] = {k: g for k, g in given.items() if len(g) == len(model_ids)}
    jobs = [
        (r["key"], b.portraits[r["portrait"]["member"]]) for r in new if r.get("portrait") and r["key"] not in vectors
    ]
    if not jobs:
        return vectors, []
    made, warnings = merge._encode_all(jobs, matchers.pipeline_for(hub.keys), progress)
    vectors.update({k: v | given[k] for k, v in made.items()})
    return vectors, warnings


def load(hub: Hub, b: Batch, *, progress: Progress | None = None, again_if_raced: bool = True) -> HubImported:
    """Load one verified batch in one transaction, then search its new arrivals across everything held. When
    another importer loads the same batch (or a later batch of the same day) at the same moment, the one that
    commits second loads again and finds what the first added."""
    conn = hub.conn
    again = conn.execute("SELECT 1 FROM batches WHERE sha256 = %s", [b.sha256]).fetchone() is not None
    if not again:
        try:
            _whole_as_left(hub, b)
        except IntegrityFailure as refusal:
            _refused(hub, b.path, refusal)
    held = set()
    for row in rows.dicts(
        conn,
        f"SELECT {rows.columns('arrivals', 'a_', t='a')} FROM arrivals a WHERE a.key = ANY(%s)",
        [[r["key"] for r in b.arrivals]],
    ):  # an arrival the hub holds already is not loaded again: so it must be one triage wrote
        try:
            hub.rows.check("arrivals", row, "a_", row["a_key"])
        except IntegrityFailure as e:
            _refused(hub, b.path, e)
        held.add(row["a_key"])
    new = [r for r in b.arrivals if r["key"] not in held and not r.get("void")]
    vectors, warnings = _vectors(hub, b, new, progress) if not again else ({}, [])
    went_back = [] if again else _trail_went_back(hub, b)
    warnings += went_back
    trail = _trail_records(b)
    loader = _Loader(hub, b)
    landed: dict[int, dict[str, np.ndarray]] = {}
    new_ids: list[int] = []
    try:
        with conn.transaction():
            if not again:
                _bound_device(hub, b)
                conn.execute(
                    "INSERT INTO batches (sha256, file, device, signer, day, site, training, exported_at, exported_by, "
                    "arrivals, new_arrivals, officer) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s)",
                    [
                        b.sha256,
                        b.path.name,
                        b.device,
                        b.signer,
                        dt.date.fromisoformat(b.manifest["day"]),
                        b.manifest.get("site"),
                        bool(b.manifest["training"]),
                        b.manifest.get("exported_at"),
                        b.manifest.get("exported_by"),
                        len(b.arrivals),
                        hub.officer,
                    ],
                )
                conn.execute(
                    "INSERT INTO devices (device, signer, first_batch) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [b.device, b.signer, b.sha256],
                )
                loader.lock_arrivals()
                loader.alert_reviews()
                for i, rec in enumerate(b.arrivals, 1):
                    loader.at = f"arrivals.jsonl line {i} ({rec['key']})"
                    aid = loader.arrival(rec)
                    if aid is not None:
                        new_ids.append(aid)
                        if rec["key"] in vectors:
                            landed[aid] = vectors[rec["key"]]
                    loader.alerts(rec)
                    if progress:
                        progress(f"loading {b.path.name}", i, len(b.arrivals))
                loader.at = "templates.jsonl"
                loader.templates(landed)
                loader.corrections()
                loader.flags(new_ids)
                loader.landing()
                loader.decide_held()
                loader.at = "the search of its new arrivals"
                for i, (aid, v) in enumerate(landed.items(), 1):
                    search.search_arrival(hub, aid, v, key=loader.keys[aid])
                    if progress:
                        progress("searching new arrivals", i, len(landed))
                for aid in new_ids:
                    search.biographic(hub, aid)
                loader.at = "its decisions on pairs of arrivals"
                loader.pair_reviews(new_ids)
                conn.execute("UPDATE batches SET new_arrivals = %s WHERE sha256 = %s", [len(new_ids), b.sha256])
                reviewed = loader.named_reviews()
                kept = sum(not e["alert_held"] for e in loader.decided_elsewhere())
                pairs = sum(p.state in (review.RECORDED, review.REPLACED) for p in loader.pairs)
                overruled = sum(p.state == review.DECIDED for p in loader.pairs)
                hub.audit(
                    "import",
                    records=[
                        f"batch:{b.sha256}",
                        *trail,
                        *(f"review:{k}" for k in [*reviewed, *loader.new_pair_reviews]),
                        *(f"arrival:{r['key']}" for r in b.arrivals if r["key"] not in held),
                    ],
                    reason=f"{b.path.name}: day {b.manifest['day']} from device {b.device}, signed by {b.signer}; "
                    f"{len(new_ids)} of {len(b.arrivals)} arrivals new"
                    + (
                        f"; {len(reviewed)} review(s) of laptop alerts"
                        + (f", {kept} kept until the hub holds their alert" if kept else "")
                        if reviewed
                        else ""
                    )
                    + (f"; {pairs} decision(s) on repeat arrivals taken on laptops" if pairs else "")
                    + (f"; {overruled} on repeat arrivals decided otherwise, not recorded" if overruled else "")
                    + "".join(f"; {w}" for w in went_back),
                )
    except BROKEN as e:
        _refused(
            hub,
            b.path,
            BadInput(
                f"{b.path}: {loader.at}: the record cannot be imported ({type(e).__name__}: {shown(str(e))}); "
                "nothing of the batch was imported"
            ),
        )
    except (BadInput, NotFound, IntegrityFailure) as refusal:
        _refused(hub, b.path, refusal)
    except server.psycopg().IntegrityError:
        if not again_if_raced:
            raise
        return load(hub, b, progress=progress, again_if_raced=False)
    except server.psycopg().DataError as e:  # a value PostgreSQL cannot hold (a date out of range, a NUL)
        _refused(
            hub,
            b.path,
            BadInput(
                f"{b.path}: {loader.at}: the record cannot be imported ({shown(str(e))}); nothing of the batch was imported"
            ),
        )
    keys_of = [r["key"] for r in b.arrivals]
    ids = [i for (i,) in conn.execute("SELECT id FROM arrivals WHERE key = ANY(%s)", [keys_of])]
    found, alerts = review.pending_candidates(hub, arrivals=ids), review.pending_alerts(hub, arrivals=ids)
    candidates, alerts = review.one_per_hit(hub, review.found_by(found, alerts), alerts, ids)
    review.with_safeguarding(hub, candidates, alerts)
    return HubImported(
        file=str(b.path),
        sha256=b.sha256,
        device=b.device,
        signer=b.signer,
        day=b.manifest["day"],
        site=b.manifest.get("site"),
        training=bool(b.manifest["training"]),
        arrivals=len(b.arrivals),
        new_arrivals=len(new_ids),
        already_imported=again,
        candidates=candidates,
        laptop_alerts=alerts,
        warnings=warnings,
        alert_decisions=loader.decided_elsewhere(),
        pair_decisions=[asdict(p) for p in loader.pairs],
        safeguarding_raised=loader.flagged,
        corrected=loader.corrected,
    )
