"""An int8 copy of a gallery's templates, scanned to find the rows an exact search must score. A float32
scan is bound by memory bandwidth; onnxruntime's integer matrix product over int8 codes reads half the
bytes and runs faster. Each value is kept as two codes, a coarse one and its rounding error on a finer
step, and what the rounding can move a score by is bounded: every row within that bound of the `want`-th
nearest is scored again in float32, so a search returns the rows a float32 scan would.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from triage import workers
from triage.faces import runtime
from triage.faces.onnxwrite.protowire import MODEL_HEADER, field, value_info

MIN_ROWS = 20_000  # below this the float32 scan and a full partition are as quick as the int8 scan
CHUNK = 8192  # rows rounded at a time: copying a million templates needs no second float32 matrix
SAMPLE_STRIDE = 16  # every 16th value estimates where the nearest lie (see `within`)
UINT8, INT8, INT32 = 2, 3, 6  # TensorProto.DataType
OFFSET = 128  # the probe goes as uint8 codes + 128: MLAS is fastest with uint8 x int8 and no zero point
FINE = 254  # the second code's step, in the first's: an error within +-0.5 becomes a code within +-127
# Two codes a value, not one: with one the bound is so loose that a large share of the rows must be scored
# again, which costs more than the scan saves. And three one-row products rather than one product with two
# probe rows, which would leave MLAS's fast one-row path.


def _model(dim: int) -> bytes:
    """For probe codes qc, qf [1, dim] (uint8) and template codes tc, tf [dim, n] (int8), the three products
    cc = qc . tc, cf = qc . tf and fc = qf . tc, each [1, n] (int32): three MatMulInteger nodes, written in
    protobuf's wire format (onnxwrite/protowire.py)."""
    nodes = b"".join(
        field(1, field(1, q) + field(1, t) + field(2, y) + field(4, "MatMulInteger"))
        for q, t, y in (("qc", "tc", "cc"), ("qc", "tf", "cf"), ("qf", "tc", "fc"))
    )
    graph = (
        nodes
        + field(2, "int8-scan")
        + b"".join(field(11, value_info(q, UINT8, (1, dim))) for q in ("qc", "qf"))
        + b"".join(field(11, value_info(t, INT8, (dim, "n"))) for t in ("tc", "tf"))
        + b"".join(field(12, value_info(y, INT32, (1, "n"))) for y in ("cc", "cf", "fc"))
    )
    return MODEL_HEADER + field(7, graph)


@lru_cache(maxsize=8)
def _session(dim: int, threads: int) -> runtime.Session:
    return runtime.session(_model(dim), threads)


def _threads() -> int:
    if workers.in_pool():
        return 1
    return workers.cores()


