"""1:N search: every live template of one model in one float32 matrix, searched with one matrix
product, best photo per subject, top-k candidates judged against the threshold in force.

A candidate is never an identification: it carries its distance and the threshold it was judged
against, for a person to review.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources

import numpy as np

from .errors import BadInput, NotFound


@dataclass
class Calibration:
    model_id: str
    threshold: float
    distance: str
    provenance: str


def calibration(model_id: str) -> Calibration:
    """The shipped calibration of a model: its threshold and where that threshold came from."""
    path = resources.files("triage.models") / f"{model_id}.json"
    if not path.is_file():
        raise NotFound(f"no calibration file for model {model_id} under models/")
    d = json.loads(path.read_text())
    return Calibration(d["model_id"], float(d["threshold"]), d.get("distance", "euclidean"), d.get("provenance", ""))


@dataclass
class Candidate:
    kind: str  # watchlist | arrival
    ref: str
    rank: int
    distance: float
    threshold: float
    below_threshold: bool
    model_id: str

    def to_dict(self) -> dict:
        return asdict(self)


class Gallery:
    """The templates of one model and one kind of owner, kept in memory for repeated searches."""

    def __init__(self, kind: str, model_id: str, owners: list[str], matrix: np.ndarray):
        self.kind = kind
        self.model_id = model_id
        self.owners = np.asarray(owners, dtype=object)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.sq_norms = (self.matrix * self.matrix).sum(axis=1) if len(owners) else np.zeros(0, np.float32)

    def __len__(self) -> int:
        return len(self.owners)

    def add(self, owner: str, vector: np.ndarray) -> None:
        """Keep the in-memory matrix in step with a template just stored."""
        vec = np.asarray(vector, dtype=np.float32)[None, :]
        self.matrix = vec if len(self) == 0 else np.vstack([self.matrix, vec])
        self.owners = np.append(self.owners, np.asarray([owner], dtype=object))
        self.sq_norms = np.append(self.sq_norms, (vec * vec).sum())

    def distances(self, query: np.ndarray) -> np.ndarray:
        """Euclidean distance to every template, from one matrix product."""
        q = np.asarray(query, dtype=np.float32)
        if q.shape[0] != self.matrix.shape[1]:
            raise BadInput(f"query has {q.shape[0]} dimensions, the {self.model_id} gallery has {self.matrix.shape[1]}")
        d2 = self.sq_norms + float(q @ q) - 2.0 * (self.matrix @ q)
        return np.sqrt(np.maximum(d2, 0.0))

    def search(self, query: np.ndarray, *, top_k: int, threshold: float, exclude: set[str] = frozenset()) -> list[Candidate]:
        """Top-k owners by their best template, nearest first."""
        if len(self) == 0 or top_k <= 0:
            return []
        d = self.distances(query)
        # Enough nearest templates to cover top_k distinct owners even when owners have several photos.
        want = min(len(d), top_k * 8 + len(exclude))
        near = np.argpartition(d, want - 1)[:want] if want < len(d) else np.arange(len(d))
        near = near[np.argsort(d[near], kind="stable")]
        out: list[Candidate] = []
        seen: set[str] = set(exclude)
        for i in near:
            owner = self.owners[i]
            if owner in seen:
                continue
            seen.add(owner)
            dist = float(d[i])
            out.append(Candidate(self.kind, owner, len(out) + 1, round(dist, 4), threshold, dist < threshold, self.model_id))
            if len(out) == top_k:
                break
        return out
