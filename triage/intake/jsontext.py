"""JSON from files a user hands over (debrief answers, model manifests, calibrations), read within limits.

Python's JSON parser recurses once per nesting level, so a file nested a few thousand levels deep ends in
a RecursionError rather than a message, and a huge file is read whole into memory. Here the size is
checked before reading and the nesting is measured by a scan that does not recurse, so such a file is
refused with one line naming it and the limit it broke. A file that is merely not JSON still raises the
parser's `ValueError`, for the caller to word for its own file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from triage.errors import BadInput

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64  # the deepest file triage reads is a few levels; this leaves room and stays far from recursion

# A string, or what is left of one a truncated file leaves open: every '"' starts a match, so the scan
# never backtracks across the text.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*\\?(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def nested_deeper(text: str, limit: int) -> bool:
    """Whether the arrays and objects of `text` nest more than `limit` deep (brackets inside strings
    are not counted); found by counting, without recursion, and stopping at the first level too many."""
    level = 0
    for ch in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if ch in "[{":
            level += 1
            if level > limit:
                return True
        else:
            level -= 1
    return False


def loads(text: str, source: str, *, max_chars: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads(text)`, refused with `BadInput` naming `source` when the text is longer than
    `max_chars` or nested deeper than `max_depth`."""
    if len(text) > max_chars:
        raise BadInput(f"{source}: {len(text):,} characters is over the limit of {max_chars:,} for this file")
    if nested_deeper(text, max_depth):
        raise BadInput(f"{source}: nested more than {max_depth} levels deep, over the limit for this file")
    return json.loads(text)


def read(path: Path, source: str | None = None, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document in the UTF-8 file at `path` (a byte-order mark is allowed), within the limits;
    the size is checked before the file is read. Raises `ValueError` (UnicodeDecodeError or
    JSONDecodeError) when it is not UTF-8 JSON."""
    path = Path(path)
    name = source or str(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise BadInput(f"{name}: {size:,} bytes is over the limit of {max_bytes:,} for this file")
    return loads(path.read_bytes().decode("utf-8-sig"), name, max_chars=max_bytes, max_depth=max_depth)
