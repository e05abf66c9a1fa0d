"""The audio front end shared by every audio detector.

Every input, whatever its container, goes the same way: decode with PyAV, resample to 16 kHz mono,
then pass once through the same lossy channel (MP3 at 64 kbit/s, in memory). That last step is
deliberate: fakes found in the wild are often MP3 and real recordings often WAV, so a detector that
saw raw files could learn the codec instead of the synthesis. Normalising the channel at training
and at analysis time makes the format carry no evidence. Features: LFCC (the ASVspoof baseline
front end, linear-frequency cepstra with deltas) and an energy-based voice activity mask.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import scipy.fft

from core import decoding
from core.detector import DetectorSpec, Evidence, Finding, out_of_domain
from core.errors import ConfigError
from core.sound import encode_mp3
from modalities.audio import vad as vad_mod

SAMPLE_RATE = 16_000
WIN = 320  # 20 ms
HOP = 160  # 10 ms
N_FFT = 512
CHANNEL_BITRATE = 64_000


def normalize_channel(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One MP3 round trip at 64 kbit/s, mono, in memory; output has the input's length.

    No samples (a stream whose rate is too low to give one at 16 kHz) stay no samples: the
    encoder cannot take an empty frame, and the detectors name what is missing.
    """
    if len(wave) == 0:
        return np.zeros(0, np.float32)
    buffer = io.BytesIO(encode_mp3(wave, sample_rate=sample_rate, bit_rate=CHANNEL_BITRATE))
    out = []
    with av.open(buffer, "r", format="mp3") as container:
        resampler = decoding.resampler(format="fltp", layout="mono", rate=sample_rate)
        for decoded in container.decode(audio=0):
            for chunk in resampler.resample(decoded):
                out.append(chunk.to_ndarray()[0])
    decoded_wave = np.concatenate(out) if out else np.zeros(0, np.float32)
    # the encoder adds a priming delay; align by cross-correlation on a short window
    delay = _delay(wave, decoded_wave)
    aligned = decoded_wave[delay : delay + len(wave)]
    if len(aligned) < len(wave):
        aligned = np.pad(aligned, (0, len(wave) - len(aligned)))
    return aligned.astype(np.float32)


def _delay(reference: np.ndarray, delayed: np.ndarray, max_lag: int = 4000) -> int:
    n = min(len(reference), len(delayed) - max_lag, SAMPLE_RATE)
    if n <= WIN:
        return 0
    ref = reference[:n]
    scores = [float(np.dot(ref, delayed[lag : lag + n])) for lag in range(0, max_lag, 8)]
    coarse = int(np.argmax(scores)) * 8
    fine = range(max(0, coarse - 8), coarse + 9)
    return max(fine, key=lambda lag: float(np.dot(ref, delayed[lag : lag + n])))


