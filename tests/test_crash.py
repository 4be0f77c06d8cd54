"""SIGKILL in the middle of `capture-batch`, `import` and `purge`, each the real CLI in its own process: the
store stays consistent, nothing is left half-done, and running the command again finishes the work
without duplicates.

The kills are aimed from outside, by watching the store file as any other SQLite client could: committed
row counts through plain reads, and whether the process holds a write transaction through a `BEGIN
IMMEDIATE` probe (it fails while the process writes; when it succeeds it is rolled back at once). So each
kill lands inside a transaction of the command, not at a time guessed with sleeps.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import OFFICER, PASSPHRASE, Cli, orl, row_counts, signed_in
from triage.casework import arrivals, review
from triage.faces import analysis, matchers
from triage.intake import biographic, photos
from triage.intake.photos import to_jpeg
from triage.store.config import Config
from triage.store.rows import Store, utcnow

KILL_AT = (10, 30, 50)  # arrivals landed of the manifest's 60 when capture-batch is killed
GOOD_60 = [(s, 1) for s in range(1, 41)] + [(s, 2) for s in range(1, 21)]  # ORL photos HOG finds a face in
FACES = [(s, 2) for s in range(1, 21)]  # photos analysed once for the homes built without the face pipeline
IMPORTED = 240  # arrivals in the imported day's batch: a merge of about half a second
PURGED = 1500  # arrivals past retention: a purge transaction of about a second
AS_OF = "2099-01-01"
STARTED = 300.0  # seconds a command may take to reach the point where it is killed, or to finish


# -- running and killing the CLI -------------------------------------------------------------------------


class Watch:
    """The store file seen from outside the process under test."""

    def __init__(self, home: Path):
        self.reader = sqlite3.connect(f"file:{home / 'triage.db'}?mode=ro", uri=True, timeout=30)
        self.prober = sqlite3.connect(home / "triage.db", timeout=0, isolation_level=None)

    def count(self, table: str) -> int:
        return self.reader.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]

    def writing(self) -> bool:
        """Whether another process holds the write lock, i.e. is inside a transaction."""
        try:
            self.prober.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        self.prober.execute("ROLLBACK")
        return False

    def writing_for(self, seconds: float) -> Callable[[], bool]:
        """A condition that holds once one write transaction has been open for `seconds`."""
        since: list[float] = []

        def held() -> bool:
            if not self.writing():
                since.clear()
                return False
            since[:] = since or [time.monotonic()]
            return time.monotonic() - since[0] >= seconds

        return held

    def close(self) -> None:
        self.reader.close()
        self.prober.close()


def _start(out: Path, *args) -> subprocess.Popen:
    """`triage ARGS` in a new process group (its worker processes with it), output to files in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "stdout", "w") as so, open(out / "stderr", "w") as se:
        return subprocess.Popen(
            [sys.executable, "-m", "triage", *map(str, args)],
            stdout=so,
            stderr=se,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _output(out: Path) -> str:
    return f"stdout: {(out / 'stdout').read_text()[-2000:]}\nstderr: {(out / 'stderr').read_text()[-2000:]}"


def _kill_when(proc: subprocess.Popen, out: Path, ready: Callable[[], bool]) -> None:
    """SIGKILL the process as soon as `ready()` holds; then any worker it leaves behind."""
    deadline = time.monotonic() + STARTED
    try:
        while not ready():
            assert proc.poll() is None, (
                f"the command ended (exit {proc.returncode}) before it could be killed\n" + _output(out)
            )
            assert time.monotonic() < deadline, "the command never reached the point to kill it at"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def _finish(out: Path, *args, code: int = 0):
    """Run `triage ARGS --json` to its end in a fresh process; its JSON output."""
    proc = _start(out, *args, "--json")
    try:
        assert proc.wait(timeout=STARTED) == code, _output(out)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return json.loads((out / "stdout").read_text())


def _sound(home: Path) -> None:
    con = sqlite3.connect(home / "triage.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        con.close()


def _open(home: Path) -> Store:
    return Store.open(home, PASSPHRASE)


# -- capture-batch ---------------------------------------------------------------------------------------


def _manifest(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["photo", "surname", "dob", "nationality"])
        for n, (s, k) in enumerate(GOOD_60, 1):
            name = f"s{s:02d}_{k:02d}.pgm"
            shutil.copy(orl(s, k), folder / name)
            writer.writerow([name, f"Person {n}", "1990", "Eritrea"])
    return path


def _each_arrival_whole(home: Path) -> dict[str, str]:
    """Every arrival has its two photos, one template per model in the sealed blocks, one search and one
    capture event: nothing half-landed, nothing landed twice. Returns arrival id -> surname."""
    store = _open(home)
    try:
        ids = [r[0] for r in store.db.execute("SELECT id FROM arrivals")]
        model_ids = matchers.pipeline_for(store).model_ids
        for aid in ids:
            roles = sorted(
                r[0]
                for r in store.db.execute(
                    "SELECT role FROM photos WHERE owner_kind = 'arrival' AND owner_id = ?", [aid]
                )
            )
            assert roles == ["original", "portrait"], (aid, roles)
            assert store.count("searches", "arrival_id = ?", [aid]) == 1, aid
            assert store.count("audit_events", "action = 'capture' AND arrival_id = ?", [aid]) == 1, aid
        for model_id in model_ids:
            owners, _ = store.load_templates(model_id, "arrival")
            assert sorted(owners) == sorted(ids), model_id  # one sealed vector each, none orphaned
            assert store.count("templates", "owner_kind = 'arrival' AND model_id = ?", [model_id]) == len(ids)
        keys = [r[0] for r in store.db.execute("SELECT source_key FROM arrivals")]
        assert None not in keys and len(set(keys)) == len(keys)
        return {r["id"]: r["details"]["surname"] for r in store.rows("arrivals")}
    finally:
        store.close()


def test_capture_batch_killed_at_10_30_and_50_then_rerun_lands_each_row_once(cli, wl_home, tmp_path):
    path = _manifest(tmp_path / "boat")
    command = ("capture-batch", path, "--vessel", "SB-0666")
    watch = Watch(wl_home)
    try:
        for target in KILL_AT:
            out = tmp_path / f"killed-at-{target}"
            proc = _start(out, *command)
            # at the target count, wait for the next arrival's transaction and kill inside it
            _kill_when(proc, out, lambda: watch.count("arrivals") >= target and watch.writing())
            landed = watch.count("arrivals")
            assert target <= landed < len(GOOD_60)
            _sound(wl_home)
            assert len(_each_arrival_whole(wl_home)) == landed
    finally:
        watch.close()

    report = _finish(tmp_path / "rerun", *command)
    assert (report["rows"], report["refused"]) == (60, 0)
    assert (report["already_landed"], report["landed"]) == (landed, 60 - landed)
    names = _each_arrival_whole(wl_home)
    assert sorted(names.values()) == sorted(f"Person {n}" for n in range(1, 61))  # each row once
    assert row_counts(wl_home)["arrivals"] == 60
    _sound(wl_home)
    assert cli.json("audit", "verify")["ok"] is True


# -- homes built without the face pipeline for every arrival ----------------------------------------------


@pytest.fixture(scope="module")
def analysed(face_models) -> list[analysis.Analysis]:
    """Twenty ORL photos through the face pipeline once, landed many times over by the homes below."""
    return [analysis.analyse(photos.read_photo(orl(s, k)), "probe") for s, k in FACES]


def _capture_many(store: Store, faces: list[analysis.Analysis], n: int) -> list[str]:
    """Land `n` arrivals through `arrivals.capture`, as capture-batch lands its workers' results."""
    return [
        arrivals.capture(
            store,
            a.photo,
            biographic.build_details(surname=f"Crash {i}", dob="1990"),
            officer=OFFICER,
            idempotency_key=f"crash-{i}",
            analysed=a,
        ).arrival_id
        for i, a in zip(range(n), faces * (n // len(faces) + 1))
    ]


def _land_in_bulk(store: Store, faces: list[analysis.Analysis], n: int, landed_at: str) -> None:
    """`n` arrivals written as a capture writes them (sealed details, original, portrait, templates, audit
    event) but in one transaction and unsearched, since a capture with its search costs 25 ms each."""
    vectors: dict[str, list] = {}
    owners, photo_ids = [], []
    with store.transaction():
        for i in range(n):
            a = faces[i % len(faces)]
            aid = f"A-B{i:05d}"
            store.insert(
                "arrivals",
                {
                    "id": aid,
                    "created_at": utcnow(),
                    "landed_at": landed_at,
                    "landed_day": landed_at[:10],
                    "site": store.config.site,
                    "vessel": "SB-BULK",
                    "officer": OFFICER,
                    "device": store.config.device,
                    "safeguarding": 0,
                    "quality_score": a.quality.score,
                    "quality_override": None,
                    "source_key": None,
                    "training": 0,
                },
                {"details": biographic.build_details(surname=f"Bulk {i}").to_dict(), "quality": a.quality.to_dict()},
            )
            pid = store.put_photo(
                "arrival", aid, "original", a.photo.original, a.photo.media_type, a.photo.width, a.photo.height
            )
            store.put_photo("arrival", aid, "portrait", to_jpeg(a.portrait), "image/jpeg", *a.portrait.shape[1::-1])
            owners.append(aid)
            photo_ids.append(pid)
            for model_id, v in a.vectors.items():
                vectors.setdefault(model_id, []).append(v)
            store.audit("capture", OFFICER, arrival_id=aid, records=[f"arrival:{aid}", f"photo:{pid}"])
        for model_id, vs in vectors.items():
            store.put_templates("arrival", model_id, owners, np.vstack(vs), photo_ids)


@pytest.fixture(scope="module")
def module_cli():
    """The in-process CLI for fixtures built once per module, before any test's own environment."""
    with signed_in() as mp:
        mp.delenv("TRIAGE_HOME", raising=False)
        yield Cli()


# -- import ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def day_batch(tmp_path_factory, enrolled_template_home, analysed, module_cli):
    """A laptop's day of 240 arrivals exported with templates to a supervisor who trusts it (a copy of the
    20-subject watchlist home), and the supervisor's row counts after importing it uninterrupted."""
    cli, root = module_cli, tmp_path_factory.mktemp("import")
    laptop, sup = root / "laptop", root / "sup"
    store = Store.create(laptop, PASSPHRASE, Config(site="Dover", force_code="TST", officer=OFFICER, matcher="dlib"))
    try:
        _capture_many(store, analysed, IMPORTED)
        (day,) = [r[0] for r in store.db.execute("SELECT DISTINCT landed_day FROM arrivals")]
    finally:
        store.close()
    shutil.copytree(enrolled_template_home, sup)
    supervisor, own = cli.json("keys", "show", "--home", sup), cli.json("keys", "show", "--home", laptop)
    cli("keys", "recipient", "add", "Supervisor", supervisor["age_recipient"], "--home", laptop)
    cli("keys", "trust", "Laptop", own["signing_key"], "--home", sup)
    cli("export", "--home", laptop, "--date", day, "--out", root / "day.age", "--with-templates")
    reference = Path(shutil.copytree(sup, root / "reference"))
    assert cli.json("import", root / "day.age", "--home", reference)[0]["new_arrivals"] == IMPORTED
    return SimpleNamespace(sup=sup, file=root / "day.age", expected=row_counts(reference))


def test_import_killed_mid_merge_leaves_nothing_merged_and_a_rerun_matches_a_clean_import(cli, day_batch, tmp_path):
    sup = Path(shutil.copytree(day_batch.sup, tmp_path / "sup"))
    before = row_counts(sup)
    watch = Watch(sup)
    try:
        for held in (0.0, 0.15):  # at the merge's first write, and well into it
            out = tmp_path / f"killed-after-{held}s"
            _kill_when(_start(out, "import", day_batch.file, "--home", sup), out, watch.writing_for(held))
            assert row_counts(sup) == before  # the merge is one transaction: none of it stays
            _sound(sup)
    finally:
        watch.close()
    results = _finish(tmp_path / "rerun", "import", day_batch.file, "--home", sup)
    assert results[0]["new_arrivals"] == IMPORTED
    assert row_counts(sup) == day_batch.expected
    _sound(sup)
    assert cli.json("audit", "verify", "--home", sup)["ok"] is True


# -- purge -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def past_retention(tmp_path_factory, enrolled_template_home, analysed, module_cli):
    """The 20-subject watchlist home with ten arrivals captured and searched, five of them confirmed against
    their watchlist subject (kept by the purge), and 1,500 arrivals past retention landed in bulk; the
    row counts after an uninterrupted purge; and the sealed bytes of some photos the purge removes."""
    cli, root = module_cli, tmp_path_factory.mktemp("purge")
    home = Path(shutil.copytree(enrolled_template_home, root / "home"))
    store = _open(home)
    try:
        captured = _capture_many(store, analysed[:10], 10)
        for i, aid in enumerate(captured[:5]):
            review.record(
                store, aid, candidate=f"WL-{i + 1:03d}", decision="confirmed", reason="same face", officer=OFFICER
            )
        _land_in_bulk(store, analysed, PURGED, "2024-03-01T04:00:00+00:00")
        sealed = [
            r[0]
            for r in store.db.execute(
                "SELECT data FROM photos WHERE owner_kind = 'arrival' AND owner_id IN (?, ?, ?)",
                [captured[9], "A-B00000", f"A-B{PURGED - 1:05d}"],
            )
        ]
    finally:
        store.close()
    reference = Path(shutil.copytree(home, root / "reference"))
    done = cli.json("purge", "--as-of", AS_OF, "--home", reference)
    assert len(done["arrivals"]) == PURGED + 5
    return SimpleNamespace(home=home, expected=row_counts(reference), sealed=sealed)


def _everything_in(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


@pytest.mark.parametrize("when", ["deleting", "reclaiming"])
def test_purge_killed_mid_way_then_rerun_matches_an_uninterrupted_purge(cli, past_retention, tmp_path, when):
    """Killed inside its transaction (nothing committed), or after the commit while it checkpoints and
    vacuums: either way the re-run ends where an uninterrupted purge ends, and the space is reclaimed."""
    home = Path(shutil.copytree(past_retention.home, tmp_path / "home"))
    before = row_counts(home)
    watch = Watch(home)
    try:
        if when == "deleting":  # a quarter of a second into its transaction (of about a second)
            ready = watch.writing_for(0.25)
        else:  # the tombstones are committed and the process still runs
            ready = lambda: watch.count("tombstones") > 0  # noqa: E731
        out = tmp_path / "killed"
        _kill_when(_start(out, "purge", "--as-of", AS_OF, "--home", home), out, ready)
    finally:
        watch.close()
    assert row_counts(home) == (before if when == "deleting" else past_retention.expected)
    _sound(home)

    _finish(tmp_path / "rerun", "purge", "--as-of", AS_OF, "--home", home)
    assert row_counts(home) == past_retention.expected
    _sound(home)
    assert cli.json("audit", "verify", "--home", home)["ok"] is True
    con = sqlite3.connect(home / "triage.db")
    try:
        assert con.execute("SELECT count(*) FROM audit_events WHERE action = 'purge'").fetchone()[0] == 1
        assert con.execute("PRAGMA freelist_count").fetchone()[0] == 0  # the space was reclaimed
    finally:
        con.close()
    raw = _everything_in(home)
    assert not any(blob[:48] in raw for blob in past_retention.sealed)


def test_capture_batch_killed_leaves_no_worker_waiting_for_it(home, tmp_path):
    """SIGKILL ends the main process alone: its workers (forked while it unlocked the home) find their pipes
    closed and end, rather than wait for ever, their models loaded, for a job that never comes."""
    path = _manifest(tmp_path / "boat")
    out = tmp_path / "killed"
    proc = _start(out, "capture-batch", path, "--home", home)
    watch = Watch(home)
    try:
        deadline = time.monotonic() + STARTED
        while watch.count("arrivals") < 1:
            assert proc.poll() is None, _output(out)
            assert time.monotonic() < deadline, "capture-batch never landed a row"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "a worker outlived the capture-batch it worked for"
            time.sleep(0.1)
        assert "Traceback" not in (out / "stderr").read_text()  # a worker left with a result says nothing
    finally:
        watch.close()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
