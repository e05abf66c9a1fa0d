"""The networks of the lab's GAN face generator: a compact StyleGAN2 sized for a CPU at 64 px.

Generator (Karras et al., "Analyzing and improving the image quality of StyleGAN", CVPR 2020):
a mapping network turns a latent z into a style w (fully connected layers with a learning-rate
multiplier, so w moves slowly); a learnt constant 4×4 input is refined by 3×3 convolutions whose
weights each style modulates per sample and then demodulates, so a style changes what a layer
does without changing the scale of its output (this replaced StyleGAN's AdaIN and its droplet
artefacts); per-pixel noise inputs give the stochastic detail (hair, pores); every resolution adds
its own RGB image to the up-sampled sum of the ones before (skip architecture).

Discriminator: residual blocks down to 4×4, a minibatch standard-deviation feature (so the
generator cannot get away with one good face for every z), then a linear logit.

Every weight uses the "equalised learning rate" of ProGAN/StyleGAN: stored at unit variance and
scaled at run time, so Adam's steps mean the same for every layer. The modulated convolution is
the non-fused form (modulate the input, shared convolution, demodulate the output): the same
result as the grouped convolution of the paper and much faster on a CPU.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GanConfig:
    """What fixes the networks' shapes; saved beside the weights so a model file is self-describing.

    >>> GanConfig(resolution=16, channels={4: 32, 8: 16, 16: 8}).resolutions
    [4, 8, 16]
    """

    resolution: int = 64
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 4
    mapping_lr_mul: float = 0.01
    channels: dict[int, int] = field(default_factory=lambda: {4: 64, 8: 64, 16: 48, 32: 32, 64: 16})

    def __post_init__(self) -> None:
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, not {self.resolution}")
        missing = [r for r in self.resolutions if r not in self.channels]
        if missing:
            raise ValueError(f"channels missing for resolutions {missing}")

    @property
    def resolutions(self) -> list[int]:
        return [2**i for i in range(2, int(math.log2(self.resolution)) + 1)]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = {str(k): v for k, v in self.channels.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GanConfig:
        values = dict(data)
        values["channels"] = {int(k): int(v) for k, v in values.get("channels", {}).items()}
        return cls(**values)


class EqualLinear(nn.Module):
    """Linear layer with run-time weight scaling (equalised learning rate) and a lr multiplier."""

    def __init__(
        self, inputs: int, outputs: int, *, bias_init: float = 0.0, lr_mul: float = 1.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs) / lr_mul)
        self.bias = nn.Parameter(torch.full((outputs,), float(bias_init) / lr_mul))
        self.scale = lr_mul / math.sqrt(inputs)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    def __init__(self, inputs: int, outputs: int, kernel: int, *, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(outputs)) if bias else None
        self.scale = 1 / math.sqrt(inputs * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class MappingNetwork(nn.Module):
    """z → w: pixel-normalised z through ``layers`` leaky-ReLU FC layers at a low learning rate."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(
            EqualLinear(a, b, lr_mul=lr_mul) for a, b in itertools.pairwise(dims)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * math.sqrt(2)
        return x


class ModulatedConv2d(nn.Module):
    """A convolution whose input channels a style scales per sample; demodulation then divides
    each output channel by the norm its modulated weights would give, restoring unit variance."""

    def __init__(
        self, inputs: int, outputs: int, kernel: int, w_dim: int, *, demodulate: bool = True
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs, kernel, kernel))
        self.affine = EqualLinear(w_dim, inputs, bias_init=1.0)  # style starts at identity
        self.scale = 1 / math.sqrt(inputs * kernel * kernel)
        self.demodulate = demodulate
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)  # (N, inputs)
        weight = self.weight * self.scale
        x = x * style[:, :, None, None]
        out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            # sigma_j = sqrt(sum_i,k (w_ijk * s_i)^2): per sample and output channel
            sigma = torch.sqrt(style.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)
            out = out / sigma[:, :, None, None]
        return out


class StyledLayer(nn.Module):
    """Modulated 3×3 convolution (after an optional ×2 up-sampling), noise, bias, leaky ReLU."""

    def __init__(self, inputs: int, outputs: int, w_dim: int, *, upsample: bool) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(inputs, outputs, 3, w_dim)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(outputs))
        self.upsample = upsample

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.conv(x, w)
        n, _, h, width = x.shape
        noise = torch.randn(n, 1, h, width, generator=generator, device=x.device)
        x = x + noise * self.noise_strength + self.bias[None, :, None, None]
        return F.leaky_relu(x, 0.2) * math.sqrt(2)


