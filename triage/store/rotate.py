"""Replacing a home's data key: everything sealed under the old key is opened and sealed again under a
new one, in one transaction.

Changing the passphrase alone re-wraps the data key, so an old keyring row (from a backup) and the old
passphrase still open everything, including what is captured later. A rotation makes a new data key and
leaves nothing the old one opens or authenticates: every sealed column listed in `SEALED`, the audit
trail's sealed reasons and head, keyed hashes (each layer that keeps some recomputes its own, through a
`Rekey` step), every row's tag, and the files sealed beside the store. The keyring is rewritten with the
officer's copy under the new passphrase; a supervisor's recovery copy is wrapped again when its
passphrase is given (it must open the copy it replaces) and is otherwise dropped, since it wraps the old
key.

All of it is one SQLite transaction: a crash or a kill at any point leaves the old key, and only the old
key, in force, with nothing half-done. Files outside the database are sealed again beside their old copy
before the commit and moved into place after it.

The audit trail's hash chain covers each sealed reason as stored, so the chain is computed again from
the first event whose reason changed; the rotation's event records (sealed) where the trail ended
before. A rotation first verifies the trail and every row's tag under the old key, so it never turns an
altered home into one that verifies.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.errors import IntegrityFailure, TriageError, WrongPassphrase
from triage.store import audit, blocks, crypto, permissions, tags
from triage.store.passphrase import check_strength, home_words
from triage.store.rows import PK, ROTATED, SEALED_TABLES, Store, utcnow

Progress = Callable[[str, int, int], None]  # (stage, done, total)
# A step of a layer that keeps keyed hashes: called while the old key is in force, to read what it needs;
# the function it returns is called, in the same transaction, once the new key is, and returns counts.
Rekey = Callable[[Store], Callable[[], dict[str, int]]]
CHUNK = 128  # rows opened and sealed again at a time
SIDE = ".rotating"  # a sealed file's new copy, beside it until the commit


@dataclass(frozen=True)
class Sealed:
    """A column holding AES-GCM ciphertexts, and how a row's associated data is made from `keys`."""

    table: str
    column: str
    keys: tuple[str, ...]
    aad: Callable[[tuple[Any, ...]], str]


def _row_aad(table: str) -> Callable[[tuple[Any, ...]], str]:
    return lambda key: f"{table}:{key[0]}"


# Everything the store seals, but the audit trail (its reasons are chained) and the keyring (wrapped).
SEALED: tuple[Sealed, ...] = (
    *(Sealed(t, "sealed", (PK.get(t, "id"),), _row_aad(t)) for t in sorted(SEALED_TABLES)),
    Sealed("photos", "data", ("id",), _row_aad("photos")),
    Sealed("templates", "data", ("id",), _row_aad("templates")),  # one per row, in homes from before blocks
    Sealed("template_blocks", "data", ("id", "model_id", "owner_kind"), lambda k: blocks._block_aad(*k)),
    Sealed(
        "template_indexes",
        "data",
        ("model_id", "owner_kind", "created_at", "part", "parts"),
        lambda k: blocks._index_aad(*k),
    ),
)
REASON_AAD = "audit_events:{}"


@dataclass
class Rotated:
    """What a rotation did: values sealed again, audit events whose hash changed, what became of the
    recovery copy ("re-wrapped", "dropped" or "none"), keyring rows dropped, files sealed again, and the
    counts the rekey steps returned."""

    values: int = 0
    events: int = 0
    recovery: str = "none"
    dropped: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rekeyed: dict[str, int] = field(default_factory=dict)


