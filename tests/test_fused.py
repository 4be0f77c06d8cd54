"""The matchers through the real CLI and store: dlib, SFace and fused side by side in `triage evaluate`
on ORL faces, a fused capture that puts the enrolled subject first and records its matcher, models and
threshold, templates of one model never searched with another's, reindexing for a model added later,
`triage models list|verify`, and the fused search against a brute-force scoring of every owner."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest

from conftest import OFFICER, PASSPHRASE, orl
from triage.errors import ExitStatus
from triage.faces import encoders, fusion, matchers, matching
from triage.store.config import Config
from triage.store.rows import Store

DLIB, SFACE = encoders.DLIB, encoders.SFACE
OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")
PROBE_OVERRIDE = ("--accept-low-quality", "--reason", "fixture photos are 92x112 px")
REVIEW = "2099-01-01"


def _enrol(cli, *subjects: int) -> None:
    for s in subjects:
        cli(
            "watchlist",
            "add",
            orl(s, 1),
            "--ref",
            f"WL-{s}",
            "--name",
            f"Subject {s}",
            "--category",
            "wanted",
            "--reason",
            "Wanted on warrant in a test",
            "--authorised-by",
            "DS 1",
            "--review-date",
            REVIEW,
            *OVERRIDE,
        )


def _templates(home, model_id: str) -> dict[str, int]:
    db = sqlite3.connect(home / "triage.db")
    try:
        return dict(
            db.execute(
                "SELECT owner_kind, count(*) FROM templates WHERE model_id = ? GROUP BY owner_kind", [model_id]
            ).fetchall()
        )
    finally:
        db.close()


@pytest.fixture(scope="module")
def orl_subset(tmp_path_factory):
    """Every ORL person, three photos each (120 photos: 120 genuine and 7,020 impostor pairs, enough to
    estimate FMR 1e-3 from 7 errors), as DATASET/<identity>/<photo>."""
    root = tmp_path_factory.mktemp("orl-subset")
    for s in range(1, 41):
        (root / f"s{s}").mkdir()
        for n in range(1, 4):
            (root / f"s{s}" / f"{n}.pgm").symlink_to(orl(s, n))
    return root


def test_evaluate_reports_every_matcher_side_by_side(cli, home, orl_subset):
    report = cli.json("evaluate", orl_subset)
    by_name = {m["matcher"]: m for m in report["matchers"]}
    assert list(by_name) == ["dlib", "sface", "fused"]
    assert (by_name["sface"]["model_id"], by_name["fused"]["model_id"]) == (SFACE, "fused")
    at_1e3 = {name: m["verification"]["fnmr_at_fmr"][0] for name, m in by_name.items()}
    assert all(r["fmr_target"] == 1e-3 and r["estimable"] for r in at_1e3.values())
    assert at_1e3["fused"]["fnmr"] <= min(at_1e3["dlib"]["fnmr"], at_1e3["sface"]["fnmr"])
    assert by_name["fused"]["verification"]["operating"]["threshold"] == fusion.load().threshold
    text = cli("evaluate", orl_subset).stdout  # from the sealed cache
    assert "Side by side, on the same photos" in text and all(n in text for n in ("dlib", "sface", "fused"))


def test_fused_capture_puts_the_enrolled_subject_first_and_records_how(cli, home):
    _enrol(cli, 1, 2, 3, 4, 5)
    assert _templates(home, DLIB) == _templates(home, SFACE) == {"subject": 5}
    res = cli.json("capture", "--photo", orl(3, 2), "--matcher", "fused", *PROBE_OVERRIDE)
    first, threshold = res["candidates"][0], fusion.load().threshold
    assert (first["kind"], first["ref"], first["below_threshold"]) == ("watchlist", "WL-3", True)
    assert (res["matcher"], res["model_ids"], res["threshold"], res["detector"]) == (
        "fused",
        [DLIB, SFACE],
        threshold,
        "yunet-2023mar-int8bq",
    )
    for c in res["candidates"]:
        assert (c["matcher"], c["model_id"], c["model_ids"], c["threshold"]) == (
            "fused",
            "fused",
            [DLIB, SFACE],
            threshold,
        )
        assert set(c["scores"]) == {DLIB, SFACE} and c["below_threshold"] == (c["distance"] < threshold)
    assert first["scores"][DLIB] < 0.5 and first["scores"][SFACE] < matchers.get("sface", None).threshold
    assert res["quality"]["measures"]["detector"] == "yunet-2023mar-int8bq"
    db = sqlite3.connect(home / "triage.db")
    search = db.execute("SELECT matcher, model_id, model_ids, threshold FROM searches").fetchone()
    stored = db.execute("SELECT ref, matcher, scores FROM candidates ORDER BY rank").fetchone()
    db.close()
    assert search == ("fused", "fused", json.dumps([DLIB, SFACE]), threshold)
    assert (stored[0], stored[1], json.loads(stored[2])) == ("WL-3", "fused", first["scores"])
    shown = cli.json("arrivals", "show", res["arrival_id"])["candidates"][0]
    assert (shown["matcher"], shown["model_ids"], shown["scores"]) == ("fused", [DLIB, SFACE], first["scores"])
    again = cli.json("match", res["arrival_id"], "--matcher", "sface")
    assert again["candidates"][0]["ref"] == "WL-3" and again["model_ids"] == [SFACE]
    assert again["candidates"][0]["distance"] == first["scores"][SFACE]


def test_templates_of_one_model_are_never_compared_with_another(cli, tmp_path):
    home = tmp_path / "sface-home"
    cli("init", "--site", "Test", "--force-code", "TST", "--matcher", "sface", "--home", home)
    cli(
        "watchlist",
        "add",
        orl(1, 1),
        "--ref",
        "WL-1",
        "--name",
        "Subject 1",
        "--category",
        "wanted",
        "--reason",
        "Wanted on warrant in a test",
        "--authorised-by",
        "DS 1",
        "--review-date",
        REVIEW,
        *OVERRIDE,
        "--home",
        home,
    )
    assert _templates(home, SFACE) == {"subject": 1} and _templates(home, DLIB) == {}
    res = cli.json("capture", "--photo", orl(1, 2), "--matcher", "dlib", *PROBE_OVERRIDE, "--home", home)
    assert res["candidates"] == [] and res["model_ids"] == [DLIB]  # the sface template is not a dlib one
    assert any("reindex --model" in w and DLIB in w for w in res["warnings"])
    store = Store.open(home, PASSPHRASE)
    try:
        for model_id in (DLIB, SFACE):
            g = matching.Gallery.load(store, "watchlist", "subject", model_id)
            ids = {
                r[0]
                for r in store.db.execute(
                    "SELECT id FROM templates WHERE owner_kind = 'subject' AND model_id = ?", [model_id]
                )
            }
            assert set(g.ids[: g.n].tolist()) == ids
    finally:
        store.close()
    done = cli.json("models", "reindex", "--model", "dlib", "--home", home)
    assert done[DLIB]["encoded"] == 1 and done[DLIB]["photos"] == 1  # the arrival had its dlib template already
    assert cli.json("models", "reindex", "--model", "DLIB", "--home", home)[DLIB]["photos"] == 0  # in any case
    res = cli.json("capture", "--photo", orl(1, 3), "--matcher", "dlib", *PROBE_OVERRIDE, "--home", home)
    assert [(c["ref"], c["model_id"]) for c in res["candidates"] if c["kind"] == "watchlist"] == [("WL-1", DLIB)]
    events = cli.json("audit", "show", "--home", home)
    events = events if isinstance(events, list) else events["events"]
    assert sum(e["action"] == "models-reindex" for e in events) == 2


def test_a_dlib_home_stays_as_it_was(cli, tmp_path):
    home = tmp_path / "dlib-home"
    cli("init", "--site", "Test", "--force-code", "TST", "--matcher", "dlib", "--home", home)
    res = cli.json("capture", "--photo", orl(2, 2), *PROBE_OVERRIDE, "--home", home)
    assert (res["matcher"], res["model_ids"], res["detector"], res["threshold"]) == ("dlib", [DLIB], "dlib-hog", 0.5)
    assert _templates(home, DLIB) == {"arrival": 1} and _templates(home, SFACE) == {}
    assert (
        "--matcher 'nope'"
        in cli(
            "init",
            "--site",
            "T",
            "--force-code",
            "T",
            "--matcher",
            "nope",
            "--home",
            tmp_path / "other",
            code=ExitStatus.USAGE,
        ).stderr
    )
    assert Config("s", "f", "o").matcher == "fused"


def test_models_list_and_verify(cli, home):
    listed = cli.json("models", "list")
    assert listed["default_matcher"] == "fused"
    assert {m["name"] for m in listed["models"]} == {"dlib", "yunet", "sface"}
    thresholds = {m["name"]: m["threshold"] for m in listed["matchers"]}
    assert thresholds == {"dlib": 0.5, "sface": matchers.get("sface", None).threshold, "fused": fusion.load().threshold}
    verified = cli.json("models", "verify")
    assert verified["ok"] and all(f["ok"] for m in verified["models"] for f in m["files"])
    assert len([f for m in verified["models"] for f in m["files"]]) == 4
    text = cli("models", "list").stdout
    assert "fused (default)" in text and "The home's default matcher: fused" in text


@pytest.mark.parametrize("threshold", [8.9, 11.4])  # 11.4: the proposals' bound is below it, so the lists grow
def test_fused_search_finds_every_owner_below_the_threshold_exactly(tmp_path, threshold):
    """Against scoring every owner of a real store (300 owners with correlated templates in two models,
    several photos for some): every owner below the threshold that fits the list is found, in order,
    with its exact score; every score listed is exact; an excluded owner never appears."""
    rng = np.random.default_rng(7)
    store = Store.create(tmp_path / "h", PASSPHRASE, Config(site="S", force_code="T", officer=OFFICER))
    people = rng.normal(size=(300, 2, 16))
    owners, vecs = [], {0: [], 1: []}
    for i in range(300):
        for _ in range(1 + i % 3):
            owners.append(f"P{i}")
            for m in (0, 1):
                v = people[i, m] + 0.6 * rng.normal(size=16)
                vecs[m].append(v / np.linalg.norm(v))
    ids = ("m-a", "m-b")
    for m, model_id in enumerate(ids):
        store.put_templates("subject", model_id, owners, np.array(vecs[m], np.float32))
    f = fusion.Fusion((fusion.Part("m-a", 0.7, 1.3, 0.1), fusion.Part("m-b", 0.3, 1.2, 0.2)), threshold, "", "")
    galleries = {mid: matching.Gallery.load(store, "watchlist", "subject", mid) for mid in ids}
    alerts_seen = 0
    for probe in range(12):
        q = {}
        for m, mid in enumerate(ids):
            centre = people[probe * 7, m] if probe % 3 else rng.normal(size=16)  # every third: nobody enrolled
            v = centre + 0.6 * rng.normal(size=16)
            q[mid] = (v / np.linalg.norm(v)).astype(np.float32)
        found = fusion.search(galleries, q, f, top_k=2, threshold=threshold, exclude={"P7"})
        brute = {
            o: f.score({mid: galleries[mid].owner_distance(o, q[mid]) for mid in ids}) for o in set(owners) - {"P7"}
        }
        best = sorted(brute, key=lambda o: (brute[o], o))[:2]
        assert [c.ref for c in found if c.below_threshold] == [o for o in best if brute[o] < threshold]
        assert all(math.isclose(c.distance, round(brute[c.ref], 4)) for c in found)
        assert [c.distance for c in found] == sorted(c.distance for c in found) and len(found) == 2
        assert all(c.model_id == "fused" and set(c.scores) == set(ids) for c in found)
        alerts_seen += sum(c.below_threshold for c in found)
    assert alerts_seen >= 8  # the enrolled probes did alert
    store.close()
