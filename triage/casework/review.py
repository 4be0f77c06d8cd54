"""Human review of candidates. A decision needs a reason and is never overwritten: a later decision
supersedes the earlier one, and both stay in the record with officer and time.

The reviewer compares faces, so each candidate comes with both portraits: the arrival's and the
candidate's (a watchlist subject's, or an earlier arrival's). Portraits are sealed in the store; they
are handed to the display as bytes in memory, or written to a folder the officer names (and that
is audited), never to a temporary file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from triage.casework import arrivals, name_keys
from triage.casework.arrivals import ReviewEntry
from triage.errors import BadInput, Conflict, NotFound, TriageError
from triage.faces import matchers
from triage.files import check_output, write_files
from triage.intake import biographic
from triage.intake.biographic import Details
from triage.store.rows import Store, utcnow

DECISIONS = ("confirmed", "rejected", "inconclusive")
MIN_REASON = 3  # characters: a reason shorter than this says nothing
OWNER_KIND = {"watchlist": "subject", "arrival": "arrival", "biographic": "arrival"}  # kind -> its photos' owner
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")  # a ref in a file name keeps these; anything else becomes _


@dataclass
class Decision:
    """A decision as recorded, with the candidate's figures and every decision on it so far."""

    review_id: int
    arrival_id: str
    kind: str
    candidate: str
    decision: str
    officer: str
    at: str
    supersedes: int | None  # the review this one supersedes
    distance: float | None  # None for a biographic candidate
    threshold: float | None
    history: list[ReviewEntry]  # oldest first; this decision last

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PendingCandidate:
    """A candidate below the threshold that nobody has decided on, with the searches that found it: this
    home's, or a laptop's that travelled in its batch (`found_by`). A watchlist subject this home does not hold
    (a laptop's alert, when the home holds another watchlist or none) is `held` False and keeps what the laptop
    recorded: its ref, distance and threshold."""

    kind: str
    ref: str
    distance: float | None  # None for a biographic candidate, which has `score` instead
    threshold: float | None
    found_by: list[str] = field(default_factory=list)  # THIS_HOME, or "NAME (device D)" of a laptop
    held: bool = True
    category: str | None = None  # a watchlist subject's, when this home holds it
    score: float | None = None  # a biographic candidate's: how many name parts agree
    safeguarding: bool = False  # another arrival's: flagged for safeguarding, so the person may be a child
    # Each search's own figures (found_by, distance, threshold, score): where two searches found it (a laptop's
    # and this home's, from the portrait), their figures can differ, and each is shown with whose it is.
    figures: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Pending:
    """An arrival in the review queue, with its candidates awaiting a decision (watchlist alerts first, then
    repeat arrivals, best first), and the earlier captures of the very same photo (`duplicates`: distance
    0.000 or the same photo bytes), which are a capture made twice rather than a match to review."""

    arrival_id: str
    landed_at: str
    site: str
    vessel: str | None
    safeguarding: bool
    candidates: list[PendingCandidate]
    duplicates: list[PendingCandidate] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ForReview:
    """What a reviewer needs for one arrival: each candidate (as `arrivals.candidates` gives it) with its
    decision history and where both portraits are."""

    arrival_id: str
    landed_at: str
    site: str
    vessel: str | None
    safeguarding: bool
    name: str
    candidates: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _candidate(store: Store, arrival_id: str, candidate: str, kind: str | None) -> dict[str, Any]:
    """The latest candidate row of an arrival with this ref; a face candidate before a biographic one of the
    same earlier arrival (a decision on either settles the pair)."""
    where = "arrival_id = ? AND ref = ?" + (" AND kind = ?" if kind else "")
    rows = store.rows(
        "candidates",
        where + " ORDER BY kind = ?, id DESC LIMIT 1",
        [arrival_id, candidate] + ([kind] if kind else []) + [name_keys.BIOGRAPHIC],
    )
    if not rows:
        raise NotFound(f"{candidate!r} is not a candidate of arrival {arrival_id}; see `triage review {arrival_id}`")
    return rows[0]


