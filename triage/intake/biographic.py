"""Biographic details as an officer types them: names, dates, nationality, documents and phones.

Every parser takes the raw text and either returns one normalised value or raises `BadInput` naming the
flag and what to type instead, so a mistake is caught at the landing site rather than in a later search.
Dates may be partial because many arrivals know only a year of birth; countries end up as ISO 3166
alpha-3 (or the few ICAO 9303 codes that are not ISO), the same codes a document's MRZ carries.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import phonenumbers
import pycountry
from anyascii import anyascii

from triage.errors import BadInput, Faults

T = TypeVar("T")

DATE_FORMATS = "YYYY, YYYY-MM, YYYY-MM-DD, DD/MM/YYYY, DD.MM.YYYY or MM/YYYY"
FULL_DATE_FORMATS = "YYYY-MM-DD, DD/MM/YYYY or DD.MM.YYYY"  # a day, where one must be named
MIN_YEAR, MAX_YEAR = 1900, 2100
MAX_AGE = 120

# ICAO 9303 part 3 codes that are not ISO 3166: German documents print "D"; the British variants all
# mean the United Kingdom here; the United Nations and the stateless/refugee codes stand for themselves.
ICAO_CODES = {
    "D": "DEU",
    "GBD": "GBR",
    "GBN": "GBR",
    "GBO": "GBR",
    "GBP": "GBR",
    "GBS": "GBR",
    "UNO": "UNO",
    "UNA": "UNA",
    "UNK": "UNK",
    "XXA": "XXA",
    "XXB": "XXB",
    "XXC": "XXC",
    "XXX": "XXX",
    "RKS": "RKS",  # Kosovo prints RKS in its passports' MRZ although it is in neither list
}
# Names officers use that pycountry does not know, or knows differently. "Congo" alone is refused because
# pycountry would silently read it as the Republic of the Congo when the DRC is at least as likely.
COUNTRY_NAMES = {
    "UK": "GBR",
    "BRITAIN": "GBR",
    "GREAT BRITAIN": "GBR",
    "ENGLAND": "GBR",
    "SCOTLAND": "GBR",
    "WALES": "GBR",
    "NORTHERN IRELAND": "GBR",
    "TURKEY": "TUR",
    "IVORY COAST": "CIV",
    "KOSOVO": "RKS",
}
AMBIGUOUS_NAMES = {"CONGO": ("COG", "COD")}

_WITH_COUNTRY_CODE = (
    phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN,
    phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD,
)
_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE

SEXES = {"F": "F", "FEMALE": "F", "M": "M", "MALE": "M", "X": "X", "UNSPECIFIED": "X", "<": "X"}

# Bidi embeddings, overrides and isolates can make a stored name display as something else.
BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
# Control characters, lone surrogates (undecodable bytes in argv) and line/paragraph separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})

_ISO_DATE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?", re.ASCII)
_DAY_FIRST = re.compile(r"(\d{1,2})([/.])(\d{1,2})\2(\d{4})", re.ASCII)
_MONTH_YEAR = re.compile(r"(\d{1,2})[/.](\d{4})", re.ASCII)
_AGE = re.compile(r"(\d{1,3})(?:\s*(?:-|\u2013|\u2014|to)\s*(\d{1,3}))?", re.ASCII | re.IGNORECASE)


def _shown(text: str) -> str:
    """The input quoted for an error message, cut short so a pasted paragraph stays on one line."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


@dataclass(frozen=True)
class PartialDate:
    """A date of which only the year, or the year and month, may be known."""

    year: int
    month: int | None = None
    day: int | None = None

    def __str__(self) -> str:
        parts = [f"{self.year:04d}"]
        if self.month is not None:
            parts.append(f"{self.month:02d}")
            if self.day is not None:
                parts.append(f"{self.day:02d}")
        return "-".join(parts)

    def earliest(self) -> date:
        """The first day the date allows."""
        return date(self.year, self.month or 1, self.day or 1)

    def latest(self) -> date:
        """The last day the date allows; raises ValueError when the calendar has no such day."""
        month = self.month or 12
        return date(self.year, month, self.day or calendar.monthrange(self.year, month)[1])

    def age_range_on(self, today: date) -> tuple[int, int]:
        """Youngest and oldest whole-year age the person can be on `today`; a partial date widens the range.

        A birth after `today` counts as age 0, so a year-only date in the current year stays usable.
        """
        return max(0, _age(self.latest(), today)), max(0, _age(self.earliest(), today))


