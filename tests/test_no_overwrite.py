"""Files a command writes never replace a file without --force, and never land inside the home, however
the path is spelt (symlinks, '..'): exit 8 and the file as it was."""

from __future__ import annotations

import gc
import hashlib
import sqlite3
from pathlib import Path

import pytest

from conftest import orl, row_counts
from triage.casework.arrivals import local_day
from triage.errors import ExitStatus

CONFLICT = int(ExitStatus.CONFLICT)
PURPOSE = "To establish whether this arrival is wanted or linked to organised immigration crime"


def home_files(home: Path) -> dict[str, str]:
    """The home's files by content, after the store's journal is folded into it: a connection that an
    earlier in-process command left open may do that at any moment, changing bytes but nothing stored."""
    gc.collect()
    con = sqlite3.connect(home / "triage.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    journal = ("triage.db-wal", "triage.db-shm")  # emptied by the checkpoint, there while a connection is open
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in home.iterdir()
        if p.is_file() and p.name not in journal
    }


def spellings_inside(home: Path, where: Path, name: str) -> list[Path]:
    """Ways of naming `home/name` without writing the home's path as it is: through '..', a symlink to
    the file, and a symlink to the home folder (made under `where`)."""
    (where / "elsewhere").mkdir(parents=True)
    (where / "innocent.txt").symlink_to(home / name)
    (where / "folder-link").symlink_to(home)
    return [
        home / name,
        where / "elsewhere" / ".." / ".." / home.name / name,
        where / "innocent.txt",
        where / "folder-link" / name,
    ]


@pytest.fixture
def arrival(cli, wl_home) -> dict:
    """An arrival with a name (for a person search) and a portrait (for a facial search), a candidate of WL-007."""
    return cli.json("capture", "--photo", orl(7, 4), "--surname", "Hama", "--vessel", "SB-1")


def test_draft_out_refuses_an_existing_file_unless_forced(cli, arrival, wl_home, tmp_path):
    existing = tmp_path / "draft.txt"
    existing.write_text("keep me")
    before = row_counts(wl_home)
    res = cli("pnd", "draft", arrival["arrival_id"], "--purpose", PURPOSE, "--out", existing, code=CONFLICT)
    assert "already exists" in res.stderr and "--force" in res.stderr and "Traceback" not in res.stderr
    assert existing.read_text() == "keep me"
    assert row_counts(wl_home) == before, "no draft stored when its file cannot be written"
    cli("pnd", "draft", arrival["arrival_id"], "--purpose", PURPOSE, "--out", existing, "--force")
    assert "DRAFT — NOT SUBMITTED" in existing.read_text()


def test_image_out_refuses_an_existing_file_on_draft_and_on_show(cli, arrival, tmp_path):
    aid = arrival["arrival_id"]
    image = tmp_path / "search.jpg"
    image.write_bytes(b"not yours")
    cli("pnd", "draft", aid, "--kind", "face", "--purpose", PURPOSE, "--image-out", image, code=CONFLICT)
    assert image.read_bytes() == b"not yours"
    draft = cli.json("pnd", "draft", aid, "--kind", "face", "--purpose", PURPOSE)
    res = cli("pnd", "show", draft["ref"], "--image-out", image, code=CONFLICT)
    assert "--image-out" in res.stderr and image.read_bytes() == b"not yours"
    cli("pnd", "show", draft["ref"], "--image-out", image, "--force")
    assert hashlib.sha256(image.read_bytes()).hexdigest() == draft["search_image"]["sha256"]


def test_drafts_are_never_written_inside_the_home_even_with_force(cli, arrival, wl_home, tmp_path):
    aid = arrival["arrival_id"]
    before = home_files(wl_home)
    for target in spellings_inside(wl_home, tmp_path / "a", "config.json"):
        res = cli("pnd", "draft", aid, "--purpose", PURPOSE, "--out", target, "--force", code=CONFLICT)
        assert "inside the home folder" in res.stderr, (target, res.stderr)
    for target in spellings_inside(wl_home, tmp_path / "b", "triage.db"):
        face = ("pnd", "draft", aid, "--kind", "face", "--purpose", PURPOSE)
        cli(*face, "--image-out", target, "--force", code=CONFLICT)
    intel = ("intel", "draft", aid, "--source-grade", "2", "--intel-grade", "B", "--handling", "P")
    cli(*intel, "--text", "Two witnesses saw him steer the boat", "--out", wl_home / "new.txt", code=CONFLICT)
    assert not (wl_home / "new.txt").exists()
    assert home_files(wl_home) == before, "the store, its keys and its configuration are untouched"
    assert cli.json("pnd", "list") == [] and cli.json("intel", "list") == []


