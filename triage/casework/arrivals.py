"""Capturing an arrival and searching it: the photo through the quality gate, the details sealed, the
face searched against the watchlist and against earlier arrivals, and the candidates recorded with
the threshold they were judged against. One transaction per arrival, so a crash loses nothing half-done.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from triage.casework import name_keys, safeguarding, watchlist
from triage.errors import Conflict, TriageError
from triage.faces import analysis, matchers, matching
from triage.faces import detection as faces
from triage.faces.matching import Candidate, Gallery
from triage.faces.quality import QualityReport
from triage.intake.biographic import Details, reason_text
from triage.intake.names import name_tokens, part_keys, usual
from triage.intake.photos import Photo, to_jpeg
from triage.intake.refs import parse_vessel, same_vessel
from triage.store.rows import Store, utcnow

ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O or U to misread
DEFAULT_TOP_K = 5
NAME_FIELDS = ("surname_latin", "given_names_latin")  # compared by the names' identity, not their spelling
COMPARED_FIELDS = ("surname_latin", "given_names_latin", "dob", "age_range", "sex", "nationality", "document_number")
AGE = "age"  # a difference: an age one record gives that the other's date of birth leaves no room for


@dataclass(frozen=True)
class Age:
    """A person's age on a day as one record gives it: assessed (`dob` None), or from the date of birth the
    record gives; `at_landing` when that day is the one this record's arrival landed on."""

    low: int
    high: int
    on: str  # ISO day
    dob: str | None = None
    at_landing: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"age_range": [self.low, self.high], "on": self.on, "dob": self.dob, "at_landing": self.at_landing}


@dataclass
class CandidateView:
    """A candidate as the officer is shown it: the search's figures and who it points at. A watchlist
    subject brings its category and review date; an earlier arrival where and when it landed, and the
    biographic differences side by side (this arrival's against the earlier one's)."""

    kind: str  # watchlist | arrival | biographic (an earlier arrival whose name and date of birth agree)
    ref: str
    rank: int
    distance: float | None  # None for a biographic candidate, which has a score instead
    threshold: float | None
    below_threshold: bool
    model_id: str
    matcher: str | None
    scores: dict[str, float] | None  # a fused candidate's distance under each model
    model_ids: list[str]
    name: str | None = None
    same_vessel: bool = False  # an earlier arrival below the threshold, landed from this arrival's vessel
    safeguarding: bool = False  # an earlier arrival flagged for safeguarding: the person may be a child
    category: str | None = None
    review_date: str | None = None
    landed_at: str | None = None
    vessel: str | None = None
    site: str | None = None
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    score: float | None = None  # a biographic candidate's: how many of this arrival's name parts agree
    dob_agrees: str | None = None  # a biographic candidate's: same | close

    def as_json(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "kind": self.kind,
            "ref": self.ref,
            "rank": self.rank,
            "distance": self.distance,
            "threshold": self.threshold,
            "below_threshold": self.below_threshold,
            "model_id": self.model_id,
            "matcher": self.matcher,
            "scores": self.scores,
            "model_ids": list(self.model_ids),
            "same_vessel": self.same_vessel,
        }
        if self.kind == "watchlist":
            return view | {"category": self.category, "name": self.name, "review_date": self.review_date}
        if self.kind == name_keys.BIOGRAPHIC:
            view |= {
                "score": self.score,
                "dob_agrees": self.dob_agrees,
                "evidence": name_keys.evidence(self.score, self.dob_agrees),
            }
        return view | {
            "landed_at": self.landed_at,
            "vessel": self.vessel,
            "site": self.site,
            "name": self.name,
            "differences": self.differences,
            "safeguarding": self.safeguarding,
        }


@dataclass
class Captured:
    """What the officer needs to see of a capture: where the arrival landed, its photo's quality, and the
    candidates of its search with the matcher and threshold they were judged by."""

    arrival_id: str
    landed_at: str
    site: str
    vessel: str | None
    safeguarding: bool
    training: bool
    quality: QualityReport
    threshold: float
    matcher: str
    model_id: str
    model_ids: list[str]
    detector: str
    candidates: list[CandidateView]
    warnings: list[str]
    calibrated_threshold: float | None = None  # the matcher's own: `threshold` differs when --threshold overrode it

    def as_json(self) -> dict[str, Any]:
        return {
            "already_landed": False,  # a photo file landed before is told apart (`session.LandedBefore`)
            "arrival_id": self.arrival_id,
            "landed_at": self.landed_at,
            "site": self.site,
            "vessel": self.vessel,
            "safeguarding": self.safeguarding,
            "training": self.training,
            "quality": self.quality.to_dict(),
            "threshold": self.threshold,
            "calibrated_threshold": self.calibrated_threshold,
            "matcher": self.matcher,
            "model_id": self.model_id,
            "model_ids": list(self.model_ids),
            "detector": self.detector,
            "candidates": [c.as_json() for c in self.candidates],
            "warnings": list(self.warnings),
        }


