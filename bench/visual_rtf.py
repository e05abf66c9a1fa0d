"""Real-time factor of the visual stack on a 30 s 720p talking-face clip (2 CPU cores).

The clip is made here: the astronaut portrait (skimage, a real photo) moving and tilting slowly
on a 1280×720 frame, 25 fps H.264. Reference measured in the same run: decoding every frame of
the clip (the floor any frame-based detector pays). Each visual detector then analyses the clip
as `verity analyze` would; the stack's RTF is the sum. Also: pictures per second of visual.blend
on one 720p photo. Prints Markdown rows for docs/benchmarks.md.

    VERITY_HOME=$(mktemp -d) .venv/bin/python bench/visual_rtf.py [--seconds 30] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from skimage import data

import modalities  # noqa: F401  registers the detectors
from core.config import MediaLimits
from core.detector import Evidence, MediaInput, create_detector, list_detectors
from core.media import iter_frames, probe
from core.store import sha256_file


def write_video(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def clip_frames(seconds: float, fps: int = 25) -> list[np.ndarray]:
    face = cv2.resize(data.astronaut(), (400, 400), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(int(seconds * fps)):
        t = i / fps
        canvas = np.full((720, 1280, 3), (70, 90, 110), np.uint8)
        matrix = cv2.getRotationMatrix2D((200, 200), 6 * np.sin(t), 1.0)
        tile = cv2.warpAffine(face, matrix, (400, 400), borderMode=cv2.BORDER_REPLICATE)
        x = int(440 + 120 * np.sin(0.4 * t))
        canvas[160:560, x : x + 400] = tile
        frames.append(canvas)
    return frames


def timed(fn: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "clip.mp4", clip_frames(args.seconds), fps=25)
        media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
        decode = timed(lambda: sum(1 for _ in iter_frames(path)), args.runs)
        print("| stage | seconds | real-time factor | result |\n|---|---|---|---|")
        print(f"| decode all frames (reference) | {decode:.2f} | {decode / args.seconds:.3f} | |")
        total = 0.0
        for spec in list_detectors(modality="visual"):
            if spec.requires is not None:  # a local checkpoint is the user's, not ours to time
                continue
            detector = create_detector(spec.name)
            results: list[Evidence] = []
            spent = timed(lambda d=detector, r=results: r.append(d.analyze(media)), args.runs)
            total += spent
            said = results[-1].out_of_domain or results[-1].summary
            print(f"| {spec.name} | {spent:.2f} | {spent / args.seconds:.3f} | {said} |")
        print(f"| visual stack (sum) | {total:.2f} | {total / args.seconds:.3f} | |")
        photo = Path(tmp) / "photo.png"
        Image.fromarray(clip_frames(0.04)[0]).save(photo)
        pic = MediaInput(path=photo, sha256=sha256_file(photo), info=probe(photo, MediaLimits()))
        blend = create_detector("visual.blend")
        n = 10
        spent = timed(lambda: [blend.analyze(pic) for _ in range(n)], 1)
        print(f"\nvisual.blend on a 720p photo: {n / spent:.2f} pictures/s")


if __name__ == "__main__":
    main()
