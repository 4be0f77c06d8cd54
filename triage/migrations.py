"""Numbered schema steps for the store; sqlite-utils applies each in a transaction and records it.

Columns in clear hold only what is needed to find and order records (ids, times, site, vessel,
category, flags, scores, keyed hashes). Everything personal or biometric lives in `sealed` or `data`
BLOBs that the store encrypts under the home's data key.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("triage")


@migrations()
def m001_initial(db: Database) -> None:
    db["keyring"].create({"name": str, "wrapped": str, "created_at": str}, pk="name")
    db["arrivals"].create(
        {
            "id": str,
            "created_at": str,
            "landed_at": str,  # UTC, ISO 8601
            "landed_day": str,  # the site's local date, for the day's batch
            "site": str,
            "vessel": str,
            "officer": str,
            "device": str,
            "safeguarding": int,
            "quality_score": float,
            "quality_override": str,
            "source_key": str,  # keyed hash of the capture's inputs: re-running a manifest adds nothing
            "origin": str,  # the device whose batch brought it here, or null when captured here
            "training": int,
            "sealed": bytes,
        },
        pk="id",
        not_null={"created_at", "landed_at", "landed_day", "site", "officer", "device", "sealed"},
    )
    db["arrivals"].create_index(["landed_day"])
    db["arrivals"].create_index(["vessel"])
    db["arrivals"].create_index(["source_key"], unique=True)

    db["subjects"].create(
        {
            "ref": str,
            "category": str,
            "added_at": str,
            "review_date": str,
            "authorised_by": str,
            "image_source": str,
            "status": str,  # active | removed
            "removed_at": str,
            "sealed": bytes,
        },
        pk="ref",
        not_null={"category", "added_at", "review_date", "authorised_by", "status"},
    )

    db["photos"].create(
        {
            "id": int,
            "owner_kind": str,  # arrival | subject
            "owner_id": str,
            "role": str,  # original | portrait
            "media_type": str,
            "width": int,
            "height": int,
            "created_at": str,
            "data": bytes,
        },
        pk="id",
        not_null={"owner_kind", "owner_id", "role", "created_at"},
    )
    db["photos"].create_index(["owner_kind", "owner_id"])

    db["templates"].create(
        {
            "id": int,
            "owner_kind": str,
            "owner_id": str,
            "photo_id": int,
            "model_id": str,
            "dtype": str,
            "dim": int,
            "created_at": str,
            "data": bytes,
        },
        pk="id",
        foreign_keys=[("photo_id", "photos", "id")],
        not_null={"owner_kind", "owner_id", "model_id", "dtype", "dim", "created_at"},
    )
    db["templates"].create_index(["model_id"])
    db["templates"].create_index(["owner_kind", "owner_id"])

    db["searches"].create(
        {
            "id": int,
            "arrival_id": str,
            "at": str,
            "officer": str,
            "matcher": str,
            "model_id": str,
            "threshold": float,
            "top_k": int,
            "gallery_size": int,
        },
        pk="id",
        foreign_keys=[("arrival_id", "arrivals", "id")],
    )
    db["candidates"].create(
        {
            "id": int,
            "search_id": int,
            "arrival_id": str,
            "kind": str,  # watchlist | arrival
            "ref": str,
            "rank": int,
            "distance": float,
            "threshold": float,
            "below_threshold": int,
            "model_id": str,
        },
        pk="id",
        foreign_keys=[("search_id", "searches", "id"), ("arrival_id", "arrivals", "id")],
    )
    db["candidates"].create_index(["arrival_id"])

    db["reviews"].create(
        {
            "id": int,
            "arrival_id": str,
            "kind": str,
            "ref": str,
            "decision": str,  # confirmed | rejected | inconclusive
            "officer": str,
            "at": str,
            "supersedes": int,
            "sealed": bytes,  # the reason, which may name people
        },
        pk="id",
        foreign_keys=[("arrival_id", "arrivals", "id")],
    )
    db["reviews"].create_index(["arrival_id", "kind", "ref"])

    db["drafts"].create(
        {
            "ref": str,
            "kind": str,  # pnd-person | pnd-face | intel
            "arrival_id": str,
            "officer": str,
            "created_at": str,
            "outcome": str,
            "outcome_at": str,
            "training": int,
            "sealed": bytes,
        },
        pk="ref",
        foreign_keys=[("arrival_id", "arrivals", "id")],
    )

    db["tombstones"].create(
        {"id": int, "kind": str, "ref": str, "at": str, "officer": str, "reason": str}, pk="id"
    )

    db["audit_events"].create(
        {
            "seq": int,
            "at": str,
            "officer": str,
            "action": str,
            "arrival_id": str,
            "records": str,  # JSON list of record ids, never their contents
            "reason": bytes,  # sealed: an officer's reason may name people
            "prev_hash": str,
            "hash": str,
        },
        pk="seq",
        not_null={"at", "officer", "action", "prev_hash", "hash"},
    )
    db["audit_events"].create_index(["arrival_id"])


@migrations()
def m008_retention(db: Database) -> None:
    """When an arrival's biometrics were removed under the retention policy (null while kept)."""
    db["arrivals"].add_column("biometrics_purged_at", str)
    db["drafts"].add_column("purged_at", str)


@migrations()
def m005_draft_outcomes(db: Database) -> None:
    """What became of each PND draft, one row per recorded outcome; a later one supersedes, none is lost.
    The result is a code in clear so supervisors can count; the officer's note is sealed."""
    db["draft_outcomes"].create(
        {
            "id": int,
            "ref": str,
            "result": str,  # submitted | no-trace | trace | declined
            "officer": str,
            "at": str,
            "supersedes": int,
            "sealed": bytes,
        },
        pk="id",
        foreign_keys=[("ref", "drafts", "ref")],
        not_null={"ref", "result", "officer", "at"},
    )
    db["draft_outcomes"].create_index(["ref"])
