"""The detector protocol, its declared spec, the Evidence every detector returns, and the registry.

A detector is a class with a ``spec`` and an ``analyze(media) -> Evidence`` method. Every detector,
from a metadata check to a neural network, returns the same frozen :class:`Evidence`, so fusion,
storage, reports and the dashboard treat them alike. Detectors are registered by name, once, from
the explicit list in ``modalities/__init__.py``; a second registration under a name is refused.

>>> from core.detector import create_detector, list_detectors
>>> import modalities  # registers the built-in detectors  # doctest: +SKIP
>>> [spec.name for spec in list_detectors(modality="visual")]  # doctest: +SKIP
['visual.metadata']
>>> detector = create_detector("visual.metadata")  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core import media as media_mod
from core import sound as sound_mod
from core.artifacts import ArtifactCollector, ArtifactRef
from core.errors import DetectorError, DuplicateDetectorError, UnknownDetectorError
from core.media import AudioChunk, MediaInfo, MediaKind, VideoFrame

_FROZEN = ConfigDict(frozen=True, extra="forbid")
T = TypeVar("T")


class Modality(StrEnum):
    VISUAL = "visual"
    AUDIO = "audio"
    LIPSYNC = "lipsync"


class WeightsRef(BaseModel):
    """Where a detector's weights come from and the hash they must have."""

    model_config = _FROZEN

    path: str = Field(description="path relative to the modality package or a user path")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    source: str = Field(description="how they were made: trained by Verity, or given by the user")


class DetectorSpec(BaseModel):
    """What a detector needs, what it outputs, and where its knowledge comes from."""

    model_config = _FROZEN

    name: str = Field(pattern=r"^(visual|audio|lipsync)\.[a-z0-9_]+$")
    modality: Modality
    version: str = Field(min_length=1, max_length=32)
    summary: str
    media_kinds: frozenset[MediaKind]
    resolution: Literal["frame", "segment", "clip"]
    compute: Literal["cpu", "gpu"] = Field(
        default="cpu", description="where it runs best; picks the job queue (core.jobs)"
    )
    input_fps: float | None = None
    input_sample_rate: int | None = None
    input_size: int | None = Field(default=None, description="square crop side in pixels")
    weights: WeightsRef | None = None
    calibration_version: str | None = None
    calibrated: bool = False
    fusion_weight: float = Field(default=1.0, ge=0.0, le=1.0)
    licence: str
    paper: str | None = None
    requires: str | None = Field(
        default=None,
        description="a constructor option the user must give (model_dir of a local checkpoint); "
        "such a detector runs only when it is configured or named",
    )

    @model_validator(mode="after")
    def _modality_matches_name(self) -> DetectorSpec:
        if self.name.split(".", 1)[0] != self.modality.value:
            raise ValueError(f"detector {self.name} must be in modality {self.modality}")
        return self


class Finding(BaseModel):
    """One named observation with the value that was measured."""

    model_config = _FROZEN

    code: str
    message: str
    value: str | float | int | bool | None = None
    llr: float = Field(default=0.0, description="log-likelihood ratio this finding contributes")


class SeriesPoint(BaseModel):
    model_config = _FROZEN

    start_s: float
    end_s: float
    score: float


class Evidence(BaseModel):
    """What one detector concluded about one media item, traceable to its exact version.

    ``raw_score`` is the detector's own number (bigger means more likely fake); ``llr`` is the
    natural-log likelihood ratio fake vs. real that fusion uses; ``p_fake`` is the posterior at even
    prior odds, ``1 / (1 + exp(-llr))``. ``calibrated`` says whether the LLR was fitted on labelled
    data (issue: calibration) or is an expert prior that fusion down-weights.
    """

    model_config = _FROZEN

    schema_version: Literal[1] = 1
    detector: str
    modality: Modality
    version: str
    weights_sha256: str | None
    calibration_version: str | None
    calibrated: bool
    raw_score: float
    llr: float
    p_fake: float = Field(ge=0.0, le=1.0)
    llr_interval: tuple[float, float] | None = Field(
        default=None, description="95% interval of the LLR from the calibration's bootstrap"
    )
    out_of_domain: str | None = Field(
        default=None,
        description="why this input lies outside what the detector was made for (no face, too "
        "short, too small); such evidence is shown but left out of fusion",
    )
    card_sha256: str | None = Field(default=None, description="model card in force (core.cards)")
    options: dict[str, str] = Field(
        default_factory=dict,
        description="the constructor options the detector was built with, when not its defaults "
        "(a front end, a coverage, a local checkpoint folder): stamped by the engine, so that "
        "`verity reproduce` builds it the same way",
    )
    findings: tuple[Finding, ...] = ()
    series: tuple[SeriesPoint, ...] = ()
    artifacts: tuple[ArtifactRef, ...] = ()
    summary: str = ""

    @field_validator("raw_score", "llr")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("scores must be finite")
        return value

    @classmethod
    def from_llr(cls, spec: DetectorSpec, *, raw_score: float, llr: float, **rest: Any) -> Evidence:
        """Build Evidence stamped with the detector's identity from its spec."""
        return cls(
            detector=spec.name,
            modality=spec.modality,
            version=spec.version,
            weights_sha256=spec.weights.sha256 if spec.weights else None,
            calibration_version=spec.calibration_version,
            calibrated=spec.calibrated,
            raw_score=raw_score,
            llr=llr,
            p_fake=sigmoid(llr),
            **rest,
        )


