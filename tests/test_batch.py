"""The supervisor's day end to end: two laptops capture real fixture faces, export signed batches encrypted
to the supervisor, and the supervisor's home verifies and merges them, debriefs, referral records and
crime groups included; tampering, unknown signers, the wrong key and training data are refused (and the
refusal audited), a failed merge leaves nothing behind, and an id renumbered on merging is renamed in every
record that quotes it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import sqlite3
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import OFFICER, PASSPHRASE, Cli, entries, index_without, orl, relocate, row_counts, signed_in
from triage.casework import referrals
from triage.errors import ExitStatus
from triage.exchange import keys
from triage.exchange.batch import LANDING
from triage.store.config import Config
from triage.store.rows import Store

INTEGRITY, BAD_INPUT = int(ExitStatus.INTEGRITY), int(ExitStatus.BAD_INPUT)
PURPOSE = "To establish whether this arrival is wanted on warrant"
GROUP, PHONE = "OCG-2026-014", "+33 6 12 34 56 78"
PERSONAL = ("Hama", "Karwan", "Reza", "Karimi", "Omid", "Rebwar", "Clash")  # what the fixtures' people are called


def _init(cli: Cli, home: Path, site: str) -> None:
    cli("init", "--home", home, "--site", site, "--force-code", "KNT")


def _capture(cli: Cli, home: Path, photo: Path, *details: str) -> str:
    return cli.json("capture", "--home", home, "--photo", photo, *details)["arrival_id"]


@pytest.fixture(scope="module")
def laptops(tmp_path_factory, enrolled_template_home, face_models):
    """Laptop A (with the 20-subject watchlist) and laptop B capture; both export to supervisor S.

    ORL person 21 lands on both laptops under different names. A debriefs a2 twice (naming a1 as the pilot),
    registers a crime group and links a2 to it, and records a1's referral in two steps; B debriefs b1, who gives
    the group's number, and records b1's safeguarding referral. Built once; tests work on copies."""
    root = tmp_path_factory.mktemp("day")
    cli = Cli()
    with signed_in():
        a, b, s = root / "A", root / "B", root / "S"
        shutil.copytree(enrolled_template_home, a)
        relocate(a, device="A1A1A1", site="Dover")
        _init(cli, b, "Folkestone")
        _init(cli, s, "Dover HQ")
        supervisor = cli.json("keys", "show", "--home", s)
        for home in (a, b):
            cli("keys", "recipient", "add", "Supervisor", supervisor["age_recipient"], "--home", home)
        a1 = _capture(cli, a, orl(7, 4), "--surname", "Hama", "--given-names", "Karwan", "--vessel", "SB-1")
        a2 = _capture(
            cli, a, orl(21, 1), "--surname", "Ali", "--given-names", "Reza", "--dob", "1990", "--vessel", "SB-1"
        )
        cli(
            "review",
            a1,
            "--candidate",
            "WL-007",
            "--decision",
            "confirmed",
            "--reason",
            "same scar above left eye",
            "--home",
            a,
        )
        draft = cli.json("pnd", "draft", a1, "--purpose", PURPOSE, "--home", a)
        cli(
            "debrief",
            a2,
            "--contact-phone",
            PHONE,
            "--paid-to",
            "Kak Rebwar",
            "--pilot",
            a1,
            "--declined",
            "route",
            "--home",
            a,
        )
        cli("debrief", a2, "--amend", "--departure-country", "FRA", "--home", a)
        cli(
            "ocg",
            "add",
            GROUP,
            "--name",
            "Kak Rebwar",
            "--phone",
            PHONE,
            "--route",
            "Gravelines to Dungeness",
            "--notes",
            "from an NCA briefing",
            "--home",
            a,
        )
        cli("ocg", "link", GROUP, "--arrival", a2, "--reason", "gave the group's booking number, checked", "--home", a)
        cli("referral", a1, "--arrival-method", "small-boat", "--control-unit-ref", "CCU/26/1187", "--home", a)
        cli("referral", a1, "--lead-agency", "none", "--biometric-enrolment", "yes", "--home", a)
        b1 = _capture(
            cli, b, orl(21, 6), "--surname", "Karimi", "--given-names", "Omid", "--age", "16", "--vessel", "SB-2"
        )
        b2 = _capture(cli, b, orl(33, 2), "--surname", "=1+2", "--vessel", "SB-2")
        cli("debrief", b1, "--contact-phone", "0033 612 345 678", "--declined", "payment", "--home", b)
        cli("referral", b1, "--safeguarding-referral-to", "Kent County Council children's services", "--home", b)
        day = cli.json("arrivals", "list", "--home", a)[0]["landed_day"]
        cli("export", "--home", a, "--date", day, "--out", root / "a.age")
        cli("export", "--home", b, "--date", day, "--out", root / "b.age", "--with-templates")
        return SimpleNamespace(
            root=root,
            a=a,
            b=b,
            s=s,
            day=day,
            a1=a1,
            a2=a2,
            b1=b1,
            b2=b2,
            draft=draft["ref"],
            a_file=root / "a.age",
            b_file=root / "b.age",
            supervisor=supervisor,
            a_keys=cli.json("keys", "show", "--home", a),
            b_keys=cli.json("keys", "show", "--home", b),
        )


@pytest.fixture(scope="module")
def clash(laptops):
    """Laptop C draws the arrival id laptop A already used and registers its own group under A's reference; its
    review, debrief, drafts and crime-group link quote both. Built once."""
    cli, c = Cli(), laptops.root / "C"
    with signed_in():
        _init(cli, c, "Deal")
        cli("keys", "recipient", "add", "Supervisor", laptops.supervisor["age_recipient"], "--home", c)
        with pytest.MonkeyPatch.context() as ids:
            ids.setattr("triage.casework.arrivals.new_arrival_id", lambda: laptops.a1)
            aid = _capture(cli, c, orl(30, 2), "--surname", "Clash", "--vessel", "SB-3")
        c2 = _capture(cli, c, orl(31, 3), "--surname", "Second", "--vessel", "SB-3")
        cli(
            "review",
            c2,
            "--candidate",
            aid,
            "--decision",
            "rejected",
            "--reason",
            f"{aid} has a different jaw",
            "--home",
            c,
        )
        cli("debrief", c2, "--pilot", aid, "--contact-phone", "+44 7911 123456", "--home", c)
        draft = cli.json("pnd", "draft", aid, "--purpose", PURPOSE, "--home", c)
        intel = cli.json(
            "intel",
            "draft",
            c2,
            "--source-grade",
            "2",
            "--intel-grade",
            "C",
            "--handling",
            "P",
            "--text",
            f"Says {aid.lower()} piloted the boat and took the fees",
            "--home",
            c,
        )
        cli("ocg", "add", GROUP, "--phone", "+44 7911 123456", "--home", c)
        cli(
            "ocg",
            "link",
            GROUP,
            "--arrival",
            aid,
            "--reason",
            f"named by {c2} as the pilot, {GROUP}'s number",
            "--home",
            c,
        )
        cli("export", "--home", c, "--date", laptops.day, "--out", laptops.root / "c.age")
        return SimpleNamespace(
            home=c,
            file=laptops.root / "c.age",
            id=aid,
            c2=c2,
            draft=draft["ref"],
            intel=intel["ref"],
            keys=cli.json("keys", "show", "--home", c),
        )


@pytest.fixture
def sup(laptops, tmp_path) -> Path:
    """A fresh copy of the supervisor's home, which trusts nobody yet."""
    return Path(shutil.copytree(laptops.s, tmp_path / "S"))


