"""Finding arrivals by name through the real CLI: a name in any script or spelling finds the arrivals captured
under another (and not a different name), ranked by the name parts that agree and then the date of birth; a
capture whose name and date of birth agree with an earlier arrival's, with a different face, shows a
`biographic` candidate, weaker evidence, for review like the others; and an older home's arrivals, or every
arrival after the data key is replaced, are found once their keys are made again."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import orl
from triage.errors import ExitStatus

DLIB = ("--matcher", "dlib")
RELEASE_HOME = Path(__file__).parent / "data" / "release_home"


def capture(cli, person: int, surname: str, given: str, dob: str) -> dict:
    """A capture of a different ORL person each time (none of them on the fixture's watchlist), so that only
    the names and dates of birth can link them."""
    return cli.json(
        "capture", "--photo", orl(person, 1), "--surname", surname, "--given-names", given, "--dob", dob, *DLIB
    )


def test_a_name_finds_its_spellings_and_a_capture_shows_a_biographic_candidate(cli, wl_home):
    first = capture(cli, 31, "الحسن", "محمد", "1995-03-12")["arrival_id"]
    other = capture(cli, 32, "HUSSEIN", "MAHMOUD", "1995-03-12")["arrival_id"]
    later = capture(cli, 33, "AL-HASAN", "MUHAMMAD", "12/04/1995")
    again = later["arrival_id"]

    # The later capture: a biographic candidate for the first arrival (date of birth within a month), none for
    # the arrival with the same date of birth but another name; no face below the threshold links them.
    bio = [c for c in later["candidates"] if c["kind"] == "biographic"]
    assert [c["ref"] for c in bio] == [first]
    assert (bio[0]["score"], bio[0]["dob_agrees"], bio[0]["distance"]) == (2, "close", None)
    assert bio[0]["evidence"] == "biographic: name agrees (2 name parts), date of birth close"
    assert not any(c["below_threshold"] for c in later["candidates"])

    found = cli.json("arrivals", "find", "Mohamed Hasan")
    ids = [a["arrival_id"] for a in found["arrivals"]]
    assert set(ids) == {first, again} and other not in ids
    assert all(a["parts_matched"] == a["parts_asked"] == 2 for a in found["arrivals"])
    ranked = cli.json("arrivals", "find", "Mohamed Hasan", "--dob", "12.03.1995")["arrivals"]
    assert [(a["arrival_id"], a["dob_agrees"]) for a in ranked] == [(first, "same"), (again, "close")]
    text = cli("arrivals", "find", "محمد الحسن").stdout
    assert again in text and "2 of 2 name" in text and "never an identification" in text

    # Reviewed like the others: it waits in the queue, weaker evidence, until a person decides on the pair.
    queue = cli.json("review", "--pending")
    assert [(p["arrival_id"], [(c["kind"], c["ref"], c["score"]) for c in p["candidates"]]) for p in queue] == [
        (again, [("biographic", first, 2)])
    ]
    assert f"biographic {first}" in cli("review", "--pending").stdout
    day = cli.json("arrivals", "list")[0]["landed_day"]
    report = cli("report", "--date", day, "--format", "text").stdout
    assert f"biographic {first}" in report and "biographic: name agrees (2 name parts)" in report
    cli("report", "--date", day, "--out", wl_home.parent / "day.html")
    shown = " ".join(cli("review", again, "--candidate", first, "--no-portraits").stdout.split())  # as read
    assert "biographic: name agrees (2 name parts), date of birth close" in shown and "match" not in shown
    done = cli.json(
        "review", again, "--candidate", first, "--decision", "rejected", "--reason", "different people, checked"
    )
    assert done["candidate"] == first
    assert cli.json("review", "--pending") == []
    bio_now = [c for c in cli.json("arrivals", "show", again)["candidates"] if c["kind"] == "biographic"]
    assert [r["decision"] for r in bio_now[0]["reviews"]] == ["rejected"]


def test_a_name_pasted_with_direction_marks_is_found_as_typed(cli, wl_home):
    """A name copied from a right-to-left field carries invisible marks (RLM, LRM, ALM): kept, they made its
    keys, so the same name typed without them found nothing and the lexicon knew none of its spellings."""
    pasted = capture(cli, 31, "\u200fحسين\u200f", "\u061cمحمد\u200e", "1995")["arrival_id"]
    shown = cli.json("arrivals", "show", pasted)
    assert "\u200f" not in str(shown) and "\u061c" not in str(shown)
    for typed in ("حسين", "Hussein", "\u200fحسين"):
        assert [a["arrival_id"] for a in cli.json("arrivals", "find", typed)["arrivals"]] == [pasted], typed
    assert "HUSSEIN" in [v["text"] for v in cli.json("names", "\u200fحسين")["variants"]]


def test_a_pictograph_in_a_name_is_refused(cli, wl_home):
    """`--surname "Omar 🚤"` was taken, and its Latin form, which a PND search is drafted with, read `OMAR
    :SPEEDBOAT:`: a pictograph is refused wherever a person's name is typed."""
    refused = cli("capture", "--photo", orl(31, 1), "--surname", "Omar 🚤", code=int(ExitStatus.BAD_INPUT)).stderr
    assert "--surname: contains the symbol '🚤' (U+1F6A4), which is no part of a name" in refused
    cli("arrivals", "find", "Omar 🚤", code=int(ExitStatus.BAD_INPUT))


def test_arrivals_are_found_after_the_data_key_is_replaced_and_in_an_older_home(cli, wl_home, monkeypatch, tmp_path):
    aid = capture(cli, 34, "Haile", "Tesfay", "1990")["arrival_id"]
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", "another horse battery staple")
    cli("passphrase", "change", "--rotate")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "another horse battery staple")
    assert [a["arrival_id"] for a in cli.json("arrivals", "find", "HAILE")["arrivals"]] == [aid]
    assert any(e["action"] == "name-keys-made" for e in cli.json("audit", "show"))
    assert cli.json("audit", "verify")["ok"] is True

    # Keys made by other name rules (or another lexicon) are made again before a search trusts them.
    from triage.casework import name_keys

    def remade() -> int:
        return sum(e["action"] == "name-keys-made" for e in cli.json("audit", "show"))

    before = remade()
    assert [a["arrival_id"] for a in cli.json("arrivals", "find", "HAILE")["arrivals"]] == [aid]
    assert remade() == before, "keys made by these rules are not made again"
    monkeypatch.setattr(name_keys, "RULES_VERSION", name_keys.RULES_VERSION + 1)
    assert [a["arrival_id"] for a in cli.json("arrivals", "find", "HAILE")["arrivals"]] == [aid]
    assert remade() == before + 1

    old = tmp_path / "older"
    shutil.copytree(RELEASE_HOME, old)
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "correct horse battery staple")
    found = cli.json("arrivals", "find", "Hama", "--home", old)
    assert [a["name"] for a in found["arrivals"]] == ["HAMA"]
    assert cli.json("audit", "verify", "--home", old)["ok"] is True


