"""Human review of candidates. A decision needs a reason and is never overwritten: a later decision
supersedes the earlier one, and both stay in the record with officer and time.

The reviewer compares faces, so each candidate comes with both portraits: the arrival's and the
candidate's (a watchlist subject's, or an earlier arrival's). Portraits are sealed in the store; they
are handed to the display as bytes in memory, or written to a folder the officer names (and that
is audited), never to a temporary file.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from triage.casework import arrivals
from triage.casework.arrivals import ReviewEntry
from triage.errors import BadInput, NotFound
from triage.files import check_output, write_files
from triage.intake import biographic
from triage.intake.biographic import Details
from triage.store.rows import Store, utcnow

DECISIONS = ("confirmed", "rejected", "inconclusive")
OWNER_KIND = {"watchlist": "subject", "arrival": "arrival"}  # candidate kind -> owner kind of its photos
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
    distance: float
    threshold: float
    history: list[ReviewEntry]  # oldest first; this decision last

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PendingCandidate:
    """A candidate below the threshold that nobody has decided on."""

    kind: str
    ref: str
    distance: float
    threshold: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Pending:
    """An arrival in the review queue, with its candidates awaiting a decision, best first."""

    arrival_id: str
    landed_at: str
    site: str
    vessel: str | None
    safeguarding: bool
    candidates: list[PendingCandidate]

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
    where = "arrival_id = ? AND ref = ?" + (" AND kind = ?" if kind else "")
    rows = store.rows(
        "candidates", where + " ORDER BY id DESC LIMIT 1", [arrival_id, candidate] + ([kind] if kind else [])
    )
    if not rows:
        raise NotFound(f"{candidate!r} is not a candidate of arrival {arrival_id}; see `triage review {arrival_id}`")
    return rows[0]


def record(
    store: Store, arrival_id: str, *, candidate: str, decision: str, reason: str, officer: str, kind: str | None = None
) -> Decision:
    """Record one decision on a candidate (a watchlist ref or an arrival id) of an arrival."""
    if decision not in DECISIONS:
        raise BadInput(f"--decision {decision!r}: choose one of {', '.join(DECISIONS)}")
    reason = biographic.clean_text(reason or "", "--reason", 1000)
    if len(reason) < 3:
        raise BadInput("--reason is required: say why you reached this decision")
    store.get("arrivals", arrival_id, what="arrival")
    cand = _candidate(store, arrival_id, candidate, kind)
    with store.transaction():
        prior = store.db.execute(
            "SELECT max(id) FROM reviews WHERE arrival_id = ? AND kind = ? AND ref = ?",
            [arrival_id, cand["kind"], candidate],
        ).fetchone()[0]
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


def pending(store: Store, *, officer: str | None = None) -> list[Pending]:
    """Arrivals with a candidate below the threshold in their latest search and no decision on it, oldest
    first. With `officer`, the look at the queue is audited (a command's; reports embed it in theirs)."""
    sql = """
        SELECT a.id, a.landed_at, a.site, a.vessel, a.safeguarding, c.kind, c.ref, c.distance, c.threshold
        FROM arrivals a
        JOIN candidates c ON c.arrival_id = a.id
          AND c.search_id = (SELECT max(id) FROM searches s WHERE s.arrival_id = a.id)
        WHERE c.below_threshold = 1
          AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.arrival_id = a.id AND r.kind = c.kind AND r.ref = c.ref)
        ORDER BY a.landed_at, a.id, c.rank
    """
    out: dict[str, Pending] = {}
    for aid, landed, site, vessel, sg, kind, ref, dist, th in store.db.execute(sql):
        item = out.setdefault(aid, Pending(aid, landed, site, vessel, bool(sg), []))
        item.candidates.append(PendingCandidate(kind, ref, dist, th))
    # The queue is read in one query; what decides it (the arrivals' flags, every candidate's figures, every
    # decision) must still be what triage wrote: a decision slipped in or a distance raised would hide an alert.
    for table in ("arrivals", "candidates", "reviews"):
        store.check_rows(table)
    if officer:
        with store.transaction():
            store.audit("review-pending", officer, records=[f"arrival:{a}" for a in out][:500])
    return list(out.values())


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


def _shown(store: Store, arrival_id: str, candidate: str | None) -> list[dict]:
    """The candidates of the arrival's latest search, or the one named."""
    cands = [c for c in arrivals.candidates(store, arrival_id) if candidate is None or c["ref"] == candidate]
    if candidate is not None and not cands:
        raise NotFound(f"{candidate!r} is not a candidate of arrival {arrival_id}; see `triage review {arrival_id}`")
    return cands


def show(store: Store, arrival_id: str, *, officer: str, candidate: str | None = None) -> ForReview:
    """What a reviewer needs for one arrival: each candidate (or the one named) with its distance, the
    threshold, the biographic differences, its decision history and where both portraits are."""
    arrival = arrivals.get(store, arrival_id)
    cands = _shown(store, arrival_id, candidate)
    mine = _where("arrival", arrival_id, _portrait_row(store, "arrival", arrival_id))
    for c in cands:
        c["portraits"] = {
            "arrival": mine,
            "candidate": _where(c["kind"], c["ref"], _portrait_row(store, c["kind"], c["ref"])),
        }
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
    """The contents of an arrival's drafts of one kind that are still kept, oldest first."""
    return [
        r["draft"]
        for r in store.rows("drafts", "arrival_id = ? AND kind = ?", [arrival_id, kind], order_by="ref")
        if "draft" in r
    ]


# -- PND drafts --------------------------------------------------------------------------------------
