"""The store's schema, built in numbered steps that run in the order of their numbers.

sqlite-utils applies each pending step in a transaction together with the record of its name, so a step
runs once per home and an interrupted upgrade resumes where it stopped. Open a home through `upgrade`:
it first records, under today's names, the steps a home recorded under the first release's names (which
did not follow the order the steps run in), so such a home neither runs a step again nor skips one.

Columns in clear hold only what is needed to find and order records (ids, times, site, vessel,
category, flags, scores, keyed hashes). Everything personal or biometric lives in `sealed` or `data`
BLOBs that the store encrypts under the home's data key. Every row also carries a version and a tag
(tags.py): a step that writes rows into a tagged table of an existing home must leave them for the store
to tag (it tags a home's rows again only when it first adopts tags), and a new table needs `ver` and
`tag` columns.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from triage.errors import IntegrityFailure

migrations = Migrations("triage")

# What the first release recorded for the steps below, and their names now (m001_initial kept its name).
FIRST_RELEASE_NAMES = {
    "m008_retention": "m002_retention",
    "m005_draft_outcomes": "m003_draft_outcomes",
    "m006_batches_and_keys": "m004_batches_and_keys",
    "m004_template_blocks": "m005_template_blocks",
    "m010_debriefs_crime_groups_referrals": "m006_debriefs_crime_groups_referrals",
    "m009_matchers": "m007_matchers",
    "m011_audit_head": "m008_audit_head",
    "m012_batch_audit_end": "m009_batch_audit_end",
}


def upgrade(db: Database) -> None:
    """Bring a home's schema up to date: the record of the steps it ran under their first-release names
    is renamed in one transaction, then every step not yet applied runs, in order. A home records the first
    steps of this version's, in order, and nothing else: a record of steps with one missing (which would run it
    again over what it made) or one this version does not have is refused."""
    _rename_first_release_steps(db)
    _check_record(db)
    if not migrations.pending(db):
        return
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")  # another process upgrading at once waits, then finds the steps done
    try:
        _check_record(db)
        migrations.apply(db)  # each step in a savepoint of this transaction
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_record(db: Database) -> None:
    recorded = set(applied(db))
    order = [m.name for m in migrations._migrations]
    unknown = sorted(recorded - set(order))
    if unknown:
        raise IntegrityFailure(
            f"the store records schema step {unknown[0]}, which this version of triage does not have: the home was "
            "made by a newer triage, or its record of steps was changed outside triage",
            hint="open it with the version that made it, or restore the home from a backup",
        )
    missing = [name for name in order[: len(recorded)] if name not in recorded]
    if missing:
        raise IntegrityFailure(
            f"the store's record of its schema steps lacks {missing[0]}, though later steps are recorded: it was "
            "changed outside triage",
            hint="restore the home from a backup",
        )


def applied(db: Database) -> list[str]:
    """The names of the steps this home records as applied."""
    if not db.table(Migrations.migrations_table).exists():
        return []
    sql = f"SELECT name FROM [{Migrations.migrations_table}] WHERE migration_set = ? ORDER BY name"
    return [r[0] for r in db.execute(sql, [migrations.name])]


def known() -> set[str]:
    """The names of every step this version has."""
    return {m.name for m in migrations._migrations}


def _rename_first_release_steps(db: Database) -> None:
    table = Migrations.migrations_table
    if not db.table(table).exists():
        return
    old = list(FIRST_RELEASE_NAMES)
    found = db.execute(
        f"SELECT count(*) FROM [{table}] WHERE migration_set = ? AND name IN ({','.join('?' * len(old))})",
        [migrations.name, *old],
    ).fetchone()[0]
    if not found:
        return
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")  # another process opening the home waits, then finds nothing to rename
    try:
        conn.executemany(
            f"UPDATE [{table}] SET name = ? WHERE migration_set = ? AND name = ?",
            [(new, migrations.name, name) for name, new in FIRST_RELEASE_NAMES.items()],
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@migrations()
def m001_initial(db: Database) -> None:
    db.table("keyring").create({"name": str, "wrapped": str, "created_at": str}, pk="name")
    db.table("arrivals").create(
        {
            "id": str,
            "created_at": str,
            "landed_at": str,  # UTC, ISO 8601
            "landed_day": str,  # the site's local date, for the day's batch
            "site": str,
            "vessel": str,
            "officer": str,
            "device": str,
            "safeguarding": int,
            "quality_score": float,
            "quality_override": str,
            "source_key": str,  # keyed hash of the capture's inputs: re-running a manifest adds nothing
            "origin": str,  # the device whose batch brought it here, or null when captured here
            "training": int,
            "sealed": bytes,
        },
        pk="id",
        not_null={"created_at", "landed_at", "landed_day", "site", "officer", "device", "sealed"},
    )
    db.table("arrivals").create_index(["landed_day"])
    db.table("arrivals").create_index(["vessel"])
    db.table("arrivals").create_index(["source_key"], unique=True)

    db.table("subjects").create(
        {
            "ref": str,
            "category": str,
            "added_at": str,
            "review_date": str,
            "authorised_by": str,
            "image_source": str,
            "status": str,  # active | removed
            "removed_at": str,
            "sealed": bytes,
        },
        pk="ref",
        not_null={"category", "added_at", "review_date", "authorised_by", "status"},
    )

    db.table("photos").create(
        {
            "id": int,
            "owner_kind": str,  # arrival | subject
            "owner_id": str,
            "role": str,  # original | portrait
            "media_type": str,
            "width": int,
            "height": int,
            "created_at": str,
            "data": bytes,
        },
        pk="id",
        not_null={"owner_kind", "owner_id", "role", "created_at"},
    )
    db.table("photos").create_index(["owner_kind", "owner_id"])

    db.table("templates").create(
        {
            "id": int,
            "owner_kind": str,
            "owner_id": str,
            "photo_id": int,
            "model_id": str,
            "dtype": str,
            "dim": int,
            "created_at": str,
            "data": bytes,
        },
        pk="id",
        foreign_keys=[("photo_id", "photos", "id")],
        not_null={"owner_kind", "owner_id", "model_id", "dtype", "dim", "created_at"},
    )
    db.table("templates").create_index(["model_id"])
    db.table("templates").create_index(["owner_kind", "owner_id"])

    db.table("searches").create(
        {
            "id": int,
            "arrival_id": str,
            "at": str,
            "officer": str,
            "matcher": str,
            "model_id": str,
            "threshold": float,
            "top_k": int,
            "gallery_size": int,
        },
        pk="id",
        foreign_keys=[("arrival_id", "arrivals", "id")],
    )
    db.table("candidates").create(
        {
            "id": int,
            "search_id": int,
            "arrival_id": str,
            "kind": str,  # watchlist | arrival
            "ref": str,
            "rank": int,
            "distance": float,
            "threshold": float,
            "below_threshold": int,
            "model_id": str,
        },
        pk="id",
        foreign_keys=[("search_id", "searches", "id"), ("arrival_id", "arrivals", "id")],
    )
    db.table("candidates").create_index(["arrival_id"])

    db.table("reviews").create(
        {
            "id": int,
            "arrival_id": str,
            "kind": str,
            "ref": str,
            "decision": str,  # confirmed | rejected | inconclusive
            "officer": str,
            "at": str,
            "supersedes": int,
            "sealed": bytes,  # the reason, which may name people
        },
        pk="id",
        foreign_keys=[("arrival_id", "arrivals", "id")],
    )
    db.table("reviews").create_index(["arrival_id", "kind", "ref"])

    db.table("drafts").create(
        {
            "ref": str,
            "kind": str,  # pnd-person | pnd-face | intel
            "arrival_id": str,
            "officer": str,
            "created_at": str,
            "outcome": str,
            "outcome_at": str,
            "training": int,
            "sealed": bytes,
        },
        pk="ref",
        foreign_keys=[("arrival_id", "arrivals", "id")],
    )

    db.table("tombstones").create(
        {"id": int, "kind": str, "ref": str, "at": str, "officer": str, "reason": str}, pk="id"
    )

    db.table("audit_events").create(
        {
            "seq": int,
            "at": str,
            "officer": str,
            "action": str,
            "arrival_id": str,
            "records": str,  # JSON list of record ids, never their contents
            "reason": bytes,  # sealed: an officer's reason may name people
            "prev_hash": str,
            "hash": str,
        },
        pk="seq",
        not_null={"at", "officer", "action", "prev_hash", "hash"},
    )
    db.table("audit_events").create_index(["arrival_id"])


@migrations()
def m002_retention(db: Database) -> None:
    """When an arrival's biometrics were removed under the retention policy (null while kept)."""
    db.table("arrivals").add_column("biometrics_purged_at", str)
    db.table("drafts").add_column("purged_at", str)


