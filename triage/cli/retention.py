"""`triage purge`: apply the home's retention policy."""

from __future__ import annotations

import typer

from triage.cli.common import HomeOpt, JsonOpt, OfficerOpt, emit_json, officer_of, open_store, out


def register(app: typer.Typer) -> None:
    app.command("purge")(purge)


def purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; change nothing."),
    as_of: str | None = typer.Option(None, "--as-of", help="Apply the policy as if it were this date (YYYY-MM-DD)."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove biometrics of arrivals with no confirmed candidate, and old draft contents, per the
    retention policy in the home's config.json; audit events are kept. Tombstones record what went.

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
