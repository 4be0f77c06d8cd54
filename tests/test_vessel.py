"""`triage vessel show`: one boat's arrivals with candidates and flags, on real ORL faces."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from test_drafts import build_home, land

from conftest import OFFICER, PASSPHRASE, orl

VESSEL = "SB-0417"


@pytest.fixture(scope="module")
def landed(enrolled_template_home, tmp_path_factory):
    from triage.casework import review, watchlist
    from triage.intake import samples
    from triage.outputs import intel

    def plan(store):
        watchlist.add_subject(
            store,
            ref="WL-FAC",
            name="Dler OMAR",
            category="facilitator",
            reason="Suspected boat pilot for a smuggling network",
            authorised_by="DS 4411 Clarke",
            review_date=(dt.date.today() + dt.timedelta(days=90)).isoformat(),
            photos=[samples.load_photo({"orl": [21, 1]})],
            officer=OFFICER,
            override_reason="fixture photos are 92x112 px",
        )
        ids = {
            "facilitator": land(store, (21, 5), vessel=VESSEL, surname="Omar", given_names="Dler"),
            "first": land(store, (35, 3), vessel=VESSEL, surname="حسين", given_names="محمد"),
            "child": land(store, (26, 4), vessel=VESSEL, surname="ولي", given_names="احمد", age="15-17"),
            "wanted": land(store, (7, 4), vessel=VESSEL, surname="Hama", given_names="Karwan"),
            "pilot": land(store, (30, 8), vessel=VESSEL, surname="Tesfay", given_names="Yonas"),
            "again": land(store, (35, 7), vessel=VESSEL, surname="عبدالله", given_names="عمر"),
            "elsewhere": land(store, (14, 2), vessel="SB-0999", surname="Osman"),
        }
        review.record(
            store,
            ids["wanted"],
            candidate="WL-007",
            decision="confirmed",
            reason="same scar above the left eye",
            officer=OFFICER,
        )
        intel.draft(
            store,
            ids["pilot"],
            {
                "source_grade": "2",
                "intel_grade": "B",
                "handling": "P",
                "text": "Four passengers said he steered the boat",
                "indicators": ["pilot", "held the compass"],
            },
            officer=OFFICER,
        )
        return ids

    path = tmp_path_factory.mktemp("vessel") / "home"
    return path, build_home(enrolled_template_home, path, plan)


@pytest.fixture
def site(landed, triage_env, cli) -> dict:
    shutil.copytree(landed[0], triage_env)
    return landed[1]


def test_vessel_show_lists_the_group_with_candidates_and_flags(cli, site):
    group = cli.json("vessel", "show", VESSEL)
    order = ["facilitator", "first", "child", "wanted", "pilot", "again"]
    assert [m["arrival_id"] for m in group["arrivals"]] == [site[k] for k in order]
    by = {k: m for k, m in zip(order, group["arrivals"])}
    assert by["facilitator"]["flags"] == ["below-threshold", "awaiting-review", "facilitator-candidate"]
    assert by["facilitator"]["facilitator_candidates"] == ["WL-FAC"]
    assert (
        by["facilitator"]["candidates"][0]["ref"] == "WL-FAC" and by["facilitator"]["candidates"][0]["decision"] is None
    )
    assert by["first"]["flags"] == ["same-face-on-vessel"] and by["first"]["same_face_as"] == [site["again"]]
    assert by["again"]["flags"] == ["below-threshold", "awaiting-review", "same-face-on-vessel"]
    assert by["again"]["same_face_as"] == [site["first"]]
    assert by["again"]["candidates"][0]["ref"] == site["first"]
    assert by["child"]["flags"] == ["safeguarding"]
    assert by["wanted"]["flags"] == ["below-threshold", "confirmed"] and by["wanted"]["confirmed"] == ["WL-007"]
    assert by["wanted"]["candidates"][0]["decision"] == "confirmed"
    assert by["pilot"]["flags"] == ["facilitator-indicators"]
    assert by["pilot"]["indicators"] == ["held the compass", "pilot"]
    assert by["first"]["name_latin"] == "HUSSEIN, MOHAMMED"
    assert group["possible_facilitators"] == [site["facilitator"], site["pilot"]]
    assert group["counts"] == {
        "arrivals": 6,
        "safeguarding": 1,
        "below-threshold": 3,
        "awaiting-review": 2,
        "confirmed": 1,
        "same-face-on-vessel": 2,
        "facilitator-candidate": 1,
        "facilitator-indicators": 1,
    }


def test_vessel_table_shows_everyone_at_a_glance(cli, site):
    text = cli("vessel", "show", VESSEL).stdout
    for key in ("facilitator", "first", "child", "wanted", "pilot", "again"):
        assert site[key] in text
    assert site["elsewhere"] not in text
    assert "SAFEGUARDING" in text and "WL-FAC" in text and "awaiting review" in text
    assert f"Possible facilitator role to check: {site['facilitator']}, {site['pilot']}" in text
    assert "identified" not in text.lower()


def test_a_rejected_candidate_no_longer_flags(cli, site):
    cli("review", site["again"], "--candidate", site["first"], "--decision", "rejected", "--reason", "different ears")
    group = {m["arrival_id"]: m for m in cli.json("vessel", "show", VESSEL)["arrivals"]}
    assert "same-face-on-vessel" not in group[site["again"]]["flags"] + group[site["first"]]["flags"]


def test_a_void_arrival_is_named_apart_and_counted_nowhere(cli, site):
    """Voided as captured twice: out of the list, the counts and the same-vessel flags, as in the day's report."""
    cli("arrivals", "void", site["again"], "--reason", "the same man captured twice; see the earlier capture")
    group = cli.json("vessel", "show", VESSEL)
    assert site["again"] not in [m["arrival_id"] for m in group["arrivals"]] and group["void"] == [site["again"]]
    assert group["counts"]["arrivals"] == 5 and group["counts"]["same-face-on-vessel"] == 0
    assert f"Void, not counted: {site['again']}" in cli("vessel", "show", VESSEL).stdout


def test_unknown_vessel_and_audit(cli, site, triage_env):
    from triage.store.rows import Store

    assert "no arrivals recorded for vessel 'SB-NONE'" in cli("vessel", "show", "SB-NONE", code=5).stderr
    cli("vessel", "show", VESSEL)
    store = Store.open(triage_env, PASSPHRASE)
    try:
        event = list(store.db["audit_events"].rows_where("action = 'vessel-show'", order_by="seq desc", limit=1))[0]
    finally:
        store.close()
    assert event["officer"] == OFFICER and f"arrival:{site['pilot']}" in event["records"]
    assert f"arrival:{site['elsewhere']}" not in event["records"]


def test_a_vessel_reference_is_one_boat_however_its_letters_are_typed(cli, site):
    """`sb-0417` typed on one laptop and `SB-0417` on another name one boat: stored in capitals, found either way."""
    assert cli.json("vessel", "show", VESSEL.lower())["arrivals"] == cli.json("vessel", "show", VESSEL)["arrivals"]
    landed = cli.json("capture", "--photo", orl(30, 1), "--surname", "Late", "--vessel", VESSEL.lower())
    assert cli.json("arrivals", "show", landed["arrival_id"])["vessel"] == VESSEL.upper()
    assert landed["arrival_id"] in [m["arrival_id"] for m in cli.json("vessel", "show", VESSEL)["arrivals"]]
