"""A boat's landing in one process: the home unlocked, the face models and the galleries loaded once, then
one arrival after another, each searched the moment its photo is complete.

Every arrival lands in its own transaction, as `triage capture` lands it, so a crash or a kill loses at
most the arrival in progress. A photo from a file is known by its bytes and its name (the idempotency key
capture-batch uses), so a session or a folder watch started again never lands the same file twice, and
says where the boat stands: how many arrivals have landed from it and how many alerts await a decision.
A one-shot `triage capture` of a file, run again after a kill hid whether it had landed, is told the same
way (`photo_landed_before`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from triage.casework import arrivals, manifest, review, watchlist
from triage.errors import HOME_ERRORS, BadInput, TriageError
from triage.faces import analysis, encoders, matchers
from triage.faces.analysis import Analysis
from triage.intake.biographic import Details, DetailText
from triage.intake.photos import Photo, decode
from triage.intake.watch import SIDECAR_SUFFIX, Arrived
from triage.store.config import CONFIG_FILE, load_config
from triage.store.rows import Store

LOADING_THREAD = "load face models"


def start_loading(home: Path, matcher: str | None = None) -> Callable[[], None]:
    """Start loading the face models the home's matcher uses while the passphrase is being checked (both
    take a while, and neither holds the other up); the returned call waits until they are loaded. A model
    that cannot be loaded here is loaded, and reported, again once the home is open.

    The caller must make that call on every way out, a refusal or Ctrl-C included: a process that ends
    while the loading thread is inside a native library (dlib, onnxruntime, OpenCV) can be aborted by it,
    and would then not exit with the status its error calls for. The thread is not a daemon either, so
    the interpreter waits for it before it finalizes, whatever the way out."""

    ended = threading.Event()

    def load() -> None:
        try:
            config = load_config(home) if (Path(home) / CONFIG_FILE).is_file() else None
            names = [n for n in ((config.matcher if config else None), matcher) if n]
            ids = [mid for n in names for mid in matchers.get(n, home).model_ids]
            encoders.pipeline(ids or [encoders.DLIB], home).load()
        except (TriageError, OSError, ValueError):
            pass
        finally:
            ended.set()

    worker = threading.Thread(target=load, name=LOADING_THREAD, daemon=False)
    worker.start()

    def wait() -> None:
        """Wait until the loading has ended; a Ctrl-C meanwhile is raised once it has. The wait is on an event, not
        on `Thread.join`: a join that Ctrl-C interrupts can take the thread for ended while it still runs (Python
        3.11), and the process then ends under it, aborted by the native library it was in."""
        interrupted: KeyboardInterrupt | None = None
        while not ended.is_set():
            try:
                ended.wait()
            except KeyboardInterrupt as e:
                interrupted = interrupted or e
        if interrupted is not None:
            raise interrupted

    return wait


@dataclass
class Standing:
    """Where a boat stands: its arrivals landed (void ones apart) and those with candidates awaiting a decision."""

    vessel: str | None
    landed: int
    awaiting_review: int  # arrivals with a candidate below the threshold and no decision on it
    alerts: int  # such candidates that are watchlist subjects, all arrivals together
    safeguarding: int
    other_candidates: int = 0  # the earlier arrivals among them (by face, by name or both), each once

    def as_json(self) -> dict[str, Any]:
        return {
            "vessel": self.vessel,
            "landed": self.landed,
            "awaiting_review": self.awaiting_review,
            "alerts": self.alerts,
            "other_candidates": self.other_candidates,
            "safeguarding": self.safeguarding,
        }


def standing(store: Store, vessel: str | None) -> Standing:
    """How many arrivals have landed from `vessel` (or, without one, today at this site), how many of them
    have candidates awaiting a decision, and how many of those candidates are watchlist alerts."""
    void = arrivals.voided(store)
    if vessel:
        rows = store.db.execute(
            "SELECT id, safeguarding FROM arrivals WHERE vessel = ? COLLATE NOCASE", [vessel]
        ).fetchall()
    else:
        today = dt.date.today().isoformat()
        rows = store.db.execute(
            "SELECT id, safeguarding FROM arrivals WHERE vessel IS NULL AND landed_day = ?", [today]
        ).fetchall()
    ids = [aid for aid, _ in rows if aid not in void]
    queue = review.pending(store, arrival_ids=ids) if ids else []
    mine = [p for p in queue if p.arrival_id in set(ids)]
    alerts = sum(c.kind == "watchlist" for p in mine for c in p.candidates)
    # An earlier arrival found by face and by name is one candidate: one decision settles both.
    others = {(p.arrival_id, c.ref) for p in mine for c in p.candidates if c.kind != "watchlist"}
    return Standing(
        vessel=vessel,
        landed=len(ids),
        awaiting_review=len(mine),
        alerts=alerts,
        safeguarding=sum(1 for aid, sg in rows if sg and aid not in void),
        other_candidates=len(others),
    )


@dataclass
class LandedBefore:
    """A photo file and face given to a one-shot capture that an earlier capture landed (a run killed after it
    landed and before it said so, say): the arrival, what of its candidates awaits a decision, and the details
    given now that it holds otherwise (for `triage arrivals amend`). Nothing is recorded for it."""

    photo: str
    face: int | None  # as given; none given is the largest face, as face 1 is
    arrival_id: str
    landed_at: str
    site: str
    vessel: str | None
    officer: str
    training: bool
    faces_in_photo: int | None  # as the earlier capture's quality gate counted them
    alerts: int  # watchlist candidates below the threshold with no decision
    other_candidates: int  # earlier arrivals (by face, by name or both) awaiting a decision, each once
    differs: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"already_landed": True} | asdict(self)


def photo_landed_before(
    store: Store, key: str, *, photo: str, face: int | None, details: Details | None = None
) -> tuple[LandedBefore | None, str | None]:
    """What an earlier capture made of a photo file and face (`key`, `arrivals.photo_key`): the arrival it landed
    as, or, when that arrival was voided since, its id alone (the photo is captured anew: `arrivals.capture`'s
    `anew_after_void`); (None, None) when it never landed. `details`, those given now, are compared with the
    arrival's. The queue is counted as a session's standing is, unaudited: no detail of a candidate is shown."""
    arrival_id = arrivals.already_landed(store, key)
    if arrival_id is None:
        return None, None
    row = arrivals.get(store, arrival_id)
    if arrivals.is_void(row):
        return None, arrival_id
    queue = review.pending(store, arrival_ids=[arrival_id])
    pairs = arrivals.PAIR_KINDS
    alerts = sum(c.kind == "watchlist" for p in queue if p.arrival_id == arrival_id for c in p.candidates)
    others = {
        frozenset((p.arrival_id, c.ref))
        for p in queue
        for c in p.candidates
        if c.kind in pairs and arrival_id in (p.arrival_id, c.ref)
    }
    measures = (row.get("quality") or {}).get("measures") or {}
    return LandedBefore(
        photo=photo,
        face=face,
        arrival_id=arrival_id,
        landed_at=row["landed_at"],
        site=row["site"],
        vessel=row["vessel"],
        officer=row["officer"],
        training=bool(row["training"]),
        faces_in_photo=measures.get("face_count"),
        alerts=alerts,
        other_candidates=len(others),
        differs=manifest.details_differ(row, details) if details is not None else [],
    ), None


@dataclass
class Preview:
    """A photo analysed and searched, not yet landed: what the officer sees while the details are asked."""

    analysed: Analysis
    candidates: list[arrivals.CandidateView]
    threshold: float
    calibrated_threshold: float
    key: str | None  # the idempotency key of a photo from a file
    seconds: float = 0.0  # from the photo's bytes to its candidates
    override_reason: str | None = None  # why a photo the quality gate refused is used all the same


@dataclass
class Landing:
    """One process landing a boat: `prepare` (analyse and search a photo), then `land` it with its details."""

    store: Store
    officer: str
    vessel: str | None = None
    matcher: str | None = None
    top_k: int = arrivals.DEFAULT_TOP_K
    threshold: float | None = None
    landed: list[str] = field(default_factory=list)  # arrivals landed by this process
    pipeline: encoders.Pipeline = field(init=False)

    def __post_init__(self) -> None:
        if self.threshold is not None:  # refused before any photo is taken
            matchers.get(self.matcher or self.store.config.matcher, self.store.home).checked(self.threshold)
        self.pipeline = matchers.pipeline_for(self.store, self.matcher)
        self.pipeline.load()
        m = matchers.get(self.matcher or self.store.config.matcher, self.store.home)
        for mid in m.model_ids:  # the galleries, loaded now rather than on the first arrival
            watchlist.gallery(self.store, mid)
            arrivals.arrival_gallery(self.store, mid)

    def already_landed(self, data: bytes, name: str, face: int | None = None) -> str | None:
        """The arrival a photo file (its bytes and its name) and face already landed as, if any (`watched_before`)."""
        return watched_before(self.store, data, name, face)

    def prepare(
        self,
        photo: Photo,
        *,
        name: str | None = None,
        face_index: int | None = None,
        override_reason: str | None = None,
    ) -> Preview:
        """The photo through the quality gate and the models, and its candidates; nothing is stored. `name`,
        the file's name for a photo from a file, makes its idempotency key."""
        started = time.perf_counter()
        found = analysis.analyse(
            photo, "probe", face_index=face_index, override_reason=override_reason, pipeline=self.pipeline
        )
        views, th, calibrated = arrivals.preview(
            self.store,
            found,
            Details(),
            vessel=self.vessel,
            top_k=self.top_k,
            threshold=self.threshold,
            matcher=self.matcher,
        )
        key = arrivals.photo_key(photo.original, name, face_index) if name and photo.original else None
        return Preview(found, views, th, calibrated, key, time.perf_counter() - started, override_reason)

    def land(
        self,
        preview: Preview,
        details: Details,
        *,
        vessel: str | None = None,
        landed_at: str | None = None,
    ) -> arrivals.Captured:
        """Land a prepared photo with its details, in one transaction; a photo from a file that already
        landed is refused (`Conflict`)."""
        captured = arrivals.capture(
            self.store,
            preview.analysed.photo,
            details,
            officer=self.officer,
            vessel=vessel or self.vessel,
            landed_at=landed_at,
            override_reason=preview.override_reason,
            idempotency_key=preview.key,
            top_k=self.top_k,
            threshold=self.threshold,
            analysed=preview.analysed,
            matcher=self.matcher,
        )
        self.landed.append(captured.arrival_id)
        return captured

    def decide(self, arrival_id: str, candidate: arrivals.CandidateView, decision: str, reason: str) -> review.Decision:
        return review.record(
            self.store,
            arrival_id,
            candidate=candidate.ref,
            kind=candidate.kind,
            decision=decision,
            reason=reason,
            officer=self.officer,
        )

    def flag(self, arrival_id: str, reason: str) -> dict[str, Any]:
        return arrivals.flag_safeguarding(self.store, arrival_id, reason=reason, officer=self.officer)

    def standing(self) -> Standing:
        return standing(self.store, self.vessel)


