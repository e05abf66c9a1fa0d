"""``visual.temporal``: how a face behaves over time: landmark jitter, identity drift, blinking.

A real face moves coherently, keeps its identity and blinks every few seconds; frame-by-frame
synthesis can shake, let another identity show through, or forget to blink. The video is looked
at in bursts: up to ``MAX_BURSTS`` spans of ``BURST_S`` seconds, spread evenly over the whole
length and each sampled densely at ``FPS``; in each burst the longest reliable face track is
measured (temporal_cues.py), and each burst's score is how far its jitter or drift lies above what
real talking-head video shows (``REFERENCE``, measured the same way on train-corpus real clips by
bench/visual_temporal_reference.py). Blink rate and duration are reported as named findings against
the published natural ranges; with the few real clips at hand they are not folded into the score.

Why bursts (1.1.0): jitter is motion between consecutive samples and a blink lasts 100-400 ms, so
both are only comparable at one sampling rate. 1.0.0 spread at most 150 frames over the whole
video, so a 60 s clip was sampled at 2.5 fps instead of 10 and the same real face scored about
twice as anomalous (and blinks went unseen) only because the clip was longer. Fixed-rate bursts
keep cost bounded and the cue's meaning the same at every length; the finding ``bursts`` says how
much of a long video was looked at.

No weights: the reference statistics below are the detector's whole knowledge, and its version
changes when they do. Images are outside its domain (it is registered for video only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality, SeriesPoint
from core.media import MediaKind
from modalities.visual import aggregate, faces, second_look, temporal_cues

NAME = "visual.temporal"
# 1.1.1: a video whose bursts show no reliable face is looked at again (second_look.py): its
# faces of 64 px or more at full size are measured in the bursts at that size; only smaller faces
# are named too small ("no face tracked long enough" or "no face tracked for 1 s" before)
VERSION = "1.1.1"
FPS = 10.0
BURST_S = 3.0  # the length of the real clips the reference was measured on (GRID: 3 s)
MAX_BURSTS = 5  # 150 frames in all, whatever the video's length
MAX_SIDE = 960
WINDOW_S = BURST_S  # one scored window per burst
MIN_TRACK_S = 1.0
DESCRIBE_EVERY = 5  # identity descriptor on every 5th frame (2 per second at 10 fps)
DETECT_EVERY = 5  # HOG on every 5th frame; landmarks re-fitted in between (faces.track_faces)
# Median and robust spread (1.4826 × MAD) of per-burst values on real talking-head clips
# (16 bursts of 12 clips, REFERENCE_SOURCE; train-corpus manifest sha256 d0b91fd3…67d3e5).
# 1.0.0 had 0.0162 / 0.0066 and 0.1512 / 0.0577 from 40 windows of 2 s and their 1-s remainders.
REFERENCE: dict[str, dict[str, float]] = {
    "jitter": {"median": 0.0155, "scale": 0.0036},
    "drift": {"median": 0.1334, "scale": 0.0346},
}
REFERENCE_SOURCE = (
    "train-corpus video/grid (11 clips) + video/visualvoice (1 clip), real; "
    "bench/visual_temporal_reference.py"
)

SPEC = DetectorSpec(
    name=NAME,
    modality=Modality.VISUAL,
    version=VERSION,
    summary="Face behaviour over time: landmark jitter, identity drift, blink rate and duration",
    media_kinds=frozenset({MediaKind.VIDEO}),
    resolution="segment",
    input_fps=FPS,
    licence=f"code Apache-2.0; {faces.LANDMARK_LICENCE}",
    paper="Li, Chang & Lyu, In Ictu Oculi, WIFS 2018; Soukupová & Čech, CVWW 2016",
)


def burst_spans(duration_s: float | None) -> list[tuple[float, float]]:
    """The ``[start, end)`` spans looked at: ``BURST_S`` long, at most ``MAX_BURSTS``.

    A video up to ``MAX_BURSTS × BURST_S`` long is tiled from the start; a longer one gets bursts
    spread evenly from its first to its last ``BURST_S`` seconds, starting on the ``1 / FPS``
    grid. An unknown duration is treated as a long one read from the start (tiled; spans past the
    end hold no frames).

    >>> burst_spans(7.0)
    [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]
    >>> [start for start, _ in burst_spans(30.0)]
    [0.0, 6.8, 13.5, 20.2, 27.0]
    """
    if not duration_s or duration_s <= 0:
        count, last_start = MAX_BURSTS, None
    else:
        count = min(MAX_BURSTS, max(1, math.ceil(duration_s / BURST_S - 1e-9)))
        last_start = duration_s - BURST_S if count * BURST_S < duration_s else None
    if last_start is None or count == 1:
        starts = [k * BURST_S for k in range(count)]
    else:
        gap = last_start / (count - 1)
        starts = [round(round(k * gap * FPS) / FPS, 6) for k in range(count)]
    return [(float(start), float(start) + BURST_S) for start in starts]


@dataclass(frozen=True)
class TrackCues:
    """What was measured on one track."""

    times: np.ndarray
    ear: np.ndarray
    jitter: np.ndarray  # per consecutive frame pair (aligned to times[1:])
    drift: dict[float, float]  # time -> distance from the track's median identity
    blinks: list[temporal_cues.Blink]

    @property
    def duration_s(self) -> float:
        return float(self.times[-1] - self.times[0]) if len(self.times) else 0.0


def measure_track(track: faces.Track, scan: faces.FaceScan) -> TrackCues:
    times = np.array([f.time_s for f in track.faces])
    marks = np.stack([f.landmarks for f in track.faces])
    ear = np.array([temporal_cues.eye_aspect_ratio(m) for m in marks])
    described = [(f.time_s, scan.descriptor(f)) for f in track.faces]
    pairs = [(t, d) for t, d in described if d is not None]
    drift: dict[float, float] = {}
    if len(pairs) >= 3:
        distances = temporal_cues.identity_drift(np.stack([d for _, d in pairs]))
        drift = {t: float(v) for (t, _), v in zip(pairs, distances, strict=True)}
    return TrackCues(
        times=times,
        ear=ear,
        jitter=temporal_cues.landmark_jitter(marks),
        drift=drift,
        blinks=temporal_cues.blinks(ear, times),
    )


def window_values(cues: TrackCues) -> list[tuple[float, float, dict[str, float]]]:
    """(start, end, {cue: median value}) per window of the track."""
    out = []
    for idx in temporal_cues.windows(cues.times, WINDOW_S):
        start, end = float(cues.times[idx[0]]), float(cues.times[idx[-1]])
        values: dict[str, float] = {}
        pair_idx = idx[idx >= 1] - 1  # jitter of pair (k-1, k) belongs to frame k
        if len(pair_idx):
            values["jitter"] = float(np.median(cues.jitter[pair_idx]))
        drift = [v for t, v in cues.drift.items() if start <= t <= end]
        if drift:
            values["drift"] = float(np.median(drift))
        if values:
            out.append((start, max(end, start + 1.0 / FPS), values))
    return out


def z_scores(values: dict[str, float]) -> dict[str, float]:
    return {
        cue: (value - REFERENCE[cue]["median"]) / REFERENCE[cue]["scale"]
        for cue, value in values.items()
    }


@dataclass(frozen=True)
class Burst:
    """One span looked at: what the face pass saw there, and the cues of its longest track."""

    start_s: float
    end_s: float
    scan: faces.FaceScan
    cues: TrackCues | None  # None: no face tracked for MIN_TRACK_S in this burst


def scan_burst(media: MediaInput, start_s: float, end_s: float, side: int = 0) -> Burst:
    """Track faces in ``[start_s, end_s)`` at ``FPS`` and measure the longest reliable track.

    ``side`` (0: the usual ``MAX_SIDE`` frames, faces sought on 640-px copies): frames at most
    that large, faces sought on the whole frame, upright (the second look's finer analysis)."""
    frames = media.frames(
        fps=FPS,
        max_frames=round((end_s - start_s) * FPS),
        max_side=side or MAX_SIDE,
        start_s=start_s,
        end_s=end_s,
    )
    scan = faces.track_faces(
        frames,
        upsample=1,
        describe_every=DESCRIBE_EVERY,
        detect_every=DETECT_EVERY,
        try_rotations=not side,
        detect_side=side or faces.DETECT_MAX_SIDE,
    )
    usable = [t for t in scan.tracks if sum(not f.tiny for f in t.faces) >= 3]
    cues = None
    if usable:
        measured = measure_track(max(usable, key=lambda t: len(t.faces)), scan)
        cues = measured if measured.duration_s >= MIN_TRACK_S else None
    return Burst(start_s, end_s, scan, cues)


def scan_bursts(media: MediaInput, side: int = 0) -> list[Burst]:
    spans = burst_spans(media.info.duration_s)
    return [scan_burst(media, start, end, side) for start, end in spans]


def _reliable(bursts: list[Burst]) -> bool:
    return any(not f.tiny for b in bursts for t in b.scan.tracks for f in t.faces)


class TemporalDetector:
    spec = SPEC

    def analyze(self, media: MediaInput) -> Evidence:
        bursts = scan_bursts(media)
        look = None if _reliable(bursts) else second_look.second_look(media)
        if look is not None and look.reliable:
            again = scan_bursts(media, look.side)  # the bursts again at the look's size
            bursts = again if any(b.scan.tracks for b in again) else bursts
        measured = [b.cues for b in bursts if b.cues is not None]
        scanned = sum(b.scan.frames_scanned for b in bursts)
        with_face = sum(b.scan.frames_with_face for b in bursts)
        flags = sorted({flag for b in bursts for flag in b.scan.flags})
        base = [
            Finding(
                code="frames_analysed",
                value=scanned,
                message=f"{scanned} frame(s) at {FPS:g} fps, {with_face} with a face",
            ),
            _coverage(bursts, media.info.duration_s),
        ]
        base += [Finding(code=f"flag_{flag}", value=True, message=flag) for flag in flags]
        if look is not None:
            base += look.findings(f"on {faces.DETECT_MAX_SIDE}-px copies of the bursts' frames")
        if not measured:
            tracked = [b for b in bursts if any(len(t.faces) >= 3 for t in b.scan.tracks)]
            small = any(b.scan.tracks for b in bursts)
            small = small or (look is not None and look.reason == second_look.SMALL_FACES)
            if _reliable(bursts):
                reason = (
                    f"no face tracked for {MIN_TRACK_S:g} s in any {BURST_S:g}-s burst"
                    if tracked
                    else "no face tracked long enough"
                )
            else:
                reason = second_look.SMALL_FACES if small else "no face tracked long enough"
            return Evidence.from_llr(
                self.spec,
                raw_score=0.0,
                llr=0.0,
                out_of_domain=reason,
                findings=tuple(base),
                summary="no reliable face track",
            )
        series, window_scores = [], []
        for cues in measured:
            for start, end, values in window_values(cues):
                score = max(z_scores(values).values())
                window_scores.append(score)
                series.append(SeriesPoint(start_s=start, end_s=end, score=score))
        raw = aggregate.top_k_mean(window_scores) if window_scores else 0.0
        findings = base + _measured(measured)
        return Evidence.from_llr(
            self.spec,
            raw_score=raw,
            llr=0.0,
            findings=tuple(findings),
            series=tuple(series),
            summary=f"temporal anomaly {raw:+.2f} (robust z of jitter / identity drift)",
        )


def _coverage(bursts: list[Burst], duration_s: float | None) -> Finding:
    """How much of the video was looked at, so that nobody reads it as the whole of a long one."""
    faced = sum(b.cues is not None for b in bursts)
    spans = ", ".join(f"{b.start_s:.1f}-{b.end_s:.1f} s" for b in bursts)
    looked = sum(min(b.end_s, duration_s or b.end_s) - b.start_s for b in bursts)
    of_total = f" of {duration_s:.1f} s" if duration_s else ""
    return Finding(
        code="bursts",
        value=faced,
        message=f"face measured in {faced} of {len(bursts)} burst(s) of {BURST_S:g} s at "
        f"{FPS:g} fps ({spans}); {max(looked, 0.0):.1f} s{of_total} looked at",
    )


def _measured(measured: list[TrackCues]) -> list[Finding]:
    """Named findings with the measured values, over every burst with a face."""
    duration = sum(c.duration_s for c in measured)
    frames = sum(len(c.times) for c in measured)
    out = [
        Finding(
            code="track_duration_s",
            value=round(duration, 2),
            message=f"face tracked {duration:.1f} s in {len(measured)} burst(s), {frames} frames",
        )
    ]
    jitter_all = np.concatenate([c.jitter for c in measured])
    if len(jitter_all):
        jitter = float(np.median(jitter_all))
        out.append(
            Finding(
                code="landmark_jitter",
                value=round(jitter, 4),
                message=f"median residual landmark motion {jitter:.4f} inter-ocular distances "
                f"per frame (real clips: {REFERENCE['jitter']['median']:.4f})",
            )
        )
    drifts = [v for c in measured for v in c.drift.values()]
    if drifts:
        drift = float(np.max(drifts))
        out.append(
            Finding(
                code="identity_drift_max",
                value=round(drift, 4),
                message=f"largest distance from the track's identity {drift:.3f} "
                "(dlib descriptor; another person ≳ 0.6)",
            )
        )
    blinks = [b for c in measured for b in c.blinks]
    rate = len(blinks) / duration * 60.0
    lo, hi = temporal_cues.NATURAL_BLINK_RATE
    judged = duration >= 10.0
    out.append(
        Finding(
            code="blink_rate_per_min",
            value=round(rate, 2),
            message=f"{len(blinks)} blink(s) in {duration:.1f} s ({rate:.1f}/min; "
            f"natural {lo:g}-{hi:g}/min)" + ("" if judged else "; too short to judge"),
        )
    )
    if judged and not lo <= rate <= hi:
        out.append(
            Finding(
                code="blink_rate_unnatural",
                value=True,
                message=f"blink rate {rate:.1f}/min outside the natural {lo:g}-{hi:g}/min",
            )
        )
    if blinks:
        mean_duration = float(np.mean([b.duration_s for b in blinks]))
        lo_d, hi_d = temporal_cues.NATURAL_BLINK_DURATION
        out.append(
            Finding(
                code="blink_duration_s",
                value=round(mean_duration, 3),
                message=f"mean blink {mean_duration * 1000:.0f} ms (natural "
                f"{lo_d * 1000:.0f}-{hi_d * 1000:.0f} ms)",
            )
        )
    return out


def build(**overrides: Any) -> TemporalDetector:
    if overrides:
        raise TypeError(f"visual.temporal takes no options, got {sorted(overrides)}")
    return TemporalDetector()
