"""Peak memory of `verity analyze` on long speech: what grows with the length of a recording.

An hour of 16-kHz sound is 230 MB as float32; a recording up to the 4-hour limit is read in at
most six passages of 10 minutes (modalities/audio/passages.py), so what an analysis holds beyond
its fixed cost (interpreter, torch, weights) should be bounded by one passage's work, not grow
into gigabytes. Reference measured in the same run, for each length: a child that loads the
three audio detectors (the fixed cost) and decodes the recording passage by passage, keeping
nothing (the floor every analysis pays). Then `verity analyze --json` per audio detector and
with all of them (the default), each in a fresh child whose peak RSS the kernel reports.

The input is real speech when ``--speech DIR`` names a folder of recordings (e.g.
../shared/train-corpus/speech: its files in name order, joined with 0.3-s pauses, repeated up to
the length); otherwise a synthetic speech-like signal (bench/audio_rtf.py). Prints Markdown rows
for docs/benchmarks.md.

    .venv/bin/python bench/audio_memory.py [--minutes 0.25 15 60] [--speech DIR] [--all-only]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import soundfile
from audio_rtf import real_speech, speechlike
from largest_picture import child_peak

ROOT = Path(__file__).resolve().parents[1]
DETECTORS = ("audio.artifacts", "audio.cnn", "audio.lfcc_gmm")
SR = 16_000
ANALYZE = """\
import resource, sys
from core.cli import main
code = main(sys.argv[1:])
print("maxrss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""
DECODE = f"""\
import resource, sys
from pathlib import Path
import modalities  # noqa: F401  (registers the detectors)
from core.config import MediaLimits
from core.detector import REGISTRY, MediaInput
from core.media import probe
from modalities.audio import frontend, passages
path = Path(sys.argv[1])
loaded = [REGISTRY.create(name) for name in {DETECTORS!r}]
media = MediaInput(path=path, sha256="-", info=probe(path, MediaLimits()))
for _ in passages.read(media, frontend.SAMPLE_RATE, passages.plan(media.info.duration_s)):
    pass
print("maxrss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def recording(seconds: float, speech: Path | None) -> np.ndarray:
    """``seconds`` of speech: the folder's recordings repeated, or the synthetic signal."""
    if speech is None:
        return speechlike(seconds)
    wave = real_speech(speech, min(seconds, 3600.0))
    return np.resize(wave, int(seconds * SR))  # repeated beyond the first hour


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[0.25, 15.0])
    parser.add_argument("--speech", type=Path, help="folder of real recordings to join")
    parser.add_argument("--all-only", action="store_true", help="skip the one-detector runs")
    args = parser.parse_args()
    source = f"real speech from {args.speech}" if args.speech else "synthetic speech-like signal"
    print(
        f"{source}; {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )
    print("| recording | run | peak RSS (MB) | above the reference (MB) | wall (s) |")
    print("|---|---|---|---|---|")
    runs = {} if args.all_only else {f"{name} only": ["-d", name] for name in DETECTORS}
    runs["every audio detector (default)"] = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = Path(tmp) / f"speech-{minutes:g}min.flac"
            soundfile.write(path, recording(minutes * 60, args.speech), SR, subtype="PCM_16")
            label = f"{minutes:g} min"
            floor, wall = child_peak(DECODE, [str(path)], Path(tmp) / "home-ref")
            print(f"| {label} | detectors loaded, decode only (reference) | {floor:.0f} | 0 | "
                  f"{wall:.1f} |", flush=True)  # fmt: skip
            for i, (name, extra) in enumerate(runs.items()):
                home = Path(tmp) / f"home-{minutes:g}-{i}"
                mb, wall = child_peak(ANALYZE, ["analyze", str(path), "--json", *extra], home)
                print(f"| {label} | {name} | {mb:.0f} | {mb - floor:+.0f} | {wall:.1f} |",
                      flush=True)  # fmt: skip
            path.unlink()


if __name__ == "__main__":
    main()
