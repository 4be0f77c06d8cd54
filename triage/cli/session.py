"""`triage session`: a whole boat at the landing in one process, one arrival after another.

The models, the watchlist and earlier arrivals are loaded once, so each photo's candidates are on screen
as soon as the photo is. Everything is driven from the keyboard, one key at a time where a choice is
made (no Enter needed, no mouse), so it works in any terminal and over SSH; without a terminal, each
answer is a line. Prompts go to stderr, candidates to stdout.
"""

from __future__ import annotations

import os
import re
import select
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from triage.cli.common import (
    HomeOpt,
    MatcherOpt,
    OfficerOpt,
    ThresholdOpt,
    TopOpt,
    err,
    landed_at_option,
    note,
    out,
    prompted,
    say,
    vessel_option,
)
from triage.errors import HOME_ERRORS

if TYPE_CHECKING:
    from triage.casework.session import Landing, Preview, Standing
    from triage.intake.biographic import DetailText
    from triage.intake.photos import Photo
    from triage.intake.watch import Arrived, FolderWatch

DECISIONS = {"c": "confirmed", "r": "rejected", "i": "inconclusive"}
ENTER = "\n"


def register(app: typer.Typer) -> None:
    app.command("session")(session)


WORD = "\x00"  # what `Keys` reads when a word, not a key, was typed at a menu: no menu's key
WORD_GAP = 0.25  # seconds: a letter that follows a key sooner makes a word of it (typing at 4 keys a second)


class Ended(Exception):
    """The officer ended the session (q, Ctrl-D, or the end of the input)."""


class Keys:
    """Answers from the keyboard: a single key for a choice (the terminal in cbreak mode for that one read,
    so Ctrl-C still interrupts), a line for a path or a reason. Without a terminal, every answer is a line
    and a choice is its first character."""

    def __init__(self) -> None:
        self.tty = sys.stdin.isatty()
        self._ahead = b""  # a byte read to tell a key from a word, kept for the next read

    def key(self, prompt: str, allowed: str) -> str:
        err.print(prompt, highlight=False, soft_wrap=False)  # a menu wider than the terminal wraps between words
        told = False
        while True:
            k = self._read_key()
            if k and k in allowed:  # "" (an arrow or function key) is in every string, and no key
                return k
            if k not in ("", ENTER):  # a word typed at the menu (a name, before `d`): none of it is taken as keys
                self.drop_typed_ahead()
                if not told:
                    say(err, "Not a key of the menu above: press one of its keys (no Enter needed).")
                    told = True

    def _read_key(self) -> str:
        if not self.tty:
            line = sys.stdin.readline()
            if not line:
                raise Ended
            answer = line.strip()
            return WORD if len(answer) > 1 and answer[:2].isalnum() else answer[:1].lower() or ENTER
        import termios
        import tty

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd, termios.TCSANOW)  # typed-ahead keys are kept, not flushed
            data, self._ahead = (self._ahead, b"") if self._ahead else (os.read(fd, 1), b"")
            if data == b"\x1b":  # an arrow or function key: its whole sequence is dropped
                while select.select([fd], [], [], 0.02)[0]:
                    os.read(fd, 16)
                return ""
            # A key outside ASCII is several bytes: all of them are read, so none is left to start the next answer.
            size = 2 if b"\xc0" <= data < b"\xe0" else 3 if b"\xe0" <= data < b"\xf0" else 4 if data >= b"\xf0" else 1
            while len(data) < size and select.select([fd], [], [], 0.2)[0]:
                data += os.read(fd, size - len(data))
            # A letter followed at once by another is a word typed at the menu ("save", a name), not a choice: typed
            # at 4 keys a second or faster, or pasted, its next letter comes within WORD_GAP. Enter after a key is kept.
            if data.isalnum() and select.select([fd], [], [], WORD_GAP)[0]:
                following = os.read(fd, 1)
                if following.isalnum() or following >= b"\x80":
                    return WORD
                self._ahead = following
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if data in (b"", b"\x04"):
            raise Ended
        if data in (b"\r", b"\n"):
            return ENTER
        return data.decode(errors="replace").lower()

    def drop_typed_ahead(self) -> None:
        """Forget keys typed ahead of a question that must be answered deliberately."""
        self._ahead = b""
        if self.tty:
            import termios

            termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)

    def line(self, prompt: str, default: str = "") -> str:
        from rich.prompt import Prompt

        try:
            return Prompt.ask(prompt, console=err, default=default, show_default=bool(default))
        except EOFError:
            raise Ended from None

    def typed(self, timeout: float) -> str | None:
        """What was typed or pasted within `timeout` seconds, if anything (for waiting on a folder and the
        keyboard at once): read whole, every byte until the typing pauses, so that no letter of a pasted path is
        left over to be read as a key (the `q` of `/media/q/` ended the session). A terminal's paste markers
        and arrow keys are dropped from it, not the text around them. Ends with ENTER when Enter was pressed."""
        if not self.tty:
            if not select.select([sys.stdin], [], [], timeout)[0]:
                return None
            line = sys.stdin.readline()
            if not line:
                raise Ended
            return line.rstrip("\r\n") + ENTER if line.endswith("\n") else line
        import termios
        import tty

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd, termios.TCSANOW)  # typed-ahead keys are kept, not flushed
            data, self._ahead = self._ahead, b""
            if not data and not select.select([fd], [], [], timeout)[0]:
                return None
            while not data or select.select([fd], [], [], WORD_GAP)[0]:
                more = os.read(fd, 4096)
                if not more:
                    break
                data += more
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if data in (b"", b"\x04"):
            raise Ended
        text = _ESCAPES.sub("", data.decode(errors="replace"))
        ended = text.rstrip(" \t").endswith(("\r", "\n"))
        text = "".join(c for c in text if c.isprintable() or c == " ")
        return text + ENTER if ended else text


