"""`triage session` driven through a pseudo-terminal, one key at a time, as an officer drives it over SSH; and
`triage capture --watch` landing photos dropped into a folder, one of them written slowly, each exactly once
(even after a restart)."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pexpect
import pytest
from PIL import Image

from conftest import PASSPHRASE, Cli, orl, row_counts
from triage.store.rows import Store

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 90  # seconds for any one screen: the first start of a process loads the face models


def spawn(*args: str) -> pexpect.spawn:
    env = dict(os.environ, COLUMNS="110", TERM="dumb")  # a plain terminal: no colours, no styles
    return pexpect.spawn(
        sys.executable, ["-m", "triage", *args], cwd=str(ROOT), env=env, encoding="utf-8", timeout=TIMEOUT
    )


def said(prose: str) -> str:
    """A pattern for prose as the session prints it: wrapped between words at the terminal's width, so where a
    line breaks depends on the length of any path before it (a test's temporary folder)."""
    return r"\s+".join(map(re.escape, prose.split()))


def ended(child: pexpect.spawn, landed: int, status: int = 0) -> None:
    """The session's closing line, then the process gone with `status`."""
    child.expect(f"Session ended: {landed} landed in this session")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == status


def answer_details(child: pexpect.spawn, **given: str) -> None:
    """Answer the details prompts: the ones named in `given` (by the start of the question), Enter for the rest."""
    questions = {"Surname": "surname", "Given names": "given", "Date of birth": "dob"}
    while True:
        i = child.expect([*questions, r"Save this arrival\?", r"\): ", r": $"])
        if i == len(questions):
            child.sendline("y")
            return
        if i < len(questions):
            child.expect(r": ")
            child.sendline(given.get(questions[list(questions)[i]], ""))
        else:
            child.sendline("")


def test_a_session_lands_three_arrivals_with_details_a_decision_and_the_standing_on_restart(wl_home, tmp_path):
    photos = [orl(1, 2), orl(2, 2), orl(35, 1)]  # s1 and s2 are on the watchlist (photo 1); s35 is not
    child = spawn("session", "--vessel", "SB-0417")
    child.expect("Vessel SB-0417: 0 landed")
    for n, photo in enumerate(photos, 1):
        child.expect(f"Arrival {n}")
        child.expect(r"photo \(type or paste its path")
        child.sendline(f"'{photo}'" if n == 1 else str(photo))  # a pasted path arrives quoted
        child.expect("Candidates for human review")
        child.expect("save, no details")
        if n == 1:
            child.send("d")
            answer_details(child, surname="Haddad", given="Omar", dob="1990")
        else:
            child.send("save")  # the word, not its first key: nothing is saved
            child.expect("Not a key of the menu above")
            time.sleep(0.3)
            child.send("s")
        child.expect(r"Arrival (A-[0-9A-Z]{6}) landed")
        if n == 1:
            child.expect("decide on a candidate")
            child.send("1")
            child.expect("inconclusive")
            child.send("c")
            child.expect("Reason for the decision")
            child.sendline("Same face as the warrant photo, compared by eye")
            child.expect("Recorded: confirmed")
            child.expect("next arrival")
            child.send("fthe reason typed ahead\r")  # a word typed at the menu: its f flags nobody
            child.expect("Not a key of the menu above")
            child.send("f")
            child.expect(r"need safeguarding\? \(blank: do not flag\)")
            child.send("\r")
            child.expect("Not flagged")
        child.expect("next arrival")
        child.send("q" if n == len(photos) else "\r")
    ended(child, 3)

    store = Store.open_locked(wl_home)
    try:
        arrivals = store.db.execute("SELECT id FROM arrivals WHERE vessel = 'SB-0417'").fetchall()
        actions = [a for (a,) in store.db.execute("SELECT action FROM audit_events ORDER BY seq")]
        flagged = store.db.execute("SELECT count(*) FROM arrivals WHERE safeguarding = 1").fetchone()[0]
    finally:
        store.close()
    assert flagged == 0 and "safeguarding-flag" not in actions
    assert len(arrivals) == 3 and row_counts(wl_home)["reviews"] == 1
    assert actions.count("capture") == 3 and actions.count("review") == 1

    again = spawn("session", "--vessel", "SB-0417")  # a new process says where the boat stands
    again.expect("Vessel SB-0417: 3 landed")
    again.expect(r"Arrival 4: photo \(type or paste its path")  # numbered for the vessel, not the session
    again.sendline(str(photos[1]))  # the same file again: it landed already
    again.expect("already landed as A-")
    again.expect(r"Arrival 4: photo \(type or paste its path")
    again.sendline(str(orl(36, 1)))
    again.expect("save, no details")
    again.send("f")
    again.expect(r"need safeguarding\? \(blank: do not flag\)")
    again.sendline("says he is 15")
    again.expect("flagged for safeguarding when saved")
    again.send("q")  # the flag is not lost to one key
    again.expect("without saving it?")
    again.send("n")
    again.expect("save, no details")
    again.send("أحمد")  # a name typed at the menu: no key, and no byte of it left to start the next answer
    time.sleep(0.5)
    again.send("d")
    again.expect("Surname")
    again.expect(r": ")
    again.sendline("Haddad")
    again.expect("Given names")
    again.kill(signal.SIGKILL)  # a crash while the details are typed: only this arrival is lost
    again.close()
    assert row_counts(wl_home)["arrivals"] == 3
    Cli()("audit", "verify")


def _lines(stream: io.TextIOBase, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)


def watch(folder: Path) -> tuple[subprocess.Popen, queue.Queue, queue.Queue]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "triage", "capture", "--watch", str(folder), "--vessel", "SB-0417", "--settle", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue = queue.Queue()
    err: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, out), daemon=True).start()
    threading.Thread(target=_lines, args=(proc.stderr, err), daemon=True).start()
    deadline = time.monotonic() + TIMEOUT
    while "Watching" not in err.get(timeout=max(0.1, deadline - time.monotonic())):
        pass
    return proc, out, err


