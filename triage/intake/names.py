"""Name forms worth searching for one person: the Latin form, the order swapped, and the spellings the
same name is commonly romanised with. The Latin form (`biographic.latin`) of Arabic or Ethiopic script
leaves vowels out (محمد -> MHMD, ብርሃነ -> BRHANE), so a search of another system by it alone would miss
how the name was written there; this module adds, by its own rules, forms with those vowels written, the
usual romanisations of common names, and the spellings romanisation systems disagree on (ou/u, kh/h,
al-/el-, Abdul/Abd al-, c/k in Eritrean names, doubled consonants and the like).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

from triage.intake.biographic import latin

# Common names: their spellings in Arabic or Ethiopic script (space-separated), then the romanisations
# met most often, the usual one first. A name typed in script, or in any listed romanisation, finds the row.
COMMON_NAMES: tuple[tuple[str, str], ...] = (
    ("محمد ሞሐመድ መሓመድ", "MUHAMMAD MOHAMMED MOHAMED MOHAMMAD MOHAMAD MUHAMMED"),
    ("احمد أحمد", "AHMED AHMAD"),
    ("محمود", "MAHMOUD MAHMUD MAHMOOD"),
    ("حسين حسین", "HUSSEIN HUSAYN HOSSEIN HUSSAIN HOSEIN"),
    ("حسينی حسینی حسيني", "HOSSEINI HUSSEINI HOSEINI"),
    ("حسن", "HASSAN HASAN"),
    ("علي علی", "ALI"),
    ("عمر ዑመር", "OMAR UMAR OMER"),
    ("عثمان", "OSMAN OTHMAN USMAN UTHMAN"),
    ("عبدالله عبد الله", "ABDULLAH ABDALLAH ABDELLAH ABDOLLAH"),
    ("عبدالرحمن عبد الرحمن", "ABDULRAHMAN ABDELRAHMAN ABDOLRAHMAN ABDURRAHMAN"),
    ("عبدالكريم عبدالکریم", "ABDULKARIM ABDELKARIM ABDOLKARIM"),
    ("ابراهيم إبراهيم ابراهیم ኢብራሂም", "IBRAHIM EBRAHIM IBRAHEEM"),
    ("اسماعيل إسماعيل اسماعیل", "ISMAIL ESMAIL ISMAEL"),
    ("يوسف یوسف", "YOUSSEF YUSUF YOUSEF YOUSIF"),
    ("خالد", "KHALED KHALID"),
    ("مصطفى مصطفی", "MUSTAFA MOSTAFA MUSTAPHA"),
    ("جعفر", "JAFAR JAAFAR DJAFAR"),
    ("قاسم", "QASIM KASSEM QASEM GHASEM"),
    ("كريم کریم", "KARIM KAREEM"),
    ("سعيد سعید", "SAEED SAID SAEID"),
    ("عباس", "ABBAS"),
    ("جمال", "JAMAL GAMAL DJAMEL"),
    ("ياسين یاسین", "YASSIN YASIN YASEEN"),
    ("صالح", "SALEH SALIH"),
    ("سليمان سلیمان", "SULEIMAN SOLEIMAN SULAYMAN"),
    ("بلال", "BILAL BELAL"),
    ("طارق", "TARIQ TAREK TAREQ"),
    ("عادل", "ADEL ADIL"),
    ("حامد", "HAMID HAMED"),
    ("عيسى عیسی", "ISSA ISA EISA"),
    ("موسى موسی", "MUSA MOUSSA MOUSA"),
    ("آدم ادم", "ADAM"),
    ("نور", "NOUR NUR NOOR"),
    ("فاطمة فاطمه", "FATIMA FATEMEH FATMA"),
    ("زينب زینب", "ZAINAB ZEINAB ZAYNAB"),
    ("مريم مریم", "MARYAM MARIAM"),
    ("عائشة عایشه", "AISHA AYESHA AICHA"),
    ("رضا", "REZA RIDA RIDHA"),
    ("مهدي مهدی", "MAHDI MEHDI"),
    ("حيدر حیدر", "HAIDAR HAIDER HEIDAR"),
    ("امير امیر", "AMIR AMEER"),
    ("احمدي احمدی", "AHMADI AHMADY"),
    ("رحيمي رحیمی", "RAHIMI RAHIMY"),
    ("ولي ولی", "WALI VALI"),
    ("خان", "KHAN"),
    ("گل", "GUL GOL"),
    ("نجيب نجیب", "NAJIB NAJEEB NADJIB"),
    ("حمه حەمە", "HAMA HAMEH"),
    ("کاروان كاروان", "KARWAN KARVAN"),
    ("ئاسۆ", "ASO"),
    ("هیوا", "HIWA HEWA"),
    ("ڕێبوار", "REBWAR REBAWAR"),
    ("شوان", "SHWAN SHVAN"),
    ("ተስፋይ ተስፋዬ", "TESFAY TESFAYE TESFAI"),
    ("ተኽለ", "TEKLE TECLE TEKLEH"),
    ("ገብረ ገብሬ", "GEBRE GHEBRE GEBREH"),
    ("ሃይለ ኃይለ", "HAILE HAYLE"),
    ("ዮሃንስ ዮሐንስ", "YOHANNES YOHANES JOHANNES"),
    ("ብርሃነ", "BERHANE BIRHANE BRHANE"),
    ("ፍስሃ", "FISSEHA FISEHA FSEHA"),
    ("ሚካኤል", "MICHAEL MIKAEL"),
    ("ኣማኑኤል", "AMANUEL EMMANUEL"),
    ("ወልደ", "WELDE WOLDE"),
    ("ተወልደ", "TEWELDE TEWOLDE"),
    ("ሙሴ", "MUSSIE MUSIE"),
)

# Spelling alternations between romanisation systems, applied one at a time to a name part's usual
# form; each that changes it gives one variant. Among them: ou/u, ee/i, kh/h, q/k, j/dj, al-/el-,
# Abdul/Abd al-/Abdel, Italianate c/k in Eritrean names, -ay/-ai/-aye endings, doubled consonants.
SPELLING_RULES: tuple[tuple[str, str], ...] = (
    (r"OU", "U"),
    (r"(?<![AEIOU])U(?![AEIOU])", "OU"),
    (r"OO", "U"),
    (r"EE", "I"),
    (r"KH", "H"),
    (r"Q", "K"),
    (r"Q", "GH"),
    (r"DJ", "J"),
    (r"(?<!D)J", "DJ"),
    (r"\bAL (?=\w)", "EL "),
    (r"\bEL (?=\w)", "AL "),
    (r"\b(AL|EL) (?=\w{3})", r"\1"),
    (r"\b(?:AL|EL) (?=\w{3})", ""),
    (r"\bABD (?:AL|EL|UL|OL) ", "ABDUL "),
    (r"\bABD (?:AL|EL|UL|OL) ", "ABDEL "),
    (r"\bABD(?:UL|EL|AL|OL|OUL) ?(?!LAH\b)(?=[A-Z]{3})", "ABD AL "),
    (r"\bABDUL ?(?!LAH\b)(?=[A-Z]{3})", "ABDEL "),
    (r"\bABDEL ?(?!LAH\b)(?=[A-Z]{3})", "ABDUL "),
    (r"\bABD(UL|EL) (?=[A-Z]{3})", r"ABD\1"),
    (r"\b([B-DF-HJ-NP-TV-Z]*)O", r"\1U"),
    (r"\b([B-DF-HJ-NP-TV-Z]*)U", r"\1O"),
    (r"W", "V"),
    (r"V", "W"),
    (r"PH", "F"),
    (r"SH", "CH"),
    (r"TH", "T"),
    (r"([B-DF-HJ-NP-TV-Z])\1", r"\1"),
    (r"I\b", "Y"),
    (r"Y\b", "I"),
    (r"AH\b", "A"),
    (r"EH\b", "E"),
    (r"AI\b", "AY"),
    (r"AY\b", "AI"),
    (r"AY\b", "AYE"),
    (r"AYE\b", "AY"),
    (r"C(?=L)", "K"),
    (r"K(?=L)", "C"),
    (r"\bGE", "GHE"),
    (r"\bGHE", "GE"),
)
PART_LIMIT = 12  # forms kept per name part: beyond this the variants are rarely worth a search

_ALEFS = frozenset("اآأإٱ")
_ARABIC_BLOCKS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF))


def _is_arabic(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in _ARABIC_BLOCKS)


def _is_ethiopic(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("ETHIOPIC SYLLABLE")


def _sixth_order(ch: str) -> bool:
    """Ethiopic letters whose Unicode name ends in a lone E (BE, RE) carry no vowel or a short one."""
    name = unicodedata.name(ch, "")
    return name.startswith("ETHIOPIC SYLLABLE") and name.endswith("E") and not name.endswith("EE")


def _arabic_vowelled(word: str) -> str:
    """The word with alef, initial ayn, and waw or yeh between consonants written as vowels."""
    out = []
    for i, ch in enumerate(word):
        prev, nxt = word[i - 1] if i else "", word[i + 1] if i + 1 < len(word) else ""
        next_to_alef = prev in _ALEFS or nxt in _ALEFS
        if ch in _ALEFS or ch == "ى":
            out.append("a")
        elif ch in "عئ" and i == 0:
            out.append("a" if ch == "ع" else "")
        elif ch in "وۇ":
            out.append("w" if i == 0 or next_to_alef else "u")
        elif ch in "يی":
            out.append("y" if i == 0 or next_to_alef else "i")
        else:
            out.append(ch)
    return "".join(out)


def _ethiopic_vowelled(word: str) -> str:
    """The word with a vowel after each sixth-order letter that another sixth-order letter follows, and
    the ኸ row written K (anyascii writes H, romanisations mostly K)."""
    out = []
    for i, ch in enumerate(word):
        if not _is_ethiopic(ch):
            out.append(ch)
            continue
        text = anyascii(ch)
        if " SYLLABLE KX" in unicodedata.name(ch, ""):
            text = "k" + text[1:]
        if _sixth_order(ch) and i + 1 < len(word) and _sixth_order(word[i + 1]):
            text += "e"
        out.append(text)
    return "".join(out)


def _script_form(word: str) -> str:
    """The Latin form of a word with the vowels its script leaves unwritten: anyascii gives Arabic script
    as a consonant skeleton (short vowels are unwritten, and it drops the letters for long ones), so those
    are written here (Arabic, Persian, Kurdish, Pashto); for Ethiopic script it leaves out the vowel that
    sixth-order letters often carry, which is sounded here (Tigrinya, Amharic)."""
    if any(_is_arabic(ch) for ch in word):
        return latin(_arabic_vowelled(word))
    if any(_is_ethiopic(ch) for ch in word):
        return latin(_ethiopic_vowelled(word))
    return latin(word)


@lru_cache(maxsize=1)
def _index() -> dict[str, list[str]]:
    """Every written form of a common name (its Latin form for script) -> that name's romanisations."""
    index: dict[str, list[str]] = {}
    for written, spellings in COMMON_NAMES:
        romanised = spellings.split()
        for key in {latin(w) for w in written.split()} | set(romanised):
            merged = index.setdefault(key, [])
            merged += [s for s in romanised if s not in merged]
    return index


