"""Photo quality measures and the gate, in the spirit of ISO/IEC 29794-5 (face image quality).

Each measure is computed on the chosen face; a profile sets the limits. `enrol` is strict, for
watchlist photos that every later arrival is compared with; `probe` is what a landing-site photo can
still be matched with. A refusal says what to change, with the measured value and the limit.
The inter-eye limits follow the encoder: dlib aligns faces onto a 150 px chip with about 50 px between
the eyes, so below 40 px an enrolment photo is being enlarged, and below 24 px detail is invented.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .faces import Face

PROFILES: dict[str, dict[str, float]] = {
    "enrol": {"min_inter_eye": 40, "min_sharpness": 60, "min_brightness": 60, "max_brightness": 200,
              "min_contrast": 25, "max_yaw": 20, "max_roll": 10, "max_clipped": 0.10, "min_score": 60},
    "probe": {"min_inter_eye": 24, "min_sharpness": 25, "min_brightness": 40, "max_brightness": 220,
              "min_contrast": 15, "max_yaw": 35, "max_roll": 25, "max_clipped": 0.25, "min_score": 35},
}


@dataclass
class QualityReport:
    profile: str
    passed: bool
    score: int
    measures: dict
    reasons: list[str] = field(default_factory=list)  # each a problem and what to change
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def face_region(rgb: np.ndarray, face: Face, size: int = 112) -> np.ndarray:
    """The face box as grayscale at a fixed size, so measures do not depend on the photo's resolution."""
    import cv2

    left, top, right, bottom = face.box
    crop = rgb[max(0, top):max(top + 1, bottom), max(0, left):max(left + 1, right)]
    gray = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)


def measure(rgb: np.ndarray, face: Face, face_count: int) -> dict:
    import cv2

    region = face_region(rgb, face)
    left, top, right, bottom = face.box
    return {
        "face_found": True,
        "face_count": face_count,
        "image_width": int(rgb.shape[1]),
        "image_height": int(rgb.shape[0]),
        "face_box": [int(left), int(top), int(right), int(bottom)],
        "face_width_px": int(right - left),
        "inter_eye_px": round(face.inter_eye, 1),
        "sharpness": round(float(cv2.Laplacian(region, cv2.CV_64F).var()), 1),
        "brightness": round(float(region.mean()), 1),
        "contrast": round(float(region.std()), 1),
        "clipped": round(float(((region <= 5) | (region >= 250)).mean()), 3),
        "yaw_deg": round(face.yaw, 1),
        "roll_deg": round(face.roll, 1),
    }


def _ramp(value: float, bad: float, good: float) -> float:
    """0 at `bad`, 1 at `good`, linear between (either direction)."""
    if good == bad:
        return 1.0
    return float(min(1.0, max(0.0, (value - bad) / (good - bad))))


def score(m: dict, limits: dict) -> int:
    """One 0-100 figure: the geometric mean of per-measure scores, so one very bad measure pulls it down."""
    parts = [
        _ramp(m["inter_eye_px"], 12, limits["min_inter_eye"] * 1.5),
        _ramp(m["sharpness"], 5, limits["min_sharpness"] * 2),
        _ramp(m["brightness"], 15, limits["min_brightness"] + 20) * _ramp(m["brightness"], 245, limits["max_brightness"] - 20),
        _ramp(m["contrast"], 5, limits["min_contrast"] * 1.6),
        _ramp(abs(m["yaw_deg"]), 60, limits["max_yaw"] / 2),
        _ramp(abs(m["roll_deg"]), 60, limits["max_roll"] / 2),
        _ramp(m["clipped"], 0.6, limits["max_clipped"] / 2),
    ]
    return int(round(100 * float(np.prod([max(p, 0.01) for p in parts])) ** (1 / len(parts))))


def assess(rgb: np.ndarray, faces: list[Face], chosen: Face | None, profile: str = "probe",
           rotation: int | None = None) -> QualityReport:
    """Judge the chosen face against a profile. `rotation` is set when a face was only found after turning the photo."""
    limits = PROFILES[profile]
    if chosen is None:
        reasons = ["no face found: photograph the person facing the camera, face filling more of the frame"]
        if rotation:
            reasons = [f"the photo is rotated by {rotation} degrees: turn it upright and capture again"]
        return QualityReport(profile, False, 0, {"face_found": False, "face_count": 0,
                                                 "image_width": int(rgb.shape[1]), "image_height": int(rgb.shape[0])},
                             reasons)
    m = measure(rgb, chosen, len(faces))
    reasons = []
    if m["inter_eye_px"] < limits["min_inter_eye"]:
        reasons.append(f"face too small: {m['inter_eye_px']:.0f} px between the eyes, need {limits['min_inter_eye']:.0f}; "
                       "move closer or use a higher resolution")
    if m["sharpness"] < limits["min_sharpness"]:
        reasons.append(f"photo blurred: sharpness {m['sharpness']:.0f}, need {limits['min_sharpness']:.0f}; "
                       "hold the camera still and focus on the face")
    if m["brightness"] < limits["min_brightness"]:
        reasons.append(f"face too dark: brightness {m['brightness']:.0f}, need {limits['min_brightness']:.0f}; add light")
    if m["brightness"] > limits["max_brightness"]:
        reasons.append(f"face too bright: brightness {m['brightness']:.0f}, limit {limits['max_brightness']:.0f}; "
                       "avoid direct light or flash")
    if m["contrast"] < limits["min_contrast"]:
        reasons.append(f"contrast too low: {m['contrast']:.0f}, need {limits['min_contrast']:.0f}; even out the light")
    if m["clipped"] > limits["max_clipped"]:
        reasons.append(f"over- or under-exposed: {m['clipped']:.0%} of the face clipped, limit {limits['max_clipped']:.0%}")
    if abs(m["yaw_deg"]) > limits["max_yaw"]:
        reasons.append(f"head turned: yaw {m['yaw_deg']:.0f} degrees, limit {limits['max_yaw']:.0f}; ask the person to face the camera")
    if abs(m["roll_deg"]) > limits["max_roll"]:
        reasons.append(f"head tilted: roll {m['roll_deg']:.0f} degrees, limit {limits['max_roll']:.0f}; hold the camera level")
    total = score(m, limits)
    m["score"] = total
    if not reasons and total < limits["min_score"]:
        reasons.append(f"overall quality {total}, need {limits['min_score']:.0f}: several measures are marginal")
    return QualityReport(profile, not reasons, total, m, reasons)
