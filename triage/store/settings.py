"""What decides how a home behaves, recorded in its store: whether it is a training home, the matcher in
force, the retention policy, the SHA-256 of each calibration file in its models/ folder, of each supplied
model's manifest it adopted and of a training exercise's files, and who and where
the home is (officer, force code, device, time zone, site: the actor of its audit trail, the device its
batches are signed for, the day a capture falls on).

`config.json` shows these to people, but anyone who can write the folder can edit a text file or drop a
file into models/. The store's rows are authenticated under the data key (tags.py), so the values here
are the ones that count: when the home is unlocked config.json must agree with them or the home refuses
to open (IntegrityFailure naming the field and the file), and a calibration file is used only if it is
the one `triage evaluate --calibrate`, its only writer, recorded. A home made before these were kept has
them taken from its config.json and calibration files the first time it is unlocked (the one moment
those files are trusted), and that is audited; from then on they change only through triage's commands.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database

from triage.errors import IntegrityFailure
from triage.store.config import CONFIG_FILE, STORE_FILE, Config, Retention, write_config

TABLE = "settings"
TRAINING, MATCHER, RETENTION = "training", "matcher", "retention"
IDENTITY = "identity"  # set when the home is made; no command changes it
IDENTITY_FIELDS = ("officer", "force_code", "device", "timezone", "site")
CALIBRATION = "calibration:"  # then the file's name under models/, e.g. calibration:fused.json
MODEL = "model:"  # then a supplied model's name: the SHA-256 of the manifest.json `triage models use` adopted
EXERCISE = "exercise"  # a training home's: the SHA-256 of each file its score sheet is read from
MODELS = "models"
RECORDED = "settings-record"  # a new home's settings, recorded as it is made
ADOPTED = "settings-adopt"  # an older home's, taken from its config.json when it is first unlocked
REFUSED_HINT = (
    "remove it (captures then use the shipped calibration) and measure this home's own with "
    "`triage evaluate --calibrate`"
)


@dataclass
class Settings:
    """A home's recorded settings; `calibrations` maps a file name under models/ to its SHA-256, `models` a
    supplied model's name to its manifest's."""

    training: bool
    matcher: str
    retention: Retention
    calibrations: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)


class Home(Protocol):
    """What these functions need of an open store (triage.store.rows.Store)."""

    home: Path
    config: Config
    db: Database
    settings: Settings | None

    def rows(
        self, table: str, where: str | None = None, params: Sequence[Any] = (), order_by: str | None = None
    ) -> list[dict[str, Any]]: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def check_tables(self, *tables: str, every_row: bool = True, head_required: bool = True) -> None: ...

    def audit(
        self,
        action: str,
        officer: str,
        *,
        arrival_id: str | None = None,
        records: Sequence[str] = (),
        reason: str | None = None,
    ) -> None: ...


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def calibration_files(home: Path) -> list[Path]:
    """The calibration files in the home's models/: its JSON files (a supplied model is a folder)."""
    folder = Path(home) / MODELS
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file())


# -- recording -------------------------------------------------------------------------------------


def record(store: Home, officer: str, *, action: str = RECORDED) -> Settings:
    """Record the home's settings from its config.json and the calibration files in its models/, and audit
    it (caller holds the transaction): when a home is made, and when an older home is first unlocked."""
    cfg = store.config
    found = Settings(
        cfg.training,
        cfg.matcher,
        Retention(**asdict(cfg.retention)),
        {p.name: sha256(p.read_bytes()) for p in calibration_files(store.home)},
    )
    at = _now()
    values = {**_values(found), IDENTITY: identity(cfg)}
    for name, value in values.items():
        _put(store.db, name, value, officer, at)
    store.audit(action, officer, records=[f"settings:{n}" for n in values], reason=describe(found))
    store.settings = found
    return found


def change(store: Home, *, officer: str, matcher: str | None = None, retention: Retention | None = None) -> None:
    """Change the home's matcher or retention policy: its record first, then config.json, the copy people
    read (written last, so a failure rolls the record back). The caller holds the transaction and audits
    the change."""
    at = _now()
    if matcher is not None:
        _put(store.db, MATCHER, matcher, officer, at)
        store.config.matcher = matcher
        if store.settings is not None:
            store.settings.matcher = matcher
    if retention is not None:
        _put(store.db, RETENTION, asdict(retention), officer, at)
        store.config.retention = Retention(**asdict(retention))
        if store.settings is not None:
            store.settings.retention = Retention(**asdict(retention))
    write_config(store.home, store.config)