def _trust(cli: Cli, sup: Path, laptops) -> None:
    cli("keys", "trust", "Laptop A", laptops.a_keys["signing_key"], "--home", sup)
    cli("keys", "trust", "Laptop B", laptops.b_keys["signing_key"], "--home", sup)


def _open(home: Path) -> Store:
    return Store.open(home, PASSPHRASE)


def _decrypt_as(home: Path, path: Path) -> zipfile.ZipFile:
    import pyrage

    store = _open(home)
    try:
        identity = keys.own(store, officer=OFFICER).identity
    finally:
        store.close()
    return zipfile.ZipFile(io.BytesIO(pyrage.decrypt(path.read_bytes(), [identity])))


def _reencrypt(members: dict[str, bytes], recipient: str, out: Path) -> Path:
    import pyrage

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    out.write_bytes(pyrage.encrypt(buf.getvalue(), [pyrage.x25519.Recipient.from_str(recipient)]))
    return out


def _reviews(store: Store, aid: str) -> list[tuple]:
    return [
        (r["kind"], r["ref"], r["decision"], r["officer"], r["at"], r["reason"])
        for r in store.rows("reviews", "arrival_id = ?", [aid], order_by="id")
    ]


def _versions(store: Store, table: str, where: str, params: list) -> list[dict]:
    """Rows as recorded, their local ids aside: each names the row it supersedes by its place in the list."""
    rows = store.rows(table, where, params, order_by="id")
    ids = [r["id"] for r in rows]
    return [
        {
            **{k: v for k, v in r.items() if k not in ("id", "supersedes")},
            "supersedes": ids.index(r["supersedes"]) if r["supersedes"] else None,
        }
        for r in rows
    ]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refusals(cli: Cli, home: Path) -> list[dict]:
    """The refused imports audited on a home; none says anything about a person."""
    events = [e for e in cli.json("audit", "show", "--home", home) if e["action"] == "import-refused"]
    for e in events:
        assert e["arrival_id"] is None and not any(name.lower() in e["reason"].lower() for name in PERSONAL), e
    return events


def _only_audited(home: Path, before: dict, refusals: int) -> None:
    """Nothing was written but the refusals' audit events."""
    assert row_counts(home) == {**before, "audit_events": before["audit_events"] + refusals}


def test_two_laptops_merge_whole_and_identical_and_the_repeat_is_linked(cli, laptops, sup):
    _trust(cli, sup, laptops)
    results = cli.json("import", laptops.a_file, laptops.b_file, "--home", sup)
    assert [r["new_arrivals"] for r in results] == [2, 2]
    assert [r["signer"] for r in results] == ["Laptop A", "Laptop B"]

    s, a, b = _open(sup), _open(laptops.a), _open(laptops.b)
    try:
        for origin, ids in ((a, (laptops.a1, laptops.a2)), (b, (laptops.b1, laptops.b2))):
            for aid in ids:
                mine, theirs = origin.get("arrivals", aid), s.get("arrivals", aid)
                for f in (
                    "details",
                    "quality",
                    "landed_at",
                    "landed_day",
                    "site",
                    "vessel",
                    "officer",
                    "device",
                    "safeguarding",
                    "quality_score",
                ):
                    assert theirs[f] == mine[f], (aid, f)
                assert theirs["origin"] == origin.config.device and mine["origin"] is None
                assert s.photo("arrival", aid)[1] == origin.photo("arrival", aid)[1]
                assert _reviews(s, aid) == _reviews(origin, aid)
                # the laptop's own search and candidates travel as history, distances and thresholds unchanged
                first = [
                    (c["kind"], c["ref"], c["distance"], c["threshold"])
                    for c in origin.rows("candidates", "arrival_id = ?", [aid], order_by="id")
                ]
                merged = [
                    (c["kind"], c["ref"], c["distance"], c["threshold"])
                    for c in s.rows("candidates", "arrival_id = ?", [aid], order_by="id")
                ]
                assert merged[: len(first)] == first
        assert _reviews(s, laptops.a1)[0][:3] == ("watchlist", "WL-007", "confirmed")
        assert s.get("drafts", laptops.draft)["draft"] == a.get("drafts", laptops.draft)["draft"]
        # the audit events behind the records came too, with the hashes of the laptop's own chain
        carried = {(e["device"], e["action"], e["hash"]) for e in s.rows("origin_audit")}
        own = {
            ("A1A1A1", e["action"], e["hash"]) for e in a.db["audit_events"].rows_where("arrival_id = ?", [laptops.a1])
        }
        assert own and own <= carried and {"capture", "review", "pnd-draft"} <= {x[1] for x in own}
        # B sent its templates; A's portraits were encoded again here, close to A's own templates
        _, tb = b.load_templates("dlib-resnet-v1+5pt", "arrival", [laptops.b1])
        _, ts = s.load_templates("dlib-resnet-v1+5pt", "arrival", [laptops.b1])
        assert np.array_equal(tb, ts)
        _, ta = a.load_templates("dlib-resnet-v1+5pt", "arrival", [laptops.a2])
        _, ts = s.load_templates("dlib-resnet-v1+5pt", "arrival", [laptops.a2])
        assert 0 < float(np.linalg.norm(ta[0] - ts[0])) < 0.25
    finally:
        for store in (s, a, b):
            store.close()

    # ORL person 21, captured on both laptops under two names, is now a repeat-arrival candidate
    shown = cli.json("arrivals", "show", laptops.b1, "--home", sup)
    link = [c for c in shown["candidates"] if c["kind"] == "arrival" and c["ref"] == laptops.a2]
    assert link and link[0]["below_threshold"] and link[0]["distance"] < link[0]["threshold"]
    assert results[1]["repeat_candidates"][0]["candidate"] == laptops.a2
    pending = {p["arrival_id"]: p for p in cli.json("review", "--pending", "--home", sup)}
    assert laptops.a2 in {c["ref"] for c in pending[laptops.b1]["candidates"]}

    before = row_counts(sup)
    again = cli.json("import", laptops.a_file, laptops.b_file, "--home", sup)
    after = row_counts(sup)
    assert [r["new_arrivals"] for r in again] == [0, 0] and all(not any(r["added"].values()) for r in again)
    assert {t: n for t, n in after.items() if t != "audit_events"} == {
        t: n for t, n in before.items() if t != "audit_events"
    }
    assert after["audit_events"] == before["audit_events"] + 2  # each import is itself audited
    assert cli.json("audit", "verify", "--home", sup)["ok"] is True