def _split(
    scaled: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Values in units of the coarse step as two codes, coarse + fine / FINE, and what is left over."""
    coarse = np.rint(scaled)
    fine = np.rint((scaled - coarse) * FINE)
    return coarse, fine, scaled - coarse - fine / FINE


class Quantized:
    """Rows of a float32 matrix as two int8 codes per value on one scale, with what bounds the error."""

    def __init__(self, matrix: npt.NDArray[np.float32], sq_norms: npt.NDArray[np.float32]) -> None:
        rows, dim = matrix.shape
        self.rows = rows
        peaks = [float(np.abs(matrix[a : a + CHUNK]).max()) for a in range(0, rows, CHUNK)]
        peak = max(peaks, default=0.0)
        # No scale rounds an infinity or NaN (numpy's max is NaN where a chunk holds one), and values near
        # float32's smallest lose the precision the bound assumes: such a gallery is scanned in float32.
        self.usable = all(math.isfinite(p) for p in peaks) and (peak == 0 or peak > 2.0**-60)
        if not self.usable:
            return
        self.scale = 127.0 / peak if peak else 1.0
        # transposed, the products' right-hand sides
        self.coarse, self.fine = np.empty((dim, rows), np.int8), np.empty((dim, rows), np.int8)
        worst = fine_worst = 0.0
        for a in range(0, rows, CHUNK):
            b = min(a + CHUNK, rows)
            coarse, fine, error = _split(matrix[a:b].astype(np.float64) * self.scale)
            worst = max(worst, float(np.einsum("ij,ij->i", error, error).max()))
            fine_worst = max(fine_worst, float(np.einsum("ij,ij->i", fine, fine).max()))
            self.coarse[:, a:b], self.fine[:, a:b] = coarse.astype(np.int8).T, fine.astype(np.int8).T
        # what the probe's + 128 adds to each count
        self.offsets = tuple(OFFSET * codes.sum(axis=0, dtype=np.int32) for codes in (self.coarse, self.fine))
        self.residual = math.sqrt(worst) / self.scale  # no row is further than this from its two codes
        self.fine_norm = math.sqrt(fine_worst) / (FINE * self.scale)  # nor its fine part longer than this
        self.norm = math.sqrt(float(sq_norms.max())) if rows else 0.0  # nor the row itself

    def scores(self, q: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], float]:
        """Every row's score against `q` from the codes, and how far any may be from `matrix @ q`.

        A row x is its coarse part c plus its fine part f plus an error e; the probe q likewise is
        C + F + E. The products give c.C + f.C + c.F; what they leave out is
        x.q - (c + f).(C + F) - ... = e.q + (c + f).E + f.F, so the bound is
        residual * |q| + (norm + residual) * |E| + fine_norm * |F|, plus float32's rounding (of the
        scores and of the squared distances made from them), allowed for generously."""
        peak = float(np.abs(q).max())
        if not peak:
            return np.zeros(self.rows, np.float32), 0.0
        step = peak / 127.0
        coarse, fine, error = _split(q.astype(np.float64) / step)
        feed = {
            "qc": (coarse + OFFSET).astype(np.uint8)[None, :],
            "qf": (fine + OFFSET).astype(np.uint8)[None, :],
            "tc": self.coarse,
            "tf": self.fine,
        }
        cc, cf, fc = (y[0] for y in _session(len(q), _threads()).run(None, feed))
        counts = (cc - self.offsets[0]).astype(np.float32)
        counts += ((cf - self.offsets[1]) + (fc - self.offsets[0])).astype(np.float32) / np.float32(FINE)
        rough = counts * np.float32(step / self.scale)
        bound = (
            self.residual * float(np.linalg.norm(q))
            + (self.norm + self.residual) * float(np.linalg.norm(error)) * step
            + self.fine_norm * float(np.linalg.norm(fine)) * step / FINE
        )
        # float32's rounding: of the scores, and of |x|^2 - 2 x.q made from them
        return rough, bound + 1e-5 * self.norm * float(np.linalg.norm(q)) + 2.0**-22 * self.norm**2


def within(values: npt.NDArray[np.float32], want: int, slack: float = 0.0) -> npt.NDArray[np.intp]:
    """Indices of every value at most `slack` above the `want`-th smallest (at least `want` of them).

    A partition of every value takes about as long as the int8 scan itself, so the `want`-th
    smallest is looked for first among the values under a cut read from a strided sample; only when
    fewer than `want` fall under it (values ordered against the sample) is everything partitioned."""
    n = len(values)
    if want >= n:
        return np.arange(n)
    sample = values[::SAMPLE_STRIDE]
    k = 2 * (want // SAMPLE_STRIDE) + 8  # about twice as many values under the cut as wanted
    if k < len(sample) // 2:
        cut = np.partition(sample, k)[k]
        low = np.flatnonzero(values <= cut)
        if len(low) >= want:
            kth: np.float32 = np.partition(values[low], want - 1)[want - 1]
            if kth + slack <= cut:
                return low[values[low] <= kth + slack]
            return np.flatnonzero(values <= kth + slack)
    kth = np.partition(values, want - 1)[want - 1]
    return np.flatnonzero(values <= kth + slack)
