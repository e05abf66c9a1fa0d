"""What HDR does to the visual detectors: a real clip as SDR and as a phone's PQ / HLG video.

The first seconds of a clip are written three times in FFV1 (lossless, so only the signal
differs): 8-bit SDR (the reference, measured in the same run) and 10-bit BT.2020 PQ and HLG made
from the same pictures with their white at 203 nits (core.samples.write_hdr_clip). Engine 0.2.1
decodes HDR to the SDR picture (core/frames.py); ``--naive`` shows what the detectors saw before
(8-bit RGB straight from the HDR signal).

    .venv/bin/python bench/hdr.py [CLIP] [--seconds 8] [--naive]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import numpy as np
from interlaced import DEFAULT_CLIP, scores

from core import frames as frames_mod
from core import samples


def write_sdr(path: Path, pictures: list[np.ndarray], fps: int) -> Path:
    height, width = pictures[0].shape[0] // 2 * 2, pictures[0].shape[1] // 2 * 2
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for rgb in pictures:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), "rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--naive", action="store_true", help="8-bit RGB of the HDR signal (0.2.0)")
    args = parser.parse_args()
    if args.naive:
        frames_mod._hdr_to_sdr = lambda frame, w, h: np.ascontiguousarray(  # type: ignore[assignment]
            frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
        )
    with av.open(str(args.clip)) as container:
        stream = container.streams.video[0]
        fps = round(float(stream.average_rate or 25))
        pictures = [
            f.to_ndarray(format="rgb24")
            for f in container.decode(stream)
            if f.time is not None and f.time < args.seconds
        ]
    print(f"{args.clip.name}, first {args.seconds:g} s ({len(pictures)} frames)")
    print("| copy | visual.blend | visual.spectrum | visual.eyes_teeth | visual.temporal |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        sdr = write_sdr(Path(tmp) / "sdr.mkv", pictures, fps)
        print("| SDR (reference) | " + " | ".join(scores(sdr)) + " |")
        for transfer in ("pq", "hlg"):
            path = samples.write_hdr_clip(Path(tmp) / f"{transfer}.mkv", pictures, transfer, fps)
            print(f"| {transfer.upper()} | " + " | ".join(scores(path)) + " |")


if __name__ == "__main__":
    main()
