"""Name forms worth searching for one person, ranked, and keys that find a person by any spelling.

A name is split into its parts (`name_tokens`: an article stays with its name, Abd and Abu with the name
that follows). Each part is looked up in the names lexicon (`triage.intake.lexicon`) as written, then
without its article, as an Abd compound, or as a base name with a family suffix (-i, -zai, -pour...).
A part the lexicon knows gives its romanisations, the usual first; one it does not know is romanised by
rule (long vowels written, the short vowel a script leaves out supplied, ta marbuta, doubled consonants,
articles, particles and compounds, the Persian ezafe, Ethiopic vowel orders), and its bare consonant
skeleton comes last of all. Every variant says why it is
there. `ranked_variants` always puts the name as given first, then the document's form when there is one.

`part_keys` gives the identity of one part: the lexicon entry ("L:hasan") when the lexicon knows it, so
al-Hasan, HASSAN and حسن meet while Husayn and Hasan stay apart; otherwise a phonetic key ("P:...") over
its Latin form.
"""

from __future__ import annotations

import heapq
import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from anyascii import anyascii

from triage.errors import BadInput
from triage.intake import lexicon
from triage.intake.biographic import latin, name_text
from triage.intake.lexicon import arabic_key, is_ethiopic, latin_key, script_of, sorani_key
from triage.intake.mrz import arabic_from_mrz

# Raised whenever a rule below changes which identity key a name gets (`part_keys`): homes store keys made
# from them (blinded) and make them again when this or the lexicon changes.
RULES_VERSION = 2

__all__ = [
    "NameVariants",
    "Variant",
    "latin",
    "latin_part_variants",
    "latin_variants",
    "name_tokens",
    "part_keys",
    "part_variants",
    "ranked_variants",
    "usual",
    "variants_of",
]

LIMIT = 12  # variants kept per name: beyond this they are rarely worth a search


@dataclass(frozen=True)
class Variant:
    """One way the name may be written, and why it is there: "as given", "document", "lexicon",
    "rule: <which>" or "skeleton"."""

    text: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "reason": self.reason}


# -- splitting a name into parts -------------------------------------------------------------------

_ARTICLES = frozenset({"AL", "EL", "UL", "OL", "IL", "AS", "ES", "AR", "ER", "AZ", "AD", "ASH", "AT", "AN", "ET"})
_LONE_ARTICLES = frozenset({"AL", "EL", "UL"})  # standing alone; the others only with a hyphen (as-Sayyid)
# Abd written apart from the name it belongs to (Abdi, Abdu and Abdo stand alone as names too).
_ABD = frozenset({"ABD", "ABDUL", "ABDEL", "ABDAL", "ABDOL", "ABDOUL", "ABDUR", "ABDER"})
_JOINS_NEXT = frozenset({"ABU", "ABOU", "ABO", "BIN", "BEN", "IBN", "BINT", "BINTI", "OULD", "WALD"})
_JOINS_PREVIOUS = frozenset({"DIN", "DEEN", "DINE", "UDDIN", "UDDEEN", "EDDINE", "ALDIN", "ULLAH", "ALLAH", "OLLAH"})
_AR_ARTICLE = "ال"
_AR_JOINS_NEXT = frozenset({"عبد", "ابو", "أبو", "بن", "ابن", "بنت", "عەبد", "عەبدو"})
_AR_JOINS_PREVIOUS = frozenset({"الدين", "الله", "ەدین", "ئەدین", "اللە"})


def _word_class(word: str) -> str:
    """What one whitespace-separated word is to its neighbours: "article", "joins-next" (Abd, Abu, bin),
    "joins-previous" (al-Din, Allah) or "" (a name)."""
    if script_of(word) == "arabic":
        key = arabic_key(word)
        if key in ("ال", "اَل"):
            return "article"
        if word in _AR_JOINS_NEXT or key in {arabic_key(w) for w in _AR_JOINS_NEXT}:
            return "joins-next"
        if key in {arabic_key(w) for w in _AR_JOINS_PREVIOUS}:
            return "joins-previous"
        return ""
    plain = latin_key(word)
    parts = [latin_key(p) for p in re.split(r"[-']", word) if p]
    if plain in _LONE_ARTICLES or (plain in _ARTICLES and word.endswith(("-", "'"))):
        return "article"
    if plain in _ABD or plain in _JOINS_NEXT:
        return "joins-next"
    if plain in _JOINS_PREVIOUS or (len(parts) == 2 and parts[0] in _ARTICLES and parts[1] in _JOINS_PREVIOUS):
        return "joins-previous"
    return ""


def name_tokens(text: str) -> list[str]:
    """The parts of a full name: "Muhammad al Hassan" -> ["Muhammad", "al Hassan"]; "Abdul Rahman Ali"
    -> ["Abdul Rahman", "Ali"]; "Nur al-Din" -> ["Nur al-Din"]."""
    return list(_tokens(text or ""))


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    """`name_tokens`, kept for the process: every view of a candidate compares the names of both records."""
    words = [w for w in re.split(r"[\s,]+", unicodedata.normalize("NFC", text or "")) if w and w.strip("-'")]
    out: list[str] = []
    pending: list[str] = []  # articles, Abd and Abu waiting for the name they belong to
    for word in words:
        kind = _word_class(word)
        if kind == "joins-previous" and out and not pending:
            out[-1] = f"{out[-1]} {word}"
            continue
        pending.append(word)
        if kind in ("article", "joins-next"):
            continue
        out.append(" ".join(pending))
        pending = []
    if pending:
        out.append(" ".join(pending))
    return tuple(out)


# -- identity keys ---------------------------------------------------------------------------------

_LATIN_ABD = ("ABDOUL", "ABDUL", "ABDEL", "ABDAL", "ABDOL", "ABDUR", "ABDER", "ABDAR", "ABDUS", "ABDES",
              "ABDUSH", "ABDUZ", "ABDUN", "ABDUD", "ABDUT", "ABDU", "ABDO", "ABDE", "ABDA", "ABDI", "ABD", "CABDI",
              "CABDUL", "CABD", "EBDUL", "EBD")  # fmt: skip