def _add(forms: list[str], form: str) -> None:
    if form and form not in forms:
        forms.append(form)


def part_forms(text: str | None) -> tuple[list[str], str]:
    """Spellings of one name part (a surname, or the given names), and the usual one among them: the
    Latin form first, then the usual romanisation, then other romanisations and spelling variants."""
    words = (text or "").split()
    if not words:
        return [], ""
    index = _index()
    found = []  # per word: (its Latin form, the usual romanisation, the other romanisations)
    for word in words:
        plain = latin(word)
        spoken = _script_form(word)
        spellings = index.get(plain) or index.get(spoken) or []
        typed_in_latin = not any(_is_arabic(ch) or _is_ethiopic(ch) for ch in word)
        usual = spoken if typed_in_latin or not spellings else spellings[0]
        found.append((plain, usual, [s for s in spellings if s != usual]))
    forms: list[str] = []
    _add(forms, " ".join(f[0] for f in found))
    usual_form = " ".join(f[1] for f in found)
    _add(forms, usual_form)
    depth = max(len(f[2]) for f in found)
    for d in range(depth):  # one word changed at a time, each word's alternatives in turn
        for i, (_, _, others) in enumerate(found):
            if d < len(others):
                _add(forms, " ".join(others[d] if j == i else f[1] for j, f in enumerate(found)))
    for pattern, repl in SPELLING_RULES:
        _add(forms, " ".join(re.sub(pattern, repl, usual_form).split()))
    return forms[:PART_LIMIT], usual_form


def name_variants(surname: str | None, given_names: str | None, limit: int = 20) -> list[str]:
    """Full names to search, surname first as PND lists them ("SURNAME, GIVEN NAMES"): the Latin form,
    the order swapped (many arrivals' documents and statements disagree on which name is the family
    name), the usual romanisation both ways round, then variants of one part at a time."""
    (s, s_usual), (g, g_usual) = part_forms(surname), part_forms(given_names)
    if not (s and g):
        return (s or g)[:limit]
    out: list[str] = []
    for first, second in ((s[0], g[0]), (s_usual, g_usual)):
        _add(out, f"{first}, {second}")
        _add(out, f"{second}, {first}")
    for i in range(1, max(len(s), len(g))):
        if i < len(s):
            _add(out, f"{s[i]}, {g_usual}")
        if i < len(g):
            _add(out, f"{s_usual}, {g[i]}")
    return out[:limit]
