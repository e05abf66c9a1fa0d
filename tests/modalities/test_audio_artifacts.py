"""audio.artifacts: named vocoder/codec traces, an additive head trained for real, exact shares."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from core.errors import DetectorError
from core.store import sha256_file
from modalities.audio import frontend, synthesis_traces
from modalities.audio import trace_features as tf
from modalities.audio.training import synthesis_traces as recipe
from tests.modalities.test_audio_frontend import SR, voiced
from tests.modalities.test_audio_lfcc_gmm import band_limited, media, write_corpus


def measure(wave: np.ndarray) -> dict[str, float]:
    found = tf.traces(frontend.normalize_channel(wave))
    assert found is not None
    return found.as_dict()


def test_traces_measure_what_they_name() -> None:
    natural = measure(voiced(3.0, seed=1))
    assert set(natural) == set(tf.NAMES) and all(np.isfinite(list(natural.values())))
    assert measure(band_limited(voiced(3.0, seed=1)))["high_band_ratio_db"] < (
        natural["high_band_ratio_db"] - 10
    )
    steady = voiced(3.0, seed=1)
    noisy = steady + np.random.default_rng(0).normal(0, 0.02, steady.size).astype(np.float32)
    assert measure(noisy)["noise_floor_db"] > measure(steady)["noise_floor_db"] + 5
    gated = steady.copy()
    gated[: SR // 2] = 0.0  # half a second of digital silence
    assert measure(gated)["digital_silence_share"] > 0.1
    assert 100 < np.median(tf._f0_track(tf._frames(voiced(1.0, f0=140), 320, 160))[0]) < 180


def test_too_little_speech_has_no_traces() -> None:
    assert tf.traces(np.zeros(SR, np.float32)) is None
    assert tf.traces(voiced(0.3)) is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("traces")
    corpus = write_corpus(base / "fakes")
    extra = write_corpus(base / "reals", n=4, with_labels=False)
    out = base / "weights"
    return out, recipe.train([corpus, extra], out, folds=2, jobs=1)


def test_recipe_writes_weights_calibration_and_card(trained) -> None:
    out, validation = trained
    descriptor = json.loads((out / "weights.json").read_text())
    assert descriptor["sha256"] == sha256_file(out / synthesis_traces.WEIGHTS_FILE)
    assert validation["n_real"] == 12 and validation["n_fake"] == 8
    assert validation["auc"] > 0.9  # band-limited fakes are separable on held-out systems
    assert set(validation["trace_influence"]) == set(tf.NAMES)
    card = json.loads((out / "card.json").read_text())
    assert card["weights_sha256"] == descriptor["sha256"]
    assert json.loads((out / "calibration.json").read_text())["detector"] == "audio.artifacts"


def test_evidence_names_every_trace_and_its_exact_share(trained, tmp_path: Path) -> None:
    out, _ = trained
    detector = synthesis_traces.SynthesisTracesDetector(weights_dir=out)
    real_path, fake_path = tmp_path / "r.wav", tmp_path / "f.wav"
    soundfile.write(real_path, voiced(9.0, f0=123, seed=500), SR)
    soundfile.write(fake_path, band_limited(voiced(9.0, f0=123, seed=501)), SR)
    real, fake = detector.analyze(media(real_path)), detector.analyze(media(fake_path))
    assert fake.raw_score > real.raw_score
    shares = {f.code: f.llr for f in fake.findings if f.code in tf.NAMES}
    assert set(shares) == set(tf.NAMES)
    # what else is said is about the input (this fake ends at 3 kHz) and adds nothing to the score
    assert {f.code for f in fake.findings} - set(tf.NAMES) == {"narrowband_content"}
    assert all(f.llr == 0.0 for f in fake.findings if f.code not in tf.NAMES)
    assert sum(shares.values()) + detector.head.intercept == pytest.approx(fake.raw_score, abs=0.01)
    assert len(fake.series) == 3 and fake.series[-1].end_s == pytest.approx(9.0, abs=0.05)
    assert [a.kind for a in fake.artifacts] == ["spectrogram"]


def test_out_of_domain_and_tampered_weights(trained, tmp_path: Path) -> None:
    out, _ = trained
    detector = synthesis_traces.SynthesisTracesDetector(weights_dir=out)
    silence = tmp_path / "silence.wav"
    soundfile.write(silence, np.zeros(SR * 2, np.float32), SR)
    assert detector.analyze(media(silence)).out_of_domain == "less than 0.5 s of speech"
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("weights.json", synthesis_traces.WEIGHTS_FILE):
        (bad / name).write_bytes((out / name).read_bytes())
    data = bytearray((bad / synthesis_traces.WEIGHTS_FILE).read_bytes())
    data[-50] ^= 0xFF
    (bad / synthesis_traces.WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(DetectorError, match="refusing"):
        synthesis_traces.SynthesisTracesDetector(weights_dir=bad)


def test_shipped_weights_load_and_match_their_descriptor() -> None:
    detector = synthesis_traces.SynthesisTracesDetector()
    assert detector.spec.weights is not None
    assert detector.spec.weights.sha256 == sha256_file(
        synthesis_traces.WEIGHTS_DIR / synthesis_traces.WEIGHTS_FILE
    )


def test_sound_unlike_speech_is_out_of_domain_not_extreme(tmp_path: Path) -> None:
    t = np.arange(SR * 3) / SR
    beeps = (0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    path = tmp_path / "beeps.wav"
    soundfile.write(path, beeps, SR)
    detector = synthesis_traces.SynthesisTracesDetector()
    evidence = detector.analyze(media(path))
    assert evidence.out_of_domain and "outside the training range" in evidence.out_of_domain
    clipped = detector.head.contributions(np.full(len(tf.NAMES), 1e6))
    assert np.all(np.isfinite(clipped)) and np.abs(clipped).max() < 20
