"""Self-blended pseudo-fakes (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022): a real face pasted onto itself after a slight transformation.

Source and target are the same aligned face crop. The source gets a colour, sharpness or
frequency change and a small shift/scale; a mask made from the landmarks' convex hull (stretched
up to the forehead, deformed elastically, blurred, scaled by a random opacity) blends it into the
target. What is left is what every face swap leaves and nothing else: a boundary where two
slightly different pictures of the face meet. The blending boundary ``4·M·(1-M)`` (Face X-ray, Li et
al., CVPR 2020) is returned as well; the detector learns to draw it as its heatmap.

Grayscale faces stay grayscale after the colour change, so colour alone never tells a pseudo-fake
from its real face (a cue real fakes rarely show). Real and fake both then pass through the same
random JPEG / resize / blur, so compression is no cue either.
"""

from __future__ import annotations

import cv2
import numpy as np

Rng = np.random.Generator


def _hull_points(landmarks: np.ndarray, rng: Rng) -> np.ndarray:
    """Jaw line plus the eyebrows lifted towards the hairline: the swapped region of most fakes."""
    jaw = landmarks[0:17]
    brows = landmarks[17:27].copy()
    nose_len = float(np.linalg.norm(landmarks[30] - landmarks[27]))
    lift = rng.uniform(0.0, 0.9) * nose_len
    centre_x = landmarks[27, 0]
    brows[:, 1] -= lift * (1.0 - 0.3 * np.abs(brows[:, 0] - centre_x) / (nose_len * 2 + 1e-6))
    kind = rng.integers(3)
    if kind == 0:  # inner face only (eyes, nose, mouth): like a tight swap
        return np.concatenate([landmarks[17:27], landmarks[48:60], landmarks[1:16:3]])
    return np.concatenate([jaw, brows[::-1]])


def blend_mask(landmarks: np.ndarray, size: int, rng: Rng) -> np.ndarray:
    """A soft mask in [0, 1] (peak 1), size×size: hull, elastic warp, erosion/dilation, blur."""
    mask: np.ndarray = np.zeros((size, size), np.float32)
    hull = cv2.convexHull(_hull_points(landmarks, rng).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0)
    # elastic deformation: a smooth random displacement field
    alpha, sigma = rng.uniform(0.02, 0.08) * size, rng.uniform(0.06, 0.12) * size
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), sigma)
    norm = max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)
    mask = cv2.remap(mask, grid_x + dx / norm * alpha, grid_y + dy / norm * alpha, cv2.INTER_LINEAR)
    k = int(rng.integers(1, max(2, size // 16)))
    kernel = np.ones((k, k), np.uint8)
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    blur = rng.uniform(0.01, 0.06) * size
    mask = cv2.GaussianBlur(mask, (0, 0), blur)
    peak = float(mask.max())
    if peak > 0:
        mask = np.clip(mask / peak, 0, 1)
    return mask.astype(np.float32)


def _colour_jitter(img: np.ndarray, rng: Rng) -> np.ndarray:
    out = img.astype(np.float32)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.85, 1.15), 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out = (out - 128) * rng.uniform(0.85, 1.15) + 128 + rng.uniform(-12, 12)
    out += rng.uniform(-6, 6, size=3)  # per-channel shift
    return np.clip(out, 0, 255).astype(np.uint8)


def _frequency_change(img: np.ndarray, rng: Rng) -> np.ndarray:
    """Sharpen, blur or down-up-sample: the texture mismatch of a generated face."""
    choice = rng.integers(3)
    if choice == 0:
        blurred = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.5))
        amount = rng.uniform(0.3, 1.0)
        return cv2.addWeighted(img, 1 + amount, blurred, -amount, 0)
    if choice == 1:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.2))
    h, w = img.shape[:2]
    f = rng.uniform(0.5, 0.85)
    small = cv2.resize(img, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _shift_scale(img: np.ndarray, rng: Rng) -> np.ndarray:
    h, w = img.shape[:2]
    scale = rng.uniform(0.95, 1.05)
    tx, ty = rng.uniform(-0.03, 0.03, size=2) * np.array([w, h])
    matrix = np.array([[scale, 0, (1 - scale) * w / 2 + tx], [0, scale, (1 - scale) * h / 2 + ty]])
    return cv2.warpAffine(img, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def self_blend(face: np.ndarray, landmarks: np.ndarray, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """(pseudo-fake, blending boundary) from one aligned crop and its landmarks (crop pixels)."""
    grey = bool(
        np.array_equal(face[..., 0], face[..., 1]) and np.array_equal(face[..., 1], face[..., 2])
    )
    source = face.copy()
    if rng.random() < 0.7:
        source = _colour_jitter(source, rng)
    if rng.random() < 0.6:
        source = _frequency_change(source, rng)
    source = _shift_scale(source, rng)
    if grey:
        source = np.repeat(cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    mask = blend_mask(landmarks, face.shape[0], rng)
    opacity = 1.0 if rng.random() < 0.5 else rng.uniform(0.5, 1.0)
    m = mask[..., None] * opacity
    fake = np.clip(source.astype(np.float32) * m + face.astype(np.float32) * (1 - m), 0, 255)
    return fake.astype(np.uint8), (4.0 * mask * (1.0 - mask)).astype(np.float32)


def degrade(img: np.ndarray, rng: Rng) -> np.ndarray:
    """The same post-processing for real and fake: JPEG, resize, blur, noise (each at random)."""
    out = img
    h, w = out.shape[:2]
    if rng.random() < 0.3:
        f = rng.uniform(0.5, 0.9)
        small = cv2.resize(out, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.15:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 0.9))
    if rng.random() < 0.6:
        quality = int(rng.integers(40, 96))
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            if decoded is not None:
                out = decoded[..., ::-1]
    if rng.random() < 0.15:
        out = np.clip(out + rng.normal(0, rng.uniform(1, 4), out.shape), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)
