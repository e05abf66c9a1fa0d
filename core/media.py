"""Probe and decode media with PyAV, streaming, inside configured limits.

Everything here is careful about hostile input: the size limit is checked before a byte is decoded,
image headers are read for their dimensions before any decoder allocates a frame (decompression
bombs), and decoding yields frames one at a time so a two-hour video is never held in memory
whole. Every failure becomes a :class:`~core.errors.MediaError` naming the file. Sound is decoded
by :mod:`core.sound` on the same container opening, clock and seeking.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict

from core import decoding
from core.config import MediaLimits
from core.errors import MediaError, MediaLimitError, UnsupportedMediaError, path_problem
from core.frames import (
    EXIF_DISPLAY,
    HDR_TRANSFERS,
    display_quarter_turns,
    exif_orientation,
    frame_rgb,
)
from core.media_integrity import (
    check_ogg_complete,
    check_still_image_complete,
    check_wav_complete,
)

# Layouts that FFmpeg opens but cannot size (PyAV reports 0×0), by decoder, as an audit met them.
_UNREADABLE_VARIANTS = {
    "webp": "animated WebP is not supported",
    "tiff": "TIFF with floating-point, 32-bit integer or LAB samples is not supported",
}

# Containers that hold a still picture rather than a moving one.
_IMAGE_FORMATS = frozenset({"image2", "gif", "ico"})
_IMAGE_MAGIC: tuple[bytes, ...] = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)


# ISO base media files that hold one still picture (AVIF, HEIF/HEIC photos), by major brand;
# their image sequences (avis, msf1, hevc) are moving pictures.
_STILL_IMAGE_BRANDS = frozenset({"avif", "heic", "heix", "heim", "heis", "mif1"})


class MediaKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"


class VideoStreamInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    codec: str
    width: int
    height: int
    fps: float | None
    frame_count: int | None
    frame_count_estimated: bool
    pix_fmt: str | None
    # Counter-clockwise degrees (0, 90, 180, 270) a viewer turns the stored pixels by (a phone
    # video's display matrix, a JPEG's EXIF orientation); width and height are the stored ones.
    display_rotation: int = 0
    display_mirrored: bool = False  # mirrored left-right before the rotation (EXIF 2, 4, 5, 7)
    # The first frame is interlaced (two fields 1/50 or 1/60 s apart): the detectors see one field
    # of each interlaced frame, stretched to the frame's height (core.frames).
    interlaced: bool = False
    # "pq" or "hlg" for HDR video (a phone's default): the detectors see it tone-mapped to SDR.
    hdr: str | None = None


class AudioStreamInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    codec: str
    sample_rate: int
    channels: int


class MediaInfo(BaseModel):
    """What a probe learnt about a file; stored with the media item and shown to analysts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MediaKind
    container: str
    container_long: str
    size_bytes: int
    duration_s: float | None
    video: VideoStreamInfo | None
    audio: AudioStreamInfo | None
    stream_count: int
    tags: dict[str, str]

    @property
    def width(self) -> int | None:
        return self.video.width if self.video else None

    @property
    def height(self) -> int | None:
        return self.video.height if self.video else None


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One decoded picture: its index in the source stream, its time and RGB pixels (H×W×3)."""

    index: int
    time_s: float
    rgb: np.ndarray


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A run of decoded samples, float32 in [-1, 1], shape (channels, samples)."""

    start_s: float
    sample_rate: int
    samples: np.ndarray


def check_readable_file(path: Path, limits: MediaLimits) -> int:
    """Fail with a clear MediaError unless ``path`` is a non-empty readable file within limits."""
    problem = path_problem(path)
    if problem:
        raise MediaError(path, problem)
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except PermissionError:
        raise MediaError(path, "permission denied") from None
    except OSError as exc:
        raise MediaError(path, f"cannot be read ({exc.strerror or exc})") from None
    size = path.stat().st_size
    if size == 0:
        raise MediaError(path, "is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise MediaLimitError(
            path, f"is {size} bytes, over the limit of {limits.max_file_bytes} bytes"
        )
    return size


