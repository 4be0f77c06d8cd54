"""`triage watchlist add|list|show|remove`: governed enrolment."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from .common import HomeOpt, JsonOpt, OfficerOpt, emit_json, officer_of, open_store, out, warn


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Governed watchlist: every entry has a category, reason, authority and review date.",
                        no_args_is_help=True)
    group.command("add")(add)
    group.command("list")(list_cmd)
    group.command("show")(show)
    group.command("remove")(remove)
    app.add_typer(group, name="watchlist")


def add(
    photos: List[Path] = typer.Argument(..., help="One or more photos of the subject."),
    ref: str = typer.Option(..., "--ref", help="Watchlist reference, e.g. WL-0012."),
    name: str = typer.Option(..., "--name", help="Name, in any script."),
    category: str = typer.Option(..., "--category", help="facilitator, wanted, missing, vulnerable or other."),
    reason: str = typer.Option(..., "--reason", help="Why this person is on the watchlist."),
    authorised_by: str = typer.Option(..., "--authorised-by", help="The authorising officer."),
    review_date: str = typer.Option(..., "--review-date", help="YYYY-MM-DD; after it the entry is not searched."),
    image_source: str = typer.Option("not stated", "--image-source", help="Where the photos come from."),
    alias: List[str] = typer.Option([], "--alias", help="Another name used (repeatable)."),
    dob: Optional[str] = typer.Option(None, "--dob", help="Date of birth if known."),
    accept_low_quality: bool = typer.Option(False, "--accept-low-quality", help="Override the enrol quality gate."),
    override_reason: Optional[str] = typer.Option(None, "--override-reason", help="Why the override is justified."),
    officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Enrol one subject. Photos pass the strict `enrol` quality profile.

    Example: triage watchlist add wl12.jpg --ref WL-0012 --name "Karwan HAMA" --category facilitator
    --reason "Suspected pilot for a smuggling network" --authorised-by "DS 4411 Clarke" --review-date 2027-05-01
    """
    from .. import photos as photo_io
    from .. import watchlist
    from ..errors import UsageError

    if accept_low_quality and not override_reason:
        raise UsageError("--accept-low-quality needs --override-reason")
    pics = [photo_io.read_photo(p) for p in photos]
    store = open_store(home)
    result = watchlist.add_subject(store, ref=ref, name=name, category=category, reason=reason,
                                   authorised_by=authorised_by, review_date=review_date, photos=pics,
                                   officer=officer_of(store, officer), image_source=image_source, aliases=alias,
                                   dob=dob, override_reason=override_reason if accept_low_quality else None)
    for w in result["warnings"]:
        warn(w)
    if json_out:
        emit_json(result)
    else:
        out.print(f"Enrolled {result['ref']} ({result['category']}) with {result['photos']} photo(s); "
                  f"review by {result['review_date']}.")


def list_cmd(
    category: Optional[str] = typer.Option(None, "--category"),
    expired: Optional[bool] = typer.Option(None, "--expired/--current", help="Only expired, or only current, entries."),
    officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """List watchlist subjects; an entry past its review date shows as expired and is not searched."""
    from .. import watchlist

    store = open_store(home)
    rows = watchlist.list_subjects(store, officer=officer_of(store, officer), category=category, expired=expired)
    if json_out:
        emit_json(rows)
        return
    table = Table("ref", "name", "category", "review date", "photos", "authorised by")
    for r in rows:
        table.add_row(r["ref"], r["name"] or "", r["category"],
                      r["review_date"] + (" [red]EXPIRED[/]" if r["expired"] else ""), str(r["photos"]), r["authorised_by"])
    out.print(table)


def show(ref: str = typer.Argument(...), officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """One watchlist subject with its governance record."""
    from .. import watchlist

    store = open_store(home)
    row = watchlist.show_subject(store, ref, officer=officer_of(store, officer))
    if json_out:
        emit_json(row)
        return
    table = Table("field", "value")
    for k, v in row.items():
        table.add_row(k, str(v))
    out.print(table)


def remove(ref: str = typer.Argument(...), reason: str = typer.Option(..., "--reason", help="Why it is removed."),
           officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Remove a subject: its photos and templates are deleted; a tombstone stays for the audit trail."""
    from .. import watchlist

    store = open_store(home)
    result = watchlist.remove_subject(store, ref, reason=reason, officer=officer_of(store, officer))
    if json_out:
        emit_json(result)
    else:
        out.print(f"Removed {ref}: biometrics deleted, tombstone kept.")