@dataclass
class Searched:
    """A search of an arrival made again: its candidates with the matcher and threshold."""

    arrival_id: str
    threshold: float
    matcher: str
    model_id: str
    model_ids: list[str]
    warnings: list[str]
    candidates: list[CandidateView]
    calibrated_threshold: float | None = None  # the matcher's own: `threshold` differs when --threshold overrode it

    def as_json(self) -> dict[str, Any]:
        return {
            "arrival_id": self.arrival_id,
            "threshold": self.threshold,
            "calibrated_threshold": self.calibrated_threshold,
            "matcher": self.matcher,
            "model_id": self.model_id,
            "model_ids": list(self.model_ids),
            "warnings": list(self.warnings),
            "candidates": [c.as_json() for c in self.candidates],
        }


@dataclass(frozen=True)
class ReviewEntry:
    """One decision on a candidate as recorded; a later one supersedes it and both are kept."""

    id: int
    decision: str
    reason: str | None
    officer: str
    at: str
    supersedes: int | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def new_arrival_id() -> str:
    return "A-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(6))


def local_day(utc_iso: str, tz: str) -> str:
    return dt.datetime.fromisoformat(utc_iso).astimezone(ZoneInfo(tz)).date().isoformat()


def source_key(original: bytes, inputs: dict) -> str:
    """A digest of what was captured (the photo's bytes and the inputs as given), the idempotency key
    that lets a re-run manifest recognise the rows it already landed."""
    h = hashlib.sha256(original)
    h.update(json.dumps(inputs, sort_keys=True, default=str).encode())
    return h.hexdigest()


def photo_key(original: bytes, place: str, face: int | None = None) -> str:
    """A digest of a photo's bytes, where a manifest put it (the photo's file name) and which of its faces:
    the idempotency key that lets a re-run manifest recognise a row it already landed even when other cells
    of the row, or the manifest's columns, have changed since. Two rows naming two faces of one group photo
    are two people. No face given and face 1 (the largest) make the same key, so a face column added on a
    rerun, saying 1 where nothing was said, lands nothing again."""
    h = hashlib.sha256(b"photo-place\x00")
    h.update(hashlib.sha256(original).digest())
    h.update(place.encode())
    if face is not None and face != 1:
        h.update(f"\x00face {face}".encode())
    return h.hexdigest()


def is_void(row: dict[str, Any]) -> bool:
    """Whether an arrival (as read, its sealed part opened) has been voided."""
    return bool(row.get("void"))


def voided(store: Store) -> set[str]:
    """The arrivals voided in this home: kept as tombstones, out of queues, searches and reports. The clear
    flag finds them; each is read (so checked) to make sure the flag is triage's own."""
    return {r["id"] for r in store.rows("arrivals", "voided = 1") if is_void(r)}


def live(store: Store, arrival_id: str) -> dict[str, Any]:
    """An arrival about to be changed, decided on or drafted about, as read: a void one is a tombstone kept as it
    was voided, so every such command refuses it alike (Conflict) rather than each in its own words or not at all."""
    row = get(store, arrival_id)
    if is_void(row):
        v = row["void"]
        raise Conflict(f"arrival {arrival_id} was voided by {v['officer']} at {v['at']}; it cannot be changed")
    return row


# The sealed field that keeps a capture's idempotency key unblinded (`capture`), read by a rotation only.
SOURCE = "photo_file_key"


def already_landed(store: Store, idempotency_key: str) -> str | None:
    """The arrival an earlier capture with this idempotency key landed, if any (the key is stored blinded). Found
    through an index: one rebuilt without the key would land the photo again."""
    store.check_indexes_once("arrivals")
    row = store.db.execute(
        "SELECT id FROM arrivals WHERE source_key = ?", [store._need_vault().blind("capture", idempotency_key)]
    ).fetchone()
    return row[0] if row else None


def arrival_gallery(store: Store, model_id: str = faces.MODEL_ID) -> Gallery:
    """Earlier arrivals, for repeat-arrival search: loaded once per process, refreshed at each use."""
    return matching.gallery(store, "arrival", "arrival", model_id)


