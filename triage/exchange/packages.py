"""Watchlist packages: how an issuing home's watchlist reaches the laptops, signed and versioned.

An issuing home (a force intelligence unit, or the supervisor) writes its own live subjects, with their
governance fields, portraits and each model's templates, into a package: its issuer (device and signing
key), a version one more than the last it issued (kept in an authenticated row), when it was issued and
until when it is valid, and the refs it has removed. The package is signed and encrypted like a day's
batch (sealed.py), to the home's listed recipients.

A laptop receives a package only from an issuer it trusts to issue (`triage keys trust --issuer`; a key
trusted for batches is not enough) and only when it is newer
than the version it holds from that issuer; anything else changes nothing (exit 6). The package is the
issuer's whole list: its additions, changes and removals land in one transaction, audited, and the
laptop's own entries are left as they are. The arrivals already held are then searched against the
subjects added or changed, as a capture's search would be, so a subject added at noon finds the morning's
arrivals. Past its valid-until a package's subjects are not searched (casework/issued.py).

Inside, once decrypted: `manifest.json` (what the package is and every member's SHA-256), `manifest.sig`,
`subjects.jsonl` (one subject a line, its photos naming their portraits and templates), `tombstones.jsonl`
(refs the issuer removed) and `portraits/<n>.jpg`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from triage.casework import arrivals, issued, watchlist
from triage.errors import BadInput, Conflict, IntegrityFailure, TriageError
from triage.exchange import keys, sealed
from triage.exchange.records import DEVICE, MAX_TEMPLATE_DIM, is_line, read_lines, shown
from triage.faces import matchers
from triage.files import write_files
from triage.intake.biographic import clean_text
from triage.intake.photos import decode
from triage.store.rows import Store, utcnow

FORMAT = "triage-watchlist/1"
MAX_PACKAGE_BYTES = 2 * 1024**3
MAX_MANIFEST_BYTES = 16 * 1024**2
MAX_VALID_DAYS = 31
SUBJECTS, TOMBSTONES = "subjects.jsonl", "tombstones.jsonl"
PORTRAIT = re.compile(r"portraits/[0-9]{1,9}\.jpg")
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]{0,79}")
SUBJECT_FIELDS = watchlist.SUBJECT_FIELDS  # each subject record carries these and its photos


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode() + b"\n" for r in records)


def _vector(v: np.ndarray) -> str:
    return base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()


# -- issuing ---------------------------------------------------------------------------------------


@dataclass
class Issued:
    out: str
    version: int
    issued_at: str
    valid_until: str
    subjects: int
    tombstones: int
    model_ids: list[str]
    recipients: list[str]
    fingerprint: str
    bytes: int


def _templates_by_photo(store: Store) -> dict[int, dict[str, np.ndarray]]:
    """photo id -> model id -> template, for every subject template linked to its photo."""
    photo_of = {
        tid: pid
        for tid, pid in store.db.execute(
            "SELECT id, photo_id FROM templates WHERE owner_kind = 'subject' AND photo_id IS NOT NULL"
        )
    }
    out: dict[int, dict[str, np.ndarray]] = {}
    for (model_id,) in store.db.execute("SELECT model_id FROM template_sets WHERE owner_kind = 'subject'").fetchall():
        for block in store.template_blocks(model_id, "subject"):
            for tid, vector in zip(block.ids.tolist(), block.vectors, strict=True):
                if tid in photo_of:
                    out.setdefault(photo_of[tid], {})[model_id] = np.array(vector, dtype=np.float32)
    return out


def _photo_ids(store: Store, ref: str, role: str) -> list[int]:
    return [
        r[0]
        for r in store.db.execute(
            "SELECT id FROM photos WHERE owner_kind = 'subject' AND owner_id = ? AND role = ? AND data IS NOT NULL "
            "ORDER BY id",
            [ref, role],
        )
    ]


def issue(store: Store, out: Path, *, officer: str, valid_for_days: int = 1) -> Issued:
    """Write this home's watchlist package to `out`: its own live subjects (active, review date after today)
    and tombstones of the ones it removed, version one more than the last it issued, encrypted to the
    home's listed recipients. The file and the record of its version are written together or not at all."""
    out = Path(out)
    if not 1 <= valid_for_days <= MAX_VALID_DAYS:
        raise BadInput(f"--valid-for {valid_for_days}: give 1 to {MAX_VALID_DAYS} days")
    if out.is_dir():
        raise BadInput(f"--out {out} is a folder; give a file name such as {out / 'watchlist.age'}")
    if not out.parent.is_dir():
        raise BadInput(f"--out {out}: the folder {out.parent} does not exist")
    to = keys.recipients(store)
    if not to:
        raise BadInput(
            "no recipient to encrypt the package to: add each laptop's age public key with "
            "`triage keys recipient add NAME age1...`"
        )
    parsed = [keys.parse_recipient(r) for r in to]
    laptop = keys.own(store, officer=officer)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    today = dt.date.today().isoformat()
    received = issued.origins(store)
    last = issued.last_issued(store)
    version = (last["version"] if last else 0) + 1
    templates = _templates_by_photo(store)
    members: dict[str, bytes] = {}
    subjects, models = [], set()
    for row in store.rows("subjects", "status = 'active' AND review_date > ?", [today], order_by="ref"):
        if row["ref"] in received:
            continue  # another issuer's subject goes out in that issuer's packages only
        photos = []
        for original, portrait in zip(
            _photo_ids(store, row["ref"], "original"), _photo_ids(store, row["ref"], "portrait"), strict=False
        ):
            name = f"portraits/{len(members) + 1}.jpg"
            members[name] = store.photo_by_id(portrait)[1]
            vectors = templates.get(original, {})
            models |= set(vectors)
            photos.append({"portrait": name, "templates": {m: _vector(v) for m, v in sorted(vectors.items())}})
        if photos:
            subjects.append({**{k: row.get(k) for k in SUBJECT_FIELDS}, "photos": photos})
    tombstones = [
        {"ref": r["ref"], "removed_at": r.get("removed_at")}
        for r in store.rows("subjects", "status = 'removed'", order_by="ref")
        if r["ref"] not in received
    ]
    members[SUBJECTS] = _jsonl(subjects)
    members[TOMBSTONES] = _jsonl(tombstones)
    issued_at = now.isoformat()
    valid_until = (now + dt.timedelta(days=valid_for_days)).isoformat()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "issuer": store.config.device,
        "site": store.config.site,
        "force_code": store.config.force_code,
        "signer": keys.encode_signing_key(laptop.signing_public),
        "version": version,
        "issued_at": issued_at,
        "valid_until": valid_until,
        "issued_by": officer,
        "training": store.is_training,
        "recipients": [str(r) for r in parsed],
        "subjects": len(subjects),
        "tombstones": len(tombstones),
        "model_ids": sorted(models),
        "members": sealed.member_digests(members),
    }
    data = sealed.seal(manifest, members, laptop, parsed)
    digest = hashlib.sha256(json.dumps(manifest, indent=2, sort_keys=True).encode()).hexdigest()
    with store.transaction():
        store.insert(
            "watchlist_packages",
            {
                "role": issued.ISSUED,
                "signer": manifest["signer"],
                "issuer": store.config.device,
                "version": version,
                "issued_at": issued_at,
                "valid_until": valid_until,
                "sha256": digest,
                "subjects": len(subjects),
                "removed": len(tombstones),
                "at": utcnow(),
                "officer": officer,
            },
        )
        store.audit(
            "watchlist-issue",
            officer,
            records=[f"subject:{s['ref']}" for s in subjects][:500],
            reason=f"version {version} to {out.name}: {len(subjects)} subject(s), {len(tombstones)} removed, valid "
            f"until {valid_until}, encrypted to {', '.join(manifest['recipients'])}",
        )
        write_files({out: data})
    return Issued(
        out=str(out),
        version=version,
        issued_at=issued_at,
        valid_until=valid_until,
        subjects=len(subjects),
        tombstones=len(tombstones),
        model_ids=sorted(models),
        recipients=manifest["recipients"],
        fingerprint=keys.fingerprint(laptop.signing_public),
        bytes=out.stat().st_size,
    )


