"""ICAO 9303 machine-readable zones (TD1 identity cards, TD2 cards, TD3 passports).

A zone is accepted only when every check digit agrees, because a zone typed from a photo or read by OCR
often has one wrong character, and a wrong document number or date of birth is worse than none. The
parsed values never overwrite what an officer typed: `cross_check` lists the disagreements and the
officer decides which is right.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any

import pycountry

from triage.errors import BadInput
from triage.intake.biographic import ICAO_CODES, Details, PartialDate, latin, parse_date

_VALUES = {ch: i for i, ch in enumerate(string.digits + string.ascii_uppercase)} | {"<": 0}
_WEIGHTS = (7, 3, 1)
_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_SHAPES = {(30, 30, 30): "TD1", (36, 36): "TD2", (44, 44): "TD3"}
_EXPECTED = "2 lines of 44 characters (passport), 2 lines of 36 or 3 lines of 30 (identity card)"
_NAME_WIDTH = {"TD1": 30, "TD2": 31, "TD3": 39}
_SEXES = {"F": "F", "M": "M", "X": "X", "<": "X"}
# ICAO 9303 part 3 spells these with two letters where a plain transliteration drops the accent.
_ICAO_LATIN = str.maketrans(
    {"Ä": "AE", "ä": "ae", "Ö": "OE", "ö": "oe", "Ü": "UE", "ü": "ue", "Å": "AA", "å": "aa", "Ø": "OE", "ø": "oe"}
)


@dataclass
class MRZ:
    format: str  # "TD1" | "TD2" | "TD3"
    document_type: str  # the document code without filler: "P", "I", "ID", "AC"
    issuing_state: str  # as printed, filler removed ("UTO", "D")
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: str  # "YYYY-MM-DD"; "YYYY-MM" or "YYYY" when the document leaves parts unknown, "" if all are
    sex: str  # "F" | "M" | "X"
    expiry_date: str  # "YYYY-MM-DD", or "" for a document printed without one
    optional_data: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_digit(field: str) -> str:
    """The ICAO 9303 check digit: weights 7, 3, 1 repeating; digits count as themselves, A-Z as 10-35, '<' as 0."""
    total = 0
    for i, ch in enumerate(field):
        if ch not in _VALUES:
            raise BadInput(f"MRZ: {ch!r} cannot appear in a machine-readable zone; only A-Z, 0-9 and < can")
        total += _VALUES[ch] * _WEIGHTS[i % 3]
    return str(total % 10)


def _verify(name: str, data: str, got: str) -> None:
    want = check_digit(data)
    if got != want:
        raise BadInput(f"MRZ: check digit for {name} is {got}, expected {want}")


def _rows(text: str) -> list[str]:
    """The zone's lines, upper-cased; spaces inside a line are dropped only when that gives a valid shape,
    and a zone pasted as one line (its line breaks lost) is split by its length."""
    rows = [line.strip().translate(_UPPER) for line in text.splitlines() if line.strip()]
    if tuple(map(len, rows)) in _SHAPES:
        return rows
    squeezed = ["".join(row.split()) for row in rows]
    if tuple(map(len, squeezed)) in _SHAPES:
        return squeezed
    if len(squeezed) == 1:
        for shape in _SHAPES:
            if len(squeezed[0]) == sum(shape):
                width = shape[0]
                return [squeezed[0][i : i + width] for i in range(0, sum(shape), width)]
    if not rows:
        raise BadInput(f"MRZ: expected {_EXPECTED}; got no text")
    lengths = " and ".join(str(len(r)) for r in rows)
    lines = "1 line" if len(rows) == 1 else f"{len(rows)} lines"
    raise BadInput(f"MRZ: expected {_EXPECTED}; got {lines} of {lengths}")


def _document_number(principal: str, digit: str, optional: str) -> tuple[str, str]:
    """TD1/TD2 document number and the optional data left after it.

    A number longer than nine characters (ICAO 9303 parts 5 and 6) puts '<' where the check digit would
    be and continues at the start of the optional data, followed by its check digit over the whole number.
    """
    if digit != "<":
        _verify("document number", principal, digit)
        return principal.rstrip("<"), optional
    tail = optional.split("<", 1)[0]
    if len(tail) < 2:
        raise BadInput(
            "MRZ: the document number has no check digit (its check-digit position is '<' "
            "and the optional data does not continue the number)"
        )
    number = principal + tail[:-1]
    _verify("document number", number, tail[-1])
    return number, optional[len(tail) :]


def _unknown(part: str) -> bool:
    # ICAO fills unknown parts of a date of birth with '<'; some issuers print zeros instead.
    return part in ("<<", "00")


def _real(year: int, month: int | None, day: int | None) -> PartialDate | None:
    """The date if the calendar has it, else None."""
    p = PartialDate(year, month, day)
    try:
        p.latest()
    except ValueError:
        return None
    return p


def _birth_date(raw: str, today: date) -> str:
    """The date of birth, in the century that does not put it after `today`."""
    if raw == "<<<<<<":
        return ""
    yy, mm, dd = raw[0:2], raw[2:4], raw[4:6]
    month = None if _unknown(mm) else mm
    day = None if _unknown(dd) else dd
    if yy.isdigit() and (month or "0").isdigit() and (day or "0").isdigit() and not (month is None and day):
        for year in (2000 + int(yy), 1900 + int(yy)):
            p = _real(year, int(month) if month else None, int(day) if day else None)
            if p is not None and p.earliest() <= today:
                return str(p)
    raise BadInput(f"MRZ: date of birth {raw!r} is not a date (YYMMDD) on or before {today}")


def _expiry_date(raw: str) -> str:
    """The expiry date; ICAO documents issued since 2000 all expire in 20xx."""
    if raw == "<<<<<<":
        return ""
    p = _real(2000 + int(raw[0:2]), int(raw[2:4]), int(raw[4:6])) if raw.isdigit() else None
    if p is None:
        raise BadInput(f"MRZ: expiry date {raw!r} is not a date (YYMMDD)")
    return str(p)


def _state(name: str, raw: str) -> str:
    code = raw.strip("<")
    if not code.isalpha():
        raise BadInput(f"MRZ: {name} {raw!r} is not a country code")
    return code


def _names(raw: str) -> tuple[str, str]:
    surname, _, given = raw.partition("<<")
    return surname.replace("<", " ").strip(), given.replace("<", " ").strip()


def _text(raw: str) -> str:
    return " ".join(raw.replace("<", " ").split())


def parse(text: str, today: date | None = None) -> MRZ:
    """Read a zone typed, pasted or OCR'd from a document; every check digit must agree."""
    today = today or date.today()
    rows = _rows(text)
    for n, row in enumerate(rows, 1):
        for pos, ch in enumerate(row, 1):
            if ch not in _VALUES:
                raise BadInput(f"MRZ: line {n} has {ch!r} at position {pos}; only A-Z, 0-9 and < can appear")
    fmt = _SHAPES[tuple(map(len, rows))]
    code, state = rows[0][0:2], rows[0][2:5]
    if not code[0].isalpha():
        raise BadInput(f"MRZ: document code {code!r} must start with a letter")
    if code[0] == "V":
        raise BadInput("MRZ: this is a visa (document code V); only passports and identity cards can be read")
    if fmt == "TD1":
        line1, line2, name = rows
        number, optional = _document_number(line1[5:14], line1[14], line1[15:30])
        birth_at, nationality = 0, line2[15:18]
        optional_data = " ".join(filter(None, (_text(optional), _text(line2[18:29]))))
        composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    else:
        line1, line2 = rows
        name, birth_at, nationality = line1[5:], 13, line2[10:13]
        if fmt == "TD3":
            number = line2[0:9].rstrip("<")
            _verify("document number", line2[0:9], line2[9])
            optional_data = _text(line2[28:42])
        else:
            number, optional = _document_number(line2[0:9], line2[9], line2[28:35])
            optional_data = _text(optional)
        composite = line2[0:10] + line2[13:20] + line2[21:-1]
    # In every format line 2 holds birth date, check digit, sex, expiry date, check digit in a run.
    birth, sex, expiry = line2[birth_at : birth_at + 6], line2[birth_at + 7], line2[birth_at + 8 : birth_at + 14]
    _verify("date of birth", birth, line2[birth_at + 6])
    _verify("expiry date", expiry, line2[birth_at + 14])
    if fmt == "TD3" and not (line2[42] == "<" and line2[28:42] == "<" * 14):
        _verify("personal number", line2[28:42], line2[42])
    _verify("composite", composite, line2[-1])
    if sex not in _SEXES:
        raise BadInput(f"MRZ: sex is {sex!r}; expected F, M, X or <")
    surname, given_names = _names(name)
    return MRZ(
        format=fmt,
        document_type=code.replace("<", ""),
        issuing_state=_state("issuing state", state),
        surname=surname,
        given_names=given_names,
        document_number=number,
        nationality=_state("nationality", nationality),
        birth_date=_birth_date(birth, today),
        sex=_SEXES[sex],
        expiry_date=_expiry_date(expiry),
        optional_data=optional_data,
    )


