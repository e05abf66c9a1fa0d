"""Natural ranges of visual.eyes_teeth's cues, measured on real colour face photos.

Measures every cue of ``modalities/visual/eyes_teeth.py`` on up to N colour photos per source of
a data folder (default ../shared/train-corpus: aaf, faces94, deepface) and prints the median and
robust spread (1.4826 × MAD) that the detector keeps as ``REFERENCE``.

    .venv/bin/python bench/visual_eyes_teeth_reference.py [DATA_DIR] [--per-source 150]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from core.training import read_folder
from modalities.visual import eyes_teeth, faces


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default="../shared/train-corpus")
    parser.add_argument("--per-source", type=int, default=150)
    args = parser.parse_args()
    folder = Path(args.data)
    rows, origin = read_folder(folder)
    by_source: dict[str, list[Path]] = {}
    for row in rows:
        if row.get("kind") == "image" and (row.get("label") or "real") == "real":
            by_source.setdefault(Path(row["file"]).parts[1], []).append(folder / row["file"])
    values: dict[str, list[float]] = {cue: [] for cue in eyes_teeth.REFERENCE}
    used = 0
    for _source, paths in sorted(by_source.items()):
        rng = np.random.default_rng(0)
        for i in sorted(rng.permutation(len(paths))[: args.per_source]):
            with Image.open(paths[i]) as img:
                rgb = np.asarray(img.convert("RGB"))
            if faces.is_grayscale(rgb):
                continue
            found = faces.detect_faces(rgb)
            if not found:
                continue
            used += 1
            for cue, value in eyes_teeth.measure(rgb, found[0]).items():
                values[cue].append(value)
    stats = {}
    for cue, vals in values.items():
        arr = np.asarray(vals)
        median = float(np.median(arr))
        scale = float(1.4826 * np.median(np.abs(arr - median)))
        stats[cue] = {
            "median": round(median, 4),
            # most real photos show no highlight at all (MAD 0): the standard deviation then
            "scale": round(scale if scale > 0 else float(arr.std()), 4),
            "n": len(arr),
            "share_nonzero": round(float((arr != 0).mean()), 3),
        }
    print(json.dumps({"data": origin, "photos": used, "reference": stats}, indent=1))


if __name__ == "__main__":
    main()
