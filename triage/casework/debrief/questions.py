"""What a debrief asks, and how each answer is checked as it is given.

Every answer is checked against its question (a country is a country, a phone number is a number, an
amount is a number with a currency), a free-text note may go beside any question, and each question
records whether it was answered, declined, not known or not asked: a refusal is information, and it is
never stored as a blank. `parse` refuses a set of answers whole, naming the flag to change.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pycountry

from triage.casework import arrivals, ocg
from triage.errors import BadInput
from triage.intake.biographic import clean_text, name_text, parse_country, parse_date, parse_phone
from triage.store.rows import Store

# Indicators of exploitation or trafficking; any of them raises the arrival's safeguarding flag.
EXPLOITATION = {
    "held": "held against their will, or locked up, on the way",
    "threatened": "threatened, or told their family would be harmed",
    "violence": "subjected to violence on the way",
    "debt": "owes a debt for the journey to those who arranged it",
    "documents-taken": "identity documents taken or withheld",
    "forced-work": "made to work, or told they must work, to pay for the journey",
    "sexual-exploitation": "sexually exploited, or told they would be",
    "controlled": "told where to go or whom to call on arrival, or their phone taken",
    "other": "another indicator, described in the note",
}
NONE_WORDS = ("none", "no")
CURRENCY_WORDS = {
    "€": "EUR",
    "EURO": "EUR",
    "EUROS": "EUR",
    "£": "GBP",
    "POUND": "GBP",
    "POUNDS": "GBP",
    "STERLING": "GBP",
}
_AMOUNT = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,15}(?:[.,]\d{1,2})?")
_ARRIVAL_REF = re.compile(r"A-[0-9A-Z]{6}", re.IGNORECASE)


@dataclass(frozen=True)
class Context:
    """What checking an answer needs: the store (to find arrivals named) and the arrival debriefed."""

    store: Store
    arrival: dict[str, Any]


def context(store: Store, arrival_id: str) -> Context:
    """The context of a debrief about to be recorded: a void arrival is refused before any question is asked."""
    return Context(store, arrivals.live(store, arrival_id))


def _text(ctx: Context, text: str, flag: str) -> str:
    return clean_text(text, flag, 200)


def _name(ctx: Context, text: str, flag: str) -> str:
    """A name someone used, checked as an arrival's is: they are matched with crime groups' and other debriefs'
    names, so a pasted direction mark is dropped and a pictograph refused."""
    return name_text(text, flag, 200)


def _long_text(ctx: Context, text: str, flag: str) -> str:
    return clean_text(text, flag, 1000)


def _country(ctx: Context, text: str, flag: str) -> str:
    return parse_country(text, flag)


def _date(ctx: Context, text: str, flag: str) -> str:
    when = parse_date(text, flag)
    landed = dt.date.fromisoformat(ctx.arrival["landed_day"])
    if when.earliest() > landed:
        raise BadInput(f"{flag}: {when} is after the landing on {landed}; use YYYY-MM-DD or YYYY-MM")
    return str(when)


def _amount(ctx: Context, text: str, flag: str) -> str:
    s = "".join(str(text).split())
    if not _AMOUNT.fullmatch(s):
        raise BadInput(
            f"{flag}: {text!r} is not an amount; give a number such as 1500 or 1500.50 (0 if nothing was paid)"
        )
    if "," in s and ("." in s or re.fullmatch(r"\d{1,3}(?:,\d{3})+", s)):
        s = s.replace(",", "")  # thousands separators
    return format(Decimal(s.replace(",", ".")), "f")


def _currency(ctx: Context, text: str, flag: str) -> str:
    s = text.strip()
    code = CURRENCY_WORDS.get(s.upper())
    if code is None:
        try:
            code = str(pycountry.currencies.lookup(s).alpha_3)
        except LookupError:
            raise BadInput(
                f"{flag}: {text!r} is not a currency; give its ISO 4217 code, such as EUR, GBP or USD"
            ) from None
    return code


def _method(ctx: Context, text: str, flag: str) -> str:
    return ocg.payment_method(text, flag)


def _handle(ctx: Context, text: str, flag: str) -> str:
    return ocg.normal_handle(text, flag)


def _phone(ctx: Context, text: str, flag: str) -> str:
    return parse_phone(text, field=flag)


def _person(ctx: Context, text: str, flag: str) -> dict[str, str | None]:
    """Another arrival by its id (which must be in this home), or a description of someone not captured."""
    s = clean_text(text, flag, 200)
    if not s:
        raise BadInput(f"{flag}: empty; give an arrival id or describe the person")
    if _ARRIVAL_REF.fullmatch(s):
        aid = s.upper()
        if not ctx.store.db["arrivals"].count_where("id = ?", [aid]):
            raise BadInput(
                f"{flag}: no arrival {aid} in this home; give an id from `triage arrivals list`, or describe the person"
            )
        if arrivals.is_void(arrivals.get(ctx.store, aid)):  # a capture made in error stands for no one
            raise BadInput(
                f"{flag}: arrival {aid} is void; give the arrival that stands for the person, or describe them"
            )
        return {"arrival_id": aid, "description": None}
    return {"arrival_id": None, "description": s}


def _indicator(ctx: Context, text: str, flag: str) -> str:
    code = text.strip().lower().replace(" ", "-")
    if code not in EXPLOITATION:
        raise BadInput(f"{flag}: {text!r} is not an indicator; choose {', '.join(EXPLOITATION)}, or none")
    return code


def _yes_no(ctx: Context, text: str, flag: str) -> bool:
    word = str(text).strip().lower()
    if word in ("yes", "y", "true"):
        return True
    if word in ("no", "n", "false"):
        return False
    raise BadInput(f"{flag}: {text!r}: answer yes or no")


@dataclass(frozen=True)
class Part:
    """One structured field of a question: its key in the answer, its flag, its prompt and its check."""

    name: str
    flag: str
    prompt: str
    parse: Callable[[Context, str, str], object]
    many: bool = False  # several values, separated by ';' when typed


@dataclass(frozen=True)
class Question:
    label: str
    parts: tuple[Part, ...]


def _person_question(label: str, flag: str) -> Question:
    return Question(label, (Part("person", flag, f"{label}: an arrival id, or a description", _person),))


QUESTIONS = {
    "departure": Question(
        "Route and departure point",
        (
            Part("country", "--departure-country", "Country they left from (name or code)", _country),
            Part("place", "--departure-place", "Place they left from (beach, town, camp)", _text),
            Part("date", "--departure-date", "Date they left: YYYY-MM-DD, or YYYY-MM", _date),
        ),
    ),
    "route": Question(
        "Countries passed through",
        (Part("countries", "--route", "Countries passed through, in order (separate with ;)", _country, many=True),),
    ),
    "payment": Question(
        "How the crossing was arranged and paid for",
        (
            Part("arranged", "--arranged", "How the crossing was arranged (who, where, how)", _long_text),
            Part("amount", "--amount", "Amount paid: a number, 0 if nothing", _amount),
            Part("currency", "--currency", "Currency: ISO 4217 code (EUR, GBP, USD ...) or name", _currency),
            Part("method", "--payment-method", f"How it was paid: {', '.join(ocg.PAYMENT_METHODS)}", _method),
            Part("paid_to", "--paid-to", "Paid to whom: a name used, or a description", _name),
            Part("handle", "--payment-handle", "Account, wallet, app name or phone number paid to", _handle),
        ),
    ),
    "contacts": Question(
        "Contacts and phone numbers used to arrange it",
        (
            Part("phones", "--contact-phone", "Phone numbers used (separate with ;)", _phone, many=True),
            Part("names", "--contact-name", "Names of the contacts (separate with ;)", _name, many=True),
        ),
    ),
    "pilot": _person_question("Who piloted the boat", "--pilot"),
    "phone_holder": _person_question("Who held the phone", "--phone-holder"),
    "compass_holder": _person_question("Who held the compass or GPS", "--compass-holder"),
    "companions": Question(
        "Others on the vessel they travelled with",
        (Part("people", "--companion", "Arrival ids or descriptions (separate with ;)", _person, many=True),),
    ),
    "exploitation": Question(
        "Exploitation and trafficking indicators",
        (
            Part(
                "indicators",
                "--indicator",
                f"Indicators: {', '.join(EXPLOITATION)}; or none (separate with ;)",
                _indicator,
                many=True,
            ),
        ),
    ),
    "interpreter": Question(
        "Interpreter and language",
        (
            Part("language", "--language", "Language the debrief was held in", _text),
            Part("interpreter", "--interpreter", "Was an interpreter used? yes or no", _yes_no),
            Part("interpreter_ref", "--interpreter-ref", "Interpreter: name, number or service", _text),
        ),
    ),
}
NOT_ASKED: dict[str, Any] = {"status": "not-asked", "value": None, "note": None}


def present(value: object) -> bool:
    """Whether anything was given: blanks and empty lists mean the field was left alone, not answered."""
    if isinstance(value, (list, tuple)):
        return any(present(v) for v in value)
    return value is not None and str(value).strip() != ""


def _items(raw: object) -> list[str]:
    values = raw if isinstance(raw, (list, tuple)) else str(raw).split(";")
    return [str(v).strip() for v in values if present(v)]


def parse_part(ctx: Context, part: Part, raw: object, label: str | None = None) -> object:
    """One field's value, checked and normalised (a list for a field that takes several). A refusal names the
    field by its flag, or by `label` where the answer was typed at a prompt, not as a flag."""
    flag = label or part.flag
    if not part.many:
        if isinstance(raw, (list, dict)):
            raise BadInput(f"{flag}: give one value, not a list")
        return part.parse(ctx, str(raw), flag)
    items = _items(raw)
    if part.name == "indicators":  # no code holds a ';': `--indicator "debt; held"` is read as the prompt reads it
        items = [p.strip() for item in items for p in item.split(";") if p.strip()]
    if part.name == "indicators" and any(i.lower() in NONE_WORDS for i in items):
        if len(items) == 1:
            return []
        raise BadInput(f"{flag}: none cannot be combined with indicators; give none alone, or only the indicators seen")
    values = [part.parse(ctx, item, flag) for item in items]
    return [v for i, v in enumerate(values) if v not in values[:i]]


def _check_answer(ctx: Context, key: str, value: dict[str, Any], note: str | None, asked: bool = False) -> None:
    """What no single field can check: the fields of one question against each other. Each refusal names the
    fields as they were given: flags, or (`asked`, at the prompts, where no flag was typed) the question."""
    q = QUESTIONS[key]

    def field(name: str) -> str:
        part = next(p for p in q.parts if p.name == name)
        if not asked:
            return part.flag
        return f"{q.label} ({name.replace('_', ' ')})" if len(q.parts) > 1 else q.label

    in_note = "in its note" if asked else f"with --note {key}=TEXT"
    if key == "payment":
        if value["amount"] is not None and Decimal(value["amount"]) != 0 and not value["currency"]:
            raise BadInput(f"{field('currency')}: give the currency of the amount paid, such as EUR or GBP")
        if value["method"] == "other" and not note:
            raise BadInput(f"{field('method')} other: describe how it was paid {in_note}")
    elif key == "exploitation" and "other" in value["indicators"] and not note:
        raise BadInput(f"{field('indicators')} other: describe the indicator {in_note}")
    elif key == "interpreter" and value["interpreter"] is False and value["interpreter_ref"]:
        raise BadInput(f"{field('interpreter_ref')} goes with {field('interpreter')} yes")
    elif key == "companions" and any(p["arrival_id"] == ctx.arrival["id"] for p in value["people"]):
        raise BadInput(f"{field('people')}: {ctx.arrival['id']} is the arrival being debriefed")


def parse_question(ctx: Context, key: str, raw: object, *, asked: bool = False) -> dict[str, Any] | None:
    """One question's answer from raw input (a dict of its fields, with optional "status" and "note", or the
    word "declined" or "unknown"); None when nothing at all was given for it. `asked`: typed at the prompts."""
    q = QUESTIONS[key]
    if isinstance(raw, str):
        raw = {"status": raw}
    if not isinstance(raw, dict):
        raise BadInput(
            f"{key}: give its fields ({', '.join(p.name for p in q.parts)}) and an optional note, "
            'or "declined" or "unknown"'
        )
    unknown = sorted(set(raw) - {p.name for p in q.parts} - {"status", "note"})
    if unknown:
        raise BadInput(
            f"{key}: unknown field(s) {', '.join(unknown)}; expected {', '.join(p.name for p in q.parts)}, status, note"
        )
    status = str(raw.get("status") or "").strip().lower() or None
    if status not in (None, "answered", "declined", "unknown"):
        raise BadInput(f"{key}: status {status!r}: use answered, declined or unknown")
    note = clean_text(str(raw["note"]), f"--note {key}", 2000) if present(raw.get("note")) else None
    given = [p for p in q.parts if present(raw.get(p.name))]
    if status in ("declined", "unknown"):
        if given:
            raise BadInput(
                f"{key} is recorded as {status} but {', '.join(p.flag for p in given)} "
                "was also given: record the answer or the refusal, not both"
            )
        return {"status": status, "value": None, "note": note}
    if not given and not note:
        if status == "answered":
            raise BadInput(f"{key}: marked answered but no answer or note given")
        return None
    value: dict[str, Any] = {p.name: [] if p.many else None for p in q.parts}
    for p in given:
        value[p.name] = parse_part(ctx, p, raw[p.name])
    _check_answer(ctx, key, value, note, asked)
    return {"status": "answered", "value": value, "note": note}


def parse(ctx: Context, raw: object) -> dict[str, dict[str, Any]]:
    """The questions given in `raw` (a file's JSON object, or what flags or prompts collected), checked."""
    if not isinstance(raw, dict):
        raise BadInput("a debrief is a JSON object with one entry per question: " + ", ".join(QUESTIONS))
    unknown = sorted(set(raw) - set(QUESTIONS))
    if unknown:
        raise BadInput(f"unknown debrief question(s) {', '.join(unknown)}; expected {', '.join(QUESTIONS)}")
    return {k: a for k, v in raw.items() if (a := parse_question(ctx, k, v)) is not None}


def value_text(value: object) -> str:
    """A checked value as it reads: yes or no, a person by arrival id or description (an arrival voided since
    marked so), a list joined by ';'."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):  # a person
        return str(value["arrival_id"] or value["description"]) + (" (void)" if value.get("void") else "")
    if isinstance(value, list):
        return "; ".join(value_text(v) for v in value)
    return str(value)


def as_raw(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer back as the raw text a prompt offers as its default when a debrief is amended."""
    if answer["status"] != "answered":
        return {"status": answer["status"], "note": answer.get("note")} if answer["status"] != "not-asked" else {}
    raw = {k: value_text(v) for k, v in answer["value"].items() if v is not None and v != []}
    if answer["value"].get("indicators") == []:
        raw["indicators"] = "none"
    return {**raw, "note": answer.get("note")}
