"""The lab's neural vocoder: it learns (loss falls on real training), renders any speech back at
the same length and loudness, refuses foreign model files, and feeds the lab and the recipes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.errors import BadInputError
from modalities.audio.synthesis import vocoder
from modalities.audio.training import pseudo
from tests.modalities.test_audio_frontend import voiced
from tests.modalities.test_audio_lfcc_gmm import write_corpus

TINY = vocoder.VocoderConfig(channels=16)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, vocoder.TrainResult]:
    torch.set_num_threads(1)
    waves = [voiced(2.0, f0=90 + 20 * i, seed=i) for i in range(4)]
    path = tmp_path_factory.mktemp("vocoder") / "voc.pt"
    result = vocoder.train(waves, path, config=TINY, steps=80, batch=4, seed=0)
    return path, result


def test_training_lowers_the_loss_and_writes_a_loadable_model(model_file) -> None:
    path, result = model_file
    assert result.steps == 80 and result.loss < 0.8 * result.first_loss
    model = vocoder.load_model(path)
    assert model.generator.config == TINY and model.facts["steps"] == 80
    assert len(model.sha256) == 64 and not list(path.parent.glob(".*part"))


def test_resynthesis_keeps_length_and_loudness_and_changes_the_signal(model_file) -> None:
    model = vocoder.load_model(model_file[0])
    wave = voiced(1.3, f0=123, seed=7)
    out = vocoder.resynthesise(model, wave)
    assert out.shape == wave.shape and out.dtype == np.float32
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    assert float(np.sqrt(np.mean(out.astype(np.float64) ** 2))) == pytest.approx(rms, rel=0.05)
    assert abs(np.corrcoef(wave, out)[0, 1]) < 0.99


def test_up_sampling_must_make_one_hop() -> None:
    with pytest.raises(ValueError, match="multiply to 256"):
        vocoder.Generator(vocoder.VocoderConfig(upsample=(8, 8)))


def test_foreign_or_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such vocoder model"):
        vocoder.load_model(tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(BadInputError, match="not a verity lab vocoder model"):
        vocoder.load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(BadInputError, match="not a verity lab vocoder model"):
        vocoder.load_model(other)


def test_recipes_get_neural_vocoder_pseudo_fakes(model_file, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="needs --vocoder-model"):
        pseudo.check(["neural_vocoder"])
    reals = write_corpus(tmp_path / "reals", n=2, with_labels=False)
    jobs, _ = pseudo.plan([reals], 0, ["neural_vocoder"], vocoder_model=model_file[0])
    fakes = [j for j in jobs if j.item.label == 1]
    assert [j.item.group for j in fakes] == ["pseudo:neural_vocoder"] * 2
    sha = vocoder.load_model(model_file[0]).sha256
    assert fakes[0].model is not None and fakes[0].model[1] == sha
    rendered, real = pseudo.wave(fakes[0], 8.0), pseudo.wave(jobs[0], 8.0)
    assert rendered.shape == real.shape and not np.allclose(rendered, real)
    note = pseudo.recipe_note(["neural_vocoder"], model_file[0])
    assert note["vocoder_model"]["sha256"] == fakes[0].model[1]  # type: ignore[index]


def test_cli_trains_and_the_lab_renders_with_it(home: Path, capsys, tmp_path: Path) -> None:
    reals = write_corpus(tmp_path / "reals", n=2, with_labels=False)
    model = tmp_path / "cli-voc.pt"
    args = ["lab", "vocoder", "train", "--data", str(reals), "-o", str(model)]
    assert main([*args, "--steps", "2", "--batch", "2"]) == 0, capsys.readouterr().err
    assert "2 steps" in capsys.readouterr().out and vocoder.load_model(model).facts["steps"] == 2
    assert main(args) == 2  # no budget
    assert "--minutes or --steps" in capsys.readouterr().err
    out = tmp_path / "lab"
    make = ["lab", "make-fakes", "--data", str(reals), "--out", str(out), "--methods", "vocoder"]
    assert main(make) == 2 and "needs --vocoder-model" in capsys.readouterr().err
    assert not out.exists()
    assert main([*make, "--vocoder-model", str(model)]) == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    fakes = [r for r in rows if r["label"] == "fake"]
    assert len(fakes) == 2 and {r["category"] for r in fakes} == {"lab_vocoder"}
    assert all(r["generator"] == "verity-lab:vocoder:lab" for r in fakes)
