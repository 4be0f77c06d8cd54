"""The hub's tables, brought up to date by numbered migrations recorded in the database itself, and the three
PostgreSQL roles that divide the work: importers load batches, reviewers decide candidates, analysts read.

Each migration runs once, in a transaction of its own, and is recorded in `hub_migrations` with its number and
name, so a hub made by an older triage is brought forward by the next command and a newer one is refused. A
migration may have a step in Python that needs the hub's key (m002 gives every row its keyed tag); it runs in
the same transaction, after the migration's SQL.
Templates live in one vector column per model (`models` names the column of each), each with an HNSW index for
L2 distance. The roles are group roles without login, named after the database (`<db>_importer`,
`<db>_reviewer`, `<db>_analyst`), so one server can hold several hubs; the server's administrator grants them
to the officers' own logins. No role but the owner may change or delete the audit trail or a decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from triage.errors import IntegrityFailure, UsageError

ROLES = ("importer", "reviewer", "analyst")

M001 = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE settings (name text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE batches (
    sha256 text PRIMARY KEY, file text NOT NULL, device text NOT NULL, signer text NOT NULL, day date NOT NULL,
    site text, training boolean NOT NULL, exported_at text, exported_by text, arrivals integer NOT NULL,
    new_arrivals integer NOT NULL, imported_at timestamptz NOT NULL DEFAULT now(), officer text NOT NULL
);
CREATE TABLE devices (device text PRIMARY KEY, signer text NOT NULL, first_batch text NOT NULL REFERENCES batches);
CREATE TABLE arrivals (
    id bigserial PRIMARY KEY, key text NOT NULL UNIQUE, device text NOT NULL, arrival_id text NOT NULL,
    site text, landed_day date NOT NULL, landed_at text NOT NULL, batch text NOT NULL REFERENCES batches,
    voided boolean NOT NULL DEFAULT false, sealed bytea NOT NULL
);
CREATE INDEX arrivals_site_day ON arrivals (landed_day, site);
CREATE INDEX arrivals_arrival_id ON arrivals (arrival_id);
CREATE TABLE portraits (arrival bigint PRIMARY KEY REFERENCES arrivals, sealed bytea NOT NULL);
CREATE TABLE models (model_id text PRIMARY KEY, col text NOT NULL UNIQUE, dim integer NOT NULL);
CREATE TABLE templates (arrival bigint PRIMARY KEY REFERENCES arrivals);
CREATE TABLE corrections (key text PRIMARY KEY, arrival bigint NOT NULL REFERENCES arrivals, kind text NOT NULL,
    batch text NOT NULL REFERENCES batches, sealed bytea NOT NULL);
CREATE TABLE name_keys (arrival bigint NOT NULL REFERENCES arrivals, part smallint NOT NULL, blind text NOT NULL,
    PRIMARY KEY (arrival, part, blind));
CREATE INDEX name_keys_blind ON name_keys (blind);
CREATE TABLE laptop_alerts (
    id bigserial PRIMARY KEY, arrival bigint NOT NULL REFERENCES arrivals, ref text NOT NULL,
    distance double precision, threshold double precision, watchlist_version integer, laptop text NOT NULL,
    decided boolean NOT NULL, sealed bytea NOT NULL, UNIQUE (arrival, ref)
);
CREATE TABLE candidates (
    id bigserial PRIMARY KEY, arrival bigint NOT NULL REFERENCES arrivals, kind text NOT NULL, ref text NOT NULL,
    other bigint REFERENCES arrivals, distance double precision, threshold double precision,
    found_at timestamptz NOT NULL DEFAULT now(), matched text,
    CHECK (kind IN ('arrival', 'watchlist', 'biographic')), UNIQUE (arrival, kind, ref)
);
CREATE INDEX candidates_other ON candidates (other);
CREATE TABLE decisions (
    id bigserial PRIMARY KEY, candidate bigint NOT NULL UNIQUE REFERENCES candidates, decision text NOT NULL,
    officer text NOT NULL, db_user text NOT NULL DEFAULT current_user, at timestamptz NOT NULL DEFAULT now(),
    sealed bytea NOT NULL
);
CREATE TABLE identifiers (
    id bigserial PRIMARY KEY, arrival bigint NOT NULL REFERENCES arrivals, kind text NOT NULL, blind text NOT NULL,
    source text NOT NULL, sealed bytea NOT NULL
);
CREATE INDEX identifiers_blind ON identifiers (kind, blind);
CREATE INDEX identifiers_arrival ON identifiers (arrival);
CREATE TABLE groups (
    id bigserial PRIMARY KEY, key text NOT NULL UNIQUE, device text NOT NULL, ref text NOT NULL,
    batch text NOT NULL REFERENCES batches, sealed bytea NOT NULL
);
CREATE INDEX groups_ref ON groups (ref);
CREATE TABLE group_identifiers (grp bigint NOT NULL REFERENCES groups, kind text NOT NULL, blind text NOT NULL,
    PRIMARY KEY (grp, kind, blind));
CREATE TABLE group_links (
    id bigserial PRIMARY KEY, key text NOT NULL UNIQUE, grp bigint NOT NULL REFERENCES groups,
    arrival bigint NOT NULL REFERENCES arrivals, supersedes text, sealed bytea NOT NULL
);
CREATE TABLE audit (
    seq bigint PRIMARY KEY, at text NOT NULL, officer text NOT NULL,
    db_user text NOT NULL DEFAULT current_user, action text NOT NULL, records jsonb NOT NULL,
    reason bytea, prev_hash text, hash text NOT NULL
);
CREATE TABLE audit_head (
    id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL, mac text NOT NULL
);
"""

