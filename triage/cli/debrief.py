"""`triage debrief ARRIVAL`: the structured debrief, asked at the terminal or given as flags or a JSON file;
and `triage referral ARRIVAL`: the arrival method and the referral steps taken."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.prompt import Confirm, Prompt
from rich.table import Column, Table
from rich.text import Text

from triage.cli.common import (
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    arrival_argument,
    date_option,
    emit,
    emit_json,
    err,
    interactive_option,
    notes_option,
    officer_of,
    open_store,
    out,
    say,
    training_banner,
    utc_text,
    warn,
)
from triage.intake import jsontext

if TYPE_CHECKING:
    from collections.abc import Callable

    from triage.casework.debrief.questions import Context, Part, Question

MAX_FILE_BYTES = 1024 * 1024
STATUS_WORDS = ("declined", "unknown")


def register(app: typer.Typer) -> None:
    app.command("debrief")(debrief_cmd)
    app.command("referral")(referral_cmd)


def _question_name(text: str, flag: str) -> str:
    from triage.casework.debrief.questions import QUESTIONS
    from triage.errors import BadInput

    key = text.strip().lower().replace("-", "_")
    if key not in QUESTIONS:
        raise BadInput(f"{flag} {text!r}: name a question: {', '.join(k.replace('_', '-') for k in QUESTIONS)}")
    return key


def _read_file(path: Path) -> dict[str, Any]:
    from triage.errors import BadInput

    if not path.is_file():
        raise BadInput(f"--file {path}: " + ("a folder; give the JSON file in it" if path.is_dir() else "no such file"))
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadInput(f"--file {path}: larger than {MAX_FILE_BYTES // 1024} KiB; a debrief is a short JSON object")
    if not path.stat().st_size:
        raise BadInput(f"--file {path}: the file is empty; write the answers as one JSON object")
    try:
        raw = jsontext.loads(path.read_bytes().decode("utf-8-sig"), f"--file {path}", max_chars=MAX_FILE_BYTES)
    except ValueError as e:  # not UTF-8, not JSON, or a number too long to read
        raise BadInput(
            f"--file {path}: not readable as UTF-8 JSON ({e}); YAML is not read, write the answers as JSON"
        ) from None
    if not isinstance(raw, dict):
        raise BadInput(f"--file {path}: the top level must be a JSON object with one entry per question")
    return raw


def _raw_answers(
    file: Path | None, flags: dict[str, Any], declined: list[str], unknown: list[str], notes: list[str]
) -> dict[str, Any]:
    """The raw answers from a file, overlaid with the flags: the same shape `questions.parse` checks."""
    from triage.casework.debrief.questions import QUESTIONS, present
    from triage.errors import BadInput

    raw = _read_file(file) if file else {}
    raw = {k: (dict(v) if isinstance(v, dict) else {"status": v} if isinstance(v, str) else v) for k, v in raw.items()}
    for key, q in QUESTIONS.items():
        for part in q.parts:
            if present(flags[part.flag]):
                raw.setdefault(key, {})[part.name] = flags[part.flag]
    for status, names, flag in (("declined", declined, "--declined"), ("unknown", unknown, "--unknown")):
        for name in names:
            raw.setdefault(_question_name(name, flag), {})["status"] = status
    for item in notes:
        name, sep, text = item.partition("=")
        if not sep or not text.strip():
            raise BadInput(f'--note {item!r}: write QUESTION=TEXT, e.g. --note payment="paid in two instalments"')
        raw.setdefault(_question_name(name, "--note"), {})["note"] = text
    return raw


def _part_check(ctx: Context, q: Question, part: Part, first: bool) -> Callable[[str], None]:
    """The check of one field as typed at its prompt: a refusal names the question (and the field, where the
    question has several), since no flag was typed."""
    from triage.casework.debrief.questions import parse_part

    label = f"{q.label} ({part.name.replace('_', ' ')})" if len(q.parts) > 1 else q.label

    def check(text: str) -> None:
        if text.strip() and not (first and text.strip().lower() in STATUS_WORDS):
            parse_part(ctx, part, text, label)

    return check


def interview(ctx: Context, defaults: dict[str, Any]) -> dict[str, Any]:
    """Ask every question, each field checked as it is typed; returns the raw answers. At a question's first
    field, 'declined' records that the person declined to answer and 'unknown' that they do not know."""
    from triage.casework.debrief.questions import QUESTIONS, parse_question
    from triage.cli.prompts import ask_until_valid
    from triage.errors import BadInput

    err.print(
        f"Debrief of {ctx.arrival['id']}. At the first field of a question type [bold]declined[/] if the person "
        "will not answer, [bold]unknown[/] if they do not know; Enter leaves a field empty."
    )
    raw: dict[str, Any] = {}
    for key, q in QUESTIONS.items():
        prior = defaults.get(key) or {}
        while True:
            err.print(f"[bold]{q.label}[/]")
            answer: dict[str, Any] = {}
            for i, part in enumerate(q.parts):
                default = (
                    prior.get("status") if i == 0 and prior.get("status") in STATUS_WORDS else prior.get(part.name)
                )
                text = ask_until_valid(f"  {part.prompt}", _part_check(ctx, q, part, i == 0), str(default or ""))
                if i == 0 and text.strip().lower() in STATUS_WORDS:
                    answer["status"] = text.strip().lower()
                    break
                if text.strip():
                    answer[part.name] = text
            note = Prompt.ask(
                "  Note (free text; Enter for none)",
                console=err,
                default=prior.get("note") or "",
                show_default=bool(prior.get("note")),
            )
            if note.strip():
                answer["note"] = note
            try:
                parse_question(ctx, key, answer, asked=True)
            except BadInput as e:
                err.print(f"[red]{escape(str(e))}[/] - answer this question again", highlight=False)
                prior = answer
                continue
            break
        if answer:
            raw[key] = answer
    return raw


def _confirm(ctx: Context, raw: dict[str, Any]) -> bool:
    from triage.casework.debrief.questions import QUESTIONS, parse
    from triage.casework.debrief.summaries import answer_text

    given = parse(ctx, raw)
    table = Table("question", "as it will be saved", title="Check before saving")
    for key, q in QUESTIONS.items():
        table.add_row(q.label, Text(answer_text(key, given[key])) if key in given else "not asked")
    err.print(table)
    return Confirm.ask("Save this debrief?", console=err, default=True)


def render(view: dict[str, Any]) -> None:
    from triage.casework.debrief.summaries import answer_text

    out.print(
        f"[bold]Debrief of {escape(view['arrival_id'])}[/], "
        + escape(f"version {view['version']} by {view['officer']} at {utc_text(view['at'])} UTC")
        + ("  [bold red]SAFEGUARDING[/]" if view["safeguarding"] else "")
    )
    if view.get("void"):
        v = view["void"]
        out.print(
            "[bold red]" + escape(f"VOID: voided by {v['officer']} at {utc_text(v['at'])} UTC: {v['reason']}") + "[/]"
        )
    table = Table("question", "answer")
    for key, a in view["answers"].items():
        text = answer_text(key, a)
        table.add_row(a["question"], Text(text, style="bold yellow" if a["status"] == "declined" else ""))
    out.print(table, highlight=False)
    if view.get("safeguarding_raised"):
        out.print(
            "[bold red]Safeguarding flag raised:[/] exploitation indicators "
            + escape(
                ", ".join(view["exploitation_indicators"])
                + ". Record the referral with `triage referral "
                + f"{view['arrival_id']} --safeguarding-referral-to ...`."
            )
        )
    for w in view["warnings"]:
        warn(w)
    for s in view["suggestions"]:  # the command to confirm on a line of its own, whole, to copy
        out.print(
            "[bold]Suggested crime-group link, not confirmed:[/] "
            + escape(
                f"{s['ocg_ref']} via "
                + ", ".join(f"{m['kind']} {m['value']} ({m['source']})" for m in s["matched"])
                + ". To confirm:"
            ),
            highlight=False,
        )
        out.print(
            f'  triage ocg link {s["ocg_ref"]} --arrival {view["arrival_id"]} --reason "..."',
            markup=False,
            soft_wrap=True,
        )
    for s in view["shared_with"]:
        out.print(
            f"Also given by {s['arrival_id']} (landed {s['landed_day']} at {s['site']}, vessel "
            f"{s['vessel'] or '-'}): " + ", ".join(f"{m['kind']} {m['value']}" for m in s["matched"]),
            highlight=False,
            markup=False,
        )
    for g in view.get("ocg_links", []):
        out.print(
            f"Crime group {g['ocg_ref']}: {g['decision']} by {g['officer']} at {utc_text(g['at'])} UTC — {g['reason']}",
            highlight=False,
            markup=False,
        )
    for h in view.get("history", []):
        out.print(
            f"Earlier version {h['version']} by {h['officer']} at {utc_text(h['at'])} UTC ({len(h['declined'])} declined)",
            highlight=False,
            markup=False,
        )


def debrief_cmd(
    arrival: str = arrival_argument("Arrival id."),
    file: Path | None = typer.Option(None, "--file", help="A JSON file of answers (YAML is not read)."),
    departure_country: str | None = typer.Option(None, "--departure-country", help="Country left from."),
    departure_place: str | None = typer.Option(None, "--departure-place", help="Beach, town or camp left from."),
    departure_date: str | None = typer.Option(None, "--departure-date", help="YYYY-MM-DD, or YYYY-MM."),
    route: list[str] = typer.Option([], "--route", help="A country passed through, in order (repeatable)."),
    arranged: str | None = typer.Option(None, "--arranged", help="How the crossing was arranged."),
    amount: str | None = typer.Option(None, "--amount", help="Amount paid; 0 if nothing."),
    currency: str | None = typer.Option(None, "--currency", help="ISO 4217 code, e.g. EUR."),
    payment_method: str | None = typer.Option(
        None,
        "--payment-method",
        help="cash, bank-transfer, money-transfer, hawala, mobile-money, crypto, work, in-kind or other.",
    ),
    paid_to: str | None = typer.Option(None, "--paid-to", help="Paid to whom: a name used, or a description."),
    payment_handle: str | None = typer.Option(
        None, "--payment-handle", help="Account, wallet, app name or phone number paid to."
    ),
    contact_phone: list[str] = typer.Option([], "--contact-phone", help="A phone number used (repeatable)."),
    contact_name: list[str] = typer.Option([], "--contact-name", help="A contact's name (repeatable)."),
    pilot: str | None = typer.Option(None, "--pilot", help="Who piloted: an arrival id, or a description."),
    phone_holder: str | None = typer.Option(None, "--phone-holder", help="Who held the phone: id or description."),
    compass_holder: str | None = typer.Option(
        None, "--compass-holder", help="Who held the compass or GPS: id or description."
    ),
    companion: list[str] = typer.Option(
        [], "--companion", help="Someone travelled with: id or description (repeatable)."
    ),
    indicator: list[str] = typer.Option(
        [],
        "--indicator",
        help="Exploitation indicator: held, threatened, violence, debt, documents-taken, "
        "forced-work, sexual-exploitation, controlled, other; or none (repeatable). "
        "Any indicator raises the safeguarding flag.",
    ),
    language: str | None = typer.Option(None, "--language", help="Language the debrief was held in."),
    interpreter: str | None = typer.Option(None, "--interpreter", help="Was an interpreter used: yes or no."),
    interpreter_ref: str | None = typer.Option(
        None, "--interpreter-ref", help="Interpreter's name, number or service."
    ),
    declined: list[str] = typer.Option([], "--declined", help="A question the person declined to answer (repeatable)."),
    unknown: list[str] = typer.Option([], "--unknown", help="A question the person could not answer (repeatable)."),
    note: list[str] = typer.Option([], "--note", help="QUESTION=TEXT: free text beside a question (repeatable)."),
    amend: bool = typer.Option(False, "--amend", help="Record a new version; questions not given again are kept."),
    interactive: Annotated[
        bool | None,
        interactive_option(
            "Ask the questions at the terminal. Default: when no answer, --file, --show or --json is given and "
            "standard input is a terminal."
        ),
    ] = None,
    show: bool = typer.Option(False, "--show", help="Show the current debrief instead of recording one."),
    history: bool = typer.Option(False, "--history", help="With --show, every earlier version too."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record an arrival's structured debrief (asked at the terminal, or from flags or a JSON file), or show it.

    Every question is answered, declined (--declined QUESTION), not known (--unknown QUESTION) or not asked; a
    note (--note QUESTION=TEXT) can go beside any of them. Any exploitation indicator raises the safeguarding
    flag. Phone numbers, payment handles and names that match a registered crime group are suggested as links
    for an officer to confirm with `triage ocg link`; nothing is linked until then.

    A --file is JSON (there is no YAML reader: write it as JSON): one entry per question, either an object of
    its fields with an optional "note", or the word "declined" or "unknown". Questions and their fields:
    departure (country, place, date); route (countries); payment (arranged, amount, currency, method, paid_to,
    handle); contacts (phones, names); pilot, phone_holder, compass_holder (person: an arrival id or a
    description); companions (people); exploitation (indicators); interpreter (language, interpreter,
    interpreter_ref). Fields that take several values take a JSON list. For example:

    {"departure": {"country": "France", "place": "Gravelines beach", "date": "2026-11-27"}, "payment": {"amount": "1500", "currency": "EUR", "method": "cash", "paid_to": "Abu Ali", "note": "paid in two instalments"}, "contacts": "declined", "pilot": {"person": "A-7K3F9Q"}, "exploitation": {"indicators": ["debt"]}}

    Examples:

      triage debrief A-7K3F9Q

      triage debrief A-7K3F9Q --file debrief.json

      triage debrief A-7K3F9Q --departure-country France --amount 1500 --currency EUR --payment-method cash --contact-phone "+33 6 12 34 56 78" --declined pilot --indicator debt

      triage debrief A-7K3F9Q --amend --unknown pilot --note pilot="says it was dark"

      triage debrief A-7K3F9Q --show --history --json
    """
    from triage.casework.debrief import questions, records

    flags = {
        "--departure-country": departure_country,
        "--departure-place": departure_place,
        "--departure-date": departure_date,
        "--route": route,
        "--arranged": arranged,
        "--amount": amount,
        "--currency": currency,
        "--payment-method": payment_method,
        "--paid-to": paid_to,
        "--payment-handle": payment_handle,
        "--contact-phone": contact_phone,
        "--contact-name": contact_name,
        "--pilot": pilot,
        "--phone-holder": phone_holder,
        "--compass-holder": compass_holder,
        "--companion": companion,
        "--indicator": indicator,
        "--language": language,
        "--interpreter": interpreter,
        "--interpreter-ref": interpreter_ref,
    }
    raw = _raw_answers(file, flags, declined, unknown, note)
    if show and raw:
        from triage.errors import UsageError

        raise UsageError("--show displays the debrief; record answers without it")
    if interactive is None:
        interactive = not raw and not show and not json_out and sys.stdin.isatty()
    store = open_store(home)
    training_banner(store)
    who = officer_of(store, officer)
    if show:
        view = records.show(store, arrival, officer=who, history=history)
    else:
        if interactive:
            ctx = questions.context(store, arrival)
            current = records.latest(store, arrival) if amend else None
            defaults = {k: questions.as_raw(a) for k, a in current["answers"].items()} if current else {}
            defaults.update(raw)
            try:
                while True:
                    raw = interview(ctx, defaults)
                    if _confirm(ctx, raw):
                        break
                    err.print("Nothing saved yet; change what is wrong (Enter keeps an answer).")
                    defaults = raw
            except EOFError:  # input ended: nothing saved
                raise typer.Abort() from None
        view = records.record(
            store, arrival, raw, officer=who, amend=amend, mode="interactive" if interactive else "scripted"
        )
    emit(view, json_out, render)


