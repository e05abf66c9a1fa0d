"""Real-time factor of the audio stack on 5 minutes of speech-like audio (2 CPU cores).

Reference measured in the same run: decoding the same file to 16 kHz mono (the floor every audio
detector pays). Prints one Markdown table row per stage with machine info, for docs/benchmarks.md.

    .venv/bin/python bench/audio_rtf.py [--seconds 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from core.config import MediaLimits
from core.detector import MediaInput
from core.media import decode_audio, probe
from core.store import sha256_file
from modalities.audio import frontend, lfcc_gmm


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sr = frontend.SAMPLE_RATE
    t = np.arange(int(seconds * sr)) / sr
    pitch = 120 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 25))
    envelope = (0.5 * (1 + np.sin(2 * np.pi * 3.3 * t))) ** 2
    return (0.08 * envelope * wave + 0.003 * rng.normal(size=t.size)).astype(np.float32)


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.flac"
        soundfile.write(path, speechlike(args.seconds), frontend.SAMPLE_RATE)
        media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
        detector = lfcc_gmm.LfccGmmDetector()
        decode = best_of(args.runs, lambda: decode_audio(path))
        analyse = best_of(args.runs, lambda: detector.analyze(media))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    print("| stage | seconds | real-time factor |")
    print("|---|---|---|")
    print(f"| decode to 16 kHz mono (reference) | {decode:.2f} | {decode / args.seconds:.4f} |")
    print(
        f"| audio.lfcc_gmm analyze (decode, MP3 round trip, LFCC, GMM) | {analyse:.2f} | "
        f"{analyse / args.seconds:.4f} |"
    )


if __name__ == "__main__":
    main()
