"""What every command shares: the option types, opening the home, the officer, the passphrase, and
writing data to stdout (tables for people, one JSON document with --json) and messages to stderr.

Text shown to a person can hold what others typed or sent (names, notes, vessels, file names, ids in a
batch). Both consoles pass every character they print through `safe()`, so no such text can drive the
terminal (escape sequences, bells, C1 controls) or reorder how a line reads (bidirectional overrides).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderableType, RenderHook, RenderResult
from rich.markup import escape
from rich.progress import Progress
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from typer.models import OptionInfo

from triage.errors import BadInput, UsageError, WrongPassphrase
from triage.store.config import resolve_home

T = TypeVar("T")

# C0 controls but newline and tab, DEL, C1 controls, the bidirectional marks, embeddings, overrides and
# isolates, and lone surrogates (bytes of a file name that are not UTF-8).
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """`text` with every character that could act on a terminal or reorder a line replaced by a visible
    escape (ESC becomes \\x1b, a right-to-left override \\u202e); newlines and tabs are kept."""
    return _UNSAFE.sub(_visible, text)


class _Safe:
    """A renderable drawn as it would be, with `safe()` applied to the text of every segment."""

    def __init__(self, renderable: ConsoleRenderable | RenderableType):
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.renderable, options):
            if segment.control or not _UNSAFE.search(segment.text):
                yield segment
            else:
                yield Segment(safe(segment.text), segment.style)


def fit_table(table: Table, console: Console, width: int | None = None) -> None:
    """Lay out a table that is wider than the terminal so that no word in it is cut: each column keeps
    the width of its longest word (an arrival id, a reference, a date, a path) and the width left goes
    to the columns with the most text, which wrap between words. Rich alone narrows the widest columns
    and cuts what no longer fits with '…', which can turn one id into another. A column that must not
    wrap (`no_wrap`: ids, flags) keeps its whole width; when even the longest words of the others cannot
    all fit, the longest of them are folded onto the next line, never cut (and on a terminal too narrow
    for the ids alone, the ids too). `width` is the room the table is drawn in when that is less than the
    terminal's (inside a panel)."""
    columns = table.columns
    if not columns or table.width is not None:
        return
    options = console.options if width is None else console.options.update_width(width)
    fixed = [c.no_wrap or c.width is not None for c in columns]
    room = options.max_width - table._extra_width

    def measure() -> tuple[list[int], list[int], list[int]]:
        """Each column's width with its longest word, with all its text, and its padding."""
        measured = [table._measure_column(console, options, c) for c in columns]  # padding included
        pads = [table._get_padding_width(i) for i in range(len(columns))]
        least = [
            m.maximum if keep else max(m.minimum, (c.min_width or 0) + p)
            for c, m, p, keep in zip(columns, measured, pads, fixed)
        ]
        return least, [max(m.maximum, lo) for m, lo in zip(measured, least)], pads

    least, most, pads = measure()
    if sum(most) <= room:
        return
    # A word is measured with what clings to it ("GEBREHIWWAT,", "[facilitator]", "biographic:"), and a
    # column narrower than that folds it where the width ends, mid-word. Before any word is folded, the
    # table gives up the space at its outer edges, then the space before each column's text: a tighter
    # table still reads as it should; a word cut in two may not.
    for setting, value in (("pad_edge", False), ("collapse_padding", True)):
        if sum(least) <= room:
            break
        setattr(table, setting, value)
        least, most, pads = measure()
    for c in columns:
        if c.overflow == "ellipsis":
            c.overflow = "fold"

    def capped(cap: int) -> list[int]:
        return [lo if keep else min(lo, cap) for lo, keep in zip(least, fixed)]

    cap = max(least)
    while sum(capped(cap)) > room and cap > 4:
        cap -= 1
    if sum(capped(cap)) > room:  # the ids alone are wider than the terminal: they fold like the rest
        fixed = [False] * len(columns)
        for c in columns:
            c.no_wrap = False
        while sum(capped(cap)) > room and cap > 3:
            cap -= 1
    least = capped(cap)
    most = [max(hi, lo) for hi, lo in zip(most, least)]
    spare = room - sum(least)
    if spare < 0:
        return
    want = [0 if keep else hi - lo for lo, hi, keep in zip(least, most, fixed)]
    total = sum(want)
    give = [spare * w // total for w in want] if total else [0] * len(want)
    for i in sorted(range(len(want)), key=lambda i: -want[i])[: spare - sum(give)]:
        give[i] += 1
    for c, lo, extra, p in zip(columns, least, give, pads):
        c.width = max(1, lo + extra - p)


def _safe_text(text: Text) -> Text:
    """`text` with `safe()` applied before it is laid out, its styles kept: an escape is six characters
    where the mark it stands for takes none, so escaping a cell only as it is written (`_Safe`) would push
    the rest of its row past the column's edge."""
    if not _UNSAFE.search(text.plain):
        return text
    cuts = sorted({i for span in text.spans for i in (span.start, span.end)})
    out = text.blank_copy()
    for piece in text.divide(cuts):
        part = Text(safe(piece.plain))
        for span in piece.spans:
            part.stylize(span.style, 0, len(part))
        out.append_text(part)
    return out


def _safe_cells(table: Table) -> None:
    """Every `Text` cell of `table` (and of a table inside one) escaped before the table is measured."""
    for column in table.columns:
        cells = column._cells
        for i, cell in enumerate(cells):
            if isinstance(cell, Text):
                cells[i] = _safe_text(cell)
            elif isinstance(cell, Table):
                _safe_cells(cell)


class _SafeHook(RenderHook):
    def __init__(self, console: Console):
        self.console = console

    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        for r in renderables:
            if isinstance(r, Table):
                _safe_cells(r)
                fit_table(r, self.console)
        return [_Safe(_safe_text(r) if isinstance(r, Text) else r) for r in renderables]


class SafeConsole(Console):
    """A console that prints every string through `safe()`: strings (table cells, messages) before
    they are laid out, so the escapes take their place in the layout; anything else (rich `Text`
    objects) segment by segment as it is written. A table too wide for the terminal is laid out so that
    no word in it is cut (`fit_table`)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.push_render_hook(_SafeHook(self))

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(safe(text), **kwargs)

    def on_broken_pipe(self) -> None:
        """The reader has gone (`| head`): the rest of the output goes nowhere, and the command goes on to its own
        exit status (a failed check still exits 6), where rich would end it with 1 and `main` read that as 0."""
        if self.stderr:  # only the messages go; stdout, a JSON document perhaps, is still read
            _to_nowhere(sys.stderr)
        else:
            stdout_closed()
        self.quiet = True

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """In a terminal, a line of text wraps between words at its width, as `say` lays it out: a terminal left
        to wrap a long line splits it mid-word. A word longer than the line (a path, a key) stands whole. Output
        to a file or a pipe keeps each message on one line, for whatever reads it; so does a line a caller
        prints with `soft_wrap` (meant to be copied whole), and anything but text keeps rich's own layout."""
        plain = len(objects) == 1 and isinstance(objects[0], str) and set(kwargs) <= {"markup", "highlight"}
        if plain and self.is_terminal:
            say(self, objects[0], markup=kwargs.get("markup", True) is not False)
            return
        super().print(*objects, **kwargs)


out = SafeConsole(soft_wrap=True)
err = SafeConsole(stderr=True, soft_wrap=True)

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

# Options that several commands take, each declared here once. An alias (…Opt) is the option as every
# command that takes it means it. Where a command gives a flag a role of its own, the flag's function
# makes it with that command's help: `Annotated[str | None, reason_option("Why (required with --decision).")]`.
TopOpt = Annotated[
    int,
    typer.Option(
        "--top",
        min=1,
        max=50,
        help="How many candidates to keep, best first (a watchlist subject below the threshold is kept even past it).",
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        min=0.0,
        help="Distance threshold, on the scale of the matcher in use, which differs between matchers "
        "(default: its calibrated one; `triage models list` shows each matcher's scale and threshold).",
    ),
]
FaceOpt = Annotated[int | None, typer.Option("--face", help="Which face when the photo has several (1 = largest).")]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, max=64, help="Worker processes for the face pipeline (default: one per core)."),
]
OverrideReasonOpt = Annotated[str | None, typer.Option("--override-reason", help="Why the override is justified.")]
AliasOpt = Annotated[list[str] | None, typer.Option("--alias", help="Another name used (repeatable).")]
DobOpt = Annotated[
    str | None,
    typer.Option(
        "--dob", help="Date of birth: YYYY, YYYY-MM or YYYY-MM-DD; or day first, DD/MM/YYYY, DD.MM.YYYY or MM/YYYY."
    ),
]
DayOpt = Annotated[str, typer.Option("--date", help="Local date of landing, YYYY-MM-DD.")]
SiteOpt = Annotated[str | None, typer.Option("--site", help="Only this site's arrivals.")]
ScenarioOpt = Annotated[str, typer.Option("--scenario", help="Fixture scenario (see `triage training list`).")]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force", help="Replace an output file that already exists (a file inside the home is never written)."
    ),
]


