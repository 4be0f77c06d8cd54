"""`triage training list|start|score`: exercises on fixture scenarios, and the trainee's score sheet."""

from __future__ import annotations

import os
from typing import Any

import typer
from rich.table import Table

from triage.cli.common import (
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    ScenarioOpt,
    emit_json,
    err,
    home_path,
    new_passphrase,
    officer_of,
    open_store,
    out,
    progress_bar,
)
from triage.errors import UsageError


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Training exercises on fixture scenarios (everything marked TRAINING).", no_args_is_help=True
    )
    group.command("list")(list_cmd)
    group.command("start")(start_cmd)
    group.command("score")(score_cmd)
    app.add_typer(group, name="training")


def list_cmd(json_out: JsonOpt = False) -> None:
    """The scenarios a trainer can start. Example: triage training list"""
    from triage.evaluation import training

    rows = training.catalogue()
    if json_out:
        emit_json(rows)
        return
    table = Table("scenario", "what happens", "watchlist", "arrivals", title="Training scenarios")
    for r in rows:
        table.add_row(r["name"], r["title"], str(r["watchlist"]), str(r["arrivals"]))
    out.print(table)


def start_cmd(
    scenario: ScenarioOpt,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make a new TRAINING home loaded with a scenario: the watchlist enrolled and the boat's arrivals captured, ready for the trainee to review, draft and flag. An operational home refuses.

    The passphrase comes from TRIAGE_PASSPHRASE or a hidden prompt (asked twice).

    Example: triage training start --scenario facilitator --home ~/exercise-1 --officer "PC 2001 Trainee"
    """
    from triage.evaluation import training

    who = officer or os.environ.get("TRIAGE_OFFICER")
    if not who:
        raise UsageError("no officer: pass --officer or set TRIAGE_OFFICER")
    path = home_path(home)
    passphrase = new_passphrase()  # asked before the bar starts: its redrawing would write over the prompt
    with progress_bar() as bar:
        task = bar.add_task("enrolling the watchlist and landing the boat", total=None)
        result = training.start(
            path,
            scenario,
            passphrase=passphrase,
            officer=who,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if json_out:
        emit_json(result)
        return
    err.print("[bold magenta]TRAINING HOME — fixture data, not for operational use[/]")
    out.print(f"[bold]{result['title']}[/]")
    if result["brief"]:
        out.print(result["brief"])
    table = Table(
        "#",
        "arrival",
        "vessel",
        "candidates below threshold",
        "flags",
        title=f"TRAINING: {result['watchlist_enrolled']} watchlist subjects enrolled, "
        f"{len(result['arrivals'])} arrivals landed",
    )
    for a in result["arrivals"]:
        table.add_row(
            str(a["number"]),
            a["arrival_id"],
            a["vessel"] or "",
            str(a["candidates_below_threshold"]),
            "SAFEGUARDING" if a["safeguarding"] else "",
        )
    out.print(table)
    out.print(
        f"Work it with TRIAGE_HOME={path}: `triage review --pending`, `triage arrivals show ID`, "
        "`triage review`, `triage pnd draft`, `triage arrivals flag`; then `triage training score`.",
        markup=False,
    )


def _voided(finding: dict[str, Any], what: str) -> str:
    """A finding on an arrival voided since: it stays a finding (the void may be the trainee's mistake), said so."""
    return f" (arrival voided: {what} can be made on it)" if finding.get("voided") else ""


def score_cmd(officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Compare the trainee's reviews, drafts and safeguarding flags with the scenario's truth.

    Example: triage training score --home ~/exercise-1
    """
    from triage.evaluation import training

    store = open_store(home)
    sheet = training.score(store, officer=officer_of(store, officer))
    store.close()
    if json_out:
        emit_json(sheet)
        return
    c = sheet["checks"]
    out.print(f"[bold magenta]{sheet['marking']}[/] — {sheet['title']} (scenario {sheet['scenario']})")
    table = Table("check", "expected", "done", title="Score sheet")
    table.add_row("true matches confirmed", str(c["matches_expected"]), str(c["matches_confirmed"]))
    table.add_row("PND drafts with a policing purpose", str(c["drafts_expected"]), str(c["drafts_made"]))
    table.add_row("safeguarding raised for children", str(c["safeguarding_expected"]), str(c["safeguarding_raised"]))
    out.print(table)
    sections = (
        (
            "missed_matches",
            "Missed matches",
            lambda f: (
                f"{f['kind']} {f['ref']}: {f['decision']}"
                + (f" (arrival {f['voided']} was voided: no decision can be made on it)" if f.get("voided") else "")
                + ("" if f["shown_as_candidate"] else " (not among the candidates: search again with a larger --top)")
            ),
        ),
        (
            "false_confirmations",
            "False confirmations",
            lambda f: f"confirmed {f['kind']} {f['ref']}; truth: {f['truth']}",
        ),
        ("missing_drafts", "Missing drafts", lambda f: f"needed {f['needed']}" + _voided(f, "no draft")),
        (
            "missed_safeguarding",
            "Missed safeguarding",
            lambda f: f"not flagged; truth: {f['truth']}" + _voided(f, "no flag"),
        ),
        (
            "unreviewed_alerts",
            "Alerts left unreviewed",
            lambda f: (
                f"{f['kind']} {f['ref']} "
                + (
                    f"at distance {f['distance']:.3f}"
                    if f["distance"] is not None
                    else "(name and date of birth agree)"
                )
            ),
        ),
    )
    for key, title, describe in sections:
        if sheet[key]:
            t = Table("#", "arrival", "finding", title=title, title_justify="left")
            for f in sheet[key]:
                t.add_row(str(f["arrival"] or ""), f["arrival_id"], describe(f))
            out.print(t)
    out.print(
        "[green]No findings: every check passed.[/]" if sheet["passed"] else f"[red]{sheet['findings']} finding(s).[/]"
    )
