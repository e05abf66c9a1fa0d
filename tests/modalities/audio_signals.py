"""Tiny generated signals for the audio front-end tests (no files, no downloads)."""

from __future__ import annotations

import numpy as np
import scipy.signal

SR = 16_000
# (F1, F2, F3) of six English vowels, Peterson & Barney averages for adult male speakers
VOWELS = [
    (730, 1090, 2440),
    (270, 2290, 3010),
    (300, 870, 2240),
    (530, 1840, 2480),
    (570, 840, 2410),
    (660, 1720, 2410),
]


def formant_speech(seconds: float, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Crude source-filter speech: a glottal pulse train with falling-rising intonation through
    three formant resonators per syllable (vowels drawn at random), syllable envelopes and short
    fricative noise between syllables. Speech-like enough for a neural VAD, unlike a plain buzz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n)
    pos = 0
    high_pass = scipy.signal.butter(2, min(3000 / (sr / 2), 0.9), "high")
    while pos < n:
        syllable = int(rng.uniform(0.15, 0.3) * sr)
        f0 = 110 * (1 + 0.15 * np.sin(np.linspace(0, np.pi, syllable))) * rng.uniform(0.9, 1.2)
        pulses = (np.diff(np.floor(np.cumsum(f0 / sr)), prepend=0) > 0).astype(float)
        y = scipy.signal.lfilter([1], [1, -0.95], pulses)  # spectral tilt of the glottal source
        for freq, bandwidth in zip(VOWELS[rng.integers(len(VOWELS))], (80, 100, 120), strict=True):
            r = np.exp(-np.pi * bandwidth / sr)
            y = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * freq / sr), r * r], y)
        voiced = y / (np.abs(y).max() + 1e-9) * np.sin(np.linspace(0, np.pi, syllable)) ** 0.7
        gap = int(rng.uniform(0.03, 0.12) * sr)
        fricative = scipy.signal.lfilter(*high_pass, rng.normal(size=gap) * 0.05 * np.hanning(gap))
        piece = np.concatenate([voiced, fricative])[: n - pos]
        out[pos : pos + len(piece)] = piece
        pos += len(piece)
    return (0.3 * out + 0.001 * rng.normal(size=n)).astype(np.float32)
