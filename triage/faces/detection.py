"""Find, choose and encode faces with face_recognition's models (dlib): HOG detection, the 5-point landmark
model, and the ResNet encoder (run by onnxruntime: encoders/dlibnet.py). Models load once per process, on
first use, so `triage --help` stays fast; a missing package or file raises `ModelMissing` (where
face_recognition would exit), and a file whose SHA-256 is not the pinned one is never loaded. The
68-point model is never used: its training data is licensed for non-commercial use only.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from triage.errors import FaceError, ModelMissing
from triage.faces import runtime

MODEL_ID = "dlib-resnet-v1+5pt"
DETECTOR_ID = "dlib-hog"
# face_recognition_models 0.3.0: shape_predictor_5_face_landmarks.dat, dlib_face_recognition_resnet_model_v1.dat
FILE_SHA256 = (
    "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
)
DETECT_MAX_SIDE = 1024  # detection runs on a copy scaled to this; landmarks and encoding use full pixels
SIMILAR_SIZE = 0.5  # a second face at least this fraction of the largest one's area makes the choice ambiguous
# HOG scores real frontal faces above about 0.5; patterns such as badges and prints score near 0.1.
CONFIDENT_SCORE = 0.3
SURE_SCORE = 0.5  # a face found only in a turned photo must score this to be called a photo held sideways
# How far the base of the nose stands in front of the eye corners, in eye distances (d / e in Face.yaw).
# 0.5 is what a head-pose fit of dlib's 68 landmarks to a generic three-dimensional face gives on ORL's
# turned heads (0.53), and keeps a small turn reading as it did, so the pose limits keep their meaning.
NOSE_DEPTH = 0.5
# The normalised portrait, roughly in ICAO proportions: the eye centres on a level line at 40% of its
# height, 30% of its width apart. PND facial search drafts state these figures.
PORTRAIT_EYE_LINE = 0.40
PORTRAIT_EYE_SPAN = 0.30
# The most a descriptor of dlib's network run here may differ from dlib's own, element by element, for
# `triage doctor` to pass: match distances are read to 1e-4, and the two agree to about 3e-7.
AGREEMENT = 1e-4


@dataclass(frozen=True)
class Models:
    """dlib's models in this process (dlib ships no type information: its objects are typed Any)."""

    shape5: Any  # dlib.shape_predictor
    encoder: runtime.Session  # dlib's ResNet, run by onnxruntime
    dlib: ModuleType


DLIB_FILES = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")


def dlib_folder() -> Path | None:
    """The folder of face_recognition_models' files, found without importing the package: its import loads
    pkg_resources, which costs each process that loads the models (every batch worker) a tenth of a second.
    The files are checked against their SHA-256 before use, wherever they are found."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@lru_cache(maxsize=1)
def models() -> Models:
    """Load dlib's detector, 5-point shape predictor and encoder once per process."""
    folder = dlib_folder()
    if folder is None:
        raise ModelMissing("the package face_recognition_models is not installed; run `uv sync`")
    paths = [str(folder / name) for name in DLIB_FILES]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise ModelMissing(f"face model files are missing: {', '.join(missing)}")
    from triage.faces.encoders import dlibnet  # here: the encoders package imports this module
    from triage.faces.encoders.files import verified

    for path, digest in zip(paths, FILE_SHA256):
        verified(Path(path), digest)
    # dlib itself, not face_recognition.api: importing that loads every model it knows (the 68-point
    # predictor and the CNN detector too), twice the time and memory, in every batch worker.
    dlib = importlib.import_module("dlib")
    return Models(
        shape5=dlib.shape_predictor(paths[0]),
        encoder=dlibnet.load(paths[1]),
        dlib=dlib,
    )


