"""What every command shares: the option types, opening the home, the officer, the passphrase, and
writing data to stdout (tables for people, one JSON document with --json) and messages to stderr."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from triage.errors import UsageError
from triage.store.config import resolve_home

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


def emit_json(value) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


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