def stop(proc: subprocess.Popen, err: queue.Queue) -> str:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    time.sleep(0.2)
    return "".join(err.get() for _ in range(err.qsize()))


def test_capture_watch_lands_five_dropped_photos_once_each_one_written_slowly(wl_home, tmp_path):
    folder = tmp_path / "phone"
    folder.mkdir()
    slow = io.BytesIO()
    Image.open(orl(6, 1)).convert("RGB").save(slow, "JPEG", quality=95)
    data = slow.getvalue()
    proc, out, err = watch(folder)
    try:
        for s in (1, 2, 3, 4):
            (folder / f"s{s}.pgm").write_bytes(orl(s, 1).read_bytes())
        (folder / "s1.pgm.json").write_text(json.dumps({"surname": "Haddad", "dob": "1990", "language": ["Arabic"]}))
        with open(folder / "slow.jpg", "wb") as f:  # four parts, each pause shorter than --settle
            for i in range(4):
                f.write(data[i * len(data) // 4 : (i + 1) * len(data) // 4])
                f.flush()
                time.sleep(0.4)
        lines = [json.loads(out.get(timeout=TIMEOUT)) for _ in range(5)]
        time.sleep(2.5)  # nothing more comes: no file twice
        assert out.empty()
    finally:
        summary = stop(proc, err)
    assert "5 landed, 0 refused" in summary
    assert sorted(Path(line["photo"]).name for line in lines) == ["s1.pgm", "s2.pgm", "s3.pgm", "s4.pgm", "slow.jpg"]
    assert all(line["vessel"] == "SB-0417" and line["candidates"] for line in lines)
    assert len({line["arrival_id"] for line in lines}) == 5
    slow_id = next(line["arrival_id"] for line in lines if line["photo"].endswith("slow.jpg"))
    first = next(line["arrival_id"] for line in lines if line["photo"].endswith("s1.pgm"))
    store = Store.open(wl_home, PASSPHRASE)
    try:
        assert store.photo("arrival", slow_id, "original")[1] == data  # read whole, never half-written
        assert store.get("arrivals", first)["details"]["surname"] == "Haddad"  # from its sidecar
    finally:
        store.close()

    proc, out, err = watch(folder)  # started again on the same folder: nothing lands twice
    try:
        deadline = time.monotonic() + TIMEOUT
        seen = ""
        while seen.count("already landed as") < 5 and time.monotonic() < deadline:
            seen += err.get(timeout=TIMEOUT)
    finally:
        summary = stop(proc, err)
    assert out.empty()
    assert "0 landed, 0 refused, 5 already landed before" in summary
    assert row_counts(wl_home)["arrivals"] == 5


def test_capture_watch_lands_a_photo_once_its_refused_sidecar_is_corrected(wl_home, tmp_path):
    folder = tmp_path / "phone"
    folder.mkdir()
    (folder / "s5.pgm.json").write_text('{"surname": "Haddad", "dob": "1990"')  # the closing brace left out
    (folder / "s5.pgm").write_bytes(orl(5, 1).read_bytes())
    proc, out, err = watch(folder)
    try:
        refused = json.loads(out.get(timeout=TIMEOUT))["refused"]
        assert refused["status"] == "bad_input" and "not valid JSON" in refused["reason"]
        assert "correct s5.pgm.json and the photo is tried again" in refused["reason"]
        (folder / "s5.pgm.json").write_text('{"surname": "Haddad", "dob": "1990"}')
        landed = json.loads(out.get(timeout=TIMEOUT))
    finally:
        summary = stop(proc, err)
    assert landed["arrival_id"].startswith("A-") and "1 landed, 0 refused, " in summary  # landed once corrected


def test_capture_watch_says_of_each_photo_that_its_sidecar_named_without_the_photo_extension_is_not_read(
    wl_home, tmp_path
):
    """`s5.json` beside `s5.pgm` was ignored without a word: the photo landed without the details written there.
    Said once of each photo so named."""
    folder = tmp_path / "phone"
    folder.mkdir()
    for s in (5, 6):
        (folder / f"s{s}.json").write_text('{"surname": "Haddad", "dob": "1990"}')
        (folder / f"s{s}.pgm").write_bytes(orl(s, 1).read_bytes())
    proc, out, err = watch(folder)
    try:
        landed = [json.loads(out.get(timeout=TIMEOUT)) for _ in range(2)]
    finally:
        summary = stop(proc, err)
    assert all(line["arrival_id"].startswith("A-") for line in landed)  # what is read is unchanged
    summary = " ".join(summary.split())  # as said, whatever the width it was wrapped at
    assert summary.count("is not read: a photo's sidecar is named after its whole file name") == 2, summary
    for s in (5, 6):
        assert re.search(rf"s{s}\.json is not read: .* s{s}\.pgm\.json \(NAME\.EXT\.json\)", summary), summary


def test_a_watched_photo_is_handed_over_only_whole_and_once(tmp_path):
    from triage.intake.watch import FolderWatch

    now = [0.0]
    held: list[str] = []
    watcher = FolderWatch(tmp_path, settle=1.0, clock=lambda: now[0], on_hold=lambda path, why: held.append(path.name))
    jpeg = io.BytesIO()
    Image.open(orl(1, 1)).convert("RGB").save(jpeg, "JPEG")
    data = jpeg.getvalue()
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(data[:-100])  # the writer paused: unchanged for long, but its JPEG has no end yet
    for _ in range(3):
        assert watcher.poll() == []
        now[0] += 5
    assert held == ["IMG_0001.jpg"] and watcher.held_back == ["IMG_0001.jpg"]  # said once, not at every look
    with open(photo, "ab") as f:
        f.write(data[-100:])
    assert watcher.poll() == []  # changed: it must stay unchanged for --settle first
    now[0] += 0.5
    assert watcher.poll() == []
    now[0] += 0.6
    [whole] = watcher.poll()
    assert whole.data == data and whole.sidecar is None and watcher.held_back == []
    now[0] += 5
    assert watcher.poll() == []  # once
    second = tmp_path / "IMG_0002.jpg"
    second.write_bytes(data)
    (tmp_path / ".IMG_0003.jpg.part").write_bytes(data[:10])  # a sync tool's hidden file is left alone
    assert watcher.poll() == []
    (tmp_path / "IMG_0002.jpg.json").write_text('{"surname": "Haddad", "language": ["Arabic", "English"]}')
    [signed] = watcher.poll()  # its sidecar says it is complete: no need to wait
    assert signed.path == second and signed.sidecar == {"surname": "Haddad", "language": "Arabic; English"}

    # A link in the folder is never followed: it could point anywhere, the home's own store included.
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jpg"
    outside.write_bytes(data)
    (tmp_path / "IMG_0004.jpg").symlink_to(outside)
    for _ in range(3):
        now[0] += 5
        assert watcher.poll() == []


def test_a_photo_refused_for_its_sidecar_is_tried_again_once_the_sidecar_is_corrected(tmp_path):
    from triage.intake.watch import FolderWatch

    now = [0.0]
    watcher = FolderWatch(tmp_path, settle=1.0, clock=lambda: now[0])
    photo, sidecar = tmp_path / "IMG_0001.pgm", tmp_path / "IMG_0001.pgm.json"
    photo.write_bytes(orl(1, 1).read_bytes())
    sidecar.write_text('{"surname": "Haddad",')  # complete, and not JSON
    watcher.poll()
    now[0] += 5
    [bad] = watcher.poll()
    assert bad.sidecar is None and "not valid JSON" in (bad.sidecar_error or "")
    assert "still being written" not in (bad.sidecar_error or "")
    watcher.refused(bad)
    now[0] += 5
    assert watcher.poll() == []  # nothing changed: not tried again
    sidecar.write_text('{"surname": "Haddad"}')
    os.utime(sidecar, ns=(photo.stat().st_mtime_ns + 10**9,) * 2)
    for _ in range(3):
        now[0] += 5
        if again := watcher.poll():
            break
    assert [a.sidecar for a in again] == [{"surname": "Haddad"}]
    for _ in range(3):
        now[0] += 5
        assert watcher.poll() == []  # once per change, and it was not refused this time


def test_a_menu_wider_than_the_terminal_wraps_between_words(monkeypatch):
    from triage.cli import session
    from triage.cli.common import SafeConsole

    screen = SafeConsole(file=io.StringIO(), width=60, soft_wrap=True)
    monkeypatch.setattr(session, "err", screen)
    monkeypatch.setattr(sys, "stdin", io.StringIO("s\n"))
    menu = (
        "[bold]d[/] details  [bold]s[/] save, no details  [bold]f[/] flag safeguarding  "
        "[bold]r[/] retake  [bold]q[/] end, unsaved"
    )
    assert session.Keys().key(menu, "dsfrq") == "s"
    shown = screen.file.getvalue()
    assert all(len(line) <= 60 for line in shown.splitlines()), shown
    assert shown.split() == "d details s save, no details f flag safeguarding r retake q end, unsaved".split()


def test_the_standing_counts_watchlist_alerts_apart_from_other_candidates(cli, wl_home):
    named = ("--surname", "Hama", "--given-names", "Karwan", "--dob", "1990-05-01", "--vessel", "SB-0417")
    first = cli.json("capture", "--photo", orl(7, 4), *named)["arrival_id"]
    second = cli.json("capture", "--photo", orl(7, 5), *named)["candidates"]
    # The second arrival's candidates: its watchlist subject, and the first arrival by face and by name.
    assert {(c["kind"], c["ref"]) for c in second} >= {("watchlist", "WL-007"), ("arrival", first)}
    res = cli("session", "--vessel", "SB-0417", input="q\n")
    assert "2 landed, 2 awaiting review (2 watchlist alerts, 1 other candidate)" in " ".join(res.stderr.split())


@pytest.mark.parametrize("command", ["session", "capture --watch"])
@pytest.mark.parametrize("refusal", ["config.json changed", "wrong passphrase", "ctrl-c"])
def test_the_face_models_have_stopped_loading_before_a_refused_start_ends(
    cli, home, tmp_path, monkeypatch, command, refusal
):
    """The models load on a thread while the home is unlocked; a process that ended while that thread was
    inside dlib or onnxruntime could be aborted (exit 134) instead of exiting with its error's status. The
    loading here is held until the unlock has been refused, then takes a moment: the command must wait."""
    from triage.casework import session as landing
    from triage.cli import capture
    from triage.errors import ExitStatus, NotFound

    unlocked, loaded = threading.Event(), threading.Event()

    def slow_config(home):
        assert unlocked.wait(10)
        time.sleep(0.3)
        loaded.set()
        raise NotFound("the loading gives up; the command loads the models again once the home is open")

    real_open = capture.open_store

    def open_store(home):
        try:
            if refusal == "ctrl-c":
                raise KeyboardInterrupt
            return real_open(home)
        finally:
            unlocked.set()

    monkeypatch.setattr(landing, "load_config", slow_config)
    monkeypatch.setattr(capture, "open_store", open_store)
    if refusal == "config.json changed":
        doc = json.loads((home / "config.json").read_text())
        doc["retention"]["drafts_days"] = 3650
        (home / "config.json").write_text(json.dumps(doc))
    elif refusal == "wrong passphrase":
        monkeypatch.setenv("TRIAGE_PASSPHRASE", "not the passphrase of this home")
    args = ["session", "--vessel", "SB-0417"] if command == "session" else ["capture", "--watch", tmp_path]
    expected = {"config.json changed": ExitStatus.INTEGRITY, "wrong passphrase": ExitStatus.WRONG_PASSPHRASE}
    res = cli(*args, input="q\n", code=int(expected[refusal]) if refusal in expected else None)
    assert res.exit_code != 0
    assert loaded.is_set()
    assert not [t for t in threading.enumerate() if t.name == landing.LOADING_THREAD]


def test_a_session_watching_a_folder_takes_the_face_its_sidecar_names_in_a_group_photo(wl_home, tmp_path):
    """A sidecar's `face` picks one face of a group photo, in a session as in `capture --watch`, the sidecar
    written after the photo was refused too; a path typed while the folder is watched is answered."""
    import numpy as np

    from triage.intake.samples import astronaut_path

    folder = tmp_path / "dcim"
    folder.mkdir()
    child = spawn("session", "--vessel", "SB-0419", "--watch", str(folder), "--settle", "0.2")
    child.expect(said("waiting for a photo in"))
    child.send("/tmp/photo.jpg")
    child.expect(said("Photos are taken from"))
    child.expect(said("or q to end"))
    face = np.asarray(Image.open(astronaut_path()).convert("RGB"))[40:240, 130:320]
    canvas = np.full((260, 420, 3), 128, np.uint8)
    canvas[30:230, 10:200] = canvas[30:230, 220:410] = face
    Image.fromarray(canvas).save(folder / "G9.jpg")
    child.expect(said("faces of similar size"))  # refused until a sidecar names the face: then handed over again
    (folder / "G9.jpg.json").write_text(json.dumps({"face": 1, "surname": "Sidecar"}))
    child.expect("Candidates for human review")
    child.expect("save with sidecar")
    child.send("s")
    child.expect(r"Arrival (A-[0-9A-Z]{6}) landed")
    child.expect("next arrival")
    child.send("q")
    ended(child, 1)


def test_a_path_pasted_while_a_folder_is_watched_is_answered_whole_none_of_it_taken_as_a_key(wl_home, tmp_path):
    """A path typed or pasted while the folder is watched is read whole and answered, each line of it: no letter
    of it is left over to be read as a key (the `q` of `/media/q/` ended the session), and a terminal's paste
    markers (`ESC [200~`) do not make it vanish as an arrow key would."""
    folder = tmp_path / "dcim"
    folder.mkdir()
    child = spawn("session", "--vessel", "SB-0421", "--watch", str(folder), "--settle", "0.2")
    child.expect(said("waiting for a photo in"))
    child.send("/media/q/DCIM/" + "a-long-folder-name/" * 30 + "IMG q.jpg\r")
    child.expect(said("Photos are taken from"))
    child.send("\x1b[200~/media/officer/q\x1b[201~\r")  # pasted in a terminal that marks a paste
    child.expect(said("Photos are taken from"))
    shutil.copy(orl(35, 1), folder / "IMG_0001.pgm")
    child.expect("Candidates for human review")
    child.expect("save, no details")
    child.send("q")
    ended(child, 0)


def test_ctrl_c_ends_a_session_with_the_status_every_command_gives_it(wl_home):
    from triage.errors import ExitStatus

    child = spawn("session", "--vessel", "SB-0420")
    child.expect(r"photo \(type or paste its path")
    child.sendintr()
    child.expect("interrupted: every arrival saved is kept")
    ended(child, 0, int(ExitStatus.INTERRUPTED))


def test_ctrl_c_while_the_models_load_waits_for_the_loading_to_end(tmp_path, monkeypatch):
    """Ctrl-C while the session waits for its models: the wait goes on until the loading thread has ended, and
    only then is the Ctrl-C raised. (A `Thread.join` interrupted by Ctrl-C took the thread for ended while it
    was still inside onnxruntime, and the process was aborted under it: exit -6, "terminate called".)"""
    from triage.casework import session
    from triage.faces import encoders

    loading, ended = threading.Event(), threading.Event()

    class Slow:
        def load(self) -> None:
            loading.set()
            time.sleep(1.5)
            ended.set()

    monkeypatch.setattr(encoders, "pipeline", lambda ids, home: Slow())
    wait = session.start_loading(tmp_path)
    assert loading.wait(30)
    main = threading.get_ident()
    threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT)).start()  # Ctrl-C, in the thread that waits
    with pytest.raises(KeyboardInterrupt):
        wait()
    assert ended.is_set()


