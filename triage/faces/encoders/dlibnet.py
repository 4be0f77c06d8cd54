"""dlib's face encoder, the same network with the same weights, run by onnxruntime, because the dlib-bin
wheel is built without BLAS and dlib's own matrix code is many times slower (models/MODEL_CARD.md). The
ResNet of dlib's dnn_face_recognition_ex.cpp is read from the very file dlib loads and written as an ONNX
graph in protobuf's wire format (no `onnx` package); its descriptors agree with dlib's to far finer than
a match distance is read to, which `triage doctor` checks on every laptop (`detection.encoder_agreement`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple, TypedDict

import numpy as np
import numpy.typing as npt

from triage.errors import BadInput, ModelMissing
from triage.faces import runtime
from triage.faces.onnxwrite.protowire import LENGTH_DELIMITED, MODEL_HEADER, encode_varint, field, value_info

SIZE = 150  # input_rgb_image_sized<150>: the chip dlib.get_face_chip(rgb, shape, SIZE, CHIP_PADDING) makes
CHIP_PADDING = 0.25  # as compute_face_descriptor cuts it
DIM = 128
FLOAT, UINT8, INT64 = 1, 2, 7  # TensorProto.DataType
INT, INTS = 2, 7  # AttributeProto.AttributeType


class Spec(NamedTuple):
    """One layer of anet_type: its kind, then its sizes by position: a convolution's filters, kernel size
    and stride; a pool's window and stride (window 0: global); a tag's or skip's number; fc's outputs."""

    kind: str
    a: int = 0
    b: int = 0
    c: int = 0


Shape = tuple[int, ...]  # a tensor's (channels, rows, columns)


class Params(TypedDict, total=False):
    """A computational layer's parameters, as `_details` reads them."""

    w: npt.NDArray[np.float32]  # a convolution's filters, or the fc layer's (inputs, outputs) matrix
    b: npt.NDArray[np.float32]
    pads: tuple[int, int]  # rows, columns
    gamma: npt.NDArray[np.float32]
    beta: npt.NDArray[np.float32]


def _block(n: int, stride: int) -> list[Spec]:
    return [Spec("con", n, 3, stride), Spec("affine"), Spec("relu"), Spec("con", n, 3, 1), Spec("affine")]


def _ares(n: int) -> list[Spec]:
    return [Spec("tag", 1), *_block(n, 1), Spec("add_prev", 1), Spec("relu")]


def _ares_down(n: int) -> list[Spec]:
    return [
        Spec("tag", 1),
        *_block(n, 2),
        Spec("tag", 2),
        Spec("skip", 1),
        Spec("avg_pool", 2, 2),
        Spec("add_prev", 2),
        Spec("relu"),
    ]


# anet_type from the input up: each entry is one layer of dlib's type, tags and skips included.
LAYERS = (
    [Spec("con", 32, 7, 2), Spec("affine"), Spec("relu"), Spec("max_pool", 3, 2)]
    + _ares(32) * 3
    + _ares_down(64)
    + _ares(64) * 3
    + _ares_down(128)
    + _ares(128) * 2
    + _ares_down(256)
    + _ares(256) * 2
    + _ares_down(256)
    + [Spec("avg_pool", 0, 1), Spec("fc", DIM)]
)
VERSIONS = {
    "con": "con_4",
    "affine": "affine_",
    "relu": "relu_",
    "max_pool": "max_pool_2",
    "avg_pool": "avg_pool_2",
    "add_prev": "add_prev_",
    "fc": "fc_2",
}


