"""Where a home or a hub may be made: never one inside the other. A laptop's arrivals kept in a hub's tree never
reach the hub's database, a hub made inside a laptop's home would be backed up, copied and wiped with it, and
each would hold the other's keys beside its own."""

from __future__ import annotations

from pathlib import Path

from triage.errors import Conflict
from triage.store.config import HUB_FILE, STORE_FILE

NEW_VOLUME = ("lost+found",)  # what a freshly made file system holds: still an empty folder


def _around(folder: Path) -> list[Path]:
    """The folder and every folder above it, as the file system has them (`.`, symlinks resolved)."""
    try:
        here = folder.resolve()
    except (OSError, RuntimeError):  # a symlink loop: the folder as named, which no home or hub can be
        here = folder.absolute()
    return [here, *here.parents]


def _children(folder: Path) -> list[Path]:
    """The folders directly in `folder` (none when it is not one, or cannot be read)."""
    try:
        return [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    except OSError:
        return []


def apart(folder: Path, making: str) -> None:
    """Refuse to make a home (`making` "home") inside a hub's folder, or a hub ("hub") inside a home or in a
    folder that holds anything: a laptop's arrivals in a hub's tree never reach its database, and the two would be
    backed up, copied and wiped together."""
    if making == "home":
        hub = next((p for p in _around(folder) if (p / HUB_FILE).is_file()), None)
        if hub is not None:
            raise Conflict(
                f"{folder} is inside the hub at {hub}; a laptop's or supervisor's home is a folder of its own"
            )
        below = next((p for p in _children(folder) if (p / HUB_FILE).is_file()), None)
        if below is not None:  # one level down is where a hub's folder would be kept beside others
            raise Conflict(f"{folder} holds the hub at {below}; a laptop's or supervisor's home is a folder of its own")
        return
    home = next((p for p in _around(folder) if (p / STORE_FILE).is_file()), None)
    if home is not None:
        raise Conflict(
            f"{folder} is inside the triage home at {home}; a hub lives in a folder of its own, outside any "
            "laptop's or supervisor's home"
        )
    if folder.is_dir() and any(p.name not in NEW_VOLUME for p in folder.iterdir()):
        raise Conflict(f"{folder} is not empty; a hub is made in a new or empty folder")