def _letters(text: str) -> str:
    return re.sub(r"[^A-Z]", "", text)


def _same_name(typed: str, printed: str, truncated: bool) -> bool:
    """Letters-only comparison; both the plain and the ICAO spelling of umlauts count, and a name the
    zone had to cut short matches anything that starts with it."""
    want = _letters(printed)
    forms = {_letters(latin(typed)), _letters(latin(typed.translate(_ICAO_LATIN)))}
    return any(f == want or (truncated and f.startswith(want)) for f in forms)


def _birth_agrees(typed: PartialDate, printed: str) -> bool:
    parts = [int(p) for p in printed.split("-")]
    return all(a is None or a == b for a, b in zip((typed.year, typed.month, typed.day), parts))


def cross_check(mrz: MRZ, details: Details) -> list[str]:
    """Where the zone and the typed details disagree, one line each; fields not typed are not compared."""
    out = []
    # A name field filled to its last character may have been truncated by the issuer.
    used = len(mrz.surname) + (2 + len(mrz.given_names) if mrz.given_names else 0)
    truncated = used >= _NAME_WIDTH[mrz.format]
    for label, typed, printed in (
        ("surname", details.surname, mrz.surname),
        ("given names", details.given_names, mrz.given_names),
    ):
        if typed and not _same_name(typed, printed, truncated):
            out.append(f"{label}: typed {typed!r}, the MRZ has {printed!r}")
    if details.dob and mrz.birth_date and not _birth_agrees(details.dob, mrz.birth_date):
        out.append(f"date of birth: typed {details.dob}, the MRZ has {mrz.birth_date}")
    if details.sex and details.sex != mrz.sex:
        out.append(f"sex: typed {details.sex}, the MRZ has {mrz.sex}")
    for label, typed, printed in (
        ("nationality", details.nationality, mrz.nationality),
        ("issuing state", details.document_state, mrz.issuing_state),
    ):
        if typed and typed != ICAO_CODES.get(printed, printed):
            out.append(f"{label}: typed {typed}, the MRZ has {printed}")
    if details.document_number:
        typed = re.sub(r"[^A-Z0-9]", "", details.document_number.upper())
        if typed != mrz.document_number:
            out.append(f"document number: typed {details.document_number!r}, the MRZ has {mrz.document_number!r}")
    if details.document_expiry and mrz.expiry_date and details.document_expiry.isoformat() != mrz.expiry_date:
        out.append(f"expiry date: typed {details.document_expiry}, the MRZ has {mrz.expiry_date}")
    return out


