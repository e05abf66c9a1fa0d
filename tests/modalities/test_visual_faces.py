"""modalities.visual.faces: detection, landmarks, rotation, tracking, alignment, frame sampling."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.media import VideoFrame
from modalities.visual import faces, geometry
from tests.modalities.visual_faces_media import (
    astronaut,
    drifting_face_frames,
    face_video,
    moved,
)


@pytest.fixture(scope="module")
def upright() -> faces.Face:
    found = faces.detect_faces(astronaut())
    assert len(found) == 1
    return found[0]


def test_one_face_with_68_landmarks_in_place(upright: faces.Face) -> None:
    x0, y0, x1, y1 = upright.box
    lm = upright.landmarks
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    inside = (
        (lm[:, 0] > x0 - 20) & (lm[:, 0] < x1 + 20) & (lm[:, 1] > y0 - 20) & (lm[:, 1] < y1 + 20)
    )
    assert inside.all()
    left_eye, right_eye = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    mouth = lm[48:68].mean(axis=0)
    assert left_eye[0] < right_eye[0] and mouth[1] > max(left_eye[1], right_eye[1])
    assert not upright.tiny and upright.rotation == 0


def test_aligned_crop_puts_eyes_and_mouth_at_the_template(upright: faces.Face) -> None:
    tilted = moved(astronaut(), dx=15, dy=-10, angle=20)
    found = faces.detect_faces(tilted)
    assert len(found) == 1
    size = 128
    matrix = faces.crop_transform(found[0], size)
    points = faces.alignment_points(faces.transform_points(found[0].landmarks, matrix))
    assert np.abs(points - faces.TEMPLATE * size).max() < 6.0
    crop = faces.aligned_crop(tilted, found[0], size)
    reference = faces.aligned_crop(astronaut(), upright, size)
    assert crop.shape == (size, size, 3)
    assert np.abs(crop.astype(int) - reference).mean() < 20


def test_grayscale_and_rgba_and_float_inputs(upright: faces.Face) -> None:
    grey = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY)
    for image in (grey, grey[..., None], np.dstack([astronaut(), np.full(grey.shape, 255)])):
        found = faces.detect_faces(image)
        assert len(found) == 1
        assert np.abs(np.array(found[0].box) - upright.box).max() <= 4
    assert faces.is_grayscale(grey) and not faces.is_grayscale(astronaut())
    assert faces.as_rgb(astronaut() / 255.0).dtype == np.uint8
    with pytest.raises(faces.DetectorError, match="expected an image"):
        faces.as_rgb(np.zeros((4, 4, 2)))


def test_no_face_is_an_empty_result() -> None:
    rng = np.random.default_rng(0)
    assert faces.detect_faces(rng.integers(0, 255, (200, 240, 3), dtype=np.uint8)) == []
    assert faces.detect_faces(np.zeros((120, 90), np.uint8), rotations=faces.ROTATIONS) == []


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_rotated_pictures_found_when_rotations_are_tried(
    upright: faces.Face, quarter_turns: int
) -> None:
    turned = np.ascontiguousarray(np.rot90(astronaut(), k=quarter_turns))
    assert faces.detect_faces(turned) == []  # HOG looks for upright faces only
    found = faces.detect_faces(turned, rotations=faces.ROTATIONS)
    assert len(found) == 1 and found[0].rotation == (360 - 90 * quarter_turns) % 360
    crop = faces.aligned_crop(turned, found[0], 96)
    reference = faces.aligned_crop(astronaut(), upright, 96)
    assert np.abs(crop.astype(int) - reference).mean() < 8  # landmarks mapped back correctly
    with pytest.raises(faces.DetectorError, match="rotation"):
        faces.detect_faces(turned, rotations=(45,))


def test_tight_face_crop_found_by_the_padded_retry(upright: faces.Face) -> None:
    img = astronaut()
    tight = np.ascontiguousarray(img[95:165, 175:255])  # the face touches every edge
    found = faces.detect_faces(tight)
    assert len(found) == 1
    assert faces.detect_faces(tight, pad_retry=False) == []
    shifted_back = found[0].landmarks + np.array([175, 95], np.float32)
    assert np.abs(shifted_back - upright.landmarks).mean() < 6  # in the crop's own pixels


def frames_of(pictures: list[np.ndarray], fps: float = 10.0) -> list[VideoFrame]:
    return [VideoFrame(index=i, time_s=i / fps, rgb=p) for i, p in enumerate(pictures)]


def test_moving_face_is_one_track_with_crops() -> None:
    pictures = drifting_face_frames(6)
    scan = faces.track_faces(frames_of(pictures), crop_size=64)
    main = max(scan.tracks, key=lambda t: len(t.faces))
    assert len(main.faces) == 6 and scan.frames_with_face == 6
    # a badge on the suit is a weak, small HOG hit: tracked, but below the reliable size
    assert all(f.tiny for t in scan.tracks if t is not main for f in t.faces)
    assert scan.crops[(main.track_id, 5)].shape == (64, 64, 3)
    assert [f.frame_index for f in main.faces] == list(range(6))
    assert not main.faces[0].tiny and "grayscale" not in scan.flags


def test_two_people_two_tracks_and_flags() -> None:
    base = cv2.resize(astronaut(), (400, 400))
    pair = [np.hstack([moved(base, i, 0), moved(base, -i, 2)]) for i in range(3)]
    scan = faces.track_faces(frames_of(pair))
    people = [t for t in scan.tracks if not t.faces[0].tiny]
    assert len(people) == 2
    assert all(len(t.faces) == 3 for t in people)
    assert people[0].faces[0].box[0] < 400 <= people[1].faces[0].box[0]
    assert "several_faces" in scan.flags


def test_tiny_grey_rotated_and_empty_scans_report_flags() -> None:
    small = cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY), (256, 256))
    scan = faces.track_faces(frames_of([small, small]))
    assert scan.tracks and scan.tiny_faces == 2
    assert {"tiny_faces", "grayscale"} <= set(scan.flags)
    turned = [np.ascontiguousarray(np.rot90(p, 1)) for p in drifting_face_frames(3)]
    scan = faces.track_faces(frames_of(turned))
    people = [t for t in scan.tracks if not t.faces[0].tiny]
    assert len(people) == 1 and len(people[0].faces) == 3
    assert scan.rotation == 270 and "rotated_270" in scan.flags
    empty = faces.track_faces(frames_of([np.full((64, 64, 3), (10, 80, 200), np.uint8)]))
    assert empty.tracks == [] and empty.flags == ["no_face"]


def test_link_tracks_bridges_a_missed_frame_and_splits_far_faces(upright: faces.Face) -> None:
    far = faces.Face(box=(0, 0, 30, 30), landmarks=upright.landmarks - 170)
    tracks = faces.link_tracks([[upright], [], [upright], [far]])
    assert len(tracks) == 2 and len(tracks[0].faces) == 2


def test_sampling_policy_bounds_cost(tmp_path: Path) -> None:
    policy = faces.SamplingPolicy(fps=2.0, max_frames=4)
    assert policy.effective_fps(1.0) == 2.0
    assert policy.effective_fps(3600.0) == pytest.approx(4 / 3600)
    video = face_video(tmp_path / "face.mp4", drifting_face_frames(20), fps=10)
    frames = list(faces.sample_frames(video, policy, 2.0))
    assert [round(f.time_s, 1) for f in frames] == [0.0, 0.5, 1.0, 1.5]
    keys = list(faces.sample_frames(video, faces.SamplingPolicy(keyframes=True), 2.0))
    assert 1 <= len(keys) < 20 and keys[0].time_s == 0.0


@pytest.mark.slow
def test_cnn_detector_finds_the_same_face(upright: faces.Face) -> None:
    found = faces.detect_faces(astronaut(), detector="cnn", upsample=0)
    assert len(found) == 1
    assert geometry.box_iou(found[0].box, upright.box) > 0.6


def test_detecting_every_few_frames_refits_landmarks_in_between() -> None:
    pictures = drifting_face_frames(6)
    every = faces.track_faces(frames_of(pictures))
    sparse = faces.track_faces(frames_of(pictures), detect_every=3)
    main_every = max(every.tracks, key=lambda t: len(t.faces))
    main_sparse = max(sparse.tracks, key=lambda t: len(t.faces))
    assert len(main_sparse.faces) == 6
    for a, b in zip(main_every.faces, main_sparse.faces, strict=True):
        assert np.abs(a.landmarks - b.landmarks).mean() < 3.0  # re-fitted, not copied
    assert not np.array_equal(main_sparse.faces[1].landmarks, main_sparse.faces[0].landmarks)


def test_sparse_samples_link_faces_that_moved_further(upright: faces.Face) -> None:
    shift = np.float32(2.0 * upright.eye_distance)  # boxes no longer overlap enough
    x0, y0, x1, y1 = upright.box
    far_box = (x0 + int(shift), y0, x1 + int(shift), y1)
    assert geometry.box_iou(upright.box, far_box) < 0.3
    later = faces.Face(
        box=far_box, landmarks=upright.landmarks + np.array([shift, 0], np.float32), time_s=1.2
    )
    soon = faces.Face(
        box=far_box, landmarks=upright.landmarks + np.array([shift, 0], np.float32), time_s=0.1
    )
    assert len(faces.link_tracks([[upright], [later]])) == 1  # 1.2 s apart: may have moved
    assert len(faces.link_tracks([[upright], [soon]])) == 2  # 0.1 s apart: another face


def _close_up_frames(n: int) -> list[np.ndarray]:
    """The astronaut's head and shoulders only (a face of ~130 px, nothing else HOG could take
    for a face), drifting and tilting as in ``drifting_face_frames``."""
    base = cv2.resize(astronaut()[0:320, 60:380], (448, 448), interpolation=cv2.INTER_AREA)
    return [moved(base, dx=2.0 * i, dy=1.0 * i, angle=1.5 * i) for i in range(n)]


def _upsamplings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The up-sampling of every HOG call, in order (detection itself still runs)."""
    calls: list[int] = []
    real = faces._detect_upright

    def spy(grey: np.ndarray, kind: faces.DetectorKind, upsample: int, side: int) -> object:
        calls.append(upsample)
        return real(grey, kind, upsample, side)

    monkeypatch.setattr(faces, "_detect_upright", spy)
    return calls


