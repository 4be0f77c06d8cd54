"""The structured debrief of an arrival: where they left from, how the crossing was arranged and paid for,
who they were in touch with, who steered and navigated, who they travelled with, signs of exploitation,
and the language and interpreter used.

The minutes after a landing are when people can say who organised the crossing, but what they say is
useless to anyone else unless it is written down in a form that can be searched and counted. So every
answer is checked as it is given (a country is a country, a phone number is a number, an amount is a
number with a currency), free text stays possible beside every question as a note, and each question
records whether it was answered, declined, not known or not asked: a refusal is information, and it is
never stored as a blank.

A debrief is amended by recording a new version; earlier versions are kept. Phone numbers, payment handles
and names given are indexed as keyed hashes, so a crime group registered with the same number is suggested
for an officer to confirm (`ocg.py`) and other arrivals who gave it are shown. Any exploitation indicator
raises the arrival's safeguarding flag.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pycountry

from triage.casework import arrivals, ocg
from triage.errors import BadInput, Conflict, NotFound
from triage.intake.biographic import clean_text, parse_country, parse_date, parse_phone
from triage.store.rows import Store, utcnow

MODES = ("interactive", "scripted")
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
# A facilitator role other arrivals name this one in, and the intelligence indicator code it stands for.
ROLE_INDICATORS = {"pilot": "pilot", "phone_holder": "navigation", "compass_holder": "navigation"}
MAX_TEXT_CHARS = 4800  # of the summary that pre-fills an intelligence report (whose limit is 5000)
_AMOUNT = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,15}(?:[.,]\d{1,2})?")
_ARRIVAL_REF = re.compile(r"A-[0-9A-Z]{6}", re.IGNORECASE)


@dataclass(frozen=True)
class Context:
    """What checking an answer needs: the store (to find arrivals named) and the arrival debriefed."""

    store: Store
    arrival: dict


def _text(ctx: Context, text: str, flag: str) -> str:
    return clean_text(text, flag, 200)


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
            code = pycountry.currencies.lookup(s).alpha_3
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


def _person(ctx: Context, text: str, flag: str) -> dict:
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
            Part("paid_to", "--paid-to", "Paid to whom: a name used, or a description", _text),
            Part("handle", "--payment-handle", "Account, wallet, app name or phone number paid to", _handle),
        ),
    ),
    "contacts": Question(
        "Contacts and phone numbers used to arrange it",
        (
            Part("phones", "--contact-phone", "Phone numbers used (separate with ;)", _phone, many=True),
            Part("names", "--contact-name", "Names of the contacts (separate with ;)", _text, many=True),
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
NOT_ASKED = {"status": "not-asked", "value": None, "note": None}


def present(value) -> bool:
    """Whether anything was given: blanks and empty lists mean the field was left alone, not answered."""
    if isinstance(value, (list, tuple)):
        return any(present(v) for v in value)
    return value is not None and str(value).strip() != ""


def _items(raw) -> list[str]:
    values = raw if isinstance(raw, (list, tuple)) else str(raw).split(";")
    return [str(v).strip() for v in values if present(v)]


def parse_part(ctx: Context, part: Part, raw):
    """One field's value, checked and normalised (a list for a field that takes several)."""
    if not part.many:
        if isinstance(raw, (list, dict)):
            raise BadInput(f"{part.flag}: give one value, not a list")
        return part.parse(ctx, str(raw), part.flag)
    items = _items(raw)
    if part.name == "indicators" and len(items) == 1 and items[0].lower() in NONE_WORDS:
        return []
    values = [part.parse(ctx, item, part.flag) for item in items]
    return [v for i, v in enumerate(values) if v not in values[:i]]


def _check_answer(ctx: Context, key: str, value: dict, note: str | None) -> None:
    """What no single field can check: the fields of one question against each other."""
    if key == "payment":
        if value["amount"] is not None and Decimal(value["amount"]) != 0 and not value["currency"]:
            raise BadInput("--currency: give the currency of the amount paid, such as EUR or GBP")
        if value["method"] == "other" and not note:
            raise BadInput("--payment-method other: describe how it was paid with --note payment=TEXT")
    elif key == "exploitation" and "other" in value["indicators"] and not note:
        raise BadInput("--indicator other: describe the indicator with --note exploitation=TEXT")
    elif key == "interpreter" and value["interpreter"] is False and value["interpreter_ref"]:
        raise BadInput("--interpreter-ref goes with --interpreter yes")
    elif key == "companions" and any(p["arrival_id"] == ctx.arrival["id"] for p in value["people"]):
        raise BadInput(f"--companion: {ctx.arrival['id']} is the arrival being debriefed")


