"""`triage arrivals list|show|flag|amend|void` and `triage match`: what has been captured, correcting it,
and searching again."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from triage.cli.capture import render_candidates
from triage.cli.common import (
    AliasOpt,
    DobOpt,
    HomeOpt,
    JsonOpt,
    MatcherOpt,
    OfficerOpt,
    ThresholdOpt,
    TopOpt,
    arrival_argument,
    date_option,
    detail_label,
    detail_value,
    emit,
    emit_json,
    notes_option,
    officer_of,
    open_store,
    out,
    reason_option,
    say,
    training_banner,
    utc_text,
    warn,
)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="What has been captured.", no_args_is_help=True)
    group.command("list")(list_cmd)
    group.command("show")(show_cmd)
    group.command("flag")(flag_cmd)
    group.command("amend")(amend_cmd)
    group.command("void")(void_cmd)
    group.command("find")(find_cmd)
    app.add_typer(group, name="arrivals")
    app.command("match")(match_cmd)


# A year of a busy site's arrivals is ten thousand rows, seconds to draw and more than anyone reads in a table.
TABLE_ROWS = 200


def list_cmd(
    date: Annotated[str | None, date_option("Only arrivals landed on this local date (YYYY-MM-DD).")] = None,
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=0,
        help=f"Show the latest N arrivals (0: all; default {TABLE_ROWS} in the table, all with --json).",
    ),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List arrivals, oldest first: the latest 200 unless --limit or --date says otherwise.

    Examples:

      triage arrivals list --date 2026-11-28

      triage arrivals list --limit 0 > arrivals.txt
    """
    from triage.casework import arrivals
    from triage.intake.biographic import parse_full_date

    day = parse_full_date(date, "--date").isoformat() if date else None
    store = open_store(home)
    shown = limit if limit is not None else 0 if json_out or day else TABLE_ROWS
    rows = arrivals.list_arrivals(store, officer=officer_of(store, officer), day=day, latest=shown or None)
    total = arrivals.count_arrivals(store, day=day) if shown and len(rows) == shown else len(rows)
    if json_out:
        emit_json(rows)
        return
    training_banner(store)
    # The id and the flag never shrink: a cut-off "SAFEGU…" on a narrow terminal is a flag missed. When every
    # arrival landed at one site (a laptop's own list) the site is said once, above the table.
    sites = sorted({r["site"] for r in rows})
    table = Table(
        Column("arrival", no_wrap=True, min_width=len("A-XXXXXX")),
        Column("landed\n(UTC)", no_wrap=True),  # the date above its time: a date is never broken
        *(["site"] if len(sites) > 1 else []),
        "vessel",
        "name",
        "quality",
        "alerts",
        Column("flags", no_wrap=True, min_width=len("SAFEGUARDING")),
        title=f"Arrivals at {escape(sites[0])}" if len(sites) == 1 else None,
        title_justify="left",
    )
    for r in rows:
        table.add_row(
            Text(r["arrival_id"]),
            Text(utc_text(r["landed_at"]).replace(" ", "\n", 1)),
            *([Text(r["site"])] if len(sites) > 1 else []),
            Text(r["vessel"] or ""),
            Text(r["name"]),
            str(r["quality_score"]),
            str(r["alerts"]),
            " ".join(f for f, on in (("VOID", r["void"]), ("SAFEGUARDING", r["safeguarding"])) if on),
        )
    out.print(table)
    if len(rows) < total:
        say(
            out,
            f"The latest {len(rows):,} of {total:,} arrivals: --limit 0 lists them all"
            + ("" if day else ", --date one day's")
            + ", `triage arrivals find NAME` finds one by name.",
        )


