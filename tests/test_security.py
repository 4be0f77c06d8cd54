"""Protection at rest: encrypted personal data and biometrics, the audit chain, retention, passphrases."""

from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import PASSPHRASE, SHIPPED_KDF, orl, row_counts
from triage.errors import ExitStatus
from triage.faces import detection as faces
from triage.intake import photos

NAMES = ("Qzxwyvutsrr", "Plmoknijbuh")


@pytest.fixture
def captured(cli, wl_home):
    """Two arrivals with distinctive names; one reviewed and confirmed against a watchlist subject."""
    a = cli.json("capture", "--photo", orl(7, 4), "--surname", NAMES[0], "--dob", "1987-06-05", "--vessel", "SB-7")
    b = cli.json("capture", "--photo", orl(33, 3), "--surname", NAMES[1], "--dob", "1991-02-03", "--vessel", "SB-7")
    cli("review", a["arrival_id"], "--candidate", "WL-007", "--decision", "confirmed", "--reason", "same scar on chin")
    return a, b


def _everything_in(home) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def _template_bytes(subject: int, number: int) -> bytes:
    p = photos.read_photo(orl(subject, number))
    return faces.encode(p.rgb, faces.detect(p.rgb)[0]).tobytes()


def test_copied_home_gives_away_no_names_dates_or_faces(captured, wl_home):
    raw = _everything_in(wl_home)
    for name in NAMES:
        assert name.encode() not in raw and name.upper().encode() not in raw
    assert b"1987-06-05" not in raw and b"1991-02-03" not in raw
    template = _template_bytes(7, 4)
    assert template[:64] not in raw  # any 16 consecutive floats of the arrival's template
    pgm = orl(7, 4).read_bytes()
    assert pgm[-2048:] not in raw  # the original photo's pixels


def test_audit_verify_names_the_edited_row(cli, captured, wl_home):
    assert cli.json("audit", "verify")["ok"] is True
    con = sqlite3.connect(wl_home / "triage.db")
    seq = con.execute("SELECT seq FROM audit_events WHERE action = 'review'").fetchone()[0]
    con.execute("UPDATE audit_events SET officer = 'PC 666 Someone Else' WHERE seq = ?", [seq])
    con.commit()
    con.close()
    res = cli("audit", "verify", "--json", code=int(ExitStatus.INTEGRITY))
    report = json.loads(res.stdout)
    assert report["ok"] is False and report["broken_seq"] == seq


def test_audit_verify_finds_the_last_events_removed(cli, captured, wl_home, monkeypatch):
    """Deleting the newest events leaves a chain that is intact as far as it goes: the sealed head shows
    what is missing, and without the passphrase only the chain is (and can be) checked."""
    con = sqlite3.connect(wl_home / "triage.db")
    last = con.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
    con.execute("DELETE FROM audit_events WHERE seq > ?", [last - 2])
    con.commit()
    con.close()
    report = json.loads(cli("audit", "verify", "--json", code=int(ExitStatus.INTEGRITY)).stdout)
    assert report["broken_seq"] == last - 1 and f"written up to event {last}" in report["problem"]
    monkeypatch.delenv("TRIAGE_PASSPHRASE")
    assert cli.json("audit", "verify", "--chain-only") == {
        "ok": True,
        "events": last - 2,
        "broken_seq": None,
        "problem": None,
        "end_checked": False,
        "rows_checked": False,
        "row_problems": [],
    }
    monkeypatch.setenv("TRIAGE_PASSPHRASE", PASSPHRASE)
    con = sqlite3.connect(wl_home / "triage.db")
    con.execute("DELETE FROM audit_head")
    con.commit()
    con.close()
    assert "last event is missing" in cli.json("audit", "verify", code=int(ExitStatus.INTEGRITY))["problem"]
    con = sqlite3.connect(wl_home / "triage.db")
    con.execute("DELETE FROM audit_events")
    con.commit()
    con.close()
    assert "the trail is empty" in cli.json("audit", "verify", code=int(ExitStatus.INTEGRITY))["problem"]


def test_audit_show_filters_and_holds_no_biometrics(cli, captured):
    a, _ = captured
    events = cli.json("audit", "show", "--arrival", a["arrival_id"])
    actions = [e["action"] for e in events]
    assert actions[:2] == ["capture", "review"]
    assert all(e["arrival_id"] == a["arrival_id"] for e in events)
    assert cli.json("audit", "show", "--officer", "nobody") == []


