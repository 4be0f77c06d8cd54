"""Corrections through the real CLI: an amendment makes a new version of an arrival's details and keeps the
old one in view, audited; a void takes an arrival out of the queue and out of later searches and keeps it
as a tombstone; and a manifest run again after a column was added and a cell changed lands nothing, saying
which row's details differ."""

from __future__ import annotations

import csv
import re
import shutil

from test_drafts import validator

from conftest import OFFICER, orl, row_counts
from triage.errors import ExitStatus

DLIB = ("--matcher", "dlib")  # the candidates below are those of the dlib calibration's threshold


def test_an_amendment_is_a_new_version_and_the_old_one_is_kept(cli, wl_home):
    aid = cli.json("capture", "--photo", orl(30, 1), "--surname", "Hama", "--dob", "1990", "--nationality", "Eritrea")[
        "arrival_id"
    ]
    done = cli.json("arrivals", "amend", aid, "--surname", "Haile", "--reason", "passport seen at the reception centre")
    assert (done["version"], done["changed"], done["searched_again"]) == (2, ["surname"], True)
    notes = cli("arrivals", "amend", aid, "--notes", "limping, left leg", "--reason", "seen by the medic")
    assert "version 3" in notes.stdout and "search was not made again" in notes.stdout

    shown = cli.json("arrivals", "show", aid)
    assert (shown["details"]["surname"], shown["details"]["nationality"]) == ("Haile", "ERI")
    assert shown["details"]["notes"] == "limping, left leg"
    first, second = shown["versions"]
    assert (first["version"], first["details"]["surname"], first["changed"]) == (1, "Hama", ["surname"])
    assert first["reason"] == "passport seen at the reception centre" and first["replaced_by"]
    assert (second["details"]["surname"], second["changed"]) == ("Haile", ["notes"])
    text = cli("arrivals", "show", aid).stdout
    assert "version 1, replaced by" in text and "surname: Hama -> Haile" in text
    assert "notes: not given -> limping, left leg" in text

    events = [e for e in cli.json("audit", "show") if e["action"] == "arrival-amend"]
    assert [e["arrival_id"] for e in events] == [aid, aid]
    searches = [e for e in cli.json("audit", "show") if e["action"] == "search" and e["arrival_id"] == aid]
    assert len(searches) == 1, "only the change of surname searched again"


def test_an_amendment_that_cannot_be_made_is_refused_and_changes_nothing(cli, wl_home):
    aid = cli.json("capture", "--photo", orl(30, 1), "--surname", "Hama")["arrival_id"]
    before = row_counts(wl_home)
    bad = int(ExitStatus.BAD_INPUT)
    assert "--reason is required" in cli("arrivals", "amend", aid, "--surname", "Haile", code=bad).stderr
    assert "at least one detail" in cli("arrivals", "amend", aid, "--reason", "nothing to say", code=bad).stderr
    assert "dob" in cli("arrivals", "amend", aid, "--dob", "1990-13-01", "--reason", "typo fixed", code=bad).stderr
    assert "nothing to amend" in cli("arrivals", "amend", aid, "--surname", "Hama", "--reason", "same", code=bad).stderr
    cli("arrivals", "amend", "A-ZZZZZZ", "--surname", "X", "--reason", "no such one", code=int(ExitStatus.NOT_FOUND))
    assert row_counts(wl_home) == before
    assert "versions" not in cli.json("arrivals", "show", aid)


