"""`triage ocg add|update|list|show|link|suggestions`: the local register of organised crime groups, the links
officers confirm, and the links debriefs suggest for them to decide on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from triage.cli.common import (
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    arrival_option,
    emit_json,
    notes_option,
    officer_of,
    open_store,
    out,
    reason_option,
    training_banner,
    utc_text,
)

NameOpt = typer.Option([], "--name", help="A name the group or its members use (repeatable).")
PhoneOpt = typer.Option([], "--phone", help="A phone number associated with the group (repeatable).")
RouteOpt = typer.Option([], "--route", help="A route it runs, e.g. 'Gravelines to Dungeness' (repeatable).")
MethodOpt = typer.Option(
    [],
    "--payment-method",
    help="cash, bank-transfer, money-transfer, hawala, mobile-money, crypto, work, in-kind or other (repeatable).",
)
HandleOpt = typer.Option([], "--handle", help="A payment handle: account, wallet, app name or number (repeatable).")
NotesOpt = Annotated[str | None, notes_option("Free text, kept with the officer and time.")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Organised crime groups: register, links confirmed by officers, links suggested by debriefs.",
        no_args_is_help=True,
    )
    group.command("add")(add)
    group.command("update")(update)
    group.command("list")(list_cmd)
    group.command("show")(show)
    group.command("link")(link)
    group.command("suggestions")(suggestions)
    app.add_typer(group, name="ocg")


def _saved(result: dict[str, Any], json_out: bool, verb: str) -> None:
    if json_out:
        emit_json(result)
        return
    out.print(
        f"Crime group [bold]{escape(result['ref'])}[/] {verb}: {len(result['names'])} name(s), {len(result['phones'])} "
        f"phone number(s), {len(result['handles'])} payment handle(s)."
    )
    render_suggestions(result["suggestions"])


def add(
    ref: str = typer.Argument(..., help="The group's reference, e.g. OCG-2026-014."),
    name: list[str] = NameOpt,
    phone: list[str] = PhoneOpt,
    route: list[str] = RouteOpt,
    payment_method: list[str] = MethodOpt,
    handle: list[str] = HandleOpt,
    notes: NotesOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register a known or suspected organised crime group. Debriefs that gave one of its phone numbers,
    payment handles or names are listed as suggested links for an officer to decide on.

    Example: triage ocg add OCG-2026-014 --name "Abu Ali" --phone "+33 6 12 34 56 78" --route "Gravelines to Dungeness" --payment-method hawala
    """
    _save(home, officer, json_out, ref, [name, phone, route, payment_method, handle], notes, new=True)