def test_a_biographic_candidate_travels_in_the_batch(cli, tmp_path):
    laptop, sup = tmp_path / "L", tmp_path / "S"
    for home, site in ((laptop, "Dover"), (sup, "Dover HQ")):
        cli("init", "--home", home, "--site", site, "--force-code", "KNT", "--matcher", "dlib")
    supervisor = cli.json("keys", "show", "--home", sup)
    cli("keys", "recipient", "add", "Supervisor", supervisor["age_recipient"], "--home", laptop)
    cli("keys", "trust", "Laptop", cli.json("keys", "show", "--home", laptop)["signing_key"], "--home", sup)
    details = [("Berhane", "Mussie", "1999-02-03"), ("BIRHANE", "MUSIE", "03/02/1999")]
    ids = [
        cli.json(
            "capture", "--home", laptop, "--photo", orl(35 + i, 1), "--surname", s, "--given-names", g, "--dob", d
        )["arrival_id"]
        for i, (s, g, d) in enumerate(details)
    ]
    day = cli.json("arrivals", "list", "--home", laptop)[0]["landed_day"]
    cli("export", "--home", laptop, "--date", day, "--out", tmp_path / "day.age", "--with-templates")
    result = cli.json("import", tmp_path / "day.age", "--home", sup)[0]
    assert [(c["arrival_id"], c["candidate"], c["kind"], c["score"]) for c in result["repeat_candidates"]] == [
        (ids[1], ids[0], "biographic", 2)
    ]
    found_by = result["repeat_candidates"][0]["found_by"]
    assert "this home" in found_by and any(f.startswith("Laptop") for f in found_by), found_by
    shown = cli.json("arrivals", "show", ids[1], "--home", sup)["candidates"]
    assert [(c["kind"], c["ref"], c["dob_agrees"]) for c in shown if c["kind"] == "biographic"] == [
        ("biographic", ids[0], "same")
    ]
    assert cli.json("audit", "verify", "--home", sup)["ok"] is True


