"""`triage arrivals list|show` and `triage match`: what has been captured, and searching again."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from triage.cli.capture import render_candidates
from triage.cli.common import (
    HomeOpt,
    JsonOpt,
    MatcherOpt,
    OfficerOpt,
    ThresholdOpt,
    TopOpt,
    date_option,
    emit,
    emit_json,
    officer_of,
    open_store,
    out,
    reason_option,
    training_banner,
    warn,
)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="What has been captured.", no_args_is_help=True)
    group.command("list")(list_cmd)
    group.command("show")(show_cmd)
    group.command("flag")(flag_cmd)
    app.add_typer(group, name="arrivals")
    app.command("match")(match_cmd)


def list_cmd(
    date: Annotated[str | None, date_option("Only arrivals landed on this local date (YYYY-MM-DD).")] = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List arrivals, oldest first. Example: triage arrivals list --date 2026-11-28"""
    from triage.casework import arrivals
    from triage.intake.biographic import parse_full_date

    day = parse_full_date(date, "--date").isoformat() if date else None
    store = open_store(home)
    rows = arrivals.list_arrivals(store, officer=officer_of(store, officer), day=day)
    if json_out:
        emit_json(rows)
        return
    training_banner(store)
    # The id and the flag never shrink: a cut-off "SAFEGU…" on a narrow terminal is a flag missed.
    table = Table(
        Column("arrival", no_wrap=True, min_width=len("A-XXXXXX")),
        "landed (UTC)",
        "site",
        "vessel",
        "name",
        "quality",
        "alerts",
        Column("flags", no_wrap=True, min_width=len("SAFEGUARDING")),
    )
    for r in rows:
        table.add_row(
            Text(r["arrival_id"]),
            Text(r["landed_at"]),
            Text(r["site"]),
            Text(r["vessel"] or ""),
            Text(r["name"]),
            str(r["quality_score"]),
            str(r["alerts"]),
            "SAFEGUARDING" if r["safeguarding"] else "",
        )
    out.print(table)


def show_cmd(
    arrival: str = typer.Argument(..., help="Arrival id, e.g. A-7K3F9Q."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One arrival: details, quality, candidates and their reviews, and where its portrait is kept."""
    from triage.casework import arrivals

    store = open_store(home)
    row = arrivals.show(store, arrival, officer=officer_of(store, officer))
    if json_out:
        emit_json(row)
        return
    training_banner(store)
    d = row["details"]
    out.print(
        f"[bold]{escape(row['id'])}[/] "
        + escape(f"landed {row['landed_at']} at {row['site']}, vessel {row['vessel'] or '-'}")
        + ("  [bold red]SAFEGUARDING[/]" if row["safeguarding"] else "")
    )
    table = Table("field", "as given", "Latin form")
    for field in ("surname", "given_names"):
        table.add_row(field, Text(d.get(field) or "not given"), Text(d.get(f"{field}_latin") or ""))
    for field in (
        "dob",
        "age_range",
        "sex",
        "nationality",
        "place_of_birth",
        "languages",
        "document_type",
        "document_number",
        "document_state",
        "document_expiry",
        "phones",
        "aliases",
        "notes",
    ):
        if d.get(field):
            table.add_row(field, Text(str(d[field])), "")
    out.print(table)
    out.print(
        f"Quality {row['quality']['score']}/100"
        + (f" (override: {row['quality_override']})" if row["quality_override"] else ""),
        markup=False,
    )
    render_candidates(row["candidates"], row["candidates"][0]["threshold"] if row["candidates"] else 0.0)
    for c in row["candidates"]:
        for r in c["reviews"]:
            out.print(
                f"  review of {c['ref']}: {r['decision']} by {r['officer']} at {r['at']} — {r['reason']}", markup=False
            )


def match_cmd(
    arrival: str = typer.Argument(..., help="Arrival id."),
    top: TopOpt = 5,
    threshold: ThresholdOpt = None,
    index: str = typer.Option(
        "auto",
        "--index",
        help="auto (the approximate index from its cut-over in "
        "gallery size on), exact (scan every template) or approximate.",
    ),
    matcher: MatcherOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search an arrival again against the watchlist and other arrivals (recorded as a new search, with
    its threshold and method).

    Example: triage match A-7K3F9Q --top 10 --threshold 0.45
    """
    from triage.casework import arrivals
    from triage.errors import UsageError

    modes = {"auto": None, "exact": False, "approximate": True}
    if index not in modes:
        raise UsageError(f"--index {index!r}: choose auto, exact or approximate")
    store = open_store(home)
    result = arrivals.search_again(
        store,
        arrival,
        officer=officer_of(store, officer),
        top_k=top,
        threshold=threshold,
        approximate=modes[index],
        matcher=matcher,
    )
    for w in result.warnings:
        warn(w)
    emit(result, json_out, lambda r: render_candidates([c.as_json() for c in r.candidates], r.threshold))


def flag_cmd(
    arrival: str = typer.Argument(..., help="Arrival id."),
    safeguarding: bool = typer.Option(False, "--safeguarding", help="Raise the safeguarding flag."),
    reason: Annotated[str | None, reason_option("Why (required; kept in the audit trail).")] = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Raise a flag on an arrival, e.g. safeguarding for a person who says they are an adult but appears to be a child.

    Example: triage arrivals flag A-7K3F9Q --safeguarding --reason "appears about 15; earlier arrival said 16"
    """
    from triage.casework import arrivals
    from triage.errors import UsageError

    if not safeguarding:
        raise UsageError("say which flag to raise: --safeguarding")
    store = open_store(home)
    result = arrivals.flag_safeguarding(store, arrival, reason=reason or "", officer=officer_of(store, officer))
    if json_out:
        emit_json(result)
    else:
        training_banner(store)
        out.print(
            f"Safeguarding flag raised on {arrival} by {result['officer']}"
            + (" (it was already flagged; the reason is added to the audit trail)" if result["was_flagged"] else ""),
            markup=False,
        )
