"""`triage review`: look at an arrival's candidates with both portraits, record a person's decision on
one, or list the queue with --pending."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from triage.cli.capture import biographic_text, threshold_text
from triage.cli.common import (
    ForceOpt,
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    arrival_argument,
    difference_text,
    emit,
    emit_json,
    officer_of,
    open_store,
    out,
    reason_option,
    say,
    searches_text,
    training_banner,
    utc_text,
)
from triage.errors import UsageError

if TYPE_CHECKING:
    from triage.casework.review import Decision, ForReview, Pending, PendingCandidate
    from triage.store.rows import Store

PORTRAIT_COLUMNS = 24  # terminal cells across one portrait; each cell shows two pixel rows


def register(app: typer.Typer) -> None:
    app.command("review")(review_cmd)


def review_cmd(
    arrival: str | None = arrival_argument("Arrival id.", None),
    candidate: str | None = typer.Option(
        None, "--candidate", help="The candidate: its number in the table, its watchlist ref or its arrival id."
    ),
    decision: str | None = typer.Option(None, "--decision", help="confirmed, rejected or inconclusive."),
    reason: Annotated[str | None, reason_option("Why (required with --decision).")] = None,
    pending: bool = typer.Option(
        False,
        "--pending",
        help="List arrivals with candidates awaiting review, oldest first, "
        "then arrivals whose referral record is incomplete (as JSON: `triage referral "
        "--incomplete --json`).",
    ),
    portraits: bool | None = typer.Option(
        None,
        "--portraits/--no-portraits",
        help="Draw both portraits side by side in the terminal (default: when the output is a terminal).",
    ),
    portraits_to: Path | None = typer.Option(
        None, "--portraits-to", help="Also write both portraits as JPEG files into this folder (audited)."
    ),
    force: ForceOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Review an arrival's candidates, or record a decision on one. A later decision supersedes an earlier
    one; both are kept and shown.

    Examples:

      triage review --pending

      triage review A-7K3F9Q

      triage review A-7K3F9Q --candidate WL-0012 --portraits-to ~/review/A-7K3F9Q

      triage review A-7K3F9Q --candidate WL-0012 --decision rejected --reason "different ear shape and scar"
    """
    from triage.casework import review

    store = open_store(home)
    who = officer_of(store, officer)
    if pending:
        emit(review.pending(store, officer=who), json_out, lambda rows: render_pending(store, rows, who))
        return
    if not arrival:
        raise UsageError("give ARRIVAL (with --candidate and --decision to record one), or --pending to list the queue")
    if decision is not None:
        if not candidate:
            raise UsageError("--decision needs --candidate: the watchlist ref or arrival id decided on")
        result = review.record(store, arrival, candidate=candidate, decision=decision, reason=reason or "", officer=who)
        emit(result, json_out, render_decision)
        return
    view = review.show(store, arrival, officer=who, candidate=candidate)
    written = (
        review.write_portraits(store, arrival, portraits_to, officer=who, candidate=candidate, force=force)
        if portraits_to
        else []
    )
    if json_out:
        emit_json(view.as_json() | {"portraits_written": written})
        return
    training_banner(store)
    render_view(view)
    draw = out.is_terminal if portraits is None else portraits
    for c in view.candidates:
        figures = (
            escape(biographic_text(c)) + (" — for review" if _asks_review(c) else "")
            if c["distance"] is None
            else f"distance {c['distance']:.3f}, "
            + threshold_text(c["threshold"], c.get("calibrated_threshold"))
            + (" — below threshold, for review" if c["below_threshold"] and _asks_review(c) else "")
        )
        say(
            out,
            f"\n[bold]#{c['rank']} {c['kind']} {escape(c['ref'])}[/]: "
            + figures
            + (" (not held in this home: as the laptop's search recorded it)" if c.get("held") is False else "")
            + (
                f"; [bold red]VOID[/]: arrival {escape(c['ref'])} was voided, no decision can be made on it"
                if c.get("void")
                else ""
            )
            + (
                "; [bold yellow]SAME VESSEL[/]: a candidate who landed earlier from this vessel"
                if c["same_vessel"]
                else ""
            )
            + (
                f"; [bold red]SAFEGUARDING[/]: arrival {escape(c['ref'])} is flagged for safeguarding, the person "
                "may be a child"
                if c.get("safeguarding")
                else ""
            ),
            markup=True,
            hang=4,
        )
        if draw:
            side_by_side(
                review.portrait(store, "arrival", arrival),
                review.portrait(store, c["kind"], c["ref"]),
                f"arrival {arrival}",
                f"{c['kind']} {c['ref']}",
            )
        for key in ("arrival", "candidate"):
            p = c["portraits"][key]
            say(out, f"  portrait of {p['owner']}: {p['location']}", hang=2)
        render_history(c["reviews"])
    if written:
        out.print("\nPortraits written (delete them when the review is done):")
        for w in written:
            out.print(f"  {w['path']}", highlight=False, markup=False)
    elif view.candidates:
        say(out, "\nTo compare the portraits in an image viewer:")
        out.print(f"  triage review {arrival} --portraits-to FOLDER", markup=False, soft_wrap=True)


