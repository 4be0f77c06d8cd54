"""Where a home lives and what its `config.json` says.

The home is `--home`, then `TRIAGE_HOME`, then the platform's per-user app directory. `config.json`
holds the settings that are not secret: site, force code, device id, time zone, matcher, retention.
Those that decide behaviour (training, matcher, retention) are a copy of what the store records
(settings.py), checked against it whenever the home is unlocked. A file that is not as triage writes it
(a field added, removed or of the wrong kind, or not JSON at all) was changed outside triage and is refused
as such, naming the field, never read with defaults filled in or extra fields dropped.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from triage.errors import Conflict, IntegrityFailure, NotFound
from triage.store.permissions import write_private

STORE_FILE = "triage.db"
CONFIG_FILE = "config.json"
HUB_FILE = "hub.json"  # in a regional hub's folder: which database it uses
HUB_KEYS = "keys"  # the hub's key home, a folder of the hub's: its keys and the watchlist it searches
# New homes: the matcher with the lowest miss rate at FMR 1e-4 on the data measured (models/MODEL_CARD.md).
# A home created before there was a choice says "dlib" in its config.json and keeps it.
DEFAULT_MATCHER = "fused"


def default_home() -> Path:
    """The platform's per-user app directory, found the way typer/click find it (without importing them)."""
    if os.name == "nt":
        base = Path(os.environ.get("APPDATA", Path.home()))
        return base / "triage"
    if os.uname().sysname == "Darwin":
        return Path.home() / "Library" / "Application Support" / "triage"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "triage"


def resolve_home(home: Path | str | None) -> Path:
    if home:
        return Path(home).expanduser()
    if os.environ.get("TRIAGE_HOME"):
        return Path(os.environ["TRIAGE_HOME"]).expanduser()
    return default_home()


@dataclass
class Retention:
    """How long things are kept. Audit events are always kept."""

    unmatched_biometrics_days: int = 31
    drafts_days: int = 365


@dataclass
class Config:
    site: str
    force_code: str
    officer: str
    device: str = field(default_factory=lambda: secrets.token_hex(3).upper())
    timezone: str = "Europe/London"
    matcher: str = DEFAULT_MATCHER
    training: bool = False
    retention: Retention = field(default_factory=Retention)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        d = dict(d)
        d["retention"] = Retention(**d.get("retention", {}))
        return cls(**d)


# The fields of config.json that hold text; triage writes every field of Config, and no other.
TEXT_FIELDS = ("site", "force_code", "officer", "device", "timezone", "matcher")
CHANGED_HINT = "the file was changed outside triage: put it back as triage wrote it (a backup of the home holds it)"


def load_config(home: Path) -> Config:
    """The home's config.json. A file that is not as triage writes it (not JSON, a field added, removed or
    of the wrong kind) was changed outside triage: IntegrityFailure naming the file and each such field."""
    path = home / CONFIG_FILE
    if not path.exists():
        hint = "create one with `triage init --site S --force-code F --officer O`"
        if (home / HUB_FILE).is_file() and (home / HUB_KEYS / CONFIG_FILE).is_file():
            hint = f"{home} is a hub's folder: its keys and watchlist are the home in it, --home {home / HUB_KEYS}"
        raise NotFound(f"no triage home at {home}", hint=hint)
    try:
        doc = json.loads(path.read_text())
    except RecursionError:
        raise IntegrityFailure(f"{path} is nested too deeply to be a triage config", hint=CHANGED_HINT) from None
    except ValueError as e:  # not JSON, or not UTF-8
        raise IntegrityFailure(f"{path} is not a triage config: it is not JSON ({e})", hint=CHANGED_HINT) from None
    problems = config_problems(doc)
    if problems:
        raise IntegrityFailure(f"{path} " + "; it ".join(problems), hint=CHANGED_HINT)
    return Config.from_dict(doc)


def config_problems(doc: Any) -> list[str]:
    """What keeps `doc` from being a config.json as triage writes it, each naming the field: one added,
    one missing, or one holding a value of the wrong kind (as "lacks officer")."""
    if not isinstance(doc, dict):
        return ["is not a triage config: it must be a JSON object"]
    names = [f.name for f in fields(Config)]
    problems = _unknown_and_missing(doc, names, "")
    for name in TEXT_FIELDS:
        if name in doc and not isinstance(doc[name], str):
            problems.append(f"says {name} {_shown(doc[name])}; {name} must be text")
    if "training" in doc and not isinstance(doc["training"], bool):
        problems.append(f"says training {_shown(doc['training'])}; training must be true or false")
    retention = doc.get("retention")
    if "retention" in doc and not isinstance(retention, dict):
        problems.append(f"says retention {_shown(retention)}; retention must be an object of days")
    elif isinstance(retention, dict):
        days = [f.name for f in fields(Retention)]
        problems += _unknown_and_missing(retention, days, "retention ")
        for name in days:
            value = retention.get(name)
            if name in retention and (isinstance(value, bool) or not isinstance(value, int)):
                problems.append(f"says retention {name} {_shown(value)}; {name} must be a whole number of days")
    return problems


def _unknown_and_missing(doc: dict[str, Any], names: list[str], within: str) -> list[str]:
    problems = []
    unknown = [k if k.isidentifier() and len(k) <= 40 else _shown(k) for k in doc if k not in names]
    if unknown:
        s = "s" if len(unknown) > 1 else ""
        problems.append(f"has {'' if s else 'a '}{within}field{s} triage does not write: {', '.join(unknown)}")
    missing = [n for n in names if n not in doc]
    if missing:
        problems.append(f"lacks {within}{', '.join(missing)}")
    return problems


def _shown(value: Any, most: int = 40) -> str:
    """A value as the file has it, cut short: the error is one line whatever the file holds."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= most else text[: most - 3] + "..."


def write_config(home: Path, config: Config, *, create: bool = False) -> None:
    path = home / CONFIG_FILE
    if create and path.exists():
        raise Conflict(f"a triage home already exists at {home}; it is never overwritten")
    tmp = path.with_suffix(".tmp")
    write_private(tmp, config.to_json().encode())
    os.replace(tmp, path)
