"""A day without surprises, each through the real CLI: "differs" lists only details both records give, never
a year of birth that holds the other date, and names an age the other's date of birth leaves no room for,
beside the earlier arrival's safeguarding flag; no
Python repr (None, ['English'], True) in what a person reads; the advice to turn a photo only when a
turned face is found with confidence (never for a cat); a three-quarter view measured as a moderate yaw
and refused for its pose; empty site and force code refused together; phone numbers with a country code
accepted; `init` on an existing home says CONFLICT before any passphrase; a wrong option is one line and
a hint; a closed pipe ends quietly; the README says which dates --dob takes."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import orl
from triage.cli.common import out
from triage.errors import ExitStatus
from triage.faces import quality
from triage.faces.detection import Face
from triage.intake.biographic import parse_date
from triage.intake.samples import astronaut_path

PROBE_OVERRIDE = ("--accept-low-quality", "--reason", "fixture photos are 92x112 px")
REPR = re.compile(r"\bNone\b|\['|\{'|\bTrue\b|\bFalse\b")
README = Path(__file__).resolve().parent.parent / "README.md"


def _skimage_photo(name: str) -> Path:
    """A photo that installs with scikit-image, found without importing it."""
    spec = importlib.util.find_spec("skimage")
    assert spec is not None and spec.submodule_search_locations
    return Path(list(spec.submodule_search_locations)[0]) / "data" / name


def test_differs_lists_only_details_both_records_give(cli, home, monkeypatch):
    monkeypatch.setattr(out, "width", 200)  # each candidate on one line, to read as a whole
    first = cli.json(
        "capture", "--photo", orl(35, 3), "--surname", "Hussein", "--dob", "1990", "--nationality", "Sudan"
    )
    second = cli.json("capture", "--photo", orl(35, 7), "--surname", "Abdullah", "--given-names", "Omar")
    earlier = next(c for c in second["candidates"] if c["kind"] == "arrival")
    # dob and nationality: given by the earlier arrival only; given names: by this one only
    assert earlier["differences"] == {"surname_latin": {"this": "ABDULLAH", "earlier": "HUSSEIN"}}

    shown = cli("review", second["arrival_id"]).stdout
    assert "differs: surname ABDULLAH / HUSSEIN" in shown
    assert not REPR.search(shown), shown
    assert "given names" not in cli("match", second["arrival_id"]).stdout

    # The same names in another script and spelling are not a difference; another name still is.
    third = cli.json("capture", "--photo", orl(35, 8), "--surname", "حسين", "--given-names", "عمر")
    shown = {c["ref"]: c["differences"] for c in third["candidates"] if c["kind"] == "arrival"}
    assert "surname_latin" not in shown[first["arrival_id"]]
    assert shown[second["arrival_id"]] == {"surname_latin": {"this": "HUSSEIN", "earlier": "ABDULLAH"}}


def test_a_repeat_arrival_shows_the_earlier_ones_safeguarding_and_an_age_against_a_date_of_birth(
    cli, home, monkeypatch
):
    monkeypatch.setattr(out, "width", 200)  # each candidate on one line, to read as a whole
    born = str(dt.date.today().year - 20)
    name = ("--surname", "Wali", "--given-names", "Ahmed")
    child = cli.json("capture", "--photo", orl(35, 3), *name, "--age", "16")["arrival_id"]
    adult = cli.json("capture", "--photo", orl(35, 7), *name, "--dob", born)
    earlier = next(c for c in adult["candidates"] if c["ref"] == child)
    age = earlier["differences"]["age"]
    on = age["this"]["on"]
    years = list(parse_date(born).age_range_on(dt.date.fromisoformat(on)))
    assert earlier["safeguarding"] is True and not adult["safeguarding"]
    assert age == {
        "this": {"age_range": years, "on": on, "dob": born, "at_landing": True},
        "earlier": {"age_range": [16, 16], "on": on, "dob": None, "at_landing": True},
    }
    shown = cli("review", adult["arrival_id"], "--no-portraits").stdout
    ages = "-".join(map(str, sorted(set(years))))
    assert f"WALI, Ahmed SAFEGUARDING — differs: born {born} ({ages} at landing) / age 16" in shown
    assert f"arrival {child} is flagged for safeguarding" in " ".join(shown.split())
    queued = {c["ref"]: c for p in cli.json("review", "--pending") for c in p["candidates"]}
    assert queued[child]["safeguarding"] is True
    assert f"arrival {child} SAFEGUARDING" in cli("review", "--pending").stdout
    day = cli.json("arrivals", "show", child)["landed_at"][:10]
    awaiting = cli("report", "--date", day, "--format", "text").stdout.split("Candidates awaiting review")[1]
    assert f"-> arrival {child} (WALI, Ahmed)  SAFEGUARDING" in awaiting

    # A year of birth that holds the other date agrees with it: not a difference, as a name search counts it.
    later = cli.json("capture", "--photo", orl(35, 8), *name, "--dob", f"{born}-08-04")
    same = {c["ref"]: c["differences"] for c in later["candidates"] if c["kind"] == "arrival"}
    assert same[adult["arrival_id"]] == {}
    assert set(same[child]) == {"age"}


def test_arrivals_show_and_quality_print_no_python_reprs(cli, home):
    captured = cli.json(
        "capture",
        "--photo",
        orl(5, 2),
        "--surname",
        "Haile",
        "--language",
        "English",
        "--language",
        "Tigrinya",
        "--age",
        "16-18",
        "--alias",
        "Dawit",
        *PROBE_OVERRIDE,
    )
    shown = cli("arrivals", "show", captured["arrival_id"]).stdout
    assert "English, Tigrinya" in shown and "16-18" in shown and "Dawit" in shown
    assert not REPR.search(shown), shown

    measured = cli("quality", astronaut_path()).stdout
    box = cli.json("quality", astronaut_path())["measures"]["face_box"]
    assert ", ".join(map(str, box)) in measured
    assert not REPR.search(measured), measured


@pytest.mark.parametrize("name", ["chelsea.png", "coffee.png"])
def test_a_photo_without_a_face_is_never_called_rotated(cli, name):
    """The fused matcher's detector (YuNet) finds a 'face' in the cat turned upside down, at a score just
    above its floor; real faces score far higher, and only those make the advice to turn the photo."""
    res = cli("quality", _skimage_photo(name), "--json", code=int(ExitStatus.NO_FACE))
    reasons = json.loads(res.stdout)["reasons"]
    assert reasons and reasons[0].startswith("no face found"), reasons
    assert not any("rotated" in r for r in reasons)


def test_a_real_face_on_its_side_still_gets_the_advice(cli, tmp_path):
    turned = tmp_path / "sideways.png"
    Image.fromarray(np.ascontiguousarray(np.rot90(np.asarray(Image.open(astronaut_path()).convert("RGB")), -1))).save(
        turned
    )
    res = cli("quality", turned, "--json", code=int(ExitStatus.NO_FACE))
    assert json.loads(res.stdout)["reasons"][0].startswith("photo rotated: a face appears only when it is turned")


def _turned(degrees: float, scale: float = 40.0, centre: tuple[float, float] = (220.0, 130.0)) -> np.ndarray:
    """dlib's five points (two corners of each eye, then the base of the nose) of a generic head turned
    by `degrees` about the vertical, as a camera far away sees it. The eyes' outer corners sit further back
    than the inner ones, and the base of the nose about half an eye distance in front of them."""
    head = np.array(
        [
            [-0.75, 0.0, -0.15],  # outer and inner corner of the eye on the image's left
            [-0.25, 0.0, 0.0],
            [0.75, 0.0, -0.15],  # outer and inner corner of the other eye
            [0.25, 0.0, 0.0],
            [0.0, 0.65, 0.45],  # base of the nose, below and in front of the eyes
        ]
    )
    a = math.radians(degrees)
    x = head[:, 0] * math.cos(a) + head[:, 2] * math.sin(a)
    return np.stack([centre[0] + scale * x, centre[1] + scale * head[:, 1]], axis=1).astype(np.float32)


def test_yaw_of_a_turned_head_reads_as_its_turn():
    measured = []
    for degrees in (0, 15, 30, 45, 60):
        face = Face(box=(170, 90, 270, 190), landmarks=_turned(degrees))
        measured.append(face.yaw)
        assert abs(face.yaw - degrees) <= 6, (degrees, face.yaw)
    assert measured == sorted(measured) and max(measured) < 70
    assert Face(box=(170, 90, 270, 190), landmarks=_turned(-45)).yaw == pytest.approx(-measured[3])


def test_a_three_quarter_view_is_refused_for_its_pose_not_measured_as_90():
    rgb = np.asarray(Image.open(astronaut_path()).convert("RGB"))
    face = Face(box=(170, 90, 270, 190), landmarks=_turned(45))
    report = quality.assess(rgb, [face], face, "probe")
    assert 35 < report.measures["yaw_deg"] < 55
    assert any(r.startswith(f"head turned: yaw {report.measures['yaw_deg']:.0f} degrees") for r in report.reasons)


def test_orl_turned_heads_measure_moderate_yaw(cli):
    """ORL's subjects turn their heads by up to about 30 degrees (s4/10 to one side, s23/9 to the other)."""

    def yaw(s: int, n: int) -> float:
        return json.loads(cli("quality", orl(s, n), "--json", code=None).stdout)["measures"]["yaw_deg"]

    assert abs(yaw(1, 1)) < 10
    assert 15 < yaw(4, 10) < 40 and -40 < yaw(23, 9) < -15