def _find(
    store: Store,
    m: matchers.Matcher,
    th: float,
    vectors: dict[str, np.ndarray],
    arrival_id: str | None,
    label: str,
    *,
    top_k: int,
    approximate: bool | None,
) -> tuple[list[Candidate], str, int]:
    """The candidates of a face in both galleries, best first and ranked, with the search method and the
    number of templates searched; nothing is recorded."""
    queries = matchers.require(vectors, m, label)
    wl = {mid: watchlist.gallery(store, mid) for mid in m.model_ids}
    prior = {mid: arrival_gallery(store, mid) for mid in m.model_ids}
    for g in [*wl.values(), *prior.values()] if approximate else ():
        if g.index is None and g.attach_index(store, "build"):
            g.save_index(store)
    found = m.search(wl, queries, top_k=top_k, threshold=th, approximate=approximate)
    gone = ({arrival_id} if arrival_id else set()) | voided(store)
    found += m.search(prior, queries, top_k=top_k, threshold=th, exclude=gone, approximate=approximate)
    indexed = any(g.index for g in [*wl.values(), *prior.values()])
    method = "approximate" if approximate or (approximate is None and indexed) else "exact"
    found.sort(key=lambda c: c.distance)
    # A watchlist subject below the threshold is an alert: earlier arrivals of the same face (a person
    # landed several times) must not push it out of the top k, where no officer would see or review it.
    found = found[:top_k] + [c for c in found[top_k:] if c.kind == "watchlist" and c.below_threshold]
    for rank, c in enumerate(found, 1):
        c.rank = rank
    first = m.model_ids[0]
    return found, method, len(wl[first]) + len(prior[first]) - sum(prior[first].count(a) for a in gone)


def preview(
    store: Store,
    analysed: analysis.Analysis,
    details: Details,
    *,
    vessel: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    threshold: float | None = None,
    matcher: str | None = None,
    landed_at: str | None = None,
) -> tuple[list[CandidateView], float, float]:
    """The candidates a capture of this analysed photo would find now, before anything is stored (so an
    officer sees them while the details are still being asked); with the threshold and the matcher's
    calibrated one. Details are compared as of `landed_at` (UTC; now when not given). The capture itself
    searches again and records what it finds."""
    m = matchers.get(matcher or store.config.matcher, store.home)
    th = m.threshold if threshold is None else m.checked(threshold)
    found, _, _ = _find(store, m, th, analysed.vectors, None, "this photo", top_k=top_k, approximate=None)
    mine = details.to_dict()
    day = local_day(landed_at or utcnow(), store.config.timezone)
    return [_candidate_view(store, c.to_dict(), mine, vessel, day) for c in found], th, m.threshold


def _search(
    store: Store,
    arrival_id: str,
    vectors: dict[str, np.ndarray],
    *,
    officer: str,
    top_k: int,
    threshold: float | None,
    matcher: str | None = None,
    approximate: bool | None = None,
) -> tuple[matchers.Matcher, float, list[Candidate], list[str]]:
    """Search both galleries with a matcher (the home's by default) and record the search, its matcher,
    models, threshold and method, and its candidates (caller holds the transaction). `approximate` None
    lets each gallery's size decide (see triage/ann.py). Returns the matcher, the threshold, the
    candidates and warnings about templates the galleries lack."""
    m = matchers.get(matcher or store.config.matcher, store.home)
    th = m.threshold if threshold is None else m.checked(threshold)
    found, method, gallery_size = _find(
        store, m, th, vectors, arrival_id, f"arrival {arrival_id}", top_k=top_k, approximate=approximate
    )
    search = store.insert(
        "searches",
        {
            "arrival_id": arrival_id,
            "at": utcnow(),
            "officer": officer,
            "matcher": m.name,
            "model_id": m.model_id,
            "model_ids": json.dumps(m.model_ids),
            "threshold": th,
            "top_k": top_k,
            "method": method,
            "gallery_size": gallery_size,
        },
    )
    for c in found:
        store.insert(
            "candidates",
            {
                "search_id": search["id"],
                "arrival_id": arrival_id,
                "kind": c.kind,
                "ref": c.ref,
                "rank": c.rank,
                "distance": c.distance,
                "threshold": c.threshold,
                "below_threshold": int(c.below_threshold),
                "model_id": c.model_id,
                "matcher": c.matcher,
                "scores": json.dumps(c.scores),
            },
        )
    _record_biographic(store, search["id"], arrival_id, officer=officer, top_k=top_k, after=len(found))
    return m, th, found, matchers.coverage(store, m.model_ids)


