"""The structured debrief through the real CLI and store, on arrivals captured from real ORL faces: a file
fills every field, prompts ask again on bad answers, refusals stay refusals in drafts and in the day's
export, an exploitation indicator raises the safeguarding flag, and an intelligence report started from a
debrief carries its answers."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_drafts import validator

from conftest import OFFICER, PASSPHRASE, Cli, orl, signed_in
from triage.casework.debrief import questions, records
from triage.errors import ExitStatus
from triage.exchange import batch
from triage.store.rows import Store

BAD_INPUT, CONFLICT = int(ExitStatus.BAD_INPUT), int(ExitStatus.CONFLICT)
LANDED = (dt.date.today() - dt.timedelta(days=2)).isoformat()
LEFT = (dt.date.today() - dt.timedelta(days=3)).isoformat()


@pytest.fixture(scope="module")
def landing(tmp_path_factory, face_models):
    """Three people off vessel SB-4 two days ago, captured through the CLI once; tests work on copies."""
    home = tmp_path_factory.mktemp("debrief") / "home"
    cli = Cli()
    with signed_in():
        cli("init", "--home", home, "--site", "Dover", "--force-code", "KNT")
        ids = {
            name: cli.json(
                "capture",
                "--home",
                home,
                "--photo",
                orl(*ref),
                "--surname",
                surname,
                "--vessel",
                "SB-4",
                "--landed-at",
                f"{LANDED}T05:{minute:02d}",
            )["arrival_id"]
            for minute, (name, ref, surname) in enumerate(
                (("subject", (7, 4), "Hama"), ("pilot", (12, 3), "Tesfay"), ("companion", (14, 2), "Omar"))
            )
        }
    return home, ids


@pytest.fixture
def site(landing, triage_env, cli) -> SimpleNamespace:
    shutil.copytree(landing[0], triage_env)
    return SimpleNamespace(home=triage_env, **landing[1])


def full_answers(site) -> dict:
    """Every question answered, every field given, in the raw forms people type."""
    return {
        "departure": {"country": "France", "place": "Gravelines beach", "date": LEFT, "note": "left at night"},
        "route": {"countries": ["Eritrea", "Sudan", "Libya", "Italy", "France"]},
        "payment": {
            "arranged": "Met a man in the Dunkirk camp who sent a number on WhatsApp",
            "amount": "1,500",
            "currency": "euro",
            "method": "cash",
            "paid_to": "Abu Ali",
            "handle": "@fastcross_pay",
        },
        "contacts": {"phones": ["+33 6 12 34 56 78", "0044 7911 123456"], "names": ["Abu Ali", "Kaka"]},
        "pilot": {"person": site.pilot.lower()},
        "phone_holder": {"person": "tall man in a red jacket, not among the arrivals"},
        "compass_holder": {"person": site.pilot},
        "companions": {"people": [site.companion, "his cousin, who stayed in France"]},
        "exploitation": {"indicators": ["debt", "documents-taken"], "note": "owes 2,000 EUR more on arrival"},
        "interpreter": {"language": "Tigrinya", "interpreter": "yes", "interpreter_ref": "Big Word interpreter 4471"},
    }


def store_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob("triage.db*"))


def audit_actions(home: Path, arrival_id: str) -> list[str]:
    store = Store.open_locked(home)
    try:
        return [
            e["action"] for e in store.db["audit_events"].rows_where("arrival_id = ?", [arrival_id], order_by="seq")
        ]
    finally:
        store.close()


def test_a_scripted_file_fills_every_structured_field(cli, site, tmp_path):
    path = tmp_path / "debrief.json"
    path.write_text(json.dumps(full_answers(site)), encoding="utf-8")
    view = cli.json("debrief", site.subject, "--file", path)
    answers = view["answers"]
    for key, q in questions.QUESTIONS.items():
        assert answers[key]["status"] == "answered", key
        for part in q.parts:
            assert answers[key]["value"][part.name] not in (None, []), f"{key}.{part.name} was not filled"
    assert answers["departure"]["value"] == {"country": "FRA", "place": "Gravelines beach", "date": LEFT}
    assert answers["departure"]["note"] == "left at night"
    assert answers["route"]["value"]["countries"] == ["ERI", "SDN", "LBY", "ITA", "FRA"]
    assert {k: answers["payment"]["value"][k] for k in ("amount", "currency", "method", "paid_to", "handle")} == {
        "amount": "1500",
        "currency": "EUR",
        "method": "cash",
        "paid_to": "Abu Ali",
        "handle": "@fastcross_pay",
    }
    assert answers["contacts"]["value"] == {"phones": ["+33612345678", "+447911123456"], "names": ["Abu Ali", "Kaka"]}
    assert answers["pilot"]["value"]["person"] == {"arrival_id": site.pilot, "description": None}
    assert answers["phone_holder"]["value"]["person"]["arrival_id"] is None
    assert answers["companions"]["value"]["people"][0] == {"arrival_id": site.companion, "description": None}
    assert answers["exploitation"]["value"]["indicators"] == ["debt", "documents-taken"]
    assert answers["interpreter"]["value"] == {
        "language": "Tigrinya",
        "interpreter": True,
        "interpreter_ref": "Big Word interpreter 4471",
    }
    assert (view["version"], view["mode"], view["declined"], view["officer"]) == (1, "scripted", [], OFFICER)

    # the indicators raised the safeguarding flag, on the arrival as every view shows it
    assert view["safeguarding"] and view["safeguarding_raised"]
    assert cli.json("arrivals", "show", site.subject)["safeguarding"] == 1
    assert "SAFEGUARDING" in cli("debrief", site.subject, "--show").stdout
    actions = audit_actions(site.home, site.subject)
    assert actions[actions.index("debrief") - 1] == "safeguarding-flag", "flag and debrief land together"
    # what people said is sealed: neither a number nor a name is in the store file in clear
    raw = store_bytes(site.home)
    for clear in (b"+33612345678", b"Abu Ali", b"fastcross", b"Gravelines"):
        assert clear not in raw


def test_prompts_ask_again_on_bad_amounts_dates_phones_and_countries(cli, site):
    lines = [
        "Atlantis",
        "France",
        "Gravelines",
        "31/02/2026",
        LEFT,
        "",  # departure, then its note
        "Sudan; Narnia",
        "Sudan; Libya",
        "",  # route
        "through a cousin",
        "lots",
        "1200",
        "dollars",
        "USD",
        "cash",
        "",
        "",
        "",  # payment
        "+44 12",
        "+33 6 12 34 56 78",
        "",
        "",  # contacts
        "declined",
        "afraid of the driver",  # pilot: declined, with a note
        "unknown",
        "",  # phone holder
        "",
        "",  # compass holder: not asked
        "",
        "",  # companions: not asked
        "none; debt",
        "none",
        "",  # exploitation: none (with an indicator, refused)
        "Arabic",
        "maybe",
        "no",
        "",
        "",  # interpreter
        "y",
    ]
    res = cli("debrief", site.subject, "--interactive", "--json", input="\n".join(lines) + "\n")
    said = " ".join(res.stderr.split())  # the words, however a refusal wraps
    for refusal in (
        "'Atlantis' is not a country",
        "is not a date: day 31",
        "'Narnia' is not a country",
        "'lots' is not an amount",
        "'dollars' is not a currency",
        "'+44 12' is not a valid phone number",
        "'maybe': answer yes or no",
        "none cannot be combined with indicators",
    ):
        assert refusal in said, refusal
    assert said.count("try again") == 8
    assert "Check before saving" in res.stderr
    answers = json.loads(res.stdout)["answers"]
    assert answers["departure"]["value"] == {"country": "FRA", "place": "Gravelines", "date": LEFT}
    assert answers["route"]["value"]["countries"] == ["SDN", "LBY"]
    assert (answers["payment"]["value"]["amount"], answers["payment"]["value"]["currency"]) == ("1200", "USD")
    assert answers["contacts"]["value"]["phones"] == ["+33612345678"]
    assert answers["pilot"] == {
        "question": "Who piloted the boat",
        "status": "declined",
        "value": None,
        "note": "afraid of the driver",
    }
    assert answers["phone_holder"]["status"] == "unknown"
    assert answers["compass_holder"]["status"] == answers["companions"]["status"] == "not-asked"
    assert answers["exploitation"]["status"] == "answered" and answers["exploitation"]["value"]["indicators"] == []
    assert answers["interpreter"]["value"]["interpreter"] is False
    assert json.loads(res.stdout)["mode"] == "interactive"
    assert cli.json("arrivals", "show", site.subject)["safeguarding"] == 0, "no indicator, no flag"


def test_an_amount_without_its_currency_asks_the_question_again(cli, site):
    lines = [
        "",
        "",
        "",
        "",
        "",
        "",  # departure and route: not asked
        "",
        "900",
        "",
        "",
        "",
        "",
        "",  # payment with no currency: refused whole
        "",
        "900",
        "GBP",
        "",
        "",
        "",
        "",  # asked again
        *[""] * 17,
        "y",
    ]
    res = cli("debrief", site.subject, "--interactive", "--json", input="\n".join(lines) + "\n")
    said = " ".join(res.stderr.split())
    assert "(currency): give the currency of the amount paid" in said and "--currency" not in said  # no flag typed
    assert json.loads(res.stdout)["answers"]["payment"]["value"]["currency"] == "GBP"


def test_declined_questions_stay_declined_in_drafts_and_the_days_export(cli, site, tmp_path):
    view = cli.json(
        "debrief",
        site.subject,
        "--declined",
        "payment",
        "--declined",
        "contacts",
        "--note",
        "contacts=would not give numbers while others were near",
        "--departure-country",
        "FRA",
        "--indicator",
        "held",
        "--pilot",
        site.pilot,
    )
    assert view["declined"] == ["payment", "contacts"]
    assert view["answers"]["payment"] == {
        "question": "How the crossing was arranged and paid for",
        "status": "declined",
        "value": None,
        "note": None,
    }
    assert view["answers"]["contacts"]["note"] == "would not give numbers while others were near"
    assert view["safeguarding_raised"] is True

    report = cli.json(
        "intel",
        "draft",
        site.subject,
        "--from-debrief",
        "--source-grade",
        "2",
        "--intel-grade",
        "C",
        "--handling",
        "C",
        "--conditions",
        "UK law enforcement only",
    )
    validator("intel_draft.schema.json").validate(report)
    assert report["safeguarding"] is True
    assert report["debrief"]["answers"]["payment"]["status"] == "declined"
    assert report["debrief"]["declined"] == [
        "How the crossing was arranged and paid for",
        "Contacts and phone numbers used to arrange it",
    ]
    text = cli("intel", "show", report["ref"]).stdout
    assert "DECLINED to answer" in text and "Safeguarding flag  : YES" in text
    assert "Declined to answer" in text and "Contacts and phone numbers used to arrange it" in text
    assert cli.json(
        "pnd",
        "draft",
        site.subject,
        "--purpose",
        "To establish whether this arrival is wanted or linked to organised immigration crime",
    )["safeguarding"]

    # the day's export, written, decrypted and verified as a supervisor would (here encrypted to this laptop)
    cli("keys", "recipient", "add", "Self", cli.json("keys", "show")["age_recipient"])
    cli("export", "--date", LANDED, "--out", tmp_path / "day.age")
    store = Store.open(site.home, PASSPHRASE)
    try:
        day = batch.open_batch(store, tmp_path / "day.age", officer=OFFICER)
        records = {r["id"]: r for r in day.arrivals}
        assert records == {r["id"]: r for r in json.loads(json.dumps(batch.day_records(store, LANDED)))}
    finally:
        store.close()
    rec = records[site.subject]
    assert rec["safeguarding"] == 1
    (exported,) = day.landing["debriefs"]  # each debrief version is a record of its own, naming its arrival by key
    assert exported["arrival_key"] == rec["key"] and exported["arrival_keys"] == {
        site.pilot: records[site.pilot]["key"]
    }
    assert exported["answers"]["payment"]["status"] == "declined"
    assert exported["answers"]["contacts"] == {k: v for k, v in view["answers"]["contacts"].items() if k != "question"}
    assert exported["answers"]["exploitation"]["value"]["indicators"] == ["held"]
    intel_drafts = [d for d in rec["drafts"] if d["kind"] == "intel"]
    assert [d["draft"]["handling"] for d in intel_drafts] == ["C"], "each report's handling code travels with it"
    assert intel_drafts[0]["draft"]["debrief"]["answers"]["payment"]["status"] == "declined"
    assert records[site.pilot]["safeguarding"] == 0


def test_an_intelligence_draft_from_a_debrief_carries_its_answers_field_by_field(cli, site, tmp_path):
    path = tmp_path / "debrief.json"
    path.write_text(json.dumps(full_answers(site)), encoding="utf-8")
    recorded = cli.json("debrief", site.subject, "--file", path)["answers"]
    # the pilot's own debrief: paid nothing; named as pilot and compass holder by the subject
    cli("debrief", site.pilot, "--amount", "0", "--payment-method", "work", "--unknown", "contacts")

    report = cli.json(
        "intel", "draft", site.subject, "--from-debrief", "--source-grade", "2", "--intel-grade", "B", "--handling", "P"
    )
    validator("intel_draft.schema.json").validate(report)
    carried = report["debrief"]["answers"]
    for key, q in questions.QUESTIONS.items():
        assert carried[key]["status"] == recorded[key]["status"], key
        assert carried[key]["note"] == recorded[key]["note"], key
        for part in q.parts:
            assert carried[key]["value"][part.name] == recorded[key]["value"][part.name], f"{key}.{part.name}"
    assert report["debrief"]["exploitation_indicators"] == [
        {"code": "debt", "text": questions.EXPLOITATION["debt"]},
        {"code": "documents-taken", "text": questions.EXPLOITATION["documents-taken"]},
    ]
    assert report["debrief"]["version"] == 1 and report["debrief"]["recorded_by"] == OFFICER
    for fragment in (
        "country FRA",
        "amount 1500; currency EUR; method cash; paid to Abu Ali; handle @fastcross_pay",
        "+33612345678",
        f"person {site.pilot}",
        "indicators debt; documents-taken",
    ):
        assert fragment in report["text"], fragment
    assert report["indicators"] == [], "nobody named the subject as pilot or navigator"
    assert report["grading"] == "2BP"

    pilot_report = cli.json(
        "intel",
        "draft",
        site.pilot,
        "--from-debrief",
        "--source-grade",
        "2",
        "--intel-grade",
        "C",
        "--handling",
        "P",
        "--text",
        "Named as the pilot by a passenger; says he paid nothing",
        "--indicator",
        "steering",
    )
    assert pilot_report["text"] == "Named as the pilot by a passenger; says he paid nothing", "the officer's text wins"
    assert [i["code"] for i in pilot_report["indicators"]] == ["pilot", "navigation", "no-fee", "steering"]
    assert pilot_report["debrief"]["named_by_others"] == [
        {"arrival_id": site.subject, "role": "pilot", "debrief_id": report["debrief"]["debrief_id"]},
        {"arrival_id": site.subject, "role": "compass_holder", "debrief_id": report["debrief"]["debrief_id"]},
    ]
    assert pilot_report["debrief"]["answers"]["contacts"]["status"] == "unknown"
    assert "does not know" in cli("intel", "show", pilot_report["ref"]).stdout


def test_a_debrief_is_amended_as_a_new_version_and_the_old_one_is_kept(cli, site):
    cli.json("debrief", site.subject, "--pilot", site.pilot, "--amount", "800", "--currency", "GBP")
    res = cli("debrief", site.subject, "--unknown", "pilot", code=CONFLICT)
    assert "--amend" in res.stderr
    amended = cli.json("debrief", site.subject, "--amend", "--unknown", "pilot", "--note", "pilot=says it was too dark")
    assert amended["version"] == 2 and amended["supersedes"] is not None
    assert amended["answers"]["pilot"]["status"] == "unknown"
    assert amended["answers"]["payment"]["value"]["amount"] == "800", "questions not given again are carried over"
    shown = cli.json("debrief", site.subject, "--show", "--history")
    assert [h["version"] for h in shown["history"]] == [1]
    assert shown["history"][0]["answers"]["pilot"]["value"]["person"]["arrival_id"] == site.pilot
    assert audit_actions(site.home, site.subject)[-3:] == ["debrief", "debrief-amend", "debrief-show"]


def test_none_and_an_indicator_together_are_refused_as_such(cli, site):
    for given in (["none; debt"], ["debt", "None"]):
        flags = [a for g in given for a in ("--indicator", g)]
        res = cli("debrief", site.subject, "--no-interactive", *flags, code=BAD_INPUT)
        assert "none cannot be combined with indicators" in res.stderr and "not an indicator" not in res.stderr
    view = cli.json("debrief", site.subject, "--no-interactive", "--indicator", "debt; held")
    assert view["answers"]["exploitation"]["value"]["indicators"] == ["debt", "held"], "read as the prompt reads it"


BAD_ANSWERS = [
    ({"payment": {"amount": "1500"}}, "--currency: give the currency"),
    ({"payment": {"amount": "-5", "currency": "EUR"}}, "is not an amount"),
    ({"pilot": {"person": "A-ZZZZZZ"}}, "no arrival A-ZZZZZZ in this home"),
    ({"departure": {"date": dt.date.today().isoformat()}}, "is after the landing"),
    ({"pilot": {"status": "declined", "person": "tall man"}}, "record the answer or the refusal, not both"),
    ({"exploitation": {"indicators": ["other"]}}, "describe the indicator with --note exploitation=TEXT"),
    ({"exploitation": {"indicators": ["tired"]}}, "'tired' is not an indicator"),
    (
        {"interpreter": {"interpreter": "no", "interpreter_ref": "Big Word"}},
        "--interpreter-ref goes with --interpreter yes",
    ),
    ({"weather": {"note": "rain"}}, "unknown debrief question(s) weather"),
    ({"payment": {"price": "10"}}, "unknown field(s) price"),
    ({"contacts": {"status": "answered"}}, "marked answered but no answer"),
    ({}, "no answers given"),
]


def test_bad_answers_are_refused_whole_and_nothing_is_stored(cli, site):
    from triage.errors import BadInput

    store = Store.open(site.home, PASSPHRASE)
    try:
        for raw, message in BAD_ANSWERS:
            with pytest.raises(BadInput, match=re.escape(message)):
                records.record(store, site.subject, raw, officer=OFFICER)
        assert store.count("debriefs") == store.count("debrief_identifiers") == 0
    finally:
        store.close()
    res = cli("debrief", site.subject, "--no-interactive", "--declined", "weather", code=BAD_INPUT)
    assert "--declined 'weather': name a question" in res.stderr
    res = cli("debrief", site.subject, "--no-interactive", "--paid-to", "Abu 😀", code=BAD_INPUT)  # a name: no sign
    assert "--paid-to: contains the symbol" in res.stderr
    cli("debrief", site.subject, "--show", code=int(ExitStatus.NOT_FOUND))


@pytest.mark.parametrize(
    "content, message",
    [
        ("departure:\n  country: France\n", "not readable as UTF-8 JSON"),
        ('["France"]', "must be a JSON object"),
        ("", "the file is empty"),
    ],
)
def test_a_file_that_is_not_a_json_debrief_is_refused(cli, site, tmp_path, content, message):
    path = tmp_path / "debrief.json"
    path.write_text(content, encoding="utf-8")
    assert message in cli("debrief", site.subject, "--file", path, code=BAD_INPUT).stderr


def test_ctrl_c_at_a_question_says_so_on_a_line_of_its_own(site):
    """The message followed the ^C the terminal echoed after the question, so the terminal broke it mid-word at its
    edge; it starts a line of its own."""
    import os
    import sys

    import pexpect

    env = dict(os.environ, TERM="dumb", COLUMNS="80")
    child = pexpect.spawn(sys.executable, ["-m", "triage", "debrief", site.subject], env=env, encoding="utf-8")
    child.expect("Country they left from")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == int(ExitStatus.INTERRUPTED)
    assert "\ninterrupted: stopped at Ctrl-C" in child.before, child.before
    assert audit_actions(site.home, site.subject).count("debrief") == 0


def test_a_refusal_at_a_prompt_names_the_question_not_a_flag(site):
    """Nobody typed --departure-country at the terminal: a bad answer there is named by the question asked."""
    import os
    import sys

    import pexpect

    env = dict(os.environ, TERM="dumb", COLUMNS="200")
    child = pexpect.spawn(sys.executable, ["-m", "triage", "debrief", site.subject], env=env, encoding="utf-8")
    child.expect("Country they left from")
    child.sendline("Atlantis")
    child.expect("try again")
    refusal = " ".join(child.before.split())
    child.expect("Country they left from")
    child.sendline("France")
    child.expect("Place they left from")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert "Route and departure point (country): 'Atlantis' is not a country" in refusal, refusal
    assert "--departure-country" not in refusal, refusal