def test_batches_imported_again_say_so_and_name_each_candidate_once_with_its_batches(cli, laptops, sup):
    """The same pair of arrivals concerns both batches: it is listed once, naming the batch of each arrival; a
    second import says the batches were merged already and were skipped."""
    _trust(cli, sup, laptops)
    pair = f"{laptops.b1}: arrival {laptops.a2} "
    named = f"{laptops.b1} of batch 2, {laptops.a2} of batch 1"
    first = cli("import", laptops.a_file, laptops.b_file, "--home", sup).stdout.splitlines()
    status = [x.strip() for x in first if x.startswith("     ")]
    assert len(status) == 2 and all(x.startswith("2 of 2 arrivals new; added: arrivals 2, ") for x in status), status
    again = cli("import", laptops.a_file, laptops.b_file, "--home", sup).stdout.splitlines()
    for text in (entries("\n".join(first)), entries("\n".join(again))):  # each entry whole, however it wraps
        [line] = [x for x in text if x.strip().startswith(pair)]
        assert line.endswith(named), line
        listed = text[text.index("Awaiting review (see `triage review --pending`):") + 1 :]
        assert len(listed) == len(set(listed)) and all(" of batch " in x for x in listed), listed
    status = [x.strip() for x in again if x.startswith("     ")]
    assert len(status) == 2 and all(x.startswith("already merged here on ") for x in status), status
    assert all(x.endswith("UTC: skipped whole (2 arrivals)") for x in status), status
    assert "All 2 batches were already merged here: nothing was added." in again
    [b] = cli.json("import", laptops.b_file, "--home", sup)
    assert b["already_imported"] is True and sorted(b["arrival_ids"]) == sorted([laptops.b1, laptops.b2])


def test_debriefs_referrals_and_crime_groups_arrive_as_records_of_their_own(cli, laptops, sup, tmp_path):
    _trust(cli, sup, laptops)
    results = cli.json("import", laptops.a_file, laptops.b_file, "--home", sup)
    assert [{kind: r["added"][kind] for kind in LANDING} for r in results] == [
        {"debriefs": 2, "referrals": 2, "ocgs": 1, "ocg_links": 1},
        {"debriefs": 1, "referrals": 1, "ocgs": 0, "ocg_links": 0},
    ]

    s, a, b = _open(sup), _open(laptops.a), _open(laptops.b)
    try:
        for origin, ids in ((a, (laptops.a1, laptops.a2)), (b, (laptops.b1, laptops.b2))):
            for aid in ids:
                for table, where in (
                    ("debriefs", "arrival_id = ?"),
                    ("referrals", "arrival_id = ?"),
                    ("ocg_links", "target_kind = 'arrival' AND target = ?"),
                ):
                    assert _versions(s, table, where, [aid]) == _versions(origin, table, where, [aid]), (aid, table)
                # the arrival's own record holds nothing more than it did on its laptop (less its photo file's key)
                assert s.get("arrivals", aid).keys() == origin.get("arrivals", aid).keys() - {"photo_file_key"}
        assert s.get("ocgs", GROUP) == a.get("ocgs", GROUP)
        day = laptops.day
        # in landing order; two laptops' arrivals landed in the same second may come in either order
        merged = referrals.incomplete(s, day=day)
        assert [r["landed_at"] for r in merged] == sorted(r["landed_at"] for r in merged)
        assert sorted(merged, key=lambda r: r["arrival_id"]) == sorted(
            referrals.incomplete(a, day=day) + referrals.incomplete(b, day=day), key=lambda r: r["arrival_id"]
        )
    finally:
        for store in (s, a, b):
            store.close()

    shown = cli.json("debrief", laptops.a2, "--show", "--history", "--home", sup)
    assert shown["version"] == 2 and shown["history"][0]["debrief_id"] == shown["supersedes"]
    assert shown["answers"]["pilot"]["value"]["person"]["arrival_id"] == laptops.a1
    assert shown["declined"] == ["route"] and shown["answers"]["departure"]["value"]["country"] == "FRA"
    assert [(g["ocg_ref"], g["decision"]) for g in shown["ocg_links"]] == [(GROUP, "linked")]
    # numbers and names are blinded again with this home's key, so B's debrief now meets A's group and A's debrief
    assert [x["arrival_id"] for x in shown["shared_with"]] == [laptops.b1]
    group = cli.json("ocg", "show", GROUP, "--home", sup)
    assert [x["arrival_id"] for x in group["arrivals"]] == [laptops.a2] and group["notes"][0][
        "text"
    ] == "from an NCA briefing"
    assert [(x["arrival_id"], x["matched"]) for x in group["suggestions"]] == [
        (laptops.b1, [{"kind": "phone", "source": "contacts.phones", "value": "+33612345678"}])
    ]

    before = row_counts(sup)
    again = cli.json("import", laptops.a_file, laptops.b_file, "--home", sup)
    assert all(not any(r["added"].values()) for r in again)
    assert row_counts(sup) == {**before, "audit_events": before["audit_events"] + 2}

    # a later batch of the day carries what laptop A has learned of the group since: added here, nothing removed
    later = Path(shutil.copytree(laptops.a, tmp_path / "A"))
    cli("ocg", "update", GROUP, "--handle", "@fastcross_pay", "--notes", "seen again at Gravelines", "--home", later)
    cli("export", "--home", later, "--date", laptops.day, "--out", tmp_path / "later.age")
    assert cli.json("import", tmp_path / "later.age", "--home", sup)[0]["new_arrivals"] == 0
    s, a = _open(sup), _open(later)
    try:
        assert s.get("ocgs", GROUP) == a.get("ocgs", GROUP) and len(a.get("ocgs", GROUP)["notes"]) == 2
        assert s.count("ocg_identifiers", "ocg_ref = ?", [GROUP]) == a.count("ocg_identifiers", "ocg_ref = ?", [GROUP])
    finally:
        s.close()
        a.close()


