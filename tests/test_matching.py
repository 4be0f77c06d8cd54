"""1:N matching on real ORL faces and the real store: the acceptance rates at the shipped threshold,
expired entries and other models' templates never compared, the per-search threshold recorded, the
gallery kept in step across enrolment, removal and other processes, templates sealed in blocks, the
approximate index against exact search, and the same-vessel flag."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
import sqlite3

import numpy as np
import pytest

from conftest import OFFICER, PASSPHRASE, orl
from triage import workers
from triage.casework import watchlist
from triage.faces import analysis, ann, matching, quantized
from triage.faces import detection as faces
from triage.intake.photos import read_file
from triage.store.blocks import TEMPLATE_BLOCK
from triage.store.rows import Store

ENROLLED = range(1, 21)  # wl_home: WL-001..WL-020 from photo 1
UNENROLLED = range(21, 41)
PROBE_PHOTOS = range(2, 11)


@pytest.fixture(scope="module")
def probes(face_models) -> dict[tuple[int, int], np.ndarray]:
    """dlib templates of ORL photos 2-10 of all 40 people, through the capture pipeline (probe quality
    gate), in one worker process per core. A photo the gate refuses is left out, as a capture would be."""
    jobs = (
        ((s, k), (read_file(orl(s, k)), f"s{s}/{k}", "probe"))
        for s in list(ENROLLED) + list(UNENROLLED)
        for k in PROBE_PHOTOS
    )
    out = {}
    for outcome in workers.run(
        analysis.analyse_bytes, jobs, workers=workers.cores(), timeout=120, initializer=faces.models
    ):
        if outcome.error is None:
            out[outcome.key] = outcome.value.vectors[faces.MODEL_ID]
    return out


@pytest.fixture(scope="module")
def vectors(face_models) -> dict[tuple[int, int], np.ndarray]:
    """dlib templates of the few ORL photos the tests below search with, through the capture pipeline."""
    from triage.intake import samples

    return {
        ref: analysis.analyse(samples.load_photo({"orl": list(ref)}), "probe").vectors[faces.MODEL_ID]
        for ref in ((7, 4), (33, 2), (25, 3), (12, 5))
    }


@pytest.fixture
def store(wl_home):
    s = Store.open(wl_home, PASSPHRASE)
    yield s
    s.close()


def _threshold(store) -> float:
    return matching.calibration(faces.MODEL_ID, store.home).threshold


@pytest.fixture(scope="module")
def acceptance(probes, enrolled_template_home) -> dict:
    """Every probe searched against the 20 enrolled subjects through the core, at the shipped threshold."""
    store = Store.open(enrolled_template_home, PASSPHRASE)
    threshold = _threshold(store)
    gallery = watchlist.gallery(store)
    first, alerts = [], []
    for (s, k), vector in probes.items():
        found = gallery.search(vector, top_k=5, threshold=threshold)
        if s in ENROLLED:
            first.append(found[0].ref == f"WL-{s:03d}")
        else:
            alerts += [(f"s{s}/{k}", c.ref, c.distance) for c in found if c.below_threshold][:1] or [None]
    store.close()
    strangers = len(alerts)
    alerts = [a for a in alerts if a]
    print(
        f"\nenrolled subject first: {sum(first)}/{len(first)} = {sum(first) / len(first):.1%}; unenrolled probes "
        f"with a candidate below {threshold}: {len(alerts)}/{strangers} = {len(alerts) / strangers:.2%} {alerts}; "
        f"photos refused at capture: {2 * 20 * len(PROBE_PHOTOS) - len(probes)}"
    )
    return {"threshold": threshold, "gallery": len(gallery), "first": first, "alerts": alerts, "strangers": strangers}


def test_acceptance_enrolled_subject_is_first(acceptance):
    assert acceptance["threshold"] == 0.5, "the shipped threshold, not one fitted to these photos"
    assert acceptance["gallery"] == 20
    assert len(acceptance["first"]) >= 170, "nearly every ORL photo passes the capture gate"
    assert sum(acceptance["first"]) / len(acceptance["first"]) >= 0.95


@pytest.mark.xfail(
    strict=True,
    reason="measured at the shipped threshold 0.5: 2 of 176 unenrolled probes (1.14%), "
    "both ORL s31 against WL-006 at 0.487 and 0.495; the threshold is not tuned to pass",
)
def test_acceptance_unenrolled_probes_rarely_have_a_candidate_below_threshold(acceptance):
    assert acceptance["strangers"] >= 170
    assert len(acceptance["alerts"]) / acceptance["strangers"] <= 0.01


def test_an_expired_entry_is_never_returned(store, vectors):
    vector = vectors[(7, 4)]
    gallery = watchlist.gallery(store)
    assert gallery.search(vector, top_k=20, threshold=0.5)[0].ref == "WL-007"
    review = store.db["subjects"].get("WL-007")["review_date"]
    # Searching on a day after every review date: nothing is searchable, nothing is returned.
    later = watchlist.gallery(store, today=dt.date.fromisoformat(review) + dt.timedelta(days=1))
    assert len(later) == 0 and later.search(vector, top_k=20, threshold=0.5) == []
    # The review date moved into the past in the store: the same in-memory gallery stops returning it.
    with store.transaction():
        store.db["subjects"].update("WL-007", {"review_date": (dt.date.today() - dt.timedelta(days=1)).isoformat()})
    refs = [c.ref for c in watchlist.gallery(store).search(vector, top_k=20, threshold=4.0)]
    assert "WL-007" not in refs and len(refs) == 19


def test_a_template_of_another_model_is_never_compared(store, vectors):
    vector = vectors[(33, 2)]  # not enrolled
    before = watchlist.gallery(store).search(vector, top_k=5, threshold=0.5)
    with store.transaction():
        store.put_template("subject", "WL-001", None, "another-model-v1", vector)  # an exact copy of the probe
    after = watchlist.gallery(store)
    found = after.search(vector, top_k=5, threshold=0.5)
    assert len(after) == 20
    assert [(c.ref, c.distance) for c in found] == [(c.ref, c.distance) for c in before]
    assert all(c.distance > 0.01 and c.model_id == faces.MODEL_ID for c in found)
    other = matching.Gallery.load(store, "watchlist", "subject", "another-model-v1")
    assert len(other) == 1 and other.search(vector, top_k=1, threshold=0.5)[0].distance < 1e-3


def test_capture_and_review_show_a_subject_s_category_alike(cli, wl_home):
    """Capture wrote `(wanted)` where review and the drafts write `[wanted]`: one subject, two spellings."""
    captured = cli("capture", "--photo", orl(7, 4), "--matcher", "dlib").stdout
    arrival = re.search(r"A-[0-9A-Z]{6}", captured).group(0)
    for shown in (captured, cli("review", arrival).stdout):
        assert "[wanted]" in shown.split() and "(wanted)" not in shown, shown


def test_threshold_override_is_recorded_with_the_search(cli, wl_home):
    cap = cli.json("capture", "--photo", orl(7, 4), "--matcher", "dlib")
    assert cap["threshold"] == 0.5
    again = cli.json("match", cap["arrival_id"], "--threshold", "0.2", "--top", "3", "--matcher", "dlib")
    assert again["threshold"] == 0.2
    assert all(c["threshold"] == 0.2 and c["below_threshold"] == (c["distance"] < 0.2) for c in again["candidates"])
    db = sqlite3.connect(wl_home / "triage.db")
    rows = db.execute(
        "SELECT threshold, top_k, method, gallery_size FROM searches WHERE arrival_id = ? ORDER BY id",
        [cap["arrival_id"]],
    ).fetchall()
    assert rows == [(0.5, 5, "exact", 20), (0.2, 3, "exact", 20)]
    assert {
        r[0]
        for r in db.execute(
            "SELECT threshold FROM candidates WHERE search_id = (SELECT max(id) FROM searches WHERE arrival_id = ?)",
            [cap["arrival_id"]],
        )
    } == {0.2}


def test_gallery_is_loaded_once_and_kept_in_step(store, vectors, monkeypatch):
    from triage.intake import samples

    vector = vectors[(25, 3)]
    gallery = watchlist.gallery(store)
    assert gallery.search(vector, top_k=1, threshold=0.5)[0].ref != "WL-025"
    loads = []
    monkeypatch.setattr(matching.Gallery, "load", classmethod(lambda cls, *a: loads.append(a)))
    review = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    watchlist.add_subject(
        store,
        ref="WL-025",
        name="Subject 25",
        category="wanted",
        reason="Wanted on a warrant",
        authorised_by="DS 1 Test",
        review_date=review,
        photos=[samples.load_photo({"orl": [25, 1]})],
        officer=OFFICER,
        override_reason="fixture photos are 92x112 px",
    )
    assert watchlist.gallery(store) is gallery and len(gallery) == 21
    top = gallery.search(vector, top_k=1, threshold=0.5)[0]
    assert (top.ref, top.below_threshold) == ("WL-025", True)
    # Another process (another Store on the same home) removes it: this gallery sees it at the next search.
    other = Store.open(store.home, PASSPHRASE)
    watchlist.remove_subject(other, "WL-025", reason="warrant executed today", officer=OFFICER)
    other.close()
    assert "WL-025" not in [c.ref for c in watchlist.gallery(store).search(vector, top_k=21, threshold=4.0)]
    assert len(gallery) == 20 and loads == [], "kept in step without loading again"


def test_a_template_deleted_by_triage_leaves_its_block_and_one_deleted_outside_is_refused(store, vectors):
    """A purge deletes templates rows; the commit rewrites their block without them. The same DELETE made with the
    sqlite3 shell marks the block stale through the schema's own trigger, outside triage: the block's tag no longer
    matches, so the next search refuses it rather than quietly leaving a watchlist subject out."""
    from triage.errors import IntegrityFailure

    vector = vectors[(12, 5)]
    gallery = watchlist.gallery(store)
    assert gallery.search(vector, top_k=1, threshold=0.5)[0].ref == "WL-012"
    with store.transaction():
        store.db.execute("DELETE FROM templates WHERE owner_id = 'WL-013'")
    assert store.count("template_blocks", "stale = 1") == 0
    assert "WL-013" not in store.load_templates(faces.MODEL_ID, "subject")[0]
    other = sqlite3.connect(store.home / "triage.db")
    with other:
        other.execute("DELETE FROM templates WHERE owner_id = 'WL-012'")
    other.close()
    with pytest.raises(IntegrityFailure, match="template_blocks row 1 was changed outside triage"):
        watchlist.gallery(store).search(vector, top_k=20, threshold=4.0)
    with pytest.raises(IntegrityFailure, match="was changed outside triage"):
        with store.transaction():
            store.audit("test", OFFICER)
    assert {p.table for p in store.verify_rows()} >= {"templates", "template_blocks"}


@pytest.mark.parametrize("change", ["deleted", "put back", "put back, with a row slipped in to add up"])
def test_a_block_deleted_or_put_back_from_an_older_copy_is_refused(store, tmp_path, change):
    """Each block's tag fixes its contents but not its time: the blocks' digest in the sealed head shows one put
    back whole from an older copy, or gone (the watchlist would otherwise be searched without its subjects).
    What a row adds to the digest is keyed: a row slipped in with the tag that made plain sums of tags add up
    again (the subject's blocks put back from before it was enrolled) leaves the table refused."""
    from triage.errors import IntegrityFailure

    def tags_sum(db) -> int:
        return sum(int.from_bytes(t, "big") for (t,) in db.execute("SELECT tag FROM template_blocks"))

    older = tmp_path / "older.db"
    store.db.execute(f"VACUUM INTO '{older}'")
    rng = np.random.default_rng(3)
    store.put_templates("subject", faces.MODEL_ID, ["WL-099"], rng.normal(size=(1, 128)).astype(np.float32))
    shell = sqlite3.connect(store.home / "triage.db")
    with shell:
        if change == "deleted":
            shell.execute("DELETE FROM template_blocks")
        else:
            before = tags_sum(shell)
            shell.execute("ATTACH ? AS older", [str(older)])
            shell.execute("DELETE FROM template_blocks")
            shell.execute("INSERT INTO template_blocks SELECT * FROM older.template_blocks")
            if change != "put back":
                row = list(shell.execute("SELECT * FROM template_blocks LIMIT 1").fetchone())
                row[0], row[1] = 999999, "zz-none"  # its id and model: read by no search
                row[-2] = ((before - tags_sum(shell)) % (1 << 256)).to_bytes(32, "big")  # the tag
                shell.execute(f"INSERT INTO template_blocks VALUES ({', '.join('?' * len(row))})", row)
                assert tags_sum(shell) % (1 << 256) == before % (1 << 256)
    shell.close()
    refused = "the rows of template_blocks are not the ones last written|template_blocks row 999999 was changed"
    with pytest.raises(IntegrityFailure, match=refused):
        store.load_templates(faces.MODEL_ID, "subject")
    with pytest.raises(IntegrityFailure, match=refused):
        watchlist.gallery(store)


def test_templates_are_sealed_in_blocks_and_loaded_a_block_at_a_time(home):
    store = Store.open(home, PASSPHRASE)
    rng = np.random.default_rng(1)
    vectors = rng.normal(0.1, 0.05, (3000, 128)).astype(np.float32)
    ids = store.put_templates("arrival", faces.MODEL_ID, [f"A-{i:06d}" for i in range(3000)], vectors)
    assert list(ids) == list(range(ids[0], ids[0] + 3000))
    assert store.count("template_blocks") == math.ceil(3000 / TEMPLATE_BLOCK)
    assert store.count("templates", "data IS NOT NULL") == 0, "no template sealed one per row"
    opened = []
    real_open, real_open_into = store.vault.open, store.vault.open_into
    store.vault.open = lambda blob, aad: opened.append(aad) or real_open(blob, aad)
    store.vault.open_into = lambda blob, aad, out: opened.append(aad) or real_open_into(blob, aad, out)
    gallery = matching.Gallery.load(store, "arrival", "arrival", faces.MODEL_ID)
    blocks_opened = [aad for aad in opened if aad.startswith("template_blocks")]
    assert len(gallery) == 3000 and len(blocks_opened) == math.ceil(3000 / TEMPLATE_BLOCK)
    assert np.array_equal(gallery.matrix[:3000], vectors)
    # One more template re-seals the last block only.
    opened.clear()
    with store.transaction():
        store.put_template("arrival", "A-NEW", None, faces.MODEL_ID, vectors[0] + 0.01)
    gallery.refresh(store)
    blocks_opened = [aad for aad in opened if aad.startswith("template_blocks")]
    assert len(gallery) == 3001 and len(blocks_opened) == 2  # opened to append to, then to catch up
    raw = (home / "triage.db").read_bytes()
    assert vectors[5].tobytes()[:32] not in raw and vectors[2999].tobytes()[:32] not in raw
    store.close()


def test_templates_sealed_one_per_row_by_an_older_home_are_moved_into_blocks(home):
    store = Store.open(home, PASSPHRASE)
    vec = np.linspace(-0.2, 0.3, 128, dtype=np.float32)
    with store.transaction():
        tid = store.db.execute(
            "UPDATE sequences SET value = value + 1 WHERE name = 'templates' RETURNING value"
        ).fetchone()[0]
        store.db["templates"].insert(
            {
                "id": tid,
                "owner_kind": "arrival",
                "owner_id": "A-OLD000",
                "model_id": faces.MODEL_ID,
                "dtype": "float32",
                "dim": 128,
                "created_at": "2026-11-01T00:00:00+00:00",
                "data": store.vault.seal(vec.tobytes(), f"templates:{tid}"),
            }
        )
    owners, matrix = store.load_templates(faces.MODEL_ID, "arrival")
    assert owners == ["A-OLD000"] and np.array_equal(matrix[0], vec)
    row = store.db["templates"].get(tid)
    assert row["data"] is None and row["block_id"] is not None
    store.close()


def test_approximate_index_recall_against_exact_and_kept_in_step(home, monkeypatch):
    """Random vectors shaped like dlib templates: the index only proposes, exact distances decide."""
    monkeypatch.setattr(ann, "CUTOVER", 1000)
    store = Store.open(home, PASSPHRASE)
    rng = np.random.default_rng(7)
    centres = rng.normal(0.1, 0.03, (2500, 128)).astype(np.float32)
    vectors = centres + rng.normal(0, 0.02, centres.shape).astype(np.float32)
    store.put_templates("subject", faces.MODEL_ID, [f"WL-{i:05d}" for i in range(2500)], vectors)
    exact = matching.Gallery.load(store, "watchlist", "subject", faces.MODEL_ID)
    assert exact.index is None, "no stored index yet: exact search"
    monkeypatch.setattr(quantized, "MIN_ROWS", 1000)
    assert exact._quantized() is not None, "without an index, a gallery this size is scanned through an int8 copy"
    assert exact.attach_index(store, "build") == 2500
    assert exact._int8 is None and exact._quantized() is None, "beside the index, no int8 copy is kept"
    with store.transaction():
        exact.save_index(store)
    queries = centres[:200] + rng.normal(0, 0.02, (200, 128)).astype(np.float32)
    hits = 0
    for q in queries:
        truth = exact.search(q, top_k=10, threshold=0.5, approximate=False)
        approx = exact.search(q, top_k=10, threshold=0.5, approximate=True)
        hits += len({c.ref for c in truth} & {c.ref for c in approx})
        assert approx[0].distance >= truth[0].distance
    assert hits / 2000 >= 0.95
    # A new process restores the stored index and catches up with templates added and deleted since.
    with store.transaction():
        store.put_template("subject", "WL-LATE", None, faces.MODEL_ID, queries[0])
    store.delete_templates("subject", "WL-00001")
    other = Store.open(home, PASSPHRASE)
    fresh = matching.Gallery.load(other, "watchlist", "subject", faces.MODEL_ID)
    other.close()
    assert fresh.index is not None and len(fresh.index) == 2500
    top = fresh.search(queries[0], top_k=3, threshold=0.5)
    assert top[0].ref == "WL-LATE" and top[0].distance < 1e-3
    assert "WL-00001" not in [c.ref for c in fresh.search(queries[1], top_k=10, threshold=0.5)]
    # Past the drift limit the loading process brings the stored index up to date and stores it again.
    monkeypatch.setattr(ann, "RESTORE_DRIFT", 1)
    matching.Gallery.load(store, "watchlist", "subject", faces.MODEL_ID)
    meta, _ = store.template_index(faces.MODEL_ID, "subject")
    assert (meta["templates"], meta["max_id"]) == (
        2500,
        store.db.execute("SELECT max(id) FROM templates").fetchone()[0],
    )
    store.close()


def _nearest_owners(matrix: np.ndarray, owners: list[str], alive: np.ndarray, q: np.ndarray, k: int) -> list:
    """Top-k owners by their best template, in float64 over every row: what an exact search must return."""
    d = np.sqrt(((matrix.astype(np.float64) - q) ** 2).sum(axis=1))
    d[~alive] = np.inf
    best: dict[str, float] = {}
    for i in np.argsort(d, kind="stable"):
        best.setdefault(owners[i], d[i])
        if len(best) == k:
            break
    return list(best.items())


def test_a_large_gallery_is_scanned_through_its_int8_copy_and_returns_what_a_float_scan_would(home, probes):
    """Real ORL templates among 24,000 others drawn around them: from `quantized.MIN_ROWS` rows the exact
    search scans an int8 copy, and its candidates and distances equal a float64 scan of every row, also
    for rows appended after the copy was made, deleted ones and hidden owners."""
    people = sorted({s for s, _ in probes})
    real = [(f"ORL-{s:02d}", probes[s, k]) for s, k in sorted(probes) if k == 2]
    rng = np.random.default_rng(3)
    base = np.array([v for _, v in real])
    filler = base[rng.integers(len(base), size=24_000)] + rng.normal(0, 0.05, (24_000, 128)).astype(np.float32)
    owners = [o for o, _ in real] + [f"F-{i // 2:05d}" for i in range(len(filler))]
    matrix = np.vstack([base, filler]).astype(np.float32)
    store = Store.open(home, PASSPHRASE)
    store.put_templates("subject", faces.MODEL_ID, owners, matrix)
    gallery = matching.Gallery.load(store, "watchlist", "subject", faces.MODEL_ID)
    assert gallery.n >= quantized.MIN_ROWS and gallery.index is None
    alive = np.ones(len(owners), bool)
    queries = [probes[s, k] for s, k in sorted(probes) if k in (3, 9)] + list(rng.normal(0, 0.09, (20, 128)))

    def check(queries):
        for q in queries:
            q = np.asarray(q, np.float32)
            got = gallery.search(q, top_k=5, threshold=0.5, approximate=False)
            want = _nearest_owners(matrix, owners, alive, q, 5)
            assert [c.ref for c in got] == [o for o, _ in want]
            assert max(abs(c.distance - d) for c, (_, d) in zip(got, want)) < 2e-4

    check(queries)
    copy = gallery._quantized()
    assert copy is not None and copy.rows == len(owners), "the search scanned an int8 copy"
    firsts = [
        gallery.search(probes[s, k], top_k=1, threshold=0.5, approximate=False)[0].ref == f"ORL-{s:02d}"
        for s, k in probes
        if k == 3 and s in people
    ]
    assert sum(firsts) / len(firsts) >= 0.9, "the real faces are still found among the fillers"
    # The bound the search relies on holds: no rough score is further from the float32 score than it says.
    for q in queries:
        rough, bound = copy.scores(np.asarray(q, np.float32))
        assert np.abs(rough - matrix @ np.asarray(q, np.float32)).max() <= bound
    # Rows appended after the copy (scanned in float32), a deleted owner and a hidden one.
    late = np.asarray(queries[0], np.float32) + 0.001
    with store.transaction():
        store.put_template("subject", "LATE", None, faces.MODEL_ID, late)
    store.delete_templates("subject", owners[1])
    gallery.refresh(store)
    matrix, owners = np.vstack([matrix, late[None, :]]), owners + ["LATE"]
    alive = np.array([o != real[1][0] for o in owners])
    assert gallery._quantized() is copy, "a short tail is scanned beside the copy, not copied again"
    assert gallery.search(queries[0], top_k=1, threshold=0.5, approximate=False)[0].ref == "LATE"
    check(queries[:30])
    gallery.hide(frozenset({"LATE", real[2][0]}))
    alive &= ~np.isin(owners, ["LATE", real[2][0]])
    check(queries[:30])
    store.close()


def test_within_returns_every_value_near_the_wanted_nearest():
    rng = np.random.default_rng(5)
    misleading = np.full(50_000, 5.0)  # the sample holds the smallest values and little else is under its cut
    misleading[:: quantized.SAMPLE_STRIDE] = np.arange(len(misleading[:: quantized.SAMPLE_STRIDE]))
    misleading[1] = np.inf
    for values, want, slack in [
        (rng.random(50_000, np.float32), 40, 0.0),
        (rng.random(50_000, np.float32), 640, 1e-3),
        (rng.random(50_000, np.float32), 40, 0.05),
        (np.round(rng.random(50_000), 2), 40, 0.0),
        (rng.random(30), 10, 0.0),
        (misleading, 40, 0.0),
    ]:
        got = quantized.within(values, want, slack)
        kth = np.sort(values)[want - 1]
        assert sorted(got.tolist()) == np.flatnonzero(values <= kth + slack).tolist() and len(got) >= want


def test_the_same_face_twice_on_one_vessel_is_flagged(cli, home):
    first = cli.json("capture", "--photo", orl(35, 3), "--surname", "Hussein", "--vessel", "SB-7")
    second = cli.json("capture", "--photo", orl(35, 7), "--surname", "Abdullah", "--vessel", "SB-7")
    third = cli.json("capture", "--photo", orl(35, 9), "--surname", "Omar", "--vessel", "SB-8")
    top = second["candidates"][0]
    assert (top["ref"], top["below_threshold"], top["same_vessel"]) == (first["arrival_id"], True, True)
    assert top["differences"]["surname_latin"] == {"this": "ABDULLAH", "earlier": "HUSSEIN"}
    assert all(not c["same_vessel"] for c in third["candidates"]), "another vessel: a repeat arrival, not flagged"
    assert {c["ref"] for c in third["candidates"] if c["below_threshold"]} == {
        first["arrival_id"],
        second["arrival_id"],
    }
    shown = cli("review", second["arrival_id"])
    assert "SAME VESSEL" in shown.stdout


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf in the float32 scan
def test_a_template_with_an_infinity_leaves_a_large_gallery_searchable(home):
    """No int8 scale can round an infinity or NaN: a large gallery holding one (a user's model that
    overflowed, even in a row since deleted) is scanned in float32, and the search still answers."""
    rng = np.random.default_rng(11)
    matrix = rng.normal(0, 0.09, (quantized.MIN_ROWS + 500, 128)).astype(np.float32)
    matrix[7, 3], matrix[9, 0] = np.inf, np.nan
    owners = [f"S-{i:05d}" for i in range(len(matrix))]
    store = Store.open(home, PASSPHRASE)
    store.put_templates("subject", faces.MODEL_ID, owners, matrix)
    gallery = matching.Gallery.load(store, "watchlist", "subject", faces.MODEL_ID)
    assert quantized.Quantized(matrix, (matrix * matrix).sum(1)).usable is False
    q = matrix[100] + 0.001
    found = gallery.search(q, top_k=3, threshold=0.5, approximate=False)
    assert gallery._quantized() is None and found[0].ref == "S-00100"
    store.close()


def test_owner_distances_of_many_owners_agree_with_every_row_scanned(tmp_path):
    """The fused matcher asks a gallery for the distance of tens of owners at once. Against a plain scan of
    the stored templates: owners with one photo or several, owners added after the gallery sorted its rows
    (the unsorted tail), a hidden owner (None), an owner it does not hold (None), and a name longer than any
    it holds (None, not a match cut to its width)."""
    from triage.store.config import Config

    rng = np.random.default_rng(3)
    store = Store.create(tmp_path / "h", PASSPHRASE, Config(site="S", force_code="T", officer=OFFICER))
    owners = [f"P{i}" for i in range(40) for _ in range(1 + i % 3)]
    vecs = rng.normal(size=(len(owners), 8)).astype(np.float32)
    store.put_templates("subject", "m", owners, vecs)
    gallery = matching.Gallery.load(store, "watchlist", "subject", "m")
    q = rng.normal(size=8).astype(np.float32)
    gallery.owner_distance("P0", q)  # sorts the rows it holds now
    late = [f"LATE{i}" for i in range(3) for _ in range(2)]
    late_vecs = rng.normal(size=(len(late), 8)).astype(np.float32)
    store.put_templates("subject", "m", late, late_vecs)
    gallery.refresh(store)
    gallery.hide(frozenset({"P5"}))
    every, rows = owners + late, np.vstack([vecs, late_vecs])
    asked = ["P1", "P2", "LATE1", "P5", "P39", "NOBODY", "P10" + "9" * 30, "LATE2", "P0"]
    got = gallery.owner_distances(asked, q)
    for o in asked:
        mine = [np.linalg.norm(rows[i] - q) for i, who in enumerate(every) if who == o]
        expected = None if o == "P5" or not mine else round(float(min(mine)), 4)
        assert got[o] == pytest.approx(expected, abs=2e-4), o
        assert gallery.owner_distance(o, q) == got[o]
    store.close()


def test_a_watchlist_alert_is_kept_when_earlier_arrivals_of_the_face_fill_the_top(cli, wl_home, tmp_path):
    """A person landed before fills --top with arrival candidates nearer than the watchlist photo; the
    subject below the threshold is still a candidate, shown and waiting in the review queue. (The same
    photo saved again under another name: the file itself, landed, is not captured twice.)"""
    cli("capture", "--photo", orl(7, 2), "--matcher", "dlib")
    copy = shutil.copy(orl(7, 2), tmp_path / "IMG_0002.pgm")
    again = cli.json("capture", "--photo", copy, "--matcher", "dlib", "--top", "1")
    kinds = [(c["kind"], c["ref"], c["below_threshold"]) for c in again["candidates"]]
    assert kinds[0][0] == "arrival", kinds
    assert ("watchlist", "WL-007", True) in kinds
    pending = cli.json("review", "--pending")
    assert "WL-007" in json.dumps(pending)
