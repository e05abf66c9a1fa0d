"""The second look at a video whose sampled frames showed no face: small faces at full size."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.visual import faces, second_look
from tests.modalities.visual_faces_media import face_video, small_face_frames


def media(path: Path) -> MediaInput:
    return MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))


def test_a_small_face_is_measured_and_shared(tmp_path: Path) -> None:
    """A 40-px face in a 720p video, invisible on the 640-px detection copy, is found at full
    size and named too small; the look is made once per analysis."""
    clip = media(face_video(tmp_path / "small.mp4", small_face_frames(1280, 720, 40)))
    assert faces.detect_faces(next(clip.frames(max_frames=1)).rgb) == []  # the first look's miss
    look = second_look.second_look(clip)
    assert look is not None and look.side == 1280 and len(look.frames) == 3
    assert 36 <= look.largest < faces.MIN_RELIABLE_SIDE and not look.reliable
    assert look.reason == f"only faces smaller than {faces.MIN_RELIABLE_SIDE} px"
    codes = {f.code: f.value for f in look.findings("on the 640-px copies")}
    assert codes == {"video_looked_again": 1280, "largest_face_px": look.largest}
    assert second_look.second_look(clip) is look


def test_a_face_large_enough_at_full_size_is_reliable(tmp_path: Path) -> None:
    clip = media(face_video(tmp_path / "hd.mp4", small_face_frames(1920, 1080, 70)))
    look = second_look.second_look(clip)
    assert look is not None and look.side == 1920 and look.reliable and look.reason is None


def test_nothing_to_look_at_again(tmp_path: Path) -> None:
    """No face at all: "no face found"; a video of 640 px or less, or a picture: no look."""
    blank = [frame * 0 + 128 for frame in small_face_frames(1280, 720, 40, n=3)]
    look = second_look.second_look(media(face_video(tmp_path / "blank.mp4", blank)))
    assert look is not None and look.largest == 0 and look.reason == "no face found"
    assert {f.code for f in look.findings("x")} == {"video_looked_again"}
    small = face_video(tmp_path / "vga.mp4", small_face_frames(640, 360, 30, n=3))
    assert second_look.second_look(media(small)) is None
    picture = tmp_path / "still.png"
    Image.fromarray(small_face_frames(1280, 720, 40, n=1)[0]).save(picture)
    assert second_look.second_look(media(picture)) is None


@pytest.mark.parametrize(("duration", "times"), [(12.0, [3.0, 6.0, 9.0]), (None, [0.0])])
def test_look_times(duration: float | None, times: list[float]) -> None:
    assert second_look.look_times(duration) == times
