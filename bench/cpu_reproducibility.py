"""Would another computer give the same scores? Every detector on the same files, with FFmpeg's
vector code forced to each instruction-set level this CPU offers, in one run.

FFmpeg picks its SIMD code from the CPU it runs on. Where that code is not bit-exact, the pixels
(and samples) a detector sees depend on the machine, and so does its score; `verity reproduce`
on an auditor's computer would then report a difference the evidence does not have. This
script forces the level with ``av_force_cpu_flags`` in PyAV's own libavutil (x264, NumPy and
PyTorch keep theirs, so only FFmpeg's part is measured), analyses each file once per level in a
fresh process, and prints, per detector, the largest raw-score difference from the machine's
own level:

    PYTHONPATH=. .venv/bin/python bench/cpu_reproducibility.py FILE [FILE ...] \
        [--levels auto,0x3db,0x1b,0x0] [-d visual.blend,visual.spectrum]

Levels are libavutil's AV_CPU_FLAG_* bit sets: ``0x3db`` is up to SSE4.2 (no AVX), ``0x1b`` up to
SSE2, ``0x0`` plain C. The child runs ``verity analyze --json`` in-process after forcing.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av


def avutil() -> ctypes.CDLL:
    """PyAV's bundled libavutil: the one its decoders and swscale consult."""
    libs = Path(av.__file__).resolve().parent.parent / "av.libs"
    found = sorted(libs.glob("libavutil-*.so*"))
    if not found:
        raise SystemExit("PyAV without bundled FFmpeg libraries: cannot force CPU flags")
    return ctypes.CDLL(found[0])


def child(level: str, argv: list[str]) -> None:
    util = avutil()
    util.av_get_cpu_flags.restype = ctypes.c_int
    if level != "auto":
        util.av_force_cpu_flags(int(level, 0))
    from core.cli import app

    sys.argv = ["verity", *argv]
    app()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--levels", default="auto,0x3db,0x1b,0x0")
    parser.add_argument("-d", "--detectors", default=None)
    args = parser.parse_args()
    levels = args.levels.split(",")
    worst: dict[str, float] = {}
    for file in args.files:
        scores: dict[str, dict[str, float]] = {}
        for level in levels:
            with tempfile.TemporaryDirectory() as home:
                argv = ["analyze", str(file), "--json"]
                if args.detectors:
                    argv += ["--detectors", args.detectors]
                done = subprocess.run(
                    [sys.executable, __file__, "--child", level, *argv],
                    capture_output=True, text=True, env={**os.environ, "VERITY_HOME": home},
                )  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(
                    f"{file} at {level}: exit {done.returncode}\n{done.stderr[-2000:]}"
                )
            result = json.loads(done.stdout)
            detectors = result["detectors"]
            scores[level] = {
                d["name"]: d["raw_score"] for d in detectors if d.get("raw_score") is not None
            }
        base = scores[levels[0]]
        for name in sorted(base):
            diffs = [abs(scores[lv].get(name, float("nan")) - base[name]) for lv in levels[1:]]
            worst[name] = max(worst.get(name, 0.0), *diffs)
            cells = " | ".join(f"{d:.2g}" for d in diffs)
            print(f"| {file.name[-40:]} | {name} | {base[name]:.6f} | {cells} |", flush=True)
    print("largest |Δ raw| per detector:", json.dumps(worst, indent=1))


if __name__ == "__main__":
    main()
