"""How strong a passphrase must be before the store wraps its data key under it.

A copied store can be attacked offline, one guess per key derivation, for as long as the attacker likes:
the passphrase is the only secret. So every passphrase a data key is wrapped under (at `init`, at a
change, for a supervisor's recovery copy, at a rotation) must be one that a password cracker's
dictionaries and rules do not reach: zxcvbn's estimate, with the home's own site, force, device and
officer counted as known words. Opening a home is never refused for its passphrase's strength, so a
home whose passphrase was set before this check still opens.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from triage.errors import BadInput
from triage.store.config import Config

MIN_LENGTH = 8
# zxcvbn's scale: 0 too guessable, 1 very guessable, 2 somewhat guessable, 3 safely unguessable
# (about 10^10 guesses), 4 very unguessable.
MIN_SCORE = 3
SCORED_CHARS = 72  # zxcvbn's own bound on what it scores (its matching grows fast with length)
ADVICE = "choose four or more uncommon words, or a sentence only you would say"


def check_strength(passphrase: str, *, what: str = "passphrase", known: Iterable[str] = ()) -> None:
    """Raise BadInput, saying why and what to do, unless `passphrase` is long and hard enough to guess.
    `what` names it in the message ("new passphrase", "recovery passphrase"); `known` are words an
    attacker would try first (the home's site, officer, device)."""
    if len(passphrase) < MIN_LENGTH:
        raise BadInput(f"the {what} is too short: use at least {MIN_LENGTH} characters")
    from zxcvbn import zxcvbn  # imported here: only commands that set a passphrase pay for its word lists

    text = unicodedata.normalize("NFC", passphrase)[:SCORED_CHARS]
    words = ["triage"]
    for phrase in known:
        words += [phrase, *phrase.split()] if phrase else []
    result = zxcvbn(text, user_inputs=words)
    if int(result["score"]) >= MIN_SCORE:
        rest = _without(text, words)
        if rest == text or int(zxcvbn(rest or "-", user_inputs=words)["score"]) >= MIN_SCORE:
            return
        raise BadInput(
            f"the {what} is too easy to guess (it is mostly the home's own site, officer or force, which an "
            f"attacker tries first, with digits and separators around them): {ADVICE}"
        )
    feedback = result.get("feedback") or {}
    said = [str(feedback.get("warning") or ""), *(str(s) for s in feedback.get("suggestions") or [])]
    why = next((s.rstrip(".") for s in said if s), "it would be guessed quickly")
    raise BadInput(f"the {what} is too easy to guess ({_lower_first(why)}): {ADVICE}")


def _without(text: str, words: Iterable[str]) -> str:
    """`text` with the known words taken out, whatever their case, longest first: what is left is all an
    attacker who knows the home has to guess (zxcvbn counts a known word as one cheap guess but can still score
    a name spelt with separators and digits as strong). A word of four or more characters goes wherever it
    stands; a shorter one (PC, Ng) only where it starts or ends a word, not from inside another word."""
    parts = {p for w in words for p in (w, *re.split(r"[\W_]+", w)) if len(p) >= 2}
    for part in sorted(parts, key=len, reverse=True):
        found = re.escape(part)
        if len(part) < 4:  # not a letter on at least one side
            found = rf"(?<![^\W\d_]){found}|{found}(?![^\W\d_])"
        text = re.sub(found, "", text, flags=re.IGNORECASE)
    return text


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def home_words(config: Config) -> list[str]:
    """What an attacker who knows the home would try first: its site, officer, force and device."""
    return [config.site, config.officer, config.force_code, config.device]