def record_calibration(store: Home, path: Path, digest: str, *, officer: str) -> bool:
    """Record the SHA-256 of a calibration file `triage evaluate --calibrate` has just written, when it is
    one of the home's (in its models/), so that captures use it; caller holds the transaction."""
    path = Path(path)
    if path.resolve().parent != (Path(store.home) / MODELS).resolve():
        return False
    _put(store.db, CALIBRATION + path.name, {"sha256": digest}, officer, _now())
    if store.settings is not None:
        store.settings.calibrations[path.name] = digest
    return True


def record_model(store: Home, name: str, digest: str, *, officer: str) -> None:
    """Record the SHA-256 of a supplied model's manifest.json as the home adopts the model (`triage models
    use`): from then on that manifest, and through its pinned SHA-256 the model file, are the only ones
    used under that name here. The caller holds the transaction and audits it."""
    _put(store.db, MODEL + name, {"sha256": digest}, officer, _now())
    if store.settings is not None:
        store.settings.models[name] = digest


def record_exercise(store: Home, digests: dict[str, str], *, officer: str) -> None:
    """Record the SHA-256 of each file a training exercise is scored from, as `triage training start` writes
    or loads it, so that `triage training score` refuses one changed since. The caller holds the transaction
    and audits it."""
    _put(store.db, EXERCISE, digests, officer, _now())


def recorded_exercise(store: Home) -> dict[str, str] | None:
    """The SHA-256 the home records for each file of its training exercise (the row's tag checked as it is
    read); None when it records none (not a training home, or an exercise started before they were kept)."""
    rows = store.rows(TABLE, "name = ?", [EXERCISE])
    if not rows:
        return None
    try:
        value = json.loads(rows[0]["value"])
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError(f"{EXERCISE} must map each file to its SHA-256")
    except ValueError as e:
        raise IntegrityFailure(f"the training exercise recorded in {store.home} cannot be read ({e})") from None
    return {str(name): digest for name, digest in value.items()}


def identity(cfg: Config) -> dict[str, str]:
    """Who and where the home is, as config.json says."""
    return {name: str(getattr(cfg, name)) for name in IDENTITY_FIELDS}


def describe(s: Settings) -> str:
    r = s.retention
    files = ", ".join(f"{MODELS}/{name} ({digest[:12]})" for name, digest in sorted(s.calibrations.items()))
    return (
        f"training {_word(s.training)}, matcher {s.matcher}, retention: unmatched biometrics "
        f"{r.unmatched_biometrics_days} days, drafts {r.drafts_days} days; "
        f"calibrations: {files or 'none (the shipped ones)'}"
    )


def _values(s: Settings) -> dict[str, Any]:
    return {
        TRAINING: s.training,
        MATCHER: s.matcher,
        RETENTION: asdict(s.retention),
        **{CALIBRATION + name: {"sha256": digest} for name, digest in sorted(s.calibrations.items())},
        **{MODEL + name: {"sha256": digest} for name, digest in sorted(s.models.items())},
    }


def _put(db: Database, name: str, value: Any, officer: str, at: str) -> None:
    db.execute(
        f"INSERT INTO [{TABLE}] (name, value, at, officer) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
        "SET value = excluded.value, at = excluded.at, officer = excluded.officer",
        [name, json.dumps(value, sort_keys=True), at, officer],
    )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _word(flag: bool) -> str:
    return "true" if flag else "false"


# -- reading and comparing at unlock ---------------------------------------------------------------


def load(store: Home) -> Settings:
    """The home's settings as its store records them (each row's tag checked as it is read), compared
    with config.json; an older home's are recorded now, from config.json, once. Raises IntegrityFailure
    when config.json disagrees, naming each field, or when the record is incomplete, or not the one last
    written (a row put back from an older copy of the store: said as such, before config.json is compared
    with it, since the file may well hold the settings last made)."""
    found = _read(store)
    if found is None:
        with store.transaction():
            found = _read(store)  # another process may have recorded them meanwhile
            if found is None:
                if store.db.execute(
                    "SELECT 1 FROM audit_events WHERE action IN (?, ?) LIMIT 1", [RECORDED, ADOPTED]
                ).fetchone():
                    raise IntegrityFailure(
                        f"the settings this home recorded (training, matcher, retention, calibrations) were "
                        f"removed from its store in {store.home}",
                        hint="restore the home from a backup",
                    )
                found = record(store, store.config.officer, action=ADOPTED)
    recorded = _identity(store)
    store.check_tables(TABLE, head_required=False)
    compare(store.home, store.config, found, recorded)
    return found


