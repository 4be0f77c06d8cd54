"""`triage models list|verify|reindex|use`: the face models and matchers, their files and thresholds."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from triage.cli.common import (
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    WorkersOpt,
    emit_json,
    err,
    home_path,
    officer_of,
    open_store,
    out,
    progress_bar,
    warn,
)
from triage.errors import ExitStatus


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Face models and matchers: files, checks, thresholds, templates.", no_args_is_help=True)
    group.command("list")(list_cmd)
    group.command("verify")(verify_cmd)
    group.command("reindex")(reindex_cmd)
    group.command("use")(use_cmd)
    app.add_typer(group, name="models")


def list_cmd(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """The models, their files, licences and sources; the matchers with their thresholds; the home's default.

    Example: triage models list --json
    """
    from triage.faces.catalogue import inventory

    report = inventory(home_path(home))
    if json_out:
        emit_json(report)
        return
    _render(report)


def verify_cmd(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Check every model file's SHA-256 against the pinned one and self-test every model a user supplied;
    non-zero exit on any failure.

    Example: triage models verify
    """
    from triage.faces.catalogue import inventory

    report = inventory(home_path(home), check=True)
    if json_out:
        emit_json(report)
    else:
        _render(report)
        out.print("[green]all model files verified[/]" if report["ok"] else "[red]model check failed[/]")
    for problem in report["problems"]:
        err.print(f"[red]error:[/] {escape(str(problem))}", highlight=False)
    if not report["ok"]:
        raise typer.Exit(int(ExitStatus.INTEGRITY))


def _render(report: dict) -> None:
    files = Table("model", "id", "role", "licence", title="Models", title_justify="left")
    for m in report["models"]:  # one row a model; its files below the table (--json gives the full paths)
        files.add_row(Text(m["name"]), Text(m["model_id"]), Text(m["role"]), Text(m["licence"]))
    out.print(files)
    out.print("Model files (SHA-256):", markup=False)
    for m in report["models"]:  # a line a file (dlib has two), so no file name is cut to fit a column
        for f in m["files"]:
            state = (
                ("[green]ok[/]" if f["ok"] else "[red]MISMATCH[/]" if f["present"] else "[red]MISSING[/]")
                if "ok" in f
                else ("present, not checked" if f["present"] else "[red]MISSING[/]")
            )
            out.print(f"  {escape(m['name'])}: {escape(Path(f['file']).name)}: {state}", highlight=False)
    matchers = Table("matcher", "models", "threshold", "scale", "distance", title="Matchers", title_justify="left")
    for m in report["matchers"]:
        name = m["name"] + (" (default)" if m["name"] == report["default_matcher"] else "")
        lo, hi = m["plausible_thresholds"]
        matchers.add_row(
            Text(name),
            Text("\n".join(m["model_ids"])),
            f"{m['threshold']:g}",
            (f"0-{m['scale'][1]:.3g}" if m["scale"] else "not known") + f"\n({lo:.2g}-{hi:.3g})",
            Text(m["distance"]),
        )
    out.print(matchers)
    out.print(
        "Distances differ between matchers: scale is the range a matcher's distances run over, and in "
        "brackets the --threshold values it accepts. Each threshold comes from:",
        markup=False,
    )
    for m in report["matchers"]:  # paths on lines of their own, never cut to fit a column
        out.print(f"  {m['name']}: {m['calibration']}", markup=False, highlight=False)
    out.print(f"The home's default matcher: [bold]{escape(report['default_matcher'])}[/]")
    for m in report["models"]:
        if "self_test" in m and "error" not in m["self_test"]:
            colour = m["self_test"]["colour"]
            out.print(
                f"{m['name']}: self-test passed (colour order check {colour['verdict']}, "
                f"{colour['wins']} of {colour['trials']} crops)",
                markup=False,
            )


def reindex_cmd(
    model: str | None = typer.Option(
        None,
        "--model",
        help="Model to encode for (dlib, sface or a supplied model; default: every model the home's matcher uses).",
    ),
    workers: WorkersOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compute templates for a model added later, from the stored photos that have none of it; audited.

    Example: triage models reindex --model sface
    """
    from triage.faces.reindex import reindex

    store = open_store(home)
    who = officer_of(store, officer)
    with progress_bar(
        TextColumn("encoding stored photos"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as bar:
        task = bar.add_task("reindex", total=None)
        result = reindex(
            store,
            officer=who,
            model=model,
            workers_count=workers,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    store.close()
    if json_out:
        emit_json(result)
        return
    for model_id, r in result.items():
        out.print(
            f"{model_id}: {r['encoded']} of {r['photos']} stored photos encoded (detector {r['detector']}).",
            markup=False,
        )
        for f in r["failed"]:
            warn(f"{f['owner_kind']} {f['owner']} photo {f['photo']}: {f['reason']}")


def use_cmd(
    matcher: str = typer.Argument(..., help="dlib, sface, fused or a supplied model's name."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make a matcher the home's default (audited). Photos stored earlier may need `triage models reindex`.

    Example: triage models use fused
    """
    from triage.faces.matchers import set_default

    store = open_store(home)
    result = set_default(store, matcher, officer=officer_of(store, officer))
    store.close()
    if json_out:
        emit_json(result)
        return
    out.print(
        f"Default matcher: {result['matcher']} (was {result['previous']}), threshold {result['threshold']:g}.",
        markup=False,
    )
    for w in result["warnings"]:
        warn(w)
