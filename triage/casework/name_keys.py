"""Finding arrivals by name, in any script or spelling, and the repeat arrivals that a name and a date of birth
suggest where no face does.

Names and dates of birth stay sealed in each arrival. What is searched are keyed blinds (HMACs under a sub-key
of the home's data key) in `name_keys`: for each name part, one per identity key the names lexicon gives it
(the lexicon entry that holds every script and spelling of the name, else its sound), one for every two parts
of one name together, and for the date of birth one per precision it was given at. A search blinds its own keys
the same way and counts, per arrival, how many of its name parts met one of the arrival's, scoring only the
arrivals that hold a pair of its rarer parts unless too few do; only the arrivals it shows are opened. The blinds are made
when an arrival is captured, merged from a batch or amended; a home's earlier arrivals get theirs the first
time a search needs them (`ensure`), in one audited transaction, and again after the data key is replaced
(which clears them, since blinds under the old key match nothing).

A name is weaker evidence than a face: two people can share a name and a date of birth. A biographic
candidate is therefore only ever a reason for a person to look, recorded beside the face candidates with a
score (how many name parts agree) and no distance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from triage.intake import lexicon
from triage.intake.biographic import Details, PartialDate, parse_date
from triage.intake.names import RULES_VERSION, name_query, name_tokens, part_keys
from triage.store.rows import Store

NAME = "name-key"  # blind kinds: a name part's identity key, two parts' keys together, a date of birth
PAIR = "name-pair"
DOB = "dob-key"
MADE = "made"  # the field of the row that marks an arrival whose keys are made; its blind is `made_by()`
CLOSE_DAYS = 31  # two full dates of birth this close, in the same year, are close
BIOGRAPHIC = "biographic"  # the candidate kind
PAIRED_PARTS = 6  # the first parts of a name whose pairs are kept (a name rarely has more)
MIN_PARTS = 2  # name parts that must agree for a biographic candidate (one, or a number, is too common)
SAME, CLOSE = 2, 1  # how far two dates of birth agree
AGREEMENT = {SAME: "same", CLOSE: "close"}
DEFAULT_LIMIT = 20
ACTION = "name-keys-made"


@dataclass
class FoundArrival:
    """An arrival a name search found: how many of the query's name parts agree with its name, and how far its
    date of birth agrees with the one asked for (`same`, `close`, or None when either is not given or they
    differ)."""

    arrival_id: str
    landed_at: str
    site: str
    vessel: str | None
    name: str
    dob: str | None
    parts_matched: int
    parts_asked: int
    dob_agrees: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "arrival_id": self.arrival_id,
            "landed_at": self.landed_at,
            "site": self.site,
            "vessel": self.vessel,
            "name": self.name,
            "dob": self.dob,
            "parts_matched": self.parts_matched,
            "parts_asked": self.parts_asked,
            "dob_agrees": self.dob_agrees,
        }


@dataclass
class Found:
    """A name search: what was asked, how many arrivals agree in at least `need` name parts (the search asks for
    every part first, and for fewer only while it finds too few), and the best of them."""

    name: str
    dob: str | None
    matched: int
    need: int
    arrivals: list[FoundArrival] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dob": self.dob,
            "matched": self.matched,
            "parts_needed": self.need,
            "shown": len(self.arrivals),
            "arrivals": [a.as_json() for a in self.arrivals],
        }


@dataclass(frozen=True)
class Biographic:
    """An earlier arrival whose name and date of birth agree with an arrival's: `score` is how many of this
    arrival's name parts agree with the earlier one's name; `dob` is "same" or "close"."""

    ref: str
    score: int
    dob: str


# -- keys ----------------------------------------------------------------------------------------------------


def names_given(details: dict[str, Any]) -> list[list[str]]:
    """The names an arrival gave, each as its parts: the surname and given names together, then each alias."""
    full = " ".join(t for t in (details.get("surname"), details.get("given_names")) if t)
    out = [name_tokens(text) for text in [full, *(details.get("aliases") or [])] if text]
    return [parts for parts in out if parts]


def name_parts(details: dict[str, Any]) -> list[str]:
    """The name parts of an arrival's details: its surname's, given names' and aliases' tokens, each once."""
    return list(dict.fromkeys(p for parts in names_given(details) for p in parts))


def pair_keys(parts: Sequence[str]) -> set[str]:
    """The keys of every two parts of one name together (any identity key of each), so that the arrivals whose
    name holds both are one look-up."""
    keyed = [sorted(part_keys(p)) for p in parts]
    return {
        "|".join(sorted((a, b))) for i, one in enumerate(keyed) for other in keyed[i + 1 :] for a in one for b in other
    }


def born(details: dict[str, Any]) -> PartialDate | None:
    """An arrival's date of birth as its details give it, or None."""
    given = details.get("dob")
    return parse_date(given, "dob") if given else None


