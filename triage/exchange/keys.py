"""This laptop's keys for daily batches, and the keys of the laptops and supervisors it deals with.

Each home has an Ed25519 signing key (the manifests of its batches are signed with it) and an age
X25519 identity (batches meant for it are encrypted to its public half). Both are made once, on first
use, and their private halves are sealed in the store under the data key, so a copied store gives
them away no more than it gives away the photos. A supervisor trusts the signing keys of the laptops
whose batches they accept, after reading the fingerprint back to the laptop's officer; a laptop keeps
the age public keys its batches are encrypted to. Formats are the reviewed ones: age (through pyrage)
and Ed25519 (from `cryptography`).

The trust lists change only here, through `triage keys`, and are read only through the store's checked
reads: a trusted laptop or recipient whose row was edited, inserted or restored behind the tool's back
fails its tag and is never used, so an export or import that would rely on the lists refuses (exit 6); the
home's unlock, which checks every table's digest, refuses it first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from triage.errors import BadInput, Conflict, NotFound
from triage.intake import biographic
from triage.store.rows import Store, utcnow

SIGNING_PREFIX = "ed25519:"
SIGNER, RECIPIENT, ISSUER = "signer", "recipient", "issuer"
THIS_LAPTOP = "this laptop"  # the signer of this home's own batches
ROLE_WORDS = {SIGNER: "trusted laptop", RECIPIENT: "batch recipient", ISSUER: "watchlist issuer"}
REMOVE_COMMAND = {SIGNER: "untrust", RECIPIENT: "recipient remove", ISSUER: "untrust --issuer"}


def fingerprint(public: bytes) -> str:
    """A short digest of a signing key to read aloud or compare by eye: 24 hex digits in groups of four."""
    digest = hashlib.sha256(public).hexdigest()[:24].upper()
    return "-".join(digest[i : i + 4] for i in range(0, 24, 4))


def encode_signing_key(public: bytes) -> str:
    return SIGNING_PREFIX + base64.b64encode(public).decode()


def parse_signing_key(text: str) -> bytes:
    """The raw 32 bytes of an `ed25519:` key as `triage keys show` prints it."""
    body = "".join((text or "").split())
    if body.startswith(SIGNING_PREFIX):
        body = body[len(SIGNING_PREFIX) :]
    try:
        raw = base64.b64decode(body, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise BadInput(
            f"{text!r} is not a signing key: copy it whole from `triage keys show` on the laptop or issuing "
            f"home it belongs to (it starts {SIGNING_PREFIX})"
        ) from None
    return raw


def parse_recipient(text: str) -> Any:
    """An age X25519 public key (age1...), as a pyrage recipient."""
    import pyrage

    try:
        return pyrage.x25519.Recipient.from_str((text or "").strip())
    except pyrage.RecipientError:
        raise BadInput(
            f"{text!r} is not an age public key: copy it whole from `triage keys show` on the "
            "receiving laptop (it starts age1)"
        ) from None


def verify_signature(public: bytes, data: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class LaptopKeys:
    """This home's two key pairs. The private halves stay in memory for the length of one command."""

    device: str
    signing: Ed25519PrivateKey
    identity: Any  # pyrage.x25519.Identity (pyrage ships no types)

    @property
    def signing_public(self) -> bytes:
        return self.signing.public_key().public_bytes_raw()

    @property
    def recipient(self) -> str:
        return str(self.identity.to_public())

    def sign(self, data: bytes) -> bytes:
        return self.signing.sign(data)

    def public_view(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "signing_key": encode_signing_key(self.signing_public),
            "fingerprint": fingerprint(self.signing_public),
            "age_recipient": self.recipient,
        }


def own(store: Store, *, officer: str) -> LaptopKeys:
    """This home's keys, made and sealed in the store (with an audit event) the first time they are needed."""
    import pyrage

    rows = {r["name"]: r for r in store.rows("laptop_keys")}
    if {"signing", "age"} <= set(rows):
        return LaptopKeys(
            store.config.device,
            Ed25519PrivateKey.from_private_bytes(bytes.fromhex(rows["signing"]["private"])),
            pyrage.x25519.Identity.from_str(rows["age"]["private"]),
        )
    signing, identity = Ed25519PrivateKey.generate(), pyrage.x25519.Identity.generate()
    keys = LaptopKeys(store.config.device, signing, identity)
    with store.transaction():
        now = utcnow()
        store.insert(
            "laptop_keys",
            {"name": "signing", "public": encode_signing_key(keys.signing_public), "created_at": now},
            {"private": signing.private_bytes_raw().hex()},
        )
        store.insert(
            "laptop_keys", {"name": "age", "public": keys.recipient, "created_at": now}, {"private": str(identity)}
        )
        store.audit(
            "keys-generate",
            officer,
            records=["laptop_keys:signing", "laptop_keys:age"],
            reason=f"signing key {fingerprint(keys.signing_public)}, age recipient {keys.recipient}",
        )
    return keys


def _check_name(name: str) -> str:
    name = biographic.clean_text(name or "", "NAME", 80)
    if not name:
        raise BadInput("NAME is required: say whose key it is, e.g. 'Laptop 2 Dover' or 'DS 4411 Clarke'")
    return name


