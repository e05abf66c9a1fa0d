"""Is the clip's own sync better than its own out-of-sync null? A threshold-free lip-sync score.

Both lip-sync detectors call a window in or out of sync against a fixed confidence (``lipsync.
syncnet``: 0.337 learnt on GRID; ``lipsync.av_offset``: 0.1), and on footage unlike their
training or tuning most windows fall below it: the clip scores 0.5 (undecided) whether it is real
or re-mouthed. Here each clip is compared with itself instead. The statistic is the in-sync
prominence: per speech window, the best curve value within ±``signals.TOLERANCE`` frames of
offset 0 minus the curve's median over ±15 frames, averaged over the windows. Its null comes from
the same mouths with the clip's own soundtrack rolled by a quarter to three quarters of its length
(certainly out of sync; same face, camera, voice and codec). Scores (higher: more likely fake):

- ``shipped``: the detector's raw clip score as shipped (``lipsync.syncnet`` 1.2.0 adopted ``z``
  from this measurement; 1.1.0 scored the windows' votes);
- ``gap``: null mean minus observed prominence;
- ``z``: the same over the null windows' standard deviation;
- ``p``: the share of null windows at least as prominent as the observed mean (a permutation
  p-value read per window).

Prints per-file lines and, per folder and kind of fake, the AUC of every score for each detector
and for the two detectors' ``z`` averaged. Folders are what ``bench/lab_remouth_eval.py`` writes:

    .venv/bin/python bench/lipsync_sync_null.py /tmp/rm-md /tmp/rm-train
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
from modalities.lipsync import av_offset, signals, syncnet

calls: dict[str, list[tuple[float, Any]]] = {}
prominences = signals.in_sync_prominence
rolls = signals.null_rolls


def scores(observed: list[float], null: list[float]) -> dict[str, float]:
    if not observed or len(null) < 2:
        return {}
    obs = float(np.mean(observed))
    mu, sd = float(np.mean(null)), float(np.std(null)) + 1e-9
    return {
        "gap": mu - obs,
        "z": (mu - obs) / sd,
        "p": float(np.mean(np.asarray(null) >= obs)),
    }


shipped_analyse_sync = signals.analyse_sync
shipped_choose = syncnet.choose_speaker


def record_av(mouth: np.ndarray, speech: signals.SpeechTrack, fps: float, *a: Any) -> Any:
    analysis = shipped_analyse_sync(mouth, speech, fps, *a)
    if analysis is not None:
        null: list[float] = []
        for k in rolls(len(mouth)):
            rolled = signals.SpeechTrack(
                np.roll(speech.envelope, k), np.roll(speech.flux, k), np.roll(speech.voiced, k)
            )
            null += prominences(shipped_analyse_sync(mouth, rolled, fps, *a))
        calls.setdefault("av", []).append(
            (analysis.confidence, scores(prominences(analysis), null))
        )
    return analysis


def record_sn(ids: list[int], visuals: list[np.ndarray], audio: np.ndarray,
              voiced: np.ndarray, fixed: float) -> Any:  # fmt: skip
    chosen = shipped_choose(ids, visuals, audio, voiced, fixed)
    if chosen:
        visual = visuals[ids.index(chosen[0])]
        null: list[float] = []
        for k in rolls(len(visual)):
            rolled = syncnet.analyse(visual, np.roll(audio, k, axis=0), np.roll(voiced, k), fixed)
            null += prominences(rolled)
        calls["sn"] = [(chosen[1].confidence, scores(prominences(chosen[1]), null))]
    return chosen


def main() -> None:
    signals.analyse_sync = record_av  # type: ignore[assignment]
    syncnet.choose_speaker = record_sn
    detectors = {"av": av_offset.build(), "sn": syncnet.build()}
    for root in map(Path, sys.argv[1:]):
        table: dict[str, dict[str, list[float]]] = {}
        for row in csv.DictReader((root / "manifest.csv").open()):
            path = root / row["file"]
            media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
            line: dict[str, float] = {}
            for key, detector in detectors.items():
                calls.clear()
                ev = detector.analyze(media)
                if ev.out_of_domain or not calls.get(key):
                    continue
                line[f"{key}.shipped"] = ev.raw_score
                best = max(calls[key], key=lambda c: c[0])[1]  # the speaker: highest confidence
                line.update({f"{key}.{name}": v for name, v in best.items()})
            if "av.z" in line and "sn.z" in line:
                line["both.z"] = (line["av.z"] + line["sn.z"]) / 2
            print(row["category"], row["file"], {k: round(v, 3) for k, v in line.items()},
                  flush=True)  # fmt: skip
            for name, value in line.items():
                table.setdefault(name, {}).setdefault(row["category"], []).append(value)
        print_lab_aucs(root.name, table)


if __name__ == "__main__":
    main()
