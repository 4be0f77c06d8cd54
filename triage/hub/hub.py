"""An open hub: its folder, its keys, its database connection, and what protects personal data at rest.

A hub folder holds `hub.json` (which database, and whether the embedded server is used) and `keys/`, a triage
home of its own, sealed with the hub's passphrase like any laptop's. That home holds what a home holds for
batches: the hub's signing key and age identity, the laptops it trusts and the recipients it lists (managed
with `triage keys ... --home HUB/keys`), its training flag, its matcher, its watchlist, and the hub's data key.
So a batch reaching the hub is decrypted and verified by the very functions a supervisor's home uses.

Personal fields never reach the database in clear: each record is sealed with AES-GCM under the hub's data
key (bound to its table and key), names and dates of birth and debrief identifiers are matched through keyed
blinds (HMAC under a sub-key), and templates are stored turned by a secret rotation per model, which keeps
every distance (so the HNSW index works) but does not match a template computed elsewhere. The audit trail's
chain is keyed too, so whoever administers the database cannot rewrite it and recompute the chain, and so is
every row officers act on (`rows.py`): each carries a tag only the hub's key can make. The keyed record of the
trail's end also holds a keyed digest of every table officers rely on as a whole, brought up to date by each
event with the changes of its transaction, so rows deleted or put back as they were are found by the next check;
and every event first checks that the trail still ends where that record says, so an end cut off is refused by
the next command rather than written over.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triage.errors import BadInput, Conflict, IntegrityFailure, NotFound, UsageError, WrongPassphrase
from triage.faces import matchers
from triage.hub import HUB_FILE, KEYS, rows, schema, server
from triage.store import crypto
from triage.store.config import Config
from triage.store.permissions import make_home, write_private
from triage.store.placement import NEW_VOLUME, apart
from triage.store.rows import Store, utcnow

EMBEDDED_DATABASE = "triage_hub"
DATA_KEY = "hub-data"  # the laptop_keys row of the hub's data key in its key home
URL_ENV = "TRIAGE_HUB_DB"


@dataclass
class HubConfig:
    database: str
    url: str | None  # None: the embedded server in the hub's folder
    created_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def load_config(folder: Path) -> HubConfig:
    path = Path(folder) / HUB_FILE
    if not path.is_file():
        raise NotFound(f"no hub at {folder}", hint="create one with `triage hub init --dir DIR`")
    try:
        d = json.loads(path.read_text())
        return HubConfig(str(d["database"]), d.get("url"), str(d["created_at"]))
    except (ValueError, KeyError, TypeError):
        raise BadInput(f"{path} is not a hub's configuration") from None


class Hub:
    """One command's hold on the hub: its key home unlocked, its database connected (caller closes)."""

    def __init__(self, folder: Path, config: HubConfig, keys: Store, conn: Any, officer: str):
        self.folder, self.config, self.keys, self.conn, self.officer = folder, config, keys, conn, officer
        keys.called = "hub"
        held = {r["name"]: r for r in keys.rows("laptop_keys")}
        if DATA_KEY not in held:
            raise IntegrityFailure(f"the hub's key home {keys.home} has no data key: it was not made by `hub init`")
        key = bytes.fromhex(held[DATA_KEY]["private"])
        self.vault = crypto.Vault(key)
        self._chain_key = hmac.new(key, b"triage hub audit chain v1", hashlib.sha256).digest()
        self._rotation_key = hmac.new(key, b"triage hub template rotation v1", hashlib.sha256).digest()
        self.rows = rows.Macs(hmac.new(key, b"triage hub rows v1", hashlib.sha256).digest())
        self._rotations: dict[str, np.ndarray] = {}
        self._columns: dict[str, str] | None = None
        # Whether the trail's end holds the tables' digests (from migration m004 on); until then it holds none.
        self.summing = False
        self.key_home: KeyHomeSeen | None = None  # how far the key home's trail was seen (`_key_home_as_left`)
        self.key_home_end: tuple[int, str] | None = None  # the key home's last event as this command found it

    @functools.cached_property
    def matcher(self) -> matchers.Matcher:
        return matchers.get(self.keys.config.matcher, self.keys.home)

    @property
    def columns(self) -> dict[str, str]:
        """model id -> its vector column, read once per command (columns are only ever added, at open)."""
        if self._columns is None:
            self._columns = schema.columns(self.conn)
        return self._columns

    @property
    def training(self) -> bool:
        return self.keys.is_training

    def may(self, table: str, *privileges: str) -> bool:
        """Whether this command's login holds every one of `privileges` on `table`."""
        asked = " AND ".join(["has_table_privilege(%s, %s)"] * len(privileges))
        return bool(self.conn.execute(f"SELECT {asked}", [v for p in privileges for v in (table, p)]).fetchone()[0])

    def key_home_held(self) -> None:
        """Refuse to go on from what the key home said (the laptops it trusts) once its file no longer holds the
        last event this command found in it, as it was: the folder put back to an older copy while the command ran,
        after `opened` checked it."""
        if self.key_home_end is not None and self.keys.trail_mark(self.key_home_end[0]) != self.key_home_end:
            raise _older_key_home(self, self.key_home_end[0])

    def login_refused(self, why: str) -> UsageError:
        """What a login is told when the database refuses it some work: why, and which role each work needs."""
        database = self.conn.info.dbname or self.config.database  # the one reached, which --db may have changed
        return UsageError(
            f"the hub's database refused this login: {why}; importing needs the {database}_importer role, deciding "
            f"the {database}_reviewer role"
        )

    @functools.cached_property
    def db_user(self) -> str:
        """The database login this command works as."""
        return str(self.conn.execute("SELECT current_user").fetchone()[0])

    def seal(self, value: object, aad: str) -> bytes:
        return self.vault.seal_json(value, f"hub:{aad}")

    def open(self, blob: bytes, aad: str) -> Any:
        return self.vault.open_json(bytes(blob), f"hub:{aad}")

    def blind(self, kind: str, value: str) -> str:
        return self.vault.blind(f"hub-{kind}", value)

    def rotation(self, model_id: str, dim: int) -> np.ndarray:
        """The secret orthogonal matrix templates of `model_id` are turned by before they are stored."""
        if model_id not in self._rotations:
            seed = hmac.new(self._rotation_key, model_id.encode(), hashlib.sha256).digest()
            rng = np.random.default_rng(int.from_bytes(seed, "big"))
            q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
            self._rotations[model_id] = (q * np.sign(np.diag(r))).astype(np.float32)
        return self._rotations[model_id]

    def stored(self, model_id: str, vectors: np.ndarray) -> np.ndarray:
        """Templates (one a row) as the database holds them."""
        v = np.asarray(vectors, dtype=np.float32)
        return v @ self.rotation(model_id, v.shape[-1]).T

    # -- the audit trail --------------------------------------------------------------------------------

    def chain_hash(
        self,
        prev: str | None,
        seq: int,
        at: str,
        officer: str,
        db_user: str,
        action: str,
        records: Any,
        reason: bytes | None,
    ) -> str:
        body = json.dumps(
            [
                prev,
                seq,
                at,
                officer,
                db_user,
                action,
                records,
                hashlib.sha256(bytes(reason)).hexdigest() if reason else None,
            ],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hmac.new(self._chain_key, body.encode(), hashlib.sha256).hexdigest()

    def head_mac(self, seq: int, digest: str, digests: rows.Digests | None = None) -> str:
        """The keyed record of the trail's last event: events removed from the end leave it pointing past them.
        From m004 on it covers the tables' digests too."""
        text = f"head:{seq}:{digest}"
        if digests is not None:
            text = f"head2:{seq}:{digest}:" + json.dumps(rows.encode_digests(digests), separators=(",", ":"))
        return hmac.new(self._chain_key, text.encode(), hashlib.sha256).hexdigest()

    def head(self) -> tuple[int, str, str, rows.Digests | None] | None:
        """The keyed record of the trail's end as the database holds it (seq, hash, mac, digests), unchecked."""
        found = self.conn.execute("SELECT to_jsonb(h) FROM audit_head h WHERE id = 1").fetchone()
        if found is None:
            return None
        h = found[0]
        digests = rows.decode_digests(h["digests"]) if h.get("digests") is not None else None
        if h.get("digests") is not None and digests is None:
            raise _cut_off()
        return int(h["seq"]), str(h["hash"]), str(h["mac"]), digests

    def head_fits(self, head: tuple[int, str, str, rows.Digests | None], *, summing: bool) -> bool:
        seq, digest, mac, digests = head
        if summing and digests is None:
            return False
        return hmac.compare_digest(mac, self.head_mac(seq, digest, digests if summing else None))

    def ended(self) -> rows.Digests | None:
        """The digests the trail's end holds, once it is checked that the trail ends where its keyed record says
        (inside the caller's transaction, under the trail's lock). IntegrityFailure when it does not: events were
        cut off its end, or the record was altered; None while the hub keeps no digests."""
        if self.summing:
            refuse_foreign_code(self.conn)
        last = self.conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        head = self.head()
        if head is None and last is None:  # a new hub's first event, unless the trail was deleted from under its rows
            if not self.summing:
                return None
            held, noted = self.conn.execute(
                "SELECT (SELECT count(*) FROM arrivals), "
                "(SELECT coalesce(sum(sign), 0) FROM pg_temp.hub_changes WHERE tbl = 'arrivals')"
            ).fetchone()
            if held != noted:
                raise _cut_off()
            return {}
        if head is None or last is None or (head[0], head[1]) != (last[0], last[1]):
            raise _cut_off()
        if not self.head_fits(head, summing=self.summing):
            raise _cut_off()
        return head[3]

    def hold_trail(self) -> None:
        """Wait for the audit trail, and hold it until this transaction ends (events queue one at a time). A writer
        that will audit takes it before it writes rows another writer may wait on (a decision's), so that neither
        holds such rows while waiting for the trail the other holds."""
        self.conn.execute("SELECT pg_advisory_xact_lock(7412)")

    def audit(self, action: str, *, records: list[str] | None = None, reason: str | None = None) -> None:
        """Append one event to the hash chain, inside the caller's transaction (`hold_trail`), after checking that
        the trail ends where its keyed record says. The event ends the transaction's changes to the summed tables:
        they are added to the digests of that record, so a transaction that writes those tables writes its audit
        event last."""
        self.hold_trail()
        digests = self.ended()
        if digests is not None:
            for table, sign, value in self.conn.execute("DELETE FROM pg_temp.hub_changes RETURNING tbl, sign, value"):
                self.rows.add(digests, table, value, sign)
        last = self.conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, None)
        at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
        sealed = self.vault.seal(reason.encode(), f"hub:audit:{seq}") if reason else None
        recs = list(records or [])[:500]
        db_user = str(self.conn.execute("SELECT current_user").fetchone()[0])
        digest = self.chain_hash(prev, seq, at, self.officer, db_user, action, recs, sealed)
        self.conn.execute(
            "INSERT INTO audit (seq, at, officer, db_user, action, records, reason, prev_hash, hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [seq, at, self.officer, db_user, action, json.dumps(recs), sealed, prev, digest],
        )
        self.write_head(seq, digest, digests)

    def write_head(self, seq: int, digest: str, digests: rows.Digests | None) -> None:
        if digests is None:
            self.conn.execute(
                "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, mac = EXCLUDED.mac",
                [seq, digest, self.head_mac(seq, digest)],
            )
            return
        self.conn.execute(
            "INSERT INTO audit_head (id, seq, hash, mac, digests) VALUES (1, %s, %s, %s, %s) ON CONFLICT (id) "
            "DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, mac = EXCLUDED.mac, digests = EXCLUDED.digests",
            [seq, digest, self.head_mac(seq, digest, digests), json.dumps(rows.encode_digests(digests))],
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        self.keys.close()


def refuse_foreign_code(conn: Any) -> None:
    """Refuse to work on a database that would run code triage did not put there inside its transactions."""
    found = schema.foreign_code(conn)
    if found:
        raise IntegrityFailure(
            f"the hub's database holds code triage did not put there ({', '.join(found)}): it would run inside "
            "triage's own transactions, so nothing was shown or written",
            hint="the database's administrator removes it; then `triage hub audit verify` checks every row",
        )


def _cut_off() -> IntegrityFailure:
    return IntegrityFailure(
        "the hub's audit trail does not end where its keyed record says: events were removed from its end, or the "
        "record was altered outside triage; nothing was written",
        hint="`triage hub audit verify` checks the trail and every row; restore the hub's database from a copy you "
        "trust",
    )


def _as_left(hub: Hub) -> None:
    """Refuse to bring forward a hub whose trail does not end as an older triage left it: an upgrade that gives
    rows their tags or sums them takes them as they stand, so it must not run on a hub that was at a later
    schema and had its `hub_migrations` set back."""
    hub.summing = False
    try:
        head = hub.head()
        if head is not None and head[3] is not None:
            raise _cut_off()
        hub.ended()
    except IntegrityFailure:
        raise _set_back() from None


def _set_back() -> IntegrityFailure:
    return IntegrityFailure(
        "the hub's schema is recorded as older than its audit trail shows (a later triage wrote its end): "
        "`hub_migrations` or the trail was changed outside triage; nothing was upgraded",
        hint="restore the hub's database from a copy you trust",
    )


def left_as_recorded(hub: Hub, tables: Sequence[str]) -> str | None:
    """The first of `tables` (small tables of `rows.PLAIN`) whose rows, summed now, are not what the audit trail's
    keyed end records, the trail's end checked first; None when every one is as triage left it (or the hub keeps no
    digests). Read in one snapshot, so a writer committing meanwhile is not taken for a change."""
    with hub.conn.transaction():
        hub.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        recorded = hub.ended()
        if recorded is None:
            return None
        for table in tables:
            if rows.plain_digest(hub.conn, hub.rows, table) != recorded.get(table, (0, 0)):
                return table
    return None


def _steps(hub: Hub) -> dict[int, schema.Step]:
    """What a migration does beyond its SQL, with the hub's key (inside the migration's transaction)."""

    def m002_row_macs(conn: Any, upgrading: bool) -> None:
        if upgrading:
            _as_left(hub)
        counts = rows.seal_existing(conn, hub.rows, tables=rows.tables_at(2))
        if upgrading:  # a hub made by an older triage: its rows are tagged as they stand now, once
            tagged = ", ".join(f"{table} {n}" for table, n in counts.items() if n)
            hub.audit(
                "hub-upgrade",
                records=["migration:m002_row_macs"],
                reason=f"{sum(counts.values())} rows given their keyed tags" + (f" ({tagged})" if tagged else ""),
            )

    def m004_row_digests(conn: Any, upgrading: bool) -> None:
        if upgrading:
            _as_left(hub)
        conn.execute("SELECT pg_advisory_xact_lock(7412)")
        digests, _ = rows.summed(conn, hub.rows, tables=rows.tables_at(4), plain=rows.plain_at(4))
        head = hub.head()
        if head is not None:  # the trail's end, as an older triage left it, now holds the digests too
            hub.write_head(head[0], head[1], digests)
        hub.summing = True
        if upgrading:
            summed = ", ".join(f"{table} {n}" for table, (n, _) in digests.items() if n)
            hub.audit(
                "hub-upgrade",
                records=["migration:m004_row_digests"],
                reason=f"{sum(n for n, _ in digests.values())} rows summed, as they stand, into the digests the audit "
                f"trail's end keeps ({summed or 'none'})",
            )

    def m009_whole_tables(conn: Any, upgrading: bool) -> None:
        hub.summing = True  # from m004 on
        if not upgrading:  # a new hub: nothing held yet
            return
        hub.hold_trail()
        held = hub.ended() or {}
        if any(table in held for table in schema.WHOLE):  # summed already: a triage from m009 on wrote the trail's end
            raise _set_back()
        counts = {}
        for table in schema.WHOLE:  # taken as they stand, as changes the upgrade's audit event adds in
            counts[table] = conn.execute(
                f"INSERT INTO pg_temp.hub_changes SELECT %s, 1, {rows.ROW_HASH.format(r='t')} FROM {table} t", [table]
            ).rowcount
        hub.audit(
            "hub-upgrade",
            records=["migration:m009_whole_tables"],
            reason=f"{sum(counts.values())} rows summed, as they stand, into the digests the audit trail's end keeps "
            f"({', '.join(f'{table} {n}' for table, n in counts.items())})",
        )

    return {2: m002_row_macs, 4: m004_row_digests, 9: m009_whole_tables}


def model_dims(store: Store) -> dict[str, int]:
    """The dimensions of each model the hub's matcher searches with."""
    from triage.faces import encoders

    pipeline = matchers.pipeline_for(store)
    sizes = {m.model_id: m.embedding_size for m in pipeline.manifests}
    return {m: sizes.get(m, 128) if m != encoders.DLIB else 128 for m in pipeline.model_ids}


def _url(config: HubConfig, db: str | None) -> str | None:
    return db or os.environ.get(URL_ENV) or config.url


@contextlib.contextmanager
def opened(
    folder: Path,
    passphrase: str,
    officer: str | None,
    *,
    db: str | None = None,
    models: bool = True,
    keys_restored: str | None = None,
) -> Iterator[Hub]:
    """The hub in `folder`, for the length of one command: its embedded server (if it uses one) started and
    stopped again, its schema brought up to date, its models table checked against the trail's keyed end (every
    search reads it) and, unless `models` is False (`init` adds them itself), a vector column added for a model of
    its matcher that has none. A key home that will not open (a wrong passphrase, the folder gone) is told as the
    hub's."""
    server.require()
    folder = Path(folder)
    config = load_config(folder)
    try:
        keys = Store.open(folder / KEYS, passphrase)
    except WrongPassphrase:
        raise WrongPassphrase(
            f"wrong passphrase for the hub at {folder}",
            hint="set TRIAGE_PASSPHRASE or type the passphrase set at `triage hub init`",
        ) from None
    except NotFound:
        raise NotFound(
            f"the hub at {folder} has no key home in {folder / KEYS}",
            hint="restore that folder from the hub's backup: it holds the hub's keys, which cannot be made again",
        ) from None
    try:
        with _database(folder, config, db) as url:
            conn = server.connect(url)
            hub = Hub(folder, config, keys, conn, officer or keys.config.officer)
            try:
                # where this session's changes to the summed tables are noted until its next audit event
                conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS hub_changes (tbl text NOT NULL, sign smallint NOT NULL, "
                    "value text) ON COMMIT DELETE ROWS"
                )
                schema.migrate(conn, _steps(hub))
                hub.summing = schema.version(conn) >= schema.DIGESTS_FROM
                if hub.summing:
                    refuse_foreign_code(conn)
                    _models_as_left(hub)
                    hub.key_home = _key_home_as_left(hub, keys_restored)
                    hub.key_home_end = keys.trail_mark()
                if models:
                    schema.ensure_models(
                        conn,
                        model_dims(keys),
                        audit=lambda added: hub.audit("hub-models", records=[f"model:{m}" for m in added]),
                    )
                yield hub
            except server.psycopg().errors.InsufficientPrivilege as e:
                raise hub.login_refused(str(e).strip().splitlines()[0]) from None
            finally:
                with contextlib.suppress(Exception):
                    conn.close()
    finally:
        keys.close()


KEY_HOME_SETTING = "key_home_trail"


@dataclass(frozen=True)
class KeyHomeSeen:
    """How far the hub has seen its key home's trail go (`_key_home_as_left`): the event recorded before this
    command, and the one recorded now (the same when nothing moved or nothing could be written)."""

    before: int | None
    now: int | None
    restored: bool  # recorded anew, as `hub keys-restored` asked, over an event the key home no longer holds


def _key_home_recorded(hub: Hub) -> tuple[int, str] | None:
    """The key home's event the hub last recorded, its keyed tag checked."""
    row = hub.conn.execute("SELECT value FROM settings WHERE name = %s", [KEY_HOME_SETTING]).fetchone()
    if row is None:
        return None
    value = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    try:
        seq, event, tag = int(value["seq"]), str(value["event"]), value.get("tag")
    except (KeyError, TypeError, ValueError):
        raise rows.changed("settings", KEY_HOME_SETTING, False) from None
    if tag != hub.blind(KEY_HOME_SETTING, f"{seq}:{event}"):
        raise rows.changed("settings", KEY_HOME_SETTING, tag is None)
    return seq, event


def _key_home_as_left(hub: Hub, restored_because: str | None = None) -> KeyHomeSeen:
    """Refuse a key home put back to an older copy of itself: the folder holds the laptops the hub trusts and the
    watchlist it searches, so an older copy would bring back a laptop untrusted since (its batches imported again)
    or a subject withdrawn. The hub keeps the last event of the key home's trail it saw, keyed and summed into its
    own trail's end, and each command checks the key home still holds that event as it was; a command that may
    write the hub's settings records the trail's new end when it has moved on (audited). A key folder restored on
    purpose is recorded as such with `restored_because` (`triage hub keys-restored`). What no command sees is the
    folder put back between two commands of which neither saw the trail move in between."""
    try:
        changed = left_as_recorded(hub, ("settings",))
    except IntegrityFailure:  # a trail that does not end as recorded: left to the command's own checks, as models
        changed = None
    if changed:
        raise IntegrityFailure(
            "the hub's settings are not as triage left them (a row was changed, added or removed outside triage); "
            "nothing was shown or written",
            hint="restore the hub's database from a copy you trust",
        )
    may_write = hub.may("settings", "INSERT", "UPDATE")
    recorded = _key_home_recorded(hub)
    if recorded is not None and restored_because is None:  # most commands: checked without waiting on the trail
        if hub.keys.trail_mark(recorded[0]) != recorded:
            raise _older_key_home(hub, recorded[0])
        if not may_write or hub.keys.trail_mark() == recorded:
            return KeyHomeSeen(recorded[0], recorded[0], False)
    elif recorded is None and not may_write:  # an importer's command records it first
        return KeyHomeSeen(None, None, False)
    with hub.conn.transaction():
        hub.hold_trail()  # two commands at once record the end once, and never an earlier one over a later
        recorded = _key_home_recorded(hub)
        before = recorded[0] if recorded else None
        restored = recorded is not None and hub.keys.trail_mark(recorded[0]) != recorded
        if restored and restored_because is None:
            raise _older_key_home(hub, recorded[0] if recorded else 0)
        if restored and not may_write:  # a reviewer's login cannot record it: the hub's owner or an importer does
            raise UsageError("recording a restored key home needs the hub's importer or owner login")
        end = hub.keys.trail_mark()  # read under the lock: what another command recorded meanwhile is seen above
        assert end is not None  # a key home is made with its first event
        if not may_write or (recorded is not None and not restored and end[0] <= recorded[0]):
            return KeyHomeSeen(before, before, False)
        value = {"seq": end[0], "event": end[1], "tag": hub.blind(KEY_HOME_SETTING, f"{end[0]}:{end[1]}")}
        hub.conn.execute(
            "INSERT INTO settings (name, value) VALUES (%s, %s::jsonb) "
            "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            [KEY_HOME_SETTING, json.dumps(value)],
        )
        if restored:
            reason = (
                f"the key home restored: its trail no longer held event {before} as recorded; now at event {end[0]}; "
                f"{restored_because}"
            )
        elif before is None:
            reason = f"the key home's trail first recorded, at event {end[0]}"
        else:
            reason = f"the key home's trail moved from event {before} to {end[0]}"
        hub.audit("hub-keys-restored" if restored else "hub-keys", records=[f"key-home:{end[0]}"], reason=reason)
        return KeyHomeSeen(before, end[0], restored)


def _older_key_home(hub: Hub, seq: int) -> IntegrityFailure:
    return IntegrityFailure(
        f"the hub's key home {hub.keys.home} is older than this hub last saw it: its trail had reached event {seq}, "
        "which it no longer holds as it was (the folder put back from an older copy would bring back laptops "
        "untrusted and watchlist entries withdrawn since); nothing was shown or written",
        hint="put back the key folder this hub last used; if it was restored from a backup on purpose, say so with "
        f'`triage hub keys-restored --reason "..."`, then check `triage keys list --home {hub.keys.home}`',
    )


def _models_as_left(hub: Hub) -> None:
    """Refuse to search or show anything while the models table, which names the vector column of each model's
    templates, is not as triage left it: a row changed outside triage would have searches compare other templates,
    or none. A trail whose end does not fit its keyed record is left to the command's own checks, which name it
    (`audit verify` where)."""
    try:
        changed = left_as_recorded(hub, ("models",))
    except IntegrityFailure:
        return
    if changed:
        raise IntegrityFailure(
            "the hub's models table is not as triage left it (which vector column holds each model's templates, and "
            "of how many dimensions, was changed, added or removed outside triage); nothing was shown or written",
            hint="restore the hub's database from a copy you trust",
        )
    # The columns themselves, which no digest covers: one renamed and another made in its place (empty) would have
    # every search miss the arrivals held, the models' rows unchanged.
    named = {(col, f"vector({dim})") for col, dim in hub.conn.execute("SELECT col, dim FROM models")}
    held = {
        (name, kind)
        for name, kind in hub.conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'templates'::regclass "
            "AND attnum > 0 AND NOT attisdropped AND format_type(atttypid, atttypmod) LIKE 'vector%%'"
        )
    }
    if held != named:
        odd = ", ".join(sorted(f"{n} {k}" for n, k in held ^ named))
        raise IntegrityFailure(
            f"the hub's templates table does not have the vector columns its models table names ({odd}): a column was "
            "renamed, added or removed outside triage; nothing was shown or written",
            hint="restore the hub's database from a copy you trust",
        )