def rotate(
    store: Store,
    new_passphrase: str,
    *,
    officer: str,
    recovery_passphrase: str | None = None,
    rekey: Sequence[Rekey] = (),
    files: Sequence[tuple[Path, str]] = (),
    progress: Progress | None = None,
) -> Rotated:
    """Seal everything in the home again under a new data key wrapped under `new_passphrase`. The recovery
    copy is kept (wrapped again) when `recovery_passphrase` opens it, dropped when it is None. `files` are
    (path, associated data) of files sealed under the data key. Raises before changing anything when a
    passphrase is weak or wrong, or the home fails verification."""
    old = store._need_vault()
    old_key = store._data_key
    assert old_key is not None  # kept whenever the store is unlocked
    if store.db.conn.in_transaction:
        raise TriageError("the data key cannot be replaced inside another transaction")
    check_strength(new_passphrase, what="new passphrase", known=home_words(store.config))
    wrapped = {r[0]: r[1] for r in store.db.execute("SELECT name, wrapped FROM keyring")}
    if recovery_passphrase is not None:
        _check_recovery(wrapped.get("recovery"), recovery_passphrase, old_key, home_words(store.config))
    report = Rotated()
    tick = progress or (lambda stage, done, total: None)
    new_key = crypto.new_data_key()
    new = crypto.Vault(new_key)
    sides: list[tuple[Path, Path]] = []
    swapped = False
    try:
        with store.transaction():
            tick("checking", 0, 1)
            _verify(store, old)
            tick("checking", 1, 1)
            steps = [step(store) for step in rekey]
            head = audit.read_head(store.db, old)
            total = _count(store) + 1
            done = 0

            def sealed_again(n: int) -> None:
                nonlocal done
                done += n
                tick("re-encrypting", done, total)

            for column in SEALED:
                report.values += _reseal(store, column, old, new, sealed_again)
            last, report.events = _reseal_trail(store, old, new, sealed_again)
            if head is None:  # verified above: every home's trail has a sealed head
                raise IntegrityFailure("the sealed record of the audit trail's end is missing")
            audit.write_head(store.db, new, dataclasses.replace(head, seq=last[0], hash=last[1]))
            store._old_rows.tagged_under = crypto.derive_tag_key(old_key)  # until every row is tagged anew
            store._adopt_key(new_key)
            swapped = True
            for apply in steps:
                report.rekeyed.update(apply())
            report.recovery, report.dropped = _rewrap(store, wrapped, new_key, new_passphrase, recovery_passphrase)
            sides = _reseal_files(files, old, new)
            report.files = [str(path) for path, _ in sides]
            sealed_again(1)
            store.audit(
                ROTATED,
                officer,
                records=["keyring:officer", *(["keyring:recovery"] if report.recovery == "re-wrapped" else [])],
                reason=f"data key replaced; the trail ended at event {head.seq} ({head.hash}) before its "
                "sealed reasons were sealed again",
            )
            tick("re-tagging", 0, 1)
            store.retag_all()
            store._old_rows.tagged_under = None
            tick("re-tagging", 1, 1)
    except BaseException:
        store._old_rows.tagged_under = None
        if swapped:
            store._adopt_key(old_key)
        for _, side in sides:
            side.unlink(missing_ok=True)
        raise
    store.note_keyring()
    for path, side in sides:
        os.replace(side, path)
    _reclaim(store)
    return report


def _check_recovery(found: str | None, passphrase: str, data_key: bytes, known: list[str]) -> None:
    """The recovery passphrase must open the recovery copy it replaces (when there is one), so the
    supervisor's passphrase stays the one they hold."""
    check_strength(passphrase, what="recovery passphrase", known=known)
    if found is None:
        return
    try:
        opened = crypto.unwrap_key(crypto.WrappedKey.from_json(found), passphrase)
    except WrongPassphrase:
        raise WrongPassphrase(
            "the recovery passphrase given does not open this home's recovery copy; nothing was changed",
            hint="give the supervisor's recovery passphrase, or none to drop the recovery copy",
        ) from None
    if opened != data_key:
        raise IntegrityFailure("the recovery copy wraps another data key than the officer's: the keyring was altered")


def _verify(store: Store, old: crypto.Vault) -> None:
    trail = audit.verify(store.db, old)
    if not trail.ok:
        raise IntegrityFailure(
            f"the audit trail fails verification ({trail.problem}); the data key was not replaced",
            hint="run `triage audit verify`, and restore the home from a backup",
        )
    problems = store.verify_rows()
    if problems:
        raise IntegrityFailure(
            f"{problems[0].what}; the data key was not replaced",
            hint="run `triage audit verify`, and restore the home from a backup",
        )


def unreadable(store: Store) -> list[tags.Problem]:
    """Every sealed value opened once under the home's key, the first that fails in each column named: a row's tag
    binds a ciphertext by its length, nonce and GCM tag only (tags.py), so a byte changed inside it shows only when
    the value is opened, and `triage audit verify` opens them all."""
    vault = store._need_vault()
    problems = []
    for column in SEALED:
        keys = ", ".join(f"[{k}]" for k in column.keys)
        select = f"SELECT {keys}, [{column.column}] FROM [{column.table}] WHERE [{column.column}] IS NOT NULL"
        for row in store.db.execute(select):
            try:
                vault.open(row[-1], column.aad(tuple(row[:-1])))
            except IntegrityFailure:
                problems.append(
                    tags.Problem(
                        column.table,
                        f"the sealed {column.column} of {column.table} row {', '.join(map(str, row[:-1]))} does not "
                        "open under this home's key: it was changed outside triage",
                    )
                )
                break
    return problems


