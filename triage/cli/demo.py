"""`triage demo`: the whole flow on fixture data in a throwaway TRAINING home."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from triage.cli.capture import render_candidates
from triage.cli.common import JsonOpt, ScenarioOpt, emit_json, err, out, progress_bar

DEMO_PASSPHRASE = "training-demo-passphrase"
DEMO_OFFICER = "PC 0000 Trainer"
REVIEW_REASON = "Training: facial features and ear shape consistent; corroborate before any action"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    scenario: ScenarioOpt = "demo",
    home: Path | None = typer.Option(
        None,
        "--home",
        help="An empty folder for the training home (default: a new one under the system's temp directory; "
        "never $TRIAGE_HOME, which may be a real home).",
        show_default=False,
    ),
    json_out: JsonOpt = False,
) -> None:
    """Run the whole flow on fixture data: enrol a watchlist, capture a boat's arrivals, show candidates,
    record a review, draft a PND query, export the day. Everything is marked TRAINING.

    The home is a new folder under the system temp directory unless --home names an empty one; its
    passphrase is printed at the end so the home can be explored with the other commands.

    Example: triage demo --home ./demo-home
    """
    from triage.casework import arrivals, review
    from triage.evaluation import training
    from triage.exchange import batch, keys
    from triage.outputs import pnd
    from triage.store.rows import Store

    started = time.perf_counter()
    path = Path(home) if home else Path(tempfile.mkdtemp(prefix="triage-demo-"))
    err.print(f"[bold magenta]TRAINING[/] demo in {escape(str(path))}")
    with progress_bar() as bar:
        task = bar.add_task("enrolling the watchlist and capturing the boat's arrivals", total=None)
        loaded = training.start(
            path,
            scenario,
            passphrase=DEMO_PASSPHRASE,
            officer=DEMO_OFFICER,
            progress=lambda i, n: bar.update(task, completed=i, total=n),
        )
    store = Store.open(path, DEMO_PASSPHRASE)
    landed = []
    for a in loaded["arrivals"]:
        row = arrivals.get(store, a["arrival_id"])
        landed.append(
            {
                "arrival_id": a["arrival_id"],
                "landed_at": row["landed_at"],
                "safeguarding": a["safeguarding"],
                "quality": row["quality"],
                "candidates": arrivals.candidates(store, a["arrival_id"]),
            }
        )
    reviews = []
    for res in landed:
        for cand in res["candidates"]:
            if cand["below_threshold"]:
                reviews.append(
                    review.record(
                        store,
                        res["arrival_id"],
                        candidate=cand["ref"],
                        kind=cand["kind"],
                        decision="confirmed",
                        reason=REVIEW_REASON,
                        officer=DEMO_OFFICER,
                    )
                )
                break
    first_alert = next((r.arrival_id for r in reviews), landed[0]["arrival_id"])
    outputs = path.parent / f"{path.name}-outputs"  # beside the home: no output is ever written inside one
    outputs.mkdir(exist_ok=True)
    drafted = pnd.draft(
        store,
        first_alert,
        kind="person",
        officer=DEMO_OFFICER,
        purpose="To establish whether the arrival is wanted or linked to organised immigration crime",
    )
    draft_file = outputs / f"{drafted.ref}.txt"
    draft_file.write_text(pnd.render_text(drafted.draft), encoding="utf-8")
    day = arrivals.local_day(landed[0]["landed_at"], store.config.timezone)
    batch_file = outputs / f"batch-{day}-TRAINING.age"
    exported = batch.export_day(
        store,
        day,
        batch_file,
        officer=DEMO_OFFICER,  # readable by this demo home only
        recipients=[keys.own(store, officer=DEMO_OFFICER).recipient],
    )
    elapsed = time.perf_counter() - started
    summary = {
        "training": True,
        "home": str(path),
        "passphrase": DEMO_PASSPHRASE,
        "scenario": scenario,
        "title": loaded["title"],
        "watchlist_enrolled": loaded["watchlist_enrolled"],
        "arrivals_captured": len(landed),
        "arrivals_with_candidates_below_threshold": sum(
            any(c["below_threshold"] for c in r["candidates"]) for r in landed
        ),
        "safeguarding_flags": sum(r["safeguarding"] for r in landed),
        "reviews_recorded": len(reviews),
        "pnd_draft": str(draft_file),
        "batch": exported.out,
        "seconds": round(elapsed, 1),
        "arrivals": landed,
        "reviews": reviews,
    }
    store.close()
    if json_out:
        emit_json(summary)
        return
    for r in landed:
        flag = "  [bold red]SAFEGUARDING[/]" if r["safeguarding"] else ""
        out.print(f"\n[bold]{r['arrival_id']}[/] quality {r['quality']['score']}/100{flag}")
        render_candidates(r["candidates"][:3], r["candidates"][0]["threshold"] if r["candidates"] else float("nan"))
    table = Table("TRAINING demo summary", "", show_header=True)
    table.add_row("scenario", loaded["title"])
    table.add_row("watchlist subjects enrolled", str(loaded["watchlist_enrolled"]))
    table.add_row("arrivals captured", str(len(landed)))
    table.add_row("arrivals with candidates for review", str(summary["arrivals_with_candidates_below_threshold"]))
    table.add_row("safeguarding flags", str(summary["safeguarding_flags"]))
    table.add_row("reviews recorded", str(len(reviews)))
    table.add_row("time", f"{elapsed:.1f} s")
    out.print(table)
    # Paths on lines of their own: a table column would cut them to fit the terminal.
    for label, where in (
        ("The TRAINING home:", path),
        ("The PND draft (not submitted):", draft_file),
        ("The day's batch:", exported.out),
    ):
        out.print(label, markup=False)
        out.print(f"  {where}", markup=False, highlight=False)
    out.print("Explore it:", markup=False)
    run = "uv run triage" if os.environ.get("UV") else "triage"  # run through uv (the README's way), as it was run
    out.print(  # one line, to be copied whole: wrapped between its settings, it would paste as two commands
        f"  TRIAGE_HOME={path} TRIAGE_PASSPHRASE={DEMO_PASSPHRASE} {run} review --pending",
        markup=False,
        soft_wrap=True,
    )
    out.print("or see how the recorded reviews compare with the truth:", markup=False)
    out.print(
        f"  TRIAGE_HOME={path} TRIAGE_PASSPHRASE={DEMO_PASSPHRASE} {run} training score", markup=False, soft_wrap=True
    )
