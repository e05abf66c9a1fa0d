"""audio.cnn: copy-synthesis pseudo-fakes, a tiny network trained for real, windows and figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from core.errors import DetectorError
from core.store import sha256_file
from modalities.audio import cnn, cnn_net
from modalities.audio.synthesis import copy_synthesis
from modalities.audio.training import cnn as recipe
from tests.modalities.test_audio_frontend import SR, voiced
from tests.modalities.test_audio_lfcc_gmm import media, write_corpus


@pytest.mark.parametrize("method", sorted(copy_synthesis.METHODS))
def test_copy_synthesis_keeps_length_and_loudness_but_changes_the_signal(method: str) -> None:
    wave = voiced(2.0, seed=3)
    out = copy_synthesis.METHODS[method](wave, 0)
    assert out.shape == wave.shape and out.dtype == np.float32
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    assert float(np.sqrt(np.mean(out.astype(np.float64) ** 2))) == pytest.approx(rms, rel=0.05)
    assert np.corrcoef(wave, out)[0, 1] < 0.99


def test_log_mel_is_channel_normalised_and_cropped() -> None:
    wave = voiced(4.0, seed=1)
    feats = cnn_net.log_mel(wave)
    louder = cnn_net.log_mel(wave * 4)  # a fixed gain is a channel colouring: removed
    assert feats.shape[0] == cnn_net.N_MELS and float(np.median(np.abs(feats - louder))) < 0.02
    windows, spans = cnn_net.crops(feats)
    assert windows.shape[1:] == (cnn_net.N_MELS, cnn_net.CROP)
    assert spans[0][0] == 0 and spans[-1][1] == feats.shape[1]
    short, short_spans = cnn_net.crops(feats[:, :50])
    assert short.shape == (1, cnn_net.N_MELS, cnn_net.CROP) and short_spans == [(0, 50)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("cnn")
    corpus = write_corpus(base / "fakes", n=6)
    reals = write_corpus(base / "reals", n=6, with_labels=False)
    out = base / "weights"
    # default pseudo-fakes: the shipped recipe's copy synthesis (no TTS engine needed)
    validation = recipe.train([corpus, reals], out, folds=2, epochs=3, width=4, jobs=1)
    return out, validation


def test_recipe_adds_pseudo_fakes_and_writes_everything(trained) -> None:
    out, validation = trained
    assert validation["n_real"] == 12 and validation["n_fake"] == 12  # 6 labelled + 6 pseudo
    assert {g for g in validation["groups"] if g.startswith("pseudo:")} == {
        f"pseudo:{m}" for m in copy_synthesis.METHODS
    }
    assert "real_generators" in validation
    descriptor = json.loads((out / "weights.json").read_text())
    assert descriptor["sha256"] == sha256_file(out / cnn.WEIGHTS_FILE)
    assert descriptor["recipe"]["width"] == 4
    assert descriptor["recipe"]["pseudo_fakes"] == sorted(copy_synthesis.METHODS)
    assert json.loads((out / "calibration.json").read_text())["detector"] == "audio.cnn"


def test_detector_loads_what_the_recipe_wrote(trained, tmp_path: Path) -> None:
    out, _ = trained
    detector = cnn.AudioCnnDetector(weights_dir=out)
    path = tmp_path / "speech.wav"
    soundfile.write(path, voiced(7.0, seed=11), SR)
    evidence = detector.analyze(media(path))
    assert evidence.detector == "audio.cnn" and np.isfinite(evidence.raw_score)
    assert len(evidence.series) == 4  # 3 s windows, hop 1.5 s, last flush with the end
    assert [a.kind for a in evidence.artifacts] == ["spectrogram"]
    silence = tmp_path / "silence.wav"
    soundfile.write(silence, np.zeros(SR * 2, np.float32), SR)
    quiet = detector.analyze(media(silence))
    assert quiet.out_of_domain == "less than 1 s of speech"
    speech = next(f for f in quiet.findings if f.code == "speech_seconds")
    assert speech.value == 0.0 and speech.message == "0.0 s of speech in 2.0 s"  # not "found"


def test_an_input_attack_reaches_the_double_precision_network(trained, tmp_path: Path) -> None:
    """`verity eval --attack pgd` perturbs the windows in single precision; the detector's
    network runs in double (1.1.1), so the attack's input is cast on the way in."""
    from core.attacks import PGD

    out, _ = trained
    detector = cnn.AudioCnnDetector(weights_dir=out)
    assert next(detector.network.parameters()).dtype == torch.float64
    path = tmp_path / "speech.wav"
    soundfile.write(path, voiced(4.0, seed=5), SR)
    clean = detector.analyze(media(path)).raw_score
    detector.adversary = PGD(eps=0.5, steps=3)
    attacked = detector.analyze(media(path)).raw_score
    assert np.isfinite(attacked) and attacked < clean


def test_tampered_weights_are_refused(trained, tmp_path: Path) -> None:
    out, _ = trained
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("weights.json", cnn.WEIGHTS_FILE):
        (bad / name).write_bytes((out / name).read_bytes())
    data = bytearray((bad / cnn.WEIGHTS_FILE).read_bytes())
    data[-8] ^= 0xFF
    (bad / cnn.WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(DetectorError, match="refusing"):
        cnn.AudioCnnDetector(weights_dir=bad)