class ToRGB(nn.Module):
    def __init__(self, inputs: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(inputs, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x, w)
        return out + self.bias[None, :, None, None]


class Generator(nn.Module):
    """z (N, z_dim) → image (N, 3, R, R) in about [-1, 1].

    >>> g = Generator(GanConfig(resolution=8, z_dim=8, w_dim=8, channels={4: 8, 8: 4}))
    >>> tuple(g(torch.zeros(2, 8)).shape)
    (2, 3, 8, 8)
    """

    w_avg: torch.Tensor  # running average style (a buffer): the centre of the truncation trick

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.mapping = MappingNetwork(
            config.z_dim, config.w_dim, config.mapping_layers, config.mapping_lr_mul
        )
        self.constant = nn.Parameter(torch.randn(1, c[4], 4, 4))
        self.layers = nn.ModuleList([StyledLayer(c[4], c[4], config.w_dim, upsample=False)])
        self.to_rgb = nn.ModuleList([ToRGB(c[4], config.w_dim)])
        for res in config.resolutions[1:]:
            prev = c[res // 2]
            self.layers.append(StyledLayer(prev, c[res], config.w_dim, upsample=True))
            self.layers.append(StyledLayer(c[res], c[res], config.w_dim, upsample=False))
            self.to_rgb.append(ToRGB(c[res], config.w_dim))
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def synthesis(self, w: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = self.constant.expand(w.shape[0], -1, -1, -1)
        x = self.layers[0](x, w, generator)
        rgb: torch.Tensor = self.to_rgb[0](x, w)
        for i, to_rgb in enumerate(self.to_rgb[1:]):
            x = self.layers[1 + 2 * i](x, w, generator)
            x = self.layers[2 + 2 * i](x, w, generator)
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
            rgb = rgb + to_rgb(x, w)
        return rgb

    def forward(
        self,
        z: torch.Tensor,
        *,
        truncation: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        w = self.mapping(z)
        if truncation != 1.0:  # the truncation trick: styles pulled toward the average face
            w = self.w_avg + truncation * (w - self.w_avg)
        return self.synthesis(w, generator)


class DiscriminatorBlock(nn.Module):
    """Two 3×3 convolutions then ×½, plus a 1×1 skip; summed at 1/√2 to keep the variance."""

    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(inputs, inputs, 3)
        self.conv2 = EqualConv2d(inputs, outputs, 3)
        self.skip = EqualConv2d(inputs, outputs, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip: torch.Tensor = self.skip(F.avg_pool2d(x, 2))
        x = F.leaky_relu(self.conv1(x), 0.2) * math.sqrt(2)
        x = F.avg_pool2d(F.leaky_relu(self.conv2(x), 0.2) * math.sqrt(2), 2)
        return (x + skip) / math.sqrt(2)


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """One more channel: the feature standard deviation across a group of samples, averaged."""
    n, c, h, w = x.shape
    g = min(group, n)
    while n % g:
        g -= 1
    y = x.reshape(g, n // g, c, h, w)
    y = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))  # (n // g,)
    y = y.repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    """Image (N, 3, R, R) → logit (N,): high for real."""

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        c = config.channels
        top = config.resolution
        self.from_rgb = EqualConv2d(3, c[top], 1)
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(c[res], c[res // 2]) for res in reversed(config.resolutions[1:])
        )
        self.conv = EqualConv2d(c[4] + 1, c[4], 3)
        self.fc = EqualLinear(c[4] * 16, c[4])
        self.out = EqualLinear(c[4], 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.from_rgb(x), 0.2) * math.sqrt(2)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = minibatch_stddev(self.features(x))
        x = F.leaky_relu(self.conv(x), 0.2) * math.sqrt(2)
        x = F.leaky_relu(self.fc(x.flatten(1)), 0.2) * math.sqrt(2)
        logit: torch.Tensor = self.out(x)
        return logit[:, 0]


class FeatureNet(nn.Module):
    """A small encoder for the optional perceptual term, trained by the lab itself on the real
    faces (as a denoising auto-encoder: no downloaded VGG); its activations at two depths give
    the feature statistics that fakes are pulled toward."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.LeakyReLU(0.2))
        self.enc2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, 2, 1), nn.LeakyReLU(0.2))
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(width, 3, 4, 2, 1),
        )

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        a = self.enc1(x)
        return [a, self.enc2(a)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.dec(self.features(x)[1]))