def record(
    store: Store, arrival_id: str, *, candidate: str, decision: str, reason: str, officer: str, kind: str | None = None
) -> Decision:
    """Record one decision on a candidate (a watchlist ref or an arrival id) of an arrival."""
    typed, decision = decision, (decision or "").strip().lower()  # `Confirmed` as `confirmed`, as refs are read
    if decision not in DECISIONS:
        raise BadInput(f"--decision {typed!r}: choose one of {', '.join(DECISIONS)}")
    reason = biographic.reason_text(reason, "you reached this decision", min_chars=MIN_REASON)
    arrivals.live(store, arrival_id)
    candidate = named_candidate(store, arrival_id, candidate)
    cand = _candidate(store, arrival_id, candidate, kind)
    if cand["kind"] in arrivals.PAIR_KINDS and store.db["arrivals"].count_where("id = ?", [candidate]):
        arrivals.live(store, candidate)  # a pair is decided on for both arrivals: a void one is no one's candidate
    kinds = arrivals.decided_kinds(cand["kind"])
    store.check_indexes_once("reviews")  # the decision this one supersedes is found through an index
    with store.transaction():
        prior = store.db.execute(
            f"SELECT max(id) FROM reviews WHERE arrival_id = ? AND kind IN ({','.join('?' * len(kinds))}) AND ref = ?",
            [arrival_id, *kinds, candidate],
        ).fetchone()[0]
        last = store.get("reviews", prior) if prior is not None else None
        if last is not None and (last["decision"], last["reason"], last["officer"]) == (decision, reason, officer):
            raise Conflict(  # a command run again (after a kill, say) records nothing twice
                f"{candidate} for arrival {arrival_id} already has this decision: {decision} by {officer} at "
                f"{last['at']}, for the same reason; nothing was recorded",
                hint="a later decision supersedes it when it says something else",
            )
        row = store.insert(
            "reviews",
            {
                "arrival_id": arrival_id,
                "kind": cand["kind"],
                "ref": candidate,
                "officer": officer,
                "at": utcnow(),
                "supersedes": prior,
            },
            {"reason": reason, "decision": decision},
        )
        store.audit(
            "review",
            officer,
            arrival_id=arrival_id,
            records=[f"review:{row['id']}", f"{cand['kind']}:{candidate}"],
            reason=reason,
        )
    return Decision(
        review_id=row["id"],
        arrival_id=arrival_id,
        kind=cand["kind"],
        candidate=candidate,
        decision=decision,
        officer=officer,
        at=row["at"],
        supersedes=prior,
        distance=cand["distance"],
        threshold=cand["threshold"],
        history=arrivals.review_history(store, arrival_id, cand["kind"], candidate),
    )


THIS_HOME = "this home"
DUPLICATE_DISTANCE = 0.0005  # a distance shown as 0.000: the same template, so the same photo


def _searchers(store: Store) -> tuple[dict[int, str], dict[str, str]]:
    """Which device made each search a batch brought (search id -> device; searches made here are absent), and
    how each sending device is named (the trusted signer of its batches). Read through an index, checked: a
    laptop's search left out of it would count as this home's, superseded by this home's own search of the arrival
    after the merge, and the laptop's alert would leave the queue undecided."""
    store.check_indexes_once("merged")
    made_by = {int(r["local"]): r["key"].split(":", 1)[0] for r in store.rows("merged", "kind = 'searches'")}
    names = {
        device: f"{signer} (device {device})"
        for device, signer in ((r["device"], r["signer"]) for r in store.rows("batches", order_by="imported_at"))
    }
    return made_by, names


