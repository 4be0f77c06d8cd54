"""Photo intake from every source, for real: a JPEG whose EXIF orientation must be honoured, a PNG, a HEIC
file written with pillow-heif, a video file standing in for the camera, and a decompression bomb that
must be refused before it is decoded. The store must hold the original and the portrait, encrypted."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import PASSPHRASE, orl, row_counts
from triage.errors import BadInput, ExitStatus
from triage.faces import analysis
from triage.faces import detection as faces
from triage.intake import camera, photos
from triage.intake.samples import astronaut_path
from triage.store.rows import Store

ORIENTATION = 0x0112
ROTATE_CW_ON_DISPLAY = 6  # EXIF: the stored pixels must be turned 90 degrees clockwise to be upright


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.open(astronaut_path()).convert("RGB")


@pytest.fixture
def exif_jpeg(tmp_path, astronaut):
    """The astronaut stored lying on its side, with the tag a phone writes to say how to stand it up."""
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_CW_ON_DISPLAY
    path = tmp_path / "phone.jpg"
    astronaut.transpose(Image.Transpose.ROTATE_90).save(path, "JPEG", quality=92, exif=exif.tobytes())
    return path


@pytest.fixture
def heic(tmp_path, astronaut):
    import pillow_heif

    path = tmp_path / "phone.heic"
    pillow_heif.from_pillow(astronaut).save(path, quality=90)
    return path


def stored_photos(home, arrival_id):
    """The arrival's photo rows as stored (sealed) and as opened with the passphrase."""
    store = Store.open(home, PASSPHRASE)
    try:
        raw = {r["role"]: r for r in store.db["photos"].rows_where("owner_id = ?", [arrival_id])}
        opened = {role: store.photo("arrival", arrival_id, role) for role in raw}
        return raw, opened
    finally:
        store.close()


def assert_stored_encrypted(home, arrival_id, original: bytes, media_type: str):
    raw, opened = stored_photos(home, arrival_id)
    assert set(raw) == {"original", "portrait"}
    row, data = opened["original"]
    assert data == original and row["media_type"] == media_type
    assert raw["original"]["data"] != original and original[:64] not in raw["original"]["data"]
    meta, portrait = opened["portrait"]
    assert portrait[:3] == b"\xff\xd8\xff" and (meta["width"], meta["height"]) == (256, 256)
    assert portrait[:64] not in raw["portrait"]["data"]


def test_exif_orientation_is_honoured(exif_jpeg):
    stored = np.asarray(Image.open(exif_jpeg).convert("RGB"))  # the pixels as stored, tag ignored
    assert stored.shape[:2] == (512, 512) and faces.detect(stored) == []
    photo = photos.read_photo(exif_jpeg)
    found = faces.detect(photo.rgb)
    assert found and abs(found[0].roll) < 10
    assert photo.media_type == "image/jpeg"


def test_capture_from_exif_jpeg_stores_original_and_portrait_encrypted(cli, home, exif_jpeg):
    res = cli.json("capture", "--photo", exif_jpeg)
    assert abs(res["quality"]["measures"]["roll_deg"]) < 10
    assert_stored_encrypted(home, res["arrival_id"], exif_jpeg.read_bytes(), "image/jpeg")


def test_capture_from_png(cli, home):
    res = cli.json("capture", "--photo", astronaut_path())
    assert res["quality"]["measures"]["face_count"] >= 1
    assert_stored_encrypted(home, res["arrival_id"], astronaut_path().read_bytes(), "image/png")


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_a_deep_grayscale_photo_keeps_its_face(cli, tmp_path, mode):
    """16-bit PNG and 32-bit integer or float TIFF: scaled to 8 bits, not clipped white by the RGB conversion."""
    gray = np.asarray(Image.open(orl(5, 1)))
    deep = {"I;16": gray.astype(np.uint16) * 257, "I": gray.astype(np.int32), "F": gray.astype(np.float32) / 255}[mode]
    path = tmp_path / ("face.png" if mode == "I;16" else "face.tif")
    Image.fromarray(deep).save(path)
    assert Image.open(path).mode == mode
    assert np.array_equal(photos.read_photo(path).rgb[..., 0], gray)
    report = cli.json("quality", path, "--matcher", "dlib", code=None)
    assert report["measures"]["face_count"] == 1


def test_capture_from_heic(cli, home, heic):
    assert heic.read_bytes()[4:12] == b"ftypheic"
    res = cli.json("capture", "--photo", heic)
    assert res["quality"]["passed"] is True
    assert_stored_encrypted(home, res["arrival_id"], heic.read_bytes(), "image/heif")


# -- the camera, driven by a video file ---------------------------------------------------------------

