"""Which passages of a video lip-sync reads, and one face-tracking pass per passage, shared by
both lip-sync detectors.

**Passages** (``passage_spans``). A video up to ``WHOLE_S`` (30 s) long is one passage, read
whole. A longer one is read in passages of at most ``PASSAGE_S`` (10 s): up to ``MAX_PASSAGES``
(12) of them by default (coverage ``spread``), so a video up to two minutes long is read whole in
consecutive passages of equal length, and a longer one in twelve 10-s passages spread from its
first to its last seconds. A dubbed or spliced passage late in an interview is then looked at (up
to 0.2.1 the detectors read the first 30 s and said "the rest was not looked at"), and the cost
stays bounded (at most 120 s of face tracking whatever the length). Twelve passages cost
1.1-1.25 times what six did before lip-sync 1.4.0/1.5.0, because faces of ``net.COARSE_SIDE`` px
or more are now detected without up-sampling (``net.face_tracker``; bench/lipsync_tracking_cost).
In a video up to three minutes the gaps between passages are at most 5.5 s, so a 20-s dub covers
at least 7 s of one passage. Coverage ``whole`` (setting ``models.lipsync_coverage``) reads
every second of any length in consecutive passages, at a cost that grows with the video: for an
analyst who must not miss a splice that falls between spread passages. Each passage is analysed
on its own (its own speaker, its own soundtrack on the video clock, its own null test) and the
detectors report the worst.

**One pass per passage.** In a passage ``lipsync.av_offset`` tracks faces on every frame;
``lipsync.syncnet`` needs mouth crops on a 25 fps grid over the passage's first 20 s. Face tracking
(dlib HOG and landmarks) is most of what either costs, so the faces are tracked once, on every
native frame, by one causal tracker (``faces.FaceTracker``): its scan as the feeding passes the
passage's end is av_offset's, and its scan as it passes the grid's end gives syncnet's mouths.

The grid frames are a subset of the native frames: ``core.media.iter_frames(fps=25)`` decodes the
same stream as ``iter_frames()`` and keeps a frame (same index, time and picture at the same
``max_side``) when its time reaches the next grid point, skipping the others. The pass applies that
rule (``_on_grid``) to the frames it feeds and holds grey copies of the grid frames only; at 20 s
syncnet's mouths are cut from the shared scan for the faces on held frames (``net.cut_mouths``:
the one-second minimum and the landmark smoothing count grid faces, as on a grid-only scan).

When frames are at least 40 ms apart (a constant rate of at most 25 fps) every frame is a grid
frame, so syncnet gets exactly what its own scan of the grid gave. Above 25 fps (30, 50, 60 fps, a
variable rate) the faces on grid frames come from a track that also saw the frames in between:
detection runs on every ``DETECT_EVERY``-th native frame rather than grid frame, and tracks are
linked across native frames, so landmarks (and scores) may differ slightly from a grid-only scan;
the faces are no longer tracked twice.

**Small faces.** A face under about 40 px of the 640-px frames (a 1080p video's faces under
~120 px) is not found. When no face is found in any passage, both detectors ask the video's
second look (``visual/second_look.py``, shared with the visual detectors): on a few frames at full
size, a face of 64 px or more sends every passage through a pass again, on frames of at most
``FINER_SIDE`` px with faces sought on the whole frame; only smaller faces are named too small.

Whichever detector asks first drives the decoder and the other continues from where it stopped.
The pass lives in ``MediaInput.cached``, like the shared audio front end
(``audio.passages.analysed``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from core.detector import Finding, MediaInput
from core.media import VideoFrame
from modalities.lipsync import syncnet_net as net
from modalities.visual import faces
from modalities.visual import second_look as visual_second_look

FRAME_MAX_SIDE = 640  # both detectors track on frames of at most 640 px a side ...
FINER_SIDE = 1280  # ... or this, when a second look found faces only the full size shows
GRID_S = 20.0  # lipsync.syncnet analyses the first 20 s of a passage
WHOLE_S = 30.0  # a video up to this long is one passage (lipsync.av_offset reads all of it)
PASSAGE_S = 10.0  # a longer one is read in passages at most this long ...
MAX_PASSAGES = 12  # ... at most 12 with coverage "spread" (120 s of face tracking)
COVERAGES = ("spread", "whole")
_EPS = 1e-6  # the tolerance of core.media.iter_frames


@dataclass(frozen=True)
class Passage:
    """``[start_s, end_s)`` of the video on its clock; ``whole``: a short video's only passage,
    read from its first frame to ``end_s`` inclusive, as before passages."""

    start_s: float
    end_s: float
    whole: bool = False

    def grid_end_s(self) -> float:
        """Where syncnet's 25 fps grid of this passage ends."""
        return min(self.start_s + GRID_S, self.end_s)


