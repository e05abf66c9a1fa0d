"""core.evaluation and core.eval_report, and the ``eval`` / ``calibrate`` / ``detectors show`` CLI.

A small test detector measures a real property of the pixels (mean brightness); the manifest's
"fake" images are brighter on average, with overlap, so every metric has a known direction.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import eval_report, evaluation
from core.cli import main
from core.config import MediaLimits
from core.detector import REGISTRY, Evidence, MediaInput
from core.errors import BadInputError
from core.media import probe
from core.sound import decode_audio
from core.store import sha256_file
from tests.test_detector import make_spec

BRIGHT = make_spec("visual.brightness")


class Brightness:
    spec = BRIGHT

    def analyze(self, media: MediaInput) -> Evidence:
        frame = next(iter(media.frames(max_frames=1)))
        raw = float(frame.rgb.mean() / 255.0)
        return Evidence.from_llr(BRIGHT, raw_score=raw, llr=0.0)


DIM = make_spec("visual.dim")


class DimOnly(Brightness):
    """Brightness, but out of its domain on the brightest pictures (as a face detector on none)."""

    spec = DIM

    def analyze(self, media: MediaInput) -> Evidence:
        raw = Brightness().analyze(media).raw_score
        reason = "too bright" if raw > 0.6 else None
        return Evidence.from_llr(DIM, raw_score=raw, llr=0.0, out_of_domain=reason)


@pytest.fixture
def brightness_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    factories = dict(REGISTRY._factories)
    factories[BRIGHT.name] = (BRIGHT, Brightness)
    factories[DIM.name] = (DIM, DimOnly)
    monkeypatch.setattr(REGISTRY, "_factories", factories)


@pytest.fixture(scope="module")
def image_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("set")
    rng = np.random.default_rng(5)
    lines = ["file,label,kind,category,notes"]
    for i in range(24):
        label = "fake" if i % 2 else "real"
        level = rng.normal(150 if label == "fake" else 105, 25)
        pixels = np.clip(rng.normal(level, 10, (32, 32, 3)), 0, 255).astype(np.uint8)
        name = f"img/{label}_{i}.png"
        (root / "img").mkdir(exist_ok=True)
        Image.fromarray(pixels).save(root / name)
        lines.append(f"{name},{label},image,{'gan' if i < 12 else 'face'},")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest, root


HEADER = "file,label,kind,category\n"


def test_manifest_problems_are_named(tmp_path: Path, image_set) -> None:
    manifest, root = image_set
    rows, digest = evaluation.read_manifest(manifest, root)
    assert len(rows) == 24 and len(digest) == 64
    cases = {
        "file,label,kind\nx,real,image\n": "missing column",
        "file,label,kind,category\nimg/real_0.png,maybe,image,c\n": "line 2: label",
        "file,label,kind,category\nimg/real_0.png,real,text,c\n": "kind must be",
        "file,label,kind,category\n../../etc/passwd,real,image,c\n": "outside the root",
        "file,label,kind,category\nimg/none.png,real,image,c\n": "not found",
        "file,label,kind,category\n": "no rows",
        HEADER + "img/" + "a" * 300 + ".png,real,image,c\n": "line 2: .* file name too long",
        HEADER + "img,real,image,c\n": "line 2: .* is a directory",
        HEADER + '"img/real_0.png,real,image,c\nimg/real_1.png,fake,image,c\n': (
            "line 2: no label, kind, category field \\(a quote that is never closed"
        ),
        HEADER + "img/real_0.png,real,image,c\nimg/../img/real_0.png,fake,image,c\n": (
            "line 3: 'img/../img/real_0.png' is already listed on line 2"
        ),
        HEADER + "img/real_0.png\x00.txt,real,image,c\n": "line 2: the file name holds a NUL",
        HEADER + "img/real_0.png,real,image," + "c" * 200_000 + "\n": "line 2: unreadable CSV",
        "file,label,kind," + "c" * 200_000 + "\n": "line 1: unreadable CSV",
    }
    for text, words in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(BadInputError, match=words):
            evaluation.read_manifest(bad, root)


def test_eval_measures_resumes_and_reports(
    home: Path, capsys, tmp_path: Path, image_set, brightness_registered
) -> None:
    manifest, root = image_set
    out = tmp_path / "eval"
    args = [
        "eval",
        "--manifest",
        str(manifest),
        "--root",
        str(root),
        "--out",
        str(out),
        "--detectors",
        "visual.brightness",
        "--jobs",
        "1",
    ]
    assert main(args) == 0
    result = json.loads((out / "metrics.json").read_text())
    system = result["groups"]["image"]["systems"]["visual.brightness"]["overall"]
    assert system["n_real"] == system["n_fake"] == 12
    assert system["auc"] > 0.8 and system["eer"] < 0.3
    low, high = system["auc_ci"]  # 12 + 12 files: an interval, not a point
    assert low < system["auc"] <= high <= 1.0 and high - low > 0.05
    assert set(result["groups"]["image"]["systems"]["visual.brightness"]["by_category"]) == {
        "gan",
        "face",
    }
    # uncalibrated (LLR 0 everywhere): nothing is called fake, Cllr is exactly 1 bit
    assert system["cllr"] == pytest.approx(1.0) and system["fnr"] == 1.0
    summary = (out / "summary.md").read_text()
    assert "visual.brightness" in summary and "Clopper-Pearson" in summary
    assert (out / "plots" / "image-curves.png").stat().st_size > 10_000
    lines = (out / "scores.jsonl").read_text().splitlines()
    assert len(lines) == 24
    # per-file scores of one system, keyed for a paired comparison of two runs
    by_file = eval_report.system_scores([json.loads(x) for x in lines], "image", "fused")
    assert len(by_file) == 24 and {label for label, _ in by_file.values()} == {0, 1}
    # resumable: a second run scores nothing again. A crash that tore the last record: that job
    # is scored again, and its new record is not glued onto the torn one
    scores = out / "scores.jsonl"
    data = scores.read_bytes()
    scores.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 40])
    assert main(args) == 0
    again = scores.read_text().splitlines()
    assert len(again) == 24 and all(json.loads(x)["job"] for x in again)
    assert {json.loads(x)["job"] for x in again} == {json.loads(x)["job"] for x in lines}


def test_a_corrected_manifest_is_scored_with_its_own_labels(
    home: Path, capsys, tmp_path: Path, image_set, brightness_registered
) -> None:
    """Resuming reuses scores, never labels: a row relabelled after a first run counts with its
    new label (it was counted with the old one), and a file as --out is exit 2."""
    manifest, root = image_set
    out = tmp_path / "eval"
    args = ["eval", "--root", str(root), "--out", str(out), "-d", "visual.brightness", "-j", "1"]
    assert main([*args, "--manifest", str(manifest)]) == 0
    text = manifest.read_text()
    corrected = tmp_path / "corrected.csv"  # the first real picture was a fake after all
    corrected.write_text(
        text.replace("img/real_0.png,real,image,gan", "img/real_0.png,fake,image,x")
    )
    assert corrected.read_text() != text
    assert main([*args, "--manifest", str(corrected)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    system = result["groups"]["image"]["systems"]["visual.brightness"]["overall"]
    assert (system["n_real"], system["n_fake"]) == (11, 13)
    assert "x" in result["groups"]["image"]["systems"]["visual.brightness"]["by_category"]
    assert len((out / "scores.jsonl").read_text().splitlines()) == 25  # one row scored again
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    capsys.readouterr()
    assert main([*args[:3], "--out", str(blocker), *args[5:], "--manifest", str(manifest)]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and len(err.strip().splitlines()) == 1


def test_calibrate_then_analyses_are_calibrated(
    home: Path, capsys, tmp_path: Path, image_set, brightness_registered
) -> None:
    manifest, root = image_set
    code = main(
        [
            "calibrate",
            "visual.brightness",
            "--manifest",
            str(manifest),
            "--root",
            str(root),
            "--jobs",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "calibrated visual.brightness 0.0.1: platt-" in out
    artifact = home / "calibration" / "visual.brightness-0.0.1-image.json"  # fitted on images
    data = json.loads(artifact.read_text())
    assert data["n_real"] == data["n_fake"] == 12 and data["platt"]["slope"] > 0
    # the bytes it was fitted on, as sha256sum lists them (a manifest alone does not pin them)
    names = sorted(r["file"] for r in csv.DictReader(manifest.open()))
    listing = "".join(
        f"{hashlib.sha256((root / n).read_bytes()).hexdigest()}  {n}\n" for n in names
    )
    assert data["data"]["contents_sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    assert data["data"]["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    # the next evaluation uses the calibration: LLRs now carry information
    eval_out = tmp_path / "eval2"
    assert (
        main(
            [
                "eval",
                "--manifest",
                str(manifest),
                "--root",
                str(root),
                "--out",
                str(eval_out),
                "--detectors",
                "visual.brightness",
                "-j",
                "1",
            ]
        )
        == 0
    )
    result = json.loads((eval_out / "metrics.json").read_text())
    system = result["groups"]["image"]["systems"]["visual.brightness"]["overall"]
    assert system["cllr"] < 1.0
    # and an analysis reports the calibrated p_fake with an interval
    capsys.readouterr()
    assert (
        main(
            ["analyze", str(root / "img/fake_1.png"), "--detectors", "visual.brightness", "--json"]
        )
        == 0
    )
    line = json.loads(capsys.readouterr().out)
    (det,) = line["detectors"]
    assert det["calibrated"] is True and det["calibration_version"] == data["version"]
    assert det["llr_interval"][0] <= det["llr"] <= det["llr_interval"][1]
    assert line["p_fake_interval"] is not None
    assert main(["detectors", "show", "visual.brightness", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["calibration"]["version"] == data["version"]
    assert shown["calibration"]["data"]["contents_sha256"] == data["data"]["contents_sha256"]
    assert main(["detectors", "show", "visual.brightness"]) == 0
    assert f"files scored: sha256 {data['data']['contents_sha256']}" in capsys.readouterr().out
    assert shown["calibrations"]["image"]["path"] == str(artifact)
    # a fusion model over the calibrated detectors, used by the next analysis
    assert (
        main(["calibrate", "--fusion", "--manifest", str(manifest), "--root", str(root), "-j", "1"])
        == 0
    )
    assert "fusion lr-" in capsys.readouterr().out
    assert main(["analyze", str(root / "img/real_0.png"), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["fusion"]["rule"].startswith("lr-fusion-v1:lr-")
    assert main(["calibrate", "--manifest", str(manifest), "--root", str(root)]) == 2


def test_calibrate_carries_a_calibration_to_the_current_version(
    home: Path, capsys, tmp_path: Path, brightness_registered
) -> None:
    from core import calibration

    rng = np.random.default_rng(0)
    raw = np.r_[rng.normal(0, 1, 40), rng.normal(2, 1, 40)]
    labels = np.r_[np.zeros(40, int), np.ones(40, int)]
    older = make_spec("visual.brightness", version="0.0.0")
    data = {"manifest": "m.csv", "manifest_sha256": "0" * 64, "root": "r"}
    source = calibration.save(
        calibration.fit_calibration(older, raw, labels, data=data, method="platt"),
        tmp_path / "old.json",
    )
    args = ["calibrate", "visual.brightness", "--carry-from", str(source)]
    assert main(args) == 2
    assert "--reason" in capsys.readouterr().err
    assert main([*args, "--reason", "scores of every fitted input unchanged"]) == 0
    out = capsys.readouterr().out
    assert "to visual.brightness 0.0.1: platt-" in out
    written = calibration.load(home / "calibration" / "visual.brightness-0.0.1.json")
    assert written.carried_from is not None and written.carried_from.detector_version == "0.0.0"
    assert main(["detectors", "show", "visual.brightness"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "carried from visual.brightness 0.0.0" in shown and "fitted input unchanged" in shown
    assert main(["detectors", "show", "visual.brightness", "--json"]) == 0
    carried = json.loads(capsys.readouterr().out)["calibration"]["carried_from"]
    assert carried["detector_version"] == "0.0.0" and carried["version"].startswith("platt-")
    assert main([*args, "--reason", "x" * 30, "--out", str(tmp_path / "missing" / "c.json")]) == 0
    assert main(["calibrate", "visual.brightness", "--carry-from", str(tmp_path / "no.json"),
                 "--reason", "x" * 30]) == 2  # fmt: skip
    assert "no such calibration file" in capsys.readouterr().err
    assert main([*args, "--reason", "too short"]) == 2
    assert "at least 20 characters" in capsys.readouterr().err
    for name, text in (("torn.json", "{"), ("other.json", '{"a": 1}')):  # bad input: exit 2
        (tmp_path / name).write_text(text)
        bad = ["calibrate", "visual.brightness", "--carry-from", str(tmp_path / name)]
        assert main([*bad, "--reason", "x" * 30]) == 2
        err = capsys.readouterr().err
        assert f"{name}: not a calibration file (" in err and len(err) < 300, err


def test_calibrate_holding_out_categories(
    home: Path, capsys, tmp_path: Path, image_set, brightness_registered
) -> None:
    manifest, root = image_set
    args = ["calibrate", "visual.brightness", "--manifest", str(manifest), "--root", str(root)]
    assert main([*args, "--hold-out-by", "generator"]) == 2
    assert "--hold-out-by takes category" in capsys.readouterr().err
    target = tmp_path / "held.json"
    assert main([*args, "--hold-out-by", "category", "--out", str(target), "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "held out by category: AUC face" in out and "out-of-family Cllr" in out
    data = json.loads(target.read_text())
    assert data["shrinkage"]["families"] == {"face": 6, "gan": 6}
    assert 0.0 <= data["shrinkage"]["slope"] <= 1.0 and data["method"] == "platt"
    assert data["media_kinds"] == ["image"]  # a visual detector: fitted on images, for images
    assert main([*args, "--hold-out-by", "category", "--method", "isotonic"]) == 2
    capsys.readouterr()
    assert main([*args, "--hold-out-by", "category", "-j", "1"]) == 0  # into VERITY_HOME
    capsys.readouterr()
    assert main(["detectors", "show", "visual.brightness"]) == 0
    shown = capsys.readouterr().out
    assert (
        "calibration for image: platt-" in shown
        and "held out by category (face, gan; real sources face, gan)" in shown
    )


def test_calibration_leaves_out_evidence_out_of_its_domain(
    home: Path, capsys, tmp_path: Path, image_set, brightness_registered
) -> None:
    manifest, root = image_set
    target = tmp_path / "dim.json"
    args = ["calibrate", "visual.dim", "--manifest", str(manifest), "--root", str(root)]
    assert main([*args, "--out", str(target), "-j", "1"]) == 0
    data = json.loads(target.read_text())
    scores = home / "calibration" / "work" / "visual.dim-0.0.1" / "scores.jsonl"
    records = [json.loads(line) for line in scores.read_text().splitlines()]
    in_domain = [r for r in records if not r["detectors"]["visual.dim"]["out_of_domain"]]
    assert 0 < len(in_domain) < len(records) == 24
    assert data["n_real"] + data["n_fake"] == len(in_domain)


def test_bad_file_in_manifest_is_recorded_not_fatal(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "broken.jpg").write_bytes(b"not an image")
    Image.new("RGB", (16, 16)).save(root / "ok.png")
    manifest = root / "m.csv"
    manifest.write_text("file,label,kind,category\nbroken.jpg,fake,image,x\nok.png,real,image,x\n")
    rows, _ = evaluation.read_manifest(manifest, root)
    config = evaluation.EvalConfig(
        None, True, str(tmp_path / "w"), str(home), MediaLimits().model_dump(), {}
    )
    records = evaluation.score_manifest(rows, config, tmp_path / "w" / "s.jsonl", jobs=1)
    assert [r["status"] for r in records] == ["error", "ok"]
    assert "broken.jpg" in records[0]["error"] or "not a video" in records[0]["error"]


def test_same_content_under_two_labels_is_refused_before_scoring(
    tmp_path: Path, home: Path
) -> None:
    """A copy of a real file listed as fake would be scored twice and credit either answer."""
    root = tmp_path / "root"
    root.mkdir()
    Image.new("RGB", (16, 16), (40, 90, 10)).save(root / "a.png")
    (root / "copy.png").write_bytes((root / "a.png").read_bytes())
    manifest = root / "m.csv"
    manifest.write_text("file,label,kind,category\na.png,real,image,x\ncopy.png,fake,image,x\n")
    rows, _ = evaluation.read_manifest(manifest, root)
    config = evaluation.EvalConfig(
        None, True, str(tmp_path / "w"), str(home), MediaLimits().model_dump(), {}
    )
    scores = tmp_path / "w" / "s.jsonl"
    with pytest.raises(BadInputError, match=r"'copy.png' \(fake\) has the same content"):
        evaluation.score_manifest(rows, config, scores, jobs=1)
    assert not scores.exists()  # refused before anything was scored or written


def test_normalize_audio_is_16k_mono_mp3(tmp_path: Path, clip: Path) -> None:
    target = evaluation.normalize_audio(clip, tmp_path / "n.mp3")
    info = probe(target, MediaLimits())
    assert info.container == "mp3" and info.audio is not None
    assert info.audio.sample_rate == 16_000 and info.audio.channels == 1
    assert decode_audio(target).shape[1] == pytest.approx(32_000, rel=0.1)


def test_detectors_show_prints_the_card(home: Path, capsys) -> None:
    assert main(["detectors", "show", "visual.metadata"]) == 0
    out = capsys.readouterr().out
    assert "visual.metadata" in out and "calibration: none" in out


@pytest.fixture(scope="module")
def picture_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Pictures large enough for visual.spectrum's tiles: smooth (real) and up-sampled (fake)."""
    root = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(11)
    lines = ["file,label,kind,category"]
    for i in range(6):
        label = "fake" if i % 2 else "real"
        small = rng.integers(0, 255, (96 if label == "fake" else 192,) * 2 + (3,), dtype=np.uint8)
        picture = Image.fromarray(small).resize((192, 192), Image.NEAREST)
        picture.save(root / f"{label}_{i}.png")
        lines.append(f"{label}_{i}.png,{label},image,c")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root / "manifest.csv", root