def sidecar_details(cells: dict[str, str] | None) -> DetailText:
    """The details a sidecar gives (its detail columns; where, when and which face are not details), as
    typed, to offer as the answers' defaults."""
    named = {manifest.column_name(k): v for k, v in (cells or {}).items()}
    return manifest.detail_text({k: v for k, v in named.items() if k in manifest.COLUMNS})


def sidecar_face(cells: dict[str, str] | None, sidecar: str) -> int | None:
    """Which face of a group photo its sidecar names (`face`, 1 = the largest), or None."""
    named = {manifest.column_name(k): str(v) for k, v in (cells or {}).items()}
    face = named.get("face", "").strip()
    return manifest.face_number(face, f"face of {sidecar}") if face else None


@dataclass
class Watched:
    """What became of one photo from a watched folder: landed (with the capture), landed before (its
    arrival), or refused (the reason, and the exit status it would have had)."""

    photo: Path
    captured: arrivals.Captured | None = None
    landed_before: str | None = None
    status: str | None = None
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        if self.captured is not None:
            view = {"photo": str(self.photo)} | self.captured.as_json()
            view["warnings"] = self.warnings + view["warnings"]
            return view
        if self.landed_before is not None:
            return {"photo": str(self.photo), "already_landed": True, "arrival_id": self.landed_before}
        return {"photo": str(self.photo), "refused": {"status": self.status, "reason": self.reason}}