def passage_spans(duration_s: float | None, coverage: str = "spread") -> list[Passage]:
    """The passages lip-sync reads in a video of ``duration_s`` (None or 0: unknown, read as a
    short one from the start). Passages that cover the video are consecutive and of equal length
    (``ceil(duration / PASSAGE_S)`` of them, each at most ``PASSAGE_S``); when coverage
    ``spread`` allows fewer, ``MAX_PASSAGES`` passages of ``PASSAGE_S`` are spread from the first
    to the last seconds.

    >>> [(p.start_s, p.end_s) for p in passage_spans(12.0)]
    [(0.0, 30.0)]
    >>> [(p.start_s, p.end_s) for p in passage_spans(45.0)]
    [(0.0, 9.0), (9.0, 18.0), (18.0, 27.0), (27.0, 36.0), (36.0, 45.0)]
    >>> len(passage_spans(100.0)), passage_spans(100.0)[-1].start_s
    (10, 90.0)
    >>> [p.start_s for p in passage_spans(230.0)][:4]
    [0.0, 20.0, 40.0, 60.0]
    >>> len(passage_spans(3600.0)), len(passage_spans(3600.0, "whole"))
    (12, 360)
    """
    if coverage not in COVERAGES:
        raise ValueError(f"unknown lip-sync coverage {coverage!r}: one of {', '.join(COVERAGES)}")
    if not duration_s or duration_s <= WHOLE_S:
        return [Passage(0.0, WHOLE_S, whole=True)]
    needed = math.ceil(duration_s / PASSAGE_S - 1e-9)
    if coverage == "whole" or needed <= MAX_PASSAGES:
        length = duration_s / needed
        bounds = [round(k * length, 3) for k in range(needed)] + [round(duration_s, 3)]
        return [Passage(a, b) for a, b in itertools.pairwise(bounds)]
    gap = (duration_s - PASSAGE_S) / (MAX_PASSAGES - 1)
    starts = [round(k * gap, 3) for k in range(MAX_PASSAGES)]
    return [Passage(start, start + PASSAGE_S) for start in starts]


GridMouths = tuple[list[net.MouthCuts], tuple[str, ...]]