@migrations()
def m003_draft_outcomes(db: Database) -> None:
    """What became of each PND draft, one row per recorded outcome; a later one supersedes, none is lost.
    The result is a code in clear so supervisors can count; the officer's note is sealed."""
    db.table("draft_outcomes").create(
        {
            "id": int,
            "ref": str,
            "result": str,  # submitted | no-trace | trace | declined
            "officer": str,
            "at": str,
            "supersedes": int,
            "sealed": bytes,
        },
        pk="id",
        foreign_keys=[("ref", "drafts", "ref")],
        not_null={"ref", "result", "officer", "at"},
    )
    db.table("draft_outcomes").create_index(["ref"])


@migrations()
def m004_batches_and_keys(db: Database) -> None:
    """Keys for signed, encrypted daily batches, and the record of what merging them brought in.

    `laptop_keys` holds this home's Ed25519 signing key and age identity (private halves sealed);
    `trusted_keys` the laptops whose batches it accepts and the recipients it encrypts batches to;
    `batches` every batch imported; `merged` which local row each imported row became, so a batch
    merges idempotently and ids never collide; `origin_audit` the audit events batches carried."""
    db.table("laptop_keys").create(
        {"name": str, "public": str, "created_at": str, "sealed": bytes},
        pk="name",
        not_null={"public", "created_at", "sealed"},
    )
    db.table("trusted_keys").create(
        {
            "id": int,
            "role": str,
            "name": str,
            "public": str,
            "added_at": str,
            "officer": str,
        },  # role: signer | recipient
        pk="id",
        not_null={"role", "name", "public", "added_at", "officer"},
    )
    db.table("trusted_keys").create_index(["role", "name"], unique=True)
    db.table("trusted_keys").create_index(["role", "public"], unique=True)
    db.table("batches").create(
        {
            "sha256": str,
            "device": str,
            "signer": str,
            "day": str,
            "site": str,
            "training": int,
            "exported_at": str,
            "exported_by": str,
            "arrivals": int,
            "imported_at": str,
            "officer": str,
        },
        pk="sha256",
        not_null={"device", "signer", "day", "imported_at", "officer"},
    )
    db.table("merged").create(
        {"kind": str, "key": str, "local": str, "batch": str}, pk=("kind", "key"), not_null={"local"}
    )
    db.table("merged").create_index(["kind", "local"])
    db.table("origin_audit").create(
        {
            "id": int,
            "device": str,
            "seq": int,
            "at": str,
            "officer": str,
            "action": str,
            "arrival_id": str,
            "records": str,
            "prev_hash": str,
            "hash": str,
            "batch": str,
            "sealed": bytes,
        },
        pk="id",
        not_null={"device", "seq", "at", "officer", "action", "hash"},
    )
    db.table("origin_audit").create_index(["device", "seq"], unique=True)
    db.table("origin_audit").create_index(["arrival_id"])


