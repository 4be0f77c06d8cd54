"""The retention policy changes only through `triage retention set`: values checked, a reason required, the
change audited with the old and new values, and the next purge applies it; config.json edited by hand is
still refused. Through the real CLI and the real store."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import PASSPHRASE, orl
from triage.errors import ExitStatus
from triage.store.config import CONFIG_FILE, Retention, load_config
from triage.store.rows import Store


def test_show_then_set_then_show(cli, home):
    shown = cli.json("retention", "show")
    assert shown["retention"] == {"unmatched_biometrics_days": 31, "drafts_days": 365}
    assert "unmatched biometrics 31 days, drafts 365 days" in cli("retention", "show").stdout

    res = cli("retention", "set", "--unmatched-biometrics-days", "14", "--reason", "DPO decision 2026/31")
    assert "was: unmatched biometrics 31 days, drafts 365 days" in res.stdout
    assert "now: unmatched biometrics 14 days, drafts 365 days" in res.stdout
    assert cli.json("retention", "show")["retention"] == {"unmatched_biometrics_days": 14, "drafts_days": 365}
    assert load_config(home).retention == Retention(unmatched_biometrics_days=14)  # the copy people read
    store = Store.open(home, PASSPHRASE)
    try:
        assert store.settings is not None and store.settings.retention == Retention(unmatched_biometrics_days=14)
    finally:
        store.close()

    changed = cli.json("retention", "set", "--drafts-days", "90", "--reason", "DPO decision 2026/32")
    assert changed == {
        "retention": {"unmatched_biometrics_days": 14, "drafts_days": 90},
        "previous": {"unmatched_biometrics_days": 14, "drafts_days": 365},
        "changed": True,
    }
    same = cli.json("retention", "set", "--drafts-days", "90", "--reason", "again")
    assert same["changed"] is False


def test_a_change_is_audited_with_the_reason_and_both_values(cli, home):
    cli("retention", "set", "--unmatched-biometrics-days", "7", "--drafts-days", "30", "--reason", "DPO decision")
    cli("retention", "set", "--drafts-days", "30", "--reason", "nothing changes")  # not audited
    audited = [e for e in cli.json("audit", "show") if e["action"] == "retention-set"]
    assert len(audited) == 1
    assert audited[0]["records"] == ["settings:retention"]
    assert audited[0]["reason"] == "DPO decision (unmatched_biometrics_days 31 -> 7; drafts_days 365 -> 30)"
    assert cli.json("audit", "verify")["ok"] is True


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--unmatched-biometrics-days", "0"], "--unmatched-biometrics-days: '0' is not a whole number of days"),
        (["--unmatched-biometrics-days", "366"], "from 1 to 365"),
        (["--unmatched-biometrics-days", "-3"], "--unmatched-biometrics-days: '-3'"),
        (["--drafts-days", "1.5"], "--drafts-days: '1.5' is not a whole number of days from 1 to 3650"),
        (["--drafts-days", "a year"], "--drafts-days: 'a year'"),
        (["--drafts-days", "3651"], "from 1 to 3650"),
    ],
)
def test_values_out_of_bounds_are_refused_naming_the_flag(cli, home, flags, said):
    res = cli("retention", "set", *flags, "--reason", "DPO decision", code=int(ExitStatus.BAD_INPUT))
    assert said in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert cli.json("retention", "show")["retention"] == {"unmatched_biometrics_days": 31, "drafts_days": 365}


def test_a_reason_and_a_value_are_required(cli, home):
    res = cli("retention", "set", "--drafts-days", "30", code=int(ExitStatus.BAD_INPUT))
    assert "--reason is required" in res.stderr
    res = cli("retention", "set", "--reason", "DPO decision", code=int(ExitStatus.USAGE))
    assert "--unmatched-biometrics-days" in res.stderr and "--drafts-days" in res.stderr
    assert cli.json("retention", "show")["retention"]["drafts_days"] == 365
    assert not [e for e in cli.json("audit", "show") if e["action"] == "retention-set"]


def test_purge_applies_the_policy_set(cli, home):
    a = cli.json("capture", "--photo", orl(12, 2), "--surname", "X")
    when = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    plan = cli.json("purge", "--dry-run", "--as-of", when)
    assert plan["arrivals"] == [] and plan["policy"]["unmatched_biometrics_days"] == 31
    cli("retention", "set", "--unmatched-biometrics-days", "7", "--reason", "DPO decision")
    plan = cli.json("purge", "--dry-run", "--as-of", when)
    assert plan["arrivals"] == [a["arrival_id"]] and plan["policy"]["unmatched_biometrics_days"] == 7
    assert "unmatched biometrics 7 days" in cli("purge", "--dry-run", "--as-of", when).stdout


def test_config_json_edited_by_hand_is_still_refused(cli, home):
    cli("retention", "set", "--drafts-days", "90", "--reason", "DPO decision")
    path = home / CONFIG_FILE
    doc = json.loads(path.read_text())
    doc["retention"]["drafts_days"] = 30
    path.write_text(json.dumps(doc, indent=2))
    res = cli("purge", "--dry-run", code=int(ExitStatus.INTEGRITY))
    assert "retention drafts_days 30; the home's retention policy says 90" in res.stderr
    cli("retention", "show", code=int(ExitStatus.INTEGRITY))
    cli("retention", "set", "--drafts-days", "30", "--reason", "x", code=int(ExitStatus.INTEGRITY))