def find_cmd(
    name: str = typer.Argument(..., help='A name in any script or spelling, e.g. "Mohamed Hasan" or "محمد الحسن".'),
    dob: DobOpt = None,
    limit: int = typer.Option(20, "--limit", min=1, max=500, help="How many arrivals to show, best first."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Find arrivals by name, whatever the script or spelling it was captured in: the most name parts agreeing
    first, then a date of birth that agrees with --dob (the same, then close), then the latest landing.
    Audited.

    Examples:

      triage arrivals find "Mohamed Hasan"

      triage arrivals find "محمد الحسن" --dob 1995
    """
    from triage.casework import name_keys

    store = open_store(home)
    found = name_keys.find(store, name, officer=officer_of(store, officer), dob=dob, limit=limit)
    if json_out:
        emit_json(found)
        return
    training_banner(store)
    if not found.arrivals:
        out.print(f"No arrival has a name like “{found.name}”.", markup=False)
        return
    table = Table(
        Column("arrival", no_wrap=True, min_width=len("A-XXXXXX")),
        Column("landed\n(UTC)", no_wrap=True),
        "vessel",
        "name",
        Column("date of birth", min_width=len("2026-12-06")),
        "agrees",
        title=f"Arrivals named like {escape(found.name)}" + (escape(f", born {found.dob}") if found.dob else ""),
        title_justify="left",
    )
    for a in found.arrivals:
        agrees = f"{a.parts_matched} of {a.parts_asked} name parts"
        if a.dob_agrees:
            agrees += f", date of birth {a.dob_agrees}"
        table.add_row(
            Text(a.arrival_id),
            Text(utc_text(a.landed_at).replace(" ", "\n", 1)),
            Text(a.vessel or ""),
            Text(a.name),
            Text(a.dob or ""),
            Text(agrees),
        )
    out.print(table)
    if found.matched > len(found.arrivals):
        out.print(
            f"{found.matched} arrivals agree in at least {found.need} name part{'s' if found.need != 1 else ''}; "
            f"the best {len(found.arrivals)} are shown.",
            markup=False,
        )
    out.print("A name is a reason to look, never an identification.", markup=False)


def show_cmd(
    arrival: str = arrival_argument("Arrival id, e.g. A-7K3F9Q."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One arrival: details, quality, candidates and their reviews, and where its portrait is kept.

    Example: triage arrivals show A-7K3F9Q --json
    """
    from triage.casework import arrivals

    store = open_store(home)
    row = arrivals.show(store, arrival, officer=officer_of(store, officer))
    if json_out:
        emit_json(row)
        return
    training_banner(store)
    d = row["details"]
    out.print(
        f"[bold]{escape(row['id'])}[/] "
        + escape(f"landed {utc_text(row['landed_at'])} UTC at {row['site']}, vessel {row['vessel'] or '-'}")
        + ("  [bold red]SAFEGUARDING[/]" if row["safeguarding"] else "")
    )
    if row.get("void"):
        v = row["void"]
        # markup, not style=, so that it wraps between words in a terminal like any message (an id is never cut)
        out.print(
            "[bold red]" + escape(f"VOID: voided by {v['officer']} at {utc_text(v['at'])} UTC: {v['reason']}") + "[/]"
        )
    if row["safeguarding"]:
        render_flag_reasons(row["safeguarding_reasons"])
    table = Table("field", "as given", "Latin form")
    for field in ("surname", "given_names"):
        table.add_row(detail_label(field), Text(d.get(field) or "not given"), Text(arrivals.latin_form(d, field) or ""))
    for field in (
        "dob",
        "age_range",
        "sex",
        "nationality",
        "place_of_birth",
        "languages",
        "document_type",
        "document_number",
        "document_state",
        "document_expiry",
        "phones",
        "aliases",
        "notes",
    ):
        if d.get(field):
            table.add_row(detail_label(field), Text(detail_value(field, d[field])), "")
        if field == "dob" and row["claimed_age"] is not None:  # what the date of birth makes of the day of landing
            table.add_row("claimed age", Text(f"{row['claimed_age']} at landing"), "")
    out.print(table)
    out.print(
        f"Quality {row['quality']['score']}/100"
        + (f" (override: {row['quality_override']})" if row["quality_override"] else ""),
        markup=False,
    )
    search = row.get("search") or {}
    render_candidates(
        row["candidates"],
        search.get("threshold", row["candidates"][0]["threshold"] if row["candidates"] else 0.0),
        search.get("calibrated_threshold"),
    )
    for c in row["candidates"]:
        for r in c["reviews"]:
            out.print(
                f"  review of {c['ref']}: {r['decision']} by {r['officer']} at {utc_text(r['at'])} UTC — {r['reason']}",
                markup=False,
            )
    render_versions(row.get("versions") or [], d)


def render_flag_reasons(reasons: list[dict]) -> None:
    """Why an arrival is flagged for safeguarding, a reason a line: who raised it, when, and why."""
    from triage.casework.safeguarding import NO_REASON

    if not reasons:
        say(out, f"Flagged for safeguarding: {NO_REASON}.", hang=4)
        return
    out.print("Flagged for safeguarding:", markup=False)
    for r in reasons:
        say(out, f"  {r['summary']}", hang=4)


def render_versions(versions: list[dict], current: dict) -> None:
    """Each earlier version of the details, newest first: who replaced it, when and why, and what changed, each
    field named and its values written as the details table above names and writes them, so a value reads alike
    in both."""
    if not versions:
        return
    out.print(f"Details in force: version {len(versions) + 1}; earlier versions:", markup=False)
    later = current
    for v in reversed(versions):
        out.print(
            f"  version {v['version']}, replaced by {v['replaced_by']} at {v['replaced_at']}: {v['reason']}",
            markup=False,
        )
        for name in v["changed"]:
            before = detail_value(name, v["details"].get(name))
            after = detail_value(name, later.get(name))
            out.print(f"    {detail_label(name)}: {before} -> {after}", markup=False)
        later = v["details"]


def match_cmd(
    arrival: str = arrival_argument("Arrival id."),
    top: TopOpt = 5,
    threshold: ThresholdOpt = None,
    index: str = typer.Option(
        "auto",
        "--index",
        help="auto (the approximate index from its cut-over in "
        "gallery size on), exact (scan every template) or approximate.",
    ),
    matcher: MatcherOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search an arrival again against the watchlist and other arrivals (recorded as a new search, with
    its threshold and method).

    A --threshold is on the scale of the matcher in use, which differs between matchers: dlib's distances run 0-1.5 (shipped threshold 0.50), the fused matcher's 0-23 (shipped threshold 10.90). `triage models list` shows each matcher's scale and the threshold in force in this home. A threshold off the scale is refused; an override is shown beside the calibrated threshold wherever this search is shown.

    Examples:

      triage match A-7K3F9Q --top 10

      triage match A-7K3F9Q --matcher fused --threshold 9.5

      triage match A-7K3F9Q --matcher dlib --threshold 0.45

    An example with a threshold names its matcher, so it holds whichever matcher a home uses.
    """
    from triage.casework import arrivals
    from triage.errors import UsageError

    modes = {"auto": None, "exact": False, "approximate": True}
    if index not in modes:
        raise UsageError(f"--index {index!r}: choose auto, exact or approximate")
    store = open_store(home)
    result = arrivals.search_again(
        store,
        arrival,
        officer=officer_of(store, officer),
        top_k=top,
        threshold=threshold,
        approximate=modes[index],
        matcher=matcher,
    )
    for w in result.warnings:
        warn(w)
    emit(
        result,
        json_out,
        lambda r: render_candidates([c.as_json() for c in r.candidates], r.threshold, r.calibrated_threshold),
    )


def flag_cmd(
    arrival: str = arrival_argument("Arrival id."),
    safeguarding: bool = typer.Option(False, "--safeguarding", help="Raise the safeguarding flag."),
    reason: Annotated[str | None, reason_option("Why (required; kept in the audit trail).")] = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Raise a flag on an arrival, e.g. safeguarding for a person who says they are an adult but appears to be a child.

    Example: triage arrivals flag A-7K3F9Q --safeguarding --reason "appears about 15; earlier arrival said 16"
    """
    from triage.casework import arrivals
    from triage.errors import UsageError

    if not safeguarding:
        raise UsageError("say which flag to raise: --safeguarding")
    store = open_store(home)
    result = arrivals.flag_safeguarding(store, arrival, reason=reason or "", officer=officer_of(store, officer))
    if json_out:
        emit_json(result)
    else:
        training_banner(store)
        out.print(
            f"Safeguarding flag raised on {arrival} by {result['officer']}"
            + (" (it was already flagged; the reason is added to the audit trail)" if result["was_flagged"] else ""),
            markup=False,
        )


def amend_cmd(
    arrival: str = arrival_argument("Arrival id."),
    surname: str | None = typer.Option(None, "--surname", help="Surname as given, in any script."),
    given_names: str | None = typer.Option(None, "--given-names", help="Given names as given, in any script."),
    alias: AliasOpt = None,
    dob: DobOpt = None,
    age: str | None = typer.Option(None, "--age", help="Assessed age or range when there is no document, e.g. 16-18."),
    sex: str | None = typer.Option(None, "--sex", help="F, M or X."),
    nationality: str | None = typer.Option(None, "--nationality", help="Country name or ISO code."),
    place_of_birth: str | None = typer.Option(None, "--place-of-birth"),
    language: list[str] = typer.Option([], "--language", help="Language spoken (repeatable; replaces the list)."),
    document_type: str | None = typer.Option(None, "--document-type", help="passport, id-card, none ..."),
    document_number: str | None = typer.Option(None, "--document-number"),
    document_state: str | None = typer.Option(None, "--document-state", help="Issuing state (name or code)."),
    document_expiry: str | None = typer.Option(None, "--document-expiry", help="YYYY-MM-DD."),
    phone: list[str] = typer.Option([], "--phone", help="Phone number seen (repeatable; replaces the list)."),
    notes: Annotated[str | None, notes_option("Free-text officer notes (replace the earlier notes).")] = None,
    reason: Annotated[str | None, reason_option("Why the details are corrected (required; kept).")] = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Correct an arrival's details: the details given replace those in force, the others stay; the earlier
    version is kept and shown by `triage arrivals show`. The search is made again only when a detail that
    searches compare (names, date of birth, age, sex, nationality, document number) changed.

    Example: triage arrivals amend A-7K3F9Q --surname Haile --dob 1994 --reason "misheard at the beach; passport seen"
    """
    from triage.casework import corrections
    from triage.intake.biographic import DetailText

    text = DetailText(
        surname=surname,
        given_names=given_names,
        aliases=alias or [],
        dob=dob,
        age=age,
        sex=sex,
        nationality=nationality,
        place_of_birth=place_of_birth,
        languages=language,
        document_type=document_type,
        document_number=document_number,
        document_state=document_state,
        document_expiry=document_expiry,
        phones=phone,
        notes=notes,
    )
    store = open_store(home)
    result = corrections.amend(store, arrival, text, reason=reason, officer=officer_of(store, officer))

    def render(r: corrections.Amended) -> None:
        training_banner(store)
        out.print(
            f"{r.arrival_id}: details version {r.version} by {r.officer}; changed {', '.join(r.changed)}", markup=False
        )
        if r.searched_again:
            out.print("A detail that searches compare changed, so the arrival was searched again.", markup=False)
        else:
            out.print("No detail that searches compare changed; the search was not made again.", markup=False)
        if r.safeguarding_raised:
            out.print("The corrected age leaves room for a child: the safeguarding flag is raised.", markup=False)

    emit(result, json_out, render)


def void_cmd(
    arrival: str = arrival_argument("Arrival id."),
    reason: Annotated[
        str | None, reason_option("Why the arrival is void, e.g. a duplicate of A-... (required).")
    ] = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Void an arrival landed in error: it leaves the review queue, every search and the day report, and is
    kept as a tombstone that `triage arrivals show` marks VOID.

    Example: triage arrivals void A-7K3F9Q --reason "duplicate of A-2M4P8R: the same person captured twice"
    """
    from triage.casework import corrections

    store = open_store(home)
    result = corrections.void(store, arrival, reason=reason, officer=officer_of(store, officer))

    def render(r: corrections.Voided) -> None:
        training_banner(store)
        out.print(
            f"{r.arrival_id} is VOID (by {r.officer} at {utc_text(r.at)} UTC); it is kept as a tombstone.", markup=False
        )

    emit(result, json_out, render)