# A template deleted by any code marks its block stale, so it is never searched again (steps m005 and m016).
_MARKS_BLOCK = """
        CREATE TRIGGER templates_delete_marks_block AFTER DELETE ON templates WHEN OLD.block_id IS NOT NULL
        BEGIN
            UPDATE template_sets SET seq = seq + 1 WHERE model_id = OLD.model_id AND owner_kind = OLD.owner_kind;
            UPDATE template_blocks SET stale = 1,
                seq = (SELECT seq FROM template_sets WHERE model_id = OLD.model_id AND owner_kind = OLD.owner_kind)
            WHERE id = OLD.block_id;
        END"""


@migrations()
def m005_template_blocks(db: Database) -> None:
    """Templates sealed in blocks: one AES-GCM ciphertext holds up to a thousand templates of one model and
    one kind of owner, so loading a million is a few hundred decryptions, not a million. `templates` keeps
    one clear row per template (owner, photo, model, block) for counting and deleting; its `data` stays
    null. A delete of a `templates` row marks its block stale (a trigger), so a template deleted by any
    code is never searched again and its block is rewritten without it at the next write."""
    db.table("template_sets").create({"model_id": str, "owner_kind": str, "seq": int}, pk=("model_id", "owner_kind"))
    db.table("template_blocks").create(
        {
            "id": int,
            "model_id": str,
            "owner_kind": str,
            "dim": int,
            "count": int,
            "width": int,
            "stale": int,
            "seq": int,
            "updated_at": str,
            "data": bytes,
        },
        pk="id",
        not_null={"model_id", "owner_kind", "dim", "count", "width", "stale", "seq", "data"},
    )
    db.table("template_blocks").create_index(["model_id", "owner_kind"])
    db.table("templates").add_column("block_id", int)
    db.table("templates").create_index(["block_id"])
    # Template ids are never reused, so an id in a search index or a gallery always means one template.
    db.table("sequences").create({"name": str, "value": int}, pk="name")
    db.execute("INSERT INTO sequences (name, value) SELECT 'templates', coalesce(max(id), 0) FROM templates")
    db.execute(_MARKS_BLOCK)
    # The approximate search index of a large gallery, sealed in parts (see triage/faces/ann.py).
    db.table("template_indexes").create(
        {
            "id": int,
            "model_id": str,
            "owner_kind": str,
            "part": int,
            "parts": int,
            "created_at": str,
            "templates": int,
            "max_id": int,
            "data": bytes,
        },
        pk="id",
        not_null={"model_id", "owner_kind", "part", "parts", "created_at", "templates", "max_id", "data"},
    )
    db.table("template_indexes").create_index(["model_id", "owner_kind"])
    db.table("subjects").create_index(["status", "review_date"])
    db.table("searches").add_column("method", str)  # exact | approximate