def test_report_out_is_guarded(cli, arrival, wl_home, tmp_path):
    day = local_day(arrival["landed_at"], "Europe/London")
    page = tmp_path / "report.html"
    page.write_text("yesterday's report")
    cli("report", "--date", day, "--out", page, code=CONFLICT)
    assert page.read_text() == "yesterday's report"
    before = home_files(wl_home)
    for target in spellings_inside(wl_home, tmp_path / "links", "triage.db"):
        cli("report", "--date", day, "--out", target, "--force", code=CONFLICT)
    assert home_files(wl_home) == before
    cli("report", "--date", day, "--out", page, "--force")
    assert "<html" in page.read_text().lower()


def test_export_out_is_guarded(cli, arrival, wl_home, tmp_path):
    day = local_day(arrival["landed_at"], "Europe/London")
    recipient = cli.json("keys", "show")["age_recipient"]
    batch = tmp_path / "day.age"
    batch.write_bytes(b"last week's batch")
    res = cli("export", "--date", day, "--out", batch, "--recipient", recipient, code=CONFLICT)
    assert "already exists" in res.stderr and batch.read_bytes() == b"last week's batch"
    before = home_files(wl_home)
    for target in spellings_inside(wl_home, tmp_path / "links", "config.json"):
        cli("export", "--date", day, "--out", target, "--recipient", recipient, "--force", code=CONFLICT)
    assert home_files(wl_home) == before
    cli("export", "--date", day, "--out", batch, "--recipient", recipient, "--force")
    assert batch.read_bytes() != b"last week's batch"


def test_portraits_to_is_guarded(cli, arrival, wl_home, tmp_path):
    aid = arrival["arrival_id"]
    folder = tmp_path / "compare"
    folder.mkdir()
    mine = folder / "watchlist-WL-007.jpg"
    mine.write_bytes(b"another picture")
    args = ("review", aid, "--candidate", "WL-007", "--no-portraits", "--portraits-to")
    res = cli(*args, folder, code=CONFLICT)
    assert "watchlist-WL-007.jpg" in res.stderr and mine.read_bytes() == b"another picture"
    assert not (folder / f"arrival-{aid}.jpg").exists(), "all the portraits or none"
    cli(*args, folder, "--force")
    assert mine.read_bytes()[:2] == b"\xff\xd8" and (folder / f"arrival-{aid}.jpg").is_file()
    cli(*args, folder)  # the same pictures again: nothing is replaced, so no --force is needed
    before = sorted(p.name for p in wl_home.iterdir())  # the view before the refusal is audited: the store changes
    (tmp_path / "home-link").symlink_to(wl_home)
    for target in (wl_home, wl_home / "portraits", tmp_path / "home-link" / "portraits"):
        cli(*args, target, "--force", code=CONFLICT)
    assert sorted(p.name for p in wl_home.iterdir()) == before


def test_evaluate_outputs_are_guarded_before_any_work(cli, home, tmp_path):
    plot = tmp_path / "det.png"
    plot.write_bytes(b"an older plot")
    res = cli("evaluate", "--fixture", "orl", "--plot", plot, code=CONFLICT)
    assert "--plot" in res.stderr and plot.read_bytes() == b"an older plot"
    cli("evaluate", "--fixture", "orl", "--plot", home / "det.png", "--force", code=CONFLICT)
    res = cli(
        "evaluate", "--fixture", "orl", "--calibrate", "--calibration-file", home / "models" / "x.json", code=CONFLICT
    )
    assert "inside the home folder" in res.stderr and not (home / "models").exists()
    cli("evaluate", "--fixture", "orl", "--cache", home / "other.sealed", code=CONFLICT)
    assert not (home / "det.png").exists() and not (home / "other.sealed").exists()
