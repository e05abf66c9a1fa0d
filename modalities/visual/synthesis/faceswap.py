"""The lab's autoencoder face swap: train on two people's faces, swap them in video or photos.

Why the lab makes its own swaps: visual.blend learns seams from self-blended pseudo-fakes; a real
generator leaves other traces (a decoder's blur and texture, colour drift, jitter between frames).
A swap the lab makes itself, from its own data, tells how much a detector misses them and is
training data for the next one, with no downloaded fakes and no hub weights.

Pipeline (the Deepfakes / DeepFaceLab recipe at a CPU-sized scale):

1. ``extract``: every picture and sampled video frame of a folder goes through the face pipeline
   (modalities/visual/faces.py); the largest reliable face becomes an aligned crop (64-128 px) with
   its landmarks and a face mask (landmark hull, forehead included).
2. ``train``: the shared encoder sees each face randomly warped (a smooth random grid plus a small
   rotation/scale/shift); each identity's decoder must draw it back un-warped. Loss L1 (weighted to
   the face) + (1 - SSIM) / 2. Bounded by ``steps`` and/or a wall-clock budget; deterministic for
   a seed when bounded by steps (one thread).
3. ``swap_frame``: detect (or follow) the face, align, encode, decode with the other identity's
   decoder, move the colours into the original face's (Reinhard transfer in Lab inside the mask),
   and paste back through a feathered landmark-hull mask: pixels outside the mask never change.

Video in and out is in modalities/visual/synthesis/faceswap_io.py.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from core.errors import BadInputError, display_name
from core.training import read_picture
from modalities.visual import faces
from modalities.visual.synthesis import faceswap_net

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm"}
VIDEO_SUFFIXES = {".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm"}
ZOOM = 1.0  # faces.TEMPLATE as is: eyes at 40 % height, some forehead and jaw in view
VIDEO_FPS = 10.0  # frames per second taken from training videos
MAX_VIDEO_FRAMES = 120
MAX_DESCRIPTORS = 24
SAME_PERSON = 0.6  # dlib descriptor distance below which two faces show the same person
DEFAULTS: dict[str, Any] = {"batch": 16, "lr": 3e-4, "width": 16, "latent": 128}
Report = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FaceSet:
    """Aligned crops (N×S×S×3 uint8), their landmarks (N×68×2, crop pixels) and the sources."""

    crops: np.ndarray
    landmarks: np.ndarray
    sources: dict[str, str]  # relative path -> sha256 of the file
    descriptor: np.ndarray  # mean dlib identity descriptor (128-d): who this set shows

    def fingerprint(self) -> str:
        """One hash of every source file's hash: which faces trained a model."""
        joined = "\n".join(f"{k}\t{v}" for k, v in sorted(self.sources.items()))
        return hashlib.sha256(joined.encode()).hexdigest()


def _media_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise BadInputError(f"{display_name(folder)}: not a directory")
    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def largest_face(rgb: np.ndarray) -> faces.Face | None:
    """The largest reliable face, looked for again at 2× when none is found (small frames)."""
    for upsample in (0, 1) if max(rgb.shape[:2]) >= 250 else (1,):
        found = [f for f in faces.detect_faces(rgb, upsample=upsample) if not f.tiny]
        if found:
            return max(found, key=lambda f: f.side)
    return None


def _frames_of(path: Path, fps: float, max_frames: int) -> list[np.ndarray]:
    from core import media

    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [read_picture(path)]
    try:
        return [f.rgb for f in media.iter_frames(path, fps=fps, max_frames=max_frames)]
    except Exception as exc:
        raise BadInputError(f"{display_name(path)}: not a readable video ({exc})") from None


