"""Is a mouth that follows the voice *too* closely a sign of lip-sync generation?

``lipsync.av_offset`` scores a clip as fake when its mouth does not follow its soundtrack. The
lab's warped mouths (``--methods mouthwarp``) are opened and shut by the soundtrack's loudness,
so they follow it more closely than any real mouth: av_offset ranks them below the reals (AUC
0.000 on unseen footage). A two-sided score (too little *or* too much sync, against the range of
real talking heads) would catch them, if real lip-sync generators share the trait. This prints,
per file of each folder (a ``bench/lab_remouth_eval.py`` output, or any folder with a
media-dev-style manifest), the speaker's sync strength as av_offset measures it: the peak of the
mean normalised cross-correlation curve over ±15 frames, the value within ±1 frame of offset 0,
the best offset and the spread of the speech windows' peaks; then each category's range.

    .venv/bin/python bench/lipsync_sync_strength.py /tmp/rm-trainw /tmp/rm-md4w ../shared/media-dev
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np

from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.lipsync import av_offset, signals

analyses: list[signals.SyncAnalysis] = []
shipped_analyse_sync = signals.analyse_sync


def record(mouth: np.ndarray, speech: signals.SpeechTrack, fps: float, *a: Any) -> Any:
    analysis = shipped_analyse_sync(mouth, speech, fps, *a)
    if analysis is not None:
        analyses.append(analysis)
    return analysis


def strength(analysis: signals.SyncAnalysis) -> dict[str, float]:
    curve, middle = analysis.curve, (len(analysis.curve) - 1) // 2
    peaks = [float(np.nanmax(w.curve)) for w in analysis.speech_windows]
    return {
        "peak": float(np.nanmax(curve)),
        "at_0": float(np.nanmax(curve[middle - 1 : middle + 2])),
        "offset": float(analysis.offset),
        "window_peak_sd": float(np.std(peaks)),
        "windows": float(len(peaks)),
    }


def main() -> None:
    signals.analyse_sync = record  # type: ignore[assignment]
    detector = av_offset.build()
    for root in map(Path, sys.argv[1:]):
        by: dict[str, list[float]] = {}
        for row in csv.DictReader((root / "manifest.csv").open()):
            if row["kind"] != "video":
                continue
            path = root / row["file"]
            media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
            analyses.clear()
            evidence = detector.analyze(media)
            if evidence.out_of_domain or not analyses:
                continue
            found = strength(max(analyses, key=lambda a: a.confidence))  # the speaker
            category = row["category"]
            if not category.startswith("lab_") and category != "real":
                category = f"{row['label']}:{category}"
            by.setdefault(category, []).append(found["peak"])
            print(category, row["file"], {k: round(v, 3) for k, v in found.items()}, flush=True)
        for category, peaks in sorted(by.items()):
            low, mid, high = np.percentile(peaks, [0, 50, 100])
            print(
                f"| {root.name} | {category} | {len(peaks)} | {low:.2f} | {mid:.2f} | {high:.2f} |"
            )


if __name__ == "__main__":
    main()
