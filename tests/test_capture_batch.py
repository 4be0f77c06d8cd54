"""`triage capture-batch`: a boat of 60 from a manifest, 5 rows bad in different ways. 55 land, the 5 are
reported with their reasons, and running the manifest again adds nothing. The worker pool survives a
crashing or hanging job and uses more than one process."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from test_mrz_capture import ZONE

from conftest import orl, row_counts
from pool_jobs import (
    CRASH,
    HANG,
    larger_than_a_pipe,
    meet,
    opencv_threads,
    result_read_at_ctrl_c,
    square_unless_told_otherwise,
)
from triage import workers
from triage.casework import manifest
from triage.errors import BadInput, ExitStatus
from triage.faces import encoders

GOOD = [(s, 1) for s in range(1, 41)] + [(s, 5) for s in range(26, 41)]  # 55 ORL photos HOG finds a face in
BAD = {  # row -> (what is wrong, the reason reported)
    7: ("missing file", "no such file"),
    19: ("not an image", "not an image file"),
    28: ("bad date", "column dob: '1990-13-01' is not a date"),
    41: ("unknown country", "column nationality: 'Atlantis' is not a country"),
    53: ("no face", "no face found"),
}
COUNTED = ("arrivals", "photos", "templates", "searches", "candidates")


@pytest.fixture
def boat(tmp_path):
    """A manifest in its own folder with the photos beside it, referred to by relative paths; and which
    ORL photo (subject, number) each good row has."""
    folder = tmp_path / "boat"
    (folder / "photos").mkdir(parents=True)
    Image.fromarray(np.full((480, 640, 3), 90, np.uint8)).save(folder / "photos" / "wall.png")
    (folder / "photos" / "scan.jpg").write_text("a text file, not a photo")
    rows, good, photo_of = [], iter(GOOD), {}
    for n in range(1, 61):
        row = {
            "photo": "",
            "surname": f"Person {n}",
            "given-names": "",
            "dob": "1990",
            "nationality": "Eritrea",
            "alias": "",
            "mrz": "",
        }
        if n in BAD:
            what = BAD[n][0]
            row["photo"] = {
                "missing file": "photos/gone.jpg",
                "not an image": "photos/scan.jpg",
                "no face": "photos/wall.png",
            }.get(what, "photos/s01_01.pgm")
            row["dob"] = "1990-13-01" if what == "bad date" else row["dob"]
            row["nationality"] = "Atlantis" if what == "unknown country" else row["nationality"]
        else:
            s, k = photo_of[n] = next(good)
            row["photo"] = f"photos/s{s:02d}_{k:02d}.pgm"
            shutil.copy(orl(s, k), folder / row["photo"])
        rows.append(row)
    rows[1].update(surname="", dob="", nationality="", mrz=ZONE.replace("\n", " "))  # details from the zone
    rows[2].update(alias="Abu Omar; Omar H", dob="2011")  # two aliases; a child
    path = folder / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path, photo_of


def test_sixty_rows_five_bad_then_a_rerun_adds_nothing(cli, wl_home, boat):
    path, photo_of = boat
    row_of = {photo: row for row, photo in photo_of.items()}
    res = cli("capture-batch", path, "--vessel", "SB-0417", "--json", code=int(ExitStatus.BAD_INPUT))
    report = json.loads(res.stdout)
    assert (report["rows"], report["landed"], report["already_landed"], report["refused"]) == (60, 55, 0, 5)
    assert not res.stderr.startswith("\n"), "no progress bar (nor the blank line it leaves) off a terminal"
    assert sorted(a["row"] for a in report["arrivals"]) == [n for n in range(1, 61) if n not in BAD]
    for refusal in report["refusals"]:
        assert BAD[refusal["row"]][1] in refusal["reason"], refusal
    assert {r["row"]: r["status"] for r in report["refusals"]} == {
        7: "bad_input",
        19: "bad_input",
        28: "bad_input",
        41: "bad_input",
        53: "no_face",
    }
    counts = row_counts(wl_home)
    assert counts["arrivals"] == 55

    by_row = {a["row"]: a for a in report["arrivals"]}
    # Subjects 1-20 are on the watchlist from their photo 1, so each one's photo 1 finds itself there.
    watched = by_row[row_of[(8, 1)]]["candidates"][0]
    assert (watched["ref"], watched["below_threshold"]) == ("WL-008", True)
    # Subject 30's photo 5 is a different shot of someone landed earlier in this batch, and not watched.
    late, earlier = by_row[row_of[(30, 5)]], by_row[row_of[(30, 1)]]["arrival_id"]
    assert late["candidates"][0]["ref"] == earlier and late["candidates"][0]["below_threshold"]
    assert all(c["distance"] >= 0 and c["threshold"] == late["threshold"] for c in late["candidates"])
    assert by_row[3]["safeguarding"] is True and by_row[1]["safeguarding"] is False
    zone_row = cli.json("arrivals", "show", by_row[2]["arrival_id"])
    assert (zone_row["details"]["surname"], zone_row["details"]["nationality"]) == ("HAILE", "ERI")
    assert zone_row["vessel"] == "SB-0417"
    assert cli.json("arrivals", "show", by_row[3]["arrival_id"])["details"]["aliases"] == ["Abu Omar", "Omar H"]

    again = cli("capture-batch", path, "--vessel", "SB-0417", code=int(ExitStatus.BAD_INPUT))
    assert "0 landed, 55 already landed earlier, 5 refused (of 60 rows)" in again.stdout
    after = row_counts(wl_home)
    assert {t: after[t] for t in COUNTED} == {t: counts[t] for t in COUNTED}
    events = cli.json("audit", "show")
    assert [e["action"] for e in events].count("capture-batch") == 2


@pytest.mark.parametrize(
    "text,words",
    [
        ("photo,surname,colour\nx.jpg,A,red\n", "unknown column 'colour'"),
        ("surname,dob\nA,1990\n", "no photo column"),
        ("photo,surname\n", "a header but no rows"),
        ("", "the manifest is empty"),
        ("photo,Photo\nx.jpg,y.jpg\n", "a column appears twice"),
    ],
)
def test_a_manifest_that_cannot_be_read_is_refused_whole(cli, home, tmp_path, text, words):
    path = tmp_path / "manifest.csv"
    path.write_text(text)
    before = row_counts(home)
    res = cli("capture-batch", path, code=int(ExitStatus.BAD_INPUT))
    assert words in res.stderr
    assert row_counts(home) == before


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
    | st.lists(
        st.sampled_from(["photo", "surname", "dob", ",", '"', "\n", "\r\n", ";", "x.jpg", " ", "\x00"]), max_size=40
    ).map("".join)
)
def test_any_manifest_text_is_read_or_refused_with_a_reason(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "manifest.csv"
    path.write_text(text, encoding="utf-8")
    try:
        rows = manifest.read(path)
    except BadInput as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
    else:
        assert rows and all("photo" in r.fields for r in rows)


@pytest.mark.parametrize(
    "text, said",
    [
        ('photo,surname\na.jpg,"Haddad\nb.jpg,Smith\nc.jpg,Jones\n', "line 2 opens a quote that is never closed"),
        ('photo,surname\na.jpg,Ali\nb.jpg,"Had"dad\n', "line 3 is not readable as CSV"),
    ],
)
def test_a_manifest_quote_left_open_is_refused_not_left_to_swallow_the_rows_after_it(tmp_path, text, said):
    from triage.casework import manifest
    from triage.errors import BadInput

    path = tmp_path / "manifest.csv"
    path.write_text(text)
    with pytest.raises(BadInput, match=said):
        manifest.read(path)


@pytest.mark.parametrize("mark, called", [(";", "semicolons"), ("\t", "tabs")])
def test_a_manifest_separated_by_semicolons_or_tabs_is_told_to_use_commas(tmp_path, mark, called):
    from triage.casework import manifest
    from triage.errors import BadInput

    path = tmp_path / "manifest.csv"
    path.write_text(mark.join(["photo", "surname", "dob"]) + "\n" + mark.join(["x.jpg", "Ali", "1990"]) + "\n")
    with pytest.raises(BadInput, match="unknown column") as refused:
        manifest.read(path)
    assert refused.value.hint and "separated by commas, not " + called in refused.value.hint
    path.write_text("photo,surname,colour\nx.jpg,A,red\n")
    with pytest.raises(BadInput, match="unknown column 'colour'") as refused:
        manifest.read(path)
    assert refused.value.hint is None


def test_help_documents_every_column(cli):
    from triage.casework.manifest import COLUMNS

    text = " ".join(cli("capture-batch", "--help").stdout.split())
    assert all(column in text for column in COLUMNS)
    assert "Example: triage capture-batch" in text


# -- the worker pool -------------------------------------------------------------------------------------


def test_a_crashing_or_hanging_job_fails_alone():
    outcomes = {
        o.key: o
        for o in workers.run(square_unless_told_otherwise, ((n, (n,)) for n in range(10)), workers=2, timeout=3)
    }
    assert sorted(outcomes) == list(range(10))
    assert "crashed" in str(outcomes[CRASH].error) and "exit code 9" in str(outcomes[CRASH].error)
    assert "gave up after 3 s" in str(outcomes[HANG].error)
    assert {k: o.value for k, o in outcomes.items() if o.error is None} == {
        n: n * n for n in range(10) if n not in (CRASH, HANG)
    }


def test_a_pool_left_early_stops_its_workers_without_killing_them(monkeypatch):
    """A batch interrupted while workers hold results too large for their pipes: each worker's result is read and
    dropped so that it can finish, where it was killed after waiting for a reader (Ctrl-C took 4 s)."""
    ended = []
    stop = workers._Worker.stop

    def noted(self):
        stop(self)
        ended.append(self.proc.exitcode)

    monkeypatch.setattr(workers._Worker, "stop", noted)
    jobs = ((n, (n,)) for n in range(10))
    pool = workers.run(larger_than_a_pipe, jobs, workers=2, timeout=60)
    first = next(pool)
    assert first.error is None and len(first.value) == 1 << 20
    pool.close()
    assert ended == [0, 0]


def test_ctrl_c_while_a_result_is_read_is_a_ctrl_c():
    """Ctrl-C that lands while the main process imports a module to read a worker's result is turned by Python
    into "ImportError: initialization failed": the batch says it was interrupted, not that something failed."""
    with pytest.raises(KeyboardInterrupt):
        list(workers.run(result_read_at_ctrl_c, iter([(0, ())]), workers=1, timeout=60))


def test_jobs_run_at_the_same_time_in_other_processes(tmp_path):
    outcomes = list(workers.run(meet, ((n, (str(tmp_path), n)) for n in range(2)), workers=2, timeout=120))
    assert [o.error for o in outcomes] == [None, None]
    assert all(met for met, _ in (o.value for o in outcomes))
    pids = {pid for _, pid in (o.value for o in outcomes)}
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_worker_runs_opencv_on_its_own_thread_only():
    """One worker per core: OpenCV's own threads in each would only contend with the other workers."""
    pipeline = encoders.pipeline((encoders.DLIB, encoders.SFACE), None)
    [outcome] = workers.run(opencv_threads, iter([(0, ())]), workers=1, timeout=120, initializer=pipeline.load)
    assert outcome.error is None and outcome.value == 1


