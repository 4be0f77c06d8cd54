"""`triage audit show|verify`: the tamper-evident trail of who did what to which record."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from ..errors import ExitStatus
from .common import HomeOpt, JsonOpt, emit_json, open_store, out


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The audit trail.", no_args_is_help=True)
    group.command("show")(show)
    group.command("verify")(verify)
    app.add_typer(group, name="audit")


def show(
    officer: Optional[str] = typer.Option(None, "--officer", help="Only this officer's events."),
    arrival: Optional[str] = typer.Option(None, "--arrival", help="Only events about this arrival."),
    date: Optional[str] = typer.Option(None, "--date", help="Only events on this UTC date (YYYY-MM-DD)."),
    home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Audit events, oldest first, with reasons (reasons are encrypted: this needs the passphrase)."""
    store = open_store(home)
    where, params = [], []
    if officer:
        where.append("officer = ?")
        params.append(officer)
    if arrival:
        where.append("arrival_id = ?")
        params.append(arrival)
    if date:
        where.append("substr(at, 1, 10) = ?")
        params.append(date)
    rows = []
    for r in store.db["audit_events"].rows_where(" AND ".join(where) or None, params, order_by="seq"):
        reason = store.vault.open(r["reason"], f"audit_events:{r['seq']}").decode() if r["reason"] else None
        rows.append({"seq": r["seq"], "at": r["at"], "officer": r["officer"], "action": r["action"],
                     "arrival_id": r["arrival_id"], "records": json.loads(r["records"]), "reason": reason})
    if json_out:
        emit_json(rows)
        return
    table = Table("seq", "at (UTC)", "officer", "action", "arrival", "records", "reason")
    for r in rows:
        table.add_row(str(r["seq"]), r["at"], r["officer"], r["action"], r["arrival_id"] or "",
                      ", ".join(r["records"][:3]) + (" …" if len(r["records"]) > 3 else ""), r["reason"] or "")
    out.print(table)


def verify(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Check the hash chain; names the first broken event. Needs no passphrase."""
    from .. import audit

    store = open_store(home, unlock=False)
    rep = audit.verify(store.db)
    if json_out:
        emit_json({"ok": rep.ok, "events": rep.events, "broken_seq": rep.broken_seq, "problem": rep.problem})
    elif rep.ok:
        out.print(f"Audit chain intact: {rep.events} events.")
    else:
        out.print(f"[red]Audit chain BROKEN[/] at event {rep.broken_seq}: {rep.problem}")
    if not rep.ok:
        raise typer.Exit(int(ExitStatus.INTEGRITY))