def _worded(flag: str, **fixed: Any) -> Callable[[str], OptionInfo]:
    """An option that means the same everywhere but whose help each command words for itself:
    `Annotated[str | None, reason_option("Why ...")]`."""

    def option(help: str) -> OptionInfo:
        return typer.Option(flag, help=help, **fixed)

    return option


def typed_arrival(value: str | None) -> str | None:
    """An arrival id typed as an argument or option, taken in any case (`a-7k3f9q` is A-7K3F9Q), as a vessel or a
    watchlist ref is: every command that names an arrival reads it through this."""
    from triage.intake.refs import typed_arrival_id

    return None if value is None else typed_arrival_id(value)


def arrival_argument(help: str, default: Any = ...) -> Any:
    """The ARRIVAL argument of a command, an arrival id in any case: `arrival: str = arrival_argument("Arrival id.")`."""
    return typer.Argument(default, help=help, callback=typed_arrival, show_default=False)


reason_option = _worded("--reason")  # why the officer does this; most commands audit it
out_option = _worded("--out")  # the file a command writes
date_option = _worded("--date")  # as a filter: only what happened on this day
# The arrival a command works on, or keeps to: an arrival id in any case.
arrival_option = _worded("--arrival", callback=typed_arrival)
vessel_option = _worded("--vessel")  # the vessel reference arrivals landed from
landed_at_option = _worded("--landed-at")
low_quality_option = _worded("--accept-low-quality")  # use a photo the quality gate refuses
notes_option = _worded("--notes")  # free text kept with the record
interactive_option = _worded("--interactive/--no-interactive", show_default=False)