def test_workers_started_before_the_command_line_is_parsed_land_the_batch(cli, home, tmp_path, monkeypatch):
    """`triage capture-batch` starts its workers while the command line is still being parsed, only when the
    arguments plainly name the command, and the batch then starts no worker of its own."""
    from triage.cli import capture

    for args in (
        ["capture", "a.pgm"],
        ["capture-batch", "m.csv", "--help"],
        ["capture-batch", "m.csv", "--workers", "many"],
        ["capture-batch", "m.csv", "--workers", "0"],
        ["capture-batch", "m.csv", "--home"],
    ):
        capture.start_early(args)
        assert not capture._early, args
    shutil.copy(orl(4, 1), tmp_path / "a.pgm")
    path = tmp_path / "manifest.csv"
    path.write_text("photo,surname\na.pgm,Tesfay\n")
    capture.start_early(["--debug", "capture-batch", str(path), f"--home={home}", "--workers", "1"])
    assert len(capture._early["workers"].workers) == 1
    more = []
    monkeypatch.setattr(workers._Worker, "__init__", lambda *a: more.append(a) or pytest.fail("a second start"))
    report = json.loads(cli("capture-batch", path, "--home", home, "--workers", "1", "--json").stdout)
    assert report["landed"] == 1 and not capture._early and not more