def _country(code: str) -> str | None:
    """The alpha-3 code a Details record keeps, or None for a code that is no country (the specimen
    state UTO, say); only exact codes count, never a fuzzy match on a name."""
    if code in ICAO_CODES:
        return ICAO_CODES[code]
    return code if pycountry.countries.get(alpha_3=code) else None


def apply(zone: MRZ, details: Details, today: date | None = None) -> tuple[Details, list[str]]:
    """The details with what the officer left blank filled in from the zone, and one warning per
    disagreement or doubt. Typed values are never replaced: the officer decides which is right, and the
    zone and its disagreements are kept with the details so the record shows both."""
    today = today or date.today()
    mismatches = cross_check(zone, details)
    warnings = [f"MRZ disagrees with what was typed, {m}; the typed value is kept" for m in mismatches]
    fill: dict[str, Any] = {}
    if not details.surname and zone.surname:
        fill["surname"] = zone.surname
    if not details.given_names and zone.given_names:
        fill["given_names"] = zone.given_names
    if details.dob is None and zone.birth_date:
        fill["dob"] = parse_date(zone.birth_date, "MRZ date of birth")
    if not details.sex:
        fill["sex"] = zone.sex
    for name, code, label in (
        ("nationality", zone.nationality, "nationality"),
        ("document_state", zone.issuing_state, "issuing state"),
    ):
        if getattr(details, name):
            continue
        if _country(code):
            fill[name] = _country(code)
        else:
            warnings.append(f"MRZ {label} {code!r} is not a country code; {label} left blank")
    if not details.document_type:
        fill["document_type"] = "passport" if zone.document_type.startswith("P") else "id-card"
    if not details.document_number:
        fill["document_number"] = zone.document_number
    expiry = date.fromisoformat(zone.expiry_date) if zone.expiry_date else None
    if details.document_expiry is None and expiry:
        fill["document_expiry"] = expiry
    if expiry and expiry < today:
        warnings.append(f"MRZ: the document expired on {expiry}")
    return replace(details, **fill, mrz=zone.to_dict(), mrz_mismatches=mismatches), warnings


