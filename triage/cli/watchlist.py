"""`triage watchlist add|import|list|show|update|remove|index`: governed enrolment; `issue|receive|status|retention`:
the signed packages that carry an issuing home's watchlist to its laptops."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from triage.cli.common import (
    AliasOpt,
    DobOpt,
    FaceOpt,
    ForceOpt,
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    OverrideReasonOpt,
    WorkersOpt,
    detail_value,
    emit,
    emit_json,
    home_path,
    low_quality_option,
    officer_of,
    open_store,
    out,
    out_option,
    progress_bar,
    reason_option,
    training_banner,
    warn,
)

# The governance fields `add` sets and `update` changes.
CATEGORY = typer.Option(
    "--category", help="facilitator, wanted, missing, vulnerable or other (under-18s: missing or vulnerable only)."
)
REVIEW_DATE = typer.Option("--review-date", help="YYYY-MM-DD, in the future; after it the entry is not searched.")
AUTHORISED_BY = typer.Option("--authorised-by", help="The officer authorising the entry.")
RefArg = Annotated[str, typer.Argument(help="Watchlist reference.")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Governed watchlist: every entry has a category, reason, authority and review date.", no_args_is_help=True
    )
    group.command("add")(add)
    group.command("import")(import_cmd)
    group.command("list")(list_cmd)
    group.command("show")(show)
    group.command("update")(update)
    group.command("remove")(remove)
    group.command("index")(index)
    group.command("issue")(issue)
    group.command("receive")(receive)
    group.command("status")(status)
    group.command("retention")(retention)
    app.add_typer(group, name="watchlist")


def _override(accept_low_quality: bool, override_reason: str | None) -> str | None:
    from triage.errors import UsageError

    if accept_low_quality and not (override_reason and override_reason.strip()):
        raise UsageError("--accept-low-quality needs --override-reason")
    return override_reason if accept_low_quality else None


def add(
    photos: Annotated[list[Path], typer.Argument(help="One or more photos of the subject.")],
    ref: Annotated[str, typer.Option("--ref", help="Watchlist reference, e.g. WL-0012.")],
    name: Annotated[str, typer.Option("--name", help="Name, in any script.")],
    category: Annotated[str, CATEGORY],
    reason: Annotated[str, reason_option("Why this person is on the watchlist.")],
    authorised_by: Annotated[str, AUTHORISED_BY],
    review_date: Annotated[str, REVIEW_DATE],
    image_source: str = typer.Option("not stated", "--image-source", help="Where the photos come from."),
    alias: AliasOpt = None,
    dob: DobOpt = None,
    face: FaceOpt = None,
    accept_low_quality: Annotated[bool, low_quality_option("Override the enrol quality gate.")] = False,
    override_reason: OverrideReasonOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Enrol one subject. Photos pass the strict `enrol` quality profile; in a photo of several people --face
    says which is the subject (1 = largest), in every photo given, so enrol a group photo on its own.

    Example: triage watchlist add wl12.jpg --ref WL-0012 --name "Karwan HAMA" --category facilitator
    --reason "Suspected pilot for a smuggling network" --authorised-by "DS 4411 Clarke" --review-date 2027-05-01
    """
    from triage.casework import watchlist
    from triage.intake import photos as photo_io

    override = _override(accept_low_quality, override_reason)
    pics = [photo_io.read_photo(p) for p in photos]
    store = open_store(home)
    result = watchlist.add_subject(
        store,
        ref=ref,
        name=name,
        category=category,
        reason=reason,
        authorised_by=authorised_by,
        review_date=review_date,
        photos=pics,
        officer=officer_of(store, officer),
        image_source=image_source,
        aliases=alias or [],
        dob=dob,
        override_reason=override,
        face_index=face,
    )
    for w in result["warnings"]:
        warn(w)
    if json_out:
        emit_json(result)
    else:
        out.print(
            f"Enrolled {result['ref']} ({result['category']}) with {result['photos']} photo(s); "
            f"review by {result['review_date']}.",
            markup=False,
        )