def dob_keys(dob: PartialDate) -> list[str]:
    """The keys a date of birth is stored under: as given, and its year and month at each precision it has."""
    keys = [f"S:{dob}", f"Y:{dob.year:04d}"]
    if dob.month is not None:
        keys.append(f"M:{dob.year:04d}-{dob.month:02d}")
        if dob.day is not None:
            keys.append(f"D:{dob}")
    return keys


def dob_wanted(dob: PartialDate) -> dict[str, int]:
    """The stored keys that agree with a date of birth, each with how far: the same date as given is SAME; a
    full date within CLOSE_DAYS of it in the same year, or with its day and month swapped, or a date given less
    precisely that holds it (1990 holds 1990-03-12), or more precisely and within it, is CLOSE."""
    wanted: dict[str, int] = {}
    year = f"{dob.year:04d}"
    if dob.month is None:
        wanted[f"Y:{year}"] = CLOSE
    elif dob.day is None:
        wanted[f"M:{year}-{dob.month:02d}"] = CLOSE
        wanted[f"S:{year}"] = CLOSE
    else:
        day = dt.date(dob.year, dob.month, dob.day)
        for shift in range(-CLOSE_DAYS, CLOSE_DAYS + 1):
            near = day + dt.timedelta(days=shift)
            if near.year == dob.year:
                wanted[f"D:{near.isoformat()}"] = CLOSE
        if dob.day <= 12 and dob.day != dob.month:
            wanted[f"D:{year}-{dob.day:02d}-{dob.month:02d}"] = CLOSE
        wanted[f"S:{year}"] = CLOSE
        wanted[f"S:{year}-{dob.month:02d}"] = CLOSE
    wanted[f"S:{dob}"] = SAME
    return wanted


def dob_agreement(one: PartialDate | None, other: PartialDate | None) -> int | None:
    """How far two dates of birth agree (SAME, CLOSE), or None; the same rule as `dob_wanted`, symmetric."""
    if one is None or other is None:
        return None
    wanted = dob_wanted(one)
    found = [wanted[k] for k in dob_keys(other) if k in wanted]
    return max(found, default=None)


def _blinds(store: Store, kind: str, keys: Iterable[str]) -> list[str]:
    vault = store._need_vault()
    return [vault.blind(kind, k) for k in keys]


def made_by() -> str:
    """Which lexicon and name rules made a set of keys: a key made under another may differ (a name added to
    the lexicon gets its entry's key instead of its sound), so keys made under another are made again."""
    return f"names {RULES_VERSION}, lexicon {lexicon.fingerprint()}"


def index(store: Store, arrival_id: str, details: dict[str, Any]) -> None:
    """(Re)make an arrival's blinds from its details, inside the caller's transaction."""
    store.db.execute("DELETE FROM name_keys WHERE arrival_id = ?", [arrival_id])
    rows: list[tuple[str, str | None]] = [(MADE, made_by())]
    keys = sorted({k for part in name_parts(details) for k in part_keys(part)})
    rows += [("name", b) for b in _blinds(store, NAME, keys)]
    pairs = sorted({k for parts in names_given(details) for k in pair_keys(parts[:PAIRED_PARTS])})
    rows += [("pair", b) for b in _blinds(store, PAIR, pairs)]
    dob = born(details)
    if dob is not None:
        rows += [("dob", b) for b in _blinds(store, DOB, dob_keys(dob))]
    first = store.next_id("name_keys")
    landed = store.db.execute("SELECT landed_at FROM arrivals WHERE id = ?", [arrival_id]).fetchone()[0]
    store.db.conn.executemany(
        "INSERT INTO name_keys (id, arrival_id, field, blind, landed_at) VALUES (?, ?, ?, ?, ?)",
        [(first + i, arrival_id, f, b, landed) for i, (f, b) in enumerate(rows)],
    )


