"""Does the mouth move with the voice? Mouth opening and speech features at the video frame rate,
and their normalised cross-correlation over time offsets, in sliding windows.

Conventions used everywhere in the lip-sync modality:

* an **offset** ``d`` (frames) compares the mouth at frame ``t`` with the audio at frame ``t + d``;
  the best ``d`` is positive when the sound arrives *later* than the picture (audio lags video);
* a **curve** is the correlation as a function of ``d`` in ``[-max_offset, max_offset]``;
* the **confidence** of a curve is its peak minus its median, SyncNet's "median minus minimum
  distance" written for a correlation (Chung & Zisserman, "Out of time", ACCV 2016 workshops).

The speech side is two signals: the log energy of the 300–3000 Hz band (how loud the voice is, which
follows how wide the mouth opens) and the spectral flux of a mel spectrogram (onsets, which follow
the mouth starting to move). The mouth side is the inner-lip gap from the 68 landmarks, divided by
the mouth width so that head size and distance do not matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
MAX_OFFSET = 15  # frames each way, as SyncNet
WINDOW_S = 2.0
HOP_S = 0.5
TOLERANCE = 2  # frames: offsets this close to zero count as in sync (80 ms at 25 fps)
MIN_CONFIDENCE = 0.1  # a window whose curve has no clearer peak than this decides nothing
NULL_ROLLS = (0.25, 0.375, 0.5, 0.625, 0.75)  # soundtrack rolls (share of the clip) for the null
MIN_ROLL = MAX_OFFSET + TOLERANCE + 1  # frames: a roll the offset search cannot undo


# A speaking mouth opens and shuts. Over the frames with speech, a talking head's mouth opening
# (below) spreads by 0.098-0.33 between its 10th and 90th percentiles (measured on the 11 GRID
# clips and the two speakers of the interview in train-corpus), a still picture's by 0 (its
# frames are one picture), and a still face under camera noise (grey-level noise of sd 3-6, a
# 0.7-px shake) by 0.022-0.039 from landmark jitter (faces of 320 and 200 px). Below
# MIN_MOUTH_MOTION the face on screen is not the one speaking: a still picture under a voice,
# a listener, a narrator off screen. Its sync measures nothing, and scoring it read "no sync"
# as evidence of a dub. Smaller noisy still faces jitter more and are analysed as before.
MIN_MOUTH_MOTION = 0.05
MIN_MOTION_FRAMES = 10  # frames with speech and a face needed to judge the motion at all
STILL_MOUTH = (
    "the mouth on screen does not move while speech is heard "
    "(a still picture, or the speaker is off screen)"
)


def mouth_motion(opening: np.ndarray, voiced: np.ndarray) -> float | None:
    """90th minus 10th percentile of a mouth-opening series over its frames with speech where the
    face was seen (``opening`` NaN where not); None with fewer than ``MIN_MOTION_FRAMES``."""
    seen = np.isfinite(opening) & np.asarray(voiced, bool)
    if seen.sum() < MIN_MOTION_FRAMES:
        return None
    low, high = np.percentile(opening[seen], [10, 90])
    return float(high - low)


def still_mouth(opening: np.ndarray, voiced: np.ndarray) -> bool:
    """Does this mouth stay still while speech is heard (see ``MIN_MOUTH_MOTION``)?"""
    motion = mouth_motion(opening, voiced)
    return motion is not None and motion < MIN_MOUTH_MOTION


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap over mouth width from dlib's 68 points (60–67 inner lips, 48/54 corners)."""
    upper = landmarks[[61, 62, 63]]
    lower = landmarks[[67, 66, 65]]
    gap = float(np.linalg.norm(upper - lower, axis=1).mean())
    width = float(np.linalg.norm(landmarks[54] - landmarks[48]))
    return gap / width if width > 1e-6 else 0.0