def options_text(options: Mapping[str, Any]) -> str:
    """A result's recorded options as one line (``coverage=whole, vad=silero``)."""
    return ", ".join(f"{key}={value}" for key, value in sorted(options.items()))


def out_of_domain(
    spec: DetectorSpec,
    reason: str,
    *,
    summary: str | None = None,
    findings: Sequence[Finding] = (),
) -> Evidence:
    """Evidence that ``spec``'s detector does not apply to this input (no audio track, too little
    speech, no face…): raw score and LLR 0, ``reason`` as ``out_of_domain`` (fusion leaves such
    evidence out) and as the summary unless one is given, with the findings measured so far.

    Example: ``return out_of_domain(self.spec, "no audio track")``.
    """
    return Evidence.from_llr(
        spec,
        raw_score=0.0,
        llr=0.0,
        out_of_domain=reason,
        findings=tuple(findings),
        summary=reason if summary is None else summary,
    )


def sigmoid(llr: float) -> float:
    if llr >= 0:
        return 1.0 / (1.0 + math.exp(-llr))
    z = math.exp(llr)
    return z / (1.0 + z)


@dataclass(frozen=True)
class MediaInput:
    """A stored media item as detectors see it: its bytes' path, hash and probe, plus decoders."""

    path: Path
    sha256: str
    info: MediaInfo
    original_name: str = ""
    artifacts: ArtifactCollector = field(
        default_factory=ArtifactCollector, repr=False, compare=False
    )
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _listeners: list[Callable[[float, str], None]] = field(
        default_factory=list, repr=False, compare=False
    )

    def progress(self, done: int, total: int, detail: str) -> None:
        """A detector's way through long work of its own (passage 3 of 18): the engine hands it
        to the analysis' hook, so the CLI's bar, a job's state and the dashboard move while one
        detector reads an hour-long video, instead of standing still until it is done."""
        fraction = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
        for listener in tuple(self._listeners):
            listener(fraction, detail)

    def parts(self, items: Iterable[T], noun: str, count: int | None = None) -> Iterator[T]:
        """``items`` one by one, each reported to :meth:`progress` as "<noun> k of n" when there
        are several (``count``: how many, for an iterator without a length)."""
        total = len(items) if count is None and isinstance(items, Sized) else (count or 0)
        for number, item in enumerate(items):
            if total > 1:
                self.progress(number, total, f"{noun} {number + 1} of {total}")
            yield item

    @contextmanager
    def listening(self, listener: Callable[[float, str], None]) -> Iterator[None]:
        """Hear :meth:`progress` while the block runs (the engine, around one detector)."""
        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)

    @property
    def kind(self) -> MediaKind:
        return self.info.kind

    def frames(
        self,
        *,
        fps: float | None = None,
        max_frames: int | None = None,
        max_side: int | None = None,
        start_s: float = 0.0,
        end_s: float | None = None,
    ) -> Iterator[VideoFrame]:
        return media_mod.iter_frames(
            self.path,
            fps=fps,
            max_frames=max_frames,
            max_side=max_side,
            start_s=start_s,
            end_s=end_s,
        )

    def audio(self, *, sample_rate: int = 16_000, chunk_s: float = 10.0) -> Iterator[AudioChunk]:
        return sound_mod.iter_audio(self.path, sample_rate=sample_rate, chunk_s=chunk_s)

    def soundtrack(self, *, sample_rate: int = 16_000, max_s: float) -> np.ndarray:
        """The first ``max_s`` seconds of sound as a player plays them, mono: a video's on its
        clock (silence before a late track and in a hole between audio frames, so that a time
        in an audio detector's timeline is the time in the video where the analyst hears it),
        an audio file's from its first sample."""
        sound = self.audio_array(sample_rate=sample_rate, max_s=max_s, on_video_clock=self._clock)
        return np.asarray(sound[0])

    def soundtrack_chunks(
        self, *, sample_rate: int = 16_000, max_s: float, chunk_s: float = 10.0
    ) -> Iterator[np.ndarray]:
        """:meth:`soundtrack` in consecutive pieces of ``chunk_s`` seconds (the same samples, in
        one decoding pass): an audio detector reads an hour passage by passage without ever
        holding the whole of it."""
        for chunk in sound_mod.iter_audio(
            self.path,
            sample_rate=sample_rate,
            chunk_s=chunk_s,
            max_s=max_s,
            on_video_clock=self._clock,
        ):
            yield np.asarray(chunk.samples[0])

    def channel_chunks(
        self, *, sample_rate: int = 16_000, max_s: float, chunk_s: float = 10.0
    ) -> Iterator[np.ndarray]:
        """:meth:`soundtrack_chunks` with the channels kept apart, (channels, samples) each: what
        the mono mix hid (channels that differ, or cancel), measured without holding the sound.
        Up to ``core.sound.MAX_REMIX_CHANNELS`` channels; more are refused
        (UnsupportedMediaError)."""
        for chunk in sound_mod.iter_audio(
            self.path,
            sample_rate=sample_rate,
            mono=False,
            chunk_s=chunk_s,
            max_s=max_s,
            on_video_clock=self._clock,
        ):
            yield np.asarray(chunk.samples)

    @property
    def _clock(self) -> bool:
        """Whether sound is read on the video clock (a video's) or from the first sample."""
        return self.info.kind is MediaKind.VIDEO and self.info.video is not None

    def audio_array(
        self,
        *,
        sample_rate: int = 16_000,
        max_s: float | None = None,
        on_video_clock: bool = False,
        start_s: float = 0.0,
    ) -> np.ndarray:
        return sound_mod.decode_audio(
            self.path,
            sample_rate=sample_rate,
            max_s=max_s,
            on_video_clock=on_video_clock,
            start_s=start_s,
        )

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """Work shared by several detectors of one analysis (decoded, normalised audio…)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


@runtime_checkable
class Detector(Protocol):
    spec: DetectorSpec

    def analyze(self, media: MediaInput) -> Evidence: ...


DetectorFactory = Callable[..., Detector]


@dataclass
class DetectorRegistry:
    """Names to detector factories; one entry per name, ever."""

    _factories: dict[str, tuple[DetectorSpec, DetectorFactory]] = field(default_factory=dict)

    def register(self, spec: DetectorSpec, factory: DetectorFactory) -> None:
        if spec.name in self._factories:
            raise DuplicateDetectorError(spec.name)
        self._factories[spec.name] = (spec, factory)

    def create(self, name: str, **overrides: Any) -> Detector:
        try:
            spec, factory = self._factories[name]
        except KeyError:
            raise UnknownDetectorError(name, sorted(self._factories)) from None
        detector = factory(**overrides)
        if detector.spec.name != spec.name:
            raise DetectorError(f"factory for {name} built {detector.spec.name}")
        return detector

    def specs(
        self, *, modality: str | None = None, kind: MediaKind | None = None
    ) -> list[DetectorSpec]:
        out = [spec for spec, _ in self._factories.values()]
        if modality is not None:
            out = [s for s in out if s.modality == modality]
        if kind is not None:
            out = [s for s in out if kind in s.media_kinds]
        return sorted(out, key=lambda s: s.name)

    def spec(self, name: str) -> DetectorSpec:
        if name not in self._factories:
            raise UnknownDetectorError(name, sorted(self._factories))
        return self._factories[name][0]

    def names(self) -> list[str]:
        return sorted(self._factories)


REGISTRY = DetectorRegistry()


def register_detector(spec: DetectorSpec, factory: DetectorFactory) -> None:
    """Register ``factory`` under ``spec.name`` in the process registry; duplicates raise."""
    REGISTRY.register(spec, factory)


def create_detector(name: str, **overrides: Any) -> Detector:
    """Build a registered detector, e.g. ``create_detector("visual.metadata")``."""
    return REGISTRY.create(name, **overrides)


def list_detectors(
    *, modality: str | None = None, kind: MediaKind | None = None
) -> list[DetectorSpec]:
    """Specs of registered detectors, optionally only one modality's or those for a media kind."""
    return REGISTRY.specs(modality=modality, kind=kind)