def test_purge_dry_run_then_purge(cli, captured, wl_home):
    a, b = captured
    plan = cli.json("purge", "--dry-run", "--as-of", "2099-01-01")
    # b has no confirmed candidate: its biometrics go; a was confirmed and stays
    models = len(b["model_ids"])  # one template per model of the home's matcher
    assert plan["arrivals"] == [b["arrival_id"]] and plan["photos"] == 2 and plan["templates"] == models
    before = row_counts(wl_home)
    done = cli.json("purge", "--as-of", "2099-01-01")
    assert done["arrivals"] == plan["arrivals"] and done["photos"] == plan["photos"]
    after = row_counts(wl_home)
    assert after["photos"] == before["photos"] - 2 and after["templates"] == before["templates"] - models
    assert after["tombstones"] == before["tombstones"] + 1
    assert cli.json("audit", "verify")["ok"] is True
    con = sqlite3.connect(wl_home / "triage.db")
    assert con.execute("SELECT count(*) FROM templates WHERE owner_id = ?", [b["arrival_id"]]).fetchone()[0] == 0
    con.close()
    # a second purge finds nothing more to do
    assert cli.json("purge", "--dry-run", "--as-of", "2099-01-01")["arrivals"] == []
    # the purged arrival is no longer a repeat-arrival candidate
    again = cli.json("capture", "--photo", orl(33, 5))
    assert b["arrival_id"] not in [c["ref"] for c in again["candidates"]]


def test_purge_removes_the_bytes_from_the_file(cli, home, tmp_path):
    a = cli.json("capture", "--photo", orl(12, 2), "--surname", "X")
    con = sqlite3.connect(home / "triage.db")
    sealed = [r[0] for r in con.execute("SELECT data FROM photos WHERE owner_id = ?", [a["arrival_id"]])]
    sealed += [r[0] for r in con.execute("SELECT data FROM template_blocks WHERE owner_kind = 'arrival'")]
    con.close()
    assert len(sealed) >= 3  # original, portrait, and a block holding the arrival's template(s)
    raw = _everything_in(home)
    assert all(blob[:48] in raw for blob in sealed)
    cli("purge", "--as-of", "2099-01-01")
    raw = _everything_in(home)
    assert not any(blob[:48] in raw for blob in sealed)


def test_passphrase_change_rewraps_without_reencrypting(cli, captured, wl_home, monkeypatch):
    con = sqlite3.connect(wl_home / "triage.db")
    sealed_before = con.execute("SELECT sealed FROM arrivals ORDER BY id").fetchall()
    con.close()
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", "a brand new passphrase")
    cli("passphrase", "change")
    cli("arrivals", "list", code=int(ExitStatus.WRONG_PASSPHRASE))
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "a brand new passphrase")
    assert len(cli.json("arrivals", "list")) == 2
    con = sqlite3.connect(wl_home / "triage.db")
    assert con.execute("SELECT sealed FROM arrivals ORDER BY id").fetchall() == sealed_before
    con.close()


def test_recovery_passphrase_opens_the_home_and_resets_the_officers(cli, captured, monkeypatch):
    monkeypatch.setenv("TRIAGE_RECOVERY_PASSPHRASE", "the supervisor's recovery words")
    cli("passphrase", "recovery")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "the supervisor's recovery words")
    assert len(cli.json("arrivals", "list")) == 2
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", "officer's fresh passphrase")
    cli("passphrase", "change")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "officer's fresh passphrase")
    assert len(cli.json("arrivals", "list")) == 2
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "a wrong guess entirely")
    res = cli("arrivals", "list", code=int(ExitStatus.WRONG_PASSPHRASE))
    assert "TRIAGE_PASSPHRASE does not open this home" in res.stderr  # not "set TRIAGE_PASSPHRASE": it is set


def test_doctor_reports_ok_and_fails_on_missing_home(cli, home, tmp_path):
    report = cli.json("doctor")
    assert report["ok"] is True
    assert {c["check"] for c in report["checks"]} >= {"face models", "dlib network", "store", "audit chain", "keys"}
    network = next(c for c in report["checks"] if c["check"] == "dlib network")
    assert "agrees with dlib's own encoder" in network["detail"]
    res = cli("doctor", "--home", tmp_path / "nowhere", "--json", code=int(ExitStatus.INTEGRITY))
    assert '"ok": false' in res.stdout


