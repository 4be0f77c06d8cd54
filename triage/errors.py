"""Errors the core raises and the exit codes the CLI maps them to.

Core modules raise a `TriageError` subclass with a one-line message that names what to fix; the CLI
prints the message on stderr and exits with the subclass's `status`. This is the one place exit codes
live, so the README's table and the code cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import TypeVar

T = TypeVar("T")


class ExitStatus(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    ERROR = 1  # unexpected failure (a bug, a full disk): the message says which
    USAGE = 2  # wrong options or arguments (typer/click uses 2 as well)
    BAD_INPUT = 3  # a value or file that cannot be accepted as given
    NO_FACE = 4  # no usable face, several faces, or the quality gate refused the photo
    NOT_FOUND = 5  # an arrival, subject, draft or home that does not exist
    INTEGRITY = 6  # a store, batch, signature, model file or audit chain failed verification
    WRONG_PASSPHRASE = 7  # the passphrase does not open this home's key
    CONFLICT = 8  # the action would overwrite or contradict what is already recorded
    MODEL_MISSING = 9  # face models cannot be loaded
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as a shell reports it): what was saved before it stays saved


# What every command says when Ctrl-C stops it, at a prompt, in its work, or while it is still starting.
INTERRUPTED_TEXT = "stopped at Ctrl-C; what was saved before stays saved, the change under way was not made"


class TriageError(Exception):
    """Base class: a failure the user can act on. `str(err)` is the one-line message."""

    status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class UsageError(TriageError):
    status = ExitStatus.USAGE


class BadInput(TriageError):
    status = ExitStatus.BAD_INPUT


class Faults:
    """Bad input gathered across several checks, then raised as one `BadInput` naming every fault, so all
    can be fixed in one go (faults are joined by ' | ': each may hold a ';' of its own)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, parse: Callable[..., T], *args: object) -> T | None:
        """`parse(*args)`, or None with its refusal kept."""
        try:
            return parse(*args)
        except BadInput as e:
            self.found.append(str(e))
            return None

    def raise_any(self) -> None:
        if self.found:
            raise BadInput(" | ".join(self.found))


class FaceError(TriageError):
    """No face, an ambiguous choice of face, or a photo the quality gate refuses."""

    status = ExitStatus.NO_FACE


class NotFound(TriageError):
    status = ExitStatus.NOT_FOUND


class IntegrityFailure(TriageError):
    status = ExitStatus.INTEGRITY


class WrongPassphrase(TriageError):
    status = ExitStatus.WRONG_PASSPHRASE


class KeyReplaced(WrongPassphrase):
    """Another command (`triage passphrase change --rotate`) replaced the home's data key while this one held the
    home open: the passphrase it was started with opens the home no more, as for a command started now (exit 7),
    and what it reads or would write under the old key is not taken for an altered home."""


# The home's refusals, not one photo's or row's: a home altered, or its key replaced by another command, refuses
# every later one too, so a command working through many (a session, a watch, a manifest) stops on them.
HOME_ERRORS = (IntegrityFailure, WrongPassphrase)


class Conflict(TriageError):
    status = ExitStatus.CONFLICT


class ModelMissing(TriageError):
    status = ExitStatus.MODEL_MISSING
