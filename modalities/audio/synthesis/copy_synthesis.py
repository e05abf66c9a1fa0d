"""Copy-synthesis pseudo-fakes (after WaveFake, Frank & Schönherr 2021): real speech re-rendered by
a synthesis method, so the words, speaker and recording stay and only the rendering changes.

* **Griffin-Lim** from an 80-band mel spectrogram: the phase is invented, fine structure smeared;
* **phase vocoder** stretched and stretched back: phase coherence between bins is lost;
* **LPC vocoder**: the spectral envelope is kept, the excitation replaced by an impulse train at the
  estimated pitch or by noise, the classic "robotic" source-filter rendering.

A detector trained against these learns synthesis traces that no single real generator owns; real
generator outputs (../shared/fake-corpus) are added beside them when they exist.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.signal

SAMPLE_RATE = 16_000


def griffin_lim(wave: np.ndarray, seed: int = 0) -> np.ndarray:
    """Mel spectrogram (80 bands) → linear magnitude by the basis' pseudo-inverse → 32 Griffin-Lim
    iterations: the envelope survives, harmonics and phase are re-invented."""
    import librosa

    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=1024, n_mels=80)
    magnitude = np.abs(librosa.stft(wave, n_fft=1024, hop_length=256))
    mel = basis @ magnitude
    linear = np.clip(np.linalg.pinv(basis) @ mel, 0.0, None)
    out = librosa.griffinlim(
        linear, n_iter=32, hop_length=256, n_fft=1024, random_state=np.random.default_rng(seed)
    )
    return _match(out, wave)


def phase_vocoder(wave: np.ndarray, seed: int = 0) -> np.ndarray:
    import librosa

    rate = 1.0 + 0.15 + 0.2 * np.random.default_rng(seed).random()
    there = librosa.effects.time_stretch(wave, rate=rate)
    back = librosa.effects.time_stretch(there, rate=len(there) / len(wave))
    return _match(back, wave)


def lpc_vocoder(wave: np.ndarray, seed: int = 0, order: int = 16) -> np.ndarray:
    import librosa

    rng = np.random.default_rng(seed)
    win, hop = 400, 200
    window = np.hanning(win)
    out = np.zeros(len(wave) + win)
    phase = 0.0
    for start in range(0, max(1, len(wave) - win), hop):
        frame = wave[start : start + win] * window
        if np.abs(frame).max() < 1e-4:
            continue
        a = librosa.lpc(frame.astype(np.float64) + 1e-9 * rng.normal(size=win), order=order)
        residual = scipy.signal.lfilter(a, [1.0], frame)
        gain = np.sqrt(np.mean(residual**2))
        ac = np.correlate(frame, frame, "full")[win - 1 :]
        lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 60
        lag = int(np.argmax(ac[lo:hi])) + lo
        voiced = ac[lag] > 0.4 * ac[0]
        if voiced:
            excitation = np.zeros(win)
            pos = phase
            while pos < win:
                excitation[int(pos)] = np.sqrt(lag)
                pos += lag
            phase = pos - win + hop if pos - win + hop >= 0 else 0.0
        else:
            excitation = rng.normal(size=win)
        synth = scipy.signal.lfilter([gain], a, excitation) * window
        out[start : start + win] += synth
    return _match(out[: len(wave)], wave)


def _match(out: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Same length and loudness as the reference, so neither can give the rendering away."""
    out = np.asarray(out, dtype=np.float64)
    if len(out) < len(reference):
        out = np.pad(out, (0, len(reference) - len(out)))
    out = out[: len(reference)]
    ref_rms = np.sqrt(np.mean(reference.astype(np.float64) ** 2)) + 1e-9
    out_rms = np.sqrt(np.mean(out**2)) + 1e-9
    return np.asarray(np.clip(out * ref_rms / out_rms, -1.0, 1.0), dtype=np.float32)


METHODS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "griffin_lim": griffin_lim,
    "phase_vocoder": phase_vocoder,
    "lpc_vocoder": lpc_vocoder,
}