class _Reader:
    """dlib's serialization, read front to back: the formats of dlib/serialize.h and dnn/tensor.h, the
    layers' as dlib/dnn/layers.h and core.h write them."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = memoryview(data), 0

    def take(self, n: int) -> memoryview:
        if not 0 <= n <= len(self.data) - self.at:
            raise ModelMissing("dlib's face model file is truncated")
        self.at += n
        return self.data[self.at - n : self.at]

    def integer(self) -> int:
        """A control byte (0x80 = negative, low 4 bits = length), then the magnitude little-endian."""
        control = self.take(1)[0]
        if control & 0x0F > 8:
            raise ModelMissing(f"dlib's face model file has a bad integer at byte {self.at - 1}")
        value = int.from_bytes(self.take(control & 0x0F), "little")
        return -value if control & 0x80 else value

    def text(self) -> str:
        return bytes(self.take(self.integer())).decode("latin-1")

    def flag(self) -> bool:
        return bytes(self.take(1)) == b"1"

    def real(self) -> float:
        """A float or double: mantissa and exponent as integers."""
        mantissa = self.integer()
        return math.ldexp(mantissa, self.integer())

    def tensor(self) -> npt.NDArray[np.float32]:
        """A resizable_tensor (version 2): n, k, nr, nc, then little-endian float32 values."""
        self.expect(self.integer(), 2, "tensor version")
        shape = tuple(self.integer() for _ in range(4))
        count = math.prod(shape)
        return np.frombuffer(self.take(4 * count), dtype="<f4").reshape(shape)

    def alias(self) -> tuple[int, ...]:
        """An alias_tensor: only a shape, (n, k, nr, nc), into the layer's parameter tensor."""
        self.expect(self.integer(), 1, "alias_tensor version")
        return tuple(self.integer() for _ in range(4))

    @staticmethod
    def expect(found: object, wanted: object, what: str) -> None:
        if found != wanted:
            raise ModelMissing(
                f"dlib's face model file is not the expected ResNet: {what} is {found!r}, expected {wanted!r}"
            )


def _details(r: _Reader, spec: Spec) -> Params:
    """One computational layer's parameters, checked against what anet_type declares."""
    kind = spec[0]
    r.expect(r.text(), VERSIONS[kind], f"a {kind} layer's version")
    if kind == "con":
        params = r.tensor()
        filters_n, nr, nc, stride_y, stride_x, pad_y, pad_x = (r.integer() for _ in range(7))
        filters, biases = r.alias(), r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.real()
        r.expect(
            (filters_n, nr, nc, stride_y, stride_x),
            (spec[1], spec[2], spec[2], spec[3], spec[3]),
            "a convolution's filters, size and stride",
        )
        r.expect(
            (filters[0], filters[2:], biases),
            (filters_n, (nr, nc), (1, filters_n, 1, 1)),
            "a convolution's parameter layout",
        )
        values = params.reshape(-1)
        r.expect(values.size, math.prod(filters) + filters_n, "a convolution's parameter count")
        return {"w": values[:-filters_n].reshape(filters), "b": values[-filters_n:], "pads": (pad_y, pad_x)}
    if kind == "affine":
        params = r.tensor().reshape(-1)
        gamma, beta = r.alias(), r.alias()
        r.expect(r.integer(), 0, "an affine layer's mode (CONV_MODE)")
        channels = gamma[1]
        r.expect((gamma, beta, params.size), ((1, channels, 1, 1),) * 2 + (2 * channels,), "an affine layout")
        return {"gamma": params[:channels], "beta": params[channels:]}
    if kind in ("max_pool", "avg_pool"):
        nr, nc, stride_y, stride_x, pad_y, pad_x = (r.integer() for _ in range(6))
        r.expect((nr, nc, stride_y, stride_x), (spec[1], spec[1], spec[2], spec[2]), f"a {kind}'s size and stride")
        return {"pads": (pad_y, pad_x)}
    if kind == "fc":
        outputs, inputs = r.integer(), r.integer()
        params = r.tensor()
        weights, biases = r.alias(), r.alias()
        r.expect(r.integer(), 1, "the fc layer's bias mode (FC_NO_BIAS)")
        for _ in range(4):
            r.real()
        r.expect(
            (outputs, weights, biases, params.size),
            (spec[1], (inputs, outputs, 1, 1), (0, 0, 0, 0), inputs * outputs),
            "the fc layer's layout",
        )
        return {"w": params.reshape(inputs, outputs)}
    return {}  # relu_, add_prev_: nothing but their version


