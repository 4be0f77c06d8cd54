"""`triage report`: the supervisor's day in one self-contained page, or as text for the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from triage.cli.common import (
    DayOpt,
    ForceOpt,
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    SiteOpt,
    document,
    emit_json,
    note,
    officer_of,
    open_store,
    out,
    out_option,
    report_format,
    training_banner,
)
from triage.intake.refs import parse_site


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)


def report_cmd(
    date: DayOpt,
    out_file: Annotated[Path | None, out_option("File to write (required for html).")] = None,
    fmt: str = typer.Option("html", "--format", help="html (one self-contained page), text or json (as --json)."),
    site: SiteOpt = None,
    force: ForceOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Counts by site and vessel, safeguarding flags, candidates awaiting review, confirmed matches, drafts
    and outcomes, photo quality and every face, for one day. The page needs no network to open.

    Examples:

      triage report --date 2026-11-28 --out report.html

      triage report --date 2026-11-28 --format text
    """
    from triage.intake.biographic import parse_full_date
    from triage.outputs import report

    fmt, json_out = report_format(fmt, json_out, out_file)
    day = parse_full_date(date, "--date").isoformat()
    site = parse_site(site) if site else site
    store = open_store(home)
    training_banner(store)
    data, text = report.report(
        store, day, officer=officer_of(store, officer), fmt=fmt, out=out_file, site=site, force=force
    )
    if json_out:
        emit_json(
            dict(
                {k: v for k, v in data.items() if k != "arrivals"},
                out=str(out_file) if out_file else None,
                arrivals=[{k: v for k, v in a.items() if k != "thumbnail"} for a in data["arrivals"]],
            )
        )
    elif out_file is None:
        document(out, text)
    else:
        note(f"Report of {day} ({data['totals']['arrivals']} arrival(s)) written to:\n{out_file}")
