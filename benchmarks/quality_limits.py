"""The evidence behind the quality profiles' blur and size limits: how far a dlib template moves when a
photo is blurred or shrunk, next to the sharpness and eye distance the gate measures.

Run: uv run python benchmarks/quality_limits.py

Blur: for 20 ORL subjects, photo 1 is blurred (Gaussian, sigma given at the gate's 40 px eye scale)
and encoded; printed are the median distance to the sharp template, the median distance to the
subject's photo 2 (a genuine pair), the share of genuine pairs pushed past the match threshold, and
the median sharpness measured. Size: the astronaut (43 px between the eyes) shrunk, same figures.
"""

from __future__ import annotations

import numpy as np

from triage.faces import analysis, quality
from triage.faces import detection as faces
from triage.faces.matching import calibration
from triage.intake.photos import Photo, read_photo
from triage.intake.samples import astronaut_path, orl_path

# What this script printed, behind the limits in triage/faces/quality.py: sharp faces score 35-90. A
# Gaussian blur of 1 px at the 40 px eye scale (sharpness 25-30) moves a template by about a third of the
# match threshold; 2 px (about 13, `probe`'s limit) by two thirds, and genuine pairs start to be missed.
# At 24 px between the eyes (`probe`'s limit) dlib's chip enlarges the face about 2.2 times and a template
# has moved by about two fifths of the match threshold.


def encode(rgb: np.ndarray) -> tuple[np.ndarray, dict] | None:
    photo = Photo(np.ascontiguousarray(rgb), b"", "image/png", "benchmark")
    report, face = analysis.inspect(photo, "probe")
    return (faces.encode(photo.rgb, face), report.measures) if face is not None else None


def main() -> None:
    import cv2

    threshold = calibration(faces.MODEL_ID).threshold
    print(
        f"match threshold {threshold}; enrol needs sharpness {quality.PROFILES['enrol']['min_sharpness']}, "
        f"probe {quality.PROFILES['probe']['min_sharpness']}"
    )
    pairs = []
    for s in range(1, 21):
        a, b = read_photo(orl_path(s, 1)).rgb, read_photo(orl_path(s, 2)).rgb
        ea, eb = encode(a), encode(b)
        if ea and eb:
            pairs.append((a, ea, eb[0]))
    print("blur sigma | moved | genuine distance | genuine past threshold | sharpness")
    for sigma in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0):
        rows = []
        for rgb, (sharp, measures), other in pairs:
            scaled = sigma * measures["inter_eye_px"] / quality.REFERENCE_INTER_EYE
            got = encode(cv2.GaussianBlur(rgb, (0, 0), scaled) if sigma else rgb)
            if got:
                rows.append((np.linalg.norm(got[0] - sharp), np.linalg.norm(got[0] - other), got[1]["sharpness"]))
        moved, genuine, sharpness = (np.median([r[i] for r in rows]) for i in range(3))
        past = np.mean([r[1] >= threshold for r in rows])
        print(f"{sigma:10.1f} | {moved:5.3f} | {genuine:16.3f} | {past:22.0%} | {sharpness:9.1f}")
    full = read_photo(astronaut_path()).rgb
    reference, measures = encode(full)
    print(f"\nastronaut eye distance | moved   (full size: {measures['inter_eye_px']:.0f} px)")
    for eyes in (40, 32, 24, 20, 16, 12):
        scale = eyes / measures["inter_eye_px"]
        got = encode(cv2.resize(full, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
        print(f"{eyes:22d} | " + (f"{np.linalg.norm(got[0] - reference):.3f}" if got else "no face found"))


if __name__ == "__main__":
    main()
