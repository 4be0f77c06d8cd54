"""CSV files saved from a spreadsheet: read as UTF-8 (with or without Excel's byte-order mark), or refused
with what to do, since a spreadsheet's default "CSV" on Windows is another encoding. A file over the size
limit is refused before it is read; the csv module's own limit on one cell (131,072 characters) raises
`csv.Error`, which every reader turns into a one-line refusal."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from triage.errors import BadInput

MAX_BYTES = 64 * 1024 * 1024


def text(path: Path, *, max_bytes: int | None = None) -> io.StringIO:
    """The file's text, ready for the csv module; refused when the file is over `max_bytes` (default
    `MAX_BYTES`)."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    size = Path(path).stat().st_size
    if size > max_bytes:
        raise BadInput(f"{path}: {size:,} bytes is over the limit of {max_bytes:,} for a CSV file; split it")
    try:
        return io.StringIO(Path(path).read_bytes().decode("utf-8-sig"), newline="")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text; save it as 'CSV UTF-8'") from None


def records(path: Path, *, max_bytes: int | None = None) -> list[list[str]]:
    """Every line's cells, read strictly: a quote never closed would otherwise take every line after it into
    one cell, and the rows it swallowed would vanish without a word."""
    reader = csv.reader(text(path, max_bytes=max_bytes), strict=True)
    rows: list[list[str]] = []
    starts = 1  # the line the row being read starts on
    try:
        for row in reader:
            rows.append(row)
            starts = reader.line_num + 1
    except csv.Error as e:
        if "end of data" in str(e):
            raise BadInput(f"{path}: line {starts} opens a quote that is never closed; close it or remove it") from None
        raise BadInput(f"{path}: line {starts} is not readable as CSV ({e})") from None
    return rows


SEPARATORS = ((";", "semicolons"), ("\t", "tabs"))  # what other tools separate columns with


def separator_hint(header: list[str], what: str) -> str | None:
    """What to do when a header was not understood because the file's columns are separated by something
    other than commas (a spreadsheet set to another locale saves semicolons): None when that is not why."""
    apart = next((name for mark, name in SEPARATORS if any(mark in cell for cell in header)), None)
    if apart is None:
        return None
    return f"{what}'s columns are separated by commas, not {apart}: save it again as CSV (comma-separated)"
