"""Every command's --help at 80 columns: its paragraphs wrap at the terminal's width, not where the docstring
was wrapped, and no option name, type or word in its tables is cut. typer offers no setting for this, so the
tables it draws are laid out again through a render hook on the console it draws them on (`install`).
"""

from __future__ import annotations

import re
import shlex
from typing import IO, Any, cast

from rich.cells import cell_len
from rich.columns import Columns
from rich.console import Console, ConsoleRenderable, RenderHook
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from triage.cli.common import fit_table

_LABELLED = re.compile(r"\w[\w ,]*: ")
_SHELL_WORD = re.compile(r"""(?:\\.|[^\s"'\\]+|"(?:\\.|[^"\\])*"|'[^']*')+""")
_COMMAND = re.compile(r"(?:[A-Za-z_]\w*=\S*\s+)*triage\s")  # `triage ...`, perhaps after VAR=value
_LABEL = re.compile(rf"(?<!\S)Examples?: (?={_COMMAND.pattern})")
EXAMPLE_WIDTH = 78  # an example's line and its indent, inside the one-column margins of an 80-column terminal


def _shell_words(command: str) -> list[str] | None:
    """A command line's words as written, quotes and all, or None where they would not each read back as the
    one argument the shell reads there (a lone quote)."""
    words = _SHELL_WORD.findall(command)
    try:
        return words if [shlex.split(word) for word in words] == [[arg] for arg in shlex.split(command)] else None
    except ValueError:
        return None


def _broken(command: str, indent: str) -> list[str] | None:
    """`command` at `indent`, broken between shell words only (an option beside its value where the two fit on a
    line) into lines that end in ` \\` and go on four columns further in; a word wider than a line stands whole on
    a line of its own. None when the line cannot be read into words as a shell would."""
    words = _shell_words(command)
    if words is None:
        return None
    units: list[list[str]] = []
    for word in words:
        if units and len(units[-1]) == 1 and units[-1][0].startswith("-") and not word.startswith("-"):
            units[-1].append(word)
        else:
            units.append([word])
    going_on = indent + "    "
    pieces: list[str] = []
    for at, unit in enumerate(units):
        together, mark = " ".join(unit), 2 if at < len(units) - 1 else 0  # room for the ` \\` of a line going on
        pieces += unit if len(unit) > 1 and cell_len(going_on + together) + mark > EXAMPLE_WIDTH else [together]
    lines, current = [], ""
    for at, piece in enumerate(pieces):
        mark = 2 if at < len(pieces) - 1 else 0
        if current and cell_len(current) + 1 + cell_len(piece) + mark > EXAMPLE_WIDTH:
            lines.append(current + " \\")
            current = going_on + piece
        else:
            current = f"{current} {piece}" if current else indent + piece
    return [*lines, current]


def _example_lines(line: str) -> list[str]:
    """A line as help shows it, so that an example in it pastes into a shell as the command written: an example
    after a sentence starts a paragraph of its own; one too long for 80 columns is broken between its shell
    words (`_broken`), under its `Example:` label when it has one. Anything else is left as it is."""
    indent = line[: len(line) - len(line.lstrip())]
    label = _LABEL.search(line)
    if label and line[: label.start()].strip():
        return [line[: label.start()].rstrip(), "", *_example_lines(indent + line[label.start() :])]
    if cell_len(line) <= EXAMPLE_WIDTH:
        return [line]
    if label:
        under = _broken(line[label.end() :], indent + "  ")
        return [indent + label.group().rstrip(), "", *under] if under else [line]
    if _COMMAND.match(line.lstrip()):
        return _broken(line.lstrip(), indent) or [line]
    return [line]


def running_text(text: str | None) -> str | None:
    """A command's help with the line breaks its docstring was wrapped at taken out, so that each paragraph
    wraps at the terminal's width. A paragraph whose lines are all indented (examples, one a line) or all
    begin with a label and a colon (`photo: ...`, a list of columns) keeps its lines. Examples are shown to be
    pasted: each starts a line, and one too long for 80 columns is broken where a shell reads it whole."""
    if not text:
        return text
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        kept = all(line.startswith((" ", "\t")) for line in lines) or all(_LABELLED.match(line) for line in lines)
        if not (kept or len(lines) < 2):
            indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
            lines = [indent + " ".join(line.strip() for line in lines)]
        paragraphs.append("\n".join(part for line in lines for part in _example_lines(line)))
    return "\n\n".join(paragraphs)


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


def _type_shown(cell: Any) -> Any:
    """An option's type as a user types it: nothing for a flag (typer names it `<bool>`, as if it took a value),
    and a repeatable option's one value (`<list[str]>` -> `<str>`)."""
    if not isinstance(cell, Text):
        return cell
    plain = cell.plain
    if plain == "<bool>":
        return Text("")
    listed = re.fullmatch(r"<list\[(\w+)\]>", plain)
    return Text(f"<{listed.group(1).lower()}>", style=cell.style) if listed else cell


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
        fitted.add_row(*(mark[row] for mark in marks), name, _range_below(_type_shown(types[row])), _flowing(text))
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


_PADDED = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$")  # spaces ending a line, perhaps before its closing styles


class _Trimmed:
    """A text stream that writes each line without the spaces that pad it to the panel's width: an example's
    line ending in a shell's continuation backslash must end there, or a pasted example is two commands."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.held = stream, ""

    def write(self, text: str) -> int:
        *lines, self.held = (self.held + text).split("\n")
        for line in lines:
            self.stream.write(_PADDED.sub(r"\1", line) + "\n")
        return len(text)

    def flush(self) -> None:
        if self.held:
            self.stream.write(_PADDED.sub(r"\1", self.held))
            self.held = ""
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding: the stream's own
        return getattr(self.stream, name)


def install() -> None:
    """Hook the layout into the console typer draws --help on (a console of its own making), once."""
    from typer import rich_utils

    made = rich_utils._get_rich_console
    if getattr(made, "triage_layout", False):
        return

    def console(stderr: bool = False) -> Console:
        drawn = made(stderr)
        drawn.push_render_hook(_HelpLayout(drawn))
        drawn.file = cast(IO[str], _Trimmed(drawn.file))
        return drawn

    console.triage_layout = True  # type: ignore[attr-defined]
    rich_utils._get_rich_console = console