# Every row that officers act on gets a keyed tag (triage/hub/rows.py), given to the rows already held by the
# migration's step, in its transaction; a voided arrival is found by an index of its own, and a decision's audit
# event by the candidates it names.
M002 = """
ALTER TABLE arrivals ADD COLUMN mac text;
ALTER TABLE candidates ADD COLUMN mac text;
ALTER TABLE decisions ADD COLUMN mac text;
ALTER TABLE laptop_alerts ADD COLUMN mac text;
ALTER TABLE corrections ADD COLUMN mac text;
ALTER TABLE name_keys ADD COLUMN mac text;
ALTER TABLE identifiers ADD COLUMN mac text;
ALTER TABLE groups ADD COLUMN mac text;
ALTER TABLE group_identifiers ADD COLUMN mac text;
ALTER TABLE group_links ADD COLUMN mac text;
CREATE INDEX arrivals_voided ON arrivals (id) WHERE voided;
CREATE INDEX audit_review ON audit USING gin (records) WHERE action = 'review';
"""

MIGRATIONS: Sequence[tuple[int, str, str]] = ((1, "m001_hub", M001), (2, "m002_row_macs", M002))
LATEST = MIGRATIONS[-1][0]
# A migration's step in Python: (connection, whether the hub held a schema before this command), run after its SQL.
Step = Callable[[Any, bool], None]
_NEEDS_STEP = frozenset({2})  # the migrations that have one

# What each role may do, table by table (the audit trail: insert and read only, for everyone).
_WRITES = {
    "importer": (
        "batches",
        "devices",
        "arrivals",
        "portraits",
        "templates",
        "corrections",
        "name_keys",
        "laptop_alerts",
        "candidates",
        "identifiers",
        "groups",
        "group_identifiers",
        "group_links",
    ),
    "reviewer": ("decisions",),
    "analyst": (),
}


def role_names(database: str) -> dict[str, str]:
    return {role: f"{database}_{role}" for role in ROLES}


