"""References typed at a landing site or carried in a batch: vessel references, site names, force codes,
arrival ids and device ids.

These are stored in clear, shown in every table and grouped on, so each is held to a short length and a
set of characters that can neither act on a terminal nor disguise how it reads. Each parser returns the
value normalised (NFC, outer spaces removed) or raises `BadInput` saying what is allowed; the same
parsers check what a user types and what another laptop's batch carries.
"""

from __future__ import annotations

import re
import unicodedata

from triage.errors import BadInput

VESSEL_MAX = 40
SITE_MAX = 80
FORCE_CODE_MAX = 10

# Letters and their marks in any script, digits, punctuation and symbols; of the spaces, only ' '.
_TEXT_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No"})
_TEXT_CATEGORIES |= frozenset({"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"})
_FORCE_CODE = re.compile(r"[A-Za-z0-9-]{1,10}")
ARRIVAL_ID = re.compile(r"A-[0-9ABCDEFGHJKMNPQRSTVWXYZ]{6}")  # Crockford base32, as arrivals are numbered
DEVICE_ID = re.compile(r"[0-9A-F]{6}")


def _shown(text: str) -> str:
    """The input quoted for a message: escapes for anything unprintable, cut short to stay on one line."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _text_ref(text: str, field: str, what: str, max_len: int, example: str) -> str:
    allowed = f"{what} is up to {max_len} letters, digits, spaces and punctuation, e.g. {example}"
    s = unicodedata.normalize("NFC", text).strip()
    if not s:
        raise BadInput(f"{field}: empty; {allowed}")
    if s.startswith("--"):  # `--vessel --photo x.jpg`: the option after it was taken as its value
        raise BadInput(f"{field}: {_shown(text)} is an option, not {what}; give {field} its value, e.g. {example}")
    if len(s) > max_len:
        raise BadInput(f"{field}: {len(s):,} characters is too long; {allowed}")
    for ch in s:
        if ch != " " and unicodedata.category(ch) not in _TEXT_CATEGORIES:
            raise BadInput(f"{field}: {_shown(text)} contains U+{ord(ch):04X}, which is not allowed; {allowed}")
    return s


def parse_vessel(text: str, field: str = "--vessel") -> str:
    """A vessel reference as Border Force or the site writes it, e.g. SB-0417, in capitals: `sb-0417` typed on one
    laptop and `SB-0417` on another are one boat (a reference recorded before in small letters is found by either:
    `same_vessel`)."""
    return _text_ref(text, field, "a vessel reference", VESSEL_MAX, "SB-0417").upper()


def vessel_key(vessel: str | None) -> str | None:
    """A recorded vessel reference as one boat's key, however its letters were cased when it was recorded."""
    return vessel.upper() if vessel else None


def same_vessel(one: str | None, two: str | None) -> bool:
    """Whether two recorded vessel references name one boat, however their letters were cased."""
    return bool(one and two and vessel_key(one) == vessel_key(two))


def parse_site(text: str, field: str = "--site") -> str:
    """The name of a landing site, e.g. Dover Western Docks."""
    return _text_ref(text, field, "a site name", SITE_MAX, "'Dover Western Docks'")


def parse_force_code(text: str, field: str = "--force-code") -> str:
    """The owning force's code, e.g. KNT."""
    s = text.strip()
    if not _FORCE_CODE.fullmatch(s):
        raise BadInput(
            f"{field}: {_shown(text)} is not a force code; use 1-{FORCE_CODE_MAX} letters, digits or '-', e.g. KNT"
        )
    return s


def typed_arrival_id(text: str) -> str:
    """An arrival id an officer typed, to look it up: in capitals when it is one in any case (`a-7k3f9q`, or a hub's
    key `3fa29c:a-7k3f9q`); anything else as typed, so that it is not found and is named as it was typed."""
    device, colon, local = text.strip().upper().rpartition(":")
    if ARRIVAL_ID.fullmatch(local) and (not colon or DEVICE_ID.fullmatch(device)):
        return device + colon + local
    return text


def parse_device(text: str, field: str = "device") -> str:
    """A laptop's device id: six upper-case hexadecimal digits, e.g. 3FA29C."""
    if not DEVICE_ID.fullmatch(text):
        raise BadInput(f"{field}: {_shown(text)} is not a device id; a device id is six of 0-9 and A-F")
    return text