def parse_question(ctx: Context, key: str, raw) -> dict | None:
    """One question's answer from raw input (a dict of its fields, with optional "status" and "note", or the
    word "declined" or "unknown"); None when nothing at all was given for it."""
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
    value = {p.name: [] if p.many else None for p in q.parts}
    for p in given:
        value[p.name] = parse_part(ctx, p, raw[p.name])
    _check_answer(ctx, key, value, note)
    return {"status": "answered", "value": value, "note": note}


def parse(ctx: Context, raw: dict) -> dict:
    """The questions given in `raw` (a file's JSON object, or what flags or prompts collected), checked."""
    if not isinstance(raw, dict):
        raise BadInput("a debrief is a JSON object with one entry per question: " + ", ".join(QUESTIONS))
    unknown = sorted(set(raw) - set(QUESTIONS))
    if unknown:
        raise BadInput(f"unknown debrief question(s) {', '.join(unknown)}; expected {', '.join(QUESTIONS)}")
    return {k: a for k, v in raw.items() if (a := parse_question(ctx, k, v)) is not None}


def context(store: Store, arrival_id: str) -> Context:
    return Context(store, arrivals.get(store, arrival_id))


# -- what an answer says, as text ---------------------------------------------------------------------


def _value_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):  # a person
        return value["arrival_id"] or value["description"]
    if isinstance(value, list):
        return "; ".join(_value_text(v) for v in value)
    return str(value)


def answer_text(key: str, answer: dict) -> str:
    """An answer to question `key` in one line: its fields in order, or DECLINED / not known / not asked, with
    the note."""
    status = answer["status"]
    if status == "answered":
        value = answer["value"]
        parts = [
            f"{p.name.replace('_', ' ')} {_value_text(value[p.name])}"
            for p in QUESTIONS[key].parts
            if value.get(p.name) is not None and value[p.name] != []
        ]
        if answer["value"].get("indicators") == []:
            parts.append("none")
        text = "; ".join(parts)
    else:
        text = {"declined": "DECLINED to answer", "unknown": "does not know", "not-asked": "not asked"}[status]
    if answer.get("note"):
        text = f"{text} — note: {answer['note']}" if text else f"note: {answer['note']}"
    return text


def as_raw(answer: dict) -> dict:
    """An answer back as the raw text a prompt offers as its default when a debrief is amended."""
    if answer["status"] != "answered":
        return {"status": answer["status"], "note": answer.get("note")} if answer["status"] != "not-asked" else {}
    raw = {k: _value_text(v) for k, v in answer["value"].items() if v is not None and v != []}
    if answer["value"].get("indicators") == []:
        raw["indicators"] = "none"
    return {**raw, "note": answer.get("note")}


# -- recording and reading ----------------------------------------------------------------------------


def latest(store: Store, arrival_id: str) -> dict | None:
    rows = store.rows(
        "debriefs",
        "arrival_id = ? AND version = (SELECT max(version) FROM debriefs WHERE arrival_id = ?)",
        [arrival_id, arrival_id],
    )
    return rows[0] if rows else None


def _identifiers(answers: dict) -> list[tuple[str, str, str]]:
    """(kind, value, where it was given) for every phone number, payment handle and name in the answers."""
    found = []
    contacts, payment = answers["contacts"], answers["payment"]
    if contacts["status"] == "answered":
        found += [("phone", p, "contacts.phones") for p in contacts["value"]["phones"]]
        found += [("name", n, "contacts.names") for n in contacts["value"]["names"]]
    if payment["status"] == "answered":
        if payment["value"]["handle"]:
            found.append(("handle", payment["value"]["handle"], "payment.handle"))
        if payment["value"]["paid_to"]:
            found.append(("name", payment["value"]["paid_to"], "payment.paid_to"))
    return found


