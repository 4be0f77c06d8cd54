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
import sqlite3
import sys
import traceback
from typing import Any

import typer
from rich.markup import escape
from typer._click.exceptions import NoArgsIsHelpError, NoSuchOption
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
from triage.cli.common import err, running, stdout_closed
from triage.cli.help_layout import running_text
from triage.errors import INTERRUPTED_TEXT, ExitStatus, IntegrityFailure, TriageError


def _usage(e: ClickUsageError) -> Exit:
    """A wrong option or argument as one line and a hint, instead of a framed box; exit code 2."""
    command = " ".join(["triage", *(e.ctx.command_path.split()[1:] if e.ctx is not None else [])])
    err.print(f"[red]error:[/] {escape(e.format_message())}", highlight=False)
    params = e.ctx.command.params if e.ctx is not None else []
    for param in params:  # `--vessel --photo x.jpg`: the option after one was taken as its value
        value = (e.ctx.params if e.ctx is not None else {}).get(param.name or "")
        if param.opts and isinstance(value, str) and value.startswith("--"):
            err.print(
                f"  hint: {param.opts[0]} took {value} as its value; give {param.opts[0]} a value of its own",
                highlight=False,
                markup=False,
            )
    if isinstance(e, NoSuchOption) and e.option_name == "--debug" and e.ctx is not None and e.ctx.parent is not None:
        err.print(  # the root's own option, given after a command: click reads it only before one
            f"  hint: --debug goes before the command: `triage --debug {' '.join(command.split()[1:])} ...`",
            highlight=False,
            markup=False,
        )
    err.print(f"  hint: `{command} --help` shows its options and examples", highlight=False, markup=False)
    return Exit(int(ExitStatus.USAGE))


def _commands(group: Any) -> list[Any]:
    """`group` and every command under it, nested groups' included."""
    found = [group]
    for command in getattr(group, "commands", {}).values():
        found += _commands(command)
    return found


class TriageGroup(TyperGroup):
    """Maps failures to one-line messages and exit codes for every subcommand, nested ones included; every
    command's help reads as running text (`running_text`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in _commands(self):
            command.help = running_text(command.help)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        """The root's own options are parsed here (`triage --bogus`), before `invoke`. Help is laid out for
        80 columns (`help_layout`), set up only when asked for: it imports what other commands do without."""
        if len(args) <= 1 or "--help" in args or "-h" in args:  # a group alone shows its help
            from triage.cli import help_layout

            help_layout.install()
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NoArgsIsHelpError:
            raise
        except ClickUsageError as e:
            raise _usage(e) from None
        except BrokenPipeError:
            stdout_closed()
            raise Exit(int(ExitStatus.OK)) from None

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer's own Context, a click one
        def debug() -> bool:  # asked when it fails: `--debug` is read into ctx.obj by `root`, inside the invoke
            return bool((ctx.obj or {}).get("debug")) or os.environ.get("TRIAGE_DEBUG") == "1"

        unlocked = sys.modules.get("triage.store.rows")  # loaded by a command this process ran before (tests)
        if unlocked is not None:
            unlocked.forget_unlocked()
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except ClickUsageError as e:
            raise _usage(e) from None
        except BrokenPipeError:
            stdout_closed()
            ctx.exit(int(ExitStatus.OK))
        except Abort as e:
            if not isinstance(e.__context__, KeyboardInterrupt):  # input ended at a prompt (Ctrl-D, a short script)
                _input_ended(ctx)
            _interrupted(ctx)
        except (Exit, TyperException):
            raise
        except KeyboardInterrupt:  # in work that does not say more itself
            _interrupted(ctx)
        except TriageError as e:
            if debug():
                traceback.print_exc()
            from triage.store.rows import explain

            _refused(ctx, explain(e))
        except sqlite3.OperationalError as e:
            if debug():
                traceback.print_exc()
            if "Could not decode to UTF-8" in str(e):  # text triage never writes: put there with another tool
                _refused(
                    ctx, _outside(f"the store file holds text that is not UTF-8 ({e}): it was changed outside triage")
                )
            err.print(
                f"[red]error:[/] the store could not be written ({escape(str(e))}); nothing was saved"
                + ("; free some disk space and try again" if "full" in str(e) else ""),
                highlight=False,
            )
            ctx.exit(int(ExitStatus.ERROR))
        except Exception as e:
            if debug():
                raise
            if type(e) is sqlite3.DatabaseError:  # "database disk image is malformed": a page or index changed
                _refused(
                    ctx,
                    _outside(
                        f"the store file is damaged or was changed outside triage ({e}); `triage doctor` shows where"
                    ),
                )
            err.print(
                f"[red]error:[/] unexpected {type(e).__name__}: {escape(str(e))} (run with --debug for the traceback)",
                highlight=False,
            )
            ctx.exit(int(ExitStatus.ERROR))


def _interrupted(ctx: typer.Context) -> None:
    """Ctrl-C, at a prompt (which click turns into `Abort`) or in the middle of work: the store's transactions
    leave nothing half-made."""
    _own_line()
    err.print(f"[red]interrupted:[/] {INTERRUPTED_TEXT}", highlight=False)
    ctx.exit(int(ExitStatus.INTERRUPTED))


def _own_line() -> None:
    """In a terminal, the cursor may still be on a prompt's line, after the ^C the terminal echoed: the message
    starts a line of its own, or the terminal would wrap it mid-word at the edge."""
    if err.is_terminal:
        err.print()


def _started_interrupted() -> int:
    """Ctrl-C before a command was under way (no context to end yet): said as `_interrupted` says it, and its exit
    status; a second Ctrl-C meanwhile changes nothing."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _own_line()
    err.print(f"[red]interrupted:[/] {INTERRUPTED_TEXT}", highlight=False)
    return int(ExitStatus.INTERRUPTED)