def _record_biographic(store: Store, search_id: int, arrival_id: str, *, officer: str, top_k: int, after: int) -> None:
    """Record, in the search `search_id`, the earlier arrivals whose name and date of birth agree with this
    arrival's (`name_keys.biographic`), ranked after the search's face candidates: kind "biographic", a score
    (name parts that agree) and no distance or threshold. They sit beside any face candidate of the same earlier
    arrival, as evidence of another kind; one decision on the pair settles both."""
    name_keys.ensure(store, officer)
    details = get(store, arrival_id).get("details") or {}
    for rank, b in enumerate(name_keys.biographic(store, arrival_id, details, limit=top_k), after + 1):
        store.insert(
            "candidates",
            {
                "search_id": search_id,
                "arrival_id": arrival_id,
                "kind": name_keys.BIOGRAPHIC,
                "ref": b.ref,
                "rank": rank,
                "distance": None,
                "threshold": None,
                "below_threshold": 0,
                "model_id": None,
                "matcher": None,
                "scores": None,
                "score": float(b.score),
            },
        )


def biographic_views(
    store: Store, arrival_id: str, mine: dict[str, Any], vessel: str | None, landed_day: str
) -> list[CandidateView]:
    """The biographic candidates of the arrival's latest search, as the officer is shown them."""
    rows = store.rows(
        "candidates",
        "kind = ? AND search_id = (SELECT max(id) FROM searches WHERE arrival_id = ?)",
        [name_keys.BIOGRAPHIC, arrival_id],
        order_by="rank",
    )
    return [_candidate_view(store, r, mine, vessel, landed_day) for r in rows]


def capture(
    store: Store,
    photo: Photo,
    details: Details,
    *,
    officer: str,
    vessel: str | None = None,
    landed_at: str | None = None,
    face_index: int | None = None,
    override_reason: str | None = None,
    idempotency_key: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    threshold: float | None = None,
    today: dt.date | None = None,
    analysed: analysis.Analysis | None = None,
    matcher: str | None = None,
    anew_after_void: bool = False,
) -> Captured:
    """Land one arrival: gate, encode (with every model the home uses, and the matcher's), store, search
    with the matcher (the home's by default). Returns what the officer needs to see.

    `analysed` lets a batch run the face pipeline in worker processes and land the results here. Inputs
    whose `idempotency_key` an earlier capture landed are refused (`already_landed` tells which arrival);
    with `anew_after_void`, inputs whose arrival was voided since land anew and take the key over (the void
    arrival stays as it was, without it), since an officer asked for them again after the void."""
    cfg = store.config
    if threshold is not None:  # before the photo is analysed: a threshold off the matcher's scale is refused
        matchers.get(matcher or cfg.matcher, store.home).checked(threshold)
    vessel = parse_vessel(vessel) if vessel is not None else None
    key = store._need_vault().blind("capture", idempotency_key) if idempotency_key else None
    existing = already_landed(store, idempotency_key) if idempotency_key else None
    void_before = existing if existing and anew_after_void and is_void(get(store, existing)) else None
    if existing and not void_before:
        raise Conflict(f"these inputs already landed as arrival {existing}")
    result = analysed or analysis.analyse(
        photo,
        "probe",
        face_index=face_index,
        override_reason=override_reason,
        pipeline=matchers.pipeline_for(store, matcher),
    )
    landed = landed_at or utcnow()
    today = today or dt.date.fromisoformat(local_day(landed, cfg.timezone))
    child = details.is_child(today)
    arrival_id = new_arrival_id()
    while store.db["arrivals"].count_where("id = ?", [arrival_id]):
        arrival_id = new_arrival_id()
    store.check_once("name_keys")  # before the capture writes its own: its name search relies on every key held
    with store.transaction():
        if void_before:  # the key is unique: the void arrival gives it up in the transaction that takes it
            store.update("arrivals", void_before, {"source_key": None})
        store.insert(
            "arrivals",
            {
                "id": arrival_id,
                "created_at": utcnow(),
                "landed_at": landed,
                "landed_day": local_day(landed, cfg.timezone),
                "site": cfg.site,
                "vessel": vessel,
                "officer": officer,
                "device": cfg.device,
                "safeguarding": int(child),
                "quality_score": result.quality.score,
                "quality_override": override_reason,
                "source_key": key,
                "training": int(cfg.training),
            },
            # The key before it was blinded, sealed: a rotation of the data key blinds it again (`blinds.rekey`)
            # where it would otherwise be cleared, and the photo land again. It never leaves the home.
            {"details": details.to_dict(), "quality": result.quality.to_dict()}
            | ({SOURCE: idempotency_key} if idempotency_key else {}),
        )
        name_keys.index(store, arrival_id, details.to_dict())
        pid = store.put_photo(
            "arrival", arrival_id, "original", photo.original, photo.media_type, photo.width, photo.height
        )
        store.put_photo(
            "arrival", arrival_id, "portrait", to_jpeg(result.portrait), "image/jpeg", *result.portrait.shape[1::-1]
        )
        for model_id, vector in result.vectors.items():
            store.put_template("arrival", arrival_id, pid, model_id, vector)
        m, th, candidates, warnings = _search(
            store, arrival_id, result.vectors, officer=officer, top_k=top_k, threshold=threshold, matcher=matcher
        )
        overrides = ([f"quality override: {override_reason}"] if override_reason else []) + (
            [threshold_override(m, th)] if th != m.threshold else []
        )
        again = [f"the photo of void arrival {void_before}, captured again"] if void_before else []
        store.audit(
            "capture",
            officer,
            arrival_id=arrival_id,
            records=[f"arrival:{arrival_id}", f"photo:{pid}"],
            reason="; ".join(overrides + again) or None,
        )
    mine = details.to_dict()
    day = local_day(landed, cfg.timezone)
    return Captured(
        arrival_id=arrival_id,
        landed_at=landed,
        site=cfg.site,
        vessel=vessel,
        safeguarding=child,
        training=cfg.training,
        quality=result.quality,
        threshold=th,
        calibrated_threshold=m.threshold,
        matcher=m.name,
        model_id=m.model_id,
        model_ids=list(m.model_ids),
        detector=result.face.detector,
        candidates=[_candidate_view(store, c.to_dict(), mine, vessel, day) for c in candidates]
        + biographic_views(store, arrival_id, mine, vessel, day),
        warnings=result.warnings
        + warnings
        + ([f"this photo landed before as {void_before}, voided since: captured anew"] if void_before else []),
    )


