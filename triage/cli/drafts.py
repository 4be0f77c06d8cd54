"""`triage pnd draft|list|show|outcome` and `triage intel draft|list|show|indicators`: drafts for an
authorised officer to check and submit. Nothing here transmits anything."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from triage.cli.common import (
    ForceOpt,
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    arrival_argument,
    arrival_option,
    document,
    emit,
    note,
    officer_of,
    open_store,
    out,
    out_option,
    training_banner,
    utc_text,
    warn,
)

if TYPE_CHECKING:
    from triage.outputs.drafts import DraftList, DraftResult
    from triage.outputs.pnd import OutcomeRecorded
    from triage.store.rows import Store

FormatOpt = typer.Option("text", "--format", help="text (to read and copy from) or json.")
OutOpt = Annotated[Path | None, out_option("Also write the draft, in the chosen format, to this file.")]
ImageOutOpt = typer.Option(None, "--image-out", help="Write the facial search image (JPEG) to this file (audited).")


def register(app: typer.Typer) -> None:
    pnd = typer.Typer(
        help="PND query drafts for an authorised officer to submit (never submitted by triage).", no_args_is_help=True
    )
    pnd.command("draft")(pnd_draft)
    pnd.command("list")(pnd_list)
    pnd.command("show")(pnd_show)
    pnd.command("outcome")(pnd_outcome)
    app.add_typer(pnd, name="pnd")
    intel = typer.Typer(
        help="Intelligence report drafts graded 3x5x2 (never submitted by triage).", no_args_is_help=True
    )
    intel.command("draft")(intel_draft)
    intel.command("list")(intel_list)
    intel.command("show")(intel_show)
    intel.command("indicators")(intel_indicators)
    app.add_typer(intel, name="intel")


def _emit(result: DraftResult, fmt: str, json_out: bool, render_text: Callable[[dict[str, Any]], str]) -> None:
    """A draft's warnings and the files written, on stderr; the draft itself as text or as JSON."""
    for w in result.warnings:
        warn(w)
    if result.out:
        note(f"draft {result.ref} written to:\n{result.out}")
    if result.image_out:
        note(f"search image of {result.draft['arrival_id']} written to:\n{result.image_out}")
    emit(
        result,
        json_out or fmt == "json",
        lambda r: document(out, render_text(r.draft)),
    )


def _render_list(store: Store, listing: DraftList, title: str, empty: str) -> None:
    training_banner(store)
    out.print(_list_table(listing, title) if listing.drafts else empty)


def _render_outcome(res: OutcomeRecorded) -> None:
    out.print(
        f"Recorded: {res.result} for {res.ref} by {res.officer} at {res.at}"
        + (f" (supersedes outcome {res.supersedes})" if res.supersedes else ""),
        markup=False,
    )


def _render_indicators(rows: list[dict[str, str]]) -> None:
    table = Table("code", "recorded as", title="Facilitator indicators")
    for r in rows:
        table.add_row(r["code"], r["text"])
    out.print(table)


def _list_table(listing: DraftList, title: str) -> Table:
    """Each draft's time under its ref and each outcome's time under it, so that at 80 columns the ids keep
    their width and no date or word is broken."""
    table = Table(title=title)
    for name in ("ref, drafted (UTC)", "kind", "arrival"):
        table.add_column(name, no_wrap=True)
    for name in ("officer", "outcome (UTC)"):
        table.add_column(name)
    for r in listing.drafts:
        outcome = "contents purged" if r.purged and not r.outcome else (r.outcome or "none recorded")
        table.add_row(
            Text(f"{r.ref}\n{utc_text(r.created_at)}"),
            Text(r.kind),
            Text(f"{r.arrival_id}\nVOID" if r.arrival_void else r.arrival_id),
            Text(r.officer),
            Text(f"{outcome}\n{utc_text(r.outcome_at)}" if r.outcome_at else outcome),
        )
    return table


