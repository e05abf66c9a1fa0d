"""Training and card inputs that cannot work are refused in one line (exit 2), nothing written.

Too few groups for a grouped k-fold cross-validation, a manifest without the columns recipes read,
and an eval run's metrics.json that is not one: each used to end as an internal error (exit 1).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from core import cards
from core.cli import main
from core.detector import REGISTRY
from core.errors import BadInputError
from modalities.audio.training.data import LabeledAudio, check_folds

SR = 16_000


def _folder(root: Path, header: str, rows: list[str]) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("real.wav", "fake.wav"):
        soundfile.write(root / name, rng.normal(0, 0.1, SR).astype(np.float32), SR)
    (root / "manifest.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return root


def _one_error_line(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "internal error" not in lines[0]
    for word in words:
        assert word in lines[0]
    return lines[0]


@pytest.mark.parametrize("detector", ["audio.lfcc_gmm", "audio.cnn", "audio.artifacts"])
def test_one_real_and_one_fake_file_are_too_few_groups_to_cross_validate(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], detector: str
) -> None:
    tiny = _folder(
        tmp_path / "tiny",
        "file,label,kind,identity,generator",
        ["real.wav,real,audio,a,", "fake.wav,fake,audio,,g1"],
    )
    out = tmp_path / "out"
    assert main(["train", detector, "--data", str(tiny), "--out", str(out), "-j", "1"]) == 2
    _one_error_line(
        capsys, "tiny", "-fold cross-validation", "at least 2 groups each", "got 1 real file"
    )
    assert not out.exists()


def _items(spec: dict[str, tuple[int, int]]) -> list[LabeledAudio]:
    items = []
    for group, (n_real, n_fake) in spec.items():
        items += [LabeledAudio(Path(f"{group}r{i}"), 0, group, "", "d") for i in range(n_real)]
        items += [LabeledAudio(Path(f"{group}f{i}"), 1, group, "", "d") for i in range(n_fake)]
    return items


def test_a_fold_that_would_train_without_one_class_is_refused() -> None:
    # two real groups, but GroupKFold puts both into the held-out part of the second fold
    items = _items({"g0": (1, 0), "g1": (1, 0), "g2": (0, 1), "g3": (0, 3)})
    with pytest.raises(BadInputError, match=r"fold 2 .* every real group \(g0, g1\)"):
        check_folds(items, 2)
    with pytest.raises(BadInputError, match="got 3 real files in 1 group and 2 fake files"):
        check_folds(_items({"a": (3, 0), "b": (0, 1), "c": (0, 1)}), 5)
    mixed = _items({f"g{g}": (2, 2) for g in range(5)})  # every group holds both classes
    assert check_folds(mixed, 3).get_n_splits() == 3
    odd = _items({"a\nb": (1, 0), "c": (1, 0), "d": (0, 1), "e": (0, 3)})
    with pytest.raises(BadInputError, match=r"group \(a\\nb, c\)") as refused:
        check_folds(odd, 2)
    assert "\n" not in str(refused.value)


def test_a_training_manifest_without_a_file_column_is_bad_input(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _folder(
        tmp_path / "nofile", "name,label,kind", ["real.wav,real,audio", "fake.wav,fake,audio"]
    )
    out = tmp_path / "out"
    assert main(["train", "audio.lfcc_gmm", "--data", str(data), "--out", str(out)]) == 2
    line = _one_error_line(capsys, "no 'file' column")
    assert str(data / "manifest.csv") in line
    assert not out.exists()


SPEC = REGISTRY.spec("visual.metadata")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"groups": {', "not JSON"),
        (b"{}", "'groups' is missing"),
        (b"[1]", "the file is list"),
        (b'{"groups": []}', "'groups' is list"),
        (b'{"groups": {"image": {"systems": {"visual.metadata": 3}}}}', "visual.metadata is int"),
        (
            b'{"groups": {"image": {"systems": {"visual.metadata": {"overall": {}, '
            b'"by_category": {"c": null}}}}}}',
            "category 'c' is missing",
        ),
        (b"\xff\xfe{}", "not JSON"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_a_corrupt_eval_metrics_file_leaves_the_card_alone(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    words: str,
) -> None:
    shipped = cards.card_path(SPEC)
    shipped_digest = hashlib.sha256(shipped.read_bytes()).hexdigest()
    card = tmp_path / "card" / "card.json"  # a copy: no test writes into modalities/
    card.parent.mkdir()
    shutil.copy(shipped, card)
    before = card.read_bytes()
    monkeypatch.setattr(cards, "card_path", lambda spec: card)
    run = tmp_path / "eval"
    run.mkdir()
    (run / "metrics.json").write_bytes(content)
    assert main(["detectors", "card", SPEC.name, "--from-eval", str(run)]) == 2
    line = _one_error_line(capsys, "not a verity eval metrics file", words)
    assert f"error: {run / 'metrics.json'}: not a verity eval metrics file (" in line
    assert card.read_bytes() == before
    assert sorted(p.name for p in card.parent.iterdir()) == ["card.json"]  # no temp file left
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == shipped_digest
    assert json.loads(before)["detector"] == SPEC.name


def _cut_off_audio(root: Path) -> Path:
    """12 files cut to 300 bytes (a 44-byte header and 6 ms of sound): 6 real files of 2
    speakers, 6 fakes of 2 generators, as `head -c 300` leaves a download that broke off."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ["file,kind,label,generator,identity"]
    for i in range(6):
        for kind in ("real", "fake"):
            name = f"{kind}{i}.wav"
            soundfile.write(root / name, rng.normal(0, 0.1, 128).astype(np.float32), 22_050,
                            subtype="PCM_16")  # fmt: skip
            group = f",spk{i % 2}" if kind == "real" else f"gen{i % 2},"
            lines.append(f"{name},audio,{kind},{group}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert (root / "real0.wav").stat().st_size == 300
    return root


@pytest.mark.parametrize("detector", ["audio.lfcc_gmm", "audio.artifacts", "audio.cnn"])
def test_audio_without_usable_speech_is_refused_naming_the_folder(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], detector: str
) -> None:
    data = _cut_off_audio(tmp_path / "cutoff")
    out = tmp_path / "out"
    assert main(["train", detector, "--data", str(data), "--out", str(out), "-j", "1"]) == 2
    _one_error_line(capsys, "training data (cutoff)", "12 files held none: too short")
    assert not out.exists()