def _count(store: Store) -> int:
    n = sum(
        store.db.execute(f"SELECT count(*) FROM [{c.table}] WHERE [{c.column}] IS NOT NULL").fetchone()[0]
        for c in SEALED
    )
    return int(n) + int(store.db.execute("SELECT count(*) FROM audit_events").fetchone()[0])


def _reseal(store: Store, column: Sealed, old: crypto.Vault, new: crypto.Vault, progress: Callable[[int], None]) -> int:
    """Open every value of the column under the old key and seal it under the new, a chunk at a time."""
    keys = ", ".join(f"[{k}]" for k in column.keys)
    select = (
        f"SELECT rowid, {keys}, [{column.column}] FROM [{column.table}] "
        f"WHERE rowid > ? AND [{column.column}] IS NOT NULL ORDER BY rowid LIMIT {CHUNK}"
    )
    update = f"UPDATE [{column.table}] SET [{column.column}] = ? WHERE rowid = ?"
    last, count = 0, 0
    while rows := store.db.execute(select, [last]).fetchall():
        changed = []
        for row in rows:
            aad = column.aad(tuple(row[1:-1]))
            changed.append((new.seal(old.open(row[-1], aad), aad), row[0]))
        store.db.conn.executemany(update, changed)
        last, count = rows[-1][0], count + len(rows)
        progress(len(rows))
    return count


def _reseal_trail(
    store: Store, old: crypto.Vault, new: crypto.Vault, progress: Callable[[int], None]
) -> tuple[tuple[int, str], int]:
    """Seal each event's reason again and compute the chain again from the first event that changed.
    Returns the last event's (seq, hash) and how many events changed."""
    names = [*audit.FIELDS, "hash"]
    select = f"SELECT {', '.join(names)} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT {CHUNK}"
    prev, last, changed = audit.GENESIS, (0, audit.GENESIS), 0
    while rows := store.db.execute(select, [last[0]]).fetchall():
        updates = []
        for values in rows:
            event = dict(zip(names, values, strict=True))
            if event["reason"] is not None:
                aad = REASON_AAD.format(event["seq"])
                event["reason"] = new.seal(old.open(event["reason"], aad), aad)
            event["prev_hash"] = prev
            event["hash"] = audit.event_hash(event)
            if event["reason"] is not None or event["hash"] != values[-1]:
                updates.append((event["reason"], event["prev_hash"], event["hash"], event["seq"]))
            prev, last = event["hash"], (event["seq"], event["hash"])
        store.db.conn.executemany("UPDATE audit_events SET reason = ?, prev_hash = ?, hash = ? WHERE seq = ?", updates)
        changed += len(updates)
        progress(len(rows))
    return last, changed


def _rewrap(
    store: Store, wrapped: dict[str, str], data_key: bytes, passphrase: str, recovery: str | None
) -> tuple[str, list[str]]:
    """The keyring anew: the officer's copy, and the recovery copy when its passphrase was given; every
    other row wrapped the old key and is dropped. Returns what became of the recovery copy, and the rows
    dropped."""
    store.db.execute("DELETE FROM keyring")
    rows = [("officer", passphrase)] + ([("recovery", recovery)] if recovery is not None else [])
    for name, secret in rows:
        store.db.execute(
            "INSERT INTO keyring (name, wrapped, created_at) VALUES (?, ?, ?)",
            [name, crypto.wrap_key(data_key, secret).to_json(), utcnow()],
        )
    dropped = sorted(set(wrapped) - {name for name, _ in rows})
    if recovery is not None:
        return ("re-wrapped" if "recovery" in wrapped else "added"), dropped
    return ("dropped" if "recovery" in wrapped else "none"), dropped


def _reseal_files(files: Sequence[tuple[Path, str]], old: crypto.Vault, new: crypto.Vault) -> list[tuple[Path, Path]]:
    """Each file sealed under the old key, sealed again beside it (moved into place after the commit). A file
    the old key does not open is not this home's to rewrite, and is left as it is."""
    sides = []
    for path, aad in files:
        if not path.is_file():
            continue
        try:
            plain = old.open(path.read_bytes(), aad)
        except IntegrityFailure:
            continue
        side = path.with_name(path.name + SIDE)
        sides.append((path, side))
        permissions.write_private(side, new.seal(plain, aad))
    return sides


def _reclaim(store: Store) -> None:
    """Empty the WAL, which held the pages as they were under the old key, and give back freed pages
    (zeroed by `secure_delete`). The new key is in force already: an interruption here loses nothing."""
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if store.db.execute("PRAGMA freelist_count").fetchone()[0]:
        store.db.execute("VACUUM")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