def test_each_face_a_sidecar_names_is_its_own_arrival_whatever_captured_the_other(cli, wl_home, tmp_path):
    """A face a sidecar named was landed under the key of the file alone, the first face's: the second face of a
    group photo whose first had landed was "already landed" as the first's arrival, and a later `capture` of the
    first face was told it had landed as the second's. Each face has its own key, in a watch as in a batch."""
    import numpy as np

    from triage.intake.samples import astronaut_path

    folder = tmp_path / "dcim"
    folder.mkdir()
    face = np.asarray(Image.open(astronaut_path()).convert("RGB"))[40:240, 130:320]
    canvas = np.full((260, 420, 3), 128, np.uint8)
    canvas[30:230, 10:200] = canvas[30:230, 220:410] = face
    Image.fromarray(canvas).save(tmp_path / "G9.jpg")
    landed = {}
    for n in (1, 2):  # the photo dropped again, its sidecar now naming the other face
        (folder / "G9.jpg.json").write_text(json.dumps({"face": n, "surname": f"Face {n}"}))
        shutil.copy(tmp_path / "G9.jpg", folder / "G9.jpg")
        proc, out, err = watch(folder)
        try:
            landed[n] = json.loads(out.get(timeout=TIMEOUT))["arrival_id"]
        finally:
            stop(proc, err)
        (folder / "G9.jpg").unlink()
    assert landed[1] != landed[2]
    for n in (1, 2):
        again = cli.json("capture", "--photo", tmp_path / "G9.jpg", "--face", str(n))
        assert (again["already_landed"], again["arrival_id"]) == (True, landed[n])


