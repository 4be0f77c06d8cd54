"""The hub's tables, brought up to date by numbered migrations recorded in the database itself, and the three
PostgreSQL roles that divide the work: importers load batches, reviewers decide candidates, analysts read.

Each migration runs once, in a transaction of its own, and is recorded in `hub_migrations` with its number and
name, so a hub made by an older triage is brought forward by the next command and a newer one is refused. A
migration may have a step in Python that needs the hub's key (m002 gives every row its keyed tag, m004 sums the
tables into the audit trail's keyed end, m009 three more); it runs in the same transaction, after the migration's
SQL. The record of migrations is checked for gaps, and an upgrade that takes rows as they stand runs only on a hub
whose trail ends as an older triage left it, so setting `hub_migrations` back does not have rows tagged or summed
again.
Templates live in one vector column per model (`models` names the column of each), each with an HNSW index for
L2 distance. The roles are group roles without login, named after the database (`<db>_importer`,
`<db>_reviewer`, `<db>_analyst`), so one server can hold several hubs; the server's administrator grants them
to the officers' own logins. No role but the owner may change or delete the audit trail or delete a decision;
reviewers record decisions, and importers those laptops took (replacing one a laptop took with a later one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from triage.errors import IntegrityFailure, UsageError
from triage.hub import rows

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

# Importers keep the hub's settings (which watchlist subjects every arrival held was searched against,
# triage/hub/subjects.py): granted here on a hub whose roles exist already, and by create_roles on a new one.
M003 = """
DO $$
DECLARE importer text := current_database() || '_importer';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = importer) THEN
        EXECUTE format('GRANT INSERT, UPDATE ON settings TO %I', importer);
    END IF;
END $$;
"""

# The keyed record of the audit trail's end keeps a digest of every table officers rely on as a whole
# (triage/hub/rows.py): a trigger notes each row a triage session inserts, changes or deletes, in a temporary table
# of that session's own (a session that has none, such as an administrator's, is not noted, and what it changes
# no longer sums to the digests), and the audit event that ends the transaction adds the changes in. The step
# sums the rows held now.
_NOTED = (  # (table, what a row adds: its number and tag, its tag, or the hash of its content)
    ("arrivals", "id"),
    ("candidates", "id"),
    ("decisions", "id"),
    ("laptop_alerts", "id"),
    ("corrections", "tag"),
    ("name_keys", "tag"),
    ("identifiers", "id"),
    ("groups", "id"),
    ("group_identifiers", "tag"),
    ("group_links", "id"),
    ("templates", "row"),
    ("devices", "row"),
    ("settings", "row"),
)
_OLD, _NEW = rows.ROW_HASH.format(r="OLD"), rows.ROW_HASH.format(r="NEW")
_NOTE_CHANGE = f"""
BEGIN
    IF to_regclass('pg_temp.hub_changes') IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        IF TG_ARGV[0] = 'id' THEN
            INSERT INTO pg_temp.hub_changes VALUES (TG_TABLE_NAME, -1, OLD.id::text || ':' || OLD.mac);
        ELSIF TG_ARGV[0] = 'tag' THEN
            INSERT INTO pg_temp.hub_changes VALUES (TG_TABLE_NAME, -1, OLD.mac);
        ELSE
            INSERT INTO pg_temp.hub_changes VALUES (TG_TABLE_NAME, -1, {_OLD});
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF TG_ARGV[0] = 'id' THEN
            INSERT INTO pg_temp.hub_changes VALUES (TG_TABLE_NAME, 1, NEW.id::text || ':' || NEW.mac);
        ELSIF TG_ARGV[0] = 'tag' THEN
            INSERT INTO pg_temp.hub_changes VALUES (TG_TABLE_NAME, 1, NEW.mac);
        ELSE
            INSERT INTO pg_temp.hub_changes VALUES (TG_TABLE_NAME, 1, {_NEW});
        END IF;
    END IF;
    RETURN NULL;
END """
M004 = (
    "ALTER TABLE audit_head ADD COLUMN digests jsonb;\n"
    f"CREATE FUNCTION hub_note_change() RETURNS trigger LANGUAGE plpgsql AS $${_NOTE_CHANGE}$$;\n"
) + "".join(
    f"CREATE TRIGGER {table}_noted AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
    f"EXECUTE FUNCTION hub_note_change('{how}');\n"
    for table, how in _NOTED
)

# HNSW links per node: at 1,000,000 arrivals pgvector's default of 16 left recall@10 at 0.978 whatever the search
# width; 24 gives 0.995 at the hub's ef_search (benchmarks/hub_scale.py), at the cost of a larger, slower-built index.
HNSW_M = 24


def hnsw_index(col: str) -> str:
    return f"CREATE INDEX templates_{col}_hnsw ON templates USING hnsw ({col} vector_l2_ops) WITH (m = {HNSW_M})"


# Every model's index built again with HNSW_M links (a hub made before then was built with 16); and the grants an
# importer needs to amend or void an arrival (its templates, name keys and identifiers are made again) and an
# analyst needs for its reads to be audited, which hubs made before then lacked.
M005 = f"""
SET LOCAL maintenance_work_mem = '1GB';
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT col FROM models ORDER BY col LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I', 'templates_' || r.col || '_hnsw');
        EXECUTE format('CREATE INDEX %I ON templates USING hnsw (%I vector_l2_ops) WITH (m = {HNSW_M})',
                       'templates_' || r.col || '_hnsw', r.col);
    END LOOP;
