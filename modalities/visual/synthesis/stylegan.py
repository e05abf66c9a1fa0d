"""The lab's GAN face generator: data, training, model files and sampling (nets in stylegan_net).

Why a GAN in the lab: ``visual.spectrum`` and ``visual.blend`` learn from pseudo-fakes made by
hand (up-sampled photos, self-blended faces); a generator that was actually trained leaves the
traces real fully-synthetic faces leave, and tells whether a detector trained without it is fooled.

* Data: aligned colour face crops (the shared dlib face pipeline, eyes and mouth at fixed
  places) from image folders, at most ``per_source`` per source so that All-Age-Faces does not
  dominate; grayscale photos are skipped unless asked for. Cached as one ``.npz`` keyed by the
  folders' manifests and the crop settings.
* Training: non-saturating logistic loss, lazy R1 on reals every ``r1_interval`` steps, Adam as
  in StyleGAN2, an exponential moving average of the generator (what is sampled), a running
  average style for the truncation trick, horizontal flips, and an optional perceptual term:
  feature statistics of a small encoder trained here on the same faces (no downloaded network).
  Bounded by ``minutes`` and/or ``steps``, deterministic for a seed on one thread.
* Model file: one ``torch.save`` dict of tensors and plain values (loaded with
  ``weights_only=True``): config, EMA generator weights, training facts (data folders and their
  manifest SHA-256, steps, images seen), written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import BadInputError, display_name
from modalities import lab_models
from modalities.visual.synthesis.stylegan_net import (
    Discriminator,
    FeatureNet,
    GanConfig,
    Generator,
)

FORMAT = "verity-lab-gan/1"
CROP_ZOOM = 0.85  # a little more than faces.TEMPLATE shows: forehead, chin and cheeks
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp"}

# (stage, done, total) for the CLI's progress bar
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainOptions:
    """How long and how hard to train; the defaults are sized for one CPU thread at 64 px."""

    batch: int = 16
    steps: int | None = None
    minutes: float | None = None
    seed: int = 0
    lr: float = 0.0025
    r1_gamma: float = 0.1
    r1_interval: int = 16
    ema_half_life_images: int = 2_000
    perceptual_weight: float = 0.0
    feature_steps: int = 300
    grid_every_s: float = 120.0
    snapshot_every_s: float | None = None

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None:
            raise BadInputError("give --steps and/or --minutes: training must be bounded")
        if (self.steps is not None and self.steps < 1) or (
            self.minutes is not None and self.minutes <= 0
        ):
            raise BadInputError("--steps and --minutes must be positive")
        if self.batch < 2:
            raise BadInputError("--batch must be at least 2")


@dataclass
class TrainResult:
    steps: int
    images_seen: int
    seconds: float
    images_per_s: float
    losses: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)


# --------------------------------------------------------------------------- data


def _image_paths(folder: Path) -> tuple[list[tuple[Path, str]], dict[str, str]]:
    """(path, source) of the real images of a folder, and its provenance."""
    from modalities.lab import find_sources

    sources = [s for s in find_sources(folder) if s.kind == "image"]
    manifest = folder / "manifest.csv"
    digest = (
        hashlib.sha256(manifest.read_bytes()).hexdigest()
        if manifest.is_file()
        else hashlib.sha256("\n".join(s.relative for s in sources).encode()).hexdigest()
    )
    out = []
    for source in sources:
        parts = Path(source.relative).parts
        out.append((source.path, parts[-2] if len(parts) > 1 else folder.resolve().name))
    return out, {"folder": folder.resolve().name, "manifest_sha256": digest}


def _crop(path: Path, size: int, include_gray: bool) -> np.ndarray | None:
    from PIL import Image

    from modalities.visual import faces

    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except OSError:
        return None
    if not include_gray and faces.is_grayscale(rgb):
        return None
    upsample = 1 if max(rgb.shape[:2]) < 400 else 0
    found = [f for f in faces.detect_faces(rgb, upsample=upsample) if not f.tiny]
    if not found:
        return None
    face = max(found, key=lambda f: f.side)
    return faces.aligned_crop(rgb, face, size=size, zoom=CROP_ZOOM)


def prepare_faces(
    folders: list[Path],
    *,
    size: int = 64,
    per_source: int = 500,
    include_gray: bool = False,
    seed: int = 0,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Aligned face crops (N, size, size, 3) uint8 from image folders, and their provenance."""
    items: dict[str, list[Path]] = {}
    provenance = []
    for folder in folders:
        found, origin = _image_paths(folder)
        provenance.append(origin)
        for path, source in found:
            items.setdefault(source, []).append(path)
    if not items:
        raise BadInputError(f"{', '.join(display_name(f) for f in folders)}: no images to train on")
    key = json.dumps([provenance, size, per_source, include_gray, seed, CROP_ZOOM], sort_keys=True)
    cache = None
    if cache_dir is not None:
        cache = cache_dir / f"gan-faces-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
        if cache.is_file():
            with np.load(cache, allow_pickle=False) as data:
                return np.asarray(data["faces"]), provenance
    rng = np.random.default_rng(seed)
    plan: list[Path] = []
    for _source, paths in sorted(items.items()):
        pick = sorted(rng.permutation(len(paths))[:per_source])
        plan += [paths[i] for i in pick]
    crops = []
    for done, path in enumerate(plan, start=1):
        crop = _crop(path, size, include_gray)
        if crop is not None:
            crops.append(crop)
        if progress:
            progress("aligning faces", done, len(plan))
    if len(crops) < 2:
        raise BadInputError(
            f"{', '.join(display_name(f) for f in folders)}: fewer than 2 usable colour faces"
            + ("" if include_gray else " (grayscale photos are skipped; see --include-gray)")
        )
    array = np.stack(crops)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, faces=array)
        lab_models.write_atomic(cache, buffer.getvalue())
    return array, provenance


