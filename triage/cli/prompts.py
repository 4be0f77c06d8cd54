"""Asking an officer for an arrival's details at a terminal.

Each answer goes through the same checks as the flags the moment it is typed, and a wrong one is
asked again with the reason, so a mistyped date is fixed while the person is still there. Everything
is shown back, normalised, before it is saved. Prompts and the summary go to stderr, so stdout stays
data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from rich.markup import escape
from rich.prompt import Confirm, Prompt
from rich.table import Table
from rich.text import Text

from triage.cli.common import err, say
from triage.errors import BadInput
from triage.intake.biographic import Details, DetailText, build_details

# DetailText field -> question. List fields take several values separated by ';'.
QUESTIONS = {
    "surname": "Surname, in any script",
    "given_names": "Given names",
    "aliases": "Other names used (separate with ;)",
    "dob": "Date of birth: YYYY-MM-DD, DD/MM/YYYY, MM/YYYY or YYYY (blank: not known)",  # YYYY-MM, DD.MM.YYYY too
    "age": "Assessed age or range, e.g. 16-18 (blank if not assessed)",
    "sex": "Sex: F, M or X",
    "nationality": "Nationality: country name or code",
    "place_of_birth": "Place of birth",
    "languages": "Languages spoken (separate with ;)",
    "document_type": "Document type: passport, id-card or none",
    "document_number": "Document number",
    "document_state": "Issuing state: country name or code",
    "document_expiry": "Document expiry: YYYY-MM-DD",
    "phones": "Phone numbers seen (separate with ;)",
    "notes": "Notes",
}
LIST_FIELDS = ("aliases", "languages", "phones")
# How a refusal names the field asked, where the command line would name its flag (--dob).
FIELD_NAMES = {
    "dob": "date of birth",
    "age": "assessed age",
    "alias": "other name",
    "phone": "phone number",
    "document_state": "issuing state",
}
DOCUMENT_FIELDS = ("document_number", "document_state", "document_expiry")
NO_DOCUMENT = ("", "none", "no")


def _skipped(name: str, answers: dict[str, Any]) -> bool:
    """An assessed age is asked only without a date of birth; document fields only with a document."""
    if name == "age":
        return bool(answers.get("dob"))
    if name in DOCUMENT_FIELDS:
        return (answers.get("document_type") or "").strip().lower() in NO_DOCUMENT
    return False


def ask_details(given: DetailText) -> DetailText:
    """The details as answered, asking every field; what `given` holds (from flags, or an earlier round) is
    offered as the default."""
    answers: dict[str, Any] = {}
    for name, question in QUESTIONS.items():
        if _skipped(name, answers):
            answers[name] = [] if name in LIST_FIELDS else None
            continue
        default = getattr(given, name)
        default_text = "; ".join(default) if name in LIST_FIELDS else (default or "")

        def value(text: str, name: str = name) -> Any:  # list[str] for a list field, else str | None
            return [p.strip() for p in text.split(";") if p.strip()] if name in LIST_FIELDS else text.strip() or None

        text = ask_until_valid(question, lambda t: build_details(label=field_name, **{name: value(t)}), default_text)  # noqa: B023 (called here)
        answers[name] = value(text)
    return DetailText(**answers)


def field_name(name: str) -> str:
    """A detail as a refusal names it to someone answering the questions, who typed no flag: nationality,
    date of birth, given names."""
    return FIELD_NAMES.get(name, name.replace("_", " "))


def ask_until_valid(question: str, check: Callable[[str], object], default: str = "") -> str:
    """Ask until `check` accepts the answer (raises no BadInput); a refused answer is asked again with the reason."""
    while True:
        text = Prompt.ask(question, console=err, default=default, show_default=bool(default))
        try:
            check(text)
            return text
        except BadInput as e:
            say(err, f"[red]{escape(str(e))}[/] - try again", markup=True)


def confirm(details: Details, warnings: list[str], today: dt.date) -> bool:
    """Show what will be saved, as it will be stored, and ask whether to save it."""
    table = Table("field", "as it will be saved", title="Check before saving")
    shown = details.to_dict()
    for name in QUESTIONS:
        value = shown.get(name)
        if name == "age" and details.age_range:  # kept as a range: one age is a range of one year
            low, high = details.age_range
            name, value = "assessed age", str(low) if low == high else f"{low}-{high}"
        if value in (None, [], ""):
            continue
        table.add_row(
            name.replace("_", " "), Text("; ".join(map(str, value)) if isinstance(value, list) else str(value))
        )
    if details.mrz:
        table.add_row(
            "MRZ", Text(f"{details.mrz['format']} {details.mrz['document_type']} read, every check digit agrees")
        )
    err.print(table)
    if details.is_child(today):
        say(
            err,
            "[bold red]SAFEGUARDING: the age given leaves room for a child; the arrival will be flagged[/]",
            markup=True,
        )
    for w in warnings:
        say(err, f"[yellow]warning:[/] {escape(w)}", markup=True)
    return Confirm.ask("Save this arrival?", console=err, default=True)
