"""Which frames of a video the visual detectors look at: a bounded, reproducible sample.

Kept apart from the face pipeline (``faces``, which re-exports both names) because choosing frames
is a question of cost and coverage, not of faces: a long video must cost no more than a short one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.media import VideoFrame


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
