"""Drop the graph inputs onnxruntime refuses, working on the ONNX protobuf's wire format directly.

Some exported models, SFace among them, list their weights as graph inputs: 145 of its 175 inputs are
initializers and 29 are consumed by no node at all (left over from quantisation). onnxruntime then
demands values for those 29 at every run. Keeping only the inputs that a node reads and no initializer
provides fixes that without the `onnx` package: only the GraphProto's `input` entries are removed,
every other byte is copied as it was.

Field numbers are those of onnx.proto: ModelProto.graph = 7; GraphProto.node = 1, initializer = 5,
input = 11; NodeProto.input = 1; TensorProto.name = 8; ValueInfoProto.name = 1.
"""

from __future__ import annotations

from ..errors import BadInput
from ..protowire import LENGTH_DELIMITED, field

MODEL_GRAPH, GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_INPUT = 7, 1, 5, 11
NODE_INPUT, TENSOR_NAME, VALUE_NAME = 1, 8, 1


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
            payload = view[i:i + size]
            i += size
        else:
            raise BadInput(f"the ONNX file has a protobuf wire type {kind} this reader does not know")
        if i > len(data):
            raise BadInput("the ONNX file is truncated")
        out.append((tag >> 3, payload, view[start:i]))
    return out


def _strings(message: memoryview, number: int) -> list[str]:
    return [bytes(p).decode() for n, p, _ in fields(bytes(message)) if n == number and p is not None]


def drop_unused_inputs(model: bytes) -> tuple[bytes, int]:
    """The model with only the graph inputs a node reads and no initializer provides; and how many went."""
    top = fields(model)
    graphs = [p for n, p, _ in top if n == MODEL_GRAPH]
    if len(graphs) != 1:
        raise BadInput("not an ONNX model: no graph found")
    graph = fields(bytes(graphs[0]))
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
    graph_field = field(MODEL_GRAPH, bytes(kept))
    return b"".join(graph_field if n == MODEL_GRAPH else bytes(raw) for n, _, raw in top), dropped
