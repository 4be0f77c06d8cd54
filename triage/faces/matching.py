"""1:N search of one model's templates. A gallery holds every live template of one model and one kind of
owner in memory, kept in step with the store, and returns each owner's best photo, top-k, judged against
the threshold in force (the model's calibration unless a search overrides it). Templates of different
models are never compared. Large galleries are narrowed by an int8 copy (quantized.py) or an approximate
index (ann.py), and exact distances decide either way. A candidate is never an identification: it
carries its distance and the threshold it was judged against, for a person to review.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from triage import workers
from triage.errors import BadInput, NotFound, UsageError
from triage.faces import ann, quantized
from triage.intake import jsontext
from triage.store import settings
from triage.store.rows import Store

PHOTOS_PER_OWNER = 8  # nearest templates fetched per wanted candidate, so owners with several photos fill top-k
Templates = npt.NDArray[np.float32]  # one template a row
ROW_ARRAYS = ("ids", "owners", "block_of", "matrix", "sq_norms", "alive", "hidden")  # a Gallery's arrays, row for row
SPLIT_ROWS = 100_000  # a scan of more rows is split across the cores; below it one core is as fast


@lru_cache(maxsize=1)
def _scan_pool() -> tuple[ThreadPoolExecutor, int]:
    cores = workers.cores()
    return ThreadPoolExecutor(max_workers=cores, thread_name_prefix="triage-scan"), cores


def scores(matrix: Templates, q: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """`matrix @ q`, without BLAS's own threads: when both cores are busy (a capture batch's workers)
    OpenBLAS's spinning threads stall each call far longer than the product takes on one core, so a
    small scan runs on one core and a large one is split by rows across the cores (einsum releases the
    GIL)."""
    pool, cores = _scan_pool()
    if len(matrix) < SPLIT_ROWS or cores == 1:
        products: npt.NDArray[np.float32] = np.einsum("ij,j->i", matrix, q)
        return products
    out = np.empty(len(matrix), np.float32)
    cuts = np.linspace(0, len(matrix), cores + 1).astype(int)
    for job in [pool.submit(np.einsum, "ij,j->i", matrix[a:b], q, out=out[a:b]) for a, b in zip(cuts, cuts[1:])]:
        job.result()
    return out


@dataclass
class Calibration:
    model_id: str
    threshold: float
    distance: str
    provenance: str
    file: str = ""  # the calibration file read
    data: dict[str, Any] | None = None  # everything the file holds (the fused matcher's normalisation, for one)


def home_calibration_file(home: Path | str, model_id: str) -> Path:
    """Where `triage evaluate --calibrate` writes a home's own calibration of a model."""
    return Path(home) / "models" / f"{model_id}.json"


def calibration(model_id: str, home: Path | str | None = None) -> Calibration:
    """A model's threshold and where it came from: the home's own calibration (measured on its photos)
    when it has one, else the shipped file. A home's file is used only if it is the one `triage evaluate
    --calibrate` recorded in the home's settings: one dropped in or edited is refused (IntegrityFailure)."""
    local = home_calibration_file(home, model_id) if home else None
    path = local if local is not None and local.is_file() else resources.files("triage.models") / f"{model_id}.json"
    if not path.is_file():
        raise NotFound(f"no calibration file for model {model_id} under models/")
    raw = path.read_bytes()
    if home and local is not None and path is local:
        settings.check_calibration(home, local, raw)
    try:
        d = jsontext.loads(raw.decode("utf-8"), str(path))
        if d["model_id"] != model_id:
            raise ValueError(f"it is for model {d['model_id']}")
        return Calibration(
            model_id, float(d["threshold"]), d.get("distance", "euclidean"), d.get("provenance", ""), str(path), d
        )
    except (ValueError, KeyError, TypeError) as e:
        raise BadInput(f"{path} is not a valid calibration file for {model_id} ({e}); fix or delete it") from None


