"""A whole boat from a manifest: one CSV row per person, with a photo path (relative to the manifest) and
the same details `triage capture` takes.

Each row is checked before its photo is analysed; photos go through the face pipeline in worker
processes (one per core), and each arrival lands here, in this process, in its own transaction. So a
bad row is reported and the rest carry on, and an interrupted batch keeps what landed. A row is known
by its photo (the file's bytes and its name), not by its other cells: running the manifest again lands
only the rows that have not landed, even after a column was added or a cell corrected; a row landed
before whose details now differ is reported as such, for `triage arrivals amend` to correct.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from triage import workers
from triage.casework import arrivals, corrections
from triage.errors import HOME_ERRORS, BadInput, Faults, TriageError
from triage.faces import analysis, encoders, matchers
from triage.intake import csvtext, mrz, photos
from triage.intake.biographic import Details, DetailText, parse_landed_at
from triage.intake.refs import parse_vessel
from triage.store.config import load_config
from triage.store.rows import Store

# The columns a manifest may have, named as `triage capture`'s flags (`triage capture-batch --help` says
# what goes in each). Headers are matched without regard to case, '-', '_' or spaces.
COLUMNS = (
    "photo",
    "surname",
    "given_names",
    "alias",
    "dob",
    "age",
    "sex",
    "nationality",
    "place_of_birth",
    "language",
    "document_type",
    "document_number",
    "document_state",
    "document_expiry",
    "phone",
    "notes",
    "mrz",
    "vessel",
    "landed_at",
    "face",
)
LIST_COLUMNS = {"alias": "aliases", "language": "languages", "phone": "phones"}  # several values, separated by ';'
PLURALS = {"aliases": "alias", "languages": "language", "phones": "phone", "date_of_birth": "dob"}
MAX_MANIFEST_BYTES = 10 * 1024 * 1024
PHOTO_TIMEOUT = 120.0  # seconds one photo may take in a worker before it is given up


@dataclass
class Row:
    number: int  # 1 is the first record after the header (blank lines are skipped but counted)
    fields: dict[str, str]
    overflow: bool = False  # more values than the header has columns
    headers: dict[str, str] = field(default_factory=dict)  # column -> its header as the file writes it


@dataclass
class Prepared:
    """A row whose details passed, with its photo read and its idempotency key made."""

    row: Row
    photo: Path
    details: Details
    vessel: str | None
    landed_at: str | None
    face_index: int | None
    key: str
    warnings: list[str]
    earlier_key: str | None = None  # the key a row had when it was known by all its cells


@dataclass
class Landed:
    """A row that landed now, with what its capture found."""

    row: int
    photo: str  # as the manifest gives it
    arrival_id: str
    name: str
    safeguarding: bool
    quality_score: int
    threshold: float
    candidates: list[arrivals.CandidateView]
    warnings: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "photo": self.photo,
            "arrival_id": self.arrival_id,
            "name": self.name,
            "safeguarding": self.safeguarding,
            "quality_score": self.quality_score,
            "threshold": self.threshold,
            "candidates": [c.as_json() for c in self.candidates],
            "warnings": list(self.warnings),
        }


@dataclass
class LandedBefore:
    """A row whose photo an earlier run (or an earlier row of this one) landed already; `differs` names the
    details the row gives that the arrival, as it stands, does not have (to correct with an amendment)."""

    row: int
    photo: str
    arrival_id: str
    differs: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def note(self) -> str:
        """One line saying what became of the row."""
        line = f"row {self.row} already landed as {self.arrival_id}"
        if self.differs:
            line += f"; details differ ({', '.join(self.differs)}): use triage arrivals amend"
        return line


@dataclass
class Refused:
    """A row that cannot land, with its one-line reason."""

    row: int
    photo: str
    status: str  # the error's exit status, in lower case (bad_input, no_face ...)
    reason: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    manifest: str
    rows: int = 0
    landed: list[Landed] = field(default_factory=list)
    already_landed: list[LandedBefore] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    def in_row_order(self) -> tuple[list[Landed], list[LandedBefore], list[Refused]]:
        """Each kind of outcome in manifest order (workers finish in any order)."""
        return (
            sorted(self.landed, key=lambda r: r.row),
            sorted(self.already_landed, key=lambda r: r.row),
            sorted(self.refused, key=lambda r: r.row),
        )

    def as_json(self) -> dict[str, Any]:
        """Counts, then each kind of outcome in manifest order."""
        landed, before, refused = self.in_row_order()
        return {
            "manifest": self.manifest,
            "rows": self.rows,
            "landed": len(self.landed),
            "already_landed": len(self.already_landed),
            "refused": len(self.refused),
            "arrivals": [r.as_json() for r in landed],
            "duplicates": [r.as_json() for r in before],
            "refusals": [r.as_json() for r in refused],
        }


def column_name(header: str) -> str:
    """The column a header names: case, '-', '_' and spaces do not matter, and a plural is its column."""
    name = "_".join(header.strip().lower().replace("-", " ").replace("_", " ").split())
    return PLURALS.get(name, name)


def face_number(text: str, field: str) -> int:
    """Which face of a group photo a manifest row or a sidecar names: 1 = the largest."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise BadInput(f"{field}: {text!r} is not a face number (1 = the largest face)")
    return int(text)


