"""`triage capture`, `triage capture-batch` and `triage quality`: a new arrival at the landing site, a whole
boat from a manifest, and a photo's verdict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from triage.cli.common import (
    AliasOpt,
    DobOpt,
    FaceOpt,
    HomeOpt,
    JsonOpt,
    MatcherOpt,
    OfficerOpt,
    ThresholdOpt,
    TopOpt,
    WorkersOpt,
    detail_label,
    detail_value,
    emit,
    err,
    home_path,
    interactive_option,
    landed_at_option,
    low_quality_option,
    notes_option,
    officer_of,
    open_store,
    out,
    progress_bar,
    reason_option,
    say,
    stdout_closed,
    training_banner,
    utc_text,
    vessel_option,
    warn,
)
from triage.intake.refs import parse_vessel

if TYPE_CHECKING:
    import datetime as dt

    from triage.casework.arrivals import Captured
    from triage.casework.manifest import Report
    from triage.casework.session import LandedBefore, Landing
    from triage.faces.quality import QualityReport
    from triage.intake.biographic import Details
    from triage.intake.mrz import MRZ


def register(app: typer.Typer) -> None:
    app.command("capture")(capture)
    app.command("capture-batch")(capture_batch)
    app.command("quality")(quality)


def threshold_text(threshold: float, calibrated: float | None) -> str:
    """A search's threshold as a person reads it; one given with --threshold is shown as the override it is,
    beside the matcher's calibrated threshold."""
    if calibrated is None or threshold == calibrated:
        return f"threshold {threshold:.2f}"
    places = 2 if f"{threshold:.2f}" != f"{calibrated:.2f}" else 4
    return f"threshold {threshold:.{places}f} (override; calibrated {calibrated:.{places}f})"


def biographic_text(c: dict[str, Any]) -> str:
    """A biographic candidate's evidence as the officer reads it: what agrees, never a match."""
    return str(c.get("evidence") or "biographic: name and date of birth agree")


def render_candidates(candidates: list[dict[str, Any]], threshold: float, calibrated: float | None = None) -> None:
    """Candidates for review, best first; the wording never claims an identification. A threshold given
    with --threshold is named as an override, with the calibrated one beside it."""
    judged = threshold_text(threshold, calibrated)
    if not candidates:
        out.print(f"No candidates ({judged}).", markup=False)
        return
    first = next((c for c in candidates if c["kind"] != "biographic"), candidates[0])
    models = first.get("model_ids") or ([first["model_id"]] if first.get("model_id") else ["names"])
    overridden = calibrated is not None and threshold != calibrated
    table = Table(
        Column("#", no_wrap=True),
        "kind",
        Column("ref", no_wrap=True),
        "who",
        "distance",
        "threshold",
        "",
        title="Candidates for human review "
        + escape(f"({first.get('matcher') or 'dlib'}: {', '.join(models)})")
        + (escape(f", {judged}") if overridden else ""),
    )
    for c in candidates:
        who = (c.get("name") or "") + (" SAFEGUARDING" if c.get("safeguarding") else "")  # an earlier arrival flagged
        if c["kind"] == "watchlist" and c.get("category"):
            who = f"{who} [{c['category']}]"  # as review and the drafts show it
        elif c.get("differences"):
            who += " — differs: " + ", ".join(sorted({detail_label(k) for k in c["differences"]}))
        if c.get("same_vessel"):
            who += " — SAME VESSEL: a candidate who landed earlier from this vessel"
        if c["kind"] == "biographic":  # weaker evidence: no distance or threshold, a reason to look
            table.add_row(
                str(c["rank"]), c["kind"], Text(c["ref"]), Text(who), "-", "-", Text(biographic_text(c) + " — review")
            )
            continue
        table.add_row(
            str(c["rank"]),
            c["kind"],
            Text(c["ref"]),
            Text(who),
            f"{c['distance']:.3f}",
            f"{c['threshold']:.2f}",
            "[bold red]below threshold — review[/]" if c["below_threshold"] else "above",
        )
    out.print(table)