def pnd_draft(
    arrival: str = arrival_argument("Arrival id."),
    purpose: str | None = typer.Option(None, "--purpose", help="The policing purpose, in a sentence (required)."),
    kind: str = typer.Option("person", "--kind", help="person (names, date of birth) or face (the portrait)."),
    justification: str | None = typer.Option(None, "--justification", help="Further justification."),
    fmt: str = FormatOpt,
    out_file: OutOpt = None,
    image_out: Path | None = ImageOutOpt,
    force: ForceOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Draft a PND person or facial search for one arrival; the draft is stored and marked NOT SUBMITTED.

    Examples:

      triage pnd draft A-7K3F9Q --purpose "To establish whether the arrival is wanted or linked to OIC"

      triage pnd draft A-7K3F9Q --kind face --purpose "To establish whether arrested before under another name" --image-out A-7K3F9Q-search.jpg --out A-7K3F9Q-face.txt
    """
    from triage.outputs import pnd

    store = open_store(home)
    training_banner(store)
    result = pnd.draft(
        store,
        arrival,
        kind=kind,
        purpose=purpose,
        justification=justification,
        officer=officer_of(store, officer),
        fmt="json" if json_out else fmt,
        out=out_file,
        image_out=image_out,
        force=force,
    )
    _emit(result, fmt, json_out, pnd.render_text)


def pnd_list(
    arrival: Annotated[str | None, arrival_option("Only the drafts of this arrival.")] = None,
    pending: bool = typer.Option(False, "--pending", help="Only drafts with no outcome recorded yet."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """PND drafts, newest first, with the outcome recorded for each.

    Example: triage pnd list --pending
    """
    from triage.outputs import drafts, pnd

    store = open_store(home)
    listing = drafts.list_drafts(
        store, pnd.FAMILY, officer=officer_of(store, officer), arrival_id=arrival, pending=pending
    )
    emit(listing, json_out, lambda r: _render_list(store, r, "PND drafts", "No PND drafts."))


def pnd_show(
    ref: str = typer.Argument(..., help="Draft reference, e.g. PND-3FA29C-20261128-001."),
    fmt: str = FormatOpt,
    out_file: OutOpt = None,
    image_out: Path | None = ImageOutOpt,
    force: ForceOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One stored PND draft as it was drafted, with the outcomes recorded since.

    Example: triage pnd show PND-3FA29C-20261128-001 --image-out search.jpg
    """
    from triage.outputs import drafts, pnd

    store = open_store(home)
    training_banner(store)
    result = drafts.show(
        store,
        ref,
        pnd.FAMILY,
        officer=officer_of(store, officer),
        fmt="json" if json_out else fmt,
        out=out_file,
        image_out=image_out,
        force=force,
    )
    _emit(result, fmt, json_out, pnd.render_text)


def pnd_outcome(
    ref: str = typer.Argument(..., help="Draft reference."),
    result: str = typer.Option(..., "--result", help="submitted, no-trace, trace or declined."),
    note_text: str | None = typer.Option(
        None, "--note", help="What was found or why (required for trace and declined)."
    ),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record what became of a PND draft. A later outcome supersedes an earlier one; both are kept.

    Examples:

      triage pnd outcome PND-3FA29C-20261128-001 --result submitted --note "submitted by DC 2291 at Dover custody"

      triage pnd outcome PND-3FA29C-20261128-001 --result trace --note "PND trace: wanted on warrant, ref 26/1234"
    """
    from triage.outputs import pnd

    store = open_store(home)
    res = pnd.record_outcome(store, ref, result=result, note=note_text, officer=officer_of(store, officer))
    if res.arrival_void:
        warn(f"arrival {res.arrival_id} was voided after {res.ref} was drafted; the outcome is recorded all the same")
    emit(res, json_out, _render_outcome)


def intel_draft(
    arrival: str = arrival_argument("Arrival id of the subject."),
    source_grade: str | None = typer.Option(None, "--source-grade", help="1 reliable, 2 untested, 3 not reliable."),
    intel_grade: str | None = typer.Option(
        None,
        "--intel-grade",
        help="A known directly to the source, B indirectly but corroborated, "
        "C indirectly, D not known, E suspected false.",
    ),
    handling: str | None = typer.Option(None, "--handling", help="P sharing permitted, C permitted with conditions."),
    conditions: str | None = typer.Option(None, "--conditions", help="The conditions on sharing (required with C)."),
    text: str | None = typer.Option(None, "--text", help="What was learned, and how the source knows it."),
    indicator: list[str] = typer.Option(
        [],
        "--indicator",
        help="A facilitator indicator: a code from `triage intel indicators`, or a few words (repeatable).",
    ),
    from_debrief: bool = typer.Option(
        False,
        "--from-debrief",
        help="Start from the arrival's debrief: its answers and crime-group links are "
        "carried, --text defaults to a summary of them, indicators are added.",
    ),
    fmt: str = FormatOpt,
    out_file: OutOpt = None,
    force: ForceOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Draft an intelligence report about one arrival, graded 3x5x2, with its links; stored, NOT SUBMITTED.

    Examples:

      triage intel draft A-7K3F9Q --source-grade 2 --intel-grade B --handling C --conditions "Not to be shared outside UK law enforcement" --text "Three passengers said separately that he steered the boat" --indicator pilot --indicator satphone

      triage intel draft A-7K3F9Q --from-debrief --source-grade 2 --intel-grade C --handling P
    """
    from triage.casework.debrief import summaries
    from triage.outputs import intel

    store = open_store(home)
    training_banner(store)
    fields: dict[str, Any] = {
        "source_grade": source_grade,
        "intel_grade": intel_grade,
        "handling": handling,
        "conditions": conditions,
        "text": text,
        "indicators": indicator,
    }
    section: dict[str, Any] | None = None
    if from_debrief:
        fields, section = summaries.intel_fields(store, arrival, fields)
    result = intel.draft(
        store,
        arrival,
        fields,
        officer=officer_of(store, officer),
        fmt="json" if json_out else fmt,
        out=out_file,
        debriefed=section,
        force=force,
    )
    _emit(result, fmt, json_out, intel.render_text)


def intel_list(
    arrival: Annotated[str | None, arrival_option("Only the reports about this arrival.")] = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Intelligence report drafts, newest first.

    Example: triage intel list --arrival A-7K3F9Q --json
    """
    from triage.outputs import drafts, intel

    store = open_store(home)
    listing = drafts.list_drafts(store, intel.FAMILY, officer=officer_of(store, officer), arrival_id=arrival)
    emit(
        listing,
        json_out,
        lambda r: _render_list(store, r, "Intelligence report drafts", "No intelligence report drafts."),
    )


def intel_show(
    ref: str = typer.Argument(..., help="Report reference, e.g. INT-3FA29C-20261128-001."),
    fmt: str = FormatOpt,
    out_file: OutOpt = None,
    force: ForceOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One stored intelligence report draft, as it was drafted.

    Example: triage intel show INT-3FA29C-20261128-001 --format json --out report.json
    """
    from triage.outputs import drafts, intel

    store = open_store(home)
    training_banner(store)
    result = drafts.show(
        store,
        ref,
        intel.FAMILY,
        officer=officer_of(store, officer),
        fmt="json" if json_out else fmt,
        out=out_file,
        force=force,
    )
    _emit(result, fmt, json_out, intel.render_text)


def intel_indicators(json_out: JsonOpt = False) -> None:
    """The known facilitator indicator codes for --indicator; anything else may be given in a few words.

    Example: triage intel indicators --json
    """
    from triage.outputs.intel import INDICATORS

    emit([{"code": k, "text": v} for k, v in INDICATORS.items()], json_out, _render_indicators)
