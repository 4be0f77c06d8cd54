"""What decides a home's behaviour is recorded in its store and cannot be changed behind triage's back:
config.json edited (training, matcher, retention) stops the home at unlock naming the field; a calibration
file dropped into models/ or edited after `triage evaluate --calibrate` wrote it is never used, and
`doctor` names it; a home made by the first release has its settings taken from config.json at its first
unlock, audited. Through the real CLI and the real store."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import OFFICER, PASSPHRASE, orl
from triage.errors import ExitStatus, IntegrityFailure, TriageError
from triage.evaluation import calibration
from triage.faces import matching
from triage.store import settings
from triage.store.config import CONFIG_FILE, Config, Retention, load_config
from triage.store.rows import Store

DLIB = "dlib-resnet-v1+5pt"
RELEASE_HOME = Path(__file__).parent / "data" / "release_home"


def edit_config(home: Path, **changes) -> None:
    path = home / CONFIG_FILE
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            doc[key].update(value)
        else:
            doc[key] = value
    path.write_text(json.dumps(doc, indent=2))


def actions(home: Path) -> list[str]:
    con = sqlite3.connect(home / "triage.db")
    try:
        return [r[0] for r in con.execute("SELECT action FROM audit_events ORDER BY seq")]
    finally:
        con.close()


def calibrate_as_evaluate_does(home: Path, threshold: float) -> Path:
    """A home calibration written the way `triage evaluate --calibrate` writes one: the file, its SHA-256
    recorded and the event audited in one transaction (tests/test_evaluate.py runs the whole command)."""
    path = matching.home_calibration_file(home, DLIB)
    store = Store.open(home, PASSPHRASE)
    try:
        with store.transaction():
            digest = calibration.write(path, {"model_id": DLIB, "threshold": threshold, "provenance": "test"})
            assert settings.record_calibration(store, path, digest, officer=OFFICER)
            store.audit("calibrate", OFFICER, records=[f"model:{DLIB}"])
    finally:
        store.close()
    return path


def doctor(cli) -> dict:
    res = cli("doctor", "--json", code=int(ExitStatus.INTEGRITY))
    report = json.loads(res.stdout)
    assert report["ok"] is False
    return {c["check"]: c for c in report["checks"]}


def test_a_new_home_records_its_settings(cli, home):
    store = Store.open(home, PASSPHRASE)
    try:
        assert store.settings == settings.Settings(False, "fused", Retention(), {})
        assert store.is_training is False
        stored = dict(store.db.execute("SELECT name, value FROM settings").fetchall())
        assert json.loads(stored["training"]) is False and json.loads(stored["matcher"]) == "fused"
    finally:
        store.close()
    assert actions(home)[:2] == ["init", "settings-record"]
    locked = Store.open_locked(home)
    try:
        with pytest.raises(TriageError, match="needs the passphrase"):
            assert locked.is_training
    finally:
        locked.close()


def test_a_training_home_edited_to_real_does_not_open(cli, tmp_path):
    home = tmp_path / "exercise"
    Store.create(home, PASSPHRASE, Config(site="Training", force_code="TRN", officer=OFFICER, training=True)).close()
    assert Store.open(home, PASSPHRASE).is_training is True
    edit_config(home, training=False)
    res = cli("arrivals", "list", "--home", home, code=int(ExitStatus.INTEGRITY))
    assert f"{home / CONFIG_FILE} says training false; this home was made as a training home" in res.stderr
    out = tmp_path / "batch.age"
    today = dt.date.today().isoformat()
    cli("export", "--date", today, "--out", out, "--home", home, code=int(ExitStatus.INTEGRITY))
    assert not out.exists()
    edit_config(home, training=True)  # put back, it opens again
    assert cli.json("arrivals", "list", "--home", home) == []


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"training": True}, "says training true; this home was made as an operational home"),
        ({"matcher": "dlib"}, "says matcher dlib; the home's matcher is fused"),
        ({"retention": {"unmatched_biometrics_days": 3650}}, "says retention unmatched_biometrics_days 3650"),
        (
            {"matcher": "sface", "retention": {"drafts_days": 1}},
            "says matcher sface; the home's matcher is fused (`triage models use` changes it); it says "
            "retention drafts_days 1; the home's retention policy says 365",
        ),
    ],
)
def test_config_json_edited_is_refused_naming_the_field(cli, home, changes, said):
    edit_config(home, **changes)
    res = cli("arrivals", "list", code=int(ExitStatus.INTEGRITY))
    assert f"{home / CONFIG_FILE} {said}" in res.stderr
    with pytest.raises(IntegrityFailure):
        Store.open(home, PASSPHRASE)
    checks = doctor(cli)
    assert checks["keys"]["ok"] is True
    assert checks["settings"]["ok"] is False
    assert "config.json says" in checks["settings"]["detail"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d.update(matcher_threshold=99), "has a field triage does not write: matcher_threshold"),
        (lambda d: d.pop("officer"), "lacks officer"),
        (lambda d: d.pop("matcher"), "lacks matcher"),
        (lambda d: d.pop("retention"), "lacks retention"),
        (lambda d: d["retention"].pop("drafts_days"), "lacks retention drafts_days"),
        (lambda d: d.update(training="false"), 'says training "false"; training must be true or false'),
    ],
    ids=["added", "officer removed", "matcher removed", "retention removed", "a day removed", "wrong kind"],
)
def test_config_json_with_a_field_added_removed_or_of_the_wrong_kind_is_refused_naming_it(cli, home, change, said):
    """Never read with defaults filled in or extra fields dropped, nor reported as Python's own error."""
    path = home / CONFIG_FILE
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))
    for command in (("arrivals", "list"), ("audit", "verify", "--chain-only")):
        res = cli(*command, code=int(ExitStatus.INTEGRITY))
        assert f"{path} {said}" in res.stderr and "changed outside triage" in res.stderr
        assert "__init__" not in res.stderr and "keyword argument" not in res.stderr
    path.write_text('{"site": ')
    assert (
        f"{path} is not a triage config: it is not JSON"
        in cli("arrivals", "list", code=int(ExitStatus.INTEGRITY)).stderr
    )


