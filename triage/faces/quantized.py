"""An int8 copy of a gallery's templates, scanned to find the rows an exact search must score.

A scan of float32 templates reads 512 bytes per 128-dimension template per probe and is bound by memory
bandwidth (about 1.6 ms per 100,000 on the two-core machines measured). onnxruntime's integer
matrix-vector product (MatMulInteger with one probe row) scans int8 codes several times faster. Each
value of a template and of the probe is kept as two int8 codes, a coarse one and the coarse one's
rounding error on a 254 times finer step; three products (coarse x coarse, the template's fine x the
probe's coarse, the template's coarse x the probe's fine) give every score to about 15 bits, at half
the bytes of float32. What the rounding can move a score by is bounded from the rounding errors, so
every row whose rough distance lies within that bound of the `want`-th nearest is scored again from
the float32 matrix: the rows a search returns are the ones the float32 scan would return. (With one
code per value the bound is so loose that thousands of rows per 100,000 must be scored again, which
costs more than the scan saves; one product with two probe rows leaves MLAS's fast one-row path.)

The one-node graph is written in protobuf's wire format rather than with the `onnx` package; its field
numbers are those of onnx.proto.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from triage import workers
from triage.faces import runtime
from triage.faces.onnxwrite.protowire import MODEL_HEADER, field, value_info

MIN_ROWS = 20_000  # below this the float32 scan and a full partition are as quick as the int8 scan
CHUNK = 8192  # rows rounded at a time: copying a million templates needs no second float32 matrix
SAMPLE_STRIDE = 16  # every 16th value estimates where the nearest lie (see `within`)
UINT8, INT8, INT32 = 2, 3, 6  # TensorProto.DataType
OFFSET = 128  # the probe goes as uint8 codes + 128: MLAS is fastest with uint8 x int8 and no zero point
FINE = 254  # the second code's step, in the first's: an error within +-0.5 becomes a code within +-127


def _model(dim: int) -> bytes:
    """For probe codes qc, qf [1, dim] (uint8) and template codes tc, tf [dim, n] (int8), the three products
    cc = qc . tc, cf = qc . tf and fc = qf . tc, each [1, n] (int32)."""
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
def _session(dim: int, threads: int):
    return runtime.session(_model(dim), threads)


def _threads() -> int:
    if workers.in_pool():
        return 1
    return workers.cores()


def _split(scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values in units of the coarse step as two codes, coarse + fine / FINE, and what is left over."""
    coarse = np.rint(scaled)
    fine = np.rint((scaled - coarse) * FINE)
    return coarse, fine, scaled - coarse - fine / FINE


class Quantized:
    """Rows of a float32 matrix as two int8 codes per value on one scale, with what bounds the error."""

    def __init__(self, matrix: np.ndarray, sq_norms: np.ndarray):
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

    def scores(self, q: np.ndarray) -> tuple[np.ndarray, float]:
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


def within(values: np.ndarray, want: int, slack: float = 0.0) -> np.ndarray:
    """Indices of every value at most `slack` above the `want`-th smallest (at least `want` of them).

    A partition of every value takes about 1 ms per 100,000, as long as the int8 scan, so the `want`-th
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
            kth = np.partition(values[low], want - 1)[want - 1]
            if kth + slack <= cut:
                return low[values[low] <= kth + slack]
            return np.flatnonzero(values <= kth + slack)
    kth = np.partition(values, want - 1)[want - 1]
    return np.flatnonzero(values <= kth + slack)