def test_eval_with_candidate_weights(
    home: Path, capsys, tmp_path: Path, picture_set: tuple[Path, Path]
) -> None:
    """--weights NAME=DIR scores with a trained-but-not-shipped folder; its scores are keyed by
    the candidate's hash (never mixed with the shipped ones) and a broken folder is refused."""
    import shutil

    from modalities.visual import spectrum

    manifest, root = picture_set
    candidate = tmp_path / "candidate"
    shutil.copytree(spectrum.WEIGHTS_DIR, candidate)
    base = ["eval", "--manifest", str(manifest), "--root", str(root), "-j", "1"]
    base += ["--detectors", "visual.spectrum"]
    assert main([*base, "--out", str(tmp_path / "shipped")]) == 0
    assert (
        main([*base, "--out", str(tmp_path / "cand"), "--weights", f"visual.spectrum={candidate}"])
        == 0
    )

    def scores(out: Path) -> dict[str, float]:
        records = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
        return {r["file"]: r["detectors"]["visual.spectrum"]["raw"] for r in records}

    shipped, cand = scores(tmp_path / "shipped"), scores(tmp_path / "cand")
    assert shipped == cand and all(isinstance(v, float) for v in cand.values())
    sha = json.loads((candidate / "weights.json").read_text())["sha256"]
    signature = json.loads((tmp_path / "cand" / "metrics.json").read_text())["info"]["signature"]
    assert f"visual.spectrum={spectrum.VERSION}/weights-{sha[:12]}" in signature
    capsys.readouterr()

    broken = tmp_path / "broken"
    shutil.copytree(spectrum.WEIGHTS_DIR, broken)
    weights_file = broken / json.loads((broken / "weights.json").read_text())["file"]
    weights_file.write_bytes(weights_file.read_bytes() + b"\0")
    cases = {
        f"visual.spectrum={broken}": "refusing to use them",
        f"visual.spectrum={tmp_path / 'none'}": "not a directory",
        "visual.spectrum": "expected NAME=DIR",
        f"visual.hf={candidate}": "ships no weights",
        f"visual.blend={candidate}": "not among --detectors",
    }
    for pair, words in cases.items():
        out = tmp_path / "never"
        named = ["--detectors", f"{pair.partition('=')[0]}"] if "hf" in pair else []
        assert main([*base, *named, "--out", str(out), "--weights", pair]) == 2, pair
        err = capsys.readouterr().err
        assert words in err and err.strip().count("\n") == 0, (pair, err)
        assert not out.exists()


