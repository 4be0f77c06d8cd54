"""Why an arrival is flagged for safeguarding, wherever the flag is shown, through the real CLI and a real store: the
officer's reason from the audit trail (an amendment's too), the age that raised the flag at capture, and, at the
supervisor, the reason the laptop recorded, with the ages given beside each flagged arrival in the day report."""

from __future__ import annotations

import json

from conftest import OFFICER, orl

DAY = "2026-01-10"
LANDED = f"{DAY}T04:00"


def _capture(cli, *args: object, home: object = None) -> str:
    where = ("--home", home) if home else ()
    return cli.json("capture", *args, "--landed-at", LANDED, *where)["arrival_id"]


def _words(text: str) -> str:
    return " ".join(text.split())


def test_each_flag_shows_why_who_and_when_with_the_arrival_and_in_the_day_report(cli, wl_home, tmp_path):
    young = _capture(cli, "--photo", orl(33, 2), "--surname", "Young", "--age", "15")  # flagged at capture
    adult = _capture(cli, "--photo", orl(35, 3), "--surname", "Bell", "--dob", "1990")
    later = _capture(cli, "--photo", orl(36, 1), "--surname", "Cole", "--dob", "1985")
    assert cli.json("arrivals", "show", adult)["safeguarding_reasons"] == []
    cli("arrivals", "flag", adult, "--safeguarding", "--reason", "says 14 to interpreter")
    cli("arrivals", "amend", later, "--dob", "2011-03-02", "--reason", "school card read again")

    shown = {a: cli.json("arrivals", "show", a) for a in (young, adult, later)}
    (by_age,) = shown[young]["safeguarding_reasons"]
    assert (by_age["source"], by_age["reason"], by_age["officer"]) == ("capture", "assessed age 15", OFFICER)
    (said,) = shown[adult]["safeguarding_reasons"]
    assert (said["source"], said["reason"], said["officer"]) == ("officer", "says 14 to interpreter", OFFICER)
    assert said["at"] and said["summary"].startswith(f"by {OFFICER} at ")
    (amended,) = shown[later]["safeguarding_reasons"]
    assert amended["source"] == "officer" and amended["officer"] == OFFICER  # recorded as the amendment raised it
    assert amended["reason"].startswith("raised by an amendment: claimed age 1") and amended["reason"].endswith(
        "(born 2011-03-02); amended because: school card read again"
    )
    assert (shown[adult]["claimed_age"], shown[adult]["assessed_age"]) == ("35-36", None)
    assert (shown[young]["claimed_age"], shown[young]["assessed_age"]) == (None, "15")
    text = _words(cli("arrivals", "show", adult).stdout)
    assert f"Flagged for safeguarding: by {OFFICER} at " in text and "UTC: says 14 to interpreter" in text
    assert "│ claimed age │ 35-36 at landing │" in text

    data = cli.json("report", "--date", DAY, "--format", "text")
    children = {a["arrival_id"]: a for a in data["children"]}
    assert set(children) == {young, adult, later}
    assert children[adult]["age_given"] == "claimed age 35-36 (born 1990)" and children[adult]["dob"] == "1990"
    assert children[young]["age_given"] == "assessed age 15" and children[young]["assessed_age"] == "15"
    assert [r["reason"] for r in children[adult]["safeguarding_reasons"]] == ["says 14 to interpreter"]
    report = cli("report", "--date", DAY, "--format", "text").stdout
    block = report[report.index("Safeguarding flags") : report.index("Candidates awaiting review")]
    assert f"{adult}  BELL  claimed age 35-36 (born 1990)" in block
    assert f"flagged by {OFFICER} at " in block and "UTC: says 14 to interpreter" in block
    assert "flagged at capture by" in block and "UTC: assessed age 15" in block
    assert "UTC: raised by an amendment: claimed age 1" in block and "amended because: school card read again" in block
    page = tmp_path / "report.html"
    cli("report", "--date", DAY, "--out", page)
    html = page.read_text(encoding="utf-8")
    table = html[html.index('<table id="children">') : html.index("</table>", html.index('<table id="children">'))]
    assert "says 14 to interpreter" in table and "claimed age 35-36 (born 1990)" in table


def test_a_flag_raised_on_a_laptop_shows_that_officers_reason_at_the_supervisor(cli, wl_home, tmp_path):
    """Flagged before its batch, or after an earlier one: either way the supervisor is shown the laptop officer's
    words once, with the laptop it was raised on."""
    sup = tmp_path / "sup"
    cli("init", "--home", sup, "--site", "Dover HQ", "--force-code", "KNT", "--matcher", "dlib")
    keys = {h: json.loads(cli("keys", "show", "--json", *h).stdout) for h in ((), ("--home", sup))}
    cli("keys", "recipient", "add", "Supervisor", keys[("--home", sup)]["age_recipient"])
    cli("keys", "trust", "Laptop", keys[()]["signing_key"], "--home", sup)
    first = _capture(cli, "--photo", orl(35, 3), "--surname", "Bell")
    cli("arrivals", "flag", first, "--safeguarding", "--reason", "school card, born 2011")
    cli("export", "--date", DAY, "--out", tmp_path / "one.age")
    second = _capture(cli, "--photo", orl(36, 1), "--surname", "Cole")
    cli("export", "--date", DAY, "--out", tmp_path / "two.age")
    cli("import", tmp_path / "one.age", tmp_path / "two.age", "--home", sup)
    cli("arrivals", "flag", second, "--safeguarding", "--reason", "appears about 14")
    cli("export", "--date", DAY, "--out", tmp_path / "three.age")
    cli("import", tmp_path / "three.age", "--home", sup)

    device = keys[()]["device"]
    landed = {a["name"]: a["arrival_id"] for a in cli.json("arrivals", "list", "--home", sup)}
    for name, said in (("BELL", "school card, born 2011"), ("COLE", "appears about 14")):
        (reason,) = cli.json("arrivals", "show", landed[name], "--home", sup)["safeguarding_reasons"]
        assert (reason["source"], reason["reason"], reason["officer"]) == ("laptop", said, OFFICER)
        assert reason["device"] == device and f"by {OFFICER} on laptop {device} at " in reason["summary"]
    report = cli("report", "--date", DAY, "--format", "text", "--home", sup).stdout
    assert f"flagged by {OFFICER} on laptop {device} at " in report and "UTC: appears about 14" in report
    assert report.count("school card, born 2011") == 1


