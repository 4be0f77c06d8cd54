"""Where a home lives and what its `config.json` says.

The home is `--home`, then `TRIAGE_HOME`, then the platform's per-user app directory. `config.json`
holds the settings that are not secret: site, force code, device id, time zone, matcher, retention.
Those that decide behaviour (training, matcher, retention) are a copy of what the store records
(settings.py), checked against it whenever the home is unlocked.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from triage.errors import BadInput, Conflict, NotFound
from triage.store.permissions import write_private

STORE_FILE = "triage.db"
CONFIG_FILE = "config.json"
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


def load_config(home: Path) -> Config:
    path = home / CONFIG_FILE
    if not path.exists():
        raise NotFound(
            f"no triage home at {home}", hint="create one with `triage init --site S --force-code F --officer O`"
        )
    try:
        return Config.from_dict(json.loads(path.read_text()))
    except RecursionError:
        raise BadInput(f"{path} is nested too deeply to be a triage config") from None
    except (ValueError, TypeError) as e:
        raise BadInput(f"{path} is not a valid triage config: {e}") from None


def write_config(home: Path, config: Config, *, create: bool = False) -> None:
    path = home / CONFIG_FILE
    if create and path.exists():
        raise Conflict(f"a triage home already exists at {home}; it is never overwritten")
    tmp = path.with_suffix(".tmp")
    write_private(tmp, config.to_json().encode())
    os.replace(tmp, path)