def _input_ended(ctx: typer.Context) -> None:
    """The input ended at a prompt (Ctrl-D, or a script's answers ran out): the officer stopped there, as at
    Ctrl-C, and nothing asked for was done."""
    _own_line()
    err.print(
        "[red]interrupted:[/] the input ended at a prompt (Ctrl-D); what was saved before stays saved, the change "
        "asked for was not made",
        highlight=False,
    )
    ctx.exit(int(ExitStatus.INTERRUPTED))


def _refused(ctx: typer.Context, e: TriageError) -> None:
    """A refusal as every command gives it: one line naming what to fix, a hint, and its exit status."""
    err.print(f"[red]error:[/] {escape(str(e))}", highlight=False)
    if e.hint:
        err.print(f"  hint: {e.hint}", highlight=False, markup=False)
    ctx.exit(int(e.status))


def _outside(what: str) -> IntegrityFailure:
    """The store file as SQLite finds it, not as triage wrote it."""
    return IntegrityFailure(what, hint="restore the home from a backup")


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
    running(ctx.invoked_subcommand)


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
    for name in ("stdout", "stderr"):  # started with one closed (`>&-`): what would be written there goes nowhere
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 (for the life of the process)
    try:
        try:
            capture.start_early(sys.argv[1:])
        except Exception:  # only a head start: the command starts its own workers, and says what went wrong
            pass
        app(prog_name="triage")
        code: int | str | None = 0
    except SystemExit as done:
        # rich's consoles and click end a closed pipe with exit code 1, the pipe's error as the context
        code = int(ExitStatus.OK) if isinstance(done.__context__, BrokenPipeError) else done.code
        if isinstance(done.__context__, Exit) and isinstance(done.__context__.__cause__, KeyboardInterrupt):
            code = _started_interrupted()  # typer ends a Ctrl-C while the command line is read with 130, no word
    except KeyboardInterrupt:  # while the command line was built, before any command was under way
        code = _started_interrupted()
    try:  # what is still buffered (a JSON document) is written now, while a closed pipe can be handled
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_closed()
    sys.exit(code)