# What a terminal sends for an arrow or function key, or around a paste: an escape and what follows it.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|O.|.)?", re.DOTALL)


def session(
    vessel: Annotated[str, vessel_option("The vessel the arrivals landed from.")],
    camera: str | None = typer.Option(
        None, "--camera", help="Take each photo from this camera (index, device path, or video file/stream)."
    ),
    watch: Path | None = typer.Option(
        None, "--watch", help="Take each photo as it appears in this folder (a tethered camera's, or a phone's)."
    ),
    settle: float = typer.Option(
        1.0, "--settle", min=0.0, help="With --watch: seconds a photo without a sidecar must stay unchanged."
    ),
    landed_at: Annotated[str | None, landed_at_option("Time of landing (ISO 8601; default now).")] = None,
    top: TopOpt = 5,
    threshold: ThresholdOpt = None,
    matcher: MatcherOpt = None,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
) -> None:
    """Capture a whole boat in one session: each photo's candidates at once, then its details.

    A photo is a path typed or pasted, a shot from --camera (Enter),
    or the next new file in the --watch folder. Its candidates show at once.

    Then one key: d (or Enter) details, checked as `triage capture` checks them
    (Enter skips any); s save, no details; f flag safeguarding; r retake;
    q end. Once landed: a candidate's number records a decision on it
    (c confirmed, r rejected, i inconclusive, then a reason); f flag
    safeguarding; Enter next arrival; q end.

    Each arrival lands the moment it is saved: a crash or a kill loses at most
    the one in progress. Started again, the session says how many arrivals
    have landed from the vessel and how many await review, and numbers the
    next arrival after them; a photo file that has landed is never landed again.

    Examples:

      triage session --vessel SB-0417

      triage session --vessel SB-0417 --watch /media/phone/DCIM/Camera

      triage session --vessel SB-0417 --camera 0
    """
    from triage.cli.capture import open_landing
    from triage.errors import UsageError
    from triage.intake.refs import parse_vessel
    from triage.intake.watch import FolderWatch

    started = time.perf_counter()
    if camera is not None and watch is not None:
        raise UsageError("give --camera or --watch, not both")
    vessel = parse_vessel(vessel)
    watcher = (
        FolderWatch(
            watch,
            settle=settle,
            on_hold=lambda path, why: say(err, f"{path.name}: {why}"),
            on_misnamed=lambda path, why: say(err, f"{path.name}: {why}"),
        )
        if watch is not None
        else None
    )
    landing, landed = open_landing(home, officer, vessel, landed_at, top, threshold, matcher)
    ready = time.perf_counter() - started - prompted[0]  # the tool's time, not the passphrase's typing
    before = landing.standing()
    say(err, f"Ready in {ready:.1f} s. " + _standing_text(before))
    keys = Keys()
    interrupted = False
    try:
        while True:
            taken = _take(keys, landing, camera, watcher, before.landed)
            if taken is None:
                break
            photo, name, given, face, arrived = taken
            preview = _prepare(keys, landing, photo, name, face)
            if preview is None:
                if watcher is not None and arrived is not None:
                    watcher.refused(arrived)  # its sidecar written or corrected hands it over again
                continue
            if _arrival(keys, landing, preview, landed, given) == "end":
                break
    except (Ended, EOFError, KeyboardInterrupt) as ended:
        err.print("")
        if isinstance(ended, KeyboardInterrupt):
            say(err, "interrupted: every arrival saved is kept; one not yet saved was not.")
            interrupted = True
    say(err, f"Session ended: {len(landing.landed)} landed in this session. " + _standing_text(landing.standing()))
    if interrupted:  # as every command ends at Ctrl-C, so a script can tell it from q
        from triage.errors import ExitStatus

        raise typer.Exit(int(ExitStatus.INTERRUPTED))


