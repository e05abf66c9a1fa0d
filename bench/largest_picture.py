"""Peak memory of `verity analyze` on a picture at the configured pixel limit (8192×8192).

A ~200 KB PNG inside every limit should not cost gigabytes. Reference measured in the same run:
the same file with `-d visual.metadata` only, which reads the header and not the pixels' maths
(the floor: interpreter, libraries, one decoded frame). Each configuration runs
`verity analyze --json` in a child process and reads its peak RSS from the kernel. Prints
Markdown rows for docs/benchmarks.md.

    .venv/bin/python bench/largest_picture.py [--side 8192]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHILD = """\
import resource, sys
from core.cli import main
code = main(sys.argv[1:])
print("maxrss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def make_picture(path: Path, side: int) -> Path:
    """A smooth gradient with a little texture: compresses small, like the audit's file."""
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    plane = (ramp[None, :] * 0.6 + ramp[:, None] * 0.4).astype(np.uint8)
    plane[::64, :] = 0  # some structure for the detectors to look at
    Image.fromarray(np.stack([plane, plane[::-1], plane.T], axis=-1)).save(path, optimize=True)
    return path


def peak(picture: Path, home: Path, detectors: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one analysis in a fresh child."""
    args = ["analyze", str(picture), "--json"] + [x for d in detectors for x in ("-d", d)]
    return child_peak(CHILD, args, home)


def child_peak(code: str, args: list[str], home: Path) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``code`` run with ``args`` in a fresh child, which
    prints ``maxrss_kib N`` on stderr when it ends."""
    env = {**os.environ, "VERITY_HOME": str(home), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    line = next(x for x in done.stderr.splitlines() if x.startswith("maxrss_kib"))
    return int(line.split()[1]) / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8192)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        picture = make_picture(Path(tmp) / "large.png", args.side)
        size_kb = picture.stat().st_size / 1024
        runs = {
            "visual.metadata only (reference)": ["visual.metadata"],
            "visual.spectrum only": ["visual.spectrum"],
            "every visual detector (default)": [],
        }
        print(
            f"{args.side}×{args.side} PNG, {size_kb:.0f} KB; {os.cpu_count()} cores, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
        )
        print("| analysis | peak RSS (MB) | wall (s) |\n|---|---|---|")
        for i, (label, detectors) in enumerate(runs.items()):
            mb, wall = peak(picture, Path(tmp) / f"home{i}", detectors)
            print(f"| {label} | {mb:.0f} | {wall:.1f} |")


if __name__ == "__main__":
    main()
