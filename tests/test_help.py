"""`triage --help` stays light: no face model, dlib or OpenCV import on the way to the help text; and every
command's --help reads at 80 columns, no option name cut, its paragraphs wrapped at the terminal's width."""

from __future__ import annotations

import inspect
import json
import re
import shlex
import subprocess
import sys

import click.testing
import typer
from typer.testing import CliRunner

from triage.cli.app import app, running_text


def test_help_does_not_import_face_libraries():
    code = (
        "import sys, json; from typer.testing import CliRunner; from triage.cli.app import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('face_recognition', 'dlib', 'cv2', 'face_recognition_models', 'matplotlib', 'onnxruntime'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "triage", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "capture" in out.stdout


def _commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_commands_help_reads_at_80_columns_with_no_option_name_cut_and_examples_whole():
    runner = click.testing.CliRunner()
    top = typer.main.get_command(app)  # built once: typer's runner builds it again for every invocation
    commands = list(_commands(top))
    assert len(commands) > 50
    examples = 0
    for path, command in commands:
        res = runner.invoke(top, [*path, "--help"], env={"COLUMNS": "80"}, prog_name="triage")
        where = " ".join(["triage", *path])
        assert res.exit_code == 0, (where, res.output)
        assert max(len(line) for line in res.output.splitlines()) <= 80, (where, res.output)
        assert "…" not in res.output, (where, res.output)
        padded = [line for line in res.output.splitlines() if re.search(r"\\\s+$", line)]
        assert not padded, (where, padded)  # a continuation backslash must end its line, or a paste is two commands
        assert "<bool>" not in res.output and "<list[" not in res.output, (where, res.output)  # flags take no value
        names = [o for p in command.params if not p.hidden for o in (*p.opts, *p.secondary_opts) if o.startswith("-")]
        for name in names:
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", res.output), (where, name, res.output)
        _examples_read_whole(where, res.output)
        _examples_paste_as_written(where, command, res.output)
        examples += len(_docstring_examples(command))
    assert examples > 50


def _examples_read_whole(where: str, output: str) -> None:
    """An example too long for 80 columns breaks where a shell reads it whole: each line it continues on ends in a
    backslash and the next is indented under it; nothing else follows an example but a blank line or another."""
    lines = output[: output.find("╭")].splitlines()
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("triage "):
            continue
        indent = len(line) - len(line.lstrip())
        while lines[i].rstrip().endswith(" \\"):
            i += 1
            assert lines[i].startswith(" " * (indent + 4)) and lines[i][indent + 4] != " ", (where, lines[i])
        after = lines[i + 1] if i + 1 < len(lines) else ""
        assert not after.strip() or after.lstrip().startswith("triage "), (where, line, after)


_COMMAND = r"(?:[A-Z_][A-Z0-9_]*=\S*\s+)*triage\s.*"


def _docstring_examples(command) -> list[list[str]]:
    """The argv of every example in a command's docstring as written: `Example: ...` to the end of its
    paragraph, or an indented line that starts a command."""
    doc = inspect.cleandoc(getattr(command.callback, "__doc__", None) or "")
    found = []
    for paragraph in doc.split("\n\n"):
        lines = paragraph.splitlines()
        if lines and all(line.startswith((" ", "\t")) for line in lines):
            logical = re.sub(r"\\\n", "", "\n".join(lines)).splitlines()  # a backslash at a line's end goes on
            found += [shlex.split(line) for line in logical if re.fullmatch(_COMMAND, line.strip())]
        elif written := re.search(rf"(?<!\S)Examples?: ({_COMMAND})$", " ".join(line.strip() for line in lines)):
            found.append(shlex.split(written.group(1)))
    return found


def _examples_paste_as_written(where: str, command, output: str) -> None:
    """Every example, as printed and read back as a shell reads it pasted (a line ending in a backslash goes on
    on the next), is the argv its docstring wrote."""
    lines = [line.rstrip() for line in output[: output.find("╭")].splitlines()]
    printed = []
    for i, line in enumerate(lines):
        start = re.search(rf"(?:^\s*|(?<!\S)Examples?: )({_COMMAND})$", line)
        if not start:
            continue
        text = start.group(1)
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + lines[i]
        try:
            printed.append(shlex.split(text))
        except ValueError:
            printed.append([text])  # an unclosed quote: not what was written
    for argv in _docstring_examples(command):
        assert argv in printed, (where, argv, printed)
        after = argv[argv.index("triage") + 1 :]  # an example may set variables before the command
        assert "triage" not in after, (where, "two examples run together as one", argv)


def test_help_paragraphs_lose_the_docstrings_line_breaks_but_examples_and_lists_keep_theirs():
    text = "One line\nwrapped here.\n\nphoto: a path\ndob: a date\n\n  triage a --b\n  triage c"
    assert running_text(text) == "One line wrapped here.\n\nphoto: a path\ndob: a date\n\n  triage a --b\n  triage c"
    res = CliRunner().invoke(app, ["session", "--help"], env={"COLUMNS": "80"})  # its docstring wraps at 75
    lines = [line.strip() for line in res.output[: res.output.index("╭")].splitlines()]
    for line, after in zip(lines, lines[1:]):
        if line and after and not after.startswith("triage "):  # a line ends only where the next word cannot fit
            assert len(line) + 1 + len(after.split()[0]) > 78, (line, after)


def test_a_long_example_breaks_between_shell_words_only_and_a_word_too_wide_stands_alone():
    wide = "photos/" + "x" * 80
    example = f'triage a B-1 --reason "{"a quoted reason " * 4}end" {wide} --flag --out "x y.txt"'
    paragraphs = running_text(f"Summary. Example: {example}").split("\n\n")
    assert paragraphs[:2] == ["Summary.", "Example:"]
    lines = paragraphs[2].splitlines()
    assert all(line.endswith(" \\") for line in lines[:-1]) and not lines[-1].endswith("\\")
    assert all(len(line) <= 78 for line in lines if wide not in line)
    assert [line.strip() for line in lines if wide in line] == [f"{wide} \\"]
    assert shlex.split("".join(line[:-1] if line.endswith("\\") else line for line in lines)) == shlex.split(example)
