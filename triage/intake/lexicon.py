"""The names lexicon: given names and family names common among people arriving by small boat, kept as
data (`data/names.tsv`, its sources and licences in `data/SOURCES.md`), each with its script forms and the
romanisations met most often, the usual one first.

The file is read once, on first use. A name written in any listed script form or romanisation finds its
entry, whatever the hamza, alef, yeh, kaf or ta marbuta its writer chose, and with or without spaces and
hyphens inside a compound. Two entries never share an id, so names that sound alike but are different
names (Hasan and Husayn, Muhammad and Mahmud) keep apart. `problems()` lists what is wrong in the data
(`scripts/check_lexicon.py` prints it).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from anyascii import anyascii

KINDS = frozenset({"g", "f", "a"})  # given name, family name, a name that follows Abd (Abd al-Rahman)
LANGS = frozenset({"ar", "fa", "prs", "ps", "ckb", "kmr", "ti", "am", "so", "vi", "sq", "tr", "ur", "om"})
SUFFIXES = ("i", "zai", "pour", "zadeh", "yar", "khel", "nia", "far")
_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?:\+(?:" + "|".join(SUFFIXES) + r"))?$")
_ROMAN = re.compile(r"^[A-Z]+(?:[ '-][A-Z]+)*$")

# Arabic-script letters written differently across Arabic, Persian, Pashto, Urdu and Kurdish usage for
# the same name, folded together; short-vowel marks, shadda, tatweel and joiners are dropped.
_ARABIC_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ی": "ي",
        "ې": "ي",
        "ۍ": "ي",
        "ئ": "ي",
        "ك": "ك",
        "ک": "ك",
        "ڪ": "ك",
        "ة": "ه",
        "ۀ": "ه",
        "ہ": "ه",
        "ھ": "ه",
        "ؤ": "و",
        "ګ": "گ",
        "\u0640": None,
        "\u200c": None,
        "\u200d": None,
        " ": None,
        "-": None,
    }
)
_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
# Sorani writes its vowels; folded to the Arabic-style skeleton as a second chance (حەسەن -> حسن).
_SORANI_FOLD = str.maketrans({"ە": None, "ڕ": "ر", "ڵ": "ل", "ۆ": "و", "ێ": "ي", "ڤ": "ف", "ء": None})
_ARABIC_BLOCKS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))


def is_arabic(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in _ARABIC_BLOCKS)


def is_ethiopic(ch: str) -> bool:
    return 0x1200 <= ord(ch) <= 0x139F or 0x2D80 <= ord(ch) <= 0x2DDF or 0xAB00 <= ord(ch) <= 0xAB2F


def script_of(text: str) -> str:
    """ "arabic", "ethiopic" or "latin": the script of the first letter that has one of the first two."""
    for ch in text:
        if is_arabic(ch):
            return "arabic"
        if is_ethiopic(ch):
            return "ethiopic"
    return "latin"


def arabic_key(word: str) -> str:
    """An Arabic-script name as the lexicon files it: marks dropped, letter variants folded."""
    return _MARKS.sub("", unicodedata.normalize("NFKC", word)).translate(_ARABIC_FOLD)


def sorani_key(word: str) -> str:
    return arabic_key(word).translate(_SORANI_FOLD)


def ethiopic_key(word: str) -> str:
    """An Ethiopic name as the lexicon files it: the letters that now sound alike (ሀ ሐ ኀ, ሰ ሠ, አ ዐ, ጸ ፀ)
    read as one."""
    return re.sub(r"[^a-z]", "", anyascii(word).lower())


def latin_key(text: str) -> str:
    """A Latin-script name as the lexicon files it: letters only, upper case, accents dropped."""
    return re.sub(r"[^A-Z]", "", anyascii(unicodedata.normalize("NFKC", text)).upper())


def written_key(text: str) -> str:
    """The key of a name written in any script."""
    kind = script_of(text)
    if kind == "arabic":
        return "A:" + arabic_key(text)
    if kind == "ethiopic":
        return "E:" + ethiopic_key(text)
    return latin_key(text)


@dataclass(frozen=True)
class Entry:
    """One name: its id, kinds (g given, f family, a follows Abd), languages, script forms and
    romanisations (the usual one first)."""

    id: str
    kinds: frozenset[str]
    langs: tuple[str, ...]
    scripts: tuple[str, ...]
    romanised: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Lexicon:
    entries: dict[str, Entry]
    index: dict[str, tuple[str, ...]]  # written key -> entry ids

    def find(self, key: str) -> tuple[str, ...]:
        return self.index.get(key, ())


def _split(cell: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in cell.split("|") if p.strip() and p.strip() != "-")


def parse(text: str) -> tuple[list[Entry], list[str]]:
    """The entries of a lexicon file, and one line per row that cannot be read."""
    entries, bad = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        cells = raw.split("\t")
        if len(cells) != 5:
            bad.append(f"line {n}: {len(cells)} columns, expected 5 (id, kinds, languages, script, romanised)")
            continue
        ident, kinds, langs, scripts, romanised = cells
        entries.append(
            Entry(
                ident.strip(),
                frozenset(kinds.strip().split(",")),
                tuple(langs.split()),
                _split(scripts),
                _split(romanised),
                n,
            )
        )
    return entries, bad


def _source() -> str:
    return (files("triage.intake") / "data" / "names.tsv").read_text(encoding="utf-8")


def build(entries: list[Entry]) -> Lexicon:
    index: dict[str, list[str]] = {}

    def add(key: str, ident: str) -> None:
        ids = index.setdefault(key, [])
        if ident not in ids:
            ids.append(ident)

    for e in entries:
        for form in e.scripts:
            add(written_key(form), e.id)
            if script_of(form) == "arabic":
                add("A:" + sorani_key(form), e.id)
            else:
                add(latin_key(form), e.id)
        for form in e.romanised:
            add(latin_key(form), e.id)
    # A Sorani folding never hides an exact form of another entry.
    return Lexicon({e.id: e for e in entries}, {k: tuple(v) for k, v in index.items()})


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """A short digest of the shipped lexicon: identity keys made under one lexicon may differ under
    another, so whoever stores them (blinded) can tell when to make them again."""
    return hashlib.sha256(_source().encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=1)
def load() -> Lexicon:
    """The shipped lexicon, read once."""
    entries, _ = parse(_source())
    return build(entries)


def _script_ok(form: str, langs: tuple[str, ...]) -> bool:
    letters = [ch for ch in form if ch.isalpha()]
    if not letters:
        return False
    if all(is_arabic(ch) for ch in letters):
        return bool(set(langs) & {"ar", "fa", "prs", "ps", "ckb", "kmr", "ur"})
    if all(is_ethiopic(ch) for ch in letters):
        return bool(set(langs) & {"ti", "am"})
    if all(unicodedata.name(ch, "").startswith("LATIN") for ch in letters):
        # Latin script forms are the accented spellings (Vietnamese, Turkish, Albanian, Kurmanji, Somali).
        return any(ord(ch) > 127 for ch in letters)
    return False


def problems(text: str | None = None) -> list[str]:
    """What is wrong in the lexicon: unreadable rows, bad ids, kinds or languages, duplicate ids, a
    form listed twice in one entry, script forms in the wrong script or mixing scripts, romanisations
    that are not plain capital letters, a script form filed under two entries, an entry without a
    romanisation, and a suffixed entry (hasan+i) whose base is missing."""
    entries, out = parse(_source() if text is None else text)
    seen: dict[str, int] = {}
    owner: dict[str, str] = {}
    for e in entries:
        where = f"line {e.line} ({e.id})"
        if not _ID.match(e.id):
            out.append(f"{where}: id must be lower-case letters and digits joined by '-', with an optional +suffix")
        if e.id in seen:
            out.append(f"{where}: id already used on line {seen[e.id]}")
        seen.setdefault(e.id, e.line)
        if not e.kinds <= KINDS:
            out.append(f"{where}: kinds {sorted(e.kinds - KINDS)} unknown; use g, f or a")
        if not e.langs or not set(e.langs) <= LANGS:
            out.append(f"{where}: languages {sorted(set(e.langs) - LANGS) or 'missing'} unknown")
        if not e.romanised:
            out.append(f"{where}: no romanisation")
        for form in e.romanised:
            if not _ROMAN.match(form):
                out.append(f"{where}: romanisation {form!r} must be capital letters A-Z, with single spaces, '-' or '")
        for label, forms in (("script form", e.scripts), ("romanisation", e.romanised)):
            if len(set(forms)) != len(forms):
                out.append(f"{where}: a {label} is listed twice")
        for form in e.scripts:
            if not _script_ok(form, e.langs):
                out.append(f"{where}: script form {form!r} is in no script its languages use, or mixes scripts")
            key = written_key(form)
            if key in owner and owner[key] != e.id and key.startswith(("A:", "E:")):
                out.append(f"{where}: script form {form!r} is also filed under {owner[key]}")
            owner.setdefault(key, e.id)
    for e in entries:
        if "+" in e.id and e.id.split("+")[0] not in seen:
            out.append(f"line {e.line} ({e.id}): its base {e.id.split('+')[0]!r} is not an entry")
    return out
