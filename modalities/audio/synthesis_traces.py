"""``audio.artifacts``: vocoder and codec traces, measured, named and weighed by a trained head.

The detector measures the traces of :mod:`modalities.audio.trace_features` on the whole clip and on
4-second segments (on each 10-minute passage of a longer recording, the worst passage deciding:
modalities.audio.passages, version 1.1.0), standardises them against the training distribution and
adds them up with the weights of a logistic head (``verity train audio.artifacts``). Because the
head is linear, each trace's share of the score is exact: the evidence lists every measured value,
how unusual it is for real speech (z-score) and what it contributed, so an examiner can see *why* a
clip was scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality, SeriesPoint
from core.errors import DetectorError
from core.media import MediaKind
from core.weights import verified_weights, weights_ref
from modalities.audio import frontend, passages, plots
from modalities.audio import trace_features as tf

NAME = "audio.artifacts"
VERSION = "1.1.0"
WEIGHTS_DIR = Path(__file__).parent / "weights" / f"artifacts-{VERSION}"
WEIGHTS_FILE = "artifacts_head.npz"
SEGMENT_S = 4.0
MAX_OUTSIDE = 3  # more traces than this outside the training range: not speech as trained on


def _spec(folder: Path) -> DetectorSpec:
    return DetectorSpec(
        name=NAME,
        modality=Modality.AUDIO,
        version=VERSION,
        summary="named vocoder/codec traces (band energy, flatness, group delay, jitter, "
        "shimmer, noise floor) with a logistic head, per 4 s segment",
        media_kinds=frozenset({MediaKind.AUDIO, MediaKind.VIDEO}),
        resolution="segment",
        input_sample_rate=frontend.SAMPLE_RATE,
        weights=weights_ref(folder),
        licence="code Apache-2.0; head trained on LibriSpeech (CC BY 4.0) and fake-corpus "
        "(mixed, research use)",
        paper="traces after Yan et al. 2022 (vocoder artefacts), Li et al. 2021 (jitter and "
        "shimmer in spoofing countermeasures)",
    )


SPEC = _spec(WEIGHTS_DIR)


class TraceHead:
    """An additive model: each trace passes through its own piecewise-linear shape function.

    Every feature is expanded into hinge functions at training-set quantiles (``x``, ``max(0, x -
    knot)``…), standardised, and weighed by an L2 logistic regression. The score is the sum of one
    term per trace plus an intercept, so each trace's share is exact (a generalised additive
    model), while the shapes can say "too flat *and* too noisy are both suspicious".
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        names = tuple(str(n) for n in arrays["names"])
        if names != tf.NAMES:
            raise DetectorError(f"{NAME} weights were trained on other features: {names}")
        self.knots = arrays["knots"]  # (k, F)
        self.unit = arrays["unit"]  # (F,)
        self.mean = arrays["mean"]  # (F·(k+1),)
        self.scale = arrays["scale"]
        self.coef = arrays["coef"]
        self.intercept = float(arrays["intercept"])
        self.real_mean = arrays["real_mean"]
        self.real_std = arrays["real_std"]
        self.low = arrays["low"]  # 0.5th and 99.5th percentiles of the training traces:
        self.high = arrays["high"]  # the head is only trusted inside this box
        if self.coef.shape != ((len(self.knots) + 1) * len(names),):
            raise DetectorError(f"{NAME} weights have inconsistent shapes")

    @staticmethod
    def expand(x: np.ndarray, knots: np.ndarray, unit: np.ndarray) -> np.ndarray:
        """Hinge basis, columns grouped by piece: [x/u, max(0,(x-k1)/u), …] for rows of ``x``."""
        x = np.atleast_2d(x)
        return np.concatenate([x / unit] + [np.maximum(0, (x - k) / unit) for k in knots], axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "names": np.array(tf.NAMES),
            "knots": self.knots,
            "unit": self.unit,
            "mean": self.mean,
            "scale": self.scale,
            "coef": self.coef,
            "intercept": np.array(self.intercept),
            "real_mean": self.real_mean,
            "real_std": self.real_std,
            "low": self.low,
            "high": self.high,
        }

    def outside(self, values: np.ndarray) -> np.ndarray:
        """Which traces lie outside the range seen in training (bool per trace)."""
        return np.asarray((values < self.low) | (values > self.high))

    def contributions(self, values: np.ndarray) -> np.ndarray:
        """Each trace's exact additive share of the score (logit units).

        Values are clipped to the training range first: hinge functions extrapolate linearly,
        and a sound unlike any training speech (a tone, music) must not earn an extreme score.
        """
        values = np.clip(values, self.low, self.high)
        basis = (self.expand(values, self.knots, self.unit)[0] - self.mean) / self.scale
        terms = (self.coef * basis).reshape(len(self.knots) + 1, len(tf.NAMES))
        return np.asarray(terms.sum(axis=0))

    def score(self, values: np.ndarray) -> float:
        return float(self.intercept + self.contributions(values).sum())