def migrate(conn: Any, steps: Mapping[int, Step] | None = None) -> list[str]:
    """Bring the schema up to date; the names of the migrations applied now. A schema already up to date is only
    read, so a reviewer's or analyst's login, which may create nothing, opens the hub too. `steps` holds the
    Python step of each migration that has one (by number): a migration that has one is not applied without it."""
    exists = conn.execute("SELECT to_regclass('hub_migrations') IS NOT NULL").fetchone()[0]
    done = {v for (v,) in conn.execute("SELECT version FROM hub_migrations")} if exists else set()
    _not_newer(done)
    if done and max(done) >= LATEST:
        return []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7411)")  # two first commands at once migrate once
        conn.execute(
            "CREATE TABLE IF NOT EXISTS hub_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {v for (v,) in conn.execute("SELECT version FROM hub_migrations")}
    upgrading = bool(done)
    applied = []
    for version, name, sql in MIGRATIONS:
        if version in done:
            continue
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(7411)")
            if conn.execute("SELECT 1 FROM hub_migrations WHERE version = %s", [version]).fetchone():
                continue
            try:
                conn.execute(sql)
            except Exception as e:
                if "permission denied" in str(e) or "must be" in str(e):
                    raise UsageError(
                        f"migration {name} needs more rights on the hub's database ({str(e).splitlines()[0]}): "
                        "a superuser runs `CREATE EXTENSION vector` in it, and the hub's owner runs `triage hub init` "
                        "(for a hub made by an older triage, any hub command, once)"
                    ) from None
                raise
            if version in _NEEDS_STEP:
                if steps is None or version not in steps:
                    raise UsageError(f"migration {name} needs the hub's key: open the hub with triage to apply it")
                steps[version](conn, upgrading)
            conn.execute("INSERT INTO hub_migrations (version, name) VALUES (%s, %s)", [version, name])
            applied.append(name)
    return applied


def _not_newer(done: set[int]) -> None:
    if done and max(done) > LATEST:
        raise IntegrityFailure(
            f"the hub's database is at schema version {max(done)}, newer than this triage knows ({LATEST}): "
            "upgrade triage on this machine"
        )


def version(conn: Any) -> int:
    row = conn.execute("SELECT max(version) FROM hub_migrations").fetchone()
    return int(row[0] or 0)


def ensure_models(conn: Any, dims: dict[str, int]) -> list[str]:
    """A vector column and its HNSW index for each model (id -> dimensions) the hub searches with."""
    added = []
    with conn.transaction():
        have = {m: (c, d) for m, c, d in conn.execute("SELECT model_id, col, dim FROM models")}
        for model_id, dim in dims.items():
            if model_id in have:
                if have[model_id][1] != dim:
                    raise IntegrityFailure(
                        f"model {model_id} has {have[model_id][1]} dimensions in the hub, not {dim}: "
                        "a model file was replaced"
                    )
                continue
            col = f"v{len(have) + 1}"
            conn.execute(f"ALTER TABLE templates ADD COLUMN {col} vector({int(dim)})")
            conn.execute(f"CREATE INDEX templates_{col}_hnsw ON templates USING hnsw ({col} vector_l2_ops)")
            conn.execute("INSERT INTO models (model_id, col, dim) VALUES (%s, %s, %s)", [model_id, col, dim])
            have[model_id] = (col, dim)
            added.append(model_id)
    return added


def columns(conn: Any) -> dict[str, str]:
    """model id -> its vector column."""
    return {m: c for m, c in conn.execute("SELECT model_id, col FROM models")}


def create_roles(conn: Any, database: str) -> dict[str, str]:
    """The three group roles and their grants (again when they exist: grants on tables added since)."""
    names = role_names(database)
    tables = [t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    with conn.transaction():
        for role, name in names.items():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE ROLE "{name}" NOLOGIN')
            conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{name}"')
            conn.execute(f'GRANT USAGE ON SCHEMA public TO "{name}"')
            conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{name}"')
            if role != "analyst":
                conn.execute(f'GRANT INSERT ON audit TO "{name}"')
                conn.execute(f'GRANT INSERT, UPDATE ON audit_head TO "{name}"')
                conn.execute(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{name}"')
            for table in _WRITES[role]:
                if table in tables:
                    conn.execute(f'GRANT INSERT, UPDATE ON "{table}" TO "{name}"')
            conn.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON audit, decisions FROM "{name}"')
    return names