def read(path: Path) -> list[Row]:
    """The manifest's rows. A header this tool does not know is refused for the whole manifest, since a
    misspelt column would otherwise be ignored on every row without anyone noticing."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() == ".csv")
        raise BadInput(
            f"{path}: a folder; give its manifest CSV"
            + (f", e.g. {path / inside[0]}" if inside else " (one row per person: photo, surname, ...)")
        )
    if not path.is_file():
        raise BadInput(f"{path}: no such manifest file")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BadInput(f"{path}: over {MAX_MANIFEST_BYTES // (1024 * 1024)} MB; split the manifest")
    with open(path, "rb") as f:
        opening = f.read(64)
    if opening.startswith((b"age-encryption.org/", b"-----BEGIN AGE ENCRYPTED FILE-----")):
        raise BadInput(
            f"{path}: an encrypted batch or watchlist package, not a manifest",
            hint="a batch is merged with `triage import` (at a hub, `triage hub import`); a package with "
            "`triage watchlist receive`",
        )
    if opening.startswith((b"\xff\xd8\xff", b"\x89PNG", b"II*\0", b"MM\0*")) or opening[4:8] == b"ftyp":
        raise BadInput(
            f"{path}: a photo, not a manifest",
            hint="one photo is captured with `triage capture --photo`; capture-batch takes a CSV of one row per "
            "person (photo, surname, ...)",
        )
    records = csvtext.records(path)
    blank = [not any(cell.strip() for cell in r) for r in records]
    if all(blank):
        raise BadInput(f"{path}: the manifest is empty; its first line names the columns (photo, surname, ...)")
    start = blank.index(False)
    header = [column_name(h) for h in records[start]]
    written = {column: h.strip() for column, h in zip(header, records[start])}
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise BadInput(
            f"{path}: unknown column {unknown[0]!r}; the columns are {', '.join(COLUMNS)}",
            hint=csvtext.separator_hint(records[start], "a manifest"),
        )
    if len(set(header)) < len(header):
        raise BadInput(f"{path}: a column appears twice in the header")
    if "photo" not in header:
        raise BadInput(f"{path}: no photo column; each row needs the path of the person's photo")
    rows = []
    for n, cells in enumerate(records[start + 1 :], 1):
        if blank[start + n]:
            continue
        rows.append(
            Row(
                n,
                {h: cells[i].strip() if i < len(cells) else "" for i, h in enumerate(header)},
                overflow=len(cells) > len(header),
                headers=written,
            )
        )
    if not rows:
        raise BadInput(f"{path}: the manifest has a header but no rows")
    return rows


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


@dataclass
class Checked:
    """A row's cells as checked: the details, and where, when and which face they say."""

    details: Details
    vessel: str | None
    landed_at: str | None
    face_index: int | None
    warnings: list[str]


