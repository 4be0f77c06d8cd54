"""Matchers: which models a search compares faces with, and the threshold candidates are judged against
(the home's own calibration, else the shipped file in models/, else a user's model's manifest). `dlib` and
`sface` use one model each, `fused` several (fusion.py), and a model a user supplies is a matcher of its
own name. Every search and every candidate records the matcher, the model ids and the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from triage.errors import BadInput, ModelMissing, NotFound, UsageError
from triage.faces import encoders, fusion, matching
from triage.faces.fusion import FUSED, Fusion
from triage.faces.matching import Candidate, Gallery
from triage.store import settings
from triage.store.rows import Store

# The top of the Euclidean distances each kind of template gives. L2-normalised embeddings (SFace, a
# supplied model whose manifest says cosine) lie on the unit sphere, so two of them are at most 2 apart.
# dlib's descriptors are not normalised: their norms are about 1.4 and two faces of different people
# are about 0.76 apart (ORL's impostor pairs, models/fused.json), seldom more than 1.2, never near 2.8.
NORMALISED_TOP = 2.0
DLIB_TOP = 1.5
PLAUSIBLE_FLOOR = 10  # a threshold below top / 10 finds only the same photo twice


def top_distance(model_id: str, home: Path | str | None) -> float | None:
    """The largest distance a model's templates give in practice, or None when its scale is unknown."""
    if model_id == encoders.DLIB:
        return DLIB_TOP
    try:
        manifest = encoders.manifest(model_id, home)
    except NotFound:
        return None
    return NORMALISED_TOP if manifest is not None and manifest.distance == "cosine" else None


def _figure(value: float) -> str:
    """A bound of a scale as a person reads it: two significant figures (23, 2.3, 0.15)."""
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


@dataclass(frozen=True)
class Matcher:
    name: str
    model_ids: tuple[str, ...]
    threshold: float
    calibration: str  # where the threshold comes from
    fusion: Fusion | None = None
    home: Path | str | None = None  # where a model a user supplied is found

    @property
    def model_id(self) -> str:
        """The id searches and candidates record: the model's, or `fused` for the fused score."""
        return FUSED if self.fusion else self.model_ids[0]

    @property
    def distance(self) -> str:
        return "fused" if self.fusion else "euclidean"

    @property
    def scale(self) -> float | None:
        """The largest distance this matcher gives in practice (its distances run from 0 to this), or None
        when nothing says (a model a user supplied whose embeddings are not normalised)."""
        tops = [top_distance(mid, self.home) for mid in self.model_ids]
        if any(t is None for t in tops):
            return None
        if not self.fusion:
            return tops[0]
        # the fused distance of two faces each model puts as far apart as it ever does
        return self.fusion.score(dict(zip(self.model_ids, tops)))

    def plausible(self) -> tuple[float, float]:
        """The thresholds that can make sense on this matcher's scale: from a tenth of its distances' range
        (below that only the same photo twice is a candidate) to the top of the range (above it every face
        is one). A matcher whose range is unknown allows a tenth to ten times its calibrated threshold."""
        top = self.scale
        if top is None:
            return self.threshold / 10, self.threshold * 10
        return top / PLAUSIBLE_FLOOR, top

    def describe_scale(self) -> str:
        """The scale in words, e.g. `fused distances run 0-23; the calibrated threshold is 10.90`."""
        top = self.scale
        spread = (
            f"{self.name} distances run 0-{_figure(top)}"
            if top is not None
            else f"{self.name} distances have no known top"
        )
        return f"{spread}; the calibrated threshold is {self.threshold:.2f}"

    def checked(self, threshold: float) -> float:
        """A threshold given on the command line, refused unless it is on this matcher's scale: a figure
        meant for another matcher (0.45 for dlib, given to the fused matcher whose threshold is 10.90)
        would make every candidate 'above' and hide an alert that should be reviewed."""
        th = float(threshold)
        lo, hi = self.plausible()
        if not (math.isfinite(th) and lo <= th <= hi):
            beyond = (
                f"a threshold above {_figure(hi)} makes every face a candidate"
                if th > hi
                else f"a threshold below {_figure(lo)} finds only the same photo twice"
            )
            raise BadInput(
                f"--threshold {threshold:g} is not on the {self.name} matcher's scale: {self.describe_scale()} "
                f"({beyond})",
                hint="`triage models list` shows each matcher's scale and threshold; "
                "--matcher chooses another matcher for this command",
            )
        return th

    def search(
        self,
        galleries: dict[str, Gallery],
        queries: dict[str, npt.NDArray[np.float32]],
        *,
        top_k: int,
        threshold: float,
        exclude: Collection[str] = frozenset(),
        approximate: bool | None = None,
    ) -> list[Candidate]:
        """Top-k owners of one kind, best first; `galleries` holds one gallery per model id."""
        if self.fusion:
            return fusion.search(
                galleries,
                queries,
                self.fusion,
                top_k=top_k,
                threshold=threshold,
                exclude=exclude,
                approximate=approximate,
            )
        (model_id,) = self.model_ids
        found = galleries[model_id].search(
            queries[model_id], top_k=top_k, threshold=threshold, exclude=exclude, approximate=approximate
        )
        for c in found:
            c.matcher, c.scores = self.name, {model_id: c.distance}
        return found


