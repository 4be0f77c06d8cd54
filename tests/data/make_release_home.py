"""Builds tests/data/release_home: a small home made by the first release (commit 9b0509c), which
tests/test_upgrade.py opens with today's code to check that a home keeps working across the upgrade.

Run it with that release's code, not this tree's, and with this project's virtual environment (REPO
is this repository's folder; PYTHONPATH puts the release's `triage` package first, and the calibration
files under models/, unchanged since that release, come through the project's own install):

    mkdir -p /tmp/release && git -C REPO archive 9b0509c | tar -x -C /tmp/release
    cd /tmp/release && PYTHONPATH=/tmp/release REPO/.venv/bin/python \\
        REPO/tests/data/make_release_home.py REPO/tests/data/release_home

The home uses the tests' passphrase and officer (tests/conftest.py) and the dlib matcher. It holds two
watchlist subjects (ORL s1 and s2), three arrivals (ORL s1 photo 2, which matches WL-001, then s5 and
s6) and one review decision on the match. The script refuses to run on a tree whose `triage` package is
already the layered one, and refuses to write over an existing home.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

PASSPHRASE = "correct horse battery staple"  # tests/conftest.py PASSPHRASE
OFFICER = "PC 1234 Tester"  # tests/conftest.py OFFICER
REVIEW_DATE = "2099-12-31"  # never reached: the subjects stay searchable
OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")


def main(out: Path) -> None:
    import triage

    package = Path(triage.__file__).parent
    if not (package / "store.py").is_file():
        sys.exit(f"{package} is not the first release's package (it has no store.py); see this script's docstring")
    if out.exists():
        sys.exit(f"{out} exists; remove it first")
    os.environ.update(TRIAGE_HOME=str(out), TRIAGE_PASSPHRASE=PASSPHRASE, TRIAGE_OFFICER=OFFICER)

    from typer.testing import CliRunner

    from triage.cli.app import app
    from triage.scenarios import orl_path

    runner = CliRunner()

    def triage_json(*args: object) -> dict:
        result = runner.invoke(app, [*map(str, args), "--json"])
        if result.exit_code != 0:
            sys.exit(f"triage {' '.join(map(str, args))} exited {result.exit_code}: {result.output}")
        return json.loads(result.stdout)

    triage_json("init", "--site", "Test Site", "--force-code", "TST", "--matcher", "dlib")
    for subject in (1, 2):
        triage_json(
            "watchlist",
            "add",
            orl_path(subject, 1),
            "--ref",
            f"WL-{subject:03d}",
            "--name",
            f"Subject {subject}",
            "--category",
            "wanted",
            "--reason",
            "Test subject wanted on warrant",
            "--authorised-by",
            "DS 1 Test",
            "--review-date",
            REVIEW_DATE,
            *OVERRIDE,
        )
    matched = triage_json("capture", "--photo", orl_path(1, 2), "--surname", "Hama", "--vessel", "SB-0001")
    if not any(c["ref"] == "WL-001" and c["below_threshold"] for c in matched["candidates"]):
        sys.exit(f"the first arrival did not match WL-001: {matched['candidates']}")
    for subject in (5, 6):
        triage_json("capture", "--photo", orl_path(subject, 2), "--vessel", "SB-0001")
    triage_json(
        "review",
        matched["arrival_id"],
        "--candidate",
        "WL-001",
        "--decision",
        "confirmed",
        "--reason",
        "same scar above the left eye, seen in person",
    )
    print(f"{out}: arrival {matched['arrival_id']} matched WL-001 and was reviewed")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "release_home")