@migrations()
def m006_debriefs_crime_groups_referrals(db: Database) -> None:
    """Structured debriefs (every version kept), the local crime-group register with the links officers
    confirmed, and each arrival's referral record (every version kept).

    Equality search runs on keyed hashes (`blind`) of phone numbers, payment handles and names, never on
    their values; what a person said is sealed. Clear columns hold what is counted or queued on: versions,
    counts of declined questions and exploitation indicators, link decisions, referral steps and times."""
    db.table("debriefs").create(
        {
            "id": int,
            "arrival_id": str,
            "version": int,
            "officer": str,
            "at": str,
            "supersedes": int,
            "mode": str,
            "declined": int,
            "indicators": int,
            "sealed": bytes,
        },
        pk="id",
        foreign_keys=[("arrival_id", "arrivals", "id")],
        not_null={"arrival_id", "version", "officer", "at", "mode", "sealed"},
    )
    db.table("debriefs").create_index(["arrival_id", "version"], unique=True)
    # The phone numbers, payment handles and names of each arrival's current debrief, blinded (value sealed).
    db.table("debrief_identifiers").create(
        {"id": int, "debrief_id": int, "arrival_id": str, "kind": str, "source": str, "blind": str, "sealed": bytes},
        pk="id",
        foreign_keys=[("debrief_id", "debriefs", "id"), ("arrival_id", "arrivals", "id")],
        not_null={"debrief_id", "arrival_id", "kind", "source", "blind"},
    )
    db.table("debrief_identifiers").create_index(["kind", "blind"])
    db.table("debrief_identifiers").create_index(["arrival_id"])
    db.table("ocgs").create(
        {"ref": str, "created_at": str, "officer": str, "updated_at": str, "sealed": bytes},
        pk="ref",
        not_null={"created_at", "officer", "sealed"},
    )
    db.table("ocg_identifiers").create(
        {"id": int, "ocg_ref": str, "kind": str, "blind": str, "added_at": str, "officer": str},
        pk="id",
        foreign_keys=[("ocg_ref", "ocgs", "ref")],
        not_null={"ocg_ref", "kind", "blind", "added_at"},
    )
    db.table("ocg_identifiers").create_index(["kind", "blind"])
    db.table("ocg_identifiers").create_index(["ocg_ref", "kind", "blind"], unique=True)
    db.table("ocg_links").create(
        {
            "id": int,
            "ocg_ref": str,
            "target_kind": str,
            "target": str,
            "decision": str,
            "officer": str,
            "at": str,
            "supersedes": int,
            "sealed": bytes,
        },  # target_kind: arrival | subject; decision: linked | not-linked
        pk="id",
        foreign_keys=[("ocg_ref", "ocgs", "ref")],
        not_null={"ocg_ref", "target_kind", "target", "decision", "officer", "at", "sealed"},
    )
    db.table("ocg_links").create_index(["ocg_ref"])
    db.table("ocg_links").create_index(["target_kind", "target"])
    db.table("referrals").create(
        {
            "id": int,
            "arrival_id": str,
            "officer": str,
            "at": str,
            "supersedes": int,
            "arrival_method": str,  # small-boat | vehicle | other
            "control_unit_at": str,
            "lead_agency": str,
            "biometric_enrolment": str,  # yes | no | unknown
            "safeguarding_referral_at": str,
            "sealed": bytes,
        },
        pk="id",
        foreign_keys=[("arrival_id", "arrivals", "id")],
        not_null={"arrival_id", "officer", "at", "sealed"},
    )
    db.table("referrals").create_index(["arrival_id"])


