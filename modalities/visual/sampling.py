"""Which frames of a video the visual detectors look at (a bounded, reproducible sample), and how
large a still picture is looked at.

Kept apart from the face pipeline (``faces``, which re-exports both names) because choosing frames
is a question of cost and coverage, not of faces: a long video must cost no more than a short one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.media import MediaKind, VideoFrame

if TYPE_CHECKING:
    from core.detector import MediaInput

# A still picture is first looked at as a video frame is: shrunk to the policy's ``max_side``
# (1280), with faces sought on a 640-px copy, which finds faces of about 35-40 px and more in
# that copy: a 74-px face in a 2048-px picture is missed, and a 129-px face in a 4032-px
# photograph (docs/benchmarks.md). A group photograph's faces are that small. When that look
# finds no usable face in a picture larger than that copy, the picture is looked at once more,
# at most FINER_SIDE pixels large, with faces sought on a copy of at most FINER_DETECT_SIDE
# (HOG ~1.8 s there on one core, ~210 MB): faces from ~64 px of a 4096-px picture, the size
# below which a face counts as tiny anyway, and from ~40 px of a picture up to 1280 px.
FINER_SIDE = 4096
FINER_DETECT_SIDE = 2560


@dataclass(frozen=True)
class SamplingPolicy:
    """Which frames of a video are looked at, so that cost stays bounded whatever its length.

    Frames are taken at ``fps`` but never more than ``max_frames`` in all: a long video is sampled
    more sparsely (``effective_fps``). ``keyframes`` decodes only key frames, the cheapest way
    through a long file. ``max_side`` shrinks large frames before anything else sees them.
    """

    fps: float = 2.0
    max_frames: int = 32
    keyframes: bool = False
    max_side: int | None = 1280

    def effective_fps(self, duration_s: float | None) -> float:
        if not duration_s or duration_s <= 0:
            return self.fps
        return max(1e-3, min(self.fps, self.max_frames / duration_s))


def sample_frames(
    path: Path, policy: SamplingPolicy, duration_s: float | None
) -> Iterator[VideoFrame]:
    """The frames ``policy`` selects from the video at ``path`` (or the picture, as one frame)."""
    from core import media

    if not policy.keyframes:
        yield from media.iter_frames(
            path,
            fps=policy.effective_fps(duration_s),
            max_frames=policy.max_frames,
            max_side=policy.max_side,
        )
        return
    yield from _keyframes(path, policy)


def _keyframes(path: Path, policy: SamplingPolicy) -> Iterator[VideoFrame]:
    import av

    from core.frames import frame_rgb
    from core.media import clock_origin

    with av.open(str(path)) as container:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        origin = clock_origin(container)
        for count, frame in enumerate(container.decode(stream)):
            if count >= policy.max_frames:
                return
            t = float(frame.time) - origin if frame.time is not None else float(count)
            rgb = frame_rgb(frame, policy.max_side)
            yield VideoFrame(index=int(frame.pts or count), time_s=t, rgb=rgb)


def finer_picture(media: MediaInput, seen: VideoFrame, sought_side: int) -> VideoFrame | None:
    """The still picture ``media`` for a second look, or None for a video or when the first look
    (``seen``, its faces sought on a copy at most ``sought_side`` pixels large) saw all there is.

    The picture again, at most ``FINER_SIDE`` pixels large, when ``seen`` was shrunk; ``seen``
    itself when it holds every pixel but its faces were sought on a smaller copy (a 1024-px
    picture's faces were sought at 640 px, so a 43-px face, 27 px there, was "no face found"
    rather than a face too small to score).

    Only for a second look after the first found no usable face: a picture with large faces is
    analysed exactly as before, and one of 1280 px or less is never decoded twice. The detectors
    of one analysis share the decoded picture (an 8192-px PNG takes seconds to decode).
    """
    if media.kind is not MediaKind.IMAGE:
        return None
    width, height = media.info.width or 0, media.info.height or 0
    if max(width, height) <= max(seen.rgb.shape[:2]):
        return seen if max(seen.rgb.shape[:2]) > sought_side else None
    frame: VideoFrame | None = media.cached(
        "finer-picture",
        lambda: next(iter(media.frames(max_frames=1, max_side=FINER_SIDE)), None),
    )
    return frame
