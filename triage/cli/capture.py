"""`triage capture`, `triage capture-batch` and `triage quality`: a new arrival at the landing site, a whole
boat from a manifest, and a photo's verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from triage.cli.common import (
    HomeOpt,
    JsonOpt,
    MatcherOpt,
    OfficerOpt,
    emit_json,
    err,
    home_path,
    officer_of,
    open_store,
    out,
    progress_bar,
    training_banner,
    warn,
)


def register(app: typer.Typer) -> None:
    app.command("capture")(capture)
    app.command("capture-batch")(capture_batch)
    app.command("quality")(quality)


def render_candidates(candidates: list[dict], threshold: float) -> None:
    """Candidates for review, best first; the wording never claims an identification."""
    if not candidates:
        out.print(f"No candidates (threshold {threshold:.2f}).")
        return
    first = candidates[0]
    table = Table(
        "#",
        "kind",
        "ref",
        "who",
        "distance",
        "threshold",
        "",
        title="Candidates for human review "
        + escape(f"({first.get('matcher') or 'dlib'}: {', '.join(first.get('model_ids') or [first['model_id']])})"),
    )
    for c in candidates:
        who = c.get("name") or ""
        if c["kind"] == "watchlist":
            who = f"{who} ({c.get('category')})"
        elif c.get("differences"):
            who += " — differs: " + ", ".join(
                sorted({k.replace("_latin", "").replace("_", " ") for k in c["differences"]})
            )
        if c.get("same_vessel"):
            who += " — same face on this vessel"
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
    surname: str | None = typer.Option(None, "--surname", help="Surname as given, in any script."),
    given_names: str | None = typer.Option(None, "--given-names", help="Given names as given, in any script."),
    alias: list[str] = typer.Option([], "--alias", help="Another name used (repeatable)."),
    dob: str | None = typer.Option(None, "--dob", help="Date of birth: YYYY, YYYY-MM or YYYY-MM-DD."),
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
    notes: str | None = typer.Option(None, "--notes", help="Free-text officer notes."),
    mrz_text: str | None = typer.Option(
        None, "--mrz", help="The document's machine-readable zone (quote it; lines separated by newlines or spaces)."
    ),
    mrz_file: Path | None = typer.Option(None, "--mrz-file", help="A text file holding the machine-readable zone."),
    vessel: str | None = typer.Option(None, "--vessel", help="Vessel reference."),
    landed_at: str | None = typer.Option(None, "--landed-at", help="Time of landing (ISO 8601; default now)."),
    face: int | None = typer.Option(None, "--face", help="Which face when the photo has several (1 = largest)."),
    accept_low_quality: bool = typer.Option(
        False, "--accept-low-quality", help="Override a quality refusal (needs --reason)."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why the quality override is justified."),
    interactive: bool | None = typer.Option(
        None,
        "--interactive/--no-interactive",
        show_default=False,
        help="Ask for the details at the terminal. Default: ask when no detail flag, --mrz or --json is given "
        "and standard input is a terminal.",
    ),
    top: int = typer.Option(5, "--top", min=1, max=50, help="How many candidates to show."),
    threshold: float | None = typer.Option(
        None, "--threshold", min=0.0, help="Override the calibrated threshold for this search."
    ),
    matcher: MatcherOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Capture a new arrival: quality gate, encode, store, and search the watchlist and earlier arrivals.

    Details not given are recorded as not given: the photo alone is a valid capture. A machine-readable
    zone (--mrz) fills in what was not typed; where it disagrees with what was typed, the typed value is
    kept and the disagreement is shown and recorded.

    Examples:

      triage capture --photo arrival.jpg --surname "حسين" --given-names "محمد" --dob 1995 --nationality Sudan --vessel SB-0417

      triage capture --photo arrival.heic --mrz-file passport-mrz.txt --dob 1974-08-12

      triage capture --camera 0 --age 15-17 --json
    """
    import datetime as dt

    from triage.casework import arrivals
    from triage.errors import UsageError
    from triage.faces import analysis, matchers
    from triage.intake import mrz, photos
    from triage.intake.biographic import build_details, parse_landed_at

    if (photo is None) == (camera is None):
        raise UsageError("give exactly one of --photo or --camera")
    if mrz_text is not None and mrz_file is not None:
        raise UsageError("give --mrz or --mrz-file, not both")
    if accept_low_quality and not (reason and reason.strip()):
        raise UsageError("--accept-low-quality needs --reason saying why the photo must be used")
    raw = dict(
        surname=surname,
        given_names=given_names,
        aliases=alias,
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
    details = build_details(**raw, today=today)  # flags are checked before anything else happens
    if interactive is None:
        interactive = not any(raw.values()) and zone is None and not json_out and sys.stdin.isatty()
    store = open_store(home)
    training_banner(store)
    who = officer_of(store, officer)
    landed = parse_landed_at(landed_at, store.config.timezone) if landed_at else None
    if camera is not None:
        from triage.intake.camera import best_frame

        pipeline = matchers.pipeline_for(store, matcher)
        pic, scores = best_frame(camera, lambda frame: analysis.inspect(frame, "probe", pipeline=pipeline)[0].score)
        err.print(f"camera {camera}: {len(scores)} frames, best quality score {max(scores)}", markup=False)
    else:
        pic = photos.read_photo(photo)
    override = reason if accept_low_quality else None
    analysed = None
    if interactive:  # judge the photo first, so nobody types details for a photo that will be refused
        from triage.cli.prompts import ask_details, confirm

        analysed = analysis.analyse(
            pic, "probe", face_index=face, override_reason=override, pipeline=matchers.pipeline_for(store, matcher)
        )
        try:
            while True:
                raw = ask_details(raw)
                details, notes = _with_zone(build_details(**raw, today=today), zone, today)
                if confirm(details, notes, today):
                    break
                err.print("Nothing saved yet; change what is wrong (Enter keeps an answer).")
        except (EOFError, KeyboardInterrupt):
            raise typer.Abort() from None
    else:
        details, notes = _with_zone(details, zone, today)
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
    )
    result["warnings"] = notes + result["warnings"]
    for w in result["warnings"]:
        warn(w)
    if json_out:
        emit_json(result)
        return
    flag = "  [bold red]SAFEGUARDING[/]" if result["safeguarding"] else ""
    out.print(f"Arrival [bold]{result['arrival_id']}[/] captured (quality {result['quality']['score']}/100).{flag}")
    render_candidates(result["candidates"], result["threshold"])