def linear_filterbank(n_filters: int = 20, n_fft: int = N_FFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular filters equally spaced on a linear frequency scale, (n_filters, n_fft//2+1)."""
    bins = n_fft // 2 + 1
    freqs = np.linspace(0, sr / 2, bins)
    edges = np.linspace(0, sr / 2, n_filters + 2)
    bank = np.zeros((n_filters, bins))
    for i in range(n_filters):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rising = (freqs - lo) / (mid - lo)
        falling = (hi - freqs) / (hi - mid)
        bank[i] = np.clip(np.minimum(rising, falling), 0, None)
    return bank


_BANK = linear_filterbank()


POWER_BLOCK = 4096  # frames framed and transformed at once: bounds the transient memory


def frame_blocks(n_frames: int, size: int = POWER_BLOCK) -> list[tuple[int, int]]:
    """Consecutive (start, stop) frame ranges of at most ``size`` frames (one more in the last
    when it would otherwise hold a single frame), covering ``n_frames``.

    Work done per block is the work done on the whole: every frame's FFT is computed on its own,
    and a sum over the frequency axis of a (bins, frames) array adds the bins one after another
    for each frame whatever the number of frames, except for a single frame (NumPy then sums it
    pairwise); so no block holds one frame unless the whole does."""
    size = max(2, size)
    bounds = [(a, min(a + size, n_frames)) for a in range(0, n_frames, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n_frames)]
    return bounds


def power_blocks(wave: np.ndarray, size: int = POWER_BLOCK) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`power_spectrogram` block by block: (first frame, C-contiguous (n_fft//2+1, frames)
    block), so that a caller that only pools or sums the spectrogram never holds all of it (a
    10-minute passage is 123 MB of it in double precision)."""
    if len(wave) < WIN:
        wave = np.pad(wave, (0, WIN - len(wave)))
    window = np.hanning(WIN)[None, :]
    for start, stop in frame_blocks(_n_frames(len(wave)), size):
        idx = np.arange(WIN)[None, :] + HOP * np.arange(start, stop)[:, None]
        frames = wave[idx] * window
        yield start, np.ascontiguousarray((np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)) ** 2).T)


def power_spectrogram(wave: np.ndarray) -> np.ndarray:
    """|STFT|² with a 20 ms Hann window and 10 ms hop, shape (n_fft//2+1, frames).

    Computed in blocks of POWER_BLOCK frames into one output array: each frame's FFT is the same
    as in one batch, but the framed copy and the complex spectrum of a 10-minute input (about
    0.5 GB together) are never held at once."""
    out = np.empty((N_FFT // 2 + 1, _n_frames(len(wave))))
    for start, block in power_blocks(wave):
        out[:, start : start + block.shape[1]] = block
    return out


def frame_power(wave: np.ndarray) -> np.ndarray:
    """``power_spectrogram(wave).sum(axis=0)``, the same numbers, without the spectrogram: the
    sum over bins of each C-contiguous block adds them in the same order (see frame_blocks)."""
    return np.concatenate([block.sum(axis=0) for _, block in power_blocks(wave)])


def _deltas(x: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (1, 1)), mode="edge")
    return np.asarray((padded[:, 2:] - padded[:, :-2]) / 2.0)


def lfcc(wave: np.ndarray, n_ceps: int = 20, dtype: type = np.float32) -> np.ndarray:
    """LFCC with deltas and delta-deltas, shape (frames, 3·n_ceps), computed in double precision
    and returned as ``dtype``: single precision for training (the shipped mixtures were fitted on
    it), double for ``audio.lfcc_gmm``'s scores, so that rounding to single precision, where the
    CPU's vector code can tip a value by one unit, never decides a score's last digits."""
    energies = np.log(_BANK @ power_spectrogram(wave) + 1e-10)
    ceps = scipy.fft.dct(energies, type=2, norm="ortho", axis=0)[:n_ceps]
    delta = _deltas(ceps)
    return np.concatenate([ceps, delta, _deltas(delta)], axis=0).T.astype(dtype)


VADS = ("energy", "silero")


def speech_mask(wave: np.ndarray, vad: str = "energy") -> np.ndarray:
    """Voice-activity mask aligned with lfcc() frames (one bool per 10 ms frame).

    ``energy`` (the default, which the shipped detectors were trained and calibrated with) is
    crude but deterministic and free of weights; ``silero`` is the neural VAD of
    modalities.audio.vad, far better at telling speech from loud non-speech (music, noise, tones).
    """
    if vad == "energy":
        return energy_speech_mask(wave)
    if vad == "silero":
        return silero_speech_mask(wave)
    raise ConfigError(f"unknown voice activity detector {vad!r}; choose {', '.join(VADS)}")


def checked_vad(vad: str) -> str:
    """``vad`` if it names a VAD, else one ConfigError (raised when a detector is built)."""
    if vad not in VADS:
        raise ConfigError(f"unknown voice activity detector {vad!r}; choose {', '.join(VADS)}")
    return vad


def front_end_findings(vad: str, feature_backend: str = "numpy") -> list[Finding]:
    """Findings that record a non-default front end in the evidence, so a score made with the
    silero VAD or the torchaudio features says so (the defaults are what the detector's version
    and calibration imply, and add nothing)."""
    out = []
    if vad != "energy":
        out.append(Finding(code="vad", value=vad, message=f"speech found by the {vad} VAD"))
    if feature_backend != "numpy":
        out.append(
            Finding(
                code="feature_backend",
                value=feature_backend,
                message=f"features computed by the {feature_backend} backend",
            )
        )
    return out


def _n_frames(n_samples: int) -> int:
    return 1 + (max(n_samples, WIN) - WIN) // HOP


def silero_speech_mask(wave: np.ndarray, threshold: float = vad_mod.THRESHOLD) -> np.ndarray:
    """Silero speech probability above ``threshold``, on the lfcc() frame grid, with gaps shorter
    than 100 ms closed as in the energy mask."""
    probs = vad_mod.chunk_probabilities(np.asarray(wave, np.float32))
    frame_probs = vad_mod.frame_probabilities(probs, _n_frames(len(wave)), WIN, HOP)
    return _close_gaps(frame_probs > threshold)


def _close_gaps(mask: np.ndarray) -> np.ndarray:
    # close gaps shorter than 100 ms so words are not chopped into fragments
    kernel = np.ones(10)
    return np.asarray(np.convolve(mask.astype(float), kernel, mode="same") > 0)


def energy_speech_mask(wave: np.ndarray) -> np.ndarray:
    """A frame is speech when it is within 40 dB of the loudest frame and 12 dB above the noise
    floor (10th percentile)."""
    power = frame_power(wave)
    db = 10 * np.log10(power + 1e-12)
    floor = np.percentile(db, 10)
    mask = (db > db.max() - 40) & (db > floor + 12)
    return _close_gaps(mask)


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    frames: slice


def segments(n_frames: int, seconds: float = 2.0) -> list[Segment]:
    """Fixed windows over the frame axis for per-segment timelines."""
    step = max(1, int(seconds * SAMPLE_RATE / HOP))
    return [
        Segment(
            i * HOP / SAMPLE_RATE, min(n_frames, i + step) * HOP / SAMPLE_RATE, slice(i, i + step)
        )
        for i in range(0, n_frames, step)
    ]


def clipped_share(wave: np.ndarray) -> float:
    """Share of samples at or within 0.1 % of full scale (|x| ≥ 0.999), in runs of at least
    three samples: a clipped recording flattens its peaks there. Measured on the decoded sound,
    before the channel normalisation hides it (modalities.audio.passages)."""
    if len(wave) < 3:
        return 0.0
    at_limit = np.abs(wave) >= 0.999
    runs = at_limit[:-2] & at_limit[1:-1] & at_limit[2:]
    return float(runs.mean())


CLIPPED_NOTE = 0.001  # more than 0.1 % of samples in clipped runs is reported


def no_audio_track(spec: DetectorSpec) -> Evidence:
    """What every audio detector answers for a video without sound: out of domain."""
    return out_of_domain(spec, "no audio track")


def speech_finding(frames: int, duration_s: float) -> Finding:
    """How much speech the voice activity detection kept (``frames`` of 10 ms) in a passage of
    ``duration_s``: the same words for every audio detector, zero included."""
    return Finding(
        code="speech_seconds",
        value=round(frames / 100, 2),
        message=f"{frames / 100:.1f} s of speech in {duration_s:.1f} s",
    )


def too_little_speech(
    spec: DetectorSpec,
    findings: list[Finding],
    reason: str = "less than 1 s of speech",
    summary: str = "too little speech to judge",
) -> Evidence:
    """The out-of-domain evidence of a detector that found less speech than it needs, with the
    findings so far (front end, input, ``speech_seconds``)."""
    return out_of_domain(spec, reason, summary=summary, findings=findings)