def _current_searches(store: Store, made_by: dict[int, str]) -> set[int]:
    """The searches in force: for each arrival, the latest search made here and the latest one of each laptop
    whose searches travelled with its batch. A laptop's alert stays in the queue after this home searches the
    arrival again (against another watchlist, or none), until somebody decides on it."""
    latest: dict[tuple[str, str], int] = {}
    overrides: dict[tuple[str, str], list[int]] = {}
    calibrated: dict[str, float | None] = {}
    sql = "SELECT id, arrival_id, matcher, threshold FROM searches ORDER BY id"
    for sid, aid, matcher, threshold in store.db.execute(sql):
        origin = made_by.get(sid, "")
        if not origin and _override(store, matcher, threshold, calibrated):
            # A search here with a threshold of its own adds what it found, but an alert the search at the
            # calibrated threshold found stays in the queue until somebody decides on it.
            overrides.setdefault((aid, origin), []).append(sid)
            continue
        latest[(aid, origin)] = sid
        overrides.pop((aid, origin), None)
    return set(latest.values()) | {sid for sids in overrides.values() for sid in sids}


def _override(store: Store, matcher: str | None, threshold: float | None, calibrated: dict[str, float | None]) -> bool:
    """Whether a search here was judged against a threshold other than its matcher's calibrated one."""
    if matcher is None or threshold is None:
        return False
    if matcher not in calibrated:
        try:
            calibrated[matcher] = matchers.get(matcher, store.home).threshold
        except TriageError:  # a matcher this home no longer has: its searches stand as they are
            calibrated[matcher] = None
    known = calibrated[matcher]
    return known is not None and abs(known - threshold) > 1e-9


def _same_photo(store: Store, one: str, other: str) -> bool:
    """Whether two arrivals hold the very same photo: the same original bytes, or the same portrait."""
    for role in ("original", "portrait"):
        try:
            if store.photo("arrival", one, role)[1] == store.photo("arrival", other, role)[1]:
                return True
        except NotFound:
            continue
    return False


def _found(
    found: dict[tuple[str, str, str], PendingCandidate], key: tuple[str, str, str], cand: PendingCandidate
) -> None:
    """Add a candidate to those found, or join it to the same one found by another search: the searches that
    found it are all named, and the closest of their figures (relative to each one's threshold) kept."""
    held = found.get(key)
    if held is None:
        found[key] = PendingCandidate(
            cand.kind, key[2], cand.distance, cand.threshold, list(cand.found_by), score=cand.score,
            figures=_figures(cand),
        )  # fmt: skip
        return
    held.found_by += [by for by in cand.found_by if by not in held.found_by]
    held.figures += [f for f in _figures(cand) if f["found_by"] not in {g["found_by"] for g in held.figures}]
    if _closeness(cand) < _closeness(held):
        held.distance, held.threshold, held.score = cand.distance, cand.threshold, cand.score


def _figures(c: PendingCandidate) -> list[dict[str, Any]]:
    """A candidate's figures by search: those it carries, else its own, for the one search that found it."""
    return c.figures or [
        {"found_by": by, "distance": c.distance, "threshold": c.threshold, "score": c.score} for by in c.found_by
    ]


def _closeness(c: PendingCandidate) -> float:
    """A candidate's distance relative to its threshold, so that figures of different matchers compare; a
    biographic candidate, weaker evidence, comes after every face below its threshold (the more name parts
    agree, the sooner)."""
    if c.distance is None:
        return 1.0 + 1.0 / (1.0 + (c.score or 0.0))
    return c.distance / c.threshold if c.threshold else c.distance


