"""Bad input gets a one-line error naming the problem, an exit code from the enum, and changes nothing."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image

from conftest import orl, row_counts
from triage.errors import ExitStatus
from triage.intake.samples import astronaut_path


def _two_faces(path):
    a = np.asarray(Image.open(astronaut_path()).convert("RGB"))
    face = a[40:240, 130:320]
    canvas = np.full((260, 420, 3), 128, np.uint8)
    canvas[30:230, 10:200] = face
    canvas[30:230, 220:410] = face
    Image.fromarray(canvas).save(path)
    return path


def _small_face_behind(path):
    big = np.asarray(Image.open(astronaut_path()).convert("RGB").resize((900, 900)))
    small = np.asarray(Image.open(astronaut_path()).convert("RGB").resize((480, 480)))
    canvas = big.copy()
    canvas[420:900, 420:900] = small  # a face about a quarter the area, lower right
    Image.fromarray(canvas).save(path)
    return path


@pytest.fixture
def bad_files(tmp_path):
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("this is not a photo")
    data = (astronaut_path()).read_bytes()
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, "JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((480, 640, 3), 200, np.uint8)).save(blank)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    return {
        "missing": tmp_path / "nope.jpg",
        "not_image": not_image,
        "truncated": truncated,
        "no_face": blank,
        "empty": empty,
        "two_faces": _two_faces(tmp_path / "two.png"),
    }


@pytest.mark.parametrize(
    "case,status,words",
    [
        ("missing", ExitStatus.BAD_INPUT, "no such file"),
        ("not_image", ExitStatus.BAD_INPUT, "not an image"),
        ("truncated", ExitStatus.BAD_INPUT, "truncated or corrupt"),
        ("empty", ExitStatus.BAD_INPUT, "empty"),
        ("no_face", ExitStatus.NO_FACE, "no face found"),
        ("two_faces", ExitStatus.NO_FACE, "--face N"),
    ],
)
def test_bad_photo_is_refused_and_store_unchanged(cli, wl_home, bad_files, case, status, words):
    before = row_counts(wl_home)
    res = cli("capture", "--photo", bad_files[case], "--surname", "X", code=int(status))
    message = res.stderr.strip().splitlines()[0]
    assert message.startswith("error:") and words in message
    assert "Traceback" not in res.stderr
    assert row_counts(wl_home) == before


def test_two_faces_can_be_resolved_with_face_option(cli, home, bad_files):
    res = cli.json("capture", "--photo", bad_files["two_faces"], "--face", "2")
    assert res["quality"]["measures"]["face_count"] == 2


def test_a_watchlist_photo_of_two_people_takes_face_as_its_refusal_says(cli, home, bad_files):
    enrol = ("watchlist", "add", bad_files["two_faces"], "--ref", "WL-0101", "--name", "Two Faces",
             "--category", "wanted", "--reason", "Wanted on warrant in a test", "--authorised-by", "DS 1",
             "--review-date", "2099-01-01", "--accept-low-quality", "--override-reason", "test photo")  # fmt: skip
    said = cli(*enrol, code=int(ExitStatus.NO_FACE)).stderr
    assert "--face N" in said
    assert cli.json(*enrol, "--face", "2")["ref"] == "WL-0101"


def test_small_background_face_is_a_warning_not_an_error(cli, home, tmp_path):
    res = cli("capture", "--photo", _small_face_behind(tmp_path / "crowd.png"), "--json")
    assert "smaller face" in res.stderr
    assert res.stdout and '"arrival_id"' in res.stdout


@pytest.mark.parametrize(
    "args,status,words",
    [
        (["arrivals", "show", "A-NOPE00"], ExitStatus.NOT_FOUND, "no arrival"),
        (["arrivals", "show", "A-NOPE00"], ExitStatus.NOT_FOUND, "`triage arrivals list` lists those this home holds"),
        (["watchlist", "show", "WL-999"], ExitStatus.NOT_FOUND, "`triage watchlist list` lists those"),
        (["match", "A-NOPE00"], ExitStatus.NOT_FOUND, "no arrival"),
        (
            [
                "review",
                "A-NOPE00",
                "--candidate",
                "WL-001",
                "--decision",
                "rejected",
                "--reason",
                "not the same person",
            ],
            ExitStatus.NOT_FOUND,
            "no arrival",
        ),
        (
            ["pnd", "draft", "A-NOPE00", "--purpose", "To check whether this person is wanted on warrant"],
            ExitStatus.NOT_FOUND,
            "no arrival",
        ),
        (["capture", "--photo", str(orl(1, 2)), "--dob", "1990-13-01"], ExitStatus.BAD_INPUT, "--dob"),
        (["capture", "--photo", str(orl(1, 2)), "--nationality", "Atlantis"], ExitStatus.BAD_INPUT, "--nationality"),
        (["capture"], ExitStatus.USAGE, "--photo"),
        (["audit", "show", "--date", "banana"], ExitStatus.BAD_INPUT, "--date: 'banana' is not a date"),
        (["audit", "show", "--date", "2026-02-30"], ExitStatus.BAD_INPUT, "February 2026 has 28 days"),
        (["audit", "show", "--arrival", "A-NOPE00"], ExitStatus.NOT_FOUND, "no arrival A-NOPE00"),
        # a reason given but too short is called too short, with the minimum, not missing
        (["watchlist", "remove", "WL-001", "--reason", "dup"], ExitStatus.BAD_INPUT, "at least 2 words; 'dup'"),
        (
            ["watchlist", "update", "WL-001", "--review-date", "2027-01-01", "--reason", "dup"],
            ExitStatus.BAD_INPUT,
            "at least 2 words; 'dup'",
        ),
        (["watchlist", "retention", "--days", "1", "--reason", "policy"], ExitStatus.BAD_INPUT, "at least 2 words"),
        (["ocg", "link", "OCG-1", "--subject", "WL-001", "--reason", "ok"], ExitStatus.BAD_INPUT, "3 characters"),
        (["arrivals", "void", "A-NOPE00", "--reason", "ok"], ExitStatus.BAD_INPUT, "at least 3 characters; 'ok'"),
        (
            ["arrivals", "flag", "A-NOPE00", "--safeguarding", "--reason", "ok"],
            ExitStatus.BAD_INPUT,
            "at least 3 characters; 'ok'",
        ),
        (["capture", "--vessel", "--photo", str(orl(1, 2))], ExitStatus.USAGE, "--vessel took --photo as its value"),
    ],
)
def test_bad_arguments(cli, wl_home, args, status, words):
    before = row_counts(wl_home)
    res = cli(*args, code=int(status))
    assert words in res.stderr
    assert row_counts(wl_home) == before


def test_wrong_passphrase_has_its_own_exit_code(cli, home, monkeypatch):
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "not the passphrase")
    res = cli("arrivals", "list", code=int(ExitStatus.WRONG_PASSPHRASE))
    assert "wrong passphrase" in res.stderr


def test_init_refuses_to_overwrite(cli, home):
    res = cli("init", "--site", "Other", "--force-code", "XX", code=int(ExitStatus.CONFLICT))
    assert "never overwritten" in res.stderr


def test_debug_shows_traceback_only_when_asked(cli, home):
    res = cli("arrivals", "show", "A-NOPE00", code=int(ExitStatus.NOT_FOUND))
    assert "Traceback" not in res.stderr


def test_an_empty_vessel_reference_is_refused_not_taken_for_none(cli, home):
    res = cli("capture", "--photo", orl(1, 1), "--vessel", "", code=int(ExitStatus.BAD_INPUT))
    assert "--vessel: empty" in res.stderr


def test_an_arrival_id_is_taken_in_any_case_wherever_an_officer_types_one(cli, wl_home):
    """`a-7k3f9q` is A-7K3F9Q, as `sb-0417` is SB-0417 and `wl-0012` WL-0012, in every command that names an
    arrival; text that is no arrival id in any case is not found, and named as it was typed."""
    purpose = "To establish whether this arrival is wanted on warrant"
    arrival = cli.json("capture", "--photo", orl(1, 2), "--surname", "Haddad", "--vessel", "SB-0417")["arrival_id"]
    typed, mixed = arrival.lower(), "a-" + arrival[2:5].lower() + arrival[5:]
    assert cli.json("arrivals", "show", typed)["id"] == arrival
    assert cli.json("match", mixed)["arrival_id"] == arrival
    assert cli.json("review", typed)["arrival_id"] == arrival
    decided = cli.json("review", f" {typed} ", "--candidate", "wl-001", "--decision", "rejected", "--reason", "ears")
    assert (decided["arrival_id"], decided["candidate"]) == (arrival, "WL-001")
    assert cli.json("pnd", "draft", typed, "--purpose", purpose)["arrival_id"] == arrival
    assert [d["arrival_id"] for d in cli.json("pnd", "list", "--arrival", typed)] == [arrival]
    assert cli.json("referral", typed)["arrival_id"] == arrival
    assert cli.json("arrivals", "amend", mixed, "--surname", "Haile", "--reason", "passport seen")["version"] == 2
    cli("arrivals", "flag", typed, "--safeguarding", "--reason", "appears about 15")
    cli("arrivals", "void", typed, "--reason", "the same person captured twice")
    events = cli.json("audit", "show", "--arrival", typed)
    assert {"capture", "review", "arrival-amend", "arrival-void"} <= {e["action"] for e in events}
    assert {e["arrival_id"] for e in events} == {arrival}
    res = cli("arrivals", "show", "a-nope00", code=int(ExitStatus.NOT_FOUND))
    assert "no arrival 'a-nope00'" in res.stderr
    from triage.intake.refs import typed_arrival_id

    assert typed_arrival_id("3fa29c:" + typed) == "3FA29C:" + arrival  # a hub's key for it, `triage hub review`


def test_audit_show_reads_a_date_day_first_as_other_commands_do(cli, wl_home):
    """`--date 06/12/2026` matched no event (the text was compared as typed), printing nothing, exit 0."""
    import datetime as dt

    today = dt.datetime.now(dt.timezone.utc).date()
    events = cli.json("audit", "show", "--date", today.isoformat())
    assert events and cli.json("audit", "show", "--date", today.strftime("%d/%m/%Y")) == events


def test_a_home_that_cannot_be_made_there_is_one_line_not_a_crash(cli, triage_env, tmp_path):
    (tmp_path / "loopA").symlink_to(tmp_path / "loopB")
    (tmp_path / "loopB").symlink_to(tmp_path / "loopA")
    for home in (tmp_path / "loopA", tmp_path / "loopA" / "x"):
        said = cli("init", "--site", "Dover", "--force-code", "KNT", "--home", home, code=int(ExitStatus.BAD_INPUT))
        assert "the folder cannot be made there" in said.stderr and "unexpected" not in said.stderr, said.stderr


def test_debug_shows_the_traceback_its_error_lines_promise(cli, home):
    """`--debug` was read after the command had failed, so the traceback the error line sends the user for never
    came (only TRIAGE_DEBUG=1 gave it)."""
    quiet = cli("arrivals", "show", "A-ZZZZZZ", code=int(ExitStatus.NOT_FOUND)).stderr
    assert "Traceback" not in quiet
    loud = cli("--debug", "arrivals", "show", "A-ZZZZZZ", code=int(ExitStatus.NOT_FOUND)).stderr
    assert "Traceback (most recent call last)" in loud and "no arrival 'A-ZZZZZZ'" in loud


def test_debug_after_the_command_is_told_to_go_before_it(cli, home):
    """`triage review A-ZZZZZZ --debug` said only "No such option: --debug", not where the option goes."""
    said = cli("review", "A-ZZZZZZ", "--debug", code=int(ExitStatus.USAGE)).stderr
    assert "No such option: --debug" in said
    assert "hint: --debug goes before the command: `triage --debug review ...`" in said, said
    other = cli("review", "A-ZZZZZZ", "--bogus", code=int(ExitStatus.USAGE)).stderr
    assert "goes before the command" not in other


def test_a_matcher_named_in_capitals_is_the_matcher(cli, home):
    """`triage models use DLIB` was refused, where refs are read in any case."""
    assert cli.json("models", "use", "DLIB")["matcher"] == "dlib"
    assert cli.json("models", "use", "Sface")["matcher"] == "sface"
    review = (dt.date.today() + dt.timedelta(days=120)).isoformat()
    cli(
        "watchlist", "add", orl(21, 3), "--ref", "WL-121", "--name", "Reza Ali", "--category", "Wanted ",
        "--reason", "Wanted on warrant", "--authorised-by", "DS 4411 Clarke", "--review-date", review,
        "--accept-low-quality", "--override-reason", "fixture photos are 92x112 px",
    )  # fmt: skip
    assert [r["category"] for r in cli.json("watchlist", "list", "--category", "WANTED")] == ["wanted"]
    refused = cli("models", "use", "dlibx", code=int(ExitStatus.USAGE)).stderr
    assert "matcher 'dlibx': choose from dlib, sface, fused" in refused and "--matcher" not in refused, refused