def _read(store: Home) -> Settings | None:
    rows = {r["name"]: r["value"] for r in store.rows(TABLE)}
    return parse(rows, store.home) if rows else None


def _identity(store: Home) -> dict[str, str]:
    """Who and where the home is, as its store records it (the row's tag checked as it is read). A home
    whose settings were recorded before this was has it taken from config.json now, once, and audited."""
    found = _read_identity(store)
    if found is None:
        with store.transaction():
            found = _read_identity(store)  # another process may have recorded it meanwhile
            if found is None:
                if store.db.execute(
                    "SELECT 1 FROM audit_events WHERE action IN (?, ?) AND records LIKE ? LIMIT 1",
                    [RECORDED, ADOPTED, f'%"settings:{IDENTITY}"%'],
                ).fetchone():
                    raise IntegrityFailure(
                        f"the settings this home recorded (officer, force code, device, time zone, site) were "
                        f"removed from its store in {store.home}",
                        hint="restore the home from a backup",
                    )
                found = identity(store.config)
                _put(store.db, IDENTITY, found, store.config.officer, _now())
                store.audit(
                    ADOPTED,
                    store.config.officer,
                    records=[f"settings:{IDENTITY}"],
                    reason=", ".join(f"{name} {value}" for name, value in found.items()),
                )
    return found


def _read_identity(store: Home) -> dict[str, str] | None:
    rows = store.rows(TABLE, "name = ?", [IDENTITY])
    if not rows:
        return None
    try:
        value = json.loads(rows[0]["value"])
        if not isinstance(value, dict) or sorted(value) != sorted(IDENTITY_FIELDS):
            raise ValueError(f"{IDENTITY} must name {', '.join(IDENTITY_FIELDS)}")
    except ValueError as e:
        raise IntegrityFailure(f"the settings of the home in {store.home} cannot be read ({e})") from None
    return {name: str(value[name]) for name in IDENTITY_FIELDS}


def parse(rows: dict[str, str], home: Path) -> Settings:
    """Settings from the rows' values (JSON); IntegrityFailure naming any row missing or unreadable."""
    missing = [n for n in (TRAINING, MATCHER, RETENTION) if n not in rows]
    if missing:
        raise IntegrityFailure(
            f"the settings of the home in {home} lack {', '.join(missing)}: rows were removed from its store",
            hint="restore the home from a backup",
        )
    try:
        training, matcher = json.loads(rows[TRAINING]), json.loads(rows[MATCHER])
        retention = Retention(**json.loads(rows[RETENTION]))
        calibrations, models = (
            {
                name[len(prefix) :]: str(json.loads(value)["sha256"])
                for name, value in rows.items()
                if name.startswith(prefix)
            }
            for prefix in (CALIBRATION, MODEL)
        )
        if not isinstance(training, bool) or not isinstance(matcher, str):
            raise ValueError("training must be true or false, matcher a name")
    except (ValueError, TypeError, KeyError) as e:
        raise IntegrityFailure(f"the settings of the home in {home} cannot be read ({e})") from None
    return Settings(training, matcher, retention, calibrations, models)


def compare(home: Path, cfg: Config, s: Settings, recorded: dict[str, str] | None = None) -> None:
    """IntegrityFailure naming every decision-making field where config.json differs from the record, and
    every field of who and where the home is (`recorded`, when given)."""
    said = []
    for name, value in identity(cfg).items():
        if recorded is not None and value != recorded[name]:
            said.append(f"{name} {value}; the home was made with {name} {recorded[name]} (no command changes it)")
    if cfg.training != s.training:
        kind = "a training" if s.training else "an operational"
        said.append(f"training {_word(cfg.training)}; this home was made as {kind} home")
    if cfg.matcher != s.matcher:
        said.append(f"matcher {cfg.matcher}; the home's matcher is {s.matcher} (`triage models use` changes it)")
    for f in fields(Retention):
        mine, recorded = getattr(cfg.retention, f.name), getattr(s.retention, f.name)
        if mine != recorded:
            said.append(f"retention {f.name} {mine}; the home's retention policy says {recorded}")
    if said:
        raise IntegrityFailure(
            f"{Path(home) / CONFIG_FILE} says " + "; it says ".join(said),
            hint="the file was changed outside triage: put back the value the home recorded (its settings "
            "change only through triage's commands); if the file holds the settings last made, the store was "
            "put back from an older copy: restore the home from its latest backup",
        )


