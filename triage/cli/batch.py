"""`triage export`: the day's verifiable batch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import Progress

from .common import HomeOpt, JsonOpt, OfficerOpt, emit_json, err, officer_of, open_store, out


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    date: str = typer.Option(..., "--date", help="Local date of landing, YYYY-MM-DD."),
    out_file: Path = typer.Option(..., "--out", help="Batch file to write."),
    site: Optional[str] = typer.Option(None, "--site", help="Only this site's arrivals."),
    officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Export every arrival landed on a day, with portraits, candidates, reviews, drafts and audit events.

    Example: triage export --date 2026-11-28 --out batch-2026-11-28.zip
    """
    from .. import batch
    from ..biographic import parse_full_date

    day = parse_full_date(date, "--date").isoformat()
    store = open_store(home)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("exporting", total=None)
        result = batch.export_day(store, day, out_file, officer=officer_of(store, officer), site=site,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    if json_out:
        emit_json(result)
    else:
        out.print(f"Exported {result['arrivals']} arrival(s) of {day} to {result['out']} ({result['bytes']:,} bytes).")
