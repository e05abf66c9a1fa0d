"""Named, measured traces that vocoders and codecs leave in speech (for ``audio.artifacts``).

Each feature is a number an examiner can read and argue about, not a learnt embedding:

* **high-band energy and roll-off**: many vocoders and band-limited TTS pipelines leave little
  energy above 4 kHz or cut it off sharply;
* **spectral flatness**: neural vocoders render noise-like bands (fricatives, breath) either too
  flat or too tonal;
* **group-delay irregularity**: a vocoder that predicts magnitudes and invents phase leaves a
  phase whose derivative across frequency is erratic (or too smooth) compared with a real vocal
  tract;
* **pitch micro-variation** (frame-level jitter of F0 and shimmer of voiced-frame level): natural
  voices wobble; many synthesisers are too steady or wobble on a wrong scale;
* **noise floor and silence**: real recordings have a room-noise floor that is consistent between
  pauses; synthesis often has digital silence or a floor that jumps between phrases.

Every input first passes the shared front end (16 kHz mono, one MP3 round trip), so the traces
describe the synthesis rather than the file format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modalities.audio import frontend

FEATURES: tuple[tuple[str, str], ...] = (
    ("high_band_ratio_db", "energy 4–8 kHz relative to 0–4 kHz in speech, dB"),
    ("rolloff_95_khz", "frequency below which 95% of speech energy lies, kHz"),
    ("flatness_low", "mean spectral flatness 0–4 kHz of speech frames"),
    ("flatness_high", "mean spectral flatness 4–8 kHz of speech frames"),
    ("flatness_spread", "spread of per-frame spectral flatness (std)"),
    ("group_delay_irregularity", "median |second difference| of group delay over frequency"),
    ("group_delay_spread", "inter-quartile range of that irregularity over frames"),
    ("f0_jitter", "mean relative change of F0 between consecutive voiced frames"),
    ("f0_spread", "std of log F0 over voiced frames"),
    ("shimmer_db", "mean |level change| between consecutive voiced frames, dB"),
    ("voiced_share", "share of speech frames that are voiced"),
    ("noise_floor_db", "pause level relative to speech level, dB"),
    ("floor_spread_db", "std of pause-frame levels, dB (consistency of the room noise)"),
    ("digital_silence_share", "share of frames more than 90 dB below the loudest"),
)
NAMES = tuple(name for name, _ in FEATURES)
MIN_SPEECH_FRAMES = 50  # 0.5 s


@dataclass(frozen=True)
class Traces:
    values: np.ndarray  # shape (len(FEATURES),)
    speech_frames: int

    def as_dict(self) -> dict[str, float]:
        return {name: float(v) for name, v in zip(NAMES, self.values, strict=True)}


def _f0_track(frames: np.ndarray, sr: int = frontend.SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """F0 per frame by normalised autocorrelation (60–400 Hz) and a voicing strength 0..1."""
    lo, hi = sr // 400, sr // 60
    x = frames - frames.mean(axis=1, keepdims=True)
    n = x.shape[1]
    spec = np.fft.rfft(x, n=2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : hi + 1]
    energy = ac[:, :1] + 1e-12
    norm = ac / energy
    lags = np.argmax(norm[:, lo : hi + 1], axis=1) + lo
    strength = norm[np.arange(len(norm)), lags]
    return sr / lags, strength


def _frames(wave: np.ndarray, win: int, hop: int) -> np.ndarray:
    if len(wave) < win:
        wave = np.pad(wave, (0, win - len(wave)))
    count = 1 + (len(wave) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(count)[:, None]
    return np.asarray(wave[idx])


def traces(normalized: np.ndarray, mask: np.ndarray | None = None) -> Traces | None:
    """The traces of a channel-normalised 16 kHz wave; None when it holds too little speech."""
    wave = normalized.astype(np.float64)
    frames = _frames(wave, frontend.WIN, frontend.HOP)
    if mask is None:
        mask = frontend.speech_mask(normalized)
    mask = np.asarray(mask[: len(frames)], bool)
    if len(mask) < len(frames):
        mask = np.pad(mask, (0, len(frames) - len(mask)))
    speech = int(mask.sum())
    if speech < MIN_SPEECH_FRAMES:
        return None
    windowed = frames * np.hanning(frontend.WIN)[None, :]
    spectrum = np.fft.rfft(windowed, n=frontend.N_FFT, axis=1)
    power = np.abs(spectrum) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(frontend.N_FFT, 1 / frontend.SAMPLE_RATE)
    low, high = freqs < 4000, freqs >= 4000
    sp = power[mask]
    high_ratio = 10 * np.log10(sp[:, high].sum() / sp[:, low].sum())
    ltas = sp.sum(axis=0)
    rolloff = freqs[np.searchsorted(np.cumsum(ltas) / ltas.sum(), 0.95)] / 1000

    def flatness(p: np.ndarray) -> np.ndarray:
        return np.asarray(np.exp(np.log(p).mean(axis=1)) / p.mean(axis=1))

    flat_all = flatness(sp)
    flat_low, flat_high = flatness(sp[:, low]).mean(), flatness(sp[:, high]).mean()

    # group delay: -dφ/dω, computed without unwrapping as Re(X' X*)/|X|² with X' the transform
    # of n·x[n]; its irregularity across frequency is measured on the speech band 100–4000 Hz
    ramp = np.arange(frontend.WIN)[None, :]
    spectrum_ramp = np.fft.rfft(windowed[mask] * ramp, n=frontend.N_FFT, axis=1)
    gd = np.real(spectrum_ramp * np.conj(spectrum[mask])) / power[mask]
    band = (freqs >= 100) & (freqs < 4000)
    gd = np.clip(gd[:, band], -frontend.WIN, 2 * frontend.WIN) / frontend.WIN
    irregular = np.median(np.abs(np.diff(gd, n=2, axis=1)), axis=1)
    gd_irregularity = float(np.median(irregular))
    q75, q25 = np.percentile(irregular, [75, 25])

    f0, strength = _f0_track(frames[mask])
    level_db = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    voiced = strength > 0.45
    voiced_share = float(voiced.mean())
    if voiced.sum() >= 10:
        vf0 = f0[voiced]
        consecutive = voiced[1:] & voiced[:-1]
        rel = np.abs(np.diff(f0)) / f0[:-1]
        jitter = float(np.median(rel[consecutive])) if consecutive.any() else 0.0
        f0_spread = float(np.std(np.log(vf0)))
        lv = level_db[mask]
        shimmer = float(np.median(np.abs(np.diff(lv))[consecutive])) if consecutive.any() else 0.0
    else:
        jitter, f0_spread, shimmer = 0.0, 0.0, 0.0

    loudest = level_db.max()
    speech_level = np.median(level_db[mask])
    pauses = level_db[~mask]
    if len(pauses) >= 10:
        floor = float(np.median(pauses) - speech_level)
        floor_spread = float(np.std(pauses))
    else:  # no pauses: the quietest speech frames stand in for the floor
        floor = float(np.percentile(level_db, 5) - speech_level)
        floor_spread = 0.0
    digital_silence = float((level_db < loudest - 90).mean())
    values = np.array(
        [
            high_ratio,
            rolloff,
            flat_low,
            flat_high,
            float(np.std(flat_all)),
            gd_irregularity,
            float(q75 - q25),
            jitter,
            f0_spread,
            shimmer,
            voiced_share,
            floor,
            floor_spread,
            digital_silence,
        ],
        dtype=np.float64,
    )
    return Traces(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0), speech)
