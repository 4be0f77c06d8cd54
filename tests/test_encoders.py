"""The model files and the ONNX loader on the real files and photos: SHA-256 and missing-file refusals
(always on copies in tmp_path), the graph surgery onnxruntime needs, YuNet's derived dlib shape, and a
model a user supplies (the SFace file itself, with a manifest) passing or failing its self-test."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import orl
from triage.errors import BadInput, ExitStatus, IntegrityFailure, ModelMissing
from triage.faces import detection as faces
from triage.faces import encoders
from triage.faces.encoders import files, onnx, yunet
from triage.faces.onnxwrite import graph as onnxgraph
from triage.intake import photos

OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")
PROBE_OVERRIDE = ("--accept-low-quality", "--reason", "fixture photos are 92x112 px")
REVIEW = "2099-01-01"


def _manifest(**changes) -> dict:
    m = {
        "file": "model.onnx",
        "sha256": onnx.SFACE.file.sha256,
        "input_size": [112, 112],
        "colour_order": "RGB",
        "mean": 0,
        "std": 1,
        "embedding_size": 128,
        "distance": "cosine",
        "threshold": 0.6,
        "model_id": "sface-as-user",
        "licence": "Apache-2.0 (OpenCV Zoo)",
        "source": "the SFace file, supplied as a user's model for this test",
    }
    return m | changes


def _model_folder(root: Path, name: str = "mine", **changes) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    shutil.copyfile(files.packaged_dir() / onnx.SFACE.file.name, folder / "model.onnx")
    (folder / "manifest.json").write_text(json.dumps(_manifest(**changes)))
    return folder


def _copy_packaged(to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    for name in (yunet.FILE.name, onnx.SFACE.file.name):
        shutil.copyfile(files.packaged_dir() / name, to / name)
    return to


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def orl_faces(face_models):
    """Two ORL photos with the faces YuNet finds in them."""
    out = []
    for s, n in ((1, 1), (1, 2)):
        rgb = photos.read_photo(orl(s, n)).rgb
        out.append((rgb, faces.choose(yunet.detect(rgb), "orl").face))
    return out


def test_installed_files_pass_their_digests():
    for name, digest in ((yunet.FILE.name, yunet.FILE.sha256), (onnx.SFACE.file.name, onnx.SFACE.file.sha256)):
        assert files.status(files.packaged_dir() / name, digest)["ok"]


def test_a_tampered_copy_is_refused_at_load(tmp_path, monkeypatch):
    folder = _copy_packaged(tmp_path / "models")
    monkeypatch.setenv(files.ENV, str(folder))
    assert onnx.load(onnx.SFACE).manifest is onnx.SFACE  # the intact copy loads
    _flip_byte(folder / yunet.FILE.name)
    with pytest.raises(IntegrityFailure, match="SHA-256.*altered or replaced"):
        yunet.load()
    shutil.copyfile(files.packaged_dir() / onnx.SFACE.file.name, tmp_path / "sface.onnx")
    _flip_byte(tmp_path / "sface.onnx")
    other = tmp_path / "other"
    other.mkdir()
    shutil.copyfile(tmp_path / "sface.onnx", other / onnx.SFACE.file.name)
    monkeypatch.setenv(files.ENV, str(other))
    with pytest.raises(IntegrityFailure, match=onnx.SFACE.file.name):
        onnx.load(onnx.SFACE)


def test_a_missing_file_is_refused_with_its_path(tmp_path, monkeypatch):
    monkeypatch.setenv(files.ENV, str(tmp_path))
    with pytest.raises(ModelMissing, match=yunet.FILE.name):
        yunet.load()
    with pytest.raises(ModelMissing, match=onnx.SFACE.file.name):
        onnx.load(onnx.SFACE)


def test_cli_refuses_tampered_or_missing_models(cli, home, tmp_path, monkeypatch):
    folder = _copy_packaged(tmp_path / "models")
    _flip_byte(folder / onnx.SFACE.file.name)
    monkeypatch.setenv(files.ENV, str(folder))
    res = cli("models", "verify", "--json", code=ExitStatus.INTEGRITY)
    report = json.loads(res.stdout)
    assert not report["ok"] and any(onnx.SFACE.file.name in p for p in report["problems"])
    assert [f["ok"] for m in report["models"] if m["name"] == "yunet" for f in m["files"]] == [True]
    res = cli("capture", "--photo", orl(1, 2), *PROBE_OVERRIDE, "--json", code=ExitStatus.INTEGRITY)
    assert "SHA-256" in res.stderr
    missing = tmp_path / "no-yunet"  # another folder: a model loaded once stays loaded in its process
    missing.mkdir()
    shutil.copyfile(files.packaged_dir() / onnx.SFACE.file.name, missing / onnx.SFACE.file.name)
    monkeypatch.setenv(files.ENV, str(missing))
    res = cli("capture", "--photo", orl(1, 2), *PROBE_OVERRIDE, "--json", code=ExitStatus.MODEL_MISSING)
    assert yunet.FILE.name in res.stderr
    monkeypatch.delenv(files.ENV)
    assert cli.json("models", "verify")["ok"]


def test_graph_surgery_drops_only_the_inputs_no_node_reads():
    import onnxruntime as ort

    data = (files.packaged_dir() / onnx.SFACE.file.name).read_bytes()
    model, dropped = onnxgraph.drop_unused_inputs(data)
    assert dropped == 174 and len(model) < len(data)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("data", [1, 3, 112, 112])]
    assert onnxgraph.drop_unused_inputs(model) == (model, 0)
    with pytest.raises(BadInput):
        onnxgraph.drop_unused_inputs(b"\x3a\xff\xff\xff")


def _quiet_session(model: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def test_prelu_rewritten_gives_the_same_bits(orl_faces):
    """SFace with its 27 PRelu written as Max/Mul (slopes at most 1) or Relu/Min/Mul/Add (slopes above 1)
    against SFace as shipped: identical output on real aligned faces and on noise with negative values;
    and a model with no PRelu is left as it was."""
    shipped, _ = onnxgraph.drop_unused_inputs((files.packaged_dir() / onnx.SFACE.file.name).read_bytes())
    rewritten, count = onnxgraph.prelu_rewritten(shipped)
    assert count == 27
    before, after = _quiet_session(shipped), _quiet_session(rewritten)
    assert "PRelu" not in rewritten.decode("latin-1") and "PRelu" in shipped.decode("latin-1")
    encoder = encoders.encoder(onnx.SFACE)
    blobs = [encoder.blob(encoder.crop(rgb, face)) for rgb, face in orl_faces]
    blobs += list(np.random.default_rng(7).normal(0, 200, (4, 1, 3, 112, 112)).astype(np.float32))
    for blob in blobs:
        assert np.array_equal(before.run(None, {"data": blob})[0], after.run(None, {"data": blob})[0])
    yunet_model = (files.packaged_dir() / yunet.FILE.name).read_bytes()
    assert onnxgraph.prelu_rewritten(yunet_model) == (yunet_model, 0)


def test_dlib_shape_from_the_yunet_box_matches_hog(orl_faces):
    """dlib's encoder given YuNet's face (its 5-point shape fitted in the derived box) lands where it does
    with HOG's box: far closer than the match threshold."""
    for rgb, face in orl_faces:
        hog = faces.choose(faces.detect(rgb), "orl").face
        assert face.detector == yunet.DETECTOR_ID and face.anchor.shape == (5, 2)
        assert float(np.linalg.norm(faces.encode(rgb, face) - faces.encode(rgb, hog))) < 0.15
        assert abs(face.inter_eye - hog.inter_eye) < 0.1 * hog.inter_eye


