"""What an officer reads on a day's walk through the README: a biographic candidate in the capture-batch table
is described by what agrees (never by a face threshold), a watchlist ref typed in small letters is echoed as
the entry is kept, and a decision is never put in another officer's name because --officer was left empty."""

from __future__ import annotations

import datetime as dt
import re

from conftest import OFFICER, orl
from triage.errors import ExitStatus

OVERRIDE = ("--accept-low-quality", "--override-reason", "fixture photos are 92x112 px")
FUTURE = (dt.date.today() + dt.timedelta(days=120)).isoformat()


def flat(text: str) -> str:
    """A table's text as one line of words, its rules and cell borders gone."""
    return re.sub(r"\s+", " ", re.sub(r"[│┃┏┓┗┛┡┩└┘━─┳┻╇┼┬┴]", " ", text)).strip()


def test_a_biographic_candidate_in_the_batch_table_says_what_agrees_not_a_threshold(cli, home, tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        f"photo,surname,given_names,dob\n{orl(10, 1)},HASAN,Mohamed,1995-08-04\n{orl(30, 5)},HASAN,Mohamed,1995-08-04\n",
        encoding="utf-8",
    )
    text = flat(cli("capture-batch", manifest, "--vessel", "SB-0418").stdout)
    ids = [a["arrival_id"] for a in cli.json("arrivals", "list")]
    (bio,) = [(a, c) for a in ids for c in cli.json("arrivals", "show", a)["candidates"] if c["kind"] == "biographic"]
    assert bio[1]["ref"] in ids and bio[1]["distance"] is None
    # The table's one "threshold" is its heading: the biographic candidate has none, and no bare "score 2".
    assert "name and date of birth agree" in text and "score" not in text, text
    assert text.count("threshold") == 1, text


def test_a_watchlist_ref_typed_in_small_letters_is_echoed_as_kept(cli, home):
    cli(
        "watchlist", "add", orl(5, 1), "--ref", "wl-0050", "--name", "Reza AHMADI", "--category", "wanted",
        "--reason", "Wanted on a warrant for assault", "--authorised-by", "DS 4411 Clarke",
        "--review-date", FUTURE, *OVERRIDE,
    )  # fmt: skip
    updated = cli("watchlist", "update", "wl-0050", "--review-date", "2031-01-01", "--reason", "Quarterly review done")
    assert "Updated WL-0050" in updated.stdout and "wl-0050" not in updated.stdout
    removed = cli("watchlist", "remove", "wl-0050", "--reason", "Arrested and warrant executed")
    assert "Removed WL-0050" in removed.stdout and "wl-0050" not in removed.stdout


def test_an_empty_officer_is_refused_not_taken_for_another(cli, home):
    arrival = cli.json("capture", "--photo", orl(1, 1), "--vessel", "SB-0417", "--no-interactive")["arrival_id"]
    for empty in ("", "   "):
        res = cli("arrivals", "flag", arrival, "--safeguarding", "--reason", "appears about 15",
                  "--officer", empty, code=int(ExitStatus.BAD_INPUT))  # fmt: skip
        assert "--officer is empty" in res.stderr and len(res.stderr.strip().splitlines()) <= 2
    shown = cli.json("arrivals", "show", arrival)
    assert not shown["safeguarding"]
    cli("arrivals", "flag", arrival, "--safeguarding", "--reason", "appears about 15")  # no --officer: the env's
    assert OFFICER in cli("arrivals", "show", arrival).stdout
