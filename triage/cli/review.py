"""`triage review`: record a person's decision on a candidate, or list the queue with --pending."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from ..errors import UsageError
from .common import HomeOpt, JsonOpt, OfficerOpt, emit_json, officer_of, open_store, out


def register(app: typer.Typer) -> None:
    app.command("review")(review_cmd)


def review_cmd(
    arrival: Optional[str] = typer.Argument(None, help="Arrival id."),
    candidate: Optional[str] = typer.Option(None, "--candidate", help="Watchlist ref or arrival id of the candidate."),
    decision: Optional[str] = typer.Option(None, "--decision", help="confirmed, rejected or inconclusive."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (required)."),
    pending: bool = typer.Option(False, "--pending", help="List arrivals with candidates awaiting review, oldest first."),
    officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Record a decision on a candidate. A later decision supersedes an earlier one; both are kept.

    Examples:

      triage review --pending

      triage review A-7K3F9Q --candidate WL-0012 --decision rejected --reason "different ear shape and scar"
    """
    from .. import review

    store = open_store(home)
    if pending:
        rows = review.pending(store)
        if json_out:
            emit_json(rows)
            return
        table = Table("arrival", "landed (UTC)", "vessel", "candidates awaiting review", "flags", title="Review queue")
        for r in rows:
            table.add_row(r["arrival_id"], r["landed_at"], r["vessel"] or "",
                          ", ".join(f"{c['kind']} {c['ref']} ({c['distance']:.3f})" for c in r["candidates"]),
                          "SAFEGUARDING" if r["safeguarding"] else "")
        out.print(table if rows else "Nothing awaits review.")
        return
    if not (arrival and candidate and decision):
        raise UsageError("give ARRIVAL, --candidate and --decision (or --pending to list the queue)")
    result = review.record(store, arrival, candidate=candidate, decision=decision, reason=reason or "",
                           officer=officer_of(store, officer))
    if json_out:
        emit_json(result)
    else:
        out.print(f"Recorded: {result['decision']} for {result['kind']} {result['candidate']} on {arrival} "
                  f"by {result['officer']}" + (f" (supersedes review {result['supersedes']})" if result["supersedes"] else ""))
