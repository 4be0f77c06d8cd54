"""One evaluation of a data set, as `triage evaluate` runs it: encode through the home's sealed cache,
measure every matcher on the same photos, and optionally report per group, draw the DET curve and
write a calibration.

Every option is checked before any photo is encoded; the run, and any calibration it writes, is
audited in the home, and a calibration written to the home's models/ is recorded in its settings in the
same transaction (captures use no other); the result's JSON shape (`Evaluation.as_json`) is the
command's contract.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage import workers as worker_pool
from triage.errors import BadInput
from triage.evaluation import fairness
from triage.evaluation.cache import CACHE_FILE, TemplateCache, encode, matchers
from triage.evaluation.calibration import calibrate, refit, refuse_unshowable, write
from triage.evaluation.datasets import Dataset
from triage.evaluation.metrics import FMR_TARGETS, FPIR_TARGETS, HOLDOUT, SEED, MatcherResult, measure
from triage.evaluation.plots import plot_det
from triage.faces import matchers as registry
from triage.faces import matching
from triage.store import settings
from triage.store.rows import Store


@dataclass
class Evaluation:
    """What one run measured: the data set, the options it ran with, the cache's part, and each
    matcher's figures (`results`, their reports carrying any per-group figures and calibration)."""

    training: bool
    dataset: Dataset
    copies: list[dict[str, list[str]]]  # identical files in the data set, and the identities they are under
    holdout: float
    seed: int
    workers: int
    cache: dict[str, Any]  # photos, from_cache, encoded, and the cache file
    results: list[MatcherResult]
    seconds: float
    plot: Path | None = None  # the DET curve asked for
    plotted: str | None = None  # where it was written; None when no matcher had anything to draw

    @property
    def matchers(self) -> list[dict[str, Any]]:
        return [r.report for r in self.results]

    def as_json(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "training": self.training,
            "dataset": {
                "description": self.dataset.description,
                "photos": len(self.dataset.samples),
                "identities": len(self.dataset.identities),
                "skipped_files": self.dataset.skipped,
                "copies": self.copies,
            },
            "options": {
                "holdout": self.holdout,
                "seed": self.seed,
                "confidence_level": 0.95,
                "fmr_targets": list(FMR_TARGETS),
                "fpir_targets": list(FPIR_TARGETS),
                "workers": self.workers,
            },
            "cache": self.cache,
            "matchers": self.matchers,
            "seconds": self.seconds,
        }
        if self.plot is not None:
            report["plot"] = self.plotted
        return report


def check_holdout(holdout: float) -> float:
    if not 0 <= holdout < 1:
        raise BadInput(f"--holdout {holdout}: give the share of identities kept out of the gallery, from 0 to below 1")
    return holdout


def run(
    store: Store,
    dataset: Dataset,
    *,
    officer: str,
    matcher_names: Sequence[str] | None = None,
    threshold: float | None = None,
    holdout: float = HOLDOUT,
    seed: int = SEED,
    groups: Path | None = None,
    cache_path: Path | None = None,
    workers: int | None = None,
    plot: Path | None = None,
    target_fpir: float | None = None,
    calibration_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Encode (through the home's sealed cache), measure every matcher, and optionally report per group,
    draw the DET curve and write a calibration (to the home's models/ unless `calibration_file` says
    otherwise). The run, and any calibration, is audited."""
    matcher_list = matchers(matcher_names, store.home, store.config.matcher)
    check_holdout(holdout)
    if target_fpir is not None and not 0 < target_fpir < 1:
        raise BadInput(f"--target-fpir {target_fpir}: give a rate between 0 and 1, e.g. 0.001")
    if threshold is not None and len(matcher_list) > 1:
        raise BadInput("--threshold applies to one matcher: name it with --matcher")
    if threshold is not None:  # on the scale of the matcher it is for
        registry.get(matcher_list[0].name, store.home).checked(threshold)
    if calibration_file is not None and len(matcher_list) > 1:
        raise BadInput("--calibration-file holds one model's calibration: name the matcher with --matcher")
    if plot is not None and (Path(plot).is_dir() or Path(plot).suffix.lower() != ".png"):
        raise BadInput(f"--plot {plot}: give the name of a .png file to write")
    labels = fairness.load_groups(groups) if groups else None
    thresholds = {m.model_id: m.threshold if threshold is None else threshold for m in matcher_list}
    started = dt.datetime.now(dt.timezone.utc)
    cache = TemplateCache(cache_path or Path(store.home) / CACHE_FILE, store._need_vault())
    encoded, stats = encode(dataset, matcher_list, cache, workers=workers, progress=progress)
    if target_fpir is not None:
        encoded = [refit(e) if e.matcher.fusion else e for e in encoded]
    results = [measure(e, threshold=thresholds[e.matcher.model_id], holdout=holdout, seed=seed) for e in encoded]
    if target_fpir is not None and calibration_file is None:
        for r in results:
            refuse_unshowable(r, target_fpir)
    written: list[tuple[MatcherResult, Path, dict[str, Any]]] = []  # written when the run is audited
    for r in results:
        if labels is not None:
            r.report["fairness"] = fairness.report(r, labels)
        if target_fpir is not None:
            path = calibration_file or matching.home_calibration_file(store.home, r.enc.matcher.model_id)
            r.report["calibration"], doc = calibrate(
                r,
                target_fpir,
                path,
                dataset=dataset,
                holdout=holdout,
                seed=seed,
                officer=officer,
                training=store.config.training,
            )
            written.append((r, Path(path), doc))
    copies = stats.pop("copies")
    evaluation = Evaluation(
        training=store.config.training,
        dataset=dataset,
        copies=copies,
        holdout=holdout,
        seed=seed,
        workers=workers or worker_pool.cores(),
        cache=stats,
        results=results,
        seconds=round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1),
        plot=plot,
    )
    if plot is not None:
        evaluation.plotted = plot_det(results, plot, dataset.description)
    with store.transaction():
        store.audit(
            "evaluate",
            officer,
            records=[f"cache:{cache.path.name}"],
            reason=f"{dataset.description}: {len(dataset.samples)} photos, {len(dataset.identities)} identities",
        )
        for r, path, doc in written:
            settings.record_calibration(store, path, write(path, doc), officer=officer)
            c = r.report["calibration"]
            store.audit(
                "calibrate",
                officer,
                records=[f"model:{r.enc.matcher.model_id}"],
                reason=f"threshold {c['threshold']} (was {c['previous_threshold']}) at target FPIR "
                f"{target_fpir:g}, written to {c['file']}",
            )
    return evaluation