def _age(born: date, today: date) -> int:
    # Comparing (month, day) makes a 29 February birthday fall on 1 March in other years.
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February in a year that has none
        return today.replace(year=today.year - years, day=28)


def parse_date(text: str, field: str = "date", formats: str | None = None) -> PartialDate:
    """A full or partial date in ISO order, or day-first as written in the UK (DD/MM/YYYY, MM/YYYY). A refusal
    offers `formats` (every form a partial date may take, unless the caller takes fewer)."""
    formats = formats or DATE_FORMATS
    s = text.strip()
    if m := _ISO_DATE.fullmatch(s):
        year, month, day = m.group(1), m.group(2), m.group(3)
    elif m := _DAY_FIRST.fullmatch(s):
        day, month, year = m.group(1), m.group(3), m.group(4)
    elif m := _MONTH_YEAR.fullmatch(s):
        month, year, day = m.group(1), m.group(2), None
    else:
        raise BadInput(f"{field}: {_shown(text)} is not a date; use {formats}")
    y = int(year)
    mo = int(month) if month is not None else None
    d = int(day) if day is not None else None

    def refuse(why: str) -> BadInput:
        return BadInput(f"{field}: {_shown(text)} is not a date: {why}; use {formats}")

    if not MIN_YEAR <= y <= MAX_YEAR:
        raise refuse(f"year {y} is outside {MIN_YEAR}-{MAX_YEAR}")
    if mo is not None and not 1 <= mo <= 12:
        raise refuse(f"month {mo}")
    if d is not None and mo is not None:  # a day is only ever read with its month
        days = calendar.monthrange(y, mo)[1]
        if not 1 <= d <= days:
            raise refuse(f"day {d}, but {calendar.month_name[mo]} {y} has {days} days")
    return PartialDate(y, mo, d)


def parse_full_date(text: str, field: str) -> date:
    """A date that must be exact, such as a document's expiry or a landing date."""
    p = parse_date(text, field, FULL_DATE_FORMATS)
    if p.month is None or p.day is None:
        raise BadInput(f"{field}: {_shown(text)} needs a day, month and year; use YYYY-MM-DD or DD/MM/YYYY")
    return date(p.year, p.month, p.day)


