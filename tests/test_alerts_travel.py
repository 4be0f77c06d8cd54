"""Alerts travel with a laptop's batch: its unreviewed watchlist alerts reach the supervisor's import summary and
review queue even when the supervisor holds no watchlist (or another one), a pair of arrivals is one candidate,
a pair decided on the laptop is not queued again, and the same photo captured twice is a duplicate capture."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.cells import cell_len

from conftest import Cli, entries, orl, relocate, signed_in
from triage.cli.common import out

LAPTOP = "Laptop A (device A1A1A1)"


def _capture(cli: Cli, home: Path, photo: Path, surname: str) -> str:
    return cli.json("capture", "--home", home, "--photo", photo, "--surname", surname, "--vessel", "SB-9")["arrival_id"]


def _device(home: Path, device: str, site: str) -> None:
    relocate(home, device=device, site=site)


@pytest.fixture(scope="module")
def day(tmp_path_factory, enrolled_template_home, face_models):
    """Laptop A (with the 20-subject watchlist) captures: an arrival alerting on WL-007 that nobody reviews; a
    repeat pair left undecided; a repeat pair it decides; the same photo twice. Supervisor S holds no watchlist,
    supervisor W holds the same watchlist as the laptop. Built once; tests import into copies."""
    root = tmp_path_factory.mktemp("alerts")
    cli = Cli()
    with signed_in():
        a, s, w = root / "A", root / "S", root / "W"
        shutil.copytree(enrolled_template_home, a)
        _device(a, "A1A1A1", "Dover")
        shutil.copytree(enrolled_template_home, w)
        _device(w, "W2W2W2", "Dover HQ")
        cli("init", "--home", s, "--site", "Dover HQ", "--force-code", "KNT")
        alert = _capture(cli, a, orl(7, 5), "Alert")
        p1 = _capture(cli, a, orl(35, 3), "First")
        p2 = _capture(cli, a, orl(35, 7), "Second")
        r1 = _capture(cli, a, orl(21, 1), "Ali")
        r2 = _capture(cli, a, orl(21, 6), "Karimi")
        cli("review", r2, "--candidate", r1, "--decision", "confirmed", "--reason", "same man, same scar", "--home", a)
        d1 = _capture(cli, a, orl(40, 2), "Once")
        # the same photo saved again under another name (the file itself, landed, is not captured twice)
        d2 = _capture(cli, a, Path(shutil.copy(orl(40, 2), root / "IMG_0040.pgm")), "Twice")
        for home in (s, w):
            key = cli.json("keys", "show", "--home", home)["age_recipient"]
            cli("keys", "recipient", "add", f"Supervisor {home.name}", key, "--home", a)
        landed = cli.json("arrivals", "list", "--home", a)[0]["landed_day"]
        cli("export", "--home", a, "--date", landed, "--out", root / "a.age")
        signer = cli.json("keys", "show", "--home", a)["signing_key"]
        for home in (s, w):
            cli("keys", "trust", "Laptop A", signer, "--home", home)
        return SimpleNamespace(
            root=root, a=a, s=s, w=w, file=root / "a.age", alert=alert, p1=p1, p2=p2, r1=r1, r2=r2, d1=d1, d2=d2
        )


def _home(day, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(getattr(day, name), tmp_path / name))


def _pairs(queue: list[dict]) -> list[frozenset]:
    """Every repeat-arrival candidate in the queue, as the pair of arrivals it links."""
    return [frozenset((p["arrival_id"], c["ref"])) for p in queue for c in p["candidates"] if c["kind"] == "arrival"]


def test_a_laptops_alert_reaches_a_supervisor_with_no_watchlist(cli, day, tmp_path):
    sup = _home(day, "s", tmp_path)
    imported = cli.json("import", day.file, "--home", sup)[0]
    keys = list(imported)
    assert keys.index("watchlist_alerts") < keys.index("repeat_candidates")
    alerts = [(x["arrival_id"], x["ref"]) for x in imported["watchlist_alerts"]]
    assert (day.alert, "WL-007") in alerts
    alert = imported["watchlist_alerts"][alerts.index((day.alert, "WL-007"))]
    assert alert["held"] is False and alert["category"] == "wanted"  # what the laptop recorded
    assert alert["found_by"] == [LAPTOP] and alert["laptop"] == LAPTOP
    assert alert["distance"] < alert["threshold"]

    text = entries(cli("import", day.file, "--home", sup).stdout)  # a second import changes nothing, says the same
    line = next(x for x in text if day.alert in x and "WL-007" in x)
    assert "WATCHLIST ALERT" in line and "(not held in this home)" in line and "[wanted]" in line
    assert LAPTOP in line
    repeats = [i for i, x in enumerate(text) if x.strip().startswith(f"{day.p2}: arrival")]
    assert repeats and text.index(line) < repeats[0], "watchlist alerts first"

    queue = cli.json("review", "--pending", "--home", sup)
    assert queue[0]["arrival_id"] == day.alert, "arrivals with a watchlist alert first"
    [cand] = [c for c in queue[0]["candidates"] if c["kind"] == "watchlist"]
    assert (cand["ref"], cand["held"], cand["found_by"]) == ("WL-007", False, [LAPTOP])
    shown = cli("review", "--pending", "--home", sup).stdout
    assert "WATCHLIST" in shown and day.alert in shown

    report = cli.json("report", "--date", imported["day"], "--format", "text", "--home", sup)
    first = report["awaiting"][0]
    assert first["arrival_id"] == day.alert and first["candidates"][0]["who"] == "not held in this home"
    text = cli("report", "--date", imported["day"], "--format", "text", "--home", sup).stdout
    assert "watchlist WL-007 (not held in this home)" in text and f"found by {LAPTOP}" in text

    # the reviewer sees it beside this home's own search of the arrival
    view = cli.json("review", day.alert, "--home", sup)
    [seen] = [c for c in view["candidates"] if c["ref"] == "WL-007"]
    assert seen["held"] is False and seen["found_by"] == [LAPTOP] and seen["below_threshold"]
    shown = " ".join(cli("review", day.alert, "--candidate", "WL-007", "--home", sup).stdout.split())
    assert f"#{seen['rank']} watchlist WL-007" in shown and "not held in this home" in shown  # the table's number

    # once decided here, it leaves the queue
    cli(
        "review",
        day.alert,
        "--candidate",
        "WL-007",
        "--decision",
        "inconclusive",
        "--reason",
        "photo too small",
        "--home",
        sup,
    )
    assert day.alert not in {p["arrival_id"] for p in cli.json("review", "--pending", "--home", sup)}
    # the supervisor's batch of the day carries that decision, and says so
    to = cli.json("keys", "show", "--home", sup)["age_recipient"]
    said = cli("export", "--home", sup, "--date", imported["day"], "--out", tmp_path / "s.age", "--recipient", to)
    said = " ".join(said.stdout.split())
    assert f"Exported 0 arrival(s) of {imported['day']} and 1 review(s), draft(s) or outcome(s) recorded here" in said


def test_the_import_summary_reads_at_80_columns_with_each_alert_whole(cli, day, tmp_path, monkeypatch):
    """Each entry awaiting review wraps between words, its continuation indented: nothing is cut, and the alert's
    entry keeps its arrival, subject, category and laptop together."""
    sup = _home(day, "s", tmp_path)
    cli("import", day.file, "--home", sup)
    shown = {}
    for width in (80, 1000):  # imported again: the same summary, read at 80 columns and on one line each
        monkeypatch.setattr(out, "width", width)
        shown[width] = cli("import", day.file, "--home", sup).stdout
    narrow = [x for x in shown[80].splitlines() if str(day.file) not in x]  # a path is printed whole
    assert all(cell_len(x) <= 80 for x in narrow), shown[80]
    assert shown[80].split() == shown[1000].split(), "the same words, none broken"
    assert len(shown[80].splitlines()) > len(shown[1000].splitlines())
    alert = next(x for x in entries(shown[80]) if day.alert in x and "WL-007" in x)
    assert alert.startswith("  WATCHLIST ALERT") and all(
        w in alert for w in ("[wanted]", "(not held in this home)", LAPTOP)
    )
    assert alert == next(x for x in shown[1000].splitlines() if day.alert in x and "WL-007" in x)


def test_a_supervisor_with_a_watchlist_says_whose_search_found_the_alert(cli, day, tmp_path):
    sup = _home(day, "w", tmp_path)
    imported = cli.json("import", day.file, "--home", sup)[0]
    alert = next(x for x in imported["watchlist_alerts"] if (x["arrival_id"], x["ref"]) == (day.alert, "WL-007"))
    assert alert["held"] is True and alert["category"] == "wanted"
    assert sorted(alert["found_by"]) == sorted([LAPTOP, "this home"])
    queue = cli.json("review", "--pending", "--home", sup)
    found = [c for p in queue if p["arrival_id"] == day.alert for c in p["candidates"] if c["ref"] == "WL-007"]
    assert len(found) == 1, "one candidate, whoever's search found it"
    # the batch carried no templates: this home searched again from the portrait, and its figure differs; each is
    # shown with whose search it is, in the summary, the queue and the arrival's own view
    figures = {f["found_by"]: f["distance"] for f in alert["figures"]}
    assert set(figures) == {LAPTOP, "this home"} and figures[LAPTOP] != figures["this home"]
    laptop_at, here_at = f"{figures[LAPTOP]:.3f}", f"{figures['this home']:.3f}"
    said = " ".join(cli("import", day.file, "--home", sup).stdout.split())
    assert f"that laptop's search at {laptop_at}" in said and f"this home's search at {here_at}" in said
    assert {f["found_by"]: f["distance"] for f in found[0]["figures"]} == figures
    (seen,) = [c for c in cli.json("review", day.alert, "--home", sup)["candidates"] if c["ref"] == "WL-007"]
    assert seen["distance"] == figures["this home"] and sorted(seen["found_by"]) == sorted(figures)
    assert {f["found_by"]: f["distance"] for f in seen["figures"]} == figures


def test_a_repeat_pair_is_one_candidate_and_a_pair_decided_on_the_laptop_is_not_pending(cli, day, tmp_path):
    sup = _home(day, "s", tmp_path)
    imported = cli.json("import", day.file, "--home", sup)[0]
    # this home searched both arrivals of each pair after both landed: each pair was found both ways here
    for one, other in ((day.p1, day.p2), (day.r1, day.r2)):
        shown = cli.json("arrivals", "show", one, "--home", sup)
        assert any(c["ref"] == other and c["below_threshold"] for c in shown["candidates"]), (one, other)

    queue = cli.json("review", "--pending", "--home", sup)
    pairs = _pairs(queue)
    assert pairs.count(frozenset((day.p1, day.p2))) == 1, "A->B and B->A are one candidate"
    assert [c for p in queue if p["arrival_id"] == day.p2 for c in p["candidates"] if c["ref"] == day.p1]
    assert frozenset((day.r1, day.r2)) not in pairs, "decided on the laptop: not queued again, either way"
    assert len(pairs) == len(set(pairs))
    summary = [frozenset((c["arrival_id"], c["candidate"])) for c in imported["repeat_candidates"]]
    assert summary.count(frozenset((day.p1, day.p2))) == 1 and frozenset((day.r1, day.r2)) not in summary
    # this home's matcher (fused) is not the laptop's (dlib): each search's figure is shown on its own scale
    (repeat,) = [c for c in imported["repeat_candidates"] if {c["arrival_id"], c["candidate"]} == {day.p1, day.p2}]
    figures = {f["found_by"]: f for f in repeat["figures"]}
    assert set(figures) == {LAPTOP, "this home"} and figures[LAPTOP]["threshold"] != figures["this home"]["threshold"]
    said = " ".join(cli("import", day.file, "--home", sup).stdout.split())
    laptop_at = f"{figures[LAPTOP]['distance']:.3f} (threshold {figures[LAPTOP]['threshold']:.2f})"
    assert f"found by the search on {LAPTOP} at {laptop_at} and this home's search at " in said

    # deciding the pair here, on the arrival it is listed under, empties it both ways
    cli("review", day.p2, "--candidate", day.p1, "--decision", "rejected", "--reason", "different ears", "--home", sup)
    assert frozenset((day.p1, day.p2)) not in _pairs(cli.json("review", "--pending", "--home", sup))


def test_the_same_photo_captured_twice_is_a_duplicate_capture_not_a_match(cli, day, tmp_path):
    laptop = cli.json("review", "--pending", "--home", day.a)
    entry = next(p for p in laptop if p["arrival_id"] == day.d2)
    assert [(d["ref"], round(d["distance"], 3)) for d in entry["duplicates"]] == [(day.d1, 0.0)]
    assert day.d1 not in {c["ref"] for c in entry["candidates"]}
    assert "DUPLICATE" in cli("review", "--pending", "--home", day.a).stdout

    sup = _home(day, "s", tmp_path)
    imported = cli.json("import", day.file, "--home", sup)[0]
    dupes = [frozenset((c["arrival_id"], c["candidate"])) for c in imported["duplicate_captures"]]
    assert dupes == [frozenset((day.d1, day.d2))]
    assert frozenset((day.d1, day.d2)) not in [
        frozenset((c["arrival_id"], c["candidate"])) for c in imported["repeat_candidates"]
    ]
    assert frozenset((day.d1, day.d2)) not in _pairs(cli.json("review", "--pending", "--home", sup))
    text = " ".join(cli("import", day.file, "--home", sup).stdout.split())
    assert "duplicate capture, not a match" in text


def test_the_watchlist_version_the_laptop_searched_travels_with_its_alert(cli, tmp_path):
    """Issuer I issues one subject to laptop L; L's alert on it reaches supervisor S, which holds no watchlist,
    naming version 1 of I's package."""
    i, laptop, sup = tmp_path / "I", tmp_path / "L", tmp_path / "S"
    for home, site in ((i, "Kent Intelligence Unit"), (laptop, "Dover"), (sup, "Dover HQ")):
        cli("init", "--home", home, "--site", site, "--force-code", "KNT")
    review = (dt.date.today() + dt.timedelta(days=120)).isoformat()
    cli(
        "watchlist",
        "add",
        orl(3, 1),
        "--ref",
        "WL-003",
        "--name",
        "Subject 3",
        "--category",
        "wanted",
        "--reason",
        "Wanted on warrant for an assault in Kent",
        "--authorised-by",
        "DS 4411 Clarke",
        "--review-date",
        review,
        "--accept-low-quality",
        "--override-reason",
        "fixture photos are 92x112 px",
        "--home",
        i,
    )
    keys = {home: cli.json("keys", "show", "--home", home) for home in (i, laptop, sup)}
    cli("keys", "trust", "Kent Intelligence Unit", keys[i]["signing_key"], "--issuer", "--home", laptop)
    cli("keys", "recipient", "add", "Laptop L", keys[laptop]["age_recipient"], "--home", i)
    cli("watchlist", "issue", "--out", tmp_path / "wl.age", "--home", i)
    cli("watchlist", "receive", tmp_path / "wl.age", "--home", laptop)
    aid = _capture(cli, laptop, orl(3, 2), "Probe")
    cli("keys", "recipient", "add", "Supervisor", keys[sup]["age_recipient"], "--home", laptop)
    landed = cli.json("arrivals", "list", "--home", laptop)[0]["landed_day"]
    cli("export", "--home", laptop, "--date", landed, "--out", tmp_path / "l.age")
    cli("keys", "trust", "Laptop L", keys[laptop]["signing_key"], "--home", sup)
    imported = cli.json("import", tmp_path / "l.age", "--home", sup)[0]
    [alert] = [a for a in imported["watchlist_alerts"] if a["arrival_id"] == aid]
    assert (alert["ref"], alert["held"], alert["category"], alert["watchlist_version"]) == (
        "WL-003",
        False,
        "wanted",
        1,
    )
    assert "watchlist version 1" in " ".join(cli("import", tmp_path / "l.age", "--home", sup).stdout.split())


