"""`triage export` and `triage import`: the day's signed, encrypted batch, and merging batches from
other laptops."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
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
    figures_differ,
    home_path,
    officer_of,
    open_store,
    out,
    out_option,
    progress_bar,
    say,
    searches_text,
    training_banner,
    utc_text,
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
    say(
        out,
        f"Exported {result.arrivals} arrival(s) of {result.day}"
        + (
            f" and {result.received_decisions} review(s), draft(s) or outcome(s) recorded here on other laptops' records"
            if result.received_decisions
            else ""
        )
        + f" ({result.bytes:,} bytes), "
        f"signed by this laptop (fingerprint {result.fingerprint}), encrypted to "
        f"{len(result.recipients)} recipient(s)" + (", with templates." if result.with_templates else "."),
    )
    out.print(result.out, markup=False, soft_wrap=True)


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
    """Each batch in a row, then what its merge did (a batch merged here before adds nothing, and says so), then
    what awaits a decision on the batches' arrivals, each once however many batches it concerns: watchlist alerts
    first (whoever's search found them), then repeat arrivals, then the same photo captured twice. Every line
    names the batch of each arrival it is about."""
    batches_of: dict[str, list[int]] = {}  # arrival id -> the numbers of the batches that hold it
    for n, r in enumerate(results, 1):
        for aid in r.arrival_ids:
            batches_of.setdefault(aid, []).append(n)
    # Read after every merge, a later batch's view of the same alert or pair is the current one.
    alerts = {(a.arrival_id, a.ref): a for r in results for a in r.watchlist_alerts}
    repeats = {(c.kind, frozenset((c.arrival_id, c.candidate))): c for r in results for c in r.repeat_candidates}
    duplicates = {frozenset((c.arrival_id, c.candidate)): c for r in results for c in r.duplicate_captures}

    def concerns(n: int, *ids: str) -> bool:
        return any(n in batches_of.get(aid, ()) for aid in ids)

    def of(aid: str) -> str:
        held = batches_of.get(aid)
        return f"{aid} of {_numbered(held)}" if held else f"{aid} held here before"

    def pair(a: str, b: str) -> str:
        if batches_of.get(a) and batches_of.get(a) == batches_of.get(b):
            return f"both of {_numbered(batches_of[a])}"
        return f"{of(a)}, {of(b)}"

    table = Table("#", "day", "device", "signed by", "arrivals", "new", "alerts", "repeats", title="Batches imported")
    for n, r in enumerate(results, 1):
        table.add_row(
            str(n),
            Text(r.day or ""),
            Text(r.device or ""),
            Text(r.signer or ""),
            str(r.arrivals),
            str(r.new_arrivals),
            str(sum(concerns(n, a.arrival_id) for a in alerts.values())),
            str(sum(concerns(n, c.arrival_id, c.candidate) for c in repeats.values())),
        )
    out.print(table)
    out.print("alerts: unreviewed watchlist alerts; repeats: repeat-arrival candidates", markup=False)
    out.print("(on each batch's arrivals: a pair across two batches counts in both)", markup=False)
    out.print("The batches:", markup=False)
    for n, r in enumerate(results, 1):
        out.print(f"  {n}: {r.file}", markup=False, overflow="fold", soft_wrap=True)
        out.print(f"     {_merged(r)}", markup=False)
        for fix in r.corrected:  # which arrivals changed, not only how many: a void takes one out of every view
            done = "voided" if fix.kind == "void" else "amended"
            say(out, f"     {fix.arrival_id} {done} by {fix.officer}: {fix.reason}", hang=7)
    if all(r.already_imported for r in results):
        every = "The batch was" if len(results) == 1 else f"All {len(results)} batches were"
        say(out, f"{every} already merged here: nothing was added.")
    if alerts or repeats or duplicates:
        out.print("Awaiting review (see `triage review --pending`):", markup=False)
    for a in alerts.values():
        subject = f"watchlist {a.ref}" + (f" [{a.category}]" if a.category else "")
        say(
            out,
            f"  WATCHLIST ALERT {of(a.arrival_id)}: {subject}"
            + ("" if a.held else " (not held in this home)")
            + f" at distance {a.distance:.3f} (threshold {a.threshold:.2f}), from {a.laptop}; found by "
            + searches_text(a.found_by, a.figures, partial(_search_of, laptop=a.laptop))
            + (f" (watchlist version {a.watchlist_version})" if a.watchlist_version is not None else ""),
            hang=2,
        )
    for c in repeats.values():
        figures = (
            f"biographic: {c.score or 0:g} name parts and the date of birth agree (weaker evidence than a face)"
            if c.distance is None or c.threshold is None
            else f"at distance {c.distance:.3f} (threshold {c.threshold:.2f})"
        )
        if figures_differ(c.figures):
            figures += f", found by {searches_text(c.found_by, c.figures, partial(_search_of, laptop=''))}"
        say(
            out,
            f"  {c.arrival_id}: arrival {c.candidate} {figures}, a repeat-arrival candidate; "
            + pair(c.arrival_id, c.candidate),
            hang=2,
        )
    for c in duplicates.values():
        say(
            out,
            f"  {c.arrival_id}: the same photo as arrival {c.candidate} (distance {c.distance:.3f}), "
            f"a duplicate capture, not a match: void the extra record (`triage arrivals void`); "
            + pair(c.arrival_id, c.candidate),
            hang=2,
        )


def _numbered(batches: list[int]) -> str:
    """batch 2, or batches 1 and 3 (one file given twice)."""
    if len(batches) == 1:
        return f"batch {batches[0]}"
    return "batches " + ", ".join(map(str, batches[:-1])) + f" and {batches[-1]}"


def _merged(r: Imported) -> str:
    """What merging one batch did, and what it skipped."""
    added = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in r.added.items() if n)
    if r.already_imported and not added:
        return f"already merged here on {utc_text(r.first_imported_at)} UTC: skipped whole ({_arrivals(r.arrivals)})"
    if not added:
        return f"nothing new: every record held here already ({_arrivals(r.arrivals)}), skipped"
    held = r.arrivals - r.new_arrivals
    return (
        f"{r.new_arrivals} of {_arrivals(r.arrivals)} new"
        + (f" ({held} held already, skipped)" if held else "")
        + f"; added: {added}"
    )


def _arrivals(n: int) -> str:
    return f"{n} arrival" if n == 1 else f"{n} arrivals"


def _search_of(by: str, laptop: str) -> str:
    from triage.casework.review import THIS_HOME

    if by == THIS_HOME:
        return "this home's search"
    return "that laptop's search" if by == laptop else f"the search on {by}"
