"""``audio.hf``: any local Hugging Face audio-classification checkpoint (wav2vec2, HuBERT, AST…).

The clip is decoded at the checkpoint's sampling rate (mono, no channel normalisation: the model
was trained by someone else on its own front end), cut into 4-second windows, and each window is
classified; the clip score is the mean logit of the most suspicious quarter of the windows, so a
short synthetic insert is not averaged away. A recording longer than 10 minutes is read in the
passages of modalities.audio.passages (version 1.1.0: up to an hour whole), window by window;
only the windows' scores are kept. Scores are uncalibrated until the user calibrates the
checkpoint; the evidence cites the checkpoint's SHA-256 and its model card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.detector import DetectorSpec, Evidence, MediaInput, Modality, SeriesPoint, out_of_domain
from core.media import MediaKind
from modalities import hf
from modalities.audio import frontend, passages

NAME = "audio.hf"
VERSION = "1.1.0"
WINDOW_S = 4.0
MIN_SECONDS = 0.5
BATCH = 8

SPEC = DetectorSpec(
    name=NAME,
    modality=Modality.AUDIO,
    version=VERSION,
    summary="a local Hugging Face audio-classification checkpoint, per 4 s window",
    media_kinds=frozenset({MediaKind.AUDIO, MediaKind.VIDEO}),
    resolution="segment",
    licence="code Apache-2.0; the checkpoint's own licence (see its model card)",
    requires="model_dir",
)


class HfAudioDetector:
    def __init__(self, model_dir: Path | str | None = None, fake_label: str | None = None) -> None:
        self.checkpoint, self.spec = hf.load_for(
            SPEC, model_dir, task="audio", fake_label=fake_label
        )
        self.sample_rate = int(getattr(self.checkpoint.processor, "sampling_rate", 16_000))

    def window_logits(self, windows: list[np.ndarray]) -> np.ndarray:
        """Logits per window; windows are batched only with others of the same length, because
        many audio checkpoints take no attention mask and zero padding would change a score."""
        import torch

        out: dict[int, np.ndarray] = {}
        by_length: dict[int, list[int]] = {}
        for i, window in enumerate(windows):
            by_length.setdefault(len(window), []).append(i)
        for indices in by_length.values():
            for start in range(0, len(indices), BATCH):
                chunk = indices[start : start + BATCH]
                inputs = self.checkpoint.processor(
                    [windows[i] for i in chunk], sampling_rate=self.sample_rate, return_tensors="pt"
                )
                with torch.inference_mode():
                    logits = self.checkpoint.model(**inputs).logits.float().numpy()
                out.update(zip(chunk, logits, strict=True))
        return np.stack([out[i] for i in range(len(windows))])

    def analyze(self, media: MediaInput) -> Evidence:
        if media.info.audio is None:
            return frontend.no_audio_track(self.spec)
        step = int(WINDOW_S * self.sample_rate)
        shortest = MIN_SECONDS * self.sample_rate
        times: list[tuple[float, float]] = []
        logits = []
        plan = passages.plan(media.info.duration_s)
        read = passages.read(media, self.sample_rate, plan)
        for passage, wave in media.parts(read, "passage", count=len(plan)):
            starts = [s for s in range(0, len(wave), step) if len(wave) - s >= shortest]
            windows = [wave[s : s + step].astype(np.float32) for s in starts]
            if windows:
                logits.append(self.window_logits(windows))
                times += [
                    (passage.start_s + s / self.sample_rate, len(w) / self.sample_rate)
                    for s, w in zip(starts, windows, strict=True)
                ]
        if not times:
            return out_of_domain(self.spec, "shorter than 0.5 s", summary="too short to classify")
        scores = hf.scores(self.checkpoint, np.concatenate(logits))
        series = tuple(
            SeriesPoint(start_s=start, end_s=start + seconds, score=float(score))
            for (start, seconds), score in zip(times, scores, strict=True)
        )
        evidence = hf.checkpoint_evidence(
            self.spec, self.checkpoint, scores, series, unit="window",
            counted=f"{len(times)} windows",
        )  # fmt: skip
        unheard = passages.coverage_finding(media, plan)
        return evidence.model_copy(update={"findings": evidence.findings + tuple(unheard)})


def build(**overrides: Any) -> HfAudioDetector:
    return HfAudioDetector(**overrides)