_LATIN_ARTICLE = re.compile(r"^(?:AL|EL|UL|OL|IL|AS|ES|AR|ER|AZ|AD|ASH|AT|AN|ET)[\s'-]+(?=\w)", re.IGNORECASE)
_LATIN_JOINED_ARTICLE = ("AL", "EL")
# Family-name suffixes: their Latin spellings, longest first, and the suffix id the lexicon uses.
_LATIN_SUFFIXES = (
    ("ZADEH", "zadeh"), ("ZADAH", "zadeh"), ("ZADA", "zadeh"), ("ZADE", "zadeh"),
    ("POUR", "pour"), ("POOR", "pour"), ("PUR", "pour"),
    ("KHEL", "khel"), ("KHAIL", "khel"), ("KHIL", "khel"),
    ("ZAI", "zai"), ("ZAY", "zai"), ("ZOI", "zai"), ("ZOY", "zai"),
    ("YAR", "yar"), ("NIA", "nia"), ("FAR", "far"),
    ("AEI", "i"), ("EI", "i"), ("IE", "i"), ("YI", "i"), ("EE", "i"), ("II", "i"), ("I", "i"), ("Y", "i"),
)  # fmt: skip
_ARABIC_SUFFIXES = (("زاده", "zadeh"), ("پور", "pour"), ("خیل", "khel"), ("خيل", "khel"), ("زی", "zai"),
                    ("زي", "zai"), ("یار", "yar"), ("يار", "yar"), ("نیا", "nia"), ("نيا", "nia"),
                    ("فر", "far"), ("يي", "i"), ("ئي", "i"), ("ي", "i"))  # fmt: skip


def _arabic_ids(word: str) -> tuple[str, ...]:
    lex = lexicon.load()
    return lex.find("A:" + arabic_key(word)) or lex.find("A:" + sorani_key(word))


def _find(word: str) -> tuple[str, ...]:
    """Entry ids for a word written in one piece (no article or Abd to take off)."""
    kind = script_of(word)
    if kind == "arabic":
        return _arabic_ids(word)
    if kind == "ethiopic":
        return lexicon.load().find("E:" + lexicon.ethiopic_key(word))
    return lexicon.load().find(latin_key(word))


@dataclass(frozen=True)
class Reading:
    """What the lexicon makes of one name part: the entries it names, and what was taken off to find
    them (an article, Abd, a family suffix)."""

    ids: tuple[str, ...] = ()
    article: bool = False
    abd: bool = False
    suffix: str = ""  # a suffix id from lexicon.SUFFIXES when the entry was found under its base
    particle: str = ""  # "abu", "bin" or "bint" when the part is that particle and a name (Abu Ali)


def _read_arabic(word: str) -> Reading:
    key = arabic_key(word)
    if ids := _arabic_ids(key):
        return Reading(ids)
    article = key.startswith(_AR_ARTICLE) and len(key) > 3
    bare = key[2:] if article else key
    if article and (ids := _arabic_ids(bare)):
        return Reading(ids, article=True)
    if bare.startswith("عبد") and len(bare) > 4:
        rest = bare[3:]
        rest = rest[2:] if rest.startswith(_AR_ARTICLE) and len(rest) > 3 else rest
        if ids := _arabic_ids(rest):
            found = tuple(f"abd-{i}" for i in ids)
            return Reading(found, article=article, abd=True)
    for ending, suffix in _ARABIC_SUFFIXES:
        if bare.endswith(ending) and len(bare) - len(ending) >= 2:
            base = bare[: -len(ending)]
            ids = _arabic_ids(base) or (_arabic_ids(base[2:]) if base.startswith(_AR_ARTICLE) else ())
            if ids:
                return Reading(ids, article=article, suffix=suffix)
    return Reading(article=article)


def _read_latin(word: str) -> Reading:
    lex = lexicon.load()
    if ids := lex.find(latin_key(word)):
        return Reading(ids)
    bare_text = _LATIN_ARTICLE.sub("", word)
    article = bare_text != word
    bare = latin_key(bare_text)
    if article and (ids := lex.find(bare)):
        return Reading(ids, article=True)
    if not article:
        for art in _LATIN_JOINED_ARTICLE:
            if bare.startswith(art) and len(bare) - len(art) >= 3 and (ids := lex.find(bare[len(art) :])):
                return Reading(ids, article=True)
    for prefix in _LATIN_ABD:
        if bare.startswith(prefix) and len(bare) - len(prefix) >= 3:
            rest = bare[len(prefix) :]
            ids = lex.find(rest)
            if not ids:
                for art in _ARTICLES:
                    if rest.startswith(art) and len(rest) - len(art) >= 3 and (ids := lex.find(rest[len(art) :])):
                        break
            if ids:
                return Reading(tuple(f"abd-{i}" for i in ids), article=article, abd=True)
    for ending, suffix in _LATIN_SUFFIXES:
        if bare.endswith(ending) and len(bare) - len(ending) >= 3:
            base = bare[: -len(ending)]
            if ids := lex.find(base):
                return Reading(ids, article=article, suffix=suffix)
    decoded = arabic_from_mrz(word)  # a machine-readable zone's ICAO 9303 escapes (XHSN for حسن)
    if decoded and (found := _read_arabic(decoded)).ids:
        return found
    return Reading(article=article)


# Particles written before a name, as `name_tokens` keeps them with it: their identity and spellings.
_PARTICLE_IDS = {"ABU": "abu", "ABOU": "abu", "ABO": "abu", "BIN": "bin", "BEN": "bin", "IBN": "bin",
                 "BINT": "bint", "BINTI": "bint", "ابو": "abu", "أبو": "abu", "بن": "bin", "ابن": "bin",
                 "بنت": "bint"}  # fmt: skip
_PARTICLE_FORMS = {"abu": ("ABU", "ABOU", "ABO"), "bin": ("BIN", "BEN", "IBN"), "bint": ("BINT", "BINTI")}


