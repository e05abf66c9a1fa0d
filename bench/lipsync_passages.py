"""Lip-sync over a long video: passages spread over it (engine 0.2.2: one per minute, 3 to 6;
lip-sync 1.3.0/1.4.0: up to a minute whole, six beyond; now (1.4.0/1.5.0): up to two minutes
whole, twelve beyond) or every second (coverage whole). The first 30 s that
0.2.1 read are measured in docs/benchmarks.md (this script's earlier version).

A long talking-head video is made from GRID's clips one after another (../shared/train-corpus),
in sync throughout (the control), with its soundtrack delayed by 200 ms from a point late in the
video on (a dub or a splice there), or delayed by 200 ms for a 20-s stretch only (a dubbed
stretch) centred between two of the spread passages read by default. Both lip-sync detectors
read each video every way in the same run (``tracking.passage_spans`` replaced by each plan).
Printed per video and reading: the offset reported, the raw score and the seconds the analysis
took (each detector on its own, no shared face pass).

    PYTHONPATH=. .venv/bin/python bench/lipsync_passages.py [SECONDS ...]   # default 62 and 180
"""

from __future__ import annotations

import itertools
import math
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from unittest import mock

import numpy as np

from core import __version__
from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.lipsync import av_offset, syncnet, tracking
from tests.modalities.test_lipsync_av_offset import GRID, decoded, encode, spliced

DELAY_S = 0.2
SPLICE_AT = 0.8  # share of the video after which the sound is late
DUB_S = 20.0  # a dubbed stretch this long, 200 ms late, then in sync again

Plan = Callable[[float | None, str], list[tracking.Passage]]


def one_per_minute(duration_s: float | None, coverage: str = "spread") -> list[tracking.Passage]:
    """0.2.2's reading (lip-sync 1.2.0 / 1.3.0): 10-s passages, one per minute, 3 to 6."""
    if not duration_s or duration_s <= tracking.WHOLE_S:
        return [tracking.Passage(0.0, tracking.WHOLE_S, whole=True)]
    count = min(6, max(3, math.ceil(duration_s / 60.0 - 1e-9)))
    gap = (duration_s - 10.0) / (count - 1)
    return [tracking.Passage(round(k * gap, 3), round(k * gap, 3) + 10.0) for k in range(count)]


def six_spread(duration_s: float | None, coverage: str = "spread") -> list[tracking.Passage]:
    """lip-sync 1.3.0 / 1.4.0's reading: up to a minute whole, six 10-s passages beyond."""
    with mock.patch.object(tracking, "MAX_PASSAGES", 6):
        return PLANNED(duration_s, coverage)


PLANNED = tracking.passage_spans  # the shipped plan (the readings below patch it over)


def whole(duration_s: float | None, coverage: str = "spread") -> list[tracking.Passage]:
    return PLANNED(duration_s, "whole")


def dub_start(seconds: float) -> float:
    """The middle of the widest gap between 0.2.4's six spread passages, less half the dub (the
    stretch the default reading missed then)."""
    spans = six_spread(seconds)
    a, b = max(
        ((x.end_s, y.start_s) for x, y in itertools.pairwise(spans)),
        key=lambda g: g[1] - g[0],
    )
    return round((a + b - DUB_S) / 2, 1)


def dubbed(dst: Path, seconds: float, start_s: float) -> Path:
    """GRID's talking heads one after another, the sound 200 ms late from ``start_s`` for
    ``DUB_S`` seconds (silence inserted at the start of the stretch, as much cut at its end)."""
    clips = sorted(GRID.glob("*.mpg"))
    pictures: list[object] = []
    pcm = np.zeros(0, np.int16)
    while len(pictures) < seconds * 25:
        for clip in clips:
            _, clip_pictures, clip_pcm = decoded(clip)
            n = min(len(clip_pictures), len(clip_pcm) * 25 // 16_000)
            pictures += clip_pictures[:n]
            pcm = np.concatenate([pcm, clip_pcm[: n * 16_000 // 25]])
    pictures = pictures[: round(seconds * 25)]
    a, b, d = (round(x * 16_000) for x in (start_s, start_s + DUB_S, DELAY_S))
    late = np.concatenate([np.zeros(d, np.int16), pcm[a : b - d]])
    pcm = np.concatenate([pcm[:a], late, pcm[b:]])
    return encode(dst, Fraction(25), pictures, pcm[: len(pictures) * 16_000 // 25])


def read(path: Path, plan: Plan) -> list[str]:
    out = []
    for module in (av_offset, syncnet):
        media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
        started = time.perf_counter()
        with mock.patch.object(tracking, "passage_spans", plan):
            evidence = module.build().analyze(media)
        seconds = time.perf_counter() - started
        codes = {f.code: f.value for f in evidence.findings}
        found = f"{codes.get('av_offset_ms')} ms, raw {evidence.raw_score:.2f}, {seconds:.0f} s"
        out.append(evidence.out_of_domain or found)
    return out


def main(lengths: list[float]) -> None:
    print(f"engine {__version__}; GRID clips one after another; sound {DELAY_S * 1000:.0f} ms late")
    print(f"from 80% of the video on, for a {DUB_S:.0f}-s stretch only, or never (control)\n")
    print("| video | reading | lipsync.av_offset | lipsync.syncnet |\n|---|---|---|---|")
    readings: list[tuple[str, Plan]] = [
        ("one per minute (0.2.2)", one_per_minute),
        ("six spread (0.2.4)", six_spread),
        ("spread (now)", PLANNED),
        ("whole", whole),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in lengths:
            at, dub_at = SPLICE_AT * seconds, dub_start(seconds)
            cases = [
                "in sync",
                f"late from {at:.0f} s",
                f"late {dub_at:.0f}–{dub_at + DUB_S:.0f} s",
            ]
            for number, case in enumerate(cases):
                dst = Path(tmp) / f"{seconds:.0f}-{number}.mp4"
                if number == 2:
                    path = dubbed(dst, seconds, dub_at)
                else:
                    path = spliced(dst, seconds, at, DELAY_S if number == 1 else 0.0)
                for label, plan in readings:
                    if label == "whole" and case.startswith("late from"):
                        continue  # found by every spread reading already (its last passage)
                    cells = " | ".join(read(path, plan))
                    print(f"| {seconds:.0f} s, {case} | {label} | {cells} |", flush=True)


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1:]] or [62.0, 180.0])