@contextlib.contextmanager
def _database(folder: Path, config: HubConfig, db: str | None) -> Iterator[str]:
    url = _url(config, db)
    if url:
        yield url
        return
    with server.embedded(folder) as pg:
        server.ensure_database(pg.get_uri(), config.database)
        yield pg.get_uri(config.database)


@dataclass
class Initialised:
    folder: str
    database: str
    embedded: bool
    schema_version: int
    migrations: list[str]
    models: dict[str, str]  # model id -> its vector column
    roles: dict[str, str]
    signing_key: str
    fingerprint: str
    age_recipient: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _taken_away_on_failure(folder: Path) -> Iterator[None]:
    """A hub half made (its database unreachable, say) is taken away, so that `init` can run again; the folder was
    checked empty, so everything in it is the hub's."""
    existed = folder.is_dir()
    try:
        yield
    except BaseException:
        for made in list(folder.iterdir()) if folder.is_dir() else []:
            if made.name in NEW_VOLUME:
                continue
            if made.is_dir() and not made.is_symlink():
                shutil.rmtree(made, ignore_errors=True)
            else:
                made.unlink(missing_ok=True)
        if not existed:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def init(
    folder: Path,
    passphrase: str,
    *,
    officer: str,
    db: str | None,
    name: str,
    force_code: str,
    matcher: str,
    training: bool = False,
) -> Initialised:
    """Make a hub, in a new or empty folder: its key home (keys, data key), its database schema, its vector columns
    and its roles."""
    from triage.exchange import keys as batch_keys

    server.require()
    folder = Path(folder)
    if (folder / HUB_FILE).exists():
        raise Conflict(f"a hub already exists at {folder}; it is never overwritten")
    apart(folder, "hub")
    with _taken_away_on_failure(folder):
        make_home(folder)
        url = _url(HubConfig(EMBEDDED_DATABASE, None, ""), db)
        database = EMBEDDED_DATABASE
        if url:
            pg = server.psycopg()
            try:
                database = server.check_database(pg.conninfo.conninfo_to_dict(url).get("dbname") or "")
            except pg.ProgrammingError:
                raise BadInput(f"--db: {url!r} is not a PostgreSQL connection URL") from None
        config = HubConfig(database, db, utcnow())
        store = Store.create(
            folder / KEYS,
            passphrase,
            Config(site=name, force_code=force_code, officer=officer, matcher=matcher, training=training),
            key_home=True,  # the one home a hub's folder holds
        )
        try:
            laptop = batch_keys.own(store, officer=officer)
            with store.transaction():
                store.insert(
                    "laptop_keys",
                    {"name": DATA_KEY, "public": "", "created_at": utcnow()},
                    {"private": crypto.new_data_key().hex()},
                )
                store.audit("hub-init", officer, records=["laptop_keys:hub-data"], reason=f"hub database {database}")
            dims = model_dims(store)
        finally:
            store.close()
        write_private(folder / HUB_FILE, config.to_json().encode())
        with opened(folder, passphrase, officer, db=db, models=False) as hub:
            roles = schema.create_roles(hub.conn, database)
            with hub.conn.transaction():  # the models' rows, and the event that sums them
                added = schema.ensure_models(hub.conn, dims)
                hub.audit(
                    "hub-init", records=[f"model:{m}" for m in added], reason=f"roles {', '.join(roles.values())}"
                )
            return Initialised(
                folder=str(folder),
                database=database,
                embedded=url is None,
                schema_version=schema.version(hub.conn),
                migrations=[n for _, n, _ in schema.MIGRATIONS],
                models=schema.columns(hub.conn),
                roles=roles,
                signing_key=batch_keys.encode_signing_key(laptop.signing_public),
                fingerprint=batch_keys.fingerprint(laptop.signing_public),
                age_recipient=laptop.recipient,
            )
