"""Measurements along one face track: eye aspect ratio and blinks, landmark jitter, identity drift.

Pure functions over landmark arrays and descriptors, so the detector (temporal.py) and its recipe
(training/temporal.py, which measures the natural range of each cue on real video) compute them
the same way.

- Eye aspect ratio (Soukupová & Čech, CVWW 2016): eye height over width from 6 landmarks; a blink
  is a run of frames below 70 % of the track's median EAR. Early face swaps blinked too rarely
  (Li, Chang & Lyu, "In Ictu Oculi", WIFS 2018).
- Landmark jitter: after removing head motion (similarity transform from the previous frame), how
  far the landmarks still move, in inter-ocular distances per frame. Frame-by-frame synthesis
  that lacks temporal coherence shakes more than a real face.
- Identity drift: distance of each face's dlib 128-d descriptor from the track's median
  descriptor; a swap can let the target's identity leak through in some frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from modalities.visual.geometry import similarity_transform, transform_points

BLINK_FRACTION = 0.7  # below this share of the track's median EAR, the eye counts as closed
# Spontaneous blinking of adults (Bentivoglio et al., Movement Disorders 1997): ~17/min at rest,
# ~26/min in conversation, ~4.5/min reading; a blink lasts ~100-400 ms.
NATURAL_BLINK_RATE = (2.0, 40.0)  # per minute, generous bounds around the published means
NATURAL_BLINK_DURATION = (0.05, 0.5)  # seconds
STABLE = list(range(17, 68))  # brows, nose, eyes, mouth: the jaw line is too noisy to judge


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """Mean EAR of both eyes of one 68-point face."""

    def one(eye: np.ndarray) -> float:
        width = float(np.linalg.norm(eye[0] - eye[3]))
        height = float(np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4]))
        return height / (2.0 * width) if width > 0 else 0.0

    return 0.5 * (one(landmarks[36:42]) + one(landmarks[42:48]))


@dataclass(frozen=True)
class Blink:
    start_s: float
    duration_s: float


def blinks(ear: np.ndarray, times: np.ndarray) -> list[Blink]:
    """Runs of closed-eye frames; a run's duration spans its frames plus one sampling step."""
    if len(ear) < 3:
        return []
    closed = ear < BLINK_FRACTION * float(np.median(ear))
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    out, start = [], None
    for i, shut in enumerate(closed):
        if shut and start is None:
            start = i
        if start is not None and (not shut or i == len(closed) - 1):
            end = i if not shut else i + 1
            out.append(Blink(float(times[start]), float(times[end - 1] - times[start]) + step))
            start = None
    return out


def inter_ocular(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[36:42].mean(axis=0) - landmarks[42:48].mean(axis=0)))


def landmark_jitter(track_landmarks: np.ndarray) -> np.ndarray:
    """Per consecutive pair of frames: residual landmark motion after head motion, in IODs."""
    out = []
    for prev, cur in pairwise(track_landmarks):
        matrix = similarity_transform(
            cur[STABLE].astype(np.float64), prev[STABLE].astype(np.float64)
        )
        moved = transform_points(cur[STABLE], matrix)
        residual = float(np.linalg.norm(moved - prev[STABLE], axis=1).mean())
        out.append(residual / max(inter_ocular(prev), 1.0))
    return np.asarray(out, dtype=np.float64)


def identity_drift(descriptors: np.ndarray) -> np.ndarray:
    """Distance of each descriptor from the track's element-wise median descriptor."""
    if len(descriptors) == 0:
        return np.zeros(0)
    centre = np.median(descriptors, axis=0)
    return np.asarray(np.linalg.norm(descriptors - centre, axis=1), dtype=np.float64)


def windows(times: np.ndarray, length_s: float) -> list[np.ndarray]:
    """Indices of ``times`` in consecutive windows of ``length_s`` seconds (non-empty ones)."""
    if len(times) == 0:
        return []
    edges = np.floor((times - times[0]) / length_s).astype(int)
    return [np.flatnonzero(edges == k) for k in np.unique(edges)]