def prepare(
    store: Store, row: Row, base: Path, *, vessel: str | None, landed_at: str | None, today: dt.date
) -> tuple[Prepared, bytes]:
    """Check a row's details and read its photo's bytes; raises the row's one-line reason."""
    f = row.fields
    if row.overflow:
        raise BadInput("more values than the header has columns (a comma inside a value needs quotes)")
    if not f.get("photo"):
        raise BadInput("no photo given")
    checked = check_cells(store, row, vessel=vessel, landed_at=landed_at, today=today)
    path = Path(f["photo"]).expanduser()
    path = path if path.is_absolute() else base / path
    data = photos.read_file(path)
    key = arrivals.photo_key(data, Path(f["photo"]).name, checked.face_index)
    earlier_key = arrivals.source_key(data, f)
    return Prepared(
        row,
        path,
        checked.details,
        checked.vessel,
        checked.landed_at,
        checked.face_index,
        key,
        checked.warnings,
        earlier_key,
    ), data


def detail_text(cells: dict[str, str]) -> DetailText:
    """The details a row's cells give (keyed by column), as typed, not yet checked."""
    given: dict[str, Any] = {
        LIST_COLUMNS.get(c, c): (_split(v) if c in LIST_COLUMNS else v)
        for c, v in cells.items()
        if c not in ("photo", "mrz", "vessel", "landed_at", "face")
    }
    return DetailText(**given)


def check_cells(store: Store, row: Row, *, vessel: str | None, landed_at: str | None, today: dt.date) -> Checked:
    """Check a row's cells other than its photo, every wrong one named at once; `vessel` and `landed_at`
    apply where the row gives none."""
    f = row.fields
    text = detail_text(f)

    def column(name: str) -> str:
        return f"column {row.headers.get(name, name)}"

    faults = Faults()  # every wrong cell of the row, reported together
    details = faults.check(text.build, today, column)
    warnings: list[str] = []
    if f.get("mrz"):
        zone = faults.check(mrz.parse, f["mrz"], today)
        if zone is not None and details is not None:
            details, warnings = mrz.apply(zone, details, today)
    face_index = faults.check(face_number, f["face"], column("face")) if f.get("face") else None
    when = (
        faults.check(parse_landed_at, f["landed_at"], store.config.timezone, column("landed_at"))
        if f.get("landed_at")
        else landed_at
    )
    landed_from = faults.check(parse_vessel, f["vessel"], column("vessel")) if f.get("vessel") else None
    faults.raise_any()
    assert details is not None  # raise_any raised when the details were refused
    return Checked(details, landed_from or vessel, when, face_index, warnings)


def details_differ(arrival: dict[str, Any], details: Details) -> list[str]:
    """The details given now, for a photo an earlier capture landed, that the arrival (as read) holds otherwise: for
    `triage arrivals amend` to correct. A detail not given now is no difference."""
    given = details.to_dict()
    return [n for n in corrections.differing(given, arrival["details"]) if corrections.comparable(given)[n] is not None]


def landed_as(store: Store, prepared: Prepared) -> str | None:
    """The arrival an earlier run landed from this row's photo, if any."""
    found = arrivals.already_landed(store, prepared.key)
    if found is None and prepared.earlier_key:
        found = arrivals.already_landed(store, prepared.earlier_key)
    return found


def early_workers(home: Path, matcher: str | None, count: int) -> workers.Started | None:
    """The batch's workers, started before the home is unlocked (their models load meanwhile), for the face
    pipeline the home's configuration names; None when it cannot tell (`land` then starts its own)."""
    try:
        config = load_config(home)
        ids = [mid for name in (config.matcher, matcher) if name for mid in matchers.get(name, home).model_ids]
        pipeline = encoders.pipeline(dict.fromkeys(ids), home)
    except (TriageError, OSError, ValueError):
        return None
    return workers.Started(analysis.analyse_bytes, pipeline.load, count)