END $$;
DO $$
DECLARE
    importer text := current_database() || '_importer';
    analyst text := current_database() || '_analyst';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = importer) THEN
        EXECUTE format('GRANT DELETE ON templates, name_keys, identifiers TO %I', importer);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = analyst) THEN
        EXECUTE format('GRANT INSERT ON audit TO %I', analyst);
        EXECUTE format('GRANT INSERT, UPDATE ON audit_head TO %I', analyst);
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %I', analyst);
    END IF;
END $$;
"""

# Every review of a laptop's watchlist alert that a batch brings (the laptop's own, and the decisions other laptops
# took on the arrivals they received from it), kept under its own key whether or not the hub holds the alert yet, so
# that the alert is decided whenever it arrives (triage/hub/imports.py); tagged and summed like the tables above. A
# hub whose record of migrations was set back to before its tags may hold the table already, without them.
M006 = """
CREATE TABLE IF NOT EXISTS alert_reviews (
    key text PRIMARY KEY, arrival text NOT NULL, ref text NOT NULL, supersedes text,
    batch text NOT NULL REFERENCES batches, sealed bytea NOT NULL
);
ALTER TABLE alert_reviews ADD COLUMN IF NOT EXISTS mac text;
CREATE INDEX IF NOT EXISTS alert_reviews_alert ON alert_reviews (arrival, ref);
DROP TRIGGER IF EXISTS alert_reviews_noted ON alert_reviews;
CREATE TRIGGER alert_reviews_noted AFTER INSERT OR UPDATE OR DELETE ON alert_reviews FOR EACH ROW
    EXECUTE FUNCTION hub_note_change('tag');
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['importer', 'reviewer', 'analyst'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_database() || '_' || r) THEN
            EXECUTE format('GRANT SELECT ON alert_reviews TO %I', current_database() || '_' || r);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_database() || '_importer') THEN
        EXECUTE format('GRANT INSERT, UPDATE ON alert_reviews TO %I', current_database() || '_importer');
    END IF;
END $$;
"""

# Every decision a batch brings on a pair of arrivals (a repeat arrival: a laptop's on its own arrivals, and those a
# supervisor took on arrivals received from laptops), kept under its own key whether or not the hub holds both
# arrivals yet, so that the hub's candidates of the pair are decided whenever both are held (triage/hub/imports.py).
# The importer records such a decision on the hub's candidates, and replaces one with a later one from a laptop.
# As with M006, a hub whose record of migrations was set back may hold the table already, without its tags.
M007 = """
CREATE TABLE IF NOT EXISTS pair_reviews (
    key text PRIMARY KEY, arrival text NOT NULL, other text NOT NULL, supersedes text,
    batch text NOT NULL REFERENCES batches, sealed bytea NOT NULL
);
ALTER TABLE pair_reviews ADD COLUMN IF NOT EXISTS mac text;
CREATE INDEX IF NOT EXISTS pair_reviews_arrival ON pair_reviews (arrival);
CREATE INDEX IF NOT EXISTS pair_reviews_other ON pair_reviews (other);
DROP TRIGGER IF EXISTS pair_reviews_noted ON pair_reviews;
CREATE TRIGGER pair_reviews_noted AFTER INSERT OR UPDATE OR DELETE ON pair_reviews FOR EACH ROW
    EXECUTE FUNCTION hub_note_change('tag');
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['importer', 'reviewer', 'analyst'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_database() || '_' || r) THEN
            EXECUTE format('GRANT SELECT ON pair_reviews TO %I', current_database() || '_' || r);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_database() || '_importer') THEN
        EXECUTE format('GRANT INSERT, UPDATE ON pair_reviews, decisions TO %I', current_database() || '_importer');
    END IF;
END $$;
"""

# A reviewer corrects a decision taken at the hub (`hub review --correct`): the decision's rows are rewritten, the
# one they replace kept in their sealed part and the trail. Reviewers could insert decisions only until then.
M008 = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_database() || '_reviewer') THEN
        EXECUTE format('GRANT UPDATE ON decisions TO %I', current_database() || '_reviewer');
    END IF;
END $$;
"""