def test_a_void_arrival_leaves_the_queue_and_the_searches_and_stays_as_a_tombstone(cli, wl_home):
    a = cli.json("capture", "--photo", orl(7, 4), "--landed-at", "2026-01-10T04:00", *DLIB)["arrival_id"]
    b = cli.json("capture", "--photo", orl(12, 6), "--landed-at", "2026-01-10T03:00", *DLIB)["arrival_id"]
    assert [p["arrival_id"] for p in cli.json("review", "--pending")] == [b, a]

    assert "--reason is required" in cli("arrivals", "void", a, code=int(ExitStatus.BAD_INPUT)).stderr
    done = cli.json("arrivals", "void", a, "--reason", "the same man captured twice; see the later capture")
    assert done["void"] is True
    assert [p["arrival_id"] for p in cli.json("review", "--pending")] == [b]

    later = cli.json("capture", "--photo", orl(7, 5), "--landed-at", "2026-01-10T05:00", *DLIB)
    assert a not in [c["ref"] for c in later["candidates"]], "a void arrival is no one's candidate"
    assert "WL-007" in [c["ref"] for c in later["candidates"]]
    assert a not in {c["ref"] for p in cli.json("review", "--pending") for c in p["candidates"]}

    shown = cli.json("arrivals", "show", a)
    assert shown["void"]["reason"] == "the same man captured twice; see the later capture" and shown["void"]["officer"]
    assert "VOID: voided by" in cli("arrivals", "show", a).stdout
    assert next(r for r in cli.json("arrivals", "list") if r["arrival_id"] == a)["void"] is True
    conflict = int(ExitStatus.CONFLICT)
    cli("match", a, code=conflict)
    cli("arrivals", "void", a, "--reason", "again", code=conflict)
    cli("arrivals", "amend", a, "--surname", "X", "--reason", "too late", code=conflict)
    assert [e["arrival_id"] for e in cli.json("audit", "show") if e["action"] == "arrival-void"] == [a]


def test_a_void_arrival_is_closed_to_every_change_and_out_of_other_arrivals_drafts(cli, wl_home):
    """Every command that would add to a void arrival (a flag, a debrief, a referral step, a draft, a decision
    on it or pairing it, a crime-group link) refuses as `arrivals amend` does, and changes nothing; a draft or
    debrief about another arrival leaves it out (its names are no one's aliases)."""
    a = cli.json("capture", "--photo", orl(7, 4), "--surname", "Hama", "--vessel", "SB-9", *DLIB)["arrival_id"]
    cli("debrief", a, "--contact-phone", "07911 123456")
    b = cli.json("capture", "--photo", orl(7, 5), "--surname", "Haji", "--vessel", "SB-9", *DLIB)["arrival_id"]
    cli("review", b, "--candidate", a, "--decision", "confirmed", "--reason", "one man captured twice")
    cli("ocg", "add", "OCG-2026-031", "--phone", "07911 123456")
    cli("arrivals", "void", a, "--reason", "duplicate capture")
    before = row_counts(wl_home)

    conflict = int(ExitStatus.CONFLICT)
    amend = cli("arrivals", "amend", a, "--surname", "X", "--reason", "too late", code=conflict).stderr
    assert f"arrival {a} was voided by" in amend and "it cannot be changed" in amend
    purpose = "To establish whether this arrival is wanted on warrant"
    for refused in (
        ("arrivals", "flag", a, "--safeguarding", "--reason", "looks under 16"),
        ("debrief", a, "--declined", "payment"),
        ("referral", a, "--arrival-method", "small-boat"),
        ("pnd", "draft", a, "--purpose", purpose),
        ("review", a, "--candidate", "WL-007", "--decision", "rejected", "--reason", "different ear shape"),
        ("review", b, "--candidate", a, "--decision", "rejected", "--reason", "different ear shape"),
        ("ocg", "link", "OCG-2026-031", "--arrival", a, "--reason", "gave the group's booking number"),
    ):
        assert cli(*refused, code=conflict).stderr == amend, refused
    pilot = cli("debrief", b, "--pilot", a, code=int(ExitStatus.BAD_INPUT)).stderr
    assert f"--pilot: arrival {a} is void" in pilot
    assert row_counts(wl_home) == before, "nothing was recorded"
    assert not cli.json("arrivals", "show", a)["safeguarding"]

    draft = cli.json("pnd", "draft", b, "--purpose", purpose)
    assert a not in {c["ref"] for c in draft["candidates"]}
    assert not [x for x in draft["subject"]["aliases"] if a in x["source"]], "a void arrival's names are no alias"
    assert cli.json("debrief", b, "--contact-phone", "07911 123456")["shared_with"] == []