def read(part: str) -> Reading:
    """What the lexicon makes of one name part (see `Reading`)."""
    words = part.split()
    if len(words) > 1:
        particle = _PARTICLE_IDS.get(words[0]) or _PARTICLE_IDS.get(words[0].upper().strip("-"))
        whole = _find(part)
        if particle and not whole:
            rest = read(" ".join(words[1:]))
            if rest.ids and not rest.particle:
                return Reading(rest.ids, rest.article, rest.abd, rest.suffix, particle)
    kind = script_of(part)
    if kind == "arabic":
        return _read_arabic(part)
    if kind == "ethiopic":
        return Reading(_find(part))
    return _read_latin(part)


def _keyed(reading: Reading) -> frozenset[str]:
    ids = reading.ids
    if reading.suffix:
        ids = tuple(f"{i}+{reading.suffix}" for i in ids)
    if reading.particle:
        ids = tuple(f"{reading.particle}-{i}" for i in ids)
    return frozenset(f"L:{i}" for i in ids)


# Consonant classes of the phonetic key: spellings romanisation systems disagree on fall together.
_PHONETIC_STEPS = (
    (r"[^A-Z]", ""),
    (r"X", "KS"),
    (r"SCH|SH|CH|TCH", "0"),
    (r"ZH|DJ|J|G(?=[EI])", "J"),
    (r"KH|GH|CK|Q|C(?![EIY])|G", "K"),
    (r"C", "S"),
    (r"TH|TS", "T"),
    (r"DH", "D"),
    (r"PH", "F"),
    (r"V", "W"),
    (r"(?<=[AEIOU])[HWY](?![AEIOU])", ""),
    (r"H$", ""),
    (r"(.)\1+", r"\1"),
)


def phonetic(text: str) -> str:
    """A key over a Latin spelling under which the romanisations of one name mostly meet: consonants
    only, in classes (kh/gh/q/k, sh/ch, j/dj/zh, v/w, ph/f...), doubled letters single, an initial vowel
    kept as A."""
    s = latin_key(text)
    if not s:
        return ""
    first_vowel = s[0] in "AEIOU"
    for pattern, repl in _PHONETIC_STEPS:
        s = re.sub(pattern, repl, s)
    s = re.sub(r"[AEIOUY]", "", s)
    return ("A" if first_vowel else "") + s


def _phonetic_keys(part: str) -> frozenset[str]:
    """Phonetic keys of a part the lexicon does not know: of its Latin form (its first spelling by rule
    when written in another script) without an article; a Latin form that may start with a joined
    article (ALZUBAIDI) has the key without it as well."""
    if script_of(part) == "latin":
        decoded = arabic_from_mrz(part)
        forms = [v.text for v in _rule_forms(decoded)[:1]] if decoded else [part]
    else:
        forms = [v.text for v in _rule_forms(part)[:1]]
    bare = [_LATIN_ARTICLE.sub("", f) for f in forms]
    joined = [latin_key(f)[2:] for f in bare if latin_key(f)[:2] in _LATIN_JOINED_ARTICLE and len(latin_key(f)) >= 6]
    return frozenset(f"P:{key}" for f in bare + joined if (key := phonetic(f)))


@lru_cache(maxsize=262144)
def part_keys(part: str) -> frozenset[str]:
    """Identity keys for one name part in any script or spelling: "L:<entry id>" for each lexicon entry
    it reads as (article, Abd and family suffix allowed for), otherwise a phonetic key "P:..." over its
    Latin form. Two parts are the same name when their keys meet."""
    part = " ".join(part.split())
    if not part:
        return frozenset()
    keys = _keyed(read(part))
    return keys or _phonetic_keys(part)


# -- romanisation by rule --------------------------------------------------------------------------

# Arabic-script letters: the usual Latin spelling first, then others met often.
_LETTERS: dict[str, tuple[str, ...]] = {
    "ب": ("B",), "پ": ("P",), "ت": ("T",), "ث": ("TH", "S"), "ج": ("J", "G"), "چ": ("CH",), "ح": ("H",),
    "خ": ("KH", "H"), "د": ("D",), "ذ": ("DH", "Z"), "ر": ("R",), "ڕ": ("R",), "ز": ("Z",), "ژ": ("ZH", "J"),
    "س": ("S",), "ش": ("SH",), "ص": ("S",), "ض": ("D", "Z"), "ط": ("T",), "ظ": ("Z", "DH"), "ع": ("",),
    "غ": ("GH",), "ف": ("F",), "ڤ": ("V",), "ق": ("Q", "GH", "K"), "ك": ("K",), "گ": ("G",), "ل": ("L",),
    "ڵ": ("L",), "م": ("M",), "ن": ("N",), "ه": ("H",), "ء": ("",), "ټ": ("T",), "ډ": ("D",), "ړ": ("R",),
    "ږ": ("ZH", "G"), "ښ": ("SH", "KH"), "ځ": ("DZ", "Z"), "څ": ("TS", "S"), "ڼ": ("N",), "ڭ": ("NG",),
}  # fmt: skip
_SHORT = {"\u064e": "A", "\u0650": "I", "\u064f": "U"}  # fatha, kasra, damma
_SHADDA = "\u0651"
_MARK_RE = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_FOLD_FOR_RULES = str.maketrans({"ٱ": "ا", "ی": "ي", "ى": "ى", "ک": "ك", "ؤ": "و", "ې": "ې", "ګ": "گ"})
_GLIDES = {"و": ("U", "AW", "W"), "ي": ("I", "AY", "Y")}  # as a long vowel, as a diphthong, as a consonant
_VOWEL_LETTERS = {"ۆ": "O", "ێ": "E", "ە": "E", "ې": "E", "ۍ": "AI"}
# Words that are particles of a name, not names: their usual Latin forms.
_PARTICLES: dict[str, tuple[str, ...]] = {
    "بن": ("BIN", "BEN", "IBN"), "ابن": ("IBN", "BIN"), "ابو": ("ABU", "ABOU", "ABO"), "بنت": ("BINT",),
    "عبد": ("ABD", "ABDUL", "ABDEL"), "ال": ("AL",),
}  # fmt: skip
# Compounds ending in Allah or al-Din: their endings as they are usually joined to the name before them.
_ENDINGS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("الله", ("ULLAH", "ALLAH", "OLLAH", "ULLA"), "rule: -ullah compound"),
    ("الدين", ("UDDIN", "EDDINE", "ALDIN", "UD DIN"), "rule: al-din compound"),
    ("زاده", ("ZADA", "ZADEH", "ZADAH"), "rule: -zada"),
    ("نژاد", ("NEJAD", "NEZHAD", "NEJHAD"), "rule: -nejad"),
    ("پور", ("POUR", "PUR", "POOR"), "rule: -pour"),
    (
        "زي",
        ("ZAI", "ZAY"),
        "rule: -zai",
    ),  # after the word read plainly unless written with Pashto's ۍ: Ghazi is no -zai
)


