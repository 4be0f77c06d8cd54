"""Photo quality measures and the gate, in the spirit of ISO/IEC 29794-5 (face image quality).

Each measure is computed on the chosen face and judged against a profile: `enrol`, strict, for the
watchlist photos every later arrival is compared with; `probe`, for what a landing-site photo can still
be matched with. A refusal names the measure, its value, the limit and what to change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict, cast

import numpy as np
import numpy.typing as npt

from triage.faces.detection import Face

# Why these limits: they follow the encoder and the standards, not the fixture photos
# (benchmarks/quality_limits.py measures what blur and size do to a template).
# - Size: dlib's encoder aligns every face onto a 150 px chip with about 53 px between the eye centres,
#   and its published accuracy (99.38% on LFW) was measured on photos with about 40 px between the eyes.
#   `enrol` asks for 40, so a watchlist template is never built from less detail than the model was
#   judged on; `probe` accepts 24, where a template has moved by less than half the match threshold.
#   ISO/IEC 19794-5 asks passport photos for 60 and more: a limit for printing a portrait, not for this
#   encoder.
# - Sharpness is measured at the scale the model was judged at (the face scaled down, never up, to 40 px
#   between the eyes) and divided by the face's own contrast, so a dark photo is not also called blurred:
#   100 x std(Laplacian) / std(grey levels). `enrol` refuses more than a slight blur; `probe` refuses the
#   blur at which genuine pairs start to be missed. Heavy JPEG blocking raises the figure; it is a blur
#   measure, not a compression measure.
# - Exposure: mean grey level of the face (8-bit) inside 60-200 for enrolment, as ICAO portrait guidance
#   asks for a face neither under- nor over-exposed; contrast is the standard deviation of the grey levels
#   (below 15 the face has fewer than about 60 distinct levels); `clipped` is the share of face pixels at
#   0-5 or 250-255, where detail is lost.
# - Pose: ISO/IEC 19794-5 full-frontal photos allow 5 degrees of yaw and 8 of roll. Yaw here is estimated
#   from five landmarks (a few degrees of noise), so `enrol` allows 20 and `probe` 35, beyond which dlib's
#   near-frontal training data thins out. Roll is corrected by alignment, so its limits are wider and
#   mostly catch a camera held crooked.
PROFILES: dict[str, dict[str, float]] = {
    "enrol": {
        "min_inter_eye": 40,
        "min_sharpness": 24,
        "min_brightness": 60,
        "max_brightness": 200,
        "min_contrast": 25,
        "max_yaw": 20,
        "max_roll": 10,
        "max_clipped": 0.10,
        "min_score": 60,
    },
    "probe": {
        "min_inter_eye": 24,
        "min_sharpness": 13,
        "min_brightness": 40,
        "max_brightness": 220,
        "min_contrast": 15,
        "max_yaw": 35,
        "max_roll": 25,
        "max_clipped": 0.25,
        "min_score": 35,
    },
}
REFERENCE_INTER_EYE = 40  # px: the scale sharpness is judged at (see above)
TURNS = {90: "turned 90 degrees anticlockwise", 180: "turned upside down", 270: "turned 90 degrees clockwise"}


class Measures(TypedDict, total=False):
    """What the gate measured on a photo: only its size and `face_found` when no face was found."""

    face_found: bool
    face_count: int
    detector: str
    image_width: int
    image_height: int
    face_box: list[int]  # left, top, right, bottom
    face_width_px: int
    inter_eye_px: float
    sharpness: float
    brightness: float
    contrast: float
    clipped: float
    yaw_deg: float
    roll_deg: float
    score: int


@dataclass
class QualityReport:
    profile: str
    passed: bool
    score: int
    measures: Measures
    reasons: list[str] = field(default_factory=list)  # each a problem and what to change
    warnings: list[str] = field(default_factory=list)
    limits: dict[str, float] = field(default_factory=dict)  # the profile's limits the measures were judged against

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def face_region(rgb: npt.NDArray[np.uint8], face: Face) -> npt.NDArray[np.uint8]:
    """The face box in grey levels, scaled down (never up) to the reference eye distance, so a large
    face is judged at the detail the encoder keeps and a small one is not blurred by enlarging it."""
    import cv2

    left, top, right, bottom = face.box
    crop = rgb[max(0, top) : max(top + 1, bottom), max(0, left) : max(left + 1, right)]
    gray = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    scale = REFERENCE_INTER_EYE / max(face.inter_eye, 1.0)
    if scale < 1:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return cast(npt.NDArray[np.uint8], gray)  # grey levels of uint8 pixels (cv2's stubs do not say so)


def measure(rgb: npt.NDArray[np.uint8], face: Face, face_count: int) -> Measures:
    import cv2

    region = face_region(rgb, face)
    grey = region.astype(np.float64)
    contrast = float(grey.std())
    left, top, right, bottom = face.box
    return {
        "face_found": True,
        "face_count": face_count,
        "detector": face.detector,  # which detector decided the face (recorded with each capture)
        "image_width": int(rgb.shape[1]),
        "image_height": int(rgb.shape[0]),
        "face_box": [int(left), int(top), int(right), int(bottom)],
        "face_width_px": int(right - left),
        "inter_eye_px": round(face.inter_eye, 1),
        "sharpness": round(100 * float(cv2.Laplacian(grey, cv2.CV_64F).std()) / max(contrast, 1.0), 1),
        "brightness": round(float(grey.mean()), 1),
        "contrast": round(contrast, 1),
        "clipped": round(float(((region <= 5) | (region >= 250)).mean()), 3),
        "yaw_deg": round(face.yaw, 1),
        "roll_deg": round(face.roll, 1),
    }


def _ramp(value: float, bad: float, good: float) -> float:
    """0 at `bad`, 1 at `good`, linear between (either direction)."""
    if good == bad:
        return 1.0
    return float(min(1.0, max(0.0, (value - bad) / (good - bad))))


def score(m: Measures, limits: dict[str, float]) -> int:
    """One 0-100 figure: the geometric mean of per-measure scores, so one very bad measure pulls it down."""
    parts = [
        _ramp(m["inter_eye_px"], 12, limits["min_inter_eye"] * 1.5),
        _ramp(m["sharpness"], 5, limits["min_sharpness"] * 2),
        _ramp(m["brightness"], 15, limits["min_brightness"] + 20)
        * _ramp(m["brightness"], 245, limits["max_brightness"] - 20),
        _ramp(m["contrast"], 5, limits["min_contrast"] * 1.6),
        _ramp(abs(m["yaw_deg"]), 60, limits["max_yaw"] / 2),
        _ramp(abs(m["roll_deg"]), 60, limits["max_roll"] / 2),
        _ramp(m["clipped"], 0.6, limits["max_clipped"] / 2),
    ]
    return int(round(100 * float(np.prod([max(p, 0.01) for p in parts])) ** (1 / len(parts))))


def _apart(value: float, limit: float) -> tuple[str, str]:
    """A measure and its limit as a refusal writes them: whole numbers, or a decimal place where the two would
    round alike ("sharpness 24, need 24" reads as a refusal of what passes)."""
    for places in range(4):  # as few decimal places as tell them apart (a yaw of -30.4 against 30 too)
        shown, bound = f"{value:.{places}f}", f"{limit:.{places}f}"
        if shown.lstrip("-") != bound:
            break
    return shown, bound


def _problems(m: Measures, limits: dict[str, float]) -> list[str]:
    """Each measure outside its limit, with the value, the limit and what to change."""
    reasons = []

    def beyond(value: float, limit: str, words: str) -> str:
        shown, bound = _apart(value, limits[limit])
        return words.format(value=shown, limit=bound)

    if m["inter_eye_px"] < limits["min_inter_eye"]:
        reasons.append(
            beyond(m["inter_eye_px"], "min_inter_eye", "face too small: {value} px between the eyes, need {limit}; ")
            + "move closer or use a higher resolution"
        )
    if m["sharpness"] < limits["min_sharpness"]:
        reasons.append(
            beyond(m["sharpness"], "min_sharpness", "photo blurred: sharpness {value}, need {limit}; ")
            + "hold the camera still and focus on the face"
        )
    if m["brightness"] < limits["min_brightness"]:
        reasons.append(
            beyond(m["brightness"], "min_brightness", "face too dark: brightness {value}, need {limit}; add light")
        )
    if m["brightness"] > limits["max_brightness"]:
        reasons.append(
            beyond(m["brightness"], "max_brightness", "face too bright: brightness {value}, limit {limit}; ")
            + "avoid direct light or flash"
        )
    if m["contrast"] < limits["min_contrast"]:
        reasons.append(
            beyond(m["contrast"], "min_contrast", "contrast too low: {value}, need {limit}; even out the light")
        )
    if m["clipped"] > limits["max_clipped"]:
        shown, bound = _apart(100 * m["clipped"], 100 * limits["max_clipped"])
        reasons.append(f"over- or under-exposed: {shown}% of the face clipped, limit {bound}%")
    if abs(m["yaw_deg"]) > limits["max_yaw"]:
        reasons.append(
            beyond(m["yaw_deg"], "max_yaw", "head turned: yaw {value} degrees, limit {limit}; ")
            + "ask the person to face the camera"
        )
    if abs(m["roll_deg"]) > limits["max_roll"]:
        reasons.append(
            beyond(m["roll_deg"], "max_roll", "head tilted: roll {value} degrees, limit {limit}; hold the camera level")
        )
    return reasons


def assess(
    rgb: npt.NDArray[np.uint8],
    faces: list[Face],
    chosen: Face | None,
    profile: str = "probe",
    rotation: int | None = None,
) -> QualityReport:
    """Judge the chosen face against a profile. `rotation` is set when a face was only found after turning
    the photo anticlockwise by that many degrees (a phone held sideways, an orientation tag lost)."""
    limits = PROFILES[profile]
    if chosen is None:
        reasons = ["no face found: photograph the person facing the camera, face filling more of the frame"]
        if rotation:
            reasons = [
                f"photo rotated: a face appears only when it is {TURNS[rotation]}; turn it upright and capture again"
            ]
        return QualityReport(
            profile,
            False,
            0,
            {"face_found": False, "face_count": 0, "image_width": int(rgb.shape[1]), "image_height": int(rgb.shape[0])},
            reasons,
            limits=dict(limits),
        )
    m = measure(rgb, chosen, len(faces))
    reasons = _problems(m, limits)
    total = score(m, limits)
    m["score"] = total
    if not reasons and total < limits["min_score"]:
        reasons.append(f"overall quality {total}, need {limits['min_score']:.0f}: several measures are marginal")
    return QualityReport(profile, not reasons, total, m, reasons, limits=dict(limits))
