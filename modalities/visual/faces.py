"""The face pipeline every visual (and lip-sync) detector shares: find, landmark, track, align.

dlib finds faces (HOG by default: fast on CPU; the CNN "mmod" detector on request: slower, better
on profile and small faces), its 68-point shape predictor places the landmarks, consecutive frames
are linked into tracks by box overlap and landmark distance, and each face is cut out as an aligned
crop by a similarity transform (eyes and mouth to fixed positions), so a model always sees a face
at the same place and scale whatever the frame looked like.

Input that holds no usable face is a result, not an error: grayscale or RGBA frames are converted,
faces below ``MIN_RELIABLE_SIDE`` pixels are kept but flagged ``tiny``, rotated pictures are tried
at 90/180/270 degrees when asked, and an empty list means "no face found".

Model files come from the ``face-recognition-models`` wheel (located on disk; importing it fails).
The 68-point predictor was trained on iBUG 300-W, whose licence excludes commercial use: every
model card that depends on this module says so.

>>> import numpy as np
>>> from skimage import data
>>> faces = detect_faces(data.astronaut())
>>> len(faces), faces[0].landmarks.shape
(1, (68, 2))
>>> aligned_crop(data.astronaut(), faces[0], size=128).shape
(128, 128, 3)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from core.errors import DetectorError
from core.media import VideoFrame
from modalities.visual.geometry import box_iou

# re-exported: alignment's users fit transforms the same way; the detectors take the frame
# sampling from the face pipeline
from modalities.visual.geometry import similarity_transform as similarity_transform
from modalities.visual.geometry import transform_points as transform_points
from modalities.visual.sampling import SamplingPolicy as SamplingPolicy
from modalities.visual.sampling import sample_frames as sample_frames

DetectorKind = Literal["hog", "cnn"]
LANDMARK_MODEL = "shape_predictor_68_face_landmarks.dat"
CNN_MODEL = "mmod_human_face_detector.dat"
DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_LICENCE = (
    "dlib 68-point landmark model (iBUG 300-W training data): non-commercial use only upstream"
)
MIN_RELIABLE_SIDE = 64  # faces smaller than this (box side, pixels) carry too little detail
# Pictures narrower than this hold no face dlib can find (its HOG window is 80 px, 40 px after one
# up-sampling); they are answered "no face" without calling dlib, which refuses 1-pixel arrays.
MIN_PICTURE_SIDE = 16
DETECT_MAX_SIDE = 640  # detection runs on a copy no larger than this; landmarks on the original
ROTATIONS = (0, 90, 270, 180)
ROTATION_PROBE_FRAMES = 3  # a video's rotation is searched on its first frames only
FULL_EVERY = 10  # with FaceTracker.coarse_side, every 10th detection still runs at full scale

# Where the aligned crop puts the eye centres and the mouth centre (fractions of the side). The
# margin keeps forehead, jaw and some background in view: blending boundaries lie there.
TEMPLATE = np.array([[0.355, 0.40], [0.645, 0.40], [0.50, 0.70]], dtype=np.float64)


@dataclass(frozen=True)
class Face:
    """One face in one frame: box (left, top, right, bottom), 68 landmarks (x, y), in frame pixels.

    ``rotation`` is the rotation (degrees, counter-clockwise) under which it was found; the box and
    landmarks are always given in the coordinates of the frame as it was passed in.
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray = field(repr=False)
    score: float = 0.0
    frame_index: int = 0
    time_s: float = 0.0
    rotation: int = 0

    @property
    def side(self) -> int:
        return int(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    @property
    def tiny(self) -> bool:
        return self.side < MIN_RELIABLE_SIDE

    @property
    def eye_distance(self) -> float:
        left, right = _eye_centres(self.landmarks)
        return float(np.linalg.norm(right - left))


@dataclass
class Track:
    """One face followed through sampled frames; ``faces`` are in time order."""

    track_id: int
    faces: list[Face] = field(default_factory=list)

    @property
    def start_s(self) -> float:
        return self.faces[0].time_s

    @property
    def end_s(self) -> float:
        return self.faces[-1].time_s


# --------------------------------------------------------------------------- models


def models_dir() -> Path:
    """The dlib model files shipped in the face-recognition-models wheel."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorError("face-recognition-models is not installed; it holds the dlib models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _model_file(name: str) -> str:
    path = models_dir() / name
    if not path.is_file():
        raise DetectorError(f"dlib model file {path} is missing")
    return str(path)


@lru_cache(maxsize=2)
def _detector(kind: DetectorKind) -> Any:
    import dlib

    if kind == "cnn":
        return dlib.cnn_face_detection_model_v1(_model_file(CNN_MODEL))
    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=1)
def _predictor() -> Any:
    import dlib

    return dlib.shape_predictor(_model_file(LANDMARK_MODEL))


@lru_cache(maxsize=1)
def _recogniser() -> Any:
    import dlib

    return dlib.face_recognition_model_v1(_model_file(DESCRIPTOR_MODEL))


def face_descriptor(image: np.ndarray, face: Face) -> np.ndarray:
    """dlib's 128-d identity descriptor of ``face`` (same person: distance below ~0.6)."""
    import dlib

    x0, y0, x1, y1 = face.box
    points = dlib.points([dlib.point(int(x), int(y)) for x, y in face.landmarks])
    shape = dlib.full_object_detection(dlib.rectangle(x0, y0, x1, y1), points)
    vector = _recogniser().compute_face_descriptor(as_rgb(image), shape)
    return np.asarray(vector, dtype=np.float32)


# --------------------------------------------------------------------------- detection


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Any picture (H×W grey, H×W×1, RGB, RGBA; any integer or float dtype) as H×W×3 uint8."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise DetectorError(f"expected an image array H×W, H×W×3 or H×W×4, got {img.shape}")
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating) and float(np.nanmax(img, initial=0.0)) <= 1.0:
            img = img * 255.0
        img = np.clip(np.nan_to_num(img), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def is_grayscale(image: np.ndarray) -> bool:
    rgb = as_rgb(image)
    return bool(
        np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    )


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(image, k=rotation // 90)) if rotation else image


def _unrotate_points(points: np.ndarray, rotation: int, shape: tuple[int, int]) -> np.ndarray:
    """Map (x, y) points found in the image rotated by ``rotation`` back to the original."""
    h, w = shape
    x, y = points[:, 0], points[:, 1]
    if rotation == 90:  # np.rot90 k=1: original (x, y) -> (y, w-1-x)
        return np.stack([w - 1 - y, x], axis=1)
    if rotation == 180:
        return np.stack([w - 1 - x, h - 1 - y], axis=1)
    if rotation == 270:
        return np.stack([y, h - 1 - x], axis=1)
    return points


def _detect_upright(
    grey: np.ndarray, kind: DetectorKind, upsample: int, detect_side: int = DETECT_MAX_SIDE
) -> list[tuple[tuple[int, int, int, int], float]]:
    import dlib

    h, w = grey.shape
    scale = min(1.0, detect_side / max(h, w))
    small = grey if scale == 1.0 else cv2.resize(grey, (round(w * scale), round(h * scale)))
    if kind == "cnn":
        found = [(d.rect, float(d.confidence)) for d in _detector("cnn")(small, upsample)]
    else:
        rects, scores, _ = _detector("hog").run(small, upsample, 0.0)
        found = list(zip(rects, (float(s) for s in scores), strict=True))
    out = []
    for rect, score in found:
        box = (rect.left(), rect.top(), rect.right(), rect.bottom())
        box = tuple(round(v / scale) for v in box)
        out.append((dlib.rectangle(*box), score))
    return [((r.left(), r.top(), r.right(), r.bottom()), s) for r, s in out]


def detect_faces(
    image: np.ndarray,
    *,
    detector: DetectorKind = "hog",
    upsample: int = 1,
    rotations: Iterable[int] = (0,),
    frame_index: int = 0,
    time_s: float = 0.0,
    pad_retry: bool = True,
    detect_side: int = DETECT_MAX_SIDE,
) -> list[Face]:
    """Every face in ``image`` with its 68 landmarks, largest first; [] when there is none.

    ``rotations`` lists the rotations to try in order (e.g. ``ROTATIONS``); the first one that
    finds a face wins. ``upsample`` doubles the picture that many times before HOG/CNN detection,
    which finds faces down to ~40 px at 1 (at a 4× cost per step). When nothing is found and
    ``pad_retry``, the picture is tried once more inside a 30 % border: HOG misses faces cropped
    so tightly that they touch the edges (face-crop datasets, profile thumbnails). Detection
    runs on a copy at most ``detect_side`` pixels large (so faces under ~40 px of that copy are
    missed); landmarks are placed on ``image`` itself.
    """
    import dlib

    rgb = as_rgb(image)
    if min(rgb.shape[:2]) < MIN_PICTURE_SIDE:
        return []
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for rotation in rotations:
        if rotation not in ROTATIONS:
            raise DetectorError(f"rotation must be one of {ROTATIONS}, got {rotation}")
        turned = _rotate(grey, rotation)
        found = _detect_upright(turned, detector, upsample, detect_side)
        if not found:
            continue
        faces = []
        for (left, top, right, bottom), score in found:
            shape = _predictor()(turned, dlib.rectangle(left, top, right, bottom))
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
            corners = np.array([[left, top], [right, bottom]], dtype=np.float32)
            pts = _unrotate_points(pts, rotation, grey.shape).astype(np.float32)
            corners = _unrotate_points(corners, rotation, grey.shape)
            x0, y0 = corners.min(axis=0)
            x1, y1 = corners.max(axis=0)
            faces.append(
                Face(
                    box=(int(x0), int(y0), int(x1), int(y1)),
                    landmarks=pts,
                    score=score,
                    frame_index=frame_index,
                    time_s=time_s,
                    rotation=rotation,
                )
            )
        return sorted(faces, key=lambda f: -f.side)
    if pad_retry:
        pad = int(0.3 * max(rgb.shape[:2]))
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found_padded = detect_faces(
            padded,
            detector=detector,
            upsample=upsample,
            rotations=rotations,
            frame_index=frame_index,
            time_s=time_s,
            pad_retry=False,
            detect_side=detect_side,
        )
        return [_shifted(face, -pad) for face in found_padded]
    return []


def _shifted(face: Face, by: int) -> Face:
    x0, y0, x1, y1 = face.box
    return replace(
        face, box=(x0 + by, y0 + by, x1 + by, y1 + by), landmarks=face.landmarks + np.float32(by)
    )


# --------------------------------------------------------------------------- alignment


def _eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the eye in the image's left half (subject's right eye) and of the other."""
    return landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)


def alignment_points(landmarks: np.ndarray) -> np.ndarray:
    left, right = _eye_centres(landmarks)
    mouth = landmarks[48:68].mean(axis=0)
    return np.stack([left, right, mouth]).astype(np.float64)


def crop_transform(face: Face | np.ndarray, size: int, zoom: float = 1.0) -> np.ndarray:
    """The 2×3 matrix mapping frame pixels to the aligned crop of side ``size``.

    ``zoom`` < 1 shows more context around the face, > 1 less.
    """
    landmarks = face.landmarks if isinstance(face, Face) else face
    dst = (TEMPLATE - 0.5) * zoom + 0.5
    return similarity_transform(alignment_points(landmarks), dst * size)


def aligned_crop(
    image: np.ndarray, face: Face | np.ndarray, size: int = 128, zoom: float = 1.0
) -> np.ndarray:
    """The face cut out and rotated upright: size×size×3 uint8, eyes level, mouth below."""
    matrix = crop_transform(face, size, zoom)
    return cv2.warpAffine(
        as_rgb(image), matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
    )


# --------------------------------------------------------------------------- tracking


def _link_cost(last: Face, face: Face) -> float | None:
    """How badly ``face`` continues a track ending in ``last``; None when it cannot.

    Box overlap first; otherwise the mean landmark distance in inter-ocular distances (IOD) may
    link them: up to 0.5 IOD between close frames, more when samples lie further apart in time
    (a head moves about 2 IOD a second at most in talking-head video), never beyond 3 IOD, and
    only between faces of similar size. Greedy cheapest-first matching keeps two people apart.
    """
    iou = box_iou(last.box, face.box)
    if iou >= 0.3:
        return 1.0 - iou
    scale = max(last.eye_distance, 1.0)
    ratio = face.eye_distance / scale
    if not 0.67 <= ratio <= 1.5:
        return None
    shift = float(np.linalg.norm(last.landmarks - face.landmarks, axis=1).mean()) / scale
    allowed = min(3.0, 0.5 + 2.0 * abs(face.time_s - last.time_s))
    return 1.0 + shift if shift < allowed else None


def link_tracks(frames_faces: Iterable[list[Face]], *, max_gap: int = 2) -> list[Track]:
    """Greedy frame-to-frame linking of faces into tracks (cheapest link first).

    A track survives ``max_gap`` sampled frames without a face (a blink of the detector) before
    it is closed; a face that continues no open track starts a new one.
    """
    tracks: list[Track] = []
    open_: list[tuple[Track, int]] = []  # (track, frames since last seen)
    for faces in frames_faces:
        pairs = []
        for ti, (track, _) in enumerate(open_):
            for fi, face in enumerate(faces):
                cost = _link_cost(track.faces[-1], face)
                if cost is not None:
                    pairs.append((cost, ti, fi))
        used_t: set[int] = set()
        used_f: set[int] = set()
        for _, ti, fi in sorted(pairs):
            if ti in used_t or fi in used_f:
                continue
            open_[ti][0].faces.append(faces[fi])
            used_t.add(ti)
            used_f.add(fi)
        next_open = [
            (track, 0 if ti in used_t else missed + 1)
            for ti, (track, missed) in enumerate(open_)
            if ti in used_t or missed + 1 <= max_gap
        ]
        for fi, face in enumerate(faces):
            if fi not in used_f:
                track = Track(track_id=len(tracks), faces=[face])
                tracks.append(track)
                next_open.append((track, 0))
        open_ = next_open
    return tracks


@dataclass
class FaceScan:
    """What scanning a picture or a video's sampled frames found, with the facts a report needs."""

    tracks: list[Track]
    frames_scanned: int
    frames_with_face: int
    rotation: int = 0
    grayscale: bool = False
    tiny_faces: int = 0
    crops: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)
    descriptors: dict[tuple[int, tuple[int, int, int, int]], np.ndarray] = field(
        default_factory=dict, repr=False
    )

    def descriptor(self, face: Face) -> np.ndarray | None:
        """The 128-d identity descriptor of ``face`` if it was computed (``describe_every``)."""
        return self.descriptors.get((face.frame_index, face.box))

    @property
    def flags(self) -> list[str]:
        out = []
        if not self.tracks:
            out.append("no_face")
        if sum(any(not f.tiny for f in t.faces) for t in self.tracks) > 1:
            out.append("several_faces")  # tiny stray detections (badges, posters) do not count
        if self.tiny_faces:
            out.append("tiny_faces")
        if self.grayscale:
            out.append("grayscale")
        if self.rotation:
            out.append(f"rotated_{self.rotation}")
        return out