INCOMPLETE_ROWS = 20  # below the queue: the latest gaps, those an officer can still fill in


def render_pending(store: Store, rows: list[Pending], officer: str) -> None:
    """The review queue, then the arrivals whose referral record misses a step."""
    from triage.casework import referrals
    from triage.cli.debrief import render_incomplete

    table = Table(
        Column("arrival", no_wrap=True),
        Column("landed (UTC)", overflow="fold"),
        "vessel",
        "candidates awaiting review",
        "flags",
        title="Review queue",
    )
    for r in rows:
        entries = [pending_line(c) for c in r.candidates] + [
            f"same photo as arrival {c.ref}: a duplicate capture, not a match" for c in r.duplicates
        ]
        table.add_row(
            Text(r.arrival_id),
            Text(utc_text(r.landed_at)),
            Text(r.vessel or ""),
            Text("\n".join(f"- {e}" for e in entries) if len(entries) > 1 else "".join(entries)),  # one per line
            ", ".join(
                (["WATCHLIST ALERT"] if any(c.kind == "watchlist" for c in r.candidates) else [])
                + (["SAFEGUARDING"] if r.safeguarding else [])
                + (["DUPLICATE CAPTURE"] if r.duplicates else [])
            ),
        )
    out.print(table if rows else "Nothing awaits review.")
    render_incomplete(referrals.incomplete(store, officer=officer), latest=INCOMPLETE_ROWS)


def pending_line(c: PendingCandidate) -> str:
    """One candidate awaiting review: who (a watchlist subject's category, or that this home does not hold it,
    when a laptop's search found it), its figures, and whose search found it."""
    from triage.casework.review import THIS_HOME

    who = f"{c.kind} {c.ref}"
    if c.kind == "watchlist" and not c.held:
        who += " (not held in this home)"
    elif c.kind == "watchlist" and c.category:
        who += f" [{c.category}]"
    elif c.safeguarding:
        who += " SAFEGUARDING"
    found = [] if c.found_by == [THIS_HOME] else [f"found by {searches_text(c.found_by, c.figures)}"]
    if c.distance is None or c.threshold is None:  # biographic: name parts and date of birth, no distance
        figures = f"name parts agreeing {c.score or 0:g}, with the date of birth"
    else:
        figures = f"{c.distance:.3f} < {c.threshold:.2f}"
    return f"{who} ({figures})" + (f", {found[0]}" if found else "")


def render_decision(result: Decision) -> None:
    say(
        out,
        f"Recorded: {result.decision} for the {result.kind} candidate {result.candidate} of arrival {result.arrival_id}, "
        f"by {result.officer}" + (f" (supersedes review {result.supersedes})" if result.supersedes else ""),
    )
    render_history([h.as_json() for h in result.history])


