"""The regional hub at 20,000 arrivals: the rate at which verified batches load (sealing, vector columns, name
blinds and the cross-site search of every new arrival, each batch one transaction), then the time of one
cross-site search through the HNSW index and its recall@10 against exact search.

Run: uv run python benchmarks/hub_search.py [--arrivals 20000] [--batch 1000] [--dir /tmp/hub-bench]

The batches are built in memory as `open_batch` returns them (already decrypted and verified: what is measured
is the hub's own work) and loaded by `triage.hub.imports.load`. Templates are synthetic: 128-dimension unit
vectors, half the arrivals landing twice (a second template near the first), on an embedded PostgreSQL started
in --dir and stopped at the end. The hub searches with the dlib matcher.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

# Measured on the two-core machine (2026-12, PostgreSQL 18.4, pgvector 0.8.5, embedded server), 20,000 arrivals
# in batches of 1,000: loaded in 167 s (median 137 arrivals/s a batch, search of each new arrival included; the
# first batch 291/s); every one of the 10,000 people landing twice found as a repeat-arrival candidate. One
# search: ef_search 100, median 2.9 ms and recall@10 0.927; ef_search 400 (the hub's), median 6.6 ms, p95 8.2 ms,
# recall@10 0.998. Uniform random templates are the hardest case for the index: real ones cluster.
PASSPHRASE = "benchmark passphrase for the hub"
OFFICER = "PC 1 Bench"
PROBES = 200
SITES = ("Dover", "Folkestone", "Deal", "Ramsgate")


def _batches(n: int, size: int, model_id: str, rng: np.random.Generator):
    from triage.exchange.batch import LANDING, Batch

    people = rng.standard_normal((n // 2 + 1, 128)).astype(np.float32)
    people /= np.linalg.norm(people, axis=1, keepdims=True)
    vectors = np.empty((n, 128), np.float32)
    for i in range(n):
        v = people[i // 2] + (rng.standard_normal(128).astype(np.float32) * 0.02 if i % 2 else 0)
        vectors[i] = v / np.linalg.norm(v)
    letters = np.array(list("BDFGHJKLMNPRSTVZ")), np.array(list("AEIOU"))
    names = [  # made-up names of three syllables, so that few people share one
        "".join(f"{letters[0][rng.integers(16)]}{letters[1][rng.integers(5)]}" for _ in range(3)).title()
        for _ in range(n + 2)
    ]
    order = rng.permutation(n)  # the two landings of a person are in different batches, at different sites
    for start in range(0, n, size):
        device = f"B{start // size:05d}"
        records, templates = [], {}
        for j, i in enumerate(order[start : start + size]):
            key = f"{device}:A-{j:06d}"
            day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
            person = i // 2
            records.append(
                {
                    "key": key,
                    "id": f"A-{j:06d}",
                    "site": SITES[(start // size) % len(SITES)],
                    "landed_day": day,
                    "landed_at": f"{day}T05:00:00+00:00",
                    "details": {
                        "surname": names[person],
                        "given_names": names[-1 - person],
                        "dob": f"{1960 + person % 45}",
                    },
                    "searches": [],
                    "portrait": None,
                }
            )
            templates[key] = {model_id: vectors[i]}
        manifest = {"day": "2026-01-01", "site": None, "training": False, "exported_at": None, "exported_by": None}
        yield (
            Batch(
                Path(f"{device}.age"),
                hashlib.sha256(device.encode()).hexdigest(),
                {**manifest, "device": device},
                "Bench laptop",
                records,
                {k: [] for k in LANDING},
                [],
                [],
                {},
                templates,
            ),
            vectors,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrivals", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    import psycopg

    from triage.faces.encoders import DLIB
    from triage.hub import hub, imports, schema, search, server

    root = args.dir or Path(tempfile.mkdtemp(prefix="hub-bench-"))
    shutil.rmtree(root / "hub", ignore_errors=True)
    shutil.rmtree(root / "pg", ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    with server.embedded(root) as pg:
        server.ensure_database(pg.get_uri(), "hub_bench")
        with psycopg.connect(pg.get_uri(), autocommit=True) as c:  # a fresh database each run
            c.execute("DROP DATABASE hub_bench")
            c.execute("CREATE DATABASE hub_bench")
        url = pg.get_uri("hub_bench")
        hub.init(root / "hub", PASSPHRASE, officer=OFFICER, db=url, name="Bench hub", force_code="HUB", matcher="dlib")
        rng = np.random.default_rng(7)
        with hub.opened(root / "hub", PASSPHRASE, OFFICER, db=url) as h:
            rates, all_vectors = [], None
            t_all = time.perf_counter()
            for b, vectors in _batches(args.arrivals, args.batch, DLIB, rng):
                all_vectors = vectors
                t = time.perf_counter()
                imports.load(h, b)
                rates.append(len(b.arrivals) / (time.perf_counter() - t))
            total = time.perf_counter() - t_all
            found = h.conn.execute("SELECT count(*) FROM candidates WHERE kind = 'arrival'").fetchone()[0]
            print(f"loaded {args.arrivals:,} arrivals in {len(rates)} batches of {args.batch:,}: {total:.1f} s")
            print(
                f"  arrivals/s per batch: first {rates[0]:.0f}, median {statistics.median(rates):.0f}, "
                f"last {rates[-1]:.0f}"
            )
            print(f"  repeat-arrival candidates found: {found:,} (people landing twice: {args.arrivals // 2:,})")

            assert all_vectors is not None
            ids = np.array([r[0] for r in h.conn.execute("SELECT arrival FROM templates ORDER BY arrival")])
            col = next(iter(schema.columns(h.conn).values()))
            stored = np.array(
                [
                    np.array(v.strip("[]").split(","), dtype=np.float32)
                    for (v,) in h.conn.execute(f"SELECT {col}::text FROM templates ORDER BY arrival")
                ]
            )
            probes = rng.choice(len(ids), PROBES, replace=False)
            for ef in (100, search.EF_SEARCH):
                search.EF_SEARCH = ef
                times, recalls = [], []
                for p in probes:
                    query = stored[p] @ h.rotation(DLIB, 128)  # back to the template the laptop sent
                    with h.conn.transaction():
                        t = time.perf_counter()
                        near = search.nearest(h, int(ids[p]), {DLIB: query}, 10)
                        times.append((time.perf_counter() - t) * 1000)
                    d = np.linalg.norm(stored - stored[p], axis=1)
                    d[p] = np.inf
                    exact = set(ids[np.argsort(d)[:10]].tolist())
                    recalls.append(len(exact & set(near)) / 10)
                print(
                    f"cross-site search of one arrival (top 10, HNSW ef_search {ef}, iterative scan): median "
                    f"{statistics.median(times):.1f} ms, p95 {sorted(times)[int(0.95 * len(times))]:.1f} ms over "
                    f"{PROBES} probes; recall@10 against exact search {statistics.mean(recalls):.3f}"
                )
    print("embedded server stopped")


if __name__ == "__main__":
    main()