@dataclass
class Face:
    """One detected face in full-image pixel coordinates."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    landmarks: npt.NDArray[np.float32] = field(repr=False)  # 5 x 2: two corners of each eye, then the base of the nose
    score: float = 1.0  # the detector's confidence
    shape: Any = field(repr=False, default=None)  # dlib.full_object_detection
    detector: str = DETECTOR_ID
    # The detector's own five points, when it gives them (YuNet: eye centres, nose tip, mouth corners),
    # in the order of the 112x112 alignment template the ONNX encoders use (encoders/onnx.py).
    anchor: npt.NDArray[np.float32] | None = field(repr=False, default=None)

    @property
    def area(self) -> int:
        left, top, right, bottom = self.box
        return max(0, right - left) * max(0, bottom - top)

    @property
    def eyes(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Centres of the eye on the image's left and the eye on the image's right."""
        a = self.landmarks[0:2].mean(axis=0)
        b = self.landmarks[2:4].mean(axis=0)
        return (a, b) if a[0] < b[0] else (b, a)

    @property
    def inter_eye(self) -> float:
        left, right = self.eyes
        return float(np.linalg.norm(right - left))

    @property
    def roll(self) -> float:
        """Head roll in degrees from the line through the eye centres."""
        left, right = self.eyes
        return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))

    @property
    def yaw(self) -> float:
        """Approximate head yaw in degrees, from how far the base of the nose sits off the eyes' midline.

        Turning the head by an angle a moves the nose, which stands in front of the eyes by a depth d, sideways
        by d sin(a), while the eyes, side by side, come closer together in the photo: their distance e
        becomes e cos(a). Measured in eye distances the offset is (d / e) tan(a), so a = atan(offset / (d / e)):
        a moderate turn reads as a moderate yaw, a three-quarter view as about 45 degrees, and only a profile
        approaches 90."""
        left, right = self.eyes
        mid = (left + right) / 2
        nose = self.landmarks[4]
        axis = (right - left) / max(self.inter_eye, 1e-6)
        offset = float(np.dot(nose - mid, axis)) / max(self.inter_eye, 1e-6)
        return math.degrees(math.atan2(offset, NOSE_DEPTH))


@lru_cache(maxsize=1)
def hog() -> Any:
    """dlib's HOG face detector (a dlib.fhog_object_detector), built on first use: a pipeline that detects
    with YuNet never needs it, and building it is a good part of a batch worker's start."""
    return models().dlib.get_frontal_face_detector()


def detect(rgb: npt.NDArray[np.uint8]) -> list[Face]:
    """All faces, largest first. Small images are upsampled so that faces in them reach HOG's minimum."""
    detector = hog()
    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = rgb if scale == 1.0 else _resize(rgb, scale)
    side = min(small.shape[:2])
    upsample = 0 if side >= 480 else 1 if side >= 160 else 2  # HOG finds faces of about 80 px and up
    rects, scores, _ = detector.run(small, upsample, 0.0)
    if not rects and upsample == 0:
        rects, scores, _ = detector.run(small, 1, 0.0)
    faces = []
    for r, score in zip(rects, scores):
        box = (
            max(0, int(r.left() / scale)),
            max(0, int(r.top() / scale)),
            min(w, int(r.right() / scale)),
            min(h, int(r.bottom() / scale)),
        )
        faces.append(landmarked(rgb, box, float(score)))
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces


def landmarked(
    rgb: npt.NDArray[np.uint8],
    box: tuple[int, int, int, int],
    score: float,
    detector: str = DETECTOR_ID,
    anchor: npt.NDArray[np.float32] | None = None,
) -> Face:
    """A face with dlib's 5-point shape fitted inside `box` (a HOG-like box: brows to chin, which may
    reach past the image's edge); the quality measures, the portrait and the dlib encoder all read that
    shape, whichever detector found the face. The face's own box is clipped to the image."""
    m = models()
    shape = m.shape5(rgb, m.dlib.rectangle(*box))
    pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float32)
    h, w = rgb.shape[:2]
    clipped = (max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3]))
    return Face(box=clipped, landmarks=pts, score=score, shape=shape, detector=detector, anchor=anchor)


@dataclass
class Choice:
    face: Face
    index: int
    count: int
    warnings: list[str]


