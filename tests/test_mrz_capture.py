"""A machine-readable zone given at capture: it fills in what the officer did not type, every check digit
must agree, and where it disagrees with what was typed the typed value stays, the disagreement is shown
and it is recorded with the arrival (sealed, like the rest of the details)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from test_mrz import TD1, alter, make_td3

from conftest import PASSPHRASE, orl, row_counts
from triage.errors import ExitStatus
from triage.store.rows import Store

ZONE = make_td3(
    state="ERI",
    nationality="ERI",
    name="HAILE<<YONAS",
    number="EP1234567",
    birth="900203",
    sex="M",
    expiry="350415",
    personal="",
)


def sealed_details(home, arrival_id) -> bytes:
    store = Store.open(home, PASSPHRASE)
    try:
        return store.db["arrivals"].get(arrival_id)["sealed"]
    finally:
        store.close()


def test_zone_fills_in_what_was_not_typed(cli, home):
    res = cli("capture", "--photo", orl(3, 2), "--mrz", ZONE, "--json")
    assert "MRZ" not in res.stderr
    details = cli.json("arrivals", "show", json.loads(res.stdout)["arrival_id"])["details"]
    assert {
        k: details[k]
        for k in (
            "surname",
            "given_names",
            "dob",
            "sex",
            "nationality",
            "document_type",
            "document_number",
            "document_state",
            "document_expiry",
        )
    } == {
        "surname": "HAILE",
        "given_names": "YONAS",
        "dob": "1990-02-03",
        "sex": "M",
        "nationality": "ERI",
        "document_type": "passport",
        "document_number": "EP1234567",
        "document_state": "ERI",
        "document_expiry": "2035-04-15",
    }
    assert details["mrz"]["format"] == "TD3" and details["mrz_mismatches"] == []


def test_disagreement_is_shown_and_recorded_never_overwritten(cli, home):
    res = cli("capture", "--photo", orl(3, 2), "--mrz", ZONE, "--surname", "Tesfay", "--dob", "1991", "--json")
    assert "MRZ disagrees with what was typed, surname: typed 'Tesfay', the MRZ has 'HAILE'" in res.stderr
    assert "date of birth: typed 1991, the MRZ has 1990-02-03" in res.stderr
    result = json.loads(res.stdout)
    assert sum("MRZ disagrees" in w for w in result["warnings"]) == 2
    details = cli.json("arrivals", "show", result["arrival_id"])["details"]
    assert (details["surname"], details["dob"], details["given_names"]) == ("Tesfay", "1991", "YONAS")
    assert len(details["mrz_mismatches"]) == 2 and details["mrz"]["surname"] == "HAILE"
    sealed = sealed_details(home, result["arrival_id"])
    assert b"Tesfay" not in sealed and b"HAILE" not in sealed and b"mismatch" not in sealed


@pytest.mark.parametrize(
    "line,pos,field", [(1, 2, "document number"), (1, 14, "date of birth"), (1, 22, "expiry date")]
)
def test_altered_check_digit_is_refused_naming_the_field(cli, home, line, pos, field):
    before = row_counts(home)
    res = cli("capture", "--photo", orl(3, 2), "--mrz", alter(ZONE, line, pos), code=int(ExitStatus.BAD_INPUT))
    assert f"MRZ: check digit for {field}" in res.stderr
    assert row_counts(home) == before


def test_mrz_file_with_an_identity_card(cli, home, tmp_path):
    zone_file = tmp_path / "card.txt"
    zone_file.write_text(TD1 + "\n")
    res = cli("capture", "--photo", orl(4, 2), "--mrz-file", zone_file, "--json")
    assert "MRZ nationality 'UTO' is not a country code" in res.stderr
    assert "MRZ: the document expired on 2012-04-15" in res.stderr
    details = cli.json("arrivals", "show", json.loads(res.stdout)["arrival_id"])["details"]
    assert (details["surname"], details["document_type"], details["document_number"]) == (
        "ERIKSSON",
        "id-card",
        "D23145890",
    )
    assert details["nationality"] is None and details["mrz"]["format"] == "TD1"


def test_mrz_and_mrz_file_together_is_a_usage_error(cli, home, tmp_path):
    zone_file = tmp_path / "zone.txt"
    zone_file.write_text(ZONE)
    res = cli("capture", "--photo", orl(4, 2), "--mrz", ZONE, "--mrz-file", zone_file, code=int(ExitStatus.USAGE))
    assert "--mrz or --mrz-file" in res.stderr


def test_missing_mrz_file_is_bad_input(cli, home, tmp_path):
    res = cli("capture", "--photo", orl(4, 2), "--mrz-file", tmp_path / "none.txt", code=int(ExitStatus.BAD_INPUT))
    assert "no such file" in res.stderr


def test_child_date_of_birth_from_the_zone_raises_safeguarding(cli, home):
    born = dt.date.today().replace(day=1) - dt.timedelta(days=15 * 365)
    zone = make_td3(state="SDN", nationality="SDN", birth=born.strftime("%y%m%d"), expiry="350415", personal="")
    res = cli.json("capture", "--photo", orl(5, 2), "--mrz", zone)
    assert res["safeguarding"] is True