def test_too_few_lfcc_frames_for_the_mixtures_are_bad_input() -> None:
    from modalities.audio.training import lfcc_gmm as recipe

    feats = [np.zeros((3, 60), np.float32), np.ones((30, 60), np.float32)]
    with pytest.raises(BadInputError, match="real training files of a fold give 3 LFCC frames"):
        recipe._fit_pair(feats, np.array([0, 1]), 8, 0)


def _pictures(root: Path, rows: list[str], *, size: int = 176) -> Path:
    from PIL import Image

    (root / "faces" / "a").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "faces" / "a" / f"{i}.png")
    (root / "faces" / "a" / "text.png").write_text("not a picture")
    (root / "manifest.csv").write_text("\n".join(["file,kind,label", *rows]) + "\n")
    return root


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("faces/a/gone.png,image,real", "missing file 'faces/a/gone.png'"),
        ("../../../../etc/passwd,image,real", "points outside the data folder"),
        ("/etc/hostname,image,real", "points outside the data folder"),
    ],
)
@pytest.mark.parametrize("detector", ["visual.spectrum", "visual.blend"])
def test_picture_rows_naming_missing_or_outside_files_are_refused(
    tmp_path: Path, detector: str, row: str, words: str
) -> None:
    from modalities.visual.training import blend, spectrum

    data = _pictures(tmp_path / "photos", ["faces/a/0.png,image,real", row])
    with pytest.raises(BadInputError, match=words):
        spectrum.collect([data], 0) if detector == "visual.spectrum" else blend.collect([data])
    if detector == "visual.blend":
        data.joinpath("manifest.csv").write_text(f"file,kind,label\n{row.replace('real', 'fake')}")
        with pytest.raises(BadInputError, match=words):
            blend.collect_fakes([data])


@pytest.mark.parametrize("detector", ["visual.spectrum", "visual.blend"])
def test_a_text_file_named_png_is_one_error_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], detector: str
) -> None:
    data = _pictures(tmp_path / "photos", ["faces/a/0.png,image,real", "faces/a/text.png,image,"])
    out = tmp_path / "out"
    assert main(["train", detector, "--data", str(data), "--out", str(out), "-j", "1"]) == 2
    _one_error_line(capsys, "text.png: not a readable picture")
    assert not out.exists()


def test_pictures_too_small_for_the_spectrum_are_one_error_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _pictures(tmp_path / "tiny", ["faces/a/0.png,image,real", "faces/a/1.png,image,real"],
                     size=4)  # fmt: skip
    out = tmp_path / "out"
    assert (
        main(["train", "visual.spectrum", "--data", str(data), "--out", str(out), "-j", "1"]) == 2
    )
    _one_error_line(capsys, "no usable real images", "tiny", "128-px tile")
    assert not out.exists()