def _arabic_units(word: str) -> tuple[list[tuple[str, str]], bool]:
    """The word as Latin units, each a consonant "C", a vowel "V" or a glide "G" (waw or yeh between
    consonants: a long vowel, or a diphthong); and whether the word carries short-vowel marks."""
    letters: list[tuple[str, str]] = []
    for ch in unicodedata.normalize("NFC", word).translate(_FOLD_FOR_RULES):
        if _MARK_RE.match(ch):
            if letters:
                letters[-1] = (letters[-1][0], letters[-1][1] + ch)
        elif ch not in "\u0640\u200c\u200d -":
            letters.append((ch, ""))
    marked = sum(m in _SHORT for _, marks in letters for m in marks) >= 2  # one mark alone is an ezafe or a hint
    units: list[tuple[str, str]] = []
    n = len(letters)
    for i, (ch, marks) in enumerate(letters):
        prev_letter = letters[i - 1][0] if i else ""
        nxt = letters[i + 1][0] if i + 1 < n else ""
        last_kind = units[-1][1] if units else ""
        last_text = units[-1][0] if units else ""
        if ch in "اآأإ":
            if i == 0 and any(m in _SHORT for m in marks):
                pass  # its vowel mark says which vowel
            elif i == 0 and ch == "إ":
                units.append(("I", "V"))
            elif not (last_kind == "V" and last_text.endswith("A")):
                units.append(("A", "V"))
        elif ch == "ى":
            units.append(("A", "V"))
        elif ch in "ةۀ" or (ch == "ه" and i == n - 1 and i > 1 and (last_kind in ("C", "G") or last_text == "I")):
            units.append(("A", "V"))
        elif ch in _GLIDES:
            vowel, _, cons = _GLIDES[ch]
            if ch == "و" and prev_letter == "و":  # Kurdish writes a long u with two
                continue
            if last_kind == "V" and last_text in ("U", "I") and vowel == last_text:  # a short vowel mark made long
                continue
            if prev_letter and prev_letter in "ئء":
                units.append((vowel, "V"))
            elif ch == "ي" and last_kind == "C" and nxt and nxt in "اآ" and i > 1:  # Bardia, Zakaria
                units.append((vowel, "V"))
            elif i == 0 or last_kind == "V" or (nxt and nxt in "اآ") or _SHORT.get(marks[:1]):
                units.append((cons, "C"))
            elif i == n - 1 or not nxt:
                units.append((vowel, "V"))
            else:
                units.append((ch, "G"))
        elif ch in _VOWEL_LETTERS:
            units.append((_VOWEL_LETTERS[ch], "V"))
        elif ch in "ئء":
            if i == 0:
                continue
            units.append(("A" if nxt and nxt in "يی" else "I" if ch == "ئ" and last_kind == "C" else "", "V"))
        elif ch == "ع":
            if i == 0:
                units.append(("", "A?") if not (nxt and nxt in "اوي") else ("", "V"))
            elif last_kind == "C" and not (nxt and nxt in "اوي"):
                units.append(("A", "V"))
        else:
            cons = _LETTERS.get(ch, (latin(ch),))[0]
            units.append((cons * 2 if _SHADDA in marks and len(cons) == 1 else cons, "C"))
        for m in marks:
            if m in _SHORT:
                units.append((_SHORT[m], "V"))
    return [u for u in units if u[0] or u[1] == "A?"], marked


def _assemble(
    units: list[tuple[str, str]],
    marked: bool,
    short: str,
    final: str = "",
    diphthong: str = "",
    double: bool = False,
    every: bool = False,
) -> str:
    """One spelling from a word's units: glides as long vowels (the first as a diphthong with
    `diphthong` "AW", or as a consonant and a short a with "WA"), and unless the word is marked,
    `short` where the name would start with two consonants, A inside a run of three, `final` between two
    final consonants, and with `double` the consonant after the first vowel doubled (Qabbani, Sarraj);
    with `every`, A between any two consonants inside the word (Arafat, Khatami)."""
    out: list[tuple[str, str]] = []
    glide_done = False
    for text, kind in units:
        if kind == "G":
            vowel, diph, cons = _GLIDES["و" if text == "و" else "ي"]
            use = bool(diphthong) and not glide_done and bool(out) and out[-1][1] == "C"
            glide_done = glide_done or use
            if use and diphthong == "WA":
                out += [(cons, "C"), ("A", "V")]
            else:
                out.append((diph if use else vowel, "V"))
        elif kind == "A?":
            out.append((short, "V"))
        else:
            out.append((text, kind))
    if not marked:
        if len(out) > 1 and out[0][1] == "C" and out[1][1] == "C":
            out.insert(1, (short, "V"))
        i = 0
        while i + 2 < len(out):
            if out[i][1] == out[i + 1][1] == out[i + 2][1] == "C":
                out.insert(i + 2, ("A", "V"))
            i += 1
        if final and len(out) > 2 and out[-1][1] == out[-2][1] == "C" and out[-3][1] == "V":
            out.insert(len(out) - 1, (final, "V"))
        if every:
            i = 1
            while i + 1 < len(out) - 1:
                if out[i][1] == out[i + 1][1] == "C":
                    out.insert(i + 1, ("A", "V"))
                i += 1
    if double:
        for i in range(1, len(out) - 1):
            if out[i - 1][1] == "V" and out[i][1] == "C" and out[i + 1][1] == "V" and len(out[i][0]) == 1:
                out[i] = (out[i][0] * 2, "C")
                break
    return "".join(t for t, _ in out)