def test_init_refuses_empty_site_and_force_code_naming_both(cli, triage_env):
    res = cli("init", "--site", "", "--force-code", " ", code=int(ExitStatus.BAD_INPUT))
    assert "--site" in res.stderr and "--force-code" in res.stderr
    assert not (triage_env / "triage.db").exists()


def test_init_on_an_existing_home_is_a_conflict_before_any_passphrase(cli, home, monkeypatch):
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "short")
    res = cli("init", "--site", "Dover", "--force-code", "KNT", code=int(ExitStatus.CONFLICT))
    assert "already exists" in res.stderr and "passphrase" not in res.stderr
    monkeypatch.delenv("TRIAGE_PASSPHRASE")  # and none at all: still the conflict, nothing asked
    cli("init", "--site", "Dover", "--force-code", "KNT", code=int(ExitStatus.CONFLICT))


def test_phone_numbers_with_a_country_code_are_accepted(cli, home):
    captured = cli.json(
        "capture", "--photo", orl(6, 2), "--phone", "+44 7700 900123", "--phone", "0033 6 12 34 56 78", *PROBE_OVERRIDE
    )
    details = cli.json("arrivals", "show", captured["arrival_id"])["details"]
    assert details["phones"] == ["+447700900123", "+33612345678"]
    res = cli("capture", "--photo", orl(6, 3), "--phone", "+44 123", *PROBE_OVERRIDE, code=int(ExitStatus.BAD_INPUT))
    assert "+44" in res.stderr and "give the country code" not in res.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (("match",), "error: Missing argument"),
        (("capture", "--phto", "x.jpg"), "error: No such option: --phto"),
        (("nosuch",), "error: No such command 'nosuch'"),
    ],
)
def test_a_usage_error_is_one_line_and_a_hint(cli, args, message):
    res = cli(*args, code=int(ExitStatus.USAGE))
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(message), res.stderr
    command = " ".join(["triage", *args[:1]]) if args[0] != "nosuch" else "triage"
    assert lines[1] == f"  hint: `{command} --help` shows its options and examples"
    assert not re.search("[╭╰│]", res.stderr)