# -- calibration files -----------------------------------------------------------------------------


def recorded(home: Path | str) -> Settings | None:
    """The settings the store records, as stored (every row's tag was checked when the home was unlocked;
    reading here needs no key, so a command without the passphrase checks files against them too). None
    when the home has no recorded settings yet (no store, or an older home not yet unlocked by this
    version: its files are taken as they are at that unlock)."""
    path = Path(home) / STORE_FILE
    if not path.is_file():
        return None
    con = sqlite3.connect(path.resolve().as_uri() + "?mode=rw", uri=True, timeout=60)
    try:
        rows = dict(con.execute(f"SELECT name, value FROM [{TABLE}]").fetchall())
    except sqlite3.OperationalError:  # a store not yet brought up to date: nothing recorded
        return None
    finally:
        con.close()
    return parse(rows, Path(home)) if rows else None


def recorded_calibrations(home: Path | str) -> dict[str, str] | None:
    """The SHA-256 the store records for each of the home's calibration files (`recorded`)."""
    found = recorded(home)
    return found.calibrations if found is not None else None


def check_model(home: Path | str, name: str, manifest: Path, digest: str, found: Settings | None = None) -> None:
    """Refuse a supplied model's manifest that is not the one the home adopted under that name (`triage models
    use` records it): its threshold, self-test pairs and the model file's SHA-256 all come from it. A model
    the home never adopted (tried for one command with --matcher) is not refused."""
    found = found if found is not None else recorded(home)
    adopted = found.models.get(name) if found is not None else None
    if adopted is not None and adopted != digest:
        raise IntegrityFailure(
            f"{manifest} is not the manifest this home adopted for model {name} (its SHA-256 differs from the "
            "home's record), so the model is not used",
            hint=f"put back the manifest the home adopted; if the force issued a new one, adopt it with "
            f"`triage models use {name}`",
        )


def check_calibration(home: Path | str, path: Path, data: bytes) -> None:
    """Refuse a home calibration file that is not the one `triage evaluate --calibrate` recorded (dropped
    in, or changed since): IntegrityFailure naming it."""
    recorded = recorded_calibrations(home)
    if recorded is None:
        return
    problem = _problem(path.name, sha256(data), recorded)
    if problem:
        raise IntegrityFailure(f"{path} {problem}, so it is not used", hint=REFUSED_HINT)


def _problem(name: str, digest: str, recorded: dict[str, str]) -> str | None:
    if name not in recorded:
        return "was not written by `triage evaluate --calibrate` in this home (the home has no record of it)"
    if recorded[name] != digest:
        return "is not the calibration `triage evaluate --calibrate` wrote (its SHA-256 differs from the home's record)"
    return None


def check_calibrations(store: Home) -> str:
    """Every calibration file in the home's models/ against the record (verified when the store is
    unlocked), and every recorded one still present; IntegrityFailure naming each that is not."""
    recorded = store.settings.calibrations if store.settings is not None else recorded_calibrations(store.home)
    if recorded is None:
        return "not recorded yet: the home records its calibrations when it is next unlocked"
    present = calibration_files(store.home)
    problems = [
        f"{MODELS}/{p.name} {problem}, so it is not used"
        for p in present
        if (problem := _problem(p.name, sha256(p.read_bytes()), recorded))
    ]
    problems += [
        f"{MODELS}/{name}, the calibration `triage evaluate --calibrate` wrote, is missing, so the shipped one "
        "is used: calibrate again"
        for name in sorted(set(recorded) - {p.name for p in present})
    ]
    if problems:
        raise IntegrityFailure("; ".join(problems), hint=REFUSED_HINT)
    if not present:
        return "none in models/: the shipped calibrations are used"
    return f"{', '.join(f'{MODELS}/{p.name}' for p in present)}: as `triage evaluate --calibrate` wrote them"
