"""One face-tracking pass per analysis, shared by both lip-sync detectors.

``lipsync.av_offset`` tracks faces on every frame of the first 30 s; ``lipsync.syncnet`` on a
25 fps grid over the first 20 s. Face tracking (dlib HOG and landmarks) is most of what either
costs, and on a source of at most 25 fps the grid frames *are* the frames: the same decoded
pictures, indices and times. Tracking is causal (``faces.FaceTracker``), so one tracker fed those
frames gives syncnet's scan as it passes 20 s and av_offset's as it passes 30 s, exactly what two
separate scans gave: scores do not change, and the faces are tracked once.

When a frame falls between grid points (30 or 60 fps, a variable rate above 25 fps) the two
detectors need different frames: :meth:`FacePass.grid_mouths` says None and syncnet tracks its
own grid as before, while the pass still serves av_offset. Whichever detector asks first drives
the decoder and the other continues from where it stopped. The pass lives in
``MediaInput.cached``, like the shared audio front end (``audio.frontend.analysed_audio``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from core.detector import MediaInput
from core.media import VideoFrame
from modalities.lipsync import syncnet_net as net
from modalities.visual import faces

FRAME_MAX_SIDE = 640  # both detectors track on frames of at most 640 px a side
GRID_END_S = 20.0  # lipsync.syncnet analyses the first 20 s
_EPS = 1e-6  # the tolerance of core.media.iter_frames

GridMouths = tuple[list[net.MouthCuts], tuple[str, ...]]


class FacePass:
    """The frames of one video fed once to one tracker, with scans taken as the feeding passes
    a time. ``grid_end_s``: where the 25 fps grid's scan is taken (grey copies of the grid
    frames are held until then, to cut syncnet's mouth crops)."""

    def __init__(self, frames: Iterator[VideoFrame], grid_end_s: float = GRID_END_S) -> None:
        self._frames = frames
        self._pending: VideoFrame | None = None  # pulled from the decoder, not yet fed
        self._exhausted = False
        self._tracker = faces.FaceTracker(try_rotations=True, detect_every=net.DETECT_EVERY)
        self._fed_until = -np.inf
        self._native: dict[float, faces.FaceScan] = {}
        self._grid_end = grid_end_s
        self._grid_next_t = 0.0  # core.media.iter_frames' sampling rule at net.FPS, from 0 s
        self._grid = "open"  # open: every frame fed is a grid frame; then "taken" or "off"
        self._held: dict[int, np.ndarray] = {}
        self._grid_mouths: GridMouths | None = None

    def _pull(self) -> VideoFrame | None:
        """The next frame (not fed yet), after settling the grid scan for it."""
        if self._pending is None and not self._exhausted:
            self._pending = next(self._frames, None)
            self._exhausted = self._pending is None
            if self._grid == "open":
                frame = self._pending
                if frame is None or frame.time_s + _EPS >= self._grid_end:
                    self._take_grid()
                elif not self._on_grid(frame.time_s):
                    self._grid, self._held = "off", {}
        return self._pending

    def _on_grid(self, t: float) -> bool:
        """Would ``media.frames(fps=net.FPS)`` pick a frame at ``t``? (Advances the grid.)"""
        if t + _EPS < self._grid_next_t:
            return False
        step = 1.0 / net.FPS
        self._grid_next_t = max(self._grid_next_t + step, t + step * 0.5)
        return True

    def _feed(self) -> None:
        frame = self._pending
        assert frame is not None
        if self._grid == "open":
            self._held[frame.index] = net.grey_frame(frame)
        self._tracker.feed(frame)
        self._fed_until = frame.time_s
        self._pending = None

    def _take_grid(self) -> None:
        scan = self._tracker.scan()
        self._grid_mouths = (net.cut_mouths(scan, self._held), tuple(scan.flags))
        self._grid, self._held = "taken", {}

    def native_scan(self, max_s: float) -> faces.FaceScan:
        """The scan of every frame with ``time_s <= max_s`` (av_offset's frames)."""
        if max_s not in self._native:
            if self._fed_until > max_s:
                raise RuntimeError(f"the face pass is already beyond {max_s} s")
            while (frame := self._pull()) is not None and frame.time_s <= max_s:
                self._feed()
            self._native[max_s] = self._tracker.scan()
        return self._native[max_s]

    def grid_mouths(self) -> GridMouths | None:
        """syncnet's mouth cuts and scan flags: the grid frames before ``grid_end_s``, tracked by
        this pass; None when they are not the frames of the pass (see the module)."""
        while self._grid == "open" and self._pull() is not None and self._grid == "open":
            self._feed()
        return self._grid_mouths


def face_pass(media: MediaInput) -> FacePass:
    """The analysis' shared face pass over ``media`` (created on first use)."""
    result: FacePass = media.cached(
        "lipsync-face-pass", lambda: FacePass(media.frames(max_side=FRAME_MAX_SIDE))
    )
    return result
