"""The local register of known or suspected organised crime groups, and the arrivals and watchlist subjects
officers have linked to each.

Most groups behind crossings are never prioritised because nobody can show how often they recur. The
register makes recurrence visible: each group keeps the names, phone numbers, routes, payment methods and
payment handles known for it, and every arrival whose debrief gives one of those numbers, handles or
names is *suggested* for linking. A suggestion is never a link: an officer confirms it (or records that
it is wrong) with a reason, and only confirmed links count in `show`.

Matching never compares clear values: each identifier is stored as a keyed hash (`blind`) of its
normalised form, so the same number typed two ways, or a name in two scripts, still meets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from triage.casework import arrivals, watchlist
from triage.errors import BadInput, Conflict, NotFound
from triage.intake.biographic import clean_text, latin, name_text, parse_phone, reason_text
from triage.intake.refs import vessel_key
from triage.store.rows import Store, utcnow

DECISIONS = ("linked", "not-linked")
# What a group's record holds (sealed): lists that only ever grow.
GROUP_FIELDS = ("names", "phones", "routes", "payment_methods", "handles", "notes")
# How people say a crossing was paid for; shared by the register and the debrief so the two can be counted together.
PAYMENT_METHODS = {
    "cash": "cash handed over in person",
    "bank-transfer": "a transfer between bank accounts",
    "money-transfer": "a money transfer service",
    "hawala": "hawala or another informal transfer through a broker",
    "mobile-money": "a mobile money or payment app",
    "crypto": "cryptocurrency",
    "work": "work done for the organisers instead of a fee",
    "in-kind": "goods or services other than work",
    "other": "another way, described in the note",
}
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.-]{1,39}")


def _audited(store: Store, ref: str) -> str:
    """A crime group as the audit trail names it: a keyed hash, so the clear trail shows that events concern
    the same group but never which group an arrival was linked to or suggested for."""
    return f"ocg:{store._need_vault().blind('ocg-audit', ref)[:16]}"


def check_ref(ref: str) -> str:
    ref = (ref or "").strip()
    if not _REF.fullmatch(ref):
        raise BadInput(
            f"crime group reference {ref!r}: use 2-40 letters, digits, '/', '_', '.' or '-', e.g. OCG-2026-014"
        )
    return ref


def stored_ref(store: Store, ref: str) -> str:
    """A group's ref as typed, as this home records it: `ocg-2026-014` names `OCG-2026-014` (and one registered in
    small letters before refs were kept in capitals is named by either); a ref no group has, in capitals, as a new
    group is registered."""
    ref = check_ref(ref)
    if store.db.execute("SELECT 1 FROM ocgs WHERE ref = ?", [ref]).fetchone():
        return ref
    folded = [str(r[0]) for r in store.db.execute("SELECT ref FROM ocgs WHERE ref = ? COLLATE NOCASE", [ref])]
    if len(folded) > 1:  # groups another home registered in small letters, merged here beside one in capitals
        raise BadInput(f"{ref!r} names {' and '.join(folded)}: give the ref exactly as `triage ocg list` shows it")
    return folded[0] if folded else ref.upper()


def payment_method(text: str, field: str) -> str:
    method = (text or "").strip().lower().replace(" ", "-")
    if method not in PAYMENT_METHODS:
        raise BadInput(f"{field}: {text!r} is not a payment method; choose {', '.join(PAYMENT_METHODS)}")
    return method


def normal_handle(text: str, field: str) -> str:
    """A payment handle (account, wallet, app user name or phone number) as entered, checked as text."""
    handle = clean_text(text, field, 120)
    if not handle:
        raise BadInput(f"{field}: empty; give the account, wallet, app user name or number paid to")
    return handle


def handle_as_phone(handle: str) -> str | None:
    """The E.164 number a handle is, when it is one (mobile money goes to phone numbers)."""
    try:
        return parse_phone(handle)
    except BadInput:
        return None


def identifier_keys(store: Store, kind: str, value: str) -> list[tuple[str, str]]:
    """The (kind, blind) pairs a value is matched by: a handle that is a phone number matches phones too."""
    vault = store._need_vault()
    if kind == "name":
        return [("name", vault.blind("ocg-name", latin(value)))]
    if kind == "handle":
        keys = [("handle", vault.blind("ocg-handle", "".join(value.split())))]
        phone = handle_as_phone(value)
        return keys + ([("phone", vault.blind("ocg-phone", phone))] if phone else [])
    return [("phone", vault.blind("ocg-phone", value))]


def _get(store: Store, ref: str) -> dict:
    return store.get("ocgs", ref, what="crime group")


def _clean_items(values: Iterable[str], field: str, parse) -> list[str]:
    return [parse(v, field) for v in values if v is not None and str(v).strip()]


def save(
    store: Store,
    ref: str,
    *,
    officer: str,
    names: Iterable[str] = (),
    phones: Iterable[str] = (),
    routes: Iterable[str] = (),
    payment_methods: Iterable[str] = (),
    handles: Iterable[str] = (),
    notes: str | None = None,
    new: bool = True,
) -> dict:
    """Register a group (`new`), or add what has been learned to a registered one; nothing is ever removed."""
    ref = stored_ref(store, ref)
    given = {
        # a name as an arrival's is: pasted direction marks dropped (kept, they showed as escapes), a pictograph refused
        "names": _clean_items(names, "--name", lambda v, f: " ".join(name_text(v, f, 120).split())),
        "phones": _clean_items(phones, "--phone", lambda v, f: parse_phone(v, field=f)),
        "routes": _clean_items(routes, "--route", lambda v, f: clean_text(v, f, 200)),
        "payment_methods": _clean_items(payment_methods, "--payment-method", payment_method),
        "handles": _clean_items(handles, "--handle", normal_handle),
    }
    notes = clean_text(notes, "--notes", 2000) if notes and notes.strip() else None
    exists = bool(store.db["ocgs"].count_where("ref = ?", [ref]))
    if new and exists:
        raise Conflict(f"crime group {ref} is already registered; add to it with `triage ocg update {ref}`")
    if not new and not exists:
        raise NotFound(f"no crime group {ref!r} in this home; register it with `triage ocg add {ref}`")
    if not new and not (any(given.values()) or notes):
        raise BadInput(f"nothing to add to {ref}: give --name, --phone, --route, --payment-method, --handle or --notes")
    record = _get(store, ref) if exists else {k: [] for k in GROUP_FIELDS}
    for key, values in given.items():
        record[key] = list(dict.fromkeys([*record[key], *values]))
    if notes:
        record["notes"] = [*record["notes"], {"at": utcnow(), "officer": officer, "text": notes}]
    secret = {k: record[k] for k in GROUP_FIELDS}
    now = utcnow()
    with store.transaction():
        if exists:
            store.update("ocgs", ref, {"updated_at": now}, secret)
        else:
            store.insert("ocgs", {"ref": ref, "created_at": now, "officer": officer, "updated_at": now}, secret)
        index_identifiers(store, ref, given, at=now, officer=officer)
        found = suggestions(store, ref=ref)
        store.audit(
            "ocg-add" if new else "ocg-update",
            officer,
            records=[_audited(store, ref), *(f"arrival:{f['arrival_id']}" for f in found)][:500],
        )
    return {"ref": ref, **secret, "suggestions": found}


def index_identifiers(store: Store, ref: str, values: dict, *, at: str, officer: str) -> None:
    """Blind a group's names, phone numbers and handles (`values` holds lists of each) with this home's key, so
    debriefs that give them suggest the group; those already indexed are left as they are."""
    for kind, field in (("name", "names"), ("phone", "phones"), ("handle", "handles")):
        for value in values[field]:
            for k, blind in identifier_keys(store, kind, value):
                store.db.table("ocg_identifiers").insert(
                    {"ocg_ref": ref, "kind": k, "blind": blind, "added_at": at, "officer": officer}, ignore=True
                )


def absorb(store: Store, ref: str, other: dict, *, updated_at: str, officer: str) -> None:
    """Add to a group held here what another laptop's copy of it (`other`, its GROUP_FIELDS) knows and this one
    does not, as `save` would, removing nothing. The caller holds the transaction."""
    mine = _get(store, ref)
    new = {k: [v for v in other[k] if v not in mine[k]] for k in GROUP_FIELDS}
    if any(new.values()):
        store.update(
            "ocgs",
            ref,
            {"updated_at": max(mine["updated_at"], updated_at)},
            {k: [*mine[k], *new[k]] for k in GROUP_FIELDS},
        )
        index_identifiers(store, ref, new, at=utcnow(), officer=officer)


def _latest_links(
    store: Store, where: str = "1", params: Iterable = (), *, ref: str | None = None, decision: str | None = None
) -> list[dict]:
    """The decision in force on each (group, target): the latest recorded one, in the order recorded. `where`
    may name only the clear columns (target_kind, target); the group and the decision are sealed, so they
    are chosen here, after the rows are opened. Read through an index, checked: one rebuilt without the latest
    decision would show the one before it in force."""
    store.check_indexes_once("ocg_links")
    latest: dict[tuple[str, str, str], dict] = {}
    for r in store.rows("ocg_links", where, list(params), order_by="id"):
        latest[(r["ocg_ref"], r["target_kind"], r["target"])] = r
    return sorted(
        (
            r
            for r in latest.values()
            if (ref is None or r["ocg_ref"] == ref) and (decision is None or r["decision"] == decision)
        ),
        key=lambda r: r["id"],
    )


def suggestions(
    store: Store, *, ref: str | None = None, arrival_id: str | None = None, officer: str | None = None
) -> list[dict]:
    """Arrivals whose current debrief gives a phone number, payment handle or name registered against a group
    and on which no officer has decided yet, with what matched; oldest landing first. With `officer` the look
    is audited (a command's; callers inside a larger action audit it with theirs). Every table is read through
    its indexes, checked: an identifier left out would drop a suggestion, a decision left out would bring one back."""
    store.check_indexes_once("debrief_identifiers", "ocg_identifiers", "ocg_links")
    sql = """
        SELECT d.arrival_id, o.ocg_ref, d.id FROM debrief_identifiers d
        JOIN ocg_identifiers o ON o.kind = d.kind AND o.blind = d.blind
        WHERE 1
    """
    params: list = []
    if ref:
        sql += " AND o.ocg_ref = ?"
        params.append(stored_ref(store, ref))
    if arrival_id:
        sql += " AND d.arrival_id = ?"
        params.append(arrival_id)
    decided = {
        (r["target"], r["ocg_ref"])
        for r in store.rows(
            "ocg_links",
            "target_kind = 'arrival'" + (" AND target = ?" if arrival_id else ""),
            [arrival_id] if arrival_id else [],
        )
    }
    found: dict[tuple[str, str], set[int]] = {}
    for aid, group, ident in store.db.execute(sql, params):
        if (aid, group) not in decided:
            found.setdefault((aid, group), set()).add(ident)
    out = []
    for (aid, group), idents in found.items():
        arrival = store.get("arrivals", aid)
        if arrivals.is_void(arrival):  # linked to nothing any more (`link` refuses it): no decision awaits on it
            continue
        matched = [
            {"kind": r["kind"], "source": r["source"], "value": r["value"]}
            for r in store.rows(
                "debrief_identifiers", f"id IN ({','.join('?' * len(idents))})", sorted(idents), order_by="id"
            )
        ]
        out.append(
            {
                "ocg_ref": group,
                "arrival_id": aid,
                "landed_at": arrival["landed_at"],
                "landed_day": arrival["landed_day"],
                "site": arrival["site"],
                "vessel": arrival["vessel"],
                "matched": list({(m["kind"], m["value"]): m for m in matched}.values()),
            }
        )
    if officer:
        with store.transaction():
            store.audit(
                "ocg-suggestions",
                officer,
                arrival_id=arrival_id,
                records=[_audited(store, ref) if ref else "ocg:all", *(f"arrival:{s['arrival_id']}" for s in out)][
                    :500
                ],
            )
    return sorted(out, key=lambda s: (s["landed_at"], s["arrival_id"], s["ocg_ref"]))


def link(
    store: Store,
    ref: str,
    *,
    officer: str,
    reason: str,
    arrival_id: str | None = None,
    subject_ref: str | None = None,
    decision: str = "linked",
) -> dict:
    """Record an officer's decision that an arrival or a watchlist subject is (or is not) linked to a group.
    A later decision on the same pair supersedes the earlier one; both are kept. A void arrival is linked to
    nothing any more, but a link made before its void can still be undone (not-linked)."""
    if (arrival_id is None) == (subject_ref is None):
        raise BadInput("give exactly one of --arrival or --subject")
    if decision not in DECISIONS:
        raise BadInput(f"decision {decision!r}: choose {' or '.join(DECISIONS)}")
    reason = reason_text(reason, "the link is (or is not) made, e.g. what matched and was checked")
    ref = stored_ref(store, ref)
    _get(store, ref)
    if arrival_id is not None:
        landed = arrivals.live(store, arrival_id) if decision == "linked" else arrivals.get(store, arrival_id)
        kind, target = "arrival", landed["id"]
        matched: list[dict[str, Any]] = next((s["matched"] for s in suggestions(store, ref=ref, arrival_id=target)), [])
    else:
        kind, target = "subject", watchlist.stored_ref(store, subject_ref or "")  # `wl-0012` names WL-0012
        if not store.db["subjects"].count_where("ref = ?", [target]):
            raise NotFound(f"no watchlist subject {subject_ref!r} in this home; see `triage watchlist list`")
        matched = []
    store.check_indexes_once("ocg_links")  # the decision this one supersedes is found through an index
    with store.transaction():
        prior = max(
            (
                r["id"]
                for r in store.rows("ocg_links", "target_kind = ? AND target = ?", [kind, target])
                if r["ocg_ref"] == ref
            ),
            default=None,
        )
        row = store.insert(
            "ocg_links",
            {"target_kind": kind, "target": target, "officer": officer, "at": utcnow(), "supersedes": prior},
            {"reason": reason, "matched": matched, "ocg_ref": ref, "decision": decision},
        )
        store.audit(
            "ocg-link",
            officer,
            arrival_id=arrival_id,
            records=[_audited(store, ref), f"{kind}:{target}", f"ocg-link:{row['id']}"],
            reason=reason,
        )
    return {
        "id": row["id"],
        "ocg_ref": ref,
        "target_kind": kind,
        "target": target,
        "decision": decision,
        "officer": officer,
        "at": row["at"],
        "reason": reason,
        "matched": matched,
        "supersedes": prior,
    }


def links_of_arrival(store: Store, arrival_id: str) -> list[dict]:
    """Every group decision in force on one arrival (linked or not linked), with who decided and why."""
    return [
        {
            "ocg_ref": r["ocg_ref"],
            "decision": r["decision"],
            "officer": r["officer"],
            "at": r["at"],
            "reason": r["reason"],
            "matched": r["matched"],
        }
        for r in _latest_links(store, "target_kind = 'arrival' AND target = ?", [arrival_id])
    ]


def show(store: Store, ref: str, *, officer: str) -> dict:
    """A group with everything linked to it: arrivals across days and sites, watchlist subjects, the decisions
    recorded, and the arrivals still suggested for a decision."""
    from triage.intake.biographic import Details

    ref = stored_ref(store, ref)
    group = _get(store, ref)
    linked_arrivals, linked_subjects, declined = [], [], []
    for link_row in _latest_links(store, ref=ref):
        entry = {
            "officer": link_row["officer"],
            "at": link_row["at"],
            "reason": link_row["reason"],
            "matched": link_row["matched"],
        }
        if link_row["decision"] == "not-linked":
            declined.append({"target_kind": link_row["target_kind"], "target": link_row["target"], **entry})
        elif link_row["target_kind"] == "arrival":
            a = store.get("arrivals", link_row["target"], what="arrival")
            linked_arrivals.append(
                {
                    "arrival_id": a["id"],
                    "landed_at": a["landed_at"],
                    "landed_day": a["landed_day"],
                    "site": a["site"],
                    "vessel": a["vessel"],
                    "name": Details.from_dict(a["details"]).full_name(),
                    "safeguarding": bool(a["safeguarding"]),
                    "void": arrivals.is_void(a),  # linked before it was voided: shown so, left out of the activity
                    **entry,
                }
            )
        else:
            s = store.get("subjects", link_row["target"], what="watchlist subject")
            linked_subjects.append(
                {"ref": s["ref"], "category": s["category"], "name": s.get("name"), "status": s["status"], **entry}
            )
    linked_arrivals.sort(key=lambda a: a["landed_at"])
    live = [a for a in linked_arrivals if not a["void"]]
    pending = suggestions(store, ref=ref)
    with store.transaction():
        store.audit(
            "ocg-show",
            officer,
            records=[
                _audited(store, ref),
                *(f"arrival:{a['arrival_id']}" for a in linked_arrivals),
                *(f"subject:{s['ref']}" for s in linked_subjects),
            ][:500],
        )
    return {
        "ref": ref,
        "created_at": group["created_at"],
        "registered_by": group["officer"],
        "updated_at": group["updated_at"],
        **{k: group[k] for k in GROUP_FIELDS},
        "arrivals": linked_arrivals,
        "subjects": linked_subjects,
        "not_linked": declined,
        "suggestions": pending,
        "activity": {
            "arrivals": len(live),
            "days": len({a["landed_day"] for a in live}),
            "sites": len({a["site"] for a in live}),
            "vessels": len({vessel_key(a["vessel"]) for a in live if a["vessel"]}),
            "first": live[0]["landed_at"] if live else None,
            "last": live[-1]["landed_at"] if live else None,
        },
    }


def list_groups(store: Store, *, officer: str) -> list[dict]:
    """Every registered group with how much is linked to it and how many suggestions await a decision."""
    pending: dict[str, int] = {}
    for s in suggestions(store):
        pending[s["ocg_ref"]] = pending.get(s["ocg_ref"], 0) + 1
    linked: dict[str, list[dict]] = {}
    for r in _latest_links(store, decision="linked"):
        linked.setdefault(r["ocg_ref"], []).append(r)
    out = []
    void = arrivals.voided(store)  # linked before they were voided: left out of the counts, as `show` leaves them
    store.check_indexes_once("ocgs")  # read in the order of an index: a group left out of it would not be listed
    for g in store.rows("ocgs", order_by="ref"):
        links = [r for r in linked.get(g["ref"], []) if not (r["target_kind"] == "arrival" and r["target"] in void)]
        landed = [r["target"] for r in links if r["target_kind"] == "arrival"]
        days, last = store.db.execute(
            f"SELECT count(DISTINCT landed_day), max(landed_day) FROM arrivals WHERE id IN ({','.join('?' * len(landed))})",
            landed,
        ).fetchone()
        out.append(
            {
                "ref": g["ref"],
                "names": g["names"],
                "created_at": g["created_at"],
                "arrivals": len(landed),
                "subjects": len(links) - len(landed),
                "days": days,
                "last_landing_day": last,
                "suggestions": pending.get(g["ref"], 0),
            }
        )
    with store.transaction():
        store.audit("ocg-list", officer, records=[_audited(store, g["ref"]) for g in out][:500])
    return out
