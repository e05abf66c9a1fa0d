"""Natural ranges of visual.temporal's cues, measured on real talking-head video.

Runs the detector's own measurement (bursts of 3 s at 10 fps, the longest track of each, one
window per burst) on every real video of a data folder (default ../shared/train-corpus) and prints
the median and robust spread (1.4826 × MAD) of the per-burst landmark jitter and identity drift:
the numbers that ``modalities/visual/temporal.py`` keeps as ``REFERENCE``.

    .venv/bin/python bench/visual_temporal_reference.py [DATA_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from core.training import read_folder
from modalities.visual import temporal


def main(folder: Path) -> dict[str, object]:
    rows, origin = read_folder(folder)
    per_cue: dict[str, list[float]] = {"jitter": [], "drift": []}
    clips = 0
    for row in rows:
        if row.get("kind") != "video" or (row.get("label") or "real") != "real":
            continue
        path = folder / row["file"]
        media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
        measured = [b.cues for b in temporal.scan_bursts(media) if b.cues is not None]
        clips += bool(measured)
        for cues in measured:
            for _, _, values in temporal.window_values(cues):
                for cue, value in values.items():
                    per_cue[cue].append(value)
    stats = {}
    for cue, values in per_cue.items():
        arr = np.asarray(values)
        median = float(np.median(arr))
        stats[cue] = {
            "median": round(median, 4),
            "scale": round(float(1.4826 * np.median(np.abs(arr - median))), 4),
            "windows": len(arr),
        }
    return {"data": origin, "clips": clips, "reference": stats}


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/train-corpus")
    print(json.dumps(main(root), indent=1))
