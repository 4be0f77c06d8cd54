"""Photos arriving in a folder: a tethered camera's download folder, or the folder a phone's photos sync into.

A photo is handed over only once it is complete, and never while it is still being written: either its
size and modification time have not changed for a settling interval, or a sidecar (`PHOTO.json`, e.g.
`IMG_0001.jpg.json`) written after it says it is done. A JPEG or PNG must also end the way its format ends.
Its bytes are read whole and the file looked at again: a file that changed during the read waits for
another turn. Each file is handed over once per process (again only if it changes, or, once the caller
says it was refused, if its sidecar changes: the officer corrected it); that a photo is not captured twice
across restarts is for the caller to decide from the bytes (an idempotency key).

The sidecar is a JSON object whose keys are the columns of a capture-batch manifest row (`surname`, `dob`,
`alias`, ...), each value text (a list for several aliases, languages or phones); `{}` says only that the
photo is complete.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.errors import BadInput
from triage.intake import jsontext
from triage.intake.photos import MAX_FILE_BYTES

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".heic", ".heif", ".tif", ".tiff", ".webp", ".bmp", ".pgm")
SIDECAR_SUFFIX = ".json"
SETTLE = 1.0  # seconds a file's size and time must stay unchanged before it counts as complete
POLL = 0.025  # seconds between looks at the folder
UNENDED = 30.0  # seconds a JPEG or PNG without its end may stay unchanged before it is handed over anyway
MAX_SIDECAR_BYTES = 64 * 1024


@dataclass(frozen=True)
class Arrived:
    """A complete photo file: its path, its bytes as read, and its sidecar's cells (None without a sidecar),
    or why the sidecar could not be read."""

    path: Path
    data: bytes
    sidecar: dict[str, str] | None = None
    sidecar_error: str | None = None


@dataclass
class _Look:
    size: int
    mtime_ns: int
    since: float  # when this size and time were first seen


@dataclass
class FolderWatch:
    """One folder watched for photos; `poll()` takes one look, `wait()` waits for the next complete photo."""

    folder: Path
    settle: float = SETTLE
    poll_every: float = POLL
    clock: Callable[[], float] = time.monotonic
    # Told once about a photo held back because it does not end as its format ends (a copy cut short, or
    # still arriving), so that no one waits on a photo unseen: its name and why.
    on_hold: Callable[[Path, str], None] = lambda path, why: None
    # Told once a photo about a sidecar named `NAME.json` beside a photo `NAME.EXT` that has no `NAME.EXT.json`:
    # it is not read, and without a word the photo would land without the details the officer wrote there.
    on_misnamed: Callable[[Path, str], None] = lambda path, why: None
    _told_misnamed: set[str] = field(default_factory=set)
    _held: set[str] = field(default_factory=set)
    _looks: dict[str, _Look] = field(default_factory=dict)
    _handed: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (size, mtime) handed over
    _sidecars: dict[str, tuple[int, int] | None] = field(default_factory=dict)  # name -> its sidecar's then
    _refused: set[str] = field(default_factory=set)  # handed over, refused: again once its sidecar changes
    _queue: list[Arrived] = field(default_factory=list)  # complete, not yet taken by `wait`

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        if not self.folder.is_dir():
            raise BadInput(f"--watch {self.folder}: no such folder")
        if self.settle < 0:
            raise BadInput("--settle must be zero or more seconds")

    def _photos(self) -> list[os.DirEntry[str]]:
        try:
            entries = list(os.scandir(self.folder))
        except OSError as e:
            raise BadInput(f"--watch {self.folder}: cannot read the folder ({e.strerror})") from None
        return [
            e
            for e in entries
            if not e.name.startswith(".")
            and e.name.lower().endswith(PHOTO_SUFFIXES)
            and e.is_file(follow_symlinks=False)  # a link could point anywhere, the home's own store included
        ]

    def poll(self) -> list[Arrived]:
        """The photos complete since the last look, oldest first."""
        now = self.clock()
        ready: list[tuple[int, str, Arrived]] = []
        present = set()
        for entry in self._photos():
            present.add(entry.name)
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError:  # gone between the listing and the look
                continue
            state = (st.st_size, st.st_mtime_ns)
            if self._handed.get(entry.name) == state:
                if entry.name not in self._refused or self._sidecars.get(entry.name) == _sidecar_state(entry):
                    continue
                del self._handed[entry.name]  # refused, and its sidecar changed since: try it again
                self._refused.discard(entry.name)
            look = self._looks.get(entry.name)
            if look is None or (look.size, look.mtime_ns) != state:
                self._looks[entry.name] = _Look(st.st_size, st.st_mtime_ns, now)
                continue  # first seen in this state: at least one more look before it counts
            sidecar = _sidecar_state(entry)  # before it is read: a change while it is read is a change
            arrived = self._complete(Path(entry.path), look, now)
            if arrived is not None:
                self._handed[entry.name] = state
                self._sidecars[entry.name] = sidecar
                self._refused.discard(entry.name)
                del self._looks[entry.name]
                ready.append((st.st_mtime_ns, entry.name, arrived))
        for name in set(self._looks) - present:
            del self._looks[name]
        self._held &= present  # a file taken away and written again is named again
        return [a for _, _, a in sorted(ready, key=lambda t: (t[0], t[1]))]

    def _complete(self, path: Path, look: _Look, now: float) -> Arrived | None:
        """The photo, if it is complete now; None to look again later."""
        steady = now - look.since
        sidecar_path = path.with_name(path.name + SIDECAR_SUFFIX)
        signed = _written_after(sidecar_path, look.mtime_ns)
        if not signed and steady < self.settle:
            return None
        if look.size == 0:
            return None  # an empty file is a file about to be written
        if look.size > MAX_FILE_BYTES:
            return _too_big(path, look.size) if steady >= self.settle else None
        try:
            data = path.read_bytes()
            after = path.stat()
        except OSError:
            return None
        if (after.st_size, after.st_mtime_ns) != (look.size, look.mtime_ns) or len(data) != look.size:
            return None  # written to while it was read
        if not _ended(path, data) and steady < UNENDED:
            if steady >= self.settle and path.name not in self._held:
                self._held.add(path.name)
                self.on_hold(
                    path,
                    f"the file does not end as a {path.suffix.lstrip('.').upper()} file does (cut short, or still "
                    f"being copied): it is tried as it is once unchanged for {UNENDED:g} s",
                )
            return None
        self._held.discard(path.name)
        cells, problem = (None, None)
        if not sidecar_path.exists():
            self._misnamed(path, sidecar_path)
        if sidecar_path.exists():
            try:
                cells = read_sidecar(sidecar_path)
            except BadInput as e:
                if steady < self.settle:
                    return None  # perhaps still being written
                problem = str(e)
        return Arrived(path, data, cells, problem)

    def _misnamed(self, path: Path, sidecar_path: Path) -> None:
        plain = path.with_suffix(SIDECAR_SUFFIX)
        if path.name not in self._told_misnamed and plain.is_file():
            self._told_misnamed.add(path.name)
            self.on_misnamed(
                path,
                f"{plain.name} is not read: a photo's sidecar is named after its whole file name, "
                f"{sidecar_path.name} (NAME.EXT.json)",
            )

    @property
    def held_back(self) -> list[str]:
        """The photos held back now for lack of their end (`on_hold`), by name."""
        return sorted(self._held)

    def refused(self, arrived: Arrived) -> None:
        """The caller could not take this photo: hand it over again when its sidecar is written, changed or
        removed (once per change), as when the photo itself changes."""
        self._refused.add(arrived.path.name)

    def wait(self, stop: Callable[[], bool] = lambda: False) -> Arrived | None:
        """The next complete photo, waiting for it; None once `stop()` says so."""
        while True:
            if stop():
                return None
            found = self.poll_one()
            if found is not None:
                return found
            time.sleep(self.poll_every)

    def poll_one(self) -> Arrived | None:
        """The next complete photo if there is one now, without waiting."""
        if not self._queue:
            self._queue = self.poll()
        return self._queue.pop(0) if self._queue else None


def _too_big(path: Path, size: int) -> Arrived:
    return Arrived(path, b"", None, f"{path}: file is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,}")


def _sidecar_state(photo: os.DirEntry[str]) -> tuple[int, int] | None:
    """The size and modification time of a photo's sidecar; None when it has none."""
    try:
        st = os.stat(photo.path + SIDECAR_SUFFIX)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _written_after(sidecar: Path, photo_mtime_ns: int) -> bool:
    try:
        return sidecar.stat().st_mtime_ns >= photo_mtime_ns
    except OSError:
        return False


def _ended(path: Path, data: bytes) -> bool:
    """Whether a JPEG or PNG holds its format's end marker at its end (other formats are not judged)."""
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        return data.rstrip(b"\0")[-2:] == b"\xff\xd9"
    if suffix == ".png":
        return data[-12:-4] == b"\0\0\0\0IEND"
    return True


def read_sidecar(path: Path) -> dict[str, str]:
    """A sidecar's cells as text, keyed as its author wrote them (the manifest's columns); a list becomes
    the manifest's ';'-separated cell."""
    try:
        doc = jsontext.read(path, max_bytes=MAX_SIDECAR_BYTES)
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: not valid JSON ({e.msg}, line {e.lineno} column {e.colno})") from None
    except ValueError:
        raise BadInput(f"{path}: not UTF-8 text; save it as UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise BadInput(f'{path}: not a JSON object of details, e.g. {{"surname": "Hussein", "dob": "1995"}}')
    cells: dict[str, str] = {}
    for key, value in doc.items():
        cells[str(key)] = _cell(path, str(key), value)
    return cells


def _cell(path: Path, key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadInput(f"{path}: {key}: give text (or a list of texts), not {json.dumps(value)[:40]}")
    return str(value)