@migrations()
def m007_matchers(db: Database) -> None:
    """Which matcher produced each candidate and, for a fused one, each model's distance (JSON, model id ->
    distance); which models a search used (JSON list). Searches before this step used dlib alone."""
    db.table("candidates").add_column("matcher", str)
    db.table("candidates").add_column("scores", str)
    db.table("searches").add_column("model_ids", str)
    db.execute("UPDATE candidates SET matcher = 'dlib' WHERE model_id = 'dlib-resnet-v1+5pt'")
    db.execute("""UPDATE searches SET model_ids = json_array(model_id) WHERE model_id IS NOT NULL""")


@migrations()
def m008_audit_head(db: Database) -> None:
    """The last audit event's number and hash, sealed under the data key (one row), rewritten with every
    event: the chain shows an edit or a deletion inside it, and this shows the loss of its end."""
    db.table("audit_head").create({"id": int, "sealed": bytes}, pk="id", not_null={"sealed"})


@migrations()
def m009_batch_audit_end(db: Database) -> None:
    """Where each imported batch's laptop said its audit trail ended (`batch.audit_end`)."""
    db.table("batches").add_column("audit_seq", int)
    db.table("batches").add_column("audit_hash", str)


@migrations()
def m010_row_tags(db: Database) -> None:
    """Every row's version and authentication tag (tags.py), on every table but those that authenticate
    themselves. The store tags existing rows when it is next unlocked, since that needs the data key."""
    untagged = {"audit_events", "audit_head", "keyring", "_sqlite_migrations", "template_blocks", "template_indexes"}
    for table in db.table_names():
        if table not in untagged and not table.startswith("sqlite_"):
            db.table(table).add_column("ver", int)
            db.table(table).add_column("tag", bytes)


@migrations()
def m011_settings(db: Database) -> None:
    """What decides how the home behaves (settings.py): training or not, the matcher, the retention policy
    and the SHA-256 of each calibration file in models/, a row each (`value` is JSON), tagged like every
    row. An existing home's rows are written when it is next unlocked, from its config.json."""
    db.table("settings").create(
        {"name": str, "value": str, "at": str, "officer": str, "ver": int, "tag": bytes},
        pk="name",
        not_null={"value", "at", "officer"},
    )


@migrations()
def m012_sealed_judgements(db: Database) -> None:
    """A watchlist subject's category, and a crime-group link's group and decision, may be empty in clear:
    the store moves them, with review decisions, into the sealed part of their rows when the home is next
    unlocked (judgements.py). Each row keeps its rowid, which its tag binds."""
    _allow_null(db, "subjects", ["category"])
    _allow_null(db, "ocg_links", ["ocg_ref", "decision"])


@migrations()
def m013_watchlist_packages(db: Database) -> None:
    """Watchlist packages (triage/exchange/packages.py): every package this home issued or received, with
    its issuer's signing key, version, issue time and validity, and which watchlist subjects came in a
    package, from which issuer and as of which version. A subject with no such row is this home's own."""
    db.table("watchlist_packages").create(
        {
            "id": int,
            "role": str,  # issued | received
            "signer": str,  # the issuer's signing key (ed25519:...)
            "issuer": str,  # the issuing home's device
            "version": int,
            "issued_at": str,
            "valid_until": str,
            "sha256": str,  # of the package's signed manifest
            "subjects": int,
            "removed": int,
            "at": str,
            "officer": str,
            "ver": int,
            "tag": bytes,
        },
        pk="id",
        not_null={"role", "signer", "issuer", "version", "issued_at", "valid_until", "sha256", "at", "officer"},
    )
    db.table("watchlist_packages").create_index(["role", "signer", "version"], unique=True)
    db.table("issued_subjects").create(
        {"ref": str, "signer": str, "issuer": str, "version": int, "digest": str, "ver": int, "tag": bytes},
        pk="ref",
        not_null={"signer", "issuer", "version", "digest"},
    )
    db.table("issued_subjects").create_index(["signer"])


