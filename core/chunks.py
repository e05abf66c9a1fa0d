"""Long videos in time chunks: split, analyse the chunks in parallel, merge deterministically.

A detector whose output resolution is ``frame`` or ``segment`` can opt in by implementing
:class:`SpanDetector`: ``analyze_span`` looks only at ``[start_s, end_s)`` and returns its points,
``merge_spans`` turns the points of all spans, in time order, into the one :class:`Evidence` that
``analyze`` would have returned for the whole file. Chunk boundaries lie on the detector's sampling
grid (multiples of ``1 / input_fps``), so each chunk samples exactly the frames a whole pass
samples, and the merge sees the same numbers in the same order: the result is equal, not close.

>>> plan_spans(duration_s=20.0, limit_s=8.0, chunk_s=3.0, grid_s=1.0)
[(0.0, 3.0), (3.0, 6.0), (6.0, inf)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from core.detector import DetectorSpec, Evidence, MediaInput
from core.media import MediaKind


class SpanPoint(BaseModel):
    """One sampled instant of a span: its time and the detector's score there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_s: float
    score: float | None = None  # None: sampled, but nothing the detector could score


class SpanResult(BaseModel):
    """What a detector measured in ``[start_s, end_s)``; merged by the detector itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_s: float
    end_s: float
    points: tuple[SpanPoint, ...] = ()


@runtime_checkable
class SpanDetector(Protocol):
    """A detector that can analyse a video in independent time spans."""

    spec: DetectorSpec

    def analyze(self, media: MediaInput) -> Evidence: ...

    def span_limit_s(self, media: MediaInput) -> float | None:
        """How far into the media the detector looks (None: to the end)."""
        ...

    def analyze_span(self, media: MediaInput, start_s: float, end_s: float) -> SpanResult: ...

    def merge_spans(self, media: MediaInput, spans: Sequence[SpanResult]) -> Evidence: ...


@dataclass(frozen=True)
class ChunkPlan:
    """How long a chunk is and how many run at once."""

    chunk_s: float
    workers: int


def plan_spans(
    *, duration_s: float, limit_s: float | None, chunk_s: float, grid_s: float
) -> list[tuple[float, float]]:
    """Chunk boundaries on the sampling grid; the last span is open so nothing at the end is lost.

    One span (the whole file) when the covered part is not longer than one chunk.
    """
    covered = duration_s if limit_s is None else min(duration_s, limit_s)
    step = max(grid_s, math.ceil(chunk_s / grid_s - 1e-9) * grid_s)
    count = max(1, math.ceil(covered / step - 1e-9))
    return [(i * step, (i + 1) * step if i < count - 1 else math.inf) for i in range(count)]


def chunkable(detector: object, media: MediaInput, plan: ChunkPlan | None) -> bool:
    """Whether ``detector`` on ``media`` should run in chunks under ``plan``.

    Only videos whose frames are dense on the detector's sampling grid (at least two frames per
    sampling step) are split: with sparser frames, where a pass over the whole file lands on the
    grid depends on the frames before a boundary, and equality could not be promised.
    """
    if plan is None or not isinstance(detector, SpanDetector) or media.kind is not MediaKind.VIDEO:
        return False
    spec = detector.spec
    video = media.info.video
    if spec.resolution not in ("frame", "segment") or not spec.input_fps or video is None:
        return False
    if not video.fps or video.fps < 2 * spec.input_fps or not media.info.duration_s:
        return False
    spans = plan_spans(
        duration_s=media.info.duration_s,
        limit_s=detector.span_limit_s(media),
        chunk_s=plan.chunk_s,
        grid_s=1.0 / spec.input_fps,
    )
    return len(spans) > 1


def analyze_in_chunks(detector: SpanDetector, media: MediaInput, plan: ChunkPlan) -> Evidence:
    """Analyse the spans in parallel threads (decoding releases the GIL) and merge in time order."""
    assert media.info.duration_s is not None and detector.spec.input_fps
    spans = plan_spans(
        duration_s=media.info.duration_s,
        limit_s=detector.span_limit_s(media),
        chunk_s=plan.chunk_s,
        grid_s=1.0 / detector.spec.input_fps,
    )
    with ThreadPoolExecutor(max_workers=min(plan.workers, len(spans))) as pool:
        results = list(pool.map(lambda span: detector.analyze_span(media, *span), spans))
    return detector.merge_spans(media, results)