def index_identifiers(store: Store, arrival_id: str, debrief_id: int, answers: dict) -> None:
    """Blind the phone numbers, handles and names of the arrival's current debrief with this home's key, in place of
    the earlier version's: only what the current version says suggests links. Merging a batch calls this too, since
    another laptop's blinds mean nothing here. The caller holds the transaction."""
    store.db.execute("DELETE FROM debrief_identifiers WHERE arrival_id = ?", [arrival_id])
    for kind, value, source in _identifiers(answers):
        for k, blind in ocg.identifier_keys(store, kind, value):
            store.insert(
                "debrief_identifiers",
                {"debrief_id": debrief_id, "arrival_id": arrival_id, "kind": k, "source": source, "blind": blind},
                {"value": value},
            )


def _warnings(ctx: Context, answers: dict) -> list[str]:
    """People named by arrival id who did not land from the same vessel: worth a second look, not an error."""
    out = []
    for key in ("pilot", "phone_holder", "compass_holder", "companions"):
        a = answers[key]
        if a["status"] != "answered":
            continue
        for person in a["value"].get("people") or [a["value"].get("person")]:
            if person and person["arrival_id"]:
                vessel = ctx.store.db["arrivals"].get(person["arrival_id"])["vessel"]
                if vessel != ctx.arrival["vessel"]:
                    out.append(
                        f"{QUESTIONS[key].label.lower()}: {person['arrival_id']} is recorded on vessel "
                        f"{vessel or 'not recorded'}, this arrival on {ctx.arrival['vessel'] or 'not recorded'}"
                    )
    return out


def indicators_of(answers: dict) -> list[str]:
    a = answers["exploitation"]
    return list(a["value"]["indicators"]) if a["status"] == "answered" else []


def shared_with(store: Store, arrival_id: str) -> list[dict]:
    """Other arrivals whose current debrief gave one of this debrief's phone numbers, handles or names."""
    rows = store.db.execute(
        "SELECT DISTINCT o.arrival_id, d.id FROM debrief_identifiers d JOIN debrief_identifiers o "
        "ON o.kind = d.kind AND o.blind = d.blind AND o.arrival_id != d.arrival_id WHERE d.arrival_id = ?",
        [arrival_id],
    ).fetchall()
    by_arrival: dict[str, list[int]] = {}
    for other, ident in rows:
        by_arrival.setdefault(other, []).append(ident)
    out = []
    for other, idents in by_arrival.items():
        a = store.db["arrivals"].get(other)
        matched = store.rows("debrief_identifiers", f"id IN ({','.join('?' * len(idents))})", idents, order_by="id")
        out.append(
            {
                "arrival_id": other,
                "landed_at": a["landed_at"],
                "landed_day": a["landed_day"],
                "site": a["site"],
                "vessel": a["vessel"],
                "matched": list(
                    {
                        (m["kind"], m["value"]): {"kind": m["kind"], "source": m["source"], "value": m["value"]}
                        for m in matched
                    }.values()
                ),
            }
        )
    return sorted(out, key=lambda s: s["landed_at"])


def _view(row: dict) -> dict:
    answers = row["answers"]
    return {
        "debrief_id": row["id"],
        "arrival_id": row["arrival_id"],
        "version": row["version"],
        "officer": row["officer"],
        "at": row["at"],
        "supersedes": row["supersedes"],
        "mode": row["mode"],
        "answers": {k: {"question": QUESTIONS[k].label, **answers[k]} for k in QUESTIONS},
        "declined": [k for k in QUESTIONS if answers[k]["status"] == "declined"],
        "exploitation_indicators": indicators_of(answers),
        "warnings": row["warnings"],
    }