def test_the_contents_digest_changes_with_the_bytes_not_the_manifest(image_set) -> None:
    """A lab set made again lists the same names with other bytes: the manifest's SHA-256 stays,
    the contents digest does not (what a calibration records to say what it was fitted on)."""
    manifest, root = image_set
    rows, manifest_sha = evaluation.read_manifest(manifest, root)

    def hashed(rows: list[evaluation.ManifestRow]) -> list[dict[str, str]]:
        """Records as score_row writes them: the file's name and its bytes' SHA-256."""
        return [{"file": r.file, "sha256": sha256_file(Path(r.path))} for r in rows]

    before = evaluation.contents_sha256(hashed(rows))
    assert evaluation.contents_sha256(hashed(list(reversed(rows)))) == before  # order: no matter
    target = root / rows[0].file
    original = target.read_bytes()
    try:
        target.write_bytes(original + b"\0")
        again, same_manifest = evaluation.read_manifest(manifest, root)
        assert same_manifest == manifest_sha and evaluation.contents_sha256(hashed(again)) != before
    finally:
        target.write_bytes(original)


def test_calibrate_refuses_an_out_it_cannot_write_before_scoring(
    home: Path, capsys, tmp_path: Path, image_set, brightness_registered
) -> None:
    manifest, root = image_set
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    data = ["--manifest", str(manifest), "--root", str(root), "-j", "1"]
    carry = ["--carry-from", str(a_file), "--reason", "scores of every fitted input unchanged"]
    for out, words in ((folder, "is a folder, not a file"), (a_file / "c.json", "not a folder")):
        for args in (
            ["visual.brightness", *data],
            ["--fusion", *data],
            ["visual.brightness", *carry],
        ):
            capsys.readouterr()
            assert main(["calibrate", *args, "--out", str(out)]) == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and "internal error" not in err, err
            assert f"--out {out}: " in err and words in err
    assert not (home / "calibration").exists()  # refused before any scoring
    assert a_file.read_text() == "x" and list(folder.iterdir()) == []


