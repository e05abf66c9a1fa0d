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


def _frames(wave: np.ndarray, win: int, hop: int, rows: range | None = None) -> np.ndarray:
    """Frames of ``wave`` (all, or the ``rows`` asked for) in double precision."""
    if len(wave) < win:
        wave = np.pad(wave, (0, win - len(wave)))
    count = 1 + (len(wave) - win) // hop
    rows = range(count) if rows is None else rows
    idx = np.arange(win)[None, :] + hop * np.asarray(rows)[:, None]
    return np.asarray(wave[idx], dtype=np.float64)


BLOCK = 4096  # frames measured at once (about 60 MB of transient arrays)


@dataclass
class _PerFrame:
    """What traces() keeps of each frame: the speech frames' power spectra (the band sums and
    the long-term spectrum add them up across frames, so they are kept whole, in the order the
    whole-array computation adds them) and one or two numbers per frame for the rest."""

    speech_power: np.ndarray  # (speech frames, bins)
    flat_all: np.ndarray
    flat_low: np.ndarray
    flat_high: np.ndarray
    irregular: np.ndarray
    f0: np.ndarray
    strength: np.ndarray
    level_db: np.ndarray  # every frame, speech or not


def _flatness(p: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(np.log(p).mean(axis=1)) / p.mean(axis=1))


def _per_frame(wave: np.ndarray, mask: np.ndarray, speech: int) -> _PerFrame:
    """Each frame's measurements, BLOCK frames at a time.

    A 10-minute passage measured whole held its frames, their spectra, the group-delay spectra
    and the autocorrelations at once: 2.2 GB, the peak of every audio analysis. Every number
    here is computed frame by frame (each FFT, each sum and median along one frame's bins), so
    blocks give exactly the numbers of the whole (tests/modalities/test_audio_memory.py)."""
    freqs = np.fft.rfftfreq(frontend.N_FFT, 1 / frontend.SAMPLE_RATE)
    low, high = freqs < 4000, freqs >= 4000
    band = (freqs >= 100) & (freqs < 4000)
    hann = np.hanning(frontend.WIN)[None, :]
    ramp = np.arange(frontend.WIN)[None, :]
    out = _PerFrame(
        speech_power=np.empty((speech, len(freqs))),
        flat_all=np.empty(speech),
        flat_low=np.empty(speech),
        flat_high=np.empty(speech),
        irregular=np.empty(speech),
        f0=np.empty(speech),
        strength=np.empty(speech),
        level_db=np.empty(len(mask)),
    )
    done = 0
    for start in range(0, len(mask), BLOCK):
        rows = range(start, min(start + BLOCK, len(mask)))
        frames = _frames(wave, frontend.WIN, frontend.HOP, rows)
        out.level_db[start : rows.stop] = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
        keep = mask[start : rows.stop]
        n = int(keep.sum())
        if not n:
            continue
        windowed = frames * hann
        spectrum = np.fft.rfft(windowed, n=frontend.N_FFT, axis=1)
        power = np.abs(spectrum) ** 2 + 1e-12
        sp = power[keep]
        at = slice(done, done + n)
        out.speech_power[at] = sp
        out.flat_all[at] = _flatness(sp)
        out.flat_low[at], out.flat_high[at] = _flatness(sp[:, low]), _flatness(sp[:, high])
        # group delay: -dφ/dω, computed without unwrapping as Re(X' X*)/|X|² with X' the
        # transform of n·x[n]; its irregularity across frequency on the speech band 100–4000 Hz
        spectrum_ramp = np.fft.rfft(windowed[keep] * ramp, n=frontend.N_FFT, axis=1)
        gd = np.real(spectrum_ramp * np.conj(spectrum[keep])) / power[keep]
        gd = np.clip(gd[:, band], -frontend.WIN, 2 * frontend.WIN) / frontend.WIN
        out.irregular[at] = np.median(np.abs(np.diff(gd, n=2, axis=1)), axis=1)
        out.f0[at], out.strength[at] = _f0_track(frames[keep])
        done += n
    return out


def traces(normalized: np.ndarray, mask: np.ndarray | None = None) -> Traces | None:
    """The traces of a channel-normalised 16 kHz wave; None when it holds too little speech."""
    wave = np.asarray(normalized)  # framed in double precision block by block (_frames)
    count = 1 + (max(len(wave), frontend.WIN) - frontend.WIN) // frontend.HOP
    if mask is None:
        mask = frontend.speech_mask(normalized)
    mask = np.asarray(mask[:count], bool)
    if len(mask) < count:
        mask = np.pad(mask, (0, count - len(mask)))
    speech = int(mask.sum())
    if speech < MIN_SPEECH_FRAMES:
        return None
    frame = _per_frame(wave, mask, speech)
    freqs = np.fft.rfftfreq(frontend.N_FFT, 1 / frontend.SAMPLE_RATE)
    low, high = freqs < 4000, freqs >= 4000
    sp = frame.speech_power
    high_ratio = 10 * np.log10(sp[:, high].sum() / sp[:, low].sum())
    ltas = sp.sum(axis=0)
    rolloff = freqs[np.searchsorted(np.cumsum(ltas) / ltas.sum(), 0.95)] / 1000
    flat_all = frame.flat_all
    flat_low, flat_high = frame.flat_low.mean(), frame.flat_high.mean()
    irregular = frame.irregular
    gd_irregularity = float(np.median(irregular))
    q75, q25 = np.percentile(irregular, [75, 25])

    f0, strength, level_db = frame.f0, frame.strength, frame.level_db
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
