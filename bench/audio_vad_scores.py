"""How much the shipped audio detectors' raw scores move when their VAD is silero, not energy.

The shipped weights and calibrations were made with the energy VAD; this measures what switching
(setting ``models.audio_vad = "silero"``) would change, on speech files found under the given
folders (train-corpus and fake-corpus speech when present; never media-dev). Prints one Markdown
row per detector: files, mean and largest |Δ raw score|, and how many files change side of 0.

    .venv/bin/python bench/audio_vad_scores.py ../shared/train-corpus/speech ../shared/fake-corpus
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np

import modalities  # noqa: F401  (registers the detectors)
from core.config import MediaLimits
from core.detector import REGISTRY, MediaInput
from core.media import probe
from core.store import sha256_file

DETECTORS = ("audio.lfcc_gmm", "audio.cnn", "audio.artifacts")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--per-folder", type=int, default=15)
    args = parser.parse_args()
    files: list[Path] = []
    for folder in args.folders:
        found = sorted(p for p in folder.rglob("*") if p.suffix in {".flac", ".wav", ".mp3"})
        files += found[:: max(1, len(found) // args.per_folder)][: args.per_folder]
    built = {
        (name, vad): REGISTRY.create(name, vad=vad)
        for name in DETECTORS
        for vad in ("energy", "silero")
    }
    deltas: dict[str, list[float]] = {name: [] for name in DETECTORS}
    flips: dict[str, int] = dict.fromkeys(DETECTORS, 0)
    ood: dict[str, int] = dict.fromkeys(DETECTORS, 0)
    for path in files:
        info = probe(path, MediaLimits())
        sha = sha256_file(path)
        media = MediaInput(path=path, sha256=sha, info=info)  # shared: decoded once per file
        for name in DETECTORS:
            energy = built[(name, "energy")].analyze(media)
            silero = built[(name, "silero")].analyze(media)
            if energy.out_of_domain or silero.out_of_domain:
                ood[name] += bool(energy.out_of_domain) != bool(silero.out_of_domain)
                continue
            deltas[name].append(abs(silero.raw_score - energy.raw_score))
            flips[name] += (silero.raw_score > 0) != (energy.raw_score > 0)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {len(files)} files from "
        + ", ".join(str(f) for f in args.folders)
    )
    print(
        "| detector | files scored | mean abs Δ raw | max abs Δ raw | side of 0 changed | "
        "in/out of domain changed |"
    )
    print("|---|---|---|---|---|---|")
    for name in DETECTORS:
        d = np.array(deltas[name]) if deltas[name] else np.zeros(1)
        print(
            f"| {name} | {len(deltas[name])} | {d.mean():.3f} | {d.max():.3f} | "
            f"{flips[name]} | {ood[name]} |"
        )


if __name__ == "__main__":
    main()