def extract(
    folder: Path,
    size: int,
    *,
    fps: float = VIDEO_FPS,
    max_frames: int = MAX_VIDEO_FRAMES,
    report: Report | None = None,
) -> FaceSet:
    """Aligned face crops of one identity from a folder of pictures and/or videos."""
    files = _media_files(folder)
    if not files:
        raise BadInputError(f"{display_name(folder)}: no pictures or videos")
    crops: list[np.ndarray] = []
    marks: list[np.ndarray] = []
    described: list[np.ndarray] = []
    sources: dict[str, str] = {}
    for i, path in enumerate(files):
        for k, rgb in enumerate(_frames_of(path, fps, max_frames)):
            face = largest_face(rgb)
            if face is None:
                continue
            if k % 10 == 0 and len(described) < MAX_DESCRIPTORS:  # ~0.1 s each: a sample
                described.append(faces.face_descriptor(rgb, face))
            matrix = faces.crop_transform(face, size, ZOOM)
            crops.append(cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_AREA,
                                        borderMode=cv2.BORDER_REFLECT))  # fmt: skip
            marks.append(faces.transform_points(face.landmarks, matrix))
            sources[path.relative_to(folder).as_posix()] = ""
        if report:
            report(f"faces of {folder.name}", i + 1, len(files))
    if len(crops) < 2:
        raise BadInputError(
            f"{display_name(folder)}: {len(crops)} usable face(s) found; a swap needs at least 2"
        )
    for relative in sources:
        sources[relative] = _sha(folder / relative)
    return FaceSet(
        np.stack(crops), np.stack(marks).astype(np.float32), sources, np.mean(described, axis=0)
    )


# --------------------------------------------------------------------------- masks and warps


def hull_points(landmarks: np.ndarray) -> np.ndarray:
    """Jaw line and the eyebrows raised a little towards the forehead: the region a swap pastes."""
    brows = landmarks[17:27].copy()
    lift = 0.3 * float(np.linalg.norm(landmarks[30] - landmarks[27]))
    brows[:, 1] -= lift
    return np.concatenate([landmarks[0:17], brows[::-1]])


def face_mask(landmarks: np.ndarray, shape: tuple[int, int], feather: float = 0.0) -> np.ndarray:
    """H×W float mask in [0, 1] of the landmark hull; ``feather`` > 0 erodes and blurs its edge
    (a fraction of the face width) so that the paste fades in inside the hull, never outside."""
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(hull_points(landmarks).astype(np.int32)), 1.0)
    if feather > 0:
        width = float(np.ptp(landmarks[0:17, 0]))
        k = max(1, int(width * feather))
        soft = cv2.GaussianBlur(cv2.erode(mask, np.ones((k, k), np.uint8)), (0, 0), max(0.5, k / 2))
        return np.asarray(np.clip(soft, 0, 1) * mask, np.float32)  # never leaks outside the hull
    return mask


def random_affine(size: int, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(-10, 10)
    scale = rng.uniform(0.95, 1.05)
    matrix = np.asarray(cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale), np.float64)
    matrix[:, 2] += rng.uniform(-0.05, 0.05, size=2) * size
    return matrix


