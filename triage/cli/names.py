"""`triage names NAME`: the ways a name may be written, ranked, each with why it is there, so an officer
can check the spellings worth a search before making one."""

from __future__ import annotations

import typer
from rich.table import Column, Table

from triage.cli.common import JsonOpt, emit, out
from triage.intake import names


def register(app: typer.Typer) -> None:
    app.command("names")(names_cmd)


def _render(result: names.NameVariants) -> None:
    if not result.variants:
        out.print("No name given.", markup=False)
        return
    table = Table(
        Column("#", justify="right", no_wrap=True),
        "variant",
        "why",
        title=f"Ways to write {result.name}",
        title_justify="left",
    )
    for i, v in enumerate(result.variants, 1):
        table.add_row(str(i), v.text, v.reason)
    out.print(table, markup=False)


def names_cmd(
    name: str = typer.Argument(
        ..., help='A name in any script or spelling, e.g. "الحسن", or "SURNAME, GIVEN NAMES" for full names.'
    ),
    limit: int = typer.Option(names.LIMIT, "--limit", min=1, max=50, help="How many variants to show, best first."),
    json_out: JsonOpt = False,
) -> None:
    """The ways a name may be written, most likely first, each with why it is there: as given, from the
    names lexicon (its usual romanisations), by a rule (an article dropped or joined, Abd compounds, ou/u,
    ta marbuta, Ethiopic vowel orders...), or as a bare consonant skeleton when nothing better is known.
    Nothing is stored or searched.

    Examples:

      triage names "الحسن"

      triage names "Abdul Rahman" --json

      triage names "حسين, محمد"
    """
    emit(names.variants_of(name, limit), json_out, _render)