class FacePass:
    """The frames of one passage fed once to one tracker, with scans taken as the feeding passes
    a time. ``start_s``: where the passage (and syncnet's 25 fps grid) starts; ``grid_end_s``:
    where the grid ends and its mouths are cut (grey copies of the grid frames are held until
    then)."""

    def __init__(
        self,
        frames: Iterator[VideoFrame],
        grid_end_s: float = GRID_S,
        start_s: float = 0.0,
        detect_side: int = 0,
    ) -> None:
        self.start_s = start_s
        self._frames = frames
        self._pending: VideoFrame | None = None  # pulled from the decoder, not yet fed
        self._exhausted = False
        self._tracker = net.face_tracker(detect_side)
        self._fed_until = -np.inf
        self._native: dict[float, faces.FaceScan] = {}
        self._grid_end = grid_end_s
        self._grid_next_t = start_s  # core.media.iter_frames' sampling rule at net.FPS
        self._held: dict[int, np.ndarray] | None = {}  # grid frames fed; None once cut
        self._grid_mouths: GridMouths | None = None

    def _pull(self) -> VideoFrame | None:
        """The next frame (not fed yet), after cutting the grid's mouths if it ends the grid."""
        if self._pending is None and not self._exhausted:
            self._pending = next(self._frames, None)
            self._exhausted = self._pending is None
            frame = self._pending
            if self._held is not None and (frame is None or frame.time_s + _EPS >= self._grid_end):
                self._cut_grid()
        return self._pending

    def _on_grid(self, t: float) -> bool:
        """Would ``media.frames(fps=net.FPS)`` pick a frame at ``t``? (Advances the grid: call it
        once per frame, in order.)"""
        if t + _EPS < self._grid_next_t:
            return False
        step = 1.0 / net.FPS
        self._grid_next_t = max(self._grid_next_t + step, t + step * 0.5)
        return True

    def _feed(self) -> None:
        frame = self._pending
        assert frame is not None
        if self._held is not None and self._on_grid(frame.time_s):
            self._held[frame.index] = net.grey_frame(frame)
        self._tracker.feed(frame)
        self._fed_until = frame.time_s
        self._pending = None

    def _cut_grid(self) -> None:
        assert self._held is not None
        scan = self._tracker.scan()
        cuts = net.cut_mouths(scan, self._held, origin_s=self.start_s)
        self._grid_mouths = (cuts, tuple(scan.flags))
        self._held = None

    def native_scan(self, max_s: float) -> faces.FaceScan:
        """The scan of every frame with ``time_s <= max_s`` (av_offset's frames)."""
        if max_s not in self._native:
            if self._fed_until > max_s:
                raise RuntimeError(f"the face pass is already beyond {max_s} s")
            while (frame := self._pull()) is not None and frame.time_s <= max_s:
                self._feed()
            self._native[max_s] = self._tracker.scan()
        return self._native[max_s]

    def grid_mouths(self) -> GridMouths:
        """syncnet's mouth cuts (grid slots counted from ``start_s``) and scan flags: the faces
        on the grid frames before ``grid_end_s``, from the tracks of this pass."""
        while self._held is not None and self._pull() is not None and self._held is not None:
            self._feed()
        assert self._grid_mouths is not None  # cut when the frame after the grid is pulled
        return self._grid_mouths


def face_pass(media: MediaInput, passage: Passage | None = None, side: int = 0) -> FacePass:
    """The analysis' shared face pass over a ``passage`` of ``media`` (default: the whole of a
    short video), created on first use. A passage of a long video decodes from its start to its
    end only (the decoder closes there); the whole video's pass reads on as far as it is asked.
    ``side`` (0: ``FRAME_MAX_SIDE``, faces sought on 640-px copies): frames at most that large,
    faces sought on the whole frame (:func:`finer_side`)."""
    passage = passage or Passage(0.0, WHOLE_S, whole=True)

    def start() -> FacePass:
        end = None if passage.whole else passage.end_s
        frames = media.frames(max_side=side or FRAME_MAX_SIDE, start_s=passage.start_s, end_s=end)
        return FacePass(
            frames, grid_end_s=passage.grid_end_s(), start_s=passage.start_s, detect_side=side
        )

    key = "lipsync-face-pass" + ("" if passage.whole else f"@{passage.start_s:.3f}")
    key += f"/{side}px" if side else ""
    result: FacePass = media.cached(key, start)
    return result


def second_look(media: MediaInput) -> tuple[int, list[Finding], str]:
    """For a video in whose passages no face was found: the frame size to track faces at again
    (0: none, nothing to score), the findings on the shared second look, and the reason to give
    when nothing is found again ("no face found", or the faces seen are too small to score).

    The look (visual/second_look.py, shared with the visual detectors) seeks faces on a few
    frames at full size; when it finds one of ``faces.MIN_RELIABLE_SIDE`` px or more, the
    passages are tracked again on frames of at most ``FINER_SIDE`` px (:func:`finer_side`)."""
    look = visual_second_look.second_look(media)
    if look is None:
        return 0, [], "no face found"
    notes = look.findings(f"on the {FRAME_MAX_SIDE}-px frames tracked")
    return (finer_side(look.side) if look.reliable else 0), notes, look.reason or "no face found"


def finer_side(video_side: int) -> int:
    """The frame size lip-sync tracks faces at after a second look found a face to score: the
    video's, at most ``FINER_SIDE``. A 64-px face of a 1080p video is 43 px there, which HOG finds;
    the grey copies of the grid frames held for syncnet's mouths stay below 0.5 GB (20 s at 25
    fps of 1280×720) where 2560-px frames would hold 1.8 GB."""
    return min(video_side, FINER_SIDE)
