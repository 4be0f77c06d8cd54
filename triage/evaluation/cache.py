"""The matchers an evaluation measures, and their templates of a data set's photos.

A matcher is a parameter (an encoder and a distance), so a second face model can be measured on the
same decoded pixels beside dlib. Encoding runs in a process pool with the models loaded once per
worker; its results are kept in a cache keyed by each file's SHA-256 and the model id, so a photo is
encoded once whatever its name or place. The cache holds face templates, so it is sealed under the
home's data key like the store, replaced atomically, and saved even when a run is interrupted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np

from triage import workers as worker_pool
from triage.casework.manifest import PHOTO_TIMEOUT
from triage.errors import BadInput, IntegrityFailure, TriageError
from triage.evaluation.datasets import Dataset
from triage.faces import detection as faces
from triage.faces import encoders
from triage.faces import matchers as registry
from triage.faces.encoders import Pipeline
from triage.faces.fusion import Fusion
from triage.intake import photos
from triage.store.crypto import Vault

CACHE_FILE = "evaluation-cache.sealed"
CACHE_AAD = "evaluation-cache"
CACHE_FORMAT = "triage-evaluation-cache/1"

Distances = Callable[[np.ndarray, np.ndarray], np.ndarray]
# A template, or why none could be made and whether that reason may be cached (it is a property of the file).
Made = np.ndarray | tuple[str, bool]


@dataclass(frozen=True)
class Matcher:
    """What an evaluation needs from a matcher. `encode` turns RGB pixels into a template or raises
    `TriageError`; `distances` gives the (len(a), len(b)) matrix, smaller meaning more alike. Both are
    module-level functions (or partials of them) so that worker processes can receive them. A fused
    matcher's template is its models' templates end to end (`dims` long each), cached under
    `template_id`; its distances are the fused scores of its `fusion` calibration."""

    name: str
    model_id: str  # the id its calibration file carries
    distance: str
    encode: Callable[[np.ndarray], np.ndarray]
    distances: Distances
    load: Callable[[], object]
    threshold: float  # the calibration in force in the home
    template_id: str = ""
    fusion: Fusion | None = None
    dims: tuple[int, ...] = ()

    @property
    def cache_id(self) -> str:
        return self.template_id or self.model_id


def pipeline_encode(pipeline: Pipeline, rgb: np.ndarray) -> np.ndarray:
    """The same detect, choose and encode steps as capture, without the quality gate (its refusals
    would hide the errors an evaluation is there to count); several models' templates end to end."""
    face = faces.choose(pipeline.detect(rgb), "photo").face
    vectors = pipeline.encode(rgb, face)
    return np.concatenate([vectors[mid] for mid in pipeline.model_ids])


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    distances: np.ndarray = np.sqrt(np.maximum(d2, 0.0))
    return distances


