"""`triage vessel show`: every arrival of one vessel with candidates and flags, to see a group at a glance."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from triage.cli.common import (
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    emit_json,
    officer_of,
    open_store,
    out,
    training_banner,
)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Arrivals grouped by the vessel they landed from.", no_args_is_help=True)
    group.command("show")(show_cmd)
    app.add_typer(group, name="vessel")


def _candidate(c: dict) -> str:
    text = escape(
        f"{c['kind']} {c['ref']}"
        + (f" [{c['category']}]" if c.get("category") else "")
        + (f" {c['distance']:.3f}" if c["distance"] is not None else " (name and date of birth)")
    )
    if c["decision"]:
        return f"{text} {c['decision']}"
    return f"[bold red]{text} review[/]" if c["below_threshold"] else text


def _flags(m: dict) -> str:
    labels = {
        "safeguarding": "[bold red]SAFEGUARDING[/]",
        "below-threshold": "below threshold",
        "awaiting-review": "[bold red]awaiting review[/]",
        "confirmed": "confirmed",
        "same-face-on-vessel": "a candidate of " + escape(", ".join(m["same_face_as"])),
        "facilitator-candidate": "facilitator candidate",
        "facilitator-indicators": "facilitator indicators: " + escape(", ".join(m["indicators"])),
    }
    return "\n".join(labels[f] for f in m["flags"])


def show_cmd(
    vessel: str = typer.Argument(..., help="Vessel reference as captured, e.g. SB-0417."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every arrival of one vessel in landing order, with their candidates and flags: safeguarding, candidates
    below the threshold, confirmed candidates, a candidate of another arrival on the vessel, and facilitator
    signs.
    Flags point to something to check; none of them is a finding.

    Example: triage vessel show SB-0417
    """
    from triage.casework import vessels

    store = open_store(home)
    group = vessels.show(store, vessel, officer=officer_of(store, officer))
    if json_out:
        emit_json(group)
        return
    training_banner(store)
    days = sorted({m["landed_at"][:10] for m in group["arrivals"]}) or ["none"]
    table = Table(
        title=f"Vessel {escape(group['vessel'])}: {group['counts']['arrivals']} arrivals, landed "
        f"{' to '.join(dict.fromkeys((days[0], days[-1])))} (UTC)"
    )
    table.add_column("arrival", no_wrap=True)
    table.add_column("time", no_wrap=True)
    for name in ("name", "flags", "candidates"):
        table.add_column(name, overflow="fold")
    for m in group["arrivals"]:
        name = escape(
            m["name"]
            + (f" ({m['name_latin']})" if m["name_latin"] else "")
            + (f"\n{m['nationality']}" if m["nationality"] else "")
        )
        cands = sorted(m["candidates"], key=lambda c: (not c["below_threshold"], c["rank"]))
        table.add_row(
            Text(m["arrival_id"]),
            m["landed_at"][11:16],
            name,
            _flags(m),
            "\n".join(_candidate(c) for c in cands if c["below_threshold"] or c["decision"]) or "none below threshold",
        )
    out.print(table)
    if group["void"]:
        out.print(f"Void, not counted: {', '.join(group['void'])} (`triage arrivals show ID` says why)", markup=False)
    if group["possible_facilitators"]:
        out.print("Possible facilitator role to check: " + ", ".join(group["possible_facilitators"]), markup=False)
