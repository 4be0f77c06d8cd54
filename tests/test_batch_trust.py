"""A batch is its signing laptop's records only: another device's arrival, review, debrief or audit event in a
trusted laptop's batch, a device claimed by another laptop's key, an id or reference out of its format, a record
nested without end or one that breaks the merge, and a training record offered to a real home are each refused
whole, with one line naming the record, one audit event, and nothing merged. A decision taken on an arrival
received from elsewhere travels as such and joins that arrival. Trust lists altered behind the tool's back are
never used."""

# ruff: noqa: F811  (the fixtures of test_batch.py are imported, and named again as the tests' parameters)

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from test_batch import _decrypt_as, _only_audited, _refusals, _trust, clash, laptops, sup  # noqa: F401

from conftest import OFFICER, PASSPHRASE, Cli, orl, row_counts
from triage.errors import ExitStatus
from triage.exchange import keys
from triage.store.config import Config
from triage.store.rows import Store

INTEGRITY, BAD_INPUT, NOT_FOUND = int(ExitStatus.INTEGRITY), int(ExitStatus.BAD_INPUT), int(ExitStatus.NOT_FOUND)
Members = dict[str, bytes]


def _records(members: Members, name: str) -> list[dict]:
    return [json.loads(line) for line in members.get(name, b"").splitlines()]


def _put(members: Members, name: str, rows: list[dict]) -> None:
    members[name] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _signing_key(home: Path):
    store = Store.open(home, PASSPHRASE)
    try:
        return keys.own(store, officer=OFFICER).signing
    finally:
        store.close()


def _forge(
    laptops, source: Path, out: Path, edit: Callable[[Members, dict], None], *, signer: Path | None = None
) -> Path:
    """A batch as the signing laptop could make it: `source` opened at the supervisor, edited, its manifest
    re-hashed and signed again with the laptop's own key (laptop A's unless `signer`), encrypted to the
    supervisor."""
    import pyrage

    with _decrypt_as(laptops.s, source) as z:
        members = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    members.pop("manifest.sig")
    # laptop A's arrival a1, the one with a review and a draft, first; a2, with a debrief, second
    _put(members, "arrivals.jsonl", sorted(_records(members, "arrivals.jsonl"), key=lambda r: not r["drafts"]))
    edit(members, manifest)
    manifest["members"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in members.items()
    }
    raw = json.dumps(manifest, indent=2, sort_keys=True).encode()
    signature = _signing_key(signer or laptops.a).sign(raw)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("manifest.json", raw)
        z.writestr(
            "manifest.sig", json.dumps({"algorithm": "ed25519", "signature": base64.b64encode(signature).decode()})
        )
        for name, data in members.items():
            z.writestr(name, data)
    recipient = pyrage.x25519.Recipient.from_str(laptops.supervisor["age_recipient"])
    out.write_bytes(pyrage.encrypt(buf.getvalue(), [recipient]))
    return out


def _refused(cli: Cli, sup: Path, path: Path, code: int, *words: str) -> str:
    """Import `path`, expecting a refusal with `code` whose first line holds `words`; nothing merged, one audit
    event; the line is returned."""
    before = row_counts(sup)
    res = cli("import", path, "--home", sup, code=code)
    line = res.stderr.strip().splitlines()[0]
    for word in words:
        assert word in line, (word, res.stderr)
    assert not any(ord(ch) < 0x20 for ch in res.stderr.replace("\n", "")), "raw control characters reach stderr"
    assert "unexpected" not in res.stderr
    _only_audited(sup, before, 1)
    assert words[0] in _refusals(cli, sup)[-1]["reason"]
    return line


# -- records of another device -------------------------------------------------------------------------------


def _b(laptops) -> str:
    return laptops.b_keys["device"]


def _another_devices_arrival(laptops):
    def edit(members: Members, manifest: dict) -> None:
        rows = _records(members, "arrivals.jsonl")
        rows[0]["key"] = f"{_b(laptops)}:{rows[0]['id']}"
        _put(members, "arrivals.jsonl", rows)

    return edit, ("arrivals.jsonl line 1", f"belongs to device {_b(laptops)}")


