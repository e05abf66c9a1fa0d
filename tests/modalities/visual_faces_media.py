"""Real-face test media made offline from ``skimage.data.astronaut()`` (a NASA portrait)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


def moved(
    img: np.ndarray, dx: float, dy: float, angle: float = 0.0, scale: float = 1.0
) -> np.ndarray:
    """The picture shifted, rotated (degrees) and scaled about its centre; borders replicated."""
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(img, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def face_video(path: Path, frames: list[np.ndarray], fps: int = 10, crf: int | None = None) -> Path:
    """An H.264 MP4 of ``frames`` (RGB, even sides), at x264's default rate factor or ``crf``."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        if crf is not None:
            stream.options = {"crf": str(crf)}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def drifting_face_frames(n: int = 12, size: int = 448, tilt: float = 1.5) -> list[np.ndarray]:
    """The astronaut's face moving slowly right and tilting ``tilt`` degrees a frame: one track."""
    base = cv2.resize(astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return [moved(base, dx=2.0 * i, dy=1.0 * i, angle=tilt * i) for i in range(n)]


def group_picture(width: int, face_side: int) -> np.ndarray:
    """A ``width``×¾``width`` picture holding the astronaut scaled so her face box is about
    ``face_side`` px: a face that a detector shrinking the picture first may miss."""
    face = astronaut()
    small = cv2.resize(
        face, None, fx=face_side / 90, fy=face_side / 90, interpolation=cv2.INTER_AREA
    )
    canvas = np.full((width * 3 // 4, width, 3), 128, np.uint8)
    small = small[: canvas.shape[0], : canvas.shape[1]]  # her face is in the upper left half
    top, left = (canvas.shape[0] - small.shape[0]) // 3, (width - small.shape[1]) // 3
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def small_face_frames(
    width: int, height: int, face_side: int, n: int = 6, step: float = 2.0
) -> list[np.ndarray]:
    """``n`` frames of ``width``×``height`` holding the astronaut scaled so her face box is about
    ``face_side`` px, drifting ``step`` px a frame on a grey canvas: a small face in a large
    video frame, which the detectors' 640-px detection copies do not show."""
    scale = face_side / 90
    face = cv2.resize(astronaut(), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        canvas = np.full((height, width, 3), 128, np.uint8)
        top, left = height // 3, width // 3 + round(step * i)
        canvas[top : top + face.shape[0], left : left + face.shape[1]] = face
        frames.append(canvas)
    return frames