def referral_cmd(
    arrival: str | None = arrival_argument("Arrival id.", None),
    arrival_method: str | None = typer.Option(
        None, "--arrival-method", help="small-boat, vehicle (or lorry) or other."
    ),
    control_unit_at: str | None = typer.Option(
        None,
        "--control-unit-at",
        help="When the national immigration command-and-control unit was contacted (ISO 8601, site time, or now).",
    ),
    control_unit_ref: str | None = typer.Option(
        None, "--control-unit-ref", help="The unit's reference (time: now unless --control-unit-at)."
    ),
    lead_agency: str | None = typer.Option(
        None, "--lead-agency", help="The agency that owns any crime identified, or none."
    ),
    biometric_enrolment: str | None = typer.Option(
        None, "--biometric-enrolment", help="Enrolled by the Home Office: yes, no or unknown."
    ),
    safeguarding_referral_to: str | None = typer.Option(
        None, "--safeguarding-referral-to", help="To whom a safeguarding referral was made."
    ),
    safeguarding_referral_at: str | None = typer.Option(
        None, "--safeguarding-referral-at", help="When (ISO 8601, site time, or now; default now)."
    ),
    safeguarding_referral_ref: str | None = typer.Option(None, "--safeguarding-referral-ref", help="Its reference."),
    notes: Annotated[str | None, notes_option("Free text (required with --arrival-method other).")] = None,
    incomplete: bool = typer.Option(False, "--incomplete", help="List arrivals whose referral record misses a step."),
    date: Annotated[str | None, date_option("With --incomplete, only arrivals landed on this day.")] = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record an arrival's method of arrival and referral steps, or show them; --incomplete lists the gaps.

    Steps: the national immigration command-and-control unit contacted (time and reference), the lead agency
    that owns any crime identified (or none), whether the Home Office has biometrically enrolled the person
    (yes, no or unknown), and a safeguarding referral when the arrival has the safeguarding flag. Each change
    is a new version carrying over what was not changed; earlier versions are kept.

    Examples:

      triage referral A-7K3F9Q --arrival-method small-boat --control-unit-ref CCU/26/1187 --lead-agency none --biometric-enrolment yes

      triage referral A-7K3F9Q --safeguarding-referral-to "Kent County Council children's services" --safeguarding-referral-ref KCC-4471

      triage referral A-7K3F9Q

      triage referral --incomplete --date 2026-11-28 --json
    """
    from triage.casework import referrals
    from triage.errors import UsageError

    store = open_store(home)
    who = officer_of(store, officer)
    if incomplete:
        from triage.intake.biographic import parse_full_date

        day = parse_full_date(date, "--date").isoformat() if date is not None else None
        rows = referrals.incomplete(store, day=day, officer=who)
        if json_out:
            emit_json(rows)
        else:
            render_incomplete(rows)
        return
    if not arrival:
        raise UsageError("give ARRIVAL, or --incomplete to list arrivals with referral steps missing")
    given = dict(
        arrival_method=arrival_method,
        control_unit_at=control_unit_at,
        control_unit_ref=control_unit_ref,
        lead_agency=lead_agency,
        biometric_enrolment=biometric_enrolment,
        safeguarding_referral_to=safeguarding_referral_to,
        safeguarding_referral_at=safeguarding_referral_at,
        safeguarding_referral_ref=safeguarding_referral_ref,
        notes=notes,
    )
    view = (
        referrals.record(store, arrival, officer=who, **given)
        if any(v is not None for v in given.values())
        else referrals.show(store, arrival, officer=who)
    )
    if json_out:
        emit_json(view)
        return
    training_banner(store)
    current = view["current"] or {}
    table = Table("step", "recorded", title=f"Referral record of {escape(arrival)}")
    for label, value in (
        ("arrival method", referrals.METHODS.get(current.get("arrival_method") or "")),
        (
            "command-and-control unit",
            " ".join(v for v in (current.get("control_unit_at"), current.get("control_unit_ref")) if v),
        ),
        ("lead agency", current.get("lead_agency")),
        ("Home Office biometric enrolment", current.get("biometric_enrolment")),
        (
            "safeguarding referral",
            " ".join(
                v
                for v in (
                    current.get("safeguarding_referral_to"),
                    current.get("safeguarding_referral_at"),
                    current.get("safeguarding_referral_ref"),
                )
                if v
            ),
        ),
        ("notes", current.get("notes")),
    ):
        table.add_row(label, Text(value or "—"))
    out.print(table, highlight=False)
    if current:
        out.print(
            f"Recorded by {current['officer']} at {utc_text(current['at'])} UTC"
            + (f"; {len(view['history'])} earlier version(s)" if view["history"] else ""),
            highlight=False,
            markup=False,
        )
    out.print(
        "Missing: " + "; ".join(referrals.STEPS[m] for m in view["missing"])
        if view["missing"]
        else "Every referral step is recorded.",
        highlight=False,
    )


def render_incomplete(rows: list[dict[str, Any]], latest: int | None = None) -> None:
    """The arrivals whose referral record misses a step (used by `triage review --pending` too, which shows
    the `latest` only: a year of records left incomplete would bury the queue above it)."""
    from triage.casework.referrals import STEPS

    if not rows:
        out.print("Every arrival's referral record is complete.")
        return
    total = len(rows)
    rows = rows[-latest:] if latest else rows
    table = Table(
        Column("arrival", no_wrap=True), "landed (UTC)", "site", "vessel", "missing", title="Referrals incomplete"
    )
    for r in rows:
        table.add_row(  # the flag beside the arrival, as other tables show it: "missing" lists steps only
            Text.assemble(r["arrival_id"], ("\nSAFEGUARDING", "bold red") if r["safeguarding"] else ""),
            Text(utc_text(r["landed_at"])),
            Text(r["site"] or ""),
            Text(r["vessel"] or ""),
            Text("; ".join(STEPS[m] for m in r["missing"])),
        )
    out.print(table)
    if len(rows) < total:
        say(
            out,
            f"The latest {len(rows):,} of {total:,} arrivals whose referral record is incomplete: "
            "`triage referral --incomplete` lists them all (--date one day's).",
        )