def record(
    store: Store, arrival_id: str, raw: dict, *, officer: str, amend: bool = False, mode: str = "scripted"
) -> dict:
    """Record a debrief (or, with `amend`, a new version of it carrying over the questions not given again).
    Any exploitation indicator raises the safeguarding flag, in the same transaction."""
    if mode not in MODES:
        raise BadInput(f"mode {mode!r}: choose {' or '.join(MODES)}")
    ctx = context(store, arrival_id)
    given = parse(ctx, raw)
    current = latest(store, arrival_id)
    if current and not amend:
        raise Conflict(
            f"arrival {arrival_id} already has a debrief (version {current['version']}); "
            f"amend it with `triage debrief {arrival_id} --amend`, which keeps the earlier version"
        )
    if amend and not current:
        raise BadInput(f"arrival {arrival_id} has no debrief to amend; record one without --amend")
    if not given:
        raise BadInput(
            "no answers given: answer, decline (--declined QUESTION) or mark unknown at least one question; "
            f"the questions are {', '.join(QUESTIONS)}"
        )
    answers = {k: given.get(k) or (current["answers"][k] if current else NOT_ASKED) for k in QUESTIONS}
    found_indicators = indicators_of(answers)
    warnings = _warnings(ctx, answers)
    arrival = ctx.arrival
    with store.transaction():
        row = store.insert(
            "debriefs",
            {
                "arrival_id": arrival_id,
                "version": current["version"] + 1 if current else 1,
                "officer": officer,
                "at": utcnow(),
                "supersedes": current["id"] if current else None,
                "mode": mode,
                "declined": sum(a["status"] == "declined" for a in answers.values()),
                "indicators": len(found_indicators),
            },
            {"answers": answers, "warnings": warnings},
        )
        index_identifiers(store, arrival_id, row["id"], answers)
        raised = bool(found_indicators) and not arrival["safeguarding"]
        if raised:
            arrivals.flag_safeguarding(
                store,
                arrival_id,
                officer=officer,
                reason="debrief: exploitation indicators " + ", ".join(found_indicators),
            )
        suggested, shared = ocg.suggestions(store, arrival_id=arrival_id), shared_with(store, arrival_id)
        store.audit(
            "debrief" if row["version"] == 1 else "debrief-amend",
            officer,
            arrival_id=arrival_id,
            records=[f"debrief:{row['id']}", f"arrival:{arrival_id}", *(f"arrival:{s['arrival_id']}" for s in shared)][
                :500
            ],
        )
    row.update(answers=answers, warnings=warnings)
    return {
        **_view(row),
        "safeguarding": bool(arrival["safeguarding"]) or raised,
        "safeguarding_raised": raised,
        "suggestions": suggested,
        "shared_with": shared,
    }


def show(store: Store, arrival_id: str, *, officer: str, history: bool = False) -> dict:
    """The arrival's current debrief, with the group links suggested and decided, other arrivals who gave
    the same numbers or names, and (with `history`) every earlier version."""
    arrival = arrivals.get(store, arrival_id)
    rows = store.rows("debriefs", "arrival_id = ?", [arrival_id], order_by="version")
    if not rows:
        raise NotFound(f"arrival {arrival_id} has no debrief; record one with `triage debrief {arrival_id}`")
    view = {
        **_view(rows[-1]),
        "safeguarding": bool(arrival["safeguarding"]),
        "suggestions": ocg.suggestions(store, arrival_id=arrival_id),
        "shared_with": shared_with(store, arrival_id),
        "ocg_links": ocg.links_of_arrival(store, arrival_id),
    }
    if history:
        view["history"] = [_view(r) for r in rows[:-1]]
    with store.transaction():
        store.audit(
            "debrief-show",
            officer,
            arrival_id=arrival_id,
            records=[f"debrief:{r['id']}" for r in (rows if history else rows[-1:])],
        )
    return view


# -- into an intelligence report and the day's batch ---------------------------------------------------


def _named_by_others(store: Store, arrival: dict) -> list[dict]:
    """Other arrivals on the same vessel whose current debrief names this one as pilot or phone or compass holder."""
    if not arrival["vessel"]:
        return []
    out = []
    for row in store.rows(
        "debriefs",
        "arrival_id IN (SELECT id FROM arrivals WHERE vessel = ? AND id != ?) "
        "AND id IN (SELECT max(id) FROM debriefs GROUP BY arrival_id)",
        [arrival["vessel"], arrival["id"]],
        order_by="arrival_id",
    ):
        for role in ROLE_INDICATORS:
            a = row["answers"][role]
            if a["status"] == "answered" and a["value"]["person"]["arrival_id"] == arrival["id"]:
                out.append({"arrival_id": row["arrival_id"], "role": role, "debrief_id": row["id"]})
    return out


def _paid_nothing(answers: dict) -> bool:
    p = answers["payment"]
    return p["status"] == "answered" and p["value"]["amount"] is not None and Decimal(p["value"]["amount"]) == 0