def _prepare(keys: Keys, landing: Landing, photo: Photo, name: str | None, face: int | None) -> Preview | None:
    """The photo analysed and searched (`face`: the one a sidecar names in a group photo); None when it is
    refused and the officer takes another. A photo the quality gate refuses may be used all the same, with a
    reason (recorded with the arrival)."""
    from triage.errors import BadInput, FaceError, TriageError

    try:
        return landing.prepare(photo, name=name, face_index=face)
    except FaceError as e:
        say(err, f"[red]refused:[/] {escape(str(e))}", markup=True)
        if "quality refused" not in str(e):
            return None
    except HOME_ERRORS:
        raise
    except TriageError as e:
        say(err, f"[red]refused:[/] {escape(str(e))}", markup=True)
        return None
    k = keys.key("[bold]r[/] retake  [bold]o[/] use it anyway (a reason is recorded)", "ro" + ENTER)
    if k != "o":
        return None
    from triage.cli.prompts import ask_until_valid
    from triage.intake.biographic import clean_text

    def check(text: str) -> None:
        if len(clean_text(text, "reason", 1000)) < 3:
            raise BadInput("say why the photo must be used")

    reason = clean_text(ask_until_valid("Why must this photo be used?", check), "reason", 1000)
    try:
        return landing.prepare(photo, name=name, face_index=face, override_reason=reason)
    except HOME_ERRORS:
        raise
    except TriageError as e:
        say(err, f"[red]refused:[/] {escape(str(e))}", markup=True)
        return None


def _standing_text(s: Standing) -> str:
    """Where the boat stands; watchlist alerts are counted apart from the other candidates (earlier arrivals)."""
    found = [f"{s.alerts} watchlist alert{'s' if s.alerts != 1 else ''}"]
    if s.other_candidates:
        found.append(f"{s.other_candidates} other candidate{'s' if s.other_candidates != 1 else ''}")
    return (
        f"Vessel {s.vessel}: {s.landed} landed, {s.awaiting_review} awaiting review "
        f"({', '.join(found)}), {s.safeguarding} flagged for safeguarding."
    )


def _take(
    keys: Keys, landing: Landing, camera: str | None, watcher: FolderWatch | None, earlier: int
) -> tuple[Photo, str | None, DetailText, int | None, Arrived | None] | None:
    """The next photo, its file's name (None from a camera), the details its sidecar gives and the face it
    names in a group photo, or None when the officer ends the session. Arrivals are numbered for the vessel:
    after the `earlier` ones that had landed from it when the session started, and those landed since."""
    from triage.casework.session import sidecar_details, sidecar_face
    from triage.errors import BadInput, TriageError
    from triage.intake import photos
    from triage.intake.biographic import DetailText
    from triage.intake.watch import SIDECAR_SUFFIX

    number = earlier + len(landing.landed) + 1
    while True:
        if watcher is not None:
            say(
                err,
                f"[bold]Arrival {number}[/]: waiting for a photo in {escape(str(watcher.folder))} (q ends)",
                markup=True,
            )
            told = False
            while True:
                arrived = watcher.poll_one()
                if arrived is not None:
                    break
                typed = keys.typed(watcher.poll_every)
                if typed is None:
                    continue
                answer = typed.strip()
                if answer.lower() in ("q", "quit", "end"):
                    return None
                if answer and not told:  # a path typed or pasted: only the folder is watched
                    say(err, f"Photos are taken from {watcher.folder} only: copy the photo there, or q to end.")
                # Said once while keys are typed one by one, and again for each line ended with Enter.
                told = bool(answer or told) and not typed.endswith(ENTER)
            if arrived.sidecar_error:
                say(err, f"[yellow]warning:[/] {escape(arrived.sidecar_error)}", markup=True)
            try:
                face = sidecar_face(arrived.sidecar, arrived.path.name + SIDECAR_SUFFIX)
                before = landing.already_landed(arrived.data, arrived.path.name, face)
                if before:
                    say(err, f"{arrived.path.name} already landed as {before}")
                    continue
                photo = photos.decode(arrived.data, str(arrived.path))
                return photo, arrived.path.name, sidecar_details(arrived.sidecar), face, arrived
            except BadInput as e:
                say(err, f"[red]refused:[/] {escape(str(e))}", markup=True)
                watcher.refused(arrived)
                continue
        hint = "Enter takes one from the camera, " if camera else ""
        text = keys.line(f"[bold]Arrival {number}[/]: photo (type or paste its path; {hint}q ends)")
        text = text.strip()
        if text.lower() in ("q", "quit", "end"):
            return None
        try:
            if not text:
                if camera is None:
                    continue
                return _from_camera(landing, camera), None, DetailText(), None, None
            path = _pasted_path(text)
            data = photos.read_file(path)
            before = landing.already_landed(data, path.name)
            if before:
                say(err, f"{path.name} already landed as {before}")
                continue
            return photos.decode(data, str(path)), path.name, DetailText(), None, None
        except HOME_ERRORS:
            raise
        except TriageError as e:
            say(err, f"[red]refused:[/] {escape(str(e))}", markup=True)