def pending(store: Store, *, officer: str | None = None, arrival_ids: Collection[str] | None = None) -> list[Pending]:
    """Arrivals with a candidate below the threshold in a search in force (`_current_searches`) and no decision
    on it: the arrivals with a watchlist alert first, then the others, each oldest first. A pair of arrivals is
    one candidate, kept the way it was first found (under the later arrival, whose capture found the earlier
    one), and a decision on it in either direction takes it out of the queue; two captures of the very same
    photo are listed as duplicates. With `arrival_ids`, only the queue of those arrivals (and of the pairs they
    are part of). With `officer`, the look at the queue is audited (a command's; reports embed it in
    theirs)."""
    store.check_once("subjects")  # a subject deleted outside triage: its alerts would show without it, unseen
    made_by, names = _searchers(store)
    current = _current_searches(store, made_by)
    decided = {
        (aid, kind, ref) for aid, kind, ref in store.db.execute("SELECT arrival_id, kind, ref FROM reviews NOT INDEXED")
    }
    landed = {
        aid: (at, site, vessel, bool(sg))
        for aid, at, site, vessel, sg in store.db.execute(
            "SELECT id, landed_at, site, vessel, safeguarding FROM arrivals NOT INDEXED"
        )
    }
    first: dict[tuple[str, str, str], int] = {}  # the first search that found each candidate
    void = arrivals.voided(store)  # tombstones: neither queued nor a candidate for another arrival
    landed = {aid: row for aid, row in landed.items() if aid not in void}
    found: dict[tuple[str, str, str], PendingCandidate] = {}
    sql = """
        SELECT c.search_id, c.arrival_id, c.kind, c.ref, c.distance, c.threshold, c.score
        FROM candidates c NOT INDEXED WHERE c.below_threshold = 1 OR c.kind = ? ORDER BY c.search_id, c.rank
    """
    pairs = arrivals.PAIR_KINDS
    for sid, aid, kind, ref, dist, th, score in store.db.execute(sql, [name_keys.BIOGRAPHIC]):
        if sid not in current or aid not in landed or (aid, kind, ref) in decided:
            continue
        if kind in pairs and (any((aid, k, ref) in decided or (ref, k, aid) in decided for k in pairs) or ref in void):
            continue  # the pair was decided (either way round, whatever found it), or the other arrival is void
        device = made_by.get(sid)
        first.setdefault((aid, kind, ref), sid)
        _found(
            found,
            (aid, kind, ref),
            PendingCandidate(
                kind, ref, dist, th, [names.get(device, f"device {device}") if device else THIS_HOME], score=score
            ),
        )
    for key in [k for k in found if k[1] in pairs]:
        back = (key[2], key[1], key[0])
        if key in found and back in found:  # one pair, kept the way it was first found
            kept, dropped = (key, back) if first[key] < first[back] else (back, key)
            _found(found, kept, found.pop(dropped))
    if arrival_ids is not None:
        wanted = set(arrival_ids)
        found = {k: c for k, c in found.items() if k[0] in wanted or (k[1] in pairs and k[2] in wanted)}
    out: dict[str, Pending] = {}
    for (aid, kind, ref), cand in sorted(found.items(), key=lambda kv: (kv[1].kind != "watchlist", _closeness(kv[1]))):
        at, site, vessel, sg = landed[aid]
        item = out.setdefault(aid, Pending(aid, at, site, vessel, sg, []))
        if kind == "watchlist":
            subject = store.rows("subjects", "ref = ?", [ref])
            cand.held = bool(subject)
            cand.category = subject[0].get("category") if subject else None
            item.candidates.append(cand)
        elif kind == "arrival" and (
            cand.distance is not None and cand.distance < DUPLICATE_DISTANCE or _same_photo(store, aid, ref)
        ):
            item.duplicates.append(cand)
        else:
            cand.safeguarding = ref in landed and landed[ref][3]
            item.candidates.append(cand)
    # The queue is read with plain SQL; what decides it (the arrivals' flags, every search and candidate's
    # figures, every decision, where each search came from) must still be what triage wrote: a decision slipped
    # in or a distance raised would hide an alert.
    for table in ("arrivals", "searches", "candidates"):
        store.check_rows(table)
    store.rows("reviews")  # each opened too: a decision whose sealed part no longer opens decides nothing
    queue = sorted(
        out.values(),
        key=lambda p: (not any(c.kind == "watchlist" for c in p.candidates), p.landed_at, p.arrival_id),
    )
    if officer:
        with store.transaction():
            store.audit("review-pending", officer, records=[f"arrival:{p.arrival_id}" for p in queue][:500])
    return queue


