"""CSV files saved from a spreadsheet: read as UTF-8 (with or without Excel's byte-order mark), or refused
with what to do, since a spreadsheet's default "CSV" on Windows is another encoding."""

from __future__ import annotations

import io
from pathlib import Path

from triage.errors import BadInput


def text(path: Path) -> io.StringIO:
    """The file's text, ready for the csv module."""
    try:
        return io.StringIO(Path(path).read_bytes().decode("utf-8-sig"), newline="")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text; save it as 'CSV UTF-8'") from None