def test_an_amended_detail_is_shown_once_and_named_as_the_details_are(cli, wl_home):
    aid = cli.json("capture", "--photo", orl(30, 1), "--surname", "Hama", *DLIB)["arrival_id"]
    cli("arrivals", "amend", aid, "--age", "16", "--given-names", "Karwan", "--reason", "said so to the interpreter")
    text = cli("arrivals", "show", aid).stdout
    assert "age range: not given -> 16\n" in text and "16; 16" not in text
    assert "given names: not given -> Karwan" in text
    assert "given_names" not in text and "age_range" not in text
    assert "│ given names" in text and "│ age range" in text


def _write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def test_a_manifest_run_again_with_a_column_added_and_a_cell_changed_lands_nothing(cli, wl_home, tmp_path):
    folder = tmp_path / "boat"
    folder.mkdir()
    rows = []
    for n, subject in enumerate(range(21, 29), 1):
        shutil.copy(orl(subject, 1), folder / f"p{n}.pgm")
        rows.append({"photo": f"p{n}.pgm", "surname": f"Person {n}", "dob": "1990", "notes": ""})
    path = folder / "manifest.csv"
    _write(path, ["photo", "surname", "dob", "notes"], rows)
    first = cli.json("capture-batch", path, *DLIB)
    assert (first["landed"], first["already_landed"]) == (8, 0)
    landed = {a["row"]: a["arrival_id"] for a in first["arrivals"]}
    counts = row_counts(wl_home)

    for row in rows:
        row["face"] = "1"
    rows[6]["notes"] = "wet through, no shoes"
    _write(path, ["photo", "surname", "dob", "notes", "face"], rows)
    again = cli("capture-batch", path, *DLIB)
    assert "0 landed, 8 already landed earlier, 0 refused (of 8 rows)" in again.stdout
    differ = [line for line in again.stdout.splitlines() if "details differ" in line]
    assert differ == [f"row 7 already landed as {landed[7]}; details differ (notes): use triage arrivals amend"]
    assert row_counts(wl_home)["arrivals"] == counts["arrivals"]
    report = cli.json("capture-batch", path, *DLIB)
    assert {d["row"]: d["differs"] for d in report["duplicates"] if d["differs"]} == {7: ["notes"]}
    assert {d["row"]: d["arrival_id"] for d in report["duplicates"]} == landed

    cli("arrivals", "amend", landed[7], "--notes", "wet through, no shoes", "--reason", "manifest corrected")
    settled = cli("capture-batch", path, *DLIB).stdout
    assert "details differ" not in settled and "0 landed, 8 already landed earlier" in settled


def test_two_rows_naming_two_faces_of_one_group_photo_land_two_people_once(cli, wl_home, tmp_path):
    """The second face of a group photo is another person, not the first one's row again (which would have
    sent the officer to amend the first person's record with the second's details)."""
    from PIL import Image

    folder = tmp_path / "boat"
    folder.mkdir()
    faces = [Image.open(orl(s, 1)).convert("RGB").resize((184, 224)) for s in (21, 22)]
    canvas = Image.new("RGB", (440, 280), (128, 128, 128))
    canvas.paste(faces[0], (20, 28))
    canvas.paste(faces[1], (236, 28))
    canvas.save(folder / "group.png")
    rows = [{"photo": "group.png", "surname": name, "face": str(n)} for n, name in ((1, "Tesfaye"), (2, "Bekele"))]
    path = folder / "manifest.csv"
    _write(path, ["photo", "surname", "face"], rows)
    first = cli.json("capture-batch", path, *DLIB)
    assert (first["landed"], first["already_landed"], first["refused"]) == (2, 0, 0), first
    landed = {a["row"]: a["arrival_id"] for a in first["arrivals"]}
    assert len(set(landed.values())) == 2
    names = {row: cli.json("arrivals", "show", aid)["details"]["surname"] for row, aid in landed.items()}
    assert names == {1: "Tesfaye", 2: "Bekele"}
    again = cli("capture-batch", path, *DLIB).stdout
    assert "0 landed, 2 already landed earlier, 0 refused (of 2 rows)" in again and "details differ" not in again
    rows[0].pop("face")  # the largest face when none is named: the same row as face 1
    _write(path, ["photo", "surname", "face"], rows)
    assert cli.json("capture-batch", path, *DLIB)["already_landed"] == 2
    # one face given to two people in one manifest is a mistake to correct, not a person landed before
    (folder / "again").mkdir()
    shutil.copy(folder / "group.png", folder / "again" / "group.png")
    twice = folder / "again" / "manifest.csv"
    _write(twice, ["photo", "surname", "face"], [{"photo": "group.png", "surname": n, "face": "2"} for n in "AB"])
    said = cli.json("capture-batch", twice, *DLIB, code=int(ExitStatus.BAD_INPUT))
    (refused,) = said["refusals"]
    assert (
        said["already_landed"] == 1 and refused["row"] == 2 and "the same photo and face as row 1" in refused["reason"]
    ), refused


