"""The inputs and the two-stream network of ``lipsync.syncnet``.

Everything runs on a fixed 25 fps grid whatever the file's frame rate (constant, variable, 24, 30
or 60 fps): frames are sampled onto the grid, so a 5-frame stack always spans 0.2 s and one offset
step is always 40 ms. Inputs per grid frame ``t``:

* **mouth**: a grey 48×96 crop of the mouth cut from the face pipeline's 68 landmarks through the
  same similarity alignment as ``faces.aligned_crop`` (eyes level, mouth centred), alignment points
  smoothed over ±2 frames so that landmark jitter does not move the crop; five consecutive crops
  (t … t+4) are stacked as channels, as in SyncNet;
* **audio**: 64-band log-mel at 100 Hz (``audio.cnn``'s front end, per-band normalised over the
  clip); the 20 mel frames of the same 0.2 s.

Each stream maps its input to a 64-d unit vector; the distance between the two is small when the
mouth and the voice belong together at that alignment. Training pushes it through a learnt
``sigmoid(scale · (margin − distance))`` with BCE (see ``training/syncnet.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from core.media import VideoFrame
from modalities.audio import cnn_net
from modalities.lipsync import signals
from modalities.visual import faces

FPS = 25.0
STACK = 5  # frames per visual input: 0.2 s
MOUTH_H, MOUTH_W = 48, 96
MEL_PER_FRAME = 4  # 100 Hz mel frames per 25 fps video frame
MEL_STACK = STACK * MEL_PER_FRAME
ALIGN_SIZE = 192  # the aligned-face frame the mouth is cut from (mouth centre at 0.70 · 192)
EMBED = 64
MIN_TRACK_FRAMES = 25  # a track shorter than one second carries no usable sync
DETECT_EVERY = 3  # full face detection on every 3rd frame tracked, landmarks re-fitted in between
# ... run without up-sampling while every face is at least this large (faces.FaceTracker)
COARSE_SIDE = 80


@dataclass
class MouthTrack:
    """One face track on the grid: mouth crops (uint8, zero where unseen) and where it was seen."""

    track_id: int
    crops: np.ndarray  # (T, MOUTH_H, MOUTH_W) uint8
    seen: np.ndarray  # (T,) bool
    opening: np.ndarray  # (T,) inner-lip gap / mouth width from the landmarks, NaN where unseen

    def stack_ok(self) -> np.ndarray:
        """(T - STACK + 1,) bool: the stack starting at t has all five frames seen."""
        if len(self.seen) < STACK:
            return np.zeros(0, bool)
        windows = np.lib.stride_tricks.sliding_window_view(self.seen, STACK)
        return np.asarray(windows.all(axis=1))


@dataclass
class ClipFeatures:
    """What the network needs from one clip: mouth tracks, log-mel, and voiced grid frames."""

    name: str
    frames: int  # grid length T
    tracks: list[MouthTrack]
    mel: np.ndarray  # (N_MELS, >= 4T) float32
    voiced: np.ndarray  # (T,) bool
    flags: tuple[str, ...] = ()


def _mouth_matrix(points: np.ndarray) -> np.ndarray:
    """Frame → 48×96 mouth crop: the aligned-face similarity, then a shift to the mouth box."""
    dst = faces.TEMPLATE * ALIGN_SIZE
    matrix = faces.similarity_transform(points, dst)
    matrix[0, 2] -= ALIGN_SIZE / 2 - MOUTH_W / 2
    matrix[1, 2] -= faces.TEMPLATE[2, 1] * ALIGN_SIZE - MOUTH_H / 2
    return matrix


def _smoothed_points(track_faces: list[faces.Face]) -> list[np.ndarray]:
    """Alignment points averaged over ±2 faces of the track (±80 ms on the grid)."""
    points = np.stack([faces.alignment_points(f.landmarks) for f in track_faces])
    out = []
    for i in range(len(points)):
        out.append(points[max(0, i - 2) : i + 3].mean(axis=0))
    return out


def mouth_tracks(
    frames: Iterable[VideoFrame], n_frames: int
) -> tuple[list[MouthTrack], tuple[str, ...]]:
    """Track faces over the grid frames, then cut each track's mouth crops.

    Grey copies of the frames (at most 640 px a side, at most ``MAX_SECONDS`` of them in the
    detector) are held until the crops are cut, because the crop of a frame depends on its
    neighbours' landmarks (smoothing).
    """
    held: dict[int, np.ndarray] = {}

    def keep(source: Iterable[VideoFrame]) -> Iterable[VideoFrame]:
        for frame in source:
            held[frame.index] = grey_frame(frame)
            yield frame

    tracker = face_tracker()
    for frame in keep(frames):
        tracker.feed(frame)
    scan = tracker.scan()
    return place_mouths(cut_mouths(scan, held), n_frames), tuple(scan.flags)


def face_tracker(detect_side: int = 0) -> faces.FaceTracker:
    """How lip-sync tracks faces, in training and in both detectors: HOG every
    ``DETECT_EVERY``-th frame, without up-sampling while the faces are ``COARSE_SIDE`` px or
    larger (a talking head's usually are; such a detection costs about a quarter), landmarks
    re-fitted in between. Tracking then takes 0.55-0.63 of the time it took at full scale
    (bench/lipsync_tracking_cost.py). ``detect_side`` (0: ``faces.DETECT_MAX_SIDE``): faces
    sought on copies that large, upright only (a video's second look, tracking.py)."""
    if detect_side:
        return faces.FaceTracker(
            try_rotations=False,
            detect_every=DETECT_EVERY,
            coarse_side=COARSE_SIDE,
            detect_side=detect_side,
        )
    return faces.FaceTracker(try_rotations=True, detect_every=DETECT_EVERY, coarse_side=COARSE_SIDE)


def grey_frame(frame: VideoFrame) -> np.ndarray:
    return np.asarray(cv2.cvtColor(faces.as_rgb(frame.rgb), cv2.COLOR_RGB2GRAY))


@dataclass
class MouthCuts:
    """One track's mouth crops where its face was seen, before they go onto a grid of a given
    length (``place_mouths``): grid slot, crop and mouth opening per face."""

    track_id: int
    slots: list[int]
    crops: list[np.ndarray]
    openings: list[float]


def cut_mouths(
    scan: faces.FaceScan, held: dict[int, np.ndarray], origin_s: float = 0.0
) -> list[MouthCuts]:
    """Mouth crops of every track's faces on the grey frames ``held`` (by frame index), for tracks
    with at least ``MIN_TRACK_FRAMES`` such faces; grid slots count from ``origin_s`` (where a
    passage of a long video starts).

    The scan may have seen more frames than are held (``tracking.FacePass`` tracks every native
    frame of a source above 25 fps and holds the grid frames only): the faces on other frames are
    left out before anything is counted or smoothed, so the one-second minimum counts grid faces
    and the alignment points are smoothed over ±2 grid faces, as on a scan of the grid alone.
    """
    out = []
    for track in scan.tracks:
        on_grid = [face for face in track.faces if face.frame_index in held]
        if len(on_grid) < MIN_TRACK_FRAMES:
            continue
        cuts = MouthCuts(track.track_id, [], [], [])
        for face, points in zip(on_grid, _smoothed_points(on_grid), strict=True):
            cuts.slots.append(round((face.time_s - origin_s) * FPS))
            cuts.crops.append(
                cv2.warpAffine(
                    held[face.frame_index],
                    _mouth_matrix(points),
                    (MOUTH_W, MOUTH_H),
                    flags=cv2.INTER_AREA,
                    borderMode=cv2.BORDER_REFLECT,
                )
            )
            cuts.openings.append(signals.mouth_opening(face.landmarks))
        out.append(cuts)
    return out


def place_mouths(cuts: list[MouthCuts], n_frames: int) -> list[MouthTrack]:
    """The cut mouths on a grid of ``n_frames`` frames (faces beyond it dropped), with one- or
    two-frame gaps bridged."""
    tracks = []
    for cut in cuts:
        crops = np.zeros((n_frames, MOUTH_H, MOUTH_W), np.uint8)
        seen = np.zeros(n_frames, bool)
        opening = np.full(n_frames, np.nan)
        for slot, crop, value in zip(cut.slots, cut.crops, cut.openings, strict=True):
            if 0 <= slot < n_frames:
                crops[slot], seen[slot], opening[slot] = crop, True, value
        _fill_short_gaps(crops, seen)
        tracks.append(MouthTrack(cut.track_id, crops, seen, signals.fill_gaps(opening)))
    return tracks


def _fill_short_gaps(crops: np.ndarray, seen: np.ndarray, max_gap: int = 2) -> None:
    """A frame or two missed inside a track (a dropped or VFR-skipped frame) takes its neighbour."""
    idx = np.flatnonzero(seen)
    for a, b in itertools.pairwise(idx):
        if 1 < b - a <= max_gap + 1:
            for k in range(a + 1, b):
                crops[k] = crops[a] if k - a <= b - k else crops[b]
                seen[k] = True


def audio_features(
    wave: np.ndarray, n_frames: int, dtype: type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel covering the grid (padded to 4·T + STACK·4 frames), computed in ``dtype`` (the
    detector's double, training's single precision), and the voiced grid frames."""
    mel = cnn_net.log_mel(wave, dtype)
    need = MEL_PER_FRAME * (n_frames + STACK)
    if mel.shape[1] < need:
        mel = np.pad(mel, ((0, 0), (0, need - mel.shape[1])), mode="constant")
    grid = np.arange(n_frames) / FPS
    voiced = signals.speech_track(wave, grid, FPS).voiced
    return mel.astype(dtype, copy=False), voiced


def clip_features(
    name: str, frames: Iterable[VideoFrame], wave: np.ndarray, duration_s: float
) -> ClipFeatures:
    n_frames = int(np.floor(duration_s * FPS)) + 1
    tracks, flags = mouth_tracks(frames, n_frames)
    mel, voiced = audio_features(wave, n_frames)
    return ClipFeatures(name, n_frames, tracks, mel, voiced, flags)


def visual_input(crops: np.ndarray, start: int, dtype: Any = np.float32) -> np.ndarray:
    """(STACK, H, W) in ``dtype``, standardised per stack (lighting and contrast removed)."""
    x: np.ndarray = crops[start : start + STACK].astype(dtype)
    return np.asarray((x - x.mean()) / (x.std() + 1e-3), dtype=dtype)


def audio_input(mel: np.ndarray, start: int) -> np.ndarray:
    """(N_MELS, MEL_STACK) float32 for the stack starting at grid frame ``start``."""
    a = MEL_PER_FRAME * start
    return mel[:, a : a + MEL_STACK]


def build_network(width: int = 16) -> Any:
    """The two streams and the learnt distance-to-logit map (a torch.nn.Module)."""
    import torch
    from torch import nn

    def block(cin: int, cout: int, pool: tuple[int, int] | None) -> list[nn.Module]:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
        return layers + ([nn.MaxPool2d(pool)] if pool else [])

    w = width

    class SyncNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = nn.Sequential(
                *block(STACK, w, (2, 2)), *block(w, 2 * w, (2, 2)),
                *block(2 * w, 4 * w, (2, 2)), *block(4 * w, 4 * w, None),
                nn.AdaptiveAvgPool2d((3, 6)), nn.Flatten(), nn.Linear(4 * w * 18, EMBED),
            )  # fmt: skip
            self.audio = nn.Sequential(
                *block(1, w, (2, 1)), *block(w, 2 * w, (2, 2)),
                *block(2 * w, 4 * w, (2, 2)), *block(4 * w, 4 * w, None),
                nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(4 * w * 4, EMBED),
            )  # fmt: skip
            self.scale = nn.Parameter(torch.tensor(5.0))
            self.margin = nn.Parameter(torch.tensor(1.0))

        def embed_visual(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.normalize(self.visual(x), dim=1)

        def embed_audio(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.normalize(self.audio(x.unsqueeze(1)), dim=1)

        def logit(self, distance: torch.Tensor) -> torch.Tensor:
            return self.scale * (self.margin - distance)

        def forward(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
            distance = (self.embed_visual(v) - self.embed_audio(a)).norm(dim=1)
            return self.logit(distance)

    return SyncNet()


def embed_clip(
    network: Any, clip: ClipFeatures, batch: int = 64
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per track: visual embeddings (T', EMBED) with NaN rows where the stack is not seen; and the
    audio embeddings (T', EMBED) for every grid frame, T' = T - STACK + 1; all in the network's
    own precision (the detector's double, training's single)."""
    import torch

    double = next(network.parameters()).dtype == torch.float64
    dtype = np.dtype(np.float64 if double else np.float32)
    positions = max(0, clip.frames - STACK + 1)
    network.eval()
    with torch.inference_mode():
        windows = [audio_input(clip.mel, t) for t in range(positions)]
        audio = np.stack(windows).astype(dtype, copy=False)
        a_emb = _batched(network.embed_audio, audio, batch, dtype)
        visual = []
        for track in clip.tracks:
            ok = track.stack_ok()[:positions]
            v = np.full((positions, EMBED), np.nan, dtype)
            idx = np.flatnonzero(ok)
            if len(idx):
                x = np.stack([visual_input(track.crops, int(t), dtype) for t in idx])
                v[idx] = _batched(network.embed_visual, x, batch, dtype)
            visual.append(v)
    return visual, a_emb


def _batched(fn: Any, x: np.ndarray, batch: int, dtype: np.dtype[Any]) -> np.ndarray:
    import torch

    if len(x) == 0:
        return np.zeros((0, EMBED), dtype)
    out = [fn(torch.from_numpy(x[s : s + batch])).numpy() for s in range(0, len(x), batch)]
    return np.concatenate(out).astype(dtype, copy=False)
