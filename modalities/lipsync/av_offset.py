"""``lipsync.av_offset``: does the mouth move with the voice? Needs no training.

The face pipeline follows every face through the video at its own frame rate (all of a video up to
``MAX_SECONDS`` long, passages of a longer one: ``tracking.passage_spans``); each face track gives
a mouth-opening series (inner-lip gap over mouth width), put on a uniform time grid so that
variable-frame-rate files behave like constant ones. Above ``MAX_ANALYSIS_FPS`` the grid takes
every 2nd (3rd, ...) frame: at 60 fps one frame is 17 ms, the speech features of so short a window
are noise and the mouth barely moves between frames, so the correlation lost its peak (a 60 fps
clip in sync was read as 150 ms late); 50 and 60 fps are analysed at 25 and 30 fps, where the
method was built and tested. The audio gives speech envelope and onsets at the same instants.
Normalised cross-correlation over offsets of ±15 frames, in 2-second windows, finds the
audio-visual offset, a SyncNet-style confidence, and each window's verdict (in sync, out of sync,
undecided). With several faces, the speaker is the track whose mouth follows the voice best.

What it catches: dubbed or spliced audio, audio from another take, a soundtrack shifted against
the picture. What it does not: lip-sync generators (Wav2Lip and successors) are trained to be in
sync, so a good sync score is only weak evidence of authenticity; the score is an expert prior
(uncalibrated) and fusion down-weights it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality, out_of_domain
from core.media import MediaKind
from modalities.lipsync import evidence, signals, tracking
from modalities.visual import faces

NAME = "lipsync.av_offset"
VERSION = "1.4.2"  # 1.1.0: analysed at 25-30 fps above 30 fps; nearest face per grid slot;
# 1.2.0: a video longer than 30 s is read in passages spread over it, the worst decides;
# 1.3.0: up to a minute read whole in consecutive passages, six passages beyond (was 3 to 6);
# 1.4.0: faces of 80 px or more detected without up-sampling (tracking in 0.55-0.63 of the time),
# so up to two minutes read whole, twelve passages beyond; 1.4.1: a mouth that does not move
# while speech is heard (a still picture, a listener) is not analysed (signals.MIN_MOUTH_MOTION);
# 1.4.2: a video in which no face was tracked is looked at again at full size (visual/second_look):
# faces of 64 px or more there are tracked on 1280-px frames, smaller ones named too small
MAX_SECONDS = tracking.WHOLE_S  # 30 s: a video up to this long is read whole
MIN_TRACK_S = 2.0
DEFAULT_FPS = 25.0
MAX_ANALYSIS_FPS = 30.0  # 29.97 stays as it is; 50 -> 25, 59.94 -> 29.97, 60 -> 30, 120 -> 30


def analysis_rate(fps: float) -> tuple[float, int]:
    """The grid's frame rate for a video of ``fps``, and the decimation step it implies."""
    step = max(1, int(np.ceil(fps / MAX_ANALYSIS_FPS - 0.02)))  # 60.006 fps (a container's
    # measured average) is 60 fps: steps of 2, not 3
    return fps / step, step


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


def mouth_series(
    track: faces.Track, grid: np.ndarray, fps: float, origin_s: float = 0.0
) -> np.ndarray:
    """Mouth opening of a track on a uniform time grid starting at ``origin_s``; NaN where the
    face was not seen. Where several faces fall on one slot (a variable rate, a decimated fast
    video) the face nearest in time to the slot is the one kept."""
    times = np.array([f.time_s - origin_s for f in track.faces])
    values = np.array([signals.mouth_opening(f.landmarks) for f in track.faces])
    out = np.full(len(grid), np.nan)
    position = times * fps
    slots = np.clip(np.round(position).astype(int), 0, len(grid) - 1)
    farthest_first = np.argsort(-np.abs(position - slots), kind="stable")
    out[slots[farthest_first]] = values[farthest_first]  # the nearest face is written last
    return signals.fill_gaps(out)