# ICAO 9303 part 3's transliteration of Arabic script (with the letters of Persian, Pashto and Urdu) for
# the machine-readable zone: most letters one Latin letter, the rest an X escape. Read back, a zone's
# name gives its script form again, and from that its usual romanisations (`triage.intake.names`).
ARABIC_ESCAPES: dict[str, str] = {
    "XE": "ء", "XAA": "آ", "XAE": "أ", "XI": "ئ", "XTH": "ث", "XH": "ح", "XKH": "خ", "XDH": "ذ",
    "XSH": "ش", "XSS": "ص", "XDZ": "ض", "XTT": "ط", "XZZ": "ظ", "XAY": "ى", "XXA": "ٱ", "XXT": "ٹ",
    "XRT": "ټ", "XKE": "ځ", "XXH": "څ", "XC": "چ", "XXD": "ڈ", "XDR": "ډ", "XXR": "ڑ", "XRR": "ړ",
    "XRX": "ږ", "XJ": "ژ", "XXS": "ښ", "XKK": "ک", "XXK": "ګ", "XNG": "ڭ", "XGG": "گ", "XNN": "ں",
    "XXN": "ڼ", "XDO": "ھ", "XYH": "ۀ", "XXG": "ہ", "XGE": "ۂ", "XTG": "ۃ", "XYA": "ی", "XXY": "ۍ",
    "XYB": "ے", "XBE": "ۓ",
}  # fmt: skip
ARABIC_LETTERS: dict[str, str] = {
    "A": "ا", "B": "ب", "T": "ت", "J": "ج", "D": "د", "R": "ر", "Z": "ز", "S": "س", "E": "ع", "G": "غ",
    "F": "ف", "Q": "ق", "K": "ك", "L": "ل", "M": "م", "N": "ن", "H": "ه", "W": "و", "Y": "ي", "U": "ؤ",
    "I": "إ", "P": "پ", "O": "",
}  # fmt: skip
_ESCAPE = re.compile("|".join(sorted(ARABIC_ESCAPES, key=len, reverse=True)))


def arabic_from_mrz(name: str) -> str | None:
    """The Arabic-script form of a name a zone wrote with ICAO 9303's transliteration of Arabic ("XHSN"
    -> "حسن", "MXHMD" -> "محمد"), or None when the name is not written so: it has no X escape, or a
    letter the transliteration never gives (V, a lone X...). P is teh marbuta at the end of a word (the
    table gives it for both), peh elsewhere."""
    words = [w for w in re.split(r"[\s<]+", name.upper()) if w]
    if not words or not any(_ESCAPE.search(w) for w in words):
        return None
    out = []
    for word in words:
        letters, i = [], 0
        while i < len(word):
            m = _ESCAPE.match(word, i)
            if m:
                letters.append(ARABIC_ESCAPES[m.group()])
                i = m.end()
            elif word[i] in ARABIC_LETTERS:
                letters.append("ة" if word[i] == "P" and i == len(word) - 1 else ARABIC_LETTERS[word[i]])
                i += 1
            else:
                return None
        out.append("".join(letters))
    return " ".join(out)
