"""`triage export` and `triage import`: the day's signed, encrypted batch, and merging batches from
other laptops."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import TaskID
from rich.table import Table
from rich.text import Text

from triage.cli.common import (
    DayOpt,
    ForceOpt,
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    SiteOpt,
    emit,
    home_path,
    officer_of,
    open_store,
    out,
    out_option,
    progress_bar,
    training_banner,
    warn,
)
from triage.files import check_output
from triage.intake.refs import parse_site

if TYPE_CHECKING:
    from triage.exchange.batch import Exported
    from triage.exchange.merge import Imported


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("import")(import_cmd)


@contextmanager
def stage_bars() -> Iterator[Callable[[str, int, int], None]]:
    """A callback `(stage, done, total)` drawing one bar per stage on stderr."""
    with progress_bar() as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def export(
    date: DayOpt,
    out_file: Annotated[Path, out_option("Batch file to write (encrypted; .age by convention).")],
    site: SiteOpt = None,
    recipient: list[str] = typer.Option(
        [],
        "--recipient",
        help="Age public key (age1...) to encrypt to (repeatable); "
        "default: the recipients listed with `triage keys recipient add`.",
    ),
    with_templates: bool = typer.Option(
        False,
        "--with-templates",
        help="Include face templates, so the receiving laptop need not compute them again from the portraits.",
    ),
    force: ForceOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Export every arrival this laptop captured on a day, with portraits, candidates, reviews, drafts and
    audit events, and its decisions on arrivals received from other laptops, signed with this laptop's key
    and encrypted to the supervisor's.

    Example: triage export --date 2026-11-28 --out batch-2026-11-28.age
    """
    from triage.exchange import batch
    from triage.intake.biographic import parse_full_date

    day = parse_full_date(date, "--date").isoformat()
    site = parse_site(site) if site else site
    check_output(out_file, home=home_path(home), force=force)
    store = open_store(home)
    training_banner(store)
    with stage_bars() as progress:
        result = batch.export_day(
            store,
            day,
            out_file,
            officer=officer_of(store, officer),
            site=site,
            recipients=recipient,
            with_templates=with_templates,
            progress=progress,
        )
    emit(result, json_out, render_export)


def render_export(result: Exported) -> None:
    out.print(
        f"Exported {result.arrivals} arrival(s) of {result.day} to {result.out} ({result.bytes:,} bytes), "
        f"signed by this laptop (fingerprint {result.fingerprint}), encrypted to "
        f"{len(result.recipients)} recipient(s)" + (", with templates." if result.with_templates else "."),
        markup=False,
    )


def import_cmd(
    files: list[Path] = typer.Argument(..., help="Batch files exported by `triage export`."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Decrypt, verify and merge batches from other laptops; importing one twice changes nothing.

    Every file is checked first (decryption with this home's key, the signature of a trusted laptop,
    every member's SHA-256, every record the signing laptop's own and in its format); then each merges in
    one transaction, and its new arrivals are searched here against the watchlist and every other arrival.
    A file refused, or a record that cannot be merged, is named, audited, and nothing of it is merged.

    Example: triage import laptop1-2026-11-28.age laptop2-2026-11-28.age
    """
    from triage.exchange import merge

    store = open_store(home)
    training_banner(store)
    with stage_bars() as progress:
        results = merge.import_files(store, files, officer=officer_of(store, officer), progress=progress)
    for r in results:
        for w in r.warnings:
            warn(w)
    emit(results, json_out, render_imports)


def render_imports(results: list[Imported]) -> None:
    """Each batch in a row, then what awaits a decision on its arrivals: watchlist alerts first (whoever's search
    found them), then repeat arrivals, then the same photo captured twice."""
    table = Table("#", "day", "device", "signed by", "arrivals", "new", "alerts", "repeats", title="Batches imported")
    for n, r in enumerate(results, 1):
        table.add_row(
            str(n),
            Text(r.day or ""),
            Text(r.device or ""),
            Text(r.signer or ""),
            str(r.arrivals),
            str(r.new_arrivals),
            str(len(r.watchlist_alerts)),
            str(len(r.repeat_candidates)),
        )
    out.print(table)
    out.print("alerts: unreviewed watchlist alerts; repeats: repeat-arrival candidates", markup=False)
    out.print("The batches:", markup=False)
    for n, r in enumerate(results, 1):
        out.print(f"  {n}: {r.file}", markup=False, overflow="fold", soft_wrap=True)
    for r in results:
        for a in r.watchlist_alerts:
            subject = f"watchlist {a.ref}" + (f" [{a.category}]" if a.category else "")
            out.print(
                f"  WATCHLIST ALERT {a.arrival_id}: {subject}"
                + ("" if a.held else " (not held in this home)")
                + f" at distance {a.distance:.3f} (threshold {a.threshold:.2f}), from {a.laptop}; found by "
                + " and ".join(_search_of(by) for by in a.found_by)
                + (f" (watchlist version {a.watchlist_version})" if a.watchlist_version is not None else "")
                + " — awaiting review, see `triage review --pending`",
                markup=False,
            )
    for r in results:
        for c in r.repeat_candidates:
            figures = (
                f"biographic: {c.score or 0:g} name parts and the date of birth agree (weaker evidence than a face)"
                if c.distance is None or c.threshold is None
                else f"at distance {c.distance:.3f} (threshold {c.threshold:.2f})"
            )
            out.print(
                f"  {c.arrival_id}: arrival {c.candidate} {figures} — a candidate for review, "
                "see `triage review --pending`",
                markup=False,
            )
        for c in r.duplicate_captures:
            out.print(
                f"  {c.arrival_id}: the same photo as arrival {c.candidate} (distance {c.distance:.3f}) — "
                "a duplicate capture, not a match: void the extra record (`triage arrivals void`)",
                markup=False,
            )


def _search_of(by: str) -> str:
    from triage.casework.review import THIS_HOME

    return "this home's search" if by == THIS_HOME else f"the search on {by}"
