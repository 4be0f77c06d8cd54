"""`triage hub init|import|review|audit|report|ocg|watchlist`: the regional hub on PostgreSQL, where every
site's batches meet. Needs the optional extra `triage[hub]`; without it each command says how to install it."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from triage.cli.batch import stage_bars
from triage.cli.common import (
    JsonOpt,
    arrival_argument,
    emit,
    emit_json,
    err,
    new_passphrase,
    note,
    out,
    out_option,
    passphrase,
    report_format,
    say,
    utc_text,
    warn,
)
from triage.errors import BadInput, UsageError

DirOpt = Annotated[
    Path | None, typer.Option("--dir", help="The hub's folder (default: $TRIAGE_HUB).", show_default=False)
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="PostgreSQL URL of the hub's database, e.g. postgresql://hub@db.example/triage_hub (default: the "
        "one given at init, $TRIAGE_HUB_DB, else the embedded server in the hub's folder).",
        show_default=False,
    ),
]

OfficerOpt = Annotated[
    str | None,
    typer.Option(
        "--officer",
        help="Officer (default: $TRIAGE_OFFICER, then the officer the hub records: the one who made it).",
        show_default=False,
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force", help="Replace an output file that already exists (a file inside the hub's folder is never written)."
    ),
]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="The regional hub: every site's batches in one PostgreSQL database, reviewed by several officers.",
        no_args_is_help=True,
    )
    group.command("init")(init)
    group.command("import")(import_cmd)
    group.command("review")(review_cmd)
    group.command("report")(report_cmd)
    group.command("keys-restored")(keys_restored)
    audit = typer.Typer(help="The hub's audit trail.", no_args_is_help=True)
    audit.command("verify")(audit_verify)
    audit.command("show")(audit_show)
    group.add_typer(audit, name="audit")
    ocg = typer.Typer(help="Crime groups across sites.", no_args_is_help=True)
    ocg.command("show")(ocg_show)
    ocg.command("shared")(ocg_shared)
    group.add_typer(ocg, name="ocg")
    wl = typer.Typer(help="The hub's watchlist (its key home's) against the arrivals held.", no_args_is_help=True)
    wl.command("search")(watchlist_search)
    group.add_typer(wl, name="watchlist")
    app.add_typer(group, name="hub")


def _folder(folder: Path | None) -> Path:
    found = folder or (Path(os.environ["TRIAGE_HUB"]) if os.environ.get("TRIAGE_HUB") else None)
    if found is None:
        raise UsageError("no hub folder: pass --dir DIR or set TRIAGE_HUB")
    return found.expanduser()


def _officer(officer: str | None) -> str | None:
    from triage.intake.biographic import clean_text

    name = officer or os.environ.get("TRIAGE_OFFICER")
    return clean_text(name, "--officer") if name else None


def _opened(folder: Path | None, db: str | None, officer: str | None) -> Any:
    from triage.hub import hub, server

    server.require()
    return hub.opened(_folder(folder), passphrase(), _officer(officer), db=db)


def init(
    db: DbOpt = None,
    folder: DirOpt = None,
    name: str = typer.Option("Regional hub", "--name", help="What the hub is called (its key home's site)."),
    force_code: str = typer.Option("HUB", "--force-code", help="Force code of the owning force."),
    matcher: str = typer.Option("fused", "--matcher", help="The matcher every search uses: dlib, sface or fused."),
    training: bool = typer.Option(False, "--training", help="A training hub: takes training batches only."),
    officer: Annotated[
        str | None,
        typer.Option(
            "--officer",
            help="The officer making the hub, whom it records as its officer (default: $TRIAGE_OFFICER).",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Make a hub: its keys, its schema, vector indexes and roles.

    The keys are a home of its own in DIR/keys, managed like any home's (`triage keys trust NAME KEY --home
    DIR/keys`); the roles are <db>_importer, <db>_reviewer and <db>_analyst. Without --db the database is an
    embedded PostgreSQL in DIR/pg, for trials.

    Examples:

      triage hub init --dir /srv/hub --db postgresql://hub_owner@db.kent.example/triage_hub

      triage hub init --dir ./trial-hub
    """
    from triage.hub import hub, server

    server.require()
    who = _officer(officer)
    if not who:
        raise UsageError("no officer: pass --officer or set TRIAGE_OFFICER")
    result = hub.init(
        _folder(folder),
        new_passphrase(),
        officer=who,
        db=db,
        name=name,
        force_code=force_code,
        matcher=matcher,
        training=training,
    )

    def render(r: Any) -> None:
        say(out, f"Hub made in {r.folder}: database {r.database}" + (" (embedded)" if r.embedded else ""), hang=2)
        out.print(f"Schema version {r.schema_version}; models {', '.join(r.models)}", markup=False)
        out.print(f"Roles: {', '.join(r.roles.values())}", markup=False)
        out.print(f"Age recipient     {r.age_recipient}", markup=False)
        out.print("                  (each laptop adds it: `triage keys recipient add Hub age1...`)", markup=False)
        out.print(f"Signing key       {r.signing_key}", markup=False)
        out.print(f"  fingerprint     {r.fingerprint}", markup=False)

    emit(result, json_out, render)


