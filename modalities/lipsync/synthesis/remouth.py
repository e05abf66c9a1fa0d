"""Lab lip-sync fakes: a real talking-head video re-mouthed to speak another soundtrack.

Lip-sync deepfakes (Wav2Lip-style re-mouthing, dubbing) keep a real face and a real or cloned
voice and change only the mouth. The lab's other generators swap whole faces or make speech; none
re-mouths, so the lip-sync detectors could be measured only on media-dev's one lip-sync fake. This
generator follows Video Rewrite (Bregler, Covell & Slaney, "Video Rewrite: driving visual speech
with audio", SIGGRAPH 1997), the first audio-driven re-mouthing method, at a CPU's scale:

1. The target video's own frames are the mouth bank: each frame's lower face is paired with the
   sound heard at that moment (24-band log-mel of the frame and ``CONTEXT`` frames either side,
   standardised per soundtrack, so that another voice and microphone still match by shape).
2. For every frame of the new soundtrack the bank frame whose sound is closest is chosen, by a
   Viterbi search that prefers runs of consecutive bank frames (real mouth motion between them)
   to jumps (``jump_cost``).
3. The chosen frame's lower face (jaw line up to the nose base) is aligned to the target frame by a
   similarity transform of points that do not move in speech (nose, eye corners), its colour
   matched to the target's, and pasted with a feathered mask; the new soundtrack replaces the old.

No training and no model: what it learns from is the clip itself. What it cannot do: make mouth
shapes the clip never shows, or move the jaw of a profile face convincingly. A detector measured
on its outputs is measured on one family of lip-sync fakes (retrieval and paste), not on neural
re-mouthing. Outputs are encoded in memory (H.264 + AAC) so that the caller can label and
register them before anything reaches the disk; :func:`transcode` passes a real clip through the
same encoder, so that in a measurement the codec is no cue.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from core import media
from core.errors import BadInputError, display_name
from core.frames import encoder_frame
from core.sound import decode_audio
from modalities.lipsync import signals
from modalities.visual import faces

SAMPLE_RATE = 16_000
MAX_SECONDS = 12.0  # frames are held in memory: the lab re-mouths clips, not films
MAX_FRAMES = 300  # and at most this many (12 s at 25 fps; 5 s at 60 fps)
MAX_SIDE = 960
CONTEXT = 2  # frames of sound either side of a frame, in the retrieval key
JUMP_COST = 1.0  # a jump to a non-consecutive bank frame costs this many median distances
MIN_FACE_SHARE = 0.5  # of the frames, for a clip to be worth re-mouthing
STABLE_POINTS = [27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45]  # nose and eye corners
LOWER_FACE = [*range(3, 14), 35, 34, 33, 32, 31]  # jaw line, then the nose base back
VERSION = "video-rewrite-1"


@dataclass(frozen=True)
class Clip:
    """The first seconds of a talking-head video: frames, rate, soundtrack, one face's landmarks."""

    path: Path
    frames: list[np.ndarray]  # RGB
    fps: float
    wave: np.ndarray  # 16 kHz mono
    landmarks: list[np.ndarray | None]  # per frame, the main face's 68 points (None: no face)


@dataclass(frozen=True)
class RemouthResult:
    data: bytes
    suffix: str
    frames: int
    remouthed: int  # frames whose lower face was replaced
    jumps: int  # non-consecutive bank frames chosen (cuts in mouth motion)
    seconds: float


