"""A second look at a video in whose sampled frames no face was found: small faces, full size.

Every face detector of a video seeks its faces on small copies: the visual detectors on copies
at most ``faces.DETECT_MAX_SIDE`` (640) pixels large, lip-sync on 640-px frames. HOG finds faces
from about 35-40 px there, so from about 70 px in a 720p frame and 110 px in a 1080p one: a
40-80 px face, a speaker filmed from across a room, was "no face found" by every detector. This
module is the video's counterpart of ``sampling.finer_picture``: when a detector's first look
found no face it could use, it asks for this second look, which decodes ``LOOK_FRAMES`` frames
spread over the video at full resolution (at most ``LOOK_SIDE`` px) and seeks faces on each
whole frame, upright (the decoder has applied the display rotation already). What it found
decides what the detector says:

- faces of ``faces.MIN_RELIABLE_SIDE`` px or more: the detector analyses the video again with
  faces sought on frames of that size (``side``), so those faces are scored;
- only smaller faces: "only faces smaller than 64 px", with the size measured (the words a
  picture gets);
- nothing: "no face found", as before, now saying how hard it was looked for.

The look is made once per analysis and shared by every detector (``MediaInput.cached``), and only
for a video larger than the detection copies (a 640-px video was seen whole the first time). A
video whose first look found faces never asks: its results are exactly those of before. The look
costs three decodes and three HOG passes on frames up to 2560 px (about 0.5-2 s on one core); the
detector's finer analysis then costs what its own sampling costs at that size.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.detector import Finding, MediaInput
from core.media import MediaKind, VideoFrame
from modalities.visual import faces, sampling

LOOK_FRAMES = 3  # frames looked at, spread over the video (at its quarter, half, three quarters)
LOOK_SIDE = sampling.FINER_DETECT_SIDE  # frames decoded at most this large, faces sought whole
SMALL_FACES = f"only faces smaller than {faces.MIN_RELIABLE_SIDE} px"


@dataclass(frozen=True)
class SecondLook:
    """What the second look found: per frame looked at, its faces (largest first).

    ``side`` is the size of the frames looked at (the video's, at most ``LOOK_SIDE``), at which a
    detector analyses the video again when ``reliable``. Face sizes are in pixels of those frames.
    """

    side: int
    frames: tuple[VideoFrame, ...]
    found: tuple[tuple[faces.Face, ...], ...]

    @property
    def largest(self) -> int:
        """The side of the largest face found, in pixels (0: none)."""
        return max((face.side for found in self.found for face in found), default=0)

    @property
    def reliable(self) -> bool:
        """Whether a face large enough to score was found."""
        return self.largest >= faces.MIN_RELIABLE_SIDE

    @property
    def reason(self) -> str | None:
        """Why a detector that relies on this look has nothing to score (None: it has)."""
        if self.reliable:
            return None
        return SMALL_FACES if self.largest else "no face found"

    def findings(self, first: str) -> list[Finding]:
        """The evidence's account of the look; ``first`` says where the first look sought."""
        count = sum(len(found) for found in self.found)
        out = [
            Finding(
                code="video_looked_again",
                value=self.side,
                message=f"no face found {first}: looked again at {len(self.frames)} frame(s) "
                f"spread over the video at {self.side} px, faces sought on the whole frame, "
                f"{count} face(s) found",
            )
        ]
        if self.largest:
            out.append(
                Finding(
                    code="largest_face_px",
                    value=self.largest,
                    message=f"largest face found on the second look: {self.largest} px at "
                    f"{self.side} px (faces under {faces.MIN_RELIABLE_SIDE} px are not scored)",
                )
            )
        return out


def look_times(duration_s: float | None, count: int = LOOK_FRAMES) -> list[float]:
    """Where the frames are taken: evenly inside the video (the first frame when its length is
    unknown).

    >>> look_times(12.0)
    [3.0, 6.0, 9.0]
    >>> look_times(None)
    [0.0]
    """
    if not duration_s or duration_s <= 0:
        return [0.0]
    return [round(duration_s * (k + 1) / (count + 1), 3) for k in range(count)]


def second_look(media: MediaInput) -> SecondLook | None:
    """The analysis' shared second look at the video ``media``; None for anything else, and for
    a video no larger than the detection copies (its first look saw every pixel)."""
    if media.kind is not MediaKind.VIDEO:
        return None
    side = max(media.info.width or 0, media.info.height or 0)
    if side <= faces.DETECT_MAX_SIDE:
        return None
    look: SecondLook = media.cached("video-second-look", lambda: _look(media, min(side, LOOK_SIDE)))
    return look


def _look(media: MediaInput, side: int) -> SecondLook:
    frames: list[VideoFrame] = []
    for t in look_times(media.info.duration_s):
        frame = next(iter(media.frames(max_frames=1, max_side=side, start_s=t)), None)
        if frame is not None and all(frame.index != seen.index for seen in frames):
            frames.append(frame)
    if not frames:  # a start past the last frame (a length the container overstates)
        frames = list(media.frames(max_frames=1, max_side=side))
    found = tuple(
        tuple(
            faces.detect_faces(
                frame.rgb,
                frame_index=frame.index,
                time_s=frame.time_s,
                pad_retry=False,
                detect_side=max(frame.rgb.shape[:2]),
            )
        )
        for frame in frames
    )
    return SecondLook(side=side, frames=tuple(frames), found=found)
