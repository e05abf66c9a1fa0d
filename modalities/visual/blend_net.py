"""The ``visual.blend`` network: a small residual CNN with a fake/real logit and a boundary map.

Sized for CPUs (about 1.3 M parameters, ~0.1 GFLOP per 128-px crop at width 24). Besides the
logit, a 1×1 head on the 16×16 feature map predicts where a blending boundary runs (the Face X-ray
target); training on it makes the network look at boundaries rather than at global colour, and its
output is the detector's heatmap. Weights are stored as a plain ``safetensors``-free ``.npz`` of
named arrays (no pickle), with the architecture's config in the descriptor's recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

INPUT_SIZE = 128
CROP_SIZE = 144  # aligned crop; the network sees its centre (training: a random 128 window)
CROP_ZOOM = 0.9  # a little more context than faces.TEMPLATE: the forehead and the jaw line
MEAN, STD = 0.5, 0.25


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class _Block(nn.Module):
    """Two 3×3 convolutions with a strided shortcut (ResNet basic block)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(cin, cout, stride),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.body(x) + self.skip(x))
        return out


class BlendNet(nn.Module):
    """Input: N×3×128×128 floats in [0, 255]. Output: (logit N, boundary logits N×1×16×16)."""

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        self.width = width
        w = width
        self.stem = _conv_bn(3, w, 2)  # 64
        self.stage1 = _Block(w, 2 * w, 2)  # 32
        self.stage2 = _Block(2 * w, 4 * w, 2)  # 16
        self.stage3 = _Block(4 * w, 8 * w, 2)  # 8
        self.stage4 = _Block(8 * w, 8 * w, 2)  # 4
        self.mask_head = nn.Conv2d(4 * w, 1, 1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8 * w, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x / 255.0 - MEAN) / STD
        f16 = self.stage2(self.stage1(self.stem(x)))
        deep = self.stage4(self.stage3(f16))
        logit = self.fc(self.drop(deep.mean(dim=(2, 3))))[:, 0]
        return logit, self.mask_head(f16)


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """N×H×W×3 uint8 → N×3×H×W float tensor (0..255)."""
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().contiguous()


def centre(crop: np.ndarray) -> np.ndarray:
    off = (crop.shape[0] - INPUT_SIZE) // 2
    return crop[off : off + INPUT_SIZE, off : off + INPUT_SIZE]


def save(model: BlendNet, path: Path) -> None:
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    arrays["__width__"] = np.array(model.width)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load(
    path: Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> BlendNet:
    """The network of a weights file, in evaluation mode, its parameters widened to ``dtype``
    (the detector asks for double precision, training keeps single)."""
    with np.load(path, allow_pickle=False) as data:
        arrays: dict[str, Any] = {k: data[k] for k in data.files}
    model = BlendNet(width=int(arrays.pop("__width__")))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    return model.to(device=device, dtype=dtype).eval()


@torch.inference_mode()
def predict(model: BlendNet, crops: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N) and boundary probability maps (N×16×16) of aligned 128-px crops, computed in
    the network's own precision; logits come back in double precision, maps in single."""
    weight = next(model.parameters())
    logits, maps = [], []
    for i in range(0, len(crops), batch):
        logit, mask = model(to_tensor(crops[i : i + batch]).to(weight.device, weight.dtype))
        logits.append(logit.double().cpu().numpy())
        maps.append(torch.sigmoid(mask[:, 0]).float().cpu().numpy())
    if not logits:
        return np.zeros(0, np.float64), np.zeros((0, 16, 16), np.float32)
    return np.concatenate(logits), np.concatenate(maps)