def test_an_amendment_and_a_void_made_before_the_export_reach_the_supervisor(cli, home, tmp_path):
    sup = tmp_path / "S"
    cli("init", "--home", sup, "--site", "Dover HQ", "--force-code", "KNT")
    supervisor = cli.json("keys", "show", "--home", sup)
    cli("keys", "recipient", "add", "Supervisor", supervisor["age_recipient"])
    cli("keys", "trust", "Laptop", cli.json("keys", "show")["signing_key"], "--home", sup)
    kept = cli.json("capture", "--photo", orl(30, 1), "--surname", "Hama")["arrival_id"]
    gone = cli.json("capture", "--photo", orl(30, 2), "--surname", "Hama")["arrival_id"]
    cli("arrivals", "amend", kept, "--surname", "Haile", "--reason", "passport seen")
    cli("arrivals", "void", gone, "--reason", "the same man captured twice")
    day = cli.json("arrivals", "list")[0]["landed_day"]
    cli("export", "--date", day, "--out", tmp_path / "day.age")
    cli("import", tmp_path / "day.age", "--home", sup)
    held = {r["name"]: r for r in cli.json("arrivals", "list", "--home", sup)}
    assert held["HAILE"]["void"] is False and held["HAMA"]["void"] is True
    shown = cli.json("arrivals", "show", held["HAILE"]["arrival_id"], "--home", sup)
    assert [v["details"]["surname"] for v in shown["versions"]] == ["Hama"]
    assert held["HAMA"]["arrival_id"] not in [p["arrival_id"] for p in cli.json("review", "--pending", "--home", sup)]


