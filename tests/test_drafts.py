"""PND query drafts through the real CLI and store on real ORL faces: names in Latin form and their
variants, the facial search image, the purpose rule, storage, listing, outcomes, the JSON Schema kept
in the package, and no network."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from conftest import OFFICER, PASSPHRASE, orl, row_counts

PURPOSE = "To establish whether this arrival is wanted or linked to organised immigration crime"


def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for a schema shipped in triage/outputs/schemas, following references between those schemas."""
    folder = files("triage.outputs") / "schemas"
    shipped = [
        Resource.from_contents(json.loads(p.read_text(encoding="utf-8")))
        for p in folder.iterdir()
        if p.name.endswith(".schema.json")
    ]
    schema = json.loads((folder / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=Registry().with_resources((r.id(), r) for r in shipped))


def land(store, orl_ref: tuple[int, int], *, vessel: str | None = "SB-1", **details) -> str:
    """Capture one arrival through the core, for a module fixture's setup."""
    from triage.casework import arrivals
    from triage.intake import samples
    from triage.intake.biographic import build_details

    photo = samples.load_photo({"orl": list(orl_ref)})
    return arrivals.capture(store, photo, build_details(**details), officer=OFFICER, vessel=vessel).arrival_id


def build_home(template: Path, path: Path, plan: Callable) -> dict:
    """Copy the 20-subject watchlist home to `path` and run `plan(store)` on it; returns what plan returns."""
    from triage.store.rows import Store

    shutil.copytree(template, path)
    store = Store.open(path, PASSPHRASE)
    try:
        return plan(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def landed(enrolled_template_home, tmp_path_factory):
    from triage.casework import review

    def plan(store):
        ids = {
            "hit": land(
                store,
                (7, 4),
                surname="حسين",
                given_names="محمد",
                dob="1995",
                sex="M",
                nationality="Sudan",
                aliases=["Abu Ali"],
            ),
            "pending": land(store, (9, 5), surname="Tesfay", given_names="Yonas", age="16-18"),
            "nameless": land(store, (33, 2)),
        }
        review.record(
            store,
            ids["hit"],
            candidate="WL-007",
            decision="confirmed",
            reason="same scar above the left eye",
            officer=OFFICER,
        )
        return ids

    path = tmp_path_factory.mktemp("drafts") / "home"
    return path, build_home(enrolled_template_home, path, plan)


@pytest.fixture
def site(landed, triage_env, cli) -> dict:
    """This test's own copy of the landed home, as TRIAGE_HOME."""
    shutil.copytree(landed[0], triage_env)
    return landed[1]


# -- person search ----------------------------------------------------------------------------------


def test_person_draft_of_an_arabic_script_name_validates_against_the_schema(cli, site):
    draft = cli.json("pnd", "draft", site["hit"], "--purpose", PURPOSE, "--justification", "Seen with a known pilot")
    validator("pnd_draft.schema.json").validate(draft)
    s = draft["subject"]
    assert (s["surname"], s["given_names"]) == ("حسين", "محمد")
    # The usual romanisations, not the consonant skeletons (HSYN, MHMD) the Latin form of the script gives.
    assert (s["surname_latin"], s["given_names_latin"]) == ("HUSSEIN", "MOHAMMED")
    assert s["name_variants"][:2] == ["HUSSEIN, MOHAMMED", "MOHAMMED, HUSSEIN"]
    assert {"HUSSEIN, MUHAMMAD", "HUSSAIN, MOHAMMED", "HOSSEIN, MOHAMMED"} <= set(s["name_variants"][2:])
    assert len(s["name_variants"]) <= 12 and not {"HSYN, MHMD", "MHMD, HSYN"} & set(s["name_variants"])
    assert (s["dob"], s["dob_range"], s["sex"], s["nationality"]) == ("1995", ["1995-01-01", "1995-12-31"], "M", "SDN")
    assert s["age_range"][1] - s["age_range"][0] == 1
    aliases = {a["name"]: a for a in s["aliases"]}
    assert aliases["Abu Ali"]["source"] == "given by the arrival"
    assert aliases["Subject 7"]["source"] == "confirmed watchlist candidate WL-007"
    assert "SUBJECT 7" in aliases["Subject 7"]["search_forms"]
    assert draft["marking"] == "DRAFT — NOT SUBMITTED" and draft["kind"] == "pnd-person"
    assert (draft["requesting_officer"], draft["force_code"], draft["site"]) == (OFFICER, "TST", "Test Site")
    assert draft["justification"] == "Seen with a known pilot" and draft["safeguarding"] is False
    top = draft["candidates"][0]
    assert (top["ref"], top["decision"], top["decided_by"]) == ("WL-007", "confirmed", OFFICER)
    assert top["reason"] == "same scar above the left eye" and top["distance"] < top["threshold"]
    assert "search_image" not in draft and draft["warnings"] == []


def test_text_and_json_forms_and_files_agree(cli, site, tmp_path):
    text_file, json_file = tmp_path / "draft.txt", tmp_path / "draft.json"
    res = cli("pnd", "draft", site["hit"], "--purpose", PURPOSE, "--out", text_file)
    text = res.stdout
    assert text == text_file.read_text(encoding="utf-8")
    for expected in (
        "DRAFT — NOT SUBMITTED",
        "PND person search draft PND-",
        f"Policing purpose   : {PURPOSE}",
        "HUSSEIN, MOHAMMED",
        "HUSSEIN, MUHAMMAD",
        "Requesting officer : PC 1234 Tester (force TST)",
        "Safeguarding flag  : no",
        "WL-007",
        "confirmed by PC 1234 Tester",
    ):
        assert expected in text
    assert "identified" not in text.lower()
    draft = json.loads(
        cli("pnd", "draft", site["hit"], "--purpose", PURPOSE, "--format", "json", "--out", json_file).stdout
    )
    assert json.loads(json_file.read_text(encoding="utf-8")) == draft
    assert draft["ref"] != text.split("search draft ")[1].split()[0], "every draft gets its own reference"


def test_safeguarding_flag_and_unreviewed_candidate_are_carried(cli, site):
    res = cli("pnd", "draft", site["pending"], "--purpose", PURPOSE, "--json")
    draft = json.loads(res.stdout)
    assert draft["safeguarding"] is True
    pending = [c for c in draft["candidates"] if c["decision"] == "not reviewed"]
    assert pending and all(c["below_threshold"] for c in pending)
    assert pending[0]["ref"] in draft["warnings"][0] and "not yet reviewed" in res.stderr
    assert "TESFAY, YONAS" in draft["subject"]["name_variants"] and "YONAS, TESFAY" in draft["subject"]["name_variants"]


@pytest.mark.parametrize(
    "purpose, message",
    [
        (None, "--purpose is required"),
        ("checks", "--purpose is too short"),
        ("   ", "--purpose is required"),
        ("wanted?", "--purpose is too short"),
    ],
)
def test_missing_or_one_word_purpose_is_refused_and_nothing_stored(cli, site, triage_env, purpose, message):
    before = row_counts(triage_env)
    args = ["pnd", "draft", site["hit"]] + (["--purpose", purpose] if purpose is not None else [])
    res = cli(*args, code=3)
    assert message in res.stderr and "sentence" in res.stderr and res.stdout == ""
    assert row_counts(triage_env) == before


def test_other_refusals_store_nothing(cli, site, triage_env, tmp_path):
    before = row_counts(triage_env)
    res = cli("pnd", "draft", site["nameless"], "--purpose", PURPOSE, code=3)
    assert "no name" in res.stderr and "--kind face" in res.stderr
    assert (
        "--kind face"
        in cli("pnd", "draft", site["hit"], "--purpose", PURPOSE, "--image-out", tmp_path / "x.jpg", code=3).stderr
    )
    assert (
        "does not exist"
        in cli(
            "pnd", "draft", site["hit"], "--purpose", PURPOSE, "--out", tmp_path / "missing" / "d.txt", code=3
        ).stderr
    )
    cli("pnd", "draft", site["hit"], "--purpose", PURPOSE, "--kind", "iris", code=3)
    cli("pnd", "draft", site["hit"], "--purpose", PURPOSE, "--format", "xml", code=3)
    cli("pnd", "draft", "A-NOSUCH", "--purpose", PURPOSE, code=5)
    assert row_counts(triage_env) == before
    assert not (tmp_path / "x.jpg").exists()


# -- facial search ----------------------------------------------------------------------------------


def test_face_draft_image_is_the_stored_portrait_with_matching_figures(cli, site, triage_env, tmp_path):
    from triage.faces import detection as faces
    from triage.intake import photos
    from triage.store.rows import Store

    image = tmp_path / "search.jpg"
    aid = site["hit"]
    draft = cli.json("pnd", "draft", aid, "--kind", "face", "--purpose", PURPOSE, "--image-out", image)
    validator("pnd_draft.schema.json").validate(draft)
    im = draft["search_image"]
    measures = cli.json("arrivals", "show", aid)["quality"]["measures"]
    assert im["inter_eye_px"] == measures["inter_eye_px"]
    assert im["source_face_box"] == measures["face_box"]
    assert (im["source_width_px"], im["source_height_px"]) == (92, 112)
    store = Store.open(triage_env, PASSPHRASE)
    try:
        row, portrait = store.photo("arrival", aid, "portrait")
        events = [e["action"] for e in store.db["audit_events"].rows_where("arrival_id = ?", [aid], order_by="seq")]
    finally:
        store.close()
    written = image.read_bytes()
    assert written == portrait and hashlib.sha256(written).hexdigest() == im["sha256"] and im["photo_id"] == row["id"]
    pixels = photos.read_photo(image).rgb
    assert (im["width_px"], im["height_px"]) == (pixels.shape[1], pixels.shape[0]) == (row["width"], row["height"])
    found = faces.detect(pixels)
    assert len(found) == 1
    assert abs(found[0].inter_eye - im["portrait_inter_eye_px"]) < 0.15 * im["portrait_inter_eye_px"]
    assert events.index("search-image-out") == events.index("pnd-draft") + 1
    assert f"{im['inter_eye_px']} px between the eyes" in cli("pnd", "show", draft["ref"]).stdout


# -- stored, listed, shown, outcomes ----------------------------------------------------------------


def test_list_show_and_outcomes_keep_their_history(cli, site, tmp_path):
    first = cli.json("pnd", "draft", site["hit"], "--purpose", PURPOSE)
    second = cli.json("pnd", "draft", site["pending"], "--kind", "face", "--purpose", PURPOSE)
    assert first["ref"].endswith("-001") and second["ref"].endswith("-002")
    listed = cli.json("pnd", "list")
    assert [r["ref"] for r in listed] == [second["ref"], first["ref"]]
    assert all(r["outcome"] is None for r in listed)

    assert "--note is required" in cli("pnd", "outcome", first["ref"], "--result", "trace", code=3).stderr
    cli("pnd", "outcome", first["ref"], "--result", "found", code=3)
    cli("pnd", "outcome", "PND-NOSUCH-20260101-001", "--result", "submitted", code=5)
    sub = cli.json("pnd", "outcome", first["ref"], "--result", "submitted", "--note", "submitted by DC 2291")
    trace = cli.json("pnd", "outcome", first["ref"], "--result", "trace", "--note", "trace: wanted on warrant 26/1234")
    assert sub["supersedes"] is None and trace["supersedes"] == sub["id"] and trace["officer"] == OFFICER

    shown = cli.json("pnd", "show", first["ref"])
    validator("pnd_draft.schema.json").validate(shown)
    assert [(o["result"], o["note"]) for o in shown["outcomes"]] == [
        ("submitted", "submitted by DC 2291"),
        ("trace", "trace: wanted on warrant 26/1234"),
    ]
    assert {k: v for k, v in shown.items() if k != "outcomes"} == first
    text = cli("pnd", "show", first["ref"]).stdout
    assert "Outcomes recorded" in text and "trace by PC 1234 Tester — trace: wanted on warrant 26/1234" in text

    by_ref = {r["ref"]: r for r in cli.json("pnd", "list")}
    assert by_ref[first["ref"]]["outcome"] == "trace" and by_ref[first["ref"]]["outcome_at"] == trace["at"]
    assert [r["ref"] for r in cli.json("pnd", "list", "--pending")] == [second["ref"]]
    assert [r["ref"] for r in cli.json("pnd", "list", "--arrival", site["hit"])] == [first["ref"]]
    assert first["ref"] in cli("pnd", "list").stdout

    image = tmp_path / "again.jpg"
    said = cli("pnd", "show", second["ref"], "--image-out", image).stderr
    assert str(image) in said.splitlines(), "the file written is named on a line of its own"
    assert hashlib.sha256(image.read_bytes()).hexdigest() == second["search_image"]["sha256"]
    assert "person search" in cli("pnd", "show", first["ref"], "--image-out", image, code=3).stderr


# -- no network -------------------------------------------------------------------------------------


def test_draft_commands_run_with_sockets_disabled(cli, site, monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9))
    aid = site["hit"]
    person = cli.json("pnd", "draft", aid, "--purpose", PURPOSE, "--out", tmp_path / "p.txt")
    face = cli.json("pnd", "draft", aid, "--kind", "face", "--purpose", PURPOSE, "--image-out", tmp_path / "f.jpg")
    cli("pnd", "list")
    cli("pnd", "show", face["ref"], "--format", "text")
    cli("pnd", "outcome", person["ref"], "--result", "no-trace")
    report = cli.json(
        "intel",
        "draft",
        aid,
        "--source-grade",
        "2",
        "--intel-grade",
        "B",
        "--handling",
        "P",
        "--text",
        "Two passengers said he held the satellite phone",
        "--indicator",
        "satphone",
    )
    cli("intel", "list")
    cli("intel", "show", report["ref"])
    cli("intel", "indicators")
    assert cli.json("vessel", "show", "SB-1")["counts"]["arrivals"] == 3


def test_decisions_on_earlier_searches_stay_in_the_draft(cli, site):
    aid = site["hit"]
    runner_up = cli.json("arrivals", "show", aid)["candidates"][1]
    assert not runner_up["below_threshold"]
    cli("review", aid, "--candidate", runner_up["ref"], "--decision", "rejected", "--reason", "different nose and chin")
    assert [c["ref"] for c in cli.json("match", aid, "--top", "1")["candidates"]] == ["WL-007"]
    by_ref = {c["ref"]: c for c in cli.json("pnd", "draft", aid, "--purpose", PURPOSE)["candidates"]}
    assert set(by_ref) == {"WL-007", runner_up["ref"]}
    assert (by_ref["WL-007"]["decision"], by_ref["WL-007"]["in_latest_search"]) == ("confirmed", True)
    earlier = by_ref[runner_up["ref"]]
    assert (earlier["decision"], earlier["in_latest_search"], earlier["distance"]) == (
        "rejected",
        False,
        runner_up["distance"],
    )


def test_a_draft_past_retention_is_listed_but_its_contents_are_gone(cli, site, triage_env):
    import datetime as dt

    from triage.casework import retention
    from triage.store.rows import Store

    ref = cli.json("pnd", "draft", site["hit"], "--purpose", PURPOSE)["ref"]
    store = Store.open(triage_env, PASSPHRASE)
    try:
        retention.purge(store, officer=OFFICER, as_of=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400))
    finally:
        store.close()
    assert "removed under the retention policy" in cli("pnd", "show", ref, code=5).stderr
    assert cli.json("pnd", "list")[0] | {"created_at": None} == {
        "ref": ref,
        "kind": "pnd-person",
        "arrival_id": site["hit"],
        "officer": OFFICER,
        "created_at": None,
        "outcome": None,
        "outcome_at": None,
        "training": False,
        "purged": True,
        "arrival_void": False,
    }


