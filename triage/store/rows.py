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
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from triage.errors import BadInput, Conflict, IntegrityFailure, NotFound, TriageError
from triage.store import audit, blocks, crypto
from triage.store.blocks import TemplateBlock, TemplateSet
from triage.store.config import STORE_FILE, Config, load_config, write_config
from triage.store.migrations import upgrade

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
Row = dict[str, Any]  # a row as callers see it: clear columns and opened secret fields side by side


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def connect(path: Path) -> Database:
    """Open the SQLite file in WAL mode with a busy timeout, so concurrent commands wait their turn."""
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)
    db = Database(conn)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA secure_delete = ON")
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
        self._data_key: bytes | None = None  # kept while unlocked, to wrap it under a new passphrase
        self.cache: dict[str, Any] = {}  # per-process state built from the store, such as search galleries

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, home: Path, passphrase: str, config: Config) -> Store:
        if len(passphrase) < 8:
            raise BadInput("the passphrase is too short: use at least 8 characters")
        if (home / STORE_FILE).exists():
            raise Conflict(f"a triage home already exists at {home}; it is never overwritten")
        home.mkdir(parents=True, exist_ok=True)
        write_config(home, config, create=True)
        db = connect(home / STORE_FILE)
        upgrade(db)
        data_key = crypto.new_data_key()
        store = cls(home, db, config, crypto.Vault(data_key))
        store._data_key = data_key
        with store.transaction():
            db.table("keyring").insert(
                {"name": "officer", "wrapped": crypto.wrap_key(data_key, passphrase).to_json(), "created_at": utcnow()}
            )
            store.audit("init", config.officer, reason=f"site {config.site}, force {config.force_code}")
        return store

    @classmethod
    def open_locked(cls, home: Path) -> Store:
        """Open without the passphrase: enough for integrity checks and the audit chain."""
        config = load_config(home)
        path = home / STORE_FILE
        if not path.exists():
            raise NotFound(f"the store {path} is missing")
        try:
            db = connect(path)
            upgrade(db)
        except sqlite3.DatabaseError as e:
            raise IntegrityFailure(f"the store {path} cannot be opened: {e}") from None
        return cls(home, db, config, None)

    @classmethod
    def open(cls, home: Path, passphrase: str) -> Store:
        store = cls.open_locked(home)
        store.unlock(passphrase)
        return store

    def unlock(self, passphrase: str) -> None:
        """Try each wrapped copy of the data key (the officer's, and a supervisor's recovery copy)."""
        rows = list(self.db.table("keyring").rows_where(order_by="name"))
        if not rows:
            raise IntegrityFailure(f"the store in {self.home} has no keyring")
        error: TriageError | None = None
        for row in rows:
            try:
                self._data_key = crypto.unwrap_key(crypto.WrappedKey.from_json(row["wrapped"]), passphrase)
                self.vault = crypto.Vault(self._data_key)
                return
            except TriageError as e:
                error = e
        raise error  # type: ignore[misc]

    def set_passphrase(self, new: str, *, officer: str, name: str = "officer") -> None:
        """Wrap the data key under a new passphrase, with today's KDF parameters (so changing the
        passphrase also upgrades them); the data itself is not re-encrypted. `name` is "officer" or
        "recovery" (a supervisor's second copy)."""
        if len(new) < 8:
            raise BadInput("the new passphrase is too short: use at least 8 characters")
        self._need_vault()
        data_key = self._data_key
        assert data_key is not None  # kept whenever the store is unlocked
        with self.transaction():
            self.db.table("keyring").upsert(
                {"name": name, "wrapped": crypto.wrap_key(data_key, new).to_json(), "created_at": utcnow()},
                pk="name",
            )
            self.audit("passphrase-set", officer, records=[f"keyring:{name}"])

    def close(self) -> None:
        self.db.close()

    def _need_vault(self) -> crypto.Vault:
        if self.vault is None:
            raise TriageError("the store is locked: this needs the passphrase")
        return self.vault

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
        try:
            yield
            if self.vault is not None:
                self.compact_templates()  # templates any code deleted leave their sealed blocks in this commit
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (a full disk does)
                conn.execute("ROLLBACK")
            raise

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
        row = audit.append(
            self.db,
            at=utcnow(),
            officer=officer,
            action=action,
            arrival_id=arrival_id,
            records=list(records),
            reason=sealed_reason,
        )
        self.db.execute(
            "INSERT OR REPLACE INTO audit_head (id, sealed) VALUES (1, ?)",
            [self._need_vault().seal(audit.head(row), audit.HEAD_AAD)],
        )

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
        row = dict(clear or {})
        if secret is not None:
            row["sealed"] = self._need_vault().seal_json(secret, f"{table}:{key}")
        if row:
            self.db.table(table).update(key, row)

    def _open_row(self, table: str, row: Row) -> Row:
        if table in SEALED_TABLES:
            blob = row.pop("sealed")
            if blob is not None:
                row.update(self._need_vault().open_json(blob, f"{table}:{row[PK.get(table, 'id')]}"))
        return row

    def get(self, table: str, key: str | int, *, what: str | None = None) -> Row:
        try:
            row = self.db.table(table).get(key)
        except Exception:
            raise NotFound(f"no {what or table.rstrip('s')} {key!r} in this home") from None
        return self._open_row(table, dict(row))

    def rows(
        self, table: str, where: str | None = None, params: Sequence[Any] = (), order_by: str | None = None
    ) -> list[Row]:
        return [
            self._open_row(table, dict(r))
            for r in self.db.table(table).rows_where(where, list(params), order_by=order_by)
        ]

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
        rows = list(
            self.db.table("photos").rows_where(
                "owner_kind = ? AND owner_id = ? AND role = ? AND data IS NOT NULL",
                [owner_kind, owner_id, role],
                order_by="id",
                limit=1,
            )
        )
        return self._opened_photo(rows, f"no {role} photo for {owner_kind} {owner_id}")

    def photo_by_id(self, photo_id: int) -> tuple[Row, bytes]:
        """One stored photo, opened (re-encoding a photo for a model added later needs each one)."""
        rows = list(self.db.table("photos").rows_where("id = ? AND data IS NOT NULL", [photo_id]))
        return self._opened_photo(rows, f"no stored photo {photo_id} (purged, or never stored)")

    def _opened_photo(self, rows: list[Row], missing: str) -> tuple[Row, bytes]:
        if not rows:
            raise NotFound(missing)
        row = rows[0]
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
            return blocks.put(
                self.db, self._need_vault(), owner_kind, model_id, owner_ids, vecs, photo_ids, at=utcnow()
            )

    def template_blocks(
        self, model_id: str, owner_kind: str, *, block_ids: Sequence[int] | None = None, reuse: bool = False
    ) -> Iterator[TemplateBlock]:
        """The set's blocks (or the ones named), opened one at a time, so a million templates never sit
        in memory twice. With `reuse`, every block is opened into one buffer, so its arrays hold only
        until the next block is read: for a caller that copies them at once (loading a gallery)."""
        self._adopt_row_templates()
        yield from blocks.opened(self.db, self._need_vault(), model_id, owner_kind, block_ids=block_ids, reuse=reuse)

    def template_set(self, model_id: str, owner_kind: str) -> TemplateSet:
        """Where the set stands: its change counter, its blocks (id -> seq) and an upper bound of its size."""
        return blocks.template_set(self.db, model_id, owner_kind)

    def load_templates(
        self, model_id: str, owner_kind: str, owner_ids: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Owner ids and an (n, dim) float32 matrix of the live templates of one model (of `owner_ids` only,
        when given: then only the blocks holding them are opened)."""
        self._adopt_row_templates()
        return blocks.load(self.db, self._need_vault(), model_id, owner_kind, owner_ids)

    def delete_templates(self, owner_kind: str, owner_id: str) -> int:
        """Delete an owner's templates of every model; the commit rewrites the blocks that held them."""
        with self.transaction():
            return self.db.execute(
                "DELETE FROM templates WHERE owner_kind = ? AND owner_id = ?", [owner_kind, owner_id]
            ).rowcount

    def compact_templates(self) -> None:
        """Rewrite blocks whose templates were deleted, so the deleted templates are gone from the file
        too, and drop blocks left empty. Every commit of an unlocked store runs this, so a plain
        `DELETE FROM templates` by any code is enough."""
        with self.transaction():
            blocks.compact(self.db, self._need_vault(), at=utcnow())

    def _adopt_row_templates(self) -> None:
        """Move templates sealed one per row (homes from before template blocks) into blocks, once per process."""
        if self.cache.get("row-templates-adopted") or self.vault is None:
            return
        with self.transaction():
            blocks.adopt_row_templates(self.db, self.vault, at=utcnow())
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
        return blocks.read_index(self.db, self._need_vault(), model_id, owner_kind)

    def drop_template_index(self, model_id: str, owner_kind: str) -> None:
        blocks.drop_index(self.db, model_id, owner_kind)

    def row_counts(self) -> dict[str, int]:
        return {t: self.count(t) for t in self.db.table_names() if not t.startswith("_")}