def unkeyed(store: Store) -> list[str]:
    """The arrivals whose keys are not made yet (captured before names were searchable, or since a new data
    key), or were made by another lexicon or other name rules (`made_by`)."""
    # Every arrival is keyed as it is written (captured, merged, amended), so as many marks made by these rules
    # as arrivals means every one has its keys; an arrival whose keys were deleted outside triage is keyed again.
    now = made_by()
    arrivals = store.db.execute("SELECT count(*) FROM arrivals").fetchone()[0]
    if store.db.execute("SELECT count(*) FROM name_keys WHERE blind = ?", [now]).fetchone()[0] == arrivals:
        return []
    sql = (
        "SELECT id FROM arrivals WHERE id NOT IN (SELECT arrival_id FROM name_keys WHERE field = 'made' AND blind = ?) "
        "ORDER BY id"
    )
    return [r[0] for r in store.db.execute(sql, [now])]


def ensure(store: Store, officer: str) -> int:
    """Make the keys of every arrival that lacks them, in one audited transaction; returns how many. Each
    arrival is read through the store, so one edited outside triage is refused rather than indexed."""
    if not unkeyed(store):
        return 0
    store.check_once("name_keys")  # keys changed outside triage are refused, not made again over
    with store.transaction():
        missing = unkeyed(store)  # another process may have made them meanwhile
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            for row in store.rows("arrivals", f"id IN ({','.join('?' * len(chunk))})", chunk):
                index(store, row["id"], row.get("details") or {})
        if missing:
            store.audit(ACTION, officer, records=[f"arrivals:{len(missing)}"])
    return len(missing)


