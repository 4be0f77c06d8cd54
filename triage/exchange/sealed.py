"""Signed, encrypted zip files: what a day's batch and a watchlist package are made of.

Inside, once decrypted, is a zip that any tool opens: `manifest.json`, which names the SHA-256 and size
of every other member, and `manifest.sig`, the sender's Ed25519 signature of it. The zip is built and
encrypted with age in memory, so no clear copy ever touches the disk. On the way in the file is
decrypted with this home's identity and every member is checked against the signed manifest, so a
member altered, added or cut short is refused, with the file named and what failed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shlex
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from triage.errors import BadInput, IntegrityFailure
from triage.exchange import keys
from triage.store.rows import Store

MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
# How every age-encrypted file begins (binary, or armored as text): anything else was never sealed here.
AGE_HEADERS = (b"age-encryption.org/", b"-----BEGIN AGE ENCRYPTED FILE-----")
NOT_SEALED = "not a triage batch (or watchlist package) file"
# Each kind of sealed file by its format's family: what it is, and the command that takes it.
KINDS = {
    "triage-batch": ("a day's batch", "import it with", "triage import"),
    "triage-watchlist": ("a watchlist package", "receive it with", "triage watchlist receive"),
}
KIND_FORMAT = re.compile(r"(triage-batch|triage-watchlist)/[0-9]{1,6}")


def member_digests(members: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """What the manifest says of each member: its SHA-256 and size."""
    return {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in members.items()}


def seal(manifest: dict[str, Any], members: dict[str, bytes], signer: keys.LaptopKeys, recipients: list[Any]) -> bytes:
    """The zip of `manifest` (which names `members`), its signature and the members, encrypted with age to
    `recipients` (parsed age public keys). Photos are stored as they are; everything else is deflated."""
    import pyrage

    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    signature = {"algorithm": "ed25519", "signature": base64.b64encode(signer.sign(manifest_bytes)).decode()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(MANIFEST, manifest_bytes, zipfile.ZIP_DEFLATED)
        z.writestr(SIGNATURE, json.dumps(signature, indent=2), zipfile.ZIP_DEFLATED)
        for name, data in members.items():
            z.writestr(name, data, zipfile.ZIP_STORED if name.endswith(".jpg") else zipfile.ZIP_DEFLATED)
    sealed: bytes = pyrage.encrypt(buf.getvalue(), recipients)
    return sealed


def decrypt(store: Store, path: Path, *, officer: str, limit: int, larger_than: str) -> bytes:
    """The file decrypted with this home's age identity; `larger_than` words the size refusal ("any day's
    batch"), and the refusals call the store as it is called (`Store.called`). A file that is not
    age-encrypted at all (a wrong file handed over) is bad input; one that is but cannot be decrypted is an
    integrity failure."""
    import pyrage

    if not path.is_file():  # a folder named is told as one: "no such file" sent the officer looking for a lost copy
        raise BadInput(f"{path}: a folder; give the file in it" if path.is_dir() else f"{path}: no such file")
    if path.stat().st_size > limit:
        raise BadInput(f"{path}: {path.stat().st_size:,} bytes is larger than {larger_than} ({limit:,})")
    data = path.read_bytes()
    if not data:  # a copy that never finished (a card pulled out), not some other kind of file
        raise BadInput(f"{path}: the file is empty: copy it again from where it was exported")
    if not data.startswith(AGE_HEADERS):
        raise BadInput(f"{path}: {NOT_SEALED}")
    laptop = keys.own(store, officer=officer)
    try:
        clear: bytes = pyrage.decrypt(data, [laptop.identity])
        return clear
    except pyrage.DecryptError as e:
        if "no matching keys" in str(e).lower():
            raise IntegrityFailure(
                f"{path}: not encrypted to this {store.called}, so it cannot be read here",
                hint=f"the sender adds this {store.called}'s key with `triage keys recipient add NAME {laptop.recipient}`",
            ) from None
        raise IntegrityFailure(
            f"{path}: decryption failed: the file was damaged or altered after it was encrypted; ask for it again"
        ) from None


def open_zip(clear: bytes, path: Path, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(clear))
    except zipfile.BadZipFile:
        raise IntegrityFailure(f"{path}: decrypted, but what is inside is not {what}") from None


def member(z: zipfile.ZipFile, path: Path, name: str, limit: int) -> bytes:
    """One member, refused when missing, larger than `limit` or unreadable."""
    try:
        info = z.getinfo(name)
    except KeyError:
        raise IntegrityFailure(f"{path}: member {name} is missing") from None
    if info.file_size > limit:
        raise IntegrityFailure(f"{path}: member {name} is {info.file_size:,} bytes, more than the {limit:,} expected")
    try:
        return z.read(name)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise IntegrityFailure(f"{path}: member {name} cannot be read ({e})") from None


def signature(z: zipfile.ZipFile, path: Path) -> bytes:
    """The raw signature in `manifest.sig` (ValueError, KeyError or TypeError when malformed)."""
    raw: bytes = base64.b64decode(json.loads(member(z, path, SIGNATURE, 4096))["signature"], validate=True)
    return raw


def refuse_other_kind(z: zipfile.ZipFile, path: Path, raw: bytes, *, expected: str, store: Store) -> None:
    """Refuse as bad input a file that is whole and signed but of another kind than the format `expected` (a
    watchlist package given to an import, a batch given to `watchlist receive`), saying what it is and the
    command that takes it. Anything else passes: a file that is not whole is refused as damage by its reader.
    The signature is checked against the key the manifest names, trusted or not: it shows the file intact,
    and nothing of it is used."""
    try:
        manifest = json.loads(raw)
        kind = KIND_FORMAT.fullmatch(manifest["format"])
        signer = keys.parse_signing_key(manifest["signer"])
        intact = kind is not None and keys.verify_signature(signer, raw, signature(z, path))
    except (ValueError, KeyError, TypeError, RecursionError, BadInput, IntegrityFailure):
        return
    wanted = expected.split("/")[0]
    if not intact or kind is None or kind.group(1) == wanted or wanted not in KINDS:
        return
    what, verb, command = KINDS[kind.group(1)]
    home = f" --home {shlex.quote(str(store.home))}" if store.called == "hub" else ""
    at_hub = (  # a hub's key home looks like any home: a batch meant for the hub goes to its database
        f" (at a regional hub: `triage hub import {shlex.quote(str(path))}`)" if kind.group(1) == "triage-batch" else ""
    )
    raise BadInput(
        f"{path}: this is {what} ({kind.group(0)}), not {KINDS[wanted][0]}: "
        f"{verb} `{command} {shlex.quote(str(path))}{home}`{at_hub}"
    )


def verified_members(
    z: zipfile.ZipFile,
    path: Path,
    listed: dict[str, dict[str, Any]],
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, bytes]:
    """Every member the signed manifest lists, each matching its size and SHA-256; a member it does not
    list is refused."""
    extra = sorted(set(z.namelist()) - set(listed) - {MANIFEST, SIGNATURE})
    if extra:
        raise IntegrityFailure(f"{path}: member {extra[0]} is not in the signed manifest")
    data: dict[str, bytes] = {}
    for i, (name, expected) in enumerate(sorted(listed.items()), 1):
        body = member(z, path, name, int(expected["bytes"]))
        if len(body) != expected["bytes"] or hashlib.sha256(body).hexdigest() != expected["sha256"]:
            raise IntegrityFailure(
                f"{path}: member {name} does not match its SHA-256 in the signed manifest: it was altered or damaged"
            )
        data[name] = body
        if progress:
            progress(f"verifying {path.name}", i, len(listed))
    return data
