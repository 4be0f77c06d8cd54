"""Approximate nearest-neighbour search (a usearch HNSW graph) for galleries too large to scan on every
search. The graph only proposes candidates; exact distances rank and judge them, so only recall can
suffer (benchmarks/search_scale.py measures it). Built once and stored sealed beside the templates, the
graph is opened in place; templates added since are scanned exactly and deleted ones filtered out, until
enough have changed that it is brought up to date and stored again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from triage.errors import IntegrityFailure, TriageError

if TYPE_CHECKING:
    from usearch.index import Index

CUTOVER = 200_000  # templates; an exact scan of this many takes about 8 ms here, of a million about 40 ms
CONNECTIVITY = 16  # graph edges per node ("M"): recall against memory, about 150 bytes a template
EXPANSION_ADD = 64  # search depth while inserting ("efConstruction"): build time against graph quality
EXPANSION_SEARCH = 1024  # search depth per query ("ef"): recall@10 0.99 at a million, about 7 ms (benchmark)
RESTORE_DRIFT = 5_000  # templates added or deleted since the stored graph before it is updated and stored again
BUILD_BATCH = 20_000  # templates added per call while building, so progress can be reported


class AnnIndex:
    """An HNSW graph over template ids (never reused); vectors are held as float16, enough to propose
    candidates. Building one for a large gallery is slow, so it is stored, and a process views the stored
    bytes in place unless more than `RESTORE_DRIFT` templates changed since, when it copies and updates
    it (`Gallery.attach_index`)."""

    def __init__(self, index: Index, max_id: int, buffer: bytearray | None = None) -> None:
        self.index = index
        # usearch defines this property's setter away from its getter, where mypy does not find it
        self.index.expansion_search = EXPANSION_SEARCH  # type: ignore[misc]
        self.max_id = max_id  # the highest template id the graph has seen
        self.buffer = buffer  # the bytes a viewed (read-only) graph lives in

    @classmethod
    def empty(cls, dim: int) -> AnnIndex:
        from usearch.index import Index

        return cls(
            Index(ndim=dim, metric="l2sq", dtype="f16", connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD), 0
        )

    @classmethod
    def build(
        cls,
        ids: npt.NDArray[np.int64],
        vectors: npt.NDArray[np.float32],
        progress: Callable[[int, int], None] | None = None,
    ) -> AnnIndex:
        built = cls.empty(vectors.shape[1])
        for lo in range(0, len(ids), BUILD_BATCH):
            built.add(ids[lo : lo + BUILD_BATCH], vectors[lo : lo + BUILD_BATCH])
            if progress:
                progress(min(len(ids), lo + BUILD_BATCH), len(ids))
        return built

    @classmethod
    def restore(cls, data: bytearray, max_id: int, *, writable: bool) -> AnnIndex:
        """The stored graph: viewed in place, or copied when it is to be changed."""
        from usearch.index import Index

        restored = Index.restore(data, view=not writable)
        if restored is None:  # usearch could not read the graph's header
            raise IntegrityFailure(
                "the stored approximate index cannot be read; rebuild it with `triage watchlist index`"
            )
        return cls(restored, max_id) if writable else cls(restored, max_id, data)

    def to_bytes(self) -> bytes:
        """The graph, serialised (a bytearray, which usearch's type hints call bytes)."""
        saved = self.index.save()
        if saved is None:  # usearch returns nothing only when it saves to a file
            raise TriageError("the approximate index could not be serialised")
        return saved

    def __len__(self) -> int:
        return len(self.index)

    def keys(self) -> npt.NDArray[np.int64]:
        return np.asarray(self.index.keys, dtype=np.int64)

    def add(self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        if len(ids):
            self.index.add(np.asarray(ids, dtype=np.uint64), np.ascontiguousarray(vectors, dtype=np.float32))
            self.max_id = max(self.max_id, int(ids.max()))

    def remove(self, ids: npt.NDArray[np.int64]) -> None:
        if len(ids):
            self.index.remove(np.asarray(ids, dtype=np.uint64))

    def search(self, query: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.int64]:
        """Ids of (about) the `count` nearest templates, nearest first."""
        return np.asarray(self.index.search(np.asarray(query, dtype=np.float32), count).keys, dtype=np.int64)