def test_a_laptops_alert_and_this_homes_candidates_are_numbered_as_one_table(cli, day, tmp_path):
    """The supervisor's own search of the arrival and the laptop's alert are shown in one table: each row has a
    number of its own, and that number decides the row it names."""
    sup = _home(day, "s", tmp_path)
    cli("import", day.file, "--home", sup)
    view = cli.json("review", day.alert, "--home", sup)
    numbers = [c["rank"] for c in view["candidates"]]
    assert len(view["candidates"]) > 1 and numbers == list(range(1, len(numbers) + 1)), numbers
    [alert] = [c for c in view["candidates"] if c["ref"] == "WL-007"]
    number = str(alert["rank"])
    shown = " ".join(cli("review", day.alert, "--candidate", number, "--home", sup).stdout.split())
    assert f"#{number} watchlist WL-007" in shown
    reason = ["--reason", "ears differ on review"]
    cli("review", day.alert, "--candidate", number, "--decision", "rejected", *reason, "--home", sup)
    assert day.alert not in {p["arrival_id"] for p in cli.json("review", "--pending", "--home", sup)}
    # decided, it stays in the table with its decision, under its number, and is corrected by it
    [decided] = [c for c in cli.json("review", day.alert, "--home", sup)["candidates"] if c["ref"] == "WL-007"]
    assert str(decided["rank"]) == number and [r["decision"] for r in decided["reviews"]] == ["rejected"]
    cli("review", day.alert, "--candidate", number, "--decision", "confirmed", "--reason", "ears match after all",
        "--home", sup)  # fmt: skip
    [again] = [c for c in cli.json("review", day.alert, "--home", sup)["candidates"] if c["ref"] == "WL-007"]
    assert [r["decision"] for r in again["reviews"]] == ["rejected", "confirmed"]


