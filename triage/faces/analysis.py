"""One photo through the whole face pipeline: detect, choose the face, judge quality, encode, crop.

Capture and watchlist enrolment both come through here, so an arrival photo and a watchlist photo are
treated alike except for the quality profile they are judged by. A pipeline (`encoders.Pipeline`) says
which detector decides the face and which models encode it; without one, HOG and dlib, as always.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from triage.errors import FaceError
from triage.faces import detection as faces
from triage.faces import quality
from triage.faces.encoders import DLIB_ONLY, Pipeline, yunet
from triage.intake.photos import Photo, decode


@dataclass
class Analysis:
    photo: Photo
    face: faces.Face
    quality: quality.QualityReport
    vectors: dict[str, npt.NDArray[np.float32]]  # model id -> template
    portrait: npt.NDArray[np.uint8]
    warnings: list[str] = field(default_factory=list)


SIDEWAYS_ROLL = 30  # degrees: a face leaning further than any profile allows may be a photo held sideways


def _sure(face: faces.Face) -> bool:
    """Whether the detector found this face as confidently as it finds real upright faces: turning a photo
    with no face in it makes a detector see faces in fur, foam and shadows, at its lowest scores."""
    return face.score >= (yunet.SURE_SCORE if face.detector == yunet.DETECTOR_ID else faces.SURE_SCORE)


def _rotation_hint(rgb: npt.NDArray[np.uint8], pipeline: Pipeline) -> int | None:
    """Whether a level face appears, found with confidence, with the photo turned (a phone held sideways).
    HOG finds no face in a sideways photo; YuNet finds one, but dlib's shape fitted on it leans at about 45
    degrees. Advice to turn the photo is given only then: a photo with no face at all (a cat, a wall) is
    told that no face was found."""
    for k, degrees in ((1, 90), (3, 270), (2, 180)):
        turned = pipeline.detect(np.ascontiguousarray(np.rot90(rgb, k)))
        if any(abs(f.roll) <= SIDEWAYS_ROLL and _sure(f) for f in turned):
            return degrees
    return None


def inspect(
    photo: Photo, profile: str, face_index: int | None = None, pipeline: Pipeline = DLIB_ONLY
) -> tuple[quality.QualityReport, faces.Face | None]:
    """The quality verdict for a photo without encoding it (what `triage quality` shows)."""
    found = pipeline.detect(photo.rgb)
    if not found:
        return quality.assess(photo.rgb, [], None, profile, rotation=_rotation_hint(photo.rgb, pipeline)), None
    choice = faces.choose(found, photo.source, face_index)
    if abs(choice.face.roll) > SIDEWAYS_ROLL:
        turned = _rotation_hint(photo.rgb, pipeline)
        if turned:
            return quality.assess(photo.rgb, [], None, profile, rotation=turned), None
    report = quality.assess(photo.rgb, found, choice.face, profile)
    report.warnings.extend(choice.warnings)
    return report, choice.face


def analyse(
    photo: Photo,
    profile: str,
    *,
    face_index: int | None = None,
    override_reason: str | None = None,
    pipeline: Pipeline = DLIB_ONLY,
) -> Analysis:
    """Gate, encode (with every model of the pipeline) and crop one photo. A refused photo raises
    `FaceError` naming what to change, unless an officer overrides with a reason (the caller records it)."""
    report, face = inspect(photo, profile, face_index, pipeline)
    if face is None:
        raise FaceError(f"{photo.source}: {report.reasons[0]}")
    if not report.passed:
        if not override_reason:
            raise FaceError(
                f"{photo.source}: quality refused for {profile} (score {report.score}): " + "; ".join(report.reasons),
                hint=f"retake the photo, or pass --accept-low-quality {OVERRIDE_REASON.get(profile, '--reason')} TEXT to "
                "override (the override is recorded)",
            )
        report.warnings.append(f"quality override: {override_reason}")
    return Analysis(
        photo, face, report, pipeline.encode(photo.rgb, face), faces.portrait(photo.rgb, face), list(report.warnings)
    )


# The option that gives an override's reason: a capture's --reason; enrolment's own --reason is why the person is
# on the watchlist, so its override's is --override-reason.
OVERRIDE_REASON = {"enrol": "--override-reason", "probe": "--reason"}


def analyse_bytes(
    data: bytes,
    source: str,
    profile: str,
    face_index: int | None = None,
    override_reason: str | None = None,
    pipeline: Pipeline = DLIB_ONLY,
) -> Analysis:
    """Decode a photo file's bytes and analyse it: the job of a batch worker process. It lives here, not
    beside the batch code, so a worker imports only the face pipeline and starts quickly."""
    return analyse(
        decode(data, source), profile, face_index=face_index, override_reason=override_reason, pipeline=pipeline
    )