def update(
    ref: str = typer.Argument(..., help="The group's reference."),
    name: list[str] = NameOpt,
    phone: list[str] = PhoneOpt,
    route: list[str] = RouteOpt,
    payment_method: list[str] = MethodOpt,
    handle: list[str] = HandleOpt,
    notes: NotesOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Add what has been learned to a registered group; nothing is removed.

    Example: triage ocg update OCG-2026-014 --handle "@fastcross_pay" --notes "handle seen in two debriefs"
    """
    _save(home, officer, json_out, ref, [name, phone, route, payment_method, handle], notes, new=False)


def _save(
    home: Path | None,
    officer: str | None,
    json_out: bool,
    ref: str,
    lists: list[list[str]],
    notes: str | None,
    *,
    new: bool,
) -> None:
    """Register a group (`new`) or add to one: what `ocg add` and `ocg update` share."""
    from triage.casework import ocg

    names, phones, routes, methods, handles = lists
    store = open_store(home)
    training_banner(store)
    saved = ocg.save(
        store,
        ref,
        officer=officer_of(store, officer),
        names=names,
        phones=phones,
        routes=routes,
        payment_methods=methods,
        handles=handles,
        notes=notes,
        new=new,
    )
    _saved(saved, json_out, "registered" if new else "updated")


def list_cmd(officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Registered groups with the arrivals and subjects linked to each and the suggestions awaiting a decision.

    Example: triage ocg list --json
    """
    from triage.casework import ocg

    store = open_store(home)
    rows = ocg.list_groups(store, officer=officer_of(store, officer))
    if json_out:
        emit_json(rows)
        return
    training_banner(store)
    if not rows:
        out.print("No crime groups registered.")
        return
    table = Table(
        "ref",
        "names used",
        "arrivals linked",
        "landing days",
        "last landing",
        "subjects",
        "suggestions to decide",
        title="Crime groups",
    )
    for r in rows:
        table.add_row(
            Text(r["ref"]),
            Text("; ".join(r["names"])),
            str(r["arrivals"]),
            str(r["days"]),
            Text(r["last_landing_day"] or ""),
            str(r["subjects"]),
            str(r["suggestions"]),
        )
    out.print(table, highlight=False)


def show(
    ref: str = typer.Argument(..., help="The group's reference."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Everything linked to a group: arrivals across days and sites, watchlist subjects, the decisions
    recorded and the suggestions still to decide.

    Example: triage ocg show OCG-2026-014
    """
    from triage.casework import ocg

    store = open_store(home)
    g = ocg.show(store, ref, officer=officer_of(store, officer))
    if json_out:
        emit_json(g)
        return
    training_banner(store)
    act = g["activity"]
    out.print(
        f"[bold]{escape(g['ref'])}[/] "
        + escape(f"registered by {g['registered_by']} at {utc_text(g['created_at'])} UTC")
    )
    for label, key in (
        ("names used", "names"),
        ("phone numbers", "phones"),
        ("routes", "routes"),
        ("payment methods", "payment_methods"),
        ("payment handles", "handles"),
    ):
        out.print(f"  {label:<16}: {'; '.join(g[key]) or '—'}", highlight=False, markup=False)
    for n in g["notes"]:
        out.print(
            f"  note            : {n['text']} ({n['officer']}, {utc_text(n['at'])} UTC)", highlight=False, markup=False
        )
    out.print(
        f"Activity: {act['arrivals']} linked arrival(s) on {act['days']} day(s) at {act['sites']} site(s) from "
        f"{act['vessels']} vessel(s)"
        + (f", {utc_text(act['first'])} to {utc_text(act['last'])} UTC" if act["first"] else ""),
        markup=False,
    )
    table = Table(
        "arrival",
        "landed (UTC)",
        "site, vessel",
        "name as given",
        "linked by (UTC)",
        "reason",
        title="Arrivals linked (confirmed by an officer)",
    )
    for a in g["arrivals"]:
        table.add_row(
            escape(a["arrival_id"])
            + (" [bold red]SAFEGUARDING[/]" if a["safeguarding"] else "")
            + ("\n[bold red]VOID[/]" if a.get("void") else ""),
            Text(utc_text(a["landed_at"])),
            Text(", ".join(v for v in (a["site"], a["vessel"]) if v)),
            Text(a["name"] or ""),
            Text(f"{a['officer']}, {utc_text(a['at'])}"),
            Text(a["reason"] or ""),
        )
    out.print(table if g["arrivals"] else "No arrivals linked.", highlight=False)
    if g["subjects"]:
        table = Table("subject", "category", "name", "linked by (UTC)", "reason", title="Watchlist subjects linked")
        for s in g["subjects"]:
            table.add_row(
                Text(s["ref"]),
                Text(s["category"] or ""),
                Text(s["name"] or ""),
                Text(f"{s['officer']}, {utc_text(s['at'])}"),
                Text(s["reason"] or ""),
            )
        out.print(table, highlight=False)
    for d in g["not_linked"]:
        out.print(
            f"Judged not linked: {d['target_kind']} {d['target']} by {d['officer']} at {utc_text(d['at'])} UTC — {d['reason']}",
            highlight=False,
            markup=False,
        )
    render_suggestions(g["suggestions"])


def link(
    ref: str = typer.Argument(..., help="The group's reference."),
    arrival: Annotated[str | None, arrival_option("The arrival to link.")] = None,
    subject: str | None = typer.Option(None, "--subject", help="The watchlist subject to link."),
    reason: Annotated[str | None, reason_option("Why: what matched and what was checked (required).")] = None,
    reject: bool = typer.Option(False, "--reject", help="Record that the suggested link is wrong instead."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Confirm a link between a group and an arrival or watchlist subject (or, with --reject, record that a
    suggested one is wrong). Nothing is linked until an officer does this; a later decision supersedes an
    earlier one and both are kept.

    Examples:

      triage ocg link OCG-2026-014 --arrival A-7K3F9Q --reason "same phone as the group's booking line, checked with him"

      triage ocg link OCG-2026-014 --arrival A-9QX2M4 --reject --reason "number belongs to a relative, checked"

      triage ocg link OCG-2026-014 --subject WL-0012 --reason "NCA intelligence report 26/0441 names him as the organiser"
    """
    from triage.casework import ocg

    store = open_store(home)
    training_banner(store)
    res = ocg.link(
        store,
        ref,
        officer=officer_of(store, officer),
        reason=reason or "",
        arrival_id=arrival,
        subject_ref=subject,
        decision="not-linked" if reject else "linked",
    )
    if json_out:
        emit_json(res)
        return
    out.print(
        f"Recorded: {res['target_kind']} {res['target']} {res['decision']} to {res['ocg_ref']} by {res['officer']} at "
        f"{utc_text(res['at'])} UTC" + (f" (supersedes decision {res['supersedes']})" if res["supersedes"] else ""),
        highlight=False,
        markup=False,
    )


def suggestions(
    arrival: Annotated[str | None, arrival_option("Only the suggestions for this arrival.")] = None,
    ref: str | None = typer.Option(None, "--ref", help="Only the suggestions for this group."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Links that debriefs suggest (a phone number, payment handle or name registered against a group) and that
    no officer has decided on yet.

    Example: triage ocg suggestions --arrival A-7K3F9Q
    """
    from triage.casework import ocg

    store = open_store(home)
    rows = ocg.suggestions(store, ref=ref, arrival_id=arrival, officer=officer_of(store, officer))
    if json_out:
        emit_json(rows)
        return
    training_banner(store)
    render_suggestions(rows)


def render_suggestions(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print("No suggested links await a decision.")
        return
    # The group, the arrival and the time never break (a ref cut in two reads as another); the date stands above
    # its time, as `arrivals list` shows it, and each thing matched has a line of its own, its source whole.
    table = Table(
        Column("group", no_wrap=True),
        Column("arrival", no_wrap=True, min_width=len("A-XXXXXX")),
        Column("landed\n(UTC)", no_wrap=True),
        "site, vessel",
        "matched in the debrief",
        title="Suggested links — NOT confirmed; decide with `triage ocg link`",
    )
    for s in rows:
        table.add_row(
            Text(s["ocg_ref"]),
            Text(s["arrival_id"]),
            Text(utc_text(s["landed_at"]).replace(" ", "\n", 1)),
            Text(", ".join(v for v in (s["site"], s["vessel"]) if v)),
            Text("\n".join(f"{m['kind']} {m['value']} ({m['source']})" for m in s["matched"])),
        )
    out.print(table, highlight=False)