def test_a_blank_reason_for_a_decision_goes_back_to_the_menu_recording_nothing(wl_home):
    """A candidate's number pressed, then `c`, then no reason: nothing is recorded, one line says so, and the menu
    is back (not the question again, with no way out but ending the session); a reason typed then still records."""
    child = spawn("session", "--vessel", "SB-0421")
    child.expect(r"photo \(type or paste its path")
    child.sendline(str(orl(1, 2)))  # s1 is on the watchlist
    child.expect("save, no details")
    child.send("s")
    child.expect(r"Arrival (A-[0-9A-Z]{6}) landed")
    child.expect("decide on a candidate")
    child.send("1")
    child.expect("inconclusive")
    child.send("c")
    child.expect("Reason for the decision")
    child.sendline("")
    assert child.expect(["Nothing recorded on candidate 1: back to the menu", "try again"]) == 0
    child.expect("decide on a candidate")
    child.send("1")
    child.expect("inconclusive")
    child.send("r")
    child.expect("Reason for the decision")
    child.sendline("Different ear shape, compared by eye")
    child.expect("Recorded: rejected")
    child.expect("next arrival")
    child.send("q")
    ended(child, 1)
    store = Store.open_locked(wl_home)
    try:
        decisions = [d for (d,) in store.db.execute("SELECT action FROM audit_events WHERE action = 'review'")]
    finally:
        store.close()
    assert row_counts(wl_home)["reviews"] == 1 and decisions == ["review"]