def test_name_keys_changed_or_deleted_outside_triage_are_refused(cli, wl_home):
    """A blind moved onto another arrival with the sqlite3 shell is refused where a search would use it; blinds
    deleted (which would hide an arrival from every name search) are refused by the search too, its table no longer
    adding up. (An arrival with no keys at all and no record of them, as an upgraded home has, is keyed on first
    use: `name_keys.unkeyed`.)"""
    import sqlite3

    from triage.errors import ExitStatus

    hassan = capture(cli, 31, "الحسن", "محمد", "1995-03-12")["arrival_id"]
    other = capture(cli, 32, "KARIMI", "REZA", "1990-01-01")["arrival_id"]

    def sql(statement: str, *params: str) -> None:
        db = sqlite3.connect(wl_home / "triage.db")
        db.execute(statement, params)
        db.commit()
        db.close()

    assert [a["arrival_id"] for a in cli.json("arrivals", "find", "Mohamed Hasan")["arrivals"]] == [hassan]
    sql("UPDATE name_keys SET arrival_id = ? WHERE arrival_id = ? AND field != 'made'", other, hassan)
    refused = cli("arrivals", "find", "Mohamed Hasan", code=int(ExitStatus.INTEGRITY))
    assert "name_keys row" in refused.stderr and "changed outside triage" in refused.stderr
    cli(
        "capture",
        "--photo",
        orl(33, 1),
        "--surname",
        "HASAN",
        "--given-names",
        "MOHAMED",
        "--dob",
        "1995-03-12",
        *DLIB,
        code=int(ExitStatus.INTEGRITY),
    )
    sql("DELETE FROM name_keys WHERE arrival_id = ?", other)
    refused = cli("arrivals", "find", "Reza Karimi", code=int(ExitStatus.INTEGRITY))
    assert "the rows of name_keys are not the ones last written" in " ".join(refused.stderr.split())


def test_a_capture_refuses_name_keys_deleted_outside_triage_before_its_name_search(cli, wl_home):
    """A capture writes its own keys in its transaction, where the table's digest cannot be checked: it is checked
    first, so keys deleted (all but an arrival's record that it was keyed) cannot leave it out of the search."""
    import sqlite3

    from triage.errors import ExitStatus

    hassan = capture(cli, 31, "الحسن", "محمد", "1995-03-12")["arrival_id"]
    db = sqlite3.connect(wl_home / "triage.db")
    with db:
        db.execute("DELETE FROM name_keys WHERE arrival_id = ? AND field != 'made'", [hassan])
    db.close()
    refused = cli("capture", "--photo", orl(33, 1), "--surname", "HASAN", "--given-names", "MOHAMED", *DLIB,
                  code=int(ExitStatus.INTEGRITY))  # fmt: skip
    assert "the rows of name_keys are not the ones last written" in " ".join(refused.stderr.split())
