"""Would another computer give the same scores? Every detector on the same files, with the
instruction sets (and thread counts) of FFmpeg, NumPy, OpenBLAS, PyTorch, MKL and oneDNN forced
to what older or smaller computers have, in one run.

Each of these libraries picks its vector code from the CPU it runs on, and where that code is
not bit-exact, the pixels, samples or sums a detector sees depend on the machine, and so does its
score: `verity reproduce` on an auditor's computer (tolerance 1e-6) would then report a
difference the evidence does not have. This script analyses each file once per *setup* in a
fresh process and prints, per detector, the largest raw-score difference from the first setup:

    PYTHONPATH=. .venv/bin/python bench/cpu_reproducibility.py FILE [FILE ...] \
        [--setups auto,ffmpeg=0x1b,ATEN_CPU_CAPABILITY=default,OMP_NUM_THREADS=1] \
        [-d visual.blend,visual.spectrum]

A setup is ``auto`` (the machine as it is) or assignments joined by ``+``:

- ``ffmpeg=FLAGS`` forces FFmpeg's level with ``av_force_cpu_flags`` in PyAV's own libavutil:
  libavutil's AV_CPU_FLAG_* bit sets, ``0x3db`` up to SSE4.2 (no AVX), ``0x1b`` up to SSE2,
  ``0x0`` plain C (a bare hex number means the same);
- anything else is an environment variable of the child, read by the library itself:
  ``ATEN_CPU_CAPABILITY`` (PyTorch's own kernels: default, avx2, avx512), ``ONEDNN_MAX_CPU_ISA``
  (PyTorch's convolutions: SSE41, AVX2, ...), ``MKL_CBWR`` (PyTorch's matrix products: AVX2,
  COMPATIBLE, ...), ``OPENBLAS_CORETYPE`` (NumPy's and SciPy's matrix products: Haswell,
  Prescott, ...), ``NPY_DISABLE_CPU_FEATURES`` (NumPy's own loops: "X86_V4 AVX512_ICL", ...),
  ``OMP_NUM_THREADS`` (threads; Verity's models use up to four), ``OPENCV_CPU_DISABLE``
  (OpenCV's dispatched code, the names separated by ``;``, as the setup list is by commas:
  ``AVX2;FP16;AVX;SSE4.2;SSE4.1;FMA3;POPCNT`` leaves its SSE3 baseline).

The child runs ``verity analyze --json`` in-process after forcing FFmpeg's flags.
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


def parse_setup(setup: str) -> tuple[str, dict[str, str]]:
    """``setup`` as (FFmpeg flags or 'auto', environment variables)."""
    flags, env = "auto", {}
    if setup == "auto":
        return flags, env
    for part in setup.split("+"):
        if part.lower().startswith("0x"):
            flags = part
            continue
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise SystemExit(f"bad setup part {part!r}: want NAME=VALUE, ffmpeg=0x.., or auto")
        if name == "ffmpeg":
            flags = value
        else:
            env[name] = value
    return flags, env


def child(flags: str, argv: list[str]) -> None:
    util = avutil()
    util.av_get_cpu_flags.restype = ctypes.c_int
    if flags != "auto":
        util.av_force_cpu_flags(int(flags, 0))
    from core.cli import app

    sys.argv = ["verity", *argv]
    app()


def run_setup(file: Path, setup: str, detectors: str | None) -> dict[str, float]:
    flags, env = parse_setup(setup)
    with tempfile.TemporaryDirectory() as home:
        argv = ["analyze", str(file), "--json"]
        if detectors:
            argv += ["--detectors", detectors]
        done = subprocess.run(
            [sys.executable, __file__, "--child", flags, *argv],
            capture_output=True, text=True, env={**os.environ, **env, "VERITY_HOME": home},
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{file} at {setup}: exit {done.returncode}\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    return {
        d["name"]: d["raw_score"] for d in result["detectors"] if d.get("raw_score") is not None
    }


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--setups", "--levels", dest="setups", default="auto,0x3db,0x1b,0x0")
    parser.add_argument("-d", "--detectors", default=None)
    args = parser.parse_args()
    setups = args.setups.split(",")
    for setup in setups:
        parse_setup(setup)  # a typo fails before the first analysis, not after an hour
    worst: dict[str, dict[str, float]] = {}
    print("| file | detector | raw (" + setups[0] + ") | " + " | ".join(setups[1:]) + " |")
    for file in args.files:
        scores = {setup: run_setup(file, setup, args.detectors) for setup in setups}
        base = scores[setups[0]]
        for name in sorted(base):
            diffs = [abs(scores[s].get(name, float("nan")) - base[name]) for s in setups[1:]]
            row = worst.setdefault(name, {})
            for setup, diff in zip(setups[1:], diffs, strict=True):
                row[setup] = max(row.get(setup, 0.0), diff)
            cells = " | ".join(f"{d:.2g}" for d in diffs)
            print(f"| {file.name[-40:]} | {name} | {base[name]:.6f} | {cells} |", flush=True)
    print("largest |Δ raw| per detector and setup:", json.dumps(worst, indent=1))


if __name__ == "__main__":
    main()