def test_sface_templates_equal_opencvs_own_sface(orl_faces):
    """The folded onnxruntime session against OpenCV's FaceRecognizerSF on its own alignCrop of the same
    five points: an independent implementation of the whole SFace step."""
    import cv2

    path = str(files.packaged_dir() / onnx.SFACE.file.name)
    reference = cv2.FaceRecognizerSF.create(path, "")
    for rgb, face in orl_faces:
        row = np.zeros((1, 15), np.float32)
        row[0, 4:14] = face.anchor.reshape(-1)
        crop = reference.alignCrop(rgb, row)  # RGB in, RGB out: SFace is fed RGB
        expected = reference.feature(crop).reshape(-1)
        expected /= np.linalg.norm(expected)
        mine = encoders.encoder(onnx.SFACE).encode(rgb, face)
        assert float(1 - mine @ expected) < 1e-4


def test_fused_encodings_on_two_threads_equal_each_model_alone(orl_faces):
    fused = encoders.pipeline((encoders.DLIB, encoders.SFACE), None)
    for rgb, face in orl_faces:
        together = fused.encode(rgb, face)
        assert np.array_equal(together[encoders.DLIB], faces.encode(rgb, face))
        assert np.array_equal(together[encoders.SFACE], encoders.encoder(onnx.SFACE).encode(rgb, face))