@dataclass
class Candidate:
    kind: str  # watchlist | arrival
    ref: str
    rank: int
    distance: float
    threshold: float
    below_threshold: bool
    model_id: str
    matcher: str | None = None  # set by the search that produced it (triage/matchers.py)
    scores: dict[str, float | None] | None = None  # a fused candidate's distance under each model (None: no template)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Gallery:
    """The live templates of one model and one kind of owner, in memory for repeated searches.

    Loaded once per process from the store's sealed blocks, then kept in step by `refresh()`, which opens
    only the blocks that changed since it last looked, so enrolments, captures, removals and purges made
    by this or any other process are seen at the next search. Rows stay sorted by template id (ids only
    grow); a deleted template's row is marked dead and dropped in bulk later. Owners can be hidden (an
    expired watchlist entry) without reloading. Past `ann.CUTOVER` templates an approximate index finds
    the candidates and exact distances rank them.
    """

    def __init__(self, kind: str, owner_kind: str, model_id: str):
        self.kind, self.owner_kind, self.model_id = kind, owner_kind, model_id
        self.n = 0  # rows in use; the arrays below have spare capacity past it
        self.ids = np.zeros(0, np.int64)
        self.owners = np.zeros(0, "S1")
        self.block_of = np.zeros(0, np.int64)
        self.matrix = np.zeros((0, 0), np.float32)
        self.sq_norms = np.zeros(0, np.float32)
        self.alive = np.zeros(0, bool)
        self.hidden = np.zeros(0, bool)
        self.hidden_owners: frozenset[str] = frozenset()
        self.blocks: dict[int, int] = {}  # block id -> its seq when last read
        self.seq: int | None = None
        self.index: ann.AnnIndex | None = None
        # see _owner_rows: (rows it covers, id of its last row, the rows' order by owner, the owners in that order)
        self._owner_order: tuple[int, int, npt.NDArray[np.intp], npt.NDArray[np.bytes_]] | None = None
        self._int8: tuple[int, quantized.Quantized] | None = None  # see _quantized: (id of its last row, copy)

    @classmethod
    def load(cls, store: Store, kind: str, owner_kind: str, model_id: str) -> Gallery:
        """Every live template of the set: a few hundred block decryptions per million templates, and
        the stored approximate index when the set is past the cut-over."""
        gallery = cls(kind, owner_kind, model_id)
        state = store.template_set(model_id, owner_kind)
        for block in store.template_blocks(model_id, owner_kind, reuse=True):
            gallery._append(block.ids, block.owners, block.vectors, block.id, reserve=max(state.size, gallery.n))
        if gallery.n > 1 and np.any(np.diff(gallery.ids[: gallery.n]) <= 0):  # adopted older templates
            order = np.argsort(gallery.ids[: gallery.n], kind="stable")
            for name in ROW_ARRAYS:
                setattr(gallery, name, getattr(gallery, name)[order])
        gallery.blocks, gallery.seq = state.blocks, state.seq
        if gallery.live >= ann.CUTOVER and (gallery.attach_index(store) or 0) > ann.RESTORE_DRIFT:
            # Upkeep of a copy of templates already held: no new data and no officer action to audit.
            with store.transaction():
                gallery.save_index(store)
        return gallery

    @property
    def live(self) -> int:
        return int(self.alive[: self.n].sum())

    def __len__(self) -> int:
        """Templates a search can return: live and not hidden."""
        return int((self.alive[: self.n] & ~self.hidden[: self.n]).sum())

    def count(self, owner: str) -> int:
        """Searchable templates of one owner."""
        n = self.n
        return int(((self.owners[:n] == owner.encode()) & self.alive[:n] & ~self.hidden[:n]).sum())

    def _append(
        self,
        ids: npt.NDArray[np.int64],
        owners: npt.NDArray[np.bytes_],
        vectors: Templates,
        block_id: int | npt.NDArray[np.int64],
        *,
        reserve: int = 0,
    ) -> None:
        n, k = self.n, len(ids)
        if not k:
            return
        if self.matrix.shape[1] not in (0, vectors.shape[1]):
            raise BadInput(f"{self.model_id} templates of {vectors.shape[1]} dimensions beside {self.matrix.shape[1]}")
        if owners.dtype.itemsize > self.owners.dtype.itemsize:
            self.owners = self.owners.astype(owners.dtype)
        if n + k > len(self.ids):  # grow by an eighth, so a million rows are not copied per capture
            cap = max(n + k, reserve, n + max(1024, n // 8))
            for name in ROW_ARRAYS:
                old = getattr(self, name)
                new = np.empty((cap, vectors.shape[1]) if name == "matrix" else cap, old.dtype)
                if n:
                    new[:n] = old[:n]
                setattr(self, name, new)
        rows = slice(n, n + k)
        self.ids[rows], self.owners[rows], self.block_of[rows], self.matrix[rows] = ids, owners, block_id, vectors
        self.sq_norms[rows] = np.einsum("ij,ij->i", self.matrix[rows], self.matrix[rows])
        self.alive[rows] = True
        self.hidden[rows] = self._hidden_rows(owners)
        self.n = n + k

    def _hidden_rows(self, owners: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bool_]:
        if not self.hidden_owners:
            return np.zeros(len(owners), bool)
        return np.isin(owners, np.array([o.encode() for o in self.hidden_owners], dtype=bytes))

    def hide(self, owners: frozenset[str]) -> None:
        """Leave these owners out of every search until the next call (their templates stay loaded)."""
        if owners != self.hidden_owners:
            self.hidden_owners = frozenset(owners)
            self.hidden[: self.n] = self._hidden_rows(self.owners[: self.n])

    def refresh(self, store: Store) -> None:
        """Catch up with templates added or deleted in the store since the last look."""
        state = store.template_set(self.model_id, self.owner_kind)
        if state.seq == self.seq:
            return
        n = self.n
        fresh: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.bytes_], Templates, npt.NDArray[np.int64]]] = []
        for b in set(self.blocks) - set(state.blocks):
            self.alive[:n][self.block_of[:n] == b] = False
        changed = [b for b, seq in state.blocks.items() if self.blocks.get(b) != seq]
        for block in store.template_blocks(self.model_id, self.owner_kind, block_ids=changed) if changed else ():
            rows = np.flatnonzero((self.block_of[:n] == block.id) & self.alive[:n])
            self.alive[rows[~np.isin(self.ids[rows], block.ids)]] = False
            new = ~np.isin(block.ids, self.ids[rows])
            fresh.append((block.ids[new], block.owners[new], block.vectors[new], np.full(new.sum(), block.id)))
        ids = np.concatenate([f[0] for f in fresh]) if fresh else np.zeros(0, np.int64)
        if len(ids) and n and ids.min() <= self.ids[n - 1]:  # not newer than what is held: start again
            self.__dict__.update(Gallery.load(store, self.kind, self.owner_kind, self.model_id).__dict__)
            return
        if len(ids):  # newer than any index: a search scans them exactly
            order = np.argsort(ids, kind="stable")
            self._append(
                ids[order],
                np.concatenate([f[1] for f in fresh])[order],
                np.vstack([f[2] for f in fresh])[order],
                np.concatenate([f[3] for f in fresh])[order],
            )
        self.blocks, self.seq = state.blocks, state.seq
        if self.n - self.live > max(1024, self.n // 4):
            self._drop_dead()

    def _drop_dead(self) -> None:
        keep = np.flatnonzero(self.alive[: self.n])
        for name in ROW_ARRAYS:
            setattr(self, name, getattr(self, name)[keep])
        self.n = len(keep)

    def attach_index(
        self, store: Store, how: str = "stored", progress: Callable[[int, int], None] | None = None
    ) -> int | None:
        """Attach an approximate index: the stored one ("stored"), that or a new one when none is stored
        ("build"), or always a new one ("rebuild"). Returns how many templates the index differs from the
        stored copy by (all, when built; then the caller stores it), or None when there is no index."""
        if self.n - self.live:
            self._drop_dead()
        self._int8 = None  # searched through the index from now on (see _quantized)
        ids, vectors = self.ids[: self.n], self.matrix[: self.n]
        stored = store.template_index(self.model_id, self.owner_kind) if how != "rebuild" else None
        if stored is None:
            if how == "stored":
                return None
            self.index = ann.AnnIndex.build(ids, vectors, progress)
            return len(ids)
        meta, data = stored
        held = int(np.searchsorted(ids, meta["max_id"], side="right"))  # templates the stored index may hold
        drift: int = (len(ids) - held) + (meta["templates"] - held)  # added since, deleted since
        self.index = ann.AnnIndex.restore(data, meta["max_id"], writable=drift > ann.RESTORE_DRIFT)
        if drift > ann.RESTORE_DRIFT:
            keys = self.index.keys()
            self.index.remove(keys[~np.isin(keys, ids)])
            self.index.add(ids[held:], vectors[held:])
        return drift

    def save_index(self, store: Store) -> None:
        """Store the index sealed, so the next process restores it instead of building it."""
        index = self._need_index()
        store.put_template_index(
            self.model_id, self.owner_kind, index.to_bytes(), templates=len(index), max_id=index.max_id
        )

    def _need_index(self) -> ann.AnnIndex:
        if self.index is None:
            raise UsageError(
                f"the {self.kind} gallery has no approximate index; build one with `triage watchlist index`"
            )
        return self.index

    def _candidate_rows(
        self, q: npt.NDArray[np.float32], want: int, approximate: bool
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """The `want` nearest usable rows and their squared distances, nearest first."""
        n = self.n
        usable = self.alive[:n] & ~self.hidden[:n]
        rows: npt.NDArray[np.intp]
        if approximate:  # the index's proposals, and exactly every template newer than the index
            index = self._need_index()
            keys = index.search(q, want)
            rows = np.minimum(np.searchsorted(self.ids[:n], keys), n - 1)
            newer = np.arange(np.searchsorted(self.ids[:n], index.max_id, side="right"), n)
            rows = np.concatenate([rows[self.ids[rows] == keys], newer])
            rows = rows[usable[rows]]
            d2 = self.sq_norms[rows] - 2.0 * scores(self.matrix[rows], q)
        else:
            rows, d2 = self._exact_rows(q, want, usable)
        order = np.argsort(d2, kind="stable")
        return rows[order], d2[order] + np.float32(q @ q)

    def _exact_rows(
        self, q: npt.NDArray[np.float32], want: int, usable: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """The `want` nearest usable rows of a scan of every row (in no order) and their squared distances
        less |q|^2: from a large gallery's int8 copy, the rows it cannot rule out scored again exactly."""
        n = self.n
        copy = self._quantized() if np.isfinite(q).all() else None
        d2: npt.NDArray[np.float32]
        if copy is None:
            d2, slack = self.sq_norms[:n] - 2.0 * scores(self.matrix[:n], q), 0.0
        else:
            rough, bound = copy.scores(q)
            d2 = np.concatenate(
                [
                    self.sq_norms[: copy.rows] - 2.0 * rough,
                    self.sq_norms[copy.rows : n] - 2.0 * scores(self.matrix[copy.rows : n], q),
                ]
            )
            slack = 4.0 * bound  # each rough d2 is within 2 x bound of its exact value, either way
        if not usable.all():
            d2[~usable] = np.inf
        rows = quantized.within(d2, want, slack)
        if copy is not None:  # the rough distances chose the rows; exact ones rank them
            d2 = np.where(usable[rows], self.sq_norms[rows] - 2.0 * scores(self.matrix[rows], q), np.inf)
        else:
            d2 = d2[rows]
        if len(rows) > want:
            keep = np.argpartition(d2, want - 1)[:want]
            rows, d2 = rows[keep], d2[keep]
        return rows, d2

    def _quantized(self) -> quantized.Quantized | None:
        """The int8 copy of the rows, for a gallery large enough to gain from it. None too while a row holds
        an infinity or NaN, which no scale can round, and beside an approximate index: that gallery's
        searches go through the index unless exactness is asked for, and a copy would add 256 MB at a
        million templates to the index's own. Made again once the rows appended since grow long (they are
        scanned in float32 meanwhile) or the rows it covers have moved."""
        n = self.n
        if n < quantized.MIN_ROWS or self.index is not None:
            return None
        made = self._int8
        if (
            made is None
            or made[1].rows > n
            or n - made[1].rows > max(4096, n // 8)
            or int(self.ids[made[1].rows - 1]) != made[0]
        ):
            made = self._int8 = (int(self.ids[n - 1]), quantized.Quantized(self.matrix[:n], self.sq_norms[:n]))
        return made[1] if made[1].usable else None

    def owner_distance(self, owner: str, query: npt.NDArray[np.float32]) -> float | None:
        """The distance from `query` to one owner's nearest searchable template (None: it has none); what
        the fused matcher asks for an owner that one model proposed and another did not."""
        return self.owner_distances([owner], query)[owner]

    def owner_distances(self, owners: Sequence[str], query: npt.NDArray[np.float32]) -> dict[str, float | None]:
        """`owner_distance` of many owners at once, in one pass over all their rows: the fused matcher asks
        it for every owner one model proposed and another did not, tens per search."""
        if not owners:
            return {}
        rows, which = self._owner_rows([o.encode() for o in owners])
        usable = self.alive[rows] & ~self.hidden[rows]
        rows, which = rows[usable], which[usable]
        best = np.full(len(owners), np.inf)
        if len(rows):
            q = np.asarray(query, dtype=np.float32)
            d2 = (self.sq_norms[rows] - 2.0 * scores(self.matrix[rows], q)).astype(np.float64) + float(q @ q)
            np.minimum.at(best, which, d2)
        return {o: None if math.isinf(b) else round(math.sqrt(max(b, 0.0)), 4) for o, b in zip(owners, best.tolist())}

    def _owner_rows(self, keys: list[bytes]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """The rows of these owners, with the position in `keys` of each row's owner: through the rows sorted
        by owner (sorted on first use, which is slow for a large gallery, so not on every call) and a scan of
        the rows appended since. It is sorted again once that tail grows long, or when the rows it covers
        have moved (dead rows dropped, or reloaded: the id at its last row is then another)."""
        n = self.n
        built = self._owner_order
        if (
            built is None
            or built[0] > n
            or n - built[0] > max(4096, n // 8)
            or (built[0] and int(self.ids[built[0] - 1]) != built[1])
        ):
            order = np.argsort(self.owners[:n], kind="stable")
            built = self._owner_order = (n, int(self.ids[n - 1]) if n else -1, order, self.owners[:n][order])
        count, _, order, ordered = built
        width = ordered.dtype.itemsize
        fits = np.array([len(k) <= width for k in keys])  # a longer key would be cut to the width
        wanted = np.array([k if len(k) <= width else b"" for k in keys], dtype=ordered.dtype)
        lo = np.searchsorted(ordered, wanted, "left")
        counts = np.where(fits, np.searchsorted(ordered, wanted, "right") - lo, 0)
        which = np.repeat(np.arange(len(keys)), counts)
        rows = order[np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))]
        tail = self.owners[count:n]
        if len(tail):
            position = {k: i for i, k in enumerate(keys)}
            more = np.flatnonzero(np.isin(tail, np.array(keys, dtype=bytes)))
            rows = np.concatenate([rows, more + count])
            which = np.concatenate([which, np.array([position[bytes(tail[r])] for r in more], dtype=np.intp)])
        return rows, which

    def search(
        self,
        query: npt.NDArray[np.float32],
        *,
        top_k: int,
        threshold: float,
        exclude: Collection[str] = frozenset(),
        approximate: bool | None = None,
    ) -> list[Candidate]:
        """Top-k owners by their best template, nearest first. `approximate` None uses the index when the
        gallery has one; True needs one (see `attach_index`); False always scans exactly."""
        q = np.asarray(query, dtype=np.float32)
        if self.n and q.shape[0] != self.matrix.shape[1]:
            raise BadInput(f"query has {q.shape[0]} dimensions, the {self.model_id} gallery has {self.matrix.shape[1]}")
        usable = len(self)
        if usable == 0 or top_k <= 0:
            return []
        use_index = self.index is not None if approximate is None else approximate
        if use_index:
            self._need_index()
        want = min(usable, top_k * PHOTOS_PER_OWNER + len(exclude))
        excluded = {o.encode() for o in exclude}
        while True:
            rows, d2 = self._candidate_rows(q, want, use_index)
            out: list[Candidate] = []
            seen: set[bytes] = set(excluded)
            for i, dd in zip(rows.tolist(), d2.tolist()):
                owner = self.owners[i]
                if owner in seen:
                    continue
                seen.add(owner)
                dist = math.sqrt(max(dd, 0.0))
                out.append(
                    Candidate(
                        self.kind,
                        owner.decode(),
                        len(out) + 1,
                        round(dist, 4),
                        threshold,
                        dist < threshold,
                        self.model_id,
                    )
                )
                if len(out) == top_k:
                    return out
            if want >= usable:
                return out
            # Owners with many photos, or hidden ones, filled the list: look further, exactly.
            want, use_index = min(usable, want * 4), False


def gallery(store: Store, kind: str, owner_kind: str, model_id: str) -> Gallery:
    """This process's gallery of a set, loaded on first use and refreshed on every later one."""
    key = f"gallery {owner_kind} {model_id}"
    if key in store.cache:
        store.cache[key].refresh(store)
    else:
        store.cache[key] = Gallery.load(store, kind, owner_kind, model_id)
    found: Gallery = store.cache[key]
    return found
