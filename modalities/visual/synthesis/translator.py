"""The lab's image-to-image translator: pictures re-drawn by an encoder-decoder network, the
generator family of CycleGAN and pix2pix, for pictures with or without a face.

The lab's other picture generators need a face (self-blending, the face swap, the GAN's faces)
or only imitate the last up-sampling step (``upsampling``). Image-to-image generators, which
re-render a whole scene (CycleGAN's horses into zebras, pix2pix's maps into photos, style
transfer, many "AI filters"), have their own decoder: strided convolutions down to a quarter of
the resolution, residual blocks, then learnt transposed-convolution up-sampling, whose traces
CNN-generated-image detectors key on (Wang et al., CVPR 2020; Zhang et al., "AutoGAN", WIFS
2019, who made such traces with exactly this kind of network to train a detector). This module
is that generator (CycleGAN's ResNet generator, halved in width, 4 residual blocks), trained on
the CPU in minutes to reproduce real pictures (L1 plus an L1 on image gradients, no
discriminator): its outputs are the real picture as the network re-draws it, carrying the
decoder's traces and its smoothing, not another scene.

``verity lab translator train`` writes a model file; ``verity lab make-fakes --methods
translate --translator-model FILE`` re-draws real pictures with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.errors import BadInputError
from modalities import lab_models

FORMAT = "verity-lab-translator/1"
PATCH = 96  # training crop side (pixels)
STRIDE = 4  # the network's down-sampling: pictures are padded to a multiple of it
MAX_SIDE = 2048  # larger pictures are refused, not silently resized (memory is ~H·W·width·20 B)


@dataclass(frozen=True)
class TranslatorConfig:
    width: int = 32  # channels of the first layer; ×2 after each down-sampling
    blocks: int = 4  # residual blocks at a quarter of the resolution

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranslatorConfig:
        return cls(int(data["width"]), int(data["blocks"]))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
            nn.ReLU(inplace=True), nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.body(x)
        return out


class Translator(nn.Module):
    """RGB in [-1, 1] (batch, 3, H, W) with H, W multiples of 4 → RGB in [-1, 1], same size."""

    def __init__(self, config: TranslatorConfig) -> None:
        super().__init__()
        if config.width < 4 or config.blocks < 1:
            raise ValueError("a translator needs width >= 4 and at least one residual block")
        self.config = config
        w = config.width
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(3, w, 7), nn.InstanceNorm2d(w), nn.ReLU(True),
            nn.Conv2d(w, 2 * w, 3, 2, 1), nn.InstanceNorm2d(2 * w), nn.ReLU(True),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1), nn.InstanceNorm2d(4 * w), nn.ReLU(True),
        ]  # fmt: skip
        layers += [_Residual(4 * w) for _ in range(config.blocks)]
        layers += [
            nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(2 * w),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(w),
            nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(w, 3, 7), nn.Tanh(),
        ]  # fmt: skip
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def loss_of(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """L1 on pixels plus L1 on horizontal and vertical differences (keeps edges from blurring)."""
    (fy, fx), (ry, rx) = _gradients(fake), _gradients(real)
    return F.l1_loss(fake, real) + F.l1_loss(fy, ry) + F.l1_loss(fx, rx)


TrainResult = lab_models.TrainResult


def _to_tensor(pictures: list[np.ndarray]) -> torch.Tensor:
    batch = np.stack(pictures).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()


def train(
    pictures: list[np.ndarray],
    out: Path,
    *,
    config: TranslatorConfig | None = None,
    minutes: float | None = None,
    steps: int | None = None,
    batch: int = 8,
    seed: int = 0,
    provenance: dict[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Train on random PATCH crops (random flips) of ``pictures`` (uint8 RGB, real) until the step
    or time budget is spent; write the model file atomically."""
    if minutes is None and steps is None:
        raise BadInputError("give a budget: --minutes or --steps")
    usable = [p for p in pictures if p.ndim == 3 and min(p.shape[:2]) >= PATCH]
    if not usable:
        raise BadInputError(f"no real picture of at least {PATCH}×{PATCH} pixels to train on")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Translator(config or TranslatorConfig())
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
    start, done, losses = time.monotonic(), 0, []
    deadline = start + 60.0 * minutes if minutes is not None else float("inf")
    while (steps is None or done < steps) and time.monotonic() < deadline:
        crops = []
        for i in rng.integers(0, len(usable), size=batch):
            picture = usable[int(i)]
            y = int(rng.integers(0, picture.shape[0] - PATCH + 1))
            x = int(rng.integers(0, picture.shape[1] - PATCH + 1))
            crop = picture[y : y + PATCH, x : x + PATCH]
            crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
        real = _to_tensor(crops)
        loss = loss_of(net(real), real)
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        losses.append(loss.item())
        done += 1
        if progress and done % 10 == 0:
            progress("translator", done, steps or 0)
    seconds = time.monotonic() - start
    result = TrainResult(done, seconds, float(np.mean(losses[-50:])), float(np.mean(losses[:20])))
    facts = {
        **asdict(result), "batch": batch, "seed": seed, "patch": PATCH, "pictures": len(usable),
        "data": provenance or {}, "torch": torch.__version__,
    }  # fmt: skip
    lab_models.save(out, FORMAT, asdict(net.config), facts, net)
    return result


@dataclass(frozen=True)
class LoadedTranslator:
    net: Translator
    facts: dict[str, Any]
    sha256: str


def load_model(path: Path) -> LoadedTranslator:
    """A file written by ``train``; anything else is refused with one clear line."""
    net, facts, sha256 = lab_models.load(
        path, FORMAT, "translator", lambda c: Translator(TranslatorConfig.from_dict(c))
    )
    return LoadedTranslator(net, facts, sha256)


def translate(model: LoadedTranslator, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (uint8, H×W×3) re-drawn by the network, same size; the network sees the picture
    whole (reflection-padded to a multiple of 4), as an image-to-image generator would."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise BadInputError("the translator re-draws RGB pictures only")
    h, w = rgb.shape[:2]
    if max(h, w) > MAX_SIDE:
        raise BadInputError(f"picture of {w}×{h} pixels: the translator takes at most {MAX_SIDE}")
    x = _to_tensor([rgb])
    pad_h, pad_w = (-h) % STRIDE, (-w) % STRIDE
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    with torch.no_grad():
        y = model.net(x)[0, :, :h, :w]
    out = (y.permute(1, 2, 0).numpy() + 1.0) * 127.5
    picture: np.ndarray = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return picture
