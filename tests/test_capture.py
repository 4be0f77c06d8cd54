"""Capture as an officer does it: a possible child is flagged in every later view, draft and export;
details can be asked for at the terminal (checked as typed, re-asked when wrong, shown before saving);
with flags, or without a terminal, nothing is asked; a capture run again with the same photo file and face
(after a kill hid whether it had landed) lands nothing twice."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile

import pytest

from conftest import orl, row_counts

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


# -- run again ---------------------------------------------------------------------------------------------


def _capture_actions(home) -> list[str]:
    from triage.store.rows import Store

    store = Store.open_locked(home)
    try:
        return [a for (a,) in store.db.execute("SELECT action FROM audit_events WHERE action = 'capture'")]
    finally:
        store.close()


def test_a_capture_run_again_after_a_kill_lands_once_and_says_where_it_landed(cli, wl_home, tmp_path):
    """The first run commits and is killed before it prints (the officer saw nothing); the same command again
    says the photo landed before, names the arrival and its alert awaiting review, and records nothing."""
    photo = tmp_path / "IMG_0412.pgm"
    shutil.copy(orl(7, 2), photo)  # WL-007 is on the watchlist (photo 1)
    given = ("capture", "--photo", photo, "--surname", "Hama", "--vessel", "SB-0417")
    first = cli.json(*given)["arrival_id"]  # what it printed is lost with the killed process
    held = row_counts(wl_home)

    again = cli.json(*given)
    assert again["already_landed"] is True and again["arrival_id"] == first
    assert (again["alerts"], again["vessel"], again["differs"]) == (1, "SB-0417", [])
    said = " ".join(cli(*given).stdout.split())
    assert f"IMG_0412.pgm landed before as arrival {first}" in said and "nothing new was recorded" in said
    assert f"Awaiting review: 1 watchlist alert; see them with: triage review {first}" in said
    asked = cli("capture", "--photo", photo, "--interactive", input="Other\n" * 20)  # before any question
    assert f"landed before as arrival {first}" in asked.stdout and "Surname" not in asked.stderr
    corrected = cli.json(*given, "--notes", "says he steered")
    assert corrected["arrival_id"] == first and corrected["differs"] == ["notes"]
    assert row_counts(wl_home) == held, "nothing recorded, no audit event"

    assert [a["arrival_id"] for a in cli.json("arrivals", "list")] == [first]
    assert _capture_actions(wl_home) == ["capture"]
    assert cli.json("capture", "--photo", orl(7, 2))["already_landed"] is False, "another file is another capture"


def _group_photo(path):
    from PIL import Image

    faces = [Image.open(orl(s, 1)).convert("RGB").resize((184, 224)) for s in (21, 22)]
    canvas = Image.new("RGB", (440, 280), (128, 128, 128))
    canvas.paste(faces[0], (20, 28))
    canvas.paste(faces[1], (236, 28))
    canvas.save(path)
    return path


def test_another_face_of_a_group_photo_captured_again_is_another_person(cli, home, tmp_path):
    group = _group_photo(tmp_path / "group.png")
    one = cli.json("capture", "--photo", group, "--face", "1", "--surname", "Tesfaye")["arrival_id"]
    again = cli.json("capture", "--photo", group, "--face", "1", "--surname", "Tesfaye")
    assert (again["already_landed"], again["arrival_id"], again["faces_in_photo"]) == (True, one, 2)
    said = " ".join(cli("capture", "--photo", group, "--face", "1").stdout.split())
    assert f"group.png, face 1, landed before as arrival {one}" in said
    assert "another of them is another person, captured with --face N" in said

    two = cli.json("capture", "--photo", group, "--face", "2", "--surname", "Bekele")
    assert two["already_landed"] is False and two["arrival_id"] != one
    assert cli.json("capture", "--photo", group, "--face", "2")["arrival_id"] == two["arrival_id"]
    assert cli.json("capture", "--photo", group)["arrival_id"] == one, "no face named is the largest, face 1"
    assert _capture_actions(home) == ["capture", "capture"]

    # the key is capture-batch's: a manifest naming the file and face finds them landed
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("photo,face,surname\ngroup.png,2,Bekele\n", encoding="utf-8")
    batch = cli.json("capture-batch", manifest)
    assert (batch["landed"], [d["arrival_id"] for d in batch["duplicates"]]) == (0, [two["arrival_id"]])


def test_a_photo_whose_arrival_was_voided_lands_anew_once(cli, home, tmp_path):
    photo = tmp_path / "IMG_0413.pgm"
    shutil.copy(orl(12, 2), photo)
    first = cli.json("capture", "--photo", photo, "--surname", "Karimi")["arrival_id"]
    cli("arrivals", "void", first, "--reason", "landed with the wrong photo's details")
    anew = cli("capture", "--photo", photo, "--surname", "Karimi", "--json")
    landed = json.loads(anew.stdout)
    assert landed["already_landed"] is False and landed["arrival_id"] != first
    assert f"this photo landed before as {first}, voided since: captured anew" in " ".join(anew.stderr.split())
    again = cli.json("capture", "--photo", photo, "--surname", "Karimi")
    assert (again["already_landed"], again["arrival_id"]) == (True, landed["arrival_id"])
    listed = {a["arrival_id"]: a["void"] for a in cli.json("arrivals", "list")}
    assert listed == {first: True, landed["arrival_id"]: False}
    events = [e for e in cli.json("audit", "show") if e["action"] == "capture"]
    assert [e["arrival_id"] for e in events] == [first, landed["arrival_id"]]
    assert f"the photo of void arrival {first}, captured again" in (events[1].get("reason") or "")
    assert cli.json("audit", "verify")["ok"]
