"""`triage audit show|verify`: the tamper-evident trail of who did what to which record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from triage.cli.common import HomeOpt, JsonOpt, arrival_option, date_option, emit_json, open_store, out, say, utc_text
from triage.errors import ExitStatus, NotFound

if TYPE_CHECKING:
    from triage.store.rows import Store

WIDE = 120  # columns from which `audit show` is a table


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The audit trail.", no_args_is_help=True)
    group.command("show")(show)
    group.command("verify")(verify)
    app.add_typer(group, name="audit")


def show(
    officer: str | None = typer.Option(None, "--officer", help="Only this officer's events."),
    arrival: Annotated[str | None, arrival_option("Only events about this arrival.")] = None,
    date: Annotated[str | None, date_option("Only events on this UTC date (YYYY-MM-DD or DD/MM/YYYY).")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Audit events, oldest first, with reasons (reasons are encrypted: this needs the passphrase).

    Example: triage audit show --arrival A-7K3F9Q
    """
    from triage.intake.biographic import parse_full_date

    day = parse_full_date(date, "--date").isoformat() if date is not None else None  # before the passphrase is asked
    store = open_store(home)
    where, params = [], []
    if officer:
        where.append("officer = ?")
        params.append(officer)
    if arrival:
        where.append("arrival_id = ?")
        params.append(arrival)
    if day:
        where.append("substr(at, 1, 10) = ?")
        params.append(day)
    keep = ("seq", "at", "officer", "action", "arrival_id", "records", "reason")
    rows = [{k: e[k] for k in keep} for e in store.events(" AND ".join(where) or None, params)]
    if arrival and not rows and not _known_arrival(store, arrival):
        raise NotFound(f"no arrival {arrival} in this home or its audit trail; see `triage arrivals list`")
    if json_out:
        emit_json(rows)
        return
    if out.width < WIDE:  # seven columns cannot keep an id or a batch's digest whole: one block an event
        for r in rows:
            more = len(r["records"]) - 3
            head = f"{r['seq']}  {utc_text(r['at'])} UTC  {r['action']} by {r['officer']}"
            say(out, head + (f", arrival {r['arrival_id']}" if r["arrival_id"] else ""), hang=4)
            if r["records"]:
                say(out, "    " + ", ".join(r["records"][:3]) + (f" and {more} more" if more > 0 else ""), hang=4)
            if r["reason"]:
                say(out, "    reason: " + r["reason"], hang=4)
        return
    table = Table("seq", "at (UTC)", "officer", "action", Column("arrival", no_wrap=True), "records", "reason")
    for r in rows:
        more = len(r["records"]) - 3
        table.add_row(
            str(r["seq"]),
            Text(utc_text(r["at"])),
            Text(r["officer"]),
            Text(r["action"]),
            Text(r["arrival_id"] or ""),
            Text(", ".join(r["records"][:3]) + (f" and {more} more" if more > 0 else "")),
            Text(r["reason"] or ""),
        )
    out.print(table)


def _known_arrival(store: Store, arrival: str) -> bool:
    """Whether an arrival is in the home or named in its trail: one purged under retention keeps its events, so an
    id that is in neither was mistyped, and an empty list would read as an arrival nothing happened to."""
    if store.db["arrivals"].count_where("id = ?", [arrival]):
        return True
    return store.db.execute("SELECT 1 FROM audit_events WHERE arrival_id = ? LIMIT 1", [arrival]).fetchone() is not None


def verify(
    home: HomeOpt = None,
    chain_only: bool = typer.Option(
        False,
        "--chain-only",
        help="Check the chain without the passphrase: "
        "edits and deletions inside it are found, the loss of its last events "
        "is not.",
    ),
    json_out: JsonOpt = False,
) -> None:
    """Check the hash chain and its end, and every row's authentication tag; names what is broken.

    The end of the trail and the rows' tags are checked against records sealed under the home's key, so
    that needs the passphrase; --chain-only checks the chain without it.

    Example: triage audit verify --json
    """
    from triage.store import audit, rotate

    store = open_store(home, unlock=not chain_only, check=False)
    rep = audit.verify(store.db, None if chain_only else store.vault)
    rows = [] if chain_only else store.verify_file() + store.verify_rows() + rotate.unreadable(store)
    ok = rep.ok and not rows
    if json_out:
        emit_json(
            {
                "ok": ok,
                "events": rep.events,
                "broken_seq": rep.broken_seq,
                "problem": rep.problem,
                "end_checked": not chain_only,
                "rows_checked": not chain_only,
                "row_problems": [{"table": p.table, "problem": p.what} for p in rows],
            }
        )
    else:
        if rep.ok:
            out.print(
                f"Audit chain intact: {rep.events} events"
                + (" (its end not checked: --chain-only)." if chain_only else ", up to the last one written.")
            )
        else:
            out.print(f"[red]Audit chain BROKEN[/] at event {rep.broken_seq}: {escape(str(rep.problem))}")
        if not chain_only and not rows:
            out.print(
                "Every record's authentication tag matches, every sealed value opens, and every table holds the "
                "rows last written."
            )
        for problem in rows:
            out.print(f"[red]Record BROKEN[/]: {escape(problem.what)}")
    if not ok:
        raise typer.Exit(int(ExitStatus.INTEGRITY))