def _a_review_for_another_device(laptops):
    def edit(members: Members, manifest: dict) -> None:
        rows = _records(members, "arrivals.jsonl")
        review = dict(rows[0]["reviews"][0], key=f"{_b(laptops)}:7", officer="DS 4411 Forger", decision="confirmed")
        rows[0]["reviews"].append(review)
        _put(members, "arrivals.jsonl", rows)

    return edit, ("arrivals.jsonl line 1", f"review {_b(laptops)}:7 belongs to device {_b(laptops)}")


def _a_decision_recorded_as_another_devices(laptops):
    """A review of B's arrival, "confirmed by DS ...", keyed as if B's own laptop had taken it."""

    def edit(members: Members, manifest: dict) -> None:
        review = {
            "key": f"{_b(laptops)}:9",
            "kind": "arrival",
            "ref": laptops.a2,
            "ref_key": f"A1A1A1:{laptops.a2}",
            "decision": "confirmed",
            "officer": "DS 4411 Forger",
            "at": "2026-11-28T10:00:00+00:00",
            "reason": "same person",
            "supersedes": None,
        }
        line = {"arrival_key": f"{_b(laptops)}:{laptops.b1}", "id": laptops.b1, "reviews": [review]}
        _put(members, "received.jsonl", [line | {"drafts": [], "outcomes": []}])

    return edit, ("received.jsonl line 1", f"review {_b(laptops)}:9 belongs to device {_b(laptops)}")


def _another_devices_debrief(laptops):
    def edit(members: Members, manifest: dict) -> None:
        rows = _records(members, "debriefs.jsonl")
        rows[0]["key"] = f"{_b(laptops)}:1"
        _put(members, "debriefs.jsonl", rows)

    return edit, ("debriefs.jsonl line 1", f"belongs to device {_b(laptops)}")


def _another_devices_audit_event(laptops):
    def edit(members: Members, manifest: dict) -> None:
        rows = _records(members, "audit.jsonl")
        rows[-1]["device"] = _b(laptops)
        _put(members, "audit.jsonl", rows)

    return edit, ("audit.jsonl line", f"recorded on device {_b(laptops)}, not on the signing laptop's A1A1A1")


def _an_arrival_captured_elsewhere(laptops):
    def edit(members: Members, manifest: dict) -> None:
        rows = _records(members, "arrivals.jsonl")
        rows[1]["device"] = _b(laptops)
        _put(members, "arrivals.jsonl", rows)

    return edit, ("arrivals.jsonl line 2", f"was captured on device {_b(laptops)}")


def _a_training_arrival_in_a_real_batch(laptops):
    def edit(members: Members, manifest: dict) -> None:
        rows = _records(members, "arrivals.jsonl")
        rows[0]["training"] = 1
        _put(members, "arrivals.jsonl", rows)

    return edit, ("arrivals.jsonl line 1", "TRAINING record in a real batch")


def _void(laptops, key_device: str, arrival: str) -> dict:
    return {
        "key": f"{key_device}:{arrival}-void",
        "arrival_key": f"A1A1A1:{arrival}",
        "id": arrival,
        "kind": "void",
        "officer": "PC 2231 Forger",
        "at": "2026-11-28T10:00:00+00:00",
        "reason": "captured twice",
    }


def _another_devices_correction(laptops):
    """A void of A's own arrival, keyed as if laptop B had made it."""

    def edit(members: Members, manifest: dict) -> None:
        _put(members, "corrections.jsonl", [_void(laptops, _b(laptops), laptops.a1)])

    return edit, ("corrections.jsonl line 1", f"belongs to device {_b(laptops)}")


NOT_THE_SIGNERS = [
    _another_devices_correction,
    _another_devices_arrival,
    _a_review_for_another_device,
    _a_decision_recorded_as_another_devices,
    _another_devices_debrief,
    _another_devices_audit_event,
    _an_arrival_captured_elsewhere,
    _a_training_arrival_in_a_real_batch,
]