def choose(faces: list[Face], source: str, index: int | None = None) -> Choice:
    """The face to use: the one asked for (`index`, 1-based, largest first) or the clearly dominant one."""
    if not faces:
        raise FaceError(f"{source}: no face found; retake the photo facing the camera, face filling more of the frame")
    if index is not None:
        if not 1 <= index <= len(faces):
            raise FaceError(
                f"{source}: face {index} asked for (--face, or a face column), but the photo has {len(faces)} face(s)"
            )
        return Choice(faces[index - 1], index, len(faces), [])
    warnings = []
    confident = [f for f in faces if f.score >= CONFIDENT_SCORE] or [max(faces, key=lambda f: f.score)]
    chosen = confident[0]
    if len(confident) > 1:
        if confident[1].area >= SIMILAR_SIZE * chosen.area:
            raise FaceError(
                f"{source}: {len(confident)} faces of similar size; choose one with --face N (a manifest's or "
                f"sidecar's face column; 1 = largest, {len(faces)} = smallest) or crop the photo"
            )
        warnings.append(f"{source}: {len(confident) - 1} smaller face(s) in the background ignored; using the largest")
    weak = len(faces) - len(confident)
    if weak:
        warnings.append(f"{source}: {weak} weak face-like pattern(s) ignored (badge, print or shadow)")
    return Choice(chosen, faces.index(chosen) + 1, len(faces), warnings)


def encode(rgb: npt.NDArray[np.uint8], face: Face) -> npt.NDArray[np.float32]:
    """The 128-d dlib descriptor of one face, as float32: dlib cuts the chip, as `compute_face_descriptor`
    does, and its network runs in onnxruntime (encoders/dlibnet.py)."""
    from triage.faces.encoders import dlibnet

    m = models()
    chip = m.dlib.get_face_chip(np.ascontiguousarray(rgb), face.shape, dlibnet.SIZE, dlibnet.CHIP_PADDING)
    descriptor: npt.NDArray[np.float32] = dlibnet.descriptors(m.encoder, chip[None])[0]
    return descriptor


def encoder_agreement() -> float:
    """The largest difference between a descriptor of the network run here and dlib's own encoder's, on
    the face of scikit-image's astronaut: what `triage doctor` checks, since another onnxruntime build or
    processor could compute the same graph otherwise, and templates would then not match those made on
    other laptops."""
    from triage.intake import samples
    from triage.intake.photos import read_photo

    m = models()
    path = samples.astronaut_path()
    rgb = read_photo(path).rgb
    try:
        face = choose(detect(rgb), "astronaut").face
    except FaceError:
        raise FaceError(
            f"no face found on {path}, the photo this check uses: it or the detector is not what "
            "was installed; reinstall with `uv sync`"
        ) from None
    folder = dlib_folder()
    assert folder is not None  # models() found it
    reference = m.dlib.face_recognition_model_v1(str(folder / DLIB_FILES[1]))
    theirs = np.asarray(reference.compute_face_descriptor(rgb, face.shape, 1), np.float32)
    return float(np.abs(encode(rgb, face) - theirs).max())


def portrait(rgb: npt.NDArray[np.uint8], face: Face, size: int = 256) -> npt.NDArray[np.uint8]:
    """A normalised portrait crop: upright (roll removed), eyes level, the face centred with margin."""
    import cv2

    left, right = face.eyes
    centre = ((left + right) / 2).astype(np.float32)
    eye_dist = max(face.inter_eye, 1.0)
    scale = (PORTRAIT_EYE_SPAN * size) / eye_dist
    mat = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), face.roll, scale)
    mat[0, 2] += size / 2 - centre[0]
    mat[1, 2] += PORTRAIT_EYE_LINE * size - centre[1]
    # cv2's stubs give every image an integer-or-float dtype; a warp of uint8 pixels is uint8
    return cast(
        npt.NDArray[np.uint8],
        cv2.warpAffine(
            rgb,
            mat,
            (size, size),
            flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REPLICATE,
        ),
    )


def _resize(rgb: npt.NDArray[np.uint8], scale: float) -> npt.NDArray[np.uint8]:
    import cv2

    h, w = rgb.shape[:2]
    resized = cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    return cast(npt.NDArray[np.uint8], resized)  # uint8 in, uint8 out (cv2's stubs do not say so)
