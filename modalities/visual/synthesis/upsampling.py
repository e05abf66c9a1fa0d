"""Generator-style up-sampling applied to real photos: the pseudo-fakes of ``visual.spectrum``.

Image generators build pictures by repeatedly up-sampling feature maps (nearest or bilinear
interpolation, or transposed convolutions), which leaves periodic peaks and a changed fall-off in
the image spectrum (Durall et al., CVPR 2020; Frank et al., ICML 2020). These functions imitate
that last step on real photos: shrink by 2 or 4, then up-sample back with one of several methods,
including zero-insertion followed by a random kernel, which behaves like an untrained transposed
convolution and produces the checkerboard pattern. Real and pseudo-fake images then get the same
random JPEG recompression, so the file's compression cannot stand in for the evidence.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

METHODS = ("nearest", "bilinear", "bicubic", "transposed")


def _as_float(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32)


def upsample_like_a_generator(
    img: np.ndarray, rng: np.random.Generator, method: str | None = None
) -> np.ndarray:
    """Shrink by 2 or 4 and up-sample back to the same size; returns uint8 of img's shape."""
    method = method or str(rng.choice(METHODS))
    factor = int(rng.choice([2, 2, 4]))
    h, w = img.shape[:2]
    h2, w2 = max(8, h // factor), max(8, w // factor)
    pil = Image.fromarray(img)
    small = pil.resize((w2, h2), Image.Resampling.BOX)
    if method in {"nearest", "bilinear", "bicubic"}:
        resample = {
            "nearest": Image.Resampling.NEAREST,
            "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC,
        }[method]
        out = _as_float(np.asarray(small.resize((w2 * factor, h2 * factor), resample)))
    elif method == "transposed":
        out = _transposed(_as_float(np.asarray(small)), factor, rng)
    else:
        raise ValueError(f"unknown up-sampling method {method!r}")
    if rng.random() < 0.5:  # generators often end with a light smoothing layer
        sigma = float(rng.uniform(0.3, 0.8))
        axes = (sigma, sigma, 0) if out.ndim == 3 else (sigma, sigma)
        out = ndimage.gaussian_filter(out, axes)
    canvas = np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32).copy()
    hh, ww = min(h, out.shape[0]), min(w, out.shape[1])
    canvas[:hh, :ww] = out[:hh, :ww]
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _transposed(small: np.ndarray, factor: int, rng: np.random.Generator) -> np.ndarray:
    """Zero insertion then a random positive kernel: an untrained transposed convolution."""
    h, w = small.shape[:2]
    shape = (h * factor, w * factor, *small.shape[2:])
    up = np.zeros(shape, np.float32)
    up[::factor, ::factor] = small
    size = 2 * factor
    kernel = rng.uniform(0.2, 1.0, (size, size)).astype(np.float32)
    # each output phase must sum to one or brightness would oscillate; it only almost does
    kernel *= factor * factor / kernel.sum()
    if up.ndim == 3:
        return np.stack(
            [ndimage.convolve(up[..., c], kernel, mode="reflect") for c in range(up.shape[2])],
            axis=-1,
        )
    return np.asarray(ndimage.convolve(up, kernel, mode="reflect"))


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert(Image.fromarray(img).mode))


def channel_augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What happens to any image on its way to an analyst: maybe a JPEG recompression."""
    if rng.random() < 0.5:
        return jpeg_roundtrip(img, int(rng.integers(70, 96)))
    return img