@pytest.mark.parametrize("forgery", NOT_THE_SIGNERS, ids=lambda f: f.__name__.strip("_"))
def test_a_record_that_is_not_the_signers_refuses_the_batch(cli, laptops, sup, tmp_path, forgery):
    _trust(cli, sup, laptops)
    edit, words = forgery(laptops)
    forged = _forge(laptops, laptops.a_file, tmp_path / "forged.age", edit)
    _refused(cli, sup, forged, INTEGRITY, *words)
    # the batch as signed merges
    assert cli.json("import", laptops.a_file, "--home", sup)[0]["new_arrivals"] == 2


def test_a_device_is_bound_to_the_key_that_signs_for_it(cli, laptops, sup, tmp_path):
    _trust(cli, sup, laptops)
    cli("import", laptops.b_file, "--home", sup)
    # laptop A signs a batch that says it was made on laptop B's device, every record keyed to match
    b = _b(laptops)

    def as_b(members: Members, manifest: dict) -> None:
        manifest["device"] = b
        text = {n: d.decode() for n, d in members.items() if n.endswith(".jsonl")}
        members.update({n: t.replace("A1A1A1", b).encode() for n, t in text.items()})

    forged = _forge(laptops, laptops.a_file, tmp_path / "as-b.age", as_b)
    _refused(cli, sup, forged, INTEGRITY, f"device {b}, whose batches Laptop B signs")

    def as_supervisor(members: Members, manifest: dict) -> None:
        manifest["device"] = laptops.supervisor["device"]

    forged = _forge(laptops, laptops.a_file, tmp_path / "as-s.age", as_supervisor)
    _refused(cli, sup, forged, INTEGRITY, f"device {laptops.supervisor['device']}, which is this home's own")


# -- ids, references, sizes ----------------------------------------------------------------------------------


def _arrival(index: int, **changes) -> Callable[[Members, dict], None]:
    def edit(members: Members, manifest: dict) -> None:
        rows = _records(members, "arrivals.jsonl")
        rows[index].update(changes)
        _put(members, "arrivals.jsonl", rows)

    return edit


def _renamed(new_id: str) -> Callable[[Members, dict], None]:
    def edit(members: Members, manifest: dict) -> None:
        rows = _records(members, "arrivals.jsonl")
        rows[0].update(id=new_id, key=f"A1A1A1:{new_id}", portrait=None)
        _put(members, "arrivals.jsonl", rows)

    return edit


def _portrait_named(name: str) -> Callable[[Members, dict], None]:
    def edit(members: Members, manifest: dict) -> None:
        rows = _records(members, "arrivals.jsonl")
        old = rows[0]["portrait"]["member"]
        rows[0]["portrait"]["member"] = name
        members[name] = members.pop(old)
        _put(members, "arrivals.jsonl", rows)

    return edit


def _deep(members: Members, manifest: dict) -> None:
    members["arrivals.jsonl"] = b'{"key": ' + b"[" * 200_000 + b"]" * 200_000 + b"}\n" + members["arrivals.jsonl"]


def _deep_inside(members: Members, manifest: dict) -> None:
    rows = _records(members, "arrivals.jsonl")
    nested: dict = {}
    for _ in range(500):
        nested = {"x": nested}
    rows[0]["details"]["notes"] = nested
    _put(members, "arrivals.jsonl", rows)


def _candidate_ref(members: Members, manifest: dict) -> None:
    rows = _records(members, "arrivals.jsonl")
    rows[0]["searches"][0]["candidates"][0]["ref"] = "WL-007\x1b]0;owned\x07"
    _put(members, "arrivals.jsonl", rows)


