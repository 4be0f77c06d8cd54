"""dlib's face encoder inside dlib against the same network run by onnxruntime (triage/encoders/dlibnet.py):
milliseconds per face, and how far their descriptors differ, on real faces.

Run: uv run python benchmarks/dlib_encoder.py [--repeats 21]

The faces are ORL photos of all 40 people (two each, scaled 3x so HOG finds them), scikit-image's
astronaut and matplotlib's Grace Hopper; each is found by HOG, fitted with the 5-point shape and cut
into dlib's 150x150 chip, as a capture does. Times are medians of `--repeats` runs on one chip, one
thread (dlib-bin has no BLAS; the capture's onnxruntime session is single-threaded too).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def chips():
    """(rgb, face) of each real face the capture pipeline finds."""
    from PIL import Image

    from triage.faces import detection as faces
    from triage.intake import samples
    from triage.intake.photos import read_photo

    photos = [
        np.asarray(Image.open(samples.orl_path(s, n)).convert("RGB").resize((276, 336)))
        for s in range(1, 41)
        for n in (1, 6)
    ]
    photos += [read_photo(path()).rgb for path in (samples.astronaut_path, samples.hopper_path)]
    found = []
    for rgb in photos:
        detected = faces.detect(rgb)
        if detected:
            found.append((rgb, faces.choose(detected, "benchmark").face))
    return found


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    import face_recognition_models

    from triage.faces import detection as faces

    m = faces.models()
    reference = m.dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    found = chips()
    worst = far = 0.0
    for rgb, face in found:
        theirs = np.asarray(reference.compute_face_descriptor(rgb, face.shape, 1), np.float32)
        mine = faces.encode(rgb, face)
        worst = max(worst, float(np.abs(mine - theirs).max()))
        far = max(far, float(np.linalg.norm(mine - theirs)))
    print(
        f"{len(found)} real faces: descriptors differ by at most {worst:.2g} in an element, {far:.2g} in distance "
        f"(match thresholds are read to 1e-4)"
    )
    rgb, face = found[-1]
    chip = m.dlib.get_face_chip(rgb, face.shape, 150, 0.25)
    dlib_ms = median_ms(lambda: reference.compute_face_descriptor(chip, 1), args.repeats)
    onnx_ms = median_ms(lambda: faces.encode(rgb, face), args.repeats)
    print(
        f"one face, median of {args.repeats}: dlib {dlib_ms:.1f} ms; onnxruntime {onnx_ms:.1f} ms including the chip "
        f"({dlib_ms / onnx_ms:.1f} x faster)"
    )


if __name__ == "__main__":
    main()
