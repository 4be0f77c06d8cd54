"""Photo intake: read an image file safely into RGB pixels.

The pixel count and the shape are checked from the header before any decoding, so a decompression bomb,
or a strip of pixels too thin to hold a face, is refused without allocating it. EXIF orientation is applied, so a phone photo taken on its side arrives upright.
HEIC/HEIF (what phones produce) is read through pillow-heif.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from triage.errors import BadInput

MAX_PIXELS = 40_000_000  # a 48-megapixel phone sensor in its 12-megapixel binned mode fits many times over
MAX_FILE_BYTES = 64 * 1024 * 1024
# A face needs some pixels both ways: the detector upsamples a small image at most four times to reach its
# ~80 px face, and scales a large one down to a longest side of 1,024 (faces/detection.py), so a strip much
# longer than it is wide leaves nothing to search across. Refused from the header, before any decoding.
MIN_SIDE = 32
MAX_ASPECT = 12
MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "HEIF": "image/heif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "PPM": "image/x-portable-anymap",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
}

_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        _heif_registered = True


@dataclass
class Photo:
    """Decoded pixels (RGB, upright) and the original file's bytes and type."""

    rgb: np.ndarray
    original: bytes
    media_type: str
    source: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def decode(data: bytes, source: str, *, max_pixels: int = MAX_PIXELS) -> Photo:
    """Decode image bytes, refusing what is not a single still image within the pixel limit."""
    if not data:
        raise BadInput(f"{source}: the file is empty (0 bytes)")
    _register_heif()
    Image.MAX_IMAGE_PIXELS = None  # our own limit below is checked before decoding, and says what it is
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # face_recognition turns this on at import; a cut-off photo is an error
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise BadInput(f"{source}: not an image file (JPEG, PNG, HEIC, TIFF, WebP, GIF or BMP expected)") from None
    except Exception as e:  # malformed headers raise many kinds of error inside Pillow
        raise BadInput(f"{source}: unreadable image header ({e})") from None
    w, h = img.size
    if w * h > max_pixels:
        raise BadInput(
            f"{source}: image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,}; resize it before capture"
        )
    if min(w, h) < MIN_SIDE or max(w, h) > MAX_ASPECT * min(w, h):
        raise BadInput(
            f"{source}: image is {w}x{h} pixels, too {'small' if min(w, h) < MIN_SIDE else 'narrow'} to hold a "
            f"face; accepted: at least {MIN_SIDE} pixels on its shorter side, and at most {MAX_ASPECT} times as "
            "long as it is wide"
        )
    if getattr(img, "n_frames", 1) > 1:
        # Animated images: take the first frame, as a camera still would be.
        img.seek(0)
    fmt = img.format or "unknown"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            upright = ImageOps.exif_transpose(img) or img
            rgb = np.asarray(_eight_bit(upright).convert("RGB"))
    except Exception as e:
        raise BadInput(f"{source}: the image data is truncated or corrupt ({type(e).__name__}: {e})") from None
    return Photo(
        rgb=np.ascontiguousarray(rgb),
        original=data,
        media_type=MEDIA_TYPES.get(fmt, "application/octet-stream"),
        source=source,
    )


def _eight_bit(img: Image.Image) -> Image.Image:
    """A single-channel image of more than 8 bits (16-bit PNG or TIFF, 32-bit integer or float TIFF) as 8
    bits: Pillow's RGB conversion clips such pixels at 255, which turns a face white. Values that fit a
    usual full scale (0-1 for floats, 0-255, 0-65535) keep their exposure; others are stretched."""
    if img.mode not in ("I", "F") and not img.mode.startswith("I;16"):
        return img
    values = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    scales = (65535.0,) if img.mode.startswith("I;16") else ((1.0,) if img.mode == "F" else ()) + (255.0, 65535.0)
    full = next((scale for scale in scales if lo >= 0 and hi <= scale), None)
    if full is not None:
        lo, hi = 0.0, full
    scaled = np.clip((values - lo) / max(hi - lo, 1e-12) * 255.0, 0, 255)
    return Image.fromarray(np.round(scaled).astype(np.uint8), "L")


def read_file(path: Path | str) -> bytes:
    """A photo file's bytes, refusing what is missing, not a file, or over the size limit."""
    shown = str(path) if len(str(path)) <= 200 else f"{str(path)[:200]}... ({len(str(path)):,} characters)"
    path = Path(path)
    try:
        if not path.exists():
            raise BadInput(f"{shown}: no such file")
        if not path.is_file():
            raise BadInput(f"{shown}: not a file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInput(f"{shown}: file is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,}")
        return path.read_bytes()
    except OSError as e:  # a name too long for the file system, a file that cannot be read
        raise BadInput(f"{shown}: cannot be read ({e.strerror or e})") from None


def read_photo(path: Path | str, *, max_pixels: int = MAX_PIXELS) -> Photo:
    return decode(read_file(path), str(path), max_pixels=max_pixels)


def to_jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
