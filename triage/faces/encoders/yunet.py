"""Face detection with YuNet (OpenCV Zoo, 2023mar int8), the detector of every matcher but dlib alone.

Why YuNet decides the face: on the ORL faces it finds all 400 (HOG: 396) in about 5 ms a photo against
62 ms for HOG, and its five points are the ones the 112x112 alignment of SFace and ArcFace-class models
is defined on. dlib's encoder still needs dlib's own 5-point shape: it is fitted inside a box derived
from YuNet's (a square of 1.1 x the box width, centred a tenth of the width below the box centre, which
is roughly where HOG's brow-to-chin box sits), so one detection serves both models and the quality
measures, which read dlib's points, keep their meaning.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from triage.faces import detection as faces
from triage.faces.encoders.files import ModelFile, packaged_dir, verified

DETECTOR_ID = "yunet-2023mar-int8bq"
FILE = ModelFile(
    "face_detection_yunet_2023mar_int8bq.onnx", "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
)
MAX_SIDE = 800  # detection runs on a copy scaled to this; the points are scaled back to full pixels
MIN_SCORE = 0.6
NMS = 0.3
# Where dlib's shape predictor is given the face, relative to YuNet's box (see above).
BOX_SIDE, BOX_DROP = 1.1, 0.1


@lru_cache(maxsize=4)
def _load(folder: str):
    import cv2

    path = verified(packaged_dir() / FILE.name, FILE.sha256)
    return cv2.FaceDetectorYN.create(str(path), "", (320, 320), MIN_SCORE, NMS, 5000)


def load():
    """The detector, its file checked, once per process (and per models folder)."""
    return _load(str(packaged_dir()))


def rows(rgb: np.ndarray) -> np.ndarray:
    """YuNet's raw detections in full-image pixels: x, y, w, h, five (x, y) points, score; best first."""
    import cv2

    detector = load()
    h, w = rgb.shape[:2]
    scale = min(1.0, MAX_SIDE / max(h, w))
    small = (
        rgb
        if scale == 1.0
        else cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    )
    detector.setInputSize((small.shape[1], small.shape[0]))
    _, found = detector.detect(cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2BGR))
    if found is None:
        return np.zeros((0, 15), np.float32)
    found = found.astype(np.float32)
    found[:, :14] /= scale
    return found[np.argsort(-found[:, 14], kind="stable")]


def detect(rgb: np.ndarray) -> list[faces.Face]:
    """All faces, largest first (as `faces.detect`), each with dlib's shape and YuNet's five points."""
    out = []
    for row in rows(rgb):
        x, y, bw, bh = (float(v) for v in row[:4])
        cx, cy, side = x + bw / 2, y + bh / 2 + BOX_DROP * bw, BOX_SIDE * bw
        box = (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
        out.append(
            faces.landmarked(rgb, box, float(row[14]), detector=DETECTOR_ID, anchor=row[4:14].reshape(5, 2).copy())
        )
    out.sort(key=lambda f: f.area, reverse=True)
    return out
