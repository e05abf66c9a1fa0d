"""modalities.lipsync.tracking: one face pass per analysis serves both lip-sync detectors.

The pass must give each detector exactly what its own scan gave before it was shared: av_offset
every frame up to its limit, syncnet the 25 fps grid up to its limit (mouth crops, openings and
scan flags), whichever asks first, and fall back (None) when the grid frames are not the frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.media import iter_frames
from modalities.lipsync import av_offset, syncnet, tracking
from modalities.lipsync import syncnet_net as net
from modalities.visual import faces
from tests.modalities.lipsync_media import talking_clip
from tests.modalities.test_audio_lfcc_gmm import media

GRID_END = 1.5  # a grid limit inside the clip, so the grid scan is taken mid-pass


@pytest.fixture(scope="module")
def clip25(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return talking_clip(tmp_path_factory.mktemp("track") / "talk25.mp4", seconds=3.5, seed=4)


def _own_scans(path: Path, native_s: float) -> tuple[faces.FaceScan, list[net.MouthTrack], tuple]:
    """What each detector computed on its own before the pass was shared."""
    native = faces.track_faces(
        (f for f in iter_frames(path, max_side=640) if f.time_s <= native_s),
        try_rotations=True,
        detect_every=3,
    )
    grid = iter_frames(path, fps=net.FPS, max_side=640, end_s=GRID_END)
    mouths, flags = net.mouth_tracks(grid, int(GRID_END * net.FPS) + 1)
    return native, mouths, flags


def _same_scan(a: faces.FaceScan, b: faces.FaceScan) -> bool:
    def faces_of(scan: faces.FaceScan) -> list:
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


@pytest.mark.slow
def test_frames_between_grid_points_leave_syncnet_its_own_grid(tmp_path: Path) -> None:
    clip = talking_clip(tmp_path / "talk30.mp4", seconds=1.5, fps=30, seed=5)
    shared = tracking.FacePass(iter_frames(clip, max_side=640), grid_end_s=GRID_END)
    assert shared.grid_mouths() is None  # the second frame (33 ms) is not on the 40 ms grid
    native = shared.native_scan(1.0)
    ref = faces.track_faces(
        (f for f in iter_frames(clip, max_side=640) if f.time_s <= 1.0),
        try_rotations=True,
        detect_every=3,
    )
    assert _same_scan(native, ref) and native.tracks
    assert shared.grid_mouths() is None
    with pytest.raises(RuntimeError, match="beyond"):
        shared.native_scan(0.5)


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