NEW_PASSPHRASE = "violet harbour lantern quietly 93"


def _rotate(monkeypatch) -> None:
    """`triage passphrase change --rotate` from another command, while the one under test holds the home open; later
    commands are given the new passphrase."""
    monkeypatch.setenv("TRIAGE_NEW_PASSPHRASE", NEW_PASSPHRASE)
    Cli()("passphrase", "change", "--rotate")
    monkeypatch.setenv("TRIAGE_PASSPHRASE", NEW_PASSPHRASE)


def test_a_watch_stops_in_one_line_when_another_command_replaces_the_key_and_lands_the_rest_once_restarted(
    wl_home, tmp_path, monkeypatch
):
    """A rotation seals everything again under a new key, the trail's sealed end included: the watch that unlocked the
    home before it must neither write under the old key nor call the home altered (exit 6) and take each later photo
    as "refused", exit 0. It stops at the next photo, as a command started with the old passphrase would (exit 7),
    and started again with the new one lands that photo, once."""
    folder = tmp_path / "phone"
    folder.mkdir()
    proc, out, err = watch(folder)
    try:
        (folder / "a.pgm").write_bytes(orl(35, 1).read_bytes())
        first = json.loads(out.get(timeout=TIMEOUT))
        _rotate(monkeypatch)
        (folder / "b.pgm").write_bytes(orl(36, 1).read_bytes())
        status = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.2)
    said_then = "".join(err.get() for _ in range(err.qsize()))
    assert status == 7, said_then
    assert "data key was replaced" in said_then and "altered" not in said_then and "refused" not in said_then
    assert out.empty() and row_counts(wl_home)["arrivals"] == 1
    assert Cli().json("audit", "verify")["ok"]

    proc, out, err = watch(folder)  # with the new passphrase: b lands, a had landed
    try:
        line = json.loads(out.get(timeout=TIMEOUT))
        time.sleep(2.5)
        assert out.empty()
    finally:
        summary = stop(proc, err)
    assert Path(line["photo"]).name == "b.pgm" and line["arrival_id"] != first["arrival_id"]
    assert "1 landed, 0 refused, 1 already landed before" in summary
    assert row_counts(wl_home)["arrivals"] == 2


