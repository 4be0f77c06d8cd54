"""The supervisor's day end to end: two laptops capture real fixture faces, export signed batches encrypted
to the supervisor, and the supervisor's home verifies and merges them; tampering, unknown signers,
the wrong key and training data are refused, and a failed merge leaves nothing behind."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import OFFICER, PASSPHRASE, Cli, orl, row_counts
from triage import keys
from triage.config import Config, load_config, write_config
from triage.errors import ExitStatus
from triage.store import Store

INTEGRITY, BAD_INPUT = int(ExitStatus.INTEGRITY), int(ExitStatus.BAD_INPUT)
PURPOSE = "To establish whether this arrival is wanted on warrant"


def _init(cli: Cli, home: Path, site: str) -> None:
    cli("init", "--home", home, "--site", site, "--force-code", "KNT")


def _capture(cli: Cli, home: Path, photo: Path, *details: str) -> str:
    return cli.json("capture", "--home", home, "--photo", photo, *details)["arrival_id"]


@pytest.fixture(scope="module")
def laptops(tmp_path_factory, enrolled_template_home, face_models):
    """Laptop A (with the 20-subject watchlist) and laptop B capture; both export to supervisor S.

    ORL person 21 lands on both laptops under different names. Built once; tests work on copies."""
    root = tmp_path_factory.mktemp("day")
    cli = Cli()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRIAGE_PASSPHRASE", PASSPHRASE)
        mp.setenv("TRIAGE_OFFICER", OFFICER)
        a, b, s = root / "A", root / "B", root / "S"
        shutil.copytree(enrolled_template_home, a)
        cfg = load_config(a)
        write_config(a, Config(**{**cfg.__dict__, "device": "A1A1A1", "site": "Dover"}))
        _init(cli, b, "Folkestone")
        _init(cli, s, "Dover HQ")
        supervisor = cli.json("keys", "show", "--home", s)
        for home in (a, b):
            cli("keys", "recipient", "add", "Supervisor", supervisor["age_recipient"], "--home", home)
        a1 = _capture(cli, a, orl(7, 4), "--surname", "Hama", "--given-names", "Karwan", "--vessel", "SB-1")
        a2 = _capture(cli, a, orl(21, 1), "--surname", "Ali", "--given-names", "Reza", "--dob", "1990", "--vessel", "SB-1")
        cli("review", a1, "--candidate", "WL-007", "--decision", "confirmed", "--reason", "same scar above left eye",
            "--home", a)
        draft = cli.json("pnd", "draft", a1, "--purpose", PURPOSE, "--home", a)
        b1 = _capture(cli, b, orl(21, 6), "--surname", "Karimi", "--given-names", "Omid", "--age", "16", "--vessel", "SB-2")
        b2 = _capture(cli, b, orl(33, 2), "--surname", "=1+2", "--vessel", "SB-2")
        day = cli.json("arrivals", "list", "--home", a)[0]["landed_day"]
        cli("export", "--home", a, "--date", day, "--out", root / "a.age")
        cli("export", "--home", b, "--date", day, "--out", root / "b.age", "--with-templates")
        return SimpleNamespace(
            root=root, a=a, b=b, s=s, day=day, a1=a1, a2=a2, b1=b1, b2=b2, draft=draft["ref"],
            a_file=root / "a.age", b_file=root / "b.age", supervisor=supervisor,
            a_keys=cli.json("keys", "show", "--home", a), b_keys=cli.json("keys", "show", "--home", b))


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
    return [(r["kind"], r["ref"], r["decision"], r["officer"], r["at"], r["reason"])
            for r in store.rows("reviews", "arrival_id = ?", [aid], order_by="id")]


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
                for f in ("details", "quality", "landed_at", "landed_day", "site", "vessel", "officer", "device",
                          "safeguarding", "quality_score"):
                    assert theirs[f] == mine[f], (aid, f)
                assert theirs["origin"] == origin.config.device and mine["origin"] is None
                assert s.photo("arrival", aid)[1] == origin.photo("arrival", aid)[1]
                assert _reviews(s, aid) == _reviews(origin, aid)
                # the laptop's own search and candidates travel as history, distances and thresholds unchanged
                first = [(c["kind"], c["ref"], c["distance"], c["threshold"]) for c in
                         origin.rows("candidates", "arrival_id = ?", [aid], order_by="id")]
                merged = [(c["kind"], c["ref"], c["distance"], c["threshold"]) for c in
                          s.rows("candidates", "arrival_id = ?", [aid], order_by="id")]
                assert merged[:len(first)] == first
        assert _reviews(s, laptops.a1)[0][:3] == ("watchlist", "WL-007", "confirmed")
        assert s.get("drafts", laptops.draft)["draft"] == a.get("drafts", laptops.draft)["draft"]
        # the audit events behind the records came too, with the hashes of the laptop's own chain
        carried = {(e["device"], e["action"], e["hash"]) for e in s.rows("origin_audit")}
        own = {("A1A1A1", e["action"], e["hash"]) for e in a.db["audit_events"].rows_where("arrival_id = ?", [laptops.a1])}
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
    assert {t: n for t, n in after.items() if t != "audit_events"} == {t: n for t, n in before.items() if t != "audit_events"}
    assert after["audit_events"] == before["audit_events"] + 2  # each import is itself audited
    assert cli.json("audit", "verify", "--home", sup)["ok"] is True


def test_unknown_signer_is_refused_until_trusted(cli, laptops, sup):
    before = row_counts(sup)
    res = cli("import", laptops.a_file, "--home", sup, code=INTEGRITY)
    assert "does not trust" in res.stderr and laptops.a_keys["fingerprint"] in res.stderr
    assert laptops.a_keys["signing_key"] in res.stderr  # the hint says exactly what to trust
    assert row_counts(sup) == before
    cli("keys", "trust", "Laptop A", laptops.a_keys["signing_key"], "--home", sup)
    assert cli.json("import", laptops.a_file, "--home", sup)[0]["new_arrivals"] == 2
    listed = cli.json("keys", "list", "--home", sup)
    assert [(k["name"], k["fingerprint"]) for k in listed["trusted_laptops"]] == [("Laptop A", laptops.a_keys["fingerprint"])]


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
    rehashed = _reencrypt({**members, portrait: other, "manifest.json": json.dumps(manifest, indent=2).encode()},
                          laptops.supervisor["age_recipient"], tmp_path / "rehashed.age")
    res = cli("import", rehashed, "--home", sup, code=INTEGRITY)
    assert "signature of manifest.json does not verify" in res.stderr
    # a member swapped, the signed manifest left alone
    swapped = _reencrypt({**members, portrait: other}, laptops.supervisor["age_recipient"], tmp_path / "swapped.age")
    res = cli("import", swapped, "--home", sup, code=INTEGRITY)
    assert f"member {portrait} does not match its SHA-256" in res.stderr
    # a member slipped in that the manifest does not list
    extra = _reencrypt({**members, "portraits/A-EXTRA1.jpg": other}, laptops.supervisor["age_recipient"],
                       tmp_path / "extra.age")
    res = cli("import", extra, "--home", sup, code=INTEGRITY)
    assert "member portraits/A-EXTRA1.jpg is not in the signed manifest" in res.stderr
    # one bad file among good ones stops the whole import before anything merges
    cli("import", laptops.b_file, swapped, "--home", sup, code=INTEGRITY)
    assert row_counts(sup) == before


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
    res = cli("import", laptops.a_file, "--home", b, code=INTEGRITY)
    assert "not encrypted to this home" in res.stderr and laptops.b_keys["age_recipient"] in res.stderr


def test_batch_members_manifest_signature_and_summary(laptops):
    with _decrypt_as(laptops.s, laptops.a_file) as z:
        names = set(z.namelist())
        manifest_bytes = z.read("manifest.json")
        manifest = json.loads(manifest_bytes)
        signature = json.loads(z.read("manifest.sig"))
        for name, expected in manifest["members"].items():
            assert hashlib.sha256(z.read(name)).hexdigest() == expected["sha256"]
        records = [json.loads(line) for line in z.read("arrivals.jsonl").splitlines()]
    assert names == {"manifest.json", "manifest.sig", "arrivals.jsonl", "audit.jsonl", "summary.csv",
                     f"portraits/{laptops.a1}.jpg", f"portraits/{laptops.a2}.jpg"}  # no templates without the flag
    assert manifest["signer"] == laptops.a_keys["signing_key"] and manifest["training"] is False
    assert manifest["recipients"] == [laptops.supervisor["age_recipient"]] and manifest["arrivals"] == 2
    assert keys.verify_signature(keys.parse_signing_key(manifest["signer"]), manifest_bytes,
                                 base64.b64decode(signature["signature"]))
    first = next(r for r in records if r["id"] == laptops.a1)
    assert first["key"] == f"A1A1A1:{laptops.a1}" and first["details"]["surname"] == "Hama"
    assert first["reviews"][0]["decision"] == "confirmed" and first["drafts"][0]["ref"] == laptops.draft
    assert first["searches"][0]["candidates"][0]["ref"] == "WL-007"

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
    res = cli.json("export", "--home", b, "--date", laptops.day, "--out", out,
                   "--recipient", laptops.supervisor["age_recipient"])
    assert res["arrivals"] == 2 and res["recipients"] == [laptops.supervisor["age_recipient"]]
    assert list(scratch.iterdir()) == [] and sorted(p.name for p in out.parent.iterdir()) == ["b.age"]
    events = cli.json("audit", "show", "--home", b)
    assert events[-1]["action"] == "export" and laptops.supervisor["age_recipient"] in events[-1]["reason"]


def test_training_and_real_batches_never_mix(cli, laptops, sup, tmp_path):
    trainer = tmp_path / "T"
    Store.create(trainer, PASSPHRASE, Config(site="Training site", force_code="TRN", officer=OFFICER, training=True)).close()
    _capture(cli, trainer, orl(12, 1), "--surname", "Trainee")
    t_keys = cli.json("keys", "show", "--home", trainer)
    cli("keys", "recipient", "add", "Supervisor", laptops.supervisor["age_recipient"], "--home", trainer)
    cli("export", "--home", trainer, "--date", laptops.day, "--out", tmp_path / "t.age")
    cli("keys", "trust", "Trainer", t_keys["signing_key"], "--home", sup)
    before = row_counts(sup)
    res = cli("import", tmp_path / "t.age", "--home", sup, code=BAD_INPUT)
    assert "TRAINING batch" in res.stderr and row_counts(sup) == before

    cli("export", "--home", laptops.a, "--date", laptops.day, "--out", tmp_path / "real.age",
        "--recipient", t_keys["age_recipient"])
    cli("keys", "trust", "Laptop A", laptops.a_keys["signing_key"], "--home", trainer)
    res = cli("import", tmp_path / "real.age", "--home", trainer, code=BAD_INPUT)
    assert "real batch" in res.stderr and "TRAINING home" in res.stderr


def test_colliding_ids_are_renumbered_and_a_failed_merge_leaves_nothing(cli, laptops, sup, tmp_path, monkeypatch):
    """Laptop C draws the arrival id that laptop A already used; a merge that fails midway keeps nothing."""
    c = tmp_path / "C"
    _init(cli, c, "Deal")
    cli("keys", "recipient", "add", "Supervisor", laptops.supervisor["age_recipient"], "--home", c)
    with monkeypatch.context() as mp:
        mp.setattr("triage.arrivals.new_arrival_id", lambda: laptops.a1)
        clash = _capture(cli, c, orl(30, 2), "--surname", "Clash", "--vessel", "SB-3")
    assert clash == laptops.a1
    cli("export", "--home", c, "--date", laptops.day, "--out", tmp_path / "c.age")
    c_keys = cli.json("keys", "show", "--home", c)
    _trust(cli, sup, laptops)
    cli("keys", "trust", "Laptop C", c_keys["signing_key"], "--home", sup)
    cli("import", laptops.a_file, "--home", sup)

    before = row_counts(sup)
    import triage.arrivals

    real_search = triage.arrivals._search
    calls = []

    def fail_on_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("simulated crash in the middle of a merge")
        return real_search(*args, **kw)

    with monkeypatch.context() as mp:
        mp.setattr("triage.arrivals._search", fail_on_second)
        cli("import", laptops.b_file, "--home", sup, code=int(ExitStatus.ERROR))
    assert len(calls) == 2 and row_counts(sup) == before  # nothing of batch B stayed

    merged = cli.json("import", tmp_path / "c.age", laptops.b_file, "--home", sup)
    assert [r["new_arrivals"] for r in merged] == [1, 2]
    s = _open(sup)
    try:
        renamed = s.db.execute("SELECT local FROM merged WHERE kind = 'arrivals' AND key = ?",
                               [f"{c_keys['device']}:{clash}"]).fetchone()[0]
        assert renamed != laptops.a1
        assert s.get("arrivals", renamed)["details"]["surname"] == "Clash"
        assert s.get("arrivals", laptops.a1)["details"]["surname"] == "Hama"
        assert s.get("arrivals", renamed)["origin"] == c_keys["device"]
    finally:
        s.close()
    assert cli.json("import", tmp_path / "c.age", "--home", sup)[0]["new_arrivals"] == 0
