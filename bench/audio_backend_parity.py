"""Do the audio detectors score the same with torchaudio features as with the NumPy reference?

The parity tests (tests/modalities/test_audio_features.py) compare the features on a synthetic
signal; this compares what an analyst sees: the raw scores of ``audio.lfcc_gmm`` and ``audio.cnn``
(the two detectors with a feature backend) on real files, once per backend, in the same run, with
the seconds each backend took. Run it where torchaudio imports (the optional extra ``gpu``, or a
side environment with torch and torchaudio of one release); it says so and stops elsewhere.

    PYTHONPATH=. python bench/audio_backend_parity.py DIR [DIR ...] [--per-folder N]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.audio import cnn, features, lfcc_gmm

SUFFIXES = {".wav", ".flac", ".mp3", ".m4a", ".ogg"}


def files(folders: list[Path], per_folder: int) -> list[Path]:
    out: list[Path] = []
    for folder in folders:
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
        step = max(1, len(found) // per_folder)
        out += found[::step][:per_folder]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--per-folder", type=int, default=10)
    args = parser.parse_args()
    missing = features.torchaudio_unavailable()
    if missing is not None:
        raise SystemExit(f"torchaudio does not import here: {missing}")
    import torch
    import torchaudio

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, device {device}, "
        f"{platform.machine()}, {torch.get_num_threads()} threads"
    )
    paths = files(args.folders, args.per_folder)
    print(f"{len(paths)} files\n")
    print("| detector | files | mean abs Δ raw | max abs Δ raw | numpy s | torchaudio s |")
    print("|---|---|---|---|---|---|")
    for module in (lfcc_gmm, cnn):
        raws: dict[str, list[float]] = {"numpy": [], "torchaudio": []}
        seconds = dict.fromkeys(raws, 0.0)
        for backend in raws:
            detector = module.build(feature_backend=backend)
            for path in paths:
                media = MediaInput(
                    path=path, sha256=sha256_file(path), info=probe(path, MediaLimits())
                )
                started = time.perf_counter()
                evidence = detector.analyze(media)
                seconds[backend] += time.perf_counter() - started
                raws[backend].append(
                    np.nan if evidence.out_of_domain else float(evidence.raw_score)
                )
        a, b = np.array(raws["numpy"]), np.array(raws["torchaudio"])
        scored = ~np.isnan(a) & ~np.isnan(b)
        delta = np.abs(a[scored] - b[scored])
        print(
            f"| {module.NAME} | {int(scored.sum())} | {delta.mean():.2e} | {delta.max():.2e} | "
            f"{seconds['numpy']:.1f} | {seconds['torchaudio']:.1f} |"
        )


if __name__ == "__main__":
    main()
