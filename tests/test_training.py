"""Training homes on fixture scenarios, scripted trainees, and the score sheet; an operational home
refuses a scenario. Everything goes through the real CLI, the real store and the real face pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import PASSPHRASE, index_without, orl, row_counts
from triage.errors import BadInput, Conflict, ExitStatus
from triage.evaluation import scenarios, training
from triage.store.rows import Store

PURPOSE = "To establish whether the arrival is wanted or linked to organised immigration crime"


def truth_of(name: str) -> list[dict]:
    return [a.get("truth", {}) for a in scenarios.load(name)["arrivals"]]


def start(cli, tmp_path: Path, name: str) -> tuple[Path, list[str]]:
    home = tmp_path / name
    res = cli.json("training", "start", "--scenario", name, "--home", home)
    assert res["training"] is True and res["scenario"] == name
    assert len(res["arrivals"]) == len(truth_of(name))
    return home, [a["arrival_id"] for a in res["arrivals"]]


def expected_candidates(truth: dict, ids: list[str]) -> set[tuple[str, str]]:
    want = set()
    if "watchlist" in truth:
        want.add(("watchlist", truth["watchlist"]))
    if "arrival" in truth:
        want.add(("arrival", ids[truth["arrival"] - 1]))
    return want


@pytest.mark.parametrize("name", scenarios.names())
def test_a_trainee_who_follows_the_truth_passes(cli, tmp_path, name):
    home, ids = start(cli, tmp_path, name)
    truths = truth_of(name)
    for truth, aid in zip(truths, ids):
        arrival = cli.json("arrivals", "show", aid, "--home", home)
        assert arrival["training"] == 1
        want = expected_candidates(truth, ids)
        shown = {(c["kind"], c["ref"]): c for c in arrival["candidates"]}
        for kind, ref in want:
            # The scenario is fair: the true match is the first candidate and below the threshold.
            assert arrival["candidates"][0]["ref"] == ref and shown[(kind, ref)]["below_threshold"]
            cli(
                "review",
                aid,
                "--candidate",
                ref,
                "--decision",
                "confirmed",
                "--reason",
                "same ear shape and scar",
                "--home",
                home,
            )
        for (kind, ref), c in shown.items():
            if (kind, ref) not in want and c["below_threshold"]:
                cli(
                    "review",
                    aid,
                    "--candidate",
                    ref,
                    "--decision",
                    "rejected",
                    "--reason",
                    "different nose and jaw",
                    "--home",
                    home,
                )
        if truth.get("pnd_draft"):
            cli("pnd", "draft", aid, "--purpose", PURPOSE, "--home", home)
        if truth.get("child") and not arrival["safeguarding"]:
            cli(
                "arrivals",
                "flag",
                aid,
                "--safeguarding",
                "--reason",
                "appears younger than the age claimed",
                "--home",
                home,
            )
    sheet = cli.json("training", "score", "--home", home)
    assert sheet["passed"] is True and sheet["findings"] == 0 and sheet["training"] is True
    assert "TRAINING" in sheet["marking"]
    c = sheet["checks"]
    matches = sum(len(expected_candidates(t, ids)) for t in truths)
    assert c["matches_expected"] == c["matches_confirmed"] == matches
    assert c["drafts_expected"] == c["drafts_made"] == sum(bool(t.get("pnd_draft")) for t in truths)
    assert c["safeguarding_expected"] == c["safeguarding_raised"] == sum(bool(t.get("child")) for t in truths)


def test_a_false_confirmation_and_a_missed_match_are_reported(cli, tmp_path):
    home, ids = start(cli, tmp_path, "facilitator")
    truths = truth_of("facilitator")
    true_no = next(n for n, t in enumerate(truths, 1) if "watchlist" in t)
    ref = truths[true_no - 1]["watchlist"]
    # The look-alike: an arrival with no match in the truth that has the same subject below the threshold
    # of the training home's matcher (the default, fused), so a trainee must decide.
    lookalike = next(
        n
        for n, (t, aid) in enumerate(zip(truths, ids), 1)
        if not t
        and any(
            c["ref"] == ref and c["below_threshold"]
            for c in cli.json("arrivals", "show", aid, "--home", home)["candidates"]
        )
    )
    cli(
        "review",
        ids[true_no - 1],
        "--candidate",
        ref,
        "--decision",
        "rejected",
        "--reason",
        "hair is different",
        "--home",
        home,
    )
    cli(
        "review",
        ids[lookalike - 1],
        "--candidate",
        ref,
        "--decision",
        "confirmed",
        "--reason",
        "looks like him",
        "--home",
        home,
    )
    sheet = cli.json("training", "score", "--home", home)
    assert sheet["passed"] is False
    assert [(f["arrival"], f["arrival_id"], f["kind"], f["ref"]) for f in sheet["false_confirmations"]] == [
        (lookalike, ids[lookalike - 1], "watchlist", ref)
    ]
    missed = sheet["missed_matches"]
    assert [(f["arrival"], f["ref"], f["decision"], f["shown_as_candidate"]) for f in missed] == [
        (true_no, ref, "rejected", True)
    ]
    assert [f["arrival"] for f in sheet["missing_drafts"]] == [true_no]
    assert sheet["findings"] == 3 and sheet["checks"]["matches_confirmed"] == 0
    text = cli("training", "score", "--home", home).stdout
    assert "False confirmations" in text and "Missed matches" in text and ref in text


def test_a_true_match_of_an_arrival_the_trainee_voided_is_said_to_be_voided(cli, tmp_path):
    """The sheet said "not reviewed" of a true match on an arrival the trainee had voided, where no decision can be
    made: it says the arrival was voided."""
    home, ids = start(cli, tmp_path, "facilitator")
    truths = truth_of("facilitator")
    true_no = next(n for n, t in enumerate(truths, 1) if "watchlist" in t)
    aid, ref = ids[true_no - 1], truths[true_no - 1]["watchlist"]
    cli("arrivals", "void", aid, "--reason", "captured twice by mistake", "--home", home)
    sheet = cli.json("training", "score", "--home", home)
    [missed] = [m for m in sheet["missed_matches"] if m["arrival_id"] == aid]
    assert (missed["ref"], missed["decision"], missed["voided"]) == (ref, "not reviewed", aid)
    words = " ".join(cli("training", "score", "--home", home).stdout.split())
    assert f"{ref}: not reviewed (arrival {aid} was" in words and "voided: no decision can be made on it)" in words
    [draft] = [d for d in sheet["missing_drafts"] if d["arrival_id"] == aid]  # its draft can no longer be made
    assert draft["voided"] == aid and "voided: no draft can be made on it)" in words


def test_a_child_claiming_to_be_an_adult_must_be_safeguarded(cli, tmp_path):
    home, ids = start(cli, tmp_path, "repeat-child")
    truths = truth_of("repeat-child")
    repeat = next(n for n, t in enumerate(truths, 1) if "arrival" in t)
    aid, earlier = ids[repeat - 1], ids[truths[repeat - 1]["arrival"] - 1]
    assert truths[repeat - 1]["child"] is True
    cli(
        "review",
        aid,
        "--candidate",
        earlier,
        "--decision",
        "confirmed",
        "--reason",
        "same face, earlier name",
        "--home",
        home,
    )
    cli("pnd", "draft", aid, "--purpose", PURPOSE, "--home", home)
    sheet = cli.json("training", "score", "--home", home)
    assert [(f["arrival"], f["arrival_id"]) for f in sheet["missed_safeguarding"]] == [(repeat, aid)]
    assert sheet["missed_matches"] == [] and sheet["false_confirmations"] == []
    flagged = cli.json("arrivals", "flag", aid, "--safeguarding", "--reason", "earlier said he was 16", "--home", home)
    assert flagged["safeguarding"] is True and flagged["was_flagged"] is False and flagged["training"] is True
    assert cli.json("arrivals", "show", aid, "--home", home)["safeguarding"] == 1
    assert cli.json("training", "score", "--home", home)["passed"] is True
    events = cli.json("audit", "show", "--arrival", aid, "--home", home)
    assert any(e["action"] == "safeguarding-flag" and e["reason"] == "earlier said he was 16" for e in events)


def test_a_decision_left_out_of_its_index_is_refused_not_scored_as_missing(cli, tmp_path):
    """The score looks each arrival's decisions up through an index: one rebuilt without a confirmation marked the
    trainee with a missed match, every tag and digest passing."""
    home, ids = start(cli, tmp_path, "demo")
    number, truth = next((n, t) for n, t in enumerate(truth_of("demo"), 1) if "watchlist" in t)
    aid = ids[number - 1]
    reason = "same scar over the left eye"
    cli("review", aid, "--candidate", truth["watchlist"], "--decision", "confirmed", "--reason", reason, "--home", home)
    index_without(home, "idx_reviews_arrival_id_kind_ref", f"arrival_id = '{aid}'")
    refused = cli("training", "score", "--home", home, code=ExitStatus.INTEGRITY)
    assert "reviews or an index of it is not as SQLite wrote it" in " ".join(refused.stderr.split())


def test_the_score_refuses_an_exercise_whose_files_were_edited(cli, tmp_path, monkeypatch):
    home, ids = start(cli, tmp_path, "repeat-child")
    truths = truth_of("repeat-child")
    untouched = cli.json("training", "score", "--home", home)
    assert untouched["checks"]["matches_expected"] == sum(len(expected_candidates(t, ids)) for t in truths)
    assert untouched["checks"]["matches_confirmed"] == 0 and untouched["passed"] is False
    # A trainee moves a missed match onto another arrival by editing the id map the home keeps.
    path = home / training.STATE_FILE
    written = path.read_bytes()
    state = json.loads(written)
    state["arrivals"][0] = ids[1]
    path.write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    res = cli("training", "score", "--home", home, code=ExitStatus.INTEGRITY)
    said = " ".join(res.stderr.split())
    assert str(path) in said and "not the file `triage training start` wrote" in said
    assert "start the exercise again" in said
    path.write_bytes(written)
    again = cli.json("training", "score", "--home", home)
    assert {**again, "scored_at": None} == {**untouched, "scored_at": None}
    # Nor does the scenario's truth move once the exercise has started.
    shipped = scenarios.load

    def edited(name):
        sc = shipped(name)
        sc["arrivals"][0]["truth"] = {}
        return sc

    monkeypatch.setattr(scenarios, "load", edited)
    res = cli("training", "score", "--home", home, code=ExitStatus.INTEGRITY)
    said = " ".join(res.stderr.split())
    assert "repeat-child.json is not the scenario this exercise was started from" in said
    monkeypatch.setattr(scenarios, "load", shipped)
    assert {**cli.json("training", "score", "--home", home), "scored_at": None} == {**untouched, "scored_at": None}


def test_an_operational_home_refuses_a_scenario_and_scoring(cli, home, tmp_path):
    before = row_counts(home)
    config = (home / "config.json").read_text()
    res = cli("training", "start", "--scenario", "routine", code=ExitStatus.CONFLICT)
    assert "operational home" in res.stderr and "nothing was written" in res.stderr
    assert row_counts(home) == before and (home / "config.json").read_text() == config
    assert not (home / training.STATE_FILE).exists()
    assert "operational home" in cli("training", "score", code=ExitStatus.CONFLICT).stderr
    store = Store.open(home, PASSPHRASE)
    with pytest.raises(Conflict, match="operational home"):
        training.load(store, scenarios.load("routine"), officer="PC 1")
    store.close()
    assert row_counts(home) == before


def test_everything_a_training_home_writes_is_marked(cli, tmp_path):
    home, ids = start(cli, tmp_path, "routine")
    rows = cli.json("arrivals", "list", "--home", home)
    assert len(rows) == len(ids) and all(r["training"] for r in rows)
    assert "TRAINING" in cli("pnd", "draft", ids[0], "--purpose", PURPOSE, "--home", home).stdout
    # Its day's batch says TRAINING in the signed manifest, and a real home refuses to import it.
    real = tmp_path / "real"
    cli("init", "--site", "Dover", "--force-code", "KNT", "--home", real)
    real_keys, trainer_keys = cli.json("keys", "show", "--home", real), cli.json("keys", "show", "--home", home)
    out = tmp_path / "batch.age"
    exported = cli.json(
        "export",
        "--date",
        rows[0]["landed_day"],
        "--out",
        out,
        "--home",
        home,
        "--recipient",
        real_keys["age_recipient"],
    )
    assert exported["training"] is True
    cli("keys", "trust", "Trainer", trainer_keys["signing_key"], "--home", real)
    before = row_counts(real)
    assert "TRAINING batch" in cli("import", out, "--home", real, code=ExitStatus.BAD_INPUT).stderr
    assert row_counts(real) == {**before, "audit_events": before["audit_events"] + 1}  # only the refusal, audited
    assert cli.json("audit", "show", "--home", real)[-1]["action"] == "import-refused"
    data = tmp_path / "photos"
    for who, s in (("a", 1), ("b", 2)):
        (data / who).mkdir(parents=True)
        for n in (1, 2):
            (data / who / f"{n}.pgm").write_bytes(orl(s, n).read_bytes())
    assert cli.json("evaluate", data, "--home", home)["training"] is True


def test_start_refuses_what_it_must_not_overwrite(cli, tmp_path):
    home, _ = start(cli, tmp_path, "routine")
    assert (
        "already a training home"
        in cli("training", "start", "--scenario", "demo", "--home", home, code=ExitStatus.CONFLICT).stderr
    )
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    cli("training", "start", "--scenario", "routine", "--home", busy, code=ExitStatus.CONFLICT)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    res = cli("training", "start", "--scenario", "no-such", "--home", tmp_path / "new", code=ExitStatus.NOT_FOUND)
    assert "routine" in res.stderr and not (tmp_path / "new").exists()
    names = [s["name"] for s in cli.json("training", "list")]
    assert {"routine", "facilitator", "repeat-child"} <= set(names)


def test_flag_needs_a_flag_and_a_reason(cli, tmp_path):
    home, ids = start(cli, tmp_path, "routine")
    cli("arrivals", "flag", ids[0], "--reason", "looks young", "--home", home, code=ExitStatus.USAGE)
    cli("arrivals", "flag", ids[0], "--safeguarding", "--home", home, code=ExitStatus.BAD_INPUT)
    cli(
        "arrivals",
        "flag",
        "A-NOSUCH",
        "--safeguarding",
        "--reason",
        "looks young",
        "--home",
        home,
        code=ExitStatus.NOT_FOUND,
    )


def test_scenario_truth_must_point_at_the_scenario_itself():
    sc = scenarios.load("facilitator")
    sc["arrivals"][0]["truth"] = {"watchlist": "WL-NOT-THERE"}
    with pytest.raises(BadInput, match="not on its watchlist"):
        training.check_scenario(sc)
    sc = scenarios.load("repeat-child")
    sc["arrivals"][0]["truth"] = {"arrival": 1}
    with pytest.raises(BadInput, match="earlier arrival"):
        training.check_scenario(sc)
    for name in scenarios.names():
        training.check_scenario(scenarios.load(name))


def test_the_passphrase_is_asked_before_the_progress_bar_draws(tmp_path):
    """In a terminal the bar ("enrolling the watchlist and landing the boat") started first and redrew over the
    hidden passphrase prompt, garbling it; the passphrase is asked first."""
    import os
    import sys

    import pexpect

    env = {k: v for k, v in os.environ.items() if k != "TRIAGE_PASSPHRASE"} | {
        "COLUMNS": "80",
        "TERM": "xterm-256color",
    }
    home = tmp_path / "exercise"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "triage", "training", "start", "--scenario", "demo", "--home", str(home), "--officer", "PC 1 Trainee"],
        env=env,
        encoding="utf-8",
        timeout=90,
    )
    assert child.expect(["enrolling the watchlist", "[Pp]assphrase"]) == 1, child.before
    assert child.expect(["enrolling the watchlist", pexpect.TIMEOUT], timeout=1.5) == 1, "drawn over the prompt"
    child.sendline("quiet orchard lantern basalt")
    child.expect("Repeat")
    child.sendline("quiet orchard lantern basalt")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
