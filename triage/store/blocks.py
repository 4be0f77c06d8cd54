"""Face templates sealed in blocks, and the stored search index of a large template set.

Templates are sealed in blocks of up to `TEMPLATE_BLOCK` templates of one model and one kind of owner,
so loading a large watchlist is one decryption per block rather than one per template. Each block is
bound to its id, model and owner kind and checked against its clear record: a block edited, moved or
swapped is refused. Like every row, a block's row carries a tag (tags.py), checked by the `check` the store
passes in, so a block marked stale or put back from an older copy is refused too. `templates` keeps a clear
row per template (owner, photo, model, block) for counting and deleting; a template whose row is deleted, by any code, is never returned again and is gone from the
file once its block is compacted. Template ids are never reused, so an id in a search index or a gallery
always means one template. A stored search index is sealed in parts bound to their place in that one
index: it is read whole or not at all.

These functions take the open database and the vault; `Store` offers them as its methods and calls them
inside its transactions.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlite_utils import Database

from triage.errors import BadInput, IntegrityFailure, TriageError
from triage.store import crypto

TEMPLATE_BLOCK = 1024  # templates per sealed block (the last block is re-sealed whole on every append)
INDEX_PART = 1024 * 1024  # bytes of a stored search index per sealed part (larger parts read slower)
BLOCK_COLUMNS = "id, model_id, owner_kind, count, stale, dim, width, seq, data"
HEADER = struct.Struct("<III")  # a block's plaintext starts with its template count, dimension and owner width

# A `template_blocks` row, columns as in BLOCK_COLUMNS.
BlockRow = tuple[int, str, str, int, int, int, int, int, bytes]
# Checks one row of a table, read whole with its rowid as `__rowid__`, against its tag (the store's).
Check = Callable[[str, dict[str, Any]], None]


def _checked(
    db: Database, table: str, where: str, params: Sequence[Any], check: Check | None
) -> Iterator[dict[str, Any]]:
    """The rows of `table` that match `where` (its ORDER BY included), each checked before it is given. Read from
    the table itself, never through an index: an index rebuilt outside triage could leave a block out of the
    search, unseen by the blocks' digest, which sums the table (a set holds one block per thousand templates)."""
    cursor = db.execute(f"SELECT rowid AS __rowid__, * FROM [{table}] NOT INDEXED {where}", list(params))
    names = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        if check is not None:
            check(table, row)
        yield row


def _block_rows(db: Database, where: str, params: Sequence[Any], check: Check | None) -> Iterator[BlockRow]:
    for row in _checked(db, "template_blocks", where, params, check):
        yield tuple(row[c] for c in BLOCK_COLUMNS.split(", "))


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


def _block_aad(block_id: int, model_id: str, owner_kind: str) -> str:
    return f"template_blocks:{block_id}:{model_id}:{owner_kind}"


