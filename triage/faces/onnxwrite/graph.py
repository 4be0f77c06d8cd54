"""Two rewrites of an ONNX model on its protobuf wire format (no `onnx` package), each copying every byte
it does not rewrite: drop the graph inputs onnxruntime would demand a value for at every run (weights
listed as inputs, as SFace's are), and write each PRelu, a slow kernel in onnxruntime, as operations that
run faster and give its values to the bit. Field numbers are those of onnx.proto.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from triage.errors import BadInput
from triage.faces.onnxwrite.protowire import LENGTH_DELIMITED, encode_varint, field

MODEL_GRAPH, GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT = 7, 1, 5, 11, 12
NODE_INPUT, NODE_OUTPUT, NODE_OP = 1, 2, 4
TENSOR_TYPE, TENSOR_FLOATS, TENSOR_NAME, TENSOR_RAW, VALUE_NAME = 2, 4, 8, 9, 1
FLOAT = 1  # TensorProto.DataType

# A field as `fields` reads it: its number, its payload when length-delimited, and its raw bytes. Both are
# views into the file's bytes: a model's weights are copied once, into the model written out.
Field = tuple[int, memoryview | None, memoryview]
Bytes = bytes | memoryview


def _varint(data: Bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data):
            raise BadInput("the ONNX file is truncated")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def fields(data: Bytes) -> list[Field]:
    """(field number, payload of a length-delimited field or None, the field's raw bytes) in order."""
    view, i, out = memoryview(data), 0, []
    while i < len(data):
        start = i
        tag, i = _varint(data, i)
        kind, payload = tag & 7, None
        if kind == 0:
            _, i = _varint(data, i)
        elif kind == 1:
            i += 8
        elif kind == 5:
            i += 4
        elif kind == LENGTH_DELIMITED:
            size, i = _varint(data, i)
            payload = view[i : i + size]
            i += size
        else:
            raise BadInput(f"the ONNX file has a protobuf wire type {kind} this reader does not know")
        if i > len(data):
            raise BadInput("the ONNX file is truncated")
        out.append((tag >> 3, payload, view[start:i]))
    return out


def _message(payload: memoryview | None) -> memoryview:
    """A nested message's bytes; a field meant to hold one that is not length-delimited is refused."""
    if payload is None:
        raise BadInput("the ONNX file is malformed: a message field is not length-delimited")
    return payload


def _strings(message: memoryview | None, number: int) -> list[str]:
    return [bytes(p).decode() for n, p, _ in fields(_message(message)) if n == number and p is not None]


def _graph(model: bytes) -> tuple[list[Field], list[Field]]:
    """The model's top-level fields, and its graph's."""
    top = fields(model)
    graphs = [p for n, p, _ in top if n == MODEL_GRAPH]
    if len(graphs) != 1:
        raise BadInput("not an ONNX model: no graph found")
    return top, fields(_message(graphs[0]))


def _with_graph(top: list[Field], graph: list[Bytes]) -> bytes:
    """The model with its graph's fields replaced by `graph`'s, joined in one copy."""
    header = encode_varint(MODEL_GRAPH << 3 | LENGTH_DELIMITED) + encode_varint(sum(map(len, graph)))
    parts: list[Bytes] = []
    for n, _, raw in top:
        parts.extend([header, *graph] if n == MODEL_GRAPH else [raw])
    return b"".join(parts)


def drop_unused_inputs(model: bytes) -> tuple[bytes, int]:
    """The model with only the graph inputs a node reads and no initializer provides; and how many went."""
    top, graph = _graph(model)
    consumed, initialised = set(), set()
    for number, payload, _ in graph:
        if number == GRAPH_NODE:
            consumed.update(_strings(payload, NODE_INPUT))
        elif number == GRAPH_INITIALIZER:
            initialised.update(_strings(payload, TENSOR_NAME))
    kept: list[Bytes] = []
    dropped = 0
    for number, payload, raw in graph:
        if number == GRAPH_INPUT:
            name = (_strings(payload, VALUE_NAME) or [""])[0]
            if name in initialised or name not in consumed:
                dropped += 1
                continue
        kept.append(raw)
    if not dropped:
        return model, 0
    return _with_graph(top, kept), dropped


def _int_value(raw: bytes) -> int:
    """The value of a varint field, from its raw bytes (the tag, then the value)."""
    _, i = _varint(raw, 0)
    return _varint(raw, i)[0]


def _float_values(tensor: memoryview | None) -> npt.NDArray[np.float32] | None:
    """A float32 initializer's values, or None for one of another type or a malformed length."""
    parts = fields(_message(tensor))
    if [_int_value(bytes(raw)) for n, _, raw in parts if n == TENSOR_TYPE] != [FLOAT]:
        return None
    data = b"".join(bytes(p) for n, p, _ in parts if n in (TENSOR_RAW, TENSOR_FLOATS) and p is not None)
    return np.frombuffer(data, dtype="<f4") if len(data) % 4 == 0 else None


def prelu_rewritten(model: bytes) -> tuple[bytes, int]:
    """The model with each PRelu whose slopes are a finite float initializer written as operations that
    give the same values faster: Max(x, x * slope) when every slope is at most 1, else
    Relu(x) - Relu(-x) * slope (opset 6 and later take both, with no broadcasting but PRelu's own); and
    how many were. New tensor names are checked against every name the graph has.

    PRelu(x) is x for x >= 0 and slope * x below. With every slope at most 1, the larger of x and
    slope * x is x itself or the very product PRelu takes; otherwise relu(x) - relu(-x) * slope is x - 0,
    or 0 - (-x) * slope, which is slope * x exactly. So for finite x and slopes the values are PRelu's to
    the bit, a zero's sign aside."""
    top, graph = _graph(model)
    nodes = [p for n, p, _ in graph if n == GRAPH_NODE]
    wanted = {ins[1] for p in nodes if _strings(p, NODE_OP) == ["PRelu"] and len(ins := _strings(p, NODE_INPUT)) == 2}
    if not wanted:
        return model, 0
    slopes: dict[str, bool] = {}  # slope initializer -> every value at most 1
    taken: set[str] = set()
    for number, payload, _ in graph:
        if number == GRAPH_NODE:
            taken.update(_strings(payload, NODE_INPUT), _strings(payload, NODE_OUTPUT))
        elif number == GRAPH_INITIALIZER:
            names = _strings(payload, TENSOR_NAME)
            taken.update(names)
            values = _float_values(payload) if names and names[0] in wanted else None
            if values is not None and len(values) and np.isfinite(values).all():
                slopes[names[0]] = bool(values.max() <= 1)
        elif number in (GRAPH_INPUT, GRAPH_OUTPUT):
            taken.update(_strings(payload, VALUE_NAME))

    def new(name: str) -> str:
        while name in taken:
            name += "'"
        taken.add(name)
        return name

    kept: list[Bytes] = []
    rewritten = 0
    for number, payload, raw in graph:
        if number == GRAPH_NODE and _strings(payload, NODE_OP) == ["PRelu"]:
            inputs, outputs = _strings(payload, NODE_INPUT), _strings(payload, NODE_OUTPUT)
            if len(inputs) == 2 and len(outputs) == 1 and inputs[1] in slopes:
                (x, slope), (y,) = inputs, outputs
                steps: list[tuple[str, tuple[str, ...], str]]
                if slopes[slope]:
                    scaled = new(f"{y}:scaled")
                    steps = [("Mul", (x, slope), scaled), ("Max", (x, scaled), y)]
                else:
                    positive, negated, negative, scaled = (
                        new(f"{y}:{k}") for k in ("positive", "negated", "negative", "scaled")
                    )
                    steps = [
                        ("Relu", (x,), positive),
                        ("Neg", (x,), negated),
                        ("Relu", (negated,), negative),
                        ("Mul", (negative, slope), scaled),
                        ("Sub", (positive, scaled), y),
                    ]
                for op, args, out in steps:
                    kept.append(
                        field(
                            GRAPH_NODE,
                            b"".join(field(NODE_INPUT, a) for a in args) + field(NODE_OUTPUT, out) + field(NODE_OP, op),
                        )
                    )
                rewritten += 1
                continue
        kept.append(raw)
    return (_with_graph(top, kept), rewritten) if rewritten else (model, 0)