def fill_gaps(series: np.ndarray, max_gap: int = 5) -> np.ndarray:
    """Linearly interpolate NaN runs of at most ``max_gap`` frames; longer runs stay NaN."""
    out = series.astype(np.float64).copy()
    missing = np.isnan(out)
    if missing.all() or not missing.any():
        return out
    idx = np.arange(len(out))
    filled = np.interp(idx, idx[~missing], out[~missing])
    run_start = None
    for i in range(len(out) + 1):
        gap = i < len(out) and missing[i]
        if gap and run_start is None:
            run_start = i
        elif not gap and run_start is not None:
            inside = run_start > 0 and i < len(out)
            if inside and i - run_start <= max_gap:
                out[run_start:i] = filled[run_start:i]
            run_start = None
    return out


def _mel_bank(n_fft: int, n_mels: int = 24) -> np.ndarray:
    def mel(f: np.ndarray) -> np.ndarray:
        return np.asarray(2595 * np.log10(1 + f / 700))

    freqs = np.fft.rfftfreq(n_fft, 1 / SAMPLE_RATE)
    edges_mel = np.linspace(mel(np.array(80.0)), mel(np.array(7600.0)), n_mels + 2)
    edges = 700 * (10 ** (edges_mel / 2595) - 1)
    bank = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        bank[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    return bank


@dataclass(frozen=True)
class SpeechTrack:
    """Speech features sampled at the video frames' times."""

    envelope: np.ndarray  # log energy 300–3000 Hz, dB
    flux: np.ndarray  # mel spectral flux (onsets)
    voiced: np.ndarray  # bool: frame within 30 dB of the loudest and 10 dB above the floor


def _frame_power(wave: np.ndarray, times: np.ndarray, fps: float) -> tuple[np.ndarray, int]:
    """Power spectra of ``wave`` (16 kHz mono) in a window of one frame period centred on each
    time, and the FFT size."""
    win = max(256, round(SAMPLE_RATE / fps))
    n_fft = 1 << int(np.ceil(np.log2(win)))
    centres = np.round(times * SAMPLE_RATE).astype(int)
    padded = np.pad(wave.astype(np.float64), (win, win))
    idx = centres[:, None] + win - win // 2 + np.arange(win)[None, :]
    idx = np.clip(idx, 0, len(padded) - 1)
    frames = padded[idx] * np.hanning(win)[None, :]
    return np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2, n_fft


def log_mel(wave: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    """24-band log-mel energies of ``wave`` at each video frame time (one row per time)."""
    return _log_mel(*_frame_power(wave, times, fps))


def _log_mel(power: np.ndarray, n_fft: int) -> np.ndarray:
    return np.asarray(np.log(power @ _mel_bank(n_fft).T + 1e-10))


def speech_track(wave: np.ndarray, times: np.ndarray, fps: float) -> SpeechTrack:
    """Features of ``wave`` (16 kHz mono) in a window of one frame period centred on each time."""
    power, n_fft = _frame_power(wave, times, fps)
    freqs = np.fft.rfftfreq(n_fft, 1 / SAMPLE_RATE)
    band = (freqs >= 300) & (freqs <= 3000)
    envelope = 10 * np.log10(power[:, band].sum(axis=1) + 1e-10)
    mel = _log_mel(power, n_fft)
    flux = np.concatenate([[0.0], np.clip(np.diff(mel, axis=0), 0, None).sum(axis=1)])
    floor = np.percentile(envelope, 10)
    voiced = (envelope > envelope.max() - 30) & (envelope > floor + 10)
    return SpeechTrack(envelope, flux, voiced)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 8:
        return np.nan
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 1e-12 else np.nan


def offset_curve(
    mouth: np.ndarray, speech: SpeechTrack, lo: int, hi: int, max_offset: int = MAX_OFFSET
) -> np.ndarray:
    """Correlation for each offset in ``-max_offset..max_offset`` over frames ``lo:hi``.

    Two pairings are averaged: mouth opening with speech envelope, and mouth opening speed
    (positive part) with onsets.
    """
    speed = np.concatenate([[0.0], np.clip(np.diff(mouth), 0, None)])
    n = len(mouth)
    curve = np.full(2 * max_offset + 1, np.nan)
    for k, d in enumerate(range(-max_offset, max_offset + 1)):
        a0, a1 = max(lo, -d), min(hi, n - d)  # mouth frames t with t + d inside the clip
        if a1 - a0 < 8:
            continue
        t = np.arange(a0, a1)
        pair = [_ncc(mouth[t], speech.envelope[t + d]), _ncc(speed[t], speech.flux[t + d])]
        values = [v for v in pair if not np.isnan(v)]
        curve[k] = float(np.mean(values)) if values else np.nan
    return curve


def confidence(curve: np.ndarray) -> float:
    ok = curve[~np.isnan(curve)]
    return float(ok.max() - np.median(ok)) if len(ok) else 0.0


def best_offset(curve: np.ndarray) -> int:
    return int(np.nanargmax(curve)) - (len(curve) - 1) // 2


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    curve: np.ndarray
    offset: int
    confidence: float
    speech: bool
    min_confidence: float = MIN_CONFIDENCE  # a learnt score has its own scale (lipsync.syncnet)

    @property
    def shift_gain(self) -> float:
        """How much better the best offset explains this window than any in-sync offset."""
        middle = (len(self.curve) - 1) // 2
        near = self.curve[middle - TOLERANCE : middle + TOLERANCE + 1]
        if np.isnan(near).all():
            return 0.0
        return float(np.nanmax(self.curve) - np.nanmax(near))

    @property
    def verdict(self) -> str:
        """``out_of_sync`` when a shifted alignment is clearly better (by ``min_confidence``),
        ``in_sync`` when the curve has a clear peak within the tolerance, else ``undecided``."""
        if not self.speech or np.isnan(self.curve).all():
            return "undecided"
        if self.shift_gain >= self.min_confidence:
            return "out_of_sync"
        return "in_sync" if self.confidence >= self.min_confidence else "undecided"


@dataclass(frozen=True)
class SyncAnalysis:
    fps: float
    offsets: np.ndarray
    curve: np.ndarray  # mean of the speech windows' curves
    offset: int
    confidence: float
    windows: tuple[Window, ...]

    @property
    def offset_ms(self) -> float:
        return 1000.0 * self.offset / self.fps

    @property
    def speech_windows(self) -> list[Window]:
        return [w for w in self.windows if w.speech]

    def share(self, verdict: str) -> float:
        speech = self.speech_windows
        return sum(w.verdict == verdict for w in speech) / len(speech) if speech else 0.0


def analyse_sync(
    mouth: np.ndarray, speech: SpeechTrack, fps: float, max_offset: int = MAX_OFFSET
) -> SyncAnalysis | None:
    """Sliding-window sync analysis; None when no window holds enough speech and mouth."""
    n = len(mouth)
    size = max(16, round(WINDOW_S * fps))
    hop = max(1, round(HOP_S * fps))
    starts = list(range(0, max(1, n - size + 1), hop))
    windows = []
    for start in starts:
        end = min(n, start + size)
        seen = ~np.isnan(mouth[start:end])
        talking = speech.voiced[start:end].mean() >= 0.3 and seen.mean() >= 0.8
        curve = offset_curve(mouth, speech, start, end, max_offset)
        usable = not np.isnan(curve).all()
        windows.append(
            Window(
                start=start,
                end=end,
                curve=curve,
                offset=best_offset(curve) if usable else 0,
                confidence=confidence(curve) if usable else 0.0,
                speech=bool(talking and usable),
            )
        )
    speech_windows = [w for w in windows if w.speech]
    if not speech_windows:
        return None
    mean_curve = _mean_over_windows(np.stack([w.curve for w in speech_windows]))
    return SyncAnalysis(
        fps=fps,
        offsets=np.arange(-max_offset, max_offset + 1),
        curve=mean_curve,
        offset=best_offset(mean_curve),
        confidence=confidence(mean_curve),
        windows=tuple(windows),
    )


def _mean_over_windows(curves: np.ndarray) -> np.ndarray:
    """Each offset's mean over the windows that could measure it, NaN where none could (the
    same sums as np.nanmean, without its warning for an offset no window reached)."""
    counts = (~np.isnan(curves)).sum(axis=0)
    return np.where(counts > 0, np.nansum(curves, axis=0) / np.maximum(counts, 1), np.nan)


def in_sync_prominence(analysis: SyncAnalysis | None) -> list[float]:
    """Per speech window: the best curve value within ±``TOLERANCE`` frames of offset 0 minus
    the curve's median over all offsets (how clearly the pairing as given beats the others)."""
    if analysis is None:
        return []
    middle = (len(analysis.offsets) - 1) // 2
    out = []
    for w in analysis.speech_windows:
        near = w.curve[middle - TOLERANCE : middle + TOLERANCE + 1]
        if not np.isnan(near).all():
            out.append(float(np.nanmax(near) - np.nanmedian(w.curve)))
    return out


def null_rolls(n_frames: int) -> list[int]:
    """Roll sizes (frames) for a clip of ``n_frames``: a quarter to three quarters of it, each at
    least ``MIN_ROLL`` frames from a whole turn: the rolled soundtrack is out of sync for sure."""
    ks = {round(n_frames * f) for f in NULL_ROLLS}
    return sorted(k for k in ks if min(k, n_frames - k) >= MIN_ROLL)


@dataclass(frozen=True)
class SyncNullTest:
    """The clip's in-sync prominence against its own out-of-sync null.

    The null is the same mouths with the clip's own soundtrack rolled (same face, camera, voice,
    codec, same detector scale), so the comparison needs no threshold learnt on other footage."""

    window_values: tuple[float, ...]  # each speech window's in-sync prominence, as recorded
    null_values: tuple[float, ...]  # each window's with the soundtrack rolled
    rolls: int

    @property
    def observed(self) -> float:
        """Mean in-sync prominence over the speech windows as recorded."""
        return float(np.mean(self.window_values))

    @property
    def null_mean(self) -> float:
        return float(np.mean(self.null_values))

    @property
    def null_sd(self) -> float:
        return float(np.std(self.null_values)) + 1e-9

    @property
    def windows(self) -> int:
        return len(self.window_values)

    @property
    def null_windows(self) -> int:
        return len(self.null_values)

    @property
    def z(self) -> float:
        """Standard deviations by which the observed sync falls short of the null's mean."""
        return (self.null_mean - self.observed) / self.null_sd

    @property
    def no_sync_score(self) -> float:
        """Φ(z): about 0 for a clip clearly in sync, 0.5 for one no better than its rolled
        soundtrack, towards 1 for one worse than it (a pairing offset beyond the tolerance)."""
        return 0.5 * math.erfc(-self.z / math.sqrt(2))


def sync_null_test(
    analysis: SyncAnalysis, n_frames: int, reanalyse: Callable[[int], SyncAnalysis | None]
) -> SyncNullTest | None:
    """Compare ``analysis`` with ``reanalyse(k)``, the same mouths against the soundtrack rolled
    by ``k`` frames, for every roll of ``null_rolls(n_frames)``. None when the clip is too short
    for a roll or the rolls leave fewer than two speech windows."""
    observed = in_sync_prominence(analysis)
    null: list[float] = []
    rolls = null_rolls(n_frames)
    for k in rolls:
        null += in_sync_prominence(reanalyse(k))
    if not observed or len(null) < 2:
        return None
    return SyncNullTest(window_values=tuple(observed), null_values=tuple(null), rolls=len(rolls))