def matrix(owner_ids: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """The templates to store as a float32 matrix, one row per owner id."""
    vecs = np.ascontiguousarray(vectors, dtype=np.float32)
    if vecs.ndim != 2 or len(vecs) != len(owner_ids):
        raise BadInput(f"{len(owner_ids)} owner(s) for {len(vecs)} template(s)")
    return vecs


def put(
    db: Database,
    vault: crypto.Vault,
    owner_kind: str,
    model_id: str,
    owner_ids: Sequence[str],
    vecs: np.ndarray,
    photo_ids: Sequence[int | None] | None,
    *,
    at: str,
    check: Check | None = None,
) -> np.ndarray:
    """Store templates (a `matrix`) in bulk, in the caller's write transaction: a clear row each in
    `templates`, the vectors appended to the set's sealed blocks. Returns the new template ids."""
    photos = list(photo_ids) if photo_ids is not None else [None] * len(vecs)
    last = db.execute(
        "UPDATE sequences SET value = value + ? WHERE name = 'templates' RETURNING value", [len(vecs)]
    ).fetchone()[0]
    ids = np.arange(last - len(vecs) + 1, last + 1, dtype=np.int64)
    owners = np.array([o.encode() for o in owner_ids], dtype=bytes)
    block_ids = append(db, vault, model_id, owner_kind, ids, owners, vecs, at=at, check=check)
    db.conn.executemany(
        "INSERT INTO templates (id, owner_kind, owner_id, photo_id, model_id, dtype, dim, created_at, block_id) "
        "VALUES (?, ?, ?, ?, ?, 'float32', ?, ?, ?)",
        zip(
            ids.tolist(),
            [owner_kind] * len(ids),
            owner_ids,
            photos,
            [model_id] * len(ids),
            [vecs.shape[1]] * len(ids),
            [at] * len(ids),
            block_ids.tolist(),
        ),
    )
    return ids


def append(
    db: Database,
    vault: crypto.Vault,
    model_id: str,
    owner_kind: str,
    ids: np.ndarray,
    owners: np.ndarray,
    vecs: np.ndarray,
    *,
    at: str,
    check: Check | None = None,
) -> np.ndarray:
    """Fill the set's last block, then new ones; returns the block id of each template."""
    seq: int = db.execute(
        "INSERT INTO template_sets (model_id, owner_kind, seq) VALUES (?, ?, 1) ON CONFLICT (model_id, owner_kind) "
        "DO UPDATE SET seq = seq + 1 RETURNING seq",
        [model_id, owner_kind],
    ).fetchone()[0]
    block_of = np.zeros(len(ids), dtype=np.int64)
    last: BlockRow | None = next(
        _block_rows(
            db, "WHERE model_id = ? AND owner_kind = ? ORDER BY id DESC LIMIT 1", [model_id, owner_kind], check
        ),
        None,
    )
    start = 0
    if last is not None and last[5] != vecs.shape[1]:
        raise BadInput(f"{model_id} templates have {last[5]} dimensions, not {vecs.shape[1]}")
    if last is not None and last[3] < TEMPLATE_BLOCK:
        old = open_block(db, vault, last)
        start = min(len(ids), TEMPLATE_BLOCK - len(old.ids))
        seal(
            db,
            vault,
            old.id,
            model_id,
            owner_kind,
            seq,
            np.concatenate([old.ids, ids[:start]]),
            np.concatenate([old.owners, owners[:start]]),
            np.vstack([old.vectors, vecs[:start]]),
            at=at,
        )
        block_of[:start] = old.id
    for lo in range(start, len(ids), TEMPLATE_BLOCK):
        hi = min(len(ids), lo + TEMPLATE_BLOCK)
        block_id: int = db.execute("SELECT coalesce(max(id), 0) + 1 FROM template_blocks").fetchone()[0]
        block_of[lo:hi] = seal(
            db, vault, block_id, model_id, owner_kind, seq, ids[lo:hi], owners[lo:hi], vecs[lo:hi], at=at
        )
    return block_of


def seal(
    db: Database,
    vault: crypto.Vault,
    block_id: int,
    model_id: str,
    owner_kind: str,
    seq: int,
    ids: np.ndarray,
    owners: np.ndarray,
    vecs: np.ndarray,
    *,
    at: str,
) -> int:
    """Write one block (new, or in place of the one with its id); returns its id."""
    width = max(1, owners.dtype.itemsize)
    plain = (
        HEADER.pack(len(ids), vecs.shape[1], width)
        + np.ascontiguousarray(vecs, np.float32).tobytes()
        + ids.astype("<i8").tobytes()
        + owners.astype(f"S{width}").tobytes()
    )
    db.table("template_blocks").upsert(
        {
            "id": block_id,
            "model_id": model_id,
            "owner_kind": owner_kind,
            "dim": vecs.shape[1],
            "count": len(ids),
            "width": width,
            "stale": 0,
            "seq": seq,
            "updated_at": at,
            "data": vault.seal(plain, _block_aad(block_id, model_id, owner_kind)),
        },
        pk="id",
    )
    return block_id


def open_block(db: Database, vault: crypto.Vault, row: BlockRow, scratch: bytearray | None = None) -> TemplateBlock:
    """Open one block and check it against its clear record; a stale block loses its deleted templates.
    With `scratch`, the block is opened into that buffer, so its arrays hold only until it is reused."""
    block_id, model_id, owner_kind, count, stale, dim, width, seq, data = row
    aad = _block_aad(block_id, model_id, owner_kind)
    if scratch is None or len(scratch) < len(data):  # (a block another process rewrote larger meanwhile)
        plain: bytes | memoryview = vault.open(data, aad)
    else:
        plain = vault.open_into(data, aad, memoryview(scratch))
    n, d, w = HEADER.unpack_from(plain)
    if (n, d, w) != (count, dim, width) or len(plain) != HEADER.size + n * (4 * d + 8 + w):
        raise IntegrityFailure(f"template block {block_id} does not match its record: the store was altered")
    at = HEADER.size
    vecs = np.frombuffer(plain, np.float32, n * d, at).reshape(n, d)
    ids = np.frombuffer(plain, "<i8", n, at + 4 * n * d)
    owners = np.frombuffer(plain, f"S{w}", n, at + 4 * n * d + 8 * n)
    if stale:  # some of its templates were deleted since it was sealed
        live = np.fromiter(
            (r[0] for r in db.execute("SELECT id FROM templates WHERE block_id = ?", [block_id])), np.int64
        )
        keep = np.isin(ids, live)
        ids, owners, vecs = ids[keep], owners[keep], vecs[keep]
    return TemplateBlock(block_id, seq, ids, owners, vecs)


def opened(
    db: Database,
    vault: crypto.Vault,
    model_id: str,
    owner_kind: str,
    *,
    block_ids: Sequence[int] | None = None,
    reuse: bool = False,
    check: Check | None = None,
) -> Iterator[TemplateBlock]:
    """The set's blocks (or the ones named), opened one at a time in id order; with `reuse`, all into
    one buffer (see `open_block`)."""
    where = "WHERE model_id = ? AND owner_kind = ?"
    params: list[Any] = [model_id, owner_kind]
    if block_ids is not None:
        where += f" AND id IN ({','.join('?' * len(block_ids))})"
        params += list(block_ids)
    scratch = (
        bytearray(
            db.execute(
                f"SELECT coalesce(max(length(data)), 0) FROM template_blocks NOT INDEXED {where}", params
            ).fetchone()[0]
        )
        if reuse
        else None
    )
    for row in _block_rows(db, f"{where} ORDER BY id", params, check):
        yield open_block(db, vault, row, scratch)


def template_set(db: Database, model_id: str, owner_kind: str) -> TemplateSet:
    """Where the set stands: its change counter, its blocks (id -> seq) and an upper bound of its size."""
    seq = db.execute(
        "SELECT seq FROM template_sets WHERE model_id = ? AND owner_kind = ?", [model_id, owner_kind]
    ).fetchone()
    rows = db.execute(
        "SELECT id, seq, count FROM template_blocks NOT INDEXED WHERE model_id = ? AND owner_kind = ?",
        [model_id, owner_kind],
    ).fetchall()
    return TemplateSet(seq[0] if seq else 0, {r[0]: r[1] for r in rows}, sum(r[2] for r in rows))


def load(
    db: Database,
    vault: crypto.Vault,
    model_id: str,
    owner_kind: str,
    owner_ids: Sequence[str] | None = None,
    *,
    check: Check | None = None,
) -> tuple[list[str], np.ndarray]:
    """Owner ids and an (n, dim) float32 matrix of the set's live templates (of `owner_ids` only, when
    given: then only the blocks holding them are opened)."""
    block_ids = None
    if owner_ids is not None:
        block_ids = [
            r[0]
            for r in db.execute(
                f"SELECT DISTINCT block_id FROM templates WHERE model_id = ? AND owner_kind = ? AND block_id IS NOT NULL "
                f"AND owner_id IN ({','.join('?' * len(owner_ids))})",
                [model_id, owner_kind, *owner_ids],
            )
        ]
    blocks = list(opened(db, vault, model_id, owner_kind, block_ids=block_ids, check=check))
    if not blocks:
        return [], np.zeros((0, 0), dtype=np.float32)
    owners = np.concatenate([b.owners for b in blocks])
    vecs = np.vstack([b.vectors for b in blocks])
    if owner_ids is not None:
        keep = np.isin(owners, np.array([o.encode() for o in owner_ids], dtype=bytes))
        owners, vecs = owners[keep], vecs[keep]
    return [o.decode() for o in owners.tolist()], vecs


def compact(db: Database, vault: crypto.Vault, *, at: str, check: Check | None = None) -> None:
    """Rewrite blocks whose templates were deleted (the trigger marked them stale), so the deleted
    templates are gone from the file too, and drop blocks left empty."""
    for row in list(_block_rows(db, "WHERE stale = 1", [], check)):
        block = open_block(db, vault, row)
        if len(block.ids):
            seal(db, vault, block.id, row[1], row[2], block.seq, block.ids, block.owners, block.vectors, at=at)
        else:
            db.execute("DELETE FROM template_blocks WHERE id = ?", [block.id])


def adopt_row_templates(db: Database, vault: crypto.Vault, *, at: str, check: Check | None = None) -> None:
    """Move templates sealed one per row (by homes from before template blocks) into blocks."""
    rows = db.execute(
        "SELECT id, owner_kind, owner_id, model_id, data FROM templates "
        "WHERE block_id IS NULL AND data IS NOT NULL ORDER BY id"
    ).fetchall()
    for (kind, model), grouped in itertools.groupby(rows, key=lambda r: (r[1], r[3])):
        group = list(grouped)
        vecs = np.vstack([np.frombuffer(vault.open(r[4], f"templates:{r[0]}"), np.float32) for r in group])
        ids = np.array([r[0] for r in group], dtype=np.int64)
        owners = np.array([r[2].encode() for r in group], dtype=bytes)
        block_ids = append(db, vault, model, kind, ids, owners, vecs, at=at, check=check)
        db.conn.executemany(
            "UPDATE templates SET data = NULL, block_id = ? WHERE id = ?", zip(block_ids.tolist(), ids.tolist())
        )


# -- the approximate search index of a large template set (triage/faces/ann.py) ------------------------


def _index_aad(model_id: str, owner_kind: str, created_at: str, part: int, parts: int) -> str:
    return f"template_indexes:{model_id}:{owner_kind}:{created_at}:{part}/{parts}"


def put_index(
    db: Database,
    vault: crypto.Vault,
    model_id: str,
    owner_kind: str,
    data: bytes,
    *,
    templates: int,
    max_id: int,
    at: str,
) -> None:
    """Replace the set's stored index with `data`, in the caller's write transaction, sealed in parts so
    no single value nears SQLite's limit."""
    view = memoryview(data)
    parts = max(1, -(-len(view) // INDEX_PART))
    drop_index(db, model_id, owner_kind)
    for i in range(parts):
        db.table("template_indexes").insert(
            {
                "model_id": model_id,
                "owner_kind": owner_kind,
                "part": i,
                "parts": parts,
                "created_at": at,
                "templates": templates,
                "max_id": max_id,
                "data": vault.seal(
                    view[i * INDEX_PART : (i + 1) * INDEX_PART], _index_aad(model_id, owner_kind, at, i, parts)
                ),
            }
        )


def read_index(
    db: Database, vault: crypto.Vault, model_id: str, owner_kind: str, *, check: Check | None = None
) -> tuple[dict[str, Any], bytearray] | None:
    """The set's stored index, opened, with what it covered (`templates`, `max_id`); None if there is none."""
    where, params = "WHERE model_id = ? AND owner_kind = ?", [model_id, owner_kind]
    overhead = crypto.NONCE_BYTES + crypto.TAG_BYTES
    size = db.execute(
        f"SELECT sum(length(data) - {overhead}) FROM template_indexes NOT INDEXED {where}", params
    ).fetchone()[0]
    buf = bytearray(size or 0)  # filled in place: no growing copies
    meta: dict[str, Any] | None = None
    seen = at_byte = 0
    for row in _checked(db, "template_indexes", f"{where} ORDER BY id", params, check):
        part, parts, at, templates, max_id, data = (
            row[c] for c in ("part", "parts", "created_at", "templates", "max_id", "data")
        )
        meta = meta or {"parts": parts, "created_at": at, "templates": templates, "max_id": max_id}
        if (part, parts, at) != (seen, meta["parts"], meta["created_at"]):
            break
        if at_byte + len(data) - overhead > len(buf):
            raise TriageError(
                "the stored search index was replaced while it was being read (another command "
                "stored a new one); run the command again"
            )
        at_byte += len(
            vault.open_into(data, _index_aad(model_id, owner_kind, at, part, parts), memoryview(buf)[at_byte:])
        )
        seen += 1
    if meta and seen != meta["parts"]:
        raise IntegrityFailure(
            f"the stored search index of {owner_kind} templates is incomplete; "
            "rebuild it with `triage watchlist index --rebuild`"
        )
    return (meta, buf) if meta else None


def drop_index(db: Database, model_id: str, owner_kind: str) -> None:
    db.execute("DELETE FROM template_indexes WHERE model_id = ? AND owner_kind = ?", [model_id, owner_kind])