def home_path(home: Path | None) -> Path:
    return resolve_home(home)


PASSPHRASE_TRIES = 3  # a passphrase mistyped at the prompt is asked for again, up to this many times in all
prompted = [0.0]  # seconds this process has spent waiting for a passphrase to be typed (not the tool's own time)


def new_passphrase(
    known: Iterable[str] = (), *, env: str = "TRIAGE_PASSPHRASE", prompt: str = "Passphrase", what: str = "passphrase"
) -> str:
    """A passphrase being set: `env` when set (judged where it is used, so a weak one ends the command), else
    asked twice at a hidden prompt, and one too easy to guess (`known`: the home's own words) asked for again
    with the reason, three tries in all, as a mistyped one is."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise UsageError(f"no {what}: set {env} or run in a terminal to be asked for it")
    from triage.store.passphrase import check_strength

    left = PASSPHRASE_TRIES
    while True:
        left -= 1
        began = time.perf_counter()
        try:
            given = str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True))
        finally:
            prompted[0] += time.perf_counter() - began
        try:
            check_strength(given, what=what, known=known)
            return given
        except BadInput as weak:
            if not left:
                raise
            err.print(f"{escape(str(weak))}; {left} more {_tries(left)}.", highlight=False)


def passphrase() -> str:
    """TRIAGE_PASSPHRASE when set, else a hidden prompt; never a prompt when stdin is not a terminal."""
    value = os.environ.get("TRIAGE_PASSPHRASE")
    if value:
        return value
    if not sys.stdin.isatty():
        raise UsageError("no passphrase: set TRIAGE_PASSPHRASE or run in a terminal to be asked for it")
    began = time.perf_counter()
    try:
        return str(typer.prompt("Passphrase", hide_input=True, err=True))
    finally:
        prompted[0] += time.perf_counter() - began


def open_store(home: Path | None, *, unlock: bool = True, check: bool = True):
    """The home's store, unlocked unless `unlock` is False (a passphrase mistyped at the prompt is asked for
    again, up to three times in all); `check`: see `Store.unlock`."""
    from triage.store.rows import Store

    path = home_path(home)
    _not_a_hubs_keys(path)
    store = Store.open_locked(path)
    if not unlock:
        return store
    left = 1 if os.environ.get("TRIAGE_PASSPHRASE") else PASSPHRASE_TRIES  # asked at a terminal, as a login asks
    while True:
        left -= 1
        try:
            store.unlock(passphrase(), check=check)
            return store
        except WrongPassphrase as wrong:
            if not left:
                store.close()
                if os.environ.get("TRIAGE_PASSPHRASE"):  # an old one left set, say, after `passphrase change`
                    raise WrongPassphrase(
                        str(wrong),
                        hint="TRIAGE_PASSPHRASE does not open this home: correct it, or unset it to be asked",
                    ) from None
                raise
            err.print(f"That passphrase does not open this home; {left} more {_tries(left)}.")
        except BaseException:
            store.close()
            raise


# What a hub's key home is for (its keys, the watchlist it searches, their audit trail): no arrival is held there.
KEY_HOME_COMMANDS = ("keys", "watchlist", "audit", "doctor", "passphrase", "models")


_command: list[str] = []  # the command this process runs (`triage capture ...`: capture), set as it starts


def running(command: str | None) -> None:
    """Note which command this process runs, for checks that depend on it."""
    _command[:] = [command] if command else []


def _not_a_hubs_keys(path: Path) -> None:
    """Refuse a hub's key home to any command but those it is for: an arrival captured there, or a batch
    imported or exported there, would never reach the hub's database or any report."""
    from triage.errors import Conflict
    from triage.hub import HUB_FILE, KEYS

    try:
        path = path.resolve()  # `.`, a symlink: the folder itself is what counts
    except (OSError, RuntimeError):  # a symlink loop: no home, as opening it will say
        return
    if path.name != KEYS or not (path.parent / HUB_FILE).is_file():
        return
    if _command and _command[0] not in KEY_HOME_COMMANDS:
        raise Conflict(
            f"{path} is the key home of the hub at {path.parent}: it holds the hub's keys and watchlist, never "
            f"arrivals; `triage {_command[0]}` runs on a laptop's or supervisor's home (the hub takes their "
            "batches with `triage hub import`)"
        )


