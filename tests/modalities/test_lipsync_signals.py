"""Lip-sync signals: offsets between a mouth series and a voice are found to the frame."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from modalities.lipsync import plots, signals
from tests.modalities.test_audio_frontend import voiced

FPS = 25.0
SECONDS = 8.0


def talking(seed: int = 0) -> np.ndarray:
    """A mouth-opening series: syllable-like bursts, smoothed."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * FPS)
    bursts = np.clip(rng.normal(size=n), 0, None)
    kernel = np.hanning(7)
    return np.convolve(bursts, kernel / kernel.sum(), "same")


def voice_following(mouth: np.ndarray, shift_frames: float) -> np.ndarray:
    """Speech whose loudness follows the mouth ``shift_frames`` later (audio lags video)."""
    t = np.arange(int(SECONDS * signals.SAMPLE_RATE)) / signals.SAMPLE_RATE
    envelope = np.interp(t * FPS - shift_frames, np.arange(len(mouth)), mouth)
    carrier = voiced(SECONDS, seed=1) / 0.1
    return (0.2 * envelope * carrier[: len(t)]).astype(np.float32)


def analyse(mouth: np.ndarray, wave: np.ndarray) -> signals.SyncAnalysis:
    times = np.arange(len(mouth)) / FPS
    result = signals.analyse_sync(mouth, signals.speech_track(wave, times, FPS), FPS)
    assert result is not None
    return result


@pytest.mark.parametrize("shift", [0, 5, -3, 12])
def test_the_offset_is_found_to_the_frame(shift: int) -> None:
    mouth = talking()
    result = analyse(mouth, voice_following(mouth, shift))
    assert result.offset == shift
    assert result.offset_ms == pytest.approx(shift * 40.0)
    assert result.confidence > 0.2
    if shift == 0:
        assert result.share("in_sync") > result.share("out_of_sync")
    elif abs(shift) > signals.TOLERANCE:
        assert result.share("out_of_sync") > 0.5


def test_a_voice_from_elsewhere_has_no_clear_offset() -> None:
    mouth = talking(seed=0)
    unrelated = voice_following(talking(seed=7), 0)
    matched = analyse(mouth, voice_following(mouth, 0))
    result = analyse(mouth, unrelated)
    assert result.confidence < matched.confidence / 2
    assert result.share("in_sync") < matched.share("in_sync")


def test_silence_or_a_missing_face_gives_no_analysis() -> None:
    mouth = talking()
    times = np.arange(len(mouth)) / FPS
    silent = signals.speech_track(np.zeros(int(SECONDS * 16_000), np.float32), times, FPS)
    assert signals.analyse_sync(mouth, silent, FPS) is None
    speech = signals.speech_track(voice_following(mouth, 0), times, FPS)
    assert signals.analyse_sync(np.full(len(mouth), np.nan), speech, FPS) is None


def test_gap_filling_bridges_short_dropouts_only() -> None:
    series = np.array([1.0, np.nan, 3.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 10.0])
    filled = signals.fill_gaps(series, max_gap=2)
    assert filled[1] == 2.0 and np.isnan(filled[3:9]).all()


def test_mouth_opening_is_scale_free() -> None:
    landmarks = np.zeros((68, 2))
    landmarks[48], landmarks[54] = (0, 0), (40, 0)
    landmarks[[61, 62, 63], 1] = -5
    landmarks[[67, 66, 65], 1] = 5
    assert signals.mouth_opening(landmarks) == pytest.approx(0.25)
    assert signals.mouth_opening(landmarks * 3) == pytest.approx(0.25)


def test_a_mouth_still_under_speech_is_told_from_a_speaking_one() -> None:
    voiced_frames = np.ones(50, bool)
    rng = np.random.default_rng(0)
    speaking = 0.15 + 0.1 * np.sin(np.arange(50) / 1.5)  # opens and shuts every ~9 frames
    jitter = 0.15 + 0.005 * rng.standard_normal(50)  # landmarks of a still face moving a little
    assert signals.mouth_motion(speaking, voiced_frames) > 0.15
    assert not signals.still_mouth(speaking, voiced_frames)
    assert signals.still_mouth(jitter, voiced_frames) and signals.still_mouth(
        jitter * 0, voiced_frames
    )
    # judged over frames with speech and a face only; too few of them: no judgement
    moving_in_silence = np.where(np.arange(50) < 40, speaking, 0.15)
    assert signals.still_mouth(moving_in_silence, np.arange(50) >= 40)
    unseen = np.where(np.arange(50) < 45, np.nan, jitter)
    assert signals.mouth_motion(unseen, voiced_frames) is None
    assert not signals.still_mouth(unseen, voiced_frames)


def test_figures_are_pngs() -> None:
    mouth = talking()
    result = analyse(mouth, voice_following(mouth, 4))
    for figure in (plots.offset_curve_png(result, "t"), plots.timeline_png([(0.0, result)], "t")):
        assert figure.startswith(b"\x89PNG") and len(figure) > 5000


def test_an_offset_no_window_reached_stays_unmeasured_without_a_warning() -> None:
    curves = np.array([[0.2, np.nan, 0.5, np.nan], [0.4, 0.1, np.nan, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean = signals._mean_over_windows(curves)
    assert mean[:3].tolist() == [0.30000000000000004, 0.1, 0.5]
    assert np.isnan(mean[3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.array_equal(mean, np.nanmean(curves, axis=0), equal_nan=True)