def track_faces(
    frames: Iterable[VideoFrame],
    *,
    detector: DetectorKind = "hog",
    upsample: int = 1,
    try_rotations: bool = True,
    crop_size: int | None = None,
    crop_zoom: float = 1.0,
    describe_every: int = 0,
    detect_every: int = 1,
    pad_retry: bool = False,
    detect_side: int = DETECT_MAX_SIDE,
) -> FaceScan:
    """Detect, landmark and track faces over ``frames``; optionally keep aligned crops.

    The rotation is settled on the first frames: until a face is found, each of the first
    ``ROTATION_PROBE_FRAMES`` frames is also tried at 90/180/270 degrees (if ``try_rotations``);
    the rotation that finds one is used for every later frame, and a video with no face costs one
    detection per frame after that. With ``detect_every`` > 1 the detector runs on every n-th
    frame only; in between, the landmarks of the faces already found are re-fitted in their
    previous boxes (the shape predictor costs ~2 ms, HOG tens). Crops (key: track id, position in
    track) are cut when ``crop_size``; identity descriptors of reliable faces are computed on
    every ``describe_every``-th frame with a face (0: never; ~0.1 s each on a CPU).
    ``pad_retry`` and ``detect_side`` are passed to ``detect_faces``.
    """
    tracker = FaceTracker(
        detector, upsample, try_rotations, crop_size, crop_zoom, describe_every, detect_every,
        pad_retry, detect_side=detect_side,
    )  # fmt: skip
    for frame in frames:
        tracker.feed(frame)
    return tracker.scan()


