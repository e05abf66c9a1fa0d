"""Decode and encode sound with PyAV: any container's audio track as float arrays, and MP3.

Split from :mod:`core.media`, which probes files and decodes pictures; the two share its
container opening, its clock (:func:`core.media.clock_origin`) and its seeking
(:func:`core.media.decode_from`), so sound read on the video's clock lies where a player puts it
beside the frames. Sound is yielded in chunks, so an hour-long recording is never held whole
unless a caller asks for the whole array (:func:`decode_audio`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np

from core import decoding
from core.errors import UnsupportedMediaError
from core.media import AudioChunk, clock_origin, decode_from, ffmpeg_reason, open_container


def iter_audio(
    path: Path,
    *,
    sample_rate: int = 16_000,
    mono: bool = True,
    chunk_s: float = 10.0,
    max_s: float | None = None,
    on_video_clock: bool = False,
    start_s: float = 0.0,
) -> Iterator[AudioChunk]:
    """Yield float32 audio resampled to ``sample_rate`` in chunks of ``chunk_s`` seconds.

    Sample 0 is the track's first sample. With ``on_video_clock`` (needs ``max_s``) sample 0 is
    at 0 s of the file's clock (:func:`clock_origin`), where :func:`iter_frames` puts its first
    frame: a track that starts later is preceded by silence, one that starts earlier loses the
    samples before 0, and a hole between two frames' timestamps is filled with silence, so every
    later sample stays where a player plays it. Comparing picture and sound (lip-sync) needs
    this; a transport stream whose clock starts at 1.4 s otherwise read as sound 1.4 s early.

    ``start_s`` (on the video clock only) starts the sound there instead: the decoder seeks as
    :func:`iter_frames` does, ``AUDIO_PREROLL_S`` earlier, and drops the samples before
    ``start_s``, so the ``max_s`` seconds from ``start_s`` are the sound a read from 0 s holds
    there (to within the resampler's sub-sample phase). Lip-sync reads passages late in a long
    video this way without decoding the hour before them.
    """
    if sample_rate <= 0 or chunk_s <= 0:
        raise ValueError("sample_rate and chunk_s must be positive")
    if on_video_clock and max_s is None:
        raise ValueError("on_video_clock needs max_s (the silence before a late track is bounded)")
    if start_s < 0 or (start_s > 0 and not on_video_clock):
        raise ValueError("start_s counts on the video clock: on_video_clock, and not negative")
    chunk_len = max(1, round(chunk_s * sample_rate))
    limit = None if max_s is None else math.floor(max_s * sample_rate)
    pending: list[np.ndarray] = []
    pending_len = 0
    produced = 0
    with open_container(path) as container:
        if not container.streams.audio:
            raise UnsupportedMediaError(path, "has no audio stream")
        stream = container.streams.audio[0]
        layout = "mono" if mono else None
        resampler = decoding.resampler(format="fltp", layout=layout, rate=sample_rate)
        many = (stream.codec_context.channels or 0) > MAX_REMIX_CHANNELS
        if many and not mono:
            raise UnsupportedMediaError(
                path,
                f"has {stream.codec_context.channels} audio channels; Verity reads more "
                f"than {MAX_REMIX_CHANNELS} only as a mono mix",
            )

        clock = clock_origin(container) if on_video_clock else 0.0
        origin = clock + start_s  # where sample 0 lies on the file's clock
        early: list[int] = []  # samples before the clock's origin, to drop (on_video_clock)

        def silence(seconds: float, channels: int) -> np.ndarray:
            count = round(seconds * sample_rate)
            bounded = count if limit is None else min(count, limit)  # a hostile gap stays small
            return np.zeros((channels, bounded), np.float32)

        def blocks() -> Iterator[np.ndarray]:
            """Resampled sound; on the video clock also the silence before a late first frame
            and in any hole between frames (a dropout, a cut spliced without its sound)."""
            nonlocal resampler
            expected: float | None = None  # where the next frame starts on the file's clock
            try:
                preroll = max(0.0, start_s - AUDIO_PREROLL_S)
                for frame in decode_from(container, stream, preroll, clock):
                    at = None if frame.time is None else float(frame.time)
                    channels = 1 if mono else len(frame.layout.channels)
                    if on_video_clock and at is not None:
                        hole = at - (origin if expected is None else expected)
                        if expected is None and hole < 0:
                            early.append(round(-hole * sample_rate))
                        elif hole > (0.0 if expected is None else MAX_AUDIO_JITTER_S):
                            for out in resampler.resample(None):  # what the resampler holds
                                yield out.to_ndarray()
                            resampler = decoding.resampler(
                                format="fltp", layout=layout, rate=sample_rate
                            )
                            yield silence(hole, channels)
                    if at is not None and frame.sample_rate:
                        expected = at + frame.samples / frame.sample_rate
                    for out in resampler.resample(_mono_mix(path, frame) if many else frame):
                        yield out.to_ndarray()
                for out in resampler.resample(None):
                    yield out.to_ndarray()
            except av.error.FFmpegError as exc:
                raise UnsupportedMediaError(
                    path, f"audio decoding failed ({ffmpeg_reason(exc)})"
                ) from None

        for raw in blocks():
            block = raw.astype(np.float32, copy=False)
            if early:
                dropped = min(early[0], block.shape[1])
                block, early[0] = block[:, dropped:], early[0] - dropped
                if not early[0]:
                    early.clear()
            if limit is not None:
                block = block[:, : max(0, limit - produced - pending_len)]
            pending.append(block)
            pending_len += block.shape[1]
            while pending_len >= chunk_len:
                joined = np.concatenate(pending, axis=1)
                yield AudioChunk(produced / sample_rate, sample_rate, joined[:, :chunk_len])
                produced += chunk_len
                rest = joined[:, chunk_len:]
                pending, pending_len = [rest], rest.shape[1]
            if limit is not None and produced + pending_len >= limit:
                break
        if pending_len:
            yield AudioChunk(produced / sample_rate, sample_rate, np.concatenate(pending, axis=1))


# A read from ``start_s`` decodes from this much earlier: an AAC or MP3 frame is decoded right
# only after the one before it (overlapping transforms), and the resampler needs a few samples.
AUDIO_PREROLL_S = 0.25

# On the video clock, a gap between audio frames' timestamps longer than this is a hole in the
# track (filled with silence); shorter ones are rounding in the container's time base.
MAX_AUDIO_JITTER_S = 0.01

# FFmpeg's own rematrixing is unreliable above 8 channels of no named layout (a 9-channel WAV
# fails with EINVAL where 12 pass), and PyAV crashes reading planar frames of more than 8 planes.
MAX_REMIX_CHANNELS = 8
_PACKED_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9.223372036854776e18}


def _mono_mix(path: Path, frame: Any) -> Any:
    """A many-channel frame as a mono frame: the plain mean of its channels (a microphone array
    or a multitrack recording has no standard downmix). Packed frames only: their one plane is
    read safely; a planar one is refused rather than risking PyAV's reader."""
    fmt, channels = frame.format, len(frame.layout.channels)
    if fmt.is_planar:
        raise UnsupportedMediaError(
            path,
            f"{channels}-channel planar audio ({fmt.name}): Verity mixes more than "
            f"{MAX_REMIX_CHANNELS} channels only from packed sample formats",
        )
    samples = frame.to_ndarray().reshape(-1, channels).astype(np.float64)
    if fmt.name == "u8":
        samples -= 128.0
    samples /= _PACKED_SCALE.get(fmt.name, 1.0)  # flt and dbl are in [-1, 1] already
    mono = samples.mean(axis=1).astype(np.float32)[None, :]
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono), format="fltp", layout="mono")
    out.sample_rate = frame.sample_rate
    return out