def test_a_session_stops_in_one_line_when_another_command_replaces_the_key(wl_home, monkeypatch):
    """The next photo after a rotation is not "refused: the sealed record of the audit trail's end was altered" with
    the session asking for another: the session ends, saying the key was replaced (exit 7), nothing written."""
    child = spawn("session", "--vessel", "SB-0422")
    child.expect(r"photo \(type or paste its path")
    child.sendline(str(orl(35, 1)))
    child.expect("save, no details")
    child.send("s")
    child.expect(r"Arrival (A-[0-9A-Z]{6}) landed")
    child.expect("next arrival")
    child.send("\r")
    child.expect(r"photo \(type or paste its path")
    _rotate(monkeypatch)
    child.sendline(str(orl(36, 1)))
    assert child.expect([said("data key was replaced"), "altered", "save, no details"]) == 0
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 7
    assert row_counts(wl_home)["arrivals"] == 1
    assert Cli().json("audit", "verify")["ok"]


def test_a_decision_on_a_candidate_voided_since_it_was_shown_is_refused_and_the_session_goes_on(wl_home, tmp_path):
    """Another officer voids the earlier arrival a session's table shows as a candidate: the decision typed on it is
    refused in one line, nothing recorded, and the session carries on (it did end, exit 8, mid-boat)."""
    cli = Cli()
    earlier = cli.json("capture", "--photo", orl(35, 1), "--vessel", "SB-0423", "--no-interactive")["arrival_id"]
    child = spawn("session", "--vessel", "SB-0423")
    child.expect(r"photo \(type or paste its path")
    again = tmp_path / "again.pgm"  # the same photo under another name: another capture, the earlier its candidate
    again.write_bytes(orl(35, 1).read_bytes())
    child.sendline(str(again))
    child.expect("save, no details")
    child.send("s")
    child.expect(r"Arrival (A-[0-9A-Z]{6}) landed")
    child.expect("decide on a candidate")
    cli("arrivals", "void", earlier, "--reason", "duplicate capture made in error")
    child.send("1")
    child.expect(f"arrival {earlier}")
    child.expect("inconclusive")
    child.send("r")
    child.expect("Reason for the decision")
    child.sendline("Different ear shape, compared by eye")
    assert child.expect([said("nothing recorded on candidate 1"), pexpect.EOF]) == 0
    child.expect("next arrival")
    child.send("q")
    ended(child, 1)
    assert row_counts(wl_home)["reviews"] == 0


