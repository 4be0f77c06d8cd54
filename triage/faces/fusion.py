"""The fused matcher: each model's distance for a pair of faces put on a common scale (z-normalised on its
impostor distances) and combined by weights into one distance, lower meaning more alike. The figures are
data, not code: `models/fused.json`, or a home's own written by `triage evaluate --calibrate`, each saying
what photos they were estimated on. A model with no template of an owner counts as a typical impostor:
missing evidence never makes a candidate.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from triage.errors import BadInput
from triage.faces.matching import Candidate, Gallery, calibration

FUSED = "fused"  # the matcher's name, and the model id its calibration file carries
POOL = 16  # each model proposes this many times the candidates wanted (80 for a list of 5)


@dataclass(frozen=True)
class Part:
    model_id: str
    weight: float
    impostor_mean: float
    impostor_std: float


@dataclass(frozen=True)
class Fusion:
    """Each model's distance d becomes z = (d - mean) / std on its impostor distances (how far below the
    typical distance between different people it lies), and the z-scores are summed with weights. The sum
    is shifted by sum(weight x mean / std), which changes no ranking and no decision, so that it reads as
    a distance: sum(weight x d / std), 0 for identical faces, about sum(weight x mean / std) for
    different people."""

    parts: tuple[Part, ...]
    threshold: float
    provenance: str
    file: str

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(p.model_id for p in self.parts)

    def score(self, distances: dict[str, float | None]) -> float:
        """The fused distance of one pair from each model's distance (None: that model has no template)."""
        return sum(
            p.weight * (p.impostor_mean if (d := distances.get(p.model_id)) is None else d) / p.impostor_std
            for p in self.parts
        )

    def matrix(self, per_model: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
        """Fused distances from each model's distance matrix, in `parts` order."""
        # an array: a fusion has two or more parts (`load` refuses fewer)
        return cast(npt.NDArray[np.float64], sum(p.weight * d / p.impostor_std for p, d in zip(self.parts, per_model)))


def load(home: Path | str | None = None) -> Fusion:
    """The home's fusion calibration when it has one, else the shipped one."""
    cal = calibration(FUSED, home)
    try:
        parts = tuple(
            Part(p["model_id"], float(p["weight"]), float(p["impostor_mean"]), float(p["impostor_std"]))
            for p in (cal.data or {})["models"]
        )
        if len(parts) < 2 or min(p.impostor_std for p in parts) <= 0 or min(p.weight for p in parts) <= 0:
            raise ValueError("it needs two or more models, each with a positive weight and impostor_std")
    except (ValueError, KeyError, TypeError) as e:
        raise BadInput(f"{cal.file} is not a valid fusion calibration ({e}); fix or delete it") from None
    return Fusion(parts, cal.threshold, cal.provenance, cal.file)


def impostor_stats(
    vectors: npt.NDArray[np.floating[Any]], identities: npt.NDArray[np.generic], block: int = 512
) -> tuple[float, float, int]:
    """Mean and standard deviation of the Euclidean distances of every pair of different people, and how
    many pairs: summed block by block, so ten thousand photos never hold fifty million distances at once."""
    ids = np.unique(identities, return_inverse=True)[1]
    v = np.asarray(vectors, dtype=np.float64)
    sq = (v * v).sum(1)
    total = total_sq = 0.0
    count = 0
    for start in range(0, len(v), block):
        rows = np.arange(start, min(start + block, len(v)))
        d = np.sqrt(np.maximum(sq[rows, None] + sq[None, :] - 2.0 * v[rows] @ v.T, 0.0))
        keep = (np.arange(len(v))[None, :] > rows[:, None]) & (ids[rows, None] != ids[None, :])
        d = d[keep]
        total, total_sq, count = total + d.sum(), total_sq + (d * d).sum(), count + d.size
    if count < 2:
        raise BadInput("fitting the fusion needs photos of at least two people")
    mean = total / count
    return mean, math.sqrt(max(total_sq / count - mean * mean, 0.0)), count


def fit(
    per_model: dict[str, npt.NDArray[np.floating[Any]]], identities: npt.NDArray[np.generic], weights: dict[str, float]
) -> tuple[Part, ...]:
    """Each model's impostor mean and spread on these photos; the weights are kept as given."""
    parts = []
    for model_id, vectors in per_model.items():
        mean, std, _ = impostor_stats(vectors, identities)
        parts.append(Part(model_id, weights[model_id], round(mean, 6), round(std, 6)))
    return tuple(parts)


def search(
    galleries: dict[str, Gallery],
    queries: dict[str, npt.NDArray[np.float32]],
    fusion: Fusion,
    *,
    top_k: int,
    threshold: float,
    exclude: Collection[str] = frozenset(),
    approximate: bool | None = None,
) -> list[Candidate]:
    """Top-k owners by fused distance, best first, in galleries of the same owners, one per model.

    Each model proposes its nearest owners (by their best template), and every owner proposed is scored
    exactly (a model that did not propose it is asked for its distance). An owner no model proposed is
    at least as far, under each model, as that model's last proposal, which bounds its distance below;
    the proposals are lengthened while that bound is below the threshold. So every owner below the
    threshold is found, with its exact score, and the rest of the list (above the threshold, shown for
    context) is the best of those proposed, as with the approximate index (ann.py): scoring every owner
    of a large gallery on every search would cost a pass per owner."""
    usable = max(len(g) for g in galleries.values())
    pool = top_k * POOL
    while usable and top_k > 0:
        known: dict[str, dict[str, float | None]] = {}
        floor: dict[str, float | None] = {}
        for m, g in galleries.items():
            found = g.search(queries[m], top_k=pool, threshold=math.inf, exclude=exclude, approximate=approximate)
            known[m] = {c.ref: c.distance for c in found}
            floor[m] = found[-1].distance if len(found) == pool else None  # None: the list holds every owner
        owners = sorted(set().union(*known.values()))
        for m, g in galleries.items():
            if floor[m] is not None:  # else an owner it did not propose has no template of it
                known[m].update(g.owner_distances([o for o in owners if o not in known[m]], queries[m]))
        scores = {o: fusion.score({m: known[m].get(o) for m in galleries}) for o in owners}
        if fusion.score(floor) >= threshold or pool >= usable or all(f is None for f in floor.values()):
            ranked = sorted(owners, key=lambda o: (scores[o], o))[:top_k]
            return [
                Candidate(
                    next(iter(galleries.values())).kind,
                    o,
                    rank,
                    round(scores[o], 4),
                    threshold,
                    scores[o] < threshold,
                    FUSED,
                    matcher=FUSED,
                    scores={m: known[m].get(o) for m in galleries},
                )
                for rank, o in enumerate(ranked, 1)
            ]
        pool *= 4
    return []
