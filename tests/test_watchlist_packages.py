"""Watchlist packages through the real CLI: an issuing home issues its watchlist, signed and encrypted to a
laptop that trusts it; the laptop applies it, finds the morning's arrival of a subject added at noon, and
alerts on a new capture; a removal in the next version means the subject is never returned; an old
version again, or a package from an untrusted issuer, changes nothing (exit 6); past its valid-until a
package is not searched, every capture and the doctor say so, and after the retention period its
subjects are deleted with tombstones."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import PASSPHRASE, Cli, index_without, orl, signed_in
from triage.casework import issued
from triage.errors import ExitStatus
from triage.store.rows import Store

INTEGRITY = int(ExitStatus.INTEGRITY)
OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")
FUTURE = (dt.date.today() + dt.timedelta(days=120)).isoformat()


def _enrol(cli: Cli, home: Path, subject: int) -> None:
    cli(
        "watchlist",
        "add",
        orl(subject, 1),
        "--ref",
        f"WL-{subject:03d}",
        "--name",
        f"Subject {subject}",
        "--category",
        "wanted",
        "--reason",
        "Wanted on warrant for an assault in Kent",
        "--authorised-by",
        "DS 4411 Clarke",
        "--review-date",
        FUTURE,
        *OVERRIDE,
        "--home",
        home,
    )


def _watchlist_candidates(cli: Cli, home: Path, photo: Path) -> tuple[str, list[dict]]:
    captured = cli.json("capture", "--home", home, "--photo", photo, "--surname", "Probe")
    return captured["arrival_id"], [c for c in captured["candidates"] if c["kind"] == "watchlist"]


@pytest.fixture(scope="module")
def day(tmp_path_factory, face_models):
    """Issuer I (5 subjects) and laptop L (one local subject of its own, trusting I, listed by I as a
    recipient). L captures subject 3 in the morning, before any package; I issues version 1."""
    root = tmp_path_factory.mktemp("packages")
    cli = Cli()
    with signed_in():
        i, laptop = root / "I", root / "L"
        cli("init", "--home", i, "--site", "Kent Intelligence Unit", "--force-code", "KNT")
        cli("init", "--home", laptop, "--site", "Dover", "--force-code", "KNT")
        for s in range(1, 6):
            _enrol(cli, i, s)
        _enrol(cli, laptop, 30)
        issuer = cli.json("keys", "show", "--home", i)
        mine = cli.json("keys", "show", "--home", laptop)
        cli("keys", "trust", "Kent Intelligence Unit", issuer["signing_key"], "--issuer", "--home", laptop)
        cli("keys", "recipient", "add", "Laptop 1 Dover", mine["age_recipient"], "--home", i)
        morning = cli.json("capture", "--home", laptop, "--photo", orl(3, 2), "--surname", "Early")["arrival_id"]
        v1 = root / "watchlist-v1.age"
        issued_v1 = cli.json("watchlist", "issue", "--out", v1, "--home", i)
        return SimpleNamespace(root=root, i=i, laptop=laptop, morning=morning, v1=v1, issued_v1=issued_v1)


@pytest.fixture
def copy(day, tmp_path):
    """Copies of both homes, so each test starts from the morning."""
    i, laptop = tmp_path / "I", tmp_path / "L"
    shutil.copytree(day.i, i)
    shutil.copytree(day.laptop, laptop)
    return SimpleNamespace(i=i, laptop=laptop, morning=day.morning, v1=day.v1, root=tmp_path)


def test_a_package_reaches_the_laptop_alerts_and_a_removal_is_never_returned(cli, day, copy):
    assert day.issued_v1["version"] == 1 and day.issued_v1["subjects"] == 5
    got = cli.json("watchlist", "receive", copy.v1, "--home", copy.laptop)
    assert got["version"] == 1 and sorted(got["added"]) == [f"WL-{s:03d}" for s in range(1, 6)]
    assert got["issuer"] == "Kent Intelligence Unit" and not got["removed"]
    # the subject added at noon finds the morning's arrival, recorded as a search would record it
    assert [(a["arrival_id"], a["ref"]) for a in got["alerts"]] == [(copy.morning, "WL-003")]
    assert got["searched"] == 1 and got["compared"] >= got["searched"]  # every arrival held compared, one searched
    shown = cli.json("arrivals", "show", copy.morning, "--home", copy.laptop)
    assert any(c["kind"] == "watchlist" and c["ref"] == "WL-003" and c["below_threshold"] for c in shown["candidates"])

    arrival, found = _watchlist_candidates(cli, copy.laptop, orl(4, 2))
    assert found[0]["ref"] == "WL-004" and found[0]["below_threshold"]

    status = cli.json("watchlist", "status", "--home", copy.laptop)
    assert status["counts"] == {"issued": 5, "local": 1, "expired": 0}
    (package,) = status["packages"]
    assert package["version"] == 1 and package["valid"] and package["subjects"] == 5

    cli("watchlist", "remove", "WL-004", "--reason", "Arrested and charged today", "--home", copy.i)
    v2 = copy.root / "watchlist-v2.age"
    assert cli.json("watchlist", "issue", "--out", v2, "--home", copy.i)["version"] == 2
    got = cli.json("watchlist", "receive", v2, "--home", copy.laptop)
    assert got["removed"] == ["WL-004"] and got["previous_version"] == 1 and got["unchanged"] == 4
    assert not got["added"] and not got["updated"]

    _, found = _watchlist_candidates(cli, copy.laptop, orl(4, 3))
    assert "WL-004" not in {c["ref"] for c in found}
    again = cli.json("match", arrival, "--home", copy.laptop)
    assert "WL-004" not in {c["ref"] for c in again["candidates"] if c["kind"] == "watchlist"}
    entries = cli.json("watchlist", "list", "--home", copy.laptop)
    listed = {r["ref"] for r in entries}
    assert listed == {"WL-001", "WL-002", "WL-003", "WL-005", "WL-030"}
    assert {r["ref"] for r in entries if r["origin"] == "local"} == {"WL-030"}  # the laptop's own entry
    assert all(r["origin"].startswith("issued by device ") for r in entries if r["ref"] != "WL-030")
    assert cli.json("watchlist", "show", "WL-004", "--home", copy.laptop)["tombstone"] is not None
    status = cli.json("watchlist", "status", "--home", copy.laptop)
    assert status["counts"] == {"issued": 4, "local": 1, "expired": 0}
    shown = cli("watchlist", "status", "--home", copy.laptop).stdout
    assert "Kent Intelligence Unit" in shown and "version 2" in shown and "4 issued, 1 local, 0 expired" in shown

    # an older version again changes nothing
    res = cli("watchlist", "receive", copy.v1, "--home", copy.laptop, code=INTEGRITY)
    assert "not newer than version 2" in res.stderr
    assert {r["ref"] for r in cli.json("watchlist", "list", "--home", copy.laptop)} == listed


def test_an_index_rebuilt_without_the_packages_held_does_not_take_an_older_package_as_newer(cli, copy):
    """The version held is found through an index: rebuilt without the rows of the packages received, it made
    version 1 again "newer than none" and undid version 2 (its subject added withdrawn), every tag and digest
    passing. The receive asks SQLite whether the tables it decides by hold what their indexes say."""
    cli("watchlist", "receive", copy.v1, "--home", copy.laptop)
    _enrol(cli, copy.i, 6)
    v2 = copy.root / "watchlist-v2.age"
    cli("watchlist", "issue", "--out", v2, "--home", copy.i)
    cli("watchlist", "receive", v2, "--home", copy.laptop)
    listed = {r["ref"] for r in cli.json("watchlist", "list", "--home", copy.laptop)}
    assert "WL-006" in listed
    index_without(copy.laptop, "idx_watchlist_packages_role_signer_version", "role = 'received'")
    res = cli("watchlist", "receive", copy.v1, "--home", copy.laptop, code=INTEGRITY)
    assert "watchlist_packages or an index of it is not as SQLite wrote it" in " ".join(res.stderr.split())
    con = sqlite3.connect(copy.laptop / "triage.db")
    held = con.execute("SELECT version FROM watchlist_packages NOT INDEXED WHERE role = 'received'").fetchall()
    con.close()
    assert sorted(v for (v,) in held) == [1, 2]  # nothing of the old package was applied


def test_a_package_from_an_untrusted_issuer_changes_nothing(cli, copy):
    stranger = copy.root / "U"
    cli("init", "--home", stranger, "--site", "Elsewhere", "--force-code", "XYZ")
    _enrol(cli, stranger, 9)
    laptop_keys = cli.json("keys", "show", "--home", copy.laptop)
    cli("keys", "recipient", "add", "Laptop 1 Dover", laptop_keys["age_recipient"], "--home", stranger)
    package = copy.root / "stranger.age"
    cli("watchlist", "issue", "--out", package, "--home", stranger)
    res = cli("watchlist", "receive", package, "--home", copy.laptop, code=INTEGRITY)
    assert "does not trust" in res.stderr
    assert {r["ref"] for r in cli.json("watchlist", "list", "--home", copy.laptop)} == {"WL-030"}
    assert cli.json("watchlist", "status", "--home", copy.laptop)["packages"] == []


def test_a_key_trusted_for_batches_cannot_issue_a_watchlist_nor_an_issuers_key_sign_a_batch(cli, copy):
    """Trust has two roles: a laptop whose batches a home imports could otherwise put subjects on its watchlist
    (and, through a supervisor's own package, on every laptop's)."""
    other = copy.root / "O"
    cli("init", "--home", other, "--site", "Folkestone", "--force-code", "KNT")
    _enrol(cli, other, 9)
    laptop_keys = cli.json("keys", "show", "--home", copy.laptop)
    cli("keys", "recipient", "add", "Laptop 1 Dover", laptop_keys["age_recipient"], "--home", other)
    signing = cli.json("keys", "show", "--home", other)["signing_key"]
    cli("keys", "trust", "Laptop 2 Folkestone", signing, "--home", copy.laptop)  # for its batches
    package = copy.root / "other.age"
    cli("watchlist", "issue", "--out", package, "--home", other)
    said = " ".join(cli("watchlist", "receive", package, "--home", copy.laptop, code=INTEGRITY).stderr.split())
    assert "does not trust to issue watchlists" in said and "batches only, as Laptop 2 Folkestone" in said, said
    assert f"triage keys trust NAME {signing} --issuer" in said, said
    assert {r["ref"] for r in cli.json("watchlist", "list", "--home", copy.laptop)} == {"WL-030"}
    untrust = ("keys", "untrust", "Laptop 2 Folkestone", "--issuer", "--home", copy.laptop)
    said = " ".join(cli(*untrust, code=int(ExitStatus.NOT_FOUND)).stderr.split())
    assert "is a trusted laptop: `triage keys untrust`" in said, said

    # the issuer's key is a watchlist issuer only: its day's batch is not imported
    landed = cli.json("capture", "--home", copy.i, "--photo", orl(12, 2), "--surname", "Kent")["arrival_id"]
    day = cli.json("arrivals", "show", landed, "--home", copy.i)["landed_at"][:10]
    issuer_keys = cli.json("keys", "show", "--home", copy.i)
    own = cli("keys", "trust", "Kent", issuer_keys["signing_key"], "--issuer", "--home", copy.i, code=3)
    assert "own watchlist is never received here" in own.stderr
    batch = copy.root / "issuer-batch.age"
    cli("export", "--date", day, "--out", batch, "--recipient", laptop_keys["age_recipient"], "--home", copy.i)
    assert "does not trust" in cli("import", batch, "--home", copy.laptop, code=INTEGRITY).stderr

    listed = cli.json("keys", "list", "--home", copy.laptop)
    assert [r["name"] for r in listed["watchlist_issuers"]] == ["Kent Intelligence Unit"]
    assert [r["name"] for r in listed["trusted_laptops"]] == ["Laptop 2 Folkestone"]
    assert "watchlist issuer: Kent Intelligence Unit" in cli("keys", "list", "--home", copy.laptop).stdout
    said = cli("keys", "trust", "Folkestone as issuer", signing, "--issuer", "--home", copy.laptop).stdout
    assert "also trusted for its batches, as Laptop 2 Folkestone." in " ".join(said.split()), said
    got = cli.json("watchlist", "receive", package, "--home", copy.laptop)
    assert got["issuer"] == "Folkestone as issuer" and got["added"] == ["WL-009"]
    gone = cli("keys", "untrust", "Folkestone as issuer", "--issuer", "--home", copy.laptop).stdout
    assert "no longer trusted to issue watchlists" in gone
    status = cli.json("watchlist", "status", "--home", copy.laptop)["packages"]
    assert [p["issuer"] for p in status] == ["(no longer trusted)"]


def test_a_package_given_to_import_or_a_batch_to_receive_says_what_it_is_and_which_command_takes_it(cli, copy):
    bad_input = int(ExitStatus.BAD_INPUT)
    said = " ".join(cli("import", copy.v1, "--home", copy.laptop, code=bad_input).stderr.split())
    assert "this is a watchlist package (triage-watchlist/1), not a day's batch" in said, said
    assert f"receive it with `triage watchlist receive {copy.v1}`" in said, said
    day = cli.json("arrivals", "show", copy.morning, "--home", copy.laptop)["landed_at"][:10]
    batch = copy.root / "laptop-batch.age"
    issuer = cli.json("keys", "show", "--home", copy.i)["age_recipient"]
    cli("export", "--date", day, "--out", batch, "--recipient", issuer, "--home", copy.laptop)
    said = " ".join(cli("watchlist", "receive", batch, "--home", copy.i, code=bad_input).stderr.split())
    assert "this is a day's batch (triage-batch/8), not a watchlist package" in said, said
    assert f"import it with `triage import {batch}`" in said, said
    assert cli.json("watchlist", "status", "--home", copy.i)["packages"] == []


def test_a_file_of_the_other_kind_that_is_not_intact_is_left_to_be_refused_as_damage(tmp_path):
    import base64
    import io
    import zipfile

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from triage.errors import BadInput
    from triage.exchange import keys, sealed

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    raw = json.dumps({"format": "triage-watchlist/1", "signer": keys.encode_signing_key(public)}).encode()
    store = SimpleNamespace(home=tmp_path, called="home")

    def sealed_with(signed: bytes) -> zipfile.ZipFile:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(sealed.MANIFEST, raw)
            z.writestr(sealed.SIGNATURE, json.dumps({"signature": base64.b64encode(key.sign(signed)).decode()}))
        return zipfile.ZipFile(buf)

    path = tmp_path / "p.age"
    sealed.refuse_other_kind(sealed_with(raw + b" "), path, raw, expected="triage-batch/8", store=store)
    with pytest.raises(BadInput, match="this is a watchlist package"):
        sealed.refuse_other_kind(sealed_with(raw), path, raw, expected="triage-batch/8", store=store)
    sealed.refuse_other_kind(sealed_with(raw), path, raw, expected="triage-watchlist/1", store=store)


def test_an_issuer_needs_recipients_and_versions_count_up(cli, copy):
    cli("keys", "recipient", "remove", "Laptop 1 Dover", "--home", copy.i)
    res = cli("watchlist", "issue", "--out", copy.root / "none.age", "--home", copy.i, code=int(ExitStatus.BAD_INPUT))
    assert "no recipient" in res.stderr
    res = cli("watchlist", "issue", "--out", copy.v1, "--home", copy.i, code=int(ExitStatus.CONFLICT))
    assert not (copy.root / "none.age").exists()


def test_a_subject_passed_off_as_from_an_expired_package_is_refused(cli, copy, monkeypatch):
    cli("watchlist", "receive", copy.v1, "--home", copy.laptop)
    con = sqlite3.connect(copy.laptop / "triage.db")
    con.execute(
        "INSERT INTO issued_subjects (ref, signer, issuer, version, digest) SELECT 'WL-030', signer, issuer, version, digest FROM issued_subjects LIMIT 1"
    )
    con.commit()
    con.close()
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat(timespec="seconds")
    monkeypatch.setattr("triage.casework.issued.utcnow", lambda: later)
    monkeypatch.setattr("triage.casework.watchlist.utcnow", lambda: later)
    res = cli("capture", "--home", copy.laptop, "--photo", orl(30, 2), code=INTEGRITY)
    assert "issued_subjects row WL-030 was changed outside triage" in res.stderr


def test_past_its_valid_until_a_package_is_not_searched_then_deleted(cli, copy, monkeypatch):
    got = cli("watchlist", "receive", copy.v1, "--home", copy.laptop).stdout
    assert "5 added, 0 updated, 0 removed" in got and copy.morning in got and "WL-003" in got
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat(timespec="seconds")
    monkeypatch.setattr("triage.casework.issued.utcnow", lambda: later)
    monkeypatch.setattr("triage.casework.watchlist.utcnow", lambda: later)
    res = cli("capture", "--home", copy.laptop, "--photo", orl(4, 2), "--surname", "Late", "--json")
    assert "no valid watchlist is held" in res.stderr
    found = {c["ref"] for c in json.loads(res.stdout)["candidates"] if c["kind"] == "watchlist"}
    assert found <= {"WL-030"}  # the laptop's own entry is still searched; the issued ones are not
    doctor = cli("doctor", "--home", copy.laptop, "--json", code=INTEGRITY)
    assert "no valid watchlist is held" in doctor.stdout
    assert cli.json("watchlist", "status", "--home", copy.laptop)["counts"]["expired"] == 5

    store = Store.open(copy.laptop, PASSPHRASE)
    try:
        assert issued.delete_expired(store, officer="PC 1 Test", now=dt.datetime.now(dt.timezone.utc)) == []
    finally:
        store.close()
    purge = cli("purge", "--as-of", (dt.date.today() + dt.timedelta(days=3)).isoformat(), "--home", copy.laptop)
    assert "Deleted 5 watchlist subject(s) of the expired package version 1" in purge.stderr
    store = Store.open(copy.laptop, PASSPHRASE)
    try:
        removed = {r["ref"] for r in store.rows("subjects", "status = 'removed'")}
        assert removed == {f"WL-{s:03d}" for s in range(1, 6)}
        assert store.count("tombstones", "kind = 'subject'") == 5
        assert store.count("photos", "owner_kind = 'subject' AND owner_id LIKE 'WL-00%'") == 0
        assert store.count("audit_events", "action = 'watchlist-remove'") == 5
    finally:
        store.close()


def test_a_package_naming_a_subject_with_a_sign_an_earlier_issuer_allowed_is_received(cli, copy, monkeypatch, tmp_path):
    """Names typed here refuse a pictograph; an issuer of an earlier version enrolled one, and its package was
    refused whole at `watchlist receive` for it. The package is received, the name as the issuer holds it."""
    from functools import partial

    from triage.casework import watchlist
    from triage.intake.biographic import clean_text

    with monkeypatch.context() as earlier:  # the issuer as an earlier version was: any sign in a name
        earlier.setattr(watchlist, "check_entry", partial(watchlist.check_entry, names=clean_text))
        cli("watchlist", "add", orl(6, 1), "--ref", "WL-006", "--name", "Subject 6 ★", "--category", "wanted",
            "--reason", "Wanted on warrant for an assault in Kent", "--authorised-by", "DS 4411 Clarke",
            "--review-date", FUTURE, *OVERRIDE, "--home", copy.i)  # fmt: skip
    package = tmp_path / "watchlist-v2.age"
    cli("watchlist", "issue", "--out", package, "--home", copy.i)
    cli("watchlist", "receive", package, "--home", copy.laptop)
    (held,) = [s for s in cli.json("watchlist", "list", "--home", copy.laptop) if s["ref"] == "WL-006"]
    assert held["name"] == "Subject 6 ★"