def _tries(n: int) -> str:
    return "try" if n == 1 else "tries"


def officer_of(store, officer: str | None) -> str:
    """The officer acting, checked as the free text it is (no control or direction characters)."""
    from triage.intake.biographic import clean_text

    if officer is not None and not officer.strip():  # given, but empty: never someone else's name instead
        raise BadInput("--officer is empty: give the officer's name, or leave --officer out")
    name = officer or os.environ.get("TRIAGE_OFFICER") or store.config.officer
    if not name or not name.strip():
        raise UsageError("no officer: pass --officer or set TRIAGE_OFFICER")
    return clean_text(name, "--officer")


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
    try:
        sys.stdout.write(json.dumps(jsonable(value), ensure_ascii=False, indent=2, default=str) + "\n")
    except BrokenPipeError:  # the reader has gone: the command still ends with its own status
        stdout_closed()


def emit(result: T, json_out: bool, render: Callable[[T], None]) -> None:
    """Every command's way out: the result as one JSON document on stdout with --json, else `render`
    draws it for a person."""
    if json_out:
        emit_json(result)
    else:
        render(result)


def report_format(fmt: str, json_out: bool, out_file: Path | None) -> tuple[str, bool]:
    """A report's --format, in any case, and whether it is printed as JSON: `json` is --json, as `pnd draft
    --format json` is (the document on stdout, so no --out); the day as JSON with no file is drawn as text."""
    fmt = fmt.strip().lower()
    if fmt == "json":
        if out_file is not None:
            raise UsageError(  # --json with --out writes the page, html or text, never JSON, whatever the file's name
                "--format json prints the report on stdout, never to --out: drop --out and redirect it "
                "(> report.json); --out writes the html or text page"
            )
        fmt, json_out = "text", True
    if fmt not in ("html", "text"):
        raise UsageError(f"--format {fmt!r}: choose html, text or json")
    if json_out and out_file is None and fmt == "html":
        fmt = "text"  # no page is written, so none is drawn
    if fmt == "html" and out_file is None:
        raise UsageError(
            "--format html needs --out FILE (the page is for a browser); use --format text for the terminal"
        )
    return fmt, json_out


def utc_text(iso: str | None) -> str:
    """A recorded UTC time as a table shows it under a "(UTC)" heading: date and time apart, so a narrow
    column breaks it between the two rather than inside either (2026-11-28 04:31:07)."""
    from triage.store import rows  # when asked: `triage --help` imports no store

    return rows.utc_text(iso)


def detail_label(name: str) -> str:
    """How a detail's field is named to a person: surname_latin -> surname, age_range -> age range."""
    return name.removesuffix("_latin").replace("_", " ")


def detail_value(name: str, value: Any) -> str:
    """A detail's value as a person reads it, never as Python prints it: "not given" for nothing, an age
    range as 16-18, a list as its items separated by commas, a mapping as its pairs."""
    if value is None or value == "" or value == [] or value == {}:
        return "not given"
    if name == "age_range" and isinstance(value, list | tuple) and len(value) == 2:
        lo, hi = value
        return f"{lo}" if lo == hi else f"{lo}-{hi}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(detail_value("", v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{detail_label(k)}: {detail_value(k, v)}" for k, v in value.items())
    return str(value)


