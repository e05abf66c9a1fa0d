"""Recording channels simulated on speech: rooms, microphones, telephone bands, noise.

Why: the audio detectors' real speech is mostly one corpus (LibriSpeech), so what they learn of
"real" is partly that corpus's channel, and real speech from other microphones, rooms and lines
is called fake (docs/benchmarks.md, real corpora held out). A detector that must ignore the
channel has to see each class through many channels: every augmented copy of a training file,
real or fake alike, passes through a random chain of the effects below, so no channel is a cue
for either class.

Each effect is a small pure function of the wave and a random generator, seeded per copy, so the
recipe's augmented copies are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.signal

SAMPLE_RATE = 16_000
Effect = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def room(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: direct sound plus an exponentially decaying diffuse tail (RT60 0.15–0.8
    s, direct-to-reverberant ratio 0–12 dB), the statistical model of late reverberation."""
    rt60 = rng.uniform(0.15, 0.8)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # −60 dB at rt60
    tail[: int(0.002 * SAMPLE_RATE)] = 0.0  # first reflections arrive after the direct sound
    drr = 10 ** (rng.uniform(0.0, 12.0) / 10)
    tail *= np.sqrt(1.0 / (drr * max(float(np.sum(tail**2)), 1e-12)))
    rir = tail
    rir[0] = 1.0
    return scipy.signal.fftconvolve(wave, rir)[: len(wave)]


def microphone(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A microphone and preamp's colour: a smooth random response (±8 dB over 8 bands, log
    frequency) as a linear-phase FIR, plus a high-pass at 50–200 Hz."""
    bands = np.geomspace(60.0, SAMPLE_RATE / 2 * 0.98, 8)
    gains_db = rng.uniform(-8.0, 8.0, len(bands))
    freqs = np.concatenate([[0.0], bands, [SAMPLE_RATE / 2]])
    gains = 10 ** (np.concatenate([[gains_db[0]], gains_db, [gains_db[-1]]]) / 20)
    fir = scipy.signal.firwin2(257, freqs, gains, fs=SAMPLE_RATE)
    out = scipy.signal.fftconvolve(wave, fir, mode="same")
    sos = scipy.signal.butter(2, rng.uniform(50.0, 200.0), "highpass", fs=SAMPLE_RATE, output="sos")
    return scipy.signal.sosfilt(sos, out)


def band_limit(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A narrower band than 8 kHz: the telephone band (300–3400 Hz, μ-law) or a low-pass at
    3.5–7.5 kHz (older codecs, low sample rates up-sampled)."""
    if rng.random() < 0.4:
        sos = scipy.signal.butter(6, [300.0, 3400.0], "bandpass", fs=SAMPLE_RATE, output="sos")
        out = scipy.signal.sosfilt(sos, wave)
        peak = max(float(np.max(np.abs(out))), 1e-9)
        mu = 255.0
        coded = np.sign(out / peak) * np.log1p(mu * np.abs(out / peak)) / np.log1p(mu)
        coded = np.round(coded * 127) / 127  # 8-bit μ-law
        return peak * np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(mu)) / mu
    cut = rng.uniform(3500.0, 7500.0)
    sos = scipy.signal.butter(8, cut, "lowpass", fs=SAMPLE_RATE, output="sos")
    return scipy.signal.sosfilt(sos, wave)


def noise(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Background noise at 10–35 dB SNR, white to brown (spectral slope 0 to −2)."""
    n = len(wave)
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
    coloured = np.fft.irfft(spectrum * f ** (-rng.uniform(0.0, 1.0)), n)
    signal_power = float(np.mean(wave**2))
    noise_power = max(float(np.mean(coloured**2)), 1e-12)
    snr = 10 ** (rng.uniform(10.0, 35.0) / 10)
    return wave + coloured * np.sqrt(signal_power / (snr * noise_power))


def level(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Recording level: a gain of −20 to +6 dB with soft saturation (tanh) above full scale."""
    return np.tanh(wave * 10 ** (rng.uniform(-20.0, 6.0) / 20))


EFFECTS: dict[str, Effect] = {
    "room": room,
    "microphone": microphone,
    "band_limit": band_limit,
    "noise": noise,
    "level": level,
}


def random_channel(wave: np.ndarray, seed: int) -> tuple[np.ndarray, list[str]]:
    """``wave`` through 1–3 effects drawn without replacement (in a fixed order: room, then
    microphone, line, noise, level), peak-normalised to 0.9; and the effects' names."""
    rng = np.random.default_rng(seed)
    names = list(EFFECTS)
    chosen = sorted(rng.choice(len(names), int(rng.integers(1, 4)), replace=False))
    out = np.asarray(wave, dtype=np.float64)
    for k in chosen:
        out = EFFECTS[names[k]](out, rng)
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 0:
        out = out * (0.9 / peak)
    return out.astype(np.float32), [names[k] for k in chosen]
