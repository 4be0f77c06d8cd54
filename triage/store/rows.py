"""The home's SQLite store: opening and unlocking it, migrations, and the one boundary where
personal and biometric data are sealed on the way in and opened on the way out.

Callers pass clear columns and a `secret` dict (or `blob` bytes) separately; only this module touches
the vault, so no caller ever writes personal data in clear by accident. Every write a command makes,
its audit event included, happens inside one `transaction()`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from triage.errors import BadInput, Conflict, IntegrityFailure, NotFound, TriageError
from triage.store import audit, crypto
from triage.store.config import STORE_FILE, Config, load_config, write_config
from triage.store.migrations import migrations

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
TEMPLATE_BLOCK = 1024  # templates per sealed block: a 0.5 MB re-seal per capture, a few hundred blocks per million
INDEX_PART = 1024 * 1024  # bytes of a stored search index per sealed part (larger parts read slower)
BLOCK_COLUMNS = "id, model_id, owner_kind, count, stale, dim, width, seq, data"


@dataclass
class TemplateBlock:
    """One opened block: template ids, owner ids (bytes) and vectors, row for row."""

    id: int
    seq: int
    ids: np.ndarray
    owners: np.ndarray
    vectors: np.ndarray


@dataclass
class TemplateSet:
    """The state of one model's templates of one kind of owner, without opening anything."""

    seq: int  # changes whenever a template is added or deleted
    blocks: dict[int, int]  # block id -> the seq at which it last changed
    size: int  # templates in the blocks, an upper bound while deleted ones await compaction


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
    def create(cls, home: Path, passphrase: str, config: Config) -> Store:
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
    def open_locked(cls, home: Path) -> Store:
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
    def open(cls, home: Path, passphrase: str) -> Store:
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
        return self.db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM [{table}]").fetchone()[0]

    def insert(self, table: str, clear: dict, secret: dict | None = None) -> dict:
        """Insert a row whose `secret` part is sealed, bound to the table and primary key."""
        row = dict(clear)
        pk = PK.get(table, "id")
        if pk not in row:
            row[pk] = self.next_id(table)
        if secret is not None:
            row["sealed"] = self._need_vault().seal_json(secret, f"{table}:{row[pk]}")
        self.insert_row(table, row)
        return row

    def insert_row(self, table: str, row: dict) -> None:
        """One plain INSERT into a table the migrations made. sqlite-utils' `insert` reads the schema again
        on every call, which was a third of a 1,000-arrival import; lists and dicts go in as JSON, as there."""
        names = ", ".join(f"[{c}]" for c in row)
        self.db.execute(
            f"INSERT INTO [{table}] ({names}) VALUES ({', '.join('?' * len(row))})",
            [json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for v in row.values()],
        )

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

    def rows(
        self, table: str, where: str | None = None, params: Sequence = (), order_by: str | None = None
    ) -> list[dict]:
        return [
            self._open_row(table, dict(r)) for r in self.db[table].rows_where(where, list(params), order_by=order_by)
        ]

    def count(self, table: str, where: str | None = None, params: Sequence = ()) -> int:
        sql = f"SELECT count(*) FROM [{table}]" + (f" WHERE {where}" if where else "")
        return self.db.execute(sql, list(params)).fetchone()[0]

    # -- photos and templates ----------------------------------------------------------------------

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

    def photo(self, owner_kind: str, owner_id: str, role: str = "portrait") -> tuple[dict, bytes]:
        rows = list(
            self.db["photos"].rows_where(
                "owner_kind = ? AND owner_id = ? AND role = ? AND data IS NOT NULL",
                [owner_kind, owner_id, role],
                order_by="id",
                limit=1,
            )
        )
        return self._opened_photo(rows, f"no {role} photo for {owner_kind} {owner_id}")

    def photo_by_id(self, photo_id: int) -> tuple[dict, bytes]:
        """One stored photo, opened (re-encoding a photo for a model added later needs each one)."""
        rows = list(self.db["photos"].rows_where("id = ? AND data IS NOT NULL", [photo_id]))
        return self._opened_photo(rows, f"no stored photo {photo_id} (purged, or never stored)")

    def _opened_photo(self, rows: list[dict], missing: str) -> tuple[dict, bytes]:
        if not rows:
            raise NotFound(missing)
        row = rows[0]
        return row, self._need_vault().open(row.pop("data"), f"photos:{row['id']}")

    # -- templates, sealed in blocks (see migrations.m004_template_blocks) ------------------------------

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
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or len(vecs) != len(owner_ids):
            raise BadInput(f"{len(owner_ids)} owner(s) for {len(vecs)} template(s)")
        photo_ids = list(photo_ids) if photo_ids is not None else [None] * len(vecs)
        with self.transaction():
            self._adopt_row_templates()
            last = self.db.execute(
                "UPDATE sequences SET value = value + ? WHERE name = 'templates' RETURNING value", [len(vecs)]
            ).fetchone()[0]
            ids = np.arange(last - len(vecs) + 1, last + 1, dtype=np.int64)
            owners = np.array([o.encode() for o in owner_ids], dtype=bytes)
            blocks = self._append_to_blocks(model_id, owner_kind, ids, owners, vecs)
            now = utcnow()
            self.db.conn.executemany(
                "INSERT INTO templates (id, owner_kind, owner_id, photo_id, model_id, dtype, dim, created_at, block_id) "
                "VALUES (?, ?, ?, ?, ?, 'float32', ?, ?, ?)",
                zip(
                    ids.tolist(),
                    [owner_kind] * len(ids),
                    owner_ids,
                    photo_ids,
                    [model_id] * len(ids),
                    [vecs.shape[1]] * len(ids),
                    [now] * len(ids),
                    blocks.tolist(),
                ),
            )
        return ids

    def _append_to_blocks(
        self, model_id: str, owner_kind: str, ids: np.ndarray, owners: np.ndarray, vecs: np.ndarray
    ) -> np.ndarray:
        """Fill the set's last block, then new ones; returns the block id of each template."""
        seq = self.db.execute(
            "INSERT INTO template_sets (model_id, owner_kind, seq) VALUES (?, ?, 1) ON CONFLICT (model_id, owner_kind) "
            "DO UPDATE SET seq = seq + 1 RETURNING seq",
            [model_id, owner_kind],
        ).fetchone()[0]
        block_of = np.zeros(len(ids), dtype=np.int64)
        last = self.db.execute(
            f"SELECT {BLOCK_COLUMNS} FROM template_blocks WHERE model_id = ? AND owner_kind = ? "
            "ORDER BY id DESC LIMIT 1",
            [model_id, owner_kind],
        ).fetchone()
        start = 0
        if last is not None and last[5] != vecs.shape[1]:
            raise BadInput(f"{model_id} templates have {last[5]} dimensions, not {vecs.shape[1]}")
        if last is not None and last[3] < TEMPLATE_BLOCK:
            old = self._open_block(last)
            start = min(len(ids), TEMPLATE_BLOCK - len(old.ids))
            self._seal_block(
                old.id,
                model_id,
                owner_kind,
                seq,
                np.concatenate([old.ids, ids[:start]]),
                np.concatenate([old.owners, owners[:start]]),
                np.vstack([old.vectors, vecs[:start]]),
            )
            block_of[:start] = old.id
        for lo in range(start, len(ids), TEMPLATE_BLOCK):
            hi = min(len(ids), lo + TEMPLATE_BLOCK)
            block_of[lo:hi] = self._seal_block(
                self.next_id("template_blocks"), model_id, owner_kind, seq, ids[lo:hi], owners[lo:hi], vecs[lo:hi]
            )
        return block_of

    def _seal_block(
        self,
        block_id: int,
        model_id: str,
        owner_kind: str,
        seq: int,
        ids: np.ndarray,
        owners: np.ndarray,
        vecs: np.ndarray,
    ) -> int:
        width = max(1, owners.dtype.itemsize)
        plain = (
            struct.pack("<III", len(ids), vecs.shape[1], width)
            + np.ascontiguousarray(vecs, np.float32).tobytes()
            + ids.astype("<i8").tobytes()
            + owners.astype(f"S{width}").tobytes()
        )
        self.db["template_blocks"].upsert(
            {
                "id": block_id,
                "model_id": model_id,
                "owner_kind": owner_kind,
                "dim": vecs.shape[1],
                "count": len(ids),
                "width": width,
                "stale": 0,
                "seq": seq,
                "updated_at": utcnow(),
                "data": self._need_vault().seal(plain, f"template_blocks:{block_id}:{model_id}:{owner_kind}"),
            },
            pk="id",
        )
        return block_id

    def _open_block(self, row: tuple, scratch: bytearray | None = None) -> TemplateBlock:
        block_id, model_id, owner_kind, count, stale, dim, width, seq, data = row
        aad = f"template_blocks:{block_id}:{model_id}:{owner_kind}"
        vault = self._need_vault()
        if scratch is None or len(scratch) < len(data):  # (a block another process rewrote larger meanwhile)
            plain = vault.open(data, aad)
        else:
            plain = vault.open_into(data, aad, memoryview(scratch))
        n, d, w = struct.unpack_from("<III", plain)
        if (n, d, w) != (count, dim, width) or len(plain) != 12 + n * (4 * d + 8 + w):
            raise IntegrityFailure(f"template block {block_id} does not match its record: the store was altered")
        vecs = np.frombuffer(plain, np.float32, n * d, 12).reshape(n, d)
        ids = np.frombuffer(plain, "<i8", n, 12 + 4 * n * d)
        owners = np.frombuffer(plain, f"S{w}", n, 12 + 4 * n * d + 8 * n)
        if stale:  # some of its templates were deleted since it was sealed
            live = np.fromiter(
                (r[0] for r in self.db.execute("SELECT id FROM templates WHERE block_id = ?", [block_id])), np.int64
            )
            keep = np.isin(ids, live)
            ids, owners, vecs = ids[keep], owners[keep], vecs[keep]
        return TemplateBlock(block_id, seq, ids, owners, vecs)

    def template_blocks(
        self, model_id: str, owner_kind: str, *, block_ids: Sequence[int] | None = None, reuse: bool = False
    ) -> Iterator[TemplateBlock]:
        """The set's blocks (or the ones named), opened one at a time, so a million templates never sit
        in memory twice. With `reuse`, every block is opened into one buffer, so its arrays hold only
        until the next block is read: for a caller that copies them at once (loading a gallery)."""
        self._adopt_row_templates()
        where = "WHERE model_id = ? AND owner_kind = ?"
        params: list = [model_id, owner_kind]
        if block_ids is not None:
            where += f" AND id IN ({','.join('?' * len(block_ids))})"
            params += list(block_ids)
        sql = f"SELECT {BLOCK_COLUMNS} FROM template_blocks {where}"
        scratch = (
            bytearray(
                self.db.execute(
                    f"SELECT coalesce(max(length(data)), 0) FROM template_blocks {where}", params
                ).fetchone()[0]
            )
            if reuse
            else None
        )
        for row in self.db.execute(sql + " ORDER BY id", params):
            yield self._open_block(row, scratch)

    def template_set(self, model_id: str, owner_kind: str) -> TemplateSet:
        """Where the set stands: its change counter, its blocks (id -> seq) and an upper bound of its size."""
        seq = self.db.execute(
            "SELECT seq FROM template_sets WHERE model_id = ? AND owner_kind = ?", [model_id, owner_kind]
        ).fetchone()
        rows = self.db.execute(
            "SELECT id, seq, count FROM template_blocks WHERE model_id = ? AND owner_kind = ?", [model_id, owner_kind]
        ).fetchall()
        return TemplateSet(seq[0] if seq else 0, {r[0]: r[1] for r in rows}, sum(r[2] for r in rows))

    def load_templates(
        self, model_id: str, owner_kind: str, owner_ids: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Owner ids and an (n, dim) float32 matrix of the live templates of one model (of `owner_ids` only,
        when given: then only the blocks holding them are opened)."""
        block_ids = None
        if owner_ids is not None:
            block_ids = [
                r[0]
                for r in self.db.execute(
                    f"SELECT DISTINCT block_id FROM templates WHERE model_id = ? AND owner_kind = ? AND block_id IS NOT NULL "
                    f"AND owner_id IN ({','.join('?' * len(owner_ids))})",
                    [model_id, owner_kind, *owner_ids],
                )
            ]
        blocks = list(self.template_blocks(model_id, owner_kind, block_ids=block_ids))
        if not blocks:
            return [], np.zeros((0, 0), dtype=np.float32)
        owners = np.concatenate([b.owners for b in blocks])
        vecs = np.vstack([b.vectors for b in blocks])
        if owner_ids is not None:
            keep = np.isin(owners, np.array([o.encode() for o in owner_ids], dtype=bytes))
            owners, vecs = owners[keep], vecs[keep]
        return [o.decode() for o in owners.tolist()], vecs

    def delete_templates(self, owner_kind: str, owner_id: str) -> int:
        """Delete an owner's templates of every model; the commit rewrites the blocks that held them."""
        with self.transaction():
            return self.db.execute(
                "DELETE FROM templates WHERE owner_kind = ? AND owner_id = ?", [owner_kind, owner_id]
            ).rowcount

    def compact_templates(self) -> None:
        """Rewrite blocks whose templates were deleted (the trigger marked them stale), so the deleted
        templates are gone from the file too, and drop blocks left empty. Every commit of an unlocked
        store runs this, so a plain `DELETE FROM templates` by any code is enough."""
        with self.transaction():
            for row in self.db.execute(f"SELECT {BLOCK_COLUMNS} FROM template_blocks WHERE stale = 1").fetchall():
                block = self._open_block(row)
                if len(block.ids):
                    self._seal_block(block.id, row[1], row[2], block.seq, block.ids, block.owners, block.vectors)
                else:
                    self.db.execute("DELETE FROM template_blocks WHERE id = ?", [block.id])

    def _adopt_row_templates(self) -> None:
        """Move templates sealed one per row (homes created before m004) into blocks, once per process."""
        if self.cache.get("row-templates-adopted") or self.vault is None:
            return
        rows = self.db.execute(
            "SELECT id, owner_kind, owner_id, model_id, data FROM templates "
            "WHERE block_id IS NULL AND data IS NOT NULL ORDER BY id"
        ).fetchall()
        with self.transaction():
            for (kind, model), group in itertools.groupby(rows, key=lambda r: (r[1], r[3])):
                group = list(group)
                vecs = np.vstack([np.frombuffer(self.vault.open(r[4], f"templates:{r[0]}"), np.float32) for r in group])
                ids = np.array([r[0] for r in group], dtype=np.int64)
                owners = np.array([r[2].encode() for r in group], dtype=bytes)
                blocks = self._append_to_blocks(model, kind, ids, owners, vecs)
                self.db.conn.executemany(
                    "UPDATE templates SET data = NULL, block_id = ? WHERE id = ?", zip(blocks.tolist(), ids.tolist())
                )
        self.cache["row-templates-adopted"] = True

    # -- the approximate search index of a large template set (triage/ann.py) -----------------------

    def put_template_index(self, model_id: str, owner_kind: str, data: bytes, *, templates: int, max_id: int) -> None:
        """Replace the set's stored index with `data`, sealed in parts so no single value nears SQLite's limit."""
        view, at = memoryview(data), utcnow()
        parts = max(1, -(-len(view) // INDEX_PART))
        with self.transaction():
            self.drop_template_index(model_id, owner_kind)
            for i in range(parts):
                self.db["template_indexes"].insert(
                    {
                        "model_id": model_id,
                        "owner_kind": owner_kind,
                        "part": i,
                        "parts": parts,
                        "created_at": at,
                        "templates": templates,
                        "max_id": max_id,
                        "data": self._need_vault().seal(
                            view[i * INDEX_PART : (i + 1) * INDEX_PART],
                            f"template_indexes:{model_id}:{owner_kind}:{at}:{i}/{parts}",
                        ),
                    }
                )

    def template_index(self, model_id: str, owner_kind: str) -> tuple[dict, bytearray] | None:
        """The set's stored index, opened, with what it covered (`templates`, `max_id`); None if there is none."""
        where, params = "WHERE model_id = ? AND owner_kind = ?", [model_id, owner_kind]
        size = self.db.execute(
            f"SELECT sum(length(data) - {crypto.NONCE_BYTES + crypto.TAG_BYTES}) FROM template_indexes {where}", params
        ).fetchone()[0]
        buf, meta, seen, at_byte = bytearray(size or 0), None, 0, 0  # filled in place: no growing copies
        for part, parts, at, templates, max_id, data in self.db.execute(
            f"SELECT part, parts, created_at, templates, max_id, data FROM template_indexes {where} ORDER BY id", params
        ):
            meta = meta or {"parts": parts, "created_at": at, "templates": templates, "max_id": max_id}
            if (part, parts, at) != (seen, meta["parts"], meta["created_at"]):
                break
            if at_byte + len(data) - crypto.NONCE_BYTES - crypto.TAG_BYTES > len(buf):
                raise TriageError(
                    "the stored search index was replaced while it was being read (another command "
                    "stored a new one); run the command again"
                )
            aad = f"template_indexes:{model_id}:{owner_kind}:{at}:{part}/{parts}"
            at_byte += len(self._need_vault().open_into(data, aad, memoryview(buf)[at_byte:]))
            seen += 1
        if meta and seen != meta["parts"]:
            raise IntegrityFailure(
                f"the stored search index of {owner_kind} templates is incomplete; "
                "rebuild it with `triage watchlist index --rebuild`"
            )
        return (meta, buf) if meta else None

    def drop_template_index(self, model_id: str, owner_kind: str) -> None:
        self.db.execute("DELETE FROM template_indexes WHERE model_id = ? AND owner_kind = ?", [model_id, owner_kind])

    def row_counts(self) -> dict[str, int]:
        return {t: self.count(t) for t in self.db.table_names() if not t.startswith("_")}