def _pasted_path(text: str) -> Path:
    """A path as typed or pasted: a file manager quotes it, escapes its spaces, or writes it as a file:// URL."""
    from urllib.parse import unquote

    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    elif "\\ " in text:
        text = text.replace("\\ ", " ")
    if text.startswith("file://"):
        text = unquote(text.removeprefix("file://"))
    return Path(text).expanduser()


def _from_camera(landing: Landing, camera: str) -> Photo:
    from triage.faces import analysis
    from triage.intake.camera import best_frame

    pic, scores = best_frame(camera, lambda frame: analysis.inspect(frame, "probe", pipeline=landing.pipeline)[0].score)
    note(f"camera {camera}: {len(scores)} frames, best quality score {max(scores)}")
    return pic


def _arrival(keys: Keys, landing: Landing, preview: Preview, landed_at: str | None, given: DetailText) -> str:
    """One arrival from its candidates to its decisions; 'next' or 'end'. What `given` holds (a sidecar's
    details) is offered as each answer's default, or saved as it is with s."""
    import datetime as dt

    from triage.cli.capture import render_candidates
    from triage.cli.prompts import ask_details, ask_until_valid, confirm, field_name
    from triage.errors import BadInput, Conflict
    from triage.intake.biographic import Details, clean_text

    say(out, f"Quality {preview.analysed.quality.score}/100; candidates in {preview.seconds:.2f} s.")
    for w in preview.analysed.warnings:
        say(err, f"[yellow]warning:[/] {escape(w)}", markup=True)
    render_candidates([c.as_json() for c in preview.candidates], preview.threshold, preview.calibrated_threshold)
    flag_reason: str | None = None

    def reason_for_flag() -> str | None:
        """The reason for a flag, typed now (keys typed ahead are dropped first, so a stray `f` among them cannot
        flag someone with the rest as its reason); blank leaves the arrival unflagged."""

        def check(text: str) -> None:
            if text.strip() and len(clean_text(text, "reason", 1000)) < 3:
                raise BadInput("say why this arrival needs safeguarding")

        keys.drop_typed_ahead()
        reason = ask_until_valid("Why does this arrival need safeguarding? (blank: do not flag)", check)
        if not reason.strip():
            note("Not flagged.")
            return None
        return reason

    details = Details()
    save = "save with sidecar" if given.given() else "save, no details"  # the menu fits 80 columns
    while True:
        k = keys.key(
            f"[bold]d[/] details  [bold]s[/] {save}  [bold]f[/] flag safeguarding  "
            "[bold]r[/] retake  [bold]q[/] end, unsaved",
            "dsfrq" + ENTER,
        )
        if k in ("r", "q") and flag_reason:  # a safeguarding flag is never lost to one key
            keys.drop_typed_ahead()
            leave = "retake the photo" if k == "r" else "end the session"
            sure = keys.key(
                f"[bold red]This arrival is not saved[/] and is to be flagged for safeguarding: {leave} without "
                "saving it? [bold]y[/] yes  [bold]n[/] no",
                "yn",
            )
            if sure != "y":
                continue
        if k == "r":
            return "next"
        if k == "q":
            return "end"
        if k == "f":
            flag_reason = reason_for_flag() or flag_reason
            if flag_reason:
                note("It will be flagged for safeguarding when saved.")
            continue
        today = dt.date.today()
        if k == "s":
            try:
                details = given.build(today, field_name)
            except BadInput as e:
                say(err, f"[red]{escape(str(e))}[/]: press d to correct it", markup=True)
                continue
            break
        text = given
        while True:
            text = ask_details(text)
            details = text.build(today)
            if confirm(details, [], today):
                break
            say(err, "Nothing saved yet; change what is wrong (Enter keeps an answer).")
        break
    captured = landing.land(preview, details, landed_at=landed_at)
    if flag_reason and not captured.safeguarding:
        landing.flag(captured.arrival_id, flag_reason)
        captured.safeguarding = True
    flag = "  [bold red]SAFEGUARDING[/]" if captured.safeguarding else ""
    say(out, f"Arrival [bold]{captured.arrival_id}[/] landed.{flag}", markup=True)
    for w in captured.warnings:
        say(err, f"[yellow]warning:[/] {escape(w)}", markup=True)
    shown = [(c.kind, c.ref) for c in preview.candidates]
    # Shown again when details gave differences, or when the search at landing found others than the table before
    # it (an arrival another command landed meanwhile): the numbers the menu takes are this search's ranks.
    if any(c.differences for c in captured.candidates) or [(c.kind, c.ref) for c in captured.candidates] != shown:
        render_candidates([c.as_json() for c in captured.candidates], captured.threshold, captured.calibrated_threshold)
    numbers = "".join(str(c.rank) for c in captured.candidates if c.rank < 10)
    while True:
        menu = (f"[bold]1-{numbers[-1]}[/] decide on a candidate  " if numbers else "") + (
            "[bold]f[/] flag safeguarding  [bold]Enter[/] next arrival  [bold]q[/] end"
        )
        k = keys.key(menu, numbers + "fnq" + ENTER)
        if k in (ENTER, "n"):
            return "next"
        if k == "q":
            return "end"
        if k == "f":
            if captured.safeguarding:
                note(f"{captured.arrival_id} is already flagged for safeguarding.")
                continue
            why = reason_for_flag()
            if why:
                try:
                    landing.flag(captured.arrival_id, why)
                except Conflict as e:  # voided by another command since it landed
                    say(err, f"[red]{escape(str(e))}[/]: not flagged", markup=True)
                    continue
                captured.safeguarding = True
                say(out, f"Arrival {captured.arrival_id} flagged for safeguarding.")
            continue
        _decide(keys, landing, captured.arrival_id, captured.candidates[int(k) - 1])


