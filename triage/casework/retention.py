"""Retention: remove what the policy in the home's config says is no longer needed.

Biometrics (photos, portrait, templates) of arrivals with no confirmed candidate go after
`unmatched_biometrics_days`; draft contents go after `drafts_days`; audit events are always kept.
Each purged record leaves a tombstone and the run leaves one audit event, all in one transaction, so a
killed purge leaves the store as it was and re-running finishes the job. Deleted pages are zeroed
(`secure_delete`), then the WAL is checkpointed and the file vacuumed so the space is reclaimed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from triage.store.rows import Store, utcnow


@dataclass
class PurgePlan:
    as_of: str
    arrivals: list[str] = field(default_factory=list)  # arrivals whose biometrics go
    drafts: list[str] = field(default_factory=list)  # drafts whose contents go
    photos: int = 0
    templates: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def plan(store: Store, as_of: dt.datetime | None = None) -> PurgePlan:
    """What a purge at `as_of` would remove, without changing anything. The tables it reads and deletes through
    are checked first: a confirmation left out of the reviews index would purge a confirmed match's biometrics,
    a photo or template left out of its index would be kept, every tag and digest passing."""
    store.check_indexes_once("arrivals", "reviews", "photos", "templates", "drafts", "draft_outcomes")
    now = as_of or dt.datetime.now(dt.timezone.utc)
    policy = store.config.retention
    bio_cutoff = (now - dt.timedelta(days=policy.unmatched_biometrics_days)).isoformat(timespec="seconds")
    draft_cutoff = (now - dt.timedelta(days=policy.drafts_days)).isoformat(timespec="seconds")
    due = "SELECT id FROM arrivals WHERE landed_at < ? AND biometrics_purged_at IS NULL"
    latest: dict[tuple[str, str, str], str] = {}  # the decision in force on each candidate (decisions are sealed)
    for r in store.rows("reviews", f"arrival_id IN ({due})", [bio_cutoff], order_by="id"):
        latest[(r["arrival_id"], r["kind"], r["ref"])] = r["decision"]
    confirmed = {aid for (aid, _, _), decision in latest.items() if decision == "confirmed"}
    arrivals = [r[0] for r in store.db.execute(f"{due} ORDER BY landed_at", [bio_cutoff]) if r[0] not in confirmed]
    drafts = [
        r[0]
        for r in store.db.execute(
            "SELECT ref FROM drafts WHERE created_at < ? AND purged_at IS NULL ORDER BY created_at", [draft_cutoff]
        )
    ]
    p = PurgePlan(as_of=now.isoformat(timespec="seconds"), arrivals=arrivals, drafts=drafts)
    if arrivals:
        marks = ",".join("?" * len(arrivals))
        p.photos = store.count("photos", f"owner_kind = 'arrival' AND owner_id IN ({marks})", arrivals)
        p.templates = store.count("templates", f"owner_kind = 'arrival' AND owner_id IN ({marks})", arrivals)
    return p


def purge(store: Store, *, officer: str, as_of: dt.datetime | None = None) -> PurgePlan:
    """Carry out the plan in one transaction, then reclaim the space. The space is reclaimed even when
    nothing is left to remove but the file has free pages: a purge killed after its commit has nothing
    left to remove when it is run again, yet its space was never reclaimed."""
    p = plan(store, as_of)
    if not (p.arrivals or p.drafts):
        _reclaim(store, vacuum=bool(store.db.execute("PRAGMA freelist_count").fetchone()[0]))
        return p
    now = utcnow()
    with store.transaction():
        for aid in p.arrivals:
            store.db.execute("DELETE FROM templates WHERE owner_kind = 'arrival' AND owner_id = ?", [aid])
            store.db.execute("DELETE FROM photos WHERE owner_kind = 'arrival' AND owner_id = ?", [aid])
            store.db.execute("UPDATE arrivals SET biometrics_purged_at = ? WHERE id = ?", [now, aid])
            store.db.table("tombstones").insert(
                {
                    "kind": "arrival-biometrics",
                    "ref": aid,
                    "at": now,
                    "officer": officer,
                    "reason": "retention: no confirmed candidate",
                }
            )
        for ref in p.drafts:
            store.db.execute("UPDATE drafts SET sealed = NULL, purged_at = ? WHERE ref = ?", [now, ref])
            store.db.execute("UPDATE draft_outcomes SET sealed = NULL WHERE ref = ?", [ref])
            store.db.table("tombstones").insert(
                {
                    "kind": "draft",
                    "ref": ref,
                    "at": now,
                    "officer": officer,
                    "reason": "retention: draft past its retention period",
                }
            )
        store.audit(
            "purge",
            officer,
            records=[f"arrival:{a}" for a in p.arrivals] + [f"draft:{d}" for d in p.drafts],
            reason=f"retention policy as of {p.as_of}",
        )
    store.cache.clear()
    _reclaim(store)
    return p


def _reclaim(store: Store, *, vacuum: bool = True) -> None:
    """Give the freed pages back (they were zeroed by `secure_delete`) and empty the WAL, which may still
    hold earlier copies of purged pages (emptied even when there are no free pages: a purge killed after its
    commit may have had its freed pages reused since, its WAL not yet emptied)."""
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if vacuum:
        store.db.execute("VACUUM")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