def random_warp(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """FakeApp's warp: a 5×5 grid of control points moved at random, interpolated smoothly."""
    size = image.shape[0]
    coarse = np.linspace(0, size - 1, 5)
    grid_x = np.broadcast_to(coarse, (5, 5)).astype(np.float32)
    grid_y = grid_x.T.copy()
    grid_x = grid_x + rng.normal(0, size * 0.025, (5, 5)).astype(np.float32)
    grid_y = grid_y + rng.normal(0, size * 0.025, (5, 5)).astype(np.float32)
    map_x = cv2.resize(grid_x, (size, size), interpolation=cv2.INTER_CUBIC)
    map_y = cv2.resize(grid_y, (size, size), interpolation=cv2.INTER_CUBIC)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def training_batch(
    faceset: FaceSet, batch: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(warped inputs, un-warped targets, loss weights): same affine on both, warp on inputs."""
    size = faceset.crops.shape[1]
    inputs, targets, weights = [], [], []
    for j in rng.integers(len(faceset.crops), size=batch):
        crop, marks = faceset.crops[j], faceset.landmarks[j]
        if rng.random() < 0.5:
            crop = np.ascontiguousarray(crop[:, ::-1])
            marks = marks.copy()
            marks[:, 0] = size - 1 - marks[:, 0]
            marks = marks[_MIRROR]
        matrix = random_affine(size, rng)
        target = cv2.warpAffine(crop, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
        inputs.append(random_warp(target, rng))
        targets.append(target)
        weights.append(0.2 + face_mask(faces.transform_points(marks, matrix), (size, size)))
    return np.stack(inputs), np.stack(targets), np.stack(weights)


# the 68-point scheme mirrored left-right (jaw, brows, nose, eyes, mouth)
_MIRROR = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + list(range(27, 31)) + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
)  # fmt: skip


# --------------------------------------------------------------------------- training


def fit(
    model: faceswap_net.SwapNet,
    sets: dict[str, FaceSet],
    *,
    steps: int | None,
    minutes: float | None,
    seed: int,
    config: dict[str, Any],
    report: Report,
) -> list[float]:
    """Train in place until ``steps`` or ``minutes`` run out (whichever first); the losses."""
    if not steps and not minutes:
        raise BadInputError("give --steps, --minutes or both")
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=float(config["lr"]), betas=(0.5, 0.999))
    deadline = time.monotonic() + minutes * 60 if minutes else None
    losses: list[float] = []
    model.train()
    step = 0
    while (steps is None or step < steps) and (deadline is None or time.monotonic() < deadline):
        total = torch.zeros(())
        for identity in ("a", "b"):
            warped, target, weight = training_batch(sets[identity], int(config["batch"]), rng)
            out = model(faceswap_net.to_tensor(warped), identity)
            w = torch.from_numpy(weight)[:, None]
            total = total + faceswap_net.reconstruction_loss(out, faceswap_net.to_tensor(target), w)
        opt.zero_grad()
        total.backward()  # type: ignore[no-untyped-call]
        opt.step()
        step += 1
        losses.append(float(total.detach()))
        if deadline is not None and steps is None:
            left = max(0.0, deadline - time.monotonic())
            report(f"training (loss {losses[-1]:.3f}, {left / 60:.1f} min left)", step, 0)
        else:
            report(f"training (loss {losses[-1]:.3f})", step, steps or 0)
    return losses


def train(
    folder_a: Path,
    folder_b: Path,
    out: Path,
    *,
    size: int = 64,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    threads: int = 1,
    fps: float = VIDEO_FPS,
    config: dict[str, Any] | None = None,
    progress: Report | None = None,
) -> dict[str, Any]:
    """Extract both identities' faces, train the swap model, save it (with its sources' hashes)
    atomically at ``out``; returns a summary (steps, losses, wall time)."""
    report = progress or (lambda step, done, total: None)
    cfg = {**DEFAULTS, **(config or {})}
    if size not in faceswap_net.SIZES:
        raise BadInputError(f"--size must be one of {', '.join(map(str, faceswap_net.SIZES))}")
    if not steps and not minutes:
        raise BadInputError("give --steps, --minutes or both")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    started = time.monotonic()
    sets = {key: extract(folder, size, fps=fps, report=report)
            for key, folder in (("a", folder_a), ("b", folder_b))}  # fmt: skip
    model = faceswap_net.SwapNet(size, int(cfg["width"]), int(cfg["latent"]))
    losses = fit(model, sets, steps=steps, minutes=minutes, seed=seed, config=cfg, report=report)
    wall = time.monotonic() - started
    head = float(np.mean(losses[: max(1, len(losses) // 20)]))
    tail = float(np.mean(losses[-max(1, len(losses) // 20) :]))
    config_out = {
        "identities": {
            key: {"folder": folder.resolve().name, "faces": len(sets[key].crops),
                  "files": len(sets[key].sources), "sources_sha256": sets[key].fingerprint(),
                  "descriptor": [round(float(v), 5) for v in sets[key].descriptor],
                  "source_files": sets[key].sources}
            for key, folder in (("a", folder_a), ("b", folder_b))
        },
        "zoom": ZOOM, "video_fps": fps, "seed": seed, "steps": len(losses), "threads": threads,
        "train": {k: cfg[k] for k in ("batch", "lr")},
        "loss": {"first": round(head, 4), "last": round(tail, 4)},
        "wall_s": round(wall, 1),
        "module": "modalities.visual.synthesis.faceswap",
    }  # fmt: skip
    faceswap_net.save(model, out, config_out)
    return config_out


# --------------------------------------------------------------------------- swapping


def colour_transfer(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` with the mean and spread of ``target``'s colours inside ``mask`` (Reinhard et
    al. 2001, in Lab): the decoded face takes on the frame's lighting and skin tone."""
    inside = mask > 0.5
    if inside.sum() < 16:
        return source
    src = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    s_mean, s_std = src[inside].mean(axis=0), src[inside].std(axis=0) + 1e-3
    d_mean, d_std = dst[inside].mean(axis=0), dst[inside].std(axis=0) + 1e-3
    moved = (src - s_mean) * np.clip(d_std / s_std, 0.5, 2.0) + d_mean
    return np.asarray(cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB))