def test_unknown_signer_is_refused_until_trusted(cli, laptops, sup):
    before = row_counts(sup)
    res = cli("import", laptops.a_file, "--home", sup, code=INTEGRITY)
    assert "does not trust" in res.stderr and laptops.a_keys["fingerprint"] in res.stderr
    assert laptops.a_keys["signing_key"] in res.stderr  # the hint says exactly what to trust
    _only_audited(sup, before, 1)
    (refused,) = _refusals(cli, sup)  # which file, and why, in the supervisor's own audit trail
    assert refused["records"] == [f"batch-file:{_sha256(laptops.a_file)}"]
    assert "does not trust" in refused["reason"] and laptops.a_keys["fingerprint"] in refused["reason"]
    assert cli.json("audit", "verify", "--home", sup)["ok"] is True
    cli("keys", "trust", "Laptop A", laptops.a_keys["signing_key"], "--home", sup)
    assert cli.json("import", laptops.a_file, "--home", sup)[0]["new_arrivals"] == 2
    listed = cli.json("keys", "list", "--home", sup)
    assert [(k["name"], k["fingerprint"]) for k in listed["trusted_laptops"]] == [
        ("Laptop A", laptops.a_keys["fingerprint"])
    ]
    said = cli("keys", "untrust", "laptop a", "--home", sup).stdout  # the name in another case: that laptop
    assert "Laptop A is no longer trusted" in said and cli.json("keys", "list", "--home", sup)["trusted_laptops"] == []