def test_a_symlink_loop_in_the_manifest_is_named(tmp_path: Path, home: Path, capsys) -> None:
    """`Path.resolve()` raised RuntimeError for a loop: an internal error, exit 1."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "l2").symlink_to("l1")
    (root / "l1").symlink_to("l2")
    manifest = tmp_path / "m.csv"
    manifest.write_text(HEADER + "l1,real,image,a\n")
    with pytest.raises(BadInputError, match=r"m\.csv line 2: l1: too many levels of symbolic"):
        evaluation.read_manifest(manifest, root)
    out = tmp_path / "out"
    args = ["eval", "--manifest", str(manifest), "--root", str(root), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "symbolic links" in err, err
    assert not out.exists()


def test_an_out_that_cannot_be_written_is_refused_before_hashing(
    tmp_path: Path, home: Path, capsys, image_set, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder under a file, one /proc will not make, one /sys will not write a file into: all
    were internal errors (exit 1) after every file was hashed. Tests run as root, where
    os.access says yes to all of them: only trying tells."""
    manifest, root = image_set

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} hashed before --out was checked")

    monkeypatch.setattr("core.store.sha256_file", no_hashing)
    a_file = tmp_path / "outfile"
    a_file.write_text("x")
    outs = {a_file / "sub": "not a folder"}
    if Path("/proc/self").is_dir():
        outs[Path("/proc/verity-out")] = "cannot be created"
    if Path("/sys/kernel").is_dir():
        outs[Path("/sys/kernel")] = "cannot be written into"
    for out, words in outs.items():
        args = ["eval", "--manifest", str(manifest), "--root", str(root), "--out", str(out)]
        assert main([*args, "-j", "1"]) == 2, out
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "internal error" not in err, err
        assert f"--out {out}: " in err and words in err, err
    assert a_file.read_text() == "x"
    # a new folder is checked by making it, and not left behind
    new = tmp_path / "new" / "deeper"
    from core.outputs import writable_folder_problem

    assert writable_folder_problem(new) is None and not (tmp_path / "new").exists()


def test_a_file_of_another_kind_than_its_row_is_refused(
    tmp_path: Path, home: Path, capsys, tone: Path
) -> None:
    """An audio file listed as an image was scored in the image group, without the codec
    normalisation that every audio file gets: exit 0 with a mixed-up measurement."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "speech.wav").write_bytes(tone.read_bytes())
    Image.new("RGB", (64, 64), (40, 90, 10)).save(root / "a.png")
    out = tmp_path / "out"
    for row, words in (
        ("speech.wav,real,image,a", "m.csv line 3: speech.wav is audio, not image"),
        ("a.png,real,video,a", "m.csv line 3: a.png is image, not video"),
    ):
        manifest = tmp_path / "m.csv"
        other = "a.png,fake,image,a" if row.startswith("speech") else "speech.wav,fake,audio,a"
        manifest.write_text(HEADER + other + "\n" + row + "\n")
        with pytest.raises(BadInputError, match=re.escape(words)):
            evaluation.read_manifest(manifest, root, limits=MediaLimits())
        evaluation.read_manifest(manifest, root)  # the CSV alone is well formed
        args = ["eval", "--manifest", str(manifest), "--root", str(root), "--out", str(out)]
        assert main([*args, "-j", "1"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and words in err, err
        assert not out.exists()
