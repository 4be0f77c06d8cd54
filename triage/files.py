"""Output files written whole or not at all: drafts, batches and reports go to a temporary name first
and are renamed into place together, so a crash or a full disk never leaves half a file.

Before anything is written, `check_output` makes sure an output never replaces a file the officer did
not mean to replace (an existing file needs --force) and never lands inside the home folder, where it
could overwrite or pose as the store, its keys or its configuration (refused whatever --force says).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from triage.errors import BadInput, Conflict


def check_output(
    path: Path, *, home: Path, force: bool = False, flag: str = "--out", folder: str = "the home folder"
) -> None:
    """Refuse to write `path` when it lies inside `home` (after following symlinks and '..'), or when a
    file is already there and `force` is not given. A folder at `path` is left to the writer to refuse.
    `folder` is what the refusal calls `home` (a hub's folder is not a home)."""
    try:
        target = Path(path).expanduser().resolve()
        inside = target.is_relative_to(Path(home).expanduser().resolve())
    except (OSError, RuntimeError) as e:  # a symlink loop, or a component that cannot be read
        raise BadInput(f"{flag} {path}: cannot tell where it leads ({e})") from None
    if inside:
        raise Conflict(
            f"{flag} {path}: inside {folder} {home}; outputs are written outside it (--force does not change this)"
        )
    if os.path.lexists(path) and not os.path.isdir(path) and not force:
        raise Conflict(f"{flag} {path} already exists; give another name, or --force to replace it")


def write_files(files: dict[Path, bytes]) -> None:
    """Write every file or none: each goes to a temporary name first and is renamed into place at the end.
    A temporary file is always a new one, beside its output: a symlink or a file planted where it would be
    is never written through or over."""
    done: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            done[path] = _write_new(path, data)
        for path, tmp in done.items():
            os.replace(tmp, path)
    except OSError as e:
        for tmp in done.values():
            tmp.unlink(missing_ok=True)
        raise BadInput(f"could not write {e.filename or e}: {e.strerror}; nothing was saved") from None


def _write_new(path: Path, data: bytes) -> Path:
    """`data` in a file created for it in `path`'s folder under a random name (made exclusively, never
    through a symlink: `tempfile.mkstemp`), readable as an output written directly would be, and flushed
    to disk so that the rename publishes it whole."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".triage-", suffix=".partial")
    tmp = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return tmp