@pytest.mark.parametrize("args", [("evaluate", "--help"), ("--help",), ("models", "list", "--json")])
def test_a_closed_pipe_ends_quietly(args, triage_env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "triage", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=triage_env.parent
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)
    proc.stdout.close()  # the reader stops, as `| head -1` does
    errors = proc.stderr.read().decode()
    assert proc.wait() == 0 and errors == "", errors


def test_a_closed_pipe_keeps_the_exit_status_of_a_batch_with_refused_rows(home, tmp_path):
    """`capture-batch ... | head` must still tell a script that rows were refused (exit 3), not success."""
    import shutil

    from conftest import orl

    shutil.copy(orl(5, 1), tmp_path / "p1.pgm")
    manifest = tmp_path / "m.csv"
    manifest.write_text("photo,surname\np1.pgm,Kidane\nmissing.jpg,Nobody\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "triage", "capture-batch", str(manifest), "--matcher", "dlib", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader has gone before anything was written
    errors = proc.stderr.read().decode()
    assert proc.wait() == int(ExitStatus.BAD_INPUT), errors
    assert "Traceback" not in errors


def test_a_closed_pipe_keeps_a_failed_checks_exit_status(home):
    """`triage audit verify | head` on a trail changed outside triage must not read as success."""
    import sqlite3

    con = sqlite3.connect(home / "triage.db")
    con.execute("UPDATE audit_events SET officer = 'someone else' WHERE seq = 1")
    con.commit()
    con.close()
    for args in (("audit", "verify"), ("audit", "verify", "--json")):
        proc = subprocess.Popen(
            [sys.executable, "-m", "triage", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=home.parent
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        errors = proc.stderr.read().decode()
        assert proc.wait() == int(ExitStatus.INTEGRITY), (args, errors)
    # started with no stdout at all (`>&-`): no traceback, the same status
    import os

    done = subprocess.run(
        [sys.executable, "-m", "triage", "audit", "verify"],
        stderr=subprocess.PIPE,
        cwd=home.parent,
        preexec_fn=lambda: os.close(1),  # noqa: PLW1509 (the child only closes its stdout)
    )
    assert done.returncode == int(ExitStatus.INTEGRITY) and b"Traceback" not in done.stderr, done.stderr


def test_the_readme_and_the_help_say_which_dates_dob_takes(cli):
    text = README.read_text(encoding="utf-8")
    forms = re.findall(r"`(\d[\d/.-]*\d)`", text[text.index("A date of birth (`--dob`") :][:400])
    assert {"1995", "1995-08", "1995-08-04", "04/08/1995", "04.08.1995", "08/1995"} <= set(forms)
    assert str(parse_date("04/08/1995")) == "1995-08-04" and str(parse_date("08/1995")) == "1995-08"
    assert all(parse_date(f) for f in forms)
    assert "DD/MM/YYYY" in cli("capture", "--help").stdout


def test_assessed_ages_that_overlap_are_no_difference():
    """16 and 16-18 are one assessment, made wider: only ages that cannot both hold are a difference."""
    import datetime as dt

    from triage.casework.arrivals import differences

    day = dt.date(2026, 12, 6)
    assert differences({"age_range": [16, 16]}, {"age_range": [16, 18]}, this_day=day, earlier_day=day) == {}
    apart = differences({"age_range": [12, 13]}, {"age_range": [16, 18]}, this_day=day, earlier_day=day)
    assert apart == {"age_range": {"this": [12, 13], "earlier": [16, 18]}}
