"""The lab's image-to-image translator: it learns to re-draw pictures (loss falls), keeps a
picture's size whatever its shape, refuses foreign model files and huge pictures, and its
re-drawn pictures come out of ``verity lab make-fakes --methods translate`` labelled."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.cli import main
from core.config import MediaLimits
from core.credentials import read_credentials
from core.errors import BadInputError
from core.media import probe
from modalities.visual.synthesis import translator
from provenance.lab_credentials import is_lab_output

TINY = translator.TranslatorConfig(width=4, blocks=1)


def _scene(size: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth colour field with a few edges: texture a network can learn to reproduce."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    base = np.stack([np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in rng.uniform(0, 3, 3)], -1)
    base[(xx > rng.uniform(0.2, 0.8))] += 0.6
    return np.clip((base + 1.5) * 80, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, translator.TrainResult]:
    torch.set_num_threads(1)
    pictures = [_scene((120, 140), seed) for seed in range(4)]
    path = tmp_path_factory.mktemp("translator") / "tr.pt"
    return path, translator.train(pictures, path, config=TINY, steps=60, batch=2, seed=0)


def test_training_lowers_the_loss_and_writes_a_loadable_model(model_file) -> None:
    path, result = model_file
    assert result.steps == 60 and result.loss < 0.8 * result.first_loss
    model = translator.load_model(path)
    assert model.net.config == TINY and model.facts["steps"] == 60
    assert model.facts["pictures"] == 4 and len(model.sha256) == 64
    assert not list(path.parent.glob(".*part"))


@pytest.mark.parametrize("size", [(97, 131), (128, 128), (5, 9)])
def test_translation_keeps_the_size_and_redraws_the_picture(model_file, size) -> None:
    model = translator.load_model(model_file[0])
    picture = _scene(size, seed=9)
    out = translator.translate(model, picture)
    assert out.shape == picture.shape and out.dtype == np.uint8
    assert not np.array_equal(out, picture)
    assert np.array_equal(out, translator.translate(model, picture))  # deterministic


def test_bad_pictures_and_budgets_are_refused(model_file, tmp_path: Path) -> None:
    model = translator.load_model(model_file[0])
    with pytest.raises(BadInputError, match="RGB pictures only"):
        translator.translate(model, np.zeros((32, 32), np.uint8))
    with pytest.raises(BadInputError, match="at most 2048"):
        translator.translate(model, np.zeros((8, 2049, 3), np.uint8))
    with pytest.raises(BadInputError, match="at least 96"):
        translator.train([np.zeros((50, 400, 3), np.uint8)], tmp_path / "x.pt", steps=1)
    with pytest.raises(BadInputError, match="--minutes or --steps"):
        translator.train([_scene((100, 100), 0)], tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(ValueError, match="width >= 4"):
        translator.Translator(translator.TranslatorConfig(width=2))


def test_foreign_or_missing_model_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such translator model"):
        translator.load_model(tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(BadInputError, match="not a verity lab translator model"):
        translator.load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "verity-lab-vocoder/1"}, other)
    with pytest.raises(BadInputError, match="not a verity lab translator model"):
        translator.load_model(other)


def _picture_folder(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(_scene((110, 150), 20 + i)).save(folder / f"scene{i}.png")
    return folder


def test_cli_trains_and_the_lab_redraws_with_it(home: Path, capsys, tmp_path: Path) -> None:
    reals = _picture_folder(tmp_path / "reals")
    model = tmp_path / "cli-tr.pt"
    args = ["lab", "translator", "train", "--data", str(reals), "-o", str(model)]
    assert main([*args, "--steps", "2", "--batch", "2"]) == 0, capsys.readouterr().err
    assert "3 real pictures: 2 steps" in capsys.readouterr().out
    assert main(args) == 2 and "--minutes or --steps" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = ["lab", "translator", "train", "--data", str(empty), "-o", str(tmp_path / "no.pt")]
    assert main([*bad, "--steps", "1"]) == 2 and "no real pictures" in capsys.readouterr().err
    assert not (tmp_path / "no.pt").exists()

    # -o naming someone's file (or another generator's model) is refused before training and
    # the file kept; the earlier translator model is replaced
    first = model.read_bytes()
    for name, content in [("notes.txt", b"case notes\n"), ("report.pdf", b"%PDF-1.7\n")]:
        (tmp_path / name).write_bytes(content)
        taken = ["lab", "translator", "train", "--data", str(reals), "-o", str(tmp_path / name)]
        assert main([*taken, "--steps", "1", "--batch", "2"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "already exists and is not a lab model" in err, err
        assert (tmp_path / name).read_bytes() == content
    vocoder_model = tmp_path / "vocoder.pt"
    torch.save({"format": "verity-lab-vocoder/1"}, vocoder_model)
    before = vocoder_model.read_bytes()
    taken = ["lab", "translator", "train", "--data", str(reals), "-o", str(vocoder_model)]
    assert main([*taken, "--steps", "1", "--batch", "2"]) == 2
    assert "another lab model (verity-lab-vocoder/1)" in capsys.readouterr().err
    assert vocoder_model.read_bytes() == before
    assert main([*args, "--steps", "1", "--batch", "2", "--seed", "1"]) == 0
    assert "1 steps" in capsys.readouterr().out and model.read_bytes() != first

    out = tmp_path / "lab"
    make = ["lab", "make-fakes", "--data", str(reals), "--out", str(out), "--methods", "translate"]
    assert main(make) == 2 and "needs --translator-model" in capsys.readouterr().err
    assert not out.exists()
    assert main([*make, "--translator-model", str(model)]) == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    fakes = [r for r in rows if r["label"] == "fake"]
    assert len(fakes) == 3 and {r["category"] for r in fakes} == {"lab_translate"}
    assert all(r["generator"] == "verity-lab:translate:lab" for r in fakes)
    for row in fakes:
        path = out / row["file"]
        credentials = read_credentials(path, probe(path, MediaLimits()))
        assert credentials.state == "Valid" and is_lab_output(credentials.manifest_store)
        with Image.open(path) as image:
            assert image.size == (150, 110)