def identity_of(rgb: np.ndarray, config: dict[str, Any]) -> str | None:
    """ "a" or "b" when the largest face in ``rgb`` is one of the model's two people, else None."""
    face = largest_face(rgb)
    if face is None:
        return None
    vector = faces.face_descriptor(rgb, face)
    distances = {
        key: float(np.linalg.norm(vector - np.asarray(value["descriptor"], np.float32)))
        for key, value in config["identities"].items()
    }
    best = min(distances, key=lambda k: distances[k])
    return best if distances[best] < SAME_PERSON else None


class Swapper:
    """Swaps the largest face of each frame into the other identity (``direction`` a2b or b2a).

    In a video the face is detected every ``detect_every`` frames and followed in between
    (landmarks re-fitted, then smoothed over time so the paste does not jitter)."""

    def __init__(self, model: faceswap_net.SwapNet, direction: str, detect_every: int = 5,
                 smoothing: float = 0.5, sharpen: float = 0.0) -> None:  # fmt: skip
        if direction not in ("a2b", "b2a"):
            raise BadInputError(f"--direction must be a2b or b2a, got {direction!r}")
        self.model, self.target = model.eval(), direction[-1]
        self.detect_every, self.smoothing = detect_every, smoothing
        if not 0 <= sharpen <= 20:
            raise BadInputError(f"--sharpen must be between 0 and 20, got {sharpen}")
        self.sharpen = sharpen
        self.previous: faces.Face | None = None
        self.landmarks: np.ndarray | None = None
        self.count = 0

    def _find(self, rgb: np.ndarray) -> faces.Face | None:
        self.count += 1
        face = None
        if self.previous is not None and (self.count - 1) % self.detect_every:
            face = faces.refit_face(rgb, self.previous, self.count, 0.0)
        if face is None or face.side < faces.MIN_RELIABLE_SIDE:
            face = largest_face(rgb)
        self.previous = face
        if face is None:
            self.landmarks = None
            return None
        if self.landmarks is not None and self.smoothing:
            moved = float(np.linalg.norm(face.landmarks - self.landmarks, axis=1).mean())
            if moved < 0.1 * face.eye_distance:  # small moves smoothed, big ones followed at once
                smoothed = self.smoothing * self.landmarks + (1 - self.smoothing) * face.landmarks
                face = faces.Face(face.box, smoothed.astype(np.float32), face.score)
        self.landmarks = face.landmarks
        return face

    @torch.inference_mode()
    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(frame with the face swapped, the blending mask in frame pixels); the frame unchanged
        and None when no reliable face is found."""
        rgb = faces.as_rgb(rgb)
        face = self._find(rgb)
        if face is None:
            return rgb, None
        size = self.model.size
        matrix = faces.crop_transform(face.landmarks, size, ZOOM)
        crop = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REFLECT)  # fmt: skip
        decoded = faceswap_net.to_images(
            self.model(faceswap_net.to_tensor(crop[None]), self.target)
        )[0]
        crop_marks = faces.transform_points(face.landmarks, matrix)
        decoded = colour_transfer(decoded, crop, face_mask(crop_marks, (size, size)))
        return paste(rgb, decoded, matrix, face.landmarks, self.sharpen)


def paste(
    rgb: np.ndarray,
    crop: np.ndarray,
    matrix: np.ndarray,
    landmarks: np.ndarray,
    sharpen: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``crop`` (aligned by ``matrix``) pasted into ``rgb`` through the feathered hull of
    ``landmarks``: outside the hull every pixel keeps its exact original value.

    ``sharpen`` > 0: an unsharp mask of that amount on the up-scaled face (radius: one crop pixel
    in frame pixels), the converter sharpening of FaceSwap/DeepFaceLab. A 64-px decoder's face is
    blurrier than the frame around it, the cue a seam detector learns; sharpening hides it."""
    height, width = rgb.shape[:2]
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    back = cv2.warpAffine(
        crop, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_REPLICATE
    )
    face = back.astype(np.float32)
    if sharpen > 0:
        scale = 1.0 / np.sqrt(abs(np.linalg.det(matrix[:, :2])))
        face = face + sharpen * (face - cv2.GaussianBlur(face, (0, 0), max(0.5, scale)))
    mask = face_mask(landmarks, (height, width), feather=0.08)
    m = mask[..., None]
    mixed = np.clip(face * m + rgb.astype(np.float32) * (1 - m) + 0.5, 0, 255)
    out = np.where(m > 0, mixed.astype(np.uint8), rgb)
    return np.ascontiguousarray(out), mask