# -- searching -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ranked:
    """What a search ranked: how many arrivals agree in at least `need` name parts (the fewest it went down to),
    and the best of them (arrival id, name parts that agree, date-of-birth agreement)."""

    matched: int
    need: int
    best: list[tuple[str, int, int]]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _matches(
    store: Store,
    parts: Sequence[str],
    dob: PartialDate | None,
    *,
    exclude: Iterable[str] = (),
    min_parts: int = 1,
    dob_needed: bool = False,
    limit: int | None = None,
) -> _Ranked:
    """Arrivals agreeing in at least `min_parts` of `parts` (and, with `dob_needed`, in their date of birth), best
    first: most parts, then how far the date of birth agrees, then the latest landing; among arrivals agreeing in
    one part only, those holding the rarer part first. Void arrivals and `exclude` are left out.

    Only a pool of arrivals is scored, each by a few look-ups in the (arrival, blind) index. An arrival agreeing in
    at least `need` (two or more) of n parts holds two of any n - need + 2 of them, so the pool is the arrivals
    holding a pair among the rarest n - need + 2 parts, one look-up of pair keys each; with `dob_needed` it is
    the arrivals whose date of birth agrees, which few share. `need` starts at every part and comes down only
    while fewer than `limit` arrivals are found, so a common name such as Muhammad is scored across every arrival
    that holds it only when nothing closer is found."""
    keyed = [(p, _blinds(store, NAME, sorted(part_keys(p)))) for p in dict.fromkeys(parts)]
    keyed = [(p, blinds) for p, blinds in keyed if blinds]
    n = len(keyed)
    if not n or n < min_parts:  # a part with no key (a number) can never agree
        return _Ranked(0, min_parts, [])
    wanted = _dob_blinds(store, dob) if dob is not None else {}
    same = [b for b, level in wanted.items() if level == SAME]
    close = [b for b, level in wanted.items() if level == CLOSE]
    sizes = {
        p: store.db.execute(f"SELECT count(*) FROM name_keys WHERE blind IN ({_marks(len(b))})", b).fetchone()[0]
        for p, b in keyed
    }
    rarest = sorted(keyed, key=lambda pb: sizes[pb[0]])
    each_part = " + ".join(
        f"EXISTS (SELECT 1 FROM name_keys k WHERE k.arrival_id = pool.aid AND k.blind IN ({_marks(len(b))}))"
        for _, b in keyed
    )
    level = (
        f"CASE WHEN EXISTS (SELECT 1 FROM name_keys k WHERE k.arrival_id = pool.aid AND k.blind IN "
        f"({_marks(len(same))})) THEN {SAME} WHEN EXISTS (SELECT 1 FROM name_keys k WHERE k.arrival_id = pool.aid "
        f"AND k.blind IN ({_marks(len(close))})) THEN {CLOSE} ELSE 0 END"
        if wanted
        else "0"
    )
    gone = set(exclude)

    def scored(pool: list[str], need: int) -> list[tuple[str, int, int]]:
        sql = f"""
            WITH pool(aid) AS (SELECT DISTINCT arrival_id FROM name_keys WHERE blind IN ({_marks(len(pool))})),
            scored AS (SELECT pool.aid AS aid, {each_part} AS parts, {level} AS level FROM pool)
            SELECT s.aid, s.parts, s.level FROM scored s JOIN arrivals a ON a.id = s.aid
            WHERE s.parts >= ? AND coalesce(a.voided, 0) = 0 {"AND s.level > 0" if dob_needed else ""}
            ORDER BY s.parts DESC, s.level DESC, a.landed_at DESC, s.aid
        """
        params: list[Any] = [*pool, *(b for _, blinds in keyed for b in blinds), *same, *close, need]
        return [(aid, met, lvl) for aid, met, lvl in store.db.execute(sql, params) if aid not in gone]

    lowest = min(n, max(min_parts, 1))
    if dob_needed:
        found = scored(list(wanted), lowest)
        return _Ranked(len(found), lowest, found if limit is None else found[:limit])
    found, need = [], n
    for need in range(n, max(lowest, 2) - 1, -1):
        chosen = [p for p, _ in rarest[: n - need + 2]]
        found = scored(_blinds(store, PAIR, sorted(pair_keys(chosen))), need)
        if limit is not None and len(found) >= limit:
            return _Ranked(len(found), need, found[:limit])
    if lowest > 1:
        return _Ranked(len(found), need, found if limit is None else found[:limit])
    # One part is enough: first those whose date of birth agrees too, then the holders of the rarer parts, each
    # part's latest landed first (a range of the (blind, landing) index, read only as far as needed).
    every = [b for _, blinds in keyed for b in blinds]
    holders = store.db.execute(
        f"SELECT count(DISTINCT arrival_id) FROM name_keys WHERE blind IN ({_marks(len(every))})", every
    ).fetchone()[0]
    seen = {aid for aid, _, _ in found}
    if wanted:
        found += [f for f in scored(list(wanted), 1) if f[0] not in seen]
        seen.update(aid for aid, _, _ in found)
    for _, blinds in rarest:
        if limit is not None and len(found) >= limit:
            break
        found += _latest(store, blinds, seen | gone, None if limit is None else limit - len(found))
    return _Ranked(max(holders - len(gone), len(found)), 1, found if limit is None else found[:limit])


def _latest(store: Store, blinds: Sequence[str], skip: set[str], limit: int | None) -> list[tuple[str, int, int]]:
    """The latest-landed arrivals (void ones and `skip` aside) holding one of `blinds`, as many as `limit`; `skip`
    gains them."""
    sql = (
        "SELECT k.arrival_id, k.landed_at FROM name_keys k JOIN arrivals a ON a.id = k.arrival_id "
        "WHERE k.blind = ? AND coalesce(a.voided, 0) = 0 ORDER BY k.landed_at DESC, k.arrival_id DESC"
    )
    runs = []
    for blind in blinds:
        rows = []
        for aid, at in store.db.execute(sql, [blind]):
            if aid not in skip:
                rows.append((at, aid))
                if limit is not None and len(rows) >= limit:
                    break
        runs += rows
    out: list[tuple[str, int, int]] = []
    for _, aid in sorted(runs, reverse=True):
        if aid not in skip and (limit is None or len(out) < limit):
            skip.add(aid)
            out.append((aid, 1, 0))
    return out


