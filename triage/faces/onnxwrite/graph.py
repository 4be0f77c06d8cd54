"""Two rewrites of an ONNX model, working on the protobuf's wire format directly (no `onnx` package):
drop the graph inputs onnxruntime refuses, and write PRelu as the two operations it equals.

Some exported models, SFace among them, list their weights as graph inputs: 145 of its 175 inputs are
initializers and 29 are consumed by no node at all (left over from quantisation). onnxruntime then
demands values for those 29 at every run. Keeping only the inputs that a node reads and no initializer
provides fixes that without the `onnx` package: only the GraphProto's `input` entries are removed,
every other byte is copied as it was.

onnxruntime's PRelu is a slow kernel: 27 of them take 15 of SFace's 28 ms, more than its convolutions.
PRelu(x) is x for x >= 0 and slope * x below. With every slope at most 1 that is max(x, slope * x)
(the larger is x, or the very product PRelu takes), and Mul and Max run about 15 times faster;
otherwise relu(x) - relu(-x) * slope (x - 0, or 0 - (-x) * slope, which is slope * x exactly), about 9
times faster. For finite x and finite slopes the values are PRelu's to the bit, a zero's sign aside.

Field numbers are those of onnx.proto: ModelProto.graph = 7; GraphProto.node = 1, initializer = 5,
input = 11, output = 12; NodeProto.input = 1, output = 2, op_type = 4; TensorProto.data_type = 2, float_data = 4,
name = 8, raw_data = 9; ValueInfoProto.name = 1.
"""

from __future__ import annotations

import numpy as np

from triage.errors import BadInput
from triage.faces.onnxwrite.protowire import LENGTH_DELIMITED, field

MODEL_GRAPH, GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT = 7, 1, 5, 11, 12
NODE_INPUT, NODE_OUTPUT, NODE_OP = 1, 2, 4
TENSOR_TYPE, TENSOR_FLOATS, TENSOR_NAME, TENSOR_RAW, VALUE_NAME = 2, 4, 8, 9, 1
FLOAT = 1  # TensorProto.DataType


def _varint(data: bytes, i: int) -> tuple[int, int]:
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


def fields(data: bytes) -> list[tuple[int, memoryview | None, memoryview]]:
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


def _strings(message: memoryview, number: int) -> list[str]:
    return [bytes(p).decode() for n, p, _ in fields(bytes(message)) if n == number and p is not None]


def _graph(model: bytes) -> tuple[list, list]:
    """The model's top-level fields, and its graph's."""
    top = fields(model)
    graphs = [p for n, p, _ in top if n == MODEL_GRAPH]
    if len(graphs) != 1:
        raise BadInput("not an ONNX model: no graph found")
    return top, fields(bytes(graphs[0]))


def _with_graph(top: list, graph: bytes) -> bytes:
    graph_field = field(MODEL_GRAPH, graph)
    return b"".join(graph_field if n == MODEL_GRAPH else bytes(raw) for n, _, raw in top)


def drop_unused_inputs(model: bytes) -> tuple[bytes, int]:
    """The model with only the graph inputs a node reads and no initializer provides; and how many went."""
    top, graph = _graph(model)
    consumed, initialised = set(), set()
    for number, payload, _ in graph:
        if number == GRAPH_NODE:
            consumed.update(_strings(payload, NODE_INPUT))
        elif number == GRAPH_INITIALIZER:
            initialised.update(_strings(payload, TENSOR_NAME))
    kept, dropped = bytearray(), 0
    for number, payload, raw in graph:
        if number == GRAPH_INPUT:
            name = (_strings(payload, VALUE_NAME) or [""])[0]
            if name in initialised or name not in consumed:
                dropped += 1
                continue
        kept += raw
    if not dropped:
        return model, 0
    return _with_graph(top, bytes(kept)), dropped


def _int_value(raw: bytes) -> int:
    """The value of a varint field, from its raw bytes (the tag, then the value)."""
    _, i = _varint(raw, 0)
    return _varint(raw, i)[0]


def _float_values(tensor: memoryview) -> np.ndarray | None:
    """A float32 initializer's values, or None for one of another type or a malformed length."""
    parts = fields(bytes(tensor))
    if [_int_value(bytes(raw)) for n, _, raw in parts if n == TENSOR_TYPE] != [FLOAT]:
        return None
    data = b"".join(bytes(p) for n, p, _ in parts if n in (TENSOR_RAW, TENSOR_FLOATS) and p is not None)
    return np.frombuffer(data, dtype="<f4") if len(data) % 4 == 0 else None


def prelu_rewritten(model: bytes) -> tuple[bytes, int]:
    """The model with each PRelu whose slopes are a finite float initializer written as operations that
    give the same values faster: Max(x, x * slope) when every slope is at most 1, else
    Relu(x) - Relu(-x) * slope (opset 6 and later take both, with no broadcasting but PRelu's own); and
    how many were. New tensor names are checked against every name the graph has."""
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

    kept, rewritten = bytearray(), 0
    for number, payload, raw in graph:
        if number == GRAPH_NODE and _strings(payload, NODE_OP) == ["PRelu"]:
            inputs, outputs = _strings(payload, NODE_INPUT), _strings(payload, NODE_OUTPUT)
            if len(inputs) == 2 and len(outputs) == 1 and inputs[1] in slopes:
                (x, slope), (y,) = inputs, outputs
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
                    kept += field(
                        GRAPH_NODE,
                        b"".join(field(NODE_INPUT, a) for a in args) + field(NODE_OUTPUT, out) + field(NODE_OP, op),
                    )
                rewritten += 1
                continue
        kept += raw
    return (_with_graph(top, bytes(kept)), rewritten) if rewritten else (model, 0)
