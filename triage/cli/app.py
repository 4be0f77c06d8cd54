"""The `triage` command: the root group, its error handling, and the command groups it mounts.

Core modules raise `TriageError`; here each becomes one line on stderr and the exit code of its
`ExitStatus`. A wrong option or argument is one line too, with a hint naming the command's --help, and
exit code 2. A traceback is printed only with `--debug` (or TRIAGE_DEBUG=1). Output piped into a reader
that stops early (`triage evaluate --help | head`) ends quietly, with the exit code of the command.

Every command's --help reads at 80 columns: its paragraphs wrap at the terminal's width, not where the
docstring was wrapped, and no option name, type or word in its tables is cut.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import traceback
from typing import Any

import typer
from rich.columns import Columns
from rich.console import Console, ConsoleRenderable, RenderHook
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer import rich_utils
from typer._click.exceptions import NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from triage.cli import (
    arrivals,
    audit,
    batch,
    capture,
    debrief,
    demo,
    drafts,
    evaluate,
    home,
    hub,
    keys,
    models,
    names,
    ocg,
    report,
    retention,
    review,
    session,
    training,
    vessels,
    watchlist,
)
from triage.cli.common import err, fit_table
from triage.errors import ExitStatus, TriageError


def _usage(e: ClickUsageError) -> Exit:
    """A wrong option or argument as one line and a hint, instead of a framed box; exit code 2."""
    command = " ".join(["triage", *(e.ctx.command_path.split()[1:] if e.ctx is not None else [])])
    err.print(f"[red]error:[/] {escape(e.format_message())}", highlight=False)
    err.print(f"  hint: `{command} --help` shows its options and examples", highlight=False, markup=False)
    return Exit(int(ExitStatus.USAGE))


def _stdout_closed() -> None:
    """The reader of stdout has gone (`| head`): whatever is still buffered goes nowhere, so neither the rest
    of the command nor Python's own exit tries to write to the closed pipe (Python's documentation on
    SIGPIPE advises this)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a file descriptor (a test's captured output)
        pass


_LABELLED = re.compile(r"\w[\w ,]*: ")


def running_text(text: str | None) -> str | None:
    """A command's help with the line breaks its docstring was wrapped at taken out, so that each paragraph
    wraps at the terminal's width. A paragraph whose lines are all indented (examples, one a line) or all
    begin with a label and a colon (`photo: ...`, a list of columns) keeps its lines."""
    if not text:
        return text
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        kept = all(line.startswith((" ", "\t")) for line in lines) or all(_LABELLED.match(line) for line in lines)
        if kept or len(lines) < 2:
            paragraphs.append(paragraph)
        else:
            indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
            paragraphs.append(indent + " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


def _commands(group: Any) -> list[Any]:
    """`group` and every command under it, nested groups' included."""
    found = [group]
    for command in getattr(group, "commands", {}).values():
        found += _commands(command)
    return found


def _joined(cells: list[Any], between: str) -> Text:
    texts = [c if isinstance(c, Text) else Text(str(c)) for c in cells]
    return Text(between).join(t for t in texts if t.plain)


def _range_below(cell: Any) -> Any:
    """A type with its range (`<int range> [1<=x<=50]`) as two lines, so the column is as wide as a type."""
    at = cell.plain.find(" [") if isinstance(cell, Text) else -1
    if at <= 0:
        return cell
    head, _, tail = cell.divide([at, at + 1])
    return Text("\n").join([head, tail])


def _flowing(cell: Any) -> Any:
    """An option's help, then its default and [required] on a line of their own, as one text that wraps
    (and folds a word too long for the column, such as a URL) instead of a grid that cuts it."""
    if isinstance(cell, Columns) and all(isinstance(r, Text) for r in cell.renderables):
        texts = list(cell.renderables)
        return _joined(texts[:1] + [_joined(texts[1:], " ")], "\n")
    return cell


def _options_table(table: Table) -> Table:
    """typer's table of options or arguments (a required mark, long name, short name, negative long and
    short names, type, help) with the four name columns as one: a flag's negative form stands under it
    (`--interactive` over `--no-interactive`) instead of taking a column of its own from the help."""
    if len(table.columns) < 6:
        return table  # the commands table: a name and its help
    cells = [list(column.cells) for column in table.columns]
    marks, names, types, helps = cells[:-6], cells[-6:-2], cells[-2], cells[-1]
    fitted = Table(
        show_header=False,
        box=table.box,
        padding=table.padding,
        pad_edge=table.pad_edge,
        expand=table.expand,
        highlight=table.highlight,
        show_lines=table.show_lines,
        leading=table.leading,
        row_styles=table.row_styles,
        border_style=table.border_style,
    )
    for _ in marks:
        fitted.add_column(no_wrap=True)
    fitted.add_column(no_wrap=True)
    fitted.add_column(no_wrap=True)
    fitted.add_column(ratio=1)  # what is left over goes to the help
    for row, text in enumerate(helps):
        positive = _joined([names[0][row], names[1][row]], " ")
        negative = _joined([names[2][row], names[3][row]], " ")
        name = _joined([positive, negative], "\n")
        fitted.add_row(*(mark[row] for mark in marks), name, _range_below(types[row]), _flowing(text))
    return fitted


class _HelpLayout(RenderHook):
    """Lays out the tables of a command's --help inside their panels so that nothing in them is cut: the
    names and types keep their width, the help wraps between words in the rest (`fit_table`)."""

    def __init__(self, console: Console):
        self.console = console

    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        for r in renderables:
            if isinstance(r, Panel) and isinstance(r.renderable, Table):
                r.renderable = table = _options_table(r.renderable)
                _, right, _, left = Padding.unpack(r.padding)
                fit_table(table, self.console, width=self.console.options.max_width - 2 - left - right)
        return renderables


_typer_console = rich_utils._get_rich_console


def _help_console(stderr: bool = False) -> Console:
    console = _typer_console(stderr)
    console.push_render_hook(_HelpLayout(console))
    return console


# typer draws --help on a console of its own making; the layout above is hooked into that console.
rich_utils._get_rich_console = _help_console


class TriageGroup(TyperGroup):
    """Maps failures to one-line messages and exit codes for every subcommand, nested ones included; every
    command's help reads as running text (`running_text`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in _commands(self):
            command.help = running_text(command.help)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        """The root's own options are parsed here (`triage --bogus`), before `invoke`."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NoArgsIsHelpError:
            raise
        except ClickUsageError as e:
            raise _usage(e) from None
        except BrokenPipeError:
            _stdout_closed()
            raise Exit(int(ExitStatus.OK)) from None

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer's own Context, a click one
        debug = bool((ctx.obj or {}).get("debug")) or os.environ.get("TRIAGE_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except ClickUsageError as e:
            raise _usage(e) from None
        except BrokenPipeError:
            _stdout_closed()
            ctx.exit(int(ExitStatus.OK))
        except (Exit, Abort, TyperException):
            raise
        except TriageError as e:
            if debug:
                traceback.print_exc()
            err.print(f"[red]error:[/] {escape(str(e))}", highlight=False)
            if e.hint:
                err.print(f"  hint: {e.hint}", highlight=False, markup=False)
            ctx.exit(int(e.status))
        except sqlite3.OperationalError as e:
            if debug:
                traceback.print_exc()
            err.print(
                f"[red]error:[/] the store could not be written ({escape(str(e))}); nothing was saved"
                + ("; free some disk space and try again" if "full" in str(e) else ""),
                highlight=False,
            )
            ctx.exit(int(ExitStatus.ERROR))
        except Exception as e:
            if debug:
                raise
            err.print(
                f"[red]error:[/] unexpected {type(e).__name__}: {escape(str(e))} (run with --debug for the traceback)",
                highlight=False,
            )
            ctx.exit(int(ExitStatus.ERROR))


EPILOG = "Exit codes: " + ", ".join(f"{s.value} {s.name.lower().replace('_', ' ')}" for s in ExitStatus)

app = typer.Typer(
    cls=TriageGroup,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    epilog=EPILOG,
    help="Capture arrivals, match faces offline against a governed watchlist, and draft PND queries. "
    "Every match is a candidate for a person to review, never an identification.",
)


@app.callback()
def root(ctx: typer.Context, debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    ctx.obj = {"debug": debug}


for module in (
    home,
    demo,
    capture,
    session,
    arrivals,
    names,
    review,
    watchlist,
    drafts,
    vessels,
    batch,
    keys,
    report,
    audit,
    retention,
    evaluate,
    training,
    debrief,
    ocg,
    models,
    hub,
):
    module.register(app)


def main() -> None:
    # Whatever a command creates (the home's files, the evaluation cache, calibrations, drafts, batches,
    # reports) holds or concerns personal data: readable by this account only.
    os.umask(0o077)
    capture.start_early(sys.argv[1:])
    try:
        app(prog_name="triage")
        code: int | str | None = 0
    except SystemExit as done:
        # rich's consoles and click end a closed pipe with exit code 1, the pipe's error as the context
        code = int(ExitStatus.OK) if isinstance(done.__context__, BrokenPipeError) else done.code
    try:  # what is still buffered (a JSON document) is written now, while a closed pipe can be handled
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_closed()
    sys.exit(code)
