"""Training homes and score sheets: a trainee works a fixture scenario (a boat, its arrivals, a
watchlist) with the real commands, then the trainee's reviews, drafts and safeguarding flags are
compared with the scenario's truth.

A training home is an ordinary home whose config says `training`, so everything it writes (arrivals,
drafts, exports) is marked TRAINING. Scenarios load only into a new training home: an operational home
refuses them before anything is written, so fixture people never mix with real ones.

The score is read from the store's authenticated rows, from `training.json` (which arrival is which of
the scenario's people) and from the scenario's truth. A trainee can write the home's folder, and perhaps
the tool's, so the SHA-256 of both files is recorded in the store as the exercise starts, and the score
refuses either when it differs: no edit to them can move a score.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from triage.casework import arrivals, review
from triage.errors import BadInput, Conflict, IntegrityFailure, NotFound
from triage.evaluation import scenarios
from triage.evaluation.scenarios import Progress
from triage.intake import jsontext
from triage.outputs.pnd import PND_KINDS
from triage.store import settings
from triage.store.config import CONFIG_FILE, Config, load_config
from triage.store.rows import Store, utcnow

STATE_FILE = "training.json"
SCENARIO = "scenario"  # the scenario's entry in the exercise's record: the SHA-256 of its truth as loaded
RESTART = "start the exercise again in a new folder"
SITE = "Training landing site"
FORCE_CODE = "TRN"
MARKING = "TRAINING — score sheet, fixture data"


def check_scenario(sc: dict[str, Any]) -> dict[str, Any]:
    """A scenario's truth must point at its own watchlist and at arrivals landed before the one it describes."""
    refs = {w["ref"] for w in sc.get("watchlist", [])}
    for i, entry in enumerate(sc.get("arrivals", []), 1):
        truth = entry.get("truth", {})
        if "watchlist" in truth and truth["watchlist"] not in refs:
            raise BadInput(
                f"scenario {sc.get('name')!r} arrival {i}: truth names {truth['watchlist']}, "
                "which is not on its watchlist"
            )
        if "arrival" in truth and not (isinstance(truth["arrival"], int) and 1 <= truth["arrival"] < i):
            raise BadInput(
                f"scenario {sc.get('name')!r} arrival {i}: truth arrival {truth['arrival']!r} must be the "
                "number of an earlier arrival (counting from 1)"
            )
    return sc


def catalogue() -> list[dict[str, Any]]:
    out = []
    for name in scenarios.names():
        sc = scenarios.load(name)
        out.append(
            {
                "name": name,
                "title": sc["title"],
                "brief": sc.get("brief"),
                "watchlist": len(sc["watchlist"]),
                "arrivals": len(sc["arrivals"]),
            }
        )
    return out


def start(home: Path, name: str, *, passphrase: str, officer: str, progress: Progress | None = None) -> dict[str, Any]:
    """Create a training home in `home` (new or empty) and load scenario `name` into it, all or nothing."""
    sc = check_scenario(scenarios.load(name))
    home = Path(home)
    if (home / CONFIG_FILE).exists():
        if not load_config(home).training:
            raise Conflict(
                f"{home} is an operational home: training scenarios load only into a new training home, "
                "so nothing was written",
                hint="pass --home with a new folder for the exercise",
            )
        raise Conflict(f"{home} is already a training home; start each exercise in a new folder")
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise Conflict(f"{home} exists and is not an empty folder; give --home a new folder for the exercise")
    created = not home.exists()
    store = None
    try:
        store = Store.create(home, passphrase, Config(site=SITE, force_code=FORCE_CODE, officer=officer, training=True))
        return load(store, sc, officer=officer, progress=progress)
    except BaseException:
        if store is not None:
            store.close()
            store = None
        _remove(home, created)
        raise
    finally:
        if store is not None:
            store.close()


