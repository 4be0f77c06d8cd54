"""Human review through the real CLI: a decision needs a reason, a later decision supersedes an earlier
one and both stay visible, the queue empties as decisions are recorded, and the candidate display
says where both portraits are and can draw or write them."""

from __future__ import annotations

import io
import json

from PIL import Image

from conftest import orl, row_counts
from triage.errors import ExitStatus


def test_a_decision_without_a_reason_is_refused(cli, wl_home):
    aid = cli.json("capture", "--photo", orl(7, 4))["arrival_id"]
    before = row_counts(wl_home)
    for reason in ([], ["--reason", ""], ["--reason", "  "]):
        res = cli(
            "review", aid, "--candidate", "WL-007", "--decision", "rejected", *reason, code=int(ExitStatus.BAD_INPUT)
        )
        assert "--reason is required" in res.stderr
    res = cli(
        "review",
        aid,
        "--candidate",
        "WL-007",
        "--decision",
        "maybe",
        "--reason",
        "not sure at all",
        code=int(ExitStatus.BAD_INPUT),
    )
    assert "choose one of confirmed, rejected, inconclusive" in res.stderr
    assert row_counts(wl_home) == before


def test_a_reason_too_short_says_how_long_it_must_be(cli, home):
    res = cli(
        "review", "A-NOPE00", "--candidate", "WL-0012", "--decision", "rejected", "--reason", "no",
        code=int(ExitStatus.BAD_INPUT),
    )  # fmt: skip
    assert "--reason must say why in at least 3 characters" in res.stderr and "required" not in res.stderr


def test_a_later_decision_supersedes_and_both_stay_visible(cli, wl_home):
    aid = cli.json("capture", "--photo", orl(7, 4), "--surname", "Hama")["arrival_id"]
    first = cli.json(
        "review",
        aid,
        "--candidate",
        "WL-007",
        "--decision",
        "inconclusive",
        "--reason",
        "photo too small to compare the ears",
    )
    second = cli(
        "review",
        aid,
        "--candidate",
        "WL-007",
        "--decision",
        "confirmed",
        "--reason",
        "same scar above the left eye, seen in person",
    )
    assert f"supersedes review {first['review_id']}" in second.stdout
    assert "inconclusive" in second.stdout and "(superseded)" in second.stdout  # the history is printed
    shown = cli.json("arrivals", "show", aid)
    reviews = next(c for c in shown["candidates"] if c["ref"] == "WL-007")["reviews"]
    assert [(r["decision"], r["supersedes"]) for r in reviews] == [
        ("inconclusive", None),
        ("confirmed", first["review_id"]),
    ]
    assert reviews[0]["reason"] == "photo too small to compare the ears"
    text = cli("arrivals", "show", aid).stdout
    assert "inconclusive" in text and "confirmed" in text
    view = cli.json("review", aid, "--candidate", "WL-007")
    assert [r["decision"] for r in view["candidates"][0]["reviews"]] == ["inconclusive", "confirmed"]
    table = " ".join(cli("review", aid).stdout.split())  # the words, however the lines wrap
    assert "photo too small to compare the ears (superseded)" in table and "same scar above the left eye" in table
    # named as the table numbers it, or with its ref in small letters: the same candidate
    number = str(next(c["rank"] for c in cli.json("review", aid)["candidates"] if c["ref"] == "WL-007"))
    third = cli.json(
        "review", aid, "--candidate", number, "--decision", "rejected", "--reason", "ears differ, seen again"
    )
    assert (third["candidate"], third["supersedes"]) == ("WL-007", second_id := third["supersedes"]) and second_id
    assert cli.json("review", aid, "--candidate", "wl-007")["candidates"][0]["ref"] == "WL-007"


