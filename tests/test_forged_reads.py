"""What someone who can write the home's files, but has no passphrase, cannot do: make an output command
write through a file planted beside its output, show a watchlist subject's photo as an arrival's, hide a
subject from every search by editing its row, pass off another officer, device, time zone or site by
editing config.json, or crash a capture with an image a pixel wide. Through the real CLI and store."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import zlib
from pathlib import Path

import pytest
from PIL import Image

from conftest import PASSPHRASE, orl
from triage.casework.arrivals import local_day
from triage.errors import BadInput, ExitStatus, IntegrityFailure
from triage.files import write_files
from triage.intake import photos
from triage.store.config import CONFIG_FILE
from triage.store.rows import Store

INTEGRITY = int(ExitStatus.INTEGRITY)
RELEASE_HOME = Path(__file__).parent / "data" / "release_home"


def sql(home: Path, statement: str, params: tuple = ()) -> None:
    con = sqlite3.connect(home / "triage.db")
    try:
        con.execute(statement, params)
        con.commit()
    finally:
        con.close()


def edit_config(home: Path, **changes: str) -> None:
    path = home / CONFIG_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}, indent=2))


def test_a_file_planted_at_the_temporary_name_is_never_written_through(cli, home, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    config_bytes = (home / CONFIG_FILE).read_bytes()
    (out / "r.html.partial").symlink_to(home / "triage.db")
    (out / "x.age.partial").symlink_to(home / CONFIG_FILE)
    landed = cli.json("capture", "--photo", orl(7, 4))["landed_at"]
    today = local_day(landed, "Europe/London")
    cli("report", "--date", today, "--out", out / "r.html")
    recipient = cli.json("keys", "show")["age_recipient"]
    cli("export", "--date", today, "--out", out / "x.age", "--recipient", recipient)
    assert (home / "triage.db").read_bytes()[:16] == b"SQLite format 3\x00"
    assert (home / CONFIG_FILE).read_bytes() == config_bytes
    assert "<html" in (out / "r.html").read_text().lower() and (out / "x.age").stat().st_size > 0
    assert len(cli.json("arrivals", "list")) == 1  # the home still opens


def test_write_files_leaves_planted_files_alone(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "a.txt.partial").symlink_to(victim)
    (tmp_path / "b.txt.partial").write_text("someone else's")
    write_files({tmp_path / "a.txt": b"A", tmp_path / "b.txt": b"B"})
    assert victim.read_text() == "keep me" and (tmp_path / "b.txt.partial").read_text() == "someone else's"
    assert (tmp_path / "a.txt").read_bytes() == b"A" and (tmp_path / "b.txt").read_bytes() == b"B"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.txt",
        "a.txt.partial",
        "b.txt",
        "b.txt.partial",
        "victim.txt",
    ]
    with pytest.raises(BadInput, match="nothing was saved"):
        write_files({tmp_path / "c.txt": b"C", tmp_path / "missing" / "d.txt": b"D"})
    assert not (tmp_path / "c.txt").exists() and not list(tmp_path.glob(".c.txt.*"))


def test_a_subject_photo_retagged_as_an_arrival_portrait_is_refused(cli, wl_home, tmp_path):
    aid = cli.json("capture", "--photo", orl(7, 4))["arrival_id"]
    con = sqlite3.connect(wl_home / "triage.db")
    pid = con.execute("SELECT id FROM photos WHERE owner_id = 'WL-003' AND role = 'portrait'").fetchone()[0]
    con.close()
    sql(wl_home, "UPDATE photos SET owner_kind = 'arrival', owner_id = ? WHERE id = ?", (aid, pid))
    folder = tmp_path / "compare"
    folder.mkdir()
    res = cli("review", aid, "--candidate", "WL-007", "--portraits-to", folder, code=INTEGRITY)
    assert f"photos row {pid} was changed outside triage" in res.stderr
    assert not list(folder.iterdir())


def test_a_subject_backdated_out_of_the_search_is_refused(cli, wl_home):
    sql(wl_home, "UPDATE subjects SET review_date = '2020-01-01' WHERE ref = 'WL-007'")
    res = cli("capture", "--photo", orl(7, 4), code=INTEGRITY)
    assert "subjects row WL-007 was changed outside triage" in res.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [("officer", "PC 666 Mallory"), ("device", "BEEF01"), ("timezone", "Pacific/Auckland"), ("force_code", "XXX")],
)
def test_config_json_identity_edited_is_refused_naming_the_field(cli, home, field, value):
    made_with = json.loads((home / CONFIG_FILE).read_text())[field]
    edit_config(home, **{field: value})
    res = cli("arrivals", "list", code=INTEGRITY)
    assert f"{home / CONFIG_FILE} says {field} {value}; the home was made with {field} {made_with}" in res.stderr
    edit_config(home, **{field: made_with})
    assert cli.json("arrivals", "list") == []


def test_an_older_home_records_who_and_where_it_is_once(cli, triage_env):
    shutil.copytree(RELEASE_HOME, triage_env)
    assert len(cli.json("arrivals", "list")) == 3
    cli.json("arrivals", "list")
    con = sqlite3.connect(triage_env / "triage.db")
    try:
        recorded = json.loads(con.execute("SELECT value FROM settings WHERE name = 'identity'").fetchone()[0])
        adopted = con.execute("SELECT records FROM audit_events WHERE action = 'settings-adopt'").fetchall()
    finally:
        con.close()
    assert recorded["officer"] == json.loads((triage_env / CONFIG_FILE).read_text())["officer"]
    assert len(adopted) == 1 and "settings:identity" in json.loads(adopted[0][0])
    edit_config(triage_env, site="Elsewhere")
    res = cli("arrivals", "list", code=INTEGRITY)
    assert "says site Elsewhere; the home was made with site" in res.stderr
    with pytest.raises(IntegrityFailure, match="site Elsewhere"):
        Store.open(triage_env, PASSPHRASE)


def thin_png(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels, around a single pixel's data."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def test_an_image_too_thin_to_hold_a_face_is_refused_before_decoding(cli, home, tmp_path):
    path = tmp_path / "thin.png"
    path.write_bytes(thin_png(1, 39_000_000))
    res = cli("capture", "--photo", path, code=int(ExitStatus.BAD_INPUT))
    assert "image is 1x39000000 pixels, too small to hold a face" in res.stderr
    with pytest.raises(BadInput, match="2000x100 pixels, too narrow"):
        photos.decode(thin_png(2000, 100), "strip.png")
    wide = io.BytesIO()
    Image.new("RGB", (1200, 120)).save(wide, "PNG")
    assert photos.decode(wide.getvalue(), "ok.png").width == 1200  # ten to one is accepted