def _remove(home: Path, created: bool) -> None:
    """Undo a half-made training home: the folder was new or empty, so everything in it is ours."""
    if created:
        shutil.rmtree(home, ignore_errors=True)
    elif home.is_dir():
        for p in home.iterdir():
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def load(store: Store, sc: dict[str, Any], *, officer: str, progress: Progress | None = None) -> dict[str, Any]:
    """Enrol the scenario's watchlist and land its arrivals in a training home."""
    if not store.config.training:
        raise Conflict(f"{store.home} is an operational home: it refuses training scenarios, and nothing was written")
    if (store.home / STATE_FILE).exists():
        raise Conflict(f"{store.home} already holds a training scenario; start another exercise in a new folder")
    truth = _digest(sc)
    today = dt.date.today()
    total = len(sc["watchlist"]) + len(sc["arrivals"])
    step = (lambda offset: lambda i, n: progress(offset + i, total)) if progress else (lambda offset: None)
    enrolled = scenarios.enrol_watchlist(store, sc, officer=officer, today=today, progress=step(0))
    landed = scenarios.land_arrivals(store, sc, officer=officer, today=today, progress=step(len(sc["watchlist"])))
    state = {
        "training": True,
        "scenario": sc["name"],
        "title": sc["title"],
        "started_at": utcnow(),
        "officer": officer,
        "watchlist": [e["ref"] for e in enrolled],
        "arrivals": [a.arrival_id for a in landed],
    }
    data = (json.dumps(state, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    tmp = store.home / (STATE_FILE + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, store.home / STATE_FILE)
    with store.transaction():
        settings.record_exercise(store, {STATE_FILE: settings.sha256(data), SCENARIO: truth}, officer=officer)
        store.audit("training-start", officer, records=[f"scenario:{sc['name']}", f"settings:{settings.EXERCISE}"])
    return {
        "training": True,
        "home": str(store.home),
        "scenario": sc["name"],
        "title": sc["title"],
        "brief": sc.get("brief"),
        "watchlist_enrolled": len(enrolled),
        "arrivals": [
            {
                "number": i,
                "arrival_id": a.arrival_id,
                "vessel": a.vessel,
                "safeguarding": a.safeguarding,
                "candidates_below_threshold": sum(c.below_threshold for c in a.candidates),
            }
            for i, a in enumerate(landed, 1)
        ],
    }


def _digest(sc: dict[str, Any]) -> str:
    """The SHA-256 of a scenario as loaded (its JSON with sorted keys): what its truth says, however laid out."""
    return settings.sha256(json.dumps(sc, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def _exercise(store: Store) -> tuple[dict[str, Any], dict[str, Any]]:
    """The home's training.json and the scenario it was loaded from, each refused unless it is as the
    exercise started (its SHA-256 is the one the home's store recorded then)."""
    if not store.config.training:
        raise Conflict(f"{store.home} is an operational home: only a training home has a scenario to score against")
    path = store.home / STATE_FILE
    recorded = settings.recorded_exercise(store)
    if not path.is_file():
        if recorded is None:
            raise NotFound(
                f"no scenario was loaded in {store.home}", hint="start one with `triage training start --scenario NAME`"
            )
        raise IntegrityFailure(
            f"{path}, which `triage training start` wrote, is missing, so the exercise is not scored",
            hint=f"put the file back as the exercise wrote it, or {RESTART}",
        )
    if recorded is None or STATE_FILE not in recorded or SCENARIO not in recorded:
        raise Conflict(
            f"{path}: the home has no record of the file `triage training start` wrote (an exercise started by an "
            "earlier version of triage), so the exercise is not scored",
            hint=RESTART,
        )
    # Larger than triage reads is not the file triage wrote: refused unread.
    data = path.read_bytes() if path.stat().st_size <= jsontext.MAX_BYTES else b""
    if settings.sha256(data) != recorded[STATE_FILE]:
        raise IntegrityFailure(
            f"{path} is not the file `triage training start` wrote (its SHA-256 differs from the home's record), "
            "so the exercise is not scored",
            hint=f"put the file back as the exercise wrote it, or {RESTART}",
        )
    try:
        state: dict[str, Any] = jsontext.loads(data.decode("utf-8-sig"), str(path))
    except ValueError as e:
        raise BadInput(f"{path}: not a training state file triage wrote ({e}); start the exercise again") from None
    sc = scenarios.load(state["scenario"])
    if _digest(sc) != recorded[SCENARIO]:
        where = resources.files("triage.fixtures") / "scenarios" / f"{state['scenario']}.json"
        raise IntegrityFailure(
            f"{where} is not the scenario this exercise was started from (its SHA-256 differs from the home's "
            "record), so the exercise is not scored",
            hint=f"put back the scenario file as triage shipped it, or {RESTART}",
        )
    return state, sc


def score(store: Store, *, officer: str) -> dict[str, Any]:
    """The score sheet: what the trainee's record says against the scenario's truth. Decisions, candidates and
    flags are looked up through indexes, checked first: one rebuilt without a row would mark the trainee wrongly."""
    store.check_indexes_once("reviews", "candidates", "arrivals")
    state, sc = _exercise(store)
    ids = state["arrivals"]
    sheet = {
        "marking": MARKING,
        "training": True,
        "scenario": state["scenario"],
        "title": state["title"],
        "scored_at": utcnow(),
        "scored_by": officer,
        "missed_matches": [],
        "false_confirmations": [],
        "missing_drafts": [],
        "missed_safeguarding": [],
        "unreviewed_alerts": [],
    }
    checks = {
        "matches_expected": 0,
        "matches_confirmed": 0,
        "drafts_expected": 0,
        "drafts_made": 0,
        "safeguarding_expected": 0,
        "safeguarding_raised": 0,
    }
    void = arrivals.voided(store)
    for number, (entry, aid) in enumerate(zip(sc["arrivals"], ids), 1):
        truth = entry.get("truth", {})
        where = {"arrival": number, "arrival_id": aid}
        expected = set()
        if "watchlist" in truth:
            expected.add(("watchlist", truth["watchlist"]))
        if "arrival" in truth:
            expected.add(("arrival", ids[truth["arrival"] - 1]))
        decisions = {
            (r["kind"], r["ref"]): r["decision"] for r in store.rows("reviews", "arrival_id = ?", [aid], order_by="id")
        }
        shown = {
            (k, r): bool(b)
            for k, r, b in store.db.execute(
                "SELECT kind, ref, max(below_threshold) FROM candidates WHERE arrival_id = ? GROUP BY kind, ref", [aid]
            )
        }
        for kind, ref in sorted(expected):
            checks["matches_expected"] += 1
            if decisions.get((kind, ref)) == "confirmed":
                checks["matches_confirmed"] += 1
            else:
                sheet["missed_matches"].append(
                    where
                    | {
                        "kind": kind,
                        "ref": ref,
                        "shown_as_candidate": (kind, ref) in shown,
                        "below_threshold": shown.get((kind, ref)),
                        "decision": decisions.get((kind, ref), "not reviewed"),
                        # a voided arrival takes no decision: the sheet says so, not that it was left unreviewed
                        "voided": next((a for a in (aid, ref if kind == "arrival" else None) if a in void), None),
                    }
                )
        for (kind, ref), decision in sorted(decisions.items()):
            if decision == "confirmed" and (kind, ref) not in expected:
                sheet["false_confirmations"].append(
                    where
                    | {
                        "kind": kind,
                        "ref": ref,
                        "truth": ", ".join(f"{k} {r}" for k, r in sorted(expected))
                        or "not on the watchlist, no earlier arrival",
                    }
                )
        if truth.get("pnd_draft"):
            checks["drafts_expected"] += 1
            made = store.count(
                "drafts", f"arrival_id = ? AND kind IN ({','.join('?' * len(PND_KINDS))})", [aid, *PND_KINDS]
            )
            if made:
                checks["drafts_made"] += 1
            else:
                sheet["missing_drafts"].append(
                    where
                    | {"needed": "a PND draft stating its policing purpose", "voided": aid if aid in void else None}
                )
        if truth.get("child"):
            checks["safeguarding_expected"] += 1
            if store.db.execute("SELECT safeguarding FROM arrivals WHERE id = ?", [aid]).fetchone()[0]:
                checks["safeguarding_raised"] += 1
            else:
                sheet["missed_safeguarding"].append(
                    where | {"truth": "a child, whatever age was claimed", "voided": aid if aid in void else None}
                )
    number_of = {aid: n for n, aid in enumerate(ids, 1)}
    missed = {(m["arrival_id"], m["kind"], m["ref"]) for m in sheet["missed_matches"]}
    for item in review.pending(store):
        for c in item.candidates:
            if (item.arrival_id, c.kind, c.ref) in missed:
                continue
            sheet["unreviewed_alerts"].append(
                {
                    "arrival": number_of.get(item.arrival_id),
                    "arrival_id": item.arrival_id,
                    "kind": c.kind,
                    "ref": c.ref,
                    "distance": c.distance,
                }
            )
    findings = sum(
        len(sheet[k])
        for k in ("missed_matches", "false_confirmations", "missing_drafts", "missed_safeguarding", "unreviewed_alerts")
    )
    sheet |= {"checks": checks, "findings": findings, "passed": findings == 0}
    with store.transaction():
        store.audit(
            "training-score", officer, records=[f"scenario:{state['scenario']}"], reason=f"{findings} finding(s)"
        )
    return sheet
