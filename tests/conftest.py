"""Shared fixtures: every test gets its own home (TRIAGE_HOME under tmp_path); face models load once
per session; real ORL and astronaut photos come from the installed packages."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triage.cli.app import app
from triage.intake import samples
from triage.store import crypto

# Homes made in this process wrap their key with scrypt at a lower cost than a laptop's (the cost is stored with
# each wrap, so every later unlock, in this process or another, reads it): the same code, and at the shipped cost
# the suite's unlocks alone took minutes. `triage init` in a fresh process keeps the shipped cost
# (tests/test_security.py::test_a_new_home_wraps_its_key_at_the_shipped_cost).
SHIPPED_KDF = dict(crypto.DEFAULT_KDF)
crypto.DEFAULT_KDF = {**SHIPPED_KDF, "n": 2**10}

PASSPHRASE = "correct horse battery staple"
OFFICER = "PC 1234 Tester"


def relocate(home: Path, **fields: str) -> None:
    """A copy of a built home made to stand for another laptop (its device, its site): config.json and the
    identity its store records changed together, as no command does (a home's identity is fixed at init)."""
    from triage.store import settings
    from triage.store.config import Config, load_config, write_config
    from triage.store.rows import Store

    cfg = load_config(home)
    moved = Config(**{**cfg.__dict__, **fields})
    store = Store.open(home, PASSPHRASE)
    try:
        with store.transaction():
            settings._put(store.db, settings.IDENTITY, settings.identity(moved), cfg.officer, settings._now())
    finally:
        store.close()
    write_config(home, moved)


@contextmanager
def signed_in() -> Iterator[pytest.MonkeyPatch]:
    """The passphrase and officer of every test, for a module-scoped fixture (which runs before any test's
    own environment exists)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRIAGE_PASSPHRASE", PASSPHRASE)
        mp.setenv("TRIAGE_OFFICER", OFFICER)
        yield mp


@pytest.fixture(autouse=True)
def triage_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRIAGE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TRIAGE_OFFICER", OFFICER)
    monkeypatch.delenv("TRIAGE_DEBUG", raising=False)
    monkeypatch.delenv("TRIAGE_NEW_PASSPHRASE", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="session")
def face_models():
    from triage.faces import detection as faces

    return faces.models()


def orl(subject: int, number: int) -> Path:
    return samples.orl_path(subject, number)


class Cli:
    """Runs the real CLI in-process and parses --json output."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args, code: int | None = 0, input: str | None = None):
        result = self.runner.invoke(app, [str(a) for a in args], input=input)
        if code is not None and result.exit_code != code:
            raise AssertionError(
                f"triage {' '.join(map(str, args))} exited {result.exit_code}, expected {code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
            )
        return result

    def json(self, *args, **kw):
        return json.loads(self(*args, "--json", **kw).stdout)


@pytest.fixture
def cli(face_models) -> Cli:
    return Cli()


@pytest.fixture
def home(cli, triage_env) -> Path:
    cli("init", "--site", "Test Site", "--force-code", "TST")
    return triage_env


@pytest.fixture(scope="session")
def enrolled_template_home(tmp_path_factory, face_models) -> Path:
    """A home with 20 ORL subjects (s1..s20, photo 1) on the watchlist, built once and copied per test."""
    import datetime as dt

    from triage.casework import watchlist
    from triage.store.config import Config
    from triage.store.rows import Store

    path = tmp_path_factory.mktemp("wl20") / "home"
    # The dlib matcher: the tests built on this home check workflow (reviews, drafts, vessels, purge) with
    # the matcher whose figures they quote; the fused and SFace matchers have their own tests.
    store = Store.create(path, PASSPHRASE, Config(site="Test Site", force_code="TST", officer=OFFICER, matcher="dlib"))
    review = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    for s in range(1, 21):
        watchlist.add_subject(
            store,
            ref=f"WL-{s:03d}",
            name=f"Subject {s}",
            category="wanted",
            reason="Test subject wanted on warrant",
            authorised_by="DS 1 Test",
            review_date=review,
            photos=[samples.load_photo({"orl": [s, 1]})],
            officer=OFFICER,
            override_reason="fixture photos are 92x112 px",
        )
    store.close()
    return path


@pytest.fixture
def wl_home(enrolled_template_home, triage_env) -> Path:
    shutil.copytree(enrolled_template_home, triage_env)
    return triage_env


def row_counts(home: Path) -> dict:
    from triage.store.rows import Store

    store = Store.open_locked(home)
    try:
        return store.row_counts()
    finally:
        store.close()


def entries(text: str) -> list[str]:
    """The entries a person reads in printed text, each one line: a line and the lines that continue it, indented
    four columns or more and further than it (a long entry wraps between words at the terminal's width, its
    continuation indented), joined with a space."""
    found: list[tuple[int, str]] = []
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if found and line.strip() and found[-1][1].strip() and indent >= 4 and indent > found[-1][0]:
            found[-1] = (found[-1][0], f"{found[-1][1]} {line.strip()}")
        else:
            found.append((indent, line))
    return [line for _, line in found]


def _exchange_roots(home: Path, con: sqlite3.Connection, index: str, root: int, scratch: str, other: int) -> None:
    """`index` given the b-tree at `other` (built as `scratch`), `scratch` the index's own, which the scratch table
    then frees when it is dropped: the schema's text unchanged, as no SQL statement could leave it."""
    (version,) = con.execute("PRAGMA schema_version").fetchone()
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = ?", [other, index])
    con.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = ?", [root, scratch])
    con.execute(f"PRAGMA schema_version = {version + 1}")
    con.close()
    con = sqlite3.connect(home / "triage.db", isolation_level=None)
    con.execute("DROP TABLE scratch")
    con.close()


def index_without(home: Path, index: str, where: str) -> None:
    """Give `index` a b-tree holding its table's rows but those matching `where`: its text in the schema stays
    as it was, only its root page moves (built on a scratch table, the two roots exchanged, the scratch dropped)."""
    con = sqlite3.connect(home / "triage.db", isolation_level=None)
    table, root = con.execute("SELECT tbl_name, rootpage FROM sqlite_master WHERE name = ?", [index]).fetchone()
    columns = ", ".join(f"[{r[2]}]" for r in con.execute(f"PRAGMA index_info([{index}])"))
    con.execute(f"CREATE TABLE scratch ({columns})")
    con.execute(f"INSERT INTO scratch (rowid, {columns}) SELECT rowid, {columns} FROM [{table}] WHERE NOT ({where})")
    con.execute(f"CREATE INDEX scratch_index ON scratch ({columns})")
    (other,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'scratch_index'").fetchone()
    _exchange_roots(home, con, index, root, "scratch_index", other)


def index_pointing(home: Path, index: str, where: str, rowid: int) -> None:
    """Give `index` a b-tree in which the entries of the rows matching `where` name row `rowid` instead: a lookup
    by their key then finds that row. Built as a table without rowids whose records are laid out as the index's
    (its key columns, then the rowid), the two root pages exchanged, the scratch table dropped."""
    con = sqlite3.connect(home / "triage.db", isolation_level=None)
    table, root = con.execute("SELECT tbl_name, rootpage FROM sqlite_master WHERE name = ?", [index]).fetchone()
    columns = [f"[{r[2]}]" for r in con.execute(f"PRAGMA index_info([{index}])")]
    moved = {r for (r,) in con.execute(f"SELECT rowid FROM [{table}] WHERE {where}")}
    entries = [
        (*key, rowid if r in moved else r)
        for r, *key in con.execute(f"SELECT rowid, {', '.join(columns)} FROM [{table}]").fetchall()
    ]
    names = [f"k{i}" for i in range(len(columns))]
    con.execute(f"CREATE TABLE scratch ({', '.join(names)}, r, PRIMARY KEY ({', '.join(names)}, r)) WITHOUT ROWID")
    con.executemany(f"INSERT OR IGNORE INTO scratch VALUES ({', '.join('?' * len(entries[0]))})", entries)
    (other,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'scratch'").fetchone()
    _exchange_roots(home, con, index, root, "scratch", other)
