"""Capture as an officer does it: a possible child is flagged in every later view, draft and export;
details can be asked for at the terminal (checked as typed, re-asked when wrong, shown before saving);
with flags, or without a terminal, nothing is asked."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest

from conftest import orl

PURPOSE = "To establish whether this arrival is wanted or is a missing person"


@pytest.fixture
def child_and_adult(cli, home):
    child = cli.json("capture", "--photo", orl(11, 2), "--surname", "Ahmadi", "--age", "15-17", "--vessel", "SB-7")
    adult = cli.json("capture", "--photo", orl(12, 2), "--surname", "Karimi", "--dob", "1980-05-01", "--vessel", "SB-7")
    assert child["safeguarding"] is True and adult["safeguarding"] is False
    return child["arrival_id"], adult["arrival_id"]


def test_safeguarding_flag_in_list_and_show(cli, child_and_adult):
    child, adult = child_and_adult
    listed = {r["arrival_id"]: r["safeguarding"] for r in cli.json("arrivals", "list")}
    assert listed == {child: True, adult: False}
    table = cli("arrivals", "list").stdout
    assert [line for line in table.splitlines() if "SAFEGUARDING" in line] == [
        line for line in table.splitlines() if child in line
    ]
    assert cli.json("arrivals", "show", child)["safeguarding"] == 1
    assert cli.json("arrivals", "show", adult)["safeguarding"] == 0
    assert "SAFEGUARDING" in cli("arrivals", "show", child).stdout
    flagged = [line for line in cli("arrivals", "show", adult).stdout.splitlines() if "SAFEGUARDING" in line]
    assert all(child in line for line in flagged), "only the child, shown as a candidate, is flagged"


def test_safeguarding_flag_in_pnd_draft(cli, child_and_adult):
    child, adult = child_and_adult
    assert cli.json("pnd", "draft", child, "--purpose", PURPOSE)["safeguarding"] is True
    assert "Safeguarding flag  : YES — safeguarding concern" in cli("pnd", "draft", child, "--purpose", PURPOSE).stdout
    assert "Safeguarding flag  : no" in cli("pnd", "draft", adult, "--purpose", PURPOSE).stdout


def test_safeguarding_flag_in_export(cli, child_and_adult, tmp_path):
    import pyrage

    child, adult = child_and_adult
    day = cli.json("arrivals", "show", child)["landed_day"]
    supervisor = pyrage.x25519.Identity.generate()
    out = tmp_path / "batch.age"
    cli("export", "--date", day, "--out", out, "--recipient", supervisor.to_public())
    with zipfile.ZipFile(io.BytesIO(pyrage.decrypt(out.read_bytes(), [supervisor]))) as z:
        summary = list(csv.DictReader(io.StringIO(z.read("summary.csv").decode("utf-8-sig"))))
        records = [json.loads(line) for line in z.read("arrivals.jsonl").decode().splitlines()]
    assert {r["arrival_id"]: r["safeguarding"] for r in summary} == {child: "True", adult: "False"}
    assert {r["id"]: r["safeguarding"] for r in records} == {child: 1, adult: 0}


# -- interactive -----------------------------------------------------------------------------------------


def answers(*lines: str) -> str:
    return "\n".join(lines) + "\n"


# One answer per question, in the order asked; a wrong answer is followed by the corrected one.
FIRST_ROUND = answers(
    "حسين",  # surname
    "Ali",  # given names
    "Abu Ali",  # other names
    "1990-13-01",  # date of birth: no month 13, asked again
    "1990-02-03",
    "Q",  # sex: asked again
    "m",
    "Atlantis",  # nationality: asked again
    "Sudan",
    "",  # place of birth
    "Arabic; English",  # languages
    "none",  # no document, so its number, state and expiry are not asked
    "12",  # phone: asked again
    "+44 20 7946 0958",
    "",  # notes
)


def test_interactive_capture_reasks_and_shows_before_saving(cli, home):
    res = cli("capture", "--photo", orl(13, 2), "--interactive", "--json", input=FIRST_ROUND + "y\n")
    said = " ".join(res.stderr.split())  # the words, however a refusal wraps
    for refusal in (
        "is not a date: month 13",
        "is not a sex marker",
        "'Atlantis' is not a country",
        "'12' is not a valid phone number",
    ):
        assert refusal in said
    assert said.count("try again") == 4
    assert "Check before saving" in res.stderr and "Save this arrival?" in res.stderr
    assert "Document number" not in res.stderr
    saved = cli.json("arrivals", "show", json.loads(res.stdout)["arrival_id"])["details"]
    assert {
        k: saved[k]
        for k in (
            "surname",
            "surname_latin",
            "dob",
            "sex",
            "nationality",
            "languages",
            "phones",
            "aliases",
            "document_type",
        )
    } == {
        "surname": "حسين",
        "surname_latin": "HSYN",
        "dob": "1990-02-03",
        "sex": "M",
        "nationality": "SDN",
        "languages": ["Arabic", "English"],
        "phones": ["+442079460958"],
        "aliases": ["Abu Ali"],
        "document_type": "none",
    }


def test_the_check_before_saving_shows_an_assessed_age(cli, home):
    no_dob = answers("Tesfay", "Yonas", "", "", "16-18", "M", "Eritrea", "", "", "none", "", "")
    res = cli("capture", "--photo", orl(13, 4), "--interactive", "--json", input=no_dob + "y\n")
    table = res.stderr[res.stderr.index("Check before saving") :]
    assert "assessed age" in table and "16-18" in table, table
    assert "SAFEGUARDING" in table


def test_saying_no_asks_again_with_the_answers_as_defaults(cli, home):
    keep_all_but_surname = answers("Hassan", *[""] * 10)  # Enter keeps each earlier (corrected) answer
    res = cli(
        "capture",
        "--photo",
        orl(13, 3),
        "--interactive",
        "--json",
        input=FIRST_ROUND + "n\n" + keep_all_but_surname + "y\n",
    )
    assert res.stderr.count("Check before saving") == 2
    saved = cli.json("arrivals", "show", json.loads(res.stdout)["arrival_id"])["details"]
    assert (saved["surname"], saved["given_names"], saved["dob"], saved["nationality"]) == (
        "Hassan",
        "Ali",
        "1990-02-03",
        "SDN",
    )
    assert saved["phones"] == ["+442079460958"]


def test_flags_are_the_defaults_and_a_child_is_flagged_before_saving(cli, home):
    res = cli(
        "capture",
        "--photo",
        orl(14, 2),
        "--interactive",
        "--surname",
        "Yusuf",
        "--json",
        input=answers("", "", "", "", "15-17", *[""] * 7) + "y\n",
    )
    assert "SAFEGUARDING" in res.stderr
    result = json.loads(res.stdout)
    assert result["safeguarding"] is True
    assert cli.json("arrivals", "show", result["arrival_id"])["details"]["surname"] == "Yusuf"


def test_end_of_input_while_asking_saves_nothing(cli, home):
    before = cli.json("arrivals", "list")
    ended = cli("capture", "--photo", orl(14, 3), "--interactive", input="Yusuf\n", code=130)
    assert "the input ended at a prompt" in ended.stderr and "Aborted" not in ended.stderr
    assert cli.json("arrivals", "list") == before


def test_without_a_terminal_nothing_is_asked(cli, home):
    res = cli("capture", "--photo", orl(15, 2), "--json", input="Should not be read\n")
    assert "Surname" not in res.stderr and "Save this arrival?" not in res.stderr
    saved = cli.json("arrivals", "show", json.loads(res.stdout)["arrival_id"])["details"]
    assert saved["surname"] is None
