"""How long an officer waits in `triage session`: the session's start (process start to its first prompt) and,
for the second and later arrivals, the time from a complete photo file to its candidates on the screen.
Targets on 2 cores: start under 2 s, p50 under 0.3 s, at 640x480 against a 10,000-subject watchlist.

Run: uv run python benchmarks/session_latency.py [--photos 20] [--subjects 10000]

The real CLI runs in a pseudo-terminal (`triage session --watch DIR`), driven as an officer drives it: the
photo appears in the folder whole (written under a hidden name, then renamed, as phone-sync tools do),
then its sidecar `PHOTO.json` (`{}`) says it is complete; the clock stops when the candidates are on the
screen, and "s" saves the arrival without details. A folder without sidecars adds the settling interval
(--settle, 1 s by default) to every figure. The watchlist is synthetic: random unit templates for every
model of the home's matcher (fused: dlib and SFace), stored through the store as enrolment stores them.
Photos are ORL faces on a textured 640x480 canvas, as in benchmarks/capture_batch.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture_batch import OFFICER, PASSPHRASE, make_home, make_photos  # noqa: E402  (a script beside this one)

ROOT = Path(__file__).resolve().parents[1]

# Figures from this script on the shared 2-core development machine (load average 3 to 4): start 1.4-2.1 s;
# file to candidates p50 0.16-0.22 s, p95 0.20-0.32 s, of which 0.11-0.12 s inside the process. Building the
# HOG detector only when a pipeline detects with it, and loading the models while the passphrase is checked,
# each took a few tenths of a second off the start. On a quieter machine, after the fused search asked for every
# owner's distance in one pass and dlib's model files were found without pkg_resources: start 0.95 s; file to
# candidates p50 0.099 s, p95 0.105 s, of which 0.040 s inside the process.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20, help="arrivals in the session (default 20)")
    parser.add_argument("--subjects", type=int, default=10_000, help="watchlist subjects (default 10,000)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    with tempfile.TemporaryDirectory(prefix="triage-session-") as tmp:
        root = Path(tmp)
        make_home(root / "home", args.subjects)
        photos = make_photos(root / "photos", (640, 480), args.photos)
        folder = root / "watched"
        folder.mkdir()
        env = dict(
            os.environ,
            TRIAGE_HOME=str(root / "home"),
            TRIAGE_PASSPHRASE=PASSPHRASE,
            TRIAGE_OFFICER=OFFICER,
            TERM="dumb",
            COLUMNS="120",
        )
        started = time.perf_counter()
        child = pexpect.spawn(
            sys.executable,
            ["-m", "triage", "session", "--vessel", "BEN-1", "--watch", str(folder)],
            cwd=str(ROOT),
            env=env,
            encoding="utf-8",
            timeout=120,
        )
        child.expect(r"Ready in ([0-9.]+) s")
        ready = time.perf_counter() - started
        said = float(child.match.group(1))
        child.expect("waiting for a photo")
        waits, inside = [], []
        for photo in photos:
            hidden = folder / f".{photo.name}.part"
            hidden.write_bytes(photo.read_bytes())
            os.rename(hidden, folder / photo.name)
            (folder / f"{photo.name}.json").write_text("{}")
            complete = time.perf_counter()
            i = child.expect([r"candidates in ([0-9.]+) s", "refused"])
            waits.append(time.perf_counter() - complete)
            if i == 1:
                sys.exit(f"{photo.name} was refused: {child.before[-300:]}")
            inside.append(float(child.match.group(1)))
            child.expect("save, no details")
            child.send("s")
            child.expect("next arrival")
            child.send("\r")
            child.expect("waiting for a photo")
        child.send("q")
        child.expect("Session ended")
        child.expect(pexpect.EOF)
        later, work = waits[1:], inside[1:]
        cut = statistics.quantiles(later, n=20) if len(later) > 1 else later * 19
        print(
            f"session start: {ready:.2f} s from the command to its first prompt "
            f"(the session's own figure {said:.1f} s); target < 2 s"
        )
        print(
            f"file complete -> candidates on screen, arrivals 2-{len(waits)} at 640x480 against "
            f"{args.subjects:,} subjects: p50 {statistics.median(later):.3f} s, p95 {cut[18]:.3f} s "
            f"(first arrival {waits[0]:.3f} s); target p50 < 0.3 s"
        )
        print(
            f"of which photo bytes -> candidates inside the process: p50 {statistics.median(work):.3f} s "
            f"(the rest is noticing the file, reading it and drawing the table)"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine slows these figures)")


if __name__ == "__main__":
    main()
