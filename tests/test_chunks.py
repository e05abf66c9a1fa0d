"""Long videos in chunks: boundaries on the sampling grid, and a merge equal to the whole pass."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from core import samples
from core.chunks import ChunkPlan, analyze_in_chunks, chunkable, plan_spans
from core.config import FusionSettings, MediaLimits
from core.detector import REGISTRY, MediaInput
from core.engine import run_detectors
from core.media import probe
from core.store import sha256_file
from modalities.visual import spectrum


def media_for(path: Path) -> MediaInput:
    return MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chunks")
    return samples.write_clip(
        folder / "long.mp4",
        seconds=10.0,
        fps=10,
        size=(192, 144),
        with_audio=False,
        keyframe_every=15,  # key frames off the chunk grid: seeking lands before a boundary
    )


def test_plan_spans_lie_on_the_grid_and_cover_everything() -> None:
    assert plan_spans(duration_s=20.0, limit_s=8.0, chunk_s=3.0, grid_s=1.0) == [
        (0.0, 3.0),
        (3.0, 6.0),
        (6.0, math.inf),
    ]
    # a chunk length off the grid is rounded up to it
    assert plan_spans(duration_s=10.0, limit_s=None, chunk_s=2.5, grid_s=1.0) == [
        (0.0, 3.0),
        (3.0, 6.0),
        (6.0, 9.0),
        (9.0, math.inf),
    ]
    assert plan_spans(duration_s=3.0, limit_s=8.0, chunk_s=4.0, grid_s=1.0) == [(0.0, math.inf)]
    assert plan_spans(duration_s=10.0, limit_s=None, chunk_s=0.1, grid_s=0.5)[1] == (0.5, 1.0)


def test_chunked_spectrum_equals_whole_pass(
    long_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = spectrum.build()
    media = media_for(long_clip)
    plan = ChunkPlan(chunk_s=2.0, workers=2)
    assert chunkable(detector, media, plan)
    spans: list[tuple[float, float]] = []
    real_span = detector.analyze_span

    def spy(m: MediaInput, start: float, end: float):  # type: ignore[no-untyped-def]
        spans.append((start, end))
        return real_span(m, start, end)

    monkeypatch.setattr(detector, "analyze_span", spy)
    chunked = analyze_in_chunks(detector, media, plan)
    assert sorted(spans) == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, math.inf)]
    whole = spectrum.build().analyze(media)
    assert chunked == whole
    assert len(whole.series) == spectrum.VIDEO_FRAMES
    assert [p.start_s for p in whole.series] == pytest.approx(list(range(8)), abs=1e-6)


def test_engine_results_are_equal_with_and_without_chunks(long_clip: Path) -> None:
    media = media_for(long_clip)
    runs = [
        run_detectors(
            REGISTRY,
            media,
            names=["visual.spectrum", "visual.metadata"],
            fusion_settings=FusionSettings(),
            chunking=chunking,
        )
        for chunking in (None, ChunkPlan(chunk_s=3.0, workers=3))
    ]
    whole, chunked = ([o.evidence for o in run.outcomes] for run in runs)
    assert whole == chunked and all(e is not None for e in whole)
    assert runs[0].fusion == runs[1].fusion


def test_not_chunked_when_it_cannot_be_equal(long_clip: Path, photo: Path) -> None:
    detector = spectrum.build()
    plan = ChunkPlan(chunk_s=2.0, workers=2)
    assert not chunkable(detector, media_for(long_clip), None)
    assert not chunkable(detector, media_for(photo), plan)  # an image has no time
    assert not chunkable(detector, media_for(long_clip), ChunkPlan(chunk_s=20.0, workers=2))
    assert not chunkable(REGISTRY.create("visual.metadata"), media_for(long_clip), plan)


def test_frames_of_a_span_are_those_of_the_whole_pass(long_clip: Path) -> None:
    media = media_for(long_clip)
    whole = [(f.time_s, f.rgb.tobytes()) for f in media.frames(fps=2.0)]
    parts = [
        (f.time_s, f.rgb.tobytes())
        for start, end in ((0.0, 3.0), (3.0, 6.5), (6.5, None))
        for f in media.frames(fps=2.0, start_s=start, end_s=end)
    ]
    assert [t for t, _ in parts] == [t for t, _ in whole]
    assert parts == whole
