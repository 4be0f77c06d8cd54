"""Passphrases and the home's privacy: weak passphrases are refused wherever one is set (never when one
opens a home); `passphrase change --rotate` seals everything again under a new data key, so an old keyring
row and the old passphrase open nothing, and a kill half-way leaves the old key working; the home is 0700
and its files 0600."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import OFFICER, PASSPHRASE, orl
from triage.errors import ExitStatus, IntegrityFailure
from triage.store import crypto, permissions
from triage.store.config import Config
from triage.store.rotate import REASON_AAD, SEALED
from triage.store.rows import Store, utcnow

NEW = "gannets over the breakwater at dawn"
RECOVERY = "the supervisor's recovery words"
WEAK = ["password", "12345678", " " * 8]
PHONE = "+33 6 12 34 56 78"


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "triage.db")


def _wrapped(home: Path) -> dict[str, str]:
    con = _db(home)
    try:
        return dict(con.execute("SELECT name, wrapped FROM keyring"))
    finally:
        con.close()


def _restore_keyring(home: Path, rows: dict[str, str]) -> None:
    """What an attacker with a backup does: the old keyring rows written back with the sqlite3 module."""
    con = _db(home)
    try:
        con.execute("DELETE FROM keyring")
        con.executemany(
            "INSERT INTO keyring (name, wrapped, created_at) VALUES (?, ?, '2020-01-01')", list(rows.items())
        )
        con.commit()
    finally:
        con.close()


def _sealed_values(home: Path) -> list[tuple[str, bytes]]:
    """Every sealed value in the store, with its associated data: what a data key must open."""
    con = _db(home)
    try:
        found = []
        for c in SEALED:
            keys = ", ".join(f"[{k}]" for k in c.keys)
            for *key, blob in con.execute(
                f"SELECT {keys}, [{c.column}] FROM [{c.table}] WHERE [{c.column}] IS NOT NULL"
            ):
                found.append((c.aad(tuple(key)), blob))
        found += [
            (REASON_AAD.format(seq), blob)
            for seq, blob in con.execute("SELECT seq, reason FROM audit_events WHERE reason IS NOT NULL")
        ]
        found += [("audit_head:1", blob) for (blob,) in con.execute("SELECT sealed FROM audit_head")]
        return found
    finally:
        con.close()


def _opened_by(key: bytes, values: list[tuple[str, bytes]]) -> int:
    vault, opened = crypto.Vault(key), 0
    for aad, blob in values:
        try:
            vault.open(blob, aad)
            opened += 1
        except IntegrityFailure:
            pass
    return opened


# -- weak passphrases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_passphrase_is_refused_at_init_saying_why_and_what_to_do(cli, triage_env, monkeypatch, weak):
    monkeypatch.setenv("TRIAGE_PASSPHRASE", weak)
    res = cli("init", "--site", "Test Site", "--force-code", "TST", code=int(ExitStatus.BAD_INPUT))
    message = " ".join(res.stderr.split())
    assert "too easy to guess (" in message and "choose four or more uncommon words" in message, res.stderr
    assert not (triage_env / "triage.db").exists()


def test_a_passphrase_naming_the_home_itself_is_refused(cli, monkeypatch):
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "Felixstowe2024!")
    cli("init", "--site", "Felixstowe", "--force-code", "TST", code=int(ExitStatus.BAD_INPUT))
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "Felixstowe2024!")
    cli("init", "--site", "Dover", "--force-code", "TST")  # the same words mean nothing to another home


def test_weak_passphrases_are_refused_at_change_recovery_and_rotation_and_nothing_changes(cli, home, monkeypatch):
    before = _wrapped(home)
    for weak in WEAK:
        monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", weak)
        assert "too easy to guess" in cli("passphrase", "change", code=int(ExitStatus.BAD_INPUT)).stderr
        cli("passphrase", "change", "--rotate", code=int(ExitStatus.BAD_INPUT))
        monkeypatch.setenv("TRIAGE_RECOVERY_PASSPHRASE", weak)
        assert "recovery passphrase is too" in cli("passphrase", "recovery", code=int(ExitStatus.BAD_INPUT)).stderr
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", "short")
    assert "too short: use at least 8 characters" in cli("passphrase", "change", code=3).stderr
    assert _wrapped(home) == before
    assert cli.json("audit", "verify")["ok"] is True


def test_a_home_set_with_a_weak_passphrase_before_the_check_still_opens(cli, home, monkeypatch):
    """Strength is checked when a passphrase is set, never when one opens a home."""
    store = Store.open(home, PASSPHRASE)
    key = store._data_key
    assert key is not None
    store.close()
    _restore_keyring(home, {"officer": crypto.wrap_key(key, "password").to_json()})
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "password")
    assert cli.json("arrivals", "list") == []
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", NEW)
    cli("passphrase", "change")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", NEW)
    assert cli.json("audit", "verify")["ok"] is True


def test_the_previous_release_home_opens_with_its_passphrase_and_rotates(cli, triage_env, monkeypatch):
    shutil.copytree(Path(__file__).parent / "data" / "release_home", triage_env)
    arrivals = cli.json("arrivals", "list")
    assert len(arrivals) >= 1
    old_key = crypto.unwrap_key(crypto.WrappedKey.from_json(_wrapped(triage_env)["officer"]), PASSPHRASE)
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", NEW)
    cli("passphrase", "change", "--rotate")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", NEW)
    assert cli.json("arrivals", "list") == arrivals
    assert cli.json("audit", "verify")["ok"] is True
    assert _opened_by(old_key, _sealed_values(triage_env)) == 0


# -- rotation --------------------------------------------------------------------------------------------


def test_after_rotation_an_old_keyring_row_and_the_old_passphrase_open_nothing(cli, wl_home, monkeypatch):
    before = cli.json("capture", "--photo", orl(31, 1), "--surname", "Beforerotation", "--vessel", "SB-1")
    ref = before["candidates"][0]["ref"]
    reason = "a different person on a second look"
    cli("review", before["arrival_id"], "--candidate", ref, "--decision", "rejected", "--reason", reason)
    monkeypatch.setenv("TRIAGE_RECOVERY_PASSPHRASE", RECOVERY)
    cli("passphrase", "recovery")
    backup = _wrapped(wl_home)  # the keyring as a backup holds it: the officer's and the recovery copy
    old_key = crypto.unwrap_key(crypto.WrappedKey.from_json(backup["officer"]), PASSPHRASE)
    cache = wl_home / "evaluation-cache.sealed"
    cache.write_bytes(crypto.Vault(old_key).seal(b'{"format": "x", "entries": {}}', "evaluation-cache"))
    assert _opened_by(old_key, _sealed_values(wl_home)) == len(_sealed_values(wl_home))

    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", NEW)
    res = cli("passphrase", "change", "--rotate")
    assert "data key replaced" in res.stderr and "recovery copy was wrapped again" in res.stderr
    monkeypatch.setenv("TRIAGE_PASSPHRASE", NEW)
    again = cli.json("capture", "--photo", orl(31, 1), "--surname", "Beforerotation", "--vessel", "SB-1")
    assert (again["already_landed"], again["arrival_id"]) == (True, before["arrival_id"])  # its key blinded anew
    assert "photo_file_key" not in cli.json("arrivals", "show", before["arrival_id"])
    after = cli.json("capture", "--photo", orl(31, 2), "--surname", "Afterrotation")
    assert before["arrival_id"] in [c["ref"] for c in after["candidates"]]  # templates still searched
    shown = cli.json("arrivals", "show", before["arrival_id"])
    assert shown["details"]["surname"] == "Beforerotation"
    assert cli.json("audit", "verify")["ok"] is True
    events = cli.json("audit", "show")
    assert "passphrase-rotate" in [e["action"] for e in events]
    assert reason in [e["reason"] for e in events]

    # Nothing in the home opens under the old key: neither what was there before nor what came after.
    values = _sealed_values(wl_home)
    assert len(values) > 20 and _opened_by(old_key, values) == 0
    with pytest.raises(IntegrityFailure):
        crypto.Vault(old_key).open(cache.read_bytes(), "evaluation-cache")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", RECOVERY)  # the recovery copy was wrapped again, not dropped
    assert len(cli.json("arrivals", "list")) == 2

    _restore_keyring(wl_home, backup)
    for old in (PASSPHRASE, RECOVERY):
        monkeypatch.setenv("TRIAGE_PASSPHRASE", old)
        for command in (("arrivals", "list"), ("arrivals", "show", after["arrival_id"]), ("audit", "show")):
            res = cli(*command, code=None)
            assert res.exit_code in (int(ExitStatus.INTEGRITY), int(ExitStatus.WRONG_PASSPHRASE)), res.stderr
            assert "Afterrotation" not in res.stdout and "Beforerotation" not in res.stdout


def test_rotation_without_the_recovery_passphrase_drops_the_recovery_copy(cli, home, monkeypatch):
    monkeypatch.setenv("TRIAGE_RECOVERY_PASSPHRASE", RECOVERY)
    cli("passphrase", "recovery")
    monkeypatch.delenv("TRIAGE_RECOVERY_PASSPHRASE")
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", NEW)
    assert "recovery copy was dropped" in cli("passphrase", "change", "--rotate").stderr
    assert set(_wrapped(home)) == {"officer"}
    monkeypatch.setenv("TRIAGE_PASSPHRASE", RECOVERY)
    cli("arrivals", "list", code=int(ExitStatus.WRONG_PASSPHRASE))


def test_a_wrong_recovery_passphrase_refuses_the_rotation_before_anything_changes(cli, home, monkeypatch):
    monkeypatch.setenv("TRIAGE_RECOVERY_PASSPHRASE", RECOVERY)
    cli("passphrase", "recovery")
    before = _wrapped(home)
    monkeypatch.setenv("TRIAGE_RECOVERY_PASSPHRASE", "not the words the supervisor holds")
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", NEW)
    res = cli("passphrase", "change", "--rotate", code=int(ExitStatus.WRONG_PASSPHRASE))
    assert "does not open this home's recovery copy" in res.stderr
    assert _wrapped(home) == before


def test_crime_group_suggestions_survive_rotation(cli, wl_home, monkeypatch):
    """Keyed hashes are made again under the new key: a number given in a debrief before the rotation still
    meets a group registered after it."""
    a = cli.json("capture", "--photo", orl(22, 1))["arrival_id"]
    cli("debrief", a, "--contact-phone", PHONE, "--payment-handle", "@kak.rebwar", "--paid-to", "Kak Rebwar")
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", NEW)
    cli("passphrase", "change", "--rotate")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", NEW)
    group = cli.json(
        "ocg", "add", "OCG-2026-001", "--phone", "0033 612 345 678", "--handle", "@kak.rebwar", "--name", "Kak  Rebwar"
    )
    assert [s["arrival_id"] for s in group["suggestions"]] == [a]
    assert {m["kind"] for m in group["suggestions"][0]["matched"]} == {"phone", "handle", "name"}


def test_an_altered_home_is_not_rotated(cli, home, monkeypatch):
    a = cli.json("capture", "--photo", orl(12, 2))["arrival_id"]
    con = _db(home)
    con.execute(
        "UPDATE arrivals SET sealed = CAST(X'00' || substr(sealed, 2) AS BLOB) WHERE id = ?", [a]
    )  # its nonce changed
    con.commit()
    con.close()
    before = _sealed_values(home)
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", NEW)
    res = cli("passphrase", "change", "--rotate", code=int(ExitStatus.INTEGRITY))
    assert "the data key was not replaced" in res.stderr
    assert _sealed_values(home) == before


def test_every_sealed_column_of_the_schema_is_rotated(tmp_path):
    """A blob column added later must be listed in rotate.SEALED (or be one of the known others), or a
    rotation would leave it under the old key."""
    store = Store.create(tmp_path / "h", PASSPHRASE, Config(site="S", force_code="T", officer=OFFICER))
    try:
        blobs = {
            (t, c[1])
            for (t,) in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for c in store.db.execute(f"PRAGMA table_info([{t}])")
            if c[2].upper() == "BLOB"
        }
    finally:
        store.close()
    others = {("audit_events", "reason"), ("audit_head", "sealed")}  # sealed again with the trail
    tags = {b for b in blobs if b[1] == "tag"}  # HMACs, made again by retag_all
    assert blobs - tags - others == {(c.table, c.column) for c in SEALED}


# -- a kill half-way through a rotation ------------------------------------------------------------------

BULK = 600  # arrivals, each with two photos of PHOTO_BYTES: a rotation transaction of a good part of a second
PHOTO_BYTES = 60_000


@pytest.fixture(scope="module")
def bulk_home(tmp_path_factory) -> Path:
    """A home with many sealed rows, photos, template blocks and audit reasons, written without the face
    pipeline (rotation opens and seals bytes; what they hold does not matter)."""
    home = tmp_path_factory.mktemp("rotate") / "home"
    store = Store.create(home, PASSPHRASE, Config(site="S", force_code="TST", officer=OFFICER, matcher="dlib"))
    rng = np.random.default_rng(7)
    try:
        with store.transaction():
            for i in range(BULK):
                aid = f"A-R{i:05d}"
                store.insert(
                    "arrivals",
                    {
                        "id": aid,
                        "created_at": utcnow(),
                        "landed_at": "2024-03-01T04:00:00+00:00",
                        "landed_day": "2024-03-01",
                        "site": "S",
                        "officer": OFFICER,
                        "device": store.config.device,
                        "safeguarding": 0,
                        "training": 0,
                    },
                    {"details": {"surname": f"Bulk {i}"}},
                )
                for role in ("original", "portrait"):
                    store.put_photo("arrival", aid, role, rng.bytes(PHOTO_BYTES), "image/jpeg", 100, 100)
                store.audit("capture", OFFICER, arrival_id=aid, records=[f"arrival:{aid}"], reason=f"bulk {i}")
            owners = [f"A-R{i:05d}" for i in range(BULK)]
            store.put_templates("arrival", "dlib-resnet-v1+5pt", owners, rng.random((BULK, 128), np.float32))
    finally:
        store.close()
    return home


def _writing_for(home: Path, seconds: float):
    """Once another process has held the write lock for `seconds` (as tests/test_crash.py aims its kills)."""
    prober = sqlite3.connect(home / "triage.db", timeout=0, isolation_level=None)
    since: list[float] = []

    def held() -> bool:
        try:
            prober.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            since[:] = since or [time.monotonic()]
            return time.monotonic() - since[0] >= seconds
        prober.execute("ROLLBACK")
        since.clear()
        return False

    return held, prober


@pytest.mark.parametrize("held", [0.05, 0.4])
def test_a_rotation_killed_half_way_leaves_the_old_key_working(cli, bulk_home, tmp_path, monkeypatch, held):
    home = Path(shutil.copytree(bulk_home, tmp_path / "home"))
    before = _sealed_values(home)
    env = {**os.environ, "TRIAGE_HOME": str(home), "TRIAGE_NEW_PASSPHRASE": NEW}
    err = open(tmp_path / "stderr", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "triage", "passphrase", "change", "--rotate"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err,
        start_new_session=True,
    )
    ready, prober = _writing_for(home, held)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert proc.poll() is None, f"the rotation ended first: {(tmp_path / 'stderr').read_text()}"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        prober.close()
        err.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    con = _db(home)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()
    assert _sealed_values(home) == before  # nothing was sealed again, nothing half-done
    monkeypatch.setenv("TRIAGE_HOME", str(home))
    assert cli.json("audit", "verify")["ok"] is True
    assert cli.json("arrivals", "show", "A-R00007")["details"]["surname"] == "Bulk 7"
    monkeypatch.setenv("TRIAGE_PASSPHRASE", NEW)
    cli("arrivals", "list", code=int(ExitStatus.WRONG_PASSPHRASE))

    # Run to its end, the rotation leaves the same home under the new key.
    monkeypatch.setenv("TRIAGE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", NEW)
    cli("passphrase", "change", "--rotate")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", NEW)
    assert cli.json("audit", "verify")["ok"] is True
    assert cli.json("arrivals", "show", f"A-R{BULK - 1:05d}")["details"]["surname"] == f"Bulk {BULK - 1}"
    old_key = crypto.unwrap_key(crypto.WrappedKey.from_json(_wrapped(bulk_home)["officer"]), PASSPHRASE)
    assert _opened_by(old_key, _sealed_values(home)) == 0


# -- permissions -----------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_home_is_private(cli, home):
    cli.json("capture", "--photo", orl(12, 2))
    assert _mode(home) == 0o700
    files = ["triage.db", "triage.db-wal", "triage.db-shm", "config.json"]
    assert {name: _mode(home / name) for name in files} == dict.fromkeys(files, 0o600)
    assert permissions.loose(home) == []


def test_an_older_home_is_made_private_when_opened(cli, home):
    for path in (home, *home.iterdir()):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert len(permissions.loose(home)) >= 3
    cli.json("arrivals", "list")
    assert _mode(home) == 0o700 and _mode(home / "triage.db") == 0o600 and _mode(home / "config.json") == 0o600
    assert permissions.loose(home) == []


def test_what_the_command_writes_is_private_whatever_the_umask(tmp_path, face_models):
    """The program itself (not only the store) sets the umask: files a command makes in the home or out of it
    are the officer's alone."""
    home = tmp_path / "home"
    env = {**os.environ, "TRIAGE_HOME": str(home)}
    run = [sys.executable, "-c", "import os, sys; os.umask(0o022); from triage.cli.app import main; main()"]
    subprocess.run([*run, "init", "--site", "S", "--force-code", "TST"], env=env, check=True, capture_output=True)
    (home / "models").mkdir()  # a folder made later by someone else's code, under a loose umask
    os.chmod(home / "models", 0o755)
    assert _mode(home) == 0o700 and _mode(home / "config.json") == 0o600
    assert permissions.loose(home) == []  # a folder inside a private home is out of others' reach
    landed = ["capture", "--photo", orl(12, 2), "--landed-at", "2024-01-01T10:00"]
    subprocess.run([*run, *landed], env=env, check=True, capture_output=True)
    out = tmp_path / "report.html"
    subprocess.run([*run, "report", "--date", "2024-01-01", "--out", out], env=env, check=True, capture_output=True)
    assert _mode(out) == 0o600
    assert [p for p in permissions.loose(home) if "models" not in p] == []