def land(
    store: Store,
    path: Path,
    *,
    officer: str,
    vessel: str | None = None,
    landed_at: str | None = None,
    workers_count: int | None = None,
    timeout: float = PHOTO_TIMEOUT,
    top_k: int = arrivals.DEFAULT_TOP_K,
    threshold: float | None = None,
    today: dt.date | None = None,
    matcher: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    started: workers.Started | None = None,
) -> Report:
    """Land every row of a manifest that can be landed; report the others with their reasons.

    Rows are read and checked one at a time as workers free up, so a long manifest never holds more
    than a few photos in memory. Only errors of the store itself (a full disk) stop the batch. Workers
    `started` ahead (`early_workers`) are used when they run this batch's face pipeline."""
    if threshold is not None:  # refused once, before any photo is read
        matchers.get(matcher or store.config.matcher, store.home).checked(threshold)
    path = Path(path)
    rows = read(path)
    today = today or dt.date.today()
    landed_default = parse_landed_at(landed_at, store.config.timezone) if landed_at else None
    report = Report(str(path), len(rows))
    waiting: dict[object, Prepared] = {}  # row number -> the row, while a worker has its photo
    done = 0
    if progress:
        progress(0, len(rows))

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, len(rows))

    def refuse(row: Row, error: TriageError) -> None:
        report.refused.append(Refused(row.number, row.fields.get("photo", ""), error.status.name.lower(), str(error)))
        tick()

    def landed_before(prepared: Prepared, arrival_id: str) -> None:
        differs = details_differ(arrivals.get(store, arrival_id), prepared.details)
        report.already_landed.append(
            LandedBefore(prepared.row.number, prepared.row.fields["photo"], arrival_id, differs)
        )
        tick()

    rows_of: dict[str, int] = {}  # a photo and face's key -> the first row of this manifest that names them

    def jobs() -> Iterator[tuple[int, tuple[object, ...]]]:
        for row in rows:
            try:
                prepared, data = prepare(store, row, path.parent, vessel=vessel, landed_at=landed_default, today=today)
                first = rows_of.setdefault(prepared.key, row.number)
                if first != row.number:  # two people given one face: landing it once, or twice, would be wrong
                    raise BadInput(
                        f"the same photo and face as row {first}; if they are two people of one group photo, give "
                        "each its own number in the face column (1 = largest)"
                    )
            except HOME_ERRORS:  # the home's, not the row's: no later row would land either
                raise
            except TriageError as e:
                refuse(row, e)
                continue
            earlier = landed_as(store, prepared)
            if earlier:
                landed_before(prepared, earlier)
                continue
            waiting[row.number] = prepared
            yield row.number, (data, str(prepared.photo), "probe", prepared.face_index, None, pipeline)

    pipeline = matchers.pipeline_for(store, matcher)
    for outcome in workers.run(
        analysis.analyse_bytes,
        jobs(),
        workers=workers_count or workers.cores(),
        timeout=timeout,
        initializer=pipeline.load,
        started=started,
    ):
        prepared = waiting.pop(outcome.key)
        if outcome.error is not None:
            refuse(prepared.row, outcome.error)
            continue
        result = cast(analysis.Analysis, outcome.value)
        earlier = landed_as(store, prepared)
        if earlier:  # the same photo twice in one manifest
            landed_before(prepared, earlier)
            continue
        try:
            landed = arrivals.capture(
                store,
                result.photo,
                prepared.details,
                officer=officer,
                vessel=prepared.vessel,
                landed_at=prepared.landed_at,
                idempotency_key=prepared.key,
                top_k=top_k,
                threshold=threshold,
                analysed=result,
                matcher=matcher,
            )
        except HOME_ERRORS:
            raise
        except TriageError as e:
            refuse(prepared.row, e)
            continue
        report.landed.append(
            Landed(
                row=prepared.row.number,
                photo=prepared.row.fields["photo"],
                arrival_id=landed.arrival_id,
                name=prepared.details.full_name(),
                safeguarding=landed.safeguarding,
                quality_score=landed.quality.score,
                threshold=landed.threshold,
                candidates=landed.candidates,
                warnings=prepared.warnings + landed.warnings,
            )
        )
        tick()
    with store.transaction():
        store.audit(
            "capture-batch",
            officer,
            records=[f"arrival:{a.arrival_id}" for a in report.landed][:500],
            reason=f"manifest {path.name}: {len(report.landed)} landed, {len(report.already_landed)} "
            f"already landed, {len(report.refused)} refused",
        )
    return report