class SynthesisTracesDetector:
    def __init__(self, weights_dir: Path | None = None, vad: str = "energy") -> None:
        """``vad``: see frontend.speech_mask; the shipped head was trained with the default."""
        self.vad = frontend.checked_vad(vad)
        folder = weights_dir or WEIGHTS_DIR
        path = verified_weights(NAME, folder)
        self.spec = SPEC if weights_dir is None else _spec(folder)
        with np.load(path, allow_pickle=False) as data:
            self.head = TraceHead({key: data[key] for key in data.files})

    def analyze(self, media: MediaInput) -> Evidence:
        if media.info.audio is None:
            return frontend.no_audio_track(self.spec)
        audio = passages.analysed(media, self.vad)
        facts = [*frontend.front_end_findings(self.vad), *passages.input_findings(media, audio)]
        scored = passages.scored_each(media, audio, lambda a: self._passage(a, facts))
        return passages.decided(self.spec, media, scored, score_label="trace score (logit)")

    def _passage(self, audio: passages.PassageAudio, facts: list[Finding]) -> Evidence:
        normalized, mask = audio.wave, audio.mask
        clip = tf.traces(normalized, mask)
        if clip is None:
            return frontend.too_little_speech(  # with the input's findings: they may say why
                self.spec, facts, "less than 0.5 s of speech", "too little speech to measure traces"
            )
        raw = self.head.score(clip.values)
        contributions = self.head.contributions(clip.values)
        z = (clip.values - self.head.real_mean) / self.head.real_std
        outside = self.head.outside(clip.values)
        findings = [*facts] + [
            Finding(
                code=name,
                value=round(float(value), 5),
                message=f"{description}: {value:.4g} (z {zi:+.1f} against real speech"
                + (", outside the training range: clipped)" if out else ")"),
                llr=round(float(c), 4),
            )
            for (name, description), value, zi, c, out in zip(
                tf.FEATURES, clip.values, z, contributions, outside, strict=True
            )
        ]
        if outside.sum() > MAX_OUTSIDE:
            names = ", ".join(n for n, o in zip(tf.NAMES, outside, strict=True) if o)
            return Evidence.from_llr(
                self.spec,
                raw_score=raw,
                llr=0.0,
                findings=tuple(findings),
                out_of_domain=f"not speech as trained on: {int(outside.sum())} of "
                f"{len(tf.NAMES)} traces outside the training range ({names})",
                summary="traces unlike any training speech",
            )
        series = self._series(normalized, mask, audio.offset_s)
        top = np.argsort(-np.abs(contributions))[:3]
        drivers = ", ".join(f"{tf.NAMES[i]} {contributions[i]:+.2f}" for i in top)
        return plots.scored_evidence(
            self.spec,
            series,
            raw=raw,
            findings=findings,
            summary=f"trace score {raw:+.2f} over {clip.speech_frames / 100:.1f} s of speech; "
            f"largest shares: {drivers}",
        )

    def _series(
        self, normalized: np.ndarray, mask: np.ndarray, offset_s: float
    ) -> list[SeriesPoint]:
        step = int(SEGMENT_S * frontend.SAMPLE_RATE)
        hop_frames = step // frontend.HOP
        out = []
        for k, start in enumerate(range(0, len(normalized), step)):
            piece = normalized[start : start + step]
            seg_mask = mask[k * hop_frames : (k + 1) * hop_frames]
            seg = tf.traces(piece, seg_mask) if len(piece) >= frontend.WIN else None
            if seg is not None:
                out.append(
                    SeriesPoint(
                        start_s=offset_s + start / frontend.SAMPLE_RATE,
                        end_s=offset_s + (start + len(piece)) / frontend.SAMPLE_RATE,
                        score=self.head.score(seg.values),
                    )
                )
        return out


def build(**overrides: Any) -> SynthesisTracesDetector:
    return SynthesisTracesDetector(**overrides)
