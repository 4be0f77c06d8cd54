"""Camera intake through OpenCV: a device index, a device path, or a video file or stream URL (a video
file is how tests drive it). A short burst is taken and the frame the quality gate likes best is kept.

OpenCV's VideoCapture raises nothing for a missing camera, so `isOpened()` is checked explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

from triage.errors import BadInput, FaceError
from triage.intake.photos import Photo, to_jpeg

if TYPE_CHECKING:
    import cv2

BURST_FRAMES = 12


def _open(source: str) -> cv2.VideoCapture:
    """An opened VideoCapture. A source that names a file which is not there is refused before OpenCV
    tries every backend on it; OpenCV's own warnings are silenced, since the error here says it all."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    if not source.isdigit() and "://" not in source and not Path(source).exists():
        raise BadInput(f"--camera {source}: no such device or video file")
    cap = cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        raise BadInput(f"--camera {source}: cannot open it (no such device, or not a camera, video file or stream)")
    return cap


def probe(source: str) -> str:
    """Open the camera and read one frame (for `triage doctor`)."""
    cap = _open(source)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise BadInput(f"--camera {source}: opened, but no frame could be read")
        return f"{frame.shape[1]}x{frame.shape[0]} frames"
    finally:
        cap.release()


def burst(source: str, frames: int = BURST_FRAMES) -> list[npt.NDArray[np.uint8]]:
    """Up to `frames` RGB frames from the camera."""
    import cv2

    cap = _open(source)
    shots: list[npt.NDArray[np.uint8]] = []
    try:
        for _ in range(frames):
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            # a camera's frames are 8-bit (cv2's stubs do not say so)
            shots.append(cast(npt.NDArray[np.uint8], cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
    finally:
        cap.release()
    if not shots:
        raise BadInput(f"--camera {source}: no frames could be read")
    return shots


def best_frame(source: str, score: Callable[[Photo], float], frames: int = BURST_FRAMES) -> tuple[Photo, list[float]]:
    """The burst's best frame by `score` (the quality gate's, from the face layer, which this intake layer
    sits below), as a Photo, with every frame's score. A frame that `score` refuses with a FaceError (two
    similar faces, say) scores 0: others may still be usable."""
    scored = []
    for i, rgb in enumerate(burst(source, frames)):
        candidate = Photo(
            rgb=np.ascontiguousarray(rgb),
            original=b"",
            media_type="image/jpeg",
            source=f"camera {source} frame {i + 1}",
        )
        try:
            scored.append((score(candidate), i, candidate))
        except FaceError:
            scored.append((0.0, i, candidate))
    best_score, _, best = max(scored, key=lambda t: (t[0], -t[1]))
    best.original = to_jpeg(best.rgb, quality=95)
    return best, [s for s, _, _ in scored]
