"""One way from per-face scores to a verdict, for pictures and videos alike.

Per frame, each face has a score; along a track the score is the mean of its highest half (a
swap that fails in some frames is still caught, a single odd frame is not enough); the clip's
score is the highest track score among the tracks seen long enough to matter, since one
manipulated face makes the whole clip manipulated. A picture is a clip of one frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def top_k_mean(values: Sequence[float] | np.ndarray, fraction: float = 0.5) -> float:
    """Mean of the ``fraction`` highest values (at least one)."""
    arr = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    if arr.size == 0:
        raise ValueError("no scores to aggregate")
    k = max(1, math.ceil(fraction * arr.size))
    return float(arr[:k].mean())


def clip_score(track_scores: Sequence[float], track_lengths: Sequence[int]) -> tuple[float, int]:
    """(score, index of the deciding track): highest score among tracks at least half as long as
    the longest (fleeting detections such as a face in a poster or a false positive are ignored
    unless nothing else was seen)."""
    if not track_scores:
        raise ValueError("no tracks to aggregate")
    longest = max(track_lengths)
    eligible = [i for i, n in enumerate(track_lengths) if 2 * n >= longest]
    best = max(eligible, key=lambda i: track_scores[i])
    return float(track_scores[best]), best