# --------------------------------------------------------------------------- training


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] → (N, H, W, 3) uint8."""
    array = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return array.permute(0, 2, 3, 1).numpy()


def r1_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor], reals: torch.Tensor
) -> torch.Tensor:
    """Mean squared norm of the discriminator's gradient on real images (Mescheder et al. 2018)."""
    reals = reals.detach().requires_grad_(True)
    scores = discriminator(reals)
    (grad,) = torch.autograd.grad(scores.sum(), reals, create_graph=True)
    return grad.pow(2).sum(dim=(1, 2, 3)).mean()


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, beta: float) -> None:
    """ema ← beta·ema + (1−beta)·model for parameters; buffers copied."""
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters(), strict=True):
            e.lerp_(p, 1.0 - beta)
        for eb, b in zip(ema.buffers(), model.buffers(), strict=True):
            eb.copy_(b)


def feature_stats_loss(net: FeatureNet, fakes: torch.Tensor, reals: torch.Tensor) -> torch.Tensor:
    """Perceptual term: distance between per-channel mean and std of fake and real features."""
    loss = fakes.new_zeros(())
    with torch.no_grad():
        real_feats = net.features(reals)
    for f, r in zip(net.features(fakes), real_feats, strict=True):
        loss = loss + (f.mean(dim=(0, 2, 3)) - r.mean(dim=(0, 2, 3))).pow(2).mean()
        loss = loss + (f.std(dim=(0, 2, 3)) - r.std(dim=(0, 2, 3))).pow(2).mean()
    return loss


def _backward(loss: torch.Tensor) -> None:
    torch.autograd.backward(loss)


def train_feature_net(
    data: torch.Tensor, steps: int, batch: int, rng: np.random.Generator
) -> FeatureNet:
    """A denoising auto-encoder on the real faces: its encoder is the perceptual network."""
    net = FeatureNet()
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(steps):
        x = data[rng.integers(0, len(data), batch)]
        loss = F.mse_loss(net(x + 0.1 * torch.randn_like(x)), x)
        optimiser.zero_grad(set_to_none=True)
        _backward(loss)
        optimiser.step()
    net.requires_grad_(False)
    return net.eval()


