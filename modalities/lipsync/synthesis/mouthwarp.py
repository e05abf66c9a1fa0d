"""Lab lip-sync fakes, a second family: the clip's own mouth warped open and shut by another voice.

``remouth`` (Video Rewrite) pastes real lower faces retrieved from the clip; every mouth it shows
is a real frame's. Warping is the other classic family (the mouth-warping stage of puppetry and
reenactment systems, Face2Face and the audio-driven landmark methods after it): the frame stays,
its mouth is moved. A detector measured on one family and not the other may have learnt the family,
so the lab makes both. At a CPU's scale, no model:

1. The mouth opening of each frame (``signals.mouth_opening``: inner-lip gap over mouth width).
2. A target opening for each frame of the new soundtrack: its 300–3000 Hz loudness
   (``signals.speech_track``) mapped by quantiles onto the openings the clip itself shows (louder
   is wider, within this face's own range), smoothed over three frames.
3. The lower lip and the jaw are moved along the face's vertical axis by the difference, and the
   picture is warped piecewise-affinely over a triangulation of the 68 landmarks and fixed points
   below the jaw; a mouth opened wider than in the frame gets a dark interior.

What it cannot do: teeth and tongue (an opened mouth shows stretched lips and shadow), lip
rounding and other shapes than opening, or a convincing profile face. Outputs go through
``remouth.encode`` so that reals from ``remouth.transcode`` match them in codec.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import Delaunay, QhullError

from modalities.lipsync import signals
from modalities.lipsync.synthesis import remouth

VERSION = "mouth-warp-1"
MAX_SECONDS = remouth.MAX_SECONDS
# share of the lip gap change each point follows: the lower lip fully, the chin most, the jaw
# towards the ears and the mouth corners less (the upper lip and everything above stay)
FOLLOW = {i: 1.0 for i in (56, 57, 58, 65, 66, 67)}
FOLLOW |= {55: 0.8, 59: 0.8, 60: 0.3, 64: 0.3, 48: 0.2, 54: 0.2}
FOLLOW |= {5: 0.3, 6: 0.55, 7: 0.75, 8: 0.85, 9: 0.75, 10: 0.55, 11: 0.3}
ANCHORS = range(2, 15)  # jaw points whose fixed twins below the face bound the warp
BELOW = 0.45  # the twins lie this many face heights below the jaw
INNER_LIPS = list(range(60, 68))


def target_openings(clip_openings: np.ndarray, sound: np.ndarray, n: int, fps: float) -> np.ndarray:
    """Mouth opening per frame for ``sound``: its loudness ranked and read off the quantiles of
    the openings the clip shows, smoothed over three frames."""
    loudness = signals.speech_track(sound, np.arange(n) / fps, fps).envelope
    ranks = np.argsort(np.argsort(loudness, kind="stable"), kind="stable")
    quantiles = ranks / max(1, n - 1)
    wanted = np.quantile(clip_openings, quantiles)
    padded = np.pad(wanted, 1, mode="edge")
    return np.asarray(0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:])


def moved_points(points: np.ndarray, opening_change: float) -> np.ndarray:
    """``points`` (68) with the lower lip and jaw moved so that the inner-lip gap grows by
    ``opening_change`` mouth widths, along the eyes-to-mouth axis."""
    eyes = points[36:48].mean(axis=0)
    mouth = points[48:68].mean(axis=0)
    axis = (mouth - eyes) / max(1e-6, float(np.linalg.norm(mouth - eyes)))
    shift = opening_change * float(np.linalg.norm(points[54] - points[48]))
    out = points.copy()
    for index, share in FOLLOW.items():
        out[index] = points[index] + share * shift * axis
    return out


def _anchors(points: np.ndarray) -> np.ndarray:
    """Fixed points below the jaw: the warp stays between them and the unmoved landmarks."""
    eyes = points[36:48].mean(axis=0)
    height = float(np.linalg.norm(points[8] - eyes))
    axis = (points[8] - eyes) / max(1e-6, height)
    return np.array([points[i] + BELOW * height * axis for i in ANCHORS])


def warp_frame(frame: np.ndarray, points: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """``frame`` warped so that landmarks ``points`` land on ``target`` (piecewise affine over
    the triangles that move), the mouth interior darkened where it opened wider; None when the
    landmarks are too degenerate to triangulate (the frame is then kept as it is)."""
    fixed = _anchors(points)
    src = np.vstack([points, fixed]).astype(np.float64)
    dst = np.vstack([target, fixed]).astype(np.float64)
    height, width = frame.shape[:2]
    out = frame.copy()
    moving = np.linalg.norm(dst - src, axis=1) > 1e-3
    try:
        triangles = Delaunay(src).simplices
    except QhullError:
        return None
    for tri in triangles:
        if not moving[tri].any():
            continue
        s, d = src[tri].astype(np.float32), dst[tri].astype(np.float32)
        x0, y0 = np.floor(np.minimum(s.min(0), d.min(0))).astype(int)
        x1, y1 = np.ceil(np.maximum(s.max(0), d.max(0))).astype(int) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        matrix = cv2.getAffineTransform(s, d)
        matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0]) - np.array([x0, y0])
        patch = cv2.warpAffine(
            frame[y0:y1, x0:x1], matrix, (x1 - x0, y1 - y0), borderMode=cv2.BORDER_REFLECT
        )
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(d - [x0, y0]).astype(np.int32), 1)
        region = out[y0:y1, x0:x1]
        region[mask > 0] = patch[mask > 0]
    gap_before = signals.mouth_opening(points)
    gap_after = signals.mouth_opening(target)
    if gap_after > gap_before + 1e-3:
        _darken_mouth(out, target[INNER_LIPS], 0.85 * (1 - gap_before / gap_after))
    return out


def _darken_mouth(frame: np.ndarray, inner_lips: np.ndarray, strength: float) -> None:
    """Shade the inner-lip polygon towards a dark mouth interior, in place, feathered."""
    mask = np.zeros(frame.shape[:2], np.float32)
    cv2.fillPoly(mask, [np.round(inner_lips).astype(np.int32)], 1.0)
    mask = cv2.GaussianBlur(mask, (5, 5), 0)[..., None] * strength
    shaded = frame.astype(np.float32) * 0.25
    frame[:] = np.clip(frame * (1 - mask) + shaded * mask, 0, 255).astype(np.uint8)


def mouthwarp(
    target: Path,
    driving: Path,
    *,
    max_s: float = MAX_SECONDS,
    progress: Callable[[int, int], None] | None = None,
) -> remouth.RemouthResult:
    """``target``'s first ``max_s`` seconds with its mouth warped to ``driving``'s soundtrack."""
    clip = remouth.read_clip(target, max_s)
    return mouthwarp_clip(clip, remouth.read_sound(driving, max_s), progress=progress)


def mouthwarp_clip(
    clip: remouth.Clip,
    sound: np.ndarray,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> remouth.RemouthResult:
    """``clip`` mouthing ``sound`` (16 kHz mono), as long as the shorter of the two; frames
    without a face keep their pixels. ``jumps`` is 0 (nothing is retrieved)."""
    remouth.faced_frames(clip, "warping the mouth")
    n_out, spoken = remouth.span(clip, sound)
    openings = np.array([signals.mouth_opening(p) for p in clip.landmarks if p is not None])
    wanted = target_openings(openings, spoken, n_out, clip.fps)

    def warp(k: int, points: np.ndarray) -> np.ndarray | None:
        change = float(wanted[k]) - signals.mouth_opening(points)
        return warp_frame(clip.frames[k], points, moved_points(points, change))

    return remouth.rewrite_faces(clip, n_out, spoken, warp, jumps=0, progress=progress)
