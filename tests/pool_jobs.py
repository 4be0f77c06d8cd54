"""Jobs for the worker-pool tests, in a module of their own: a worker process imports the module of the
function it runs, and this one imports nothing heavy, so workers start quickly."""

from __future__ import annotations

import os
import time
from pathlib import Path

CRASH, HANG = 3, 5


def square_unless_told_otherwise(n: int) -> int:
    """n squared, except that CRASH kills its process and HANG never returns."""
    if n == CRASH:
        os._exit(9)
    if n == HANG:
        time.sleep(600)
    return n * n


def meet(folder: str, me: int) -> tuple[bool, int]:
    """Say this job has started, then wait for another job to start: true only if two run at once."""
    (Path(folder) / str(me)).touch()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.name != str(me) for p in Path(folder).iterdir()):
            return True, os.getpid()
        time.sleep(0.05)
    return False, os.getpid()


def opencv_threads() -> int:
    """How many threads OpenCV would spread its work over in this process."""
    import cv2

    return int(cv2.getNumThreads())


def larger_than_a_pipe(n: int) -> bytes:
    """A result larger than a pipe holds (64 KiB on Linux): its worker waits for a reader to send it."""
    return bytes([n % 256]) * (1 << 20)


def _import_interrupted() -> None:
    """What reading a result raises when Ctrl-C lands while the module it needs is being imported."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as e:
        raise ImportError("initialization failed") from e


class _ReadAtCtrlC:
    def __reduce__(self):
        return _import_interrupted, ()


def result_read_at_ctrl_c() -> object:
    """A result whose reading in the main process meets a Ctrl-C."""
    return _ReadAtCtrlC()