def test_tampered_batches_are_refused_naming_what_failed(cli, laptops, sup, tmp_path):
    _trust(cli, sup, laptops)
    before = row_counts(sup)
    flipped = bytearray(laptops.a_file.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    (tmp_path / "flipped.age").write_bytes(bytes(flipped))
    res = cli("import", tmp_path / "flipped.age", "--home", sup, code=INTEGRITY)
    assert "decryption failed" in res.stderr and "altered" in res.stderr

    with _decrypt_as(sup, laptops.a_file) as z:
        members = {n: z.read(n) for n in z.namelist()}
    portrait = f"portraits/{laptops.a1}.jpg"
    other = members[f"portraits/{laptops.a2}.jpg"]
    # a member swapped and the manifest re-hashed to match, but not signed again
    manifest = json.loads(members["manifest.json"])
    manifest["members"][portrait] = {"sha256": hashlib.sha256(other).hexdigest(), "bytes": len(other)}
    rehashed = _reencrypt(
        {**members, portrait: other, "manifest.json": json.dumps(manifest, indent=2).encode()},
        laptops.supervisor["age_recipient"],
        tmp_path / "rehashed.age",
    )
    res = cli("import", rehashed, "--home", sup, code=INTEGRITY)
    assert "signature of manifest.json does not verify" in res.stderr
    # a member swapped, the signed manifest left alone
    swapped = _reencrypt({**members, portrait: other}, laptops.supervisor["age_recipient"], tmp_path / "swapped.age")
    res = cli("import", swapped, "--home", sup, code=INTEGRITY)
    assert f"member {portrait} does not match its SHA-256" in res.stderr
    # a member slipped in that the manifest does not list
    extra = _reencrypt(
        {**members, "portraits/A-EXTRA1.jpg": other}, laptops.supervisor["age_recipient"], tmp_path / "extra.age"
    )
    res = cli("import", extra, "--home", sup, code=INTEGRITY)
    assert "member portraits/A-EXTRA1.jpg is not in the signed manifest" in res.stderr
    # one bad file among good ones stops the whole import before anything merges
    cli("import", laptops.b_file, swapped, "--home", sup, code=INTEGRITY)
    _only_audited(sup, before, 5)
    refused = _refusals(cli, sup)
    assert [e["records"] for e in refused] == [
        [f"batch-file:{_sha256(p)}"] for p in (tmp_path / "flipped.age", rehashed, swapped, extra, swapped)
    ]
    for event, why in zip(
        refused,
        (
            "decryption failed",
            "signature of manifest.json does not verify",
            f"member {portrait} does not match its SHA-256",
            "member portraits/A-EXTRA1.jpg is not in the signed manifest",
            f"member {portrait} does not match its SHA-256",
        ),
    ):
        assert why in event["reason"]


def test_a_file_that_was_never_encrypted_is_named_as_the_wrong_file(cli, home, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Boat SB-0417 landed at 06:10; 7 on board.\n")
    for command in (["import"], ["watchlist", "receive"]):
        res = cli(*command, notes, code=BAD_INPUT)
        assert f"{notes}: not a triage batch (or watchlist package) file" in res.stderr
        assert "decryption failed" not in res.stderr and "buffer" not in res.stderr
    empty = tmp_path / "batch-2026-11-28.age"
    empty.write_bytes(b"")  # a copy that never finished
    for command in (["import"], ["watchlist", "receive"]):
        assert f"{empty}: the file is empty" in " ".join(cli(*command, empty, code=BAD_INPUT).stderr.split())
    folder = tmp_path / "usb"  # the stick's folder named, not the batch in it: told as a folder, not as missing
    folder.mkdir()
    for command in (["import"], ["watchlist", "receive"], ["debrief", "A-0000", "--file"]):
        said = cli(*command, folder, code=BAD_INPUT).stderr
        assert f"{folder}: a folder; give the" in said and "no such file" not in said, said


def test_without_the_recipients_key_the_file_cannot_be_read(cli, laptops, tmp_path):
    import pyrage

    raw = laptops.a_file.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1\n")
    for clear in (b"PK\x03\x04", b"manifest.json", b"HAMA", b"Karwan", b"WL-007", laptops.a1.encode()):
        assert clear not in raw
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(raw, [pyrage.x25519.Identity.generate()])
    # laptop B trusts A, but the batch was encrypted to the supervisor, not to B
    b = Path(shutil.copytree(laptops.b, tmp_path / "B"))
    cli("keys", "trust", "Laptop A", laptops.a_keys["signing_key"], "--home", b)
    before = row_counts(b)
    res = cli("import", laptops.a_file, "--home", b, code=INTEGRITY)
    assert "not encrypted to this home" in res.stderr and laptops.b_keys["age_recipient"] in res.stderr
    _only_audited(b, before, 1)
    (refused,) = _refusals(cli, b)
    assert "not encrypted to this home" in refused["reason"]
    assert refused["records"] == [f"batch-file:{_sha256(laptops.a_file)}"]


def test_batch_members_manifest_signature_and_summary(laptops):
    with _decrypt_as(laptops.s, laptops.a_file) as z:
        names = set(z.namelist())
        manifest_bytes = z.read("manifest.json")
        manifest = json.loads(manifest_bytes)
        signature = json.loads(z.read("manifest.sig"))
        for name, expected in manifest["members"].items():
            assert hashlib.sha256(z.read(name)).hexdigest() == expected["sha256"]
        records = [json.loads(line) for line in z.read("arrivals.jsonl").splitlines()]
        landing = {kind: [json.loads(line) for line in z.read(f"{kind}.jsonl").splitlines()] for kind in LANDING}
    # A photo file's key, blinded or kept sealed for a rotation, is the laptop's own: it never travels.
    assert records and not [k for r in records for k in r if k in ("source_key", "photo_file_key")]
    assert names == {
        "manifest.json",
        "manifest.sig",
        "arrivals.jsonl",
        "audit.jsonl",
        "summary.csv",
        *(f"{kind}.jsonl" for kind in LANDING),
        f"portraits/{laptops.a1}.jpg",
        f"portraits/{laptops.a2}.jpg",
    }  # no templates without the flag
    assert manifest["signer"] == laptops.a_keys["signing_key"] and manifest["training"] is False
    assert manifest["recipients"] == [laptops.supervisor["age_recipient"]] and manifest["arrivals"] == 2
    assert keys.verify_signature(
        keys.parse_signing_key(manifest["signer"]), manifest_bytes, base64.b64decode(signature["signature"])
    )
    first = next(r for r in records if r["id"] == laptops.a1)
    assert first["key"] == f"A1A1A1:{laptops.a1}" and first["details"]["surname"] == "Hama"
    assert first["reviews"][0]["decision"] == "confirmed" and first["drafts"][0]["ref"] == laptops.draft
    assert first["searches"][0]["candidates"][0]["ref"] == "WL-007"
    # debriefs, referral records, crime groups and links are records of their own, naming what they refer to by key
    assert not {"debriefs", "referrals", "ocg_links"} & set(first)
    first_debrief, amended = landing["debriefs"]
    assert first_debrief["arrival_key"] == amended["arrival_key"] == f"A1A1A1:{laptops.a2}"
    assert amended["supersedes"] == first_debrief["key"] and amended["version"] == 2
    assert amended["arrival_keys"] == {laptops.a1: first["key"]}  # the pilot it names
    assert [r["arrival_key"] for r in landing["referrals"]] == [first["key"]] * 2
    assert [g["key"] for g in landing["ocgs"]] == [f"A1A1A1:{GROUP}"] and landing["ocgs"][0]["phones"] == [
        "+33612345678"
    ]
    (link,) = landing["ocg_links"]
    assert (link["ocg_key"], link["target_key"], link["decision"]) == (
        f"A1A1A1:{GROUP}",
        f"A1A1A1:{laptops.a2}",
        "linked",
    )

    with _decrypt_as(laptops.s, laptops.b_file) as z:
        assert "templates.jsonl" in z.namelist()
        summary = z.read("summary.csv").decode("utf-8-sig")
    assert "'=1+2" in summary and ",=1+2" not in summary  # a formula is shown as text, never run


def test_export_needs_a_recipient_and_leaves_no_clear_copy(cli, laptops, tmp_path, monkeypatch):
    b = Path(shutil.copytree(laptops.b, tmp_path / "B"))
    cli("keys", "recipient", "remove", "Supervisor", "--home", b)
    out = tmp_path / "out" / "b.age"
    out.parent.mkdir()
    res = cli("export", "--home", b, "--date", laptops.day, "--out", out, code=BAD_INPUT)
    assert "no recipient" in res.stderr and "triage keys recipient add" in res.stderr and not out.exists()
    res = cli("export", "--home", b, "--date", laptops.day, "--out", out, "--recipient", "age1notakey", code=BAD_INPUT)
    assert "not an age public key" in res.stderr
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    res = cli.json(
        "export", "--home", b, "--date", laptops.day, "--out", out, "--recipient", laptops.supervisor["age_recipient"]
    )
    assert res["arrivals"] == 2 and res["recipients"] == [laptops.supervisor["age_recipient"]]
    assert list(scratch.iterdir()) == [] and sorted(p.name for p in out.parent.iterdir()) == ["b.age"]
    events = cli.json("audit", "show", "--home", b)
    assert events[-1]["action"] == "export" and laptops.supervisor["age_recipient"] in events[-1]["reason"]


def test_training_and_real_batches_never_mix(cli, laptops, sup, tmp_path):
    trainer = tmp_path / "T"
    Store.create(
        trainer, PASSPHRASE, Config(site="Training site", force_code="TRN", officer=OFFICER, training=True)
    ).close()
    _capture(cli, trainer, orl(12, 1), "--surname", "Trainee")
    t_keys = cli.json("keys", "show", "--home", trainer)
    cli("keys", "recipient", "add", "Supervisor", laptops.supervisor["age_recipient"], "--home", trainer)
    cli("export", "--home", trainer, "--date", laptops.day, "--out", tmp_path / "t.age")
    cli("keys", "trust", "Trainer", t_keys["signing_key"], "--home", sup)
    before = row_counts(sup)
    res = cli("import", tmp_path / "t.age", "--home", sup, code=BAD_INPUT)
    assert "TRAINING batch" in res.stderr
    _only_audited(sup, before, 1)
    assert "TRAINING batch" in _refusals(cli, sup)[0]["reason"]

    cli(
        "export",
        "--home",
        laptops.a,
        "--date",
        laptops.day,
        "--out",
        tmp_path / "real.age",
        "--recipient",
        t_keys["age_recipient"],
    )
    cli("keys", "trust", "Laptop A", laptops.a_keys["signing_key"], "--home", trainer)
    res = cli("import", tmp_path / "real.age", "--home", trainer, code=BAD_INPUT)
    assert "real batch" in res.stderr and "TRAINING home" in res.stderr


def test_colliding_ids_are_renumbered_and_a_failed_merge_leaves_nothing(cli, laptops, clash, sup, monkeypatch):
    """Laptop C drew the arrival id that laptop A already used; a merge that fails midway keeps nothing."""
    _trust(cli, sup, laptops)
    cli("keys", "trust", "Laptop C", clash.keys["signing_key"], "--home", sup)
    cli("import", laptops.a_file, "--home", sup)

    before = row_counts(sup)
    import triage.casework.arrivals

    real_search = triage.casework.arrivals._search
    calls = []

    def fail_on_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("simulated crash in the middle of a merge")
        return real_search(*args, **kw)

    with monkeypatch.context() as mp:
        mp.setattr("triage.casework.arrivals._search", fail_on_second)
        cli("import", laptops.b_file, "--home", sup, code=int(ExitStatus.ERROR))
    assert len(calls) == 2 and row_counts(sup) == before  # nothing of batch B stayed

    merged = cli.json("import", clash.file, laptops.b_file, "--home", sup)
    assert [r["new_arrivals"] for r in merged] == [2, 2]
    s = _open(sup)
    try:
        renamed = s.db.execute(
            "SELECT local FROM merged WHERE kind = 'arrivals' AND key = ?", [f"{clash.keys['device']}:{clash.id}"]
        ).fetchone()[0]
        assert renamed != laptops.a1
        assert s.get("arrivals", renamed)["details"]["surname"] == "Clash"
        assert s.get("arrivals", laptops.a1)["details"]["surname"] == "Hama"
        assert s.get("arrivals", renamed)["origin"] == clash.keys["device"]
    finally:
        s.close()
    assert cli.json("import", clash.file, "--home", sup)[0]["new_arrivals"] == 0


def test_a_renumbered_id_is_renamed_in_every_record_that_quotes_it(cli, laptops, clash, sup):
    _trust(cli, sup, laptops)
    cli("keys", "trust", "Laptop C", clash.keys["signing_key"], "--home", sup)
    cli("import", laptops.a_file, clash.file, "--home", sup)
    s, a, c = _open(sup), _open(laptops.a), _open(clash.home)
    try:

        def local(kind: str, ident: str) -> str:
            return s.db.execute(
                "SELECT local FROM merged WHERE kind = ? AND key = ?", [kind, f"{clash.keys['device']}:{ident}"]
            ).fetchone()[0]

        renamed, group = local("arrivals", clash.id), local("ocgs", GROUP)
        assert renamed != clash.id and group == f"{GROUP}-2"

        def as_here(value, group_too: bool = True):
            """What C recorded, with the ids taken here replaced by the ones its records were given: the arrival's
            everywhere, the crime group's (a reference an officer typed) only where a field names the group."""
            text = json.dumps(value, ensure_ascii=False)
            for there, here in [(clash.id, renamed), (clash.id.lower(), renamed)] + [(GROUP, group)] * group_too:
                text = text.replace(there, here)
            return json.loads(text)

        for ref in (clash.draft, clash.intel):
            merged, original = s.get("drafts", ref), c.get("drafts", ref)
            assert merged == as_here(original) and merged != original
            assert clash.id not in json.dumps(merged)  # it would name laptop A's arrival here
        assert [list(r) for r in _reviews(s, clash.c2)] == as_here(_reviews(c, clash.c2))
        where = "arrival_id = ?"
        assert _versions(s, "debriefs", where, [clash.c2]) == as_here(_versions(c, "debriefs", where, [clash.c2]))
        assert s.get("ocgs", group) == as_here(c.get("ocgs", GROUP))
        where = "target_kind = 'arrival' AND target = ?"
        theirs = _versions(c, "ocg_links", where, [clash.id])
        assert _versions(s, "ocg_links", where, [renamed]) == [
            as_here(v) | {"reason": as_here(v["reason"], group_too=False)} for v in theirs
        ]
        assert GROUP in theirs[0]["reason"]  # free text keeps the group's reference as the officer wrote it
        # laptop A's records, merged first, keep their ids: A's group, A's draft about its own arrival
        assert s.get("ocgs", GROUP) == a.get("ocgs", GROUP)
        assert s.get("drafts", laptops.draft) == a.get("drafts", laptops.draft)
    finally:
        for store in (s, a, c):
            store.close()

    text = cli("pnd", "show", clash.draft, "--home", sup).stdout
    assert f"Arrival            : {renamed} landed" in text and clash.id not in text
    assert f"Says {renamed} piloted the boat" in cli("intel", "show", clash.intel, "--home", sup).stdout
    shown = cli.json("debrief", clash.c2, "--show", "--home", sup)
    assert shown["answers"]["pilot"]["value"]["person"]["arrival_id"] == renamed
    assert [x["arrival_id"] for x in cli.json("ocg", "show", group, "--home", sup)["arrivals"]] == [renamed]
    assert not any(cli.json("import", clash.file, "--home", sup)[0]["added"].values())


def test_only_generated_ids_are_rewritten_and_only_whole():
    from triage.exchange.merge import _quoting

    rewrite = _quoting({"A-7K3F9Q": "A-ZZ9999", "PND-35E4AB-20261128-001": "PND-35E4AB-20261128-001-2"})
    record = {
        "names": ["Ali Hassan"],
        "notes": "Ali said 13 people; see A-7K3F9Q, a-7k3f9q, A-7K3F9Q-2 and PND-35E4AB-20261128-001.",
        "n": 13,
    }
    assert rewrite(record) == {
        "names": ["Ali Hassan"],
        "notes": "Ali said 13 people; see A-ZZ9999, A-ZZ9999, A-7K3F9Q-2 and PND-35E4AB-20261128-001-2.",
        "n": 13,
    }


def test_a_debrief_amended_on_both_sides_keeps_both_and_says_so(cli, laptops, sup, tmp_path):
    _trust(cli, sup, laptops)
    cli("import", laptops.a_file, "--home", sup)
    cli("debrief", laptops.a2, "--amend", "--departure-country", "BEL", "--home", sup)
    a = Path(shutil.copytree(laptops.a, tmp_path / "A"))
    cli("debrief", laptops.a2, "--amend", "--departure-country", "NLD", "--home", a)
    cli("export", "--home", a, "--date", laptops.day, "--out", tmp_path / "a2.age")
    merged = cli.json("import", tmp_path / "a2.age", "--home", sup)[0]
    assert merged["added"]["debriefs"] == 1
    assert any(
        f"arrival {laptops.a2}: its debrief was amended both here and on laptop A1A1A1" in w for w in merged["warnings"]
    ), merged["warnings"]
    shown = cli.json("debrief", laptops.a2, "--show", "--history", "--home", sup)
    assert shown["version"] == 4 and len(shown["history"]) == 3
    assert "BEL" in json.dumps(shown["history"]) and "NLD" in json.dumps(shown["answers"])  # nothing lost


def test_an_index_of_what_was_merged_rebuilt_empty_is_refused_as_a_changed_store(cli, laptops, sup, tmp_path):
    """The records merged before are found through an index: one rebuilt without them is named as the store
    changed outside triage (exit 6), not met as a clash in the batch."""
    _trust(cli, sup, laptops)
    later = Path(shutil.copytree(laptops.a, tmp_path / "A"))
    cli("arrivals", "list", "--home", later)
    cli("export", "--home", later, "--date", laptops.day, "--out", tmp_path / "later.age")
    cli("import", laptops.a_file, "--home", sup)
    index_without(sup, "idx_merged_kind_local", "1 = 1")
    said = cli("import", tmp_path / "later.age", "--home", sup, code=INTEGRITY).stderr
    assert "merged or an index of it is not as SQLite wrote it" in " ".join(said.split())


def test_a_laptop_rolled_back_to_an_older_copy_is_noticed_by_the_supervisor(cli, laptops, sup, tmp_path):
    """A laptop's store copied back from before a batch it sent keeps a valid chain and sealed head of its
    own; only the end of its trail, signed into every batch, shows what it had reached."""
    _trust(cli, sup, laptops)
    older = Path(shutil.copytree(laptops.a, tmp_path / "older"))
    later = Path(shutil.copytree(laptops.a, tmp_path / "A"))
    cli("arrivals", "list", "--home", later)  # reading personal data: one more audit event
    cli("export", "--home", later, "--date", laptops.day, "--out", tmp_path / "later.age")
    time.sleep(1.1)  # the older copy's batch is exported a second later, by the laptop's clock: after it, not with it
    cli("export", "--home", older, "--date", laptops.day, "--out", tmp_path / "older.age")
    first, later_batch = cli.json("import", laptops.a_file, tmp_path / "later.age", "--home", sup)
    assert not any("rolled back" in w for w in first["warnings"] + later_batch["warnings"])
    rolled_back = cli.json("import", tmp_path / "older.age", "--home", sup)[0]
    assert [w for w in rolled_back["warnings"] if "rolled back" in w] == [
        f"laptop A1A1A1: the audit trail this batch states ends at event {_events(older) - 1}, but its batch exported "
        f"{_exported_at(sup)} had reached event {_events(later) - 1}: the laptop's store was "
        "rolled back or its trail replaced; check the laptop before relying on its records"
    ]
    assert cli.json("audit", "verify", "--home", older)["ok"] is True  # the laptop alone cannot show it


def test_a_batch_exported_earlier_and_brought_later_is_not_taken_for_a_rollback(cli, laptops, sup, tmp_path):
    """Batches reach a supervisor in any order: one exported before another ends its trail earlier, as it should."""
    _trust(cli, sup, laptops)
    later = Path(shutil.copytree(laptops.a, tmp_path / "A"))
    cli("arrivals", "list", "--home", later)
    time.sleep(1.1)  # exported a second later, by the laptop's clock
    cli("export", "--home", later, "--date", laptops.day, "--out", tmp_path / "later.age")
    first = cli.json("import", tmp_path / "later.age", "--home", sup)[0]
    brought_late = cli.json("import", laptops.a_file, "--home", sup)[0]
    assert not any("rolled back" in w for w in first["warnings"] + brought_late["warnings"]), brought_late["warnings"]


def test_an_older_copy_of_a_laptop_used_past_its_last_batch_is_noticed_by_the_supervisor(cli, laptops, sup, tmp_path):
    """An older copy of a laptop, used until its trail ends beyond where the supervisor last saw it, parts from
    the trail its later batches carried: the supervisor says where, once an event it holds is missing from the
    batch (the older copy only listed arrivals) or numbered with another event (it opened another arrival)."""
    _trust(cli, sup, laptops)
    quiet, busy = (Path(shutil.copytree(laptops.a, tmp_path / name)) for name in ("quiet", "busy"))
    later = Path(shutil.copytree(laptops.a, tmp_path / "A"))
    parted = _events(later) + 1
    cli("arrivals", "show", laptops.a1, "--home", later)  # about the day's arrival: its batch carries the event
    cli("export", "--home", later, "--date", laptops.day, "--out", tmp_path / "later.age")
    assert not any(r["warnings"] for r in cli.json("import", laptops.a_file, tmp_path / "later.age", "--home", sup))
    time.sleep(1.1)  # the older copies export a second later, by the laptop's clock: after it, not with it
    cli("arrivals", "show", laptops.a2, "--home", busy)
    for home in (quiet, busy, quiet):
        cli("arrivals", "list", "--home", home)
    said = {}
    for home in (quiet, busy):
        cli("export", "--home", home, "--date", laptops.day, "--out", tmp_path / f"{home.name}.age")
        assert _events(home) - 1 > parted  # its trail ends beyond the last event the supervisor saw
        there = Path(shutil.copytree(sup, tmp_path / f"S-{home.name}"))
        [said[home.name]] = cli.json("import", tmp_path / f"{home.name}.age", "--home", there)[0]["warnings"]
        recorded = [e for e in cli.json("audit", "show", "--home", there) if e["action"] == "import-trail-warning"]
        assert [e["reason"] for e in recorded] == [said[home.name]]  # the supervisor's own trail keeps what it said
        assert said[home.name].startswith("laptop A1A1A1: the audit trail this batch states parts from the trail ")
        assert f"event {parted}: the laptop's store was rolled back or its trail replaced; " in said[home.name]
    assert "1 of its audit events bear the numbers of other events of that laptop held here" in said["busy"]
    assert "were not merged" not in said["quiet"]
    # The held trail moved to another laptop's name with the sqlite3 shell, its tags kept, or events slipped in
    # without a tag under the numbers the laptop's next ones take (so those are taken as held): the warning, or
    # the events, would go.
    for name, attack in (
        ("moved", "UPDATE origin_audit SET device = 'ZZZZZZ' WHERE device = 'A1A1A1'"),
        ("slipped", "INSERT INTO origin_audit SELECT {} FROM origin_audit WHERE device = 'A1A1A1'"),
    ):
        there = Path(shutil.copytree(sup, tmp_path / f"S-{name}"))
        shell = sqlite3.connect(there / "triage.db")
        with shell:
            columns = [c[1] for c in shell.execute("PRAGMA table_info(origin_audit)")]
            made = {"tag": "NULL", "seq": "seq + 1000", "id": "id + 100000"}
            shell.execute(attack.format(", ".join(made.get(c, c) for c in columns)))
        shell.close()
        refused = cli("import", tmp_path / "busy.age", "--home", there, code=int(ExitStatus.INTEGRITY)).stderr
        assert "origin_audit row" in refused and "changed outside triage" in refused, refused


def test_a_laptop_whose_data_key_was_replaced_is_not_taken_for_a_rolled_back_one(
    cli, laptops, sup, tmp_path, monkeypatch
):
    """A rotation seals every reason again, so the laptop's whole trail is hashed anew: the same events, which the
    supervisor compares by what they record, not by their hashes."""
    from conftest import PASSPHRASE

    _trust(cli, sup, laptops)
    assert not any(r["warnings"] for r in cli.json("import", laptops.a_file, "--home", sup))
    home = Path(shutil.copytree(laptops.a, tmp_path / "A"))
    rotated = "violet harbour lantern quietly 93"
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", rotated)
    cli("passphrase", "change", "--rotate", "--home", home)
    monkeypatch.setenv("TRIAGE_PASSPHRASE", rotated)
    cli("arrivals", "show", laptops.a1, "--home", home)
    cli("export", "--home", home, "--date", laptops.day, "--out", tmp_path / "rotated.age")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", PASSPHRASE)
    assert cli.json("import", tmp_path / "rotated.age", "--home", sup)[0]["warnings"] == []


def _one(home: Path, sql: str):
    """One value from a home's SQLite file, read as any SQLite client could."""
    con = sqlite3.connect(home / "triage.db")
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def _events(home: Path) -> int:
    return _one(home, "SELECT max(seq) FROM audit_events")


def _exported_at(sup: Path) -> str:
    return _one(sup, "SELECT exported_at FROM batches ORDER BY audit_seq DESC LIMIT 1")


def test_keys_show_fits_80_columns(cli, home):
    lines = cli("keys", "show").stdout.splitlines()
    assert any("read it back" in line for line in lines)
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)


def test_a_safeguarding_flag_raised_after_a_laptops_batch_reaches_the_supervisor_with_the_next(
    cli, laptops, sup, tmp_path
):
    """An arrival merged before is not merged again, but a flag raised on the laptop since is raised here too,
    audited with the laptop that raised it (a flag is never lowered)."""
    _trust(cli, sup, laptops)
    cli("import", laptops.a_file, "--home", sup)
    home = Path(shutil.copytree(laptops.a, tmp_path / "A"))
    unflagged = next(r for r in cli.json("arrivals", "list", "--home", home) if not r["safeguarding"])
    aid = unflagged["arrival_id"]
    cli("arrivals", "flag", aid, "--safeguarding", "--reason", "says he is 15", "--home", home)
    cli("export", "--home", home, "--date", laptops.day, "--out", tmp_path / "later.age")
    [imported] = cli.json("import", tmp_path / "later.age", "--home", sup)
    assert imported["added"]["safeguarding_flags"] == 1  # said in the import's summary
    held = {r["arrival_id"]: r for r in cli.json("arrivals", "list", "--home", sup)}
    mine = [r for r in held.values() if r["name"] == unflagged["name"] and r["landed_at"] == unflagged["landed_at"]]
    assert [r["safeguarding"] for r in mine] == [True]
    flags = [e for e in cli.json("audit", "show", "--home", sup) if e["action"] == "safeguarding-flag"]
    assert len(flags) == 1 and "raised on laptop A1A1A1" in flags[0]["reason"]
    assert "says he is 15" in flags[0]["reason"]  # the laptop officer's reason, from its trail


def test_a_safeguarding_flag_the_supervisor_raises_on_a_laptops_arrival_travels_in_the_supervisors_batch(
    cli, laptops, sup, tmp_path
):
    """A flag raised on an arrival received from a laptop travels in the receiving home's batch and is raised
    wherever that batch is imported, the laptop that landed the arrival included; a flag already raised there
    adds nothing."""
    _trust(cli, sup, laptops)
    cli("import", laptops.a_file, "--home", sup)
    unflagged = next(r for r in cli.json("arrivals", "list", "--home", sup) if not r["safeguarding"])
    cli("arrivals", "flag", unflagged["arrival_id"], "--safeguarding", "--reason", "a birth certificate", "--home", sup)
    a = Path(shutil.copytree(laptops.a, tmp_path / "A"))
    back = cli.json("keys", "show", "--home", a)["age_recipient"]
    cli("export", "--home", sup, "--date", laptops.day, "--out", tmp_path / "s.age", "--recipient", back)
    cli("keys", "trust", "Supervisor", cli.json("keys", "show", "--home", sup)["signing_key"], "--home", a)
    before = sum(r["safeguarding"] for r in cli.json("arrivals", "list", "--home", a))
    [imported] = cli.json("import", tmp_path / "s.age", "--home", a)
    assert imported["added"]["safeguarding_flags"] == 1
    held = {r["arrival_id"]: r for r in cli.json("arrivals", "list", "--home", a)}
    assert held[unflagged["arrival_id"]]["name"] == unflagged["name"] and held[unflagged["arrival_id"]]["safeguarding"]
    assert sum(r["safeguarding"] for r in held.values()) == 1 + before
    (flag,) = [e for e in cli.json("audit", "show", "--home", a) if e["action"] == "safeguarding-flag"][-1:]
    assert "on an arrival it received" in flag["reason"] and "a birth certificate" in flag["reason"]
    [again] = cli.json("import", tmp_path / "s.age", "--home", a)
    assert again["added"]["safeguarding_flags"] == 0