def screen(path: Path, limits: MediaLimits) -> None:
    """Cheap checks on a *source* file before it is copied into the store.

    Readable, within the size limit, no decompression bomb, and a header FFmpeg recognises with
    a video or audio stream: nothing is decoded. Five gigabytes of garbage are then refused in
    milliseconds instead of after a five-gigabyte copy and hash. The full :func:`probe` still
    runs on the stored copy, so what is analysed is exactly what was hashed.
    """
    check_readable_file(path, limits)
    _check_image_header(path, limits, complete=False)
    with open_container(path) as container:
        if _primary_video(container) is None and not container.streams.audio:
            raise UnsupportedMediaError(path, "has no video or audio stream")


def _check_image_header(path: Path, limits: MediaLimits, *, complete: bool = True) -> None:
    """Read only the header of a still image and refuse decompression bombs before decoding;
    then, when ``complete``, decode it once to refuse a picture whose data ends early."""
    with path.open("rb") as handle:
        head = handle.read(16)
    is_webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if not (is_webp or any(head.startswith(magic) for magic in _IMAGE_MAGIC)):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # lazy: parses the header only
                width, height = image.size
    except Image.DecompressionBombError as exc:  # Pillow's own ceiling, far above ours
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        raise MediaLimitError(
            path,
            f"image header claims {claimed.group(1) if claimed else 'too many'} pixels, "
            f"over the limit of {limits.max_pixels} pixels",
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedMediaError(path, f"broken image header ({exc})") from None
    _check_pixels(path, width, height, limits)
    if complete:
        check_still_image_complete(path)  # only now: the pixel limit bounds the decode's memory


def _check_pixels(path: Path, width: int, height: int, limits: MediaLimits) -> None:
    if width <= 0 or height <= 0:
        raise UnsupportedMediaError(path, f"invalid frame size {width}x{height}")
    if width * height > limits.max_pixels:
        raise MediaLimitError(
            path,
            f"frame of {width}x{height} pixels is over the limit of {limits.max_pixels} pixels",
        )


@contextmanager
def open_container(path: Path) -> Iterator[Any]:
    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise UnsupportedMediaError(
            path, f"not a video, audio or image file Verity can read ({ffmpeg_reason(exc)})"
        ) from None
    try:
        yield container
    finally:
        container.close()


def ffmpeg_reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(":")[0].strip() or type(exc).__name__


def _primary_video(container: Any) -> Any | None:
    streams = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    if container.format.name == "ico" and streams:  # one stream per icon size: the largest
        return max(streams, key=_stream_pixels)
    return streams[0] if streams else None


def _stream_pixels(stream: Any) -> int:
    ctx = stream.codec_context
    return int(ctx.width * ctx.height) if ctx is not None else 0


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def probe(path: Path, limits: MediaLimits) -> MediaInfo:
    """Describe ``path`` and classify it as video, audio or image, or raise MediaError.

    >>> probe(Path("clip.mp4"), MediaLimits()).kind  # doctest: +SKIP
    <MediaKind.VIDEO: 'video'>
    """
    size = check_readable_file(path, limits)
    _check_image_header(path, limits)
    check_wav_complete(path)
    check_ogg_complete(path)
    with open_container(path) as container:
        video = _primary_video(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise UnsupportedMediaError(path, "has no video or audio stream")
        fmt_name = container.format.name.split(",")[0]
        brand = str(container.metadata.get("major_brand", "")).strip().lower()
        is_still = (
            video is not None
            and audio is None
            and (
                fmt_name in _IMAGE_FORMATS
                or fmt_name.endswith("_pipe")
                or (fmt_name == "mov" and brand in _STILL_IMAGE_BRANDS)
            )
        )

        video_info = None
        if video is not None:
            ctx = video.codec_context
            if ctx is None:  # e.g. SVG: FFmpeg recognises the format but has no decoder for it
                raise UnsupportedMediaError(path, f"no decoder for its pictures ({fmt_name})")
            if ctx.width <= 0 or ctx.height <= 0:
                variant = _UNREADABLE_VARIANTS.get(ctx.name, "a variant it cannot read")
                raise UnsupportedMediaError(
                    path,
                    f"FFmpeg's {ctx.name} decoder finds no picture size in it ({variant}); "
                    "convert it to PNG (a still picture) or MP4 (a moving one) first",
                )
            _check_pixels(path, ctx.width, ctx.height, limits)
            rate = video.average_rate or video.guessed_rate
            fps = float(rate) if rate else None
            frames = int(video.frames) if video.frames else None
            estimated = False
            stream_duration = _seconds(video.duration, video.time_base)
            if frames is None and fps and stream_duration:
                frames, estimated = max(1, round(stream_duration * fps)), True
            video_info = VideoStreamInfo(
                index=video.index,
                codec=ctx.name,
                width=ctx.width,
                height=ctx.height,
                fps=None if is_still else fps,
                frame_count=1 if is_still else frames,
                frame_count_estimated=False if is_still else estimated,
                pix_fmt=ctx.format.name if ctx.format else None,
            )
        audio_info = None
        if audio is not None:
            actx = audio.codec_context
            if actx is None:
                raise UnsupportedMediaError(path, "no decoder for its audio stream")
            audio_info = AudioStreamInfo(
                index=audio.index,
                codec=actx.name,
                sample_rate=int(actx.sample_rate or 0),
                channels=int(actx.channels or 0),
            )
            if audio_info.sample_rate <= 0 or audio_info.channels <= 0:
                raise UnsupportedMediaError(path, "audio stream has no sample rate or channels")

        duration = None if is_still else _container_duration(container, video, audio)
        if duration is not None and duration > limits.max_duration_s:
            raise MediaLimitError(
                path, f"lasts {duration:.0f} s, over the limit of {limits.max_duration_s:.0f} s"
            )
        first = _check_decodable(path, container, video if video is not None else audio)
        if video_info is not None:
            orientation = still_orientation(path, fmt_name) if is_still else 0
            if orientation:
                mirrored, degrees = EXIF_DISPLAY[orientation]
            else:
                mirrored, degrees = False, 90 * display_quarter_turns(first)
            interlaced = bool(getattr(first, "interlaced_frame", False))
            hdr = HDR_TRANSFERS.get(getattr(first, "color_trc", None) or 0)
            video_info = video_info.model_copy(
                update={
                    "display_rotation": degrees,
                    "display_mirrored": mirrored,
                    "interlaced": interlaced,
                    "hdr": hdr,
                }
            )
        if not is_still:
            _check_complete(path, video_info, audio, duration)
        if is_still and fmt_name == "gif" and _count_frames(path, limit=2) > 1:
            is_still = False
        kind = MediaKind.IMAGE if is_still else (MediaKind.VIDEO if video else MediaKind.AUDIO)
        tags = {str(k): str(v) for k, v in sorted(container.metadata.items())}
        return MediaInfo(
            kind=kind,
            container=fmt_name,
            container_long=container.format.long_name,
            size_bytes=size,
            duration_s=duration,
            video=video_info,
            audio=audio_info,
            stream_count=len(container.streams),
            tags=tags,
        )


def _container_duration(container: Any, video: Any | None, audio: Any | None) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    for stream in (video, audio):
        if stream is not None:
            seconds = _seconds(stream.duration, stream.time_base)
            if seconds:
                return seconds
    return None


def _check_decodable(path: Path, container: Any, stream: Any) -> Any:
    """Decode the first frame of the main stream (a header alone proves nothing) and return it."""
    try:
        for frame in decoding.decode(container, stream):
            return frame
    except (av.error.FFmpegError, ValueError, MemoryError) as exc:
        raise UnsupportedMediaError(path, f"cannot be decoded ({ffmpeg_reason(exc)})") from None
    raise UnsupportedMediaError(path, "contains no decodable frames (truncated or empty stream)")


def _check_complete(
    path: Path, video: VideoStreamInfo | None, audio: Any | None, duration: float | None
) -> None:
    """Demux every packet (no decoding) and compare with what the header promises.

    A truncated MP4 whose index sits at the front opens and decodes its first frames, yet holds
    fewer samples than its header lists; a truncated Matroska file keeps the duration its header
    states while its packets stop half way. Analysing either as if whole would mislead.
    """
    video_packets = 0
    ends = {"video": 0.0, "audio": 0.0}
    try:
        with open_container(path) as container:
            for packet in container.demux():
                if packet.size == 0:
                    continue
                is_video = video is not None and packet.stream.index == video.index
                if is_video:
                    video_packets += 1
                elif not (audio is not None and packet.stream.index == audio.index):
                    continue
                if packet.pts is not None and packet.time_base is not None:
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    key = "video" if is_video else "audio"
                    ends[key] = max(ends[key], end)
    except av.error.FFmpegError as exc:
        raise UnsupportedMediaError(path, f"damaged container ({ffmpeg_reason(exc)})") from None
    if video is not None and video.frame_count and not video.frame_count_estimated:
        if video_packets < video.frame_count:
            raise UnsupportedMediaError(
                path,
                f"truncated: the header lists {video.frame_count} video frames, "
                f"the file holds {video_packets}",
            )
        return
    # No exact frame count to compare (or no video): the header's duration against the time at
    # which the last packet of the main streams ends. 10% slack for start offsets and rounding.
    last = max(ends.values())
    if duration and 0 < last < 0.9 * duration:
        what = "audio" if video is None else "last packet"
        raise UnsupportedMediaError(
            path,
            f"truncated: the header says {duration:.1f} s, the {what} ends at {last:.1f} s",
        )


def still_orientation(path: Path, format_name: str) -> int:
    """The EXIF orientation (1–8) of a still picture, 0 when it has none or is not a still."""
    name = format_name.split(",")[0]
    if not (name in _IMAGE_FORMATS or name.endswith("_pipe")):
        return 0
    return exif_orientation(path)


def _count_frames(path: Path, limit: int) -> int:
    count = 0
    with open_container(path) as container:
        for _frame in container.decode(video=0):
            count += 1
            if count >= limit:
                break
    return count


def iter_frames(
    path: Path,
    *,
    fps: float | None = None,
    max_frames: int | None = None,
    max_side: int | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> Iterator[VideoFrame]:
    """Yield RGB frames one at a time, sampled at ``fps`` (None: every frame).

    ``max_side`` shrinks frames whose longer side exceeds it, keeping the aspect ratio. Memory stays
    bounded by one frame whatever the length of the video. ``start_s``/``end_s`` keep the frames
    with ``start_s <= t < end_s``; the sampling grid then starts at ``start_s``, so frames of a
    span starting on a multiple of ``1 / fps`` are the ones a pass over the whole file picks (this
    is what lets core.chunks split a video without changing a detector's result). Seeking goes to
    the key frame before ``start_s``; frames before ``start_s`` are decoded and dropped. Times are
    on the file's clock counted from its start (:func:`clock_origin`), as a player shows them.
    """
    if fps is not None and fps <= 0:
        raise ValueError("fps must be positive")
    step = None if fps is None else 1.0 / fps
    next_t = start_s
    emitted = 0
    with open_container(path) as container:
        stream = _primary_video(container)
        if stream is None:
            raise UnsupportedMediaError(path, "has no video stream")
        orientation = still_orientation(path, container.format.name)
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        origin = clock_origin(container)
        try:
            for index, frame in enumerate(decode_from(container, stream, start_s, origin)):
                t = (
                    float(frame.time) - origin
                    if frame.time is not None
                    else (index / float(rate) if rate else float(index))
                )
                if t + 1e-6 < start_s:
                    continue
                if end_s is not None and t + 1e-6 >= end_s:
                    return
                if step is not None:
                    if t + 1e-6 < next_t:
                        continue
                    next_t = max(next_t + step, t + step * 0.5)
                rgb = frame_rgb(frame, max_side, orientation)
                yield VideoFrame(index=index, time_s=t, rgb=rgb)
                emitted += 1
                if max_frames is not None and emitted >= max_frames:
                    return
        except av.error.FFmpegError as exc:
            raise UnsupportedMediaError(
                path, f"decoding failed after {emitted} frames ({ffmpeg_reason(exc)})"
            ) from None


def frame_at(path: Path, time_s: float, *, max_side: int | None = None) -> tuple[float, Any] | None:
    """The video frame shown at ``time_s`` (its time and upright RGB pixels), None without video.

    The last frame starting at or before ``time_s`` (the first frame when ``time_s`` precedes it),
    reached by the same seek as :func:`iter_frames`, so it is the frame a pass over the whole file
    shows there.
    """
    target = max(0.0, float(time_s))
    with open_container(path) as container:
        stream = _primary_video(container)
        if stream is None:
            return None
        orientation = still_orientation(path, container.format.name)
        origin = clock_origin(container)
        chosen = None
        try:
            for frame in decode_from(container, stream, target, origin):
                late = frame.time is not None and frame.time - origin > target + 1e-6
                if chosen is not None and late:
                    break
                chosen = frame
        except av.error.FFmpegError as exc:
            raise UnsupportedMediaError(path, f"decoding failed ({ffmpeg_reason(exc)})") from None
        if chosen is None:
            return None
        shown = float(chosen.time) - origin if chosen.time is not None else 0.0
        return shown, frame_rgb(chosen, max_side, orientation)


def clock_origin(container: Any) -> float:
    """The time on a file's clock that Verity calls 0 s: the start of its earliest stream.

    Most files start at 0, but an MPEG transport stream (a broadcast or camera recording) starts
    wherever its clock stood (FFmpeg writes 1.4 s; a DVB capture can start hours in), and an
    edit list can start a track late. Frame times, spans and audio on the video's clock
    (:func:`core.sound.iter_audio` with ``on_video_clock``) are all counted from here, so that a
    span starting at 0 holds the first frame and a picture and its sound stay where a player
    puts them.
    """
    start = container.start_time
    return float(start) / av.time_base if start is not None else 0.0


def decode_from(container: Any, stream: Any, start_s: float, origin: float) -> Iterator[Any]:
    """Decoded frames of ``stream`` from a key frame at or before ``start_s`` (seconds after
    ``origin``, the file's :func:`clock_origin`) onwards.

    Two things make a plain seek unsafe on real files. The decoder learns some stream-wide facts
    only from the first packets: FFmpeg reads the x264 build from the SEI of the first frame and
    needs it to decode 4:4:4 streams of x264 builds before 151 (FaceForensics++'s c23 videos),
    so a decoder that starts at a later IDR frame turns the picture to green noise for the rest of
    the file. So the first frame is decoded before seeking. And a container without an index
    (MPEG program streams) may seek *past* the time asked for, which would silently drop the
    frames in between, or (a short transport stream) find nothing at all; the seek is then
    retried further back until the first frame decoded lies at or before ``start_s`` (at worst
    from the file's start).
    """
    if start_s <= 0 or not stream.time_base:
        yield from decoding.decode(container, stream)
        return
    next(decoding.decode(container, stream), None)  # prime the decoder with the first frame
    wanted = origin + start_s
    back = 0.0
    while True:
        target = max(origin, wanted - back)
        # at the origin itself a transport stream's seek can find nothing: go below the clock
        seek_to = target if target > origin else min(origin, 0.0) - 1.0
        container.seek(
            int(seek_to / stream.time_base), stream=stream, backward=True, any_frame=False
        )
        frames = decoding.decode(container, stream)
        head = next(frames, None)
        if head is None and target <= origin:
            return
        if head is not None and (
            target <= origin or head.time is None or float(head.time) <= wanted + 1e-6
        ):
            yield head
            yield from frames
            return
        back = max(1.0, back * 4)