def summary(section: dict) -> str:
    """The debrief in a paragraph, to pre-fill a report's text for the officer to edit."""
    head = f"Debrief version {section['version']} recorded by {section['recorded_by']} at {section['recorded_at']}."
    lines = [
        f"{a['question']}: {answer_text(k, a)}." for k, a in section["answers"].items() if a["status"] != "not-asked"
    ]
    text = " ".join([head, *lines])
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + " ... (the rest in the debrief section)"


def intel_fields(store: Store, arrival_id: str, fields: dict) -> tuple[dict, dict]:
    """An intelligence report's fields pre-filled from the arrival's current debrief, and the debrief section
    the report carries. What the officer gave wins; the grades are theirs alone to give. The indicators come
    from other arrivals' debriefs naming this one as pilot or navigator, and from a crossing paid nothing for."""
    arrival = arrivals.get(store, arrival_id)
    row = latest(store, arrival_id)
    if row is None:
        raise NotFound(
            f"arrival {arrival_id} has no debrief to start from; record one with `triage debrief {arrival_id}`"
        )
    view = _view(row)
    named = _named_by_others(store, arrival)
    section = {
        "debrief_id": row["id"],
        "version": row["version"],
        "recorded_by": row["officer"],
        "recorded_at": row["at"],
        "answers": view["answers"],
        "declined": [QUESTIONS[k].label for k in view["declined"]],
        "exploitation_indicators": [{"code": c, "text": EXPLOITATION[c]} for c in view["exploitation_indicators"]],
        "named_by_others": named,
        "ocg_links": ocg.links_of_arrival(store, arrival_id),
        "ocg_suggestions": [
            {"ocg_ref": s["ocg_ref"], "matched": s["matched"]} for s in ocg.suggestions(store, arrival_id=arrival_id)
        ],
        "shared_with": [
            {"arrival_id": s["arrival_id"], "landed_day": s["landed_day"], "site": s["site"], "matched": s["matched"]}
            for s in shared_with(store, arrival_id)
        ],
    }
    derived = [ROLE_INDICATORS[n["role"]] for n in named] + (["no-fee"] if _paid_nothing(row["answers"]) else [])
    prefilled = dict(fields)
    prefilled["indicators"] = list(dict.fromkeys([*derived, *(fields.get("indicators") or [])]))
    if not present(fields.get("text")):
        prefilled["text"] = summary(section)
    return prefilled, section


def report_lines(section: dict) -> list[str]:
    """The debrief section of an intelligence report's text form."""
    rows = [(a["question"], answer_text(k, a)) for k, a in section["answers"].items()] + [
        ("Declined to answer", ", ".join(section["declined"]) or "none"),
        (
            "Named as pilot or navigator by",
            "; ".join(f"{n['arrival_id']} ({n['role'].replace('_', ' ')})" for n in section["named_by_others"])
            or "nobody",
        ),
        (
            "Crime groups decided by an officer",
            "; ".join(f"{g['ocg_ref']} ({g['decision']} by {g['officer']} at {g['at']})" for g in section["ocg_links"])
            or "none",
        ),
        (
            "Crime groups suggested, NOT confirmed",
            "; ".join(
                f"{s['ocg_ref']} via " + ", ".join(f"{m['kind']} {m['value']}" for m in s["matched"])
                for s in section["ocg_suggestions"]
            )
            or "none",
        ),
        (
            "Same number, handle or name also given by",
            "; ".join(f"{s['arrival_id']} ({s['landed_day']}, {s['site']})" for s in section["shared_with"])
            or "nobody else",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    return [
        f"Debrief (version {section['version']}, {section['recorded_by']}, {section['recorded_at']})",
        *(f"  {label:<{width}} : {text}" for label, text in rows),
    ]


def named_arrivals(answers: dict) -> list[str]:
    """The arrival ids the answers name as pilot, phone or compass holder or companion: a day's batch carries
    their keys, so the names follow the arrivals wherever a merge gives them other ids."""
    people = []
    for key in ("pilot", "phone_holder", "compass_holder", "companions"):
        a = answers[key]
        if a["status"] == "answered":
            people += a["value"].get("people") or [a["value"].get("person")]
    return list(dict.fromkeys(p["arrival_id"] for p in people if p and p["arrival_id"]))
