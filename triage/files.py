"""Output files written whole or not at all: drafts, batches and reports go to a temporary name first
and are renamed into place together, so a crash or a full disk never leaves half a file."""

from __future__ import annotations

import os
from pathlib import Path

from triage.errors import BadInput


def write_files(files: dict[Path, bytes]) -> None:
    """Write every file or none: each goes to a temporary name first and is renamed into place at the end."""
    done: list[Path] = []
    try:
        for path, data in files.items():
            tmp = path.with_name(path.name + ".partial")
            tmp.write_bytes(data)
            done.append(tmp)
        for path in files:
            os.replace(path.with_name(path.name + ".partial"), path)
    except OSError as e:
        for tmp in done:
            tmp.unlink(missing_ok=True)
        raise BadInput(f"could not write {e.filename}: {e.strerror}; nothing was saved") from None