class GanTrainer:
    """Holds generator, EMA generator, discriminator and optimisers; ``step()`` is one G and D
    update. Kept as a class so tests can run a handful of steps and inspect every piece."""

    def __init__(self, config: GanConfig, images: np.ndarray, options: TrainOptions) -> None:
        torch.manual_seed(options.seed)
        self.config, self.options = config, options
        self.rng = np.random.default_rng(options.seed)
        if images.shape[1:] != (config.resolution, config.resolution, 3):
            raise BadInputError(
                f"faces are {images.shape[1:]}, the generator makes "
                f"{config.resolution}×{config.resolution}×3"
            )
        self.data = _to_tensor(images)
        self.generator = Generator(config)
        self.ema = Generator(config).requires_grad_(False)
        self.ema.load_state_dict(self.generator.state_dict())
        self.discriminator = Discriminator(config)
        ratio = options.r1_interval / (options.r1_interval + 1)  # lazy regularisation
        self.g_opt = torch.optim.Adam(self.generator.parameters(), lr=options.lr, betas=(0.0, 0.99))
        self.d_opt = torch.optim.Adam(
            self.discriminator.parameters(),
            lr=options.lr * ratio,
            betas=(0.0, 0.99**ratio),
        )
        self.feature_net = (
            train_feature_net(self.data, options.feature_steps, options.batch, self.rng)
            if options.perceptual_weight > 0
            else None
        )
        self.steps = 0

    def _reals(self) -> torch.Tensor:
        x = self.data[self.rng.integers(0, len(self.data), self.options.batch)]
        flip = torch.from_numpy(self.rng.random(len(x)) < 0.5)
        return torch.where(flip[:, None, None, None], x.flip(3), x)

    def _latents(self) -> torch.Tensor:
        return torch.randn(self.options.batch, self.config.z_dim)

    def step(self) -> dict[str, float]:
        o = self.options
        losses: dict[str, float] = {}
        # discriminator: softplus(D(fake)) + softplus(-D(real)), R1 every r1_interval steps
        reals = self._reals()
        with torch.no_grad():
            fakes = self.generator(self._latents())
        d_loss = F.softplus(self.discriminator(fakes)).mean()
        d_loss = d_loss + F.softplus(-self.discriminator(reals)).mean()
        self.d_opt.zero_grad(set_to_none=True)
        _backward(d_loss)
        self.d_opt.step()
        losses["d"] = float(d_loss.detach())
        if self.steps % o.r1_interval == 0:
            r1 = r1_penalty(self.discriminator, reals)
            self.d_opt.zero_grad(set_to_none=True)
            _backward(r1 * (o.r1_gamma / 2) * o.r1_interval)
            self.d_opt.step()
            losses["r1"] = float(r1.detach())
        # generator: non-saturating softplus(-D(G(z))), plus the optional perceptual term
        w = self.generator.mapping(self._latents())
        fakes = self.generator.synthesis(w)
        g_loss = F.softplus(-self.discriminator(fakes)).mean()
        losses["g"] = float(g_loss.detach())
        if self.feature_net is not None:
            perceptual = feature_stats_loss(self.feature_net, fakes, self._reals())
            g_loss = g_loss + o.perceptual_weight * perceptual
            losses["perceptual"] = float(perceptual.detach())
        self.g_opt.zero_grad(set_to_none=True)
        _backward(g_loss)
        self.g_opt.step()
        with torch.no_grad():  # the running average style, centre of the truncation trick
            self.generator.w_avg.lerp_(w.detach().mean(dim=0), 0.005)
        beta = 0.5 ** (o.batch / max(o.ema_half_life_images, 1))
        ema_update(self.ema, self.generator, beta)
        self.steps += 1
        return losses


