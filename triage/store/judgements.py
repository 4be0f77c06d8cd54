"""Judgements kept sealed: what an officer decided on a candidate, which crime group an arrival or subject
was linked to and what was decided, and a watchlist subject's category.

Read together with the clear ids they would tell anyone holding the file, without the passphrase, who
was matched against what and what was concluded, so they live in each row's sealed part (the store opens
them into the row as it is read). A home made before this kept them in clear columns: the first time it
is unlocked they move into the sealed part, every row in one transaction, audited once, and the clear
columns are left empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlite_utils import Database

from triage.errors import IntegrityFailure
from triage.store.crypto import Vault

# The sealed tables' columns that hold a judgement, and each table's key column (the seal binds it).
MOVED = {"reviews": ("decision",), "ocg_links": ("ocg_ref", "decision"), "subjects": ("category",)}
KEYS = {"reviews": "id", "ocg_links": "id", "subjects": "ref"}
ACTION = "judgements-sealed"


class Home(Protocol):
    """What this needs of an unlocked store (triage.store.rows.Store)."""

    db: Database
    vault: Vault | None

    def transaction(self) -> AbstractContextManager[None]: ...

    def check_rows(self, table: str, where: str | None = None, params: Sequence[Any] = ()) -> None: ...

    def audit(
        self,
        action: str,
        officer: str,
        *,
        arrival_id: str | None = None,
        records: Sequence[str] = (),
        reason: str | None = None,
    ) -> None: ...


def _clear_rows(table: str) -> str:
    return " OR ".join(f"[{c}] IS NOT NULL" for c in MOVED[table])


def pending(db: Database) -> bool:
    """Whether any row still holds a judgement in clear."""
    return any(db.execute(f"SELECT 1 FROM [{t}] WHERE {_clear_rows(t)} LIMIT 1").fetchone() for t in MOVED)


def seal_once(store: Home, officer: str) -> dict[str, int]:
    """Move every judgement still in clear into its row's sealed part, in one audited transaction. Each row's
    tag is checked first: a row edited outside triage is left as it is, never sealed, for every read of it
    and `triage audit verify` to refuse. Returns the rows moved per table (empty when there were none)."""
    if not pending(store.db):
        return {}
    vault = store.vault
    assert vault is not None
    moved: dict[str, int] = {}
    with store.transaction():
        for table, columns in MOVED.items():
            where = _clear_rows(table)
            key = KEYS[table]
            names = ", ".join(f"[{c}]" for c in columns)
            found = store.db.execute(f"SELECT rowid, [{key}], sealed, {names} FROM [{table}] WHERE {where}").fetchall()
            for rowid, pk, sealed, *values in found:
                try:
                    store.check_rows(table, "rowid = ?", [rowid])
                except IntegrityFailure:
                    continue
                aad = f"{table}:{pk}"
                secret = vault.open_json(sealed, aad) if sealed is not None else {}
                secret.update({c: v for c, v in zip(columns, values, strict=True) if v is not None})
                store.db.execute(
                    f"UPDATE [{table}] SET sealed = ?, {', '.join(f'[{c}] = NULL' for c in columns)} WHERE rowid = ?",
                    [vault.seal_json(secret, aad), rowid],
                )
                moved[table] = moved.get(table, 0) + 1
        if moved:
            store.audit(ACTION, officer, records=[f"{table}:{n}" for table, n in moved.items()])
    return moved