_CORRECT_IT = "correct {sidecar} and the photo is tried again"


def watched_before(store: Store, data: bytes, name: str, face: int | None) -> str | None:
    """The arrival a photo file and face landed as, if any. (Earlier versions landed a face a sidecar named under
    the file's key alone, the first face's: such an arrival is not found here, since that key cannot tell it from
    the first face's own; a watch started again over it lands the face anew, and the review queue shows the two as
    one photo captured twice.)"""
    return arrivals.already_landed(store, arrivals.photo_key(data, name, face))


def land_watched(landing: Landing, arrived: Arrived, *, landed_at: str | None = None) -> Watched:
    """Land a complete photo from a watched folder with the details of its sidecar (checked as a manifest
    row is), unless its file landed before. A photo or a sidecar that cannot land is refused with its
    reason (a sidecar's says that correcting it tries the photo again, as the watch does once told it was
    refused); only errors of the store itself are raised."""
    path = arrived.path
    sidecar = path.name + SIDECAR_SUFFIX
    try:
        if arrived.sidecar_error:
            raise BadInput(f"{arrived.sidecar_error}; {_CORRECT_IT.format(sidecar=sidecar)}")
        try:
            face = sidecar_face(arrived.sidecar, sidecar)
        except BadInput as e:
            raise BadInput(f"{e}; {_CORRECT_IT.format(sidecar=sidecar)}", hint=e.hint) from None
        key = arrivals.photo_key(arrived.data, path.name, face)
        before = watched_before(landing.store, arrived.data, path.name, face)
        if before:
            return Watched(path, landed_before=before)
        cells = {manifest.column_name(k): v for k, v in (arrived.sidecar or {}).items()}
        try:
            unknown = [k for k in cells if k not in manifest.COLUMNS or k == "photo"]
            if unknown:
                raise BadInput(
                    f"{sidecar}: unknown detail {unknown[0]!r}; the details are "
                    + ", ".join(c for c in manifest.COLUMNS if c != "photo")
                )
            row = manifest.Row(0, {"photo": path.name} | cells, headers={k: f"{k} of {sidecar}" for k in cells})
            checked = manifest.check_cells(
                landing.store, row, vessel=landing.vessel, landed_at=landed_at, today=dt.date.today()
            )
        except BadInput as e:
            if arrived.sidecar is None:
                raise
            raise BadInput(f"{e}; {_CORRECT_IT.format(sidecar=sidecar)}", hint=e.hint) from None
        photo = decode(arrived.data, str(path))
        found = analysis.analyse(photo, "probe", face_index=checked.face_index, pipeline=landing.pipeline)
        captured = arrivals.capture(
            landing.store,
            found.photo,
            checked.details,
            officer=landing.officer,
            vessel=checked.vessel,
            landed_at=checked.landed_at,
            idempotency_key=key,
            top_k=landing.top_k,
            threshold=landing.threshold,
            analysed=found,
            matcher=landing.matcher,
        )
    except HOME_ERRORS:  # the home's, not the photo's: no later photo would land either
        raise
    except TriageError as e:
        return Watched(path, status=e.status.name.lower(), reason=str(e))
    landing.landed.append(captured.arrival_id)
    return Watched(path, captured=captured, warnings=checked.warnings)