def _portrait_row(store: Store, kind: str, ref: str) -> dict | None:
    rows = list(
        store.db["photos"].rows_where(
            "owner_kind = ? AND owner_id = ? AND role = 'portrait' AND data IS NOT NULL",
            [OWNER_KIND[kind], ref],
            select="id, width, height",
            order_by="id",
            limit=1,
        )
    )
    return rows[0] if rows else None


def _where(kind: str, ref: str, row: dict | None) -> dict:
    """Where a portrait is: its sealed row in the store, or that it is gone (removed or purged)."""
    if row is None:
        return {"owner": f"{kind} {ref}", "photo_id": None, "location": "no portrait held (removed or purged)"}
    return {
        "owner": f"{kind} {ref}",
        "photo_id": row["id"],
        "location": f"sealed in the store, photos row {row['id']} ({row['width']}x{row['height']} JPEG)",
    }


def _decided_earlier(store: Store, arrival_id: str, shown: set[tuple[str, str]]) -> list[PendingCandidate]:
    """The watchlist alerts of the arrival that an earlier search found (a laptop's, which travelled in its batch)
    and that are decided, where the latest search no longer lists them: shown with their decisions, so that a
    decision taken on one stays in view and can be corrected by its number."""
    made_by, names = _searchers(store)
    out = []
    for kind, ref in dict.fromkeys(
        (r["kind"], r["ref"]) for r in store.rows("reviews", "arrival_id = ? AND kind = 'watchlist'", [arrival_id])
    ):
        if (kind, ref) in shown:
            continue
        try:
            row = _candidate(store, arrival_id, ref, kind)
        except NotFound:  # decided on a candidate this home does not hold: its history is the laptop's
            continue
        device = made_by.get(row["search_id"])
        found_by = [names.get(device, f"device {device}") if device else THIS_HOME]
        subject = store.rows("subjects", "ref = ?", [ref])
        out.append(
            PendingCandidate(
                kind,
                ref,
                row["distance"],
                row["threshold"],
                found_by,
                held=bool(subject),
                category=subject[0].get("category") if subject else None,
            )
        )
    return out


def _travelled(store: Store, arrival: dict[str, Any], c: PendingCandidate) -> dict[str, Any]:
    """A candidate awaiting review that an earlier search found (a laptop's, which travelled in its batch), as
    `arrivals.candidates` shows one; a watchlist subject this home does not hold keeps what the laptop recorded."""
    row = _candidate(store, arrival["id"], c.ref, c.kind)
    if c.kind == "arrival" or c.held:
        shown = arrivals._candidate_view(store, row, arrival["details"], arrival["vessel"], arrival["landed_day"])
        view = dict(row) | shown.as_json()
    else:
        scores = json.loads(row["scores"]) if isinstance(row.get("scores"), str) else row.get("scores")
        view = dict(row) | {
            "below_threshold": bool(row["below_threshold"]),
            "scores": scores,
            "model_ids": list(scores) if scores else [row["model_id"]],
            "same_vessel": False,
            "name": None,
            "category": None,
            "review_date": None,
        }
    view["held"], view["found_by"], view["figures"] = c.held, c.found_by, c.figures
    view["reviews"] = [r.as_json() for r in arrivals.review_history(store, arrival["id"], c.kind, c.ref)]
    return view