def test_a_settings_row_put_back_from_an_older_copy_is_not_blamed_on_config_json(cli, home):
    """The store rolled back under a config.json left as triage last wrote it: the store is named, not the file."""
    columns = "value, at, officer, ver, tag"
    con = sqlite3.connect(home / "triage.db")
    old = con.execute(f"SELECT {columns} FROM settings WHERE name = 'retention'").fetchone()
    con.close()
    cli("retention", "set", "--drafts-days", "90", "--reason", "DPO decision 2026/31")
    con = sqlite3.connect(home / "triage.db")
    con.execute("UPDATE settings SET (value, at, officer, ver, tag) = (?, ?, ?, ?, ?) WHERE name = 'retention'", old)
    con.commit()
    con.close()
    res = cli("arrivals", "list", code=int(ExitStatus.INTEGRITY))
    said = " ".join(res.stderr.split())
    assert "the rows of settings are not the ones last written" in said and "restore the home from a backup" in said
    assert "config.json" not in said


def test_models_use_changes_the_record_and_the_config_together(cli, home):
    cli("models", "use", "dlib")
    assert load_config(home).matcher == "dlib"
    store = Store.open(home, PASSPHRASE)
    try:
        assert store.settings is not None and store.settings.matcher == "dlib"
        with store.transaction():  # the retention policy changes the same way (store first, then the file)
            settings.change(store, officer=OFFICER, retention=Retention(unmatched_biometrics_days=7))
            store.audit("settings-set", OFFICER, records=["settings:retention"])
    finally:
        store.close()
    assert load_config(home).retention == Retention(unmatched_biometrics_days=7)
    assert Store.open(home, PASSPHRASE).settings.retention.unmatched_biometrics_days == 7


def test_a_dropped_in_calibration_is_never_used_and_doctor_names_it(cli, wl_home):
    shipped = matching.calibration(DLIB).threshold
    before = cli.json("capture", "--photo", orl(3, 4))
    assert before["threshold"] == shipped and before["candidates"][0]["below_threshold"]
    dropped = matching.home_calibration_file(wl_home, DLIB)
    dropped.parent.mkdir()
    dropped.write_text(json.dumps({"model_id": DLIB, "threshold": 0.0001, "provenance": "measured here"}))
    (wl_home / "models" / "fused.json").write_text("{}")  # not the home's matcher: doctor still names it

    res = cli("capture", "--photo", orl(3, 5), code=int(ExitStatus.INTEGRITY))
    assert f"{dropped} was not written by `triage evaluate --calibrate` in this home" in res.stderr
    assert "triage evaluate --calibrate" in res.stderr  # the hint: remove it, calibrate properly
    cli("match", before["arrival_id"], code=int(ExitStatus.INTEGRITY))

    checks = doctor(cli)
    assert not checks["calibrations"]["ok"] and not checks["calibration"]["ok"]
    assert f"models/{DLIB}.json was not written" in checks["calibrations"]["detail"]
    assert "models/fused.json was not written" in checks["calibrations"]["detail"]
    listed = cli.json("models", "list")
    assert any(str(dropped) in p for p in listed["problems"])

    dropped.unlink()
    (wl_home / "models" / "fused.json").unlink()
    assert cli.json("capture", "--photo", orl(3, 5))["threshold"] == shipped
    assert cli.json("doctor")["ok"]


