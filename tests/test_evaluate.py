"""`triage evaluate` on the real ORL faces: its figures against an independent numpy computation on the
same encodings, the sealed template cache, failures to acquire, the DET plot, calibration and the
per-group report. ORL is encoded once per session (through the process pool) into a home's cache;
each test works on a copy of that home."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from conftest import OFFICER, PASSPHRASE, orl
from triage.errors import BadInput, ExitStatus
from triage.evaluation import datasets, metrics
from triage.evaluation.cache import (
    CACHE_FILE,
    CACHE_FORMAT,
    Encoded,
    Matcher,
    TemplateCache,
    encode,
    euclidean,
    matchers,
)
from triage.faces import matching
from triage.store.config import Config
from triage.store.rows import Store

REPO = Path(__file__).resolve().parent.parent
GROUPS = REPO / "fixtures" / "orl_groups.csv"
MODEL_ID = "dlib-resnet-v1+5pt"


@pytest.fixture(scope="session")
def orl_session(tmp_path_factory, face_models):
    """A home whose sealed cache holds a template (or a failure) for every ORL photo, and those encodings."""
    path = tmp_path_factory.mktemp("orl-eval") / "home"
    store = Store.create(path, PASSPHRASE, Config(site="Eval site", force_code="TST", officer=OFFICER, matcher="dlib"))
    cache = TemplateCache(path / CACHE_FILE, store._need_vault())
    encoded, stats = encode(datasets.fixture("orl"), matchers(["dlib"]), cache, workers=2)
    store.close()
    assert stats["encoded"] == 400
    return path, encoded[0]


def test_a_matcher_named_in_another_case_is_that_matcher_once():
    """`--matcher DLIB` was refused as unknown where `triage models use DLIB` takes it."""
    assert [m.name for m in matchers(["DLIB", "dlib", "Fused"])] == ["dlib", "fused"]


def test_a_supplied_model_s_file_replaced_under_its_id_is_cached_apart(tmp_path):
    """The cache knew templates by model id alone: a supplied model's file replaced under the same id had the
    templates of the file before reused, and a calibration made from them."""
    from test_encoders import _flip_byte, _model_folder

    from triage.faces.encoders import files

    ids = []
    for n in range(2):
        folder = _model_folder(tmp_path / f"home-{n}" / "models")
        if n:
            _flip_byte(folder / "model.onnx")
            manifest = json.loads((folder / "manifest.json").read_text())
            (folder / "manifest.json").write_text(
                json.dumps(manifest | {"sha256": files.sha256_of(folder / "model.onnx")})
            )
        ids.append(matchers(["mine"], tmp_path / f"home-{n}")[0].cache_id)
    assert ids[0] != ids[1] and all(i.startswith("sface-as-user@") for i in ids), ids


@pytest.fixture
def eval_home(orl_session, triage_env) -> Path:
    shutil.copytree(orl_session[0], triage_env)
    return triage_env


# -- an independent computation, written from the definitions in ISO/IEC 19795-1 and NIST FRTE ----------


def pairwise(vectors: np.ndarray) -> np.ndarray:
    v = vectors.astype(np.float64)
    return np.sqrt(((v[:, None, :] - v[None, :, :]) ** 2).sum(axis=2))


def genuine_impostor(vectors, identities):
    d = pairwise(vectors)
    i, j = np.triu_indices(len(identities), k=1)
    same = np.array([identities[a] == identities[b] for a, b in zip(i, j)])
    return d[i, j][same], d[i, j][~same]


def operating_points(gen, imp):
    """FMR (impostors strictly below t) and FNMR (genuines at or above t) at every distinct distance and
    just above the largest, counted with cumulative sums over the labelled, sorted distances."""
    values = np.concatenate([gen, imp])
    is_imp = np.concatenate([np.zeros(len(gen)), np.ones(len(imp))])
    order = np.argsort(values, kind="mergesort")
    values, is_imp = values[order], is_imp[order]
    imp_below = np.concatenate([[0], np.cumsum(is_imp)])  # impostors among the first k sorted values
    gen_below = np.concatenate([[0], np.cumsum(1 - is_imp)])
    firsts = np.concatenate([[0], np.nonzero(np.diff(values))[0] + 1])  # first index of each distinct value
    thresholds = np.append(values[firsts], values[-1] + 1.0)
    ks = np.append(firsts, len(values))
    return thresholds, imp_below[ks] / len(imp), 1 - gen_below[ks] / len(gen)


def independent_figures(vectors, identities, holdout=0.25, seed=19795, threshold=0.5):
    gen, imp = genuine_impostor(vectors, identities)
    t, fmr, fnmr = operating_points(gen, imp)
    best = np.argmin(np.abs(fmr - fnmr))
    ok = np.nonzero(fmr <= 1e-3)[0]
    at_1e3 = ok[-1]  # the largest threshold whose FMR stays within the target
    # 1:N: identities drawn out with the seeded generator; each other identity's first photo is its gallery entry.
    people = sorted(set(identities))
    held = set(np.random.default_rng(seed).choice(people, size=round(holdout * len(people)), replace=False).tolist())
    gallery, probes = {}, []
    for row, who in enumerate(identities):
        if who in held or who in gallery:
            probes.append(row)
        else:
            gallery[who] = row
    g_ids = list(gallery)
    g_vecs = vectors[[gallery[g] for g in g_ids]].astype(np.float64)
    hits = mated = 0
    nonmated_nearest = []
    for row in probes:
        dists = np.linalg.norm(g_vecs - vectors[row].astype(np.float64), axis=1)
        if identities[row] in held:
            nonmated_nearest.append(dists.min())
        else:
            mated += 1
            hits += g_ids[int(np.argmin(dists))] == identities[row]
    return {
        "eer": (fmr[best] + fnmr[best]) / 2,
        "eer_threshold": t[best],
        "fnmr_1e3": fnmr[at_1e3],
        "threshold_1e3": t[at_1e3],
        "rank1": hits / mated,
        "mated": mated,
        "fmr_op": float((imp < threshold).mean()),
        "fnmr_op": float((gen >= threshold).mean()),
        "genuine": len(gen),
        "impostor": len(imp),
        "nonmated_nearest": np.sort(nonmated_nearest),
    }


def test_figures_agree_with_an_independent_numpy_computation(cli, eval_home, orl_session):
    enc = orl_session[1]
    report = cli.json("evaluate", "--fixture", "orl")
    assert report["cache"] == {
        "photos": 400,
        "from_cache": 400,
        "encoded": 0,
        "cache": str(eval_home / CACHE_FILE),
    }
    m = report["matchers"][0]
    want = independent_figures(enc.vectors, list(enc.identities))
    v, i = m["verification"], m["identification"]
    assert v["genuine"]["count"] == want["genuine"] and v["impostor"]["count"] == want["impostor"]
    assert v["eer"]["rate"] == pytest.approx(want["eer"], abs=1e-12)
    assert v["eer"]["threshold"] == pytest.approx(want["eer_threshold"], abs=1e-6)
    at_1e3 = v["fnmr_at_fmr"][0]
    assert at_1e3["fmr_target"] == 1e-3 and at_1e3["estimable"] is True
    assert at_1e3["fnmr"] == pytest.approx(want["fnmr_1e3"], abs=1e-12)
    assert at_1e3["threshold"] == pytest.approx(want["threshold_1e3"], abs=1e-6)
    assert i["rank1"]["rate"] == pytest.approx(want["rank1"], abs=1e-12) and i["mated_searches"] == want["mated"]
    assert v["operating"]["fmr"]["rate"] == pytest.approx(want["fmr_op"], abs=1e-12)
    assert v["operating"]["fnmr"]["rate"] == pytest.approx(want["fnmr_op"], abs=1e-12)
    # Failures to acquire are counted, never dropped: every photo is either compared or listed.
    a = m["acquisition"]
    assert a["photos"] == 400 and a["acquired"] + a["failed"] == 400 and len(a["failures"]) == a["failed"]
    assert a["acquired"] == len(enc.paths)
    assert report["dataset"]["skipped_files"] == [str(orl(10, 1).parent / "target.jpg")]
    # 1e-4 on about 76,000 impostor pairs allows fewer than 30 errors: said, not hidden.
    assert "low confidence" in v["fnmr_at_fmr"][1]["note"]
    fpir = i["fnir_at_fpir"][0]
    assert fpir["nonmated_searches"] * 0.003 < 1 and fpir["estimable"] is False and "too few" in fpir["note"]


def test_cached_templates_are_what_face_recognition_computes(orl_session):
    import face_recognition

    enc = orl_session[1]
    for s, n in ((1, 1), (22, 3), (35, 4)):
        img = face_recognition.load_image_file(str(orl(s, n)))
        boxes = face_recognition.face_locations(img, number_of_times_to_upsample=2)
        expected = face_recognition.face_encodings(img, known_face_locations=boxes[:1], model="small")[0]
        row = enc.paths.index(str(orl(s, n)))
        np.testing.assert_allclose(enc.vectors[row], expected, atol=1e-6)


def test_cache_is_sealed_and_bound_to_its_home(cli, eval_home, orl_session, tmp_path):
    raw = (eval_home / CACHE_FILE).read_bytes()
    vec = np.ascontiguousarray(orl_session[1].vectors[0], dtype=np.float32).tobytes()
    import base64

    assert vec not in raw and base64.b64encode(vec) not in raw
    assert MODEL_ID.encode() not in raw and CACHE_FORMAT.encode() not in raw
    other = tmp_path / "other"
    cli("init", "--site", "Other", "--force-code", "OTH", "--home", other)
    res = cli(
        "evaluate",
        "--fixture",
        "orl",
        "--home",
        other,
        "--cache",
        eval_home / CACHE_FILE,
        code=ExitStatus.INTEGRITY,
    )
    assert "cannot be opened with this home's key" in res.stderr


def _small_dataset(root: Path) -> Path:
    for who, photos in (("alpha", [(1, 1), (1, 2)]), ("beta", [(2, 1), (2, 2)])):
        (root / who).mkdir(parents=True)
        for s, n in photos:
            shutil.copy(orl(s, n), root / who / f"{n}.pgm")
    from PIL import Image

    Image.new("RGB", (120, 140), (128, 128, 128)).save(root / "beta" / "blank.png")
    (root / "beta" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "alpha" / "notes.txt").write_text("not a photo")
    return root


def test_failures_to_acquire_are_counted_with_reasons(cli, eval_home, tmp_path):
    root = _small_dataset(tmp_path / "ds")
    report = cli.json("evaluate", root)
    a = report["matchers"][0]["acquisition"]
    assert (a["photos"], a["acquired"], a["failed"]) == (6, 4, 2)
    assert a["fta"]["rate"] == pytest.approx(2 / 6) and a["fta"]["errors"] == 2
    reasons = {Path(f["photo"]).name: f["reason"] for f in a["failures"]}
    assert "no face" in reasons["blank.png"] and "broken.jpg" in reasons
    assert report["dataset"]["skipped_files"] == [str(root / "alpha" / "notes.txt")]
    assert report["cache"]["from_cache"] == 4 and report["cache"]["encoded"] == 2
    again = cli.json("evaluate", root)
    assert again["cache"]["encoded"] == 0, "failures are cached as well, so a re-run re-encodes nothing"
    assert again["matchers"][0]["acquisition"]["failed"] == 2


def test_csv_dataset_matches_the_folder_and_bad_csvs_are_refused(cli, eval_home, tmp_path):
    root = _small_dataset(tmp_path / "ds")
    listing = tmp_path / "ds.csv"
    with listing.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["photo", "identity"])
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix != ".txt":
                w.writerow([p.relative_to(tmp_path), p.parent.name])
    from_csv = cli.json("evaluate", "--csv", listing)["matchers"][0]
    from_dir = cli.json("evaluate", root)["matchers"][0]
    assert from_csv["verification"] == from_dir["verification"]
    assert from_csv["acquisition"]["failed"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("photo,identity\nds/alpha/1.pgm,alpha\nds/alpha/missing.pgm,alpha\n")
    assert "missing.pgm" in cli("evaluate", "--csv", bad, code=ExitStatus.BAD_INPUT).stderr
    bad.write_text("file,person\nds/alpha/1.pgm,alpha\n")
    assert "photo and identity" in cli("evaluate", "--csv", bad, code=ExitStatus.BAD_INPUT).stderr


def _numbers(text: str) -> set[str]:
    return {t.replace(",", "") for t in re.findall(r"\d[\d,]*(?:\.\d+)?(?:e-?\d+)?%?", text)}


def test_json_carries_every_figure_in_the_table(cli, eval_home, tmp_path, monkeypatch):
    from triage.cli.common import out
    from triage.cli.evaluate import count, dist, pct

    monkeypatch.setattr(out, "width", 250)  # no cell wraps, so every figure is shown whole
    args = ("evaluate", "--fixture", "orl", "--groups", GROUPS, "--plot", tmp_path / "det.png", "--force")
    table = cli(*args).stdout
    report = cli.json(*args)
    allowed = _numbers(json.dumps(report, ensure_ascii=False))

    def leaves(x):
        if isinstance(x, dict):
            for v in x.values():
                yield from leaves(v)
        elif isinstance(x, list):
            for v in x:
                yield from leaves(v)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            yield x

    for x in leaves(report):
        allowed |= _numbers(" ".join([pct(x), dist(x), f"{x:.2f}"] + ([count(x)] if float(x).is_integer() else [])))
    shown = _numbers(re.sub(r"encoded, [\d.]+ s", "", table))  # run time differs between the two runs
    assert shown, "the table shows figures"
    assert shown <= allowed, f"figures in the table but not in --json: {sorted(shown - allowed)}"
    assert "FLAG" in table
    assert str(tmp_path / "det.png") in table.splitlines(), "the plot written is named on a line of its own"


def test_det_plot_is_a_png_with_labelled_axes(cli, eval_home, tmp_path):
    from PIL import Image

    path = tmp_path / "plots" / "det.png"
    report = cli.json("evaluate", "--fixture", "orl", "--plot", path)
    assert report["plot"] == str(path)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width >= 400 and img.height >= 400
        assert "False match rate (FMR)" in img.info["Description"]
        assert "False non-match rate (FNMR)" in img.info["Description"]
        pixels = np.asarray(img.convert("L"), dtype=float)
    assert pixels.std() > 10, "the plot is drawn, not blank"


def test_calibration_moves_the_threshold_and_capture_uses_it(cli, eval_home, orl_session):
    shipped = resources.files("triage.models") / f"{MODEL_ID}.json"
    before = hashlib.sha256(shipped.read_bytes()).hexdigest()
    loose = cli.json("evaluate", "--fixture", "orl", "--calibrate", "--target-fpir", "0.05")["matchers"][0][
        "calibration"
    ]
    tight = cli.json("evaluate", "--fixture", "orl", "--calibrate", "--target-fpir", "0.01")["matchers"][0][
        "calibration"
    ]
    assert tight["threshold"] < loose["threshold"], "a lower false-alarm target needs a smaller distance"
    # Independently: the threshold keeps at most floor(target x N) non-mated searches below it.
    nearest = independent_figures(orl_session[1].vectors, list(orl_session[1].identities))["nonmated_nearest"]
    for cal, target in ((loose, 0.05), (tight, 0.01)):
        assert cal["threshold"] == math.floor(nearest[math.floor(target * len(nearest))] * 1e4) / 1e4
        assert cal["fpir"] == pytest.approx((nearest < cal["threshold"]).mean()) and cal["fpir"] <= target
    assert tight["previous_threshold"] == loose["threshold"]
    written = json.loads((eval_home / "models" / f"{MODEL_ID}.json").read_text())
    assert written["threshold"] == tight["threshold"] and written["model_id"] == MODEL_ID
    assert "ORL" in written["measured_on"] and written["date"] and written["calibration"]["photos"] == 400
    assert written["calibration"]["nonmated_searches"] == len(nearest) and "triage evaluate" in written["provenance"]
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == before, "the shipped calibration is untouched"
    cap = cli.json("capture", "--photo", orl(3, 4))
    assert cap["threshold"] == tight["threshold"]
    events = (
        Store.open(eval_home, PASSPHRASE)
        .db.execute("SELECT count(*) FROM audit_events WHERE action = 'calibrate'")
        .fetchone()[0]
    )
    assert events == 2


def test_calibration_file_option_writes_elsewhere(cli, eval_home, tmp_path):
    target = tmp_path / "trainer" / f"{MODEL_ID}.json"
    cal = cli.json("evaluate", "--fixture", "orl", "--calibrate", "--calibration-file", target)["matchers"][0][
        "calibration"
    ]
    assert cal["file"] == str(target) and json.loads(target.read_text())["threshold"] == cal["threshold"]
    assert not (eval_home / "models").exists()
    assert cal["estimable"] is False, "100 non-mated searches cannot show an FPIR of 1e-3"
    assert "Caution" in json.loads(target.read_text())["provenance"]
    cli("evaluate", "--fixture", "orl", "--calibration-file", target, code=ExitStatus.USAGE)


def test_a_threshold_the_data_cannot_show_is_not_put_in_force(cli, eval_home):
    # 100 non-mated ORL searches cannot show an FPIR of 1e-3: the home's captures keep the shipped threshold.
    r = cli("evaluate", "--fixture", "orl", "--calibrate", "--target-fpir", "0.001", code=ExitStatus.BAD_INPUT)
    assert "100 non-mated searches cannot show an FPIR as low as 0.001" in r.stderr and "--calibration-file" in r.stderr
    assert not (eval_home / "models").exists()
    assert matching.calibration(MODEL_ID, eval_home).threshold == matching.calibration(MODEL_ID).threshold


def test_calibration_lookup_is_home_first(tmp_path):
    shipped = matching.calibration(MODEL_ID)
    assert matching.calibration(MODEL_ID, tmp_path) == shipped
    path = matching.home_calibration_file(tmp_path, MODEL_ID)
    path.parent.mkdir()
    path.write_text(json.dumps({"model_id": MODEL_ID, "threshold": 0.4213, "provenance": "measured here"}))
    assert matching.calibration(MODEL_ID, tmp_path).threshold == 0.4213
    path.write_text(json.dumps({"model_id": "another-model", "threshold": 0.3}))
    with pytest.raises(BadInput, match="another-model"):
        matching.calibration(MODEL_ID, tmp_path)
    path.write_text("{not json")
    with pytest.raises(BadInput, match="not a valid calibration file"):
        matching.calibration(MODEL_ID, tmp_path)


def wilson(k, n, z=1.959963984540054):
    """Wilson score interval, from its textbook form."""
    p = k / n
    root = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (p + z * z / (2 * n) - root) / (1 + z * z / n), (p + z * z / (2 * n) + root) / (1 + z * z / n)


def test_groups_report_matches_numpy_and_flags_high_false_match_rates(cli, eval_home, orl_session):
    enc = orl_session[1]
    ids = list(enc.identities)
    labels = {}
    with GROUPS.open() as f:
        for row in csv.DictReader(f):
            labels[row["identity"]] = row
    report = cli.json("evaluate", "--fixture", "orl", "--groups", GROUPS)
    fair = report["matchers"][0]["fairness"]
    _, imp_all = genuine_impostor(enc.vectors, ids)
    overall = (imp_all < 0.5).mean()
    assert fair["overall_fmr"] == pytest.approx(overall)
    assert [c["column"] for c in fair["columns"]] == ["sex_as_it_appears", "glasses"]
    for col in fair["columns"]:
        assert sum(g["identities"] for g in col["groups"]) == 40 and not col["unlabelled_identities"]
        assert sum(g["photos"] for g in col["groups"]) == 400
        for g in col["groups"]:
            rows = [r for r, who in enumerate(ids) if labels[who][col["column"]] == g["label"]]
            gen, imp = genuine_impostor(enc.vectors[rows], [ids[r] for r in rows])
            k = int((imp < 0.5).sum())
            assert (g["fmr"]["errors"], g["fmr"]["trials"]) == (k, len(imp))
            assert (g["fnmr"]["errors"], g["fnmr"]["trials"]) == (int((gen >= 0.5).sum()), len(gen))
            if 0 < k < len(imp):
                assert g["fmr"]["ci95"] == pytest.approx(list(wilson(k, len(imp))))
            assert g["flagged"] == (k / len(imp) > 2 * overall)
    assert any(g["flagged"] for c in fair["columns"] for g in c["groups"]), (
        "ORL has a group above twice the overall FMR"
    )


@pytest.mark.parametrize(
    "args, code, message",
    [
        ((), ExitStatus.USAGE, "exactly one of"),
        (("--fixture", "orl", "--csv", "x.csv"), ExitStatus.USAGE, "exactly one of"),
        (("--fixture", "lfw"), ExitStatus.BAD_INPUT, "orl"),
        (("--fixture", "orl", "--holdout", "1.5"), ExitStatus.BAD_INPUT, "--holdout"),
        (("--fixture", "orl", "--matcher", "arcface"), ExitStatus.BAD_INPUT, "--matcher"),
        (("--fixture", "orl", "--calibrate", "--target-fpir", "0"), ExitStatus.BAD_INPUT, "--target-fpir"),
    ],
)
def test_bad_options_name_what_to_fix(cli, eval_home, args, code, message):
    assert message in cli("evaluate", *args, code=code).stderr


def test_bad_datasets_and_groups_are_refused_before_encoding(cli, eval_home, tmp_path):
    (tmp_path / "one" / "alpha").mkdir(parents=True)
    shutil.copy(orl(1, 1), tmp_path / "one" / "alpha" / "1.pgm")
    assert "at least two people" in cli("evaluate", tmp_path / "one", code=ExitStatus.BAD_INPUT).stderr
    groups = tmp_path / "groups.csv"
    groups.write_text("person,sex\ns1,M\n")
    assert "identity" in cli("evaluate", "--fixture", "orl", "--groups", groups, code=ExitStatus.BAD_INPUT).stderr
    groups.write_text("identity,sex\ns1,M\ns1,F\n")
    assert "twice" in cli("evaluate", "--fixture", "orl", "--groups", groups, code=ExitStatus.BAD_INPUT).stderr


def test_photos_in_sub_folders_of_an_identity_are_refused(cli, eval_home, tmp_path):
    for group, who, s in (("F", "p1", 1), ("M", "p2", 2)):
        (tmp_path / "nested" / group / who).mkdir(parents=True)
        shutil.copy(orl(s, 1), tmp_path / "nested" / group / who / "1.pgm")
    r = cli("evaluate", tmp_path / "nested", code=ExitStatus.BAD_INPUT)
    assert "sub-folder of identity 'F'" in r.stderr and "--csv" in r.stderr


def test_a_csv_not_in_utf8_is_refused_with_what_to_do(cli, eval_home, tmp_path):
    root = _small_dataset(tmp_path / "ds")
    listing = tmp_path / "excel.csv"
    listing.write_bytes("photo,identity\nds/alpha/1.pgm,Andr\xe9\nds/beta/1.pgm,beta\n".encode("cp1252"))
    assert "save it as 'CSV UTF-8'" in cli("evaluate", "--csv", listing, code=ExitStatus.BAD_INPUT).stderr
    groups = tmp_path / "groups.csv"
    groups.write_bytes("identity,sex\ns1,F\xe9\n".encode("cp1252"))
    assert "save it as 'CSV UTF-8'" in cli("evaluate", root, "--groups", groups, code=ExitStatus.BAD_INPUT).stderr


def test_a_csv_listing_skips_non_images_as_a_folder_does(cli, eval_home, tmp_path):
    root = _small_dataset(tmp_path / "ds")
    listing = tmp_path / "all.csv"
    listing.write_text(
        "photo,identity\n"
        + "".join(f"{p.relative_to(tmp_path)},{p.parent.name}\n" for p in sorted(root.rglob("*")) if p.is_file())
    )
    from_csv, from_dir = cli.json("evaluate", "--csv", listing), cli.json("evaluate", root)
    assert from_csv["dataset"]["skipped_files"] == [str(root / "alpha" / "notes.txt")]
    assert from_csv["matchers"][0]["acquisition"] == from_dir["matchers"][0]["acquisition"]


def test_det_plot_draws_a_matcher_with_no_errors_and_refuses_other_formats(cli, eval_home, tmp_path):
    from PIL import Image

    # Two people, two photos each: no impostor pair is below any genuine one, so every rate reaches 0.
    root = tmp_path / "clean"
    for who, s in (("a", 1), ("b", 2)):
        (root / who).mkdir(parents=True)
        for n in (1, 2):
            shutil.copy(orl(s, n), root / who / f"{n}.pgm")
    path = tmp_path / "det.png"
    report = cli.json("evaluate", root, "--plot", path)
    v = report["matchers"][0]["verification"]
    assert v["eer"]["rate"] == 0
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB")).astype(int)
    blue = (abs(rgb[..., 0] - 0x1F) < 30) & (abs(rgb[..., 1] - 0x77) < 30) & (abs(rgb[..., 2] - 0xB4) < 30)
    assert blue.sum() > 300, "the matcher's line and its markers are drawn on the axes' edges"
    assert "a .png file" in cli("evaluate", root, "--plot", tmp_path / "det.pdf", code=ExitStatus.BAD_INPUT).stderr
    assert "a .png file" in cli("evaluate", root, "--plot", tmp_path, code=ExitStatus.BAD_INPUT).stderr


def test_no_plot_is_written_when_nothing_was_acquired(cli, eval_home, tmp_path):
    from PIL import Image

    for who in ("a", "b"):
        (tmp_path / "blank" / who).mkdir(parents=True)
        Image.new("RGB", (120, 140), (128, 128, 128)).save(tmp_path / "blank" / who / "1.png")
    r = cli("evaluate", tmp_path / "blank", "--plot", tmp_path / "det.png")
    assert "no DET curve was written" in r.stderr and not (tmp_path / "det.png").exists()


def test_copies_of_a_photo_are_reported_with_the_identities_they_are_under(cli, eval_home, tmp_path):
    root = _small_dataset(tmp_path / "ds")
    shutil.copy(root / "alpha" / "1.pgm", root / "alpha" / "1-again.pgm")
    shutil.copy(root / "alpha" / "1.pgm", root / "beta" / "from-alpha.pgm")
    report = cli.json("evaluate", root)
    [copy] = report["dataset"]["copies"]
    assert sorted(copy["photos"]) == sorted(
        str(p) for p in (root / "alpha" / "1.pgm", root / "alpha" / "1-again.pgm", root / "beta" / "from-alpha.pgm")
    )
    assert copy["identities"] == ["alpha", "beta"]
    impostor = report["matchers"][0]["verification"]["impostor"]
    assert impostor["min"] < 1e-6, "the copy under beta is a false match at distance 0"
    shown = cli("evaluate", root)
    assert "1 photo(s) are in the data set more than once" in shown.stderr.replace("\n", " ")
    assert "1 of them under different identities" in shown.stderr.replace("\n", " ")
    assert cli.json("evaluate", _small_dataset(tmp_path / "clean"))["dataset"]["copies"] == []


def test_the_1_to_n_gallery_photo_does_not_depend_on_the_listing_order():
    """Each gallery identity is enrolled from its first photo by name (2 before 10), so a CSV's row order
    cannot change the 1:N figures. Vectors stand in for templates: this is bookkeeping, not faces."""
    rng = np.random.default_rng(4)
    rows = [
        (who, f"{who}/{n}.jpg") for who in ("ann", "bob", "cy", "dee") for n in (10, 2, "1", "01", "IMG_1", "img_1")
    ]
    vectors = {path: rng.normal(size=8) for _, path in rows}
    matcher = Matcher("test", "test", "euclidean", encode=None, distances=euclidean, load=None, threshold=1.0)

    def searches(order):
        listed = [rows[i] for i in order]
        enc = Encoded(
            matcher,
            len(listed),
            np.array([w for w, _ in listed], dtype=object),
            [p for _, p in listed],
            np.array([vectors[p] for _, p in listed]),
            [],
        )
        s = metrics.Searches.of(enc, holdout=0.25, seed=1)
        return s, sorted((who, None if math.isnan(d) else round(d, 9)) for who, d in zip(s.identities, s.mate_distance))

    forward, a = searches(range(len(rows)))
    _, b = searches(reversed(range(len(rows))))
    assert forward.gallery_size == 3 and len(a) == len(rows) - 3
    assert a == b