def _arabic_word_forms(word: str) -> list[tuple[str, str]]:
    """Spellings of one Arabic-script word the lexicon does not know, best first, with their rules."""
    if word in _PARTICLES:
        return [(f, "rule: particle") for f in _PARTICLES[word]]
    if _ends_in_ezafe(word):  # a name part of its own that the ezafe joined to the next
        return _ezafe(word)
    key = arabic_key(word)
    for ending, forms, reason in _ENDINGS:
        if key.endswith(arabic_key(ending)) and len(key) - len(arabic_key(ending)) >= 2:
            stem = word.replace("\u200c", "")[: -len(ending)].rstrip()
            stems = [s for s, _ in _arabic_word_forms(stem)[:6]]
            joined = [(s + f, reason) for s in stems for f in forms]
            if ending != "زي" or word.endswith("ۍ"):
                return joined
            plain = _arabic_plain_forms(word)
            return plain[:2] + joined[:4] + plain[2:]
    if key.startswith("ال") and len(key) > 3:
        bare = [s for s, _ in _arabic_word_forms(word[2:] if word.startswith("ال") else key[2:])[:4]]
        article = [(pat.format(s), aw + i, why) for i, s in enumerate(bare) for pat, aw, why in _ARTICLE_FORMS]
        return [(t, why) for t, _, why in sorted(article, key=lambda x: x[1])]
    return _arabic_plain_forms(word)


def _arabic_plain_forms(word: str) -> list[tuple[str, str]]:
    units, marked = _arabic_units(word)
    found: list[tuple[str, str]] = []

    def add(text: str, reason: str) -> None:
        if text and all(t != text for t, _ in found):
            found.append((text, reason))

    base = _assemble(units, marked, "A")
    add(base, "rule: vowels")
    glides = any(k == "G" for _, k in units)
    if glides:
        add(_assemble(units, marked, "A", diphthong="AW"), "rule: diphthong")
        add(_assemble(units, marked, "A", diphthong="WA"), "rule: w/y as consonant")
    for final in ("A", "E", "I"):
        add(_assemble(units, marked, "A", final=final), "rule: vowels")
    add(_assemble(units, marked, "A", double=True), "rule: doubled consonant")
    add(_assemble(units, marked, "A", every=True), "rule: vowels")
    for label, pattern, repl in (("ou/u", r"(?<!O)U", "OU"), ("o/u", r"U", "O"), ("e/i", r"I(?!$)", "E"),
                                 ("ee/i", r"(?<=[B-DF-HJ-NP-TV-Z])I(?=[B-DF-HJ-NP-TV-Z])", "EE")):  # fmt: skip
        for known, _ in list(found[:2]):
            add(re.sub(pattern, repl, known, count=1), f"rule: {label}")
    for short, reason in (
        ("E", "rule: vowels e"),
        ("U", "rule: vowels u"),
        ("I", "rule: vowels i"),
        ("O", "rule: vowels o"),
    ):
        add(_assemble(units, marked, short), reason)
    if base.endswith("A") and len(base) > 2:
        add(base + "H", "rule: ta marbuta")
        add(base[:-1] + "EH", "rule: ta marbuta")
    if base.endswith("I") and len(base) > 3:
        add(base[:-1] + "Y", "rule: final i/y")
    return found


def _ethiopic_romanised(word: str, first: str = "E", sixth: str = "E", fifth: str = "E") -> str:
    """One Latin spelling of an Ethiopic word from the vowel order of each letter: the first order
    written `first` (a glottal or pharyngeal letter A), the fifth `fifth` ("IE" for the -ie endings of
    Eritrean spelling, "SIE" doubling the consonant before it), the sixth `sixth` where another sixth-order
    letter or a y/w follows and nothing where a vowel does or at the end."""
    chars = [c for c in word if is_ethiopic(c)]
    parts: list[tuple[str, int]] = []
    for ch in chars:
        syl = unicodedata.name(ch, "").removeprefix("ETHIOPIC SYLLABLE ")
        cons = re.sub(r"[aeiou'`]", "", anyascii(ch).lower())
        if syl.startswith("KX"):
            cons = "k"
        if syl.startswith("NY"):
            cons = "ny"
        order = next(
            (o for suffix, o in (("AA", 4), ("EE", 5), ("WA", 8), ("OA", 8), ("A", 1), ("U", 2), ("I", 3), ("E", 6), ("O", 7))
             if syl.endswith(suffix) and syl != suffix),  # WA alone is the first order of W, not W + WA
            6,
        )  # fmt: skip
        parts.append((cons, order))
    out: list[str] = []
    for i, (cons, order) in enumerate(parts):
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        last = nxt is None
        if order == 1:
            vowel = "a" if not cons else first.lower()
        elif order == 6:
            if cons == "ny" and last:
                cons = "gn"
            cluster = nxt is not None and (i == 0 or nxt[1] == 6 or nxt[0] in ("y", "w"))
            vowel = sixth.lower() if cluster and not last else ""
        elif order == 5:
            vowel = "e"
            if last and fifth != "E":
                vowel = "ie"
                if fifth == "SIE" and cons:
                    cons = cons + cons[-1]
        else:
            vowel = {2: "u", 3: "i", 4: "a", 7: "o", 8: "wa"}[order]
        out.append(cons + vowel)
    return "".join(out).upper()


