"""Face swap applied to whole files: every frame of a video (audio kept), or a picture.

Why every frame and not sampled ones: a swap video must stay a video a viewer (and a temporal
detector) would accept: same frame count, size and frame rate as its source, audio re-encoded
alongside. Output is always encoded in memory first and returned as bytes, so that the caller
can label it (C2PA) and register it before anything reaches the disk: a half-made fake is never
published.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from core import decoding
from core.errors import BadInputError, display_name
from core.frames import EXACT, encoder_frame
from core.training import read_picture
from modalities.visual.synthesis import faceswap, faceswap_net

MAX_FRAMES = 25 * 60 * 10  # ten minutes at 25 fps: the lab swaps clips, not films


@dataclass(frozen=True)
class SwapResult:
    data: bytes
    suffix: str
    frames: int
    swapped: int  # frames with a face swapped
    fps: float | None


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in faceswap.VIDEO_SUFFIXES


def swap_file(
    model: faceswap_net.SwapNet,
    path: Path,
    direction: str,
    *,
    jpeg: bool | None = None,
    sharpen: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> SwapResult:
    """The swapped file's bytes: MP4 for a video; for a picture JPEG or PNG (``jpeg``; None: the
    source's own format family, so the format is no cue)."""
    if not path.is_file():
        raise BadInputError(f"{display_name(path)}: no such file")
    swapper = faceswap.Swapper(model, direction, sharpen=sharpen)
    if not _is_video(path):
        if path.suffix.lower() not in faceswap.IMAGE_SUFFIXES:
            raise BadInputError(f"{display_name(path)}: not a picture or video the lab can swap")
        rgb = read_picture(path)
        out, mask = swapper(rgb)
        if mask is None:
            raise BadInputError(f"{display_name(path)}: no reliable face to swap")
        data, suffix = encode_picture(
            out, jpeg=path.suffix.lower() in {".jpg", ".jpeg"} if jpeg is None else jpeg
        )
        return SwapResult(data, suffix, 1, 1, None)
    return _swap_video(swapper, path, progress)


def encode_picture(rgb: np.ndarray, *, jpeg: bool) -> tuple[bytes, str]:
    from PIL import Image

    buffer = io.BytesIO()
    if jpeg:
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=95)
        return buffer.getvalue(), ".jpg"
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue(), ".png"


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise BadInputError(f"{display_name(path)}: not a readable video ({exc})") from None


def transcode(path: Path) -> SwapResult:
    """The video through the very encoder a swap goes through, every frame unchanged: the real
    counterpart of a swap in a measurement, so that the codec is no cue to tell them apart."""

    def keep(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return rgb, np.zeros(1, np.float32)

    return _swap_video(keep, path, None)


FrameSwap = Callable[[np.ndarray], tuple[np.ndarray, "np.ndarray | None"]]


def _swap_video(
    swapper: FrameSwap, path: Path, progress: Callable[[int, int], None] | None
) -> SwapResult:
    import av

    buffer = io.BytesIO()
    frames = swapped = 0
    with _open(path) as source:
        if not source.streams.video:
            raise BadInputError(f"{display_name(path)}: has no video stream")
        video_in = source.streams.video[0]
        audio_in = source.streams.audio[0] if source.streams.audio else None
        rate = video_in.average_rate or video_in.guessed_rate or Fraction(25)
        total = int(video_in.frames or 0)
        width, height = video_in.codec_context.width, video_in.codec_context.height
        with av.open(buffer, mode="w", format="mp4") as sink:
            video_out = sink.add_stream("libx264", rate=Fraction(rate))
            video_out.width, video_out.height = width, height
            even = width % 2 == 0 and height % 2 == 0
            video_out.pix_fmt = "yuv420p" if even else "yuv444p"
            video_out.options = {"crf": "18", "preset": "medium"}
            audio_out = resampler = None
            if audio_in is not None:
                audio_out = sink.add_stream("aac", rate=audio_in.codec_context.sample_rate or 16000)
                layout = "mono" if audio_in.codec_context.channels == 1 else "stereo"
                audio_out.layout = layout
                resampler = decoding.resampler(format="fltp", layout=layout, rate=audio_out.rate)
            streams = [video_in] + ([audio_in] if audio_in is not None else [])
            # the soundtrack through the decoder that gives the same samples on every CPU
            sound = decoding.packet_decoder(audio_in) if audio_in is not None else None
            try:
                for packet in source.demux(*streams):
                    decoded = (
                        packet.decode()
                        if sound is None or packet.stream.index == video_in.index
                        else sound(packet)
                    )
                    for frame in decoded:
                        if isinstance(frame, av.VideoFrame):
                            frames += 1
                            if frames > MAX_FRAMES:
                                raise BadInputError(
                                    f"{display_name(path)}: longer than {MAX_FRAMES} frames"
                                )
                            picture = frame.to_ndarray(format="rgb24", interpolation=EXACT)
                            rgb, mask = swapper(picture)
                            swapped += mask is not None
                            sink.mux(video_out.encode(encoder_frame(rgb, video_out.pix_fmt)))
                            if progress:
                                progress(frames, max(total, frames))
                        elif audio_out is not None and resampler is not None:
                            frame.pts = None
                            for chunk in resampler.resample(frame):
                                sink.mux(audio_out.encode(chunk))
            except av.error.FFmpegError as exc:
                raise BadInputError(f"{display_name(path)}: decoding failed ({exc})") from None
            sink.mux(video_out.encode())
            if audio_out is not None and resampler is not None:
                for chunk in resampler.resample(None):
                    sink.mux(audio_out.encode(chunk))
                sink.mux(audio_out.encode())
    if not frames:
        raise BadInputError(f"{display_name(path)}: no video frames")
    if not swapped:
        raise BadInputError(f"{display_name(path)}: no reliable face to swap in any frame")
    return SwapResult(buffer.getvalue(), ".mp4", frames, swapped, float(rate))
