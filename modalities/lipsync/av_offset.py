"""``lipsync.av_offset``: does the mouth move with the voice? Needs no training.

The face pipeline follows every face through the first ``MAX_SECONDS`` of the video at its own
frame rate; each face track gives a mouth-opening series (inner-lip gap over mouth width), put on
a uniform time grid so that variable-frame-rate files behave like constant ones. The audio gives
speech envelope and onsets at the same instants. Normalised cross-correlation over offsets of
±15 frames, in 2-second windows, finds the audio-visual offset, a SyncNet-style confidence, and
each window's verdict (in sync, out of sync, undecided). With several faces, the speaker is the
track whose mouth follows the voice best.

What it catches: dubbed or spliced audio, audio from another take, a soundtrack shifted against
the picture. What it does not: lip-sync generators (Wav2Lip and successors) are trained to be in
sync, so a good sync score is only weak evidence of authenticity; the score is an expert prior
(uncalibrated) and fusion down-weights it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality, SeriesPoint
from core.media import MediaKind, VideoFrame
from modalities.lipsync import plots, signals
from modalities.visual import faces

NAME = "lipsync.av_offset"
VERSION = "1.0.0"
MAX_SECONDS = 30.0
FRAME_MAX_SIDE = 640
MIN_TRACK_S = 2.0
DEFAULT_FPS = 25.0
DETECT_EVERY = 3  # full detection every 3rd frame, landmarks re-fitted in between
LLR_SLOPE = 3.0  # expert prior: an all-out-of-sync clip ≈ +2, a clean in-sync one ≈ −1
LLR_CLAMP = (-1.0, 2.0)

SPEC = DetectorSpec(
    name=NAME,
    modality=Modality.LIPSYNC,
    version=VERSION,
    summary="mouth opening vs speech envelope/onsets: AV offset, SyncNet-style confidence, "
    "per-window sync over ±15 frames",
    media_kinds=frozenset({MediaKind.VIDEO}),
    resolution="segment",
    licence=f"code Apache-2.0; uses the {faces.LANDMARK_LICENCE}",
    paper="Chung & Zisserman, 'Out of time: automated lip sync in the wild', ACCV 2016 workshops",
)


def _frames(media: MediaInput) -> Iterator[VideoFrame]:
    for frame in media.frames(max_side=FRAME_MAX_SIDE):
        if frame.time_s > MAX_SECONDS:
            return
        yield frame


def mouth_series(track: faces.Track, grid: np.ndarray, fps: float) -> np.ndarray:
    """Mouth opening of a track on a uniform time grid; NaN where the face was not seen."""
    times = np.array([f.time_s for f in track.faces])
    values = np.array([signals.mouth_opening(f.landmarks) for f in track.faces])
    out = np.full(len(grid), np.nan)
    slots = np.clip(np.round(times * fps).astype(int), 0, len(grid) - 1)
    out[slots] = values
    return signals.fill_gaps(out)


class AvOffsetDetector:
    spec = SPEC

    def _out(self, reason: str, findings: list[Finding] | None = None) -> Evidence:
        return Evidence.from_llr(
            self.spec,
            raw_score=0.0,
            llr=0.0,
            out_of_domain=reason,
            findings=tuple(findings or ()),
            summary=reason,
        )

    def analyze(self, media: MediaInput) -> Evidence:
        if media.info.audio is None:
            return self._out("no audio track")
        video = media.info.video
        fps = float(video.fps) if video and video.fps and 5 <= video.fps <= 120 else DEFAULT_FPS
        scan = faces.track_faces(_frames(media), try_rotations=True, detect_every=DETECT_EVERY)
        facts = [
            Finding(code="fps", value=round(fps, 3), message="frame rate used for offsets"),
            Finding(
                code="face_tracks",
                value=len(scan.tracks),
                message=f"{len(scan.tracks)} face track(s) in {scan.frames_scanned} frames; "
                + (", ".join(scan.flags) or "no flags"),
            ),
        ]
        if not scan.tracks:
            return self._out("no face found", facts)
        duration = min(MAX_SECONDS, media.info.duration_s or scan.frames_scanned / fps)
        grid = np.arange(int(np.floor(duration * fps)) + 1) / fps
        wave = media.audio_array(sample_rate=signals.SAMPLE_RATE, max_s=MAX_SECONDS)[0]
        speech = signals.speech_track(wave, grid, fps)
        candidates = []
        for track in scan.tracks:
            if track.end_s - track.start_s < MIN_TRACK_S:
                continue
            analysis = signals.analyse_sync(mouth_series(track, grid, fps), speech, fps)
            if analysis is not None:
                candidates.append((analysis.confidence, track.track_id, analysis))
        if not candidates:
            return self._out("no face track with at least 2 s of visible speech", facts)
        _, track_id, analysis = max(candidates, key=lambda c: (c[0], -c[1]))
        return self._evidence(analysis, track_id, len(candidates), facts, media)

    def _evidence(
        self,
        analysis: signals.SyncAnalysis,
        track_id: int,
        n_candidates: int,
        facts: list[Finding],
        media: MediaInput,
    ) -> Evidence:
        out_share = analysis.share("out_of_sync")
        undecided = analysis.share("undecided")
        # the clip as a whole: a clear peak away from zero (a shifted or dubbed soundtrack)
        beyond = max(0, abs(analysis.offset) - signals.TOLERANCE)
        shifted = min(1.0, beyond / 3) if analysis.confidence >= signals.MIN_CONFIDENCE else 0.0
        raw = max(out_share + 0.5 * undecided, shifted)
        llr = float(np.clip(LLR_SLOPE * (raw - 0.35), *LLR_CLAMP))
        speech_windows = analysis.speech_windows
        findings = [
            *facts,
            Finding(
                code="speaker_track",
                value=track_id,
                message=f"speaker chosen by sync among {n_candidates} track(s)",
            ),
            Finding(
                code="av_offset_frames",
                value=analysis.offset,
                message="best audio offset (positive: sound later than picture)",
            ),
            Finding(
                code="av_offset_ms",
                value=round(analysis.offset_ms, 1),
                message=f"same, ms (tolerance ±{signals.TOLERANCE} frames)",
                llr=round(float(np.clip(LLR_SLOPE * (shifted - 0.35), *LLR_CLAMP)), 4)
                if shifted
                else 0.0,
            ),
            Finding(
                code="sync_confidence",
                value=round(analysis.confidence, 4),
                message="peak minus median of the mean offset curve (SyncNet-style)",
            ),
            Finding(
                code="out_of_sync_share",
                value=round(out_share, 4),
                message=f"{out_share:.0%} of {len(speech_windows)} speech windows are better "
                "explained by a shifted soundtrack",
                llr=llr,
            ),
            Finding(
                code="undecided_share",
                value=round(undecided, 4),
                message="speech windows whose mouth follows no offset clearly",
            ),
        ]
        series = tuple(
            SeriesPoint(
                start_s=w.start / analysis.fps, end_s=w.end / analysis.fps, score=w.shift_gain
            )
            for w in speech_windows
        )
        title = f"{NAME} {VERSION}"
        artifacts = (
            media.artifacts.put(
                "offset_curve", plots.offset_curve_png(analysis, title), "image/png"
            ),
            media.artifacts.put("sync_timeline", plots.timeline_png(analysis, title), "image/png"),
        )
        return Evidence.from_llr(
            self.spec,
            raw_score=raw,
            llr=llr,
            findings=tuple(findings),
            series=series,
            artifacts=artifacts,
            summary=f"AV offset {analysis.offset_ms:+.0f} ms (confidence "
            f"{analysis.confidence:.2f}); {out_share:.0%} of speech windows out of sync, "
            f"{undecided:.0%} undecided",
        )


def build(**overrides: Any) -> AvOffsetDetector:
    return AvOffsetDetector(**overrides)
