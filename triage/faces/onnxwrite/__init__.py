"""A small writer of ONNX graphs in protobuf's wire format, so the runtime builds and rewrites models
without importing the onnx package."""