def import_cmd(
    batches: list[Path] = typer.Argument(..., help="Batch files (.age) from the laptops, any sites and days."),
    db: DbOpt = None,
    folder: DirOpt = None,
    officer: OfficerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify and load batches, then search each new arrival across every site and day.

    The checks are a home's: a trusted laptop's signature, every member, the training flag, every record bound
    to its laptop. Each batch loads whole or not at all, and again adds nothing. Each new arrival is searched
    against every arrival held, the hub's watchlist, and names and dates of birth. First, the arrivals already
    held are searched against the watchlist subjects added since (as `triage hub watchlist search` does). A
    laptop's watchlist alert decided on any laptop (the decision travels in that laptop's batch) is decided here
    too, whichever batch comes first.

    Example: triage hub import --dir /srv/hub batch-dover-2026-11-28.age batch-deal-2026-11-28.age
    """
    from triage.hub import imports, review, subjects

    for path in batches:  # a mistyped path is told before the hub is opened and its watchlist search runs
        if not path.is_file():
            raise BadInput(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    with _opened(folder, db, officer) as h:
        searched = subjects.search_since(h)  # said first: it stands even when a batch is then refused
        if searched.subjects or searched.no_longer_searched:
            (note if json_out else _said)(_searched_line(searched, subjects.arrivals_held(h)))
        for w in searched.warnings:
            warn(w)
        with stage_bars() as progress:
            results = imports.import_files(h, list(batches), progress=progress)

    def render(rs: list[Any]) -> None:
        for r in rs:
            state = "already imported" if r.already_imported else f"{r.new_arrivals} of {r.arrivals} arrivals new"
            say(out, f"{Path(r.file).name}: day {r.day} from device {r.device} ({r.signer}): {state}", hang=2)
            for key in r.safeguarding_raised:
                say(out, f"  safeguarding flag raised on {key}: the person may be a child", hang=2)
            for c in r.corrected:  # which arrivals the batch changed: a void takes one out of every search
                done = "voided" if c["kind"] == "void" else "amended"
                say(out, f"  {c['arrival_key']} {done} by {c['officer']}: {c['reason']}", hang=4)
            for a in r.laptop_alerts:
                say(
                    out,
                    f"  laptop alert: {a['arrival_key']}{f' ({review.SAFEGUARDING})' if a.get('safeguarding') else ''} - {a['ref']} [{a['category'] or 'no category'}] at "
                    f"{a['distance']:.3f}, found by {a['laptop']}: {a['decided_where']}",
                    hang=2,
                )
            for d in r.alert_decisions:
                say(out, f"  {_decided_line(d)}", hang=2)
            for p in r.pair_decisions:
                line = _pair_line(p)
                if p["state"] == review.DECIDED:  # a reviewer's decision at the hub stands
                    say(err, f"[yellow]warning:[/] {escape(line)}", hang=2, markup=True)
                elif line:
                    say(out, f"  {line}", hang=2)
            if r.candidates:
                say(out, f"  awaiting review, with its arrivals ({len(r.candidates)}):", hang=2)
            for c in r.candidates:
                say(out, f"  {_numbers(c)}: {_candidate_line(c)}", hang=2)
            for w in r.warnings:
                warn(w)

    emit(results, json_out, render)


def _decided_line(d: dict[str, Any]) -> str:
    """A decision another laptop took on a laptop's alert, as an import found it."""
    line = f"laptop alert decided on {d['laptop']}: {d['arrival_key']} - {d['ref']} {d['decision']} by {d['officer']}"
    if not d["alert_held"]:
        return line + "; kept until the hub holds that alert"
    return line if d["stands"] else line + "; a later decision stands"


