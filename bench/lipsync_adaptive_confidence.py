"""Would a per-clip minimum confidence let ``lipsync.syncnet`` decide on footage unlike GRID?

The shipped detector calls a 2 s window in or out of sync only when its confidence reaches a
threshold learnt on the training clips (``min_confidence`` in the weights' config). On footage
unlike those clips most windows fall below it and the clip scores 0.5 (undecided). Here the
threshold is instead read off the clip itself: the window confidences of the same mouths paired
with the clip's own soundtrack rolled by a third, a half and two thirds of its length (certainly
out of sync; same face, camera and voice), at their 90th or 95th percentile. Scores are the
detector's raw clip scores under each threshold, for the folders ``bench/lab_remouth_eval.py``
writes (reals, re-mouthed and dubbed fakes); prints per-file lines and AUCs.

    .venv/bin/python bench/lipsync_adaptive_confidence.py /tmp/rm-md /tmp/rm-train
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np
from lab_remouth_eval import print_lab_aucs  # bench/, beside this script

from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.lipsync import evidence, syncnet

PERCENTILES = (90, 95)
ROLLS = (1 / 3, 1 / 2, 2 / 3)
shipped_choose = syncnet.choose_speaker
scores_of_clip: dict[str, tuple[float, float]] = {}


def null_threshold(visuals: list[np.ndarray], audio: np.ndarray, voiced: np.ndarray,
                   fixed: float, percentile: float) -> float:  # fmt: skip
    nulls: list[float] = []
    for visual in visuals:
        for frac in ROLLS:
            k = int(len(audio) * frac)
            rolled = syncnet.analyse(visual, np.roll(audio, k, axis=0), np.roll(voiced, k), fixed)
            if rolled is not None:
                nulls += [w.confidence for w in rolled.speech_windows]
    return float(np.percentile(nulls, percentile)) if nulls else fixed


def choose_and_record(ids: list[int], visuals: list[np.ndarray], audio: np.ndarray,
                      voiced: np.ndarray, fixed: float) -> Any:  # fmt: skip
    for pct in PERCENTILES:
        threshold = null_threshold(visuals, audio, voiced, fixed, pct)
        chosen = shipped_choose(ids, visuals, audio, voiced, threshold)
        if chosen:
            scores_of_clip[f"p{pct}"] = (threshold, evidence.clip_score(chosen[1], threshold)[0])
    chosen = shipped_choose(ids, visuals, audio, voiced, fixed)
    if chosen:
        scores_of_clip["shipped"] = (fixed, evidence.clip_score(chosen[1], fixed)[0])
    return chosen


def main() -> None:
    syncnet.choose_speaker = choose_and_record  # the detector runs as shipped, scored three ways
    detector = syncnet.build()
    for root in map(Path, sys.argv[1:]):
        by_rule: dict[str, dict[str, list[float]]] = {}
        for row in csv.DictReader((root / "manifest.csv").open()):
            path = root / row["file"]
            scores_of_clip.clear()
            media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
            detector.analyze(media)
            shown = {k: f"thr {t:.3f} raw {s:.3f}" for k, (t, s) in scores_of_clip.items()}
            print(row["category"], row["file"], shown, flush=True)
            for rule, (_, score) in scores_of_clip.items():
                by_rule.setdefault(rule, {}).setdefault(row["category"], []).append(score)
        print_lab_aucs(root.name, by_rule)


if __name__ == "__main__":
    main()