def train(
    images: np.ndarray,
    out: Path,
    *,
    config: GanConfig | None = None,
    options: TrainOptions,
    provenance: list[dict[str, str]],
    grid: Path | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train until ``options.steps`` or ``options.minutes`` runs out; write ``out`` (and the
    sample ``grid`` PNG every ``grid_every_s``, snapshots beside ``out`` when asked)."""
    config = config or GanConfig()
    trainer = GanTrainer(config, images, options)
    deadline = time.monotonic() + options.minutes * 60 if options.minutes else None
    start = time.monotonic()
    last_grid = last_snapshot = start
    fixed = torch.Generator().manual_seed(options.seed)
    grid_z = torch.randn(16, config.z_dim, generator=fixed)
    history: list[dict[str, float]] = []
    running: dict[str, float] = {}
    total = options.steps or 0

    def facts() -> dict[str, Any]:
        return {
            "steps": trainer.steps,
            "images_seen": trainer.steps * options.batch,
            "seconds": round(time.monotonic() - start, 1),
            "options": {k: v for k, v in vars(options).items()},
            "trained_on": provenance,
            "n_faces": len(images),
        }

    while True:
        if options.steps is not None and trainer.steps >= options.steps:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        losses = trainer.step()
        for k, v in losses.items():
            running[k] = 0.9 * running.get(k, v) + 0.1 * v
        if not all(np.isfinite(v) for v in losses.values()):
            raise BadInputError(f"training diverged at step {trainer.steps}: {losses}")
        now = time.monotonic()
        if trainer.steps % 50 == 0:
            history.append({"step": trainer.steps, "seconds": round(now - start, 1), **running})
        if progress:
            if options.steps is not None:
                progress("training", trainer.steps, total)
            else:
                progress("training", int(now - start), int((options.minutes or 0) * 60))
        if grid is not None and now - last_grid >= options.grid_every_s:
            save_grid(trainer.ema, grid_z, grid)
            last_grid = now
        if options.snapshot_every_s and now - last_snapshot >= options.snapshot_every_s:
            snap = out.with_name(f"{out.stem}-step{trainer.steps}{out.suffix}")
            save_model(trainer.ema, snap, facts())
            last_snapshot = now
    if grid is not None:
        save_grid(trainer.ema, grid_z, grid)
    seconds = time.monotonic() - start
    save_model(trainer.ema, out, {**facts(), "history": history[-40:]})
    return TrainResult(
        steps=trainer.steps,
        images_seen=trainer.steps * options.batch,
        seconds=seconds,
        images_per_s=trainer.steps * options.batch / max(seconds, 1e-9),
        losses=running,
        history=history,
    )


# --------------------------------------------------------------------------- files


def save_model(generator: Generator, path: Path, facts: dict[str, Any]) -> None:
    """The EMA generator's weights with its config and training facts, in one atomic write."""
    lab_models.save(path, FORMAT, generator.config.to_dict(), facts, generator)


@dataclass(frozen=True)
class LoadedModel:
    generator: Generator
    facts: dict[str, Any]
    sha256: str
    path: Path


def load_model(path: Path) -> LoadedModel:
    """A model file written by ``save_model``; anything else is refused with one clear line."""
    generator, facts, sha256 = lab_models.load(
        path, FORMAT, "GAN", lambda config: Generator(GanConfig.from_dict(config))
    )
    return LoadedModel(generator, facts, sha256, path)


def generate(
    generator: Generator, seed: int, *, truncation: float = 1.0, size: int | None = None
) -> np.ndarray:
    """One face (H, W, 3) uint8 for one seed: latent and noise both come from that seed, so a
    face can be reproduced alone. ``size`` resizes (Lanczos) for detectors that need more pixels."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(1, generator.config.z_dim, generator=rng)
    with torch.no_grad():
        image: np.ndarray = to_uint8(generator(z, truncation=truncation, generator=rng))[0]
    if size is not None and size != image.shape[0]:
        from PIL import Image

        resized = Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS)
        image = np.asarray(resized)
    return image


def save_grid(generator: Generator, z: torch.Tensor, path: Path, columns: int = 4) -> None:
    from PIL import Image

    with torch.no_grad():
        images = to_uint8(generator(z, truncation=1.0, generator=torch.Generator().manual_seed(0)))
    n, h, w, _ = images.shape
    rows = -(-n // columns)
    canvas = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = image
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG", optimize=True)
    lab_models.write_atomic(path, buffer.getvalue())
