"""Keyed tags on the hub's rows that officers act on, so that whoever administers the database cannot change
them unseen.

An administrator can write any row, but without the hub's key cannot compute the tag that fits it. Each row
that a pending list, a decision, a report or a crime-group view rests on carries `mac`: HMAC-SHA256, under a key
derived from the hub's data key, over its table, every column a reader relies on and the keys of the rows it
points to, so a row edited, forged, or turned to point at another arrival fails. A row whose tag is missing or
wrong is refused where it is read (IntegrityFailure, naming its table and row), and `triage hub audit verify`
checks every one.

A tag proves that triage wrote a row, not that it is the latest triage wrote: an earlier version kept aside and
put back carries a valid tag, and a deleted row leaves no trace in the others. So each of these tables (and the
templates, devices, settings, batches, portraits and models, which carry no tag) is also summed as a whole: a
keyed digest of every row it holds (a sum of keyed hashes, one a row, so one change updates it without reading the
rest). Each change triage makes is noted in its own transaction, by a trigger, and the audit event that ends the
transaction adds it to the digests the audit trail's keyed end holds (`Hub.audit`); `audit verify` sums every row
again and names the table whose rows were deleted, put back, copied, renumbered or added outside triage. A table
added to TABLES or PLAIN needs its trigger too, made by the migration that adds it, and that migration's number
(`since` in TABLES, the number in PLAIN), so that the steps of earlier migrations, which tag and sum the rows of an
older hub, leave it alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from triage.errors import IntegrityFailure


@dataclass(frozen=True)
class Table:
    """What a table's tag covers: (field, kind, SQL expression) in order, the expression written over the aliases
    {t} (the row), {a} and {o} (the arrivals it names), {c} (a decision's candidate), {g} (a link's group)."""

    name: str
    fields: tuple[tuple[str, str, str], ...]
    joins: str  # the whole table as t, with the rows it points to
    label: str  # SQL naming a row in a message
    keys: tuple[tuple[str, str], ...]  # its primary key: (column, type)
    since: int = 1  # the schema migration that made the table


def _sealed(t: str = "t") -> tuple[str, str, str]:
    return ("sealed", "digest", f"sha256({{{t}}}.sealed)")


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "arrivals",
            (
                ("key", "text", "{t}.key"),
                ("device", "text", "{t}.device"),
                ("arrival_id", "text", "{t}.arrival_id"),
                ("site", "text", "{t}.site"),
                ("landed_day", "date", "{t}.landed_day"),
                ("landed_at", "text", "{t}.landed_at"),
                ("batch", "text", "{t}.batch"),
                ("voided", "bool", "{t}.voided"),
                _sealed(),
            ),
            "arrivals t",
            "t.key",
            (("id", "bigint"),),
        ),
        Table(
            "candidates",
            (
                ("arrival", "text", "{a}.key"),
                ("kind", "text", "{t}.kind"),
                ("ref", "text", "{t}.ref"),
                ("other", "text", "{o}.key"),
                ("distance", "float", "{t}.distance"),
                ("threshold", "float", "{t}.threshold"),
                ("matched", "text", "{t}.matched"),
            ),
            "candidates t LEFT JOIN arrivals a ON a.id = t.arrival LEFT JOIN arrivals o ON o.id = t.other",
            "t.id::text",
            (("id", "bigint"),),
        ),
        Table(
            "decisions",
            (
                ("arrival", "text", "{a}.key"),
                ("kind", "text", "{c}.kind"),
                ("ref", "text", "{c}.ref"),
                ("decision", "text", "{t}.decision"),
                ("officer", "text", "{t}.officer"),
                ("db_user", "text", "{t}.db_user"),
                ("at", "time", "{t}.at"),
                _sealed(),
            ),
            "decisions t LEFT JOIN candidates c ON c.id = t.candidate LEFT JOIN arrivals a ON a.id = c.arrival",
            "'of candidate ' || t.candidate::text",
            (("id", "bigint"),),
        ),
        Table(
            "laptop_alerts",
            (
                ("arrival", "text", "{a}.key"),
                ("ref", "text", "{t}.ref"),
                ("distance", "float", "{t}.distance"),
                ("threshold", "float", "{t}.threshold"),
                ("watchlist_version", "int", "{t}.watchlist_version"),
                ("laptop", "text", "{t}.laptop"),
                ("decided", "bool", "{t}.decided"),
                _sealed(),
            ),
            "laptop_alerts t LEFT JOIN arrivals a ON a.id = t.arrival",
            "t.id::text",
            (("id", "bigint"),),
        ),
        Table(
            "corrections",
            (
                ("key", "text", "{t}.key"),
                ("arrival", "text", "{a}.key"),
                ("kind", "text", "{t}.kind"),
                ("batch", "text", "{t}.batch"),
                _sealed(),
            ),
            "corrections t LEFT JOIN arrivals a ON a.id = t.arrival",
            "t.key",
            (("key", "text"),),
        ),
        Table(
            "name_keys",
            (("arrival", "text", "{a}.key"), ("part", "int", "{t}.part"), ("blind", "text", "{t}.blind")),
            "name_keys t LEFT JOIN arrivals a ON a.id = t.arrival",
            "'of arrival ' || coalesce(a.key, t.arrival::text)",
            (("arrival", "bigint"), ("part", "smallint"), ("blind", "text")),
        ),
        Table(
            "identifiers",
            (
                ("arrival", "text", "{a}.key"),
                ("kind", "text", "{t}.kind"),
                ("blind", "text", "{t}.blind"),
                ("source", "text", "{t}.source"),
                _sealed(),
            ),
            "identifiers t LEFT JOIN arrivals a ON a.id = t.arrival",
            "t.id::text",
            (("id", "bigint"),),
        ),
        Table(
            "groups",
            (
                ("key", "text", "{t}.key"),
                ("device", "text", "{t}.device"),
                ("ref", "text", "{t}.ref"),
                ("batch", "text", "{t}.batch"),
                _sealed(),
            ),
            "groups t",
            "t.key",
            (("id", "bigint"),),
        ),
        Table(
            "group_identifiers",
            (("grp", "text", "{g}.key"), ("kind", "text", "{t}.kind"), ("blind", "text", "{t}.blind")),
            "group_identifiers t LEFT JOIN groups g ON g.id = t.grp",
            "'of group ' || coalesce(g.key, t.grp::text)",
            (("grp", "bigint"), ("kind", "text"), ("blind", "text")),
        ),
        Table(
            "group_links",
            (
                ("key", "text", "{t}.key"),
                ("grp", "text", "{g}.key"),
                ("arrival", "text", "{a}.key"),
                ("supersedes", "text", "{t}.supersedes"),
                _sealed(),
            ),
            "group_links t LEFT JOIN groups g ON g.id = t.grp LEFT JOIN arrivals a ON a.id = t.arrival",
            "t.key",
            (("id", "bigint"),),
        ),
        Table(  # a review of a laptop's alert, by the arrival's key: the hub may not hold the arrival yet
            "alert_reviews",
            (
                ("key", "text", "{t}.key"),
                ("arrival", "text", "{t}.arrival"),
                ("ref", "text", "{t}.ref"),
                ("supersedes", "text", "{t}.supersedes"),
                ("batch", "text", "{t}.batch"),
                _sealed(),
            ),
            "alert_reviews t",
            "t.key",
            (("key", "text"),),
            since=6,
        ),
        Table(  # a decision on a pair of arrivals, by their keys: the hub may not hold them yet
            "pair_reviews",
            (
                ("key", "text", "{t}.key"),
                ("arrival", "text", "{t}.arrival"),
                ("other", "text", "{t}.other"),
                ("supersedes", "text", "{t}.supersedes"),
                ("batch", "text", "{t}.batch"),
                _sealed(),
            ),
            "pair_reviews t",
            "t.key",
            (("key", "text"),),
            since=7,
        ),
    )
}
ALIASES = ("t", "a", "o", "c", "g")
# Tables without a tag whose rows are summed by a hash of their whole content, computed by the server (the same
# expression in the trigger that notes a change and in the check that sums every row again), each with the schema
# migration from which it is summed: the record of the batches imported, the portraits and which vector column holds
# each model's templates are summed from m009 on.
PLAIN = {"templates": 4, "devices": 4, "settings": 4, "batches": 9, "portraits": 9, "models": 9}
SUMMED = (*TABLES, *PLAIN)
ROW_HASH = "encode(sha256(convert_to(jsonb_strip_nulls(to_jsonb({r}))::text, 'UTF8')), 'hex')"
_MOD = 1 << 256
# table -> (its rows, the sum of their keyed hashes modulo 2**256)
Digests = dict[str, tuple[int, int]]


def tables_at(version: int) -> tuple[str, ...]:
    """The tagged tables a hub's schema holds at `version`: what a migration's step may read."""
    return tuple(name for name, spec in TABLES.items() if spec.since <= version)


def plain_at(version: int) -> tuple[str, ...]:
    """The tables of PLAIN a hub sums at `version`."""
    return tuple(name for name, since in PLAIN.items() if since <= version)


def digest(sealed: bytes) -> bytes:
    """What a tag covers of a sealed column: its SHA-256 (as PostgreSQL's sha256() gives it)."""
    return hashlib.sha256(bytes(sealed)).digest()


def columns(table: str, prefix: str, **aliases: str) -> str:
    """The select list of `table`'s tagged fields and its tag, named `prefix` + field (and `prefix` + "mac"),
    its aliases mapped to those of the query (t, a, o, c, g by default)."""
    names = {k: aliases.get(k, k) for k in ALIASES}
    spec = TABLES[table]
    cols = [f"{expr.format(**names)} AS {prefix}{name}" for name, _, expr in spec.fields]
    return ", ".join([*cols, f"{names['t']}.mac AS {prefix}mac"])


def dicts(conn: Any, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
    """A query's rows as dicts by column name."""
    cur = conn.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def picked(table: str, row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A table's tagged fields out of a row selected with `columns(table, prefix)`."""
    return {name: row[prefix + name] for name, _, _ in TABLES[table].fields}


def _canonical(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "text":
        return str(value)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    if kind == "date":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if kind == "time":
        return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    if kind == "digest":
        return bytes(value).hex()
    raise ValueError(f"unknown field kind {kind}")


class Macs:
    """Tags of rows under one hub's key."""

    def __init__(self, key: bytes):
        self._key = key

    def mac(self, table: str, **values: Any) -> str:
        """The tag of a row of `table` holding `values` (every tagged field, by name; sealed fields as `digest`)."""
        spec = TABLES[table]
        if set(values) != {name for name, _, _ in spec.fields}:
            raise ValueError(f"a {table} row's tag covers {[n for n, _, _ in spec.fields]}, not {sorted(values)}")
        body = [table, *(_canonical(kind, values[name]) for name, kind, _ in spec.fields)]
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def valid(self, table: str, values: Mapping[str, Any], mac: str | None) -> bool:
        return mac is not None and hmac.compare_digest(str(mac), self.mac(table, **values))

    def check(self, table: str, row: Mapping[str, Any], prefix: str, label: object) -> None:
        """Refuse a row (selected with `columns(table, prefix)`) whose tag is missing or does not fit it."""
        if not self.valid(table, picked(table, row, prefix), row[prefix + "mac"]):
            raise changed(table, label, row[prefix + "mac"] is None)

    def add(self, digests: Digests, table: str, value: str | None, sign: int = 1) -> None:
        """Count a row of `table` (`summand`, or for a table in PLAIN the hash of its content) into `digests`, or
        out of them (`sign` -1). A row without a tag counts for nothing: it is refused wherever it is read."""
        if value is None:
            return
        h = int.from_bytes(hmac.new(self._key, f"sum:{table}:{value}".encode(), hashlib.sha256).digest(), "big")
        n, total = digests.get(table, (0, 0))
        digests[table] = (n + sign, (total + sign * h) % _MOD)


def by_id(table: str) -> bool:
    """Whether a tagged table's rows are numbered (`id`): the numbers officers name them by."""
    return TABLES[table].keys == (("id", "bigint"),)


def summand(table: str, mac: str | None, key: tuple[Any, ...]) -> str | None:
    """What a tagged row adds to its table's digest: its tag, and its number where it has one (a tag does not
    cover it), so that two rows' numbers swapped are found too."""
    if mac is None:
        return None
    return f"{key[0]}:{mac}" if by_id(table) else str(mac)


def encode_digests(digests: Digests) -> dict[str, list[Any]]:
    return {t: [n, f"{total:064x}"] for t, (n, total) in sorted(digests.items()) if n or total}


def decode_digests(value: Any) -> Digests | None:
    """Digests as the audit trail's end holds them; None when they are not digests (the caller refuses them)."""
    if isinstance(value, str):
        value = json.loads(value)
    try:
        return {str(t): (int(n), int(str(total), 16)) for t, (n, total) in dict(value).items()}
    except (TypeError, ValueError, AttributeError):
        return None


def summed(
    conn: Any, macs: Macs, *, check: bool = False, tables: Iterable[str] = TABLES, plain: Iterable[str] = PLAIN
) -> tuple[Digests, dict[str, int]]:
    """Every summed table's digest, from every row it holds now (inside the caller's transaction), and the rows of
    each; with `check`, a tagged row whose tag is missing or wrong is refused on the way. `tables` and `plain`: the
    tagged and plain tables to sum (a migration's step sums those of the schema it brings the hub to)."""
    digests: Digests = {}
    counts: dict[str, int] = {}
    for table in tables:
        counts[table] = 0
        for label, values, mac, key in scan(conn, table):
            if check and not macs.valid(table, values, mac):
                raise changed(table, label, mac is None)
            macs.add(digests, table, summand(table, mac, key))
            counts[table] += 1
    for table in plain:
        cur = conn.cursor(name=f"hub_sum_{table}")
        cur.itersize = 5000
        try:
            cur.execute(f"SELECT {ROW_HASH.format(r='t')} FROM {table} t")
            for (value,) in cur:
                macs.add(digests, table, value)
        finally:
            cur.close()
    return digests, counts


def plain_digest(conn: Any, macs: Macs, table: str) -> tuple[int, int]:
    """The digest of one small table of PLAIN from every row it holds now (inside the caller's transaction)."""
    digests: Digests = {}
    for (value,) in conn.execute(f"SELECT {ROW_HASH.format(r='t')} FROM {table} t"):
        macs.add(digests, table, value)
    return digests.get(table, (0, 0))


def differences(held: Digests, recorded: Digests) -> list[str]:
    """The summed tables whose rows are not what the audit trail's end records, each said in a few words."""
    out = []
    for table in SUMMED:
        (n, total), (m, expected) = held.get(table, (0, 0)), recorded.get(table, (0, 0))
        if (n, total) == (m, expected):
            continue
        if n < m:
            out.append(f"{table}: {m - n} row(s) fewer than triage wrote")
        elif n > m:
            out.append(f"{table}: {n - m} row(s) more than triage wrote")
        else:
            out.append(f"{table}: a row replaced (an earlier version put back, or another row in its place)")
    return out


def changed(table: str, label: object, missing: bool) -> IntegrityFailure:
    return IntegrityFailure(
        f"the hub's {table} row {label} was changed outside triage: its keyed tag is "
        + ("missing" if missing else "wrong")
        + "; nothing was shown or written",
        hint="`triage hub audit verify` checks every row; restore the hub's database from a copy you trust",
    )


def scan(
    conn: Any, table: str, *, size: int = 5000
) -> Iterator[tuple[str, dict[str, Any], str | None, tuple[Any, ...]]]:
    """Every row of `table`: (its label, its tagged fields, its tag, its primary key), read through a cursor on
    the server (the caller holds the transaction), so a large table is never in memory at once."""
    spec = TABLES[table]
    keys = ", ".join(f"t.{k} AS k_{k}" for k, _ in spec.keys)
    cur = conn.cursor(name=f"hub_scan_{table}")
    cur.itersize = size
    cur.execute(f"SELECT {spec.label} AS label, {keys}, {columns(table, 'f_')} FROM {spec.joins}")
    names = [d.name for d in cur.description]
    try:
        for r in cur:
            row = dict(zip(names, r))
            yield (
                str(row["label"]),
                picked(table, row, "f_"),
                row["f_mac"],
                tuple(row[f"k_{k}"] for k, _ in spec.keys),
            )
    finally:
        cur.close()


def seal_existing(conn: Any, macs: Macs, *, chunk: int = 20_000, tables: Iterable[str] = TABLES) -> dict[str, int]:
    """Tag every row the tables hold now (inside the caller's transaction): the rows an older hub made without
    tags, taken as they are at this moment. The number of rows tagged, table by table."""
    counts: dict[str, int] = {}
    for name in tables:
        spec = TABLES[name]
        on = " AND ".join(f"t.{k} = v.{k}" for k, _ in spec.keys)
        arrays = ", ".join(f"%s::{typ}[]" for _, typ in spec.keys)
        cols = ", ".join(k for k, _ in spec.keys)
        update = f"UPDATE {name} t SET mac = v.mac FROM unnest({arrays}, %s::text[]) AS v({cols}, mac) WHERE {on}"
        counts[name] = 0
        pending: list[tuple[tuple[Any, ...], str]] = []
        for _, values, _, key in scan(conn, name):
            pending.append((key, macs.mac(name, **values)))
            if len(pending) >= chunk:
                counts[name] += _write_macs(conn, update, pending)
        counts[name] += _write_macs(conn, update, pending)
    return counts


def _write_macs(conn: Any, update: str, pending: list[tuple[tuple[Any, ...], str]]) -> int:
    n = len(pending)
    if n:
        keys = [list(col) for col in zip(*(k for k, _ in pending))]
        conn.execute(update, [*keys, [m for _, m in pending]])
        pending.clear()
    return n
