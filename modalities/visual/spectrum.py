"""``visual.spectrum``: spectral traces of generative up-sampling in images and video frames.

A small neural head (one hidden layer) over the spectral features of ``spectrum_features``
(radial power profile, peaks at the up-sampling grid frequencies, high-frequency decay), read
from the image's up-sampling residual (the luminance minus its nearest-neighbour down- and
up-sampled copy), where the picture's content no longer dominates. Trained by
``verity train visual.spectrum`` on real photos against the same photos passed through generator-
style up-sampling (synthesis/upsampling.py); never on a real generator's output. Images smaller
than 128 px on a side, and JPEGs compressed below quality 8 (modalities.visual.compression),
are out of its domain.

References: Durall, Keuper, Keuper, "Watch your up-convolution", CVPR 2020; Frank et al.,
"Leveraging frequency analysis for deep fake image recognition", ICML 2020; Tan et al.,
"Rethinking the up-sampling operations in CNN-based generative network for generalizable
deepfake detection" (NPR), CVPR 2024.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.chunks import SpanPoint, SpanResult
from core.detector import (
    DetectorSpec,
    Evidence,
    Finding,
    MediaInput,
    Modality,
    SeriesPoint,
    out_of_domain,
)
from core.media import MediaKind
from core.weights import verified_weights, weights_ref
from modalities.visual import compression, spectrum_features

NAME = "visual.spectrum"
# 1.1.0: a JPEG below quality 25 is out of domain (too compressed); 1.2.0: features of the NPR
# residual instead of the picture (spectrum_features), new head, limit lowered to quality 8;
# 1.2.1: interlaced video is out of domain (same weights); 1.2.2: features and head in double
# precision, the same on every CPU to ~1e-14 (same weights; raw scores moved by up to 2.3e-5)
VERSION = "1.2.2"
WEIGHTS_DIR = Path(__file__).parent / "weights" / f"spectrum-{VERSION}"
VIDEO_FPS = 1.0
VIDEO_FRAMES = 8


def _spec(folder: Path) -> DetectorSpec:
    return DetectorSpec(
        name=NAME,
        modality=Modality.VISUAL,
        version=VERSION,
        summary="Spectral traces of generator up-sampling in the NPR residual (profile, peaks)",
        media_kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}),
        resolution="frame",
        input_size=spectrum_features.TILE,
        input_fps=VIDEO_FPS,
        weights=weights_ref(folder),
        licence="code Apache-2.0; head trained on train-corpus faces (research use)",
        paper="Durall et al., CVPR 2020; Frank et al., ICML 2020; Tan et al. (NPR), CVPR 2024",
    )


SPEC = _spec(WEIGHTS_DIR)


class SpectrumHead:
    """Standardise, one ReLU hidden layer, a linear logit; stored as plain arrays (no pickle)."""

    def __init__(
        self,
        mean: np.ndarray,
        scale: np.ndarray,
        w1: np.ndarray,
        b1: np.ndarray,
        w2: np.ndarray,
        b2: np.ndarray,
    ) -> None:
        self.mean, self.scale, self.w1, self.b1, self.w2, self.b2 = mean, scale, w1, b1, w2, b2
        # the arithmetic runs in double precision (the stored arrays stay as trained): the
        # products' last bits depend on the CPU's BLAS kernels, and in single precision they
        # moved the logit by ~1e-6
        self._double = tuple(np.asarray(a, np.float64) for a in (mean, scale, w1, b1, w2, b2))

    def logit(self, feats: np.ndarray) -> np.ndarray:
        mean, scale, w1, b1, w2, b2 = self._double
        hidden = np.maximum(((np.asarray(feats, np.float64) - mean) / scale) @ w1 + b1, 0.0)
        return np.asarray((hidden @ w2 + b2)[:, 0])

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "mean": self.mean,
            "scale": self.scale,
            "w1": self.w1,
            "b1": self.b1,
            "w2": self.w2,
            "b2": self.b2,
        }

    @classmethod
    def load(cls, path: Path) -> SpectrumHead:
        with np.load(path, allow_pickle=False) as data:
            return cls(*(data[k] for k in ("mean", "scale", "w1", "b1", "w2", "b2")))


# Interlaced frames reach the detectors as one field stretched to full height (core/frames.py);
# the stretch is an up-sampling of its own, and woven fields have comb edges: on a real clip the
# score moved -5.2 (field) and +1.5 (woven) from the progressive copy's (bench/interlaced.py).
INTERLACED = "interlaced video: a field stretched to full height is an up-sampling of its own"


class SpectrumDetector:
    def __init__(self, weights_dir: Path | None = None) -> None:
        folder = weights_dir or WEIGHTS_DIR
        path = verified_weights(NAME, folder)
        self.spec = SPEC if weights_dir is None else _spec(folder)
        self.head = SpectrumHead.load(path)

    def analyze(self, media: MediaInput) -> Evidence:
        if media.kind is MediaKind.IMAGE:
            quality, too_compressed = compression.compression_findings(media)
            if too_compressed is not None:
                return out_of_domain(self.spec, too_compressed, findings=quality)
            frames = list(media.frames(max_frames=1))
            scored = [(f.time_s, s) for f in frames if (s := self._score(f.rgb)) is not None]
            return self._evidence(media, scored, quality)
        if media.info.video is not None and media.info.video.interlaced:
            return self.merge_spans(media, [])  # out of domain, as the chunked path says
        return self.merge_spans(media, [self.analyze_span(media, 0.0, math.inf)])

    # A video in time chunks (core.chunks): the whole-file path above is one open span, so the
    # chunked and whole results come from the same code and are equal.

    def span_limit_s(self, media: MediaInput) -> float | None:
        return VIDEO_FRAMES / VIDEO_FPS

    def analyze_span(self, media: MediaInput, start_s: float, end_s: float) -> SpanResult:
        frames = media.frames(
            fps=VIDEO_FPS,
            max_frames=VIDEO_FRAMES,
            start_s=start_s,
            end_s=None if math.isinf(end_s) else end_s,
        )
        points = tuple(SpanPoint(time_s=f.time_s, score=self._score(f.rgb)) for f in frames)
        return SpanResult(start_s=start_s, end_s=end_s, points=points)

    def merge_spans(self, media: MediaInput, spans: Sequence[SpanResult]) -> Evidence:
        ordered = sorted(spans, key=lambda span: span.start_s)
        sampled = [point for span in ordered for point in span.points][:VIDEO_FRAMES]
        scored = [(p.time_s, p.score) for p in sampled if p.score is not None]
        return self._evidence(media, scored, compression.compression_findings(media)[0])

    def _score(self, rgb: np.ndarray) -> float | None:
        feats = spectrum_features.features(rgb)
        return None if feats is None else float(self.head.logit(feats[None, :])[0])

    def _evidence(
        self,
        media: MediaInput,
        scored: list[tuple[float, float]],
        compression_facts: tuple[Finding, ...],
    ) -> Evidence:
        if media.info.video is not None and media.info.video.interlaced:
            return out_of_domain(self.spec, INTERLACED, findings=compression_facts)
        if not scored:
            side = spectrum_features.TILE
            return Evidence.from_llr(
                self.spec,
                raw_score=0.0,
                llr=0.0,
                out_of_domain=f"below the minimum resolution of {side}×{side} pixels",
                summary="image too small for spectral analysis",
            )
        raw = float(np.mean([s for _, s in scored]))
        series = (
            ()
            if media.kind is MediaKind.IMAGE
            else tuple(SeriesPoint(start_s=t, end_s=t + 1 / VIDEO_FPS, score=s) for t, s in scored)
        )
        findings: tuple[Finding, ...] = (
            Finding(
                code="frames_analysed",
                value=len(scored),
                message=f"{len(scored)} frame(s) analysed in 128-px tiles",
            ),
        )
        if media.kind is MediaKind.VIDEO:
            findings += (
                Finding(
                    code="video_compression",
                    value=media.info.video.codec if media.info.video else None,
                    message="video compression blurs spectral traces; weak evidence",
                ),
            )
        findings += compression_facts
        return Evidence.from_llr(
            self.spec,
            raw_score=raw,
            llr=0.0,
            findings=findings,
            series=series,
            summary=f"spectral logit {raw:+.2f}",
        )


def build(**overrides: Any) -> SpectrumDetector:
    return SpectrumDetector(**overrides)