def named_candidate(store: Store, arrival_id: str, candidate: str) -> str:
    """The ref of the candidate an officer named: by its ref, however its letters were cased (`wl-0012`), or by
    its number in the table `triage review ARRIVAL` shows (`1`). A ref that names none is returned as given, for
    the caller to refuse."""
    text = (candidate or "").strip()
    exact = store.db.execute("SELECT 1 FROM candidates WHERE arrival_id = ? AND ref = ?", [arrival_id, text]).fetchone()
    if exact and not text.isdigit():
        return text
    shown = _shown(store, arrival_id, None)
    if text.isascii() and text.isdigit():
        numbered = {str(c["ref"]) for c in shown if c.get("rank") == int(text)}
        if exact:
            numbered.add(text)  # a watchlist ref that is a number, as well as the table's number
        if len(numbered) > 1:
            raise BadInput(
                f"--candidate {text} names more than one candidate of arrival {arrival_id} ("
                + ", ".join(sorted(numbered))
                + "): give the one you mean by its ref, as `triage review "
                + arrival_id
                + "` shows it"
            )
        if numbered:
            return numbered.pop()
    folded = {c["ref"] for c in shown if str(c["ref"]).upper() == text.upper()}
    return str(folded.pop()) if len(folded) == 1 else text


def _review_order(position: int, c: dict[str, Any]) -> tuple[int, float, int]:
    """Where a candidate comes in one arrival's table when searches of several homes meet in it (a laptop's
    alert beside this home's own search): below its own threshold first, watchlist alerts before repeat
    arrivals, each the closest to its threshold first (so that figures of different matchers compare), so a
    laptop's alert comes where it came on the laptop, ahead of anything above a threshold; then the rest as they
    came (`position`): this home's candidates above the threshold in its search's order, then names."""
    if c.get("distance") is None or not c.get("below_threshold"):
        return 2, 0.0, position
    closeness = c["distance"] / c["threshold"] if c.get("threshold") else c["distance"]
    return (0 if c["kind"] == "watchlist" else 1), closeness, position


def _shown(store: Store, arrival_id: str, candidate: str | None) -> list[dict]:
    """The candidates of the arrival's latest search, in that search's order; with those awaiting review that an
    earlier search found (a laptop's alert, after this home searched the arrival again), all in review order
    (`_review_order`) and numbered afresh; or the one named."""
    cands = arrivals.candidates(store, arrival_id)
    listed = {(c["kind"], c["ref"]) for c in cands}
    arrival = arrivals.get(store, arrival_id)
    waiting = {
        (c.kind, c.ref): c
        for p in pending(store, arrival_ids=[arrival_id])
        if p.arrival_id == arrival_id
        for c in p.candidates
    }
    for c in cands:  # one this home's latest search lists that a laptop's search found too: both searches named
        also = waiting.get((c["kind"], c["ref"]))
        if also is not None and also.found_by != [THIS_HOME]:
            c["found_by"], c["figures"] = also.found_by, also.figures
    earlier = [_travelled(store, arrival, c) for key, c in waiting.items() if key not in listed]
    earlier += [_travelled(store, arrival, c) for c in _decided_earlier(store, arrival_id, listed | set(waiting))]
    if earlier:
        # Each kept its own search's rank, so a laptop's alert and this home's candidate could both be "2": the
        # rows are put in review order and numbered afresh, one number each, which `--candidate N` names.
        cands = [c for _, c in sorted(enumerate(cands + earlier), key=lambda ic: _review_order(*ic))]
        for number, c in enumerate(cands, 1):
            c["rank"] = number
    cands = [c for c in cands if candidate is None or c["ref"] == candidate]
    if candidate is not None and not cands:
        raise NotFound(f"{candidate!r} is not a candidate of arrival {arrival_id}; see `triage review {arrival_id}`")
    return cands


