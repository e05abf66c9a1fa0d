"""TTS pseudo-fakes: the Debian engines really speak, and their absence is one clear error.

The engine tests need the programs (``.ci/run`` installs them); where they are missing they skip.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import BadInputError
from modalities.audio import cnn_net, frontend
from modalities.audio.synthesis import tts_engines
from modalities.audio.training import cnn as recipe
from modalities.audio.training import pseudo
from tests.modalities.test_audio_lfcc_gmm import write_corpus


@pytest.mark.parametrize("name", sorted(tts_engines.ENGINES))
def test_engine_speaks_the_words_at_16_khz(name: str) -> None:
    if shutil.which(tts_engines.ENGINES[name].program) is None:
        pytest.skip(f"{tts_engines.ENGINES[name].program} not installed")
    rng = np.random.default_rng(0)
    words = tts_engines.text(rng)
    wave = tts_engines.synthesise(name, words, rng)
    seconds = len(wave) / tts_engines.SAMPLE_RATE
    assert wave.dtype == np.float32 and 2.0 < seconds < 30.0  # two or three sentences of speech
    assert float(np.abs(wave).max()) == pytest.approx(0.7, abs=1e-3)
    assert frontend.speech_mask(wave).mean() > 0.3  # mostly speech, not silence
    assert tts_engines.version(name) not in ("", "unknown")


def test_same_seed_same_words_and_voice_settings(tmp_path: Path) -> None:
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert tts_engines.text(a) == tts_engines.text(b)
    out = tmp_path / "x.wav"
    for name, engine in tts_engines.ENGINES.items():
        first = engine.command("hello", out, np.random.default_rng(9))
        assert first == engine.command("hello", out, np.random.default_rng(9)), name


def test_missing_engine_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda program: None)
    packages = r"apt-get install espeak-ng festival festvox-kallpc16k"
    with pytest.raises(BadInputError, match=packages):
        tts_engines.require(["espeak_ng", "festival_diphone"])
    with pytest.raises(BadInputError, match="not installed"):
        pseudo.check(["griffin_lim", "flite"])
    assert pseudo.check(["griffin_lim"]) == ["griffin_lim"]  # copy synthesis needs nothing
    with pytest.raises(BadInputError, match="unknown"):
        pseudo.check(["wavenet"])
    with pytest.raises(BadInputError, match="unknown"):
        pseudo.check([])


def test_plan_gives_each_engine_its_own_held_out_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda program: f"/usr/bin/{program}")
    reals = write_corpus(tmp_path / "reals", n=6, with_labels=False)
    jobs, _ = recipe.plan([reals], seed=0, methods=["espeak_ng", "flite", "griffin_lim"])
    groups = sorted(j.item.group for j in jobs if j.item.label == 1)
    assert groups == ["pseudo:espeak_ng"] * 2 + ["pseudo:flite"] * 2 + ["pseudo:griffin_lim"] * 2
    assert {j.method for j in jobs if j.item.label == 0} == {None}


def test_tts_pseudo_fake_features_are_machine_speech(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    reals = write_corpus(tmp_path / "reals", n=1, with_labels=False)
    jobs, _ = recipe.plan([reals], seed=0, methods=["espeak_ng"])
    fake = next(j for j in jobs if j.item.label == 1)
    real = next(j for j in jobs if j.item.label == 0)
    fake_feats, real_feats = recipe.features(fake), recipe.features(real)
    assert fake_feats.shape[0] == cnn_net.N_MELS
    assert fake_feats.shape[1] <= recipe.MAX_SECONDS * 100 + 1  # cut to the analysis length
    assert not np.array_equal(fake_feats[:, :50], real_feats[:, :50])  # not the real recording


def test_train_cli_checks_pseudo_options_before_any_work(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from core.cli import main

    reals = write_corpus(tmp_path / "reals", n=2, with_labels=False)
    out = tmp_path / "w"
    for args, words in (
        (["audio.artifacts", "--pseudo", "flite"], "--pseudo is for audio.cnn and audio.lfcc_gmm"),
        (["audio.cnn", "--pseudo", "wavenet"], "unknown wavenet"),
        (["audio.cnn", "--pseudo", "neural_vocoder"], "needs --vocoder-model"),
        (["visual.blend", "--vocoder-model", str(out)], "--vocoder-model is for audio.cnn"),
        (["audio.lfcc_gmm", "--pseudo", "neural_vocoder", "--vocoder-model", str(out / "no.pt")],
         "no such vocoder model file"),
    ):  # fmt: skip
        assert main(["train", *args, "--data", str(reals), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert words in err and err.strip().count("\n") == 0, err
    assert not out.exists()
