"""Key derivation and envelope encryption for everything personal the store holds.

One random 256-bit data key encrypts photos, portraits, templates and personal details with AES-GCM.
The data key is stored only wrapped: by a key derived from the officer's passphrase with scrypt (its
parameters are stored beside the wrapped key, so they can be raised later), and optionally by a
supervisor's recovery passphrase. Changing a passphrase re-wraps the data key; the data is untouched
(replacing the data key itself seals everything again: rotate.py).
Equality search uses keyed hashes (HMAC-SHA256 under a sub-key of the data key), so a copied store
gives away neither the values nor a dictionary attack on them without the passphrase.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import unicodedata
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from triage.errors import IntegrityFailure, WrongPassphrase

NONCE_BYTES = 12
TAG_BYTES = 16  # AES-GCM's authentication tag
# scrypt cost: 32 MiB of memory (128 * n * r bytes) per unlock; stored per wrap so it can be raised later.
DEFAULT_KDF = {"name": "scrypt", "n": 2**15, "r": 8, "p": 1}
MAX_KDF = {"n": 2**20, "r": 32, "p": 4}  # beyond any parameters triage writes; more would only slow every unlock


def derive_kek(passphrase: str, salt: bytes, params: dict[str, Any]) -> bytes:
    """The key-encryption key for `passphrase` under stored KDF `params`."""
    if params.get("name") != "scrypt":
        raise IntegrityFailure(f"unknown key derivation {params.get('name')!r} in this home's keyring")
    n, r, p = (params.get(k) for k in ("n", "r", "p"))
    bounded = all(type(v) is int and 1 <= v <= MAX_KDF[k] for k, v in (("n", n), ("r", r), ("p", p)))
    if not bounded:  # larger ones would only make every unlock slower: a denial of service
        raise IntegrityFailure(
            f"key derivation parameters {params!r} in this home's keyring are not ones triage writes"
        )
    kdf = Scrypt(salt=salt, length=32, n=int(params["n"]), r=int(params["r"]), p=int(params["p"]))
    return kdf.derive(unicodedata.normalize("NFC", passphrase).encode())


@dataclass(frozen=True)
class WrappedKey:
    """The data key encrypted under a passphrase-derived key, with what is needed to unwrap it."""

    salt: bytes
    kdf: dict[str, Any]
    blob: bytes

    def to_json(self) -> str:
        return json.dumps({"salt": self.salt.hex(), "kdf": self.kdf, "blob": self.blob.hex()})

    @classmethod
    def from_json(cls, text: str) -> WrappedKey:
        d = json.loads(text)
        return cls(bytes.fromhex(d["salt"]), d["kdf"], bytes.fromhex(d["blob"]))


def wrap_key(data_key: bytes, passphrase: str, kdf: dict[str, Any] | None = None) -> WrappedKey:
    params = dict(kdf or DEFAULT_KDF)
    salt = os.urandom(16)
    kek = derive_kek(passphrase, salt, params)
    nonce = os.urandom(NONCE_BYTES)
    return WrappedKey(salt, params, nonce + AESGCM(kek).encrypt(nonce, data_key, b"triage-data-key"))


def unwrap_key(wrapped: WrappedKey, passphrase: str) -> bytes:
    kek = derive_kek(passphrase, wrapped.salt, wrapped.kdf)
    try:
        return AESGCM(kek).decrypt(wrapped.blob[:NONCE_BYTES], wrapped.blob[NONCE_BYTES:], b"triage-data-key")
    except InvalidTag:
        raise WrongPassphrase(
            "wrong passphrase for this home", hint="set TRIAGE_PASSPHRASE or type the passphrase set at `triage init`"
        ) from None


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def derive_tag_key(data_key: bytes) -> bytes:
    """The key of the rows' authentication tags (tags.py): a sub-key, so a tag gives nothing about the
    data key or the blind-index key."""
    return hmac.new(data_key, b"triage row tags v1", hashlib.sha256).digest()


class Vault:
    """Seals and opens bytes under the data key; `aad` binds a ciphertext to the row it belongs to."""

    def __init__(self, data_key: bytes):
        self._aead = AESGCM(data_key)
        self._blind_key = hmac.new(data_key, b"triage blind index v1", hashlib.sha256).digest()

    def seal(self, plaintext: bytes | memoryview, aad: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad.encode())

    def open(self, blob: bytes, aad: str) -> bytes:
        try:
            view = memoryview(blob)  # slicing the blob itself would copy it
            return self._aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], aad.encode())
        except (InvalidTag, ValueError, TypeError):  # altered, cut short, or not bytes at all
            raise IntegrityFailure(f"encrypted record {aad} failed authentication: the store was altered") from None

    def open_into(self, blob: bytes, aad: str, out: memoryview) -> memoryview:
        """Decrypt into the start of `out` and return that part of it. Template blocks and index parts are
        opened this way: they are large and many, and a fresh buffer for each costs more in page faults
        than the decryption itself."""
        try:
            view = memoryview(blob)
            plain = out[: max(len(view) - NONCE_BYTES - TAG_BYTES, 0)]
            self._aead.decrypt_into(view[:NONCE_BYTES], view[NONCE_BYTES:], aad.encode(), plain)
        except (InvalidTag, ValueError, TypeError):  # altered, cut short, or not bytes at all
            raise IntegrityFailure(f"encrypted record {aad} failed authentication: the store was altered") from None
        return plain

    def seal_json(self, value: object, aad: str) -> bytes:
        return self.seal(json.dumps(value, ensure_ascii=False, sort_keys=True).encode(), aad)

    def open_json(self, blob: bytes, aad: str) -> Any:
        return json.loads(self.open(blob, aad))

    def blind(self, kind: str, value: str) -> str:
        """A keyed hash of a normalised value, for equality search without storing the value."""
        norm = unicodedata.normalize("NFKC", value).casefold().strip()
        return hmac.new(self._blind_key, f"{kind}\x00{norm}".encode(), hashlib.sha256).hexdigest()[:32]
