"""What coarse face detection saves lip-sync, and what it changes (lip-sync 1.4.0 / 1.5.0).

Both lip-sync detectors share one face pass per passage (``modalities/lipsync/tracking``), and
HOG detection at one up-sampling was most of its cost. ``net.face_tracker`` now detects without
up-sampling while every face is at least ``net.COARSE_SIDE`` px, with a full-scale detection
every ``faces.FULL_EVERY``-th time and whenever the coarse one finds fewer faces. This script
analyses each video with both detectors twice in the same run, once with the tracker as it was
(full scale throughout) and once as it is, and prints per arm the seconds both detectors took
together, the detections made (coarse / full scale), each detector's offset and raw score, and
how far the landmarks of the two arms lie apart (each face against the nearest face on the same
frame of the other arm, in eye distances: mean and largest).

Videos, made in the run from ../shared/train-corpus (nothing copied into the repository):
GRID's talking heads one after another (360×288, faces of ~107 px) and the two-person 720p
interview repeated (frames tracked at 640×360), each ``--seconds`` long (default 60; up to two
minutes both are read whole, in consecutive passages).

    PYTHONPATH=. .venv/bin/python bench/lipsync_tracking_cost.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from unittest import mock

import numpy as np

from core import __version__
from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.lipsync import av_offset, syncnet
from modalities.lipsync import syncnet_net as net
from modalities.visual import faces
from tests.modalities.test_lipsync_av_offset import GRID, decoded, encode, spliced

INTERVIEW = GRID.parent / "visualvoice" / "interview.mp4"


def full_scale() -> faces.FaceTracker:
    """The tracker of lip-sync 1.3.0 / 1.4.0: HOG at one up-sampling on every detection."""
    return faces.FaceTracker(try_rotations=True, detect_every=net.DETECT_EVERY)


def repeated(src: Path, dst: Path, seconds: float) -> Path:
    """``src`` (picture and sound) played again and again for ``seconds``."""
    rate, pictures, pcm = decoded(src)
    assert rate == Fraction(25)
    n = min(len(pictures), len(pcm) * 25 // 16_000)
    laps = int(np.ceil(seconds * 25 / n))
    frames = (pictures[:n] * laps)[: round(seconds * 25)]
    sound = np.tile(pcm[: n * 16_000 // 25], laps)[: len(frames) * 16_000 // 25]
    return encode(dst, rate, frames, sound)


def analysed(
    path: Path, make: Callable[[], faces.FaceTracker]
) -> tuple[list[str], dict[str, object]]:
    made: list[faces.FaceTracker] = []

    def tracker() -> faces.FaceTracker:
        made.append(make())
        return made[-1]

    media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
    started = time.perf_counter()
    with mock.patch.object(net, "face_tracker", tracker):
        results = [module.build().analyze(media) for module in (av_offset, syncnet)]
    seconds = time.perf_counter() - started
    cells = []
    for evidence in results:
        codes = {f.code: f.value for f in evidence.findings}
        cells.append(
            evidence.out_of_domain
            or f"{codes.get('av_offset_ms')} ms, raw {evidence.raw_score:.3f}"
        )
    coarse = sum(t.coarse for t in made)
    detections = sum(t.detections for t in made)
    seen = [found for t in made for found in t.per_frame]
    return cells, {"seconds": seconds, "coarse": coarse, "full": detections - coarse, "faces": seen}


def apart(a: list[list[faces.Face]], b: list[list[faces.Face]]) -> str:
    """Mean and largest landmark distance, in eye distances, of each face of ``a`` to the
    nearest face on the same frame of ``b`` (a frame may show two people)."""
    gaps = [
        min(float(np.abs(x.landmarks - y.landmarks).mean()) for y in ys) / max(x.eye_distance, 1.0)
        for xs, ys in zip(a, b, strict=True)
        if ys
        for x in xs
    ]
    return f"{np.mean(gaps):.4f} (max {np.max(gaps):.3f})" if gaps else "—"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    seconds = parser.parse_args().seconds
    print(
        f"engine {__version__}; {platform.machine()}, {platform.python_version()}; "
        f"both lip-sync detectors per analysis (one shared face pass)\n"
    )
    print(
        "| video | tracker | seconds | detections coarse / full | lipsync.av_offset | "
        "lipsync.syncnet | landmarks apart (eye distances) |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        videos = {
            f"GRID, {seconds:.0f} s": spliced(Path(tmp) / "grid.mp4", seconds, seconds, 0.0),
            f"720p interview, {seconds:.0f} s": repeated(INTERVIEW, Path(tmp) / "iv.mp4", seconds),
        }
        for name, path in videos.items():
            reference: list[list[faces.Face]] = []
            for label, make in (
                ("full scale (before)", full_scale),
                ("coarse from 80 px (now)", net.face_tracker),
            ):
                cells, stats = analysed(path, make)
                faces_seen = stats["faces"]
                assert isinstance(faces_seen, list)
                gap = "reference" if not reference else apart(reference, faces_seen)
                reference = reference or faces_seen
                print(
                    f"| {name} | {label} | {stats['seconds']:.1f} | {stats['coarse']} / "
                    f"{stats['full']} | {cells[0]} | {cells[1]} | {gap} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