def difference_text(name: str, sides: dict[str, Any]) -> str:
    """One difference between an arrival and an earlier one (`CandidateView.differences`), this one's first:
    "surname AHMED / WALI", or for an age against a date of birth (`arrivals.AGE`) each side as it reads,
    "born 2007 (18-19 at landing) / age 16"."""
    if name == "age":

        def age(side: dict[str, Any]) -> str:
            years = detail_value("age_range", side["age_range"])
            if side.get("dob") is None:
                return f"age {years}"
            return f"born {side['dob']} ({years} " + ("at landing)" if side.get("at_landing") else f"on {side['on']})")

        return f"{age(sides['this'])} / {age(sides['earlier'])}"
    return f"{detail_label(name)} {detail_value(name, sides['this'])} / {detail_value(name, sides['earlier'])}"


def figures_differ(figures: list[dict[str, Any]]) -> bool:
    """Whether the searches that found a candidate gave it different figures (`PendingCandidate.figures`)."""
    return len({(f["distance"], f["threshold"], f["score"]) for f in figures}) > 1


def searches_text(found_by: list[str], figures: list[dict[str, Any]], name: Callable[[str], str] = str) -> str:
    """Whose searches found a candidate ("X and Y", each named by `name`), each with its own figure when they
    differ: a laptop's search and this home's search of the same arrival (from its portrait) can disagree, and
    a figure shown must say whose it is."""
    if not figures_differ(figures):
        return " and ".join(name(by) for by in found_by)
    thresholds = len({f["threshold"] for f in figures}) > 1

    def figure(f: dict[str, Any]) -> str:
        if f["distance"] is None:
            return f"{f['score'] or 0:g} name parts"
        return f"{f['distance']:.3f}" + (f" (threshold {f['threshold']:.2f})" if thresholds else "")

    return " and ".join(f"{name(f['found_by'])} at {figure(f)}" for f in figures)


def say(console: Console, text: str | Text, *, hang: int = 0, markup: bool = False) -> None:
    """Prose for a person, wrapped between words at the console's width (a terminal left to wrap a long
    line splits it wherever its edge falls, mid-word). A line that wraps carries on `hang` columns further
    in than it began, so each entry of a list reads as one block. A word longer than the line (a path, a
    fingerprint) is never broken: it stands whole on a line of its own. `text` is markup when `markup`
    says so; like everything printed, it passes through `safe()` before it is laid out."""
    body = console.render_str(text, markup=markup, highlight=False) if isinstance(text, str) else text
    width = console.width
    for paragraph in body.split("\n", allow_blank=True):
        paragraph.expand_tabs()
        plain = paragraph.plain
        lead = len(plain) - len(plain.lstrip())
        rest = paragraph[lead:]
        room = width - lead
        while rest.plain:
            word = rest.plain.split(maxsplit=1)[0]
            if cell_len(word) >= room:  # on a line of its own, whole
                taken = len(word)
            else:
                taken = len(rest.wrap(console, room, overflow="crop")[0].plain)
            line, after = rest[:taken], rest.plain[taken:]
            rest = rest[taken + len(after) - len(after.lstrip()) :]
            line.rstrip()
            console.print(Text(" " * (width - room)) + line, soft_wrap=True)
            room = width - lead - hang
        if not plain.strip():
            console.print(soft_wrap=True)


_LABELLED_VALUE = re.compile(r"\s*[^:\n]{1,32} : ")  # "Names to search : ...", as drafts lay out their fields


def document(console: Console, text: str) -> None:
    """A document (a draft, a day's report) as text: to a terminal each line wraps between words, carrying on
    under its value (`Names to search : ...`) or four columns in; to a file or a pipe exactly as written."""
    if not console.is_terminal:
        console.print(text, highlight=False, markup=False, end="", soft_wrap=True)
        return
    for line in text.rstrip("\n").split("\n"):
        labelled = _LABELLED_VALUE.match(line)
        lead = len(line) - len(line.lstrip())
        say(console, line, hang=len(labelled.group(0)) - lead if labelled else 4)


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


def stdout_closed() -> None:
    """The reader of stdout has gone (`| head`): whatever is still buffered goes nowhere, so neither the rest
    of the command nor Python's own exit tries to write to the closed pipe (Python's documentation on
    SIGPIPE advises this)."""
    _to_nowhere(sys.stdout)


def _to_nowhere(stream: Any) -> None:
    """Point a standard stream's file descriptor at the null device, when it has one (a test's captured output
    has none)."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
