"""``audio.lfcc_gmm``: the ASVspoof LFCC-GMM baseline, the reference point for audio detection.

Two Gaussian mixtures over LFCC frames, one for real speech and one for synthetic speech; a frame's
score is the log-likelihood ratio between them and the clip's raw score is the mean over speech
frames (of each 10-minute passage of a longer recording, the worst passage deciding:
modalities.audio.passages, version 1.1.0), with features and scores in double precision (version
1.1.1, same weights: another CPU's vector code gives the same score within 1e-12). Weights are
trained by ``verity train audio.lfcc_gmm`` (see training/lfcc_gmm.py) and live with their
descriptor, card and calibration in ``weights/lfcc_gmm-<version>/``.

Reference: Todisco et al., "ASVspoof 2019: future horizons in spoofed and fake audio detection",
Interspeech 2019 (LFCC-GMM baseline B2).

"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.detector import (
    DetectorSpec,
    Evidence,
    Finding,
    MediaInput,
    Modality,
    SeriesPoint,
)
from core.media import MediaKind
from core.weights import verified_weights, weights_ref
from modalities.audio import features, frontend, passages, plots
from modalities.audio.gmm import DiagGMM

NAME = "audio.lfcc_gmm"
VERSION = "1.1.1"
WEIGHTS_DIR = Path(__file__).parent / "weights" / f"lfcc_gmm-{VERSION}"
MIN_SPEECH_FRAMES = 100  # 1 s of speech


def file_features(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channel-normalised LFCC frames with per-file mean removed, and the speech mask."""
    return features_of(frontend.normalize_channel(wave))


def features_of(
    normalized: np.ndarray,
    mask: np.ndarray | None = None,
    feature_backend: str = "numpy",
    dtype: type = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """LFCC frames and speech mask (the energy VAD's unless given) of a channel-normalised wave.

    ``dtype``: single precision for the training recipe (which fitted the shipped mixtures on
    it), double for the detector's scores (version 1.1.1), so that no feature lying near a
    single-precision rounding boundary can round one way here and the other way on another
    CPU. Most of 1.1.0's 2.1e-7 between CPUs came from the mixtures' scoring (see
    gmm.DiagGMM.log_likelihood); tests/test_numeric_reproducibility.py asks for 1e-12."""
    feats = features.lfcc(normalized, feature_backend, dtype)
    if mask is None:
        mask = frontend.speech_mask(normalized)
    mask = mask[: len(feats)]
    if mask.any():
        feats = feats - feats[mask].mean(axis=0, keepdims=True)
    return feats, mask


def _spec(folder: Path) -> DetectorSpec:
    return DetectorSpec(
        name=NAME,
        modality=Modality.AUDIO,
        version=VERSION,
        summary="LFCC + GMM log-likelihood ratio (ASVspoof baseline), per 2 s segment",
        media_kinds=frozenset({MediaKind.AUDIO, MediaKind.VIDEO}),
        resolution="segment",
        input_sample_rate=frontend.SAMPLE_RATE,
        weights=weights_ref(folder),
        licence="code Apache-2.0; weights trained on LibriSpeech (CC BY 4.0) and fake-corpus "
        "(mixed, research use)",
        paper="Todisco et al., ASVspoof 2019, Interspeech 2019 (LFCC-GMM baseline)",
    )


SPEC = _spec(WEIGHTS_DIR)


class LfccGmmDetector:
    """Loads and checks its weights once; ``analyze`` is then pure NumPy."""

    def __init__(
        self, weights_dir: Path | None = None, vad: str = "energy", feature_backend: str = "numpy"
    ) -> None:
        """``vad`` and ``feature_backend``: see frontend.speech_mask and features; the shipped
        weights and calibration were made with the defaults."""
        self.vad = frontend.checked_vad(vad)
        self.feature_backend = features.resolve_backend(feature_backend)
        folder = weights_dir or WEIGHTS_DIR
        path = verified_weights(NAME, folder)
        self.spec = SPEC if weights_dir is None else _spec(folder)
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        self.real = DiagGMM.from_arrays(arrays, "real")
        self.fake = DiagGMM.from_arrays(arrays, "fake")

    def frame_scores(self, feats: np.ndarray) -> np.ndarray:
        return np.asarray(self.fake.log_likelihood(feats) - self.real.log_likelihood(feats))

    def analyze(self, media: MediaInput) -> Evidence:
        if media.info.audio is None:
            return frontend.no_audio_track(self.spec)
        audio = passages.analysed(media, self.vad)
        findings = frontend.front_end_findings(self.vad, self.feature_backend)
        findings += passages.input_findings(media, audio)
        scored = passages.scored_each(media, audio, lambda a: self._passage(a, findings))
        return passages.decided(self.spec, media, scored, score_label="mean frame LLR")

    def _passage(self, audio: passages.PassageAudio, facts: list[Finding]) -> Evidence:
        feats, mask = features_of(audio.wave, audio.mask, self.feature_backend, np.float64)
        duration = len(audio.wave) / frontend.SAMPLE_RATE
        speech = int(mask.sum())
        findings = [
            *facts,
            frontend.speech_finding(speech, duration),
        ]
        if speech < MIN_SPEECH_FRAMES:
            return frontend.too_little_speech(self.spec, findings)
        scores = self.frame_scores(feats)
        raw = float(scores[mask].mean())
        series = []
        for seg in frontend.segments(len(feats)):
            seg_mask = mask[seg.frames]
            if seg_mask.sum() >= 20:
                series.append(
                    SeriesPoint(
                        start_s=audio.offset_s + seg.start_s,
                        end_s=audio.offset_s + seg.end_s,
                        score=float(scores[seg.frames][seg_mask].mean()),
                    )
                )
        return plots.scored_evidence(
            self.spec,
            series,
            raw=raw,
            findings=findings,
            summary=f"mean frame LLR {raw:+.3f} over {speech / 100:.1f} s of speech",
        )


def build(**overrides: Any) -> LfccGmmDetector:
    return LfccGmmDetector(**overrides)
