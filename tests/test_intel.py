"""Intelligence report drafts graded 3x5x2, through the real CLI and store on real ORL faces."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_drafts import build_home, land, validator

from conftest import OFFICER, PASSPHRASE, row_counts
from triage.errors import BadInput, ExitStatus
from triage.outputs import intel

TEXT = "Three passengers said separately that he steered the boat and held the satellite phone"
CONDITIONS = "Not to be shared outside UK law enforcement without the originator's consent"


@pytest.fixture(scope="module")
def landed(enrolled_template_home, tmp_path_factory):
    from triage.casework import review

    def plan(store):
        ids = {
            "pilot": land(
                store, (7, 4), vessel="SB-7", surname="حسين", given_names="محمد", dob="1990", phones=["07911 123456"]
            ),
            "other": land(store, (12, 3), vessel="SB-7", surname="Tesfay", given_names="Yonas"),
            "elsewhere": land(store, (14, 2), vessel="SB-8", surname="Omar"),
        }
        review.record(
            store,
            ids["pilot"],
            candidate="WL-007",
            decision="confirmed",
            reason="same scar above the left eye",
            officer=OFFICER,
        )
        return ids

    path = tmp_path_factory.mktemp("intel") / "home"
    return path, build_home(enrolled_template_home, path, plan)


@pytest.fixture
def site(landed, triage_env, cli) -> dict:
    shutil.copytree(landed[0], triage_env)
    return landed[1]


def grades(*extra) -> list[str]:
    return ["--source-grade", "2", "--intel-grade", "B", "--handling", "C", "--conditions", CONDITIONS, *extra]


def test_valid_report_round_trips_through_json(cli, site, triage_env):
    from triage.store.rows import Store

    report = cli.json(
        "intel",
        "draft",
        site["pilot"],
        *grades(
            "--text",
            TEXT,
            "--indicator",
            "pilot",
            "--indicator",
            "satphone",
            "--indicator",
            "kept the other passengers' phones",
        ),
    )
    validator("intel_draft.schema.json").validate(report)
    assert cli.json("intel", "show", report["ref"]) == report
    given = {k: report[k] for k in intel.FIELDS}
    assert intel.validate(given) == given, "the JSON form is accepted back as the fields of a report"
    assert (report["source_grade"], report["intel_grade"], report["handling"], report["grading"]) == (
        "2",
        "B",
        "C",
        "2BC",
    )
    assert report["conditions"] == CONDITIONS and report["text"] == TEXT
    assert report["grading_meaning"]["source"] == "untested"
    assert report["indicators"] == [
        {"code": "pilot", "text": intel.INDICATORS["pilot"]},
        {"code": "satphone", "text": "held the satellite phone"},
        {"code": None, "text": "kept the other passengers' phones"},
    ]
    links = report["links"]
    assert links["vessel"] == "SB-7"
    assert [a["arrival_id"] for a in links["same_vessel"]] == [site["other"]]
    assert links["phones"] == ["+447911123456"]
    assert links["confirmed_candidates"] == [{"kind": "watchlist", "ref": "WL-007", "category": "wanted"}]
    assert report["subject"]["surname_latin"] == "HUSSEIN" and "HUSSEIN, MUHAMMAD" in report["subject"]["name_variants"]
    assert (report["officer"], report["marking"], report["kind"]) == (OFFICER, "DRAFT — NOT SUBMITTED", "intel")
    store = Store.open_locked(triage_env)
    try:
        row = store.db["drafts"].get(report["ref"])
        actions = [e["action"] for e in store.db["audit_events"].rows_where("arrival_id = ?", [site["pilot"]])]
    finally:
        store.close()
    assert (row["kind"], row["arrival_id"], row["officer"]) == ("intel", site["pilot"], OFFICER)
    assert "intel-draft" in actions

    text = cli("intel", "show", report["ref"]).stdout
    for expected in (
        "DRAFT — NOT SUBMITTED",
        f"Intelligence report draft {report['ref']}   grading 2BC",
        "Source evaluation  : 2 — untested",
        f"conditions: {CONDITIONS}",
        "named by others as the pilot",
        "kept the other passengers' phones",
        "+447911123456",
        site["other"],
        "watchlist WL-007 [wanted]",
    ):
        assert expected in text
    assert "identified" not in text.lower()


def test_handling_p_and_text_form(cli, site, tmp_path):
    out = tmp_path / "report.txt"
    res = cli(
        "intel",
        "draft",
        site["other"],
        "--source-grade",
        "1",
        "--intel-grade",
        "a",
        "--handling",
        "p",
        "--text",
        "He told me himself that he paid nothing for the crossing",
        "--indicator",
        "no-fee",
        "--out",
        out,
    )
    assert res.stdout == out.read_text(encoding="utf-8")
    assert "grading 1AP" in res.stdout and "Handling code      : P — lawful sharing permitted" in res.stdout
    assert "none recorded" not in res.stdout and "says they paid nothing for the crossing [no-fee]" in res.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source-grade", "4", "--intel-grade", "B", "--handling", "P"], "--source-grade 4: choose 1 (reliable)"),
        (["--source-grade", "2", "--intel-grade", "F", "--handling", "P"], "--intel-grade F: choose A"),
        (["--source-grade", "2", "--intel-grade", "B", "--handling", "C"], "--handling C needs --conditions"),
        (["--source-grade", "2", "--intel-grade", "B", "--handling", "X"], "--handling X: choose P"),
        (
            ["--source-grade", "2", "--intel-grade", "B", "--handling", "P", "--conditions", "UK only"],
            "--conditions go with --handling C",
        ),
        (["--intel-grade", "B", "--handling", "P"], "--source-grade missing"),
        (grades("--indicator", "pilt"), "'pilt' is not a known code"),
    ],
)
def test_invalid_grading_is_refused_and_nothing_stored(cli, site, triage_env, args, message):
    before = row_counts(triage_env)
    res = cli("intel", "draft", site["pilot"], *args, *([] if "--text" in args else ["--text", TEXT]), code=3)
    assert message in res.stderr and res.stdout == ""
    assert row_counts(triage_env) == before


def test_every_wrong_field_is_named_at_once(cli, site, triage_env):
    """An officer who mistypes both grades and the handling code is told all three in one refusal."""
    before = row_counts(triage_env)
    args = ["--source-grade", "4", "--intel-grade", "F", "--handling", "X", "--text", "pilot", "--indicator", "pilt"]
    err = cli("intel", "draft", site["pilot"], *args, code=3).stderr
    for part in ("--source-grade 4", "--intel-grade F", "--handling X", "--text is too short", "'pilt'"):
        assert part in err, err
    assert row_counts(triage_env) == before


def test_text_is_required(cli, site, triage_env):
    before = row_counts(triage_env)
    assert "--text is required" in cli("intel", "draft", site["pilot"], *grades(), code=3).stderr
    assert "--text is too short" in cli("intel", "draft", site["pilot"], *grades("--text", "pilot"), code=3).stderr
    assert row_counts(triage_env) == before


def test_core_takes_a_plain_dict_that_can_be_prefilled(site, triage_env):
    from triage.store.rows import Store

    fields = {
        "source_grade": 3,
        "intel_grade": "d",
        "handling": "c",
        "conditions": CONDITIONS,
        "text": TEXT,
        "indicators": ["Pilot", {"code": "pilot"}, {"text": "slept apart from the group"}],
    }
    checked = intel.validate(fields)
    assert (checked["source_grade"], checked["intel_grade"], checked["handling"]) == ("3", "D", "C")
    assert checked["indicators"] == [
        {"code": "pilot", "text": intel.INDICATORS["pilot"]},
        {"code": None, "text": "slept apart from the group"},
    ]
    with pytest.raises(BadInput, match="unknown intelligence report field"):
        intel.validate({**fields, "grade": "A"})
    store = Store.open(triage_env, PASSPHRASE)
    try:
        report = intel.draft(store, site["elsewhere"], fields, officer=OFFICER).draft
        assert store.get("drafts", report["ref"])["draft"]["grading"] == "3DC"
    finally:
        store.close()
    assert report["links"]["same_vessel"] == [] and report["links"]["confirmed_candidates"] == []


def test_list_indicators_and_kinds_kept_apart(cli, site):
    report = cli.json("intel", "draft", site["pilot"], *grades("--text", TEXT))
    pnd = cli.json("pnd", "draft", site["pilot"], "--purpose", "To establish whether this arrival is wanted on warrant")
    assert [r["ref"] for r in cli.json("intel", "list")] == [report["ref"]]
    assert [r["ref"] for r in cli.json("pnd", "list")] == [pnd["ref"]]
    assert report["ref"] in cli("intel", "list").stdout
    codes = {i["code"] for i in cli.json("intel", "indicators")}
    assert {"pilot", "satphone", "navigation"} <= codes
    assert "satellite phone" in cli("intel", "indicators").stdout
    assert "intelligence report" in cli("pnd", "outcome", report["ref"], "--result", "submitted", code=3).stderr
    assert f"triage intel show {report['ref']}" in cli("pnd", "show", report["ref"], code=3).stderr
    assert f"triage pnd show {pnd['ref']}" in cli("intel", "show", pnd["ref"], code=3).stderr


def test_readme_documents_every_indicator_code():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert all(code in readme for code in intel.INDICATORS)


def test_a_void_arrival_is_on_no_ones_vessel_and_no_report_is_drafted_about_it(cli, site):
    """A capture made in error was no one aboard: a report about another arrival on its vessel leaves it out of
    "Same vessel", and one about it is refused as `arrivals amend` refuses a correction."""
    cli("arrivals", "void", site["other"], "--reason", "duplicate capture")
    report = cli.json("intel", "draft", site["pilot"], *grades("--text", TEXT))
    assert report["links"]["same_vessel"] == []
    assert site["other"] not in cli("intel", "draft", site["pilot"], *grades("--text", TEXT)).stdout
    conflict = int(ExitStatus.CONFLICT)
    refused = cli("intel", "draft", site["other"], *grades("--text", TEXT), code=conflict).stderr
    amend = cli("arrivals", "amend", site["other"], "--surname", "Tesfai", "--reason", "typo", code=conflict).stderr
    assert refused == amend and "it cannot be changed" in refused