def _ethiopic_word_forms(word: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for first, sixth, fifth, reason in (
        ("E", "E", "E", "rule: vowel orders"), ("E", "I", "E", "rule: vowel orders"),
        ("E", "E", "IE", "rule: vowel orders -ie"), ("E", "E", "SIE", "rule: vowel orders -ie"),
        ("A", "E", "E", "rule: vowel orders, A for Ä"), ("E", "", "E", "rule: vowel orders"),
        ("A", "I", "E", "rule: vowel orders, A for Ä"), ("E", "I", "IE", "rule: vowel orders -ie"),
    ):  # fmt: skip
        text = _ethiopic_romanised(word, first, sixth, fifth)
        if text and all(t != text for t, _ in found):
            found.append((text, reason))
    return found


def _ezafe(word: str) -> list[tuple[str, str]]:
    """A Persian word marked with the ezafe (a kasra at its end) that joins it to the next: -e."""
    stems = _arabic_word_forms(word[:-1])
    return [(f"{s}-E", "rule: ezafe") for s, _ in stems[:4]] + [(f"{s}-I", "rule: ezafe") for s, _ in stems[:1]]


def _ends_in_ezafe(word: str) -> bool:
    return len(word) > 2 and word.endswith("\u0650") and script_of(word) == "arabic"


def _rule_forms(part: str) -> list[Variant]:
    """Latin spellings of a part the lexicon does not know, best first, by rule: for a part of several
    words, every word's best spelling, then each word's other spellings in turn."""
    kind = script_of(part)
    forms: list[Variant] = []

    def add(text: str, reason: str) -> None:
        text = " ".join(text.split())
        if text and all(v.text != text for v in forms):
            forms.append(Variant(text, reason))

    if kind == "latin":
        usual = latin(part)
        for label, pattern, repl in SPELLING_RULES:
            add(" ".join(re.sub(pattern, repl, usual).split()), f"rule: {label}")
        return forms
    text = unicodedata.normalize("NFC", part)
    if kind == "arabic":  # Allah and al-Din belong to the word before them
        text = re.sub(r"[\s\u200c]+(?=(?:ال|ٱل)(?:له|دين|دین)\b)", "", text)
    words = text.split()
    word_forms = [
        _ezafe(w) if i + 1 < len(words) and _ends_in_ezafe(w)
        else _arabic_word_forms(w) if script_of(w) == "arabic"
        else _ethiopic_word_forms(w) if script_of(w) == "ethiopic"
        else [(latin(w), "as given")]
        for i, w in enumerate(words)
    ]  # fmt: skip
    word_forms = [w for w in word_forms if w]
    if not word_forms:
        return forms
    best = [w[0][0] for w in word_forms]
    add(" ".join(best), word_forms[0][0][1] if len(word_forms) == 1 else "rule: vowels")
    for j in range(1, max(len(w) for w in word_forms)):
        for i, w in enumerate(word_forms):
            if j < len(w):
                add(" ".join(w[j][0] if k == i else b for k, b in enumerate(best)), w[j][1])
    return forms


# Spelling alternations between romanisation systems, one at a time on a Latin spelling.
SPELLING_RULES: tuple[tuple[str, str, str], ...] = (
    ("doubled consonant", r"([B-DF-HJ-NP-TV-Z])\1", r"\1"),
    ("doubled consonant", r"(?<=[AEIOU])([BDFJKLMNRSTZ])(?=[AEIOU])", r"\1\1"),
    ("ou/u", r"OU", "U"),
    ("ou/u", r"(?<![AEIOU])U(?![AEIOU])", "OU"),
    ("oo/u", r"OO", "U"),
    ("ee/i", r"EE", "I"),
    ("i/ee", r"(?<![AEIOU])I(?![AEIOU])", "EE"),
    ("e/a", r"(?<=[B-DF-HJ-NP-TV-Z])E(?=[B-DF-HJ-NP-TV-Z])", "A"),
    ("a/e", r"(?<=[B-DF-HJ-NP-TV-Z])A(?=[B-DF-HJ-NP-TV-Z])", "E"),
    ("o/u", r"(?<=[B-DF-HJ-NP-TV-Z])O", "U"),
    ("u/o", r"(?<=[B-DF-HJ-NP-TV-Z])U", "O"),
    ("kh/h", r"KH", "H"),
    ("q/k", r"Q", "K"),
    ("q/gh", r"Q", "GH"),
    ("j/dj", r"(?<!D)J", "DJ"),
    ("dj/j", r"DJ", "J"),
    ("w/v", r"W", "V"),
    ("v/w", r"V", "W"),
    ("ta marbuta", r"AH\b", "A"),
    ("ta marbuta", r"(?<=[B-DF-HJ-NP-TV-Z])A\b", "AH"),
    ("ta marbuta", r"EH\b", "E"),
    ("final i/y", r"I\b", "Y"),
    ("final y/i", r"Y\b", "I"),
    ("ay/ai", r"AY\b", "AI"),
    ("ai/ay", r"AI\b", "AY"),
    ("ay/aye", r"AY\b", "AYE"),
    ("c/k", r"C(?=[LR])", "K"),
    ("k/c", r"K(?=[LR])", "C"),
    ("ge/ghe", r"\bGE", "GHE"),
    ("ph/f", r"PH", "F"),
    ("th/t", r"TH", "T"),
    ("sh/ch", r"SH", "CH"),
    ("article", r"\b(?:AL|EL) (?=\w{3})", ""),
    ("al/el", r"\bAL (?=\w)", "EL "),
    ("el/al", r"\bEL (?=\w)", "AL "),
)


# -- variants of a lexicon entry -------------------------------------------------------------------

_ARTICLE_FORMS = (("AL-{}", 0.0, "rule: article"), ("{}", 0.3, "rule: article dropped"),
                  ("AL{}", 1.1, "rule: article joined"), ("EL {}", 1.2, "rule: al/el"),
                  ("EL-{}", 2.2, "rule: al/el"), ("AL {}", 2.6, "rule: article"))  # fmt: skip
_ABD_FORMS = (("ABDUL{}", 0.0), ("ABDUL {}", 0.4), ("ABDEL{}", 0.9), ("ABDEL {}", 1.2), ("ABD AL-{}", 1.4),
              ("ABDAL{}", 2.0), ("ABDOL{}", 2.2), ("ABDI{}", 2.6), ("ABDU{}", 3.0))  # fmt: skip
_SUFFIX_FORMS: dict[str, tuple[str, ...]] = {
    "i": ("I", "Y", "EE"),
    "zai": ("ZAI", "ZAY", "ZOY"),
    "pour": ("POUR", "PUR", "POOR"),
    "zadeh": ("ZADEH", "ZADA", "ZADE"),
    "yar": ("YAR",),
    "khel": ("KHEL", "KHIL", "KHAIL"),
    "nia": ("NIA",),
    "far": ("FAR",),
}
_SUN = ("T", "TH", "D", "DH", "R", "Z", "S", "SH", "N")


def _entry_forms(reading: Reading) -> list[tuple[float, Variant]]:
    """Scored Latin forms of a part the lexicon knows; lower scores first."""
    lex = lexicon.load()
    scored: list[tuple[float, Variant]] = []
    for rank_entry, ident in enumerate(reading.ids):
        base_id = ident.removeprefix("abd-") if reading.abd else ident
        whole = f"{ident}+{reading.suffix}" if reading.suffix else ident
        entry: lexicon.Entry | None
        if whole in lex.entries:  # the suffixed name is an entry of its own: its spellings as listed
            entry, suffix = lex.entries[whole], ""
        elif ident in lex.entries:
            entry, suffix = lex.entries[ident], reading.suffix
        else:
            entry, suffix = lex.entries.get(base_id), reading.suffix
        if entry is None:
            continue
        abd = reading.abd and not entry.id.startswith("abd-")
        for i, rom in enumerate(entry.romanised):
            score = i + rank_entry * 0.5
            forms: list[tuple[str, float, str]] = [(rom, 0.0, "lexicon")]
            if suffix:
                forms = [
                    (_suffixed(rom, s), j * 1.1, f"rule: suffix -{suffix}") for j, s in enumerate(_SUFFIX_FORMS[suffix])
                ]
            if abd:
                forms = [(pat.format(f), w, "rule: abd compound") for f, _, _ in forms for pat, w in _ABD_FORMS]
            if reading.article:
                with_article = []
                for f, w, why in forms:
                    bare = _LATIN_ARTICLE.sub("", f)
                    for pat, aw, awhy in _ARTICLE_FORMS:
                        with_article.append((pat.format(bare), w + aw, why if pat == "AL-{}" else awhy))
                    sun = next((c for c in sorted(_SUN, key=len, reverse=True) if bare.startswith(c)), None)
                    if sun:
                        with_article.append((f"A{sun}-{bare}", w + 2.4, "rule: article assimilated"))
                forms = with_article
            if reading.particle:
                forms = [
                    (f"{p} {f}", w + j * 0.9, why if j == 0 else "rule: particle")
                    for f, w, why in forms
                    for j, p in enumerate(_PARTICLE_FORMS[reading.particle])
                ]
            scored += [(score + w, Variant(f, why)) for f, w, why in forms]
    return scored


def _suffixed(rom: str, suffix: str) -> str:
    if suffix in ("I", "Y", "EE") and rom.endswith(("A", "E")):
        return rom + {"I": "EI", "Y": "YI", "EE": "IE"}[suffix] if rom.endswith("A") else rom + "I"
    return rom + suffix


@lru_cache(maxsize=65536)
def _part_scored(part: str) -> tuple[tuple[float, Variant], ...]:
    """Scored Latin forms of one name part (one token), lexicon before rule before skeleton."""
    reading = read(part)
    scored: list[tuple[float, Variant]] = []
    decoded = arabic_from_mrz(part) if script_of(part) == "latin" and not lexicon.load().find(latin_key(part)) else None
    if decoded:  # written with ICAO 9303's escapes: the script form, then what it gives
        inner = [(s, v) for s, v in _part_scored(decoded) if v.reason != "skeleton"]
        return ((-1.0, Variant(latin(part), "as given")), (-0.5, Variant(decoded, "rule: ICAO 9303")), *inner)
    if reading.ids:
        scored = _entry_forms(reading)
        offset = 6.0
    else:
        offset = 0.0
    if script_of(part) == "latin":
        scored.insert(0, (-1.0, Variant(latin(part), "as given")))
    for i, v in enumerate(_rule_forms(part)):
        scored.append((offset + 1.0 + i * 0.8, v))
    scored.append((offset + 40.0, Variant(latin(part), "skeleton")))
    best: dict[str, tuple[float, Variant]] = {}
    for score, v in scored:
        if v.text and (v.text not in best or score < best[v.text][0]):
            best[v.text] = (score, v)
    return tuple(sorted(best.values(), key=lambda sv: sv[0]))


def _latin_only(scored: tuple[tuple[float, Variant], ...]) -> tuple[tuple[float, Variant], ...]:
    """The Latin forms a search can use: no script form, and not the escaped spelling of a zone."""
    escaped = any(v.reason == "rule: ICAO 9303" for _, v in scored)
    return tuple(
        (s, v)
        for s, v in scored
        if script_of(v.text) == "latin" and not (escaped and v.reason == "as given") and v.reason != "rule: ICAO 9303"
    )


def _given(text: str) -> str:
    """The part as given: script kept, Latin upper-cased as PND writes it."""
    if script_of(text) == "latin":
        return latin(text)
    return " ".join(unicodedata.normalize("NFC", text).split())


def _combined(text: str, limit: int) -> list[tuple[float, Variant]]:
    """Scored Latin forms of a name part of one or more tokens: the best combinations of its tokens'
    forms; a combination's reason is that of its least certain token."""
    tokens = name_tokens(text)
    if not tokens:
        return []
    lists = [_latin_only(_part_scored(t))[: max(limit, 4)] for t in tokens]
    lists = [lst or ((0.0, Variant(latin(t), "skeleton")),) for lst, t in zip(lists, tokens)]
    if len(lists) == 1:
        return list(lists[0][:limit])
    heap: list[tuple[float, tuple[int, ...]]] = [(sum(lst[0][0] for lst in lists), (0,) * len(lists))]
    seen = {heap[0][1]}
    out: list[tuple[float, Variant]] = []
    texts: set[str] = set()
    while heap and len(out) < limit:
        score, idx = heapq.heappop(heap)
        chosen = [lists[k][i] for k, i in enumerate(idx)]
        txt = " ".join(v.text for _, v in chosen)
        worst = max(chosen, key=lambda sv: sv[0])[1].reason
        if txt not in texts:
            texts.add(txt)
            out.append((score, Variant(txt, worst)))
        for k in range(len(idx)):
            if idx[k] + 1 < len(lists[k]):
                nxt = idx[:k] + (idx[k] + 1,) + idx[k + 1 :]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (score - lists[k][idx[k]][0] + lists[k][idx[k] + 1][0], nxt))
    return out


