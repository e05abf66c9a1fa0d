"""Spectral features of an image's up-sampling residual, for ``visual.spectrum`` and its recipe.

Why a residual: the spectrum of the picture itself is dominated by its content (edges, texture,
blur), so a head trained on it learnt content more than up-sampling, and on a learnt
image-to-image family it never saw it ranked fakes below reals (AUC 0.47, docs/benchmarks.md,
"Up-sampling residual"). Up-sampling ties each pixel to its neighbours; the luminance minus its
nearest-neighbour down- and up-sampled copy by 2 (neighbouring pixel relationships, NPR: Tan et
al., CVPR 2024) removes the content and keeps those ties. On the same held-out tests its spectrum
reached 0.985 there and did better on held-out photo sources.

Per 128×128 tile (up to five: centre and corners): the windowed log power spectrum. Averaged over
tiles, three groups of numbers: the azimuthally averaged profile (64 radii, mean removed so that
brightness and contrast do not matter), the peak strength at the grid frequencies an up-sampling by
2 or 4 leaves (log power against its local median), and the slope of the high-frequency decay.

Why double precision throughout, and the luminance as a sum of products rather than a matrix
product: in single precision the luminance went through the BLAS library's vector code, which
differs in the last bits from one CPU to the next, and the residual (differences of a few grey
levels between pixels near 200) kept those bits as relative errors of 1e-5: forced to another
CPU's kernels (bench/cpu_reproducibility.py, docs/benchmarks.md) a JPEG's score moved by 1.7e-5,
beyond what `verity reproduce` accepts. In double precision it moved by 1.1e-14 at most.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

TILE = 128
N_FEATURES = 64 + 4 + 1
_Y = (0.299, 0.587, 0.114)

_yy, _xx = np.mgrid[-TILE // 2 : TILE // 2, -TILE // 2 : TILE // 2]
_RADIUS = np.sqrt(_yy**2 + _xx**2).astype(int)
_WINDOW = np.outer(np.hanning(TILE), np.hanning(TILE))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma in double precision, each product and sum rounded once, on every CPU."""
    if rgb.ndim == 2:
        return rgb.astype(np.float64)
    channels = rgb[..., :3].astype(np.float64)
    return np.asarray(
        channels[..., 0] * _Y[0] + channels[..., 1] * _Y[1] + channels[..., 2] * _Y[2]
    )


def tile_corners(h: int, w: int, limit: int = 5) -> list[tuple[int, int]]:
    """Top-left corners of the (up to five) tiles of an h×w plane: centre, then the corners."""
    if min(h, w) < TILE:
        return []
    cy, cx = (h - TILE) // 2, (w - TILE) // 2
    corners = [(cy, cx), (0, 0), (0, w - TILE), (h - TILE, 0), (h - TILE, w - TILE)]
    return list(dict.fromkeys(corners))[:limit]


def tiles(gray: np.ndarray, limit: int = 5) -> list[np.ndarray]:
    h, w = gray.shape
    return [gray[y : y + TILE, x : x + TILE] for y, x in tile_corners(h, w, limit)]


def log_spectrum(tile: np.ndarray) -> np.ndarray:
    centred = (tile - tile.mean()) * _WINDOW
    power = np.abs(np.fft.fftshift(np.fft.fft2(centred))) ** 2
    return np.asarray(np.log(power + 1e-6))


def _grid_positions(factor: int) -> list[tuple[int, int]]:
    step = TILE // factor
    centre = TILE // 2
    out = []
    for i in range(factor):
        for j in range(factor):
            if i == 0 and j == 0:
                continue
            out.append(((centre + i * step) % TILE, (centre + j * step) % TILE))
    return out


_GRID2, _GRID4 = _grid_positions(2), _grid_positions(4)


def npr_residual(gray: np.ndarray) -> np.ndarray:
    """The luminance minus its nearest-neighbour down- and up-sampled copy by 2 (even size)."""
    h, w = (gray.shape[0] // 2) * 2, (gray.shape[1] // 2) * 2
    even = gray[:h, :w]
    coarse = np.repeat(np.repeat(even[::2, ::2], 2, axis=0), 2, axis=1)
    return np.asarray(even - coarse, dtype=np.float64)


def residual_tiles(rgb: np.ndarray) -> list[np.ndarray]:
    """``tiles(npr_residual(luminance(rgb)))``, bit for bit, computed on the tiles' own pixels.

    Only five 128-px tiles are ever used, and the residual of a whole 8192×8192 picture in
    double precision took over 3 GB. Each tile is cut from a region widened to even rows and
    columns, so its 2×2 blocks are the whole picture's and every value is the same.
    """
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    out = []
    for y, x in tile_corners(h, w):
        y0, x0 = y - y % 2, x - x % 2
        y1, x1 = y + TILE + (y + TILE) % 2, x + TILE + (x + TILE) % 2
        region = npr_residual(luminance(rgb[y0:y1, x0:x1]))
        out.append(region[y - y0 : y - y0 + TILE, x - x0 : x - x0 + TILE])
    return out


def features(rgb: np.ndarray) -> np.ndarray | None:
    """The 69 features of an image's NPR residual, or None when it is smaller than one tile."""
    return tile_features(residual_tiles(rgb))


def spectral_features(gray: np.ndarray) -> np.ndarray | None:
    """The 69 features of one grey plane (benches give it the picture itself), or None when it
    is smaller than one tile."""
    return tile_features(tiles(gray))


def tile_features(parts: list[np.ndarray]) -> np.ndarray | None:
    """The 69 features of up to five tiles of one plane, or None when there is none."""
    if not parts:
        return None
    spectrum = np.mean([log_spectrum(t) for t in parts], axis=0)
    counts = np.bincount(_RADIUS.ravel(), minlength=TILE)
    profile = np.bincount(_RADIUS.ravel(), spectrum.ravel(), minlength=TILE) / np.maximum(counts, 1)
    profile = profile[1 : TILE // 2 + 1]
    profile = profile - profile.mean()
    residual = spectrum - ndimage.median_filter(spectrum, size=5)
    peaks = []
    for grid in (_GRID2, _GRID4):
        values = np.array([residual[y, x] for y, x in grid])
        peaks += [float(values.mean()), float(values.max())]
    radii = np.arange(16, TILE // 2 + 1)
    slope = np.polyfit(np.log(radii), profile[15 : TILE // 2], 1)[0]
    return np.concatenate([profile, peaks, [slope]]).astype(np.float64)