def fused_distances(fusion: Fusion, dims: tuple[int, ...], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cuts = np.cumsum((0, *dims))
    return fusion.matrix([euclidean(a[:, lo:hi], b[:, lo:hi]) for lo, hi in zip(cuts, cuts[1:])])


def _matcher(name: str, home: Path | str | None) -> Matcher:
    m = registry.get(name, home)
    pipe = encoders.pipeline(m.model_ids, home)
    encode, load = partial(pipeline_encode, pipe), pipe.load
    # A supplied model's file replaced under the same id makes other templates: cached apart, never reused.
    files = "".join(f"@{mf.file.sha256[:16]}" for mf in pipe.manifests if mf.folder)
    if not m.fusion:
        return Matcher(m.name, m.model_id, "euclidean", encode, euclidean, load, m.threshold, m.model_id + files)
    sizes = {mf.model_id: mf.embedding_size for mf in pipe.manifests} | {encoders.DLIB: 128}
    dims = tuple(sizes[mid] for mid in m.model_ids)
    return Matcher(
        m.name,
        m.model_id,
        m.distance,
        encode,
        partial(fused_distances, m.fusion, dims),
        load,
        m.threshold,
        f"{m.model_id}:{'+'.join(m.model_ids)}{files}",
        m.fusion,
        dims,
    )


def matchers(names: Sequence[str] | None, home: Path | str | None = None, default: str = "dlib") -> list[Matcher]:
    """The matchers named (by default `default` and, when it is fused, each model it combines, side by
    side), each with the home's calibration in force."""
    known = registry.names(home)
    chosen = list(dict.fromkeys(registry.folded_name(n, home) for n in names or registry.side_by_side(default, home)))
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise BadInput(f"--matcher {unknown[0]!r}: choose from {', '.join(known)}")
    return [_matcher(n, home) for n in chosen]


class TemplateCache:
    """Templates (or the reason none could be made) keyed by model id and file SHA-256, sealed as one
    file under the home's data key and replaced atomically."""

    def __init__(self, path: Path, vault: Vault):
        self.path = Path(path)
        self.vault = vault
        self.entries: dict[str, dict[str, str]] = {}
        self.dirty = False
        if self.path.is_file():
            try:
                data = json.loads(vault.open(self.path.read_bytes(), CACHE_AAD))
            except (IntegrityFailure, ValueError):
                raise IntegrityFailure(
                    f"the evaluation cache {self.path} cannot be opened with this home's key (another home's "
                    "cache, or altered); delete it or pass --cache with another file"
                ) from None
            if data.get("format") != CACHE_FORMAT:
                raise IntegrityFailure(f"{self.path} is not a {CACHE_FORMAT} file; delete it or pass another --cache")
            self.entries = data["entries"]

    @staticmethod
    def key(model_id: str, digest: str) -> str:
        return f"{model_id}:{digest}"

    def get(self, model_id: str, digest: str) -> np.ndarray | str | None:
        entry = self.entries.get(self.key(model_id, digest))
        if entry is None:
            return None
        if "error" in entry:
            return entry["error"]
        return np.frombuffer(base64.b64decode(entry["vector"]), dtype=np.float32)

    def put(self, model_id: str, digest: str, value: np.ndarray | str) -> None:
        if isinstance(value, str):
            entry = {"error": value}
        else:
            entry = {"vector": base64.b64encode(np.ascontiguousarray(value, np.float32).tobytes()).decode()}
        self.entries[self.key(model_id, digest)] = entry
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        blob = self.vault.seal(json.dumps({"format": CACHE_FORMAT, "entries": self.entries}).encode(), CACHE_AAD)
        tmp = self.path.with_name(self.path.name + ".partial")
        tmp.write_bytes(blob)
        os.replace(tmp, self.path)
        self.dirty = False


@dataclass
class Encoded:
    """One matcher's templates of the photos it could acquire, and the photos it could not."""

    matcher: Matcher
    total: int
    identities: np.ndarray  # of the acquired photos, in data set order
    paths: list[str]
    vectors: np.ndarray
    failures: list[dict[str, str]]


def _load_models(matcher_list: tuple[Matcher, ...]) -> None:
    for m in matcher_list:
        m.load()


def _encode_file(path: str, matcher_list: tuple[Matcher, ...]) -> dict[str, Made]:
    """Decode once, encode with every matcher. A failure is (reason, cacheable): expected failures
    (no face, unreadable image) are properties of the file; anything else may not recur."""
    try:
        photo = photos.read_photo(path)
    except TriageError as e:
        return {m.cache_id: (str(e), True) for m in matcher_list}
    out: dict[str, Made] = {}
    for m in matcher_list:
        try:
            out[m.cache_id] = np.asarray(m.encode(photo.rgb), dtype=np.float32)
        except TriageError as e:
            out[m.cache_id] = (str(e), True)
        except Exception as e:  # a model's own crash on one photo is counted, not fatal
            out[m.cache_id] = (f"{type(e).__name__}: {e}", False)
    return out


def encode(
    dataset: Dataset,
    matcher_list: Sequence[Matcher],
    cache: TemplateCache,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Encoded], dict[str, Any]]:
    """Templates for every photo with every matcher: from the cache when the file is known, else
    computed in worker processes (one per core, models loaded once each; a photo that crashes or hangs
    its worker is a failure to acquire) and added to the cache, which is saved even when the run is
    interrupted."""
    matcher_list = tuple(matcher_list)
    n = len(dataset.samples)
    digests = [hashlib.sha256(s.path.read_bytes()).hexdigest() for s in dataset.samples]
    same: dict[str, list[int]] = {}
    for i, digest in enumerate(digests):
        same.setdefault(digest, []).append(i)
    copies = [
        {
            "photos": [str(dataset.samples[i].path) for i in group],
            "identities": sorted({dataset.samples[i].identity for i in group}),
        }
        for group in same.values()
        if len(group) > 1
    ]
    results: list[dict[str, np.ndarray | str]] = [{} for _ in range(n)]
    todo = []
    for i, digest in enumerate(digests):
        for m in matcher_list:
            hit = cache.get(m.cache_id, digest)
            if hit is not None:
                results[i][m.cache_id] = hit
        if len(results[i]) < len(matcher_list):
            todo.append(i)
    done = n - len(todo)
    if progress:
        progress(done, n)
    workers = workers or worker_pool.cores()
    jobs = ((i, (str(dataset.samples[i].path), matcher_list)) for i in todo)

    def land(i: int, encoded: dict[str, Made]) -> None:
        nonlocal done
        for model_id, value in encoded.items():
            if model_id in results[i]:
                continue
            if isinstance(value, tuple):
                reason, cacheable = value
                results[i][model_id] = reason
                if cacheable:
                    cache.put(model_id, digests[i], reason)
            else:
                results[i][model_id] = value
                cache.put(model_id, digests[i], value)
        done += 1
        if progress:
            progress(done, n)

    try:
        if workers == 1 or len(todo) <= 2:  # starting processes would cost more than it saves
            _load_models(matcher_list)
            for i, args in jobs:
                land(i, _encode_file(*args))
        else:
            for outcome in worker_pool.run(
                _encode_file,
                jobs,
                workers=workers,
                timeout=PHOTO_TIMEOUT,
                initializer=partial(_load_models, matcher_list),
            ):
                crashed: dict[str, Made] = {m.cache_id: (str(outcome.error), False) for m in matcher_list}
                made = crashed if outcome.error is not None else cast(dict[str, Made], outcome.value)
                land(cast(int, outcome.key), made)
    finally:
        cache.save()
    encoded = []
    for m in matcher_list:
        keep = [i for i in range(n) if not isinstance(results[i][m.cache_id], str)]
        failures = [
            {
                "photo": str(dataset.samples[i].path),
                "identity": dataset.samples[i].identity,
                "reason": reason,
            }
            for i in range(n)
            if isinstance(reason := results[i][m.cache_id], str)
        ]
        vectors = np.stack([results[i][m.cache_id] for i in keep]) if keep else np.zeros((0, 0), np.float32)
        encoded.append(
            Encoded(
                m,
                n,
                np.asarray([dataset.samples[i].identity for i in keep], dtype=object),
                [str(dataset.samples[i].path) for i in keep],
                vectors,
                failures,
            )
        )
    return encoded, {
        "photos": n,
        "from_cache": n - len(todo),
        "encoded": len(todo),
        "cache": str(cache.path),
        "copies": copies,
    }