BURST = (4.0, 3.0, 0.0, 2.5)  # Gaussian blur of each frame; frame 3 is the sharp one


@pytest.fixture
def video(tmp_path, astronaut):
    import cv2

    path = tmp_path / "camera.avi"
    bgr = cv2.cvtColor(np.asarray(astronaut), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (bgr.shape[1], bgr.shape[0]))
    assert writer.isOpened()
    for sigma in BURST:
        writer.write(cv2.GaussianBlur(bgr, (0, 0), sigma) if sigma else bgr)
    writer.release()
    return path


def test_burst_keeps_the_sharpest_frame(face_models, video):
    best, scores = camera.best_frame(str(video), lambda frame: analysis.inspect(frame, "probe")[0].score)
    assert len(scores) == len(BURST)
    assert scores.index(max(scores)) == BURST.index(0.0)
    assert best.source.endswith(f"frame {BURST.index(0.0) + 1}")
    assert best.original[:3] == b"\xff\xd8\xff"


def test_capture_from_camera_stores_the_best_frame(cli, home, video):
    res = cli("capture", "--camera", video, "--json")
    assert f"{len(BURST)} frames" in res.stderr
    arrival = cli.json("arrivals", "show", json.loads(res.stdout)["arrival_id"])
    assert arrival["quality"]["passed"] is True
    raw, opened = stored_photos(home, arrival["id"])
    row, original = opened["original"]
    assert row["media_type"] == "image/jpeg" and (row["width"], row["height"]) == (512, 512)
    assert original[:64] not in raw["original"]["data"]


@pytest.mark.parametrize("source,words", [("/dev/video99", "no such device or video file"), ("9", "cannot open it")])
def test_missing_camera_is_bad_input(cli, home, source, words):
    before = row_counts(home)
    res = cli("capture", "--camera", source, code=int(ExitStatus.BAD_INPUT))
    assert words in res.stderr and "Traceback" not in res.stderr
    assert row_counts(home) == before


def test_a_file_that_is_not_a_video_is_no_camera(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    with pytest.raises(BadInput, match="cannot open it"):
        camera.burst(str(notes))


# -- decompression bombs --------------------------------------------------------------------------------


def write_png_of_zeros(path, width: int, height: int) -> None:
    """An RGB PNG of black pixels, streamed: the compressor sees one block of zero rows, flushed so its
    output can be repeated, and the image is never held in memory (30,000 x 30,000 is 2.7 GB decoded)."""

    def chunk(f, kind: bytes, data: bytes) -> None:
        f.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)))

    row = 1 + 3 * width  # filter byte, then the pixels
    total = row * height
    block = min(total, row * max(1, (8 << 20) // row))
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    piece = deflate.compress(bytes(block)) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeats, rest = divmod(total, block)
    tail = zlib.compressobj(1, zlib.DEFLATED, -15)
    end = tail.compress(bytes(rest)) + tail.flush()
    adler = ((total % 65521) << 16) | 1  # Adler-32 of `total` zero bytes
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        chunk(f, b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        chunk(f, b"IDAT", b"\x78\x01")
        for _ in range(repeats):
            chunk(f, b"IDAT", piece)
        chunk(f, b"IDAT", end + struct.pack(">I", adler))
        chunk(f, b"IEND", b"")


def test_the_streamed_png_is_a_real_png(tmp_path):
    path = tmp_path / "small.png"
    write_png_of_zeros(path, 3000, 700)  # several compressed blocks and a remainder
    img = Image.open(path)
    img.load()
    assert img.size == (3000, 700) and img.getextrema() == ((0, 0), (0, 0), (0, 0))


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    write_png_of_zeros(bomb, 30_000, 30_000)
    assert bomb.stat().st_size < photos.MAX_FILE_BYTES  # it reaches the pixel check
    # A fresh interpreter runs the real CLI as its only child and reports that child's peak memory.
    probe = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "sys.stdout.write(r.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "triage", "quality", str(bomb)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    first, stderr = done.stdout.split("\n", 1)
    status, peak_kib = map(int, first.split())
    assert status == ExitStatus.BAD_INPUT, stderr
    assert "30000x30000" in stderr and "over the limit of 40,000,000" in stderr
    assert peak_kib < 300 * 1024, f"peak memory {peak_kib / 1024:.0f} MiB"


def test_pixel_limit_is_checked_from_the_header():
    buf = io.BytesIO()
    Image.new("RGB", (400, 300)).save(buf, "PNG")
    with pytest.raises(BadInput, match="120,000 pixels, over the limit of 100,000"):
        photos.decode(buf.getvalue(), "small.png", max_pixels=100_000)