def test_a_laptops_alert_below_its_threshold_is_listed_before_this_homes_candidates_above_theirs(cli, day, tmp_path):
    """The supervisor's own search of the arrival finds only earlier arrivals above its threshold; the laptop's alert
    is below the laptop's. The reviewer reads the candidates below a threshold first, watchlist alerts first, as on
    the laptop: the alert is row 1, and `--candidate 1` decides it."""
    sup = _home(day, "s", tmp_path)
    cli("import", day.file, "--home", sup)
    view = cli.json("review", day.alert, "--home", sup)
    rows = [(c["rank"], c["kind"], c["ref"], c["below_threshold"]) for c in view["candidates"]]
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), rows
    assert any(not below for *_, below in rows), rows  # this home's own candidates above its threshold
    assert rows[0][1:] == ("watchlist", "WL-007", True), rows
    below = [below for *_, below in rows]
    assert below == sorted(below, reverse=True), "every candidate below a threshold before every one above"
    table = cli("review", day.alert, "--home", sup).stdout
    assert table.index("WL-007") < table.index("above"), table
    cli("review", day.alert, "--candidate", "1", "--decision", "rejected", "--reason", "ears differ", "--home", sup)
    [decided] = [c for c in cli.json("review", day.alert, "--home", sup)["candidates"] if c["ref"] == "WL-007"]
    assert decided["rank"] == 1 and [r["decision"] for r in decided["reviews"]] == ["rejected"]
    laptop = cli.json("review", day.alert, "--home", day.a)["candidates"]  # the laptop's own view, as it was
    assert (laptop[0]["kind"], laptop[0]["ref"], laptop[0]["rank"]) == ("watchlist", "WL-007", 1)