def _read(data: bytes) -> tuple[npt.NDArray[np.float32], list[Params]]:
    """The input layer's channel means and, for each entry of LAYERS, its parameters ({} for a tag or skip).

    The file nests like the type: add_loss_layer's version, the loss, then every layer's version from the
    top down to the input layer; then, from the bottom up, each add_layer's details followed by its three
    flags and three (empty) tensors; the one on the input layer adds a sample expansion factor (v3)."""
    r = _Reader(data)
    r.expect(r.integer(), 1, "add_loss_layer version")
    r.expect(r.text(), "loss_metric_2", "the loss layer")
    for _ in range(2):  # margin and distance threshold: for training only
        r.real()
    bottom_version = None
    for i in range(len(LAYERS) - 1, -1, -1):
        version, kind = r.integer(), LAYERS[i][0]
        if i == 0 and version in (2, 3):
            bottom_version = version
        else:
            r.expect(version, 1 if kind in ("tag", "skip") else 2, f"the version of layer {i} ({kind})")
    r.expect(r.text(), "input_rgb_image_sized", "the input layer")
    means = np.array([r.real() for _ in range(3)], dtype=np.float32)
    r.expect((r.integer(), r.integer()), (SIZE, SIZE), "the input size")
    layers: list[Params] = []
    for i, spec in enumerate(LAYERS):
        if spec[0] in ("tag", "skip"):
            layers.append({})
            continue
        layers.append(_details(r, spec))
        for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, outputs disabled
            r.flag()
        for _ in range(3):  # x_grad, cached_output, params_grad (or grad_final)
            r.tensor()
        if i == 0 and bottom_version == 3:
            r.integer()
    r.expect(len(data) - r.at, 0, "the bytes left after the network")
    return means, layers


def _tensor(name: str, array: npt.NDArray[np.generic], data_type: int = FLOAT) -> list[bytes | memoryview]:
    """TensorProto: dims, data_type, name, raw_data (little-endian); in two parts, its fields and a view of
    the array's bytes, which are copied only when the whole model is joined."""
    dtype = {FLOAT: "<f4", INT64: "<i8"}[data_type]
    raw = np.ascontiguousarray(array, dtype=dtype).data.cast("B")
    head = (
        b"".join(field(1, d) for d in array.shape)
        + field(2, data_type)
        + field(8, name)
        + encode_varint(9 << 3 | LENGTH_DELIMITED)
        + encode_varint(len(raw))
    )
    return [head, raw]


def _ints(name: str, values: Iterable[int]) -> bytes:
    return field(5, field(1, name) + b"".join(field(8, v) for v in values) + field(20, INTS))


class _Graph:
    """Nodes and initializers, with each tensor's (channels, rows, columns) known as it is made."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.weights: list[bytes | memoryview] = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}{self.count}"

    def const(self, array: npt.NDArray[np.generic], data_type: int = FLOAT) -> str:
        name = self.name("w")
        parts = _tensor(name, array, data_type)
        self.weights += [encode_varint(5 << 3 | LENGTH_DELIMITED) + encode_varint(sum(map(len, parts))), *parts]
        return name

    def node(self, op: str, inputs: list[str], attributes: bytes = b"", output: str | None = None) -> str:
        output = output or self.name(op.lower())
        self.nodes.append(
            field(1, b"".join(field(1, i) for i in inputs) + field(2, output) + field(4, op) + attributes)
        )
        return output

    def pad(self, x: str, shape: Shape, to: Shape) -> str:
        """Zeros after the end of each of channels, rows and columns: how dlib's add() widens a tensor."""
        if shape == to:
            return x
        pads = [0, 0, 0, 0, 0] + [b - a for a, b in zip(shape, to)]
        return self.node("Pad", [x, self.const(np.array(pads), INT64)])


def _pooled(size: int, window: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - window) // stride + 1


