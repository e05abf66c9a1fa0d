"""Media that Verity makes itself: the demo's samples and the test suite's fixtures.

Nothing here is downloaded. The photo is scikit-image's bundled ``astronaut`` (a real photograph of
Eileen Collins, NASA, public domain); the clip is a drawn face whose mouth opens and closes in time
with a tone, written with PyAV (H.264 + AAC in MP4).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from core.frames import HDR_TRANSFERS, encoder_frame


def write_photo(path: Path, *, quality: int = 90) -> Path:
    from skimage import data

    pixels = data.astronaut()  # type: ignore[no-untyped-call]
    Image.fromarray(pixels).save(path, format="JPEG", quality=quality)
    return path


def _face_frame(width: int, height: int, t: float, mouth_open: float) -> np.ndarray:
    image = Image.new("RGB", (width, height), (40, 60, 90))
    draw = ImageDraw.Draw(image)
    cx = width / 2 + math.sin(t * 1.3) * width * 0.08
    cy = height / 2 + math.cos(t * 0.9) * height * 0.05
    rx, ry = width * 0.18, height * 0.3
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=(224, 182, 150))
    for side in (-1, 1):
        ex = cx + side * rx * 0.4
        draw.ellipse((ex - 9, cy - ry * 0.25 - 6, ex + 9, cy - ry * 0.25 + 6), fill=(30, 30, 30))
    mouth_h = 4 + mouth_open * ry * 0.25
    draw.ellipse(
        (
            cx - rx * 0.35,
            cy + ry * 0.45 - mouth_h / 2,
            cx + rx * 0.35,
            cy + ry * 0.45 + mouth_h / 2,
        ),
        fill=(120, 30, 40),
    )
    return np.asarray(image)


def write_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    sample_rate: int = 16_000,
    tone_hz: float = 220.0,
    with_audio: bool = True,
    keyframe_every: int | None = None,
) -> Path:
    """A short MP4 of a moving drawn face; the mouth follows the loudness of the tone.

    ``keyframe_every`` sets the GOP length in frames (x264's default is 250), e.g. to test seeking.
    """
    width, height = size
    syllable_hz = 3.0
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "23"}
        if keyframe_every is not None:
            video.codec_context.gop_size = keyframe_every
        audio = None
        if with_audio:
            audio = container.add_stream("aac", rate=sample_rate)
            audio.layout = "mono"
        n_frames = round(seconds * fps)
        for i in range(n_frames):
            t = i / fps
            envelope = 0.5 * (1 + math.sin(2 * math.pi * syllable_hz * t))
            frame = encoder_frame(_face_frame(width, height, t, envelope), video.pix_fmt)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            n = int(seconds * sample_rate)
            times = np.arange(n) / sample_rate
            loudness = 0.5 * (1 + np.sin(2 * np.pi * syllable_hz * times))
            wave = (0.3 * loudness * np.sin(2 * np.pi * tone_hz * times)).astype(np.float32)
            block = 1024
            for start in range(0, n, block):
                chunk = wave[start : start + block]
                sound = av.AudioFrame.from_ndarray(
                    chunk[np.newaxis, :], format="flt", layout="mono"
                )
                sound.sample_rate = sample_rate
                sound.pts = start
                sound.time_base = Fraction(1, sample_rate)
                for packet in audio.encode(sound):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


def write_tone(path: Path, *, seconds: float = 1.0, sample_rate: int = 16_000) -> Path:
    """A WAV file (PCM 16-bit mono) with a 440 Hz tone."""
    with av.open(str(path), mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=sample_rate)
        stream.layout = "mono"
        n = int(seconds * sample_rate)
        wave = (0.25 * np.sin(2 * np.pi * 440 * np.arange(n) / sample_rate) * 32767).astype(
            np.int16
        )
        frame = av.AudioFrame.from_ndarray(wave[np.newaxis, :], format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# The inverse of core.frames' HDR decoding, for tests and bench/hdr.py: SDR pictures (BT.709,
# BT.1886 gamma) as a phone would film them in HDR (BT.2020, PQ or HLG, 10-bit).
_BT709_TO_2020 = np.array(
    [[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]]
)


def _hdr_signal(rgb: np.ndarray, transfer: str) -> np.ndarray:
    """Non-linear BT.2020 R'G'B' (0..1) of an SDR picture with its white at 203 nits."""
    nits = ((rgb.astype(np.float64) / 255.0) ** 2.4 * 203.0) @ _BT709_TO_2020.T
    if transfer == "pq":
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        y = np.clip(nits / 10000.0, 0.0, 1.0) ** m1
        return np.asarray(((c1 + c2 * y) / (1 + c3 * y)) ** m2)
    display_luma = np.maximum(nits @ np.array([0.2627, 0.6780, 0.0593]), 1e-6)
    scene_luma = (display_luma / 1000.0) ** (1 / 1.2)  # undo the BT.2100 OOTF (1000-nit display)
    scene = np.clip(nits / 1000.0 / (scene_luma**0.2)[..., None], 0.0, 1.0)
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    log = a * np.log(np.maximum(12 * scene - b, 1e-9)) + c
    return np.asarray(np.where(scene <= 1 / 12, np.sqrt(3 * scene), log))


def write_hdr_clip(path: Path, pictures: list[np.ndarray], transfer: str, fps: int = 25) -> Path:
    """Pictures as a 10-bit 4:2:0 BT.2020 PQ or HLG video (FFV1 in Matroska), tagged as such."""
    height, width = pictures[0].shape[0] // 2 * 2, pictures[0].shape[1] // 2 * 2
    trc = {name: code for code, name in HDR_TRANSFERS.items()}[transfer]
    tags = {"color_primaries": 9, "color_trc": trc, "colorspace": 9}
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
        for key, value in tags.items():
            setattr(stream.codec_context, key, value)
        stream.codec_context.color_range = 1  # limited ("tv") range
        for rgb in pictures:
            e = _hdr_signal(rgb[:height, :width], transfer)
            luma = e @ np.array([0.2627, 0.6780, 0.0593])
            half = (height // 2, 2, width // 2, 2)
            cb = ((e[..., 2] - luma) / 1.8814).reshape(half).mean(axis=(1, 3))
            cr = ((e[..., 0] - luma) / 1.4746).reshape(half).mean(axis=(1, 3))
            planes = [
                np.round(64 + 876 * luma),
                np.round(512 + 896 * cb).reshape(height // 4, width),
                np.round(512 + 896 * cr).reshape(height // 4, width),
            ]
            frame = av.VideoFrame.from_ndarray(
                np.concatenate(planes).astype(np.uint16), format="yuv420p10le"
            )
            for key, value in tags.items():
                setattr(frame, key, value)
            frame.color_range = 1
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