def test_a_calibration_is_used_as_written_and_refused_once_edited(cli, wl_home):
    path = calibrate_as_evaluate_does(wl_home, 0.45)
    assert cli.json("capture", "--photo", orl(3, 4))["threshold"] == 0.45
    checks = {c["check"]: c for c in cli.json("doctor")["checks"]}
    assert checks["calibrations"]["ok"] and f"models/{DLIB}.json" in checks["calibrations"]["detail"]

    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "threshold": 0.0001}))
    res = cli("capture", "--photo", orl(3, 5), code=int(ExitStatus.INTEGRITY))
    assert f"{path} is not the calibration `triage evaluate --calibrate` wrote" in res.stderr
    assert "is not the calibration" in doctor(cli)["calibrations"]["detail"]

    path.unlink()  # the shipped calibration is used, but the loss of the home's is not silent
    assert cli.json("capture", "--photo", orl(3, 5))["threshold"] == matching.calibration(DLIB).threshold
    assert "is missing" in doctor(cli)["calibrations"]["detail"]
    calibrate_as_evaluate_does(wl_home, 0.44)
    assert cli.json("doctor")["ok"]


def test_removed_settings_are_not_taken_again_from_config_json(cli, home):
    con = sqlite3.connect(home / "triage.db")
    con.execute("DELETE FROM settings")
    con.commit()
    con.close()
    edit_config(home, matcher="dlib")
    res = cli("arrivals", "list", code=int(ExitStatus.INTEGRITY))
    assert "settings this home recorded" in res.stderr and "were removed" in res.stderr


def test_a_settings_row_edited_in_the_store_is_refused(cli, tmp_path):
    home = tmp_path / "exercise"
    Store.create(home, PASSPHRASE, Config(site="Training", force_code="TRN", officer=OFFICER, training=True)).close()
    con = sqlite3.connect(home / "triage.db")
    con.execute("UPDATE settings SET value = 'false' WHERE name = 'training'")
    con.commit()
    con.close()
    edit_config(home, training=False)  # both changed together, without the passphrase
    res = cli("arrivals", "list", "--home", home, code=int(ExitStatus.INTEGRITY))
    assert "settings row training" in res.stderr


def test_a_first_release_home_takes_its_settings_from_config_json_once(cli, triage_env):
    shutil.copytree(RELEASE_HOME, triage_env)
    shipped = json.loads(Path(matching.calibration(DLIB).file).read_text())
    present = matching.home_calibration_file(triage_env, DLIB)
    present.parent.mkdir()
    present.write_text(json.dumps({**shipped, "threshold": 0.48}))  # there before this version: trusted once
    assert "settings-adopt" not in actions(triage_env)

    assert len(cli.json("arrivals", "list")) == 3
    adopted = [a for a in actions(triage_env) if a.startswith("settings")]
    assert adopted == ["settings-adopt"]
    store = Store.open(triage_env, PASSPHRASE)
    try:
        assert store.settings is not None
        assert (store.settings.training, store.settings.matcher) == (False, "dlib")
        assert list(store.settings.calibrations) == [f"{DLIB}.json"]
    finally:
        store.close()
    assert cli.json("capture", "--photo", orl(2, 2))["threshold"] == 0.48
    assert [a for a in actions(triage_env) if a.startswith("settings")] == ["settings-adopt"]  # once

    edit_config(triage_env, retention={"drafts_days": 30})
    res = cli("arrivals", "list", code=int(ExitStatus.INTEGRITY))
    assert "retention drafts_days 30; the home's retention policy says 365" in res.stderr