def test_corrections_made_after_an_export_reach_the_supervisor_once(cli, home, tmp_path):
    """A laptop exports its day, then amends one arrival and voids another and exports the day again (over the
    first file, then to a new one); the supervisor imports every file and holds each correction once."""
    sup = tmp_path / "S"
    cli("init", "--home", sup, "--site", "Dover HQ", "--force-code", "KNT")
    cli("keys", "recipient", "add", "Supervisor", cli.json("keys", "show", "--home", sup)["age_recipient"])
    cli("keys", "trust", "Laptop", cli.json("keys", "show")["signing_key"], "--home", sup)
    landed = ("--landed-at", "2026-01-10T04:00")
    kept = cli.json("capture", "--photo", orl(7, 4), "--surname", "Hama", *landed)["arrival_id"]
    twice = cli.json("capture", "--photo", orl(12, 6), "--surname", "Karimi", *landed)["arrival_id"]
    first, second = tmp_path / "first.age", tmp_path / "second.age"
    cli("export", "--date", "2026-01-10", "--out", first)
    before = cli.json("import", first, "--home", sup)[0]
    assert before["new_arrivals"] == 2 and before["added"]["corrections"] == 0

    cli("arrivals", "amend", kept, "--surname", "Haile", "--reason", "passport seen at the reception centre")
    cli("arrivals", "void", twice, "--reason", "the same man captured twice")
    cli("export", "--date", "2026-01-10", "--out", first, "--force")
    cli("export", "--date", "2026-01-10", "--out", second)
    shutil.copytree(sup, tmp_path / "S2")  # the same import read by a person: which arrivals changed, and how
    said = " ".join(cli("import", first, second, "--home", tmp_path / "S2").stdout.split())
    results = cli.json("import", first, second, "--home", sup)
    assert [r["added"]["corrections"] for r in results] == [2, 0]
    assert (
        sorted((c["kind"], c["reason"]) for c in results[0]["corrected"])
        == [
            ("amendment", "passport seen at the reception centre"),
            ("void", "the same man captured twice"),
        ]
        and results[1]["corrected"] == []
    )
    void_here = next(c["arrival_id"] for c in results[0]["corrected"] if c["kind"] == "void")
    assert f"{void_here} voided by {OFFICER}: the same man captured twice" in said, said
    assert all(r["new_arrivals"] == 0 for r in results)

    def held() -> tuple[dict, dict]:
        listed = cli.json("arrivals", "list", "--home", sup)
        (amended,) = [cli.json("arrivals", "show", a["arrival_id"], "--home", sup) for a in listed if not a["void"]]
        (voided,) = [cli.json("arrivals", "show", a["arrival_id"], "--home", sup) for a in listed if a["void"]]
        return amended, voided

    amended, voided = held()
    assert amended["details"]["surname"] == "Haile"
    assert [(v["details"]["surname"], v["changed"], v["reason"]) for v in amended["versions"]] == [
        ("Hama", ["surname"], "passport seen at the reception centre")
    ]
    assert voided["void"]["reason"] == "the same man captured twice"
    events = [e for e in cli.json("audit", "show", "--home", sup) if e["action"] == "import-correction"]
    assert len(events) == 2

    counts = row_counts(sup)
    again = cli.json("import", first, second, "--home", sup)
    assert all(not any(r["added"].values()) for r in again)
    assert {k: n for k, n in row_counts(sup).items() if k != "audit_events"} == {
        k: n for k, n in counts.items() if k != "audit_events"
    }, "importing again records only the imports themselves"
    assert held() == (amended, voided)
    assert len([e for e in cli.json("audit", "show", "--home", sup) if e["action"] == "import-correction"]) == 2


def test_another_arrivals_review_marks_a_void_candidate_void(cli, wl_home):
    """A void arrival another arrival's search found stays in that arrival's candidate table (the search was
    made), marked void in the table and the JSON, since no decision on it can be made."""
    a = cli.json("capture", "--photo", orl(7, 4), "--landed-at", "2026-01-10T04:00", *DLIB)["arrival_id"]
    b = cli.json("capture", "--photo", orl(7, 5), "--landed-at", "2026-01-10T05:00", *DLIB)["arrival_id"]
    cli("arrivals", "void", a, "--reason", "the same man captured twice")

    shown = {c["ref"]: c for c in cli.json("review", b)["candidates"]}
    assert shown[a]["void"] is True and shown["WL-007"]["void"] is False
    text = cli("review", b, "--no-portraits").stdout
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if f"│ {a} " in line)  # the row's second line, under "arrival"
    cells = [[c.strip() for c in line.split("│")] for line in lines[at - 1 : at + 1]]
    assert " ".join(row[-2] for row in cells) == "VOID: no decision", "the decision cell"
    assert " ".join(row[-3] for row in cells) == "below threshold", "not for review"
    assert f"VOID: arrival {a} was voided, no decision can be made on it" in " ".join(text.split())
    cli("review", b, "--candidate", a, "--decision", "rejected", "--reason", "not him", code=int(ExitStatus.CONFLICT))


def test_a_pnd_draft_of_a_void_arrival_says_the_arrival_is_void(cli, wl_home):
    """A draft made before its arrival was voided is listed and shown marked void; an outcome can still be
    recorded (the search may have been made), with a warning that the arrival was voided."""
    a = cli.json("capture", "--photo", orl(7, 4), "--surname", "Hama", *DLIB)["arrival_id"]
    ref = cli.json("pnd", "draft", a, "--purpose", "To establish whether this arrival is wanted on warrant")["ref"]
    assert "VOID" not in cli("pnd", "show", ref).stdout
    cli("arrivals", "void", a, "--reason", "the same man captured twice")

    assert [r["arrival_void"] for r in cli.json("pnd", "list")] == [True]
    assert "VOID" in cli("pnd", "list").stdout
    shown = cli.json("pnd", "show", ref)
    assert shown["arrival_void"]["reason"] == "the same man captured twice"
    validator("pnd_draft.schema.json").validate(shown)
    assert f"VOID: arrival {a} was voided by" in cli("pnd", "show", ref).stdout
    done = cli("pnd", "outcome", ref, "--result", "submitted")
    assert f"arrival {a} was voided after {ref} was drafted" in done.stderr and "Recorded: submitted" in done.stdout
    assert cli.json("pnd", "outcome", ref, "--result", "no-trace")["arrival_void"] is True


