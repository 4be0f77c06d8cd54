"""MRZ parsing against the ICAO 9303 specimens, check-digit failures, and properties over random zones."""

from __future__ import annotations

import string
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage.errors import BadInput
from triage.intake import mrz
from triage.intake.biographic import Details, PartialDate, build_details

TODAY = date(2025, 6, 15)
MRZ_CHARS = string.ascii_uppercase + string.digits + "<"

# ICAO 9303 specimens (parts 4, 5 and 6): Anna Maria Eriksson of Utopia.
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
TD2 = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6"


def cd(field: str) -> str:
    return mrz.check_digit(field)


def make_td3(
    *,
    code="P<",
    state="UTO",
    name="ERIKSSON<<ANNA<MARIA",
    number="L898902C3",
    nationality="UTO",
    birth="740812",
    sex="F",
    expiry="120415",
    personal="ZE184226B",
) -> str:
    """A TD3 zone with every check digit computed, so tests can vary one field at a time."""
    num, pers = number.ljust(9, "<"), personal.ljust(14, "<")
    body = num + cd(num) + nationality + birth + cd(birth) + sex + expiry + cd(expiry) + pers + cd(pers)
    return (code + state + name).ljust(44, "<")[:44] + "\n" + body + cd(body[0:10] + body[13:20] + body[21:43])


def make_td1(
    *,
    number_field="D23145890",
    number_check=None,
    optional="",
    birth="740812",
    sex="F",
    expiry="120415",
    nationality="UTO",
    name="ERIKSSON<<ANNA<MARIA",
) -> str:
    top = ("I<UTO" + number_field.ljust(9, "<") + (number_check or cd(number_field.ljust(9, "<"))) + optional).ljust(
        30, "<"
    )
    middle = birth + cd(birth) + sex + expiry + cd(expiry) + nationality.ljust(3, "<") + "<" * 11
    middle += cd(top[5:30] + middle[0:7] + middle[8:15] + middle[18:29])
    return "\n".join([top, middle, name.ljust(30, "<")])


def alter(zone: str, line: int, pos: int) -> str:
    """The zone with the digit at (line, pos) changed to the next digit."""
    rows = zone.split("\n")
    row = rows[line]
    rows[line] = row[:pos] + str((int(row[pos]) + 1) % 10) + row[pos + 1 :]
    return "\n".join(rows)


def test_specimen_check_digits_are_what_icao_prints():
    assert cd("L898902C3") == "6"
    assert cd("740812") == "2"
    assert cd("120415") == "9"
    assert cd("ZE184226B<<<<<") == "1"
    assert cd("D23145890") == "7"
    assert cd("D23145890734") == "9"  # the long-number example of ICAO 9303 part 5
    assert cd("") == "0"


def test_check_digit_refuses_characters_outside_the_alphabet():
    with pytest.raises(BadInput, match="only A-Z, 0-9 and <"):
        cd("AB-1")


def test_td3_specimen():
    m = mrz.parse(TD3, TODAY)
    assert m.format == "TD3"
    assert m.document_type == "P"
    assert m.issuing_state == "UTO"
    assert m.surname == "ERIKSSON"
    assert m.given_names == "ANNA MARIA"
    assert m.document_number == "L898902C3"
    assert m.nationality == "UTO"
    assert m.birth_date == "1974-08-12"
    assert m.sex == "F"
    assert m.expiry_date == "2012-04-15"
    assert m.optional_data == "ZE184226B"
    assert m.to_dict()["birth_date"] == "1974-08-12"