@dataclass
class FaceTracker:
    """:func:`track_faces` one frame at a time, for callers that share one pass over a video.

    Tracking is causal (rotation, detect/re-fit cadence and track linking depend only on the
    frames already fed), so ``scan()`` after the first n frames is exactly what ``track_faces``
    over those n frames returns, and feeding may go on afterwards: the lip-sync detectors take
    the scan of a passage's first 20 s and of all of it from one pass (modalities/lipsync/tracking).

    ``coarse_side`` (0: off) is for long videos of large faces, where HOG at the full up-sampling
    is most of the cost: while every face on the last frame is at least that many pixels, the
    detection runs one up-sampling coarser (a quarter of the pixels), and falls back to the full
    scale on the same frame when it finds fewer faces than the last frame held. Every
    ``full_every``-th detection runs at full scale anyway, so a small face coming in is found as
    before, at most ``full_every`` detections later. The boxes found coarser differ by a few
    pixels, and the landmarks re-fitted in them by about 1 % of the eye distance.
    """

    detector: DetectorKind = "hog"
    upsample: int = 1
    try_rotations: bool = True
    crop_size: int | None = None
    crop_zoom: float = 1.0
    describe_every: int = 0
    detect_every: int = 1
    pad_retry: bool = False
    detect_side: int = DETECT_MAX_SIDE
    coarse_side: int = 0
    full_every: int = FULL_EVERY
    rotation: int | None = field(default=None, init=False)
    per_frame: list[list[Face]] = field(default_factory=list, init=False)
    pictures: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    descriptors: dict[tuple[int, tuple[int, int, int, int]], np.ndarray] = field(
        default_factory=dict, init=False, repr=False
    )
    previous: list[Face] = field(default_factory=list, init=False)
    scanned: int = field(default=0, init=False)
    detections: int = field(default=0, init=False)
    coarse: int = field(default=0, init=False)
    with_face: int = field(default=0, init=False)
    tiny: int = field(default=0, init=False)
    grey: bool = field(default=True, init=False)

    def feed(self, frame: VideoFrame) -> None:
        self.scanned += 1
        self.grey = self.grey and is_grayscale(frame.rgb)
        if self.previous and self.rotation == 0 and (self.scanned - 1) % self.detect_every:
            faces = [refit_face(frame.rgb, f, frame.index, frame.time_s) for f in self.previous]
        else:
            probing = self.rotation is None and self.try_rotations
            probing = probing and self.scanned <= ROTATION_PROBE_FRAMES
            tries = (self.rotation or 0,) if not probing else ROTATIONS
            faces = []
            if self._coarse_now():
                faces = self._detect(frame, tries, self.upsample - 1)
                self.coarse += 1
            if len(faces) < len(self.previous) or not faces:  # not coarse, or a face lost there
                faces = self._detect(frame, tries, self.upsample)
            self.detections += 1
        self.previous = faces
        if faces:
            self.with_face += 1
            self.rotation = faces[0].rotation
            self.tiny += sum(f.tiny for f in faces)
            if self.crop_size:
                self.pictures[frame.index] = frame.rgb
            if self.describe_every and (self.with_face - 1) % self.describe_every == 0:
                for face in faces:
                    if not face.tiny:
                        key = (face.frame_index, face.box)
                        self.descriptors[key] = face_descriptor(frame.rgb, face)
        self.per_frame.append(faces)

    def _coarse_now(self) -> bool:
        """Detect one up-sampling coarser on this frame? Only with ``coarse_side``, when every
        face on the last frame is at least that large (found without up-sampling too), and not on
        every ``full_every``-th detection (which looks for smaller faces that came in)."""
        return bool(
            self.coarse_side
            and self.upsample > 0
            and self.detector == "hog"
            and self.previous
            and self.detections % self.full_every
            and min(f.side for f in self.previous) >= self.coarse_side
        )

    def _detect(self, frame: VideoFrame, rotations: tuple[int, ...], upsample: int) -> list[Face]:
        return detect_faces(
            frame.rgb,
            detector=self.detector,
            upsample=upsample,
            rotations=rotations,
            frame_index=frame.index,
            time_s=frame.time_s,
            pad_retry=self.pad_retry,
            detect_side=self.detect_side,
        )

    def scan(self) -> FaceScan:
        """The scan of every frame fed so far."""
        tracks = link_tracks(self.per_frame)
        crops: dict[tuple[int, int], np.ndarray] = {}
        if self.crop_size:
            for track in tracks:
                for pos, face in enumerate(track.faces):
                    crops[(track.track_id, pos)] = aligned_crop(
                        self.pictures[face.frame_index], face, self.crop_size, self.crop_zoom
                    )
        return FaceScan(
            tracks=tracks,
            frames_scanned=self.scanned,
            frames_with_face=self.with_face,
            rotation=self.rotation or 0,
            grayscale=self.grey and self.scanned > 0,
            tiny_faces=self.tiny,
            crops=crops,
            descriptors=dict(self.descriptors),
        )


def refit_face(image: np.ndarray, face: Face, frame_index: int, time_s: float) -> Face:
    """``face`` followed into the next frame: landmarks re-fitted in its box, box moved along."""
    import dlib

    grey = cv2.cvtColor(as_rgb(image), cv2.COLOR_RGB2GRAY)
    x0, y0, x1, y1 = face.box
    shape = _predictor()(grey, dlib.rectangle(x0, y0, x1, y1))
    pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
    dx, dy = np.round(pts.mean(axis=0) - face.landmarks.mean(axis=0)).astype(int)
    return replace(
        face,
        box=(x0 + int(dx), y0 + int(dy), x1 + int(dx), y1 + int(dy)),
        landmarks=pts,
        frame_index=frame_index,
        time_s=time_s,
    )
