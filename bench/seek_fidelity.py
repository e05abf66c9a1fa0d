"""Does a span read after a seek hold the frames a pass from the start holds? (engine 0.2.1)

For every video of a manifest (or the files given), frames are read from 30 %, 60 % and 90 % of
its length in three ways and compared with a whole pass over the file: ``core.media.iter_frames``
with ``start_s`` (what detectors and chunks use), and, as the reference measured in the same run,
the plain seek that 0.2.0 did (PyAV ``seek`` to the key frame before, then decode). Printed per
file: the first frame time each way lands on, frames missing at the start of the span, and the
mean absolute pixel difference (0-255) from the whole pass.

    .venv/bin/python bench/seek_fidelity.py --manifest ../shared/media-dev/manifest.csv
    .venv/bin/python bench/seek_fidelity.py ../shared/train-corpus/video/grid/*.mpg
"""

from __future__ import annotations

import argparse
import csv
import platform
from pathlib import Path

import av
import numpy as np

from core.media import iter_frames

POSITIONS = (0.3, 0.6, 0.9)


def plain_seek(path: Path, start_s: float, count: int) -> list[tuple[float, np.ndarray]]:
    """0.2.0's way: seek to the key frame before ``start_s`` and decode on."""
    out: list[tuple[float, np.ndarray]] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            if t + 1e-6 < start_s:
                continue
            out.append((t, frame.to_ndarray(format="rgb24")))
            if len(out) >= count:
                break
    return out


def compare(path: Path, count: int = 5) -> list[dict[str, float | int]]:
    whole = {round(f.time_s, 4): f.rgb for f in iter_frames(path)}
    times = sorted(whole)
    rows = []
    for position in POSITIONS:
        start = times[0] + position * (times[-1] - times[0])
        expected = [t for t in times if t + 1e-6 >= start][:count]
        ways = {
            "seek": plain_seek(path, start, count),
            "iter_frames": [
                (f.time_s, f.rgb) for f in iter_frames(path, start_s=start, max_frames=count)
            ],
        }
        row: dict[str, float | int] = {"start_s": round(start, 2)}
        for name, frames in ways.items():
            got = [round(t, 4) for t, _ in frames]
            row[f"{name}_first_s"] = got[0] if got else float("nan")
            row[f"{name}_missing"] = len([t for t in expected if t < (got[0] if got else 1e9)])
            diffs = [
                float(np.abs(rgb.astype(np.int16) - whole[round(t, 4)]).mean())
                for t, rgb in frames
                if round(t, 4) in whole
            ]
            row[f"{name}_pixel_diff"] = round(max(diffs), 2) if diffs else float("nan")
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--manifest", type=Path)
    args = parser.parse_args()
    files = list(args.files)
    if args.manifest:
        with args.manifest.open(newline="", encoding="utf-8") as handle:
            files += [
                args.manifest.parent / row["file"]
                for row in csv.DictReader(handle)
                if row.get("kind") == "video"
            ]
    print(f"machine: {platform.machine()}, PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}")
    print("| file | start s | 0.2.0 seek: first s / missing / pixel diff | 0.2.1: same |")
    print("|---|---|---|---|")
    for path in files:
        for row in compare(path):
            print(
                f"| {path.name[-44:]} | {row['start_s']} | {row['seek_first_s']} / "
                f"{row['seek_missing']} / {row['seek_pixel_diff']} | {row['iter_frames_first_s']} "
                f"/ {row['iter_frames_missing']} / {row['iter_frames_pixel_diff']} |"
            )


if __name__ == "__main__":
    main()
