"""`triage evaluate`: how accurate the matcher is on labelled photos, per threshold and per group."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from triage.cli.common import (
    ForceOpt,
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    ThresholdOpt,
    WorkersOpt,
    emit,
    home_path,
    officer_of,
    open_store,
    out,
    progress_bar,
    training_banner,
    warn,
)
from triage.errors import UsageError
from triage.files import check_output

if TYPE_CHECKING:
    from triage.evaluation.datasets import Dataset
    from triage.evaluation.runs import Evaluation

FAILURES_SHOWN = 10


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.3g}%"


def dist(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def count(n: int) -> str:
    return f"{n:,}"


def ci(r: dict[str, Any]) -> str:
    lo, hi = r["ci95"]
    return "" if lo is None else f" [{pct(lo)}–{pct(hi)}]"


def evaluate(
    dataset: Path | None = typer.Argument(None, help="Folder of labelled photos: DATASET/<identity>/<photo>."),
    csv_file: Path | None = typer.Option(None, "--csv", help="CSV with photo and identity columns, instead."),
    fixture: str | None = typer.Option(None, "--fixture", help="An installed data set: orl (AT&T/ORL faces)."),
    description: str | None = typer.Option(
        None, "--description", help="What the data set is, for the report and the calibration file."
    ),
    matcher: list[str] = typer.Option(
        [],
        "--matcher",
        help="Matcher to measure: dlib, sface, fused or a supplied "
        "model (repeatable; default: the home's, beside the models it fuses).",
    ),
    threshold: ThresholdOpt = None,
    holdout: float | None = typer.Option(
        None,
        "--holdout",
        show_default=False,
        help="Share of identities kept out of the 1:N gallery as non-mated searches (default 0.25).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", show_default=False, help="Seed that picks the held-out identities (default 19795, fixed)."
    ),
    groups: Path | None = typer.Option(None, "--groups", help="CSV: identity, then label columns (sex, age band ...)."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a DET curve to this PNG."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Write the threshold that meets --target-fpir."),
    target_fpir: float | None = typer.Option(
        None,
        "--target-fpir",
        show_default=False,
        help="False positive identification rate to calibrate for (default 0.001).",
    ),
    calibration_file: Path | None = typer.Option(
        None, "--calibration-file", help="Write the calibration here (default: the home's models/)."
    ),
    cache: Path | None = typer.Option(None, "--cache", help="Template cache file (default: in the home, sealed)."),
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure the matcher on labelled photos: FMR and FNMR over thresholds, EER, FNMR at FMR 1e-3 and 1e-4, 1:N rank-1 rate and FNIR at FPIR 0.003, failures to acquire, and per-group rates with --groups.

    Templates are cached in the home, sealed under its key, so a second run is quick. A calibration written to the home's models/ overrides the shipped threshold for captures in that home.

    Examples:

      triage evaluate --fixture orl --plot det.png

      triage evaluate photos/ --groups groups.csv --json

      triage evaluate --csv site-photos.csv --description "Dover, 2026 test set" --calibrate --target-fpir 0.001
    """
    from triage.evaluation import calibration, metrics, runs

    if sum(x is not None for x in (dataset, csv_file, fixture)) != 1:
        raise UsageError("give exactly one of DATASET (a folder), --csv FILE or --fixture orl")
    if (calibration_file is not None or target_fpir is not None) and not calibrate:
        raise UsageError("--calibration-file and --target-fpir go with --calibrate")
    root = home_path(home)
    for flag, path in (("--plot", plot), ("--calibration-file", calibration_file)):
        if path is not None:
            check_output(path, home=root, force=force, flag=flag)
    if cache is not None:  # a cache is read and kept up to date where it is, but never inside the home
        check_output(cache, home=root, force=True, flag="--cache")
    store = open_store(home)
    who = officer_of(store, officer)
    data = _dataset(dataset, csv_file, fixture, description)
    if description and fixture:
        data.description = description
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with progress_bar(*columns) as bar:
        task = bar.add_task("encoding photos", total=len(data.samples))
        result = runs.run(
            store,
            data,
            officer=who,
            matcher_names=matcher or None,
            threshold=threshold,
            groups=groups,
            cache_path=cache,
            workers=workers,
            plot=plot,
            holdout=metrics.HOLDOUT if holdout is None else holdout,
            seed=metrics.SEED if seed is None else seed,
            target_fpir=(calibration.TARGET_FPIR if target_fpir is None else target_fpir) if calibrate else None,
            calibration_file=calibration_file,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    store.close()

    def show(evaluation: Evaluation) -> None:
        training_banner(store)
        render(evaluation)

    emit(result, json_out, show)


def _dataset(dataset: Path | None, csv_file: Path | None, fixture: str | None, description: str | None) -> Dataset:
    from triage.evaluation import datasets

    if fixture is not None:
        return datasets.fixture(fixture)
    if csv_file is not None:
        return datasets.from_csv(csv_file, description)
    if dataset is not None:
        return datasets.from_folder(dataset, description)
    raise UsageError("give exactly one of DATASET (a folder), --csv FILE or --fixture orl")


def render(result: Evaluation) -> None:
    d, c = result.dataset, result.cache
    out.print(
        f"[bold]{escape(d.description)}[/]: {count(len(d.samples))} photos of {count(len(d.identities))} identities; "
        f"{count(c['from_cache'])} from the cache, {count(c['encoded'])} encoded, {result.seconds} s"
    )
    if d.skipped:
        out.print(
            f"{count(len(d.skipped))} file(s) not taken as photos: " + ", ".join(d.skipped[:3]),
            markup=False,
        )
    if result.copies:
        across = sum(len(c["identities"]) > 1 for c in result.copies)
        warn(
            f"{count(len(result.copies))} photo(s) are in the data set more than once as identical files, "
            f"{count(across)} of them under different identities (first: {', '.join(result.copies[0]['photos'])}). "
            "Each copy is a pair at distance 0: a genuine pair that flatters FNMR under one identity, a false "
            "match under two. Remove the copies for rates that mean something."
        )
    if len(result.matchers) > 1:
        _render_side_by_side(result.matchers)
    for m in result.matchers:
        _render_matcher(m, result)
    if result.plotted:
        out.print(f"DET curve written to:\n{result.plotted}", markup=False)
    elif result.plot is not None:
        warn("no DET curve was written: no matcher has both genuine and impostor comparisons")


def _render_side_by_side(matchers: list[dict[str, Any]]) -> None:
    """One row per matcher on the same photos: the figures a choice between them rests on."""
    t = Table(
        "matcher",
        "failure to acquire",
        "EER",
        *(f"FNMR at FMR {pct(r['fmr_target'])}" for r in matchers[0]["verification"]["fnmr_at_fmr"]),
        "rank-1",
        "threshold in force",
        title="Side by side, on the same photos",
        title_justify="left",
    )
    for m in matchers:
        v = m["verification"]
        t.add_row(
            Text(f"{m['matcher']} ({m['model_id']})"),
            f"{count(m['acquisition']['failed'])} of {count(m['acquisition']['photos'])}",
            pct(v["eer"]["rate"]),
            *(pct(r["fnmr"]) if r["estimable"] else "not estimable" for r in v["fnmr_at_fmr"]),
            pct(m["identification"]["rank1"]["rate"]),
            dist(v["operating"]["threshold"]),
        )
    out.print(t)


def _render_matcher(m: dict[str, Any], result: Evaluation) -> None:
    a, v, i = m["acquisition"], m["verification"], m["identification"]
    op, iop = v["operating"], i["operating"]
    t = Table(
        "measure",
        "value",
        title=escape(f"{m['matcher']} ({m['model_id']}, {m['distance']} distance)"),
        title_justify="left",
    )
    t.add_row(
        "failure to acquire (FTA)",
        f"{count(a['failed'])} of {count(a['photos'])} photos = {pct(a['fta']['rate'])}" + ci(a["fta"]),
    )
    t.add_row("genuine / impostor comparisons", f"{count(v['genuine']['count'])} / {count(v['impostor']['count'])}")
    eer = v["eer"]
    t.add_row("equal error rate (EER)", f"{pct(eer['rate'])} at threshold {dist(eer['threshold'])}")
    for row in v["fnmr_at_fmr"]:
        value = (
            f"{pct(row['fnmr'])} at threshold {dist(row['threshold'])} (FMR {pct(row['fmr'])})"
            if row["estimable"]
            else "not estimable"
        )
        t.add_row(f"FNMR at FMR = {pct(row['fmr_target'])}", value + (f" — {row['note']}" if "note" in row else ""))
    t.add_row(
        f"at the operating threshold {dist(op['threshold'])}",
        f"FMR {pct(op['fmr']['rate'])}{ci(op['fmr'])}, FNMR {pct(op['fnmr']['rate'])}{ci(op['fnmr'])}",
    )
    t.add_row(
        "1:N gallery",
        f"{count(i['gallery_identities'])} identities, one photo each; "
        f"{count(i['mated_searches'])} mated and {count(i['nonmated_searches'])} non-mated searches "
        f"({count(len(i['held_out_identities']))} identities held out, holdout {pct(result.holdout)}, "
        f"seed {result.seed})",
    )
    t.add_row("rank-1 identification rate", f"{pct(i['rank1']['rate'])}{ci(i['rank1'])}")
    for row in i["fnir_at_fpir"]:
        value = (
            f"{pct(row['fnir'])} at threshold {dist(row['threshold'])} (FPIR {pct(row['fpir'])})"
            if row["fnir"] is not None
            else "n/a"
        )
        t.add_row(
            f"FNIR at FPIR = {pct(row['fpir_target'])} (candidate list {i['candidate_list']})",
            value + (f" — {row['note']}" if "note" in row else ""),
        )
    t.add_row(
        f"1:N at the operating threshold {dist(iop['threshold'])}",
        f"FNIR {pct(iop['fnir']['rate'])}{ci(iop['fnir'])}, FPIR {pct(iop['fpir']['rate'])}{ci(iop['fpir'])}",
    )
    out.print(t)

    stats = ("count", "mean", "std", "min", "p1", "p5", "median", "p95", "p99", "max")
    dt_ = Table("distance", "genuine", "impostor", title="Distance distributions", title_justify="left")
    for k in stats:
        dt_.add_row(
            k, *[count(v[kind]["count"]) if k == "count" else dist(v[kind].get(k)) for kind in ("genuine", "impostor")]
        )
    out.print(dt_)

    if v["curve"]:
        ct = Table("threshold", "FMR", "FNMR", title="FMR and FNMR over thresholds", title_justify="left")
        for row in v["curve"]:
            ct.add_row(dist(row["threshold"]), pct(row["fmr"]), pct(row["fnmr"]))
        out.print(ct)

    if a["failures"]:
        ft = Table("photo", "identity", "reason", title="Failures to acquire", title_justify="left")
        for f in a["failures"][:FAILURES_SHOWN]:
            ft.add_row(Text(str(Path(*Path(f["photo"]).parts[-2:]))), Text(f["identity"]), Text(f["reason"]))
        out.print(ft)
        if a["failed"] > FAILURES_SHOWN:
            out.print(f"(all {count(a['failed'])} failures are listed with --json)")

    if "fairness" in m:
        _render_fairness(m["fairness"])
    if "calibration" in m:
        c = m["calibration"]
        out.print(
            f"[bold]Calibration[/]: threshold {c['threshold']} "
            f"(was {c['previous_threshold'] if c['previous_threshold'] is not None else 'the shipped one'}), "
            f"FPIR {pct(c['fpir'])} over {count(c['nonmated_searches'])} non-mated searches "
            f"(target {pct(c['target_fpir'])}), FNIR {pct(c['fnir'])}; written to:\n{escape(str(c['file']))}"
        )
        if not c["estimable"]:
            warn(
                f"{count(c['nonmated_searches'])} non-mated searches cannot show an FPIR as low as "
                f"{pct(c['target_fpir'])}; use a larger data set before relying on this threshold"
            )


def _render_fairness(f: dict[str, Any]) -> None:
    for col in f["columns"]:
        t = Table(
            "group",
            "measure",
            "rate",
            "errors / trials",
            "95% CI",
            title=f"By {escape(col['column'])} at threshold {dist(f['threshold'])}: overall FMR {pct(f['overall_fmr'])}; "
            "a group's FMR uses impostor pairs within the group",
            title_justify="left",
        )
        for g in col["groups"]:
            t.add_row(Text(g["label"]), "people", f"{count(g['identities'])} identities, {count(g['photos'])} photos")
            for key in ("fta", "fmr", "fnmr", "fpir", "fnir"):
                r = g[key]
                t.add_row(
                    "", key.upper(), pct(r["rate"]), f"{count(r['errors'])} / {count(r['trials'])}", ci(r).strip(" []")
                )
            ratio = "n/a" if g["fmr_ratio"] is None else f"{g['fmr_ratio']:.2f} x overall"
            t.add_row("", "FMR ratio", ratio + (" [bold red]FLAG[/]" if g["flagged"] else ""), end_section=True)
        out.print(t)
        if col["unlabelled_identities"]:
            out.print(
                f"{count(len(col['unlabelled_identities']))} identities have no {col['column']} label", markup=False
            )
    if f["identities_not_in_data"]:
        out.print(f"{count(len(f['identities_not_in_data']))} labelled identities are not in the data set")
    out.print(f"FLAG: {f['flag_rule']}")
