"""Error rates per demographic group at the operating threshold, so a difference between groups is
seen before the matcher is used on people (*Bridges* found the absence of such testing unlawful; NIST
found false positive rates differing by 10 to 100 times between groups in many algorithms).

A group's false match rate is measured on impostor pairs whose two people are both in the group: a
search is most likely to meet look-alikes from the searched person's own group, which is where
demographic differences in false matches show (as in NIST's demographic study, NISTIR 8280). A group
is flagged when that rate is more than twice the overall false match rate of the data set.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from triage.errors import BadInput
from triage.evaluation.metrics import MatcherResult, Scores, rate
from triage.intake import csvtext

FLAG_RATIO = 2.0


def load_groups(path: Path | str) -> dict[str, dict[str, str]]:
    """`identity` plus one column per kind of label (sex, age band, skin tone, region ...):
    {column: {identity: label}}. An empty cell leaves that identity unlabelled for that column."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"--groups {path}: no such file")
    try:
        with csvtext.text(path) as f:
            reader = csv.DictReader(f)
            columns = [(c or "").strip() for c in reader.fieldnames or []]
            if "identity" not in columns or len(columns) < 2:
                raise BadInput(
                    f"{path}: the header must be identity followed by at least one label column, e.g. identity,sex,age_band"
                )
            labels: dict[str, dict[str, str]] = {c: {} for c in columns if c != "identity"}
            seen = set()
            for line, row in enumerate(reader, 2):
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                who = row.get("identity", "")
                if not who:
                    raise BadInput(f"{path} line {line}: the identity is empty")
                if who in seen:
                    raise BadInput(f"{path} line {line}: identity {who!r} is listed twice")
                seen.add(who)
                for column in labels:
                    if row.get(column):
                        labels[column][who] = row[column]
    except csv.Error as e:  # a cell over the csv module's limit, or a stray quote at the end
        raise BadInput(f"{path}: not a readable CSV file ({e})") from None
    return labels


def report(result: MatcherResult, groups: dict[str, dict[str, str]]) -> dict[str, Any]:
    """FTA, FMR, FNMR, FPIR and FNIR per group at the result's threshold, with 95% Wilson intervals."""
    enc, t = result.enc, result.threshold
    present = set(enc.identities) | {f["identity"] for f in enc.failures}
    overall = result.scores.false_matches(t) / len(result.scores.impostor) if len(result.scores.impostor) else None
    labelled = set().union(*(set(g) for g in groups.values())) if groups else set()
    columns: list[dict[str, Any]] = []
    out = {
        "threshold": t,
        "flag_rule": f"FMR more than {FLAG_RATIO:g} x the overall FMR",
        "impostor_pairs": "both people in the group",
        "overall_fmr": overall,
        "identities_not_in_data": sorted(labelled - present),
        "columns": columns,
    }
    for column, labels in groups.items():
        rows = []
        for label in sorted(set(labels.values())):
            members = {who for who, lab in labels.items() if lab == label and who in present}
            if members:
                rows.append(_group(result, label, members, overall))
        columns.append({"column": column, "groups": rows, "unlabelled_identities": sorted(present - set(labels))})
    return out


def _group(result: MatcherResult, label: str, members: set[str], overall: float | None) -> dict[str, Any]:
    enc, t = result.enc, result.threshold
    mask = np.isin(enc.identities, list(members))
    scores = (
        Scores.of(enc.vectors[mask], enc.identities[mask], enc.matcher.distances)
        if mask.any()
        else Scores(np.zeros(0), np.zeros(0))
    )
    failed = sum(f["identity"] in members for f in enc.failures)
    searches = result.searches.subset(np.isin(result.searches.identities, list(members)))
    fmr = rate(scores.false_matches(t), len(scores.impostor))
    at = searches.at(t)
    return {
        "label": label,
        "identities": len(members),
        "photos": int(mask.sum()) + failed,
        "fta": rate(failed, int(mask.sum()) + failed),
        "fmr": fmr,
        "fnmr": rate(scores.false_non_matches(t), len(scores.genuine)),
        "fpir": at["fpir"],
        "fnir": at["fnir"],
        "fmr_ratio": fmr["rate"] / overall if overall and fmr["rate"] is not None else None,
        "flagged": bool(fmr["rate"] is not None and overall is not None and fmr["rate"] > FLAG_RATIO * overall),
    }
