"""Every ONNX graph `triage` writes itself is a model the `onnx` package accepts, shape inference included:
dlib's network (encoders/dlibnet.py), SFace with its unread inputs dropped and its PRelu rewritten
(onnxwrite/graph.py), and the int8 scan (quantized.py). The runtime writes them without `onnx`; only this
test imports it, and a fresh process building and running them must not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from triage.faces import quantized
from triage.faces.encoders import dlibnet
from triage.faces.encoders.files import verified
from triage.faces.encoders.onnx import SFACE
from triage.faces.onnxwrite.graph import drop_unused_inputs, prelu_rewritten


def checked(data: bytes) -> onnx.ModelProto:
    model = onnx.load_model_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    return model


def dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.fixture(scope="module")
def dlib_graph(face_models) -> bytes:
    """dlib's network as `dlibnet.load` builds it, from the model file the face models were loaded from."""
    import face_recognition_models

    return dlibnet._model(Path(face_recognition_models.face_recognition_model_location()).read_bytes())


@pytest.fixture(scope="module")
def sface_dropped() -> tuple[bytes, int]:
    """SFace's file, checked, with the inputs onnxruntime would demand dropped (the first step at load)."""
    return drop_unused_inputs(verified(SFACE.path, SFACE.file.sha256).read_bytes())


def test_dlib_network(dlib_graph):
    model = checked(dlib_graph)
    (chips,), (descriptors,) = model.graph.input, model.graph.output
    assert (chips.name, dims(chips)) == ("chips", ["n", dlibnet.SIZE, dlibnet.SIZE, 3])
    assert (descriptors.name, dims(descriptors)) == ("descriptors", ["n", dlibnet.DIM])


def test_sface_after_dropping_unused_inputs(sface_dropped):
    data, dropped = sface_dropped
    model = checked(data)
    assert dropped > 0
    initialised = {t.name for t in model.graph.initializer}
    assert [i.name for i in model.graph.input if i.name in initialised] == []
    assert len(model.graph.input) == 1


def test_sface_after_the_prelu_rewrite(sface_dropped):
    data, rewritten = prelu_rewritten(sface_dropped[0])
    model = checked(data)
    ops = {n.op_type for n in model.graph.node}
    assert rewritten > 0 and "PRelu" not in ops
    assert {"Max", "Sub"} <= ops  # SFace has slopes of both kinds: at most 1, and above 1


@pytest.mark.parametrize("dim", [128, 512])
def test_int8_scan(dim):
    model = checked(quantized._model(dim))
    assert [n.op_type for n in model.graph.node] == ["MatMulInteger"] * 3
    assert {i.name: dims(i) for i in model.graph.input} == {
        "qc": [1, dim],
        "qf": [1, dim],
        "tc": [dim, "n"],
        "tf": [dim, "n"],
    }


def test_the_runtime_writes_and_runs_them_without_onnx():
    code = """
import sys
import numpy as np
import face_recognition_models
from triage.faces import quantized, runtime
from triage.faces.encoders import dlibnet
from triage.faces.encoders.onnx import SFACE
from triage.faces.onnxwrite.graph import drop_unused_inputs, prelu_rewritten

network = dlibnet.load(face_recognition_models.face_recognition_model_location())
assert dlibnet.descriptors(network, np.zeros((1, 150, 150, 3), np.uint8)).shape == (1, 128)
runtime.session(prelu_rewritten(drop_unused_inputs(SFACE.path.read_bytes())[0])[0], 1)
matrix = np.random.default_rng(0).normal(size=(64, 128)).astype(np.float32)
copy = quantized.Quantized(matrix, (matrix * matrix).sum(1))
rough, bound = copy.scores(matrix[0])
assert np.abs(rough - matrix @ matrix[0]).max() <= bound
assert "onnx" not in sys.modules, "the runtime imported the onnx package"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