def _pair_line(p: dict[str, Any]) -> str:
    """A decision on a pair of arrivals that a batch brought, and what became of it at the hub (`review.PairDecision`);
    empty for a pair the hub does not list that nobody confirmed (nothing for the hub to know)."""
    from triage.hub import review

    line = f"repeat arrival {p['arrival_key']} and {p['other_key']}: {p['decision']} by {p['officer']} on {p['laptop']}"
    held = p["held"] or {"decision": "a decision", "officer": "someone", "decided_on": review.HUB}
    where = "at the hub" if held["decided_on"] == review.HUB else f"on {held['decided_on']}"
    return {
        review.RECORDED: line + ": recorded",
        review.REPLACED: line + f": recorded in place of {held['decision']} by {held['officer']} {where}",
        review.KEPT: line + ": kept until the hub holds both arrivals",
        review.UNPAIRED: line + ": kept; the hub's search does not pair them" if p["decision"] == "confirmed" else "",
        review.DECIDED: line + f": not recorded; {held['decision']} by {held['officer']} {where} stands",
    }[p["state"]]


def _said(line: str) -> None:
    say(out, line, hang=2)


def _counted(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _searched_line(r: Any, held: int, keys: Path | None = None) -> str:
    """What one search of the watchlist subjects added since the last did, as a sentence. With `keys` (the hub's
    key home, which holds no live subject) and nothing searched or withdrawn, that there is no watchlist to
    search and how the hub gets one."""
    gone = len(r.no_longer_searched)
    if not r.subjects and not gone and keys is not None:
        line = (
            "Watchlist: none to search: the hub's key home holds no live watchlist subject; receive the "
            f"issuer's package with `triage watchlist receive PACKAGE --home {shlex.quote(str(keys))}`"
        )
    elif not r.subjects:
        line = "Watchlist: no subject added or changed since the last search"
    else:
        found = _counted(len(r.candidates), "candidate", "candidates") if r.candidates else "no candidate"
        line = (
            f"Watchlist: {_counted(len(r.subjects), 'subject', 'subjects')} added or changed since the last search "
            f"{'was' if len(r.subjects) == 1 else 'were'} searched against the "
            f"{_counted(held, 'arrival', 'arrivals')} held: {found} found"
        )
    if gone:
        line += f"; {_counted(gone, 'subject', 'subjects')} withdrawn or expired, no longer searched"
    return line + "."


def watchlist_search(
    db: DbOpt = None, folder: DirOpt = None, officer: OfficerOpt = None, json_out: JsonOpt = False
) -> None:
    """Search the arrivals held against the watchlist subjects added since.

    A subject added to the hub's watchlist (`triage watchlist receive PACKAGE --home DIR/keys`) after people
    landed is compared with every arrival held, once, through the index. `triage hub import` does this too
    before it loads. Candidates go to `triage hub review --pending`; a subject withdrawn or expired is not
    searched, and its candidates are not listed.

    Example: triage hub watchlist search --dir /srv/hub
    """
    from triage.hub import subjects

    with _opened(folder, db, officer) as h:
        result = subjects.search_since(h)
        held = subjects.arrivals_held(h)
        unwatched = None if subjects.live(h) else h.keys.home

    def render(r: Any) -> None:
        _said(_searched_line(r, held, unwatched))
        for c in r.candidates:
            say(out, f"  {_numbers(c)}: {_candidate_line(c)}", hang=2)
        for w in r.warnings:
            warn(w)

    emit(result, json_out, render)


def _numbers(c: dict[str, Any]) -> str:
    """`candidate 12`, or `candidates 12+13` for a pair found by face and by name (one decision decides both)."""
    numbers = c.get("candidates") or [c["candidate"]]
    return f"candidate {numbers[0]}" if len(numbers) == 1 else f"candidates {'+'.join(map(str, numbers))}"


def _against(threshold: float | None) -> str:
    from triage.hub.intel import threshold_note

    return threshold_note(threshold)


def _placed(key: str, site: str | None, day: str, safeguarding: bool | None) -> str:
    """An arrival as a line names it: its key, where and when it landed, and a safeguarding flag beside it."""
    from triage.hub.review import SAFEGUARDING

    return f"{key} ({site}, {day}" + (f", {SAFEGUARDING})" if safeguarding else ")")


def _candidate_line(c: dict[str, Any]) -> str:
    from triage.hub.review import HUB

    here = _placed(c["arrival_key"], c["site"], c["day"], c.get("safeguarding"))
    if c["kind"] == "watchlist":
        line = f"{here} - watchlist {c['ref']} at {c['distance']:.3f}{_against(c['threshold'])}"
        both = c.get("found_by") not in (None, HUB)  # a laptop found the same hit: one hit, decided here
        return line + (f", found by {c['found_by']}" if both else "")
    o = c["other"]
    there = _placed(o["key"], o["site"], o["day"], o.get("safeguarding"))
    how = [f"distance {c['distance']:.3f}{_against(c['threshold'])}"] if c["distance"] is not None else []
    how += [str(c["matched"])] if c["matched"] else []
    return f"{here} ~ {there}: {', '.join(how)}" + (", across sites" if c["across_sites"] else "")


def review_cmd(
    arrival: str | None = arrival_argument("The arrival listed or decided on (its key DEVICE:ID, or its id).", None),
    pending: bool = typer.Option(False, "--pending", help="List what awaits a decision."),
    candidate: str | None = typer.Option(None, "--candidate", help="The candidate: its number, or its ref."),
    decision: str | None = typer.Option(None, "--decision", help="confirmed, rejected or inconclusive."),
    reason: str | None = typer.Option(None, "--reason", help="What the decision rests on."),
    correct: bool = typer.Option(
        False, "--correct", help="Replace the decision standing on the candidate (both stay in the record)."
    ),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many candidates (closest first)."),
    db: DbOpt = None,
    folder: DirOpt = None,
    officer: OfficerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What awaits a decision, one arrival's candidates, or one decision.

    Several officers review at once; a candidate is decided once, and whoever decides it second is told the
    first decision (exit 8). A decision found wrong is corrected with --correct and a reason: it replaces the
    standing one, which stays in the record and the audit trail. A pair of arrivals found by face and by name
    is one item: deciding either of its candidates decides both. ARRIVAL alone lists its candidates, awaiting
    a decision and decided.

    Examples:

      triage hub review --pending

      triage hub review 3F9A1C:A-7K3F9Q

      triage hub review 3F9A1C:A-7K3F9Q --candidate 12 --decision confirmed --reason "same scar, same tattoo"

      triage hub review 3F9A1C:A-7K3F9Q --candidate 12 --decision rejected --reason "tattoo differs" --correct
    """
    from triage.hub import review

    if pending == (arrival is not None):
        raise UsageError("give --pending, or ARRIVAL (with --candidate, --decision and --reason to record a decision)")
    deciding = candidate is not None or decision is not None or reason is not None or correct
    if arrival is not None and deciding and not (candidate and decision and reason is not None):
        missing = [f for f, v in (("--candidate", candidate), ("--decision", decision), ("--reason", reason)) if not v]
        missing = [f for f in missing if f != "--reason" or reason is None]  # a blank reason is told as blank
        raise UsageError(f"a {'correction' if correct else 'decision'} needs {' and '.join(missing)} too")
    if pending and correct:
        raise UsageError("--correct goes with ARRIVAL, --candidate, --decision and --reason, not --pending")
    with _opened(folder, db, officer) as h:
        if pending:
            result: Any = review.pending(h, limit=limit)
        elif deciding:
            result = review.decide(h, str(arrival), str(candidate), str(decision), str(reason), correct=correct)
        else:
            result = review.arrival_candidates(h, str(arrival))

    def render(r: Any) -> None:
        if isinstance(r, review.ArrivalCandidates):
            _render_arrival(r)
            return
        if isinstance(r, review.Decided):
            also = [n for n in r.candidates if n != r.candidate]
            say(
                out,
                f"Recorded: {r.decision} for the {r.kind} candidate {r.ref} of arrival {r.arrival_key}, by {r.officer}"
                + (f" (candidates {r.candidate} and {', '.join(map(str, also))})" if also else "")
                + (f", in place of {_replaced(r.corrects)}" if r.corrects else ""),
                hang=2,
            )
            return
        if not r.candidates and not r.laptop_alerts:
            out.print("Nothing awaits a decision.")
        for a in r.laptop_alerts:
            say(
                out,
                f"laptop alert: {_placed(a['arrival_key'], a['site'], a['day'], a.get('safeguarding'))} - {a['ref']} "
                f"[{a['category'] or 'no category'}] at {a['distance']:.3f}{_against(a['threshold'])}, "
                f"found by {a['laptop']}: {a['decided_where']}",
                hang=2,
            )
        for c in r.candidates:
            say(out, f"{_numbers(c)}: {_candidate_line(c)}", hang=2)
        if r.more:
            say(
                out,
                f"... and {r.more} more candidate(s) awaiting a decision ({r.held} in all): the closest "
                f"{limit} are listed; `--limit {r.held}` lists every one.",
                hang=2,
            )
        flagged = {e["arrival_key"]: e["safeguarding_reasons"] for e in [*r.laptop_alerts, *r.candidates]}
        flagged |= {e["other"]["key"]: e["other"]["safeguarding_reasons"] for e in r.candidates if e.get("other")}
        for key, reasons in flagged.items():
            if reasons:
                _flag_reasons(f"{key} is flagged for safeguarding:", reasons)
        if r.candidates or r.laptop_alerts:
            from triage.hub.intel import NOT_AN_IDENTIFICATION

            say(out, NOT_AN_IDENTIFICATION, hang=2)

    emit(result, json_out, render)


def _flag_reasons(title: str, reasons: list[dict[str, Any]]) -> None:
    """Why an arrival is flagged for safeguarding, as far as the hub holds it: a reason a line under `title`."""
    say(out, title, hang=2)
    for reason in reasons:
        say(out, f"  {reason['summary']}", hang=4)


def _render_arrival(r: Any) -> None:
    """One arrival's candidates in a table that reads at 80 columns, then how to record a decision."""
    from rich.table import Column, Table
    from rich.text import Text

    from triage.casework.review import DECISIONS
    from triage.hub.intel import NOT_AN_IDENTIFICATION
    from triage.hub.review import HUB, SAFEGUARDING

    say(
        out,
        f"Arrival {_placed(r.arrival_key, r.site or 'no site', r.day, r.safeguarding)}"
        + (": voided by its laptop" if r.voided else ""),
        hang=2,
    )
    if r.safeguarding:
        _flag_reasons("Flagged for safeguarding:", r.safeguarding_reasons)
    if not r.awaiting and not r.decided:
        out.print("No candidates.")
        return
    table = Table(
        Column("#", no_wrap=True),
        "candidate",
        "distance / names",
        Column("found by", min_width=8),
        "decision",
        title="Candidates for human review",
    )
    for e in [*r.awaiting, *r.decided]:
        what = [e["kind"], e["ref"]]
        if e["other"]:
            what.append(f"{e['other']['site'] or 'no site'}, {e['other']['day']}")
            what += [SAFEGUARDING] if e["other"].get("safeguarding") else []
        what += [f"[{e['category']}]"] if e["category"] else []
        what += ["across sites"] if e["across_sites"] else []
        score = [f"{e['distance']:.3f}{_against(e['threshold'])}"] if e["distance"] is not None else []
        score += [str(e["matched"])] if e["matched"] else []
        if e["decision"] is None:
            decided = ["awaiting a decision"] + ([] if e["candidates"] else ["on its laptop, or by a supervisor"])
        else:
            decided = [e["decision"]] + ([f"by {e['officer']}"] if e["officer"] else [])
            decided += [f"{utc_text(e['at'])} UTC"] if e["at"] else []
            decided += ["at the hub" if e["decided_on"] == HUB else f"on {e['decided_on']}"]
            decided += [f"in place of {_replaced(e['corrects'])}"] if e.get("corrects") else []
            decided += ["replaced at the hub (kept in the record)"] if e.get("replaced") else []
            decided += [f"because: {e['reason']}"] if e.get("reason") else []
        table.add_row(
            "+".join(map(str, e["candidates"])) or "-",
            Text("\n".join(what)),
            Text("\n".join(score) or "-"),
            Text(str(e["found_by"])),
            Text("\n".join(decided)),
        )
    out.print(table)
    if any(e["decided_where"] for e in [*r.awaiting, *r.decided]):
        say(
            out,
            "A row without a number (-) is a laptop's watchlist alert the hub's own search did not find: the hub has "
            "no candidate of it, so it is decided (or decided again) on that laptop or by a supervisor who imports "
            "its batch, not at the hub, and the decision reaches the hub in their next batch.",
            hang=2,
        )
    say(out, NOT_AN_IDENTIFICATION, hang=2)
    for entries, verb, flag in ((r.awaiting, "record", ""), (r.decided, "correct", " --correct")):
        if any(e["candidates"] for e in entries):
            say(
                out,
                f"To {verb} a decision: triage hub review {r.arrival_key} --candidate NUMBER --decision "
                f"{'|'.join(DECISIONS)} --reason TEXT{flag}",
                hang=2,
            )


def _replaced(d: dict[str, Any]) -> str:
    """A decision a correction replaced, as one phrase."""
    from triage.hub.review import HUB

    where = "" if d.get("decided_on") in (None, HUB) else f" on {d['decided_on']}"
    return f"{d.get('decision')} by {d.get('officer')} at {utc_text(str(d.get('at')))} UTC{where}"


def keys_restored(
    reason: str | None = typer.Option(None, "--reason", help="Why the key folder was put back (required; kept)."),
    db: DbOpt = None,
    folder: DirOpt = None,
    officer: OfficerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record that the hub's key folder was put back from a backup on purpose (audited, with the reason).

    Every hub command refuses a key folder older than the hub last saw it (exit 6): an older copy brings back
    laptops untrusted and watchlist entries withdrawn since. After a restore made on purpose (a disk lost), this
    records the folder as it is now; then check the laptops it trusts (`triage keys list --home DIR/keys`) and
    untrust again any untrusted since the backup was made. Needs the hub's importer or owner login.

    Example: triage hub keys-restored --reason "keys folder restored from the 3 May backup after a disk failure"
    """
    from triage.hub import KEYS, hub
    from triage.intake.biographic import reason_text

    why = reason_text(reason, "the hub's key folder was put back", min_words=2)
    where = _folder(folder)
    with hub.opened(where, passphrase(), _officer(officer), db=db, keys_restored=why) as h:
        seen = h.key_home
    result = {
        "restored": bool(seen and seen.restored),
        "recorded_before": seen.before if seen else None,
        "recorded_now": seen.now if seen else None,
        "key_home": str(where / KEYS),
    }

    def render(r: dict[str, Any]) -> None:
        if not r["restored"] and r["recorded_now"] != r["recorded_before"]:
            say(
                out,
                f"The key folder holds every event the hub saw, and more (its trail moved from event "
                f"{r['recorded_before']} to {r['recorded_now']}, recorded as moved): it was not put back.",
            )
            return
        if not r["restored"]:
            say(
                out,
                f"The key folder is as the hub last saw it (its trail at event {r['recorded_now']}): nothing recorded.",
            )
            return
        say(
            out,
            f"Recorded: the key folder restored (the hub had seen its trail at event {r['recorded_before']}, which it "
            f"no longer holds; now at event {r['recorded_now']}). Check the laptops it trusts, and untrust again any "
            "untrusted since the backup was made:",
        )
        out.print(f"  triage keys list --home {r['key_home']}", markup=False, soft_wrap=True)

    emit(result, json_out, render)


def audit_verify(db: DbOpt = None, folder: DirOpt = None, json_out: JsonOpt = False) -> None:
    """Check the hub's audit trail and rows (exit 6 at the first that fails).

    The trail against its keyed hash chain; every tagged row (arrivals, candidates, decisions, alerts, crime
    groups...) against its keyed tag; every decision against the audit event that recorded it; every table
    against the digest the trail's end keeps, so rows deleted, copied or put back as they were are found too.

    Example: triage hub audit verify --dir /srv/triage-hub
    """
    from triage.hub import audit

    with _opened(folder, db, None) as h:
        result = audit.verify(h)

    def render(r: Any) -> None:
        say(out, f"Audit trail intact: {r.events} events.", hang=2)
        say(
            out,
            f"Rows intact: {sum(r.rows.values())} rows carry their keyed tags; {r.decisions} decisions match "
            "their audit events.",
            hang=2,
        )

    emit(result, json_out, render)


def audit_show(
    last: int = typer.Option(50, "--last", min=1, help="The last N events."),
    db: DbOpt = None,
    folder: DirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The last events of the hub's audit trail, reasons opened.

    Example: triage hub audit show --last 20 --dir /srv/triage-hub
    """
    from triage.hub import audit

    with _opened(folder, db, None) as h:
        events = audit.events(h, limit=last)
    if json_out:
        emit_json(events)
        return
    for e in events:
        say(
            out,
            f"{e['seq']:>6} {e['at'][:19]} {e['officer']} ({e['db_user']}) {e['action']}"
            + (f": {e['reason']}" if e["reason"] else ""),
            hang=2,
        )


def report_cmd(
    start: str = typer.Option(..., "--from", help="First day of landing, YYYY-MM-DD or DD/MM/YYYY."),
    end: str = typer.Option(..., "--to", help="Last day of landing, YYYY-MM-DD or DD/MM/YYYY."),
    fmt: str = typer.Option("html", "--format", help="html (one self-contained page), text or json (as --json)."),
    out_file: Annotated[Path | None, out_option("File to write (required for html).")] = None,
    force: ForceOpt = False,
    db: DbOpt = None,
    folder: DirOpt = None,
    officer: OfficerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A period's arrivals across sites, as one self-contained page or as text.

    Arrivals by site, week and nationality; pending alerts; repeat arrivals across sites; crime-group links
    and identifiers named at several sites.

    Examples:

      triage hub report --from 2026-11-01 --to 2026-11-30 --out hub-november.html

      triage hub report --from 2026-11-01 --to 2026-11-30 --format text
    """
    from triage.files import check_output, write_files
    from triage.hub import intel

    fmt, json_out = report_format(fmt, json_out, out_file)
    hub_dir = _folder(folder)
    if out_file is not None:
        check_output(out_file, home=hub_dir, force=force, folder="the hub's folder")
        if not Path(out_file).parent.is_dir():  # told before the hub opens, naming the folder, not a temporary file
            raise BadInput(f"--out {out_file}: the folder {Path(out_file).parent} does not exist")
    with _opened(hub_dir, db, officer) as h:
        result = intel.report(h, start, end)
    text = intel.as_html(result) if fmt == "html" else intel.as_text(result)
    if out_file is not None:  # written with --json too; the JSON then says where
        write_files({Path(out_file): text.encode()})
    if json_out:
        emit_json({**result.as_json(), "out": str(out_file) if out_file is not None else None})
        return
    if out_file is not None:
        out.print(f"Wrote {out_file} ({result.arrivals} arrivals)", markup=False)
    else:
        out.print(text, markup=False, end="")


def ocg_show(
    ref: str = typer.Argument(..., help="The crime group's reference."),
    db: DbOpt = None,
    folder: DirOpt = None,
    officer: OfficerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A crime group across every site: its records, links and suggestions.

    How each laptop registered it, every decision on its links, and the arrivals anywhere whose debrief ties
    them to it (suggestions for an officer to decide on).

    Example: triage hub ocg show OCG-2026-014
    """
    from triage.hub import intel

    with _opened(folder, db, officer) as h:
        result = intel.show(h, ref)

    def render(r: Any) -> None:
        say(out, f"Crime group {r.ref}: sites {', '.join(r.sites) or 'none'}", hang=2)
        for g in r.records:
            say(
                out,
                f"  registered on device {g['device']}"
                + (f" ({g['site']})" if g["site"] else "")
                + f": phones {', '.join(g.get('phones') or [])}",
                hang=2,
            )
        for x in r.links:
            say(out, f"  {x['decision']}: {x['arrival_key']} ({x['site']}, {x['day']}) by {x['officer']}", hang=2)
        for s in r.suggestions:
            matched = ", ".join(f"{m['kind']} {m['value']}" for m in s["matched"])
            say(out, f"  suggested: {s['arrival_key']} ({s['site']}, {s['day']}): {matched}", hang=2)

    emit(result, json_out, render)


def ocg_shared(db: DbOpt = None, folder: DirOpt = None, officer: OfficerOpt = None, json_out: JsonOpt = False) -> None:
    """Phone numbers, payment handles and names given in debriefs at two or more sites.

    Example: triage hub ocg shared --json
    """
    from triage.hub import intel

    with _opened(folder, db, officer) as h:
        result = intel.shared_listed(h)
    if json_out:
        emit_json(result)
        return
    if not result:
        out.print("No identifier is named at more than one site.")
    for s in result:
        say(
            out,
            f"{s['kind']} {s['value']}: {', '.join(s['sites'])}: "
            + ", ".join(a["arrival_key"] for a in s["arrivals"])
            + (f" (groups {', '.join(s['groups'])})" if s["groups"] else ""),
            hang=2,
        )
