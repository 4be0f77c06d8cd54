"""Templates for a model added after photos were stored: every stored photo without one is encoded again,
in worker processes on every core, its face found by the detector the home's models use, so a photo's
templates all describe the same face. Each photo's templates land in their own transaction, so an
interrupted run keeps what it did and the next adds only what is missing; each run is audited.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from triage import workers
from triage.errors import TriageError, UsageError
from triage.faces import detection as faces
from triage.faces import encoders, matchers
from triage.faces.encoders import Pipeline
from triage.store.rows import Store

IN_PROCESS_UP_TO = 16  # fewer photos than this are encoded here: starting workers would cost more
PHOTO_TIMEOUT = 120.0
Job = tuple[int, tuple[bytes, str, Pipeline, Pipeline]]  # photo id, and `encode_stored`'s arguments

# Stored photos of live owners without a template of the model: originals, and portraits of arrivals that
# have no original. Ordered by photo id, the order they were stored in.
MISSING = """
SELECT p.id, p.owner_kind, p.owner_id FROM photos p
WHERE p.data IS NOT NULL AND p.owner_kind IN ('subject', 'arrival')
  AND (p.role = 'original' OR (p.role = 'portrait' AND p.owner_kind = 'arrival' AND NOT EXISTS (
       SELECT 1 FROM photos o WHERE o.owner_kind = 'arrival' AND o.owner_id = p.owner_id AND o.role = 'original')))
  AND NOT (p.owner_kind = 'subject' AND EXISTS (SELECT 1 FROM subjects s WHERE s.ref = p.owner_id AND s.status != 'active'))
  AND NOT EXISTS (SELECT 1 FROM templates t WHERE t.photo_id = p.id AND t.model_id = ?)
ORDER BY p.id
"""


def model_id_of(name: str, home: Path | str | None) -> str:
    """A model named by its matcher name (dlib, sface, a user model's folder) or by its model id, in any case."""
    name = matchers.folded_name(name, home)
    if name in encoders.BUILTIN:
        return encoders.BUILTIN[name]
    users = encoders.user_models(home)
    if name in users:
        return users[name].model_id
    known = {encoders.DLIB, encoders.SFACE} | {m.model_id for m in users.values()}
    name = next((k for k in known if k.casefold() == name.casefold()), name) if name not in known else name
    if name not in known:
        raise UsageError(f"--model {name!r}: choose from {', '.join([*encoders.BUILTIN, *users])}")
    return name


def encode_stored(data: bytes, source: str, detect: Pipeline, encode: Pipeline) -> dict[str, npt.NDArray[np.float32]]:
    """A worker's job: one stored photo's face, found by `detect`, encoded by `encode`'s models."""
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return encode.encode(rgb, faces.choose(detect.detect(rgb), source).face)


def reindex(
    store: Store,
    *,
    officer: str,
    model: str | None = None,
    workers_count: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Encode every stored photo that lacks a template of `model` (default: of each model the home's
    matcher uses). Returns per model how many photos were encoded, and which had no usable face."""

    model_ids = [model_id_of(model, store.home)] if model else list(matchers.models_for(store))
    out: dict[str, dict[str, Any]] = {}
    for model_id in model_ids:
        todo = store.db.execute(MISSING, [model_id]).fetchall()
        detect = encoders.pipeline([*matchers.models_for(store), model_id], store.home)
        encode = encoders.pipeline([model_id], store.home)
        detect.load()
        if progress:
            progress(0, len(todo))
        owner = {pid: (kind, ref) for pid, kind, ref in todo}

        def jobs(todo: list[Any] = todo, detect: Pipeline = detect, encode: Pipeline = encode) -> Iterator[Job]:
            for pid, kind, ref in todo:
                yield pid, (store.photo_by_id(pid)[1], f"{kind} {ref} photo {pid}", detect, encode)

        def here(jobs: Callable[[], Iterator[Job]] = jobs) -> Iterator[workers.Outcome]:
            for pid, args in jobs():
                try:
                    yield workers.Outcome(pid, encode_stored(*args))
                except TriageError as e:
                    yield workers.Outcome(pid, error=e)

        count = workers_count or workers.cores()
        outcomes = (
            here()
            if count == 1 or len(todo) < IN_PROCESS_UP_TO
            else workers.run(encode_stored, jobs(), workers=count, timeout=PHOTO_TIMEOUT, initializer=detect.load)
        )
        encoded, failed = 0, []
        for done, outcome in enumerate(outcomes, 1):
            kind, ref = owner[outcome.key]
            if outcome.error is None:
                templates = cast(dict[str, npt.NDArray[np.float32]], outcome.value)  # what encode_stored returned
                store.put_template(kind, ref, cast(int, outcome.key), model_id, templates[model_id])
                encoded += 1
            else:
                failed.append({"owner_kind": kind, "owner": ref, "photo": outcome.key, "reason": str(outcome.error)})
            if progress:
                progress(done, len(todo))
        with store.transaction():
            store.audit(
                "models-reindex",
                officer,
                records=[f"model:{model_id}"],
                reason=f"{encoded} of {len(todo)} stored photos encoded with {model_id} "
                f"(detector {detect.detector}); {len(failed)} without a usable face",
            )
        out[model_id] = {"photos": len(todo), "encoded": encoded, "failed": failed, "detector": detect.detector}
    return out
