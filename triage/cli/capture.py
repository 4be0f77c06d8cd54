"""`triage capture` and `triage quality`: a new arrival at the landing site, and a photo's verdict."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from .common import HomeOpt, JsonOpt, OfficerOpt, emit_json, err, officer_of, open_store, out, training_banner, warn


def register(app: typer.Typer) -> None:
    app.command("capture")(capture)
    app.command("quality")(quality)


def render_candidates(candidates: list[dict], threshold: float) -> None:
    """Candidates for review, best first; the wording never claims an identification."""
    if not candidates:
        out.print(f"No candidates (threshold {threshold:.2f}).")
        return
    table = Table("#", "kind", "ref", "who", "distance", "threshold", "", title="Candidates for human review")
    for c in candidates:
        who = c.get("name") or ""
        if c["kind"] == "watchlist":
            who = f"{who} [{c.get('category')}]"
        elif c.get("differences"):
            who += " — differs: " + ", ".join(sorted({k.replace("_latin", "").replace("_", " ") for k in c["differences"]}))
        table.add_row(str(c["rank"]), c["kind"], c["ref"], who, f"{c['distance']:.3f}", f"{c['threshold']:.2f}",
                      "[bold red]below threshold — review[/]" if c["below_threshold"] else "above")
    out.print(table)


def capture(
    photo: Optional[Path] = typer.Option(None, "--photo", help="Photo file (JPEG, PNG, HEIC)."),
    camera: Optional[str] = typer.Option(None, "--camera", help="Camera index, device path, or video file/stream."),
    surname: Optional[str] = typer.Option(None, "--surname", help="Surname as given, in any script."),
    given_names: Optional[str] = typer.Option(None, "--given-names", help="Given names as given, in any script."),
    alias: List[str] = typer.Option([], "--alias", help="Another name used (repeatable)."),
    dob: Optional[str] = typer.Option(None, "--dob", help="Date of birth: YYYY, YYYY-MM or YYYY-MM-DD."),
    age: Optional[str] = typer.Option(None, "--age", help="Assessed age or range when there is no document, e.g. 16-18."),
    sex: Optional[str] = typer.Option(None, "--sex", help="F, M or X."),
    nationality: Optional[str] = typer.Option(None, "--nationality", help="Country name or ISO code."),
    place_of_birth: Optional[str] = typer.Option(None, "--place-of-birth"),
    language: List[str] = typer.Option([], "--language", help="Language spoken (repeatable)."),
    document_type: Optional[str] = typer.Option(None, "--document-type", help="passport, id-card, none ..."),
    document_number: Optional[str] = typer.Option(None, "--document-number"),
    document_state: Optional[str] = typer.Option(None, "--document-state", help="Issuing state (name or code)."),
    document_expiry: Optional[str] = typer.Option(None, "--document-expiry", help="YYYY-MM-DD."),
    phone: List[str] = typer.Option([], "--phone", help="Phone number seen (repeatable)."),
    notes: Optional[str] = typer.Option(None, "--notes", help="Free-text officer notes."),
    vessel: Optional[str] = typer.Option(None, "--vessel", help="Vessel reference."),
    landed_at: Optional[str] = typer.Option(None, "--landed-at", help="Time of landing (ISO 8601; default now)."),
    face: Optional[int] = typer.Option(None, "--face", help="Which face when the photo has several (1 = largest)."),
    accept_low_quality: bool = typer.Option(False, "--accept-low-quality", help="Override a quality refusal (needs --reason)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why the quality override is justified."),
    top: int = typer.Option(5, "--top", min=1, max=50, help="How many candidates to show."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Override the calibrated threshold for this search."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Capture a new arrival: quality gate, encode, store, and search the watchlist and earlier arrivals.

    Details not given are recorded as not given: the photo alone is a valid capture.

    Examples:

      triage capture --photo arrival.jpg --surname "حسين" --given-names "محمد" --dob 1995 --nationality Sudan --vessel SB-0417

      triage capture --camera 0 --age 15-17 --json
    """
    from .. import arrivals, photos
    from ..biographic import build_details, parse_full_date
    from ..errors import UsageError

    if (photo is None) == (camera is None):
        raise UsageError("give exactly one of --photo or --camera")
    if accept_low_quality and not (reason and reason.strip()):
        raise UsageError("--accept-low-quality needs --reason saying why the photo must be used")
    store = open_store(home)
    training_banner(store)
    who = officer_of(store, officer)
    details = build_details(surname=surname, given_names=given_names, aliases=alias, dob=dob, age=age, sex=sex,
                            nationality=nationality, place_of_birth=place_of_birth, languages=language,
                            document_type=document_type, document_number=document_number,
                            document_state=document_state, document_expiry=document_expiry, phones=phone, notes=notes)
    landed = None
    if landed_at:
        landed = _parse_landed_at(landed_at, store.config.timezone)
    if camera is not None:
        from ..camera import best_frame

        pic, scores = best_frame(camera)
        err.print(f"camera {camera}: {len(scores)} frames, best quality score {max(scores)}")
    else:
        pic = photos.read_photo(photo)
    result = arrivals.capture(store, pic, details, officer=who, vessel=vessel, landed_at=landed, face_index=face,
                              override_reason=reason if accept_low_quality else None, top_k=top, threshold=threshold)
    for w in result["warnings"]:
        warn(w)
    if json_out:
        emit_json(result)
        return
    flag = "  [bold red]SAFEGUARDING: possible child[/]" if result["safeguarding"] else ""
    out.print(f"Arrival [bold]{result['arrival_id']}[/] captured (quality {result['quality']['score']}/100).{flag}")
    render_candidates(result["candidates"], result["threshold"])


def _parse_landed_at(text: str, tz: str) -> str:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from ..errors import BadInput

    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"--landed-at {text!r}: use ISO 8601, e.g. 2026-11-28T04:30") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(tz))
    now = dt.datetime.now(dt.timezone.utc)
    if when > now + dt.timedelta(minutes=5):
        raise BadInput(f"--landed-at {text!r} is in the future")
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def quality(
    photo: Path = typer.Argument(..., help="Photo file to judge."),
    profile: str = typer.Option("probe", "--profile", help="enrol (strict, watchlist) or probe (landing site)."),
    face: Optional[int] = typer.Option(None, "--face", help="Which face when the photo has several (1 = largest)."),
    json_out: JsonOpt = False,
) -> None:
    """The quality verdict and every measure for one photo; nothing is stored.

    Example: triage quality arrival.jpg --profile enrol --json
    """
    from .. import photos
    from ..analysis import inspect
    from ..errors import UsageError
    from ..quality import PROFILES

    if profile not in PROFILES:
        raise UsageError(f"--profile {profile!r}: choose enrol or probe")
    report, _ = inspect(photos.read_photo(photo), profile, face)
    for w in report.warnings:
        warn(w)
    if json_out:
        emit_json(report.to_dict())
    else:
        verdict = "[green]PASS[/]" if report.passed else "[red]REFUSED[/]"
        out.print(f"{photo}: {verdict} for {profile}, score {report.score}/100")
        table = Table("measure", "value")
        for k, v in report.measures.items():
            table.add_row(k, str(v))
        out.print(table)
        for r in report.reasons:
            out.print(f"  - {r}")
    if not report.passed:
        from ..errors import ExitStatus

        raise typer.Exit(int(ExitStatus.NO_FACE))
