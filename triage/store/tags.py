"""Row authentication: every row of the store carries a version and a tag that only the data key can make.

The tag is an HMAC, under a key derived from the data key, of the table, the row's rowid, its version
and every column, clear ones included; a sealed column is bound by its nonce and AES-GCM tag, which fix
its exact ciphertext. So a row edited, copied from another row or forged without the passphrase fails
its tag wherever it is read. A row restored from an older copy carries an older, valid tag; each table's
digest is kept in the sealed head of the audit trail and moves with every commit, so a check of the digest
sees such a row, and a deleted one, as a table that no longer adds up. What a row adds to the digest is
keyed (`summand`), so no row slipped in (with any tag, or none) can make a table add up again; it covers
the row's number and every clear column, so a row edited in place with its tag kept moves the digest too:
a read in plain SQL (a count, a join) that never checks a tag cannot be misled by it. A sealed column is
covered by the row's tag and by its own authentication, and is read only through the store, which checks
the row.

The store notes the rows a transaction touches with TEMP triggers on its own connection and tags them
at commit (`seal_touched`), so every write is covered whichever code made it. Tables outside this scheme
authenticate themselves: the audit trail (its hash chain and sealed head) and the keyring (wrapped keys).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import json.encoder
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlite_utils import Database

from triage.errors import IntegrityFailure

UNTAGGED = frozenset({"audit_events", "audit_head", "keyring", "_sqlite_migrations"})
# Tables whose digests are not summed at every unlock, since they grow with the watchlist or hold photos (whose
# tags sit behind the ciphertext in each row): the template blocks' digest is checked where templates are read
# (each block's tag too), name keys' and subjects' the first time a process relies on them (`Store.check_once`),
# a photo's tag where it is opened; every digest by `audit verify`, and by `export` those of the tables a batch
# carries.
CHECKED_WHERE_READ = frozenset(
    {"photos", "templates", "subjects", "name_keys", "template_blocks", "template_indexes", "origin_audit"}
)
# Tagged since the store's step m016 (their seals bound a block to its place, not to its time): a home whose
# sealed head has no digest for them has their rows tagged once, when it is next unlocked.
TAGGED_LATER = ("template_blocks", "template_indexes")
SEALED_COLUMNS = frozenset({"sealed", "data"})  # AES-GCM output: nonce, ciphertext, tag
MODULUS = 1 << 256
TAG_BYTES = 32  # an HMAC-SHA256
NONCE_BYTES = 12
GCM_TAG_BYTES = 16


def tagged_tables(db: Database) -> list[str]:
    """The tables whose rows carry a tag: every table but UNTAGGED (migration m010 gave them `ver` and `tag`;
    a table made later is created with both). One that has lost them was altered outside triage. Kept with the
    connection until the schema changes (SQLite's schema_version): commands sum tables at every search."""
    version = db.execute("PRAGMA schema_version").fetchone()[0]
    known: tuple[int, list[str]] | None = getattr(db, "_triage_tagged", None)
    if known is not None and known[0] == version:
        return list(known[1])
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    tables = [n for n in names if n not in UNTAGGED and not n.startswith("sqlite_")]
    for table in tables:
        if not {"ver", "tag"} <= set(_columns(db, table)):
            raise IntegrityFailure(f"the table {table} has lost its authentication columns: the store was altered")
    db._triage_tagged = (version, tables)  # type: ignore[attr-defined]
    return list(tables)


def schema_digest(db: Database) -> str:
    """A digest of the store's schema (tables, columns, indexes, triggers, views), kept in the sealed head:
    a trigger slipped into the file would otherwise run inside triage's own transactions. SQLite's own tables
    and the indexes it makes for a table's constraints (named `sqlite_`, without SQL text of their own) are left
    out; every other index counts, one named like SQLite's own through `writable_schema` too (a unique index
    there would drop rows triage writes), and every trigger and view, whatever its name."""
    rows = db.execute(
        "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master WHERE NOT (substr(name, 1, 7) = "
        "'sqlite_' AND (type = 'table' OR (type = 'index' AND sql IS NULL))) ORDER BY type, name"
    ).fetchall()
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _columns(db: Database, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA main.table_info([{table}])")]


@dataclass
class Layout:
    """How one table's rows are read for tagging: sealed columns as their length, nonce and GCM tag only,
    so a large photo is never read whole to be checked; and for summing: the tag and every clear column
    (`bound`)."""

    table: str
    columns: list[str]
    bound: list[str] = field(init=False)
    select: str = field(init=False)
    summing: str = field(init=False)

    def __post_init__(self) -> None:
        self.bound = clear_columns(self.columns)
        self.select = f"SELECT rowid, {read_columns(self.columns)} FROM [{self.table}]"
        self.summing = f"SELECT rowid, tag{''.join(f', [{c}]' for c in self.bound)} FROM [{self.table}]"


def clear_columns(columns: list[str]) -> list[str]:
    """The columns a row's digest summand covers besides its tag: all but the sealed ones."""
    return [c for c in columns if c != "tag" and c not in SEALED_COLUMNS]


def read_columns(columns: list[str], row: str = "") -> str:
    """The columns as a row is tagged and checked, sealed ones as their length, nonce and GCM tag; `row`
    names the row in a trigger (`OLD.`), where the check before a change reads them the same way."""
    parts = []
    for c in columns:
        col = f"{row}[{c}]"
        if c in SEALED_COLUMNS:
            parts.append(
                f"CASE WHEN {col} IS NULL THEN NULL ELSE length({col}) || ':' || "
                f"hex(substr({col}, 1, {NONCE_BYTES})) || hex(substr({col}, -{GCM_TAG_BYTES})) END"
            )
        else:
            parts.append(col)
    return ", ".join(parts)


def layout(db: Database, table: str, cache: dict[str, Layout]) -> Layout:
    found = cache.get(table)
    if found is None:
        columns = _columns(db, table)
        found = cache[table] = Layout(table, columns)
    return found


def sealed_summary(value: bytes | None) -> str | None:
    """A sealed column as `Layout.select` reads it, for rows that were read whole."""
    if value is None:
        return None
    return f"{len(value)}:{value[:NONCE_BYTES].hex().upper()}{value[-GCM_TAG_BYTES:].hex().upper()}"


def _bytes(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": bytes(value).hex()}
    raise TypeError(f"a column value of type {type(value).__name__}")


_BODY = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_bytes)  # made once: tags are many
# The same encoding through json's own C encoder made once: `JSONEncoder.encode` makes a new one for every
# value, a third of the time of a row's tag or digest summand. None where the C part is missing.
_MAKE = getattr(json.encoder, "c_make_encoder", None)
_FAST = _MAKE(None, _bytes, json.encoder.encode_basestring, None, ":", ",", False, False, True) if _MAKE else None


def _encoded(value: list[Any]) -> str:
    """`value` as `_BODY` encodes it."""
    return "".join(_FAST(value, 0)) if _FAST is not None else _BODY.encode(value)


def row_tag(key: bytes, table: str, rowid: int, columns: list[str], values: tuple[Any, ...]) -> bytes:
    """The tag of one row: `values` are the row as `Layout.select` reads it (after the rowid), with the
    `tag` column itself skipped. JSON keeps each value's type (1, 1.0 and "1" differ) and its bounds. A NULL
    column is left out, which names the same row as long as the table's columns are fixed, and lets a later
    step add a column (NULL in every row) without a row's tag changing."""
    named = [[c, v] for c, v in zip(columns, values, strict=True) if c != "tag" and v is not None]
    body = _encoded([table, rowid, named])
    return hmac.digest(key, body.encode("utf-8", "surrogatepass"), "sha256")


def sum_key(key: bytes) -> bytes:
    """The key of what each row adds to its table's digest, derived from the tag key."""
    return hmac.digest(key, b"triage table digests v2", "sha256")


def summand(skey: bytes, rowid: int, tag: Any, values: tuple[Any, ...]) -> bytes:
    """What a row adds to its table's digest: a keyed hash of its tag, its number and its clear columns
    (`Layout.bound`, in the table's order), so that no one without the key can make a table's rows add up to
    the sealed digest, and a row edited, moved or slipped in moves it, a row without a tag (or with a tag of
    the wrong kind) too. NULLs at the end are left out, so that a later step adding a column (which SQLite
    puts last, NULL in every row) leaves every digest as it was."""
    end = len(values)
    while end and values[end - 1] is None:
        end -= 1
    body = _encoded([rowid, *values[:end]]).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(_tag_bytes(tag) + body, key=skey, digest_size=TAG_BYTES).digest()


def _tag_bytes(tag: Any) -> bytes:
    """A tag as it is hashed: marked by its kind, so no tag of one kind hashes as one of another."""
    if isinstance(tag, bytes | bytearray | memoryview):
        return b"b" + bytes(tag)
    return b"n" if tag is None else b"o" + repr(tag).encode()


def table_sum(db: Database, key: bytes, table: str, cache: dict[str, Layout]) -> int:
    """The digest of a table as its rows are now."""
    skey = sum_key(key)
    return summed([summand(skey, r[0], r[1], r[2:]) for r in db.execute(layout(db, table, cache).summing)])


def tag_sum(db: Database, table: str) -> int:
    """A table's digest as homes kept it before digests were keyed: the plain sum of its rows' tags, which anyone
    reading the file could make a slipped-in row restore. Read only to check a home once before it is summed
    the keyed way (`Store._key_digests_once`)."""
    found = [tag for (tag,) in db.execute(f"SELECT [tag] FROM [{table}]")]
    return summed([t if t is None or isinstance(t, bytes) else repr(t).encode() for t in found])


def summed(found: list[bytes | None]) -> int:
    """The digest of a table whose rows add `found` (None for a row that adds nothing): `add` over them all,
    with the usual 32-byte values summed as eight 32-bit columns at once, since every command sums whole
    tables."""
    whole = [bytes(t) for t in found if t is not None]
    if any(len(t) != TAG_BYTES for t in whole):  # a tag of another length was put there: summed one by one
        digest = 0
        for t in whole:
            digest = add(digest, t)
        return digest
    columns = np.frombuffer(b"".join(whole), dtype=">u4").reshape(-1, TAG_BYTES // 4).sum(axis=0, dtype=np.uint64)
    return sum(int(c) << (32 * (len(columns) - 1 - i)) for i, c in enumerate(columns)) % MODULUS


def add(digest: int, tag: bytes | None, sign: int = 1) -> int:
    if tag is None:
        return digest
    return (digest + sign * int.from_bytes(tag, "big")) % MODULUS


# -- noting what a transaction touches -------------------------------------------------------------


OLD_ROW_CHANGED = "triage: a row this statement changes was changed outside triage"


class OldRows:
    """Checks each row a statement is about to update or delete, the first time a transaction touches it,
    against its tag: the digest of its table moves by the tag the row holds (`seal_touched`), so a row
    edited or given a made-up tag outside triage would otherwise be written over, or deleted, and its
    change sealed as triage's own (a row put back whole from an older copy carries a tag that checks: its
    table's digest shows it, `verify`). An update of such a row is refused (the
    statement aborts; `failed` names the row for the error shown); a deletion goes ahead without moving the
    digest by what the row adds as it stands, so the table still fails `verify` unless the row was one slipped
    in. `adds` gives the triggers what a row that checks added to its table's digest before it was touched.
    The triggers call `ok`, a SQL function on the store's connection; it holds no reference back to the
    connection (`key` reads the store's key through a weak reference), so an unclosed store is still freed."""

    FUNCTION = "triage_old_row_ok"
    SUMMAND = "triage_old_row_adds"

    def __init__(self, key: Callable[[], bytes | None]) -> None:
        self.key = key
        self.columns: dict[str, list[str]] = {}  # each tagged table's, as `install_triggers` found them
        self.failed: str | None = None
        self.tagged_under: bytes | None = None  # the key rows still carry while a new one replaces it

    def adds(self, rowid: int, tag: Any, *bound: Any) -> bytes | None:
        """What a row touched by this transaction added to its table's digest before (`summand`); None while
        the store is locked (it writes no tagged row)."""
        key = self.tagged_under or self.key()
        return None if key is None else summand(sum_key(key), rowid, tag, bound)

    def ok(self, table: str, rowid: int, *values: Any) -> int:
        key = self.tagged_under or self.key()
        if key is None:  # a locked store writes no tagged row
            return 0
        columns = self.columns[table]
        try:
            check(key, table, rowid, columns, values)
        except IntegrityFailure:
            self.failed = row_name(table, rowid, dict(zip(columns, values, strict=True)))
            return 0
        return 1


def install_triggers(db: Database, tables: list[str], old_rows: OldRows) -> None:
    """TEMP triggers, on this connection only, that note each row inserted, updated or deleted, with the
    `summand` it had then; a row touched twice is noted twice and the first note counts (`seal_touched`). Before
    a row is first updated or deleted in a transaction its tag is checked (`OldRows`). No constraint on
    `touched`: an outer statement's conflict clause (OR REPLACE, an upsert) would apply to the triggers'
    inserts too."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS touched (tbl TEXT NOT NULL, rid INTEGER NOT NULL, old_sum BLOB)")
    db.execute("CREATE INDEX IF NOT EXISTS temp.touched_row ON touched (tbl, rid)")
    db.conn.create_function(OldRows.FUNCTION, -1, old_rows.ok)
    db.conn.create_function(OldRows.SUMMAND, -1, old_rows.adds)

    def note(t: str, rid: str, old: str) -> str:
        return f"INSERT INTO touched (tbl, rid, old_sum) VALUES ('{t}', {rid}, {old});"

    def adds(bound: list[str]) -> str:
        return f"{OldRows.SUMMAND}(OLD.rowid, OLD.tag{''.join(f', OLD.[{c}]' for c in bound)})"

    def first(t: str) -> str:
        return f"WHEN NOT EXISTS (SELECT 1 FROM temp.touched WHERE tbl = '{t}' AND rid = OLD.rowid) "

    def failing(t: str, columns: list[str]) -> str:
        return f"WHERE NOT {OldRows.FUNCTION}('{t}', OLD.rowid, {read_columns(columns, 'OLD.')})"

    for t in tables:
        columns = old_rows.columns[t] = _columns(db, t)
        bound = clear_columns(columns)
        db.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS [tagins_{t}] AFTER INSERT ON main.[{t}] "
            f"BEGIN {note(t, 'NEW.rowid', 'NULL')} END"
        )
        written = ", ".join(f"[{c}]" for c in columns if c not in ("ver", "tag"))
        db.execute(  # not on setting `ver` and `tag` alone: that is the tagging itself
            f"CREATE TEMP TRIGGER IF NOT EXISTS [tagold_upd_{t}] BEFORE UPDATE OF {written} ON main.[{t}] "
            f"{first(t)} BEGIN SELECT RAISE(ABORT, '{OLD_ROW_CHANGED}') {failing(t, columns)}; END"
        )
        db.execute(  # a first note without a tag: the digest does not move by the one the row claims
            f"CREATE TEMP TRIGGER IF NOT EXISTS [tagold_del_{t}] BEFORE DELETE ON main.[{t}] "
            f"{first(t)} BEGIN INSERT INTO touched (tbl, rid, old_sum) SELECT '{t}', OLD.rowid, NULL "
            f"{failing(t, columns)}; END"
        )
        db.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS [tagupd_{t}] AFTER UPDATE OF {written} ON main.[{t}] "
            f"BEGIN {note(t, 'OLD.rowid', adds(bound))} {note(t, 'NEW.rowid', 'NULL')} END"
        )
        db.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS [tagdel_{t}] AFTER DELETE ON main.[{t}] "
            f"BEGIN {note(t, 'OLD.rowid', adds(bound))} END"
        )


def seal_touched(db: Database, key: bytes, digests: dict[str, int], cache: dict[str, Layout]) -> dict[str, set[int]]:
    """Give every row this transaction touched its next version and tag, and move each table's digest from
    what the rows added before (noted by the triggers) to what they add now. Returns the rows tagged, by
    table."""
    touched = db.execute("SELECT tbl, rid, old_sum FROM temp.touched ORDER BY tbl, rid, rowid").fetchall()
    tagged: dict[str, set[int]] = {}
    if not touched:
        return tagged
    by_table: dict[str, list[tuple[int, bytes | None]]] = {}
    seen: set[tuple[str, int]] = set()
    for table, rid, old_sum in touched:
        if (table, rid) not in seen:  # the first note of a row holds what it added before this transaction
            seen.add((table, rid))
            by_table.setdefault(table, []).append((rid, old_sum))
    skey = sum_key(key)
    for table, rows in by_table.items():
        shape = layout(db, table, cache)
        ver_at = shape.columns.index("ver")
        bound_at = [shape.columns.index(c) for c in shape.bound]
        digest = digests.get(table, 0)
        current = {}
        for chunk in range(0, len(rows), 500):
            ids = [rid for rid, _ in rows[chunk : chunk + 500]]
            sql = f"{shape.select} WHERE rowid IN ({','.join('?' * len(ids))})"
            current.update({r[0]: r for r in db.execute(sql, ids)})
        updates = []
        for rid, old_sum in rows:
            digest = add(digest, old_sum, -1)
            row = current.get(rid)
            if row is not None:
                values = list(row[1:])
                values[ver_at] = (values[ver_at] or 0) + 1
                tag = row_tag(key, table, rid, shape.columns, tuple(values))
                updates.append((values[ver_at], tag, rid))
                digest = add(digest, summand(skey, rid, tag, tuple(values[i] for i in bound_at)))
        db.conn.executemany(f"UPDATE [{table}] SET ver = ?, tag = ? WHERE rowid = ?", updates)
        digests[table] = digest
        tagged[table] = {rid for _, _, rid in updates}
    db.execute("DELETE FROM temp.touched")
    return tagged


def tag_all(db: Database, key: bytes, cache: dict[str, Layout], only: Collection[str] | None = None) -> dict[str, int]:
    """Tag every row afresh (version kept, or 1 where there was none) and return the tables' digests: once
    when a home first adopts row tags (or a table's rows, `only`), and after its data key is replaced."""
    digests: dict[str, int] = {}
    for table in tagged_tables(db):
        if only is not None and table not in only:
            continue
        shape = layout(db, table, cache)
        ver_at = shape.columns.index("ver")
        for row in db.execute(shape.select).fetchall():
            values = list(row[1:])
            values[ver_at] = values[ver_at] or 1
            tag = row_tag(key, table, row[0], shape.columns, tuple(values))
            db.execute(f"UPDATE [{table}] SET ver = ?, tag = ? WHERE rowid = ?", [values[ver_at], tag, row[0]])
        digests[table] = table_sum(db, key, table, cache)
    db.execute("DELETE FROM temp.touched")
    return digests


# -- checking ---------------------------------------------------------------------------------------


def row_name(table: str, rowid: int, values: dict[str, Any]) -> str:
    """How a failing row is named to a person: its table and key, and the arrival it is about where it names
    one (a candidate or review is found by its arrival, not by its number)."""
    about = f" (arrival {values['arrival_id']})" if table != "arrivals" and values.get("arrival_id") else ""
    for key in ("id", "ref", "name", "seq", "key"):
        if values.get(key) is not None:
            return f"{table} row {values[key]}{about}"
    return f"{table} row {rowid}{about}"


def check(key: bytes, table: str, rowid: int, columns: list[str], values: tuple[Any, ...]) -> None:
    """Raise IntegrityFailure unless the row's stored tag is the one its contents give."""
    named = dict(zip(columns, values, strict=True))
    stored = named.get("tag")
    if not isinstance(stored, bytes | bytearray | memoryview) or not hmac.compare_digest(
        bytes(stored), row_tag(key, table, rowid, columns, values)
    ):
        raise IntegrityFailure(
            f"{row_name(table, rowid, named)} was changed outside triage (its authentication tag does not match)",
            hint="restore the home from a backup, or ask the supervisor to import its last batch",
        )


def check_read(key: bytes, table: str, cache: dict[str, Layout], db: Database, row: dict[str, Any]) -> None:
    """Check a row that a caller read whole (`SELECT rowid AS __rowid__, *`)."""
    shape = layout(db, table, cache)
    values = tuple(sealed_summary(row[c]) if c in SEALED_COLUMNS else row[c] for c in shape.columns)
    check(key, table, row["__rowid__"], shape.columns, values)


@dataclass
class Problem:
    table: str
    what: str


def verify(
    db: Database,
    key: bytes,
    digests: dict[str, int],
    cache: dict[str, Layout],
    only: Collection[str] | None = None,
    *,
    rows: bool = True,
    keyed: bool = True,
) -> Iterator[Problem]:
    """Every row's tag, then each table's digest against the sealed one: the first failing row of each
    table, and each table whose rows no longer add up or that is gone; of the tables in `only`, when given.
    Without `rows`, the digests alone: for a caller that reads the rows it relies on through checked reads.
    `keyed` False: the digests are of the kind a home kept before they were keyed (`tag_sum`)."""
    present = [t for t in tagged_tables(db) if only is None or t in only]
    expected = set(digests) if only is None else set(digests) & set(only)
    for table in sorted(expected - set(present)):
        yield Problem(table, f"the table {table} is gone from the store: it was removed outside triage")
    for table in present:
        changed = _changed_row(db, key, table, cache) if rows else None
        if changed is not None:
            yield changed
            continue
        digest = table_sum(db, key, table, cache) if keyed else tag_sum(db, table)
        if digest == digests.get(table, 0):
            continue
        # What fails: a row changed in place is named where there is one (a digest alone names no row).
        yield (None if rows else _changed_row(db, key, table, cache)) or Problem(
            table,
            f"the rows of {table} are not the ones last written: a row was deleted, or restored "
            "from an older copy of the home",
        )


def _changed_row(db: Database, key: bytes, table: str, cache: dict[str, Layout]) -> Problem | None:
    """The first row of the table whose tag does not fit it, if any."""
    shape = layout(db, table, cache)
    for row in db.execute(shape.select):
        try:
            check(key, table, row[0], shape.columns, tuple(row[1:]))
        except IntegrityFailure as e:
            return Problem(table, str(e))
    return None