def test_pending_empties_as_decisions_are_recorded(cli, wl_home):
    dlib = ("--matcher", "dlib")  # the candidates below are those of the dlib calibration's threshold
    a = cli.json("capture", "--photo", orl(7, 4), "--landed-at", "2026-01-10T04:00", *dlib)["arrival_id"]
    b = cli.json("capture", "--photo", orl(12, 6), "--landed-at", "2026-01-10T03:00", *dlib)["arrival_id"]
    c = cli.json("capture", "--photo", orl(7, 5), "--landed-at", "2026-01-10T05:00", *dlib)["arrival_id"]  # WL-007, a
    queue = cli.json("review", "--pending")
    assert [p["arrival_id"] for p in queue] == [b, a, c], "oldest landing first"
    assert {(x["kind"], x["ref"]) for x in queue[2]["candidates"]} == {("watchlist", "WL-007"), ("arrival", a)}
    assert all(x["distance"] < x["threshold"] for p in queue for x in p["candidates"])
    cli("review", b, "--candidate", "WL-012", "--decision", "rejected", "--reason", "different nose and jaw")
    assert [p["arrival_id"] for p in cli.json("review", "--pending")] == [a, c]
    cli("review", a, "--candidate", "WL-007", "--decision", "confirmed", "--reason", "same scar above the left eye")
    cli("review", c, "--candidate", "WL-007", "--decision", "confirmed", "--reason", "same scar above the left eye")
    left = cli.json("review", "--pending")
    assert [(p["arrival_id"], [x["ref"] for x in p["candidates"]]) for p in left] == [(c, [a])]
    cli("review", c, "--candidate", a, "--decision", "confirmed", "--reason", "the same man landed twice today")
    assert cli.json("review", "--pending") == []
    assert "Nothing awaits review." in cli("review", "--pending").stdout


def test_candidate_display_gives_both_portraits(cli, wl_home, tmp_path):
    aid = cli.json("capture", "--photo", orl(7, 4))["arrival_id"]
    plain = cli("review", aid).stdout
    assert f"portrait of arrival {aid}: sealed in the store" in plain and "portrait of watchlist WL-007" in plain
    assert "▀" not in plain, "no drawing when the output is not a terminal"
    assert f"triage review {aid} --portraits-to FOLDER" in plain
    drawn = cli("review", aid, "--candidate", "WL-007", "--portraits").stdout
    assert drawn.count("▀") >= 2 * 24 * 12, "both portraits drawn with half blocks"
    assert "\x1b[38;2;" in drawn and ";48;2;" in drawn, "in colour, though the output is no terminal"
    folder = tmp_path / "compare"
    res = cli("review", aid, "--candidate", "WL-007", "--portraits-to", folder, "--json")
    written = json.loads(res.stdout)["portraits_written"]
    assert [(w["kind"], w["ref"]) for w in written] == [("arrival", aid), ("watchlist", "WL-007")]
    for w in written:
        with Image.open(io.BytesIO(open(w["path"], "rb").read())) as img:
            assert img.size == (256, 256)
    events = {e["action"]: e for e in cli.json("audit", "show", "--arrival", aid)}
    assert events["portraits-export"]["records"] == [f"arrival:{aid}", "watchlist:WL-007"]
    assert "review-show" in events
    text = cli("review", aid, "--candidate", "WL-007", "--portraits-to", folder).stdout
    assert str(folder.resolve() / "watchlist-WL-007.jpg") in text.replace("\n", "")


def test_a_number_that_is_both_a_row_of_the_table_and_another_candidates_ref_is_refused(cli, wl_home):
    """`--candidate 1` must not decide the subject whose ref is `1` when the table's first row is another."""
    for ref, n in (("1", 2), ("2", 3)):
        cli("watchlist", "add", orl(7, n), "--ref", ref, "--name", f"Number {ref}", "--category", "wanted",
            "--reason", "Wanted on warrant in a test", "--authorised-by", "DS 1", "--review-date", "2099-01-01",
            "--accept-low-quality", "--override-reason", "test photo")  # fmt: skip
    aid = cli.json("capture", "--photo", orl(7, 4), "--surname", "Hama", "--top", "10")["arrival_id"]
    rows = {str(c["rank"]): str(c["ref"]) for c in cli.json("review", aid)["candidates"]}
    clash = next(n for n in ("1", "2", "3") if n in rows.values() and rows.get(n) != n)
    said = cli("review", aid, "--candidate", clash, "--decision", "rejected", "--reason", "not the same man",
               code=int(ExitStatus.BAD_INPUT)).stderr  # fmt: skip
    assert f"--candidate {clash} names more than one candidate" in " ".join(said.split()), said
    assert row_counts(wl_home)["reviews"] == 0


