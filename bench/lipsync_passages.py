"""Lip-sync over a long video: its first 30 s (engine 0.2.1) or passages spread over it (0.2.2).

A long talking-head video is made from GRID's clips one after another (../shared/train-corpus),
in sync throughout (the control) or with its soundtrack delayed by 200 ms from a point late in
the video on (a dub or a splice there). Both lip-sync detectors read each video twice in the same
run: as 0.2.1 did (the first 30 s, one analysis: ``tracking.passage_spans`` replaced by the one
whole passage) and as 0.2.2 does (passages spread over the video, the worst deciding). Printed per
video and reading: the offset reported, the raw score and the seconds the analysis took.

    PYTHONPATH=. .venv/bin/python bench/lipsync_passages.py [SECONDS ...]   # default 62 and 180
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from core import __version__
from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.lipsync import av_offset, syncnet, tracking
from tests.modalities.test_lipsync_av_offset import spliced

DELAY_S = 0.2
SPLICE_AT = 0.8  # share of the video after which the sound is late


def first_30_s(duration_s: float | None) -> list[tracking.Passage]:
    """0.2.1's reading: one passage from the start, whatever the length."""
    return [tracking.Passage(0.0, tracking.WHOLE_S, whole=True)]


def read(path: Path, plan: Callable[[float | None], list[tracking.Passage]]) -> list[str]:
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
    print("from 80% of the video on, or in sync throughout (control)\n")
    print("| video | reading | lipsync.av_offset | lipsync.syncnet |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in lengths:
            for late in (False, True):
                at = SPLICE_AT * seconds
                name = f"{seconds:.0f} s, " + (f"late from {at:.0f} s" if late else "in sync")
                path = spliced(
                    Path(tmp) / f"{seconds}-{late}.mp4", seconds, at, DELAY_S if late else 0.0
                )
                for label, plan in (("first 30 s (0.2.1)", first_30_s),
                                    ("passages (0.2.2)", tracking.passage_spans)):  # fmt: skip
                    print(f"| {name} | {label} | " + " | ".join(read(path, plan)) + " |")


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1:]] or [62.0, 180.0])
