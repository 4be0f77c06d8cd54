"""A threshold chosen from measured figures: the one that keeps FPIR at or below a target on a data set,
written as a calibration file that captures in the home then use.

The threshold is rounded down, so the target still holds; the file records its provenance (data set,
date, officer, the figures behind it and the threshold it replaces) and is replaced atomically. A
threshold the data cannot show is refused for the home's own file, so live matching is never loosened
on a guess. `write` returns the SHA-256 of what it wrote: the home records it, and captures use only a
file that still has it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from triage.errors import BadInput
from triage.evaluation.cache import Encoded, fused_distances
from triage.evaluation.datasets import Dataset
from triage.evaluation.metrics import MatcherResult
from triage.faces.fusion import fit
from triage.intake import jsontext

TARGET_FPIR = 0.001  # calibration default: South Wales Police's "at most 1 false alert in 1,000"


def refit(enc: Encoded) -> Encoded:
    """A fused matcher's encodings with its normalisation estimated on these photos' impostor pairs (the
    weights kept), for a calibration on them; a matcher that fuses nothing is returned as it is."""
    m = enc.matcher
    if m.fusion is None:
        return enc
    cuts = np.cumsum((0, *m.dims))
    per_model = {p.model_id: enc.vectors[:, lo:hi] for p, lo, hi in zip(m.fusion.parts, cuts, cuts[1:])}
    fusion = replace(m.fusion, parts=fit(per_model, enc.identities, {p.model_id: p.weight for p in m.fusion.parts}))
    return replace(enc, matcher=replace(m, fusion=fusion, distances=partial(fused_distances, fusion, m.dims)))


def refuse_unshowable(result: MatcherResult, target_fpir: float) -> None:
    """Refuse a threshold for the home's own file (which captures then use) when the data has too few
    non-mated searches to show the target FPIR: it would loosen live matching on a guess."""
    s = result.searches
    _, allowed = s.threshold_for_fpir(target_fpir)
    if allowed < 1:
        raise BadInput(
            f"{result.enc.matcher.name}: {int((~s.mated).sum()):,} non-mated searches cannot show an FPIR "
            f"as low as {target_fpir:g} (at least {math.ceil(1 / target_fpir):,} are needed), so no "
            "threshold was written to the home; use a larger data set, a higher --target-fpir, or "
            "--calibration-file to write it elsewhere for study"
        )


def calibrate(
    result: MatcherResult,
    target_fpir: float,
    path: Path,
    *,
    dataset: Dataset,
    holdout: float,
    seed: int,
    officer: str,
    training: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The threshold that keeps FPIR at or below `target_fpir` on this data, with its provenance: what the
    report says of it, and the calibration file's contents for `write` to put at `path`."""
    s = result.searches
    t, allowed = s.threshold_for_fpir(target_fpir)
    if t is None or not s.mated.any():
        raise BadInput(
            "calibration needs mated and non-mated searches: use a data set with several photos per "
            "person and --holdout above 0"
        )
    threshold = math.floor(t * 10_000) / 10_000  # rounded down, so the target still holds
    n_nm, n_m = int((~s.mated).sum()), int(s.mated.sum())
    m = result.enc.matcher
    today = dt.date.today().isoformat()
    measured = {
        "target_fpir": target_fpir,
        "fpir": s.false_alarms(threshold) / n_nm,
        "fnir": s.misses(threshold) / n_m,
        "rank1": s.rank1()["rate"],
        "gallery_identities": s.gallery_size,
        "mated_searches": n_m,
        "nonmated_searches": n_nm,
        "candidate_list": s.candidates,
        "holdout": holdout,
        "seed": seed,
        "photos": result.enc.total,
        "acquired": len(result.enc.paths),
        "identities": len(dataset.identities),
        "estimable": allowed >= 1,
    }
    caveat = (
        ""
        if allowed >= 1
        else (
            f" Caution: {n_nm} non-mated searches cannot show an FPIR as low as {target_fpir:g} (at least "
            f"{math.ceil(1 / target_fpir):,} are needed); the threshold sits below every non-mated distance seen."
        )
    )
    previous = None
    path = Path(path)
    if path.is_file():
        try:
            previous = jsontext.read(path).get("threshold")
        except (ValueError, AttributeError, BadInput):
            previous = None
    fused = (
        (
            " The fusion's normalisation (each model's impostor mean and spread) was estimated on the same "
            f"photos' {len(result.scores.impostor):,} impostor pairs; its weights were kept."
        )
        if m.fusion
        else ""
    )
    doc = {
        "model_id": m.model_id,
        "distance": m.distance,
        "threshold": threshold,
        **({"models": [asdict(p) for p in m.fusion.parts]} if m.fusion else {}),
        "provenance": (
            f"Calibrated with `triage evaluate --calibrate --target-fpir {target_fpir:g}` on "
            f"{dataset.description} on {today} by {officer}: FPIR {measured['fpir']:.4g} over {n_nm:,} "
            f"non-mated searches and FNIR "
            f"{measured['fnir']:.4g} over {n_m:,} mated searches against a gallery of {s.gallery_size} "
            f"identities (one photo each; candidate list {s.candidates}). FPIR grows with the gallery: "
            f"recalibrate when the watchlist grows well beyond this size.{fused}{caveat}"
        ),
        "measured_on": dataset.description,
        "date": today,
        "calibrated_by": officer,
        "training": training,
        "previous_threshold": previous,
        "calibration": measured,
    }
    return {"file": str(path), "threshold": threshold, "previous_threshold": previous, **measured}, doc


def write(path: Path, doc: dict[str, Any]) -> str:
    """Replace the calibration file at `path` atomically; returns the SHA-256 of the bytes written."""
    path = Path(path)
    data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()