def threshold_override(m: matchers.Matcher, threshold: float) -> str:
    """How a search judged against a threshold other than its matcher's calibrated one is recorded."""
    return f"threshold override {threshold:g} on the {m.name} matcher (calibrated {m.threshold:g})"


def calibrated_threshold(store: Store, matcher: str | None) -> float | None:
    """The threshold a matcher is calibrated to in this home now, to set beside a stored search's (which
    differs when that search was given --threshold); None when the matcher can no longer be loaded."""
    try:
        return matchers.get(matcher or "dlib", store.home).threshold
    except TriageError:
        return None


def differences(
    mine: dict[str, Any], theirs: dict[str, Any], *, this_day: dt.date | None, earlier_day: dt.date | None
) -> dict[str, dict[str, Any]]:
    """The details two records both give and that disagree, side by side. A detail one of them lacks is
    not a difference: an arrival who gave no date of birth does not contradict one who gave it. Nor are the
    same names in another script or spelling, or dates of birth that agree as a name search counts them (a
    year or month that holds the other date, a full date close to it). An age one record gives that the
    other's date of birth, on the day that age was given, leaves no room for is one (`AGE`), with the day
    each record landed on (`this_day`, `earlier_day`; without either, ages are not compared)."""

    def shown(d: dict[str, Any], f: str) -> Any:
        return latin_form(d, f.removesuffix("_latin")) if f in NAME_FIELDS else d[f]

    found = {
        f: {"this": shown(mine, f), "earlier": shown(theirs, f)}
        for f in COMPARED_FIELDS
        if _given(mine.get(f)) and _given(theirs.get(f)) and mine[f] != theirs[f] and not _agree(f, mine, theirs)
    }
    ages = None
    if this_day is not None and earlier_day is not None:
        ages = age_against_birth(mine, theirs, this_day=this_day, earlier_day=earlier_day)
    if ages is not None:
        found[AGE] = {"this": ages[0].as_json(), "earlier": ages[1].as_json()}
    return found


def age_against_birth(
    mine: dict[str, Any], theirs: dict[str, Any], *, this_day: dt.date, earlier_day: dt.date
) -> tuple[Age, Age] | None:
    """This record's age and the earlier one's, side by side, when one of them gives an age (as assessed on
    the day it landed) that the other's date of birth, on that same day, does not fall in: someone assessed
    as 16 who gives a date of birth that makes them 19 may be a child either way. None when they agree, or
    when no age meets a date of birth."""
    sides = ((mine, theirs, this_day, earlier_day, True), (theirs, mine, earlier_day, this_day, False))
    for aged, dated, day, dated_day, mine_aged in sides:
        given: Any = aged.get("age_range")
        dob = name_keys.born(dated)
        if dob is None or not _age_range(given):  # a batch's details are text it signed, not checked as ages
            continue
        low, high = int(given[0]), int(given[1])
        then = dob.age_range_on(day)
        if then[1] < low or then[0] > high:
            assessed = Age(low, high, day.isoformat())
            by_birth = Age(then[0], then[1], day.isoformat(), str(dob), at_landing=day == dated_day)
            return (assessed, by_birth) if mine_aged else (by_birth, assessed)
    return None


