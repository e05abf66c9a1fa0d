"""The face-swap autoencoder: one shared encoder, one decoder per identity (Deepfakes / FakeApp).

Why this shape: the encoder sees faces of both people and so learns what they share (pose,
expression, lighting); each decoder learns to draw one person's face from that code. Encoding a
frame of A and decoding it with B's decoder gives B's face with A's pose and expression: the
classic face swap behind the Deepfakes, FaceSwap and DeepFaceLab datasets that detectors meet.

The network is deliberately small (about 3 M parameters at 64 px) so that it trains on one CPU
thread in minutes; ``size`` 64, 96 or 128 sets the crop side (four halvings, so a multiple of 16).
Losses: L1 plus structural dissimilarity (1 - SSIM) / 2, both computed here.
The model file is a NumPy ``.npz`` (no pickle) holding the weights and a JSON config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import BadInputError, display_name

SIZES = (64, 96, 128)
FORMAT = "verity-faceswap/1"


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 5, stride=2, padding=2), nn.LeakyReLU(0.1))


class _Up(nn.Module):
    """Conv to 4× channels then pixel shuffle: doubles the side without checkerboard artefacts."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.shuffle(self.conv(x)), 0.1)


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(channels, channels, 3, padding=1)
        self.b = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.b(F.leaky_relu(self.a(x), 0.2)), 0.2)


class Encoder(nn.Module):
    """size → size/16 by four strided convs, a dense bottleneck, then up to size/8."""

    def __init__(self, size: int, width: int, latent: int) -> None:
        super().__init__()
        w = width
        self.convs = nn.Sequential(
            _down(3, w), _down(w, 2 * w), _down(2 * w, 4 * w), _down(4 * w, 8 * w)
        )
        self.side = size // 16
        self.flat = 8 * w * self.side * self.side
        self.bottleneck = nn.Linear(self.flat, latent)
        self.expand = nn.Linear(latent, self.flat)
        self.up = _Up(8 * w, 8 * w)
        self.width = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.bottleneck(self.convs(x).flatten(1))
        grid = self.expand(code).view(-1, 8 * self.width, self.side, self.side)
        out: torch.Tensor = self.up(grid)
        return out


class Decoder(nn.Module):
    """size/8 → size: three pixel-shuffle ups with a residual block each, RGB in [0, 1]."""

    def __init__(self, width: int) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _Up(8 * w, 4 * w), _Residual(4 * w),
            _Up(4 * w, 2 * w), _Residual(2 * w),
            _Up(2 * w, w),
        )  # fmt: skip
        self.rgb = nn.Conv2d(w, 3, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.rgb(self.body(x)))


class SwapNet(nn.Module):
    """Shared encoder, decoders ``a`` and ``b``; ``forward(x, "b")`` draws x's face as B."""

    def __init__(self, size: int = 64, width: int = 32, latent: int = 256) -> None:
        super().__init__()
        if size not in SIZES:
            raise BadInputError(f"--size must be one of {', '.join(map(str, SIZES))}, got {size}")
        self.size, self.width, self.latent = size, width, latent
        self.encoder = Encoder(size, width, latent)
        self.decoders = nn.ModuleDict({"a": Decoder(width), "b": Decoder(width)})

    def forward(self, x: torch.Tensor, identity: str) -> torch.Tensor:
        out: torch.Tensor = self.decoders[identity](self.encoder(x))
        return out


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """N×H×W×3 uint8 → N×3×H×W float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0


def to_images(batch: torch.Tensor) -> np.ndarray:
    """N×3×H×W float in [0, 1] → N×H×W×3 uint8."""
    out = (batch.detach().clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1)
    return np.ascontiguousarray(out.cpu().numpy())


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] @ g[None, :]).expand(3, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004; 11-px Gaussian window) of images in [0, 1], per channel."""
    window = _gaussian_window().to(x)
    pad = window.shape[-1] // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, [pad] * 4, mode="reflect"), window, groups=3)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean()


def reconstruction_loss(
    out: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """L1 (weighted towards the face when ``weight`` is given) + (1 - SSIM) / 2."""
    l1 = (out - target).abs()
    l1_term = (l1 * weight).sum() / (weight.sum() * 3 + 1e-6) if weight is not None else l1.mean()
    return l1_term + (1.0 - ssim(out, target)) / 2.0


def save(model: SwapNet, path: Path, config: dict[str, Any]) -> None:
    """Weights + config (``size``, identities and their source hashes…) in one file, atomically."""
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    meta = {**config, "format": FORMAT, "size": model.size, "width": model.width,
            "latent": model.latent}  # fmt: skip
    arrays["__config__"] = np.array(json.dumps(meta, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part.npz")
    try:
        with tmp.open("wb") as handle:
            np.savez(handle, **arrays)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path) -> tuple[SwapNet, dict[str, Any]]:
    """The model and its config; a clear error for anything that is not a lab face-swap model."""
    if not path.is_file():
        raise BadInputError(f"{display_name(path)}: no such model file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        config = json.loads(str(arrays.pop("__config__")))
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            found = config.get("format") if isinstance(config, dict) else None
            raise BadInputError(f"{display_name(path)}: not a face-swap model (format {found!r})")
        model = SwapNet(int(config["size"]), int(config["width"]), int(config["latent"]))
        model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    except BadInputError:
        raise
    except Exception as error:  # empty, truncated, foreign or mismatched: all bad input
        # the type only: numpy's own messages suggest allow_pickle=True, which must never be set
        raise BadInputError(
            f"{display_name(path)}: not a face-swap model ({type(error).__name__})"
        ) from None
    return model.eval(), config
