"""A plugin module for the job fault tests: a detector that takes a set time.

Loaded by worker and submit subprocesses through ``VERITY_JOBS__PLUGINS`` (never imported by the
test process itself, so the suite's registry keeps only the built-in detectors). The sleep comes
from ``VERITY_TEST_SLEEP_S`` so a test can kill a worker while a job is surely in flight.
"""

from __future__ import annotations

import os
import time
from typing import Any

from core.detector import DetectorSpec, Evidence, MediaInput, Modality, register_detector
from core.media import MediaKind

SPEC = DetectorSpec(
    name="visual.test_sleep",
    modality=Modality.VISUAL,
    version="0.0.1",
    summary="test detector: sleeps, then reports a neutral score",
    media_kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}),
    resolution="clip",
    licence="Apache-2.0",
)


class SleepDetector:
    spec = SPEC

    def analyze(self, media: MediaInput) -> Evidence:
        time.sleep(float(os.environ.get("VERITY_TEST_SLEEP_S", "0")))
        return Evidence.from_llr(SPEC, raw_score=0.0, llr=0.0, summary=f"pid {os.getpid()}")


def build(**_: Any) -> SleepDetector:
    return SleepDetector()


register_detector(SPEC, build)
