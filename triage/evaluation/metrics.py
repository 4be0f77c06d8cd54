"""How accurate a matcher is, in the vocabulary of ISO/IEC 19795-1 (FMR, FNMR, failure to acquire) and
NIST FRTE 1:N (FPIR, FNIR, rank-1 identification rate), with 95% Wilson intervals on counted rates.

Decision rule throughout: a comparison is a match when its distance is strictly below the threshold,
as in `matching.Gallery.search`. The 1:N gallery is drawn from a seed (fixed by default) and each
gallery photo is chosen by path, so the same photos always give the same figures. A rate the data are
too few to show at its target is marked not estimable, with a note of how much data it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from triage.casework.arrivals import DEFAULT_TOP_K
from triage.evaluation.cache import Distances, Encoded
from triage.evaluation.datasets import natural_key

FMR_TARGETS = (1e-3, 1e-4)
FPIR_TARGETS = (0.003,)
HOLDOUT = 0.25  # share of identities kept out of the 1:N gallery, to make non-mated searches
SEED = 19795  # fixed, so the same data always gives the same gallery and the same figures
RELIABLE_ERRORS = 30  # "rule of 30" (ISO/IEC 19795-1): 30 errors give about +-30% at 90% confidence
Z95 = 1.959963984540054


def wilson(errors: int, trials: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion (95% by default); sound at 0 errors, unlike the normal one."""
    if trials == 0:
        return None, None
    p = errors / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (0.0 if errors == 0 else centre - half), (1.0 if errors == trials else centre + half)


def rate(count: int, trials: int, what: str = "errors") -> dict[str, Any]:
    lo, hi = wilson(count, trials)
    return {"rate": count / trials if trials else None, what: int(count), "trials": int(trials), "ci95": [lo, hi]}


def summary(values: np.ndarray) -> dict[str, Any]:
    if len(values) == 0:
        return {"count": 0}
    p = np.percentile(values, [1, 5, 25, 50, 75, 95, 99])
    return {
        "count": int(len(values)),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "p1": float(p[0]),
        "p5": float(p[1]),
        "p25": float(p[2]),
        "median": float(p[3]),
        "p75": float(p[4]),
        "p95": float(p[5]),
        "p99": float(p[6]),
        "max": float(values.max()),
    }


