"""A day's batch: every arrival landed that day with its details, portrait, quality, candidates,
reviews, drafts and the audit events behind them, in open formats inside one zip file.

Members: `arrivals.jsonl` (one JSON record per arrival), `summary.csv` (one row per arrival, for a
spreadsheet), `portraits/<arrival>.jpg`, `audit.jsonl`, and `manifest.json` with the SHA-256 of every
member.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

from . import arrivals
from .biographic import Details
from .errors import BadInput, NotFound
from .store import Store, utcnow

FORMAT = "triage-batch/1"
SUMMARY_FIELDS = ("arrival_id", "landed_at", "site", "vessel", "name", "nationality", "dob", "safeguarding",
                  "quality_score", "alerts", "decisions", "training")


def spreadsheet_safe(value) -> str:
    """Neutralise text a spreadsheet would run as a formula (=, +, -, @ and control prefixes)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def day_records(store: Store, day: str, site: str | None = None) -> list[dict]:
    where, params = "landed_day = ?", [day]
    if site:
        where += " AND site = ?"
        params.append(site)
    out = []
    for row in store.rows("arrivals", where, params, order_by="landed_at"):
        row.pop("source_key", None)
        row["candidates"] = arrivals.candidates(store, row["id"])
        row["drafts"] = [d["draft"] for d in store.rows("drafts", "arrival_id = ?", [row["id"]], order_by="ref")]
        out.append(row)
    return out


def export_day(store: Store, day: str, out: Path, *, officer: str, site: str | None = None,
               progress=None) -> dict:
    """Write the day's batch to `out` atomically (a temporary file renamed into place)."""
    records = day_records(store, day, site)
    if not records:
        raise NotFound(f"no arrivals landed on {day}" + (f" at {site}" if site else "") + " in this home")
    members: dict[str, bytes] = {}
    members["arrivals.jsonl"] = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(SUMMARY_FIELDS)
    for r in records:
        d = Details.from_dict(r["details"])
        decisions = "; ".join(f"{c['ref']}={c['reviews'][-1]['decision']}" for c in r["candidates"] if c["reviews"])
        writer.writerow([spreadsheet_safe(v) for v in (
            r["id"], r["landed_at"], r["site"], r["vessel"], d.full_name(), d.nationality, d.dob, bool(r["safeguarding"]),
            r["quality_score"], sum(c["below_threshold"] for c in r["candidates"]), decisions, bool(r["training"]))])
    members["summary.csv"] = buf.getvalue().encode("utf-8-sig")
    for i, r in enumerate(records):
        _, jpeg = store.photo("arrival", r["id"], "portrait")
        members[f"portraits/{r['id']}.jpg"] = jpeg
        if progress:
            progress(i + 1, len(records))
    ids = [r["id"] for r in records]
    events = [dict(e, reason=None) for e in store.db["audit_events"].rows_where(
        f"arrival_id IN ({','.join('?' * len(ids))})", ids, order_by="seq")]
    members["audit.jsonl"] = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events).encode()
    manifest = {"format": FORMAT, "day": day, "site": site, "device": store.config.device,
                "training": store.config.training, "exported_at": utcnow(), "exported_by": officer,
                "arrivals": len(records),
                "members": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}}
    out = Path(out)
    if out.is_dir():
        raise BadInput(f"--out {out} is a folder; give a file name such as {out / f'batch-{day}.zip'}")
    tmp = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        for name, data in members.items():
            z.writestr(name, data)
    os.replace(tmp, out)
    with store.transaction():
        store.audit("export", officer, records=[f"arrival:{i}" for i in ids][:500], reason=f"batch of {day} to {out.name}")
    return {"out": str(out), "day": day, "arrivals": len(records), "members": len(members) + 1,
            "bytes": out.stat().st_size}