def show(store: Store, arrival_id: str, *, officer: str, candidate: str | None = None) -> ForReview:
    """What a reviewer needs for one arrival: each candidate (or the one named) with its distance, the
    threshold, the biographic differences, its decision history, where both portraits are, and whether it is
    an arrival voided since (`void`: kept in view as the search found it, closed to a decision)."""
    arrival = arrivals.get(store, arrival_id)
    cands = _shown(store, arrival_id, named_candidate(store, arrival_id, candidate) if candidate else None)
    mine = _where("arrival", arrival_id, _portrait_row(store, "arrival", arrival_id))
    void = arrivals.voided(store)  # an earlier arrival voided since its search: shown, but no decision can be made
    for c in cands:
        c["void"] = c["kind"] != "watchlist" and c["ref"] in void
        c["portraits"] = {
            "arrival": mine,
            "candidate": _where(c["kind"], c["ref"], _portrait_row(store, c["kind"], c["ref"])),
        }
        if c.get("held") is False:
            c["portraits"]["candidate"]["location"] = "not held in this home (a laptop's alert)"
    with store.transaction():
        store.audit(
            "review-show",
            officer,
            arrival_id=arrival_id,
            records=[f"arrival:{arrival_id}"] + [f"{c['kind']}:{c['ref']}" for c in cands],
        )
    return ForReview(
        arrival_id=arrival_id,
        landed_at=arrival["landed_at"],
        site=arrival["site"],
        vessel=arrival["vessel"],
        safeguarding=bool(arrival["safeguarding"]),
        name=Details.from_dict(arrival["details"]).full_name(),
        candidates=cands,
    )


def portrait(store: Store, kind: str, ref: str) -> bytes | None:
    """A candidate's (or, with kind "arrival", an arrival's) portrait as JPEG bytes in memory, or None when
    it is gone; for a display whose command audits it."""
    try:
        return store.photo(OWNER_KIND[kind], ref, "portrait")[1]
    except NotFound:
        return None


def write_portraits(
    store: Store, arrival_id: str, out_dir: Path, *, officer: str, candidate: str | None = None, force: bool = False
) -> list[dict]:
    """Write the arrival's portrait and each candidate's (or the one named) to `out_dir` as JPEG files,
    for an officer to compare side by side in an image viewer; audited, since they leave the store in clear.
    A file already there is replaced only with `force` (one holding the same picture is left as it is),
    and the folder is never inside the home."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"--portraits-to {out_dir} is a file; name a folder")
    check_output(out_dir, home=store.home, force=True, flag="--portraits-to")
    cands = _shown(store, arrival_id, candidate)
    wanted = [("arrival", arrival_id)] + [(c["kind"], c["ref"]) for c in cands]
    files: dict[Path, bytes] = {}
    written = []
    for kind, ref in dict.fromkeys(wanted):
        data = portrait(store, kind, ref)
        if data is None:
            continue
        path = out_dir / f"{kind}-{_FILE_UNSAFE.sub('_', ref)}.jpg"
        if not (path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data):
            check_output(path, home=store.home, force=force, flag="--portraits-to")
            files[path] = data
        written.append({"kind": kind, "ref": ref, "path": str(path.resolve())})
    out_dir.mkdir(parents=True, exist_ok=True)
    with store.transaction():
        write_files(files)
        store.audit(
            "portraits-export",
            officer,
            arrival_id=arrival_id,
            records=[f"{w['kind']}:{w['ref']}" for w in written],
            reason=f"written to {out_dir.resolve()}",
        )
    return written


def latest_decision(candidate: dict) -> str | None:
    """The decision that stands on a candidate view from `arrivals.candidates`: the last one recorded."""
    return candidate["reviews"][-1]["decision"] if candidate["reviews"] else None


def stored(store: Store, arrival_id: str, kind: str) -> list[dict]:
    """The contents of an arrival's drafts of one kind that are still kept, oldest first (read in the order of
    an index, checked: a draft left out of it would be missing, its indicators with it)."""
    store.check_indexes_once("drafts")
    return [
        r["draft"]
        for r in store.rows("drafts", "arrival_id = ? AND kind = ?", [arrival_id, kind], order_by="ref")
        if "draft" in r
    ]


# -- PND drafts --------------------------------------------------------------------------------------