def _age_range(given: Any) -> bool:
    """Whether `given` is an age range as capture records it: two whole numbers, the lower first."""
    return (
        isinstance(given, list | tuple)
        and len(given) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in given)
        and given[0] <= given[1]
    )


def _day(text: Any) -> dt.date | None:
    """A recorded landing day, or None when it is not one (a batch from elsewhere states it as text)."""
    try:
        return dt.date.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def latin_form(details: dict[str, Any], field: str) -> str | None:
    """A name part as a person reads it in Latin script: as typed when it was, else its usual romanisation
    (AL-HASSAN for الحسن), never the bare consonants an older record may hold."""
    given = details.get(field)
    return usual(given) if isinstance(given, str) and given else details.get(f"{field}_latin")


def _agree(f: str, mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether two values of a field that differ as written still agree: the same names, dates of birth the
    same or close by `name_keys.dob_agreement` (so a difference is never also called close), or assessed ages
    that overlap (16 and 16-18 are one assessment, made wider)."""
    if f == "dob":
        return name_keys.dob_agreement(name_keys.born(mine), name_keys.born(theirs)) is not None
    if f == "age_range":
        one: Any = mine.get(f)
        two: Any = theirs.get(f)
        return _age_range(one) and _age_range(two) and one[0] <= two[1] and two[0] <= one[1]
    return _same_name(f, mine, theirs)


def _same_name(f: str, mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """A name written in another script or spelling of the same names (الحسن and AL-HASAN) is not a difference:
    every part of each agrees with a part of the other by its identity keys."""
    if f not in NAME_FIELDS or not isinstance(mine[f], str) or not isinstance(theirs[f], str):
        return False
    given = f.removesuffix("_latin")  # the name as written, in its own script, where it was given
    one, other = ([part_keys(t) for t in name_tokens(d.get(given) or d[f])] for d in (mine, theirs))
    return (
        bool(one and other)
        and all(any(a & b for b in other) for a in one)
        and all(any(a & b for a in one) for b in other)
    )


def _given(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _candidate_view(
    store: Store, figures: dict[str, Any], mine: dict[str, Any], vessel: str | None, landed_day: str
) -> CandidateView:
    """A candidate (the search's figures, as found or as stored) with who it points at; for a repeat arrival,
    the biographic differences from `mine` (this arrival's details as stored, landed on `landed_day`),
    whether that arrival is flagged for safeguarding, and `same_vessel` when the face is below the threshold
    and both came on this arrival's vessel."""
    scores = figures["scores"]
    if isinstance(scores, str):  # as stored
        scores = json.loads(scores)
    view = CandidateView(
        kind=figures["kind"],
        ref=figures["ref"],
        rank=figures["rank"],
        distance=figures["distance"],
        threshold=figures["threshold"],
        below_threshold=bool(figures["below_threshold"]),
        model_id=figures["model_id"],
        matcher=figures["matcher"],
        scores=scores,
        model_ids=list(scores) if scores else [figures["model_id"]] if figures["model_id"] else [],
        score=figures.get("score") if figures["kind"] == name_keys.BIOGRAPHIC else None,
    )
    # A candidate found on another laptop may point at a subject or an arrival this home does not hold:
    # it is still shown, with the figures that laptop recorded.
    if view.kind == "watchlist":
        if not store.count("subjects", "ref = ?", [view.ref]):
            view.category = figures.get("category")
            return view
        s = store.get("subjects", view.ref, what="watchlist subject")
        view.category, view.name, view.review_date = s["category"], s.get("name"), s["review_date"]
    else:
        if not store.count("arrivals", "id = ?", [view.ref]):
            return view
        other = store.get("arrivals", view.ref, what="arrival")
        theirs = other["details"]
        view.landed_at, view.vessel, view.site = other["landed_at"], other["vessel"], other["site"]
        view.name = Details.from_dict(theirs).full_name()
        view.differences = differences(
            mine,
            theirs,
            this_day=_day(landed_day),
            earlier_day=_day(other["landed_day"]),
        )
        view.safeguarding = bool(other["safeguarding"])
        view.same_vessel = same_vessel(vessel, other["vessel"]) and view.below_threshold
        if view.kind == name_keys.BIOGRAPHIC:
            agree = name_keys.dob_agreement(name_keys.born(mine), name_keys.born(theirs))
            view.dob_agrees = name_keys.AGREEMENT.get(agree) if agree else None
    return view


def get(store: Store, arrival_id: str) -> dict[str, Any]:
    return store.get("arrivals", arrival_id, what="arrival")


PAIR_KINDS = ("arrival", name_keys.BIOGRAPHIC)  # candidates that pair two arrivals: by face, or by name and birth


def decided_kinds(kind: str) -> tuple[str, ...]:
    """The candidate kinds whose decisions stand on a candidate of `kind`: a decision on a pair of arrivals is
    about whether they are one person, so it settles the pair whether a face or a name found it."""
    return PAIR_KINDS if kind in PAIR_KINDS else (kind,)


def review_history(store: Store, arrival_id: str, kind: str, ref: str) -> list[ReviewEntry]:
    """Every decision on one candidate (on a pair of arrivals, whatever found it and from either side: the later
    arrival's review of the earlier decides the earlier's candidate too, as the queue counts it), oldest first;
    the last one is in force."""
    store.check_indexes_once("reviews")  # a decision left out of the index would show the candidate undecided
    kinds = decided_kinds(kind)
    marks = ",".join("?" * len(kinds))
    sides = [(arrival_id, ref), (ref, arrival_id)] if kind in PAIR_KINDS else [(arrival_id, ref)]
    where = " OR ".join(f"(arrival_id = ? AND kind IN ({marks}) AND ref = ?)" for _ in sides)
    return [
        ReviewEntry(r["id"], r["decision"], r["reason"], r["officer"], r["at"], r["supersedes"])
        for r in store.rows("reviews", where, [v for a, b in sides for v in (a, *kinds, b)], order_by="id")
    ]


def candidates(store: Store, arrival_id: str) -> list[dict[str, Any]]:
    """The candidates of the arrival's latest search, best first, as stored (their row ids first), each with
    who it points at (`CandidateView`), its review history under `reviews`, and its matcher's calibrated
    threshold under `calibrated_threshold` (the search's `threshold` differs when it was overridden)."""
    arrival = get(store, arrival_id)
    last = store.db.execute("SELECT max(id) FROM searches WHERE arrival_id = ?", [arrival_id]).fetchone()[0]
    if last is None:
        return []
    out = []
    calibrated: dict[str | None, float | None] = {}
    for c in store.rows("candidates", "search_id = ?", [last], order_by="rank"):
        shown = _candidate_view(store, c, arrival["details"], arrival["vessel"], arrival["landed_day"])
        view = dict(c) | shown.as_json()
        view["reviews"] = [r.as_json() for r in review_history(store, arrival_id, c["kind"], c["ref"])]
        if c["kind"] == name_keys.BIOGRAPHIC:  # judged by no matcher or threshold
            view["calibrated_threshold"] = None
            out.append(view)
            continue
        view.pop("score", None)
        if c["matcher"] not in calibrated:
            calibrated[c["matcher"]] = calibrated_threshold(store, c["matcher"])
        view["calibrated_threshold"] = calibrated[c["matcher"]]
        out.append(view)
    return out


def latest_search(store: Store, arrival_id: str) -> dict[str, Any] | None:
    """The arrival's latest search as recorded (when, by whom, matcher, threshold, method), with its
    matcher's calibrated threshold beside the threshold it used; None when it was never searched."""
    rows = store.rows("searches", "arrival_id = ?", [arrival_id], order_by="id")
    if not rows:
        return None
    s = rows[-1]
    return {
        "at": s["at"],
        "officer": s["officer"],
        "matcher": s["matcher"],
        "threshold": s["threshold"],
        "calibrated_threshold": calibrated_threshold(store, s["matcher"]),
        "top_k": s["top_k"],
        "method": s["method"],
    }


def show(store: Store, arrival_id: str, *, officer: str) -> dict:
    arrival = get(store, arrival_id)
    arrival.pop("source_key", None)
    arrival.pop(SOURCE, None)
    arrival["candidates"] = candidates(store, arrival_id)
    arrival["search"] = latest_search(store, arrival_id)
    flagged = safeguarding.flag_reasons(store, [arrival] if arrival["safeguarding"] else [])
    arrival["safeguarding_reasons"] = [r.as_json() for r in flagged.get(arrival_id, [])]
    arrival |= safeguarding.ages(arrival["details"], arrival["landed_day"])
    with store.transaction():
        store.audit("arrival-show", officer, arrival_id=arrival_id, records=[f"arrival:{arrival_id}"])
    return arrival


def count_arrivals(store: Store, *, day: str | None = None) -> int:
    """How many arrivals `list_arrivals` would list without `latest`."""
    store.check_indexes_once("arrivals")  # an arrival left out of the index would be left out of the count
    return store.count("arrivals", *(("landed_day = ?", [day]) if day else ()))


def list_arrivals(store: Store, *, officer: str, day: str | None = None, latest: int | None = None) -> list[dict]:
    """The arrivals (of one local day), oldest first; with `latest`, only the last that many landed, so that a
    year's home is not opened row by row for a table that shows its end."""
    where: str | None = "landed_day = ?" if day else None
    params: list[str | int] = [day] if day else []
    if latest is not None:
        where = (
            f"rowid IN (SELECT rowid FROM arrivals{' WHERE ' + where if where else ''} ORDER BY landed_at DESC LIMIT ?)"
        )
        params = [*params, latest]
    store.check_indexes_once("arrivals", "searches", "candidates")  # an arrival, or its alerts, left out unseen
    rows = store.rows("arrivals", where, params, order_by="landed_at")
    out = [
        {
            "arrival_id": r["id"],
            "landed_at": r["landed_at"],
            "landed_day": r["landed_day"],
            "site": r["site"],
            "vessel": r["vessel"],
            "name": Details.from_dict(r["details"]).full_name(),
            "safeguarding": bool(r["safeguarding"]),
            "quality_score": r["quality_score"],
            "alerts": store.count(
                "candidates",
                "arrival_id = ? AND below_threshold = 1 AND search_id = "
                "(SELECT max(id) FROM searches WHERE arrival_id = ?)",
                [r["id"], r["id"]],
            ),
            "training": bool(r["training"]),
            "void": is_void(r),
        }
        for r in rows
    ]
    with store.transaction():
        store.audit(
            "arrivals-list",
            officer,
            records=[f"day:{day}" if day else "all", *([f"latest:{latest}"] if latest is not None else [])],
        )
    return out


def search_again(
    store: Store,
    arrival_id: str,
    *,
    officer: str,
    top_k: int = DEFAULT_TOP_K,
    threshold: float | None = None,
    approximate: bool | None = None,
    matcher: str | None = None,
) -> Searched:
    arrival = get(store, arrival_id)
    if is_void(arrival):
        raise Conflict(f"arrival {arrival_id} was voided by {arrival['void']['officer']}; it is not searched any more")
    m = matchers.get(matcher or store.config.matcher, store.home)
    vectors = {}
    for model_id in m.model_ids:
        owners, matrix = store.load_templates(model_id, "arrival", [arrival_id])
        if owners:
            vectors[model_id] = matrix[0]
    with store.transaction():
        m, th, found, warnings = _search(
            store,
            arrival_id,
            vectors,
            officer=officer,
            top_k=top_k,
            threshold=threshold,
            matcher=m.name,
            approximate=approximate,
        )
        store.audit(
            "search",
            officer,
            arrival_id=arrival_id,
            records=[f"arrival:{arrival_id}"],
            reason=threshold_override(m, th) if th != m.threshold else None,
        )
    return Searched(
        arrival_id=arrival_id,
        threshold=th,
        calibrated_threshold=m.threshold,
        matcher=m.name,
        model_id=m.model_id,
        model_ids=list(m.model_ids),
        warnings=warnings,
        candidates=[
            _candidate_view(store, c.to_dict(), arrival["details"], arrival["vessel"], arrival["landed_day"])
            for c in found
        ]
        + biographic_views(store, arrival_id, arrival["details"], arrival["vessel"], arrival["landed_day"]),
    )


def flag_safeguarding(store: Store, arrival_id: str, *, reason: str, officer: str) -> dict:
    """Raise the safeguarding flag an officer judges necessary, e.g. for a person who claims to be an adult
    but appears to be a child. The flag is never lowered here; the reason is kept in the audit trail."""
    reason = reason_text(reason, "this arrival needs safeguarding")
    arrival = live(store, arrival_id)
    with store.transaction():
        store.update("arrivals", arrival_id, {"safeguarding": 1})
        store.audit(
            "safeguarding-flag", officer, arrival_id=arrival_id, records=[f"arrival:{arrival_id}"], reason=reason
        )
    return {
        "arrival_id": arrival_id,
        "safeguarding": True,
        "was_flagged": bool(arrival["safeguarding"]),
        "officer": officer,
        "reason": reason,
        "training": bool(arrival["training"]),
    }
