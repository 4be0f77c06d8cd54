"""`triage purge` applies the home's retention policy; `triage retention show|set` shows and changes it."""

from __future__ import annotations

from typing import Annotated

import typer

from triage.cli.common import (
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    emit,
    emit_json,
    note,
    officer_of,
    open_store,
    out,
    reason_option,
    training_banner,
)


def register(app: typer.Typer) -> None:
    app.command("purge")(purge)
    group = typer.Typer(
        help="The retention policy: how long biometrics without a confirmed candidate, and drafts, are kept.",
        no_args_is_help=True,
    )
    group.command("show")(show_cmd)
    group.command("set")(set_cmd)
    app.add_typer(group, name="retention")


def purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; change nothing."),
    as_of: str | None = typer.Option(None, "--as-of", help="Apply the policy as if it were this date (YYYY-MM-DD)."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove biometrics of arrivals with no confirmed candidate, and old draft contents, per the home's
    retention policy (`triage retention show`, `triage retention set`); audit events are kept. Tombstones
    record what went.

    Example: triage purge --dry-run
    """
    import datetime as dt

    from triage.casework import retention
    from triage.intake.biographic import parse_full_date

    when = None
    if as_of:
        day = parse_full_date(as_of, "--as-of")
        when = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    store = open_store(home)
    policy = store.config.retention
    result = (
        retention.plan(store, when)
        if dry_run
        else retention.purge(store, officer=officer_of(store, officer), as_of=when)
    )
    if not dry_run:  # an expired watchlist package's subjects, past their retention period (issued.py)
        from triage.casework import issued

        for gone in issued.delete_expired(store, officer=officer_of(store, officer), now=when):
            note(
                f"Deleted {len(gone['refs'])} watchlist subject(s) of the expired package version {gone['version']} "
                f"from {gone['issuer']} (expired {gone['valid_until']}); tombstones kept."
            )
    if json_out:
        emit_json(
            dict(
                result.to_dict(),
                dry_run=dry_run,
                policy={
                    "unmatched_biometrics_days": policy.unmatched_biometrics_days,
                    "drafts_days": policy.drafts_days,
                },
            )
        )
        return
    verb = "Would remove" if dry_run else "Removed"
    out.print(
        f"{verb} the biometrics of {len(result.arrivals)} arrival(s) ({result.photos} photos, "
        f"{result.templates} templates) and the contents of {len(result.drafts)} draft(s). "
        f"Policy: unmatched biometrics {policy.unmatched_biometrics_days} days, drafts {policy.drafts_days} days."
    )


def show_cmd(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Show the home's retention policy, as its store records it, and who set it when.

    Example: triage retention show
    """
    from triage.casework import retention_policy

    store = open_store(home)
    policy = retention_policy.current(store)
    store.close()

    def render(p: retention_policy.Policy) -> None:
        out.print(f"Retention policy: {retention_policy.describe(p.retention)}.", markup=False)
        if p.set_at:
            out.print(f"Set {p.set_at} by {p.set_by}.", markup=False)

    emit(policy, json_out, render)


def set_cmd(
    unmatched_biometrics_days: Annotated[
        str | None,
        typer.Option(
            "--unmatched-biometrics-days",
            help="Days to keep the photos and templates of an arrival with no confirmed candidate (1 to 365).",
            show_default=False,
        ),
    ] = None,
    drafts_days: Annotated[
        str | None,
        typer.Option("--drafts-days", help="Days to keep a draft's contents (1 to 3650).", show_default=False),
    ] = None,
    reason: Annotated[str | None, reason_option("Why the policy changes (required; kept in the audit trail).")] = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Change the home's retention policy (audited, with the old and new values); what is not given is kept.
    The next `triage purge` applies it: `triage purge --dry-run` shows what that would remove.

    Example: triage retention set --unmatched-biometrics-days 14 --reason "DPO decision 2026/31"
    """
    from triage.casework import retention_policy
    from triage.errors import Faults

    given = {"unmatched_biometrics_days": unmatched_biometrics_days, "drafts_days": drafts_days}
    faults = Faults()
    values = {
        name: faults.check(retention_policy.days, value, name) for name, value in given.items() if value is not None
    }
    faults.raise_any()
    store = open_store(home)
    result = retention_policy.change(
        store,
        officer=officer_of(store, officer),
        reason=reason or "",
        **{name: days for name, days in values.items() if days is not None},
    )
    store.close()

    def render(r: retention_policy.PolicyChange) -> None:
        training_banner(store)
        if not r.changed:
            out.print(
                f"Retention policy unchanged: {retention_policy.describe(r.retention)}; nothing was recorded.",
                markup=False,
            )
            return
        out.print(f"Retention policy was: {retention_policy.describe(r.previous)}.", markup=False)
        out.print(f"Retention policy now: {retention_policy.describe(r.retention)}.", markup=False)
        out.print("See what the next purge would remove: triage purge --dry-run", markup=False)

    emit(result, json_out, render)
