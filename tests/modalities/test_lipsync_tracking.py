"""modalities.lipsync.tracking: one face pass per analysis serves both lip-sync detectors.

The pass must give each detector exactly what its own scan gave before it was shared on a source of
at most 25 fps: av_offset every frame up to its limit, syncnet the 25 fps grid up to its limit
(mouth crops, openings and scan flags), whichever asks first. Above 25 fps it must still track each
frame once, and cut syncnet's mouths on the grid frames only (a subset of the frames tracked).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from core.media import VideoFrame, iter_frames
from modalities.lipsync import av_offset, syncnet, tracking
from modalities.lipsync import syncnet_net as net
from modalities.visual import faces
from tests.modalities.lipsync_media import talking_clip
from tests.modalities.test_audio_lfcc_gmm import media

GRID_END = 1.5  # a grid limit inside the clip, so the grid scan is taken mid-pass


@pytest.fixture(scope="module")
def clip25(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return talking_clip(tmp_path_factory.mktemp("track") / "talk25.mp4", seconds=3.5, seed=4)


OwnScans = tuple[faces.FaceScan, list[net.MouthTrack], tuple[str, ...]]


def _own_scans(path: Path, native_s: float) -> OwnScans:
    """What each detector computed on its own before the pass was shared."""
    native = _tracked(f for f in iter_frames(path, max_side=640) if f.time_s <= native_s)
    grid = iter_frames(path, fps=net.FPS, max_side=640, end_s=GRID_END)
    mouths, flags = net.mouth_tracks(grid, int(GRID_END * net.FPS) + 1)
    return native, mouths, flags


def _tracked(frames: Iterable[VideoFrame]) -> faces.FaceScan:
    """A scan by lip-sync's own tracker (``net.face_tracker``), frames fed one by one."""
    tracker = net.face_tracker()
    for frame in frames:
        tracker.feed(frame)
    return tracker.scan()


def _same_scan(a: faces.FaceScan, b: faces.FaceScan) -> bool:
    def faces_of(scan: faces.FaceScan) -> list[tuple[int, int, tuple[int, ...], bytes]]:
        return [
            (t.track_id, f.frame_index, f.box, f.landmarks.tobytes())
            for t in scan.tracks
            for f in t.faces
        ]

    return faces_of(a) == faces_of(b) and (a.frames_scanned, a.flags) == (
        b.frames_scanned,
        b.flags,
    )


@pytest.mark.slow
@pytest.mark.parametrize("grid_first", [True, False])
def test_one_pass_gives_each_detector_its_own_scan(clip25: Path, grid_first: bool) -> None:
    native_ref, mouths_ref, flags_ref = _own_scans(clip25, native_s=2.0)
    decoded = []

    def counted(path: Path):  # type: ignore[no-untyped-def]
        for frame in iter_frames(path, max_side=640):
            decoded.append(frame.index)
            yield frame

    shared = tracking.FacePass(counted(clip25), grid_end_s=GRID_END)
    if grid_first:
        grid = shared.grid_mouths()
        native = shared.native_scan(2.0)
    else:
        native = shared.native_scan(2.0)
        grid = shared.grid_mouths()
    assert grid is not None and _same_scan(native, native_ref)
    mouths = net.place_mouths(grid[0], int(GRID_END * net.FPS) + 1)
    assert grid[1] == flags_ref and len(mouths) == len(mouths_ref) >= 1
    for got, ref in zip(mouths, mouths_ref, strict=True):
        assert got.track_id == ref.track_id and np.array_equal(got.crops, ref.crops)
        assert np.array_equal(got.seen, ref.seen)
        assert np.array_equal(got.opening, ref.opening, equal_nan=True)
    assert len(decoded) == len(set(decoded)) == native.frames_scanned + 1  # one look ahead
    assert shared.native_scan(2.0) is native  # asked again: the same scan, nothing re-tracked