def _allow_null(db: Database, table: str, columns: list[str]) -> None:
    """Rebuild `table` without NOT NULL on `columns`, keeping every row's rowid, its columns and indexes."""
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
    for column in columns:
        before = sql
        sql = sql.replace(f'"{column}" TEXT NOT NULL', f'"{column}" TEXT', 1)
        sql = sql.replace(f"[{column}] TEXT NOT NULL", f"[{column}] TEXT", 1)
        if sql == before:
            raise RuntimeError(f"{table}.{column} is not the NOT NULL text column this step expects")
    _rebuild(db, table, sql)


def _rebuild(db: Database, table: str, sql: str) -> None:
    """Make `table` again as `sql` (its CREATE TABLE, changed) says, keeping every row's rowid, its columns (by
    name) and its indexes."""
    indexes = [
        r[0]
        for r in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]
        )
    ]
    names = ", ".join(f"[{c}]" for c in db.table(table).columns_dict)
    rebuilt = f"_{table}_rebuilt"
    db.execute(sql.replace(f'"{table}"', f"[{rebuilt}]", 1).replace(f"[{table}]", f"[{rebuilt}]", 1))
    db.execute(f"INSERT INTO [{rebuilt}] (rowid, {names}) SELECT rowid, {names} FROM [{table}]")
    db.execute(f"DROP TABLE [{table}]")
    db.execute(f"ALTER TABLE [{rebuilt}] RENAME TO [{table}]")
    for index in indexes:
        db.execute(index)


@migrations()
def m014_arrival_void_flag(db: Database) -> None:
    """Whether an arrival is void, in clear like the safeguarding flag: searches and queues leave void
    arrivals out without opening every arrival. Who voided it, when and why stay sealed."""
    db.table("arrivals").add_column("voided", int)


@migrations()
def m015_name_keys(db: Database) -> None:
    """Keyed blinds of each arrival's name parts (one row per key of a part: its lexicon identity or its
    sound; and of two parts together) and of its date of birth, with its landing time (clear in `arrivals`
    already), so an arrival is found by any spelling of its name without opening every arrival; a row with no
    blind marks an arrival whose keys are made. Biographic candidates record a score
    (how many name parts agree) and no distance. An existing home's arrivals get their keys on first use."""
    db.table("name_keys").create(
        {"id": int, "arrival_id": str, "field": str, "blind": str, "landed_at": str, "ver": int, "tag": bytes},
        pk="id",
        not_null={"arrival_id", "field"},
    )
    # A search reads the index alone; the holders of a key, latest landed first, are one range of it.
    db.table("name_keys").create_index(["blind", "landed_at", "arrival_id"])
    db.table("name_keys").create_index(["arrival_id", "blind"])
    db.execute("CREATE INDEX name_keys_made ON name_keys (arrival_id) WHERE field = 'made'")
    db.table("candidates").add_column("score", float)


@migrations()
def m016_block_tags(db: Database) -> None:
    """Sealed template blocks and index parts carry a version and a tag like every other row, so a block
    deleted, marked stale or put back from an older copy is refused where it is read, not only when opened.
    Each table is rebuilt with `ver` and `tag` ahead of its ciphertext, so summing a table's tags never reads
    the ciphertexts. The store tags their rows when it is next unlocked."""
    db.execute("DROP TRIGGER templates_delete_marks_block")  # it names template_blocks; made again below
    for table in ("template_blocks", "template_indexes"):
        sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
        for data in ('"data" BLOB NOT NULL', "[data] BLOB NOT NULL"):
            sql = sql.replace(data, f"[ver] INTEGER, [tag] BLOB, {data}", 1)
        if sql.count("[tag] BLOB") != 1:
            raise RuntimeError(f"{table} does not end in the data column this step expects")
        _rebuild(db, table, sql)
    db.execute(_MARKS_BLOCK)