def _dob_blinds(store: Store, dob: PartialDate) -> dict[str, int]:
    wanted = dob_wanted(dob)
    return dict(zip(_blinds(store, DOB, wanted), wanted.values(), strict=True))


def find(store: Store, name: str, *, officer: str, dob: str | None = None, limit: int = DEFAULT_LIMIT) -> Found:
    """Arrivals whose name, in any script or spelling, shares at least one part with `name`, best first: the
    most parts met, then a date of birth that agrees with `dob` (same before close), then the latest landing (see
    `_matches`). Only the arrivals shown are opened; the search is audited."""
    asked = parse_date(dob, "--dob") if dob else None
    name = name_query(name)
    parts = name_tokens(name)
    ensure(store, officer)
    ranked = _matches(store, parts, asked, limit=limit)
    _check_keys(store, [aid for aid, _, _ in ranked.best])
    shown: list[FoundArrival] = []
    for aid, met, level in ranked.best:
        row = store.get("arrivals", aid, what="arrival")
        if row.get("void"):
            continue
        details = row.get("details") or {}
        shown.append(
            FoundArrival(
                arrival_id=aid,
                landed_at=row["landed_at"],
                site=row["site"],
                vessel=row["vessel"],
                name=Details.from_dict(details).full_name(),
                dob=details.get("dob"),
                parts_matched=met,
                parts_asked=len(parts),
                dob_agrees=AGREEMENT.get(level),
            )
        )
    with store.transaction():
        store.audit(
            "arrivals-find",
            officer,
            records=[f"arrival:{a.arrival_id}" for a in shown][:500],
            reason=f"name search: {name}" + (f", date of birth {asked}" if asked else ""),
        )
    return Found(name=name, dob=str(asked) if asked else None, matched=ranked.matched, need=ranked.need, arrivals=shown)


def biographic(store: Store, arrival_id: str, details: dict[str, Any], *, limit: int) -> list[Biographic]:
    """Earlier arrivals (void ones aside) whose name agrees with this arrival's in at least MIN_PARTS parts and whose
    date of birth is the same or close (`dob_wanted`); best first. An arrival that gave no date of birth, or a name
    of fewer parts, has none."""
    dob = born(details)
    parts = name_parts(details)
    if dob is None or not parts:
        return []
    best = _matches(
        store,
        parts,
        dob,
        exclude=[arrival_id],
        min_parts=MIN_PARTS,
        dob_needed=True,
        limit=limit,
    )
    _check_keys(store, [aid for aid, _, _ in best.best])
    return [Biographic(aid, met, AGREEMENT[level]) for aid, met, level in best.best]


def _check_keys(store: Store, found: Sequence[str]) -> None:
    """The keys that put these arrivals in a result are the store's own: a blind moved onto another arrival, or
    forged, with the sqlite3 shell is refused here (exit 6) rather than shown, or kept as a candidate; and none was
    deleted, which would leave an arrival out unseen."""
    store.check_once("name_keys")
    if found:
        store.check_rows("name_keys", f"arrival_id IN ({_marks(len(found))})", list(found))


def evidence(score: float | None, dob: str | None) -> str:
    """How a biographic candidate is described: what agrees, never a match."""
    parts = f"{int(score)} name part{'s' if score != 1 else ''}" if score is not None else "name"
    if dob == "close":
        return f"biographic: name agrees ({parts}), date of birth close"
    if dob is None:
        return f"biographic: name agrees ({parts}), date of birth the same or close"
    return f"biographic: name and date of birth agree ({parts})"
