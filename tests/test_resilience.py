"""The store survives concurrency, a full disk, and runs with no network."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from conftest import PASSPHRASE, orl, row_counts
from triage.errors import ExitStatus

CAPTURE_LOOP = (
    textwrap.dedent("""
    import sys
    from pathlib import Path
    from triage.casework import arrivals
    from triage.intake import biographic, photos, samples
    from triage.store.rows import Store
    home, start = sys.argv[1], int(sys.argv[2])
    store = Store.open(Path(home), %r)
    for i in range(30):
        subject, number = 1 + i, 5 if start == 0 else 6  # s1..s30, photos in which HOG finds the face
        pic = photos.read_photo(samples.orl_path(subject, number))
        arrivals.capture(store, pic, biographic.build_details(surname="Concurrent"), officer="PC %%d" %% start,
                         idempotency_key="proc-%%d-row-%%d" %% (start, i))
    print("done")
""")
    % PASSPHRASE
)


def test_two_capture_processes_on_one_home_both_land(cli, home, tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(CAPTURE_LOOP)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(home), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in (0, 30)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert row_counts(home)["arrivals"] == 60
    con = sqlite3.connect(home / "triage.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert cli.json("audit", "verify")["ok"] is True


def _mount_small_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    if os.geteuid() != 0:
        return False
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        ).returncode
        == 0
    )


def test_full_disk_gives_a_clear_error_and_a_consistent_store(cli, tmp_path, monkeypatch):
    disk = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    if not _mount_small_tmpfs(disk, "6m"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        home = disk / "home"
        monkeypatch.setenv("TRIAGE_HOME", str(home))
        cli("init", "--site", "Full Disk", "--force-code", "TST")
        cli("capture", "--photo", orl(3, 3))
        filler = disk / "filler"
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 8 * 1024))
        before = row_counts(home)
        res = cli("capture", "--photo", orl(4, 4), code=None)
        assert res.exit_code == int(ExitStatus.ERROR), res.stderr
        assert "disk" in res.stderr and "Traceback" not in res.stderr
        filler.unlink()
        assert row_counts(home) == before
        con = sqlite3.connect(home / "triage.db")
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
        cli("capture", "--photo", orl(4, 4))  # with space again, capture works
        assert row_counts(home)["arrivals"] == before["arrivals"] + 1
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_demo_runs_with_sockets_disabled(cli, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    summary = cli.json("demo", "--home", tmp_path / "offline-demo")
    assert summary["arrivals_captured"] == 8
