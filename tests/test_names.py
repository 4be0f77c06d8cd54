"""Names: the lexicon kept as data and its check, ranked variants with their reasons, identity keys that
find a person by any spelling (and keep different names apart), ICAO 9303's Arabic escapes, and
`triage names` (its JSON, its table at 80 columns), with the acceptance figure over a test set built
independently of the lexicon (tests/data/names_romanised.tsv)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Cli
from triage.intake import lexicon, mrz, names

ACCEPTANCE = Path(__file__).parent / "data" / "names_romanised.tsv"


def _plain(text: str) -> str:
    """A romanisation as compared: capitals, a hyphen or apostrophe read as a space."""
    return " ".join(re.sub(r"[-']", " ", text.upper()).split())


def acceptance_rows() -> list[tuple[str, str, set[str], str]]:
    rows = []
    for line in ACCEPTANCE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            script, lang, accepted, source = line.split("\t")
            rows.append((script, lang, {_plain(a) for a in accepted.split("|")}, source))
    return rows


# -- the lexicon -------------------------------------------------------------------------------------


def test_the_shipped_lexicon_has_no_problems_and_thousands_of_forms():
    assert lexicon.problems() == []
    lex = lexicon.load()
    assert len(lex.entries) >= 1000 and len(lex.index) >= 5000
    langs = {lang for e in lex.entries.values() for lang in e.langs}
    assert {"ar", "fa", "prs", "ps", "ckb", "kmr", "ti", "am", "so", "vi", "sq", "tr"} <= langs


def test_the_check_finds_what_is_wrong_in_a_lexicon():
    bad = "\n".join(
        [
            "hasan\tg\tar\tحسن\tHASAN|HASSAN",
            "hasan\tg\tar\t-\tHASAN",  # the id again
            "husayn\tg\tar\tحسن|ሁሴን\tHUSSEIN|HUSSEIN",  # a script form of another entry; Ethiopic for Arabic only
            "Bad Id\tz\txx\t-\thasan",  # id, kind, language, romanisation in lower case
            "only\ttwo",
            "hasan+q\tf\tar\t-\tHASANQ",
            "karim+i\tf\tfa\t-\tKARIMI",  # its base is missing
        ]
    )
    found = "\n".join(lexicon.problems(bad))
    for expected in (
        "id already used",
        "also filed under hasan",
        "no script its languages use",
        "romanisation is listed twice",
        "id must be lower-case",
        "kinds ['z'] unknown",
        "languages ['xx'] unknown",
        "must be capital letters",
        "2 columns, expected 5",
        "its base 'karim' is not an entry",
    ):
        assert expected in found, expected


# -- identity keys -----------------------------------------------------------------------------------


def test_one_name_in_any_script_or_spelling_has_one_key_and_different_names_keep_apart():
    hasan = [names.part_keys(n) for n in ("HASAN", "HASSAN", "حسن", "الحسن", "AL-HASAN", "EL HASSAN", "حەسەن")]
    husayn = [names.part_keys(n) for n in ("HUSSEIN", "HUSAYN", "حسين", "Hüseyin")]
    muhammad = [names.part_keys(n) for n in ("MOHAMED", "MUHAMMAD", "محمد", "Mohammed", "ሞሐመድ")]
    mahmud = [names.part_keys(n) for n in ("MAHMOUD", "محمود", "Mahmud")]
    for group in (hasan, husayn, muhammad, mahmud):
        assert all(k & group[0] for k in group), group
        assert all(k and all(key.startswith("L:") for key in k) for k in group)
    for a, b in ((hasan, husayn), (muhammad, mahmud), (hasan, muhammad)):
        assert not any(x & y for x in a for y in b)


def test_abd_compounds_family_suffixes_and_unknown_names():
    rahman = {
        names.part_keys(n) for n in ("ABDUL RAHMAN", "ABDULRAHMAN", "ABDEL RAHMAN", "عبد الرحمن", "ABD AL-RAHMAN")
    }
    assert len(rahman) == 1 and rahman != {names.part_keys("RAHMAN")}
    assert names.part_keys("HOSSEINI") == names.part_keys("حسینی") == frozenset({"L:husayn+i"})
    assert names.part_keys("HUSAYNI") == names.part_keys("HOSSEINI")  # not listed: found by its suffix rule
    assert not names.part_keys("HOSSEINI") & names.part_keys("HOSSEIN")
    unknown = names.part_keys("Zubeydullin")
    assert unknown and all(k.startswith("P:") for k in unknown)
    assert names.part_keys("ZUBEYDULLIN") == unknown == names.part_keys("Zubeidullin")


def test_name_tokens_keep_articles_and_compounds_with_their_name():
    assert names.name_tokens("Muhammad al Hassan") == ["Muhammad", "al Hassan"]
    assert names.name_tokens("ABDUL RAHMAN Ali") == ["ABDUL RAHMAN", "Ali"]
    assert names.name_tokens("Abd al-Rahman") == ["Abd al-Rahman"]
    assert names.name_tokens("Nur al-Din Zanki") == ["Nur al-Din", "Zanki"]
    assert names.name_tokens("محمد عبد الله") == ["محمد", "عبد الله"]
    assert names.name_tokens("  ") == []


# -- ranked variants ---------------------------------------------------------------------------------


def test_variants_put_the_name_as_given_first_say_why_and_are_capped():
    found = names.part_variants("الحسن")
    assert found[0] == names.Variant("الحسن", "as given") and len(found) <= names.LIMIT
    assert all(v.reason in ("as given", "lexicon", "skeleton") or v.reason.startswith("rule: ") for v in found)
    full = names.ranked_variants("حسين", "محمد")
    assert [v.text for v in full[:3]] == ["حسين, محمد", "HUSSEIN, MOHAMMED", "MOHAMMED, HUSSEIN"]
    assert full[2].reason == "rule: order swapped" and len(full) == names.LIMIT
    zone = names.ranked_variants("حسين", "محمد", document=("HUSSEIN", "MOHAMED"))
    assert zone[1] == names.Variant("HUSSEIN, MOHAMED", "document")
    assert names.ranked_variants(None, None) == [] and names.part_variants("") == []


def test_a_name_no_lexicon_lists_is_romanised_by_rule_with_the_skeleton_last():
    found = names.part_variants("بردیا")  # Bardia
    assert "BARDIA" in [v.text for v in found[1:4]] and found[1].reason.startswith("rule: ")
    assert found[-1] == names.Variant("BRDY", "skeleton")
    assert "AL-SADAT" in [v.text for v in names.part_variants("السادات")][:4]  # article by rule
    assert "AMANULLAH" in [v.text for v in names.part_variants("امان‌الله")]


def test_ethiopic_w_in_its_first_order_is_written_we_as_usual():
    """ወ is the first order of W (wä), not W with a labialised A: Gebrehiwet, never Gebrehiwwat."""
    assert names.part_variants("ገብረሂወት")[1].text == "GEBREHIWET"
    assert names.part_variants("ወሰን")[1].text == "WESEN"  # Wesen, no lexicon entry
    assert names.part_variants("ጓል")[1].text.startswith("GWA")  # a labialised letter keeps its W


def test_particles_and_the_persian_ezafe():
    assert names.part_keys("Abu Ali") == names.part_keys("ابو علي") == names.part_keys("ABOU ALI") == {"L:abu-ali"}
    assert not names.part_keys("Abu Ali") & names.part_keys("Ali")
    assert "ABOU ALI" in [v.text for v in names.part_variants("ابو علي")][:4]
    assert [v.text for v in names.part_variants("مزارِ شریف")][1] == "MAZAR-E SHARIF"  # ezafe marked by a kasra


def test_latin_variants_for_drafts_leave_script_out():
    forms = names.latin_variants("الحسن", "محمد")
    assert forms[0] == "AL-HASSAN, MOHAMMED" and all(f.isascii() for f in forms)
    assert names.usual("حسين") == "HUSSEIN" and names.usual("Karwan") == "KARWAN" and names.usual(None) is None


def test_accepted_romanisations_are_among_the_first_twelve_variants():
    """The acceptance figure: names in script (Arabic, Persian, Pashto, Kurdish, Tigrinya, Amharic) from a
    source other than the lexicon; README.md states the figure this prints."""
    rows = acceptance_rows()
    assert len(rows) >= 150
    assert {lang for _, lang, _, _ in rows} >= {"ar", "fa", "prs", "ps", "ckb", "ti", "am"}
    missed = [
        (script, sorted(accepted))
        for script, _, accepted, _ in rows
        if not accepted & {_plain(v.text) for v in names.part_variants(script, 12)}
    ]
    found = len(rows) - len(missed)
    print(f"\nnames acceptance: {found} of {len(rows)} ({100 * found / len(rows):.1f}%) have an accepted romanisation")
    assert found / len(rows) >= 0.90, missed


# -- ICAO 9303's Arabic escapes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone, script",
    [("XHSN", "حسن"), ("MXHMD", "محمد"), ("ALXHSN", "الحسن"), ("XKHALD", "خالد"), ("XSHRYF", "شريف"), ("FATMP", None)],
)
def test_icao_9303_arabic_escapes_are_read_back_to_script(zone, script):
    assert mrz.arabic_from_mrz(zone) == script


def test_a_zone_name_with_escapes_gives_its_script_form_and_romanisations():
    assert mrz.arabic_from_mrz("XHEVDET") is None and mrz.arabic_from_mrz("HASSAN") is None  # not escaped
    found = names.part_variants("XHSYN")
    assert found[:2] == [names.Variant("XHSYN", "as given"), names.Variant("حسين", "rule: ICAO 9303")]
    assert "HUSSEIN" in [v.text for v in found[:4]]
    assert names.part_keys("XHSYN") == names.part_keys("HUSSEIN")
    assert [v.text for v in names.ranked_variants("XHSYN", "MXHMD")][1] == "HUSSEIN, MOHAMMED"


# -- triage names ------------------------------------------------------------------------------------


def test_triage_names_json_has_hassan_and_the_article_forms_among_the_first_six():
    data = json.loads(Cli()("names", "الحسن", "--json").stdout)
    assert data["name"] == "الحسن"
    first = [v["text"] for v in data["variants"][:6]]
    assert {"HASSAN", "HASAN"} & set(first)
    assert {"AL-HASSAN", "ALHASSAN", "EL HASSAN"} & set(first)
    assert all(set(v) == {"text", "reason"} for v in data["variants"])


def test_triage_names_shows_the_name_as_given_as_typed_and_its_pnd_form_after_it():
    found = names.variants_of("Nguyễn  Văn Hùng").variants
    assert found[:2] == (
        names.Variant("Nguyễn Văn Hùng", "as given"),
        names.Variant("NGUYEN VAN HUNG", "rule: PND form"),
    )
    assert names.variants_of("Nguyễn, Văn Hùng").variants[0] == names.Variant("Nguyễn, Văn Hùng", "as given")
    assert names.variants_of("HASAN").variants[0] == names.Variant("HASAN", "as given")  # typed as PND writes it
    data = json.loads(Cli()("names", "Nguyễn Văn Hùng", "--json").stdout)
    assert data["variants"][0] == {"text": "Nguyễn Văn Hùng", "reason": "as given"}
    assert all(f.isascii() for f in names.latin_variants("Nguyễn", "Văn Hùng"))  # what a draft searches


def test_triage_names_table_reads_at_80_columns_and_full_names_take_a_comma():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")} | {"COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-m", "triage", "names", "عبد الرحمن الحسن, محمد"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert "AL-HASSAN ABDULRAHMAN, MOHAMMED" in done.stdout or "ABDULRAHMAN AL-HASSAN, MOHAMMED" in done.stdout
    assert "…" not in done.stdout and "why" in lines[2]
    assert "Examples" in Cli()("names", "--help").stdout


@pytest.mark.parametrize(
    "name, words",
    [
        ("", "no letter"),
        ("!!!,,,...'''", "no letter"),
        ("a" * 300, "300 characters is too long"),
        ("Mo\x1b[31mhamed", "U+001B"),
        ("Ali\u202eILA", "U+202E"),
    ],
    ids=["empty", "punctuation", "300-characters", "escape", "direction-override"],
)
def test_a_name_that_names_nobody_or_carries_controls_is_refused(cli, home, name, words):
    from triage.errors import ExitStatus

    for argv in (("names", name), ("arrivals", "find", name)):
        refused = cli(*argv, code=int(ExitStatus.BAD_INPUT))
        assert words in refused.stderr and len(refused.stderr.strip().splitlines()) <= 2
