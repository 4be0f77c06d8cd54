"""Face models behind one interface, and the pipeline that runs a set of them on one photo. One detector
decides the face for all of them (dlib's HOG when dlib is the only model, YuNet otherwise), and every
template carries its model's id, so templates of different models are never compared. Built in: dlib's
ResNet and SFace; a model a user supplies is a folder holding its .onnx file and `manifest.json`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from triage import workers
from triage.errors import BadInput, NotFound
from triage.faces import detection as faces
from triage.faces.encoders import files, onnx, yunet
from triage.store import settings

DLIB = faces.MODEL_ID
SFACE = onnx.SFACE.model_id
BUILTIN = {"dlib": DLIB, "sface": SFACE}  # matcher name -> the one model it uses
RESERVED = ("dlib", "sface", "fused")
There = TypeVar("There")
Here = TypeVar("Here")


def model_folders(home: Path | str | None) -> list[Path]:
    """Where models a user supplies are looked for, first match wins: the home's models/, then
    `TRIAGE_MODELS_DIR`, then the package's models/ (a force may ship its own build with the tool). A
    model's folder name is its name."""
    roots = [Path(home) / "models"] if home else []
    override = files.override_dir()
    if override is not None:
        roots.append(override)
    roots.append(Path(str(resources.files("triage.models"))))
    return roots


def user_models(home: Path | str | None, *, adopting: bool = False) -> dict[str, onnx.Manifest]:
    """Every model a user supplied, by name, its manifest read and checked (not yet its file), and in a home
    that adopted the model (`triage models use`) the very manifest it adopted (IntegrityFailure if not),
    unless the home is `adopting` one now."""
    found: dict[str, onnx.Manifest] = {}
    adopted: list[settings.Settings | None] = []  # the home's record, read once, when a model is first found
    for root in model_folders(home):
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if (p / onnx.MANIFEST).is_file()):
            manifest = onnx.Manifest.read(folder)
            if manifest.name in RESERVED or manifest.model_id in (DLIB, SFACE, "fused"):
                raise BadInput(
                    f"{folder}: the name {manifest.name!r} (model id {manifest.model_id!r}) is taken by a "
                    "built-in matcher; rename the model in its manifest"
                )
            if manifest.name in found:  # the same name further down the list: the first one is used
                continue
            twin = next((m for m in found.values() if m.model_id == manifest.model_id), None)
            if twin is not None:  # templates are kept by model id: one folder would encode for the other
                raise BadInput(
                    f"{folder}: model id {manifest.model_id!r} is also that of the model in {twin.folder}; each "
                    "supplied model needs an id of its own (the manifest's model_id): remove or rename one"
                )
            if home is not None and not adopting:
                if not adopted:
                    adopted.append(settings.recorded(home))
                settings.check_model(home, manifest.name, folder / onnx.MANIFEST, manifest.sha256, adopted[0])
            found[manifest.name] = manifest
    return found


def manifest(model_id: str, home: Path | str | None) -> onnx.Manifest | None:
    """The ONNX manifest of a model id (None for dlib); `NotFound` when no installed model has the id."""
    if model_id == DLIB:
        return None
    if model_id == SFACE:
        return onnx.SFACE
    for m in user_models(home).values():
        if m.model_id == model_id:
            return m
    raise NotFound(
        f"no model {model_id!r} is installed; put its folder (the .onnx file and manifest.json) under "
        f"{Path(home) / 'models' if home else 'the home models/ folder'}"
    )


@dataclass(frozen=True)
class Pipeline:
    """Detect once, encode with every model named. Picklable, so batch workers receive it."""

    model_ids: tuple[str, ...]
    manifests: tuple[onnx.Manifest, ...] = ()  # the ONNX models among `model_ids`, in the same order

    @property
    def detector(self) -> str:
        return faces.DETECTOR_ID if self.model_ids == (DLIB,) else yunet.DETECTOR_ID

    def load(self) -> None:
        """Load (and check) every model file once in this process: a batch worker's initializer. In a worker,
        OpenCV runs on the worker's own thread: with its default of one thread per core, YuNet spent more processor
        time for the same wall time while the other worker wanted that core (benchmarks/capture_batch.py)."""
        if workers.in_pool():
            import cv2

            cv2.setNumThreads(1)
        faces.models()
        if self.detector == yunet.DETECTOR_ID:
            yunet.load()
        else:
            faces.hog()
        for m in self.manifests:
            encoder(m)

    def detect(self, rgb: npt.NDArray[np.uint8]) -> list[faces.Face]:
        return faces.detect(rgb) if self.detector == faces.DETECTOR_ID else yunet.detect(rgb)

    def encode(self, rgb: npt.NDArray[np.uint8], face: faces.Face) -> dict[str, npt.NDArray[np.float32]]:
        """Every model's template of the face. With dlib and ONNX models together (the fused matcher), the
        ONNX networks run on a second thread while dlib runs here, so that on a laptop's second core a
        fused capture takes about as long as dlib's alone; not in a batch's workers, which fill every core."""
        onnx_models = {m.model_id: encoder(m) for m in self.manifests}
        blobs = {mid: e.blob(e.crop(rgb, face)) for mid, e in onnx_models.items()}
        dlib_template: npt.NDArray[np.float32] | None
        if DLIB in self.model_ids and blobs and not workers.in_pool():
            raws, dlib_template = _beside(
                lambda: {mid: onnx_models[mid].run(b) for mid, b in blobs.items()}, lambda: faces.encode(rgb, face)
            )
        else:
            raws = {mid: onnx_models[mid].run(b) for mid, b in blobs.items()}
            dlib_template = faces.encode(rgb, face) if DLIB in self.model_ids else None
        templates = {mid: onnx_models[mid].template(raw) for mid, raw in raws.items()}
        if dlib_template is not None:
            templates[DLIB] = dlib_template
        return {mid: templates[mid] for mid in self.model_ids}


@lru_cache(maxsize=1)
def _second_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage-onnx")


def _beside(there: Callable[[], There], here: Callable[[], Here]) -> tuple[There, Here]:
    """Run `there` on the second thread while `here` runs on this one. dlib keeps Python's lock while it
    cuts the face chip, so `there` is started first and this thread waits until it has begun: its first
    step, onnxruntime's run, lets go of the lock. (Were the order lost to the scheduler, the two would
    simply overlap less.)"""
    started = threading.Event()

    def job() -> There:
        started.set()
        return there()

    future = _second_thread().submit(job)
    started.wait()
    mine = here()
    return future.result(), mine


def pipeline(model_ids: Iterable[str], home: Path | str | None) -> Pipeline:
    ids = tuple(dict.fromkeys(model_ids))
    return Pipeline(ids, tuple(m for m in (manifest(mid, home) for mid in ids) if m is not None))


DLIB_ONLY = Pipeline((DLIB,))  # what capture and enrolment ran before there was a choice


def encoder(m: onnx.Manifest) -> onnx.Encoder:
    """An ONNX model ready to encode: its file's SHA-256 checked and, for a user's model, its self-test
    passed, once per process."""
    if m != onnx.SFACE:
        self_test(m)
    return onnx.load(m)


@lru_cache(maxsize=8)
def self_test(m: onnx.Manifest) -> onnx.SelfTest:
    """The self-test's measurements (`onnx.self_test`); SFace, whose file digest pins it, is not tested
    at every start, but can be."""
    return onnx.self_test(onnx.load(m))
