"""The audio front end and detectors work on a passage block by block: the same numbers as the
whole-array computation (exactly, not approximately: the shipped calibrations and the evidence of
past analyses rest on them), without holding per-frame spectra of the whole passage at once."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from modalities.audio import cnn_net, frontend, plots
from modalities.audio import trace_features as tf
from tests.modalities.test_audio_frontend import SR, voiced


def speech_with_pauses(seconds: float) -> np.ndarray:
    """Voiced stretches with silent gaps, so that some blocks hold no speech at all."""
    wave = voiced(seconds, seed=3)
    for start in range(0, len(wave), 5 * SR):
        wave[start + 3 * SR : start + 4 * SR] = 0.0
    return wave


def traced_peak(fn: Callable[[], Any]) -> int:
    """Bytes of the largest allocation total while ``fn`` runs (NumPy reports its buffers)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_frame_blocks_never_leave_one_frame_alone() -> None:
    # a one-frame (bins, 1) block would be summed pairwise by NumPy, not bin after bin
    assert frontend.frame_blocks(1) == [(0, 1)]
    assert frontend.frame_blocks(4097) == [(0, 4097)]
    assert frontend.frame_blocks(8193) == [(0, 4096), (4096, 8193)]
    assert frontend.frame_blocks(10, 4) == [(0, 4), (4, 8), (8, 10)]


@pytest.mark.parametrize("frames", [4099, 8193])
def test_frame_power_is_the_spectrogram_summed_over_bins(frames: int) -> None:
    wave = voiced((frontend.WIN + (frames - 1) * frontend.HOP) / SR)
    power = frontend.frame_power(wave)
    assert power.shape == (frames,)
    assert np.array_equal(power, frontend.power_spectrogram(wave).sum(axis=0))


@pytest.mark.parametrize("step", [1, 3, 7])
def test_pooled_spectrogram_is_the_whole_one_pooled(step: int) -> None:
    wave = voiced(45.3)  # 4529 frames: not a whole number of groups, two blocks
    db = 10 * np.log10(frontend.power_spectrogram(wave) + 1e-10)
    usable = db.shape[1] // step * step
    whole = db[:, :usable].reshape(db.shape[0], -1, step).max(axis=2) if step > 1 else db
    assert np.array_equal(plots.pooled_db(wave, step), whole)


def test_traces_in_blocks_are_the_traces_of_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    wave = speech_with_pauses(20.0)
    mask = frontend.speech_mask(wave)
    assert 0 < mask.mean() < 1
    monkeypatch.setattr(tf, "BLOCK", 10**9)  # one block: the computation on the whole array
    whole = tf.traces(wave, mask)
    monkeypatch.setattr(tf, "BLOCK", 37)  # blocks of speech, of pauses, and of both
    blocks = tf.traces(wave, mask)
    assert whole is not None and blocks is not None
    assert blocks.speech_frames == whole.speech_frames == int(mask.sum())
    assert np.array_equal(blocks.values, whole.values)


def test_traces_never_hold_every_frames_spectrum(monkeypatch: pytest.MonkeyPatch) -> None:
    wave = voiced(60.0)
    frames = 1 + (len(wave) - frontend.WIN) // frontend.HOP
    spectra = frames * (frontend.N_FFT // 2 + 1) * 16  # the complex spectrum of every frame
    mask = np.ones(frames, bool)
    monkeypatch.setattr(tf, "BLOCK", 256)
    # kept whole: the speech frames' power (half of ``spectra``) for the sums across frames,
    # with one band of it copied (about 0.95 ``spectra`` in all); the whole-array computation
    # held ten times ``spectra`` (frames, FFTs, group delay, F0 autocorrelations)
    assert traced_peak(lambda: tf.traces(wave, mask)) < 2 * spectra


def test_cnn_power_spectrogram_is_librosas(monkeypatch: pytest.MonkeyPatch) -> None:
    import librosa

    wave = voiced(3.0)
    monkeypatch.setattr(cnn_net, "STFT_BLOCK", 7)  # 297 frames: the last block holds one
    for dtype in (np.float64, np.float32):
        ours = cnn_net.power_spectrogram(wave, dtype)
        stft = librosa.stft(
            wave.astype(dtype),
            n_fft=cnn_net.N_FFT,
            hop_length=cnn_net.HOP,
            win_length=cnn_net.WIN,
            center=False,
        )
        theirs = np.abs(stft) ** 2.0
        assert ours.dtype == theirs.dtype and ours.flags.f_contiguous
        assert np.array_equal(ours, theirs)


def test_log_mel_holds_no_complex_stft_of_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    wave = voiced(60.0)
    frames = 1 + (len(wave) - cnn_net.N_FFT) // cnn_net.HOP
    power = frames * (cnn_net.N_FFT // 2 + 1) * 8
    cnn_net.log_mel(voiced(1.0), np.float64)  # librosa's caches (windows, mel basis) first
    monkeypatch.setattr(cnn_net, "STFT_BLOCK", 256)
    # the power spectrogram itself, the mel product, and blocks; librosa on the whole held the
    # complex STFT (twice ``power``), its magnitude and the power at once
    assert traced_peak(lambda: cnn_net.log_mel(wave, np.float64)) < 2 * power