def test_a_candidate_another_command_landed_while_the_menu_waited_is_shown_before_its_number_is_taken(
    wl_home, tmp_path
):
    """Another officer lands an arrival on the same home between a session's table and its `s`: the search made as
    the arrival lands finds it too, so the numbers the menu takes are no longer the table's. The table is shown
    again (it was not: the menu said 1-N for rows nobody saw, and a number named another arrival than its row)."""
    cli = Cli()
    child = spawn("session", "--vessel", "SB-0424")
    child.expect(r"photo \(type or paste its path")
    child.sendline(str(orl(35, 1)))
    child.expect("save, no details")
    twin = tmp_path / "twin.pgm"  # the same face under another name: another capture, the closest candidate
    twin.write_bytes(orl(35, 1).read_bytes())
    other = cli.json("capture", "--photo", twin, "--vessel", "SB-0425", "--no-interactive")["arrival_id"]
    child.send("s")
    child.expect(r"Arrival (A-[0-9A-Z]{6}) landed")
    assert child.expect(["Candidates for human review", "decide on a candidate"]) == 0
    child.expect(other)
    child.expect("decide on a candidate")
    child.send("1")
    child.expect(f"arrival {other}")
    child.send("b")
    child.expect("next arrival")
    child.send("q")
    ended(child, 1)
