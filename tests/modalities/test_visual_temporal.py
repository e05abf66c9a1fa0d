"""visual.temporal: eye aspect ratio, blinks, jitter, identity drift, windows, the detector."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.visual import faces, temporal, temporal_cues
from tests.modalities.visual_faces_media import (
    astronaut,
    drifting_face_frames,
    face_video,
    small_face_frames,
)


@pytest.fixture(scope="module")
def landmarks() -> np.ndarray:
    return faces.detect_faces(astronaut())[0].landmarks


def test_eye_aspect_ratio_drops_when_eyes_close(landmarks: np.ndarray) -> None:
    open_ear = temporal_cues.eye_aspect_ratio(landmarks)
    closed = landmarks.copy()
    for eye in (slice(36, 42), slice(42, 48)):
        centre_y = closed[eye, 1].mean()
        closed[eye, 1] = centre_y + (closed[eye, 1] - centre_y) * 0.2
    assert 0.15 < open_ear < 0.5
    assert temporal_cues.eye_aspect_ratio(closed) < 0.3 * open_ear


def test_blinks_are_runs_of_closed_frames() -> None:
    times = np.arange(20) / 10.0
    ear = np.full(20, 0.3)
    ear[5:7] = 0.1  # 2 frames at 10 fps
    ear[15] = 0.12
    found = temporal_cues.blinks(ear, times)
    assert [(b.start_s, round(b.duration_s, 2)) for b in found] == [(0.5, 0.2), (1.5, 0.1)]
    assert temporal_cues.blinks(ear[:2], times[:2]) == []


def test_jitter_ignores_head_motion_but_not_shaking(landmarks: np.ndarray) -> None:
    angle = np.deg2rad(5)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = np.stack([landmarks, (landmarks @ rot.T) * 1.1 + 7])
    assert temporal_cues.landmark_jitter(moved).max() < 1e-3
    rng = np.random.default_rng(0)
    shaken = np.stack([landmarks, landmarks + rng.normal(0, 2.0, landmarks.shape)])
    assert temporal_cues.landmark_jitter(shaken)[0] > 0.02


def test_identity_drift_and_windows() -> None:
    same = np.tile(np.linspace(0, 1, 128), (5, 1))
    other = same.copy()
    other[2] += 0.1
    assert temporal_cues.identity_drift(same).max() == 0.0
    assert temporal_cues.identity_drift(other).argmax() == 2
    assert temporal_cues.identity_drift(np.zeros((0, 128))).size == 0
    parts = temporal_cues.windows(np.array([0.0, 0.5, 1.9, 2.0, 4.5]), 2.0)
    assert [list(p) for p in parts] == [[0, 1, 2], [3], [4]]


def media(path: Path) -> MediaInput:
    return MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))


def test_detector_on_a_steady_face(tmp_path: Path) -> None:
    video = face_video(tmp_path / "steady.mp4", drifting_face_frames(30, tilt=0.4), fps=10)
    evidence = temporal.build().analyze(media(video))
    assert evidence.out_of_domain is None and evidence.detector == "visual.temporal"
    codes = {f.code: f.value for f in evidence.findings}
    assert codes["track_duration_s"] == pytest.approx(2.9, abs=0.11)
    assert 0 <= codes["landmark_jitter"] < 0.05
    assert codes["identity_drift_max"] < 0.3  # the same astronaut throughout
    assert "blink_rate_per_min" in codes and "blink_rate_unnatural" not in codes  # < 10 s
    assert [round(p.start_s, 1) for p in evidence.series] == [0.0]  # one window per burst
    assert codes["bursts"] == 1
    assert np.isfinite(evidence.raw_score) and evidence.llr == 0.0


def test_detector_without_a_face_is_out_of_domain(tmp_path: Path) -> None:
    blank = [np.full((96, 128, 3), 40, np.uint8) for _ in range(5)]
    evidence = temporal.build().analyze(media(face_video(tmp_path / "blank.mp4", blank)))
    assert evidence.out_of_domain == "no face tracked long enough"
    with pytest.raises(TypeError):
        temporal.build(weights_dir="x")


def test_bursts_tile_short_videos_and_spread_over_long_ones() -> None:
    assert temporal.burst_spans(2.98) == [(0.0, 3.0)]
    assert temporal.burst_spans(7.0) == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]
    assert temporal.burst_spans(15.0) == [(3.0 * k, 3.0 * k + 3.0) for k in range(5)]
    for duration in (15.1, 30.0, 61.7, 3600.0):
        spans = temporal.burst_spans(duration)
        starts = [start for start, _ in spans]
        assert len(spans) == temporal.MAX_BURSTS and starts[0] == 0.0
        assert all(end - start == pytest.approx(temporal.BURST_S) for start, end in spans)
        assert all(b - a >= temporal.BURST_S - 1e-9 for a, b in itertools.pairwise(starts))
        assert spans[-1][1] == pytest.approx(duration, abs=0.051)  # the end is looked at too
        assert all(round(s * temporal.FPS, 6) == round(s * temporal.FPS) for s in starts)
    assert temporal.burst_spans(None) == temporal.burst_spans(15.0)  # unknown: read from the start


def test_a_long_video_is_sampled_at_the_same_rate_as_a_short_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jitter is motion between consecutive samples, and blinks last 100-400 ms: 1.0.0 spread
    150 frames over the whole video, so a 30-s clip was read at 5 fps and scored as shakier than
    the same face in a 10-s clip. Every burst is now read at 10 fps, whatever the length."""
    seen: list[list[float]] = []
    real_track = faces.track_faces

    def spy(frames, **kwargs):  # type: ignore[no-untyped-def]
        frames = list(frames)
        seen.append([f.time_s for f in frames])
        return real_track(frames, **kwargs)

    monkeypatch.setattr(faces, "track_faces", spy)
    blank = [np.full((64, 64, 3), 40 + (i % 5), np.uint8) for i in range(300)]
    evidence = temporal.build().analyze(media(face_video(tmp_path / "long.mp4", blank, fps=10)))
    assert evidence.out_of_domain == "no face tracked long enough"
    assert len(seen) == temporal.MAX_BURSTS
    for times, (start, end) in zip(seen, temporal.burst_spans(30.0), strict=True):
        assert len(times) == 30 and np.allclose(np.diff(times), 0.1, atol=1e-6)
        assert start - 1e-6 <= times[0] and times[-1] < end
    codes = {f.code: f for f in evidence.findings}
    assert codes["frames_analysed"].value == 150
    assert codes["bursts"].value == 0 and "15.0 s of 30.0 s looked at" in codes["bursts"].message


def test_a_small_face_in_a_large_video_is_looked_at_again(tmp_path: Path) -> None:
    """A 40-px face in a 720p video is named too small (it was "no face tracked long enough");
    a 70-px face in a 1080p video, missed at 960 px, is measured at full size."""
    small = face_video(tmp_path / "small.mp4", small_face_frames(1280, 720, 40, n=15, step=1))
    tiny = temporal.build().analyze(media(small))
    codes = {f.code: f.value for f in tiny.findings}
    assert tiny.out_of_domain == f"only faces smaller than {faces.MIN_RELIABLE_SIDE} px"
    assert codes["video_looked_again"] == 1280 and codes["largest_face_px"] < 64
    hd = face_video(tmp_path / "hd.mp4", small_face_frames(1920, 1080, 70, n=15, step=1))
    measured = temporal.build().analyze(media(hd))
    codes = {f.code: f.value for f in measured.findings}
    assert measured.out_of_domain is None and codes["video_looked_again"] == 1920
    assert codes["track_duration_s"] >= 1.0