def names(home: Path | str | None) -> list[str]:
    return ["dlib", "sface", FUSED, *encoders.user_models(home)]


def side_by_side(name: str, home: Path | str | None) -> list[str]:
    """A matcher and, when it combines models, the matcher of each of them first: what an evaluation
    measures by default, so a fused matcher is always seen beside its parts."""
    m = get(name, home)
    if not m.fusion:
        return [m.name]
    by_id = {mid: n for n, mid in encoders.BUILTIN.items()} | {
        u.model_id: n for n, u in encoders.user_models(home).items()
    }
    return [*(by_id[mid] for mid in m.model_ids), m.name]


def _folded(name: str, users: Collection[str]) -> str:
    """A matcher's name as typed, as it is known: `DLIB` names `dlib`, a supplied model's name is read in any
    case when only one model has it so; a name spelled exactly is taken as it is."""
    if name in encoders.RESERVED or name in users:
        return name
    if name.lower() in encoders.RESERVED:
        return name.lower()
    folded = [u for u in users if u.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else name


def folded_name(name: str, home: Path | str | None) -> str:
    """A matcher's name as typed (`DLIB`, `Fused`), as this home knows it (`_folded`)."""
    return _folded(name, encoders.user_models(home))


def get(name: str, home: Path | str | None, *, named_by: str = "--matcher") -> Matcher:
    """A matcher by name (in any case: `_folded`), with its threshold resolved for this home. `named_by` is how
    the name was given, for the refusal (an option, or `models use`'s argument)."""
    if name not in encoders.RESERVED and name.lower() in encoders.RESERVED:
        # A supplied model may be named so (`SFace`): it is that model, not the built-in, when it is there.
        name = name if name in encoders.user_models(home) else name.lower()
    if name == FUSED:
        f = fusion.load(home)
        return Matcher(FUSED, f.model_ids, f.threshold, f.file, f, home)
    if name in encoders.BUILTIN:
        cal = matching.calibration(encoders.BUILTIN[name], home)
        return Matcher(name, (cal.model_id,), cal.threshold, cal.file, home=home)
    user = encoders.user_models(home)
    name = _folded(name, user)
    if name not in user:
        adopted = settings.recorded(home) if home else None
        if adopted is not None and name in adopted.models:  # the home's own model, gone from its folder
            raise ModelMissing(
                f"model {name}, which this home adopted with `triage models use`, is not in any models folder "
                f"({', '.join(str(p) for p in encoders.model_folders(home))})",
                hint=f"put its folder (manifest.json and its .onnx file) back in {Path(home or '') / 'models'}, "
                "or choose another matcher with `triage models use`",
            )
        raise UsageError(f"{named_by} {name!r}: choose from {', '.join(names(home))}")
    m = user[name]
    try:
        cal = matching.calibration(m.model_id, home)
        return Matcher(name, (m.model_id,), cal.threshold, cal.file, home=home)
    except NotFound:  # not calibrated yet: the manifest's threshold
        return Matcher(name, (m.model_id,), m.search_threshold, str(m.path.parent / encoders.onnx.MANIFEST), home=home)


def models_for(store: Store, *names_: str | None) -> tuple[str, ...]:
    """The models a photo in this home is encoded with: those of the home's matcher, so every matcher a
    home uses finds templates of every photo, and those of the matchers named for this command."""
    ids: list[str] = []
    for name in (store.config.matcher, *names_):
        if name:
            ids += get(name, store.home).model_ids
    return tuple(dict.fromkeys(ids))


def pipeline_for(store: Store, *names_: str | None) -> encoders.Pipeline:
    return encoders.pipeline(models_for(store, *names_), store.home)


def coverage(store: Store, model_ids: tuple[str, ...]) -> list[str]:
    """Warnings for galleries where a model has fewer templates than another model has: photos enrolled or
    captured before the model was in use, found without the store's reading any template."""
    known = {r[0] for r in store.db.execute("SELECT model_id FROM template_sets")} | set(model_ids)
    warnings = []
    for kind, owner_kind in (("watchlist", "subject"), ("earlier arrivals", "arrival")):
        sizes = {mid: store.template_set(mid, owner_kind).size for mid in known}
        most = max(sizes.values())
        for mid in model_ids:
            if sizes[mid] < most:
                warnings.append(
                    f"the {kind} has {most - sizes[mid]} photo template(s) fewer for {mid} than for "
                    f"another model, so some are not searched by it; run `triage models reindex "
                    f"--model {mid}`"
                )
    return warnings


def require(
    vectors: dict[str, npt.NDArray[np.float32]], matcher: Matcher, what: str
) -> dict[str, npt.NDArray[np.float32]]:
    missing = [mid for mid in matcher.model_ids if mid not in vectors]
    if missing:
        raise NotFound(
            f"{what} has no {missing[0]} template (its photo was purged, or it was captured before the "
            f"model was in use: `triage models reindex --model {missing[0]}`)"
        )
    return {mid: vectors[mid] for mid in matcher.model_ids}


def set_default(store: Store, name: str, *, officer: str) -> dict[str, Any]:
    """Make `name` the home's matcher (its settings, then config.json), audited; say which templates it
    still lacks."""
    users = encoders.user_models(store.home, adopting=True) if name not in encoders.RESERVED else {}
    name = _folded(name, users)
    supplied = users.get(name)
    if supplied is None:
        get(name, store.home, named_by="matcher")  # a built-in matcher, or refused naming the choices
    else:  # tried on known pairs before it is adopted, not at the next capture
        encoders.self_test(supplied)
    before = store.config.matcher
    with store.transaction():  # the config is written last: if that fails, the audit event rolls back
        reason = f"default matcher {before} -> {name}"
        if supplied is not None:  # its manifest (which pins its file) is adopted: no other is used under its name
            settings.record_model(store, name, supplied.sha256, officer=officer)
            reason += f", manifest.json SHA-256 {supplied.sha256[:12]}, model file {supplied.file.sha256[:12]}"
        store.audit("models-use", officer, records=[f"matcher:{name}"], reason=reason)
        settings.change(store, officer=officer, matcher=name)
    m = get(name, store.home)
    return {
        "matcher": m.name,
        "previous": before,
        "model_ids": list(m.model_ids),
        "threshold": m.threshold,
        "warnings": coverage(store, m.model_ids),
    }
