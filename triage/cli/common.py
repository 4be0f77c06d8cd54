"""What every command shares: the option types, opening the home, the officer, the passphrase, and
writing data to stdout (tables for people, one JSON document with --json) and messages to stderr."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from triage.errors import UsageError
from triage.store.config import resolve_home

T = TypeVar("T")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Home folder (default: $TRIAGE_HOME, then the app directory).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
OfficerOpt = Annotated[
    str | None,
    typer.Option("--officer", help="Officer (default: $TRIAGE_OFFICER, then the home's officer).", show_default=False),
]
MatcherOpt = Annotated[
    str | None,
    typer.Option(
        "--matcher",
        help="Matcher for this command: dlib, sface, fused or a "
        "model supplied under the home's models/ (default: the home's; see "
        "`triage models list`).",
        show_default=False,
    ),
]


def home_path(home: Path | None) -> Path:
    return resolve_home(home)


def passphrase(*, confirm: bool = False) -> str:
    """TRIAGE_PASSPHRASE when set, else a hidden prompt; never a prompt when stdin is not a terminal."""
    value = os.environ.get("TRIAGE_PASSPHRASE")
    if value:
        return value
    if not sys.stdin.isatty():
        raise UsageError("no passphrase: set TRIAGE_PASSPHRASE or run in a terminal to be asked for it")
    return typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm, err=True)


def open_store(home: Path | None, *, unlock: bool = True):
    from triage.store.rows import Store

    path = home_path(home)
    return Store.open(path, passphrase()) if unlock else Store.open_locked(path)


def officer_of(store, officer: str | None) -> str:
    name = officer or os.environ.get("TRIAGE_OFFICER") or store.config.officer
    if not name or not name.strip():
        raise UsageError("no officer: pass --officer or set TRIAGE_OFFICER")
    return name.strip()


def jsonable(value: Any) -> Any:
    """A core result as plain JSON data: a typed result through its own `as_json()` when it has one (its
    JSON shape is part of the command's contract), any other dataclass field by field."""
    if hasattr(value, "as_json"):
        return value.as_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(value), ensure_ascii=False, indent=2, default=str) + "\n")


def emit(result: T, json_out: bool, render: Callable[[T], None]) -> None:
    """Every command's way out: the result as one JSON document on stdout with --json, else `render`
    draws it for a person."""
    if json_out:
        emit_json(result)
    else:
        render(result)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def note(message: str) -> None:
    err.print(message, highlight=False, markup=False)


def training_banner(store) -> None:
    if store.config.training:
        err.print("[bold magenta]TRAINING HOME — fixture data, not for operational use[/]")


def progress_bar(*columns) -> Progress:
    """Progress on stderr that is gone when the work ends; nothing at all when stderr is not a terminal,
    so a script's log gets neither control codes nor the blank line a finished bar leaves there."""
    return Progress(*columns, console=err, transient=True, disable=not err.is_terminal)
