"""modalities.audio.frontend: channel normalisation, LFCC, voice activity, segments."""

from __future__ import annotations

import numpy as np
import pytest

from modalities.audio import frontend

SR = frontend.SAMPLE_RATE


def voiced(seconds: float, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A crude voiced signal: harmonics of a wobbling pitch under a syllable envelope, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    wave = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 3 * t)) ** 2
    return (0.1 * envelope * wave + 0.002 * rng.normal(size=t.size)).astype(np.float32)


def test_channel_normalisation_keeps_length_and_alignment() -> None:
    wave = voiced(2.0)
    out = frontend.normalize_channel(wave)
    assert out.shape == wave.shape and out.dtype == np.float32
    assert np.corrcoef(wave, out)[0, 1] > 0.95  # aligned despite the encoder's delay
    # 64 kbit/s MP3 removes most energy above ~11 kHz
    spectrum = np.abs(np.fft.rfft(out)) ** 2
    freqs = np.fft.rfftfreq(out.size, 1 / SR)
    assert spectrum[freqs > 7500].sum() < spectrum.sum()


def test_lfcc_shape_and_determinism() -> None:
    wave = voiced(1.0)
    feats = frontend.lfcc(wave)
    assert feats.shape == (1 + (wave.size - frontend.WIN) // frontend.HOP, 60)
    assert np.array_equal(feats, frontend.lfcc(wave))
    assert np.isfinite(feats).all()


def test_speech_mask_separates_voice_from_silence() -> None:
    wave = np.concatenate([np.zeros(SR, np.float32), voiced(1.0), np.zeros(SR, np.float32)])
    wave += 1e-4 * np.random.default_rng(1).normal(size=wave.size).astype(np.float32)
    mask = frontend.speech_mask(wave)
    frames_per_s = SR // frontend.HOP
    assert mask[: frames_per_s - 20].mean() < 0.1
    assert mask[frames_per_s + 20 : 2 * frames_per_s - 20].mean() > 0.6
    assert mask[2 * frames_per_s + 20 :].mean() < 0.1


def test_segments_cover_the_frames() -> None:
    segs = frontend.segments(450, seconds=2.0)
    assert [s.start_s for s in segs] == [0.0, 2.0, 4.0]
    assert segs[-1].end_s == pytest.approx(4.5)


def test_filterbank_is_a_partition_of_the_band() -> None:
    bank = frontend.linear_filterbank(20)
    inner = bank.sum(axis=0)[15:-15]  # between the first and the last centre
    assert np.allclose(inner, 1.0, atol=1e-6)
