"""`triage init`, `triage doctor` and `triage passphrase change`: creating and checking a home."""

from __future__ import annotations

import os
import sys

import typer
from rich.table import Table
from rich.text import Text

from triage.cli.common import (
    HomeOpt,
    JsonOpt,
    OfficerOpt,
    emit_json,
    home_path,
    new_passphrase,
    note,
    officer_of,
    open_store,
    out,
    passphrase,
)
from triage.errors import ExitStatus, UsageError


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("doctor")(doctor)
    pp = typer.Typer(help="The passphrases that open this home.", no_args_is_help=True)
    pp.command("change")(change_passphrase)
    pp.command("recovery")(set_recovery)
    app.add_typer(pp, name="passphrase")


def init(
    site: str = typer.Option(..., "--site", help="Landing site this laptop works, e.g. 'Dover Western Docks'."),
    force_code: str = typer.Option(..., "--force-code", help="Force code of the owning force, e.g. 'KNT'."),
    officer: OfficerOpt = None,
    timezone: str = typer.Option("Europe/London", "--timezone", help="Time zone for local times and the day's batch."),
    matcher: str | None = typer.Option(
        None,
        "--matcher",
        show_default=False,
        help="The home's matcher: dlib, sface or fused (default fused; see `triage models list`).",
    ),
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a home and its encrypted store; refuses to overwrite an existing one.

    The passphrase comes from TRIAGE_PASSPHRASE or a hidden prompt (asked twice).

    Example: TRIAGE_PASSPHRASE=... triage init --site "Dover" --force-code KNT --officer "PC 1234 Smith"
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from triage.errors import Conflict, Faults
    from triage.intake import refs
    from triage.intake.biographic import clean_text
    from triage.store.config import STORE_FILE, Config
    from triage.store.rows import Store

    who = officer or os.environ.get("TRIAGE_OFFICER")
    if not who:
        raise UsageError("no officer: pass --officer or set TRIAGE_OFFICER")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone {timezone!r} is not a known time zone (e.g. Europe/London)") from None
    path = home_path(home)
    if (path / STORE_FILE).exists():  # said before any passphrase is asked for or judged
        raise Conflict(f"a triage home already exists at {path}; it is never overwritten")
    from triage.store.placement import apart

    apart(path, "home")  # said before any passphrase is asked for, as Store.create would say it
    faults = Faults()  # every flag that is wrong, named at once
    named = (
        faults.check(refs.parse_site, site),
        faults.check(refs.parse_force_code, force_code),
        faults.check(clean_text, who, "--officer"),
    )
    faults.raise_any()
    site, force_code, who = (str(v) for v in named)
    config = Config(site=site, force_code=force_code, officer=who, timezone=timezone)
    if matcher is not None:
        from triage.faces import matchers

        config.matcher = matchers.get(matcher, None).name  # a model supplied later is chosen with `models use`
    from triage.store.passphrase import home_words

    store = Store.create(path, new_passphrase(home_words(config)), config)
    result = {
        "home": str(path),
        "site": config.site,
        "force_code": config.force_code,
        "device": config.device,
        "officer": config.officer,
        "matcher": config.matcher,
    }
    store.close()
    if json_out:
        emit_json(result)
    else:
        out.print(
            f"Created a triage home at {path} (device {config.device}, site {config.site}, matcher {config.matcher}).",
            markup=False,
        )


def doctor(
    camera: str | None = typer.Option(
        None, "--camera", help="Also check this camera (index, device path or video file)."
    ),
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check models, store, keys, audit chain and (with --camera) the camera; non-zero exit on any failure.

    Example: triage doctor --camera 0
    """
    from triage.errors import TriageError, WrongPassphrase
    from triage.faces import encoders, matchers
    from triage.store import audit as audit_core
    from triage.store import settings as home_settings
    from triage.store.config import CONFIG_FILE, DEFAULT_MATCHER, load_config

    checks: list[dict] = []

    def check(name: str, fn) -> None:
        try:
            checks.append({"check": name, "ok": True, "detail": fn() or "ok"})
        except TriageError as e:
            checks.append({"check": name, "ok": False, "detail": str(e)})
        except Exception as e:  # a doctor reports every failure rather than stopping at the first
            checks.append({"check": name, "ok": False, "detail": f"{type(e).__name__}: {e}"})

    path = home_path(home)
    name = load_config(path).matcher if (path / CONFIG_FILE).is_file() else DEFAULT_MATCHER

    def face_models() -> str:
        pipeline = encoders.pipeline(matchers.get(name, path).model_ids, path)
        pipeline.load()
        return f"{', '.join(pipeline.model_ids)} loaded, files verified; detector {pipeline.detector}"

    def dlib_network() -> str:
        from triage.faces import detection as faces

        worst = faces.encoder_agreement()
        if not worst < faces.AGREEMENT:
            raise TriageError(
                f"dlib's network as run here differs from dlib's own encoder by {worst:.2g} on a known "
                "face: templates would not match those of other laptops; reinstall with `uv sync`"
            )
        return f"agrees with dlib's own encoder to {worst:.1g} on a known face"

    def calibration() -> str:
        m = matchers.get(name, path)
        return f"{m.name}: threshold {m.threshold:g} from {m.calibration}"

    check("face models", face_models)
    check("dlib network", dlib_network)
    check("calibration", calibration)
    check("home writable", lambda: _writable(path))
    state: dict = {}

    def store_ok():
        state["store"] = open_store(home, unlock=False)
        res = state["store"].db.execute("PRAGMA integrity_check").fetchone()[0]
        if res != "ok":
            raise TriageError(f"PRAGMA integrity_check: {res}")
        return "integrity_check ok"

    check("store", store_ok)

    def private() -> str:
        from triage.store import permissions

        found = permissions.loose(path)
        if found:
            raise TriageError(
                f"{len(found)} path(s) in the home are open to other accounts: {', '.join(found[:3])}; "
                f"run chmod -R go= {path}"
            )
        return "home 0700, files 0600"

    check("permissions", private)
    if "store" in state:
        given = os.environ.get("TRIAGE_PASSPHRASE") or (passphrase() if sys.stdin.isatty() else None)
        if not given:  # the key, the settings and every record's tag need it: said, never passed over
            checks.append(
                {
                    "check": "keys",
                    "ok": False,
                    "not_checked": True,
                    "detail": "not checked, nor the settings or any record: no passphrase (set TRIAGE_PASSPHRASE, "
                    "or run doctor in a terminal to be asked for it)",
                }
            )
        else:
            refused: list[TriageError] = []

            def keys() -> str:
                try:
                    state["store"].unlock(given, check=False)
                except WrongPassphrase:
                    raise
                except TriageError as e:
                    if state["store"].vault is None:  # no key opened (a keyring emptied or altered)
                        raise
                    refused.append(e)  # the key opened; the home's schema or settings did not agree
                return "passphrase opens the data key"

            def home_settings_ok() -> str:
                if refused:
                    raise refused[0]
                return "schema and settings as triage left them; config.json agrees"

            check("keys", keys)
            if state["store"].vault is not None:
                check("settings", home_settings_ok)

        def chain():
            rep = audit_core.verify(state["store"].db, state["store"].vault)
            if not rep.ok:
                raise TriageError(rep.problem or "the audit chain is broken")
            return f"{rep.events} events, chain intact" + (
                "" if state["store"].vault else " (its end not checked: no passphrase)"
            )

        check("audit chain", chain)
        check("calibrations", lambda: home_settings.check_calibrations(state["store"]))
        check("watchlist", lambda: _watchlist_valid(state["store"]))
        if state["store"].vault is not None:

            def records():  # sealed values are opened by `triage audit verify`: all of them, photos included
                problems = state["store"].verify_rows()
                if problems:
                    raise TriageError("; ".join(p.what for p in problems))
                return "every record's authentication tag matches"

            check("records", records)
    if camera is not None:
        from triage.intake.camera import probe

        check("camera", lambda: probe(camera))
    failed = [c for c in checks if not c["ok"]]
    if json_out:
        emit_json({"ok": not failed, "checks": checks})
    else:
        table = Table("check", "result", "detail")
        for c in checks:
            table.add_row(c["check"], "[green]ok[/]" if c["ok"] else "[red]FAIL[/]", Text(str(c["detail"])))
        out.print(table)
    if failed:
        unchecked = all(c.get("not_checked") for c in failed)
        raise typer.Exit(int(ExitStatus.USAGE if unchecked else ExitStatus.INTEGRITY))


def _watchlist_valid(store) -> str:
    """Fails when a watchlist package held has passed its valid-until (its subjects are not searched)."""
    from triage.casework import issued
    from triage.errors import TriageError

    expired = issued.no_valid_watchlist(store)
    if expired:
        raise TriageError("; ".join(expired))
    held = issued.held(store)
    return f"{len(held)} package(s) held, all valid" if held else "no package received; local entries only"


def _writable(path) -> str:
    if not path.exists():
        from triage.errors import NotFound

        raise NotFound(f"{path} does not exist; run `triage init`")
    probe_file = path / ".doctor-probe"
    probe_file.write_text("ok")
    probe_file.unlink()
    return str(path)


def change_passphrase(
    home: HomeOpt = None,
    officer: OfficerOpt = None,
    rotate: bool = typer.Option(
        False,
        "--rotate",
        help="Also replace the data key and encrypt everything again under it, so an old copy of the "
        "keyring opens nothing (takes longer on a large home; keeps the recovery copy only when "
        "TRIAGE_RECOVERY_PASSPHRASE is given or typed).",
    ),
) -> None:
    """Re-wrap the data key under a new passphrase (the data is not re-encrypted; with --rotate it is, under
    a new data key).

    The current passphrase (or the recovery passphrase) comes from TRIAGE_PASSPHRASE or a prompt; the
    new one from TRIAGE_NEW_PASSPHRASE or a prompt (asked twice).

    Example: triage passphrase change --rotate
    """
    store = open_store(home)
    from triage.store.passphrase import home_words

    new = new_passphrase(
        home_words(store.config), env="TRIAGE_NEW_PASSPHRASE", prompt="New passphrase", what="new passphrase"
    )
    if rotate:
        from triage.cli.rotation import rotate_key

        rotate_key(store, new, officer=officer_of(store, officer))
        return
    store.set_passphrase(new, officer=officer_of(store, officer))
    note("Passphrase changed; the data key was re-wrapped, the data was not re-encrypted.")


def set_recovery(home: HomeOpt = None, officer: OfficerOpt = None) -> None:
    """Add (or replace) a supervisor's recovery passphrase: a second wrapped copy of the data key.

    The recovery passphrase comes from TRIAGE_RECOVERY_PASSPHRASE or a prompt (asked twice); it opens
    the home like the officer's, so `triage passphrase change` can then set a new officer passphrase.

    Example: triage passphrase recovery --officer "DS 4411 Clarke"
    """
    from triage.store.passphrase import home_words

    store = open_store(home)
    store.set_passphrase(
        new_passphrase(
            home_words(store.config),
            env="TRIAGE_RECOVERY_PASSPHRASE",
            prompt="Recovery passphrase",
            what="recovery passphrase",
        ),
        officer=officer_of(store, officer),
        name="recovery",
    )
    note("Recovery passphrase set: keep it with the supervisor, apart from the laptop.")