def test_the_draft_list_keeps_every_date_and_word_whole_at_80_columns():
    import io

    from rich.cells import cell_len

    from triage.cli.common import SafeConsole
    from triage.cli.drafts import _list_table
    from triage.outputs.drafts import DraftList, DraftRow

    row = DraftRow(
        "PND-3314D0-20261206-001",
        "pnd-person",
        "A-7SKWEZ",
        "PC 1234 Smith",
        "2026-12-06T06:27:22+00:00",
        "no-trace",
        "2026-12-07T09:15:00+00:00",
        False,
        False,
    )
    screen = SafeConsole(file=io.StringIO(), width=80, soft_wrap=True)
    screen.print(_list_table(DraftList((row,)), "PND drafts"))
    text = screen.file.getvalue()
    assert all(cell_len(line) <= 80 for line in text.splitlines()), text
    for whole in ("PND-3314D0-20261206-001", "pnd-person", "A-7SKWEZ", "Smith", "2026-12-06", "06:27:22"):
        assert whole in text, text
    for whole in ("no-trace", "2026-12-07", "09:15:00"):
        assert whole in text, text


def test_an_earlier_arrival_found_by_face_and_by_name_is_listed_once(cli, wl_home):
    named = ("--surname", "Hama", "--given-names", "Karwan", "--dob", "1990-05-01")
    unnamed = cli.json("capture", "--photo", orl(7, 3))["arrival_id"]
    first = cli.json("capture", "--photo", orl(7, 4), *named)["arrival_id"]
    second = cli.json("capture", "--photo", orl(7, 5), *named)
    assert {("arrival", first), ("biographic", first)} <= {(c["kind"], c["ref"]) for c in second["candidates"]}
    decided = ("--candidate", first, "--decision", "confirmed", "--reason", "same face and name")
    cli("review", second["arrival_id"], *decided)
    draft = cli.json("pnd", "draft", second["arrival_id"], "--purpose", PURPOSE)
    aliases = [(a["name"], a["source"]) for a in draft["subject"]["aliases"]]
    assert aliases == [("HAMA, Karwan", f"confirmed arrival candidate {first}")], aliases
    day = cli.json("arrivals", "list")[0]["landed_day"]
    report = cli("report", "--date", day, "--format", "text").stdout
    assert f"-> arrival {unnamed} (name not given)" in report and "((" not in report


def test_a_draft_ref_and_result_typed_in_small_letters_name_the_draft(cli, site):
    """`pnd outcome pnd-…` said there was no such draft (exit 5), where arrival ids and crime-group refs are read in
    any case; `--result No-Trace` was refused."""
    ref = cli.json("pnd", "draft", site["hit"], "--purpose", PURPOSE)["ref"]
    done = cli.json("pnd", "outcome", ref.lower(), "--result", "No-Trace")
    assert (done["ref"], done["result"]) == (ref, "no-trace")
    shown = cli.json("pnd", "show", ref.lower())
    assert shown["ref"] == ref and [o["result"] for o in shown["outcomes"]] == ["no-trace"]
    events = [e for e in cli.json("audit", "show") if e["action"] in ("pnd-outcome", "draft-show")]
    assert events and all(f"draft:{ref}" in e["records"] for e in events)
    said = cli("pnd", "outcome", ref, "--result", "Found", code=3).stderr
    assert "--result 'Found': choose one of" in said