class AvOffsetDetector:
    spec = SPEC

    def __init__(self, coverage: str = "spread") -> None:
        """``coverage``: ``spread`` (bounded cost) or ``whole`` (every second of a long video;
        tracking.passage_spans)."""
        tracking.passage_spans(None, coverage)  # an unknown coverage fails here, at load
        self.coverage = coverage

    def analyze(self, media: MediaInput) -> Evidence:
        if media.info.audio is None:
            return out_of_domain(self.spec, "no audio track")
        video = media.info.video
        native = float(video.fps) if video and video.fps and 5 <= video.fps <= 120 else DEFAULT_FPS
        fps, step = analysis_rate(native)
        passages = tracking.passage_spans(media.info.duration_s, self.coverage)
        rate_note = "" if step == 1 else f" (the video's {native:.3f} fps, every {step} frames)"
        results, scans, still = self._read(media, passages, native, fps)
        looked: list[Finding] = []
        no_face = "no face found"
        if not any(scan.tracks for scan in scans):  # the second look, shared with every face
            side, looked, no_face = tracking.second_look(media)  # detector of the video
            if side:
                results, scans, still = self._read(media, passages, native, fps, side)
        tracks = sum(len(scan.tracks) for scan in scans)
        frames = sum(scan.frames_scanned for scan in scans)
        flags = list(dict.fromkeys(flag for scan in scans for flag in scan.flags))
        facts = [
            evidence.span_finding(media, passages, MAX_SECONDS, self.coverage),
            Finding(
                code="fps", value=round(fps, 3), message="frame rate used for offsets" + rate_note
            ),
            Finding(
                code="face_tracks",
                value=tracks,
                message=f"{tracks} face track(s) in {frames} frames"
                + (f" of {len(passages)} passages; " if len(passages) > 1 else "; ")
                + (", ".join(flags) or "no flags"),
            ),
            *looked,
        ]
        if not tracks:
            return out_of_domain(self.spec, no_face, findings=facts)
        if not results:
            reason = (
                signals.STILL_MOUTH
                if still
                else "no face track with at least 2 s of visible speech"
            )
            return out_of_domain(self.spec, reason, findings=facts)
        return evidence.sync_evidence(
            self.spec,
            results,
            media,
            facts=facts,
            min_confidence=signals.MIN_CONFIDENCE,
            messages={
                "speaker_track": "speaker chosen by sync among {n} track(s)",
                "av_offset_frames": "best audio offset (positive: sound later than picture)",
                "sync_confidence": "peak minus median of the mean offset curve (SyncNet-style)",
                "undecided_share": "speech windows whose mouth follows no offset clearly",
            },
        )

    def _read(
        self,
        media: MediaInput,
        passages: list[tracking.Passage],
        native: float,
        fps: float,
        side: int = 0,
    ) -> tuple[list[evidence.PassageSync], list[faces.FaceScan], int]:
        """Each passage's sync, its face scan, and the tracks left out for a still mouth;
        ``side``: frames of that size (tracking.face_pass)."""
        results, scans, still = [], [], 0
        for passage in media.parts(passages, "passage"):
            scan = tracking.face_pass(media, passage, side).native_scan(passage.end_s)  # shared
            # with lipsync.syncnet
            scans.append(scan)
            if scan.tracks:
                found, still_tracks = self._passage(media, passage, scan, native, fps)
                results += found
                still += still_tracks
        return results, scans, still

    @staticmethod
    def _passage(
        media: MediaInput,
        passage: tracking.Passage,
        scan: faces.FaceScan,
        native: float,
        fps: float,
    ) -> tuple[list[evidence.PassageSync], int]:
        """The speaker's sync in one passage (none when no track holds 2 s of visible speech whose
        mouth moves), and how many tracks were left out for a still mouth."""
        known = media.info.duration_s
        end = min(passage.end_s, known) if known else passage.start_s + scan.frames_scanned / native
        length = min(MAX_SECONDS, end - passage.start_s)
        grid = np.arange(int(np.floor(length * fps)) + 1) / fps
        wave = media.audio_array(
            sample_rate=signals.SAMPLE_RATE,
            max_s=min(MAX_SECONDS, passage.end_s - passage.start_s),
            on_video_clock=True,
            start_s=passage.start_s,
        )[0]
        speech = signals.speech_track(wave, grid, fps)
        candidates, still = [], 0
        for track in scan.tracks:
            if track.end_s - track.start_s < MIN_TRACK_S:
                continue
            mouth = mouth_series(track, grid, fps, passage.start_s)
            if signals.still_mouth(mouth, speech.voiced):
                still += 1
                continue
            analysis = signals.analyse_sync(mouth, speech, fps)
            if analysis is not None:
                candidates.append((analysis.confidence, track.track_id, analysis))
        if not candidates:
            return [], still
        _, track_id, analysis = max(candidates, key=lambda c: (c[0], -c[1]))
        return [evidence.PassageSync(passage, track_id, len(candidates), analysis)], still


def build(**overrides: Any) -> AvOffsetDetector:
    return AvOffsetDetector(**overrides)
