"""The best a `capture-batch` of one process running its face pipeline on threads could do: a lower bound for
that design, against the compute floor of benchmarks/capture_batch.py, so that the README can say with a figure
whether the 1.5x target is within its reach on this machine.

Run: uv run python benchmarks/capture_threads.py [--photos 60] [--size 640x480] [--threads 2] [--runs 3]

Each run is a fresh Python process, timed from before it is started to its exit (wall clock, and the CPU of
the process and its threads). It does only what the floor counts, plus what no process can skip: Python's start,
the imports and loading the models once. Then threads (one per core) take photos from a shared queue, read
each file and decode it, detect, choose the face and encode it with every model of the home's matcher: the
stages `stage_times` times. There is no store, no unlocking, no search and nothing written, so a capture-batch
built this way could only be slower. Variants:

  python   the interpreter alone (`python -c pass`)
  start    the imports and the models loaded, then exit: the fixed cost of one process
  loaded   every model loaded, then the threads start
  overlap  the threads start once detection can run (YuNet and dlib's models); the ONNX encoders load on
           the main thread meanwhile, and each thread keeps the faces not yet encoded by them until then

The models are shared by the threads where their libraries allow it: onnxruntime's `InferenceSession.run` may be
called from several threads at once, and so may dlib's shape predictor (its documentation says so); dlib's
`get_face_chip` is a plain function. OpenCV's `FaceDetectorYN` may not: `setInputSize` and `detect` change and
use the detector's own network, and one detector shared by two threads gave wrong faces for almost every photo of
one size and crashed the process on photos of two sizes. So each thread has a detector of its own. Every run's
templates are compared with those one thread makes alone, byte for byte.

The machine is shared: before each run the script waits (up to --settle seconds) for a lull in other work, and
prints the load average and the CPU other processes used during each run. The floor is measured before and
after the runs, and the lower of the two is kept.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

CHILD = "--child"  # runs one variant in this process: the rest of the command line says which
VARIANTS = ("python", "start", "loaded", "overlap")
THREADED = ("loaded", "overlap")
# What a real capture-batch adds in one process (benchmarks/capture_batch.py): unlocking the home, and the store
# and search work of each arrival on the main thread.
UNLOCK_CPU = 0.2
ARRIVAL_CPU = 0.010

# Two runs of this script, 60 photos, the fused matcher (dlib and SFace), 3 fresh processes per variant, on 2 cores
# shared with other sessions' commands (load average 0.9-1.4; each run started in a lull; "quiet": other processes
# used under 0.05 s of CPU during the run). Wall median [range], CPU median:
# 640x480, floor 1.35 and 1.31 s (44-45 ms a photo: decode 1.5, YuNet 18-19, SFace 17, dlib 7): the interpreter
# alone 0.02-0.03 s; start 0.59 and 0.60 s (CPU 0.79-0.81; imports done at 0.12-0.14 s, CPU 0.20-0.24 with
# OpenBLAS's threads starting, models loaded at 0.53-0.55 s, exit 0.05-0.06 s). loaded 1.99 s [1.94-2.05] =
# 1.53x (CPU 3.49 s; the first run's one quiet run 2.01 s = 1.49x), the photos after the models 1.38 s at 45 ms
# CPU a photo against the floor's 44; overlap 1.96 s (quiet runs 1.93 and 1.96, the third 3.29) = 1.45x and
# 1.95 s [1.90-1.96] = 1.50x (CPU 3.55-3.59 s), its threads at work from 0.40 s, SFace loaded by 0.54-0.56 s.
# 1280x960, floor 1.94 and 1.91 s (64-65 ms a photo: decode 5, YuNet 35, SFace 17, dlib 7): start 0.58-0.60 s;
# loaded 2.78 s [2.68-2.88] = 1.43x and 2.72 s [2.65-2.90] = 1.42x (CPU 4.9-5.0 s, 69-70 ms a photo against
# 64-65); overlap 2.75 s [2.63-2.79] = 1.42x, and in the second run's one quiet run 2.76 s = 1.45x.
# Once the models are loaded the threads keep pace with the floor (each with its own YuNet; dlib's and the ONNX
# models shared); what stays above it is one process's start, 0.55 s to the models and 0.06 s to exit. Starting
# the threads before SFace has loaded gains 0-0.05 s: its loading takes the cores the photos would have used.
# A capture-batch of one process would add unlocking (0.2 s CPU) and about 10 ms CPU an arrival of store and
# search work on the main thread (0.6 s for the boat), plus quality and the portrait (measured apart, one thread:
# `analyse_bytes` 45.5 ms a photo against these stages' 43.8): spread over both cores with no loss, about +0.45 s,
# so 640x480 about 2.4 s = 1.8x and 1280x960 3.2 s = 1.65x; even with the unlocking hidden wholly in the start's
# idle core, 1.75x and 1.6x. 1.5x is out of reach that way at 640x480.


def machine_busy() -> float:
    """CPU seconds every process on the machine has used since it started (Linux; 0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def wait_quiet(limit: float) -> None:
    """Wait, at most `limit` seconds, until the machine's other processes have used under a tenth of a core for
    the last 0.3 s: they come in bursts, and a run that starts in a lull is more often measured alone."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy = machine_busy()
        time.sleep(0.3)
        if machine_busy() - busy < 0.03:
            return


def _mark(marks: dict[str, tuple[float, float]], name: str) -> None:
    marks.setdefault(name, (time.monotonic(), time.process_time()))


def child(variant: str, threads: int, home: str, model_ids: str, folder: str) -> None:
    """One variant, in this fresh process; prints when each phase ended (clock and CPU), how many photos gave
    every template, and a digest of the templates in photo order."""
    marks: dict[str, tuple[float, float]] = {}
    _mark(marks, "begun")
    import queue
    import threading
    from pathlib import Path

    import numpy as np

    from triage import workers
    from triage.faces import detection as faces
    from triage.faces import encoders
    from triage.faces.encoders import yunet
    from triage.intake.photos import decode

    _mark(marks, "imported")
    workers._in_pool = True  # OpenCV on the calling thread only, as in a batch worker: the threads fill the cores
    own_detectors(yunet)
    pipeline = encoders.pipeline(model_ids.split(","), home)
    photos = sorted(Path(folder).glob("*.jpg"))
    templates: list[dict[str, np.ndarray]] = [{} for _ in photos]
    failures: list[str] = []
    jobs: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(photos)):
        jobs.put(i)
    onnx_ready = threading.Event()

    def encode_onnx(waiting: list[tuple[int, np.ndarray, faces.Face]]) -> None:
        for i, rgb, face in waiting:
            for m in pipeline.manifests:
                e = encoders.encoder(m)
                templates[i][m.model_id] = e.template(e.run(e.blob(e.crop(rgb, face))))
        waiting.clear()

    def work() -> None:
        waiting: list[tuple[int, np.ndarray, faces.Face]] = []  # faces the ONNX models have still to encode
        while True:
            try:
                i = jobs.get_nowait()
            except queue.Empty:
                break
            try:
                rgb = decode(photos[i].read_bytes(), photos[i].name).rgb
                face = faces.choose(pipeline.detect(rgb), photos[i].name, None).face
                if encoders.DLIB in pipeline.model_ids:
                    templates[i][encoders.DLIB] = faces.encode(rgb, face)
                waiting.append((i, rgb, face))
                if onnx_ready.is_set():
                    encode_onnx(waiting)
                    _mark(marks, "first")
            except Exception as e:  # reported, so that a wrong run is never taken for a fast one
                failures.append(f"{photos[i].name}: {type(e).__name__}: {e}")
        onnx_ready.wait()
        encode_onnx(waiting)
        _mark(marks, "first")

    if variant == "overlap":
        import cv2

        cv2.setNumThreads(1)  # as `Pipeline.load` does in a batch worker
        yunet.load()
        faces.models()
        _mark(marks, "detector")
    else:
        pipeline.load()
        onnx_ready.set()
        _mark(marks, "loaded")
    if variant == "start":
        _report(marks, 0, [], "")
        return
    spare_detector()  # the main thread's detector goes to the first thread that asks
    pool = [threading.Thread(target=work, name=f"photos-{n + 1}") for n in range(threads)]
    for t in pool:
        t.start()
    if variant == "overlap":
        for m in pipeline.manifests:  # the rest of `Pipeline.load`: the ONNX encoders
            encoders.encoder(m)
        _mark(marks, "loaded")
        onnx_ready.set()
    for t in pool:
        t.join()
    _mark(marks, "done")
    _report(marks, sum(len(t) == len(pipeline.model_ids) for t in templates), failures, digest(templates))


def _report(marks: dict[str, tuple[float, float]], count: int, failures: list[str], sha: str) -> None:
    _mark(marks, "end")
    print(" ".join(f"{k}={t:.6f},{c:.4f}" for k, (t, c) in marks.items()), f"count={count}", f"digest={sha or '-'}")
    for f in failures[:5]:
        print("failed:", f)


def digest(templates: Sequence[Mapping[str, object]]) -> str:
    """SHA-256 of every photo's templates, in photo order and model order."""
    import hashlib

    h = hashlib.sha256()
    for t in templates:
        for mid in sorted(t):
            h.update(mid.encode() + bytes(t[mid]))  # type: ignore[call-overload]  # float32 arrays
    return h.hexdigest()


_detectors: dict[int, object] = {}  # thread id -> its own YuNet detector
_spares: list[object] = []


def own_detectors(yunet: object) -> None:
    """Make `yunet.load`, which every detection calls, give each thread a detector of its own."""
    import threading

    from triage.faces.encoders.files import packaged_dir

    fresh = yunet._load.__wrapped__  # type: ignore[attr-defined]  # the loader without its cache: a new detector

    def load() -> object:
        me = threading.get_ident()
        if me not in _detectors:
            _detectors[me] = _spares.pop() if _spares else fresh(str(packaged_dir()))
        return _detectors[me]

    yunet.load = load  # type: ignore[attr-defined]


def spare_detector() -> None:
    """Hand the calling thread's detector, if it loaded one, to the next thread that needs one."""
    import threading

    found = _detectors.pop(threading.get_ident(), None)
    if found is not None:
        _spares.append(found)


def reference(home: object, model_ids: tuple[str, ...], folder: object) -> str:
    """The digest of the templates one thread makes, photo after photo, in this process."""
    from pathlib import Path

    from triage.faces import detection as faces
    from triage.faces import encoders
    from triage.intake.photos import decode

    pipeline = encoders.pipeline(model_ids, str(home))
    pipeline.load()
    templates: list[dict[str, object]] = []
    for path in sorted(Path(str(folder)).glob("*.jpg")):
        rgb = decode(path.read_bytes(), path.name).rgb
        face = faces.choose(pipeline.detect(rgb), path.name, None).face
        got: dict[str, object] = {}
        if encoders.DLIB in pipeline.model_ids:
            got[encoders.DLIB] = faces.encode(rgb, face)
        for m in pipeline.manifests:
            e = encoders.encoder(m)
            got[m.model_id] = e.template(e.run(e.blob(e.crop(rgb, face))))
        templates.append(got)
    return digest(templates)


def main() -> None:
    import argparse
    import resource
    import statistics
    import subprocess
    import tempfile
    from pathlib import Path
    from typing import Any

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from capture_batch import SIZES, make_home, make_photos, stage_times

    from triage.faces import matchers
    from triage.store.config import load_config

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--photos", type=int, default=60, help="photos per size: one boat (default 60)")
    parser.add_argument(
        "--size", action="append", choices=[f"{w}x{h}" for w, h in SIZES], help="photo size (default: both)"
    )
    parser.add_argument("--threads", type=int, default=2, help="threads in a run, and cores the floor divides by")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per variant (default 3)")
    parser.add_argument(
        "--settle",
        type=float,
        default=4.0,
        help="at most this many seconds' wait before a run for a lull in other work",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.size] if args.size else list(SIZES)
    script = str(Path(__file__).resolve())
    n = args.photos

    def run(variant: str, home: Path, ids: str, folder: Path) -> dict[str, Any]:
        command = (
            [sys.executable, "-c", "pass"]
            if variant == "python"
            else [sys.executable, script, CHILD, variant, str(args.threads), str(home), ids, str(folder)]
        )
        wait_quiet(args.settle)
        load = os.getloadavg()[0]
        before, busy = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy()
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        ended = time.monotonic()
        after, busy = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy() - busy
        if done.returncode != 0:
            sys.exit(f"{variant} failed ({done.returncode}): {done.stderr[-2000:]}")
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        got: dict[str, Any] = {"wall": ended - started, "cpu": cpu, "load": load, "others": max(0.0, busy - cpu)}
        phases: dict[str, tuple[float, float]] = {}
        for line in done.stdout.splitlines():
            if line.startswith("failed:"):
                sys.exit(f"{variant}: {line}")
            for token in line.split():
                key, _, value = token.partition("=")
                if key in ("count", "digest"):
                    got[key] = value
                else:
                    clock, used = (float(v) for v in value.split(","))
                    phases[key] = (clock - started, used)
        got["phases"] = phases
        return got

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s [{min(values):.2f}-{max(values):.2f}]"

    def floor_of(home: Path, photos: list[Path]) -> dict[str, list[float]]:
        wait_quiet(args.settle)
        return stage_times(home, photos)

    with tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
        root = Path(tmp)
        home = root / "home"
        make_home(home, subjects=10)  # the floor reads only the home's matcher, not its watchlist
        name = load_config(home).matcher
        ids = matchers.get(name, home).model_ids
        print(f"matcher {name}: {', '.join(ids)}; {args.threads} threads; {args.runs} fresh processes per variant")
        for width, height in sizes:
            folder = root / f"{width}x{height}"
            photos = make_photos(folder, (width, height), n)
            first = floor_of(home, photos)
            expected = reference(home, ids, folder)
            results: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
            for _ in range(args.runs):  # the variants take turns, so that the machine's other work falls on each
                for variant in VARIANTS:
                    results[variant].append(run(variant, home, ",".join(ids), folder))
            second = floor_of(home, photos)
            stages = {k: [min(a, b) for a, b in zip(first[k], second[k])] for k in first}
            floor = sum(sum(v) for v in stages.values()) / args.threads
            each = sum(sum(v) for v in stages.values()) / n
            print(
                f"{width}x{height}: compute floor {floor:.2f} s (before the runs "
                f"{sum(map(sum, first.values())) / args.threads:.2f}, after "
                f"{sum(map(sum, second.values())) / args.threads:.2f}) = per photo "
                + " + ".join(f"{k} {statistics.median(v) * 1000:.1f} ms" for k, v in stages.items())
                + f" = {each * 1000:.1f} ms, summed over {n} photos / {args.threads} cores"
            )
            for variant in VARIANTS:
                runs = results[variant]
                walls, cpus = [r["wall"] for r in runs], [r["cpu"] for r in runs]
                line = f"  {variant:8s} wall {spread(walls)}, CPU {spread(cpus)}"
                if variant in THREADED:
                    wrong = [r for r in runs if r.get("count") != str(n) or r.get("digest") != expected]
                    if wrong:
                        sys.exit(f"{variant}: photos missing, or templates unlike one thread's alone: {wrong}")
                    quiet = min(runs, key=lambda r: r["others"])
                    line += (
                        f" = {statistics.median(walls) / floor:.2f}x the floor "
                        f"[{min(walls) / floor:.2f}-{max(walls) / floor:.2f}], the quietest run {quiet['wall']:.2f} s "
                        f"= {quiet['wall'] / floor:.2f}x; its CPU on {args.threads} idle cores would need "
                        f"{statistics.median(cpus) / args.threads / floor:.2f}x"
                    )
                elif variant == "start":
                    line += f": {statistics.median(walls) / floor:.2f} of the floor spent before any photo"
                print(line)
                if variant != "python":
                    names = [k for k in runs[0]["phases"] if k != "end"]
                    print(
                        "           "
                        + "; ".join(
                            f"{k} at {statistics.median(r['phases'][k][0] for r in runs):.3f} s "
                            f"(CPU {statistics.median(r['phases'][k][1] for r in runs):.2f})"
                            for k in names
                        )
                        + f"; exit {statistics.median(r['wall'] - r['phases']['end'][0] for r in runs):.3f} s later"
                    )
                if variant in THREADED:
                    per = [(r["phases"]["done"][1] - r["phases"]["loaded"][1]) / n for r in runs]
                    per = per if variant == "loaded" else []  # overlap's photos share their time with loading
                    print(
                        "           photos after the models: "
                        + f"{statistics.median(r['phases']['done'][0] - r['phases']['loaded'][0] for r in runs):.2f} s"
                        + (
                            f", {statistics.median(per) * 1000:.0f} ms CPU a photo (the floor {each * 1000:.0f})"
                            if per
                            else ""
                        )
                    )
                print(
                    "           load average before each run: "
                    + ", ".join(f"{r['load']:.2f}" for r in runs)
                    + "; other processes' CPU during it: "
                    + ", ".join(f"{r['others']:.2f} s" for r in runs)
                )
            extra = (UNLOCK_CPU + ARRIVAL_CPU * n) / args.threads
            best = min(statistics.median(r["wall"] for r in results[v]) for v in THREADED)
            quietest = min((r for v in THREADED for r in results[v]), key=lambda r: r["others"])["wall"]
            print(
                f"  with a store, were unlocking ({UNLOCK_CPU:.1f} s CPU) and {ARRIVAL_CPU * 1000:.0f} ms CPU an "
                f"arrival on the main thread spread over {args.threads} cores at no cost (+{extra:.2f} s): "
                f"the better median {best + extra:.2f} s = {(best + extra) / floor:.2f}x, "
                f"the quietest run {quietest + extra:.2f} s = {(quietest + extra) / floor:.2f}x (target <= 1.5)"
            )
            print("  templates: every threaded run gave, byte for byte, those of one thread alone")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine slows the wall-clock figures)")


if __name__ == "__main__":
    if sys.argv[1:2] == [CHILD]:
        variant, threads, home, model_ids, folder = sys.argv[2:7]
        child(variant, int(threads), home, model_ids, folder)
    else:
        main()