def _role(store: Store, role: str) -> list[dict[str, Any]]:
    """The entries of one list, oldest first, each row's tag checked (IntegrityFailure naming a failing row)."""
    return store.rows("trusted_keys", "role = ?", [role], order_by="id")


def _add(store: Store, role: str, name: str, public: str, *, officer: str, note: str) -> dict[str, Any]:
    name = _check_name(name)
    store.check_tables("trusted_keys")
    entries = _role(store, role)
    for column in ("name", "public"):
        value = name if column == "name" else public
        found = next((r for r in entries if r[column] == value), None)
        if found:
            raise Conflict(
                f"that {'name' if column == 'name' else 'key'} is already a {ROLE_WORDS[role]} "
                f"({found['name']}); take it off first to replace it "
                f"(`triage keys {REMOVE_COMMAND[role]} {found['name']!r}`)"
            )
    row = {"role": role, "name": name, "public": public, "added_at": utcnow(), "officer": officer}
    with store.transaction():
        store.insert("trusted_keys", row)
        store.audit(f"keys-{role}-add", officer, records=[f"{role}:{name}"], reason=note)
    return row


def trust(store: Store, name: str, public: str, *, officer: str, role: str = SIGNER) -> dict[str, Any]:
    """Accept batches (role SIGNER) or watchlist packages (role ISSUER) signed by this key from now on."""
    raw = parse_signing_key(public)
    if raw == own(store, officer=officer).signing_public:
        raise BadInput(
            "that is this laptop's own signing key; its own "
            + ("watchlist is never received here" if role == ISSUER else "batches need no trust")
        )
    row = _add(store, role, name, encode_signing_key(raw), officer=officer, note=f"fingerprint {fingerprint(raw)}")
    other = ISSUER if role == SIGNER else SIGNER  # a supervisor may both send batches and issue the watchlist
    also = next((r["name"] for r in _role(store, other) if r["public"] == row["public"]), None)
    return dict(row, fingerprint=fingerprint(raw), also=[other, also] if also else None)


def add_recipient(store: Store, name: str, public: str, *, officer: str) -> dict[str, Any]:
    """Encrypt this laptop's batches to this age public key (as well as to any others listed)."""
    recipient = str(parse_recipient(public))
    return _add(store, RECIPIENT, name, recipient, officer=officer, note=recipient)


def remove(store: Store, role: str, name: str, *, officer: str) -> str:
    """Take an entry off a list (audited); the name as the list holds it. A name typed in another case names
    the entry when only one entry has it so (`laptop 2 dover` for `Laptop 2 Dover`)."""
    row = store.db.execute("SELECT id FROM trusted_keys WHERE role = ? AND name = ?", [role, name]).fetchone()
    if not row:
        alike = store.db.execute(
            "SELECT id, name FROM trusted_keys WHERE role = ? AND lower(name) = lower(?)", [role, name]
        ).fetchall()
        if len(alike) == 1:
            row, name = alike[0], str(alike[0][1])
    if not row:
        other = store.db.execute(
            "SELECT role FROM trusted_keys WHERE role IN (?, ?) AND name = ?", [SIGNER, ISSUER, name]
        ).fetchone()
        hint = f" ({name!r} is a {ROLE_WORDS[other[0]]}: `triage keys {REMOVE_COMMAND[other[0]]}`)" if other else ""
        raise NotFound(f"no {ROLE_WORDS[role]} named {name!r}{hint}; see `triage keys list`")
    with store.transaction():
        store.db.execute("DELETE FROM trusted_keys WHERE id = ?", [row[0]])
        store.audit(f"keys-{role}-remove", officer, records=[f"{role}:{name}"])
    return name


def listed(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Trusted laptops and watchlist issuers (with fingerprints) and batch recipients, in the order they were
    added."""
    out: dict[str, list[dict[str, Any]]] = {SIGNER: [], ISSUER: [], RECIPIENT: []}
    store.check_tables("trusted_keys")  # a key taken off the list and put back from an older copy is refused
    for r in store.rows("trusted_keys", order_by="id"):
        item = {k: r[k] for k in ("name", "public", "added_at", "officer")}
        if r["role"] in (SIGNER, ISSUER):
            item["fingerprint"] = fingerprint(parse_signing_key(r["public"]))
        out[r["role"]].append(item)
    return out


def recipients(store: Store) -> list[str]:
    """The age public keys this laptop's batches are encrypted to, every entry checked."""
    return [r["public"] for r in _role(store, RECIPIENT)]


def signer_name(store: Store, public: bytes, *, officer: str, role: str = SIGNER) -> str | None:
    """Who a signing key belongs to: this laptop, the name it is trusted under in `role` (a laptop whose
    batches, or an issuer whose watchlists, this home accepts), or None. Every entry of the list is checked,
    so a list altered anywhere accepts nothing until it is put right."""
    entries = _role(store, role)
    if public == own(store, officer=officer).signing_public:
        return THIS_LAPTOP
    encoded = encode_signing_key(public)
    name: str | None = next((r["name"] for r in entries if r["public"] == encoded), None)
    return name
