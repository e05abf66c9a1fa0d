"""Real-time factor of the audio stack on 5 minutes of speech (2 CPU cores).

The input is real speech when ``--speech DIR`` names a folder of recordings (e.g.
../shared/train-corpus/speech): its files, in name order, decoded to 16 kHz mono and joined with
0.3 s pauses until ``--seconds`` are reached. Without it, a synthetic speech-like signal (a
harmonic tone with a syllable-rate envelope) stands in, so the script runs on a fresh clone.

Reference measured in the same run: decoding the same file to 16 kHz mono (the floor every audio
detector pays). The VAD rows time frontend.speech_mask alone (energy, the default, and the silero
network) on the channel-normalised wave. Prints one Markdown table row per stage with machine
info, for docs/benchmarks.md.

    .venv/bin/python bench/audio_rtf.py [--seconds 300] [--speech DIR]
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

import modalities  # noqa: F401  (registers the detectors)
from core.config import MediaLimits
from core.detector import REGISTRY, MediaInput
from core.media import MediaKind, probe
from core.sound import decode_audio
from core.store import sha256_file
from modalities.audio import frontend, vad


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sr = frontend.SAMPLE_RATE
    t = np.arange(int(seconds * sr)) / sr
    pitch = 120 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 25))
    envelope = (0.5 * (1 + np.sin(2 * np.pi * 3.3 * t))) ** 2
    return (0.08 * envelope * wave + 0.003 * rng.normal(size=t.size)).astype(np.float32)


AUDIO_SUFFIXES = {".flac", ".wav", ".mp3", ".m4a", ".ogg"}


def real_speech(folder: Path, seconds: float) -> np.ndarray:
    """Recordings of ``folder`` joined (0.3 s of silence between them) up to ``seconds``."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise SystemExit(f"--speech: no audio files under {folder}")
    sr = frontend.SAMPLE_RATE
    need, parts, have = int(seconds * sr), [], 0
    pause = np.zeros(int(0.3 * sr), dtype=np.float32)
    for path in files:
        wave = decode_audio(path)[0]
        parts += [wave.astype(np.float32), pause]
        have += wave.size + pause.size
        if have >= need:
            return np.concatenate(parts)[:need]
    raise SystemExit(f"--speech: {folder} holds {have / sr:.0f} s of audio, under {seconds:.0f} s")


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
    parser.add_argument("--speech", type=Path, help="folder of real recordings to join")
    args = parser.parse_args()
    wave = real_speech(args.speech, args.seconds) if args.speech else speechlike(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.flac"
        soundfile.write(path, wave, frontend.SAMPLE_RATE)
        info = probe(path, MediaLimits())
        sha = sha256_file(path)

        def fresh() -> MediaInput:  # a new input per run: nothing cached between runs
            return MediaInput(path=path, sha256=sha, info=info)

        decode = best_of(args.runs, lambda: decode_audio(path))
        normalized = frontend.normalize_channel(decode_audio(path)[0])
        vad.load_network()  # loading and hashing the weights is not timed
        vads = {
            name: best_of(args.runs, lambda name=name: frontend.speech_mask(normalized, name))
            for name in frontend.VADS
        }
        detectors = [
            REGISTRY.create(spec.name)  # loading weights is not timed
            for spec in REGISTRY.specs(modality="audio", kind=MediaKind.AUDIO)
            if spec.requires is None  # a local checkpoint is the user's, not ours to time
        ]
        timings = {
            d.spec.name: best_of(args.runs, lambda d=d: d.analyze(fresh())) for d in detectors
        }

        def stack() -> None:  # one analysis: the detectors share the decoded, normalised audio
            media = fresh()
            for d in detectors:
                d.analyze(media)

        total = best_of(args.runs, stack)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    source = f"real speech from {args.speech}" if args.speech else "synthetic speech-like signal"
    print(f"input: {args.seconds:.0f} s, {source}")
    print("| stage | seconds | real-time factor |")
    print("|---|---|---|")
    print(f"| decode to 16 kHz mono (reference) | {decode:.2f} | {decode / args.seconds:.4f} |")
    for name, seconds in vads.items():
        print(
            f"| VAD {name} (speech_mask on the normalised wave) | {seconds:.2f} | "
            f"{seconds / args.seconds:.4f} |"
        )
    for name, seconds in timings.items():
        print(
            f"| {name} analyze (decode, front end, figure) | {seconds:.2f} | "
            f"{seconds / args.seconds:.4f} |"
        )
    print(
        f"| whole audio stack, one analysis (shared front end) | {total:.2f} | "
        f"{total / args.seconds:.4f} |"
    )


if __name__ == "__main__":
    main()
