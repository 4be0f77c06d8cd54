"""The whole flow on real fixture faces, through the real CLI and the real store."""

from __future__ import annotations

from conftest import orl, row_counts


def test_watchlisted_subject_is_first_and_below_threshold(cli, wl_home):
    res = cli.json("capture", "--photo", orl(7, 4), "--surname", "Test", "--vessel", "SB-1")
    assert res["candidates"][0]["kind"] == "watchlist"
    assert res["candidates"][0]["ref"] == "WL-007"
    assert res["candidates"][0]["below_threshold"] is True
    assert res["candidates"][0]["distance"] < res["threshold"]
    assert res["quality"]["measures"]["face_count"] == 1
    assert (res["matcher"], res["model_ids"]) == ("dlib", ["dlib-resnet-v1+5pt"])


def test_person_not_on_watchlist_gets_no_candidate_below_threshold(cli, wl_home):
    res = cli.json("capture", "--photo", orl(33, 2))
    assert res["candidates"], "the top-k list is shown even when nothing is below the threshold"
    assert not any(c["below_threshold"] for c in res["candidates"])


def test_repeat_arrival_under_another_name_is_found(cli, wl_home):
    first = cli.json("capture", "--photo", orl(35, 3), "--surname", "حسين", "--given-names", "محمد", "--dob", "1995")
    second = cli.json("capture", "--photo", orl(35, 7), "--surname", "عبدالله", "--given-names", "عمر", "--dob", "1993")
    top = second["candidates"][0]
    assert (top["kind"], top["ref"], top["below_threshold"]) == ("arrival", first["arrival_id"], True)
    assert set(top["differences"]) >= {"surname_latin", "given_names_latin", "dob"}
    assert top["differences"]["dob"] == {"this": "1993", "earlier": "1995"}


def test_review_draft_export(cli, wl_home, tmp_path):
    cap = cli.json("capture", "--photo", orl(7, 4), "--surname", "Hama", "--given-names", "Karwan", "--vessel", "SB-1")
    aid = cap["arrival_id"]
    assert [p["arrival_id"] for p in cli.json("review", "--pending")] == [aid]
    cli("review", aid, "--candidate", "WL-007", "--decision", "confirmed", "--reason", "same scar above left eye")
    for other in [c["ref"] for c in cap["candidates"] if c["below_threshold"] and c["ref"] != "WL-007"]:
        assert cli.json("review", "--pending"), "still pending while a candidate below threshold is undecided"
        cli("review", aid, "--candidate", other, "--decision", "rejected", "--reason", "different nose and jaw")
    assert cli.json("review", "--pending") == []
    draft = cli.json(
        "pnd",
        "draft",
        aid,
        "--purpose",
        "To establish whether this arrival is wanted on warrant",
    )
    assert draft["marking"] == "DRAFT — NOT SUBMITTED"
    assert draft["candidates"][0]["decision"] == "confirmed"
    assert "KARWAN, HAMA" in draft["subject"]["name_variants"]
    day = cli.json("arrivals", "list")[0]["landed_at"][:10]
    out = tmp_path / "batch.age"
    supervisor = cli.json("keys", "show")  # this home stands in for the supervisor's laptop
    cli("keys", "recipient", "add", "Supervisor", supervisor["age_recipient"])
    res = cli.json("export", "--date", day, "--out", out)
    assert res["arrivals"] == 1 and res["recipients"] == [supervisor["age_recipient"]]
    assert {
        "manifest.json",
        "manifest.sig",
        "arrivals.jsonl",
        "summary.csv",
        "audit.jsonl",
        f"portraits/{aid}.jpg",
    } <= set(res["members"])


def test_arrivals_list_json_shape(cli, home):
    cli("capture", "--photo", orl(2, 2), "--vessel", "SB-9")
    rows = cli.json("arrivals", "list")
    assert len(rows) == 1
    assert {"arrival_id", "landed_at", "vessel", "site"} <= set(rows[0])
    assert rows[0]["vessel"] == "SB-9" and rows[0]["site"] == "Test Site"


def test_watchlist_list_json_shape(cli, wl_home):
    rows = cli.json("watchlist", "list")
    assert len(rows) == 20
    assert {"ref", "category", "review_date"} <= set(rows[0])


def test_demo_runs_and_writes_training_outputs(cli, tmp_path):
    summary = cli.json("demo", "--home", tmp_path / "demo")
    assert summary["training"] is True
    assert summary["arrivals_captured"] == 8 and summary["watchlist_enrolled"] == 4
    assert summary["safeguarding_flags"] == 1
    by_truth = summary["arrivals"]
    assert by_truth[0]["candidates"][0]["ref"] == "WL-TR-001" and by_truth[0]["candidates"][0]["below_threshold"]
    assert by_truth[7]["candidates"][0]["ref"] == by_truth[5]["arrival_id"]
    assert "TRAINING" in open(summary["pnd_draft"], encoding="utf-8").read()
    counts = row_counts(tmp_path / "demo")
    assert counts["arrivals"] == 8 and counts["drafts"] == 1