# The record of the batches imported (that a batch was, and its file's name), the arrivals' portraits and which vector
# column holds each model's templates are summed into the trail's keyed end like the templates (triage/hub/rows.py):
# a batch's row deleted let it load again, and a models row changed made searches compare other templates or none.
# The step sums the rows held now. A hub whose record of migrations was set back may hold the triggers already.
WHOLE = ("batches", "portraits", "models")
M009 = "".join(
    f"DROP TRIGGER IF EXISTS {table}_noted ON {table};\n"
    f"CREATE TRIGGER {table}_noted AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
    "EXECUTE FUNCTION hub_note_change('row');\n"
    for table in WHOLE
)

MIGRATIONS: Sequence[tuple[int, str, str]] = (
    (1, "m001_hub", M001),
    (2, "m002_row_macs", M002),
    (3, "m003_importer_settings", M003),
    (4, "m004_row_digests", M004),
    (5, "m005_hnsw_links", M005),
    (6, "m006_alert_reviews", M006),
    (7, "m007_pair_reviews", M007),
    (8, "m008_corrected_decisions", M008),
    (9, "m009_whole_tables", M009),
)
LATEST = MIGRATIONS[-1][0]
DIGESTS_FROM = 4  # the schema from which the trail's end keeps the tables' digests
# A migration's step in Python: (connection, whether the hub held a schema before this command), run after its SQL.
Step = Callable[[Any, bool], None]
_NEEDS_STEP = frozenset({2, 4, 9})  # the migrations that have one

# What each role may do, table by table (the audit trail: insert and read only, for everyone).
_WRITES = {
    "importer": (
        "settings",
        "batches",
        "devices",
        "arrivals",
        "portraits",
        "templates",
        "corrections",
        "name_keys",
        "laptop_alerts",
        "alert_reviews",
        "pair_reviews",
        "candidates",
        "decisions",
        "identifiers",
        "groups",
        "group_identifiers",
        "group_links",
    ),
    "reviewer": ("decisions",),
    "analyst": (),
}
# Rows an import replaces whole when a laptop amends or voids an arrival.
_DELETES = {"importer": ("templates", "name_keys", "identifiers"), "reviewer": (), "analyst": ()}


def role_names(database: str) -> dict[str, str]:
    return {role: f"{database}_{role}" for role in ROLES}


def migrate(conn: Any, steps: Mapping[int, Step] | None = None) -> list[str]:
    """Bring the schema up to date; the names of the migrations applied now. A schema already up to date is only
    read, so a reviewer's or analyst's login, which may create nothing, opens the hub too. `steps` holds the
    Python step of each migration that has one (by number): a migration that has one is not applied without it."""
    exists = conn.execute("SELECT to_regclass('hub_migrations') IS NOT NULL").fetchone()[0]
    done = {v for (v,) in conn.execute("SELECT version FROM hub_migrations")} if exists else set()
    _not_newer(done)
    _unbroken(done)
    if done >= {v for v, _, _ in MIGRATIONS}:
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


_HUB_TABLES = (
    "hub_migrations",
    "settings",
    "batches",
    "devices",
    "arrivals",
    "portraits",
    "models",
    "templates",
    "corrections",
    "name_keys",
    "laptop_alerts",
    "alert_reviews",
    "pair_reviews",
    "candidates",
    "decisions",
    "identifiers",
    "groups",
    "group_identifiers",
    "group_links",
    "audit",
    "audit_head",
)