@pytest.fixture(scope="module")
def clip50(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return talking_clip(
        tmp_path_factory.mktemp("track") / "talk50.mp4", seconds=3.5, fps=50, seed=5
    )


@pytest.fixture
def fed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The frame indices fed to any face tracker from now on (each tracking pass, in order)."""
    indices: list[int] = []
    feed = faces.FaceTracker.feed

    def counted(self: faces.FaceTracker, frame: VideoFrame) -> None:
        indices.append(frame.index)
        feed(self, frame)

    monkeypatch.setattr(faces.FaceTracker, "feed", counted)
    return indices


@pytest.mark.slow
def test_a_faster_source_is_tracked_once_and_cut_on_the_grid(clip50: Path, fed: list[int]) -> None:
    shared = tracking.FacePass(iter_frames(clip50, max_side=640), grid_end_s=GRID_END)
    cuts, flags = shared.grid_mouths()
    native = shared.native_scan(2.0)
    natives = [f.index for f in iter_frames(clip50, max_side=640) if f.time_s <= 2.0]
    assert fed == natives and native.frames_scanned == len(natives) == 101  # each frame once
    fed.clear()
    ref = _tracked(f for f in iter_frames(clip50, max_side=640) if f.time_s <= 2.0)
    assert _same_scan(native, ref) and native.tracks  # av_offset's scan as before
    grid = list(iter_frames(clip50, fps=net.FPS, max_side=640, end_s=GRID_END))
    assert [f.index for f in grid] == natives[: 2 * len(grid) : 2]  # every other 50 fps frame
    assert len(cuts) == len(native.tracks) >= 1
    for cut in cuts:  # the face is in every frame: one crop per grid slot, 40 ms apart
        assert cut.slots == [round(f.time_s * net.FPS) for f in grid] == list(range(len(grid)))
    own_mouths, own_flags = net.mouth_tracks(grid, len(grid))  # syncnet's own grid scan, as before
    assert flags == own_flags and len(own_mouths) == len(cuts)
    for got, own in zip(net.place_mouths(cuts, len(grid)), own_mouths, strict=True):
        # the same mouth; the landmarks come from a track that also saw the frames in between
        assert np.array_equal(got.seen, own.seen)
        gap = np.abs(got.crops.astype(float) - own.crops.astype(float)).mean(axis=(1, 2))
        assert gap.max() < 8 and gap.mean() < 2


@pytest.mark.slow
def test_the_one_second_minimum_counts_grid_faces(clip50: Path) -> None:
    shared = tracking.FacePass(iter_frames(clip50, max_side=640), grid_end_s=0.8)
    cuts, _ = shared.grid_mouths()
    scan = shared.native_scan(0.79)
    assert max(len(t.faces) for t in scan.tracks) == 40 >= net.MIN_TRACK_FRAMES  # 0.8 s at 50 fps
    assert cuts == []  # but 20 grid faces: shorter than a second


@pytest.mark.slow
def test_both_detectors_share_one_pass_and_score_as_alone(clip25: Path) -> None:
    together = media(clip25)
    first = av_offset.build().analyze(together)
    second = syncnet.build().analyze(together)
    assert tracking.face_pass(together) is tracking.face_pass(together)
    assert tracking.face_pass(together).native_scan(av_offset.MAX_SECONDS).frames_scanned > 0
    alone_av = av_offset.build().analyze(media(clip25))
    alone_sync = syncnet.build().analyze(media(clip25))
    assert first == alone_av and second == alone_sync
    assert second.out_of_domain is None and {f.code for f in second.findings} >= {
        "face_tracks",
        "in_sync_distance",
        "out_of_sync_share",
    }


@pytest.mark.slow
def test_a_faster_source_goes_through_one_pass_in_the_detectors(
    clip50: Path, fed: list[int]
) -> None:
    together = media(clip50)
    second = syncnet.build().analyze(together)  # syncnet first: it drives the pass to its end
    first = av_offset.build().analyze(together)
    assert fed == [f.index for f in iter_frames(clip50, max_side=640)]  # not native + grid
    assert first.out_of_domain is None and second.out_of_domain is None
    tracks = {f.code: f.value for f in second.findings}["face_tracks"]
    assert tracks == len(tracking.face_pass(together).native_scan(av_offset.MAX_SECONDS).tracks)


@pytest.mark.parametrize("coverage", ["spread", "whole"])
@pytest.mark.parametrize(
    "duration", [None, 0.0, 5.0, 30.0, 30.04, 45.0, 60.5, 100.0, 120.0, 120.5, 300.0, 3600.0]
)
def test_passages_cover_a_long_video_from_start_to_end(
    duration: float | None, coverage: str
) -> None:
    """Up to 30 s: the whole video, as before passages. Longer: passages of at most 10 s from its
    start to its end. Up to two minutes (or at any length with coverage ``whole``) they are
    consecutive, of equal length, and cover every second; beyond two minutes ``spread`` reads
    twelve 10-s passages apart from one another: at most 120 s read whatever the length, and a
    splice late in the video falls in (or near) one."""
    passages = tracking.passage_spans(duration, coverage)
    if not duration or duration <= 30.0:
        assert passages == [tracking.Passage(0.0, 30.0, whole=True)]
        return
    assert passages[0].start_s == 0.0 and passages[-1].end_s == pytest.approx(duration)
    assert all(0 < p.end_s - p.start_s <= 10.0 + 1e-9 and not p.whole for p in passages)
    assert all(p.grid_end_s() == p.end_s for p in passages)  # syncnet reads all of each
    if coverage == "whole" or duration <= 120.0:
        assert len(passages) == math.ceil(duration / 10.0)
        assert all(b.start_s == a.end_s for a, b in itertools.pairwise(passages))  # no gap
        lengths = [p.end_s - p.start_s for p in passages]
        assert max(lengths) - min(lengths) <= 0.002  # equal, to the millisecond rounding
    else:
        assert len(passages) == 12
        assert all(p.end_s - p.start_s == pytest.approx(10.0) for p in passages)
        assert all(b.start_s > a.end_s for a, b in itertools.pairwise(passages))


def test_an_unknown_coverage_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown lip-sync coverage 'all'"):
        tracking.passage_spans(100.0, "all")


def test_the_coverage_setting_reaches_both_lip_sync_detectors(
    home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a non-default coverage is passed, so a default analysis is unchanged; a bad value is
    a configuration error naming the setting."""
    from core.config import load_settings
    from core.errors import ConfigError

    assert "lipsync.av_offset" not in load_settings().models.detector_options()
    monkeypatch.setenv("VERITY_MODELS__LIPSYNC_COVERAGE", "whole")
    options = load_settings().models.detector_options()
    assert options["lipsync.av_offset"] == options["lipsync.syncnet"] == {"coverage": "whole"}
    assert av_offset.build(**options["lipsync.av_offset"]).coverage == "whole"
    monkeypatch.setenv("VERITY_MODELS__LIPSYNC_COVERAGE", "all")
    with pytest.raises(ConfigError, match="lipsync_coverage"):
        load_settings()