def _track(pictures: list[np.ndarray], **options: int) -> faces.FaceTracker:
    tracker = faces.FaceTracker(try_rotations=False, **options)  # type: ignore[arg-type]
    for frame in frames_of(pictures):
        tracker.feed(frame)
    return tracker


def test_large_faces_are_detected_coarser_with_a_full_detection_every_few(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pictures = _close_up_frames(12)
    full = _track(pictures).scan()
    calls = _upsamplings(monkeypatch)
    tracker = _track(pictures, coarse_side=80, full_every=5)
    coarse = tracker.scan()
    # detection 0 (nothing seen yet) and 5, 10 (every 5th) at full scale, the rest one coarser
    assert calls == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    assert (tracker.detections, tracker.coarse) == (12, 9)
    assert coarse.frames_with_face == full.frames_with_face == 12 and len(coarse.tracks) == 1
    for a, b in zip(full.tracks[0].faces, coarse.tracks[0].faces, strict=True):
        assert np.abs(a.landmarks - b.landmarks).mean() < 0.05 * a.eye_distance


def test_small_faces_and_a_face_lost_coarser_get_the_full_scale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pictures = _close_up_frames(4)
    side = faces.detect_faces(pictures[0])[0].side
    real = faces._detect_upright
    calls = _upsamplings(monkeypatch)
    small = _track(pictures, coarse_side=side + 1)  # every face smaller than the limit
    assert calls == [1, 1, 1, 1] and small.coarse == 0
    calls.clear()

    def blind_when_coarse(
        grey: np.ndarray, kind: faces.DetectorKind, upsample: int, side: int
    ) -> object:
        calls.append(upsample)
        return [] if upsample == 0 else real(grey, kind, upsample, side)

    monkeypatch.setattr(faces, "_detect_upright", blind_when_coarse)
    lost = _track(pictures, coarse_side=80)
    # each coarse try finds nothing, so the same frame is detected again at full scale
    assert calls == [1, 0, 1, 0, 1, 0, 1] and lost.scan().frames_with_face == 4
    assert _track(pictures, coarse_side=80, detect_every=2).detections == 2  # refits between
