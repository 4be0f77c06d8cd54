"""Export and import times for a day of 1,000 fixture arrivals (targets: each under 30 s on 2 cores).

A laptop lands 1,000 arrivals through `arrivals.capture`, each with its own details, transaction and
search; the face pipeline runs once per distinct ORL photo and its result is reused, since the
capture path is not what is measured here. A tenth of the arrivals get a review and a few a PND draft.
Then the real paths are timed: `batch.export_day` (without and with templates) and `merge.import_files`
into a fresh supervisor home (portraits encoded again on both cores, or templates taken from the batch).

Each step prints its wall time and the CPU time it used (here and in worker processes); with two idle
cores a step takes about the larger of its main-process CPU time and half its total.

Run: uv run python benchmarks/batch_day.py [ARRIVALS]
"""

from __future__ import annotations

import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from triage.casework import arrivals, review
from triage.exchange import batch, keys, merge
from triage.faces import analysis, matchers
from triage.intake import samples
from triage.intake.biographic import build_details
from triage.outputs import pnd
from triage.store.config import Config
from triage.store.rows import Store

# Measured here: sqlite-utils' `insert`, which reads the table's schema again on every call, was a third of a
# 1,000-arrival import; Store.insert_row writes a plain INSERT instead.
PASSPHRASE = "benchmark passphrase"
OFFICER = "PC 0001 Bench"
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
SURNAMES = ["Ahmadi", "Hussein", "Karimi", "Tesfaye", "Mohammadi", "Rahimi", "Osman", "Haile", "Nouri", "Abdullah"]
GIVEN = ["Reza", "Omid", "Sara", "Yonas", "Amir", "Hana", "Dawit", "Leila", "Karwan", "Mariam", "Ali", "Zainab"]


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process and of its finished worker processes: on a shared machine wall time
    depends on the neighbours, CPU time does not."""
    return tuple(
        u.ru_utime + u.ru_stime
        for u in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def timed(label: str, fn):
    start, (here, workers) = time.perf_counter(), cpu_seconds()
    result = fn()
    wall, (here_after, workers_after) = time.perf_counter() - start, cpu_seconds()
    print(
        f"{label:<46} {wall:6.1f} s wall, CPU {here_after - here:6.1f} s here + {workers_after - workers:6.1f} s "
        "in workers",
        flush=True,
    )
    return result


def analysed_photos(pipeline) -> list[analysis.Analysis]:
    """Three photos of each ORL person, through the home's face pipeline once each."""
    out = []
    for person in range(1, 41):
        for number in (1, 4, 7):
            try:
                out.append(
                    analysis.analyse(
                        samples.load_photo({"orl": [person, number]}),
                        "probe",
                        override_reason="fixture photos are 92x112 px",
                        pipeline=pipeline,
                    )
                )
            except Exception:  # an ORL photo the detector finds no face in
                continue
    return out


def land(store: Store, pool: list[analysis.Analysis]) -> list[str]:
    ids = []
    for i in range(COUNT):
        details = build_details(
            surname=SURNAMES[i % len(SURNAMES)],
            given_names=GIVEN[(i // 10) % len(GIVEN)],
            dob=str(1970 + i % 45),
            nationality=["IRN", "IRQ", "ERI", "AFG", "SDN"][i % 5],
        )
        res = arrivals.capture(
            store,
            pool[i % len(pool)].photo,
            details,
            officer=OFFICER,
            vessel=f"SB-{i // 50 + 1}",
            analysed=pool[i % len(pool)],
            idempotency_key=f"bench-{i}",
        )
        ids.append(res.arrival_id)
    return ids


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    try:
        laptop = Store.create(root / "laptop", PASSPHRASE, Config(site="Dover", force_code="KNT", officer=OFFICER))
        supervisor = Store.create(
            root / "supervisor", PASSPHRASE, Config(site="Dover HQ", force_code="KNT", officer=OFFICER)
        )
        keys.add_recipient(laptop, "Supervisor", keys.own(supervisor, officer=OFFICER).recipient, officer=OFFICER)
        keys.trust(
            supervisor,
            "Laptop",
            keys.encode_signing_key(keys.own(laptop, officer=OFFICER).signing_public),
            officer=OFFICER,
        )
        supervisor.close()
        pipeline = matchers.pipeline_for(laptop)
        print(f"matcher {laptop.config.matcher}: models {', '.join(pipeline.model_ids)}")
        pool = timed("face pipeline on 120 ORL photos (setup)", lambda: analysed_photos(pipeline))
        ids = timed(f"landing {COUNT} arrivals (setup)", lambda: land(laptop, pool))
        for aid in ids[::10]:
            cand = arrivals.candidates(laptop, aid)
            if cand:
                review.record(
                    laptop,
                    aid,
                    candidate=cand[0]["ref"],
                    kind=cand[0]["kind"],
                    decision="rejected",
                    reason="different ear shape and scar",
                    officer=OFFICER,
                )
        for aid in ids[::100]:
            pnd.draft(
                laptop,
                aid,
                kind="person",
                officer=OFFICER,
                purpose="To establish whether the arrival is wanted or linked to organised immigration crime",
            )
        day = laptop.get("arrivals", ids[0])["landed_day"]
        plain = timed(
            "export (portraits only)", lambda: batch.export_day(laptop, day, root / "day.age", officer=OFFICER)
        )
        full = timed(
            "export --with-templates",
            lambda: batch.export_day(laptop, day, root / "day-t.age", officer=OFFICER, with_templates=True),
        )
        print(
            f"  batch sizes: {plain.bytes / 1e6:.1f} MB, with templates {full.bytes / 1e6:.1f} MB; "
            f"{plain.arrivals} arrivals"
        )
        laptop.close()
        for label, file in (
            ("import (portraits encoded again, 2 workers)", "day.age"),
            ("import --with-templates batch", "day-t.age"),
        ):
            home = root / f"sup-{file}"
            shutil.copytree(root / "supervisor", home)
            store = Store.open(home, PASSPHRASE)
            result = timed(label, lambda: merge.import_files(store, [root / file], officer=OFFICER))[0]
            print(
                f"  {result.new_arrivals} new arrivals, {result.searched} searched, "
                f"{len(result.repeat_candidates)} repeat-arrival candidates below the threshold"
            )
            again = timed(
                "  the same batch again (nothing to add)",
                lambda: merge.import_files(store, [root / file], officer=OFFICER),
            )[0]
            assert again.new_arrivals == 0
            store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
