"""`triage passphrase change --rotate`: a new passphrase and a new data key, everything sealed again.

The recovery copy of the data key wraps the old key, so it cannot simply be kept: it is wrapped again
under the supervisor's recovery passphrase when that is given (TRIAGE_RECOVERY_PASSPHRASE, or asked at a
terminal; it must open the copy it replaces), and otherwise dropped with a warning saying how to set a
new one.
"""

from __future__ import annotations

import os
import sys

import typer

from triage.cli.batch import stage_bars
from triage.cli.common import note, warn

RECOVERY_ENV = "TRIAGE_RECOVERY_PASSPHRASE"


def rotate_key(store, new_passphrase: str, *, officer: str) -> None:
    """Replace the home's data key (triage/store/rotate.py), showing progress on stderr."""
    from triage.casework import blinds
    from triage.evaluation.cache import CACHE_AAD, CACHE_FILE
    from triage.store.rotate import rotate

    has_recovery = store.db.execute("SELECT 1 FROM keyring WHERE name = 'recovery'").fetchone() is not None
    recovery = _recovery_passphrase() if has_recovery else None
    with stage_bars() as bar:
        done = rotate(
            store,
            new_passphrase,
            officer=officer,
            recovery_passphrase=recovery,
            rekey=[blinds.rekey],
            files=[(store.home / CACHE_FILE, CACHE_AAD)],
            progress=bar,
        )
    store.close()
    note(
        f"Passphrase changed and data key replaced: {done.values} sealed values and {done.events} audit "
        "events sealed again under the new key; the old passphrase and any copy of the old keyring open "
        "nothing in this home."
    )
    if done.recovery == "re-wrapped":
        note("The recovery copy was wrapped again under the same recovery passphrase.")
    elif done.recovery == "dropped":
        warn(
            "the recovery copy was dropped (it wrapped the old data key): set a new one with "
            "`triage passphrase recovery`, or give TRIAGE_RECOVERY_PASSPHRASE when rotating to keep it"
        )
    cleared = done.rekeyed.get("capture_keys_cleared", 0)
    if cleared:
        note(
            f"{cleared} arrivals no longer carry the key of the photo file they came from (it was made with the old "
            "key): a manifest run again, the same photo captured again, or a session or watched folder started again "
            "over those files would land them again, and the review queue would show each as one photo captured "
            "twice."
        )


def _recovery_passphrase() -> str | None:
    """The supervisor's recovery passphrase from the environment, or asked at a terminal (empty: none)."""
    value = os.environ.get(RECOVERY_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        return None
    given = typer.prompt(
        "Recovery passphrase, to keep the supervisor's copy (leave empty to drop it)",
        default="",
        show_default=False,
        hide_input=True,
        err=True,
    )
    return given or None
