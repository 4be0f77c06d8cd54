"""The casework's keyed hashes (blinds), made again when the home's data key is replaced.

A blind is an HMAC under a sub-key of the data key, so after a rotation (triage/store/rotate.py) every
stored blind would match nothing, and keeping them would leave values an attacker with the old key can
test guesses against. The crime-group register and the debriefs keep, sealed, the phone numbers, handles
and names they blind, so theirs are made again under the new key and crime-group suggestions carry on as
before. A capture's idempotency key (a digest of the photo file and the face) is kept sealed with its arrival
(`arrivals.SOURCE`) and blinded again; an arrival captured before it was kept has its source key cleared
instead, and its photo, captured or run in a manifest again after the rotation, lands again. The arrivals' name keys are dropped too and made again, from the
sealed details, the first time a name search or a capture needs them.
"""

from __future__ import annotations

from collections.abc import Callable

from triage.casework import arrivals, ocg
from triage.store.rows import Store

KINDS = ("phone", "handle", "name")  # what a value can be given as; a handle that is a number is a phone too


def rekey(store: Store) -> Callable[[], dict[str, int]]:
    """Read, under the old key, what each stored blind was made from; the function returned makes them
    again once the new key is in force (the caller holds the transaction throughout)."""
    groups: list[tuple[int, str, str, str]] = []  # ocg_identifiers rowid, kind, given as, value
    known = {
        (r[1], r[2], r[3]): r[0] for r in store.db.execute("SELECT rowid, ocg_ref, kind, blind FROM ocg_identifiers")
    }
    for group in store.rows("ocgs"):
        for given, field in (("name", "names"), ("phone", "phones"), ("handle", "handles")):
            for value in group.get(field) or []:
                for kind, blind in ocg.identifier_keys(store, given, value):
                    rowid = known.get((group["ref"], kind, blind))
                    if rowid is not None:
                        groups.append((rowid, kind, given, value))
    sources = {  # arrival id -> its idempotency key, unblinded, where it is kept
        r["id"]: r[arrivals.SOURCE] for r in store.rows("arrivals", "source_key IS NOT NULL") if r.get(arrivals.SOURCE)
    }
    debriefs: list[tuple[int, str, str, str]] = []  # debrief_identifiers id, kind, given as, value
    for row in store.rows("debrief_identifiers"):
        given_as = _given_as(store, row["kind"], row["blind"], row["value"])
        if given_as is not None:
            debriefs.append((row["id"], row["kind"], given_as, row["value"]))

    def apply() -> dict[str, int]:
        db = store.db
        made = {rowid for rowid, *_ in groups}
        stale = [r[0] for r in db.execute("SELECT rowid FROM ocg_identifiers") if r[0] not in made]
        db.conn.executemany("DELETE FROM ocg_identifiers WHERE rowid = ?", [(r,) for r in stale])
        db.conn.executemany(
            "UPDATE ocg_identifiers SET blind = ? WHERE rowid = ?",
            [(dict(ocg.identifier_keys(store, given, value))[kind], rowid) for rowid, kind, given, value in groups],
        )
        kept = {i for i, *_ in debriefs}
        lost = [r[0] for r in db.execute("SELECT id FROM debrief_identifiers") if r[0] not in kept]
        db.conn.executemany("DELETE FROM debrief_identifiers WHERE id = ?", [(i,) for i in lost])
        db.conn.executemany(
            "UPDATE debrief_identifiers SET blind = ? WHERE id = ?",
            [(dict(ocg.identifier_keys(store, given, value))[kind], i) for i, kind, given, value in debriefs],
        )
        cleared = db.execute("UPDATE arrivals SET source_key = NULL WHERE source_key IS NOT NULL").rowcount
        vault = store._need_vault()  # the new key's, by now
        db.conn.executemany(
            "UPDATE arrivals SET source_key = ? WHERE id = ?",
            [(vault.blind("capture", key), aid) for aid, key in sources.items()],
        )
        db.execute("DELETE FROM name_keys")  # made again from the sealed names the first time a search needs them
        return {
            "crime_group_identifiers": len(groups),
            "debrief_identifiers": len(debriefs),
            "identifiers_dropped": len(stale) + len(lost),
            "capture_keys_cleared": cleared - len(sources),
            "capture_keys_made_again": len(sources),
        }

    return apply


def _given_as(store: Store, kind: str, blind: str, value: str) -> str | None:
    """What a debrief's value was given as (a phone row may come from a handle): the kind whose blind, under
    the key in force, is the one stored; None when none is (the row was not made by this home's key)."""
    for given in KINDS:
        if (kind, blind) in ocg.identifier_keys(store, given, value):
            return given
    return None