def test_an_intelligence_draft_from_a_debrief_marks_a_void_pilot(cli, wl_home):
    a = cli.json("capture", "--photo", orl(7, 4), "--vessel", "SB-9", *DLIB)["arrival_id"]
    x = cli.json("capture", "--photo", orl(30, 1), "--vessel", "SB-9", *DLIB)["arrival_id"]
    cli("debrief", x, "--pilot", a)
    cli("arrivals", "void", a, "--reason", "the same man captured twice")

    grades = ("--source-grade", "2", "--intel-grade", "B", "--handling", "P")
    report = cli.json("intel", "draft", x, "--from-debrief", *grades)
    assert f"person {a} (void)" in report["text"]
    assert report["debrief"]["answers"]["pilot"]["value"]["person"]["void"] is True
    text = cli("intel", "draft", x, "--from-debrief", *grades).stdout
    (line,) = [line for line in text.splitlines() if line.strip().startswith("Who piloted the boat ")]
    assert line.endswith(f": person {a} (void)"), line


def test_a_report_and_a_debrief_shown_after_a_void_mark_the_void_arrivals(cli, wl_home):
    """An intelligence report drafted, and a debrief recorded, before an arrival was voided: shown again, the
    pilot and companion it names read as void, and the report of an arrival voided since says so."""
    a = cli.json("capture", "--photo", orl(7, 4), "--vessel", "SB-9", *DLIB)["arrival_id"]
    x = cli.json("capture", "--photo", orl(30, 1), "--vessel", "SB-9", *DLIB)["arrival_id"]
    y = cli.json("capture", "--photo", orl(14, 2), "--vessel", "SB-9", *DLIB)["arrival_id"]
    cli("debrief", x, "--pilot", a, "--companion", y)
    grades = ("--source-grade", "2", "--intel-grade", "B", "--handling", "P")
    ref = cli.json("intel", "draft", x, "--from-debrief", *grades)["ref"]
    assert "VOID" not in cli("intel", "show", ref).stdout and "(void)" not in cli("intel", "show", ref).stdout
    cli("arrivals", "void", a, "--reason", "the same man captured twice")
    cli("arrivals", "void", x, "--reason", "captured on the wrong laptop")

    shown = cli.json("intel", "show", ref)
    validator("intel_draft.schema.json").validate(shown)
    assert shown["arrival_void"]["reason"] == "captured on the wrong laptop"
    answers = shown["debrief"]["answers"]
    assert answers["pilot"]["value"]["person"]["void"] is True
    assert "void" not in answers["companions"]["value"]["people"][0], "a live companion is not marked"
    text = " ".join(cli("intel", "show", ref).stdout.split())
    assert f"VOID: arrival {x} was voided by" in text and f"Who piloted the boat : person {a} (void)" in text

    debrief = cli.json("debrief", x, "--show")
    assert debrief["answers"]["pilot"]["value"]["person"]["void"] is True
    assert "void" not in debrief["answers"]["companions"]["value"]["people"][0]
    assert debrief["void"]["reason"] == "captured on the wrong laptop", "the debrief's own arrival is void"
    text = " ".join(cli("debrief", x, "--show").stdout.split())
    assert f"person {a} (void)" in text and f"person {y} (void)" not in text
    assert "VOID: voided by" in text and ": captured on the wrong laptop" in text
    assert not re.search(r"\d\dT\d\d:", text), "times as a person reads them, not with ISO 8601's T"
