"""``visual.temporal``: how a face behaves over time: landmark jitter, identity drift, blinking.

A real face moves coherently, keeps its identity and blinks every few seconds; frame-by-frame
synthesis can shake, let another identity show through, or forget to blink. The video is sampled
densely (10 fps, bounded), the longest reliable face track is measured (temporal_cues.py) in
2-second windows, and each window's score is how far its jitter or drift lies above what real
talking-head video shows (``REFERENCE``, measured on train-corpus real clips by
bench/visual_temporal_reference.py). Blink rate and duration are reported as named findings against
the published natural ranges; with the few real clips at hand they are not folded into the score.

No weights: the reference statistics below are the detector's whole knowledge, and its version
changes when they do. Images are outside its domain (it is registered for video only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality, SeriesPoint
from core.media import MediaKind
from modalities.visual import aggregate, faces, temporal_cues

NAME = "visual.temporal"
VERSION = "1.0.0"
POLICY = faces.SamplingPolicy(fps=10.0, max_frames=150, max_side=960)
WINDOW_S = 2.0
MIN_TRACK_S = 1.0
DESCRIBE_EVERY = 5  # identity descriptor on every 5th frame (2 per second at 10 fps)
DETECT_EVERY = 5  # HOG on every 5th frame; landmarks re-fitted in between (faces.track_faces)
# Median and robust spread (1.4826 × MAD) of per-window values on real talking-head clips
# (40 / 39 windows of 12 clips; train-corpus manifest sha256 d0b91fd3…67d3e5).
REFERENCE: dict[str, dict[str, float]] = {
    "jitter": {"median": 0.0162, "scale": 0.0066},
    "drift": {"median": 0.1512, "scale": 0.0577},
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
    input_fps=POLICY.fps,
    licence=f"code Apache-2.0; {faces.LANDMARK_LICENCE}",
    paper="Li, Chang & Lyu, In Ictu Oculi, WIFS 2018; Soukupová & Čech, CVWW 2016",
)


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
            out.append((start, max(end, start + 1.0 / POLICY.fps), values))
    return out


def z_scores(values: dict[str, float]) -> dict[str, float]:
    return {
        cue: (value - REFERENCE[cue]["median"]) / REFERENCE[cue]["scale"]
        for cue, value in values.items()
    }


def scan_video(media: MediaInput) -> faces.FaceScan:
    frames = faces.sample_frames(media.path, POLICY, media.info.duration_s)
    return faces.track_faces(
        frames, upsample=1, describe_every=DESCRIBE_EVERY, detect_every=DETECT_EVERY
    )


class TemporalDetector:
    spec = SPEC

    def analyze(self, media: MediaInput) -> Evidence:
        scan = scan_video(media)
        usable = [t for t in scan.tracks if sum(not f.tiny for f in t.faces) >= 3]
        base = [
            Finding(
                code="frames_analysed",
                value=scan.frames_scanned,
                message=f"{scan.frames_scanned} frame(s) at {POLICY.fps:g} fps, "
                f"{scan.frames_with_face} with a face",
            )
        ]
        base += [Finding(code=f"flag_{flag}", value=True, message=flag) for flag in scan.flags]
        if not usable:
            return Evidence.from_llr(
                self.spec,
                raw_score=0.0,
                llr=0.0,
                out_of_domain="no face tracked long enough",
                findings=tuple(base),
                summary="no reliable face track",
            )
        track = max(usable, key=lambda t: len(t.faces))
        cues = measure_track(track, scan)
        if cues.duration_s < MIN_TRACK_S:
            return Evidence.from_llr(
                self.spec,
                raw_score=0.0,
                llr=0.0,
                out_of_domain=f"longest face track {cues.duration_s:.1f} s < {MIN_TRACK_S} s",
                findings=tuple(base),
                summary="face track too short",
            )
        series, window_scores = [], []
        for start, end, values in window_values(cues):
            z = z_scores(values)
            score = max(z.values())
            window_scores.append(score)
            series.append(SeriesPoint(start_s=start, end_s=end, score=score))
        raw = aggregate.top_k_mean(window_scores) if window_scores else 0.0
        findings = base + _measured(cues)
        return Evidence.from_llr(
            self.spec,
            raw_score=raw,
            llr=0.0,
            findings=tuple(findings),
            series=tuple(series),
            summary=f"temporal anomaly {raw:+.2f} (robust z of jitter / identity drift)",
        )


def _measured(cues: TrackCues) -> list[Finding]:
    """Named findings with the measured values."""
    out = [
        Finding(
            code="track_duration_s",
            value=round(cues.duration_s, 2),
            message=f"longest face track {cues.duration_s:.1f} s, {len(cues.times)} frames",
        )
    ]
    if len(cues.jitter):
        jitter = float(np.median(cues.jitter))
        out.append(
            Finding(
                code="landmark_jitter",
                value=round(jitter, 4),
                message=f"median residual landmark motion {jitter:.4f} inter-ocular distances "
                f"per frame (real clips: {REFERENCE['jitter']['median']:.4f})",
            )
        )
    if cues.drift:
        drift = float(np.max(list(cues.drift.values())))
        out.append(
            Finding(
                code="identity_drift_max",
                value=round(drift, 4),
                message=f"largest distance from the track's identity {drift:.3f} "
                "(dlib descriptor; another person ≳ 0.6)",
            )
        )
    rate = len(cues.blinks) / cues.duration_s * 60.0
    lo, hi = temporal_cues.NATURAL_BLINK_RATE
    judged = cues.duration_s >= 10.0
    out.append(
        Finding(
            code="blink_rate_per_min",
            value=round(rate, 2),
            message=f"{len(cues.blinks)} blink(s) in {cues.duration_s:.1f} s ({rate:.1f}/min; "
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
    if cues.blinks:
        mean_duration = float(np.mean([b.duration_s for b in cues.blinks]))
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
