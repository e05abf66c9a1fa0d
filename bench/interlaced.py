"""What interlacing does to the visual detectors: a real clip, progressive and woven into fields.

The woven copy takes each frame's odd rows from the next frame, as an interlaced camera records
two fields 1/50 s apart, and is coded interlaced (x264 ``interlaced=1:tff=1``); the progressive
copy of the same frames, coded the same way otherwise, is the reference measured in the same run.
Engine 0.2.1 analyses an interlaced frame as its top field stretched to full height
(core/frames.py); ``--woven`` shows what the detectors saw before (the frames as decoded).

    .venv/bin/python bench/interlaced.py [CLIP] [--woven]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import numpy as np

from core import frames as frames_mod
from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.visual import blend, eyes_teeth, spectrum, temporal


def write(src: Path, dst: Path, interlaced: bool) -> Path:
    with av.open(str(src)) as container:
        pictures = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    height, width = (pictures[0].shape[0] // 4) * 4, (pictures[0].shape[1] // 2) * 2
    pictures = [p[:height, :width] for p in pictures]
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        options = {"crf": "18"}
        if interlaced:
            options["x264-params"] = "interlaced=1:tff=1"
        stream.options = options
        for k in range(len(pictures) - 1):
            picture = pictures[k].copy()
            if interlaced:
                picture[1::2] = pictures[k + 1][1::2]
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode())
    return dst


DEFAULT_CLIP = Path("../shared/train-corpus/video/visualvoice/interview.mp4")


def scores(path: Path) -> list[str]:
    """The raw score (or out-of-domain reason) of each face/frame visual detector on ``path``."""
    out = []
    for module in (blend, spectrum, eyes_teeth, temporal):
        media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
        evidence = module.build().analyze(media)
        out.append(evidence.out_of_domain or f"{evidence.raw_score:+.2f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--woven", action="store_true", help="feed woven frames, as 0.2.0 did")
    args = parser.parse_args()
    if args.woven:
        frames_mod._one_field = lambda frame, w, h: np.ascontiguousarray(  # type: ignore[assignment]
            frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
        )
    print("| copy | visual.blend | visual.spectrum | visual.eyes_teeth | visual.temporal |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, interlaced in (("progressive (reference)", False), ("interlaced", True)):
            path = write(args.clip, Path(tmp) / f"{interlaced}.mp4", interlaced)
            print(f"| {name} | " + " | ".join(scores(path)) + " |")


if __name__ == "__main__":
    main()
