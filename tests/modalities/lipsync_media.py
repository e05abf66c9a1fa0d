"""A real face that talks: the astronaut portrait with its mouth opened in step with a voice-like
sound, made offline with PyAV. The mouth opening and the loudness share one syllable envelope, so
the clip is in sync by construction (``shift_s`` delays the sound against the picture; ``still``
keeps the mouth shut while the voice speaks)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np

from modalities.visual import faces
from tests.modalities.visual_faces_media import astronaut

SR = 16_000
SIZE = 448


@cache
def _portrait() -> tuple[np.ndarray, np.ndarray]:
    base = cv2.resize(astronaut(), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    found = faces.detect_faces(base)
    assert found, "dlib finds the astronaut's face"
    return base, found[0].landmarks


def envelope(n: int, rate: float, seed: int) -> np.ndarray:
    """Syllable-like loudness in [0, 1]: random bumps of 0.12–0.3 s with short pauses."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    t = 0.2
    duration = n / rate
    while t < duration - 0.3:
        length = rng.uniform(0.12, 0.3)
        a, b = int(t * rate), int((t + length) * rate)
        out[a:b] = np.sin(np.linspace(0, np.pi, max(1, b - a))) * rng.uniform(0.6, 1.0)
        t += length + rng.uniform(0.05, 0.25)
    return out


def talking_clip(
    path: Path,
    *,
    seconds: float = 4.0,
    fps: int = 25,
    seed: int = 0,
    shift_s: float = 0.0,
    silent: bool = False,
    faceless: bool = False,
    still: bool = False,
    canvas: tuple[int, int] | None = None,
    face_side: int = 0,
) -> Path:
    """``canvas`` (width, height): the talking portrait scaled so the face box is about
    ``face_side`` px and pasted on a grey frame that large (a small face in a large video)."""
    base, landmarks = _portrait()
    centre = landmarks[60:68].mean(axis=0)
    width = float(np.linalg.norm(landmarks[54] - landmarks[48]))
    n_frames = round(seconds * fps)
    n_samples = round(seconds * SR)
    env_audio = envelope(n_samples, SR, seed)
    t = np.arange(n_samples) / SR
    rng = np.random.default_rng(seed + 1)
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    voice = voice + 0.3 * rng.standard_normal(n_samples)
    wave = 0.25 * env_audio * voice / np.abs(voice).max()
    shift = round(shift_s * SR)
    if shift > 0:
        wave = np.concatenate([np.zeros(shift), wave[:-shift]])
    elif shift < 0:
        wave = np.concatenate([wave[-shift:], np.zeros(-shift)])
    if silent:
        wave = np.zeros_like(wave)
    pcm = (np.clip(wave, -1, 1) * 32000).astype(np.int16)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = canvas or (SIZE, SIZE)
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=SR)
        audio.layout = "mono"
        for i in range(n_frames):
            opening = 0.0 if still else env_audio[min(n_samples - 1, round(i / fps * SR))]
            frame = np.full_like(base, 90 + 60 * opening) if faceless else base.copy()
            axes = (int(0.38 * width), int(1 + 0.28 * width * opening))
            if not faceless:
                cv2.ellipse(frame, tuple(int(v) for v in centre), axes, 0, 0, 360, (40, 10, 10), -1)
            if canvas is not None:
                frame = _on_canvas(frame, canvas, face_side)
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(video.encode())
        for start in range(0, len(pcm), 1024):
            chunk = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024], layout="mono")
            chunk.sample_rate, chunk.pts = SR, start
            out.mux(audio.encode(chunk))
        out.mux(audio.encode())
    return path


def _on_canvas(frame: np.ndarray, canvas: tuple[int, int], face_side: int) -> np.ndarray:
    scale = face_side / (90 * SIZE / 512)  # the astronaut's face box is about 90 px of 512
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    width, height = canvas
    out = np.full((height, width, 3), 128, np.uint8)
    top, left = height // 3, width // 3
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return out
