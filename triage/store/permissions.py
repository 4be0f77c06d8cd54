"""The home is private to the account that uses it: its folder 0700, its files 0600.

The store is sealed, but its clear columns, its file sizes and the evaluation cache beside it are still
nobody else's business, and a file others can write is one they can replace. A home is made private when
it is created, and an older home when it is opened (only what is looser than private is changed, and
only where this account may change it); `loose` lists what is not, for `triage doctor`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from triage.errors import BadInput

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
OTHERS = stat.S_IRWXG | stat.S_IRWXO  # any permission for the group or for everyone else


def make_home(home: Path) -> None:
    """Create the home folder (and any missing parent, with the usual permissions) and make it private."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, PRIVATE_DIR)
    except OSError as e:  # a file in the way, a symlink loop, no permission: said as what to fix, nothing made
        raise BadInput(f"{home}: the folder cannot be made there ({e.strerror or e}); choose another") from None


def create_private(path: Path) -> None:
    """Create `path` empty and private, unless it exists. SQLite gives a store's -wal and -shm files the
    permissions of the store file, so creating the store file this way makes all three private."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass


def write_private(path: Path, data: bytes) -> None:
    """Write `path` whole, created private (an existing file is made private as it is replaced)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        if hasattr(os, "fchmod"):  # POSIX; elsewhere the folder's access rules apply
            os.fchmod(fd, PRIVATE_FILE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def tighten(home: Path, names: tuple[str, ...]) -> None:
    """Make the home folder and the files `names` in it private where they are not (a home made before
    homes were private). What this account does not own is left as it is: the checks say so."""
    for path, private in ((home, PRIVATE_DIR), *((home / n, PRIVATE_FILE) for n in names)):
        try:
            mode = os.stat(path).st_mode
            if mode & OTHERS:
                os.chmod(path, private)
        except OSError:  # missing, or not ours to change
            continue


def loose(home: Path) -> list[str]:
    """The home folder and the files directly in it (the store, its journal, the config, the caches) that
    the group or others may read, write or enter, each as 'path (mode 0644)'; empty when the home is
    private. Folders inside a private home (models/, outputs/) are out of others' reach whatever their mode."""
    found = []
    for path in [home, *sorted(p for p in home.iterdir() if not p.is_dir())]:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            continue
        if mode & OTHERS:
            found.append(f"{path} (mode {stat.S_IMODE(mode):04o})")
    return found