def capture(
    photo: Path | None = typer.Option(None, "--photo", help="Photo file (JPEG, PNG, HEIC)."),
    camera: str | None = typer.Option(None, "--camera", help="Camera index, device path, or video file/stream."),
    watch: Path | None = typer.Option(
        None,
        "--watch",
        help="Capture each new photo that appears in this folder, once it is complete, with the details of its "
        "sidecar PHOTO.json if any; one JSON line per photo; Ctrl-C or SIGTERM stops.",
    ),
    settle: float = typer.Option(
        1.0, "--settle", min=0.0, help="With --watch: seconds a photo without a sidecar must stay unchanged."
    ),
    surname: str | None = typer.Option(None, "--surname", help="Surname as given, in any script."),
    given_names: str | None = typer.Option(None, "--given-names", help="Given names as given, in any script."),
    alias: AliasOpt = None,
    dob: DobOpt = None,
    age: str | None = typer.Option(None, "--age", help="Assessed age or range when there is no document, e.g. 16-18."),
    sex: str | None = typer.Option(None, "--sex", help="F, M or X."),
    nationality: str | None = typer.Option(None, "--nationality", help="Country name or ISO code."),
    place_of_birth: str | None = typer.Option(None, "--place-of-birth"),
    language: list[str] = typer.Option([], "--language", help="Language spoken (repeatable)."),
    document_type: str | None = typer.Option(None, "--document-type", help="passport, id-card, none ..."),
    document_number: str | None = typer.Option(None, "--document-number"),
    document_state: str | None = typer.Option(None, "--document-state", help="Issuing state (name or code)."),
    document_expiry: str | None = typer.Option(None, "--document-expiry", help="YYYY-MM-DD."),
    phone: list[str] = typer.Option([], "--phone", help="Phone number seen (repeatable)."),
    notes: Annotated[str | None, notes_option("Free-text officer notes.")] = None,
    mrz_text: str | None = typer.Option(
        None, "--mrz", help="The document's machine-readable zone (quote it; lines separated by newlines or spaces)."
    ),
    mrz_file: Path | None = typer.Option(None, "--mrz-file", help="A text file holding the machine-readable zone."),
    vessel: Annotated[str | None, vessel_option("Vessel reference.")] = None,
    landed_at: Annotated[str | None, landed_at_option("Time of landing (ISO 8601; default now).")] = None,
    face: FaceOpt = None,
    accept_low_quality: Annotated[bool, low_quality_option("Override a quality refusal (needs --reason).")] = False,
    reason: Annotated[str | None, reason_option("Why the quality override is justified.")] = None,
    interactive: Annotated[
        bool | None,
        interactive_option(
            "Ask for the details at the terminal. Default: ask when no detail flag, --mrz or --json is given "
            "and standard input is a terminal."
        ),
    ] = None,
    top: TopOpt = 5,
    threshold: ThresholdOpt = None,
    matcher: MatcherOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Capture a new arrival: quality gate, encode, store, and search the watchlist and earlier arrivals.

    Details not given are recorded as not given: the photo alone is a valid capture. A machine-readable
    zone (--mrz) fills in what was not typed; where it disagrees with what was typed, the typed value is
    kept and the disagreement is shown and recorded.

    A photo file is known by its bytes, its name and the face (as capture-batch knows it): run again with
    the same photo and face (after a kill hid whether it landed), capture says which arrival it landed as
    and what of it awaits review, records nothing, and exits 0 (--json: "already_landed": true). Another
    --face of a group photo is another person. A photo whose arrival was voided since lands anew.

    Examples:

      triage capture --photo arrival.jpg --surname "حسين" --given-names "محمد" --dob 1995 --nationality Sudan --vessel SB-0417

      triage capture --photo arrival.heic --mrz-file passport-mrz.txt --dob 1974-08-12

      triage capture --camera 0 --age 15-17 --json

      triage capture --watch /media/phone/DCIM --vessel SB-0417
    """
    import datetime as dt

    from triage.casework import arrivals
    from triage.errors import UsageError
    from triage.faces import analysis, matchers
    from triage.intake import mrz, photos
    from triage.intake.biographic import DetailText, parse_landed_at

    if watch is not None:
        one_photo: list[object] = [
            photo,
            camera,
            surname,
            given_names,
            dob,
            age,
            sex,
            nationality,
            place_of_birth,
            document_type,
        ]
        one_photo += [document_number, document_state, document_expiry, notes, mrz_text, mrz_file, face, interactive]
        if any(v is not None for v in one_photo) or alias or language or phone or accept_low_quality:
            raise UsageError(
                "--watch takes each photo's details from its sidecar PHOTO.json; with it give only --vessel, "
                "--landed-at, --settle, --top, --threshold, --matcher, --officer and --home"
            )
        _watch_folder(watch, settle, vessel, landed_at, top, threshold, matcher, officer, home)
        return
    if (photo is None) == (camera is None):
        raise UsageError("give exactly one of --photo or --camera (or --watch DIR for photos dropped into a folder)")
    if mrz_text is not None and mrz_file is not None:
        raise UsageError("give --mrz or --mrz-file, not both")
    if accept_low_quality and not (reason and reason.strip()):
        raise UsageError("--accept-low-quality needs --reason saying why the photo must be used")
    text = DetailText(
        surname=surname,
        given_names=given_names,
        aliases=alias or [],
        dob=dob,
        age=age,
        sex=sex,
        nationality=nationality,
        place_of_birth=place_of_birth,
        languages=language,
        document_type=document_type,
        document_number=document_number,
        document_state=document_state,
        document_expiry=document_expiry,
        phones=phone,
        notes=notes,
    )
    if mrz_file is not None:
        mrz_text = _read_mrz_file(mrz_file)
    today = dt.date.today()
    zone = mrz.parse(mrz_text, today) if mrz_text is not None else None
    details = text.build(today)  # flags are checked before anything else happens
    vessel = parse_vessel(vessel) if vessel is not None else None
    if interactive is None:
        interactive = not text.given() and zone is None and not json_out and sys.stdin.isatty()
    store = open_store(home)
    training_banner(store)
    _say_if_no_valid_watchlist(store)
    who = officer_of(store, officer)
    landed = parse_landed_at(landed_at, store.config.timezone) if landed_at else None
    if camera is not None:
        from triage.intake.camera import best_frame

        pipeline = matchers.pipeline_for(store, matcher)
        pic, scores = best_frame(camera, lambda frame: analysis.inspect(frame, "probe", pipeline=pipeline)[0].score)
        err.print(f"camera {camera}: {len(scores)} frames, best quality score {max(scores)}", markup=False)
    elif photo is not None:
        pic = photos.read_photo(photo)
    # A file is known by its bytes, its name and the face, as capture-batch and the session know it: run again
    # (after a kill hid whether it landed), the command says where it landed and records nothing.
    key = void_before = None
    if photo is not None:
        from triage.casework.session import photo_landed_before

        key = arrivals.photo_key(pic.original, photo.name, face)
        before, void_before = photo_landed_before(
            store,
            key,
            photo=str(photo),
            face=face,
            details=None if interactive else _with_zone(details, zone, today)[0],
        )
        if before is not None:
            emit(before, json_out, render_landed_before)
            return
    override = reason if accept_low_quality else None
    analysed = None
    if interactive:  # judge the photo first, so nobody types details for a photo that will be refused
        from triage.cli.prompts import ask_details, confirm

        analysed = analysis.analyse(
            pic, "probe", face_index=face, override_reason=override, pipeline=matchers.pipeline_for(store, matcher)
        )
        try:
            while True:
                text = ask_details(text)
                details, disagreements = _with_zone(text.build(today), zone, today)
                if confirm(details, disagreements, today):
                    break
                err.print("Nothing saved yet; change what is wrong (Enter keeps an answer).")
        except EOFError:  # input ended: nothing saved
            raise typer.Abort() from None
    else:
        details, disagreements = _with_zone(details, zone, today)
    result = arrivals.capture(
        store,
        pic,
        details,
        officer=who,
        vessel=vessel,
        landed_at=landed,
        face_index=face,
        override_reason=override,
        top_k=top,
        threshold=threshold,
        analysed=analysed,
        matcher=matcher,
        idempotency_key=key,
        anew_after_void=void_before is not None,
    )
    result.warnings = disagreements + result.warnings
    for w in result.warnings:
        warn(w)
    emit(result, json_out, render_capture)


def _watch_folder(
    folder: Path,
    settle: float,
    vessel: str | None,
    landed_at: str | None,
    top: int,
    threshold: float | None,
    matcher: str | None,
    officer: str | None,
    home: Path | None,
) -> None:
    """`capture --watch`: every complete photo in the folder captured once, one JSON line each on stdout, until
    Ctrl-C or SIGTERM, which end the photo in hand first and exit 0 with a summary on stderr."""
    import json
    import signal

    from triage.casework.session import land_watched
    from triage.intake.watch import FolderWatch

    watcher = FolderWatch(
        folder,
        settle=settle,
        on_hold=lambda path, why: warn(f"{path.name}: {why}"),
        on_misnamed=lambda path, why: warn(f"{path.name}: {why}"),
    )
    landing, landed = open_landing(
        home, officer, parse_vessel(vessel) if vessel is not None else None, landed_at, top, threshold, matcher
    )
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    counts = {"landed": 0, "already landed": 0}
    refused: set[str] = set()  # photos refused and not landed since (a corrected sidecar lands one later)
    err.print(f"Watching {escape(str(folder))} for photos; Ctrl-C stops.", highlight=False)
    try:
        while (arrived := watcher.wait(stop=lambda: bool(stopping))) is not None:
            outcome = land_watched(landing, arrived, landed_at=landed)
            if outcome.landed_before:
                counts["already landed"] += 1
                err.print(f"{arrived.path.name}: already landed as {outcome.landed_before}", markup=False)
                continue
            try:
                sys.stdout.write(json.dumps(outcome.as_json(), ensure_ascii=False, default=str) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:  # the reader has gone: the arrival is landed all the same, and said below
                stdout_closed()
            if outcome.captured is None:
                refused.add(arrived.path.name)
                watcher.refused(arrived)  # a corrected sidecar hands it over again
                warn(f"{arrived.path.name} refused: {outcome.reason}")
            else:
                refused.discard(arrived.path.name)
                counts["landed"] += 1
                for w in outcome.as_json()["warnings"]:
                    warn(f"{arrived.path.name}: {w}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err.print(
        f"Stopped watching {folder}: {counts['landed']} landed, {len(refused)} refused"
        + (f" ({', '.join(sorted(refused))})" if refused else "")
        + f", {counts['already landed']} already landed before"
        + (f", {len(watcher.held_back)} not complete ({', '.join(watcher.held_back)})" if watcher.held_back else "")
        + ".",
        markup=False,
    )


def open_landing(
    home: Path | None,
    officer: str | None,
    vessel: str | None,
    landed_at: str | None,
    top: int,
    threshold: float | None,
    matcher: str | None,
) -> tuple[Landing, str | None]:
    """The home opened for a run of arrivals (`capture --watch`, `session`), its models loading while the
    passphrase is checked, and the landing time given, in UTC. The loading has ended when this returns or
    raises (a refusal at unlock, a wrong passphrase, Ctrl-C), so the process never exits while it runs."""
    from triage.casework.session import Landing, start_loading
    from triage.intake.biographic import parse_landed_at

    loaded = start_loading(home_path(home), matcher)
    try:
        store = open_store(home)
        training_banner(store)
        _say_if_no_valid_watchlist(store)
        who = officer_of(store, officer)
        landed = parse_landed_at(landed_at, store.config.timezone) if landed_at else None
    finally:
        loaded()
    return Landing(store, who, vessel=vessel, matcher=matcher, top_k=top, threshold=threshold), landed


def _say_if_no_valid_watchlist(store) -> None:
    """A watchlist package past its valid-until is not searched: every capture says so."""
    from triage.casework import issued

    for sentence in issued.no_valid_watchlist(store):
        warn(sentence)


def render_capture(result: Captured) -> None:
    flag = "  [bold red]SAFEGUARDING[/]" if result.safeguarding else ""
    out.print(f"Arrival [bold]{result.arrival_id}[/] captured (quality {result.quality.score}/100).{flag}")
    render_candidates([c.as_json() for c in result.candidates], result.threshold, result.calibrated_threshold)


def render_landed_before(before: LandedBefore) -> None:
    """A photo captured again: where it landed, what of it awaits review (counted, not shown: `triage review`
    shows it, audited), and what to do when the details given now differ or another face was meant."""
    face = f", face {before.face}," if before.face else ""
    vessel = f" from {before.vessel}" if before.vessel else ""
    say(
        out,
        f"{Path(before.photo).name}{face} landed before as arrival {before.arrival_id} ({utc_text(before.landed_at)} "
        f"UTC{vessel}, by {before.officer}); nothing new was recorded.",
    )
    waiting = [
        f"{n} {what}{'s' if n > 1 else ''}"
        for n, what in ((before.alerts, "watchlist alert"), (before.other_candidates, "other candidate"))
        if n
    ]
    if waiting:
        say(out, f"Awaiting review: {' and '.join(waiting)}; see them with: triage review {before.arrival_id}")
    else:
        say(out, f"No candidate of it awaits review (triage review {before.arrival_id} shows its candidates).")
    if before.differs:
        say(
            out,
            f"The details given now differ ({', '.join(before.differs)}): correct them with "
            f"triage arrivals amend {before.arrival_id}",
        )
    if (before.faces_in_photo or 0) > 1:
        say(
            out,
            f"The photo holds {before.faces_in_photo} faces: another of them is another person, captured with --face N.",
        )


def _with_zone(details: Details, zone: MRZ | None, today: dt.date) -> tuple[Details, list[str]]:
    """The details with the zone applied (blanks filled, disagreements listed), or as they were."""
    from triage.intake import mrz

    return mrz.apply(zone, details, today) if zone is not None else (details, [])


def _read_mrz_file(path: Path) -> str:
    from triage.errors import BadInput

    if not path.is_file():
        raise BadInput(f"--mrz-file {path}: " + ("a folder; give the file in it" if path.is_dir() else "no such file"))
    if path.stat().st_size > 4096:
        raise BadInput(f"--mrz-file {path}: too long for a machine-readable zone (at most 3 lines of 44 characters)")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"--mrz-file {path}: not UTF-8 text") from None


_early: dict[str, Any] = {}  # capture-batch's workers when `start_early` started them: {"workers": Started}


def start_early(args: list[str]) -> None:
    """Start `capture-batch`'s workers before the command line is built and parsed (which takes a fifth of a
    second), so that they load their models meanwhile: only when the arguments plainly name the command and
    any --home, --matcher and --workers. `land` uses them only if they run the batch's own pipeline (it
    checks), else stops them and starts its own; unused, they end with this process."""
    if args[:1] == ["--debug"]:
        args = args[1:]
    if args[:1] != ["capture-batch"]:
        return
    given: dict[str, str] = {}
    rest = iter(args[1:])
    for arg in rest:
        if arg in ("--help", "-h"):
            return
        name, equals, value = arg.partition("=")
        if name in ("--home", "--matcher", "--workers"):
            value = value if equals else next(rest, "")
            if not value or value.startswith("-"):
                return
            given[name] = value
    count = None
    if "--workers" in given:
        count = int(given["--workers"]) if given["--workers"].isdigit() else 0
        if not 1 <= count <= 64:  # the command refuses it
            return
    from triage import workers as pool
    from triage.casework import manifest

    home = given.get("--home")
    started = manifest.early_workers(
        home_path(Path(home) if home else None), given.get("--matcher"), count or pool.cores()
    )
    if started is not None:
        _early["workers"] = started


def capture_batch(
    manifest_file: Path = typer.Argument(..., help="The manifest CSV: one row per person."),
    vessel: Annotated[str | None, vessel_option("Vessel reference for rows that give none.")] = None,
    landed_at: Annotated[
        str | None, landed_at_option("Time of landing for rows that give none (ISO 8601; default now).")
    ] = None,
    workers: WorkersOpt = None,
    top: TopOpt = 5,
    threshold: ThresholdOpt = None,
    matcher: MatcherOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Capture a whole boat from a manifest: one CSV row per person, a photo and the details `triage capture` takes.

    The first line names the columns (case, '-', '_' and spaces do not matter); only photo is required:

    photo: path of the photo, relative to the manifest (JPEG, PNG, HEIC)
    surname, given_names: as given, in any script
    alias, language, phone: several values in one cell, separated by ';'
    dob: YYYY, YYYY-MM, YYYY-MM-DD, DD/MM/YYYY, DD.MM.YYYY or MM/YYYY; age: assessed age or range, e.g. 16-18
    sex: F, M or X; nationality, document_state: country name or code
    place_of_birth, document_type, document_number, notes: as text
    document_expiry: YYYY-MM-DD; landed_at: ISO 8601 (default --landed-at, else now)
    mrz: the document's machine-readable zone, its lines separated by line breaks or spaces
    vessel: vessel reference (default --vessel); face: which face when there are several (1 = largest)

    A bad row is reported with its reason and the rest carry on; running the same manifest again adds nothing
    (a row is known by its photo and its face, so two rows may name two faces of one group photo).
    Exit status 0 when every row landed (now or before), 3 when any row was refused.

    Example: triage capture-batch boat-SB-0417/manifest.csv --vessel SB-0417
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from triage import workers as pool
    from triage.casework import manifest
    from triage.errors import ExitStatus

    started = _early.pop("workers", None)
    store = None
    try:  # workers started early are stopped on every way out, a refusal of the arguments included
        vessel = parse_vessel(vessel) if vessel is not None else None
        if started is None:
            started = manifest.early_workers(home_path(home), matcher, workers or pool.cores())
        store = open_store(home)
        training_banner(store)
        _say_if_no_valid_watchlist(store)
        who = officer_of(store, officer)
        with progress_bar(TextColumn("capturing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
            task = bar.add_task("capture", total=None)
            report = manifest.land(
                store,
                manifest_file,
                officer=who,
                vessel=vessel,
                landed_at=landed_at,
                workers_count=workers,
                top_k=top,
                threshold=threshold,
                matcher=matcher,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                started=started,
            )
    except KeyboardInterrupt:
        if store is None:  # at the passphrase prompt: nothing had begun
            raise
        say(
            err,
            "capture-batch interrupted: the rows landed so far are kept; run the same command again to land the rest.",
        )
        raise typer.Exit(int(ExitStatus.INTERRUPTED)) from None
    finally:
        if started is not None:
            started.close()
    emit(report, json_out, render_batch)
    if threshold is not None and not json_out:
        from triage.faces import matchers

        calibrated = matchers.get(matcher or store.config.matcher, store.home).threshold
        out.print(f"Every row was searched at {threshold_text(threshold, calibrated)}.", markup=False)
    if report.refused:
        raise typer.Exit(int(ExitStatus.BAD_INPUT))


def render_batch(report: Report) -> None:
    """One line per row: what landed with its candidates below threshold, what had landed, what was refused."""
    from triage.casework.manifest import Landed, LandedBefore, Refused

    out.print(
        f"{report.manifest}: {len(report.landed)} landed, {len(report.already_landed)} already landed "
        f"earlier, {len(report.refused)} refused (of {report.rows} rows).",
        markup=False,
    )
    table = Table("row", "photo", "result", "name / reason", "candidates below threshold")
    landed, before, refused = report.in_row_order()
    rows: list[Landed | LandedBefore | Refused] = [*landed, *before, *refused]
    for a in sorted(rows, key=lambda a: a.row):
        if isinstance(a, Landed):
            faces = [c for c in a.candidates if c.below_threshold and c.distance is not None]
            names = [c for c in a.candidates if c.distance is None]  # biographic: no distance, no threshold
            found = ", ".join(f"{c.ref} ({c.kind}) {c.distance:.3f}" for c in faces)
            said = [f"[bold red]{escape(found)}[/] (threshold {a.threshold:.2f})"] if faces else []
            said += [f"[bold red]{escape(c.ref)}[/] ({escape(biographic_text(c.as_json()))})" for c in names]
            name = escape(a.name) + ("  [bold red]SAFEGUARDING[/]" if a.safeguarding else "")
            table.add_row(
                str(a.row),
                Text(a.photo),
                Text(f"landed {a.arrival_id}"),
                name,
                ", ".join(said) + " — review" if said else "none",
            )
        elif isinstance(a, LandedBefore):
            table.add_row(str(a.row), Text(a.photo), Text(f"already landed as {a.arrival_id}"), "", "")
        else:
            table.add_row(str(a.row), Text(a.photo), "[red]refused[/]", Text(a.reason), "")
    out.print(table)
    for b in before:
        if b.differs:
            out.print(b.note(), markup=False)
    for a in landed:
        for w in a.warnings:
            warn(f"row {a.row}: {w}")


def quality(
    photo: Path = typer.Argument(..., help="Photo file to judge."),
    profile: str = typer.Option("probe", "--profile", help="enrol (strict, watchlist) or probe (landing site)."),
    face: FaceOpt = None,
    matcher: MatcherOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The quality verdict and every measure for one photo; nothing is stored. The face is found by the
    detector of the matcher a capture would use (the home's, when there is a home), so the verdict is the
    one a capture would give.

    Example: triage quality arrival.jpg --profile enrol --json
    """
    from triage.errors import UsageError
    from triage.faces import encoders, matchers
    from triage.faces.analysis import inspect
    from triage.faces.quality import PROFILES
    from triage.intake import photos
    from triage.store.config import CONFIG_FILE, DEFAULT_MATCHER, load_config

    if profile not in PROFILES:
        raise UsageError(f"--profile {profile!r}: choose enrol or probe")
    path = home_path(home)
    name = matcher or (load_config(path).matcher if (path / CONFIG_FILE).is_file() else DEFAULT_MATCHER)
    pipeline = encoders.pipeline(matchers.get(name, path).model_ids, path)
    report, _ = inspect(photos.read_photo(photo), profile, face, pipeline)
    for w in report.warnings:
        warn(w)
    emit(report, json_out, lambda r: render_quality(photo, r))
    if not report.passed:
        from triage.errors import ExitStatus

        raise typer.Exit(int(ExitStatus.NO_FACE))


def render_quality(photo: Path, report: QualityReport) -> None:
    verdict = "[green]PASS[/]" if report.passed else "[red]REFUSED[/]"
    out.print(f"{escape(str(photo))}: {verdict} for {report.profile}, score {report.score}/100")
    table = Table("measure", "value")
    for k, v in report.measures.items():
        table.add_row(k, detail_value(k, v))
    out.print(table)
    for r in report.reasons:
        out.print(f"  - {r}", markup=False)