def _model(data: bytes) -> bytes:
    """ModelProto (opset 13): uint8 chips (n, 150, 150, 3) RGB in, float32 descriptors (n, 128) out. Each
    affine layer (a frozen batch norm) is folded into the convolution under it; where a residual sum adds
    tensors of different sizes, the smaller is zero-padded at its end, as dlib's add() does."""
    means, layers = _read(data)
    g = _Graph()
    x = g.node("Cast", ["chips"], field(5, field(1, "to") + field(3, FLOAT) + field(20, INT)))
    x = g.node("Sub", [x, g.const(means)])
    x = g.node("Mul", [x, g.const(np.array(1 / 256, dtype=np.float32))])  # exact, as dlib's /256.0
    x = g.node("Transpose", [x], _ints("perm", (0, 3, 1, 2)))
    shape: Shape = (3, SIZE, SIZE)
    tags: dict[int, tuple[str, Shape]] = {}
    for i, (spec, params) in enumerate(zip(LAYERS, layers)):
        kind = spec[0]
        if kind == "tag":
            tags[spec[1]] = (x, shape)
        elif kind == "skip":
            x, shape = tags[spec[1]]
        elif kind == "con":
            affine = layers[i + 1]  # every convolution of this network has an affine layer on it
            w, pad = params["w"], params["pads"]
            if w.shape[1] != shape[0]:
                raise ModelMissing(
                    f"dlib's face model file: a convolution takes {w.shape[1]} channels, its input has {shape[0]}"
                )
            gamma, beta = affine["gamma"].astype(np.float64), affine["beta"].astype(np.float64)
            folded_w = w * gamma[:, None, None, None]
            folded_b = params["b"] * gamma + beta
            size, stride = spec[2], spec[3]
            attributes = (
                _ints("kernel_shape", (size, size)) + _ints("strides", (stride, stride)) + _ints("pads", pad * 2)
            )
            x = g.node("Conv", [x, g.const(folded_w), g.const(folded_b)], attributes)
            shape = (w.shape[0], *(_pooled(s, size, stride, p) for s, p in zip(shape[1:], pad)))
        elif kind == "affine":
            continue  # folded into the convolution under it
        elif kind == "relu":
            x = g.node("Relu", [x])
        elif kind == "add_prev":
            other, other_shape = tags[spec[1]]
            to = tuple(max(a, b) for a, b in zip(shape, other_shape))
            x, shape = g.node("Add", [g.pad(x, shape, to), g.pad(other, other_shape, to)]), to
        elif kind == "avg_pool" and spec[1] == 0:
            x, shape = g.node("GlobalAveragePool", [x]), (shape[0], 1, 1)
        elif kind in ("max_pool", "avg_pool"):
            size, stride, pad = spec[1], spec[2], params["pads"]
            attributes = (
                _ints("kernel_shape", (size, size)) + _ints("strides", (stride, stride)) + _ints("pads", pad * 2)
            )
            x = g.node("MaxPool" if kind == "max_pool" else "AveragePool", [x], attributes)
            shape = (shape[0], *(_pooled(s, size, stride, p) for s, p in zip(shape[1:], pad)))
        elif kind == "fc":
            if params["w"].shape[0] != math.prod(shape):
                raise ModelMissing(
                    f"dlib's face model file: the fc layer takes {params['w'].shape[0]} "
                    f"inputs, the network gives {math.prod(shape)}"
                )
            x = g.node("MatMul", [g.node("Flatten", [x]), g.const(params["w"])], output="descriptors")
    graph = [
        *g.nodes,
        field(2, "dlib-resnet-v1"),
        *g.weights,
        field(11, value_info("chips", UINT8, ("n", SIZE, SIZE, 3))),
        field(12, value_info("descriptors", FLOAT, ("n", DIM))),
    ]
    # ModelProto.graph's header is written by hand so that the 22 MB of weights are copied only once.
    header = encode_varint(7 << 3 | LENGTH_DELIMITED) + encode_varint(sum(map(len, graph)))
    return b"".join([MODEL_HEADER, header, *graph])


@lru_cache(maxsize=4)
def load(path: str, threads: int = 1) -> runtime.Session:
    """The network of dlib's model file at `path` (its SHA-256 checked by the caller), read, built and
    loaded once per process."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ModelMissing(f"cannot read dlib's face model {path}: {e.strerror}") from e
    return runtime.session(_model(data), threads)


def descriptors(network: runtime.Session, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """dlib's 128-d descriptors (float32, (n, 128)) of face chips (n, 150, 150, 3) uint8 RGB, each made by
    dlib.get_face_chip(rgb, shape, 150, 0.25) as compute_face_descriptor makes it."""
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (SIZE, SIZE, 3):
        raise BadInput(f"face chips must be uint8 (n, {SIZE}, {SIZE}, 3), not {chips.dtype} {chips.shape}")
    if not len(chips):
        return np.empty((0, DIM), np.float32)
    return network.run(None, {"chips": np.ascontiguousarray(chips)})[0]
