"""What row authentication adds: capture, 1:N search (`match`), import of a 1,000-arrival batch, and
`audit verify` of a home with 10,000 arrivals (targets: under 10% added to capture and import; verify
under 10 s on 2 cores).

Each cost is measured twice in this process, with the store's tagging on and with it switched off (the
triggers, the tagging at commit and the checks on reading replaced by nothing), interleaved in rounds so
that both see the same machine. The import is also timed in processor time, which a busy machine's other
work does not inflate (the import with templates runs in this one process). Captures reuse one analysed photo per ORL face (the face pipeline is not
what is measured). The 10,000-arrival home is the 1,000 landed ones with their rows copied nine times
under new ids; `verify` reads rows and tags, never opens their sealed parts, so the copies cost what
real arrivals would.

Run: uv run python benchmarks/integrity.py [ARRIVALS]
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import batch_day  # noqa: E402  (the 1,000-arrival day's helpers)

from triage.casework import arrivals  # noqa: E402
from triage.exchange import batch, keys, merge  # noqa: E402
from triage.faces import matchers  # noqa: E402
from triage.store import audit, tags  # noqa: E402
from triage.store.config import Config  # noqa: E402
from triage.store.rows import Store  # noqa: E402

PASSPHRASE = "benchmark: correct horse battery staple"
OFFICER = batch_day.OFFICER
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
ROUNDS = 5
PER_ROUND = 40
IMPORT_ROUNDS = 5


@contextlib.contextmanager
def tagging_off() -> Iterator[None]:
    """The store with no row tags at all: what it cost before they existed."""
    saved: dict[str, Any] = {
        "install": tags.install_triggers,
        "check": tags.check_read,
        "touched": Store._tag_touched,
        "now": Store._written_now,
        "retag": Store.retag_all,
        "fresh": Store._fresh_rows,
        "tables": Store.check_tables,
        "trail": Store._check_trail_end,
        "written": Store._written_table,
        "blocks": Store._check_blocks,
    }
    tags.install_triggers = lambda db, tables, old_rows: None  # type: ignore[assignment]
    tags.check_read = lambda *a, **k: None  # type: ignore[assignment]
    Store._tag_touched = lambda self: None  # type: ignore[method-assign]
    Store._written_now = lambda self, table, rowid: True  # type: ignore[method-assign]
    Store.retag_all = lambda self: None  # type: ignore[method-assign]
    Store._fresh_rows = lambda self: {}  # type: ignore[method-assign]
    Store.check_tables = lambda self, *tables, **k: None  # type: ignore[method-assign]
    Store._check_trail_end = lambda self: None  # type: ignore[method-assign]
    Store._written_table = lambda self, table: True  # type: ignore[method-assign]
    Store._check_blocks = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        tags.install_triggers = saved["install"]
        tags.check_read = saved["check"]
        Store._tag_touched = saved["touched"]  # type: ignore[method-assign]
        Store._written_now = saved["now"]  # type: ignore[method-assign]
        Store.check_tables = saved["tables"]  # type: ignore[method-assign]
        Store._check_trail_end = saved["trail"]  # type: ignore[method-assign]
        Store.retag_all = saved["retag"]  # type: ignore[method-assign]
        Store._fresh_rows = saved["fresh"]  # type: ignore[method-assign]
        Store._written_table = saved["written"]  # type: ignore[method-assign]
        Store._check_blocks = saved["blocks"]  # type: ignore[method-assign]


def new_home(path: Path, site: str) -> Store:
    return Store.create(path, PASSPHRASE, Config(site=site, force_code="KNT", officer=OFFICER))


def per_call(fn: Callable[[int], Any], start: int, n: int) -> list[float]:
    times = []
    for i in range(start, start + n):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return times


def capture_one(store: Store, pool: list[Any], i: int) -> str:
    details = batch_day.build_details(surname=batch_day.SURNAMES[i % 10], dob=str(1970 + i % 45))
    res = arrivals.capture(
        store,
        pool[i % len(pool)].photo,
        details,
        officer=OFFICER,
        vessel=f"SB-{i // 50 + 1}",
        analysed=pool[i % len(pool)],
        idempotency_key=f"bench-{i}",
    )
    return res.arrival_id


def compare(label: str, on: list[float], off: list[float], unit: float = 1e3, name: str = "ms") -> None:
    m_on, m_off = statistics.median(on), statistics.median(off)
    print(
        f"{label:<34} tags on {m_on * unit:8.1f} {name}, off {m_off * unit:8.1f} {name}: "
        f"{(m_on / m_off - 1) * 100:+5.1f}% (medians of {len(on)})",
        flush=True,
    )


def copy_arrivals(store: Store, times: int) -> None:
    """The home's arrivals and every row about them copied `times` times under new ids, tagged at commit."""
    columns = {
        t: [r[1] for r in store.db.execute(f"PRAGMA table_info([{t}])")] for t in ("arrivals", "searches", "candidates")
    }
    for copy in range(1, times + 1):
        with store.transaction():
            suffix = f"-{copy}"
            keep = [c for c in columns["arrivals"] if c not in ("id", "source_key", "ver", "tag")]
            store.db.execute(
                f"INSERT INTO arrivals (id, {', '.join(keep)}) SELECT id || ?, {', '.join(keep)} FROM arrivals "
                "WHERE id NOT LIKE '%-%-%'",
                [suffix],
            )
            offset = store.db.execute("SELECT max(id) FROM searches").fetchone()[0]
            keep = [c for c in columns["searches"] if c not in ("id", "arrival_id", "ver", "tag")]
            store.db.execute(
                f"INSERT INTO searches (id, arrival_id, {', '.join(keep)}) SELECT id + ?, arrival_id || ?, "
                f"{', '.join(keep)} FROM searches WHERE arrival_id NOT LIKE '%-%-%'",
                [offset, suffix],
            )
            keep = [c for c in columns["candidates"] if c not in ("id", "search_id", "arrival_id", "ver", "tag")]
            store.db.execute(
                f"INSERT INTO candidates (search_id, arrival_id, {', '.join(keep)}) SELECT search_id + ?, "
                f"arrival_id || ?, {', '.join(keep)} FROM candidates WHERE arrival_id NOT LIKE '%-%-%'",
                [offset, suffix],
            )
            store.audit("bench-copy", OFFICER, records=[f"copy:{copy}"])


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="triage-integrity-"))
    try:
        on_home = new_home(root / "on", "Dover")
        with tagging_off():
            off_home = new_home(root / "off", "Dover")
        pipeline = matchers.pipeline_for(on_home)
        pool = batch_day.analysed_photos(pipeline)
        print(f"{len(pool)} analysed ORL photos; matcher {on_home.config.matcher}", flush=True)

        on_times: list[float] = []
        off_times: list[float] = []
        for r in range(ROUNDS):
            on_times += per_call(lambda i: capture_one(on_home, pool, i), r * PER_ROUND, PER_ROUND)
            with tagging_off():
                off_times += per_call(lambda i: capture_one(off_home, pool, i), r * PER_ROUND, PER_ROUND)
        compare("capture (store, search, audit)", on_times, off_times)
        faces_ms = statistics.median(
            _timed(
                lambda n=n: batch_day.analysis.analyse(
                    batch_day.samples.load_photo({"orl": [1 + n % 40, 2]}),
                    "probe",
                    override_reason="fixture photos are 92x112 px",
                    pipeline=pipeline,
                )
            )
            for n in range(40)
        )
        on_ms, off_ms = statistics.median(on_times), statistics.median(off_times)
        print(
            f"{'capture with its face pipeline':<34} tags on {(faces_ms + on_ms) * 1e3:8.1f} ms, off "
            f"{(faces_ms + off_ms) * 1e3:8.1f} ms: {((faces_ms + on_ms) / (faces_ms + off_ms) - 1) * 100:+5.1f}% "
            f"(the pipeline's median, {faces_ms * 1e3:.1f} ms, added to each)",
            flush=True,
        )

        ids_on = [r[0] for r in on_home.db.execute("SELECT id FROM arrivals ORDER BY rowid LIMIT 100")]
        ids_off = [r[0] for r in off_home.db.execute("SELECT id FROM arrivals ORDER BY rowid LIMIT 100")]
        on_times, off_times = [], []
        for r in range(ROUNDS):
            part = slice(r * 20, r * 20 + 20)
            on_times += [_timed(lambda a=a: arrivals.search_again(on_home, a, officer=OFFICER)) for a in ids_on[part]]
            with tagging_off():
                off_times += [
                    _timed(lambda a=a: arrivals.search_again(off_home, a, officer=OFFICER)) for a in ids_off[part]
                ]
        compare("match (1:N search, stored)", on_times, off_times)
        off_home.close()

        print(f"landing up to {COUNT} arrivals for the batch ...", flush=True)
        for i in range(ROUNDS * PER_ROUND, COUNT):
            capture_one(on_home, pool, i)
        sup = new_home(root / "sup", "Dover HQ")
        keys.add_recipient(on_home, "Supervisor", keys.own(sup, officer=OFFICER).recipient, officer=OFFICER)
        keys.trust(
            sup, "Laptop", keys.encode_signing_key(keys.own(on_home, officer=OFFICER).signing_public), officer=OFFICER
        )
        sup.close()
        day = on_home.get("arrivals", ids_on[0])["landed_day"]
        batch.export_day(on_home, day, root / "day-t.age", officer=OFFICER, with_templates=True)
        on_times, off_times = [], []
        on_cpu: list[float] = []
        off_cpu: list[float] = []
        for r in range(IMPORT_ROUNDS):
            for mode in ("on", "off"):
                home = root / f"sup-{mode}-{r}"
                shutil.copytree(root / "sup", home)
                context = tagging_off() if mode == "off" else contextlib.nullcontext()
                with context:
                    store = Store.open(home, PASSPHRASE)
                    cpu = time.process_time()
                    seconds = _timed(lambda s=store: merge.import_files(s, [root / "day-t.age"], officer=OFFICER))
                    cpu = time.process_time() - cpu
                    store.close()
                (on_times if mode == "on" else off_times).append(seconds)
                (on_cpu if mode == "on" else off_cpu).append(cpu)
                shutil.rmtree(home)
        compare(f"import of {COUNT} arrivals (templates)", on_times, off_times, unit=1, name="s")
        compare("  the same, processor time", on_cpu, off_cpu, unit=1, name="s")

        copy_arrivals(on_home, 9)
        held = on_home.count("arrivals")
        rows = sum(on_home.count(t) for t in tags.tagged_tables(on_home.db))
        verify = [_timed(lambda: (audit.verify(on_home.db, on_home.vault), on_home.verify_rows())) for _ in range(3)]
        problems = on_home.verify_rows()
        print(
            f"audit verify of {held:,} arrivals ({rows:,} tagged rows): median {statistics.median(verify):.2f} s "
            f"(chain and every row; {len(problems)} problems)",
            flush=True,
        )
        checks = [
            _timed(
                lambda: (
                    on_home.check_tables(*batch.EXPORTED_FROM),
                    on_home.check_tables(*batch.EXPORTED_BY_KEY, every_row=False),
                )
            )
            for _ in range(3)
        ]
        unlock = [_timed(lambda: Store.open(on_home.home, PASSPHRASE).close()) for _ in range(3)]
        print(
            f"the same home: export's checks of whole tables median {statistics.median(checks):.2f} s; "
            f"unlocking it (the key, then every table's digest) median {statistics.median(unlock):.2f} s",
            flush=True,
        )
        on_home.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
