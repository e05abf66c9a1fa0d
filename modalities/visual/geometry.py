"""Plane geometry the face pipeline and its users share: similarity fits and box overlap.

Pure NumPy on point arrays and boxes, with no notion of a face, so that alignment (faces),
landmark stabilisation (temporal cues, syncnet's mouth crops) and the lab's re-mouthing all fit
and apply transforms the same way.
"""

from __future__ import annotations

import numpy as np


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2×3 matrix of the rotation + uniform scale + shift taking ``src`` onto ``dst`` (Umeyama)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    cov = d_c.T @ s_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rot = u @ d @ vt
    var = (s_c**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ d) / var) if var > 0 else 1.0
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``points`` (N×2) moved by the 2×3 affine ``matrix``, as float32."""
    return np.asarray(points @ matrix[:, :2].T + matrix[:, 2], dtype=np.float32)


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes; 0 when both are empty."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