def read_clip(path: Path, max_s: float = MAX_SECONDS) -> Clip:
    """Frames, soundtrack and the main face's landmarks of the first ``max_s`` seconds (at most
    ``MAX_FRAMES`` frames)."""
    import av

    if not path.is_file():
        raise BadInputError(f"{display_name(path)}: no such file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadInputError(f"{display_name(path)}: has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            has_audio = bool(container.streams.audio)
    except av.error.FFmpegError as exc:
        raise BadInputError(f"{display_name(path)}: not a readable video ({exc})") from None
    if not has_audio:
        raise BadInputError(f"{display_name(path)}: has no soundtrack to take the mouths from")
    video_frames = list(
        media.iter_frames(path, end_s=max_s, max_side=MAX_SIDE, max_frames=MAX_FRAMES)
    )
    if not video_frames:
        raise BadInputError(f"{display_name(path)}: no frames")
    wave = decode_audio(path, sample_rate=SAMPLE_RATE, max_s=max_s)[0]
    scan = faces.track_faces(video_frames, upsample=1, try_rotations=False, detect_every=5)
    tracks = [t for t in scan.tracks if not all(f.tiny for f in t.faces)]
    landmarks: list[np.ndarray | None] = [None] * len(video_frames)
    if tracks:
        main = max(tracks, key=lambda t: len(t.faces))
        position = {frame.index: i for i, frame in enumerate(video_frames)}
        for face in main.faces:
            landmarks[position[face.frame_index]] = face.landmarks.astype(np.float64)
    return Clip(path, [f.rgb for f in video_frames], float(rate), wave, landmarks)


def read_sound(path: Path, max_s: float = MAX_SECONDS) -> np.ndarray:
    """The first ``max_s`` seconds of a file's soundtrack (16 kHz mono) to speak: at least 1 s."""
    sound: np.ndarray = decode_audio(path, sample_rate=SAMPLE_RATE, max_s=max_s)[0]
    if len(sound) < SAMPLE_RATE:
        raise BadInputError(f"{display_name(path)}: under one second of sound to speak")
    return sound


def span(clip: Clip, sound: np.ndarray) -> tuple[int, np.ndarray]:
    """Frames of ``clip`` the new soundtrack covers, and that soundtrack cut to them."""
    n_out = min(len(clip.frames), int(len(sound) / SAMPLE_RATE * clip.fps))
    return n_out, sound[: round(n_out / clip.fps * SAMPLE_RATE)]


def sound_keys(wave: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Retrieval keys, one per video frame: log-mel of the frame and its neighbours, standardised
    per soundtrack."""
    mel = signals.log_mel(wave, np.arange(n_frames) / fps, fps)
    mel = (mel - mel.mean(axis=0)) / (mel.std(axis=0) + 1e-6)
    padded = np.pad(mel, ((CONTEXT, CONTEXT), (0, 0)), mode="edge")
    return np.concatenate([padded[i : i + n_frames] for i in range(2 * CONTEXT + 1)], axis=1)


def retrieve(driving: np.ndarray, bank: np.ndarray, jump_cost: float = JUMP_COST) -> np.ndarray:
    """For each driving key, the index of a bank key: the path of least total distance where
    stepping to the next bank frame is free and any other step costs ``jump_cost`` median
    distances (Viterbi over the bank)."""
    dist = (
        (driving**2).sum(axis=1)[:, None] + (bank**2).sum(axis=1)[None, :] - 2 * driving @ bank.T
    ) / driving.shape[1]
    dist = np.maximum(dist, 0.0)
    jump = jump_cost * float(np.median(dist))
    n, m = dist.shape
    acc = dist[0].copy()
    back = np.zeros((n, m), dtype=np.int64)
    positions = np.arange(m)
    for k in range(1, n):
        best = int(acc.argmin())
        advance = np.full(m, np.inf)
        advance[1:] = acc[:-1]
        jumped = acc[best] + jump
        take_advance = advance <= jumped
        back[k] = np.where(take_advance, positions - 1, best)
        acc = dist[k] + np.minimum(advance, jumped)
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(acc.argmin())
    for k in range(n - 1, 0, -1):
        path[k - 1] = back[k, path[k]]
    return path


def paste_lower_face(
    target: np.ndarray, target_points: np.ndarray, source: np.ndarray, source_points: np.ndarray
) -> np.ndarray:
    """``target`` with the lower face of ``source`` aligned onto it, colour-matched, feathered."""
    matrix = faces.similarity_transform(source_points[STABLE_POINTS], target_points[STABLE_POINTS])
    height, width = target.shape[:2]
    warped = cv2.warpAffine(
        source, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    ).astype(np.float32)
    mask = np.zeros((height, width), np.uint8)
    moved = faces.transform_points(source_points[LOWER_FACE], matrix)
    for polygon in (moved, target_points[LOWER_FACE]):  # the new jaw and the old one both go
        cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 255)
    face_width = float(np.linalg.norm(target_points[16] - target_points[0]))
    k = max(3, int(0.06 * face_width) | 1)
    core = cv2.erode(mask, np.ones((k, k), np.uint8)) > 0
    soft = cv2.GaussianBlur((core * 1.0).astype(np.float32), (2 * k + 1, 2 * k + 1), 0)[..., None]
    base = target.astype(np.float32)
    if core.any():
        warped += base[core].mean(axis=0) - warped[core].mean(axis=0)
    return np.asarray(np.clip(base * (1 - soft) + warped * soft, 0, 255).astype(np.uint8))


def remouth(
    target: Path,
    driving: Path,
    *,
    max_s: float = MAX_SECONDS,
    jump_cost: float = JUMP_COST,
    progress: Callable[[int, int], None] | None = None,
) -> RemouthResult:
    """``target``'s first ``max_s`` seconds speaking ``driving``'s soundtrack, as MP4 bytes."""
    clip = read_clip(target, max_s)
    return remouth_clip(clip, read_sound(driving, max_s), jump_cost=jump_cost, progress=progress)


def remouth_clip(
    clip: Clip,
    sound: np.ndarray,
    *,
    jump_cost: float = JUMP_COST,
    progress: Callable[[int, int], None] | None = None,
) -> RemouthResult:
    """``clip`` speaking ``sound`` (16 kHz mono). The output lasts as long as the shorter of the
    two; frames where the clip shows no face keep their pixels."""
    bank = faced_frames(clip, "re-mouthing")
    n_out, spoken = span(clip, sound)
    keys = sound_keys(clip.wave, len(clip.frames), clip.fps)[bank]
    path = retrieve(sound_keys(sound, n_out, clip.fps), keys, jump_cost)

    def paste(k: int, points: np.ndarray) -> np.ndarray:
        src = bank[int(path[k])]
        source_points = clip.landmarks[src]
        assert source_points is not None  # the bank holds frames with a face only
        return paste_lower_face(clip.frames[k], points, clip.frames[src], source_points)

    jumps = int(np.sum(np.diff(path) != 1))
    return rewrite_faces(clip, n_out, spoken, paste, jumps=jumps, progress=progress)


def faced_frames(clip: Clip, doing: str) -> list[int]:
    """Indices of ``clip``'s frames that show its face; a one-line error naming what was being
    ``doing`` when fewer than most do."""
    seen = [i for i, points in enumerate(clip.landmarks) if points is not None]
    if len(seen) < max(2, MIN_FACE_SHARE * len(clip.frames)):
        raise BadInputError(
            f"{display_name(clip.path)}: a face on {len(seen)} of {len(clip.frames)} frames; "
            f"{doing} needs one on most frames"
        )
    return seen


def rewrite_faces(
    clip: Clip,
    n_out: int,
    spoken: np.ndarray,
    remake: Callable[[int, np.ndarray], np.ndarray | None],
    *,
    jumps: int,
    progress: Callable[[int, int], None] | None,
) -> RemouthResult:
    """The first ``n_out`` frames, each showing a face replaced by ``remake(k, landmarks)``
    (faceless frames, and those ``remake`` declines with None, keep their pixels), encoded with
    ``spoken`` as the soundtrack; ``remouthed`` counts the frames remade."""
    frames, remade = [], 0
    for k in range(n_out):
        points = clip.landmarks[k]
        made = None if points is None else remake(k, points)
        frames.append(clip.frames[k] if made is None else made)
        remade += made is not None
        if progress:
            progress(k + 1, n_out)
    data = encode(frames, clip.fps, spoken)
    return RemouthResult(data, ".mp4", n_out, remade, jumps, n_out / clip.fps)


def dub_clip(clip: Clip, sound: np.ndarray) -> bytes:
    """``sound`` laid under ``clip``'s untouched frames (plain dubbing), same encoder as a fake."""
    n_out, spoken = span(clip, sound)
    return encode(clip.frames[:n_out], clip.fps, spoken)


def transcode(path: Path, max_s: float = MAX_SECONDS) -> bytes:
    """A real clip's first ``max_s`` seconds, frames and soundtrack unchanged, through the very
    encoder a re-mouthed fake goes through: its real counterpart in a measurement."""
    return transcode_clip(read_clip(path, max_s))


def transcode_clip(clip: Clip) -> bytes:
    """:func:`transcode` of a clip already read: every frame, its own soundtrack cut to them."""
    seconds = len(clip.frames) / clip.fps
    return encode(clip.frames, clip.fps, clip.wave[: round(seconds * SAMPLE_RATE)])


def encode(frames: list[np.ndarray], fps: float, wave: np.ndarray) -> bytes:
    """H.264 (CRF 18) + 16 kHz mono AAC in MP4, in memory."""
    import av

    buffer = io.BytesIO()
    height, width = frames[0].shape[:2]
    with av.open(buffer, mode="w", format="mp4") as sink:
        video = sink.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        video.options = {"crf": "18", "preset": "medium"}
        audio = sink.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        for rgb in frames:
            sink.mux(video.encode(encoder_frame(rgb, video.pix_fmt)))
        sink.mux(video.encode())
        pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16)
        for start in range(0, len(pcm), 1024):
            chunk = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024], layout="mono")
            chunk.sample_rate, chunk.pts = SAMPLE_RATE, start
            sink.mux(audio.encode(chunk))
        sink.mux(audio.encode())
    return buffer.getvalue()
