"""Traits of the input recording measured on its decoded sound: silence, clipping, bandwidth,
channels.

What the container says (sample rate, channel count) misses the commonest awkward inputs: a call
recorded at 8 kHz and resampled to 16 or 44.1 kHz keeps nothing above 4 kHz in a "wideband"
file; a recording clipped and then turned down, or clipped and then encoded to MP3 or AAC (or
resampled), has no exact full-scale plateaus left (the codec's or resampler's ringing spreads
them); a stereo file may hold two speakers, one silent channel, or channels in opposite phase
that cancel when averaged to the mono the detectors read. Each is measured here, passage by
passage (``modalities.audio.passages``), on the sound as decoded at 16 kHz before the channel
normalisation, so that no hour is ever held at once; the findings built from the measures are
informational (no LLR) and leave every score unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.detector import Finding
from modalities.audio import frontend

# --- silence: a recording with nothing in it --------------------------------------------------

SILENT_DBFS = -60.0  # a peak this low holds no speech a detector could judge (16-bit: 5 bits)


def silence_finding(peaks: Sequence[float]) -> list[Finding]:
    """``silent_input`` when the loudest sample of every passage read peaks under
    ``SILENT_DBFS``: the detectors' "no speech" then has its reason (a muted or empty track, a
    recording of the room at -70 dBFS), with the peak level in dBFS as the value (None when
    every sample is zero). Quiet speech peaks far higher (a whisper at -40 dBFS)."""
    peak = max(peaks, default=0.0)
    if peak >= 10 ** (SILENT_DBFS / 20):
        return []
    if peak <= 0.0:
        return [
            Finding(
                code="silent_input",
                value=None,
                message="the sound is digital silence: every sample is zero",
            )
        ]
    level = 20 * float(np.log10(peak))
    return [
        Finding(
            code="silent_input",
            value=round(level, 1),
            message=f"the sound is nearly silent: its loudest sample is at {level:.1f} dBFS",
        )
    ]


# --- clipping: samples piled up at the recording's own peak -------------------------------------

PILE_FLOOR = 0.1  # the histogram spans this share of a polarity's peak up to the peak
PILE_BINS = 60
PILE_SMOOTH = 5  # bins averaged for the baseline, so that one sparse bin cannot set it
PILE_RISE = 1.5  # a bin this many times the baseline below it is part of a pile
PILE_QUIETEST = 0.01  # a polarity peaking lower (-40 dBFS) is left alone: see peak_pile
PILE_NOTE = 0.001  # more than 0.1 % of samples piled up at the peak is reported
_BLOCK = 1 << 20  # samples histogrammed at once: bounds the transient copies


def peak_pile(wave: np.ndarray) -> float:
    """Share of samples piled up near the recording's own peak, per polarity: clipping.

    Speech's amplitudes thin out towards its peak (the histogram of |x| falls near the top), at
    any level, normalised or not, and through a limiter, which squeezes the loud part of the
    distribution but keeps it falling. Clipping stops every loud excursion at one level, so
    samples pile up there; scaling the clipped file afterwards moves the pile but keeps it, and a
    lossy codec or a resampler smears it over a few per cent of the level without flattening it.
    Per polarity (speech is asymmetric, and a DC offset clips the two sides at different levels),
    the histogram from ``PILE_FLOOR`` of the peak up to the peak in ``PILE_BINS`` bins: a bin
    holding ``PILE_RISE`` times (plus three standard deviations of a count) as many samples as
    the baseline, the emptiest ``PILE_SMOOTH`` consecutive bins wholly below it on average, is
    piled, and its excess over the baseline counted. A baseline from single bins would be set by
    the one empty bin of a sparse tail, and the noise of short clean files would read as piles.
    Exact full-scale plateaus (:func:`frontend.clipped_share`) are a special case. A polarity
    peaking under ``PILE_QUIETEST`` is skipped: its 16-bit sample values are then a few bins'
    worth, and their comb of a histogram would read as piles (the residue of two channels in
    opposite phase read 50 % "clipped" before). A steady loud tone piles up at its peak too (a
    sine's amplitudes do) and reads as clipping; so may 8-bit audio (too few levels per bin)."""
    n = len(wave)
    if n < frontend.WIN:
        return 0.0
    piled = 0.0
    for sign in (1.0, -1.0):
        top = float(wave.max()) if sign > 0 else float(-wave.min())
        if top < PILE_QUIETEST:
            continue
        edges = np.linspace(PILE_FLOOR * top, top, PILE_BINS + 1)
        counts = np.zeros(PILE_BINS)
        for start in range(0, n, _BLOCK):
            counts += np.histogram(sign * wave[start : start + _BLOCK], edges)[0]
        windows = np.convolve(counts, np.ones(PILE_SMOOTH) / PILE_SMOOTH, "valid")
        baseline = np.full(PILE_BINS, np.inf)  # bins with no whole window below: never piled
        baseline[PILE_SMOOTH:] = np.minimum.accumulate(windows)[: PILE_BINS - PILE_SMOOTH]
        pile = counts >= PILE_RISE * baseline + 3.0 * np.sqrt(baseline + 1.0)
        piled += float((counts - baseline)[pile].sum())
    return piled / n


def clipping_finding(shares: Sequence[float], lengths: Sequence[int]) -> list[Finding]:
    """``clipped_input`` when more than ``PILE_NOTE`` of the samples (weighted over passages)
    are clipped: the larger of the share in exact full-scale runs and the share piled up at the
    peak, so a file clipped at full scale reads as before and one clipped, then scaled or
    re-encoded, is no longer missed."""
    total = float(np.sum(lengths))
    share = float(np.dot(shares, lengths)) / total if total else 0.0
    if share <= PILE_NOTE:
        return []
    return [
        Finding(
            code="clipped_input",
            value=round(share, 4),
            message=f"{100 * share:.1f} % of samples clipped (piled up at the recording's peak "
            "level, at full scale or turned down or re-encoded since)",
        )
    ]


# --- bandwidth: where the long-term speech spectrum ends ---------------------------------------

BAND_DROP_DB = 50.0  # the spectrum has ended where it stays this far below the speech band
NARROW_HZ = 5000.0  # an effective bandwidth under this is reported (telephone: 3.4-4 kHz)
MIN_SPEECH_FRAMES = 50  # 0.5 s of speech at least to measure it
_FREQS = np.arange(frontend.N_FFT // 2 + 1) * frontend.SAMPLE_RATE / frontend.N_FFT


def speech_spectrum(wave: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Power summed over the speech frames of ``wave`` (``mask``: frontend.speech_mask's frames),
    per frequency bin, and the number of frames summed; block by block (frontend.power_blocks),
    never the whole spectrogram."""
    total = np.zeros(frontend.N_FFT // 2 + 1)
    frames = 0
    if len(wave) == 0:
        return total, frames
    for start, block in frontend.power_blocks(wave):
        keep = mask[start : start + block.shape[1]]
        total += block[:, keep].sum(axis=1)
        frames += int(keep.sum())
    return total, frames


def bandwidth_hz(spectrum: np.ndarray) -> float:
    """The highest frequency where the long-term spectrum is within ``BAND_DROP_DB`` of its mean
    level over 300-3000 Hz (where every speech recording, telephone included, has its energy).

    Wideband speech, even a quiet or dull recording, stays within 50 dB of that level up to
    8 kHz (measured: 7.6-8 kHz on LibriSpeech, LJSpeech, tortoise voices, YouTube speech,
    espeak-ng); an MP3 at a low bit rate ends at its encoder's low-pass (5.8 kHz for the 16-kHz
    CorentinJ samples); a call upsampled from 8 kHz ends at 3.9-4 kHz, 70 dB and more above it
    being only the resampler's leakage."""
    band = (_FREQS >= 300) & (_FREQS <= 3000)
    reference = float(spectrum[band].mean())
    if reference <= 0.0:
        return float(_FREQS[-1])
    within = np.nonzero(spectrum >= reference * 10 ** (-BAND_DROP_DB / 10))[0]
    return float(_FREQS[within.max()]) if len(within) else 0.0


def bandwidth_finding(spectra: Sequence[tuple[np.ndarray, int]], source_rate: int) -> list[Finding]:
    """``narrowband_content`` when the speech of a file sampled at 16 kHz or more ends well
    below 8 kHz (under ``NARROW_HZ``): telephone speech resampled up, which the sample rate alone
    does not show. A source sampled below 16 kHz gets ``narrowband_input`` instead (its rate
    says it) and nothing here; too little speech to measure gives nothing."""
    frames = sum(count for _, count in spectra)
    if source_rate < frontend.SAMPLE_RATE or frames < MIN_SPEECH_FRAMES:
        return []
    measured = bandwidth_hz(np.sum([power for power, _ in spectra], axis=0))
    if measured >= NARROW_HZ:
        return []
    return [
        Finding(
            code="narrowband_content",
            value=round(measured),
            message=f"sampled at {source_rate} Hz but the speech ends at about {measured:.0f} Hz "
            "(telephone band or a low-pass before resampling); detectors trained on speech up "
            "to 8 kHz",
        )
    ]


# --- channels: what averaging them to mono did --------------------------------------------------

CHANNELS_LOW_CORRELATION = 0.5  # channels this little alike hold different sound
CHANNELS_LEVEL_DB = 20.0  # a channel this much quieter than the loudest is (nearly) empty
CHANNELS_CANCEL_DB = 10.0  # the mix this much below the channels' mean level: they cancel


@dataclass(frozen=True)
class ChannelStats:
    """Sums over the sound read of each channel's products with each other (a Gram matrix):
    enough for levels, correlations and the level of their average, in one streaming pass."""

    gram: np.ndarray

    @property
    def levels_db(self) -> np.ndarray:
        """Each channel's energy in dB relative to the loudest channel's."""
        energy = np.diag(self.gram)
        return np.asarray(10 * np.log10(np.maximum(energy, 1e-30) / max(energy.max(), 1e-30)))

    @property
    def lowest_correlation(self) -> float:
        """The least correlation between two channels (1: alike, 0: unrelated, -1: inverted)."""
        energy = np.sqrt(np.maximum(np.diag(self.gram), 1e-30))
        corr = self.gram / np.outer(energy, energy)
        return float(corr[np.triu_indices(len(energy), 1)].min())

    @property
    def mix_loss_db(self) -> float:
        """How far below the channels' mean energy their average lies, in dB: 0 for identical
        channels, 3 for unrelated ones of equal level, large when they cancel."""
        channels = len(self.gram)
        mix = float(self.gram.sum()) / channels**2
        mean = float(np.trace(self.gram)) / channels
        return 10 * float(np.log10(max(mean, 1e-30) / max(mix, 1e-30)))


def channel_stats(chunks: Iterable[np.ndarray]) -> ChannelStats | None:
    """The Gram matrix of (channels, samples) ``chunks``; None when there is no sound at all."""
    gram: np.ndarray | None = None
    for chunk in chunks:
        block = np.asarray(chunk, np.float64)
        part = block @ block.T
        gram = part if gram is None else gram + part
    if gram is None or len(gram) < 2 or float(np.trace(gram)) <= 0.0:
        return None
    return ChannelStats(gram)


def channel_findings(stats: ChannelStats | None) -> list[Finding]:
    """``channels_differ`` when the channels hold materially different sound (two speakers, one
    per channel; one channel silent or far quieter; a pair of spaced microphones, whose delay
    decorrelates them) and ``channels_cancel`` when averaging them loses ``CHANNELS_CANCEL_DB``
    or more (opposite phase): the mono the detectors read is then much quieter than either
    channel, or silent, and "too little speech" would otherwise not say why. Thresholds: every
    stereo recording in media-dev correlates 0.997 or more and loses 0.0 dB; unrelated channels
    lose 3 dB, one inverted at half the other's level 10 dB, one inverted 70 dB and more; a
    1-ms delay between channels of one speaker correlates -0.5 to 0.15 and loses 2-6 dB."""
    if stats is None:
        return []
    out: list[Finding] = []
    levels, correlation = stats.levels_db, stats.lowest_correlation
    quiet = float(levels.min())
    if correlation < CHANNELS_LOW_CORRELATION or quiet < -CHANNELS_LEVEL_DB:
        listed = ", ".join(f"{level:.1f}" for level in levels)
        out.append(
            Finding(
                code="channels_differ",
                value=round(correlation, 3),
                message=f"channels differ (correlation {correlation:.2f}; levels {listed} dB "
                "relative to the loudest): their average, not each speaker or channel alone, "
                "was analysed",
            )
        )
    loss = stats.mix_loss_db
    if loss >= CHANNELS_CANCEL_DB:
        out.append(
            Finding(
                code="channels_cancel",
                value=round(loss, 1),
                message=f"averaging the channels cancels {loss:.1f} dB of their sound (channels "
                "in opposite phase): the mono analysed is much quieter than the recording, and "
                "may hold no speech at all",
            )
        )
    return out