def test_user_model_loads_through_onnxruntime_and_encodes_as_sface(tmp_path, orl_faces):
    m = onnx.Manifest.read(_model_folder(tmp_path))
    report = encoders.self_test(m)
    assert report["colour"]["verdict"] == "right"
    assert max(p["distance"] for p in report["genuine"]) < 0.6 < min(p["distance"] for p in report["impostor"])
    assert math.isclose(m.search_threshold, math.sqrt(1.2))
    rgb, face = orl_faces[0]
    mine = encoders.encoder(m).encode(rgb, face)
    builtin = encoders.encoder(onnx.SFACE).encode(rgb, face)
    assert float(mine @ builtin) > 0.9999 and math.isclose(float(np.linalg.norm(mine)), 1.0, rel_tol=1e-5)


def test_wrong_colour_order_is_refused(tmp_path):
    m = onnx.Manifest.read(_model_folder(tmp_path, colour_order="BGR"))
    with pytest.raises(IntegrityFailure, match="colour_order in the manifest is probably wrong"):
        encoders.self_test(m)


def test_wrong_normalisation_is_refused(tmp_path):
    m = onnx.Manifest.read(_model_folder(tmp_path, mean=127.5, std=128))
    with pytest.raises(IntegrityFailure, match="self-test failed: impostor pair"):
        encoders.self_test(m)


@pytest.mark.parametrize(
    "changes, error, message",
    [
        ({"colour_order": "RGBA"}, BadInput, "colour_order"),
        ({"distance": "manhattan"}, BadInput, "distance"),
        ({"std": [1, 0, 1]}, BadInput, "std"),
        ({"sha256": "0" * 64}, IntegrityFailure, "SHA-256"),
        ({"embedding_size": 512}, IntegrityFailure, "embedding_size"),
        ({"input_size": [128, 128]}, BadInput, "input_size"),
    ],
)
def test_manifest_mistakes_are_refused(tmp_path, changes, error, message):
    with pytest.raises(error, match=message):
        encoders.self_test(onnx.Manifest.read(_model_folder(tmp_path, **changes)))


def test_manifest_missing_a_field_names_it(tmp_path):
    folder = _model_folder(tmp_path)
    d = json.loads((folder / "manifest.json").read_text())
    del d["licence"]
    (folder / "manifest.json").write_text(json.dumps(d))
    with pytest.raises(BadInput, match="missing licence"):
        onnx.Manifest.read(folder)


