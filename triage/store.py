"""The home's SQLite store: opening and unlocking it, migrations, and the one boundary where
personal and biometric data are sealed on the way in and opened on the way out.

Callers pass clear columns and a `secret` dict (or `blob` bytes) separately; only this module touches
the vault, so no caller ever writes personal data in clear by accident. Every write a command makes,
its audit event included, happens inside one `transaction()`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from . import audit, crypto
from .config import STORE_FILE, Config, load_config, write_config
from .errors import BadInput, Conflict, IntegrityFailure, NotFound, TriageError
from .migrations import migrations

# Tables whose personal fields live in one sealed JSON column named `sealed`; photos, templates and
# audit reasons are sealed by their own methods below.
SEALED_TABLES = {"arrivals", "subjects", "reviews", "drafts"}
PK = {"arrivals": "id", "subjects": "ref", "drafts": "ref"}


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
        self.cache: dict = {}  # per-process state built from the store, such as search galleries

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, home: Path, passphrase: str, config: Config) -> "Store":
        if len(passphrase) < 8:
            raise BadInput("the passphrase is too short: use at least 8 characters")
        if (home / STORE_FILE).exists():
            raise Conflict(f"a triage home already exists at {home}; it is never overwritten")
        home.mkdir(parents=True, exist_ok=True)
        write_config(home, config, create=True)
        db = connect(home / STORE_FILE)
        migrations.apply(db)
        data_key = crypto.new_data_key()
        store = cls(home, db, config, crypto.Vault(data_key))
        store._data_key = data_key
        with store.transaction():
            db["keyring"].insert(
                {"name": "officer", "wrapped": crypto.wrap_key(data_key, passphrase).to_json(), "created_at": utcnow()}
            )
            store.audit("init", config.officer, reason=f"site {config.site}, force {config.force_code}")
        return store

    @classmethod
    def open_locked(cls, home: Path) -> "Store":
        """Open without the passphrase: enough for integrity checks and the audit chain."""
        config = load_config(home)
        path = home / STORE_FILE
        if not path.exists():
            raise NotFound(f"the store {path} is missing")
        try:
            db = connect(path)
            migrations.apply(db)
        except sqlite3.DatabaseError as e:
            raise IntegrityFailure(f"the store {path} cannot be opened: {e}") from None
        return cls(home, db, config, None)

    @classmethod
    def open(cls, home: Path, passphrase: str) -> "Store":
        store = cls.open_locked(home)
        store.unlock(passphrase)
        return store

    def unlock(self, passphrase: str) -> None:
        """Try each wrapped copy of the data key (the officer's, and a supervisor's recovery copy)."""
        rows = list(self.db["keyring"].rows_where(order_by="name"))
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
        with self.transaction():
            self.db["keyring"].upsert(
                {"name": name, "wrapped": crypto.wrap_key(self._data_key, new).to_json(), "created_at": utcnow()},
                pk="name")
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
            seq = (self.db.execute("SELECT coalesce(max(seq), 0) + 1 FROM audit_events").fetchone()[0])
            sealed_reason = self._need_vault().seal(reason.encode(), f"audit_events:{seq}")
        audit.append(self.db, at=utcnow(), officer=officer, action=action, arrival_id=arrival_id,
                     records=list(records), reason=sealed_reason)

    # -- sealed rows -----------------------------------------------------------------------------

    def next_id(self, table: str) -> int:
        return self.db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM [{table}]").fetchone()[0]

    def insert(self, table: str, clear: dict, secret: dict | None = None) -> dict:
        """Insert a row whose `secret` part is sealed, bound to the table and primary key."""
        row = dict(clear)
        pk = PK.get(table, "id")
        if pk not in row:
            row[pk] = self.next_id(table)
        if secret is not None:
            row["sealed"] = self._need_vault().seal_json(secret, f"{table}:{row[pk]}")
        self.db[table].insert(row, pk=pk)
        return row

    def update(self, table: str, key, clear: dict | None = None, secret: dict | None = None) -> None:
        row = dict(clear or {})
        if secret is not None:
            row["sealed"] = self._need_vault().seal_json(secret, f"{table}:{key}")
        if row:
            self.db[table].update(key, row)

    def _open_row(self, table: str, row: dict) -> dict:
        if table in SEALED_TABLES:
            blob = row.pop("sealed")
            if blob is not None:
                row.update(self._need_vault().open_json(blob, f"{table}:{row[PK.get(table, 'id')]}"))
        return row

    def get(self, table: str, key, *, what: str | None = None) -> dict:
        try:
            row = self.db[table].get(key)
        except Exception:
            raise NotFound(f"no {what or table.rstrip('s')} {key!r} in this home") from None
        return self._open_row(table, dict(row))

    def rows(self, table: str, where: str | None = None, params: Sequence = (), order_by: str | None = None) -> list[dict]:
        return [
            self._open_row(table, dict(r))
            for r in self.db[table].rows_where(where, list(params), order_by=order_by)
        ]

    def count(self, table: str, where: str | None = None, params: Sequence = ()) -> int:
        sql = f"SELECT count(*) FROM [{table}]" + (f" WHERE {where}" if where else "")
        return self.db.execute(sql, list(params)).fetchone()[0]

    # -- photos and templates ----------------------------------------------------------------------

    def put_photo(self, owner_kind: str, owner_id: str, role: str, data: bytes, media_type: str,
                  width: int, height: int) -> int:
        pid = self.next_id("photos")
        self.db["photos"].insert({
            "id": pid, "owner_kind": owner_kind, "owner_id": owner_id, "role": role, "media_type": media_type,
            "width": width, "height": height, "created_at": utcnow(),
            "data": self._need_vault().seal(data, f"photos:{pid}"),
        }, pk="id")
        return pid

    def photo(self, owner_kind: str, owner_id: str, role: str = "portrait") -> tuple[dict, bytes]:
        rows = list(self.db["photos"].rows_where(
            "owner_kind = ? AND owner_id = ? AND role = ? AND data IS NOT NULL", [owner_kind, owner_id, role],
            order_by="id", limit=1))
        if not rows:
            raise NotFound(f"no {role} photo for {owner_kind} {owner_id}")
        row = rows[0]
        return row, self._need_vault().open(row.pop("data"), f"photos:{row['id']}")

    def put_template(self, owner_kind: str, owner_id: str, photo_id: int | None, model_id: str,
                     vector: np.ndarray) -> int:
        vec = np.ascontiguousarray(vector, dtype=np.float32)
        tid = self.next_id("templates")
        self.db["templates"].insert({
            "id": tid, "owner_kind": owner_kind, "owner_id": owner_id, "photo_id": photo_id, "model_id": model_id,
            "dtype": "float32", "dim": int(vec.shape[0]), "created_at": utcnow(),
            "data": self._need_vault().seal(vec.tobytes(), f"templates:{tid}"),
        }, pk="id")
        return tid

    def load_templates(self, model_id: str, owner_kind: str, owner_ids: Sequence[str] | None = None
                       ) -> tuple[list[str], np.ndarray]:
        """Owner ids and an (n, dim) float32 matrix of every live template of one model."""
        where = "model_id = ? AND owner_kind = ? AND data IS NOT NULL"
        params: list = [model_id, owner_kind]
        rows = self.db.execute(f"SELECT id, owner_id, dim, data FROM templates WHERE {where} ORDER BY id", params).fetchall()
        if owner_ids is not None:
            keep = set(owner_ids)
            rows = [r for r in rows if r[1] in keep]
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        vault = self._need_vault()
        raw = b"".join([vault.open(r[3], f"templates:{r[0]}") for r in rows])
        return [r[1] for r in rows], np.frombuffer(raw, dtype=np.float32).reshape(len(rows), rows[0][2])

    def row_counts(self) -> dict[str, int]:
        return {t: self.count(t) for t in self.db.table_names() if not t.startswith("_")}
