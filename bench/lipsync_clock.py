"""Lip-sync on the file's clock: the same GRID clip re-muxed with its tracks at other clock times.

The pictures and sound are unchanged; only their timestamps move: a transport stream whose clock
starts an hour in (as a DVB capture does), and a soundtrack that starts 200 ms after the picture
(what a player then plays 200 ms late). Both lip-sync detectors are run on each; the plain MP4 is
the reference measured in the same run. Engine 0.2.0 took sample 0 of the sound as 0 s and frame
times as raw timestamps; 0.2.1 reads both from the file's clock start (core.media.clock_origin).

    PYTHONPATH=. .venv/bin/python bench/lipsync_clock.py [GRID_CLIP]   # imports the tests' re-muxer
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from core import __version__
from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.lipsync import av_offset, syncnet
from tests.modalities.test_lipsync_av_offset import clocked

VARIANTS = (  # name, container, video start, audio start (seconds on the file's clock)
    ("MP4, both at 0 s (reference)", "mp4", 0.0, 0.0),
    ("MP4, sound 200 ms late by its timestamps", "mp4", 0.0, 0.2),
    ("transport stream, both at 3600 s", "mpegts", 3600.0, 3600.0),
    ("transport stream, sound at 3600.2 s", "mpegts", 3600.0, 3600.2),
)


def offsets(path: Path) -> list[str]:
    out = []
    for module in (av_offset, syncnet):
        media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
        evidence = module.build().analyze(media)
        codes = {f.code: f.value for f in evidence.findings}
        found = f"{codes.get('av_offset_ms')} ms, raw {evidence.raw_score:.2f}"
        out.append(evidence.out_of_domain or found)
    return out


def main(source: Path) -> None:
    print(f"engine {__version__}; source {source.name}")
    print("| file | lipsync.av_offset | lipsync.syncnet |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt, video_s, audio_s in VARIANTS:
            path = clocked(source, Path(tmp) / f"{len(name)}.{fmt}", fmt, video_s, audio_s)
            print(f"| {name} | " + " | ".join(offsets(path)) + " |")


if __name__ == "__main__":
    default = Path("../shared/train-corpus/video/grid/lrwp9a.mpg")
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