def decode_audio(
    path: Path,
    *,
    sample_rate: int = 16_000,
    mono: bool = True,
    max_s: float | None = None,
    on_video_clock: bool = False,
    start_s: float = 0.0,
) -> np.ndarray:
    """The whole (or first ``max_s`` seconds of the) audio track as one (channels, n) array
    (``on_video_clock``, ``start_s``: see :func:`iter_audio`)."""
    chunks = [
        c.samples
        for c in iter_audio(
            path,
            sample_rate=sample_rate,
            mono=mono,
            max_s=max_s,
            on_video_clock=on_video_clock,
            start_s=start_s,
        )
    ]
    if not chunks:
        return np.zeros((1 if mono else 0, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1)


def encode_mp3(wave: np.ndarray, *, sample_rate: int, bit_rate: int = 64_000) -> bytes:
    """Mono float audio in [-1, 1] as MP3 bytes: the one lossy channel Verity normalises audio
    through (core.evaluation, modalities.audio.frontend), so the codec of the original file
    carries no evidence."""
    samples = np.clip(wave, -1.0, 1.0).astype(np.float32)
    return _encode_mono(samples, "mp3", "libmp3lame", "flt", sample_rate, bit_rate)


def encode_wav(wave: np.ndarray, *, sample_rate: int) -> bytes:
    """Mono float audio in [-1, 1] as a 16-bit PCM WAV file's bytes (lab fakes, sound attacks)."""
    pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16)
    return _encode_mono(pcm, "wav", "pcm_s16le", "s16", sample_rate)


def _encode_mono(
    samples: np.ndarray,
    container_format: str,
    codec: str,
    sample_format: str,
    sample_rate: int,
    bit_rate: int | None = None,
) -> bytes:
    """One mono track of packed ``samples`` encoded whole into an in-memory file."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=sample_rate)
        assert isinstance(stream, av.AudioStream)  # an audio codec gives an audio stream
        stream.layout = "mono"
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.reshape(1, -1)), format=sample_format, layout="mono"
        )
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
