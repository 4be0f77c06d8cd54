"""Thresholds on the matcher's scale, through the real CLI on a fused home: a --threshold meant for
another matcher (0.45, dlib's scale) is refused naming the scale and the calibrated threshold, before
anything is stored; a threshold on the scale that is not the calibrated one is shown as an override in
every view of that search, and recorded with it."""

from __future__ import annotations

import json
import sqlite3

from conftest import orl
from triage.errors import ExitStatus
from triage.faces import fusion

OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")
PROBE_OVERRIDE = ("--accept-low-quality", "--reason", "fixture photos are 92x112 px")
CALIBRATED = fusion.load().threshold  # the shipped fused threshold, 10.9018


def _enrol(cli) -> None:
    cli(
        "watchlist",
        "add",
        orl(1, 1),
        "--ref",
        "WL-0012",
        "--name",
        "Karwan HAMA",
        "--category",
        "facilitator",
        "--reason",
        "Suspected pilot for a smuggling network",
        "--authorised-by",
        "DS 4411 Clarke",
        "--review-date",
        "2099-05-01",
        *OVERRIDE,
    )


def _count(home, table: str) -> int:
    db = sqlite3.connect(home / "triage.db")
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


def test_a_threshold_off_the_fused_scale_is_refused_with_the_scale(cli, home, tmp_path):
    _enrol(cli)
    arrival = cli.json("capture", "--photo", orl(1, 2), *PROBE_OVERRIDE)["arrival_id"]
    searches = _count(home, "searches")

    res = cli("match", arrival, "--threshold", "0.45", code=int(ExitStatus.BAD_INPUT))
    assert "fused distances run 0-23" in res.stderr
    assert f"the calibrated threshold is {CALIBRATED:.2f}" in res.stderr
    assert "triage models list" in res.stderr
    assert _count(home, "searches") == searches, "a refused search records nothing"

    arrivals = _count(home, "arrivals")
    res = cli("capture", "--photo", orl(1, 3), "--threshold", "0.45", *PROBE_OVERRIDE, code=int(ExitStatus.BAD_INPUT))
    assert "fused distances run 0-23" in res.stderr
    manifest = tmp_path / "boat" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text(f"photo,surname\n{orl(1, 4)},Hussein\n", encoding="utf-8")
    res = cli("capture-batch", manifest, "--threshold", "40", code=int(ExitStatus.BAD_INPUT))
    assert "makes every face a candidate" in res.stderr
    assert _count(home, "arrivals") == arrivals, "nothing landed with a threshold off the scale"

    # On the scale of the matcher it is meant for, the same figure is a threshold like any other.
    assert cli.json("match", arrival, "--threshold", "0.45", "--matcher", "dlib")["threshold"] == 0.45


def test_models_list_shows_each_matchers_scale(cli, home):
    listed = {m["name"]: m for m in cli.json("models", "list")["matchers"]}
    assert listed["dlib"]["scale"] == [0.0, 1.5] and listed["sface"]["scale"] == [0.0, 2.0]
    low, high = listed["fused"]["plausible_thresholds"]
    assert 2 < low < 3 and 20 < high < 30 and low < CALIBRATED < high
    assert "(2.3-23.2)" in cli("models", "list").stdout


def test_an_override_is_shown_beside_every_view_of_its_search(cli, home):
    _enrol(cli)
    shown = f"threshold 12.00 (override; calibrated {CALIBRATED:.2f})"
    captured = cli("capture", "--photo", orl(1, 2), "--threshold", "12", *PROBE_OVERRIDE)
    assert shown in captured.stdout
    arrival = cli.json("arrivals", "list")[0]["arrival_id"]

    again = cli.json("match", arrival, "--threshold", "12")
    assert (again["threshold"], again["calibrated_threshold"]) == (12.0, CALIBRATED)
    assert shown in cli("match", arrival, "--threshold", "12").stdout
    assert shown in cli("arrivals", "show", arrival).stdout
    assert cli.json("arrivals", "show", arrival)["search"]["calibrated_threshold"] == CALIBRATED
    assert shown in cli("review", arrival).stdout

    reasons = [e["reason"] for e in cli.json("audit", "show") if e["action"] in ("capture", "search")]
    assert f"threshold override 12 on the fused matcher (calibrated {CALIBRATED:g})" in reasons

    # The drafts an officer submits carry it too: the candidate was judged against 12, not the calibrated one.
    purpose = "To establish whether this arrival is wanted on warrant"
    draft = cli.json("pnd", "draft", arrival, "--purpose", purpose, "--kind", "face")
    (entry,) = [c for c in draft["candidates"] if c["ref"] == "WL-0012"]
    assert (entry["threshold"], entry["calibrated_threshold"]) == (12.0, CALIBRATED)
    assert (
        f"threshold 12.00, an override: calibrated {CALIBRATED:.2f}"
        in cli("pnd", "draft", arrival, "--purpose", purpose, "--kind", "face").stdout
    )

    # The calibrated threshold again: no override, and nothing said about one.
    cli("match", arrival)
    for view in (cli("arrivals", "show", arrival).stdout, cli("review", arrival).stdout):
        assert "(override;" not in view
    assert json.loads(cli("match", arrival, "--json").stdout)["calibrated_threshold"] == CALIBRATED


def test_a_search_with_a_threshold_of_its_own_never_takes_an_alert_out_of_the_queue(cli, wl_home):
    """A stricter override finds nothing below it; the alert the calibrated search raised stays pending."""
    arrival = cli.json("capture", "--photo", orl(7, 4))["arrival_id"]
    queued = cli.json("review", "--pending")
    assert [c["ref"] for a in queued if a["arrival_id"] == arrival for c in a["candidates"]] == ["WL-007"]
    strict = cli.json("match", arrival, "--threshold", "0.2")
    assert not any(c["below_threshold"] for c in strict["candidates"])
    again = cli.json("review", "--pending")
    assert [c["ref"] for a in again if a["arrival_id"] == arrival for c in a["candidates"]] == ["WL-007"]