@dataclass
class Scores:
    """Genuine and impostor distances of every pair of acquired photos, sorted."""

    genuine: np.ndarray
    impostor: np.ndarray

    @classmethod
    def of(cls, vectors: np.ndarray, identities: np.ndarray, distances: Distances, block: int = 512) -> Scores:
        ids = np.unique(identities, return_inverse=True)[1]
        gen, imp = [], []
        for start in range(0, len(ids), block):
            d = distances(vectors[start : start + block], vectors)
            rows = np.arange(start, min(start + block, len(ids)))[:, None]
            upper = np.arange(len(ids))[None, :] > rows
            same = ids[rows] == ids[None, :]
            gen.append(d[upper & same])
            imp.append(d[upper & ~same])

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.sort(np.concatenate(parts)) if parts else np.zeros(0)

        return cls(cat(gen), cat(imp))

    def false_matches(self, t: float) -> int:
        return int(np.searchsorted(self.impostor, t, side="left"))

    def false_non_matches(self, t: float) -> int:
        return int(len(self.genuine) - np.searchsorted(self.genuine, t, side="left"))

    def curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FMR and FNMR at every threshold where either changes (each distance, and above the largest)."""
        t = np.unique(np.concatenate([self.genuine, self.impostor]))
        t = np.append(t, np.nextafter(t[-1], np.inf)) if len(t) else t
        fmr = np.searchsorted(self.impostor, t, side="left") / max(1, len(self.impostor))
        fnmr = 1 - np.searchsorted(self.genuine, t, side="left") / max(1, len(self.genuine))
        return t, fmr, fnmr

    def eer(self) -> dict[str, Any]:
        """Equal error rate: at the threshold where |FMR - FNMR| is smallest (the lowest such threshold),
        the mean of the two rates."""
        if not len(self.genuine) or not len(self.impostor):
            return {"rate": None, "threshold": None}
        t, fmr, fnmr = self.curve()
        i = int(np.argmin(np.abs(fmr - fnmr)))
        return {
            "rate": float((fmr[i] + fnmr[i]) / 2),
            "threshold": float(t[i]),
            "fmr": float(fmr[i]),
            "fnmr": float(fnmr[i]),
        }

    def fnmr_at_fmr(self, target: float) -> dict[str, Any]:
        """FNMR at the largest threshold whose FMR does not exceed `target`."""
        n = len(self.impostor)
        allowed = math.floor(target * n + 1e-9)
        out: dict[str, Any] = {"fmr_target": target, "impostor_comparisons": n, "impostor_errors_allowed": allowed}
        if not len(self.genuine) or allowed < 1:
            need = math.ceil(1 / target)
            return out | {
                "fnmr": None,
                "threshold": None,
                "fmr": None,
                "estimable": False,
                "note": f"{n:,} impostor comparisons are too few to estimate FMR {target:g}: at least "
                f"{need:,} are needed",
            }
        t = float(self.impostor[allowed]) if allowed < n else float(np.nextafter(self.impostor[-1], np.inf))
        out |= {
            "fnmr": self.false_non_matches(t) / len(self.genuine),
            "threshold": t,
            "fmr": self.false_matches(t) / n,
            "estimable": True,
        }
        if allowed < RELIABLE_ERRORS:
            out["note"] = (
                f"low confidence: only {allowed} impostor error(s) at this target; the rule of 30 needs "
                f"{math.ceil(RELIABLE_ERRORS / target):,} impostor comparisons"
            )
        return out

    def at(self, t: float) -> dict[str, Any]:
        return {
            "threshold": t,
            "fmr": rate(self.false_matches(t), len(self.impostor)),
            "fnmr": rate(self.false_non_matches(t), len(self.genuine)),
        }

    def grid(self, steps: int = 11) -> list[dict[str, float]]:
        """FMR and FNMR at evenly spaced thresholds from the genuine median to the impostor median."""
        if not len(self.genuine) or not len(self.impostor):
            return []
        lo, hi = float(np.median(self.genuine)), float(np.median(self.impostor))
        return [
            {
                "threshold": float(t),
                "fmr": self.false_matches(t) / len(self.impostor),
                "fnmr": self.false_non_matches(t) / len(self.genuine),
            }
            for t in np.round(np.linspace(lo, hi, steps), 3)
        ]


@dataclass
class Searches:
    """1:N: one photo per gallery identity enrolled; every other photo searched against the gallery.
    Mated searches are people in the gallery; non-mated ones are people held out of it."""

    gallery_size: int
    held_out: list[str]
    identities: np.ndarray  # of each search
    mated: np.ndarray  # bool
    mate_rank: np.ndarray  # 1-based rank of the mate (0 for non-mated searches)
    mate_distance: np.ndarray  # nan for non-mated searches
    nearest: np.ndarray  # distance of the top candidate
    candidates: int = DEFAULT_TOP_K

    @classmethod
    def of(cls, enc: Encoded, holdout: float, seed: int) -> Searches:
        ids = enc.identities
        people = sorted(set(ids))
        rng = np.random.default_rng(seed)
        held = sorted(rng.choice(people, size=round(holdout * len(people)), replace=False).tolist()) if people else []
        held_set = set(held)
        # Each gallery identity's photo is the first by path (2.pgm before 10.pgm; ties of case or leading
        # zeros broken by the path as written), so a CSV listing gives the gallery its folder gives,
        # whatever the order of its rows.
        first: dict[str, int] = {}
        for i in sorted(range(len(ids)), key=lambda i: (natural_key(enc.paths[i]), enc.paths[i])):
            if ids[i] not in held_set:
                first.setdefault(ids[i], i)
        gallery_rows = sorted(first.values())
        chosen = set(gallery_rows)
        probe_rows = [i for i in range(len(ids)) if i not in chosen]
        gallery_ids = ids[gallery_rows]
        probe_ids = ids[probe_rows]
        if not gallery_rows or not probe_rows:
            empty = np.zeros(0)
            return cls(len(gallery_rows), held, probe_ids, empty.astype(bool), empty.astype(int), empty, empty)
        d = enc.matcher.distances(enc.vectors[probe_rows], enc.vectors[gallery_rows])
        order = np.argsort(d, axis=1, kind="stable")
        mated = np.array([who not in held_set for who in probe_ids], dtype=bool)
        ranked_ids = gallery_ids[order]
        hit = ranked_ids == probe_ids[:, None]
        rank = np.where(hit.any(1), hit.argmax(1) + 1, 0)
        rows = np.arange(len(probe_ids))
        mate_d = np.where(rank >= 1, d[rows, order[rows, np.maximum(rank - 1, 0)]], np.nan)
        return cls(len(gallery_rows), held, probe_ids, mated, rank, mate_d, d.min(axis=1))

    def subset(self, keep: np.ndarray) -> Searches:
        return Searches(
            self.gallery_size,
            self.held_out,
            self.identities[keep],
            self.mated[keep],
            self.mate_rank[keep],
            self.mate_distance[keep],
            self.nearest[keep],
            self.candidates,
        )

    @property
    def nonmated_nearest(self) -> np.ndarray:
        return np.sort(self.nearest[~self.mated])

    def misses(self, t: float) -> int:
        """Mated searches whose mate is not among the candidates below the threshold."""
        m = self.mated
        found = (self.mate_rank[m] >= 1) & (self.mate_rank[m] <= self.candidates) & (self.mate_distance[m] < t)
        return int((~found).sum())

    def false_alarms(self, t: float) -> int:
        """Non-mated searches with any candidate below the threshold."""
        return int((self.nearest[~self.mated] < t).sum())

    def threshold_for_fpir(self, target: float) -> tuple[float | None, int]:
        nm = self.nonmated_nearest
        allowed = math.floor(target * len(nm) + 1e-9)
        if not len(nm):
            return None, 0
        return (float(nm[allowed]) if allowed < len(nm) else float(np.nextafter(nm[-1], np.inf))), allowed

    def fnir_at_fpir(self, target: float) -> dict[str, Any]:
        n_nm, n_m = int((~self.mated).sum()), int(self.mated.sum())
        t, allowed = self.threshold_for_fpir(target)
        out: dict[str, Any] = {"fpir_target": target, "nonmated_searches": n_nm, "false_alarms_allowed": allowed}
        if t is None or not n_m:
            return out | {
                "fnir": None,
                "threshold": None,
                "fpir": None,
                "estimable": False,
                "note": "no mated or no non-mated searches: raise or lower --holdout",
            }
        out |= {
            "fnir": self.misses(t) / n_m,
            "threshold": t,
            "fpir": self.false_alarms(t) / n_nm,
            "estimable": allowed >= 1,
        }
        if allowed < 1:
            out["note"] = (
                f"{n_nm:,} non-mated searches are too few to estimate FPIR {target:g} (at least "
                f"{math.ceil(1 / target):,} are needed): the figure is at FPIR 0, the smallest non-mated "
                "distance"
            )
        return out

    def rank1(self) -> dict[str, Any]:
        m = self.mated
        return rate(int((self.mate_rank[m] == 1).sum()), int(m.sum()), "hits")

    def at(self, t: float) -> dict[str, Any]:
        return {
            "threshold": t,
            "fnir": rate(self.misses(t), int(self.mated.sum())),
            "fpir": rate(self.false_alarms(t), int((~self.mated).sum())),
        }


@dataclass
class MatcherResult:
    """One matcher's figures: the JSON-ready `report` (to which a run adds its per-group figures and any
    calibration) and the arrays behind it."""

    enc: Encoded
    scores: Scores
    searches: Searches
    threshold: float
    report: dict[str, Any]


def measure(enc: Encoded, *, threshold: float, holdout: float = HOLDOUT, seed: int = SEED) -> MatcherResult:
    """Every figure for one matcher, as a JSON-ready dict (`report`) and the arrays behind it."""
    m = enc.matcher
    scores = Scores.of(enc.vectors, enc.identities, m.distances) if len(enc.paths) else Scores(np.zeros(0), np.zeros(0))
    searches = Searches.of(enc, holdout, seed)
    report = {
        "matcher": m.name,
        "model_id": m.model_id,
        "distance": m.distance,
        "acquisition": {
            "photos": enc.total,
            "acquired": len(enc.paths),
            "failed": len(enc.failures),
            "fta": rate(len(enc.failures), enc.total),
            "failures": enc.failures,
        },
        "verification": {
            "genuine": summary(scores.genuine),
            "impostor": summary(scores.impostor),
            "eer": scores.eer(),
            "fnmr_at_fmr": [scores.fnmr_at_fmr(a) for a in FMR_TARGETS],
            "operating": scores.at(threshold),
            "curve": scores.grid(),
        },
        "identification": {
            "gallery_identities": searches.gallery_size,
            "held_out_identities": searches.held_out,
            "mated_searches": int(searches.mated.sum()),
            "nonmated_searches": int((~searches.mated).sum()),
            "candidate_list": searches.candidates,
            "rank1": searches.rank1(),
            "fnir_at_fpir": [searches.fnir_at_fpir(b) for b in FPIR_TARGETS],
            "operating": searches.at(threshold),
        },
    }
    return MatcherResult(enc, scores, searches, threshold, report)
