"""An int8 copy of a gallery's templates, scanned to find the rows an exact search must score.

A scan of float32 templates reads 512 bytes per 128-dimension template per probe and is bound by memory
bandwidth (about 2 ms per 100,000 on the two-core machines measured). The int8 copy is a quarter of
that and, up to a few hundred thousand templates, stays in the processor's cache; onnxruntime's integer
matrix product (MatMulInteger) scans it in about a tenth of the time. Rounding to int8 moves each score
by at most a bound computed from the rounding errors, so every row whose rough distance lies within that
bound of the `want`-th nearest is scored again from the float32 matrix: the rows a search returns are
the ones the float32 scan would return, found sooner.

The one-node graph is written in protobuf's wire format rather than with the `onnx` package; its field
numbers are those of onnx.proto.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np

from . import workers
from .protowire import field

MIN_ROWS = 20_000  # below this the float32 scan and a full partition are as quick as the int8 scan
CHUNK = 8192  # rows rounded at a time: copying a million templates needs no second float32 matrix
SAMPLE_STRIDE = 16  # every 16th value estimates where the nearest lie (see `within`)
UINT8, INT8, INT32 = 2, 3, 6  # TensorProto.DataType
OFFSET = 128  # the probe goes as uint8 codes + 128: MLAS is fastest with uint8 x int8 and no zero point


def _value_info(name: str, elem_type: int, dims: tuple) -> bytes:
    """ValueInfoProto: name, and a TypeProto.Tensor of `elem_type` whose dims are sizes or named."""
    shape = b"".join(field(1, field(2, d) if isinstance(d, str) else field(1, d)) for d in dims)
    return field(1, name) + field(2, field(1, field(1, elem_type) + field(2, shape)))


def _model(dim: int) -> bytes:
    """y[1, n] = q . t for probe codes q[1, dim] (uint8) and templates t[dim, n] (int8)."""
    node = field(1, "q") + field(1, "t") + field(2, "y") + field(4, "MatMulInteger")
    graph = (field(1, node) + field(2, "int8-scan") + field(11, _value_info("q", UINT8, (1, dim)))
             + field(11, _value_info("t", INT8, (dim, "n"))) + field(12, _value_info("y", INT32, (1, "n"))))
    return field(1, 8) + field(8, field(1, "") + field(2, 13)) + field(7, graph)


@lru_cache(maxsize=8)
def _session(dim: int, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Threads that spin between runs stall the other core's work (a capture batch's second worker).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(_model(dim), options, providers=["CPUExecutionProvider"])


def _threads() -> int:
    if workers.in_pool():
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Quantized:
    """Rows of a float32 matrix rounded to int8 on one scale, with what is needed to bound the error."""

    def __init__(self, matrix: np.ndarray, sq_norms: np.ndarray):
        rows, dim = matrix.shape
        self.rows = rows
        peak = max((float(np.abs(matrix[a:a + CHUNK]).max()) for a in range(0, rows, CHUNK)), default=0.0)
        self.scale = 127.0 / peak if peak else 1.0
        self.codes = np.empty((dim, rows), np.int8)  # transposed: the product's right-hand side
        worst = 0.0
        for a in range(0, rows, CHUNK):
            scaled = matrix[a:a + CHUNK] * self.scale
            codes = np.rint(scaled)
            error = scaled - codes
            worst = max(worst, float(np.einsum("ij,ij->i", error, error).max()))
            self.codes[:, a:a + CHUNK] = codes.astype(np.int8).T
        self.offsets = OFFSET * self.codes.sum(axis=0, dtype=np.int32)  # what the + 128 adds to each count
        self.residual = math.sqrt(worst) / self.scale  # no row is further than this from its rounded copy
        self.norm = math.sqrt(float(sq_norms.max())) if rows else 0.0  # nor longer than this

    def scores(self, q: np.ndarray) -> tuple[np.ndarray, float]:
        """Every row's score against `q` from the rounded copies, and how far any may be from `matrix @ q`.

        For a row x and its rounded copy x', and the probe q and its rounded copy q':
        |x.q - x'.q'| <= |x.(q - q')| + |(x - x').q'| <= norm * |q - q'| + residual * |q'|,
        plus float32's rounding of the result, allowed for generously."""
        peak = float(np.abs(q).max())
        if not peak:
            return np.zeros(self.rows, np.float32), 0.0
        step = peak / 127.0
        codes = np.rint(q / step)
        probe = (codes + OFFSET).astype(np.uint8)[None, :]
        counts = _session(len(q), _threads()).run(None, {"q": probe, "t": self.codes})[0][0] - self.offsets
        rough = counts.astype(np.float32) * np.float32(step / self.scale)
        rounded = codes * step
        bound = self.norm * float(np.linalg.norm(q - rounded)) + self.residual * float(np.linalg.norm(rounded))
        return rough, bound + 1e-5 * self.norm * float(np.linalg.norm(q))


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