def test_user_model_is_a_matcher_in_the_home(cli, home):
    _model_folder(home / "models", "mine")
    report = cli.json("models", "verify")
    assert report["ok"] and [m["self_test"]["colour"]["verdict"] for m in report["models"] if m["name"] == "mine"] == [
        "right"
    ]
    mine = next(m for m in report["matchers"] if m["name"] == "mine")
    assert mine["model_ids"] == ["sface-as-user"] and math.isclose(mine["threshold"], math.sqrt(1.2))
    for s in (1, 2):
        cli(
            "watchlist",
            "add",
            orl(s, 1),
            "--ref",
            f"WL-{s}",
            "--name",
            f"Subject {s}",
            "--category",
            "wanted",
            "--reason",
            "Wanted on warrant in a test",
            "--authorised-by",
            "DS 1",
            "--review-date",
            REVIEW,
            *OVERRIDE,
        )
    cli("models", "use", "mine")  # the watchlist lacks its templates until reindexed
    assert cli.json("models", "reindex")["sface-as-user"]["encoded"] == 2
    res = cli.json("capture", "--photo", orl(2, 3), *PROBE_OVERRIDE)
    first = res["candidates"][0]
    assert (first["ref"], first["matcher"], first["model_id"], first["below_threshold"]) == (
        "WL-2",
        "mine",
        "sface-as-user",
        True,
    )
    assert res["model_ids"] == ["sface-as-user"] and res["threshold"] == pytest.approx(math.sqrt(1.2))
    assert res["warnings"] == []

    # the adopted manifest is bound to the home: a threshold edited in it (every alert "not below") is refused
    manifest = home / "models" / "mine" / "manifest.json"
    adopted = manifest.read_bytes()
    manifest.write_text(json.dumps(_manifest(threshold=0.0001)))
    integrity = int(ExitStatus.INTEGRITY)
    said = " ".join(cli("capture", "--photo", orl(2, 4), *PROBE_OVERRIDE, code=integrity).stderr.split())
    assert "is not the manifest this home adopted for model mine" in said and "triage models use mine" in said
    assert "is not the manifest this home adopted" in cli("models", "verify", code=integrity).stderr
    manifest.write_bytes(adopted)
    assert cli.json("match", res["arrival_id"])["candidates"][0]["ref"] == "WL-2"
    # a new manifest the force issued is adopted again, audited
    manifest.write_text(json.dumps(_manifest(threshold=0.5)))
    cli("models", "use", "mine")
    assert cli.json("match", res["arrival_id"])["threshold"] == pytest.approx(1.0)
    events = [e for e in cli.json("audit", "show") if e["action"] == "models-use"]
    assert len(events) == 2 and "manifest.json SHA-256" in events[-1]["reason"]

    # a folder dropped in under another name with the adopted model's id would encode in its place
    _model_folder(home / "models", "aaa", mean=[100, 100, 100])
    said = " ".join(
        cli("capture", "--photo", orl(2, 5), *PROBE_OVERRIDE, code=int(ExitStatus.BAD_INPUT)).stderr.split()
    )
    assert "model id 'sface-as-user' is also that of the model in" in said, said
    shutil.rmtree(home / "models" / "aaa")
    # a manifest that fails its own self-test is refused as it is adopted, not at the next capture
    manifest.write_text(json.dumps(_manifest(threshold=0.3)))
    cli("models", "use", "mine", code=integrity)
    assert len([e for e in cli.json("audit", "show") if e["action"] == "models-use"]) == 2
    # the adopted model's folder gone: a missing model (exit 9), not a mistyped --matcher
    shutil.rmtree(home / "models" / "mine")
    said = " ".join(
        cli("capture", "--photo", orl(2, 5), *PROBE_OVERRIDE, code=int(ExitStatus.MODEL_MISSING)).stderr.split()
    )
    assert "model mine, which this home adopted with `triage models use`, is not in any models folder" in said, said


