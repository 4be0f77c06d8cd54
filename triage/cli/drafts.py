"""`triage pnd draft`: a PND query draft for an authorised officer to check and submit."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import HomeOpt, JsonOpt, OfficerOpt, emit_json, note, officer_of, open_store, out


def register(app: typer.Typer) -> None:
    pnd = typer.Typer(help="PND query drafts (never submitted by triage).", no_args_is_help=True)
    pnd.command("draft")(draft)
    app.add_typer(pnd, name="pnd")


def draft(
    arrival: str = typer.Argument(..., help="Arrival id."),
    purpose: Optional[str] = typer.Option(None, "--purpose", help="The policing purpose, in a sentence (required)."),
    kind: str = typer.Option("person", "--kind", help="person or face."),
    justification: Optional[str] = typer.Option(None, "--justification", help="Further justification."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the draft to this file as well."),
    officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False,
) -> None:
    """Draft a PND person or facial search for one arrival; the draft is stored and marked NOT SUBMITTED.

    Example: triage pnd draft A-7K3F9Q --purpose "To establish whether the arrival is wanted or linked to
    organised immigration crime" --kind person
    """
    import json

    from .. import drafts
    from ..errors import UsageError

    fmt = "json" if json_out else fmt
    if fmt not in ("text", "json"):
        raise UsageError("--format: choose text or json")
    store = open_store(home)
    result = drafts.pnd_draft(store, arrival, kind=kind, purpose=purpose or "", justification=justification,
                              officer=officer_of(store, officer))
    text = drafts.render_text(result) if fmt == "text" else json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    if out_file:
        out_file.write_text(text, encoding="utf-8")
        note(f"draft {result['ref']} written to {out_file}")
    if fmt == "json":
        emit_json(result)
    else:
        out.print(text, highlight=False, markup=False)
