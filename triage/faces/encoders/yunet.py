"""Face detection with YuNet (OpenCV Zoo, 2023mar int8), the detector of every matcher but dlib alone: it
finds more faces than HOG, faster (models/MODEL_CARD.md), and gives the five points SFace-class models are
aligned on. dlib's own 5-point shape is fitted inside a box derived from YuNet's, so one detection serves
every model, and the quality measures, which read dlib's points, keep their meaning.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from triage.faces import detection as faces
from triage.faces.encoders.files import ModelFile, packaged_dir, verified

if TYPE_CHECKING:
    import cv2

DETECTOR_ID = "yunet-2023mar-int8bq"
FILE = ModelFile(
    "face_detection_yunet_2023mar_int8bq.onnx", "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
)
MAX_SIDE = 800  # detection runs on a copy scaled to this; the points are scaled back to full pixels
MIN_SCORE = 0.6
# Real upright faces score 0.87 and more (all 400 ORL photos); what it finds in a turned photo with no
# face in it (scikit-image's cat, upside down or on its side) scores just above MIN_SCORE.
SURE_SCORE = 0.8
NMS = 0.3
# Where dlib's shape predictor is given the face: a square of BOX_SIDE x YuNet's box width, centred
# BOX_DROP x that width below the box's centre, roughly where HOG's brow-to-chin box sits.
BOX_SIDE, BOX_DROP = 1.1, 0.1


@lru_cache(maxsize=4)
def _load(folder: str) -> cv2.FaceDetectorYN:
    import cv2

    path = verified(packaged_dir() / FILE.name, FILE.sha256)
    return cv2.FaceDetectorYN.create(str(path), "", (320, 320), MIN_SCORE, NMS, 5000)


def load() -> cv2.FaceDetectorYN:
    """The detector, its file checked, once per process (and per models folder)."""
    return _load(str(packaged_dir()))


def rows(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
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
    boxes = found.astype(np.float32)
    boxes[:, :14] /= scale
    return boxes[np.argsort(-boxes[:, 14], kind="stable")]


def detect(rgb: npt.NDArray[np.uint8]) -> list[faces.Face]:
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