def test_the_same_decision_recorded_again_is_told_not_recorded_twice(cli, wl_home):
    """A `review` run again (after a kill, say, that left it unclear whether it had landed) records nothing twice."""
    from triage.errors import ExitStatus

    aid = cli.json("capture", "--photo", orl(7, 4))["arrival_id"]
    decide = ("review", aid, "--candidate", "WL-007", "--decision", "confirmed", "--reason", "same ear shape")
    cli(*decide)
    said = " ".join(cli(*decide, code=int(ExitStatus.CONFLICT)).stderr.split())
    assert "already has this decision: confirmed by" in said and "nothing was recorded" in said
    cli("review", aid, "--candidate", "WL-007", "--decision", "confirmed", "--reason", "and the scar above it")
    history = cli.json("review", aid, "--candidate", "WL-007")["candidates"][0]["reviews"]
    assert [r["reason"] for r in history] == ["same ear shape", "and the scar above it"]


def test_a_decision_typed_in_capitals_is_read_as_the_word_it_is(cli, wl_home):
    """`--decision Confirmed` was refused, where refs (`wl-007`) are read in any case."""
    aid = cli.json("capture", "--photo", orl(7, 4))["arrival_id"]
    res = cli.json("review", aid, "--candidate", "wl-007", "--decision", "Confirmed", "--reason", "same scar, seen")
    assert res["decision"] == "confirmed"
    assert cli.json("review", aid, "--candidate", "WL-007")["candidates"][0]["reviews"][-1]["decision"] == "confirmed"
    said = cli("review", aid, "--candidate", "WL-007", "--decision", "Maybe", "--reason", "not sure", code=3).stderr
    assert "--decision 'Maybe': choose one of confirmed, rejected, inconclusive" in said


def test_a_candidate_decided_is_no_longer_flagged_for_review(cli, wl_home):
    """The table still said "below threshold — review" beside a candidate confirmed or rejected."""

    def flags(aid: str) -> tuple[bool, bool]:
        """Whether the table's flag (its cell wraps: "below / threshold — / review") and the candidate's own
        line ask for a review."""
        text = cli("review", aid).stdout
        table, _, lines = text.partition("\n#")
        return "threshold —" in table, "for review" in " ".join(lines.split())

    aid = cli.json("capture", "--photo", orl(7, 4))["arrival_id"]
    assert [c["ref"] for c in cli.json("review", aid)["candidates"] if c["below_threshold"]] == ["WL-007"]
    assert flags(aid) == (True, True)
    cli("review", aid, "--candidate", "WL-007", "--decision", "inconclusive", "--reason", "photo too small to say")
    assert flags(aid) == (True, True)  # still to be looked at again
    for decision in ("confirmed", "rejected"):
        cli("review", aid, "--candidate", "WL-007", "--decision", decision, "--reason", f"{decision}: ears seen")
        assert flags(aid) == (False, False), decision


def test_a_pair_decided_from_the_later_arrival_shows_as_decided_from_the_earlier(cli, wl_home):
    """The later arrival's review of the earlier settles the pair (the queue counts it so), but the earlier
    arrival's own view, once its search found the later, showed the later as "not reviewed"."""
    first = cli.json("capture", "--photo", orl(35, 3), "--matcher", "dlib")["arrival_id"]
    second = cli.json("capture", "--photo", orl(35, 7), "--matcher", "dlib")
    assert first in [c["ref"] for c in second["candidates"] if c["kind"] == "arrival"]
    cli("review", second["arrival_id"], "--candidate", first, "--decision", "rejected", "--reason", "the ears differ")
    cli("match", first, "--matcher", "dlib")  # searched again: the later arrival is its candidate now
    (pair,) = [c for c in cli.json("review", first)["candidates"] if c["ref"] == second["arrival_id"]]
    assert [r["decision"] for r in pair["reviews"]] == ["rejected"], pair
    assert first not in [p["arrival_id"] for p in cli.json("review", "--pending")]