def parse_landed_at(text: str, tz: str, field: str = "--landed-at") -> str:
    """The time of landing in UTC (ISO 8601); a time typed without an offset is the site's local time."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{field}: {_shown(text)} is not a time; use ISO 8601, e.g. 2026-11-28T04:30") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(tz))
    if when > datetime.now(timezone.utc) + timedelta(minutes=5):
        raise BadInput(f"{field}: {_shown(text)} is in the future")
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_age_range(text: str, field: str = "--age") -> tuple[int, int]:
    """An assessed age: one number of years ("17") or a range ("16-18", "16 to 18")."""
    m = _AGE.fullmatch(text.strip())
    if not m:
        raise BadInput(f"{field}: {_shown(text)} is not an age; use whole years such as 17 or a range such as 16-18")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    if max(lo, hi) > MAX_AGE:
        raise BadInput(f"{field}: {max(lo, hi)} is over {MAX_AGE}; use whole years such as 17 or a range such as 16-18")
    if lo > hi:
        raise BadInput(f"{field}: {_shown(text)} runs backwards; put the lower age first, e.g. {hi}-{lo}")
    return lo, hi


def _country_names(country: Any) -> list[str]:
    return [latin(n) for n in (getattr(country, a, None) for a in ("name", "official_name", "common_name")) if n]


def parse_country(text: str, field: str = "nationality") -> str:
    """ISO 3166 alpha-3 (or an ICAO 9303 code) from a country code or name.

    pycountry's fuzzy search also matches regions and cities ("Kosovo" finds Serbia, "Kurdistan" Iraq),
    which would record a nationality nobody stated, so a fuzzy hit counts only when the text appears in
    the country's own name.
    """
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        raise BadInput(f"{field}: no country given; use a name such as Eritrea or a code such as ERI")
    key = " ".join(s.upper().split())
    if key in ICAO_CODES:
        return ICAO_CODES[key]
    if key in COUNTRY_NAMES:
        return COUNTRY_NAMES[key]
    if key in AMBIGUOUS_NAMES:
        raise BadInput(f"{field}: {_shown(text)} could be {' or '.join(AMBIGUOUS_NAMES[key])}; give the code")
    try:
        return pycountry.countries.lookup(s).alpha_3
    except LookupError:
        pass
    try:
        found = pycountry.countries.search_fuzzy(s)
    except LookupError:
        found = []
    wanted = latin(s)
    named = [c.alpha_3 for c in found if wanted and any(wanted in n for n in _country_names(c))]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        codes = ", ".join(named[:5]) + (", ..." if len(named) > 5 else "")
        raise BadInput(f"{field}: {_shown(text)} matches several countries ({codes}); give the code")
    raise BadInput(f"{field}: {_shown(text)} is not a country; use a name such as Eritrea or a code such as ERI")


def parse_sex(text: str, field: str = "--sex") -> str:
    """F, M or X, the markers ICAO documents use; '<' is the MRZ filler for unspecified."""
    sex = SEXES.get(text.strip().upper())
    if sex is None:
        raise BadInput(f"{field}: {_shown(text)} is not a sex marker; use F, M or X")
    return sex


def parse_phone(text: str, default_region: str = "GB", field: str = "--phone") -> str:
    """E.164, so the same number typed two ways is stored, compared and searched as one.

    A number typed without a country code is read as `default_region`'s and must be one of its numbering
    plan's (a foreign number typed that way would be recorded as a wrong number). One written with its
    country code (+44, 0044) needs only the length that country's numbers have: the allocation data
    behind a stricter check lags the ranges in use, and leaves out the ranges Ofcom keeps for fiction
    (07700 900xxx), so a number read off a phone would be refused for being unfamiliar."""
    try:
        number = phonenumbers.parse(text, default_region, keep_raw_input=True)
    except phonenumbers.NumberParseException as e:
        if e.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and text.strip()[:1] == "+":
            raise BadInput(f"{field}: {_shown(text)} is not a phone number: no country has that code") from None
        number = None
    if number is None:
        raise BadInput(
            f"{field}: {_shown(text)} is not a phone number; give it with its country code, e.g. +44 7911 123456"
        )
    if number.country_code_source in _WITH_COUNTRY_CODE:
        if phonenumbers.is_valid_number(number) or phonenumbers.is_possible_number_with_reason(number) == _POSSIBLE:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        code = number.country_code or 0  # set by parse whenever it returns
        region = phonenumbers.region_code_for_country_code(code)
        raise BadInput(
            f"{field}: {_shown(text)} is not a valid phone number of +{code}"
            + (f" ({region})" if region != phonenumbers.UNKNOWN_REGION else "")
            + ": too few or too many digits for its numbers; check them"
        )
    if not phonenumbers.is_valid_number(number):
        home = "the UK" if default_region == "GB" else default_region
        raise BadInput(
            f"{field}: {_shown(text)} is not a valid phone number in {home} (a number without its country code is "
            f"read as one of {home}'s, and this range is not in use there); give the country code for a number "
            "from abroad, e.g. +33 6 12 34 56 78"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def latin(text: str) -> str:
    """The form names are searched in, so 'Zoë', 'ZOE' and 'Zoe' (or Arabic and Latin spellings) meet."""
    s = anyascii(unicodedata.normalize("NFKC", text)).upper()
    s = re.sub(r"['\"`]", "", s)
    return re.sub(r"[\s-]+", " ", s).strip()


def clean_text(text: str, field: str, max_len: int = 200) -> str:
    """Free text safe to store and display: no control characters, nothing that reorders how it reads."""
    s = unicodedata.normalize("NFC", text.strip())
    for ch in s:
        if ch in BIDI_CONTROLS:
            raise BadInput(
                f"{field}: contains the direction control U+{ord(ch):04X}, which can disguise "
                "how the text reads; remove it"
            )
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            raise BadInput(f"{field}: contains the control character U+{ord(ch):04X}; remove it")
    if len(s) > max_len:
        raise BadInput(f"{field}: {len(s)} characters is too long; keep it to {max_len}")
    return s


# The implicit direction marks (RLM, LRM, the Arabic letter mark): invisible, carrying no letter, and added by
# many right-to-left text fields to what is copied from them.
_DIRECTION_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u061c"))


def name_text(text: str, field: str, max_len: int = 200) -> str:
    """A name as given, checked as `clean_text` checks free text, without the direction marks a name pasted
    from a right-to-left field carries: kept, they became part of each name part's key, so the name searched
    for without them (as typed) was not found, and the lexicon did not know it. A pictograph (an emoji, a sign) is no
    part of a name and is refused: its Latin form (`:SPEEDBOAT:`) would go into a PND search."""
    s = clean_text(text.translate(_DIRECTION_MARKS), field, max_len)
    symbol = next((ch for ch in s if unicodedata.category(ch) == "So"), None)
    if symbol is not None:
        raise BadInput(
            f"{field}: contains the symbol {symbol!r} (U+{ord(symbol):04X}), which is no part of a name; remove it"
        )
    return s


def reason_text(text: str | None, why: str, *, min_chars: int = 3, min_words: int = 1, field: str = "--reason") -> str:
    """A reason kept in the audit trail, as free text. One left blank is asked for (`why` says what it explains);
    one too short is called too short, with the minimum, so an officer who typed one is not told it is missing."""
    s = clean_text(text or "", field, 1000)
    if not s:
        raise BadInput(f"{field} is required: say why {why}")
    if len(s) < min_chars:
        raise BadInput(f"{field} must say why in at least {min_chars} characters; {s!r} is too short")
    if len(s.split()) < min_words:
        raise BadInput(f"{field} must say why in at least {min_words} words; {s!r} is too short")
    return s


@dataclass
class Details:
    """What an arrival says and what any document shows; any field may be None (not given)."""

    surname: str | None = None
    given_names: str | None = None
    aliases: list[str] = field(default_factory=list)
    dob: PartialDate | None = None
    age_range: tuple[int, int] | None = None  # assessed age when there is no document
    sex: str | None = None
    nationality: str | None = None  # alpha-3
    place_of_birth: str | None = None
    languages: list[str] = field(default_factory=list)
    document_type: str | None = None  # e.g. "passport", "id-card", "none"
    document_number: str | None = None
    document_state: str | None = None  # alpha-3 issuing state
    document_expiry: date | None = None
    phones: list[str] = field(default_factory=list)  # E.164
    notes: str | None = None
    mrz: dict[str, Any] | None = None  # the document's machine-readable zone as read (mrz.MRZ.to_dict())
    mrz_mismatches: list[str] = field(default_factory=list)  # where the zone and the typed details disagree

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the names' latin() forms alongside so records can be searched without re-deriving."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (PartialDate, date)):
                value = str(value)
            elif isinstance(value, (list, tuple)):
                value = list(value)
            out[f.name] = value
        out["surname_latin"] = latin(self.surname) if self.surname else None
        out["given_names_latin"] = latin(self.given_names) if self.given_names else None
        out["aliases_latin"] = [latin(a) for a in self.aliases]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Details:
        """The inverse of `to_dict`. Keys it does not know (the *_latin ones among them) are ignored, so a
        record may carry more than the details."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["dob"] = parse_date(kw["dob"], "dob") if kw.get("dob") else None
        kw["document_expiry"] = (
            parse_full_date(kw["document_expiry"], "document_expiry") if kw.get("document_expiry") else None
        )
        kw["age_range"] = tuple(kw["age_range"]) if kw.get("age_range") else None
        for name in ("aliases", "languages", "phones", "mrz_mismatches"):
            kw[name] = list(kw.get(name) or [])
        return cls(**kw)

    def age_range_on(self, today: date) -> tuple[int, int] | None:
        """The age the claimed date of birth gives, else the assessed range, else None (unknown)."""
        if self.dob is not None:
            return self.dob.age_range_on(today)
        return self.age_range

    def is_child(self, today: date) -> bool:
        """True when the claimed date of birth or the assessed range leaves room for an age under 18.

        Either source is enough: someone who may be a child is safeguarded until shown otherwise. An
        unknown age is not a child here; `age_range_on` returning None tells callers it is unknown.
        """
        ranges = [self.dob.age_range_on(today) if self.dob else None, self.age_range]
        return any(r is not None and r[0] < 18 for r in ranges)

    def full_name(self) -> str:
        """Surname first and in capitals, as travel documents print it, so nobody mistakes which is which."""
        parts = [self.surname.upper() if self.surname else None, self.given_names]
        return ", ".join(p for p in parts if p) or "(name not given)"


