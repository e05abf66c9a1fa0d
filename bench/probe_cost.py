"""What the ingest-time completeness checks cost, against the probe without them (same run).

A still picture is decoded once by Pillow at probe time so that a cut JPEG or PNG is refused
(core/media_integrity.py). This times ``media.probe`` on a large camera-sized JPEG with and
without that decode, and a full FFmpeg decode of the same picture for scale.

    .venv/bin/python bench/probe_cost.py [--megapixels 24]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import numpy as np
from audio_rtf import best_of
from PIL import Image

from core import media
from core.config import MediaLimits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    height = int((args.megapixels * 1e6 / 1.5) ** 0.5)
    width = int(height * 1.5)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "camera.jpg"
        rng = np.random.default_rng(0)
        small = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((width, height), Image.BICUBIC).save(path, quality=90)
        limits = MediaLimits()
        with_check = best_of(args.repeats, lambda: media.probe(path, limits))
        original = media.check_still_image_complete
        media.check_still_image_complete = lambda _path: None
        try:
            without = best_of(args.repeats, lambda: media.probe(path, limits))
        finally:
            media.check_still_image_complete = original
        decode = best_of(max(1, args.repeats // 2), lambda: list(media.iter_frames(path)))
        print(f"machine: {platform.platform()}, Python {platform.python_version()}")
        print(
            f"{width}x{height} JPEG, {path.stat().st_size / 1e6:.1f} MB: probe {with_check:.3f} s, "
            f"probe without the completeness check {without:.3f} s, "
            f"full FFmpeg decode {decode:.3f} s (best of {args.repeats})"
        )


if __name__ == "__main__":
    main()
