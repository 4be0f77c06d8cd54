"""The home's SQLite store: creating, opening and unlocking it, its transactions and audit events, and the
one boundary where personal and biometric data are sealed on the way in and opened on the way out.

Callers pass clear columns and a `secret` dict (or `blob` bytes) separately and the store seals the
secret part, bound to its table and key: no caller writes personal data in clear by accident, and a
sealed value moved to another row fails to open. Every write a command makes, its audit event included,
happens inside one `transaction()`. Opening a home brings its schema up to date first (migrations.py);
templates and search indexes are sealed through blocks.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import sqlite3
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from triage.errors import Conflict, IntegrityFailure, KeyReplaced, NotFound, TriageError, WrongPassphrase
from triage.store import audit, blocks, crypto, judgements, migrations, permissions, placement, tags
from triage.store import settings as home_settings
from triage.store.audit import Head
from triage.store.blocks import TemplateBlock, TemplateSet
from triage.store.config import CONFIG_FILE, STORE_FILE, Config, load_config, write_config
from triage.store.migrations import upgrade
from triage.store.passphrase import check_strength, home_words

# Tables whose personal fields live in one sealed JSON column named `sealed`; photos, templates and
# audit reasons are sealed by their own methods below.
SEALED_TABLES = {
    "arrivals",
    "subjects",
    "reviews",
    "drafts",
    "draft_outcomes",
    "laptop_keys",
    "origin_audit",
    "debriefs",
    "debrief_identifiers",
    "ocgs",
    "ocg_links",
    "referrals",
}
PK = {"arrivals": "id", "subjects": "ref", "drafts": "ref", "laptop_keys": "name", "ocgs": "ref"}
# Where a person finds the keys a table holds, for a lookup that found none (a mistyped id).
LISTED_BY = {"arrivals": "triage arrivals list", "subjects": "triage watchlist list", "ocgs": "triage ocg list"}
Row = dict[str, Any]  # a row as callers see it: clear columns and opened secret fields side by side


ROTATED = "passphrase-rotate"  # the audit action of a rotation (rotate.py), which replaces the data key
# The keyring each store file had when this process unlocked it, and how far its trail went then (`Unlocked`): what
# tells a key replaced by another process from an altered home, after the store that saw them is closed.
_UNLOCKED: dict[Path, Unlocked] = {}


@dataclasses.dataclass(frozen=True)
class Unlocked:
    """The wrapped keys a store was unlocked from, and the last event of its trail at that moment."""

    keyring: frozenset[tuple[str, str]]
    seq: int

    @classmethod
    def read(cls, db: Database) -> Unlocked:
        """Read as of one moment: a rotation commits its keyring and its event together."""
        conn = db.conn
        snapshot = not conn.in_transaction
        if snapshot:
            conn.execute("BEGIN")
        try:
            ring = frozenset((str(n), str(w)) for n, w in db.execute("SELECT name, wrapped FROM keyring"))
            seq = db.execute("SELECT coalesce(max(seq), 0) FROM audit_events").fetchone()[0]
        finally:
            if snapshot and conn.in_transaction:
                conn.execute("COMMIT")
        return cls(ring, int(seq))

    def replaced_in(self, db: Database) -> bool:
        """Whether the file's data key has been replaced since: its keyring changed, and a rotation recorded after
        this moment (a passphrase changed alone re-wraps the same key, and leaves this store's key in force)."""
        now = frozenset((str(n), str(w)) for n, w in db.execute("SELECT name, wrapped FROM keyring"))
        if now == self.keyring:
            return False
        found = db.execute("SELECT 1 FROM audit_events WHERE action = ? AND seq > ? LIMIT 1", [ROTATED, self.seq])
        return found.fetchone() is not None


def forget_unlocked() -> None:
    """A new command in a process that ran one before (the test suite runs them in one): the homes that one
    unlocked are not this one's, and `explain` does not look at them."""
    _UNLOCKED.clear()


def key_replaced_error() -> KeyReplaced:
    """What a command is told when its key was replaced under it: what happened and how to go on, not "altered"."""
    return KeyReplaced(
        "the home's data key was replaced (`triage passphrase change --rotate`) while this command had it open, so "
        "nothing more is read or recorded under the old key; what it saved before stays saved",
        hint="start the command again with the new passphrase",
    )


def explain(error: TriageError) -> TriageError:
    """An integrity failure met by a command whose home had its data key replaced by another process meanwhile is
    that, not an altered home: the sealed end of the trail, and every row's tag, are under the new key now, which
    this command does not hold. Anything else is returned as it is (`triage audit verify` checks the home)."""
    if not isinstance(error, IntegrityFailure):
        return error
    for path, seen in list(_UNLOCKED.items()):
        if not path.exists():  # a home since removed (connecting would make an empty file of it)
            continue
        if not _met_in(error, path):  # another store's failure (a hub's database): its key was never this home's
            continue
        try:
            db = Database(sqlite3.connect(str(path), timeout=5))
            try:
                replaced = seen.replaced_in(db)
            finally:
                db.close()
        except sqlite3.Error:
            continue
        if replaced:
            return key_replaced_error()
    return error


def _met_in(error: BaseException, path: Path) -> bool:
    """Whether `error`, or one it was raised from or while handling, passed through the work of the store on
    `path` (a method of that Store): only what that home's key sealed can fail because the key was replaced."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb = e.__traceback__
        while tb is not None:
            owner = tb.tb_frame.f_locals.get("self")
            if isinstance(owner, Store) and owner.home / STORE_FILE == path:
                return True
            tb = tb.tb_next
        todo += [e.__cause__, e.__context__]
    return False


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def in_utc(iso: str) -> dt.datetime | None:
    """A recorded time (ISO 8601) in UTC, to be shown as people read it; None when it is not a time (shown as
    it was recorded). A time recorded without a zone is taken as UTC, as triage records every time."""
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return None
    return moment.astimezone(dt.timezone.utc) if moment.tzinfo is not None else moment


def utc_text(iso: str | None) -> str:
    """A recorded UTC time as people read it, date and time apart (2026-11-28 04:31:07): what every table and
    message shows under or beside "UTC"."""
    if not iso:
        return ""
    when = in_utc(iso)
    return when.strftime("%Y-%m-%d %H:%M:%S") if when is not None else iso


def connect(path: Path) -> Database:
    """Open the SQLite file in WAL mode with a busy timeout, so concurrent commands wait their turn."""
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)
    db = Database(conn)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA secure_delete = ON")
    db.execute("PRAGMA recursive_triggers = ON")  # a REPLACE then notes the row it deletes (tags.py)
    db.execute("PRAGMA busy_timeout = 60000")
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


class Store:
    """An open home. `vault` is None until the store is unlocked with the passphrase."""

    def __init__(self, home: Path, db: Database, config: Config, vault: crypto.Vault | None):
        self.home = home
        self.db = db
        self.config = config
        self.vault = vault
        self.called = "home"  # what a refusal calls this store: "hub" for a hub's key home
        self._data_key: bytes | None = None  # kept while unlocked, to wrap it under a new passphrase
        self._tag_key: bytes | None = None  # rows' authentication key, derived from the data key (tags.py)
        self._layouts: dict[str, tags.Layout] = {}
        mine = weakref.ref(self)
        self._old_rows = tags.OldRows(lambda: s._tag_key if (s := mine()) is not None else None)
        self._pending_head: tuple[int, str] | None = None  # the last event of the open transaction
        # The furthest end of the trail this store has seen (at unlock, and at each of its own commits): a file put
        # back to an older copy of itself while a command holds it open (a session) goes behind it (`_check_trail_end`).
        self._seen_end: tuple[int, str] | None = None
        self._written_end: tuple[int, str] | None = None  # the end the open transaction wrote, seen once committed
        # The schema as checked at unlock (or first sealed): every later head seals this, never what the file
        # holds by then, so a trigger slipped in while a command runs is refused rather than sealed.
        self._schema: str | None = None
        # Rows this connection tagged at its own commits, not checked again while SQLite's data_version says
        # no other connection has committed since (`_fresh_rows`); those being tagged at the open commit.
        self._fresh: dict[str, set[int]] = {}
        self._fresh_version: int | None = None
        self._staged: dict[str, set[int]] = {}
        self.cache: dict[str, Any] = {}  # per-process state built from the store, such as search galleries
        self.settings: home_settings.Settings | None = None  # what decides behaviour, read at unlock
        self._unlocked: Unlocked | None = None  # the keyring this store was unlocked from (`_check_key`)

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, home: Path, passphrase: str, config: Config, *, key_home: bool = False) -> Store:
        check_strength(passphrase, known=home_words(config))
        if (home / STORE_FILE).exists():
            raise Conflict(f"a triage home already exists at {home}; it is never overwritten")
        if not key_home:
            placement.apart(home, "home")
        permissions.make_home(home)
        write_config(home, config, create=True)
        permissions.create_private(home / STORE_FILE)  # its -wal and -shm files take its permissions
        db = connect(home / STORE_FILE)
        upgrade(db)
        data_key = crypto.new_data_key()
        store = cls(home, db, config, crypto.Vault(data_key))
        store._adopt_key(data_key)
        with store.transaction():
            db.table("keyring").insert(
                {"name": "officer", "wrapped": crypto.wrap_key(data_key, passphrase).to_json(), "created_at": utcnow()}
            )
            store.audit("init", config.officer, reason=f"site {config.site}, force {config.force_code}")
            home_settings.record(store, config.officer)
            store.retag_all()  # the rows the migrations wrote, before any key existed
        return store

    @classmethod
    def open_locked(cls, home: Path) -> Store:
        """Open without the passphrase: enough for integrity checks and the audit chain."""
        config = load_config(home)
        path = home / STORE_FILE
        if not path.exists():
            raise NotFound(f"the store {path} is missing")
        permissions.tighten(home, (STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm", CONFIG_FILE))
        try:
            db = connect(path)
            upgrade(db)
        except (
            sqlite3.DatabaseError,
            RuntimeError,
        ) as e:  # RuntimeError: a step that finds the schema not as it expects
            raise IntegrityFailure(f"the store {path} cannot be opened: {e}") from None
        return cls(home, db, config, None)

    @classmethod
    def open(cls, home: Path, passphrase: str, *, check: bool = True) -> Store:
        store = cls.open_locked(home)
        store.unlock(passphrase, check=check)
        return store

    def unlock(self, passphrase: str, *, check: bool = True) -> None:
        """Try each wrapped copy of the data key (the officer's, and a supervisor's recovery copy). Unless `check` is
        False (for `triage audit verify` and `doctor`, which report every problem themselves), refuse a store whose
        tables no longer add up (`tags.CHECKED_WHERE_READ` aside); the settings, which decide how the home behaves,
        are checked either way."""
        seen = Unlocked.read(self.db)
        rows = [{"name": n, "wrapped": w} for n, w in sorted(seen.keyring)]
        if not rows:
            raise IntegrityFailure(f"the store in {self.home} has no keyring")
        error: TriageError | None = None
        for row in rows:
            try:
                try:
                    wrapped = crypto.WrappedKey.from_json(row["wrapped"])
                except (ValueError, TypeError, KeyError, AttributeError):
                    raise IntegrityFailure(
                        f"keyring row {row['name']!r} is malformed: it was changed outside triage",
                        hint="restore the home from a backup",
                    ) from None
                data_key = crypto.unwrap_key(wrapped, passphrase)
            except TriageError as e:
                if not isinstance(error, WrongPassphrase):  # a wrong passphrase is said before a broken row
                    error = e
                continue
            self._adopt_key(data_key)
            self._unlocked = _UNLOCKED[self.home / STORE_FILE] = seen
            self._check_schema()
            head = audit.read_head(self.db, self._need_vault())
            self._seen_end = None if head is None else (head.seq, head.hash)
            self._tag_rows_once()
            keyed = self._key_digests_once(strict=check)
            if keyed:  # else an altered home opened to be reported (`audit verify`, `doctor`): nothing written
                self._tag_later_tables_once()
            self.settings = home_settings.load(self)  # its table checked there: a setting restored from an older copy
            # A review, alert or flag deleted, or a row put back from an older copy, is refused by every command,
            # not only by `triage audit verify`; the tables left out are checked where they are read.
            if check:
                unchecked = tags.CHECKED_WHERE_READ | {home_settings.TABLE}
                later = [t for t in tags.tagged_tables(self.db) if t not in unchecked]
                self.check_tables(*later, every_row=False, head_required=False)
            if keyed:
                judgements.seal_once(self, self.config.officer)  # an older home's, once
            return
        raise error  # type: ignore[misc]

    def _adopt_key(self, data_key: bytes) -> None:
        """Use `data_key` from now on: its vault, its rows' tag key, and the triggers that note each row a
        transaction touches so that it is tagged at commit."""
        self._data_key = data_key
        self.vault = crypto.Vault(data_key)
        self._tag_key = crypto.derive_tag_key(data_key)
        self._seen_end = None  # a new key's trail is read afresh (a rotation makes every hash again)
        tags.install_triggers(self.db, tags.tagged_tables(self.db), self._old_rows)

    def _tag_rows_once(self) -> None:
        """A home whose sealed head predates row tags has its rows tagged now, once, under this key."""
        head = audit.read_head(self.db, self._need_vault())
        if head is None or head.tables is not None:
            return
        assert self._tag_key is not None
        with self.transaction():
            head = audit.read_head(self.db, self._need_vault())
            if head is not None and head.tables is None:  # another process may have done it meanwhile
                digests = tags.tag_all(self.db, self._tag_key, self._layouts)
                audit.write_head(self.db, self._need_vault(), audit.Head(head.seq, head.hash, digests))
                self.audit("rows-tagged", self.config.officer, records=[f"tables:{len(digests)}"])

    def _key_digests_once(self, *, strict: bool) -> bool:
        """A home whose sealed head holds its tables' digests as plain sums of their tags (`tags.tag_sum`), which a
        row slipped into the file could make add up again, has every row checked against its tag and every table
        against its sum, once, and its digests kept keyed from then on (`tags.summand`). A home that fails is
        refused, unless not `strict` (`triage audit verify` and `doctor`, which report what failed): then False,
        and the home is left as it is."""
        head = audit.read_head(self.db, self._need_vault())
        if head is None or head.tables is None or head.keyed:
            return True
        assert self._tag_key is not None
        with self.transaction():
            head = audit.read_head(self.db, self._need_vault())
            if head is None or head.tables is None or head.keyed:  # another process may have done it meanwhile
                return True
            for problem in tags.verify(self.db, self._tag_key, head.tables, self._layouts, head.tables, keyed=False):
                if not strict:
                    return False
                raise IntegrityFailure(
                    f"{problem.what}; `triage audit verify` shows every change", hint="restore the home from a backup"
                )
            digests = {t: tags.table_sum(self.db, self._tag_key, t, self._layouts) for t in head.tables}
            audit.write_head(self.db, self._need_vault(), dataclasses.replace(head, tables=digests, keyed=True))
            self.audit("table-digests-keyed", self.config.officer, records=[f"tables:{len(digests)}"])
        return True

    def _tag_later_tables_once(self) -> None:
        """A home whose sealed head has no digest for a table tagged since (`tags.TAGGED_LATER`) has that table's
        rows tagged now, once, under this key."""
        head = audit.read_head(self.db, self._need_vault())
        if head is None or head.tables is None or not head.keyed or all(t in head.tables for t in tags.TAGGED_LATER):
            return
        assert self._tag_key is not None
        with self.transaction():
            head = audit.read_head(self.db, self._need_vault())
            if head is None or head.tables is None or not head.keyed:
                return
            missing = [t for t in tags.TAGGED_LATER if t not in head.tables]
            if missing:  # another process may have done it meanwhile
                digests = tags.tag_all(self.db, self._tag_key, self._layouts, missing)
                audit.write_head(self.db, self._need_vault(), audit.Head(head.seq, head.hash, head.tables | digests))
                self.audit("rows-tagged", self.config.officer, records=[f"table:{t}" for t in missing])

    def set_passphrase(self, new: str, *, officer: str, name: str = "officer") -> None:
        """Wrap the data key under a new passphrase, with today's KDF parameters (so changing the
        passphrase also upgrades them); the data itself is not re-encrypted. `name` is "officer" or
        "recovery" (a supervisor's second copy)."""
        what = "new passphrase" if name == "officer" else f"{name} passphrase"
        check_strength(new, what=what, known=home_words(self.config))
        self._need_vault()
        data_key = self._data_key
        assert data_key is not None  # kept whenever the store is unlocked
        with self.transaction():
            self.db.table("keyring").upsert(
                {"name": name, "wrapped": crypto.wrap_key(data_key, new).to_json(), "created_at": utcnow()},
                pk="name",
            )
            self.audit("passphrase-set", officer, records=[f"keyring:{name}"])
        self.note_keyring()

    def close(self) -> None:
        self.db.close()

    def _need_vault(self) -> crypto.Vault:
        if self.vault is None:
            raise TriageError("the store is locked: this needs the passphrase")
        return self.vault

    @property
    def is_training(self) -> bool:
        """Whether this is a training home, as its authenticated settings record it (whatever config.json
        says); needs the passphrase."""
        if self.settings is None:
            raise TriageError("the store is locked: this needs the passphrase")
        return self.settings.training

    # -- transactions and audit ------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE, so concurrent writers queue rather than fail)."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise TriageError(f"the store is busy or unwritable: {e}") from None
        self._staged = {}
        try:
            self._check_key()
            self._fresh_rows()  # forgets them if another connection committed before this one began
            yield
            if self.vault is not None:
                self.compact_templates()  # templates any code deleted leave their sealed blocks in this commit
                self._check_touched_indexes()
                self._tag_touched()
            conn.execute("COMMIT")
            self._committed_end()
            for table, rowids in self._staged.items():
                self._fresh.setdefault(table, set()).update(rowids)
            self._staged = {}
        except BaseException as e:
            self._pending_head = None
            self._written_end = None
            self._staged = {}
            damaged = self._damaged_index(e)
            if conn.in_transaction:  # SQLite may have rolled back already (a full disk does)
                conn.execute("ROLLBACK")
            if damaged is not None:
                raise damaged from None
            failed, self._old_rows.failed = self._old_rows.failed, None
            if isinstance(e, sqlite3.IntegrityError) and tags.OLD_ROW_CHANGED in str(e):
                raise IntegrityFailure(
                    f"{failed or 'a row'} was changed outside triage (its authentication tag does not match), so "
                    "triage does not write over it: `triage audit verify` shows every change",
                    hint="restore the home from a backup",
                ) from None
            raise

    def _committed_end(self) -> None:
        """The end this store's own commit wrote is the furthest it has seen (`_check_trail_end`); never one before
        it (a commit without an event rewrites the end the file held)."""
        written, seen = self._written_end, self._seen_end
        if written is not None and (seen is None or written[0] >= seen[0]):
            self._seen_end = written
        self._written_end = None

    def _check_key(self) -> None:
        """Refuse to write under a data key another process has replaced since this store was unlocked (a rotation,
        which seals everything again under a new key): rows sealed and tagged under the old one would open for
        nobody, so the command stops, saying so, rather than meet the new key's trail end as an altered home."""
        if self._unlocked is not None and self._unlocked.replaced_in(self.db):
            raise key_replaced_error()

    def note_keyring(self) -> None:
        """The keyring as this store has just rewritten it itself (a new passphrase, a rotation): its own change is
        no other command's."""
        if self._unlocked is not None:
            self._unlocked = _UNLOCKED[self.home / STORE_FILE] = Unlocked.read(self.db)

    def audit(
        self,
        action: str,
        officer: str,
        *,
        arrival_id: str | None = None,
        records: Sequence[str] = (),
        reason: str | None = None,
    ) -> None:
        """Append a hash-chained audit event; called inside the transaction of the change it records."""
        sealed_reason = None
        if reason:
            seq = self.db.execute("SELECT coalesce(max(seq), 0) + 1 FROM audit_events").fetchone()[0]
            sealed_reason = self._need_vault().seal(reason.encode(), f"audit_events:{seq}")
        self._need_vault()  # an event is never written by a locked store
        self._check_trail_end()
        row = audit.append(
            self.db,
            at=utcnow(),
            officer=officer,
            action=action,
            arrival_id=arrival_id,
            records=list(records),
            reason=sealed_reason,
        )
        self._pending_head = (row["seq"], row["hash"])
        if not self.db.conn.in_transaction:  # else the sealed head is written once, at commit
            self._write_head()
            self._committed_end()

    def trail_mark(self, seq: int | None = None) -> tuple[int, str] | None:
        """Event `seq` of the trail (by default its last) as another store records it (`audit.mark`), once the trail
        from it is checked to the end the sealed head records: events copied in from a later copy of the file (their
        hashes are not keyed) would otherwise show an older copy holding an event its rows never reached."""
        conn = self.db.conn
        snapshot = not conn.in_transaction  # the head and the events as of one moment, whoever commits meanwhile
        if snapshot:
            conn.execute("BEGIN")
        try:
            head = audit.read_head(self.db, self._need_vault())
            mark = audit.mark(self.db, seq)
            if mark is None:
                return None
            if audit.broken_from(self.db, mark[0], None if head is None else (head.seq, head.hash)) is not None:
                raise IntegrityFailure(
                    f"the audit trail of the home in {self.home} does not end where its sealed record says (events "
                    "added, removed or rewritten outside triage): `triage audit verify` shows what changed",
                    hint="restore the folder from a backup",
                )
            return mark
        finally:
            if snapshot and conn.in_transaction:
                conn.execute("COMMIT")

    def events(self, where: str | None = None, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The audit events that match `where`, oldest first, reasons opened, the trail from the first of them
        checked to its sealed end (audit.read). The head and the events are read as of one moment: an event another
        process adds between the two reads would otherwise end the trail past the head read, and be refused as
        altered. Events chosen by `where` are found through an index, checked first: one rebuilt without an event
        would leave it out, every hash passing."""
        if where:
            self.check_indexes_once("audit_events")
        conn = self.db.conn
        snapshot = not conn.in_transaction
        if snapshot:
            conn.execute("BEGIN")
        try:
            head = audit.read_head(self.db, self._need_vault())
            end = self._pending_head or (None if head is None else (head.seq, head.hash))
            return audit.read(self.db, self._need_vault(), where, params, end=end)
        finally:
            if snapshot and conn.in_transaction:
                conn.execute("COMMIT")

    def _check_trail_end(self) -> None:
        """Refuse to add to a trail that no longer ends where the sealed head (or this transaction's own last
        event) says: a new event and head would otherwise seal over events cut off or rewritten. A home's
        first event has neither, and so has a home from before the sealed head, whose rows were never tagged."""
        last = self.db.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
        expected: tuple[int, str] | None = self._pending_head
        if expected is None:
            head = audit.read_head(self.db, self._need_vault())
            if head is None and (last is None or self._never_tagged()):
                return
            expected = None if head is None else (head.seq, head.hash)
        if expected is None or last is None or (int(last[0]), str(last[1])) != expected:
            raise IntegrityFailure(
                "the audit trail no longer ends where it was last written (events were removed, rewritten "
                "or added outside triage), so nothing more is recorded: `triage audit verify` shows what changed",
                hint="restore the home from a backup",
            )
        if self._pending_head is None:
            self._check_seen_end()

    def _check_seen_end(self) -> None:
        """Refuse to write to a file that no longer holds the furthest event this store has seen, as it was: the
        file put back to an older copy under a command that holds it open. Checked before every write that seals
        the trail's end, with an event or without one (upkeep such as a search index)."""
        if self._seen_end is None:
            return
        seen = self.db.execute("SELECT hash FROM audit_events WHERE seq = ?", [self._seen_end[0]]).fetchone()
        if seen is None or str(seen[0]) != self._seen_end[1]:
            raise IntegrityFailure(
                f"the home changed under this command: its trail had reached event {self._seen_end[0]}, which it "
                "no longer holds as written (the file put back to an older copy, or its key replaced by another "
                "command, while this one had it open), so nothing more is recorded",
                hint="end this command and start it again; if the home was put back, what this command saved "
                "since that copy is in it no more, unless a batch carried it",
            )

    def _never_tagged(self) -> bool:
        """Whether no row of the store carries a tag: a home whose rows predate their tags (tags.py)."""
        return not any(
            self.db.execute(f"SELECT 1 FROM [{t}] WHERE tag IS NOT NULL LIMIT 1").fetchone()
            for t in tags.tagged_tables(self.db)
        )

    def _current_head(self) -> Head | None:
        """The sealed head as this transaction leaves it so far. A home's first event starts its tables'
        digests; a head missing later stays without them (verify reports it, and no tagged row may be
        written until the home is restored)."""
        head = audit.read_head(self.db, self._need_vault())
        if self._pending_head is not None:
            seq, digest = self._pending_head
            tables = head.tables if head is not None else ({} if seq == 1 else None)
            head = audit.Head(seq, digest, tables, keyed=head.keyed if head is not None else True)
        return head

    def _write_head(self, head: Head | None = None) -> None:
        head = head or self._current_head()
        if head is not None:
            now = tags.schema_digest(self.db)
            if self._schema is not None and now != self._schema:
                raise IntegrityFailure(
                    "the store's schema was changed outside triage while this command ran (a table, column, index "
                    "or trigger added, removed or altered): nothing of the change under way was saved",
                    hint="restore the home from a backup",
                )
            self._schema = now
            head.schema, head.steps = now, migrations.applied(self.db)
            audit.write_head(self.db, self._need_vault(), head)
            self._written_end = (head.seq, head.hash)
        self._pending_head = None

    def _check_schema(self) -> None:
        """The schema is the one the sealed head last recorded, unless this version's own steps have run since
        (an upgrade): a table, column, index or trigger changed with the sqlite3 shell is refused."""
        head = audit.read_head(self.db, self._need_vault())
        self._schema = tags.schema_digest(self.db)
        if head is None or head.schema is None or head.schema == self._schema:
            return
        now, before = set(migrations.applied(self.db)), set(head.steps or [])
        if before < now <= migrations.known():
            return  # upgraded since; the next commit records the new schema
        self._schema = None
        raise IntegrityFailure(
            "the store's schema was changed outside triage (a table, column, index or trigger added, removed "
            "or altered)",
            hint="restore the home from a backup",
        )

    def _tag_touched(self) -> None:
        """Tag the rows this transaction wrote, move the tables' digests, and write the sealed head once."""
        touched = self._tag_key is not None and self.db.execute("SELECT 1 FROM temp.touched LIMIT 1").fetchone()
        if not touched:
            if self._pending_head is not None:
                self._write_head()
            return
        assert self._tag_key is not None
        head = self._current_head()
        if head is None or head.tables is None or not head.keyed:
            raise IntegrityFailure(
                "the sealed record of the audit trail's end is missing, or the home failed its check, so nothing "
                "more can be written safely: run `triage audit verify`",
                hint="restore the home from a backup",
            )
        if self._pending_head is None:  # no event this transaction: `_check_trail_end` did not run
            self._check_seen_end()
        self._staged = tags.seal_touched(self.db, self._tag_key, head.tables, self._layouts)
        self._write_head(head)

    def retag_all(self) -> None:
        """Tag every row afresh under the current key (after the data key is replaced), inside the caller's
        transaction."""
        assert self._tag_key is not None
        head = self._current_head()
        if head is None:
            raise IntegrityFailure("the sealed record of the audit trail's end is missing")
        digests = tags.tag_all(self.db, self._tag_key, self._layouts)
        self._write_head(audit.Head(head.seq, head.hash, digests))

    def verify_file(self) -> list[tags.Problem]:
        """SQLite's own check of the file: every index holds exactly its table's rows. An index rebuilt outside
        triage could hide rows from a read that goes through it, which no tag or digest sees."""
        found = [str(r[0]) for r in self.db.execute("PRAGMA integrity_check(20)")]
        if found == ["ok"]:
            return []
        return [
            tags.Problem("file", f"the store file is not as SQLite wrote it ({line}): it was changed outside triage")
            for line in found
        ]

    def check_indexes(self, *tables: str) -> None:
        """SQLite's own check of the named tables and their indexes, for a command whose reads go through
        those indexes and whose result leaves the home (a signed batch): an index rebuilt or edited outside
        triage would leave rows out of such a read, every row's tag and every digest passing."""
        for table in tables:
            found = self.db.execute(f"PRAGMA integrity_check([{table}])").fetchone()[0]
            if found != "ok":
                raise IntegrityFailure(
                    f"the store file's {table} or an index of it is not as SQLite wrote it ({found}): it was changed "
                    "outside triage",
                    hint="`triage doctor` checks the whole file; restore the home from a backup",
                )

    def verify_rows(self) -> list[tags.Problem]:
        """Every tagged row's tag, and each table's digest against the sealed head."""
        vault = self._need_vault()
        assert self._tag_key is not None
        head = audit.read_head(self.db, vault)
        if head is None or head.tables is None:
            return [tags.Problem("audit_head", "the sealed record of the trail's end is missing")]
        return list(tags.verify(self.db, self._tag_key, head.tables, self._layouts, keyed=head.keyed))

    def check_tables(self, *tables: str, every_row: bool = True, head_required: bool = True) -> None:
        """What `verify_rows` checks, for the named tables only: every row's tag, and each table's digest
        against the sealed head, so a row deleted or restored from an older copy is refused by the command
        that relies on the table, not only by `triage audit verify`. Without `every_row`, the digests alone,
        for a command that reads the rows it uses through `rows`/`get` (which check each one). Call it before
        the command writes: a table this transaction has written is not checked (its digest moves at
        commit). Without `head_required`, a missing head is left for `triage audit verify` to report."""
        vault = self._need_vault()
        assert self._tag_key is not None
        conn = self.db.conn
        snapshot = not conn.in_transaction  # the head and the rows as of one moment, whoever commits meanwhile
        if snapshot:
            conn.execute("BEGIN")
        try:
            head = audit.read_head(self.db, vault)
            if head is None or head.tables is None:
                if not head_required or (head is None and self._never_tagged()):
                    return  # a home from before the sealed head: its first audited command writes one
                raise IntegrityFailure(
                    "the sealed record of the audit trail's end is missing: run `triage audit verify`",
                    hint="restore the home from a backup",
                )
            written = {r[0] for r in self.db.execute("SELECT DISTINCT tbl FROM temp.touched")}
            only = set(tables) - written
            verified = tags.verify(
                self.db, self._tag_key, head.tables, self._layouts, only, rows=every_row, keyed=head.keyed
            )
            for problem in verified:
                raise IntegrityFailure(
                    f"{problem.what}; `triage audit verify` shows every change", hint="restore the home from a backup"
                )
        finally:
            if snapshot and conn.in_transaction:
                conn.execute("COMMIT")

    def check_once(self, *tables: str) -> None:
        """`check_tables` by digest, and their indexes, the first time this process reads the tables for a result
        that rows missing would change (tables not summed at unlock, `tags.CHECKED_WHERE_READ`: a name key deleted
        would hide an arrival from a name search, a subject deleted would leave the watchlist's list short)."""
        self.check_indexes_once(*tables)
        done = self.cache.setdefault("tables-checked", set())
        todo = [t for t in tables if t not in done]
        if todo and self._tag_key is not None:
            self.check_tables(*todo, every_row=False)
            done.update(t for t in todo if not self._written_table(t))  # a table this transaction wrote: passed over

    def check_indexes_once(self, *tables: str) -> None:
        """`check_indexes`, the first time this process looks rows up through the tables' indexes for a result
        that rows left out would change (a list, the version held, whether a photo already landed), and again
        once another connection has written to the file. Once: a table's check reads all of it and its indexes
        (about 20 ms for 10,000 arrivals)."""
        version = self.db.execute("PRAGMA data_version").fetchone()[0]  # moves when another connection commits
        if self.cache.get("indexes-version") != version:
            self.cache["indexes-version"] = version
            self.cache["indexes-checked"] = set()
        done = self.cache.setdefault("indexes-checked", set())
        todo = [t for t in tables if t not in done]
        if todo:
            self.check_indexes(*todo)
            done.update(todo)

    # -- sealed rows -----------------------------------------------------------------------------

    def next_id(self, table: str) -> int:
        return int(self.db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM [{table}]").fetchone()[0])

    def insert(self, table: str, clear: Row, secret: Row | None = None) -> Row:
        """Insert a row whose `secret` part is sealed, bound to the table and primary key."""
        row = dict(clear)
        pk = PK.get(table, "id")
        if pk not in row:
            row[pk] = self.next_id(table)
        if secret is not None:
            row["sealed"] = self._need_vault().seal_json(secret, f"{table}:{row[pk]}")
        self.insert_row(table, row)
        return row

    def insert_row(self, table: str, row: Row) -> None:
        """One plain INSERT into a table the migrations made, without sqlite-utils' `insert` reading the
        schema again on every call (see benchmarks/batch_day.py); lists and dicts go in as JSON, as there."""
        names = ", ".join(f"[{c}]" for c in row)
        self.db.execute(
            f"INSERT INTO [{table}] ({names}) VALUES ({', '.join('?' * len(row))})",
            [json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for v in row.values()],
        )

    def update(self, table: str, key: str | int, clear: Row | None = None, secret: Row | None = None) -> None:
        """Change a row; the row is checked first, so that an edit made outside triage is never tagged anew."""
        self.check_rows(table, f"[{PK.get(table, 'id')}] = ?", [key])
        row = dict(clear or {})
        if secret is not None:
            row["sealed"] = self._need_vault().seal_json(secret, f"{table}:{key}")
        if row:
            self.db.table(table).update(key, row)

    def _open_row(self, table: str, row: Row, fresh: set[int] | None = None) -> Row:
        """A row as read (`__rowid__` first), its tag checked and its sealed part opened; `ver` and `tag`
        are the store's own and never reach a caller. `fresh`: `_fresh_rows()` of the table, when the caller
        opens many rows."""
        if self._tag_key is not None and "tag" in row:
            rowid = row["__rowid__"]
            if fresh is None:
                fresh = self._fresh_rows().get(table, set())
            if rowid not in fresh and not self._written_now(table, rowid):
                tags.check_read(self._tag_key, table, self._layouts, self.db, row)
        for own in ("__rowid__", "ver", "tag"):
            row.pop(own, None)
        if table in SEALED_TABLES:
            blob = row.pop("sealed")
            if blob is not None:
                row.update(self._need_vault().open_json(blob, f"{table}:{row[PK.get(table, 'id')]}"))
        return row

    def _select(self, table: str, where: str | None, params: Sequence[Any], order_by: str | None = None) -> list[Row]:
        sql = f"SELECT rowid AS __rowid__, * FROM [{table}]" + (f" WHERE {where}" if where else "")
        cursor = self.db.execute(sql + (f" ORDER BY {order_by}" if order_by else ""), list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    def get(self, table: str, key: str | int, *, what: str | None = None) -> Row:
        """One row by its primary key, checked and opened."""
        found = self._select(table, f"[{PK.get(table, 'id')}] = ?", [key])
        if not found:
            self.check_indexes_once(table)  # a row left out of the key's index is no row missing
            upper = key.upper() if isinstance(key, str) and key != key.upper() else None
            capitals = upper is not None and self.count(table, f"[{PK.get(table, 'id')}] = ?", [upper])
            listed = LISTED_BY.get(table)
            raise NotFound(
                f"no {what or table.rstrip('s')} {key!r} in this home",
                hint=f"ids are written in capitals: {upper}"
                if capitals
                else (f"`{listed}` lists those this home holds" if listed else None),
            )
        return self._open_row(table, found[0])

    def rows(
        self, table: str, where: str | None = None, params: Sequence[Any] = (), order_by: str | None = None
    ) -> list[Row]:
        """The rows that match, each checked and opened."""
        found = self._select(table, where, params, order_by)
        fresh = self._fresh_rows().get(table, set()) if self._tag_key is not None and found else None
        return [self._open_row(table, r, fresh) for r in found]

    def check_rows(self, table: str, where: str | None = None, params: Sequence[Any] = ()) -> None:
        """Check the tags of the rows that match, for code that reads them through plain SQL."""
        if self._tag_key is not None:
            rows = self._select(table, where, params)
            fresh = self._fresh_rows().get(table, set())
            written: set[int] | None = None  # None: asked row by row, as a few rows are
            if self.db.conn.in_transaction and len(rows) > 64:
                written = {r[0] for r in self.db.execute("SELECT rid FROM temp.touched WHERE tbl = ?", [table])}
            for row in rows:
                rowid = row["__rowid__"]
                if rowid in fresh or (rowid in written if written is not None else self._written_now(table, rowid)):
                    continue
                tags.check_read(self._tag_key, table, self._layouts, self.db, row)

    def _fresh_rows(self) -> dict[str, set[int]]:
        """The rows this connection tagged at its own commits, while they are still as it wrote them: SQLite's
        data_version moves whenever another connection (another process, the sqlite3 shell) commits to the
        file, and then every row is checked again. A row is checked once its tag could be someone else's."""
        version = int(self.db.execute("PRAGMA data_version").fetchone()[0])
        stray = not self.db.conn.in_transaction and self.db.execute("SELECT 1 FROM temp.touched LIMIT 1").fetchone()
        if version != self._fresh_version or stray:  # stray: this connection wrote outside a transaction
            self._fresh = {}
            self._fresh_version = version
        return self._fresh

    def _written_now(self, table: str, rowid: int) -> bool:
        """Whether this transaction wrote the row: its tag comes at commit, so it is not checked until then."""
        if not self.db.conn.in_transaction:
            return False
        found = self.db.execute("SELECT 1 FROM temp.touched WHERE tbl = ? AND rid = ? LIMIT 1", [table, rowid])
        return found.fetchone() is not None

    def count(self, table: str, where: str | None = None, params: Sequence[Any] = ()) -> int:
        sql = f"SELECT count(*) FROM [{table}]" + (f" WHERE {where}" if where else "")
        return int(self.db.execute(sql, list(params)).fetchone()[0])

    # -- photos ----------------------------------------------------------------------

    def put_photo(
        self, owner_kind: str, owner_id: str, role: str, data: bytes, media_type: str, width: int, height: int
    ) -> int:
        pid = self.next_id("photos")
        self.insert_row(
            "photos",
            {
                "id": pid,
                "owner_kind": owner_kind,
                "owner_id": owner_id,
                "role": role,
                "media_type": media_type,
                "width": width,
                "height": height,
                "created_at": utcnow(),
                "data": self._need_vault().seal(data, f"photos:{pid}"),
            },
        )
        return pid

    def photo(self, owner_kind: str, owner_id: str, role: str = "portrait") -> tuple[Row, bytes]:
        """The owner's first photo in `role`, its row's tag checked: a photo's seal binds its bytes to its
        id, and only the tag binds it to its owner and role (IntegrityFailure naming the row otherwise)."""
        rows = self._select(
            "photos",
            "owner_kind = ? AND owner_id = ? AND role = ? AND data IS NOT NULL ORDER BY id LIMIT 1",
            [owner_kind, owner_id, role],
        )
        return self._opened_photo(rows, f"no {role} photo for {owner_kind} {owner_id}")

    def photo_by_id(self, photo_id: int) -> tuple[Row, bytes]:
        """One stored photo, opened (re-encoding a photo for a model added later needs each one)."""
        rows = self._select("photos", "id = ? AND data IS NOT NULL", [photo_id])
        return self._opened_photo(rows, f"no stored photo {photo_id} (purged, or never stored)")

    def _opened_photo(self, rows: list[Row], missing: str) -> tuple[Row, bytes]:
        if not rows:
            raise NotFound(missing)
        row = self._open_row("photos", rows[0])  # its tag checked; `ver` and `tag` dropped
        return row, self._need_vault().open(row.pop("data"), f"photos:{row['id']}")

    # -- templates, sealed in blocks (triage/store/blocks.py) ---------------------------------------

    def put_template(
        self, owner_kind: str, owner_id: str, photo_id: int | None, model_id: str, vector: np.ndarray
    ) -> int:
        return int(self.put_templates(owner_kind, model_id, [owner_id], np.atleast_2d(vector), [photo_id])[0])

    def put_templates(
        self,
        owner_kind: str,
        model_id: str,
        owner_ids: Sequence[str],
        vectors: np.ndarray,
        photo_ids: Sequence[int | None] | None = None,
    ) -> np.ndarray:
        """Store templates in bulk: a clear row each in `templates`, the vectors appended to the set's sealed
        blocks (the last block is re-sealed with the new ones). Returns the new template ids."""
        vecs = blocks.matrix(owner_ids, vectors)
        with self.transaction():
            self._adopt_row_templates()
            self._check_blocks()
            return blocks.put(
                self.db,
                self._need_vault(),
                owner_kind,
                model_id,
                owner_ids,
                vecs,
                photo_ids,
                at=utcnow(),
                check=self._check_read,
            )

    def template_blocks(
        self, model_id: str, owner_kind: str, *, block_ids: Sequence[int] | None = None, reuse: bool = False
    ) -> Iterator[TemplateBlock]:
        """The set's blocks (or the ones named), opened one at a time, so a million templates never sit
        in memory twice. With `reuse`, every block is opened into one buffer, so its arrays hold only
        until the next block is read: for a caller that copies them at once (loading a gallery)."""
        self._adopt_row_templates()
        self._check_blocks()
        yield from blocks.opened(
            self.db, self._need_vault(), model_id, owner_kind, block_ids=block_ids, reuse=reuse, check=self._check_read
        )

    def template_set(self, model_id: str, owner_kind: str) -> TemplateSet:
        """Where the set stands: its change counter, its blocks (id -> seq) and an upper bound of its size."""
        self._check_blocks()
        return blocks.template_set(self.db, model_id, owner_kind)

    def load_templates(
        self, model_id: str, owner_kind: str, owner_ids: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Owner ids and an (n, dim) float32 matrix of the live templates of one model (of `owner_ids` only,
        when given: then only the blocks holding them are opened)."""
        self._adopt_row_templates()
        self._check_blocks()
        return blocks.load(self.db, self._need_vault(), model_id, owner_kind, owner_ids, check=self._check_read)

    def delete_templates(self, owner_kind: str, owner_id: str) -> int:
        """Delete an owner's templates of every model; the commit rewrites the blocks that held them."""
        with self.transaction():
            return self.db.execute(
                "DELETE FROM templates WHERE owner_kind = ? AND owner_id = ?", [owner_kind, owner_id]
            ).rowcount

    def _check_blocks(self) -> None:
        """The sealed blocks are the ones last written, whole: a block deleted or put back from an older copy would
        take its templates out of every search unseen (each block's own tag is checked as it is read). Checked
        again only once another connection has committed (SQLite's data_version): this one's own writes move the
        digest with them, and a search per arrival would otherwise sum the table each time."""
        if self._tag_key is None:
            return
        version = int(self.db.execute("PRAGMA data_version").fetchone()[0])
        if self.cache.get("blocks-checked-at") == version:
            return
        self.check_tables("template_blocks", every_row=False)
        if not self._written_table("template_blocks"):  # else this transaction's blocks were passed over
            self.cache["blocks-checked-at"] = version

    def _damaged_index(self, e: BaseException) -> IntegrityFailure | None:
        """What SQLite says of every table's indexes when a constraint stopped a transaction: a row found through
        an index entry naming another row can be one that others still refer to, and "FOREIGN KEY constraint
        failed" would name neither the cause nor what to do. Every table, since the statement that failed has
        left no note of the table it was writing."""
        if (
            not isinstance(e, sqlite3.IntegrityError)
            or tags.OLD_ROW_CHANGED in str(e)
            or not self.db.conn.in_transaction
        ):
            return None
        try:
            self.check_indexes(*tags.tagged_tables(self.db))
        except IntegrityFailure as found:
            return found
        except sqlite3.Error:
            pass
        return None

    def _check_touched_indexes(self) -> None:
        """Before a transaction commits, the indexes of the tables whose writes an index could have decided
        (`check_indexes_once`): rows updated or deleted (found through an index whose entry named another row),
        rows inserted under a unique key (that the index said was free). Such a write would be sealed as
        triage's own, and the index rebuilt afterwards would hide it from `triage audit verify`; the transaction
        is refused and rolled back instead. Rows only appended (photos, candidates, the trail) are left out: a
        year's home spent 0.2 s more a capture checking them."""
        unique = self.cache.get("unique-keyed")
        if unique is None:
            unique = self.cache["unique-keyed"] = {
                t
                for t in tags.tagged_tables(self.db)
                if any(r[2] for r in self.db.execute(f"PRAGMA index_list([{t}])"))
            }
        touched = self.db.execute("SELECT tbl, max(old_sum IS NOT NULL) FROM temp.touched GROUP BY tbl").fetchall()
        self.check_indexes_once(*(t for t, changed in touched if changed or t in unique))

    def _written_table(self, table: str) -> bool:
        """Whether this transaction wrote any row of `table` (its digest moves at commit)."""
        if not self.db.conn.in_transaction:
            return False
        return self.db.execute("SELECT 1 FROM temp.touched WHERE tbl = ? LIMIT 1", [table]).fetchone() is not None

    def _check_read(self, table: str, row: Row) -> None:
        """`blocks.Check`: a row read whole, checked against its tag unless this transaction wrote it."""
        if self._tag_key is not None and not self._written_now(table, row["__rowid__"]):
            tags.check_read(self._tag_key, table, self._layouts, self.db, row)

    def compact_templates(self) -> None:
        """Rewrite blocks whose templates were deleted, so the deleted templates are gone from the file
        too, and drop blocks left empty. Every commit of an unlocked store runs this, so a plain
        `DELETE FROM templates` by any code is enough."""
        with self.transaction():
            blocks.compact(self.db, self._need_vault(), at=utcnow(), check=self._check_read)

    def _adopt_row_templates(self) -> None:
        """Move templates sealed one per row (homes from before template blocks) into blocks, once per process."""
        if self.cache.get("row-templates-adopted") or self.vault is None:
            return
        with self.transaction():
            blocks.adopt_row_templates(self.db, self.vault, at=utcnow(), check=self._check_read)
        self.cache["row-templates-adopted"] = True

    # -- the approximate search index of a large template set (triage/faces/ann.py) ------------------

    def put_template_index(self, model_id: str, owner_kind: str, data: bytes, *, templates: int, max_id: int) -> None:
        """Replace the set's stored index with `data`, sealed in parts so no single value nears SQLite's limit."""
        with self.transaction():
            blocks.put_index(
                self.db, self._need_vault(), model_id, owner_kind, data, templates=templates, max_id=max_id, at=utcnow()
            )

    def template_index(self, model_id: str, owner_kind: str) -> tuple[dict[str, Any], bytearray] | None:
        """The set's stored index, opened, with what it covered (`templates`, `max_id`); None if there is none."""
        self.check_tables("template_indexes", every_row=False)
        return blocks.read_index(self.db, self._need_vault(), model_id, owner_kind, check=self._check_read)

    def drop_template_index(self, model_id: str, owner_kind: str) -> None:
        blocks.drop_index(self.db, model_id, owner_kind)

    def row_counts(self) -> dict[str, int]:
        return {t: self.count(t) for t in self.db.table_names() if not t.startswith("_")}