def test_td1_specimen():
    m = mrz.parse(TD1, TODAY)
    assert (m.format, m.document_type, m.issuing_state) == ("TD1", "I", "UTO")
    assert (m.surname, m.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert m.document_number == "D23145890"
    assert (m.birth_date, m.sex, m.expiry_date, m.nationality) == ("1974-08-12", "F", "2012-04-15", "UTO")
    assert m.optional_data == ""


def test_td2_specimen():
    m = mrz.parse(TD2, TODAY)
    assert (m.format, m.document_type, m.issuing_state) == ("TD2", "I", "UTO")
    assert (m.surname, m.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert m.document_number == "D23145890"
    assert (m.birth_date, m.sex, m.expiry_date, m.nationality) == ("1974-08-12", "F", "2012-04-15", "UTO")


@pytest.mark.parametrize(
    "zone, line, pos, field",
    [
        (TD3, 1, 9, "document number"),
        (TD3, 1, 19, "date of birth"),
        (TD3, 1, 27, "expiry date"),
        (TD3, 1, 42, "personal number"),
        (TD3, 1, 43, "composite"),
        (TD1, 0, 14, "document number"),
        (TD1, 1, 6, "date of birth"),
        (TD1, 1, 14, "expiry date"),
        (TD1, 1, 29, "composite"),
        (TD2, 1, 9, "document number"),
        (TD2, 1, 19, "date of birth"),
        (TD2, 1, 27, "expiry date"),
        (TD2, 1, 35, "composite"),
    ],
)
def test_an_altered_check_digit_is_refused_naming_its_field(zone, line, pos, field):
    bad = alter(zone, line, pos)
    want = zone.split("\n")[line][pos]
    with pytest.raises(BadInput, match=f"check digit for {field} is .*, expected {want}"):
        mrz.parse(bad, TODAY)


def test_an_altered_field_is_caught_by_its_check_digit():
    with pytest.raises(BadInput, match="check digit for date of birth is 2, expected 3"):
        mrz.parse(alter(TD3, 1, 18), TODAY)  # 740812 -> 740813


def test_names_have_no_check_digit_but_td2_optional_data_is_in_the_composite():
    # Names carry no check digit in any format; TD2 optional data is covered by the composite.
    renamed = TD3.replace("ERIKSSON", "ERIKSSEN")
    assert mrz.parse(renamed, TODAY).surname == "ERIKSSEN"
    rows = TD2.split("\n")
    changed = rows[0] + "\n" + rows[1][:28] + "X" + rows[1][29:]
    with pytest.raises(BadInput, match="check digit for composite"):
        mrz.parse(changed, TODAY)


def test_td3_personal_number_check_may_be_filler_only_when_the_field_is_empty():
    empty = make_td3(personal="")
    rows = empty.split("\n")
    assert rows[1][42] == "0"
    filler = rows[0] + "\n" + rows[1][:42] + "<" + cd(rows[1][0:10] + rows[1][13:20] + rows[1][21:42] + "<")
    assert mrz.parse(filler, TODAY).optional_data == ""
    assert mrz.parse(empty, TODAY).optional_data == ""
    used = make_td3(personal="AB123").split("\n")
    bad = used[0] + "\n" + used[1][:42] + "<" + cd(used[1][0:10] + used[1][13:20] + used[1][21:42] + "<")
    with pytest.raises(BadInput, match="check digit for personal number is <"):
        mrz.parse(bad, TODAY)


def test_td1_long_document_number_continues_in_optional_data():
    zone = make_td1(number_field="D23145890", number_check="<", optional="7349")
    m = mrz.parse(zone, TODAY)
    assert m.document_number == "D23145890734"
    assert m.optional_data == ""
    wrong = make_td1(number_field="D23145890", number_check="<", optional="7348")
    with pytest.raises(BadInput, match="check digit for document number is 8, expected 9"):
        mrz.parse(wrong, TODAY)
    missing = make_td1(number_field="D23145890", number_check="<", optional="")
    with pytest.raises(BadInput, match="document number has no check digit"):
        mrz.parse(missing, TODAY)


def test_td1_long_document_number_keeps_the_optional_data_after_it():
    m = mrz.parse(make_td1(number_field="D23145890", number_check="<", optional="7349<XYZ12"), TODAY)
    assert (m.document_number, m.optional_data) == ("D23145890734", "XYZ12")


def test_td2_long_document_number():
    top = "I<UTOERIKSSON<<ANNA<MARIA".ljust(36, "<")
    body = "D23145890<UTO7408122F1204159" + "734" + "9" + "<<<"
    zone = top + "\n" + body + cd(body[0:10] + body[13:20] + body[21:35])
    assert mrz.parse(zone, TODAY).document_number == "D23145890734"


def test_tolerates_case_whitespace_blank_lines_and_spaces_inside_lines():
    messy = "\n\n   " + TD3.lower().replace("\n", "  \n\n\t") + "  \n"
    assert mrz.parse(messy, TODAY) == mrz.parse(TD3, TODAY)
    rows = TD3.split("\n")
    spaced = rows[0][:10] + " " + rows[0][10:] + "\n" + rows[1][:20] + "  " + rows[1][20:]
    assert mrz.parse(spaced, TODAY) == mrz.parse(TD3, TODAY)


def test_a_zone_pasted_on_one_line_is_split_by_its_length():
    for zone in (TD1, TD2, TD3):
        assert mrz.parse(zone.replace("\n", " "), TODAY) == mrz.parse(zone, TODAY)


def test_a_space_standing_in_for_a_character_is_not_removed():
    rows = TD3.split("\n")
    spaced = rows[0] + "\n" + rows[1][:10] + " " + rows[1][11:]  # still 44 long; removing it would give 43
    with pytest.raises(BadInput, match=r"line 2 has ' ' at position 11"):
        mrz.parse(spaced, TODAY)


@pytest.mark.parametrize(
    "text, got",
    [
        ("", "no text"),
        ("   \n\n", "no text"),
        (TD3.split("\n")[0], "1 line of 44"),
        (TD3[:-1], "2 lines of 44 and 43"),
        (TD1 + "\n" + "<" * 30, "4 lines of 30 and 30 and 30 and 30"),
    ],
)
def test_wrong_shape_says_what_was_expected(text, got):
    with pytest.raises(BadInput, match=f"expected 2 lines of 44 characters.*{got}"):
        mrz.parse(text, TODAY)


def test_invalid_characters_are_named_with_their_position():
    with pytest.raises(BadInput, match=r"line 1 has 'Ö' at position 6"):
        mrz.parse("P<UTOÖRIKSSON" + TD3[13:], TODAY)


def test_issuing_state_d_and_filler_sex():
    m = mrz.parse(make_td3(state="D<<", nationality="D<<", sex="<"), TODAY)
    assert (m.issuing_state, m.nationality, m.sex) == ("D", "D", "X")


def test_bad_sex_and_bad_state_are_refused():
    with pytest.raises(BadInput, match="sex is 'Q'"):
        mrz.parse(make_td3(sex="Q"), TODAY)
    with pytest.raises(BadInput, match="nationality 'U1O' is not a country code"):
        mrz.parse(make_td3(nationality="U1O"), TODAY)


def test_visas_are_refused_clearly():
    with pytest.raises(BadInput, match="visa"):
        mrz.parse(make_td3(code="V<"), TODAY)


@pytest.mark.parametrize(
    "birth, expected",
    [
        ("150101", "2015-01-01"),  # 2015 is in the past
        ("300101", "1930-01-01"),  # 2030 would be in the future
        ("250615", "2025-06-15"),  # born today
        ("250616", "1925-06-16"),  # tomorrow in 2025, so 1925
        ("74<<<<", "1974"),
        ("7408<<", "1974-08"),
        ("740800", "1974-08"),
        ("<<<<<<", ""),
    ],
)
def test_birth_century_and_unknown_parts(birth, expected):
    assert mrz.parse(make_td3(birth=birth), TODAY).birth_date == expected


@pytest.mark.parametrize("birth", ["741312", "740231", "74<<12", "7A0812"])
def test_impossible_birth_dates_are_refused(birth):
    with pytest.raises(BadInput, match="date of birth .* is not a date"):
        mrz.parse(make_td3(birth=birth), TODAY)


def test_expiry_is_20xx_and_may_be_absent():
    assert mrz.parse(make_td3(expiry="991231"), TODAY).expiry_date == "2099-12-31"
    assert mrz.parse(make_td3(expiry="<<<<<<"), TODAY).expiry_date == ""
    with pytest.raises(BadInput, match="expiry date '120230' is not a date"):
        mrz.parse(make_td3(expiry="120230"), TODAY)


def test_cross_check_consistent_details_give_nothing():
    m = mrz.parse(TD3, TODAY)
    typed = build_details(
        surname="Eriksson",
        given_names="Anna-Maria",
        dob="12/08/1974",
        sex="female",
        document_number="l898 902-c3",
        document_expiry="2012-04-15",
        today=TODAY,
    )
    assert mrz.cross_check(m, typed) == []
    assert mrz.cross_check(m, Details()) == []
    assert mrz.cross_check(m, Details(dob=PartialDate(1974, 8))) == []
    assert mrz.cross_check(m, Details(dob=PartialDate(1974))) == []


def test_cross_check_lists_each_mismatch():
    m = mrz.parse(TD3, TODAY)
    typed = build_details(
        surname="Eriksen",
        given_names="Anna",
        dob="1975",
        sex="M",
        nationality="Eritrea",
        document_number="L898902C4",
        document_state="ERI",
        document_expiry="2012-04-16",
        today=TODAY,
    )
    found = mrz.cross_check(m, typed)
    assert len(found) == 8
    for label in (
        "surname",
        "given names",
        "date of birth",
        "sex",
        "nationality",
        "issuing state",
        "document number",
        "expiry date",
    ):
        assert sum(line.startswith(label + ":") for line in found) == 1, label
    assert "surname: typed 'Eriksen', the MRZ has 'ERIKSSON'" in found


def test_cross_check_partial_dob_must_agree_where_known():
    m = mrz.parse(TD3, TODAY)
    assert mrz.cross_check(m, Details(dob=PartialDate(1974, 9))) == [
        "date of birth: typed 1974-09, the MRZ has 1974-08-12"
    ]


def test_cross_check_maps_icao_codes_and_umlauts():
    m = mrz.parse(make_td3(state="D<<", nationality="D<<", name="MUELLER<<JOERG"), TODAY)
    typed = build_details(
        surname="Müller", given_names="Jörg", nationality="Germany", document_state="DEU", today=TODAY
    )
    assert mrz.cross_check(m, typed) == []


def test_cross_check_accepts_a_name_the_zone_cut_short():
    m = mrz.parse(make_td3(name="VANDERBERGHEMONTGOMERY<<ALEXANDRA<MARIA<JOSEPHINE"), TODAY)
    assert m.given_names == "ALEXANDRA MARIA"  # 39 characters used: the issuer truncated it
    typed = Details(surname="Vanderberghe-Montgomery", given_names="Alexandra Maria Josephine")
    assert mrz.cross_check(m, typed) == []
    assert mrz.cross_check(m, Details(given_names="Alexander")) != []


def test_cross_check_does_not_allow_prefixes_when_the_name_fits():
    m = mrz.parse(TD3, TODAY)
    assert mrz.cross_check(m, Details(surname="Eriksson-Berg")) == [
        "surname: typed 'Eriksson-Berg', the MRZ has 'ERIKSSON'"
    ]


@given(st.text())
def test_random_text_raises_only_bad_input(text):
    try:
        mrz.parse(text, TODAY)
    except BadInput:
        pass


def _repair(rows: list[str]) -> str:
    """Random zone lines with every check digit set right, so parsing gets past the digits to the fields."""
    if len(rows) == 3:
        top, mid = list(rows[0]), list(rows[1])
        top[14] = cd("".join(top[5:14]))
        mid[6], mid[14] = cd("".join(mid[0:6])), cd("".join(mid[8:14]))
        mid[29] = cd("".join(top[5:30] + mid[0:7] + mid[8:15] + mid[18:29]))
        return "\n".join(["".join(top), "".join(mid), rows[2]])
    b = list(rows[1])
    b[9], b[19], b[27] = cd("".join(b[0:9])), cd("".join(b[13:19])), cd("".join(b[21:27]))
    if len(b) == 44:
        b[42] = cd("".join(b[28:42]))
    b[-1] = cd("".join(b[0:10] + b[13:20] + b[21:-1]))
    return rows[0] + "\n" + "".join(b)


@given(
    st.sampled_from([(30, 30, 30), (36, 36), (44, 44)]).flatmap(
        lambda shape: st.tuples(*(st.text(alphabet=MRZ_CHARS, min_size=n, max_size=n) for n in shape))
    )
)
def test_random_zones_with_right_check_digits_raise_only_bad_input(rows):
    try:
        m = mrz.parse(_repair(list(rows)), TODAY)
    except BadInput:
        return
    assert m.sex in ("F", "M", "X")
    assert m.birth_date == "" or m.birth_date[:4].isdigit()


NAMES = st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=12)


@given(
    surname=NAMES,
    given_name=NAMES,
    number=st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=9),
    birth=st.dates(min_value=date(1925, 6, 16), max_value=TODAY),
    expiry=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    sex=st.sampled_from("FMX"),
    personal=st.text(alphabet=string.ascii_uppercase + string.digits, max_size=14),
)
def test_td3_round_trip(surname, given_name, number, birth, expiry, sex, personal):
    zone = make_td3(
        name=f"{surname}<<{given_name}",
        number=number,
        birth=birth.strftime("%y%m%d"),
        sex=sex,
        expiry=expiry.strftime("%y%m%d"),
        personal=personal,
        nationality="ERI",
    )
    m = mrz.parse(zone, TODAY)
    assert (m.surname, m.given_names, m.document_number) == (surname, given_name, number)
    assert (m.birth_date, m.expiry_date) == (birth.isoformat(), expiry.isoformat())
    assert (m.sex, m.nationality, m.optional_data) == (sex, "ERI", personal)