def _given(text: str | None) -> bool:
    return text is not None and text.strip() != ""


def flag(name: str) -> str:
    """How the command line names a detail: dob -> --dob, given_names -> --given-names."""
    return "--" + name.replace("_", "-")


def _birth(text: str, today: date, field: str) -> PartialDate:
    birth = parse_date(text, field)
    if birth.earliest() > today:
        raise BadInput(f"{field}: {birth} is in the future (today is {today})")
    if birth.latest() < _years_before(today, MAX_AGE):
        raise BadInput(f"{field}: {birth} is more than {MAX_AGE} years ago")
    return birth


@dataclass
class DetailText:
    """The details as an officer gave them (flags, a manifest row's cells, answers at a terminal), before
    any check: None or blank means not given. Collected once from wherever they came, then `build` checks
    them all into `Details`."""

    surname: str | None = None
    given_names: str | None = None
    aliases: list[str] = field(default_factory=list)
    dob: str | None = None
    age: str | None = None  # assessed age or range, e.g. "16-18"
    sex: str | None = None
    nationality: str | None = None
    place_of_birth: str | None = None
    languages: list[str] = field(default_factory=list)
    document_type: str | None = None
    document_number: str | None = None
    document_state: str | None = None
    document_expiry: str | None = None
    phones: list[str] = field(default_factory=list)
    notes: str | None = None

    def given(self) -> bool:
        """Whether any detail was given at all."""
        return any(getattr(self, f.name) for f in fields(self))

    def build(self, today: date | None = None, label: Callable[[str], str] = flag) -> Details:
        """Validate every detail into `Details`; every detail that is wrong is named in one error, each by
        `label` (a flag, or a manifest's column).

        A date of birth must not be in the future or more than 120 years ago, since either is a typing slip
        that would otherwise decide whether someone is treated as a child.
        """
        today = today or date.today()
        faults = Faults()

        def checked(parse: Callable[..., T], text: str | None, *args: object) -> T | None:
            return faults.check(parse, text, *args) if _given(text) else None

        def each(parse: Callable[..., T], texts: Iterable[str], *args: object) -> list[T]:
            return [v for v in (checked(parse, t, *args) for t in texts) if v is not None]

        details = Details(
            surname=checked(name_text, self.surname, label("surname"), 100),
            given_names=checked(name_text, self.given_names, label("given_names"), 100),
            aliases=each(name_text, self.aliases, label("alias"), 200),
            dob=checked(_birth, self.dob, today, label("dob")),
            age_range=checked(parse_age_range, self.age, label("age")),
            sex=checked(parse_sex, self.sex, label("sex")),
            nationality=checked(parse_country, self.nationality, label("nationality")),
            place_of_birth=checked(clean_text, self.place_of_birth, label("place_of_birth"), 100),
            languages=each(clean_text, self.languages, label("language"), 50),
            document_type=checked(clean_text, self.document_type, label("document_type"), 30),
            document_number=checked(clean_text, self.document_number, label("document_number"), 30),
            document_state=checked(parse_country, self.document_state, label("document_state")),
            document_expiry=checked(parse_full_date, self.document_expiry, label("document_expiry")),
            phones=each(parse_phone, self.phones, "GB", label("phone")),
            notes=checked(clean_text, self.notes, label("notes"), 2000),
        )
        faults.raise_any()
        return details


def build_details(*, today: date | None = None, label: Callable[[str], str] = flag, **text: Any) -> Details:
    """`DetailText(**text).build(today, label)`: the details checked from keywords, e.g.
    `build_details(surname="Hama", dob="1990")`."""
    return DetailText(**text).build(today, label)