def test_a_flag_whose_officer_was_rewritten_in_the_trail_is_refused_not_shown(cli, wl_home):
    import sqlite3

    from triage.errors import ExitStatus
    from triage.store.audit import event_hash

    adult = _capture(cli, "--photo", orl(35, 3), "--surname", "Bell", "--dob", "1990")
    cli("arrivals", "flag", adult, "--safeguarding", "--reason", "says 14 to interpreter")
    cli("arrivals", "show", adult)  # events after the flag: the rewritten one is inside the trail, not at its end
    con = sqlite3.connect(wl_home / "triage.db")
    con.row_factory = sqlite3.Row
    row = dict(con.execute("SELECT * FROM audit_events WHERE action = 'safeguarding-flag'").fetchone())
    row["officer"] = "PC 666 Someone Else"  # and its own hash made again, as anyone could
    con.execute(
        "UPDATE audit_events SET officer = ?, hash = ? WHERE seq = ?", [row["officer"], event_hash(row), row["seq"]]
    )
    con.commit()
    con.close()
    for command in (("arrivals", "show", adult), ("audit", "show", "--arrival", adult)):
        said = _words(cli(*command, code=int(ExitStatus.INTEGRITY)).stderr)
        assert f"audit event {row['seq']} or the trail around it was altered" in said
        assert "Someone Else" not in said


def test_a_flag_whose_officer_was_rewritten_with_the_next_events_hash_made_again_is_refused(cli, wl_home):
    """The trail's hashes are not keyed: the flag's event rewritten, and the event after it given the new link and a
    hash of its own made again, passed a check of the flag's neighbours; the break is further on, which a read of
    the flag's events alone never reached. The read walks the trail from the first event it shows to the head."""
    import sqlite3

    from triage.errors import ExitStatus
    from triage.store.audit import event_hash

    adult = _capture(cli, "--photo", orl(35, 3), "--surname", "Bell", "--dob", "1990")
    cli("arrivals", "flag", adult, "--safeguarding", "--reason", "says 14 to interpreter")
    cli("arrivals", "list")
    cli("arrivals", "list")  # two events after the flag, about no arrival
    con = sqlite3.connect(wl_home / "triage.db")
    con.row_factory = sqlite3.Row
    row = dict(con.execute("SELECT * FROM audit_events WHERE action = 'safeguarding-flag'").fetchone())
    row["officer"] = "PC 666 Someone Else"
    row["hash"] = event_hash(row)
    after = dict(con.execute("SELECT * FROM audit_events WHERE seq = ?", [row["seq"] + 1]).fetchone())
    after["prev_hash"] = row["hash"]
    after["hash"] = event_hash(after)
    for r in (row, after):
        con.execute("UPDATE audit_events SET officer = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                    [r["officer"], r["prev_hash"], r["hash"], r["seq"]])  # fmt: skip
    con.commit()
    con.close()
    for command in (("arrivals", "show", adult), ("audit", "show", "--arrival", adult)):
        said = _words(cli(*command, code=int(ExitStatus.INTEGRITY)).stderr)
        assert f"audit event {row['seq'] + 1} or the trail around it was altered" in said, said
        assert "Someone Else" not in said


def test_a_flag_whose_event_an_index_leaves_out_is_refused_not_shown_without_its_reason(cli, wl_home):
    """The flag's event is found through the trail's index by arrival: rebuilt without it, `arrivals show` said
    "no reason is recorded in this home" (exit 0), every tag, digest and link passing. A flag found with no
    reason has SQLite asked whether the trail holds what its index says."""
    from conftest import index_without
    from triage.errors import ExitStatus

    adult = _capture(cli, "--photo", orl(35, 3), "--surname", "Bell", "--dob", "1990")
    cli("arrivals", "flag", adult, "--safeguarding", "--reason", "says 14 to interpreter")
    index_without(wl_home, "idx_audit_events_arrival_id", "action = 'safeguarding-flag'")
    said = _words(cli("arrivals", "show", adult, code=int(ExitStatus.INTEGRITY)).stderr)
    assert "audit_events or an index of it is not as SQLite wrote it" in said


def test_a_flag_whose_event_an_index_leaves_out_is_refused_where_another_reason_is_found(cli, wl_home):
    """A child flagged at capture, and by an officer since: with the officer's event left out of the index, the
    flag still had its capture reason, so the trail's index was not asked about and the officer's reason went
    unseen. SQLite is asked whatever reasons are found."""
    from conftest import index_without
    from triage.errors import ExitStatus

    young = _capture(cli, "--photo", orl(33, 2), "--surname", "Young", "--age", "15")  # flagged at capture
    cli("arrivals", "flag", young, "--safeguarding", "--reason", "interpreter says 13, travelling alone")
    assert len(cli.json("arrivals", "show", young)["safeguarding_reasons"]) == 2
    index_without(wl_home, "idx_audit_events_arrival_id", "action = 'safeguarding-flag'")
    said = _words(cli("arrivals", "show", young, code=int(ExitStatus.INTEGRITY)).stderr)
    assert "audit_events or an index of it is not as SQLite wrote it" in said