def _decide(keys: Keys, landing: Landing, arrival_id: str, candidate: Any) -> None:
    """A decision on one candidate, with its reason; `b` before it, or a blank reason, leaves it undecided and goes
    back to the menu (as a blank safeguarding reason does), so an officer who pressed a number by mistake is never
    held at the question."""
    from triage.errors import BadInput, Conflict, NotFound

    k = keys.key(
        f"Candidate {candidate.rank} ({candidate.kind} {escape(candidate.ref)}): "
        "[bold]c[/] confirmed  [bold]r[/] rejected  [bold]i[/] inconclusive  [bold]b[/] back",
        "crib",
    )
    if k == "b":
        return
    while True:
        reason = keys.line("Reason for the decision (blank: back to the menu)").strip()
        if not reason:
            note(f"Nothing recorded on candidate {candidate.rank}: back to the menu.")
            return
        if len(reason) < 3:
            say(err, "[red]say why you reached this decision[/] - try again", markup=True)
            continue
        try:
            decision = landing.decide(arrival_id, candidate, DECISIONS[k], reason)
        except BadInput as e:
            say(err, f"[red]{escape(str(e))}[/] - try again", markup=True)
            continue
        except (Conflict, NotFound) as e:  # changed by another command since the table was shown (voided, say)
            say(err, f"[red]{escape(str(e))}[/]: nothing recorded on candidate {candidate.rank}", markup=True)
            return
        say(
            out,
            f"Recorded: {decision.decision} on {candidate.kind} {decision.candidate} (review {decision.review_id}).",
        )
        return
