"""Protocol Buffers' wire format, written: the few bytes ONNX models are made of."""

from __future__ import annotations

LENGTH_DELIMITED = 2


def encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, value: int | str | bytes) -> bytes:
    """One field: an int as a varint, text or bytes (a nested message) length-delimited."""
    if isinstance(value, int):
        return encode_varint(number << 3) + encode_varint(value)
    data = value.encode() if isinstance(value, str) else value
    return encode_varint(number << 3 | LENGTH_DELIMITED) + encode_varint(len(data)) + data


# ONNX's messages (onnx.proto): ModelProto.ir_version 8 and opset_import (the default domain, 13), the
# fields that open every model this project writes; its graph follows as field 7.
MODEL_HEADER = field(1, 8) + field(8, field(1, "") + field(2, 13))


def value_info(name: str, elem_type: int, dims: tuple[int | str, ...]) -> bytes:
    """ValueInfoProto: name, and a TypeProto.Tensor of `elem_type` whose dims are sizes or named."""
    shape = b"".join(field(1, field(2, d) if isinstance(d, str) else field(1, d)) for d in dims)
    return field(1, name) + field(2, field(1, field(1, elem_type) + field(2, shape)))