@dataclass(frozen=True)
class NameVariants:
    """What `triage names` shows: the name asked about and its variants, ranked."""

    name: str
    variants: tuple[Variant, ...]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "variants": [v.as_json() for v in self.variants]}


QUERY_LIMIT = 200  # characters of a name asked about: a name, not a document


def name_query(name: str, what: str = "NAME") -> str:
    """A name typed to look it up: at most QUERY_LIMIT characters, no control or direction characters, and at
    least one letter (punctuation alone names nobody); refused with exit 3 otherwise."""
    text = name_text(" ".join((name or "").split()), what, max_len=QUERY_LIMIT)
    if not any(ch.isalpha() for ch in text):
        raise BadInput(f"{what}: give a name, in any script (it has no letter)")
    return text


def variants_of(name: str, limit: int = LIMIT) -> NameVariants:
    """The ranked variants of a name as typed: "SURNAME, GIVEN NAMES" gives full names, anything else
    the variants of that one name. The name as given is the name as typed, case and diacritics kept
    (Nguyễn Văn Hùng); the form PND writes of it (NGUYEN VAN HUNG) follows when that differs."""
    text = name_query(name)
    if "," in text:
        surname, _, given = text.partition(",")
        typed = ", ".join(part for part in (surname.strip(), given.strip()) if part)
        found = ranked_variants(surname.strip() or None, given.strip() or None, limit)
    else:
        typed = text
        found = part_variants(text, limit)
    if found and found[0].reason == "as given" and found[0].text != typed:
        found = [Variant(typed, "as given"), Variant(found[0].text, "rule: PND form"), *found[1:]][:limit]
    return NameVariants(text, tuple(found))


