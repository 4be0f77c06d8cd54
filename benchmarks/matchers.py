"""Per-arrival face work for each matcher, and the fused matcher's 1:N search, on one core.

Run: uv run python benchmarks/matchers.py [--repeats 15] [--templates 100000]

1. Detect + encode (the face work of one capture: find and choose the face, fit dlib's shape, make every
   template the matcher needs) at 640x480 and 1280x960, for dlib (HOG), sface and fused (YuNet). The
   photos are the two colour faces that install with the tool (scikit-image's astronaut, matplotlib's
   Grace Hopper), each scaled to fill the frame's height and centred on a grey background. Median and
   95th percentile of `--repeats` runs after one warm-up run.
2. 1:N search of one probe over `--templates` templates per model (two photos per identity): dlib alone,
   and fused (both models' galleries, bounds and exact look-ups, fusion.search). Templates are synthetic,
   spread like real ones so that impostor distances sit where the shipped fusion expects them (dlib about
   0.76, SFace about 1.36); 100 probes of enrolled identities and 100 of others.

Target: a fused capture no slower than a dlib one. Threads are as in capture: each onnxruntime session
and BLAS on one, OpenCV on its default (YuNet's network runs on both cores; HOG is dlib's, on one). Two
figures per matcher: the process's CPU time (all of its threads; other work on a shared machine
inflates it least) and the wall-clock time an officer waits, on the machine's two cores: a fused
capture also runs SFace on a second thread beside dlib's network (`encoders.Pipeline.encode`), so its
wall time is less than its CPU time. The search part runs pinned to one core.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

PASSPHRASE = "benchmark passphrase"
SIZES = ((640, 480), (1280, 960))
MATCHERS = ("dlib", "sface", "fused")
# The fused search asks a gallery for owners another model proposed: sorting a 100,000-row gallery's owners
# for that, once, took 15 ms (triage/faces/matching.py, `_owner_rows`).


def frames(width: int, height: int) -> list[np.ndarray]:
    """The two colour faces, each scaled to the frame's height and centred on mid-grey."""
    import cv2

    from triage.intake import photos, samples

    out = []
    for path in (samples.astronaut_path(), samples.hopper_path()):
        rgb = photos.read_photo(path).rgb
        scale = height / rgb.shape[0]
        img = cv2.resize(rgb, (round(rgb.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
        canvas = np.full((height, width, 3), 128, np.uint8)
        left = (width - img.shape[1]) // 2
        canvas[:, max(0, left) : max(0, left) + min(width, img.shape[1])] = img[
            :, max(0, -left) : max(0, -left) + width
        ]
        out.append(canvas)
    return out


def per_arrival(repeats: int) -> dict:
    """Each repeat times the three matchers back to back on the same frame, so that whatever else the
    machine is doing weighs on all three alike; the ratio fused / dlib is taken repeat by repeat."""
    from triage.faces import detection as faces
    from triage.faces import encoders, matchers

    pipelines = {name: encoders.pipeline(matchers.get(name, None).model_ids, None) for name in MATCHERS}
    for pipeline in pipelines.values():
        pipeline.load()
    results = {}
    for width, height in SIZES:
        images = frames(width, height)
        times: dict[str, dict[str, list[float]]] = {name: {"detect": [], "total": [], "wall": []} for name in MATCHERS}
        for i in range(repeats + 1):
            rgb = images[i % len(images)]
            for name, pipeline in pipelines.items():
                w0, t0 = time.perf_counter(), time.process_time()
                face = faces.choose(pipeline.detect(rgb), "benchmark").face
                t1 = time.process_time()
                pipeline.encode(rgb, face)
                t2, w2 = time.process_time(), time.perf_counter()
                if i:  # the first round warms up
                    times[name]["detect"].append(t1 - t0)
                    times[name]["total"].append(t2 - t0)
                    times[name]["wall"].append(w2 - w0)
        for name, t in times.items():
            r = results[(name, width)] = {k: 1000 * statistics.median(v) for k, v in t.items()}
            print(
                f"{name:6} {width}x{height}: detect + encode {r['total']:6.1f} ms CPU median "
                f"(p95 {1000 * float(np.percentile(t['total'], 95)):6.1f}; detection {r['detect']:5.1f} ms, "
                f"{pipelines[name].detector}; wall {r['wall']:6.1f} ms)",
                flush=True,
            )
        cpu, wall = (
            statistics.median(f / d for f, d in zip(times["fused"][k], times["dlib"][k])) for k in ("total", "wall")
        )
        print(
            f"{width}x{height}: fused / dlib = {wall:.2f} in wall-clock time ({'meets' if wall <= 1 else 'misses'} "
            f"the target of a fused capture no slower than dlib), {cpu:.2f} in CPU time; medians of the "
            "repeats",
            flush=True,
        )
    return results


def synthetic(rng, n_people: int, dim: int, scale: float, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Identity centres (random directions) and a drawing of one photo per centre: unit vectors times
    `scale`, each photo `spread` away from its centre in a random direction."""
    centres = rng.standard_normal((n_people, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def photo(ix: np.ndarray) -> np.ndarray:
        noise = rng.standard_normal((len(ix), dim)).astype(np.float32)
        v = centres[ix] + spread * noise / np.sqrt(dim)
        return (scale * v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    return centres, photo


def search(templates: int) -> None:
    from triage.faces import fusion, matchers, matching
    from triage.store.config import Config
    from triage.store.rows import Store

    rng = np.random.default_rng(2026)
    people = templates // 2
    # dlib templates are not unit length: 0.54 puts random identities about 0.76 apart, as dlib's impostors
    # are; SFace's are unit length (random identities about 1.41 apart, its impostors about 1.36).
    shapes = {
        matchers.get("dlib", None).model_ids[0]: (0.54, 0.45),
        matchers.get("sface", None).model_ids[0]: (1.0, 0.3),
    }
    fused = matchers.get("fused", None)
    with tempfile.TemporaryDirectory(prefix="triage-matchers-") as tmp:
        store = Store.create(Path(tmp) / "home", PASSPHRASE, Config(site="bench", force_code="B", officer="bench"))
        owners = [f"WL-{i:06d}" for i in np.repeat(np.arange(people), 2)]
        draws = {}
        t = time.perf_counter()
        for model_id, (scale, spread) in shapes.items():
            _, photo = synthetic(rng, people, 128, scale, spread)
            store.put_templates("subject", model_id, owners, photo(np.repeat(np.arange(people), 2)))
            draws[model_id] = photo
        print(f"store with {templates:,} templates per model built in {time.perf_counter() - t:.1f} s", flush=True)
        galleries = {mid: matching.Gallery.load(store, "watchlist", "subject", mid) for mid in shapes}
        enrolled = rng.choice(people, 100, replace=False)
        probes = [{mid: draws[mid](np.array([i]))[0] for mid in shapes} for i in enrolled]
        others = {mid: synthetic(rng, 100, 128, *shapes[mid])[1](np.arange(100)) for mid in shapes}
        probes += [{mid: others[mid][k] for mid in shapes} for k in range(100)]
        dlib_id = fused.model_ids[0]
        timings: dict[str, list[float]] = {"dlib": [], "fused": []}
        hits = 0
        for k, q in enumerate(probes):
            t0 = time.process_time()
            galleries[dlib_id].search(q[dlib_id], top_k=5, threshold=0.5)
            t1 = time.process_time()
            found = fusion.search(galleries, q, fused.fusion, top_k=5, threshold=fused.threshold)
            t2 = time.process_time()
            timings["dlib"].append(t1 - t0)
            timings["fused"].append(t2 - t1)
            hits += k < 100 and found[0].ref == f"WL-{enrolled[k]:06d}"
        store.close()
    for name, ts in timings.items():
        print(
            f"1:N search, {templates:,} templates per model, {name:5}: {1000 * statistics.median(ts):6.2f} ms CPU median "
            f"(p95 {1000 * float(np.percentile(ts, 95)):6.2f} ms)"
        )
    print(f"fused rank-1 on the 100 enrolled synthetic probes: {hits}/100 (a check that the data is shaped sensibly)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--templates", type=int, default=100_000)
    args = parser.parse_args()
    print(f"capture on {len(os.sched_getaffinity(0))} cores, {args.repeats} runs per figure")
    per_arrival(args.repeats)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(f"search on one core (CPU {sorted(os.sched_getaffinity(0))} of {os.cpu_count()})")
    search(args.templates)


if __name__ == "__main__":
    main()
