"""Every command's --help at 80 columns: its paragraphs wrap at the terminal's width, not where the docstring
was wrapped, and no option name, type or word in its tables is cut. typer offers no setting for this, so the
tables it draws are laid out again through a render hook on the console it draws them on (`install`).
"""

from __future__ import annotations

import re
from typing import Any

from rich.cells import cell_len
from rich.columns import Columns
from rich.console import Console, ConsoleRenderable, RenderHook
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from triage.cli.common import fit_table

_LABELLED = re.compile(r"\w[\w ,]*: ")
_SHELL_WORD = re.compile(r"""(?:[^\s"']+|"[^"]*"|'[^']*')+""")
EXAMPLE_WIDTH = 78  # an example's line and its indent, inside the one-column margins of an 80-column terminal


def _example_lines(line: str) -> list[str]:
    """A command line too long for 80 columns broken between its words as a shell reads it (an option beside its
    value), each line but the last ending in a backslash and the rest indented under it: it reads whole and still
    pastes into a shell."""
    if cell_len(line) <= EXAMPLE_WIDTH or not line.lstrip().startswith("triage "):
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    if " ".join(_SHELL_WORD.findall(line)) != " ".join(line.split()):
        return [line]  # words the pattern does not read as a shell does (a lone quote): left whole
    units: list[str] = []  # an option and its value stay on one line
    for word in _SHELL_WORD.findall(line):
        if units and units[-1].startswith("-") and " " not in units[-1] and not word.startswith("-"):
            units[-1] += " " + word
        else:
            units.append(word)
    lines, current = [], ""
    for word in units:
        if current and cell_len(current) + 1 + cell_len(word) + 2 > EXAMPLE_WIDTH:
            lines.append(current + " \\")
            current = indent + "    " + word
        else:
            current = f"{current} {word}" if current else indent + word
    return [*lines, current]


def running_text(text: str | None) -> str | None:
    """A command's help with the line breaks its docstring was wrapped at taken out, so that each paragraph
    wraps at the terminal's width. A paragraph whose lines are all indented (examples, one a line) or all
    begin with a label and a colon (`photo: ...`, a list of columns) keeps its lines, an example too long for
    80 columns broken as a shell reads it."""
    if not text:
        return text
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        kept = all(line.startswith((" ", "\t")) for line in lines) or all(_LABELLED.match(line) for line in lines)
        if kept or len(lines) < 2:
            paragraphs.append("\n".join(part for line in lines for part in _example_lines(line)))
        else:
            indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
            paragraphs.append(indent + " ".join(line.strip() for line in lines))
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


def install() -> None:
    """Hook the layout into the console typer draws --help on (a console of its own making), once."""
    from typer import rich_utils

    made = rich_utils._get_rich_console
    if getattr(made, "triage_layout", False):
        return

    def console(stderr: bool = False) -> Console:
        drawn = made(stderr)
        drawn.push_render_hook(_HelpLayout(drawn))
        return drawn

    console.triage_layout = True  # type: ignore[attr-defined]
    rich_utils._get_rich_console = console