def part_variants(text: str, limit: int = LIMIT) -> list[Variant]:
    """The variants of one name part, or of a single name typed to `triage names`: the name as given
    first, then its Latin forms ranked by likelihood."""
    given = _given(text or "")
    if not given:
        return []
    out = [Variant(given, "as given")]
    decoded = arabic_from_mrz(given) if script_of(given) == "latin" else None
    if decoded:
        out.append(Variant(decoded, "rule: ICAO 9303"))
    for _, v in _combined(text, limit + 1):
        if v.text not in {o.text for o in out}:
            out.append(v)
    return out[:limit]


def ranked_variants(
    surname: str | None, given_names: str | None, limit: int = LIMIT, *, document: tuple[str, str] | None = None
) -> list[Variant]:
    """Full names to search, "SURNAME, GIVEN NAMES" as PND lists them, ranked by likelihood: the name as
    given first, the document's form (a machine-readable zone's) next, then the usual Latin form, the same
    with the order swapped (documents and statements often disagree on which name is the family name),
    then other forms of one part or both."""
    s_text, g_text = (surname or "").strip(), (given_names or "").strip()
    if not (s_text or g_text):
        return []
    out: list[Variant] = []

    def add(text: str, reason: str) -> None:
        if text and all(v.text != text for v in out):
            out.append(Variant(text, reason))

    def full(s: str, g: str) -> str:
        return f"{s}, {g}" if s and g else s or g

    add(full(_given(s_text) if s_text else "", _given(g_text) if g_text else ""), "as given")
    if document and any(document):
        add(full(latin(document[0] or ""), latin(document[1] or "")), "document")
    s_forms = _combined(s_text, limit) if s_text else [(0.0, Variant("", ""))]
    g_forms = _combined(g_text, limit) if g_text else [(0.0, Variant("", ""))]
    pairs = sorted(
        itertools.product(range(len(s_forms)), range(len(g_forms))),
        key=lambda ij: (s_forms[ij[0]][0] + g_forms[ij[1]][0], ij),
    )
    for n, (i, j) in enumerate(pairs):
        (ss, sv), (gs, gv) = s_forms[i], g_forms[j]
        reason = sv.reason if ss >= gs else gv.reason
        add(full(sv.text, gv.text), reason or "lexicon")
        if n == 0 and s_text and g_text:
            add(full(gv.text, sv.text), "rule: order swapped")
        if len(out) >= limit:
            break
    return out[:limit]


def _latin_texts(found: list[Variant], limit: int) -> list[str]:
    return [v.text for v in found if script_of(v.text) == "latin" and v.text][:limit]


def latin_variants(
    surname: str | None, given_names: str | None, limit: int = LIMIT, *, document: tuple[str, str] | None = None
) -> list[str]:
    """`ranked_variants` as a search of a Latin-script system can use them: the texts only, script forms
    left out (a PND draft lists these; the names as given are shown beside them)."""
    return _latin_texts(ranked_variants(surname, given_names, limit + 2, document=document), limit)


def latin_part_variants(text: str, limit: int = LIMIT) -> list[str]:
    """`part_variants` as a search of a Latin-script system can use them (an alias's search forms)."""
    return _latin_texts(part_variants(text, limit + 2), limit)


@lru_cache(maxsize=8192)
def usual(text: str | None) -> str | None:
    """The usual Latin form of a name part: as given when typed in Latin script, else its most likely
    romanisation (never a consonant skeleton when a lexicon entry or rule gives better). Kept for the
    process: every view of a candidate shows the names of both records."""
    forms = latin_part_variants(text or "", 1)
    return forms[0] if forms else None
