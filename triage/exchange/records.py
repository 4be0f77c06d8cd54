"""What the records of a batch may hold, checked before anything of the batch is merged.

A batch is signed by one laptop and carries that laptop's records only: the own key (DEVICE:ID) of every
arrival, search, review, draft, outcome, debrief, referral, crime group, crime-group link and audit event
names the signing laptop's device. Other laptops' rows appear only as references (the arrival a review is
about, a candidate, a superseded decision). What the laptop decided on records it received from other
laptops (a review or draft on another laptop's arrival, an outcome of another laptop's draft) travels in
`received.jsonl`, one line per arrival, named by that arrival's key: each decision keeps its own key. An
amendment or void the laptop made travels in `corrections.jsonl` under a key of its own, naming the arrival
it corrects by that arrival's key; the earlier versions and void mark inside an arrival record are checked as
closely as any other field.

Every line is bounded in size and depth before and after it is parsed; every id that becomes an id here
(arrival ids, draft references, crime-group references, device names) and every clear field an officer
is shown is checked against its format, so no control character, path or runaway length enters the store.
Training records never enter a real home, whatever the manifest says. The first record that fails refuses
the whole batch, naming the member, the line and the record's key: `BadInput` (exit 3) for a malformed
record, `IntegrityFailure` (exit 6) for a record that is not the signing laptop's or that is marked as
training in a real batch.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from triage.casework import ocg, watchlist
from triage.casework.corrections import AMENDABLE
from triage.casework.review import DECISIONS
from triage.errors import BadInput, IntegrityFailure
from triage.intake import refs

MAX_LINE_BYTES = 16 * 1024**2  # one record: an arrival with every draft and decision about it
MAX_DEPTH = 32  # records nest about ten deep (a draft's subject's aliases' search forms)
MAX_FIELD = 4000  # characters in one field of a record outside its nested details
MAX_TEMPLATE_DIM = 4096

DEVICE = refs.DEVICE_ID
ARRIVAL_ID = refs.ARRIVAL_ID
DRAFT_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")  # PND-3FA29C-20261128-001, and -2 when renamed
ROW_ID = re.compile(r"[0-9]{1,18}")
# A correction of an arrival, named by the arrival's id where it was made: `A-7K3F9Q-v2` replaced its details
# for the second time, `A-7K3F9Q-void` voided it.
CORRECTION_ID = re.compile(r"(A-[0-9ABCDEFGHJKMNPQRSTVWXYZ]{6})-(v[1-9][0-9]{0,5}|void)")
CORRECTIONS = "corrections.jsonl"  # the member of amendments and voids made after an arrival was exported
MAX_VERSIONS = 1000  # earlier versions of one arrival's details
MAX_REASON = 1000  # characters in a correction's reason, as `--reason` takes it
# Characters no field of a record may hold: control characters (a line break and a tab only inside nested
# text), lone surrogates, line and paragraph separators, and the bidirectional controls that reorder text.
_NEVER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NEVER_IN_FIELD = re.compile("[\t\n]")
CANDIDATE_KINDS = ("watchlist", "arrival", "biographic")  # biographic: name and date of birth agree
_SHOWN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.-]{0,79}")  # an id safe to quote as it is


def shown(value: object) -> str:
    """An untrusted value for a message: a text quoted, escaped and cut short, on one line; a number as it is;
    a list or record by its kind only."""
    if isinstance(value, str):
        return ascii(value[:60] + ("..." if len(value) > 60 else ""))
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)[:60]
    return "a list" if isinstance(value, list) else "a record" if isinstance(value, dict) else type(value).__name__


def is_line(value: object, limit: int = 200) -> bool:
    """None, or one line of text an officer may be shown: no control or direction character, bounded."""
    return value is None or (
        isinstance(value, str) and len(value) <= limit and not (_NEVER.search(value) or _NEVER_IN_FIELD.search(value))
    )


def _depth(value: Any, limit: int) -> str | None:
    """Why `value` cannot be a record (nested deeper than `limit`, or a text holding a refused character),
    or None. Walks without recursion, so no record can exhaust the stack."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, at = stack.pop()
        if isinstance(item, (dict, list)) and depth > limit:
            return f"nested more than {limit} deep"
        if isinstance(item, dict):
            for k, v in item.items():
                if _NEVER.search(k):
                    return f"the field name {shown(k)} holds a control or direction character"
                stack.append((v, depth + 1, f"{at}.{k}" if at else k))
        elif isinstance(item, list):
            stack.extend((v, depth + 1, f"{at}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, str) and (found := _NEVER.search(item)):
            return f"{shown(at)} holds the character U+{ord(found.group()):04X}, which is never recorded"
    return None


def read_lines(path: Path, member: str, data: bytes) -> list[dict[str, Any]]:
    """The records of one `.jsonl` member: one JSON object a line, each bounded in size and depth."""
    out = []
    pieces = data.split(b"\n")
    if pieces[-1] == b"":  # the newline that ends the last line
        pieces.pop()
    for n, line in enumerate(pieces, 1):
        where = f"{member} line {n}"
        if not line.strip():
            _malformed(path, where, "an empty line")
        if len(line) > MAX_LINE_BYTES:
            _malformed(path, where, f"{len(line):,} bytes is more than any record holds ({MAX_LINE_BYTES:,})")
        try:
            record = json.loads(line, parse_constant=_no_constant)
        except RecursionError:
            _malformed(path, where, f"nested more than {MAX_DEPTH} deep")
        except ValueError as e:
            _malformed(path, where, f"not JSON ({shown(str(e))})")
        if not isinstance(record, dict):
            _malformed(path, where, "not a JSON object")
        problem = _depth(record, MAX_DEPTH)
        if problem:
            key = record.get("key", record.get("arrival_key"))
            _malformed(path, where + (f" ({key})" if isinstance(key, str) and _safe_key(key) else ""), problem)
        out.append(record)
    return out


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def _malformed(path: Path, where: str, why: str) -> NoReturn:
    raise BadInput(f"{path}: {where}: {why}; nothing of the batch was merged")


def _foreign(path: Path, where: str, why: str) -> NoReturn:
    raise IntegrityFailure(f"{path}: {where}: {why}; nothing of the batch was merged")


class Checker:
    """The records of one batch, checked against the device and training flag of its signed manifest."""

    def __init__(self, path: Path, device: str, training: bool, portraits: Iterable[str]):
        self.path, self.device, self.training = path, device, training
        self.portraits = set(portraits)
        self.where = ""
        self.arrival_keys: set[str] = set()  # of the batch's own arrival records

    # -- refusals --------------------------------------------------------------------------------

    def malformed(self, why: str) -> NoReturn:
        _malformed(self.path, self.where, why)

    def foreign(self, why: str) -> NoReturn:
        _foreign(self.path, self.where, why)

    def at(self, member: str, line: int, record: dict[str, Any], key_field: str = "key") -> None:
        key = record.get(key_field)
        self.where = f"{member} line {line}" + (f" ({key})" if isinstance(key, str) and _safe_key(key) else "")

    # -- fields ----------------------------------------------------------------------------------

    def field(self, row: dict[str, Any], name: str, kinds: type | tuple[type, ...], what: str) -> Any:
        if name not in row:
            self.malformed(f"{what} has no {name}")
        value = row[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
            self.malformed(f"{what}'s {name} is {shown(value)}, not {_kind_words(kinds)}")
        return value

    def text(self, row: dict[str, Any], name: str, what: str, *, required: bool = True, limit: int = 200) -> None:
        value = self.field(row, name, str if required else (str, type(None)), what)
        if value is not None and (not value.strip() if required else False):
            self.malformed(f"{what}'s {name} is empty")
        if value is not None and len(value) > limit:
            self.malformed(f"{what}'s {name} is {len(value):,} characters, more than {limit}")

    def flat(self, row: dict[str, Any], what: str, nested: tuple[str, ...] = ()) -> None:
        """Every field of `row` outside `nested`: text on one line and bounded, numbers finite."""
        for name, value in row.items():
            if name in nested or isinstance(value, (dict, list)):
                continue
            if isinstance(value, str):
                if _NEVER_IN_FIELD.search(value):
                    self.malformed(f"{what}'s {shown(name)} holds a line break or a tab")
                if len(value) > MAX_FIELD:
                    self.malformed(f"{what}'s {shown(name)} is {len(value):,} characters, more than {MAX_FIELD}")
            elif isinstance(value, float) and not np.isfinite(value):
                self.malformed(f"{what}'s {shown(name)} is not a finite number")

    def parsed(self, parse: Callable[[str, str], str], value: str, what: str) -> None:
        """`value` as the parser of what an officer types would take it (the same format at entry and here)."""
        try:
            parse(value, what)
        except BadInput as e:
            self.malformed(str(e))

    def flag(self, row: dict[str, Any], name: str, what: str, *, required: bool = True) -> bool | None:
        if name not in row and not required:
            return None
        value = self.field(row, name, (bool, int, type(None)), what)
        if value is None and not required:
            return None
        if value not in (0, 1, True, False):
            self.malformed(f"{what}'s {name} is {shown(value)}, not true or false")
        return bool(value)

    def ident(self, value: object, kind: str, what: str) -> str:
        """An id as the rows of `kind` are named: an arrival id or draft reference, a crime group's reference,
        or a row number."""
        if not isinstance(value, str):
            self.malformed(f"{what} is {shown(value)}, not an id")
        if kind == "ocgs":
            try:
                ocg.check_ref(value)
            except BadInput:
                self.malformed(f"{what} {shown(value)} is not a crime group reference")
        elif kind == "watchlist":
            if not watchlist.REF_PATTERN.fullmatch(value) or ".." in value:
                self.malformed(f"{what} {shown(value)} is not a watchlist reference")
        elif not {"arrivals": ARRIVAL_ID, "drafts": DRAFT_REF, "corrections": CORRECTION_ID}.get(
            kind, ROW_ID
        ).fullmatch(value):
            self.malformed(
                f"{what} {shown(value)} is not "
                f"{'a row number' if kind not in ('arrivals', 'drafts', 'corrections') else 'an id'}"
            )
        return value

    def key(self, row: dict[str, Any], name: str, kind: str, what: str, *, own: bool, required: bool = True) -> str:
        """A key, DEVICE:ID. With `own` it is the row's own key and must name the signing laptop's device."""
        if name not in row or row[name] is None:
            if required:
                self.malformed(f"{what} has no {name}")
            return ""
        value = row[name]
        device, _, ident = value.partition(":") if isinstance(value, str) else ("", "", "")
        if not DEVICE.fullmatch(device):
            self.malformed(f"{what}'s {name} {shown(value)} is not a key (DEVICE:ID)")
        self.ident(ident, kind, f"{what}'s {name}")
        if own and device != self.device:
            self.foreign(
                f"{what} {value} belongs to device {device}, not to the signing laptop's {self.device}: a batch "
                "carries only its own laptop's records"
            )
        return str(value)

    def listed(self, row: dict[str, Any], name: str, what: str) -> list[Any]:
        items = self.field(row, name, list, what)
        if not all(isinstance(i, dict) for i in items):
            self.malformed(f"{what}'s {name} holds something other than records")
        return list(items)

    def training_flag(self, row: dict[str, Any], what: str, *, required: bool) -> None:
        marked = self.flag(row, "training", what, required=required)
        if marked is not None and marked != self.training:
            self.foreign(
                f"{what} is a TRAINING record in a real batch: training data never enters real records"
                if marked
                else f"{what} is a real record in a TRAINING batch"
            )

    # -- the rows under an arrival ---------------------------------------------------------------

    def candidate(self, c: dict[str, Any], what: str) -> None:
        self.flat(c, what)
        kind = self.field(c, "kind", str, what)
        if kind not in CANDIDATE_KINDS:
            self.malformed(f"{what}'s kind {shown(kind)} is not {' or '.join(CANDIDATE_KINDS)}")
        self.ident(c.get("ref"), "watchlist" if kind == "watchlist" else "arrivals", f"{what}'s ref")
        if kind != "watchlist":
            self.key(c, "ref_key", "arrivals", what, own=False)

    def search(self, s: dict[str, Any]) -> None:
        self.key(s, "key", "searches", "search", own=True)
        self.flat(s, "search")
        version = self.field(s, "watchlist_version", (int, type(None)), "search")
        if version is not None and version < 0:
            self.malformed(f"search's watchlist_version {shown(version)} is not a version number")
        for c in self.listed(s, "candidates", "search"):
            self.candidate(c, "candidate")
            for name in ("distance", "threshold", "score"):
                self.field(c, name, (int, float, type(None)), "candidate")
            if c["kind"] == "biographic":
                score = c["score"]
                if not (isinstance(score, (int, float)) and score == int(score) and 2 <= score <= 100):
                    self.malformed(f"biographic candidate's score {shown(score)} is not a count of name parts")
                if c["distance"] is not None or c["threshold"] is not None or c.get("below_threshold"):
                    self.malformed("a biographic candidate carries a face distance or threshold: it has neither")
            elif c["distance"] is None or c["threshold"] is None:
                self.malformed(f"{c['kind']} candidate {shown(c.get('ref'))} has no distance or threshold")
            decision = self.field(c, "decision", (str, type(None)), "candidate")
            if decision is not None and decision not in DECISIONS:
                self.malformed(f"candidate's decision {shown(decision)} is not {', '.join(DECISIONS)} or empty")
            if c["kind"] == "watchlist":
                self.text(c, "category", "candidate", required=False, limit=80)
                if not is_line(c["category"]):
                    self.malformed(f"candidate's category {shown(c['category'])} is not a plain line of text")

    def review(self, r: dict[str, Any]) -> None:
        self.key(r, "key", "reviews", "review", own=True)
        self.flat(r, "review")
        self.candidate(r, "review")
        self.text(r, "decision", "review", limit=40)
        self.key(r, "supersedes", "reviews", "review", own=False, required=False)

    def draft(self, d: dict[str, Any]) -> None:
        key = self.key(d, "key", "drafts", "draft", own=True)
        self.flat(d, "draft")
        if key.partition(":")[2] != self.ident(d.get("ref"), "drafts", "draft's ref"):
            self.malformed(f"draft {key} names another draft reference, {shown(d.get('ref'))}")
        self.training_flag(d, f"draft {key}", required=False)
        for name in ("outcome", "outcome_at"):
            self.field(d, name, (str, type(None)), "draft")
        for o in self.listed(d, "outcomes", "draft"):
            self.outcome(o)

    def outcome(self, o: dict[str, Any]) -> None:
        self.key(o, "key", "draft_outcomes", "outcome", own=True)
        self.flat(o, "outcome")
        self.text(o, "result", "outcome", limit=40)
        self.text(o, "at", "outcome", limit=40)
        self.key(o, "supersedes", "draft_outcomes", "outcome", own=False, required=False)

    def line(self, row: dict[str, Any], name: str, what: str, *, limit: int = 200) -> str:
        """A required field an officer is shown: one line of text, not empty, bounded."""
        self.text(row, name, what, limit=limit)
        if not is_line(row[name], limit):
            self.malformed(f"{what}'s {name} {shown(row[name])} is not a plain line of text")
        return str(row[name])

    def fields_changed(self, row: dict[str, Any], what: str) -> None:
        changed = self.field(row, "changed", list, what)
        if not changed or len(changed) > len(AMENDABLE) or not all(c in AMENDABLE for c in changed):
            self.malformed(f"{what}'s changed fields are not details an officer may correct")
        if len(set(changed)) != len(changed):
            self.malformed(f"{what} names a changed field twice")

    def corrected(self, rec: dict[str, Any], key: str) -> None:
        """The earlier versions of an arrival's details and its void mark, as they ride inside its record."""
        versions = self.field(rec, "versions", list, f"arrival {key}") if "versions" in rec else []
        if len(versions) > MAX_VERSIONS:
            self.malformed(f"arrival {key} has {len(versions):,} earlier versions, more than {MAX_VERSIONS}")
        for n, v in enumerate(versions, 1):
            what = f"arrival {key}'s version {n}"
            if not isinstance(v, dict):
                self.malformed(f"{what} is {shown(v)}, not a record")
            self.flat(v, what)
            if self.field(v, "version", int, what) != n:
                self.malformed(f"{what} is numbered {shown(v['version'])}")
            self.field(v, "details", dict, what)
            self.mark(v, what, officer="replaced_by", at="replaced_at")
            self.fields_changed(v, what)
        mark = self.field(rec, "void", (dict, type(None)), f"arrival {key}") if "void" in rec else None
        if mark is not None:
            self.flat(mark, f"arrival {key}'s void")
            self.mark(mark, f"arrival {key}'s void")

    def mark(self, row: dict[str, Any], what: str, *, officer: str = "officer", at: str = "at") -> None:
        """Who made a correction, when, on which laptop and why."""
        self.line(row, officer, what)
        self.line(row, at, what, limit=40)
        if not DEVICE.fullmatch(self.line(row, "device", what, limit=6)):
            self.malformed(f"{what}'s device {shown(row['device'])} is not a device name")
        self.line(row, "reason", what, limit=MAX_REASON)

    # -- the members -----------------------------------------------------------------------------

    def arrivals(self, records: list[dict[str, Any]]) -> None:
        for n, rec in enumerate(records, 1):
            self.at("arrivals.jsonl", n, rec)
            key = self.key(rec, "key", "arrivals", "arrival", own=True)
            aid = self.ident(rec.get("id"), "arrivals", "arrival's id")
            if key.partition(":")[2] != aid:
                self.malformed(f"arrival {key} names another arrival id, {shown(aid)}")
            self.flat(rec, "arrival")
            for name in ("device", "site", "officer", "landed_at", "landed_day", "created_at"):
                self.text(rec, name, "arrival")
            self.text(rec, "vessel", "arrival", required=False)
            for name, parse in (("site", refs.parse_site), ("vessel", refs.parse_vessel)):
                if rec[name] is not None:
                    self.parsed(parse, rec[name], f"arrival's {name}")
            self.parsed(_iso_day, rec["landed_day"], "arrival's landed_day")
            if rec["device"] != self.device:
                self.foreign(f"arrival {key} was captured on device {_device(rec['device'])}, not on {self.device}")
            if rec.get("origin") is not None:
                self.foreign(f"arrival {key} came to the signing laptop from device {_device(rec['origin'])}")
            self.training_flag(rec, f"arrival {key}", required=True)
            self.flag(rec, "safeguarding", "arrival", required=False)
            self.field(rec, "quality_score", (int, float, type(None)), "arrival")
            self.field(rec, "details", dict, "arrival")
            portrait = self.field(rec, "portrait", (dict, type(None)), "arrival")
            if portrait is not None:
                if portrait.get("member") != f"portraits/{aid}.jpg" or portrait["member"] not in self.portraits:
                    self.malformed(f"arrival {key}'s portrait {shown(portrait.get('member'))} is not its member")
                for name in ("width", "height"):
                    self.field(portrait, name, int, "portrait")
                self.text(portrait, "media_type", "portrait", limit=40)
            for s in self.listed(rec, "searches", "arrival"):
                self.search(s)
            for r in self.listed(rec, "reviews", "arrival"):
                self.review(r)
            for d in self.listed(rec, "drafts", "arrival"):
                self.draft(d)
            self.corrected(rec, key)
            self.arrival_keys.add(key)

    def received(self, records: list[dict[str, Any]]) -> None:
        for n, rec in enumerate(records, 1):
            self.at("received.jsonl", n, rec, "arrival_key")
            self.key(rec, "arrival_key", "arrivals", "received arrival", own=False)
            self.ident(rec.get("id"), "arrivals", "received arrival's id")
            self.flag(rec, "safeguarding", "received arrival", required=False)
            for r in self.listed(rec, "reviews", "received arrival"):
                self.review(r)
            for d in self.listed(rec, "drafts", "received arrival"):
                self.draft(d)
            for o in self.listed(rec, "outcomes", "received arrival"):
                self.outcome(o)
                self.key(o, "draft_key", "drafts", "outcome", own=False)
                self.ident(o.get("ref"), "drafts", "outcome's ref")

    def corrections(self, records: list[dict[str, Any]]) -> None:
        """Amendments and voids the signing laptop made, each naming the arrival it corrects by its key."""
        for n, rec in enumerate(records, 1):
            self.at(CORRECTIONS, n, rec)
            key = self.key(rec, "key", "corrections", "correction", own=True)
            self.flat(rec, "correction")
            self.key(rec, "arrival_key", "arrivals", "correction", own=False)
            aid = self.ident(rec.get("id"), "arrivals", "correction's id")
            kind = self.field(rec, "kind", str, "correction")
            if kind not in ("amend", "void"):
                self.malformed(f"correction's kind {shown(kind)} is not amend or void")
            named, _, step = key.partition(":")[2].rpartition("-")
            if named != aid or (step == "void") != (kind == "void"):
                self.malformed(f"correction {key} names another arrival or kind than its record")
            self.line(rec, "officer", "correction")
            self.line(rec, "at", "correction", limit=40)
            self.line(rec, "reason", "correction", limit=MAX_REASON)
            if kind == "amend":
                self.field(rec, "details", dict, "correction")
                self.fields_changed(rec, "correction")

    def landing(self, landing: dict[str, list[dict[str, Any]]]) -> None:
        for kind, records in landing.items():
            member, what = f"{kind}.jsonl", kind.rstrip("s").replace("_", " ").replace("ocg", "crime group")
            for n, rec in enumerate(records, 1):
                self.at(member, n, rec)
                key = self.key(rec, "key", kind, what, own=True)
                self.flat(rec, what)
                self.key(rec, "supersedes", kind, what, own=False, required=False)
                if kind in ("debriefs", "referrals"):
                    self.key(rec, "arrival_key", "arrivals", what, own=False)
                if kind == "debriefs":
                    self.field(rec, "version", int, what)
                    self.field(rec, "answers", dict, what)
                    for aid, akey in self.field(rec, "arrival_keys", dict, what).items():
                        self.ident(aid, "arrivals", "debrief's named arrival")
                        self.key({"arrival_keys": akey}, "arrival_keys", "arrivals", what, own=False)
                elif kind == "ocgs":
                    if key.partition(":")[2] != self.ident(rec.get("ref"), "ocgs", "crime group's ref"):
                        self.malformed(f"crime group {key} names another reference, {shown(rec.get('ref'))}")
                    self.field(rec, "updated_at", (str, type(None)), what)
                elif kind == "ocg_links":
                    self.key(rec, "ocg_key", "ocgs", what, own=False)
                    self.key(rec, "target_key", "arrivals", what, own=False)
                    if rec.get("target_kind") != "arrival":
                        self.malformed(f"crime group link's target_kind {shown(rec.get('target_kind'))} is not arrival")

    def audit(self, events: list[dict[str, Any]]) -> None:
        for n, e in enumerate(events, 1):
            self.at("audit.jsonl", n, e, "hash")
            device = self.field(e, "device", str, "audit event")
            if device != self.device:
                self.foreign(
                    f"the audit event was recorded on device {_device(device)}, not on the signing laptop's "
                    f"{self.device}: a batch carries only its own laptop's audit trail"
                )
            self.flat(e, "audit event")
            self.field(e, "seq", int, "audit event")
            for name in ("at", "officer", "action", "hash"):
                self.text(e, name, "audit event", limit=200)
            self.field(e, "prev_hash", (str, type(None)), "audit event")
            self.field(e, "reason", (str, type(None)), "audit event")
            records = self.field(e, "records", list, "audit event")
            if not all(isinstance(r, str) for r in records):
                self.malformed("the audit event's records are not texts")
            self.key(e, "arrival_key", "arrivals", "audit event", own=False, required=False)

    def templates(self, lines: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
        """The templates the batch brought: arrival key -> model id -> template."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for n, t in enumerate(lines, 1):
            self.at("templates.jsonl", n, t, "arrival_key")
            key = self.key(t, "arrival_key", "arrivals", "template", own=True)
            if key not in self.arrival_keys:
                self.malformed(f"template of {key}, an arrival the batch does not hold")
            self.text(t, "model_id", "template", limit=80)
            dim = self.field(t, "dim", int, "template")
            try:
                raw = base64.b64decode(self.field(t, "vector", str, "template"), validate=True)
            except (binascii.Error, ValueError):
                self.malformed("the template's vector is not base64")
            if not 0 < dim <= MAX_TEMPLATE_DIM or len(raw) != 4 * dim:
                self.malformed(f"the template's vector holds {len(raw)} bytes, not {dim} numbers")
            vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
            if not np.isfinite(vector).all():
                self.malformed("the template's vector holds a number that is not finite")
            out.setdefault(key, {})[t["model_id"]] = vector
        return out


def _device(value: object) -> str:
    """A device name for a message: as it is when it is one, quoted and escaped when it is not."""
    return value if isinstance(value, str) and DEVICE.fullmatch(value) else shown(value)


def _safe_key(value: str) -> bool:
    device, _, ident = value.partition(":")
    return bool(DEVICE.fullmatch(device) and _SHOWN_ID.fullmatch(ident)) and ".." not in ident


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _kind_words(kinds: type | tuple[type, ...]) -> str:
    words = {str: "a text", int: "a whole number", float: "a number", bool: "true or false", dict: "a record"}
    words |= {list: "a list", type(None): "empty"}
    return " or ".join(words.get(k, k.__name__) for k in _as_tuple(kinds))


def _iso_day(text: str, what: str) -> str:
    """A day as an arrival records where it landed (YYYY-MM-DD); BadInput naming `what` otherwise."""
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{what} {shown(text)} is not a day (YYYY-MM-DD)") from None
    return text