def _with_zone(details, zone, today):
    """The details with the zone applied (blanks filled, disagreements listed), or as they were."""
    from triage.intake import mrz

    return mrz.apply(zone, details, today) if zone is not None else (details, [])


def _read_mrz_file(path: Path) -> str:
    from triage.errors import BadInput

    if not path.is_file():
        raise BadInput(f"--mrz-file {path}: no such file")
    if path.stat().st_size > 4096:
        raise BadInput(f"--mrz-file {path}: too long for a machine-readable zone (at most 3 lines of 44 characters)")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"--mrz-file {path}: not UTF-8 text") from None


def capture_batch(
    manifest_file: Path = typer.Argument(..., help="The manifest CSV: one row per person."),
    vessel: str | None = typer.Option(None, "--vessel", help="Vessel reference for rows that give none."),
    landed_at: str | None = typer.Option(
        None, "--landed-at", help="Time of landing for rows that give none (ISO 8601; default now)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, max=64, help="Worker processes for the face pipeline (default: one per core)."
    ),
    top: int = typer.Option(5, "--top", min=1, max=50, help="How many candidates to keep per arrival."),
    threshold: float | None = typer.Option(None, "--threshold", min=0.0, help="Override the calibrated threshold."),
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
    dob: YYYY, YYYY-MM or YYYY-MM-DD; age: assessed age or range, e.g. 16-18
    sex: F, M or X; nationality, document_state: country name or code
    place_of_birth, document_type, document_number, notes: as text
    document_expiry: YYYY-MM-DD; landed_at: ISO 8601 (default --landed-at, else now)
    mrz: the document's machine-readable zone, its lines separated by line breaks or spaces
    vessel: vessel reference (default --vessel); face: which face when there are several (1 = largest)

    A bad row is reported with its reason and the rest carry on; running the same manifest again adds nothing.
    Exit status 0 when every row landed (now or before), 3 when any row was refused.

    Example: triage capture-batch boat-SB-0417/manifest.csv --vessel SB-0417
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from triage.casework import manifest
    from triage.errors import ExitStatus

    store = open_store(home)
    training_banner(store)
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
        )
    summary = report.to_dict()
    if json_out:
        emit_json(summary)
    else:
        render_batch(summary)
    if report.refused:
        raise typer.Exit(int(ExitStatus.BAD_INPUT))


def render_batch(summary: dict) -> None:
    """One line per row: what landed with its candidates below threshold, what had landed, what was refused."""
    out.print(
        f"{summary['manifest']}: {summary['landed']} landed, {summary['already_landed']} already landed "
        f"earlier, {summary['refused']} refused (of {summary['rows']} rows).",
        markup=False,
    )
    table = Table("row", "photo", "result", "name / reason", "candidates below threshold")
    entries = (
        [("landed", a) for a in summary["arrivals"]]
        + [("already", a) for a in summary["duplicates"]]
        + [("refused", a) for a in summary["refusals"]]
    )
    for kind, a in sorted(entries, key=lambda e: e[1]["row"]):
        if kind == "refused":
            table.add_row(str(a["row"]), Text(a["photo"]), "[red]refused[/]", Text(a["reason"]), "")
        elif kind == "already":
            table.add_row(str(a["row"]), Text(a["photo"]), Text(f"already landed as {a['arrival_id']}"), "", "")
        else:
            near = [c for c in a["candidates"] if c["below_threshold"]]
            found = ", ".join(f"{c['ref']} ({c['kind']}) {c['distance']:.3f}" for c in near)
            name = escape(a["name"]) + ("  [bold red]SAFEGUARDING[/]" if a["safeguarding"] else "")
            table.add_row(
                str(a["row"]),
                Text(a["photo"]),
                Text(f"landed {a['arrival_id']}"),
                name,
                f"[bold red]{escape(found)}[/] (threshold {a['threshold']:.2f}) - review" if near else "none",
            )
    out.print(table)
    for a in summary["arrivals"]:
        for w in a["warnings"]:
            warn(f"row {a['row']}: {w}")


def quality(
    photo: Path = typer.Argument(..., help="Photo file to judge."),
    profile: str = typer.Option("probe", "--profile", help="enrol (strict, watchlist) or probe (landing site)."),
    face: int | None = typer.Option(None, "--face", help="Which face when the photo has several (1 = largest)."),
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
    if json_out:
        emit_json(report.to_dict())
    else:
        verdict = "[green]PASS[/]" if report.passed else "[red]REFUSED[/]"
        out.print(f"{escape(str(photo))}: {verdict} for {profile}, score {report.score}/100")
        table = Table("measure", "value")
        for k, v in report.measures.items():
            table.add_row(k, str(v))
        out.print(table)
        for r in report.reasons:
            out.print(f"  - {r}", markup=False)
    if not report.passed:
        from triage.errors import ExitStatus

        raise typer.Exit(int(ExitStatus.NO_FACE))
