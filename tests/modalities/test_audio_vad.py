"""modalities.audio.vad and speech_mask(vad="silero"): shipped silero weights, streaming."""

from __future__ import annotations

import os
import shutil
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from core.errors import ConfigError, DetectorError
from modalities.audio import frontend, vad
from tests.modalities.audio_signals import SR, formant_speech
from tests.modalities.test_audio_frontend import voiced

SPEECH_DIR = (
    Path(
        os.environ.get(
            "VERITY_TRAIN_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "train-corpus"
        )
    )
    / "speech"
)


def test_silence_and_faint_noise_hold_no_speech() -> None:
    silence = np.zeros(3 * SR, np.float32)
    noise = (1e-3 * np.random.default_rng(0).normal(size=3 * SR)).astype(np.float32)
    for wave in (silence, noise):
        assert vad.chunk_probabilities(wave).max() < 0.5
        assert not frontend.speech_mask(wave, "silero").any()


def test_speech_like_signal_is_speech_and_a_tone_is_not() -> None:
    speech = formant_speech(4.0)
    mask = frontend.speech_mask(speech, "silero")
    assert mask.mean() > 0.8
    beep = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    gap = np.zeros(SR, np.float32)
    tone = np.concatenate([gap, beep, gap])
    assert not frontend.speech_mask(tone, "silero").any()
    assert frontend.speech_mask(tone, "energy").mean() > 0.3  # loud, so "speech" by energy


def test_mask_is_on_the_lfcc_frame_grid_and_finds_the_speech_in_between() -> None:
    gap = np.zeros(SR, np.float32)
    wave = np.concatenate([gap, formant_speech(2.0), gap])
    mask = frontend.speech_mask(wave, "silero")
    assert mask.shape == (len(frontend.lfcc(wave)),) and mask.dtype == bool
    per_s = SR // frontend.HOP
    assert mask[: per_s - 20].mean() < 0.1
    assert mask[per_s + 20 : 3 * per_s - 20].mean() > 0.8
    assert mask[3 * per_s + 20 :].mean() < 0.1


@pytest.mark.skipif(not SPEECH_DIR.is_dir(), reason=f"no recorded speech at {SPEECH_DIR}")
def test_recorded_speech_is_found() -> None:
    path = sorted(SPEECH_DIR.rglob("*.flac"))[0]
    wave, sr = soundfile.read(path, dtype="float32", always_2d=True)
    assert sr == SR
    assert frontend.speech_mask(wave[:, 0], "silero").mean() > 0.5


def test_result_does_not_depend_on_the_window_size(monkeypatch: pytest.MonkeyPatch) -> None:
    wave = np.concatenate([formant_speech(3.0, seed=1), voiced(2.0)])
    whole = vad.chunk_probabilities(wave)
    assert len(whole) == -(-len(wave) // vad.CHUNK)
    monkeypatch.setattr(vad, "WINDOW_CHUNKS", 40)  # many windows; state and context cross them
    blocks = (wave[i : i + 1000] for i in range(0, len(wave), 1000))  # odd block size
    streamed = np.concatenate(list(vad.stream_probabilities(blocks)))
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_long_stream_runs_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five minutes streamed in 1 s blocks through 3.2 s windows: the peak of Python-tracked
    memory stays a fraction of the 19 MB the whole wave would take."""
    monkeypatch.setattr(vad, "WINDOW_CHUNKS", 100)
    block = formant_speech(1.0, seed=2)
    vad.load_network()  # loading the weights is not what is measured

    def stream() -> Iterator[np.ndarray]:
        for _ in range(300):
            yield block

    tracemalloc.start()
    try:
        chunks = 0
        for probs in vad.stream_probabilities(stream()):
            chunks += len(probs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert chunks == -(-300 * SR // vad.CHUNK)
    assert peak < 4 * 1024**2


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "silero"
    shutil.copytree(vad.WEIGHTS_DIR, folder)
    weights = folder / "silero_vad_16k.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(DetectorError, match="refusing to use them"):
        vad.load_network(folder)


def test_unknown_vad_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown voice activity detector"):
        frontend.speech_mask(np.zeros(SR, np.float32), "webrtc")
