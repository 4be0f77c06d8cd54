"""Parsing and validation of what officers type: dates, ages, countries, names, phones and `Details`."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage.errors import BadInput
from triage.intake.biographic import (
    Details,
    PartialDate,
    build_details,
    clean_text,
    latin,
    parse_age_range,
    parse_country,
    parse_date,
    parse_full_date,
    parse_phone,
    parse_sex,
)

TODAY = date(2025, 6, 15)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1990", PartialDate(1990)),
        ("1990-04", PartialDate(1990, 4)),
        ("1990-04-17", PartialDate(1990, 4, 17)),
        ("  1990-4-7 ", PartialDate(1990, 4, 7)),
        ("17/04/1990", PartialDate(1990, 4, 17)),
        ("17.04.1990", PartialDate(1990, 4, 17)),
        ("04/1990", PartialDate(1990, 4)),
        ("29/02/2024", PartialDate(2024, 2, 29)),
        ("2000-02-29", PartialDate(2000, 2, 29)),
    ],
)
def test_parse_date_accepts(text, expected):
    assert parse_date(text) == expected


def test_partial_date_str():
    assert [str(PartialDate(1990)), str(PartialDate(1990, 4)), str(PartialDate(1990, 4, 7))] == [
        "1990",
        "1990-04",
        "1990-04-07",
    ]


@pytest.mark.parametrize(
    "text, why",
    [
        ("2026-13-01", "month 13"),
        ("29/02/2023", "February 2023 has 28 days"),
        ("1900-02-29", "February 1900 has 28 days"),
        ("2024-04-31", "April 2024 has 30 days"),
        ("1850", "year 1850 is outside 1900-2100"),
        ("2024-00", "month 0"),
        ("17/04-1990", "is not a date; use"),
        ("yesterday", "is not a date; use"),
        ("", "is not a date; use"),
    ],
)
def test_parse_date_refuses_naming_the_field(text, why):
    with pytest.raises(BadInput, match=f"^--dob: .*{why}"):
        parse_date(text, "--dob")


def test_error_message_matches_the_documented_style():
    with pytest.raises(BadInput) as err:
        parse_date("2026-13-01", "--dob")
    assert (
        str(err.value)
        == "--dob: '2026-13-01' is not a date: month 13; use YYYY, YYYY-MM, YYYY-MM-DD, DD/MM/YYYY, DD.MM.YYYY or MM/YYYY"
    )


def test_parse_full_date():
    assert parse_full_date("15/04/2031", "--document-expiry") == date(2031, 4, 15)
    with pytest.raises(BadInput, match="^--document-expiry: '2031-04' needs a day"):
        parse_full_date("2031-04", "--document-expiry")


@pytest.mark.parametrize(
    "born, on, expected",
    [
        (PartialDate(1990, 4, 17), date(2025, 4, 16), (34, 34)),
        (PartialDate(1990, 4, 17), date(2025, 4, 17), (35, 35)),
        (PartialDate(1990, 4), date(2025, 4, 10), (34, 35)),
        (PartialDate(1990), date(2025, 6, 15), (34, 35)),
        (PartialDate(2008, 2, 29), date(2026, 2, 28), (17, 17)),
        (PartialDate(2008, 2, 29), date(2026, 3, 1), (18, 18)),
        (PartialDate(2025), date(2025, 6, 15), (0, 0)),
    ],
)
def test_age_range_on(born, on, expected):
    assert born.age_range_on(on) == expected


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
)
def test_partial_dates_cover_every_full_date_they_allow(born, today):
    full = PartialDate(born.year, born.month, born.day).age_range_on(today)
    assert full[0] == full[1]
    for partial in (PartialDate(born.year, born.month), PartialDate(born.year)):
        lo, hi = partial.age_range_on(today)
        assert lo <= full[0] <= hi


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_every_accepted_format_reads_the_same_date(d):
    expected = PartialDate(d.year, d.month, d.day)
    for text in (d.isoformat(), d.strftime("%d/%m/%Y"), d.strftime("%d.%m.%Y")):
        assert parse_date(text) == expected
    assert parse_date(d.strftime("%m/%Y")) == PartialDate(d.year, d.month)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("17", (17, 17)),
        ("16-18", (16, 18)),
        (" 16 - 18 ", (16, 18)),
        ("16 to 18", (16, 18)),
        ("16–18", (16, 18)),
        ("0", (0, 0)),
        ("120", (120, 120)),
    ],
)
def test_parse_age_range(text, expected):
    assert parse_age_range(text) == expected


@pytest.mark.parametrize(
    "text, why",
    [
        ("18-16", "runs backwards"),
        ("121", "over 120"),
        ("16-130", "over 120"),
        ("-3", "is not an age"),
        ("about 17", "is not an age"),
        ("", "is not an age"),
        ("16.5", "is not an age"),
    ],
)
def test_parse_age_range_refuses(text, why):
    with pytest.raises(BadInput, match=f"^--age: .*{why}"):
        parse_age_range(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Eritrea", "ERI"),
        ("iran", "IRN"),
        ("Syria", "SYR"),
        ("  afghanistan ", "AFG"),
        ("ER", "ERI"),
        ("eri", "ERI"),
        ("Viet Nam", "VNM"),
        ("Russia", "RUS"),
        ("Britain", "GBR"),
        ("UK", "GBR"),
        ("Turkey", "TUR"),
        ("Kosovo", "RKS"),
        ("D", "DEU"),
        ("GBD", "GBR"),
        ("gbn", "GBR"),
        ("GBO", "GBR"),
        ("GBP", "GBR"),
        ("GBS", "GBR"),
        ("UNO", "UNO"),
        ("UNA", "UNA"),
        ("UNK", "UNK"),
        ("XXA", "XXA"),
        ("XXB", "XXB"),
        ("XXC", "XXC"),
        ("XXX", "XXX"),
    ],
)
def test_parse_country(text, expected):
    assert parse_country(text) == expected


@pytest.mark.parametrize(
    "text, why",
    [
        ("Atlantis", "is not a country"),
        ("", "no country given"),
        ("Korea", "matches several countries"),
        ("Congo", "could be COG or COD"),
        ("Kurdistan", "is not a country"),  # a region: pycountry's fuzzy search alone would say Iraq
    ],
)
def test_parse_country_refuses_naming_the_field(text, why):
    with pytest.raises(BadInput, match=f"^--nationality: .*{why}"):
        parse_country(text, "--nationality")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("f", "F"),
        ("Female", "F"),
        ("M", "M"),
        (" male ", "M"),
        ("x", "X"),
        ("unspecified", "X"),
        ("<", "X"),
    ],
)
def test_parse_sex(text, expected):
    assert parse_sex(text) == expected


def test_parse_sex_refuses():
    with pytest.raises(BadInput, match="^--sex: 'woman' is not a sex marker; use F, M or X"):
        parse_sex("woman")


def test_parse_phone():
    assert parse_phone("07911 123456") == "+447911123456"
    assert parse_phone("+33 6 12 34 56 78") == "+33612345678"
    assert parse_phone("0612345678", default_region="FR") == "+33612345678"
    for bad in ("12", "not a number", "+44 12"):
        with pytest.raises(BadInput, match="^--phone: "):
            parse_phone(bad)
    # A UK number of a range not in use (Ofcom's, for fiction) was told only "give the country code for a
    # number from abroad", as if it were foreign; with its country code it is taken on its length alone.
    with pytest.raises(BadInput, match="not a valid phone number in the UK .*this range is not in use there"):
        parse_phone("07700 900123")
    assert parse_phone("+44 7700 900123") == "+447700900123"


def test_latin():
    arabic = latin("محمد حسین")
    assert arabic and arabic.isascii() and arabic == arabic.upper()
    assert " " in arabic  # the two names stay two words
    assert latin("Zoë Ḥusayn") == "ZOE HUSAYN"
    assert latin("  O’Brien-Smith \t  Jr ") == "OBRIEN SMITH JR"
    assert latin("Ｊｏｈｎ") == "JOHN"
    assert latin("Ольга") == "OLGA"


def test_clean_text():
    assert clean_text("  Zoe\u0308  ", "--surname") == "Zoë"  # stripped and NFC
    assert clean_text("", "--notes") == ""
    assert clean_text("x" * 200, "--surname") == "x" * 200


@pytest.mark.parametrize(
    "text, why",
    [
        ("abc\u202edef", "direction control U\\+202E"),
        ("abc\u2067def", "direction control U\\+2067"),
        ("\x1b[31mred", "control character U\\+001B"),
        ("a\x00b", "control character U\\+0000"),
        ("two\nlines", "control character U\\+000A"),
        ("bad\udcffbyte", "control character U\\+DCFF"),
    ],
)
def test_clean_text_refuses(text, why):
    with pytest.raises(BadInput, match=f"^--surname: contains the {why}"):
        clean_text(text, "--surname")


def test_clean_text_refuses_too_long():
    with pytest.raises(BadInput, match="^--surname: 201 characters is too long; keep it to 200"):
        clean_text("x" * 201, "--surname")
    with pytest.raises(BadInput, match="keep it to 10"):
        clean_text("x" * 11, "--given-names", 10)


def full_details() -> Details:
    return build_details(
        surname=" Ḥusayn ",
        given_names="Zoë Amira",
        aliases=["Zoe Hussein", "", "زوی"],
        dob="17/04/2009",
        age="15-17",
        sex="f",
        nationality="Eritrea",
        place_of_birth="Asmara",
        languages=["Tigrinya", "Arabic"],
        document_type="passport",
        document_number="P1234567",
        document_state="ERI",
        document_expiry="2030-01-31",
        phones=["+291 7 123 456", "07911 123456"],
        notes="Travelling with a brother.",
        today=TODAY,
    )


def test_build_details_normalises_everything():
    d = full_details()
    assert d.surname == "Ḥusayn"
    assert d.aliases == ["Zoe Hussein", "زوی"]
    assert d.dob == PartialDate(2009, 4, 17)
    assert d.age_range == (15, 17)
    assert (d.sex, d.nationality, d.document_state) == ("F", "ERI", "ERI")
    assert d.document_expiry == date(2030, 1, 31)
    assert d.phones == ["+2917123456", "+447911123456"]
    assert d.full_name() == "ḤUSAYN, Zoë Amira"


def test_build_details_treats_empty_as_not_given():
    d = build_details(
        surname="", given_names="  ", dob="", age="", sex="", nationality="", phones=["", " "], today=TODAY
    )
    assert d == Details()
    assert d.full_name() == "(name not given)"
    assert d.age_range_on(TODAY) is None
    assert d.is_child(TODAY) is False


def test_full_name_with_one_part():
    assert Details(surname="Eriksson").full_name() == "ERIKSSON"
    assert Details(given_names="Anna").full_name() == "Anna"


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        ({"dob": "2026-13-01"}, "--dob"),
        ({"dob": "2025-06-16"}, "--dob"),
        ({"age": "old"}, "--age"),
        ({"sex": "q"}, "--sex"),
        ({"nationality": "Atlantis"}, "--nationality"),
        ({"document_state": "Atlantis"}, "--document-state"),
        ({"document_expiry": "2030"}, "--document-expiry"),
        ({"phones": ["12"]}, "--phone"),
        ({"surname": "a\u202eb"}, "--surname"),
        ({"given_names": "x" * 101}, "--given-names"),
        ({"aliases": ["a\x07"]}, "--alias"),
        ({"languages": ["x" * 51]}, "--language"),
        ({"place_of_birth": "\x1b"}, "--place-of-birth"),
        ({"document_number": "x" * 31}, "--document-number"),
        ({"document_type": "\u2066"}, "--document-type"),
        ({"notes": "x" * 2001}, "--notes"),
    ],
)
def test_build_details_errors_name_the_flag(kwargs, flag):
    with pytest.raises(BadInput, match=f"^{flag}: "):
        build_details(today=TODAY, **kwargs)


def test_notes_may_be_long():
    assert build_details(notes="x" * 2000, today=TODAY).notes == "x" * 2000


def test_dob_in_the_future_or_too_long_ago_is_refused():
    with pytest.raises(BadInput, match="^--dob: 2025-06-16 is in the future"):
        build_details(dob="2025-06-16", today=TODAY)
    with pytest.raises(BadInput, match="^--dob: 2026 is in the future"):
        build_details(dob="2026", today=TODAY)
    with pytest.raises(BadInput, match="^--dob: 1904 is more than 120 years ago"):
        build_details(dob="1904", today=TODAY)
    assert build_details(dob="2025-06-15", today=TODAY).dob == PartialDate(2025, 6, 15)
    assert build_details(dob="2025", today=TODAY).dob == PartialDate(2025)  # this year: may be past
    assert build_details(dob="1905", today=TODAY).dob == PartialDate(1905)  # may be under 120


def test_child_from_dob_and_from_assessed_age():
    thirty_years_ago = str(TODAY.replace(year=TODAY.year - 30))
    assert not build_details(dob=thirty_years_ago, today=TODAY).is_child(TODAY)
    assert build_details(age="16-18", today=TODAY).is_child(TODAY)
    assert not build_details(age="18-20", today=TODAY).is_child(TODAY)
    assert build_details(dob=str(TODAY - timedelta(days=17 * 365)), today=TODAY).is_child(TODAY)
    # born 2007: 17 or 18 today, so possibly a child
    assert build_details(dob="2007", today=TODAY).is_child(TODAY)
    # 18 today exactly
    assert not build_details(dob="2007-06-15", today=TODAY).is_child(TODAY)
    assert build_details(dob="2007-06-16", today=TODAY).is_child(TODAY)


def test_an_assessed_child_age_counts_even_with_an_adult_dob():
    d = build_details(dob="1995", age="15-17", today=TODAY)
    assert d.age_range_on(TODAY) == (29, 30)  # the claimed date of birth comes first
    assert d.is_child(TODAY)


def test_details_round_trip_through_dict_and_json():
    d = full_details()
    data = d.to_dict()
    assert data["dob"] == "2009-04-17"
    assert data["document_expiry"] == "2030-01-31"
    assert data["age_range"] == [15, 17]
    assert data["surname_latin"] == "HUSAYN"
    assert data["given_names_latin"] == "ZOE AMIRA"
    assert data["aliases_latin"][0] == "ZOE HUSSEIN"
    back = Details.from_dict(json.loads(json.dumps(data)))
    assert back == d
    assert back.to_dict() == data


def test_empty_details_round_trip():
    data = Details().to_dict()
    assert data["surname_latin"] is None and data["aliases_latin"] == []
    assert Details.from_dict(json.loads(json.dumps(data))) == Details()


def test_from_dict_ignores_keys_it_does_not_know():
    data = full_details().to_dict() | {"surname_latin": "SOMETHING ELSE", "source": "mrz"}
    assert Details.from_dict(data) == full_details()


def test_partial_dob_round_trips():
    d = build_details(dob="04/2009", today=TODAY)
    assert Details.from_dict(json.loads(json.dumps(d.to_dict()))).dob == PartialDate(2009, 4)


@given(st.text())
def test_parse_date_raises_only_bad_input(text):
    try:
        parse_date(text, "--dob")
    except BadInput:
        pass


@given(st.text())
def test_parse_age_range_raises_only_bad_input(text):
    try:
        lo, hi = parse_age_range(text)
    except BadInput:
        return
    assert 0 <= lo <= hi <= 120


@given(st.text(max_size=30))
def test_parse_country_raises_only_bad_input(text):
    try:
        code = parse_country(text)
    except BadInput:
        return
    assert len(code) == 3 and code.isalpha() and code.isupper()


@given(st.text())
def test_parse_phone_raises_only_bad_input(text):
    try:
        number = parse_phone(text)
    except BadInput:
        return
    assert number.startswith("+") and number[1:].isdigit()


@given(st.text())
def test_latin_is_ascii_upper_and_never_raises(text):
    out = latin(text)
    assert out.isascii() and out == out.upper() and out == out.strip()


def test_every_wrong_detail_is_named_at_once_by_flag_or_by_column():
    wrong = {"dob": "1990-13-01", "sex": "Q", "nationality": "Atlantis", "phones": ["12"], "surname": "Ali"}
    with pytest.raises(BadInput) as by_flag:
        build_details(**wrong, today=date(2026, 12, 5))
    message = str(by_flag.value)
    for part in ("--dob: '1990-13-01' is not a date", "--sex: 'Q'", "--nationality: 'Atlantis'", "--phone: '12'"):
        assert part in message
    assert "surname" not in message, "only what is wrong is named"
    with pytest.raises(BadInput) as by_column:
        build_details(**wrong, today=date(2026, 12, 5), label=lambda name: f"column {name}")
    assert "column dob:" in str(by_column.value) and "column phone:" in str(by_column.value)
    assert "--" not in str(by_column.value)