def render_view(view: ForReview) -> None:
    """The candidate table: distance against threshold, the same-vessel flag, an earlier arrival's safeguarding
    flag, and the decision in force."""
    say(
        out,
        f"[bold]{escape(view.arrival_id)}[/] "
        + escape(f"landed {utc_text(view.landed_at)} UTC at {view.site}, vessel {view.vessel or '-'}")
        + ("  [bold red]SAFEGUARDING[/]" if view.safeguarding else ""),
        markup=True,
    )
    if not view.candidates:
        out.print("No candidates.")
        return
    judged = {
        threshold_text(c["threshold"], c.get("calibrated_threshold"))
        for c in view.candidates
        if c["distance"] is not None
    }
    overridden = sorted(j for j in judged if "override" in j)
    # Seven columns, the kind above the ref and the same-vessel flag under the verdict, so the table reads
    # at 80 columns without breaking a word.
    table = Table(
        Column("#", no_wrap=True),
        "candidate",
        "who",
        "distance",
        "threshold",
        "",
        "decision",
        title="Candidates for human review" + escape("".join(f", {j}" for j in overridden)),
    )
    for c in view.candidates:
        who = (c.get("name") or "") + (f" [{c['category']}]" if c["kind"] == "watchlist" and c["category"] else "")
        if c.get("held") is False:
            who = "(not held in this home)"
        flagged = len(who) if c.get("safeguarding") else None  # the other arrival: the person may be a child
        if flagged is not None:
            who += " SAFEGUARDING"
        if c.get("found_by"):
            who += f" — found by {searches_text(c['found_by'], c.get('figures') or [])}"
        if c.get("differences"):
            who += " — differs: " + ", ".join(difference_text(k, v) for k, v in c["differences"].items())
        cell = Text(who)
        if flagged is not None:
            cell.stylize("bold red", flagged + 1, flagged + len(" SAFEGUARDING"))
        if c["distance"] is None:  # biographic: weaker evidence, a reason to look
            table.add_row(
                str(c["rank"]),
                Text(f"{c['kind']}\n{c['ref']}"),
                cell,
                "-",
                "-",
                Text(biographic_text(c) + (" — review" if _asks_review(c) else "")),
                _decision_cell(c),
            )
            continue
        table.add_row(
            str(c["rank"]),
            Text(f"{c['kind']}\n{c['ref']}"),
            cell,
            f"{c['distance']:.3f}",
            f"{c['threshold']:.2f}",
            (
                ("[bold red]below threshold — review[/]" if _asks_review(c) else "below threshold")
                if c["below_threshold"]
                else "above"
            )
            + ("\n[bold yellow]SAME VESSEL[/]" if c.get("same_vessel") else ""),
            _decision_cell(c),
        )
    out.print(table)


def _asks_review(c: dict[str, Any]) -> bool:
    """A candidate still waits for a person: none can be made on a voided arrival, and one confirmed or rejected
    is decided (an inconclusive one still asks to be looked at again)."""
    decided = c["reviews"][-1]["decision"] if c["reviews"] else None
    return not c.get("void") and decided not in ("confirmed", "rejected")


def _decision_cell(c: dict[str, Any]) -> Text:
    """The decision in force; for an arrival voided since its search found it, VOID first, as none can be made."""
    decided = c["reviews"][-1]["decision"] if c["reviews"] else None
    if not c.get("void"):
        return Text(decided or "not reviewed")
    return Text(f"VOID: {decided or 'no decision'}", style="bold red")


def render_history(reviews: list[dict[str, Any]]) -> None:
    for r in reviews:
        later = any(x["supersedes"] == r["id"] for x in reviews)
        say(
            out,
            f"  review {r['id']}: {r['decision']} by {r['officer']} at {utc_text(r['at'])} UTC — {r['reason']}"
            + (" (superseded)" if later else ""),
            hang=2,
        )


def half_blocks(jpeg: bytes, width: int = PORTRAIT_COLUMNS) -> Text:
    """A portrait drawn with upper-half blocks: each cell's foreground is one pixel, its background the
    pixel below, so a square portrait takes `width` columns and `width / 2` lines."""
    import numpy as np
    from PIL import Image
    from rich.color import Color
    from rich.style import Style

    img = Image.open(io.BytesIO(jpeg)).convert("RGB").resize((width, width), Image.Resampling.LANCZOS)
    px = np.asarray(img)  # row, column, RGB
    text = Text()
    for y in range(0, width, 2):
        for x in range(width):
            text.append("▀", Style(color=Color.from_rgb(*px[y, x]), bgcolor=Color.from_rgb(*px[y + 1, x])))
        if y + 2 < width:
            text.append("\n")
    return text


def side_by_side(left: bytes | None, right: bytes | None, left_title: str, right_title: str) -> None:
    """Both portraits drawn in coloured half blocks. Asked for (`--portraits`) where the output is no terminal (a
    pipe to `less -R`, a file), they are drawn in colour all the same: without it the blocks show nothing."""
    grid = Table.grid(padding=(0, 3))
    grid.add_row(*(half_blocks(img) if img else Text("(no portrait held)") for img in (left, right)))
    grid.add_row(Text(left_title, style="bold"), Text(right_title, style="bold"))
    if out.is_terminal:
        out.print(grid)
        return
    from rich.console import Console

    Console(file=out.file, width=out.width, force_terminal=True, color_system="truecolor").print(grid)