def import_cmd(
    csv_file: Path = typer.Argument(..., metavar="WATCHLIST.csv", help="One row per subject."),
    photo_dir: Path = typer.Option(..., "--photos", help="Folder holding the photos the CSV names."),
    workers: WorkersOpt = None,
    accept_low_quality: Annotated[bool, low_quality_option("Override the enrol quality gate for every row.")] = False,
    override_reason: OverrideReasonOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Enrol every row of a CSV with its photos; refused rows are listed with what to fix.

    Columns (the first line names them; case, '-', '_' and spaces do not matter): ref, name, category,
    reason, authorised_by, review_date and photos are required; image_source, aliases and dob are
    optional. photos names one or more files in the --photos folder and aliases one or more names,
    separated by ';'. Categories: facilitator, wanted, missing, vulnerable, other; a person who may be
    under 18 only as missing or vulnerable. review_date is YYYY-MM-DD and in the future.

    Each row is enrolled whole or not at all. A ref already on the watchlist is skipped, so running the
    same file again (after fixing refused rows, or after an interruption) enrols only what is missing.
    Exit status 0 when every row is on the watchlist, 3 when any row was refused.

    Example: triage watchlist import wanted-2026-11.csv --photos wanted-2026-11/
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from triage.casework import watchlist
    from triage.errors import BadInput, ExitStatus

    override = _override(accept_low_quality, override_reason)
    if not photo_dir.is_dir():
        raise BadInput(f"--photos {photo_dir}: no such folder")
    store = open_store(home)
    with progress_bar(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as bar:
        task = bar.add_task("enrolling", total=None)
        report = watchlist.import_csv(
            store,
            csv_file,
            photo_dir,
            officer=officer_of(store, officer),
            override_reason=override,
            workers_count=workers,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            index_progress=lambda done, total: bar.update(task, description="indexing", completed=done, total=total),
        )
    result = report.to_dict()
    if json_out:
        emit_json(result)
    else:
        out.print(
            f"{result['file']}: {len(result['enrolled'])} enrolled, {len(result['already_enrolled'])} already on "
            f"the watchlist, {len(result['refused'])} refused (of {result['rows']} rows).",
            markup=False,
        )
        if result["refused"]:
            table = Table("row", "ref", "refused because", title="Refused rows")
            for r in result["refused"]:
                table.add_row(str(r["row"]), Text(r["ref"]), Text(r["reason"]))
            out.print(table)
    for e in result["enrolled"]:
        for w in e["warnings"]:
            warn(f"row {e['row']} ({e['ref']}): {w}")
    if result["refused"]:
        raise typer.Exit(int(ExitStatus.BAD_INPUT))


def list_cmd(
    category: str | None = typer.Option(None, "--category", help="Only this category."),
    expired: bool | None = typer.Option(None, "--expired/--current", help="Only expired, or only current, entries."),
    removed: bool = typer.Option(False, "--include-removed", help="Also list removed entries (tombstones)."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List watchlist subjects; an entry past its review date shows as expired and is not searched.

    Example: triage watchlist list --category facilitator --expired
    """
    from triage.casework import issued, watchlist

    store = open_store(home)
    rows = watchlist.list_subjects(
        store, officer=officer_of(store, officer), category=category, expired=expired, include_removed=removed
    )
    came = issued.origins(store)
    for r in rows:  # an issuer's entry changes with its next package; a local one only here
        r["origin"] = f"issued by device {came[r['ref']]['issuer']}" if r["ref"] in came else "local"
    if json_out:
        emit_json(rows)
        return
    table = Table("ref", "name", "category", "review date", "photos", "authorised by", "status")
    for r in rows:
        status = "[red]EXPIRED, not searched[/]" if r["expired"] and r["status"] == "active" else r["status"]
        status += "\nlocal" if r["origin"] == "local" else "\nissued"
        table.add_row(
            Text(r["ref"]),
            Text(r["name"] or ""),
            Text(r["category"] or ""),
            Text(r["review_date"] or ""),
            str(r["photos"]),
            Text(r["authorised_by"] or ""),
            status,
        )
    out.print(table if rows else "No watchlist entries match.")


def show(
    ref: RefArg,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One watchlist subject with its governance record (a removed one: its tombstone).

    Example: triage watchlist show WL-0012
    """
    from triage.casework import watchlist

    store = open_store(home)
    row = watchlist.show_subject(store, ref, officer=officer_of(store, officer))
    if json_out:
        emit_json(row)
        return
    table = Table("field", "value")
    for k, v in row.items():
        table.add_row(k, Text("" if v is None else detail_value(k, v)))
    out.print(table)
    if row["expired"] and row["status"] == "active":
        warn(
            f"{ref} is past its review date and is not searched; renew it with `triage watchlist update {ref} "
            "--review-date YYYY-MM-DD --reason ...` or remove it"
        )


def update(
    ref: RefArg,
    reason: Annotated[str, reason_option("Why the entry is changed (audited).")],
    review_date: Annotated[str | None, REVIEW_DATE] = None,
    category: Annotated[str | None, CATEGORY] = None,
    inclusion_reason: str | None = typer.Option(
        None, "--inclusion-reason", help="New reason for the person being on the watchlist."
    ),
    authorised_by: Annotated[str | None, AUTHORISED_BY] = None,
    alias: list[str] | None = typer.Option(None, "--alias", help="Other names used (repeatable; replaces the list)."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Change an entry's governance fields; the change, its reason and the officer are audited.

    Example: triage watchlist update WL-0012 --review-date 2027-11-01 --authorised-by "DI 2211 Shah"
    --reason "Quarterly review: warrant still outstanding"
    """
    from triage.casework import watchlist

    store = open_store(home)
    result = watchlist.update_subject(
        store,
        ref,
        reason=reason,
        officer=officer_of(store, officer),
        review_date=review_date,
        category=category,
        inclusion_reason=inclusion_reason,
        authorised_by=authorised_by,
        aliases=alias,
    )
    if json_out:
        emit_json(result)
    else:
        out.print(
            f"Updated {result['ref']}: {', '.join(result['changed'])} changed; {result['category']}, "
            f"review by {result['review_date']}.",
            markup=False,
        )


def remove(
    ref: RefArg,
    reason: Annotated[str, reason_option("Why it is removed (audited).")],
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove a subject: its biometrics and personal details are deleted, a tombstone stays.

    The tombstone (ref, category, dates, authority) keeps the audit trail readable.

    Example: triage watchlist remove WL-0012 --reason "Arrested 2026-11-20; warrant executed"
    """
    from triage.casework import watchlist

    store = open_store(home)
    result = watchlist.remove_subject(store, ref, reason=reason, officer=officer_of(store, officer))
    if json_out:
        emit_json(result)
    else:
        out.print(f"Removed {result['ref']}: biometrics deleted, tombstone kept.", markup=False)


def index(
    rebuild: bool = typer.Option(False, "--rebuild", help="Build from scratch instead of bringing it up to date."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Build and store the approximate search index of the watchlist and of earlier arrivals.

    Searches of a gallery with fewer templates than the cut-over scan every template exactly; from the
    cut-over on they use this index and re-rank its candidates exactly (`triage match --index` chooses
    per search). An import that crosses the cut-over builds it; a million templates take minutes.

    Example: triage watchlist index
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from triage.casework import watchlist

    store = open_store(home)
    with progress_bar(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("index", total=None)
        result = watchlist.build_index(
            store,
            officer=officer_of(store, officer),
            rebuild=rebuild,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if json_out:
        emit_json(result)
        return
    for kind, r in result.items():
        out.print(
            f"{kind}: {r['indexed']} of {r['templates']} templates indexed in {r['seconds']} s "
            f"(searched through the index from {r['cutover']:,} templates)."
        )


# -- packages: the watchlist an issuing home sends to its laptops ------------------------------------------


def issue(
    out_file: Annotated[Path, out_option("The package file to write, e.g. watchlist-v3.age.")],
    valid_for: int = typer.Option(1, "--valid-for", min=1, help="Days the package is searched for (1-31)."),
    force: ForceOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Issue this home's watchlist as a signed package, encrypted to its listed recipients.

    The package holds every live subject this home enrolled (governance fields, portraits, templates),
    the refs it removed, and a version one more than the last it issued. Laptops apply it with
    `triage watchlist receive`; past --valid-for days they stop searching it.

    Example: triage watchlist issue --out watchlist.age --valid-for 1
    """
    from triage.exchange import packages
    from triage.files import check_output

    check_output(out_file, home=home_path(home), force=force)
    store = open_store(home)
    training_banner(store)
    result = packages.issue(store, out_file, officer=officer_of(store, officer), valid_for_days=valid_for)

    def render(r: packages.Issued) -> None:
        out.print(
            f"Issued watchlist version {r.version}: {r.subjects} subject(s), {r.tombstones} removed; valid until "
            f"{r.valid_until}; signed {r.fingerprint}, encrypted to {len(r.recipients)} recipient(s).",
            markup=False,
        )
        out.print(r.out, markup=False, soft_wrap=True)

    emit(result, json_out, render)


def receive(
    package: Annotated[Path, typer.Argument(help="A package written by `triage watchlist issue`.")],
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Apply a watchlist package from a trusted issuer, then search the arrivals held against it.

    The package must be signed by a key this home trusts (`triage keys trust`) and be newer than the
    version held from that issuer (else exit 6, nothing changed). Its additions, changes and removals land
    together; this home's own entries are kept apart. Arrivals already held that a new or changed subject
    matches are searched again and listed as alerts to review.

    Example: triage watchlist receive watchlist.age
    """
    from triage.exchange import packages

    store = open_store(home)
    training_banner(store)
    result = packages.receive(store, package, officer=officer_of(store, officer))
    for w in result.warnings:
        warn(w)

    def render(r: packages.Received) -> None:
        out.print(
            f"Watchlist version {r.version} from {r.issuer} (was {r.previous_version or 'none'}): "
            f"{len(r.added)} added, {len(r.updated)} updated, {len(r.removed)} removed, {r.unchanged} unchanged; "
            f"valid until {r.valid_until}.",
            markup=False,
        )
        for gone in r.deleted_expired:
            out.print(
                f"Deleted {len(gone['refs'])} subject(s) of the expired package version {gone['version']} from "
                f"{gone['issuer']} (expired {gone['valid_until']}).",
                markup=False,
            )
        if not r.alerts:
            if not r.added and not r.updated:
                out.print("No subject added or changed: the arrivals held were not searched again.", markup=False)
            else:
                out.print(
                    f"Compared the {r.compared} arrival(s) held with the new and changed subjects: no alert.",
                    markup=False,
                )
            return
        table = Table("arrival", "landed", "subject", "category", "distance", "threshold", title="Alerts to review")
        for a in r.alerts:
            table.add_row(
                Text(a.arrival_id),
                Text(a.landed_at),
                Text(a.ref),
                Text(a.category or ""),
                f"{a.distance:.3f}",
                f"{a.threshold:.2f}",
            )
        out.print(table)

    emit(result, json_out, render)


def status(
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The watchlist packages held (issuer, version, age, valid-until) and the counts of subjects.

    Example: triage watchlist status
    """
    from triage.exchange import packages

    store = open_store(home)
    result = packages.status(store)
    for w in result.warnings:
        warn(w)

    def render(r: packages.Status) -> None:
        for p in r.packages:
            out.print(
                f"{p.issuer} (device {p.device}, {p.fingerprint}): version {p.version}, issued {p.issued_at} "
                f"({p.age_hours:g} h ago), valid until {p.valid_until}"
                + ("" if p.valid else " - EXPIRED, not searched")
                + f"; {p.subjects} subject(s).",
                markup=False,
            )
        if not r.packages:
            out.print("No watchlist package received.", markup=False)
        if r.last_issued:
            i = r.last_issued
            out.print(
                f"Issued by this home: version {i['version']} at {i['issued_at']}, valid until {i['valid_until']}.",
                markup=False,
            )
        c = r.counts
        out.print(
            f"Subjects: {c['issued']} issued, {c['local']} local, {c['expired']} expired (not searched). An expired "
            f"package's subjects are deleted {r.expired_days} day(s) after its valid-until.",
            markup=False,
        )

    emit(result, json_out, render)


def retention(
    days: int | None = typer.Option(None, "--days", min=0, max=31, help="Days to keep an expired package's subjects."),
    reason: Annotated[str | None, reason_option("Why the period changes (audited).")] = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show, or with --days set, how long an expired package's subjects are kept before they are deleted.

    Example: triage watchlist retention --days 1 --reason "Deployment policy: destroy after 24 hours"
    """
    from triage.casework import issued

    store = open_store(home)
    if days is None:
        result = {"expired_days": issued.expired_days(store)}
    else:
        result = issued.set_expired_days(store, days, officer=officer_of(store, officer), reason=reason or "")
    if json_out:
        emit_json(result)
    else:
        out.print(
            f"An expired watchlist package's subjects are deleted {result['expired_days']} day(s) after its valid-until.",
            markup=False,
        )
