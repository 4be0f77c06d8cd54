"""Hostile input: odd photo files and hostile text are refused cleanly or stored intact, never crash."""

from __future__ import annotations

import io
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import orl, row_counts
from triage.errors import BadInput, ExitStatus
from triage.exchange.batch import spreadsheet_safe
from triage.intake import photos
from triage.intake.samples import astronaut_path


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash_the_decoder(data):
    try:
        photos.decode(data, "fuzz")
    except BadInput:
        pass


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=4000), st.integers(min_value=0, max_value=255))
def test_corrupted_jpeg_bytes_are_refused_or_decoded(position, value):
    buf = io.BytesIO()
    Image.open(astronaut_path()).convert("RGB").resize((128, 128)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    data[position % len(data)] = value
    try:
        photos.decode(bytes(data), "flipped")
    except BadInput:
        pass


def test_png_named_jpg_is_read_by_content(cli, home, tmp_path):
    wrong = tmp_path / "photo.jpg"
    Image.open(orl(5, 5)).convert("RGB").save(wrong, "PNG")
    assert cli.json("capture", "--photo", wrong)["quality"]["measures"]["face_found"] is True


def test_huge_exif_block_is_harmless(cli, home, tmp_path):
    img = Image.open(astronaut_path()).convert("RGB")
    exif = Image.Exif()
    exif[0x010E] = "x" * 60000  # ImageDescription filling most of the APP1 segment
    path = tmp_path / "exif.jpg"
    img.save(path, "JPEG", exif=exif.tobytes())
    assert len(path.read_bytes()) > 60000
    assert cli.json("capture", "--photo", path)["quality"]["measures"]["face_found"] is True


def test_animated_image_uses_its_first_frame(cli, home, tmp_path):
    face = Image.open(astronaut_path()).convert("RGB")
    blank = Image.new("RGB", face.size, (0, 0, 0))
    path = tmp_path / "anim.gif"
    face.save(path, save_all=True, append_images=[blank, blank], duration=100, loop=0)
    assert cli.json("capture", "--photo", path)["quality"]["measures"]["face_found"] is True


def test_decompression_bomb_header_is_refused(tmp_path):
    img = Image.new("L", (1, 1))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    data = bytearray(buf.getvalue())
    # Rewrite the IHDR to claim 20,000 x 20,000 pixels, with a valid chunk CRC; the data stays tiny.
    data[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    with pytest.raises(BadInput, match="over the limit"):
        photos.decode(bytes(data), "bomb.png")


@pytest.mark.parametrize(
    "flag,value,words",
    [
        ("--surname", "A" * 5000, "--surname"),
        ("--surname", "Ali\u202eevil", "--surname"),
        ("--given-names", "Bob\x07\x1b[31m", "--given-names"),
        ("--notes", "x" * 50000, "--notes"),
    ],
)
def test_hostile_text_is_refused_naming_the_field(cli, home, flag, value, words):
    before = row_counts(home)
    res = cli("capture", "--photo", orl(6, 6), flag, value, code=int(ExitStatus.BAD_INPUT))
    assert words in res.stderr and "Traceback" not in res.stderr
    assert row_counts(home) == before


def test_sql_and_html_metacharacters_are_stored_intact(cli, home):
    surname = "O'Brien\"); DROP TABLE arrivals;--"
    given = "<script>alert(1)</script> & <b>"
    aid = cli.json("capture", "--photo", orl(8, 8), "--surname", surname, "--given-names", given)["arrival_id"]
    details = cli.json("arrivals", "show", aid)["details"]
    assert details["surname"] == surname and details["given_names"] == given
    assert row_counts(home)["arrivals"] == 1


@pytest.mark.parametrize(
    "cell,expected",
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+1", "'+1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("Hussein", "Hussein"),
        (None, ""),
    ],
)
def test_spreadsheet_formulas_are_neutralised(cell, expected):
    assert spreadsheet_safe(cell) == expected