def foreign_code(conn: Any) -> list[str]:
    """What the hub's database would run inside triage's own transactions that triage did not put there: triggers
    and rules on its tables, row security, views in its schema, the noting function changed; and code a table's
    column defaults, check constraints or indexes call (a function, operator, type or operator class of anyone's
    but the server's own and its extensions'), or a foreign key that deletes or changes rows when triage deletes
    or changes others (ON DELETE CASCADE). Such code could change rows while triage writes, and the audit event
    that ends the transaction would then vouch for the change."""
    found = conn.execute(
        "WITH hub AS (SELECT c.* FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(%s)), "
        "owned AS (SELECT 'pg_class'::regclass AS classid, oid AS objid, relname FROM hub "
        "UNION ALL SELECT 'pg_attrdef'::regclass, d.oid, c.relname FROM pg_attrdef d JOIN hub c ON c.oid = d.adrelid "
        "UNION ALL SELECT 'pg_constraint'::regclass, k.oid, c.relname FROM pg_constraint k JOIN hub c "
        "ON c.oid = k.conrelid "
        "UNION ALL SELECT 'pg_class'::regclass, i.indexrelid, c.relname FROM pg_index i JOIN hub c ON c.oid = i.indrelid) "
        "SELECT 'trigger ' || t.tgname || ' on ' || c.relname FROM pg_trigger t JOIN hub c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND NOT (t.tgname = c.relname || '_noted' "
        "AND t.tgfoid = to_regproc('public.hub_note_change')) "
        "UNION ALL SELECT 'rule ' || r.rulename || ' on ' || c.relname FROM pg_rewrite r JOIN hub c ON c.oid = r.ev_class "
        "UNION ALL SELECT 'row security on ' || relname FROM hub WHERE relrowsecurity "
        "UNION ALL SELECT relname || ', not a plain table' FROM hub WHERE relkind <> 'r' "
        "UNION ALL SELECT 'function hub_note_change changed' FROM pg_proc "
        "WHERE oid = to_regproc('public.hub_note_change') AND (prosrc <> %s OR prosecdef OR proconfig IS NOT NULL) "
        "UNION ALL SELECT DISTINCT (pg_identify_object(d.refclassid, d.refobjid, 0)).type || ' ' "
        "|| (pg_identify_object(d.refclassid, d.refobjid, 0)).identity || ' used by ' || o.relname "
        "FROM pg_depend d JOIN owned o ON o.classid = d.classid AND o.objid = d.objid "
        "WHERE d.refclassid NOT IN ('pg_class'::regclass, 'pg_constraint'::regclass, 'pg_namespace'::regclass) "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.refclassid AND e.objid = d.refobjid "
        "AND e.deptype = 'e') "
        "UNION ALL SELECT 'foreign key ' || k.conname || ' on ' || k.conrelid::regclass::text || ' changes rows' "
        "FROM pg_constraint k WHERE k.contype = 'f' AND (k.conrelid IN (SELECT oid FROM hub) "
        "OR k.confrelid IN (SELECT oid FROM hub)) AND (k.confdeltype NOT IN ('a', 'r') "
        "OR k.confupdtype NOT IN ('a', 'r')) "
        "ORDER BY 1",
        [list(_HUB_TABLES), _NOTE_CHANGE],
    ).fetchall()
    return [str(r[0]) for r in found]


def _unbroken(done: set[int]) -> None:
    """Migrations are applied in order, each once: a hub's record of them has no gap."""
    missing = sorted(set(range(1, max(done, default=0) + 1)) - done)
    if missing:
        raise IntegrityFailure(
            f"the hub's hub_migrations table records migration {max(done)} but not {missing[0]}, which comes before "
            "it: it was changed outside triage",
            hint="restore the hub's database from a copy you trust",
        )


def _not_newer(done: set[int]) -> None:
    if done and max(done) > LATEST:
        raise IntegrityFailure(
            f"the hub's database is at schema version {max(done)}, newer than this triage knows ({LATEST}): "
            "upgrade triage on this machine"
        )


def version(conn: Any) -> int:
    row = conn.execute("SELECT max(version) FROM hub_migrations").fetchone()
    return int(row[0] or 0)


def ensure_models(conn: Any, dims: dict[str, int], audit: Callable[[list[str]], None] | None = None) -> list[str]:
    """A vector column and its HNSW index for each model (id -> dimensions) the hub searches with. `audit` records
    the models added in the same transaction, whose audit event sums their rows (the caller's, when it holds one)."""
    added = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7411)")  # two first commands at once add each column once
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
            conn.execute(hnsw_index(col))
            conn.execute("INSERT INTO models (model_id, col, dim) VALUES (%s, %s, %s)", [model_id, col, dim])
            have[model_id] = (col, dim)
            added.append(model_id)
        if added and audit is not None:
            audit(added)
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
            conn.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{name}"')
            conn.execute(f'GRANT USAGE ON SCHEMA public TO "{name}"')
            conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{name}"')
            conn.execute(f'GRANT INSERT ON audit TO "{name}"')  # every role's reads and writes are audited
            conn.execute(f'GRANT INSERT, UPDATE ON audit_head TO "{name}"')
            conn.execute(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{name}"')
            for table in _WRITES[role]:
                if table in tables:
                    conn.execute(f'GRANT INSERT, UPDATE ON "{table}" TO "{name}"')
            for table in _DELETES[role]:
                conn.execute(f'GRANT DELETE ON "{table}" TO "{name}"')
            conn.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON audit FROM "{name}"')
            # An importer replaces a decision a laptop took with a later one from a laptop, and a reviewer corrects
            # one (M008); nobody deletes one.
            changes = "DELETE, TRUNCATE" if role in ("importer", "reviewer") else "UPDATE, DELETE, TRUNCATE"
            conn.execute(f'REVOKE {changes} ON decisions FROM "{name}"')
    return names
