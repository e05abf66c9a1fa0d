"""``visual.hf``: any local Hugging Face image-classification checkpoint (ViT, ConvNeXt, Swin…).

Images are classified whole; videos one frame per second (at most ``MAX_FRAMES``), giving a
per-frame series and a clip score that is the mean logit of the most suspicious quarter of the
frames. Images go through the checkpoint's own PIL image processor (no torchvision). Scores are
uncalibrated; the evidence cites the checkpoint's SHA-256 and its model card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.detector import DetectorSpec, Evidence, MediaInput, Modality, SeriesPoint, out_of_domain
from core.media import MediaKind
from modalities import hf

NAME = "visual.hf"
VERSION = "1.0.0"
VIDEO_FPS = 1.0
MAX_FRAMES = 64
BATCH = 8

SPEC = DetectorSpec(
    name=NAME,
    modality=Modality.VISUAL,
    version=VERSION,
    summary="a local Hugging Face image-classification checkpoint, per image or 1 fps frame",
    media_kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}),
    resolution="frame",
    input_fps=VIDEO_FPS,
    licence="code Apache-2.0; the checkpoint's own licence (see its model card)",
    requires="model_dir",
)


class HfImageDetector:
    def __init__(self, model_dir: Path | str | None = None, fake_label: str | None = None) -> None:
        self.checkpoint, self.spec = hf.load_for(
            SPEC, model_dir, task="image", fake_label=fake_label
        )

    def frame_logits(self, images: list[np.ndarray]) -> np.ndarray:
        import torch
        from PIL import Image

        out = []
        for start in range(0, len(images), BATCH):
            batch = [Image.fromarray(rgb) for rgb in images[start : start + BATCH]]
            inputs = self.checkpoint.processor(images=batch, return_tensors="pt")
            with torch.inference_mode():
                out.append(self.checkpoint.model(**inputs).logits.float().numpy())
        return np.concatenate(out)

    def analyze(self, media: MediaInput) -> Evidence:
        if media.kind is MediaKind.IMAGE:
            frames = list(media.frames(max_frames=1))
        else:
            frames = list(media.frames(fps=VIDEO_FPS, max_frames=MAX_FRAMES))
        if not frames:
            return out_of_domain(self.spec, "no decodable frame", summary="nothing to classify")
        scores = hf.scores(self.checkpoint, self.frame_logits([f.rgb for f in frames]))
        series = (
            ()
            if media.kind is MediaKind.IMAGE
            else tuple(
                SeriesPoint(start_s=f.time_s, end_s=f.time_s + 1 / VIDEO_FPS, score=float(s))
                for f, s in zip(frames, scores, strict=True)
            )
        )
        return hf.checkpoint_evidence(
            self.spec, self.checkpoint, scores, series, unit="frame",
            counted=f"{len(frames)} frame(s)",
        )  # fmt: skip


def build(**overrides: Any) -> HfImageDetector:
    return HfImageDetector(**overrides)
