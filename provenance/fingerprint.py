"""Perceptual fingerprints for near-copy lookup, so a re-encode, resize, crop or trim of registered
media is still found.

Images: pHash (ImageHash library, maintained, BSD-2) of the whole picture and of cropped windows
of it, so a crop of 10% from a side or around the centre still meets one of them. Videos: the pHash
of one frame per second (up to ``MAX_FRAMES``), matched with the best temporal offset, so a trimmed
clip aligns with the part of the original it came from. Audio has no fingerprint yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from PIL import Image

from core.media import MediaKind, iter_frames

MAX_FRAMES = 120
IMAGE_MATCH_BITS = 12  # of 64: above this two pictures are not treated as copies
VIDEO_MATCH_BITS = 12
MIN_ALIGNED_FRAMES = 3


# Windows (fractions of width and height) whose hashes are kept: the whole picture, crops of 10%
# from each side, and centred crops, so common crops of registered pictures still match.
WINDOWS = (
    (0.0, 0.0, 1.0, 1.0),
    (0.1, 0.0, 1.0, 1.0),
    (0.0, 0.0, 0.9, 1.0),
    (0.0, 0.1, 1.0, 1.0),
    (0.0, 0.0, 1.0, 0.9),
    (0.05, 0.05, 0.95, 0.95),
    (0.1, 0.1, 0.9, 0.9),
)


def _window_hashes(rgb: np.ndarray) -> list[str]:
    image = Image.fromarray(rgb)
    h, w = rgb.shape[:2]
    return [
        str(imagehash.phash(image.crop((int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h)))))
        for x0, y0, x1, y1 in WINDOWS
    ]


def fingerprint(path: Path, kind: MediaKind) -> dict[str, Any] | None:
    """The fingerprint stored in a registration record, or None for kinds without one."""
    if kind is MediaKind.IMAGE:
        frame = next(iter(iter_frames(path, max_frames=1)))
        return {
            "type": "image-phash-v1",
            "windows": _window_hashes(frame.rgb),
            "dhash": str(imagehash.dhash(Image.fromarray(frame.rgb))),
        }
    if kind is MediaKind.VIDEO:
        frames = [
            str(imagehash.phash(Image.fromarray(f.rgb)))
            for f in iter_frames(path, fps=1.0, max_frames=MAX_FRAMES, max_side=512)
        ]
        return {"type": "video-phash-seq-v1", "fps": 1.0, "frames": frames} if frames else None
    return None


def _bits(a: str, b: str) -> int:
    return int(imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b))


def distance(query: dict[str, Any], stored: dict[str, Any]) -> float | None:
    """Hamming distance in bits (lower is closer), or None when the two cannot be compared."""
    if query.get("type") != stored.get("type"):
        return None
    if query["type"] == "image-phash-v1":
        # the query as it is against every stored window, and the other way round
        pairs = [(query["windows"][0], w) for w in stored["windows"]]
        pairs += [(w, stored["windows"][0]) for w in query["windows"]]
        return float(min(_bits(x, y) for x, y in pairs))
    if query["type"] == "video-phash-seq-v1":
        q, s = query["frames"], stored["frames"]
        best: float | None = None
        for offset in range(-(len(q) - 1), len(s)):
            pairs = [(q[i], s[i + offset]) for i in range(len(q)) if 0 <= i + offset < len(s)]
            if len(pairs) >= min(MIN_ALIGNED_FRAMES, len(q), len(s)):
                mean = float(np.mean([_bits(x, y) for x, y in pairs]))
                best = mean if best is None else min(best, mean)
        return best
    return None


def is_match(query: dict[str, Any], value: float) -> bool:
    limit = IMAGE_MATCH_BITS if query["type"] == "image-phash-v1" else VIDEO_MATCH_BITS
    return value <= limit