# -- receiving --------------------------------------------------------------------------------------


@dataclass
class Alert:
    """An arrival already held that a subject added or changed by the package is a candidate for."""

    arrival_id: str
    landed_at: str
    ref: str
    category: str | None
    distance: float
    threshold: float


@dataclass
class Received:
    file: str
    issuer: str  # the name this home trusts the issuer's key under
    device: str
    fingerprint: str
    version: int
    previous_version: int
    issued_at: str
    valid_until: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted_expired: list[dict[str, Any]] = field(default_factory=list)
    searched: int = 0  # arrivals searched again because a new or changed subject is their candidate
    compared: int = 0  # arrivals held whose faces were compared with the new and changed subjects
    alerts: list[Alert] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Subject:
    entry: watchlist.Entry
    added_at: str
    portraits: list[tuple[bytes, int, int]]
    templates: dict[str, np.ndarray]
    digest: str


def _refuse(path: Path, why: str) -> IntegrityFailure:
    return IntegrityFailure(f"{path}: {why}; nothing of the package was applied")


def _moment(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _manifest(store: Store, z: Any, path: Path, *, officer: str) -> tuple[bytes, dict[str, Any], bytes, str]:
    """The manifest checked: well formed, signed by the key it names, that key trusted here."""
    raw = sealed.member(z, path, sealed.MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw)
        sig = sealed.signature(z, path)
        signer = keys.parse_signing_key(manifest["signer"])
        well_formed = isinstance(manifest, dict) and isinstance(manifest["members"], dict)
    except (ValueError, KeyError, TypeError, RecursionError, BadInput):
        well_formed = False
    if not well_formed or manifest.get("format") != FORMAT:
        sealed.refuse_other_kind(z, path, raw, expected=FORMAT, store=store)
    if not well_formed:
        raise _refuse(path, f"{sealed.MANIFEST} or {sealed.SIGNATURE} is malformed; this is not a watchlist package")
    if manifest.get("format") != FORMAT:
        raise _refuse(path, f"format {shown(manifest.get('format'))} is not {FORMAT}")
    if not keys.verify_signature(signer, raw, sig):
        raise _refuse(
            path, f"the signature of {sealed.MANIFEST} does not verify: the package was altered after it was signed"
        )
    name = keys.signer_name(store, signer, officer=officer, role=keys.ISSUER)
    if name is None:
        laptop = keys.signer_name(store, signer, officer=officer)
        trusted_for = f" (trusted here for its batches only, as {laptop})" if laptop else ""
        raise IntegrityFailure(
            f"{path}: issued by a home this {store.called} does not trust to issue watchlists (device "
            f"{shown(manifest.get('issuer'))}, fingerprint {keys.fingerprint(signer)}){trusted_for}; nothing of "
            "the package was applied",
            hint="if that home issues this force's watchlist, check the fingerprint with it, then run "
            f"`triage keys trust NAME {keys.encode_signing_key(signer)} --issuer --home {store.home}`",
        )
    if name == keys.THIS_LAPTOP:
        raise BadInput(f"{path} was issued by this home; a home does not receive its own watchlist")
    if bool(manifest.get("training")) != store.is_training:
        raise BadInput(
            f"{path} is a TRAINING package and this is a real home: training data never enters real records"
            if manifest.get("training")
            else f"{path} is a real package and this is a TRAINING home: real records never enter training"
        )
    why = None
    version = manifest.get("version")
    if not isinstance(manifest.get("issuer"), str) or not DEVICE.fullmatch(manifest["issuer"]):
        why = f"the issuer {shown(manifest.get('issuer'))} is not a device name"
    elif not isinstance(version, int) or isinstance(version, bool) or not 1 <= version < 2**31:
        why = f"the version {shown(version)} is not a positive whole number"
    elif _moment(manifest.get("issued_at")) is None or _moment(manifest.get("valid_until")) is None:
        why = "its issue time or valid-until is not a time with its zone"
    elif bad := next((k for k in ("site", "force_code", "issued_by") if not is_line(manifest.get(k))), None):
        why = f"the {bad} {shown(manifest.get(bad))} is not a plain line of text"
    else:
        for member, expected in manifest["members"].items():
            if member not in (SUBJECTS, TOMBSTONES) and not (isinstance(member, str) and PORTRAIT.fullmatch(member)):
                why = f"the member name {shown(member)} is not one a package holds"
            elif not (
                isinstance(expected, dict)
                and isinstance(expected.get("bytes"), int)
                and not isinstance(expected["bytes"], bool)
                and 0 <= expected["bytes"] <= MAX_PACKAGE_BYTES
                and isinstance(expected.get("sha256"), str)
            ):
                why = f"the size or hash of member {shown(member)} is malformed"
            if why:
                break
        else:
            missing = sorted({SUBJECTS, TOMBSTONES} - set(manifest["members"]))
            why = f"member {missing[0]} is missing" if missing else None
    if why:
        raise _refuse(path, f"{sealed.MANIFEST}: {why}")
    return raw, manifest, signer, name


def _subject(path: Path, n: int, record: dict[str, Any], data: dict[str, bytes], issued_on: dt.date) -> _Subject:
    """One subject record checked as an enrolment would check it, its portraits decoded and its templates
    read; BadInput naming the line and what is wrong."""
    where = f"{SUBJECTS} line {n}"
    try:
        if set(record) != {*SUBJECT_FIELDS, "photos"}:
            raise BadInput("its fields are not a subject's")
        aliases = record["aliases"] or []
        if not (isinstance(aliases, list) and all(isinstance(a, str) for a in aliases)):
            raise BadInput("its aliases are not a list of names")
        if not all(
            isinstance(record[k], str) for k in ("ref", "name", "category", "reason", "authorised_by", "review_date")
        ):
            raise BadInput("a governance field is not text")
        entry = watchlist.check_entry(
            ref=record["ref"],
            name=record["name"],
            category=record["category"],
            reason=record["reason"],
            authorised_by=record["authorised_by"],
            review_date=record["review_date"],
            image_source=record["image_source"] or "not stated",
            aliases=aliases,
            dob=record["dob"] if isinstance(record["dob"], str) else None,
            today=issued_on,
            names=clean_text,  # as the issuer enrolled it, whatever its version allowed in a name
        )
        entry = replace(entry, ref=record["ref"])  # as the issuer recorded it: its removals name it so
        if not is_line(record["added_at"], 40):
            raise BadInput("its added-at is not a time")
        photos = record["photos"]
        if not isinstance(photos, list) or not 1 <= len(photos) <= 64:
            raise BadInput("it has no photos, or too many")
        portraits: list[tuple[bytes, int, int]] = []
        vectors: dict[str, list[np.ndarray]] = {}
        for k, photo in enumerate(photos):
            if not (isinstance(photo, dict) and isinstance(photo.get("portrait"), str) and photo["portrait"] in data):
                raise BadInput(f"photo {k + 1} names no portrait the package holds")
            if not PORTRAIT.fullmatch(photo["portrait"]) or not isinstance(photo.get("templates"), dict):
                raise BadInput(f"photo {k + 1} is malformed")
            body = data[photo["portrait"]]
            decoded = decode(body, photo["portrait"])
            portraits.append((body, decoded.width, decoded.height))
            for model_id, text in photo["templates"].items():
                if not (isinstance(model_id, str) and MODEL_ID.fullmatch(model_id) and isinstance(text, str)):
                    raise BadInput(f"photo {k + 1} has a malformed template")
                vector = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4").astype(np.float32)
                if not 0 < len(vector) <= MAX_TEMPLATE_DIM or not np.isfinite(vector).all():
                    raise BadInput(f"photo {k + 1}'s {model_id} template is not a face template")
                vectors.setdefault(model_id, []).append(vector)
        templates = {}
        for model_id, found in vectors.items():
            if len(found) != len(portraits) or len({len(v) for v in found}) != 1:
                raise BadInput(f"its {model_id} templates are not one per photo, all of one size")
            templates[model_id] = np.stack(found)
    except (BadInput, binascii.Error, ValueError, TypeError) as e:
        raise BadInput(f"{path}: {where}: {e}; nothing of the package was applied") from None
    digest = issued.subject_digest(
        {
            **{k: record[k] for k in SUBJECT_FIELDS},
            "photos": [
                {"portrait": hashlib.sha256(data[p["portrait"]]).hexdigest(), "templates": p["templates"]}
                for p in photos
            ],
        }
    )
    return _Subject(entry, record["added_at"], portraits, templates, digest)


def receive(store: Store, path: Path, *, officer: str) -> Received:
    """Verify a package and apply it (see the module's docstring); then search the arrivals held against
    the subjects it added or changed."""
    path = Path(path)
    store.check_tables("watchlist_packages", "trusted_keys")  # a package received, or an issuer revoked, undone
    # The version held, the issuer's role and the subjects are found through indexes: one rebuilt without the
    # newest package's row would take an older package again as newer, and undo the watchlist since.
    store.check_indexes_once("watchlist_packages", "trusted_keys", "issued_subjects", "subjects")
    clear = sealed.decrypt(store, path, officer=officer, limit=MAX_PACKAGE_BYTES, larger_than="any watchlist package")
    z = sealed.open_zip(clear, path, "a triage watchlist package")
    raw, manifest, signer_raw, name = _manifest(store, z, path, officer=officer)
    signer = keys.encode_signing_key(signer_raw)
    version: int = manifest["version"]
    before = issued.held_version(store, signer)
    if version <= before:
        raise IntegrityFailure(
            f"{path}: version {version} from {name} is not newer than version {before}, which this home holds; "
            "nothing of the package was applied",
            hint="ask the issuer for its newest package",
        )
    now = dt.datetime.now(dt.timezone.utc)
    valid_until, issued_at = _moment(manifest["valid_until"]), _moment(manifest["issued_at"])
    assert valid_until is not None and issued_at is not None
    until = valid_until.astimezone(dt.timezone.utc).isoformat(timespec="seconds")  # compared as text in SQL
    if valid_until <= now:
        raise BadInput(
            f"{path}: version {version} from {name} expired at {manifest['valid_until']}; nothing of the package was "
            "applied: ask the issuer for a current one"
        )
    data = sealed.verified_members(z, path, manifest["members"])
    subjects = [
        _subject(path, n, record, data, issued_at.date())
        for n, record in enumerate(read_lines(path, SUBJECTS, data[SUBJECTS]), 1)
    ]
    tombstoned = {r.get("ref") for r in read_lines(path, TOMBSTONES, data[TOMBSTONES]) if isinstance(r.get("ref"), str)}
    refs = [s.entry.ref for s in subjects]
    if len(set(refs)) != len(refs):
        raise BadInput(f"{path}: a subject appears twice in {SUBJECTS}; nothing of the package was applied")
    origins = issued.origins(store)
    clash = sorted(
        ref
        for (ref,) in store.db.execute("SELECT ref FROM subjects").fetchall()
        if ref in set(refs) and (ref not in origins or origins[ref]["signer"] != signer)
    )
    if clash:
        raise Conflict(
            f"{path}: {len(clash)} subject(s) of the package have refs this home already uses for its own or "
            f"another issuer's entries ({', '.join(clash[:5])}); nothing of the package was applied",
            hint="the issuer and this home must not share watchlist refs",
        )
    result = Received(
        file=str(path),
        issuer=name,
        device=manifest["issuer"],
        fingerprint=keys.fingerprint(signer_raw),
        version=version,
        previous_version=before,
        issued_at=manifest["issued_at"],
        valid_until=until,
    )
    lacking = sorted(set(matchers.models_for(store)) - set(manifest.get("model_ids") or []))
    result.warnings += [
        f"the package carries no {mid} templates, which this home's matcher uses: its subjects are not found by "
        f"it until `triage models reindex --model {mid}`"
        for mid in lacking
    ]
    why = f"watchlist package version {version} from {name}"
    active = {r[0] for r in store.db.execute("SELECT ref FROM subjects WHERE status = 'active'")}
    with store.transaction():
        for s in subjects:
            origin = origins.get(s.entry.ref)
            if origin and origin["digest"] == s.digest and s.entry.ref in active:
                result.unchanged += 1
                continue
            done = issued.land(
                store,
                s.entry,
                s.portraits,
                s.templates,
                signer=signer,
                issuer=manifest["issuer"],
                version=version,
                digest=s.digest,
                added_at=s.added_at,
                officer=officer,
                why=why,
            )
            (result.added if done == "added" else result.updated).append(s.entry.ref)
        for ref in sorted(set(origins) & active - set(refs)):
            if origins[ref]["signer"] != signer:
                continue
            issued.withdraw(
                store,
                ref,
                version=version,
                officer=officer,
                reason=f"{'removed by' if ref in tombstoned else 'no longer in'} {why}",
            )
            result.removed.append(ref)
        store.insert(
            "watchlist_packages",
            {
                "role": issued.RECEIVED,
                "signer": signer,
                "issuer": manifest["issuer"],
                "version": version,
                "issued_at": issued_at.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
                "valid_until": until,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "subjects": len(subjects),
                "removed": len(result.removed),
                "at": utcnow(),
                "officer": officer,
            },
        )
        store.audit(
            "watchlist-receive",
            officer,
            records=[f"subject:{r}" for r in [*result.added, *result.updated, *result.removed]][:500],
            reason=f"version {version} from {name} (device {manifest['issuer']}, fingerprint {result.fingerprint}), "
            f"issued {manifest['issued_at']}, valid until {until}: {len(result.added)} added, "
            f"{len(result.updated)} updated, {len(result.removed)} removed, {result.unchanged} unchanged",
        )
        result.deleted_expired = issued.delete_expired(store, officer=officer)
    changed = set(result.added) | set(result.updated)
    if changed:
        _search_held(store, changed, result, officer=officer)
    return result


def _search_held(store: Store, refs: set[str], result: Received, *, officer: str) -> None:
    """Search again, as a capture does, every arrival held that one of `refs` is a candidate for, and list
    those candidates below the threshold as alerts."""
    m = matchers.get(store.config.matcher, store.home)
    wl = {mid: watchlist.gallery(store, mid) for mid in m.model_ids}
    held = {mid: store.load_templates(mid, "arrival") for mid in m.model_ids}
    row_of = {mid: {owner: i for i, owner in enumerate(owners)} for mid, (owners, _) in held.items()}
    ids = set.intersection(*(set(rows) for rows in row_of.values())) if row_of else set()
    hits = []
    result.compared = len(ids)
    for arrival_id in sorted(ids):
        queries = {mid: held[mid][1][row_of[mid][arrival_id]] for mid in m.model_ids}
        found = m.search(wl, queries, top_k=arrivals.DEFAULT_TOP_K, threshold=m.threshold)
        if any(c.ref in refs and c.below_threshold for c in found):
            hits.append(arrival_id)
    for arrival_id in hits:
        try:
            searched = arrivals.search_again(store, arrival_id, officer=officer)
        except TriageError as e:
            result.warnings.append(f"arrival {arrival_id} was not searched again: {e}")
            continue
        result.searched += 1
        landed_at = arrivals.get(store, arrival_id)["landed_at"]
        for c in searched.candidates:
            if c.kind == "watchlist" and c.ref in refs and c.below_threshold:  # a face: it has its figures
                result.alerts.append(
                    Alert(arrival_id, landed_at, c.ref, c.category, cast(float, c.distance), cast(float, c.threshold))
                )


# -- status -----------------------------------------------------------------------------------------


@dataclass
class IssuerStatus:
    issuer: str  # the name its key is trusted under
    device: str
    fingerprint: str
    version: int
    issued_at: str
    received_at: str
    age_hours: float
    valid_until: str
    valid: bool
    subjects: int


@dataclass
class Status:
    packages: list[IssuerStatus]
    counts: dict[str, int]
    expired_days: int
    last_issued: dict[str, Any] | None
    warnings: list[str]


def status(store: Store) -> Status:
    """The newest package held from each issuer, the counts of subjects (issued, local, expired), the last
    package this home issued, and a warning for each expired package."""
    now = dt.datetime.now(dt.timezone.utc)
    store.check_indexes_once("watchlist_packages", "trusted_keys", "issued_subjects", "subjects")  # as `receive`
    names = {r["public"]: r["name"] for r in keys.listed(store)[keys.ISSUER]}
    origins = issued.origins(store)
    active = {r[0] for r in store.db.execute("SELECT ref FROM subjects WHERE status = 'active'")}
    packages = []
    for h in issued.held(store):
        at = _moment(h.issued_at)
        packages.append(
            IssuerStatus(
                issuer=names.get(h.signer, "(no longer trusted)"),
                device=h.issuer,
                fingerprint=keys.fingerprint(keys.parse_signing_key(h.signer)),
                version=h.version,
                issued_at=h.issued_at,
                received_at=h.received_at,
                age_hours=round((now - at).total_seconds() / 3600, 1) if at else 0.0,
                valid_until=h.valid_until,
                valid=not h.expired(now.isoformat(timespec="seconds")),
                subjects=sum(1 for ref, o in origins.items() if o["signer"] == h.signer and ref in active),
            )
        )
    last = issued.last_issued(store)
    return Status(
        packages=packages,
        counts=issued.counts(store),
        expired_days=issued.expired_days(store),
        last_issued={k: last[k] for k in ("version", "issued_at", "valid_until", "subjects", "removed")}
        if last
        else None,
        warnings=issued.no_valid_watchlist(store),
    )