def test_dlib_network_in_onnxruntime_gives_dlibs_own_descriptors(face_models):
    """The ResNet read from dlib's model file and run by onnxruntime (encoders/dlibnet.py) against dlib's
    own `compute_face_descriptor`, on real faces: 40 ORL people and the two colour photos."""
    import dlib
    import face_recognition_models
    from PIL import Image

    from triage.intake import samples

    reference = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    photos_ = [np.asarray(Image.open(orl(s, 1 + s % 10)).convert("RGB").resize((276, 336))) for s in range(1, 41)]
    photos_ += [photos.read_photo(path()).rgb for path in (samples.astronaut_path, samples.hopper_path)]
    worst, compared = 0.0, 0
    for rgb in photos_:
        found = faces.detect(rgb)
        if not found:
            continue
        face = faces.choose(found, "test").face
        theirs = np.asarray(reference.compute_face_descriptor(rgb, face.shape, 1), np.float32)
        worst, compared = max(worst, float(np.abs(faces.encode(rgb, face) - theirs).max())), compared + 1
    assert compared >= 38
    assert worst < 1e-5, f"an element differs by {worst}"


def _prelu_model(slope: np.ndarray, opset: int, taken: str = "") -> bytes:
    """y = PRelu(x, slope) on x (1, 4), at `opset`; `taken` names a tensor the graph already has, as a
    second output Identity(x), to see that the rewrite's own names keep clear of it."""
    from triage.faces.onnxwrite.protowire import field, value_info

    def node(op, ins, out):
        return field(1, b"".join(field(1, i) for i in ins) + field(2, out) + field(4, op))

    slope_tensor = field(1, len(slope)) + field(2, 1) + field(8, "s") + field(9, slope.astype("<f4").tobytes())
    graph = node("PRelu", ["x", "s"], "y") + (node("Identity", ["x"], taken) if taken else b"")
    graph += field(2, "g") + field(5, slope_tensor) + field(11, value_info("x", 1, (1, 4)))
    graph += field(12, value_info("y", 1, (1, 4))) + (field(12, value_info(taken, 1, (1, 4))) if taken else b"")
    return field(1, 7) + field(8, field(1, "") + field(2, opset)) + field(7, graph)


@pytest.mark.parametrize(
    "slope, opset, taken",
    [
        ([0.25, -0.5, 1.0, 0.0], 7, ""),
        ([2.0, 0.5, -3.0, 1.5], 7, ""),
        ([2.0, 0.5, -3.0, 1.5], 13, "y:negative"),
        ([0.1] * 4, 13, "y:scaled"),
    ],
)
def test_prelu_rewrite_keeps_old_opsets_and_the_graphs_own_names(slope, opset, taken):
    model = _prelu_model(np.array(slope), opset, taken)
    rewritten, count = onnxgraph.prelu_rewritten(model)
    assert count == 1
    x = np.array([[-2.0, 3.5, -0.75, 1e-30], [-1e30, 0.0, 7.0, -1e-30]], np.float32)
    for row in x:
        before, after = (_quiet_session(m).run(["y"], {"x": row[None]})[0] for m in (model, rewritten))
        assert np.array_equal(before, after)


def test_prelu_with_a_slope_that_is_not_finite_or_not_float_is_left_alone():
    for slope in ([0.25, np.nan, 1, 0], [0.25, np.inf, 1, 0]):
        model = _prelu_model(np.array(slope), 13)
        assert onnxgraph.prelu_rewritten(model) == (model, 0)


def test_a_supplied_model_named_like_a_built_in_but_for_case_is_that_model(cli, home):
    """A folder `SFace` is a supplied model (reserved names are matched exactly); reading `SFace` as the built-in
    `sface`, as matcher names typed in another case are, searched other templates without a word."""
    _model_folder(home / "models", "SFace")
    assert cli.json("models", "use", "SFace")["matcher"] == "SFace"
    from triage.faces import matchers

    assert matchers.get("SFace", home).model_ids == ("sface-as-user",)
    assert matchers.get("SFACE", home).model_ids != ("sface-as-user",)  # not this model's name: the built-in
