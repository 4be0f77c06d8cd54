"""Approximate nearest-neighbour search (a usearch HNSW graph) for galleries too large for an exact scan.

Exact search reads every template for every probe (about 4 ms per 100,000 templates on the two-core
machines measured, bound by memory bandwidth), so a gallery of `CUTOVER` templates or more searches a
graph instead and re-ranks what the graph returns with exact distances: the distances and threshold
decisions stay exact, only recall can suffer, and benchmarks/search_scale.py measures it against exact
search. Building the graph takes many minutes at a million templates, so it is built once (`triage watchlist index`, or by an import that crosses the
cut-over) and stored sealed in the store beside the templates. A process opens the stored graph in
place (a view of the decrypted bytes, no copy) and treats what changed since as the gallery's business:
templates added since are scanned exactly, deleted ones are filtered out. Only when more than
`RESTORE_DRIFT` templates changed is the graph copied, brought up to date and stored again. Keys are
template ids, which are never reused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CUTOVER = 200_000  # templates; an exact scan of this many takes about 8 ms here, of a million about 40 ms
CONNECTIVITY = 16  # graph edges per node ("M"): recall against memory, about 150 bytes a template
EXPANSION_ADD = 64  # search depth while inserting ("efConstruction"): build time against graph quality
EXPANSION_SEARCH = 1024  # search depth per query ("ef"): recall@10 0.99 at a million, about 7 ms (benchmark)
RESTORE_DRIFT = 5_000  # templates added or deleted since the stored graph before it is updated and stored again
BUILD_BATCH = 20_000  # templates added per call while building, so progress can be reported


class AnnIndex:
    """An HNSW graph over template ids; vectors are held as float16, enough to propose candidates."""

    def __init__(self, index, max_id: int, buffer: bytearray | None = None):
        self.index = index
        self.index.expansion_search = EXPANSION_SEARCH
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
        cls, ids: np.ndarray, vectors: np.ndarray, progress: Callable[[int, int], None] | None = None
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

        return cls(Index.restore(data), max_id) if writable else cls(Index.restore(data, view=True), max_id, data)

    def to_bytes(self) -> bytearray:
        return self.index.save()

    def __len__(self) -> int:
        return len(self.index)

    def keys(self) -> np.ndarray:
        return np.asarray(self.index.keys, dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add(np.asarray(ids, dtype=np.uint64), np.ascontiguousarray(vectors, dtype=np.float32))
            self.max_id = max(self.max_id, int(ids.max()))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove(np.asarray(ids, dtype=np.uint64))

    def search(self, query: np.ndarray, count: int) -> np.ndarray:
        """Ids of (about) the `count` nearest templates, nearest first."""
        return np.asarray(self.index.search(np.asarray(query, dtype=np.float32), count).keys, dtype=np.int64)