def _biographic_with_a_distance(members: Members, manifest: dict) -> None:
    """A candidate a name found, dressed as a close face: the laptop may say only what a name search says."""
    rows = _records(members, "arrivals.jsonl")
    c = rows[0]["searches"][0]["candidates"][0]
    c.update(kind="biographic", ref=rows[1]["id"], ref_key=rows[1]["key"], score=99.5, distance=0.01)
    _put(members, "arrivals.jsonl", rows)


def _draft_ref(members: Members, manifest: dict) -> None:
    rows = _records(members, "arrivals.jsonl")
    draft = rows[0]["drafts"][0]
    draft.update(ref="../../drafts/x", key="A1A1A1:../../drafts/x")
    _put(members, "arrivals.jsonl", rows)


MALFORMED = {
    "esc-in-arrival-id": (_renamed("A-\x1b[2J1"), ("arrivals.jsonl line 1", "U+001B")),
    "path-as-arrival-id": (_renamed("../../etc"), ("arrivals.jsonl line 1", "is not an id")),
    "path-as-portrait": (_portrait_named("portraits/../../x.jpg"), ("manifest.json", "member name")),
    "vessel-with-esc-and-bel": (_arrival(0, vessel="SB-1\x1b[31m\x07"), ("arrivals.jsonl line 1", "U+001B")),
    "vessel-of-100000-characters": (_arrival(0, vessel="V" * 100_000), ("arrivals.jsonl line 1", "100,000")),
    "vessel-of-41-characters": (_arrival(0, vessel="V" * 41), ("arrivals.jsonl line 1", "41 characters")),
    "site-with-zero-width-space": (_arrival(1, site="Dover\u200bHQ"), ("arrivals.jsonl line 2", "U+200B")),
    "site-with-direction-control": (_arrival(1, site="Dover\u202eHQ"), ("arrivals.jsonl line 2", "U+202E")),
    "officer-over-two-lines": (_arrival(0, officer="PC 1\nDS 2"), ("arrivals.jsonl line 1", "line break")),
    "candidate-ref": (_candidate_ref, ("arrivals.jsonl line 1", "U+001B")),
    "biographic-with-a-distance": (_biographic_with_a_distance, ("arrivals.jsonl line 1", "not a count of name")),
    "draft-ref": (_draft_ref, ("arrivals.jsonl line 1", "is not an id")),
    "nested-200000-deep": (_deep, ("arrivals.jsonl line 1", "nested more than")),
    "nested-500-deep": (_deep_inside, ("arrivals.jsonl line 1", "nested more than")),
    "not-a-number": (_arrival(0, quality_score=float("nan")), ("arrivals.jsonl line 1", "not JSON")),
    "no-training-flag": (
        lambda m, _: _put(
            m,
            "arrivals.jsonl",
            [{k: v for k, v in r.items() if k != "training"} for r in _records(m, "arrivals.jsonl")],
        ),
        ("arrivals.jsonl line 1", "has no training"),
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=str)
def test_a_malformed_record_refuses_the_batch_with_one_line(cli, laptops, sup, tmp_path, case):
    _trust(cli, sup, laptops)
    edit, words = MALFORMED[case]
    forged = _forge(laptops, laptops.a_file, tmp_path / "forged.age", edit)
    line = _refused(cli, sup, forged, BAD_INPUT, *words)
    assert len(line) < 400


def test_a_record_that_breaks_the_merge_is_refused_naming_it(cli, laptops, sup, tmp_path):
    _trust(cli, sup, laptops)

    def no_contacts(members: Members, manifest: dict) -> None:
        rows = _records(members, "debriefs.jsonl")
        del rows[-1]["answers"]["contacts"]
        _put(members, "debriefs.jsonl", rows)

    forged = _forge(laptops, laptops.a_file, tmp_path / "broken.age", no_contacts)
    _refused(cli, sup, forged, BAD_INPUT, "debriefs.jsonl line 2", "cannot be merged", "KeyError")


# -- decisions on arrivals received from elsewhere -----------------------------------------------------------


def test_a_decision_on_a_received_arrival_travels_as_such(cli, laptops, sup, tmp_path):
    """The supervisor confirms that B's arrival b1 is A's a2 and sends the day back to laptop A, which holds both."""
    _trust(cli, sup, laptops)
    cli("import", laptops.a_file, laptops.b_file, "--home", sup)
    cli(
        "review",
        laptops.b1,
        "--candidate",
        laptops.a2,
        "--decision",
        "confirmed",
        "--reason",
        "same person, two names",
        "--home",
        sup,
    )
    a, b = Path(shutil.copytree(laptops.a, tmp_path / "A")), Path(shutil.copytree(laptops.b, tmp_path / "B"))
    b_to_a = tmp_path / "b-to-a.age"
    cli("export", "--home", b, "--date", laptops.day, "--out", b_to_a, "--recipient", laptops.a_keys["age_recipient"])
    s_to_a = tmp_path / "s-to-a.age"
    exported = cli.json(
        "export", "--home", sup, "--date", laptops.day, "--out", s_to_a, "--recipient", laptops.a_keys["age_recipient"]
    )
    assert exported["arrivals"] == 0  # the supervisor captured none: the laptops' arrivals are theirs to send

    with _decrypt_as(a, s_to_a) as z:
        members = {n: z.read(n) for n in z.namelist()}
    assert _records(members, "arrivals.jsonl") == [] and not any(n.startswith("portraits/") for n in members)
    (line,) = _records(members, "received.jsonl")
    s_device = laptops.supervisor["device"]
    assert line["arrival_key"] == f"{_b(laptops)}:{laptops.b1}" and line["drafts"] == line["outcomes"] == []
    (review,) = line["reviews"]
    assert review["key"].startswith(f"{s_device}:") and review["ref_key"] == f"A1A1A1:{laptops.a2}"
    assert not {"ver", "tag", "sealed"} & set(review)  # the store's own columns never travel
    assert {e["device"] for e in _records(members, "audit.jsonl")} == {s_device}

    cli("keys", "trust", "Supervisor", laptops.supervisor["signing_key"], "--home", a)
    cli("keys", "trust", "Laptop B", laptops.b_keys["signing_key"], "--home", a)
    # laptop A does not hold b1 yet: the supervisor's decision has nothing to join, so nothing of it is merged
    line = _refused(cli, a, s_to_a, NOT_FOUND, "received.jsonl line 1", "is not held in this home")
    assert f"{_b(laptops)}:{laptops.b1}" in line
    cli("import", b_to_a, "--home", a)
    merged = cli.json("import", s_to_a, "--home", a)[0]
    assert merged["added"]["reviews"] == 1 and merged["new_arrivals"] == 0
    store = Store.open(a, PASSPHRASE)
    try:
        (joined,) = store.rows("reviews", "arrival_id = ?", [laptops.b1])
    finally:
        store.close()
    assert (joined["kind"], joined["ref"], joined["decision"], joined["reason"]) == (
        "arrival",
        laptops.a2,
        "confirmed",
        "same person, two names",
    )
    assert not any(cli.json("import", s_to_a, "--home", a)[0]["added"].values())


# -- training ------------------------------------------------------------------------------------------------


def test_a_training_homes_batch_is_refused_by_a_real_home_whatever_its_config_says(cli, laptops, sup, tmp_path):
    trainer = tmp_path / "T"
    Store.create(
        trainer, PASSPHRASE, Config(site="Training site", force_code="TRN", officer=OFFICER, training=True)
    ).close()
    cli("capture", "--home", trainer, "--photo", orl(12, 1), "--surname", "Trainee")
    t_keys = cli.json("keys", "show", "--home", trainer)
    cli("keys", "recipient", "add", "Supervisor", laptops.supervisor["age_recipient"], "--home", trainer)
    config = json.loads((trainer / "config.json").read_text())
    (trainer / "config.json").write_text(json.dumps({**config, "training": False}))
    out = tmp_path / "t.age"
    exported = cli("export", "--home", trainer, "--date", laptops.day, "--out", out, code=None)
    if exported.exit_code != 0:  # the home knows it is a training home whatever its config.json says
        assert not out.exists()
        return
    cli("keys", "trust", "Trainer", t_keys["signing_key"], "--home", sup)
    with _decrypt_as(sup, out) as z:
        says_training = json.loads(z.read("manifest.json"))["training"]
    if says_training:
        _refused(cli, sup, out, BAD_INPUT, "TRAINING batch")
    else:
        _refused(cli, sup, out, INTEGRITY, "arrivals.jsonl line 1", "TRAINING record in a real batch")


# -- trust lists ---------------------------------------------------------------------------------------------


def _sql(home: Path, sql: str, params: list) -> None:
    con = sqlite3.connect(home / "triage.db")
    try:
        con.execute(sql, params)
        con.commit()
    finally:
        con.close()


def test_a_signer_slipped_into_the_trust_list_is_never_used(cli, laptops, sup):
    cli("keys", "trust", "Laptop A", laptops.a_keys["signing_key"], "--home", sup)
    _sql(
        sup,
        "INSERT INTO trusted_keys (role, name, public, added_at, officer) VALUES ('signer', 'Laptop B', ?, ?, ?)",
        [laptops.b_keys["signing_key"], "2026-11-28T10:00:00+00:00", OFFICER],
    )
    before = row_counts(sup)
    res = cli("import", laptops.b_file, "--home", sup, code=INTEGRITY)
    assert "trusted_keys" in res.stderr
    res = cli("import", laptops.a_file, "--home", sup, code=INTEGRITY)  # the list is altered: nothing is accepted
    assert "trusted_keys" in res.stderr
    assert {t: n for t, n in row_counts(sup).items() if t != "audit_events"} == {
        t: n for t, n in before.items() if t != "audit_events"
    }
    cli("keys", "list", "--home", sup, code=INTEGRITY)
    cli("keys", "untrust", "Laptop B", "--home", sup, code=INTEGRITY)  # the list no longer adds up: restore it


def test_a_recipient_slipped_into_the_list_is_never_encrypted_to(cli, laptops, tmp_path):
    import pyrage

    b = Path(shutil.copytree(laptops.b, tmp_path / "B"))
    attacker = pyrage.x25519.Identity.generate()
    _sql(
        b,
        "INSERT INTO trusted_keys (role, name, public, added_at, officer) VALUES ('recipient', 'Extra', ?, ?, ?)",
        [str(attacker.to_public()), "2026-11-28T10:00:00+00:00", OFFICER],
    )
    out = tmp_path / "b.age"
    res = cli("export", "--home", b, "--date", laptops.day, "--out", out, code=INTEGRITY)
    assert "trusted_keys" in res.stderr and not out.exists()
    cli(
        "export",
        "--home",
        b,
        "--date",
        laptops.day,
        "--out",
        out,
        "--recipient",
        laptops.supervisor["age_recipient"],
        code=INTEGRITY,
    )
    assert not out.exists()


def test_a_correction_of_an_arrival_this_home_does_not_hold_is_refused(cli, laptops, sup, tmp_path):
    """A void that names an arrival neither the batch nor this home holds: nothing merged, exit 5."""
    _trust(cli, sup, laptops)

    def edit(members: Members, manifest: dict) -> None:
        _put(members, "corrections.jsonl", [_void(laptops, "A1A1A1", "A-ZZZZZZ")])

    forged = _forge(laptops, laptops.a_file, tmp_path / "unheld.age", edit)
    _refused(cli, sup, forged, NOT_FOUND, "corrections.jsonl line 1", "A-ZZZZZZ")

    def twisted(members: Members, manifest: dict) -> None:  # a void keyed as an amendment of another arrival
        _put(members, "corrections.jsonl", [_void(laptops, "A1A1A1", laptops.a1) | {"id": laptops.a2}])

    forged = _forge(laptops, laptops.a_file, tmp_path / "twisted.age", twisted)
    _refused(cli, sup, forged, BAD_INPUT, "corrections.jsonl line 1", "names another arrival or kind")