def test_every_wrong_cell_of_a_row_is_named_by_its_header_as_written(cli, home, tmp_path):
    shutil.copy(orl(3, 1), tmp_path / "a.pgm")
    path = tmp_path / "manifest.csv"
    path.write_text(
        "photo,Surname,Date of birth,Nationality,Phones,landed_at,face\n"
        "a.pgm,Ali,1990-13-01,Atlantis,12;+33 6 12 34 56 78,not a time,0\n"
    )
    before = row_counts(home)
    report = json.loads(cli("capture-batch", path, "--json", code=int(ExitStatus.BAD_INPUT)).stdout)
    [refusal] = report["refusals"]
    parts = refusal["reason"].split(" | ")
    assert [p.split(":")[0] for p in parts] == [
        "column Date of birth",
        "column Nationality",
        "column Phones",
        "column face",
        "column landed_at",
    ]
    assert "--" not in refusal["reason"]
    assert {k: row_counts(home)[k] for k in COUNTED} == {k: before[k] for k in COUNTED}


def test_a_folder_a_photo_or_a_batch_given_as_the_manifest_is_told_what_to_give(tmp_path):
    from triage.casework import manifest
    from triage.errors import BadInput

    boat = tmp_path / "boat-SB-1"
    boat.mkdir()
    (boat / "manifest.csv").write_text("photo\nx.jpg\n")
    (tmp_path / "p.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(60))
    (tmp_path / "day.age").write_bytes(b"age-encryption.org/v1\n-> X25519 abc\n")
    for wrong, said in (
        (boat, f"a folder; give its manifest CSV, e.g. {boat / 'manifest.csv'}"),
        (tmp_path / "p.jpg", "a photo, not a manifest"),
        (tmp_path / "day.age", "an encrypted batch or watchlist package, not a manifest"),
    ):
        with pytest.raises(BadInput, match="^" + re.escape(f"{wrong}: {said}")):
            manifest.read(wrong)


def test_a_key_replaced_under_a_manifest_stops_it_in_one_line_and_a_rerun_lands_the_rest(
    cli, wl_home, tmp_path, monkeypatch
):
    """Another command rotated the home's key while a manifest was landing: each later row was refused with the
    same line and the command went on (exit 3). The home's refusal stops it (exit 7), what landed stays landed,
    and the manifest run again lands the rest, once."""
    from triage.casework import arrivals
    from triage.store.rows import key_replaced_error

    folder = tmp_path / "boat"
    folder.mkdir()
    for k in range(1, 5):
        shutil.copy(orl(20 + k, 1), folder / f"p{k}.pgm")
    path = folder / "manifest.csv"
    path.write_text("photo,surname\n" + "".join(f"p{k}.pgm,Person {k}\n" for k in range(1, 5)), encoding="utf-8")
    capture, landed = arrivals.capture, []

    def rotated_after_two(*args, **kwargs):
        if len(landed) == 2:
            raise key_replaced_error()
        landed.append(capture(*args, **kwargs))
        return landed[-1]

    monkeypatch.setattr(arrivals, "capture", rotated_after_two)
    said = cli("capture-batch", path, "--workers", "1", code=int(ExitStatus.WRONG_PASSPHRASE)).stderr
    assert "data key was replaced" in said and said.count("data key was replaced") == 1, said
    assert row_counts(wl_home)["arrivals"] == 2
    monkeypatch.setattr(arrivals, "capture", capture)
    again = cli.json("capture-batch", path, "--workers", "1")
    assert (again["landed"], again["already_landed"]) == (2, 2)