def test_missing_face_models_fail_loudly(tmp_path):
    """face_recognition exits 0 when its models are missing; triage must exit non-zero and say why."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['face_recognition_models'] = None; "
        f"from triage.cli.app import main; sys.argv = ['triage', 'quality', {str(orl(1, 1))!r}]; main()"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == int(ExitStatus.MODEL_MISSING), res.stderr
    assert "face_recognition_models" in res.stderr


def test_a_new_home_wraps_its_key_at_the_shipped_cost(tmp_path):
    """The suite makes its homes at a lower scrypt cost (conftest.py); a home `triage init` makes in a fresh
    process must not: its wrap records the shipped cost, which every unlock then pays."""
    import subprocess
    import sys

    home = tmp_path / "fresh"
    res = subprocess.run(
        [sys.executable, "-m", "triage", "init", "--home", str(home), "--site", "Dover", "--force-code", "KNT"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    db = sqlite3.connect(home / "triage.db")
    try:
        (wrapped,) = db.execute("SELECT wrapped FROM keyring WHERE name = 'officer'").fetchone()
    finally:
        db.close()
    assert json.loads(wrapped)["kdf"] == SHIPPED_KDF
    assert SHIPPED_KDF["name"] == "scrypt" and SHIPPED_KDF["n"] >= 2**15


def test_a_passphrase_mistyped_at_the_prompt_is_asked_again_three_times_in_all(home):
    import os
    import sys

    import pexpect

    env = {k: v for k, v in os.environ.items() if k != "TRIAGE_PASSPHRASE"}
    env["TERM"] = "dumb"

    def prompted(*answers: str) -> pexpect.spawn:
        child = pexpect.spawn(sys.executable, ["-m", "triage", "arrivals", "list"], env=env, encoding="utf-8")
        for n, answer in enumerate(answers):
            if n:
                child.expect(f"does not open this home; {3 - n} more {'try' if n == 2 else 'tries'}")
            child.expect("Passphrase: ")
            child.sendline(answer)
        return child

    child = prompted("not it", PASSPHRASE)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    child = prompted("not it", "nor this", "still not")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == int(ExitStatus.WRONG_PASSPHRASE)
    assert "Passphrase" not in child.before  # no fourth prompt

    child = prompted("not it")  # then Ctrl-C at the second prompt
    child.expect("Passphrase: ")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == int(ExitStatus.INTERRUPTED), child.before
    assert "stopped at Ctrl-C" in child.before and "Traceback" not in child.before


@pytest.mark.parametrize(
    "passphrase, refused",
    [
        ("Folkestone-Harbour-1", True),
        ("FolkestoneHarbour2026", True),
        ("Ng-PC-7-officer", True),
        ("Folkestone violet lantern quietly 93", False),  # the site's name among words of its own
    ],
)
def test_a_passphrase_made_of_the_homes_own_names_is_refused(passphrase, refused):
    from triage.errors import BadInput
    from triage.store.passphrase import check_strength

    known = ["Folkestone Harbour", "PC 7 Ng", "KNT", "D94612"]
    if not refused:
        check_strength(passphrase, known=known)
        return
    with pytest.raises(BadInput, match="mostly the home's own site, officer or force"):
        check_strength(passphrase, known=known)


def test_doctor_without_a_passphrase_says_what_it_could_not_check(cli, home, monkeypatch):
    """The key, the settings and every record's tag need the passphrase: without one (and no terminal to ask
    at), doctor names them unchecked and does not pass (exit 2), rather than a table all green."""
    monkeypatch.delenv("TRIAGE_PASSPHRASE")
    res = cli("doctor", "--json", code=int(ExitStatus.USAGE))
    report = json.loads(res.stdout)
    keys = next(c for c in report["checks"] if c["check"] == "keys")
    assert report["ok"] is False and keys["not_checked"] is True and "no passphrase" in keys["detail"]
    assert all(c["ok"] for c in report["checks"] if c["check"] != "keys")


def test_a_new_passphrase_too_easy_to_guess_is_asked_for_again_with_the_reason(tmp_path, monkeypatch):
    """At `init` in a terminal a weak passphrase is not the end of the command: the reason is said and another
    asked for, three tries in all; then exit 3 and no home."""
    import os
    import sys

    import pexpect

    env = {k: v for k, v in os.environ.items() if k != "TRIAGE_PASSPHRASE"}
    env["TERM"] = "dumb"

    def init(home, *answers: str) -> pexpect.spawn:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "triage", "init", "--home", str(home), "--site", "Folkestone", "--force-code", "KNT"],
            env=env,
            encoding="utf-8",
        )
        for n, answer in enumerate(answers):
            if n:
                child.expect(rf"too easy to guess .*; {3 - n}\s+more\s+{'try' if n == 2 else 'tries'}")
            child.expect("Passphrase: ")
            child.sendline(answer)
            child.expect("Repeat for confirmation: ")
            child.sendline(answer)
        child.expect(pexpect.EOF)
        child.close()
        return child

    assert init(tmp_path / "a", "password1", PASSPHRASE).exitstatus == 0
    assert (tmp_path / "a" / "config.json").exists()
    refused = init(tmp_path / "b", "password1", "Folkestone2026", "qwertyuiop")
    assert refused.exitstatus == int(ExitStatus.BAD_INPUT), refused.before
    assert "Passphrase" not in refused.before and not (tmp_path / "b" / "config.json").exists()


def test_a_keyring_row_slipped_in_neither_crashes_nor_slows_every_unlock(cli, home, monkeypatch):
    """A row that is not JSON made every command, `audit verify` included, exit 1 with a JSONDecodeError; one
    with a large scrypt `p` added seconds to every unlock. Each is now a broken row: the officer's still opens
    the home, and a wrong passphrase is still told as one."""
    cli.json("capture", "--photo", orl(2, 1))
    db = sqlite3.connect(home / "triage.db")
    (wrapped,) = db.execute("SELECT wrapped FROM keyring WHERE name = 'officer'").fetchone()
    slow = json.loads(wrapped)
    slow["kdf"] = {**slow["kdf"], "p": 64}
    db.executemany("INSERT INTO keyring (name, wrapped) VALUES (?, ?)", [("a", "not json"), ("b", json.dumps(slow))])
    db.commit()
    db.close()
    assert cli.json("arrivals", "list")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "not the passphrase at all")
    wrong = cli("arrivals", "list", code=None)
    assert wrong.exit_code == int(ExitStatus.WRONG_PASSPHRASE), wrong.stderr
