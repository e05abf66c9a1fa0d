"""Traits of an input measured on its decoded sound (modalities.audio.input_traits): clipping
that no longer sits at full scale, a telephone band inside a wideband file, and channels that
differ or cancel. Each is checked on what it must catch and on clean speech it must leave alone."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import scipy.ndimage
import scipy.signal

from core.sound import encode_mp3
from modalities.audio import frontend
from modalities.audio import input_traits as traits
from tests.modalities.audio_signals import formant_speech

SR = 16_000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return formant_speech(6.0, seed=3).astype(np.float64)


def clipped(wave: np.ndarray, gain: float) -> np.ndarray:
    """``wave`` peak-normalised, amplified by ``gain`` and clipped at full scale."""
    return np.asarray(np.clip(wave / np.abs(wave).max() * gain, -1.0, 1.0))


def mp3_round_trip(wave: np.ndarray) -> np.ndarray:
    """``wave`` encoded to MP3 at 64 kbit/s and decoded: the codec's ringing spreads every
    plateau, as in a clipped recording shared as MP3."""
    out = []
    with av.open(io.BytesIO(encode_mp3(wave.astype(np.float32), sample_rate=SR)), "r") as media:
        for frame in media.decode(audio=0):
            out.append(frame.to_ndarray().reshape(-1))
    return np.concatenate(out).astype(np.float64)


def limited(wave: np.ndarray, ceiling: float = 0.98, look: int = 80, release_s: float = 0.08):
    """A look-ahead brick-wall limiter as broadcast and mastering use it: the gain falls ahead of
    every peak above the ceiling (5 ms) and recovers over ``release_s``, so no sample passes the
    ceiling and none is flattened. (With no release at all it would set every pitch period's
    peak to the ceiling, and pile up samples there as clipping does.)"""
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(wave), 1e-9))
    target = scipy.ndimage.minimum_filter1d(need, 2 * look + 1)
    recover = np.exp(-1.0 / (release_s * SR))
    gain, current = np.empty_like(target), 1.0
    for i, value in enumerate(target):
        current = value if value < current else recover * current + (1 - recover) * value
        gain[i] = current
    gain = scipy.ndimage.uniform_filter1d(gain, look)
    return np.asarray(wave * np.minimum(gain, need))


def true_share(wave: np.ndarray, gain: float) -> float:
    return float((np.abs(wave / np.abs(wave).max() * gain) >= 1.0).mean())


def test_clipping_turned_down_is_measured_where_full_scale_runs_see_nothing(speech) -> None:
    down = clipped(speech, 8.0) * 0.5  # clipped, then 6 dB quieter: plateaus at 0.5
    assert frontend.clipped_share(down) == 0.0  # what 1.1.0 measured
    assert traits.peak_pile(down) == pytest.approx(true_share(speech, 8.0), rel=0.3)
    assert true_share(speech, 8.0) > 0.02


def test_clipping_through_mp3_is_measured(speech) -> None:
    decoded = mp3_round_trip(clipped(speech, 8.0) * 0.7)
    assert frontend.clipped_share(decoded) == 0.0
    assert traits.peak_pile(decoded) > 0.5 * true_share(speech, 8.0)


def test_clipping_at_full_scale_is_still_measured(speech) -> None:
    assert traits.peak_pile(clipped(speech, 8.0)) > 0.5 * true_share(speech, 8.0)


@pytest.mark.parametrize("level", [0.01, 0.1, 1.0])
def test_clean_speech_at_any_level_piles_nothing(speech, level: float) -> None:
    normalised = speech / np.abs(speech).max() * level
    assert traits.peak_pile(normalised) < traits.PILE_NOTE / 4
    assert traits.peak_pile(mp3_round_trip(normalised)) < traits.PILE_NOTE / 4


def test_a_limiter_driven_moderately_is_not_clipping(speech) -> None:
    """3 dB into a look-ahead limiter, on speech whose loudness varies from syllable to syllable
    as real speech's does: nothing piled. (On real speech, LibriSpeech, LJSpeech and tortoise
    voices, 6 and 12 dB into the same limiter piled nothing either; on this synthetic speech,
    whose pitch periods are far more alike than a voice's, 6 dB and more pile 0.1-0.3 % and
    may be reported.)"""
    rng = np.random.default_rng(3)
    levels = np.repeat(10 ** (rng.uniform(-12, 0, size=len(speech) // 1600 + 1) / 20), 1600)
    varied = speech * scipy.ndimage.uniform_filter1d(levels[: len(speech)], 800)
    loud = limited(varied / np.abs(varied).max() * 1.4)
    assert np.abs(loud).max() <= 0.98 + 1e-9 and np.mean(np.abs(loud) > 0.7) > 0.001
    assert traits.peak_pile(loud) < traits.PILE_NOTE / 4


def test_the_residue_of_cancelled_channels_is_not_clipping(speech) -> None:
    pcm = np.round(speech * 32767) / 32767
    residue = (pcm + np.round(-speech * 32767) / 32767) / 2  # a few LSB of rounding at most
    assert traits.peak_pile(residue) == 0.0


def test_clipping_finding_weighs_passages_and_keeps_quiet_below_the_note() -> None:
    assert traits.clipping_finding([0.0005, 0.0005], [100, 100]) == []
    (finding,) = traits.clipping_finding([0.04, 0.0], [100, 300])
    assert finding.code == "clipped_input" and finding.value == 0.01
    assert "1.0 %" in finding.message


def bandwidth_of(wave: np.ndarray) -> float:
    wave32 = wave.astype(np.float32)
    power, frames = traits.speech_spectrum(wave32, frontend.speech_mask(wave32))
    assert frames > traits.MIN_SPEECH_FRAMES
    return traits.bandwidth_hz(power)


def test_a_telephone_band_resampled_to_16_khz_is_measured(speech) -> None:
    call = scipy.signal.resample_poly(speech, 1, 2)  # to 8 kHz, as a call is recorded
    up = scipy.signal.resample_poly(call, 2, 1)  # and back to 16 kHz: nothing above 4 kHz
    assert 3500 < bandwidth_of(up) < 4500 < traits.NARROW_HZ  # the filter's transition band
    assert bandwidth_of(speech) >= 7500


def test_bandwidth_finding_only_for_wide_containers_with_speech(speech) -> None:
    narrow = np.zeros(frontend.N_FFT // 2 + 1)
    narrow[:100] = 1.0  # up to 3.1 kHz
    (finding,) = traits.bandwidth_finding([(narrow, 500)], 16_000)
    assert finding.code == "narrowband_content" and finding.value == 3094
    assert traits.bandwidth_finding([(narrow, 500)], 8_000) == []  # narrowband_input says it
    assert traits.bandwidth_finding([(narrow, 10)], 16_000) == []  # 0.1 s of speech
    assert traits.bandwidth_finding([(np.ones_like(narrow), 500)], 44_100) == []


def stats(*channels: np.ndarray) -> traits.ChannelStats:
    block = np.stack(channels)
    result = traits.channel_stats([block[:, :40_000], block[:, 40_000:]])  # in two chunks
    assert result is not None
    return result


def codes(stats_: traits.ChannelStats) -> list[str]:
    return [f.code for f in traits.channel_findings(stats_)]


def test_channels_alike_say_nothing(speech) -> None:
    assert codes(stats(speech, 0.5 * speech)) == []  # one speaker, panned


def test_channels_that_differ_are_named(speech) -> None:
    other = formant_speech(6.0, seed=11).astype(np.float64)
    two = stats(speech, other)
    assert abs(two.lowest_correlation) < 0.2 and codes(two) == ["channels_differ"]
    silent = stats(speech, np.zeros_like(speech))
    assert silent.levels_db[1] < -100 and codes(silent) == ["channels_differ"]
    (finding,) = traits.channel_findings(silent)
    assert "0.0, " in finding.message and "relative to the loudest" in finding.message


def test_channels_in_opposite_phase_are_named(speech) -> None:
    inverted = stats(speech, -speech)
    assert inverted.lowest_correlation == pytest.approx(-1.0)
    assert codes(inverted) == ["channels_differ", "channels_cancel"]
    assert inverted.mix_loss_db > 60
    assert codes(stats(speech, -0.9 * speech + 0.05 * np.roll(speech, 7))) == [
        "channels_differ",
        "channels_cancel",
    ]


def test_no_sound_gives_no_channel_stats() -> None:
    assert traits.channel_stats([]) is None
    assert traits.channel_stats([np.zeros((2, 100))]) is None
    assert traits.channel_findings(None) == []
