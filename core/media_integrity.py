"""Is the file whole? Checks that a decoder alone does not make.

FFmpeg and Pillow both try hard to show *something*: a JPEG cut in half decodes to its top half
over grey, a WAV whose data chunk was cut off plays the part that is there and reports that
shorter length as the duration. For a forensic analysis that is the wrong kindness: a verdict on
half a picture is a verdict on something the analyst never saw, so an incomplete file is refused
with one line saying what is missing. These checks read bytes and headers only; they never trust
a size they have not compared with the file's real length.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

from core.errors import UnsupportedMediaError

# A WAV's data chunk may legitimately overrun the file by its pad byte; a streamed WAV writes
# 0 or 0xFFFFFFFF as a placeholder it never patches. Anything else missing is truncation, but a
# few hundred missing bytes (a recorder's rounding) are not worth refusing a file over.
_WAV_SIZE_PLACEHOLDERS = frozenset({0, 0xFFFFFFFF})
_WAV_MISSING_TOLERANCE = 0.01


def check_still_image_complete(path: Path) -> None:
    """Decode a still picture fully with Pillow and refuse it when its data ends early.

    Only a *truncation* found by Pillow is fatal: a variant Pillow cannot decode but FFmpeg can
    (or the other way round) is left to the FFmpeg decode that follows.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a process-wide switch: make sure it is off here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise UnsupportedMediaError(
                path, "truncated: the picture's data ends before the picture does"
            ) from None
    except (UnidentifiedImageError, SyntaxError, ValueError):
        pass
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def check_wav_complete(path: Path) -> None:
    """Refuse a RIFF/WAVE file whose data chunk promises more bytes than the file holds.

    FFmpeg quietly shortens such a file to what is there, so the duration it reports cannot
    reveal the cut; the header's own byte count can.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                if chunk_size in _WAV_SIZE_PLACEHOLDERS:
                    return
                held = size - (offset + 8)
                missing = chunk_size - held
                if missing > max(1, _WAV_MISSING_TOLERANCE * chunk_size):
                    raise UnsupportedMediaError(
                        path,
                        f"truncated: the WAV header lists {chunk_size} bytes of samples, "
                        f"the file holds {held}",
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)


_OGG_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, n
_OGG_END_OF_STREAM = 0x04


def check_ogg_complete(path: Path) -> None:
    """Refuse an Ogg file (Vorbis, Opus, FLAC or Theora in Ogg) that was cut short.

    FFmpeg takes an Ogg file's duration from its last page, so a cut file reports the shorter
    length as if it were whole. The pages themselves tell: each declares its own length, and
    every logical stream ends with a page flagged end-of-stream. The walk reads page headers
    only (27 bytes and a segment table each).
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        if handle.read(4) != b"OggS":
            return
        offset, open_streams = 0, set()
        while offset < size:
            handle.seek(offset)
            header = handle.read(_OGG_HEADER.size)
            if len(header) < _OGG_HEADER.size or header[:4] != b"OggS":
                raise UnsupportedMediaError(
                    path, f"damaged: no Ogg page where one should begin (byte {offset} of {size})"
                )
            _, _, flags, _, serial, _, _, segments = _OGG_HEADER.unpack(header)
            table = handle.read(segments)
            end = offset + _OGG_HEADER.size + segments + sum(table)
            if len(table) < segments or end > size:
                raise UnsupportedMediaError(
                    path, f"truncated: the last Ogg page needs {end} bytes, the file holds {size}"
                )
            if flags & _OGG_END_OF_STREAM:
                open_streams.discard(serial)
            else:
                open_streams.add(serial)
            offset = end
    if open_streams:
        raise UnsupportedMediaError(
            path,
            "truncated: the Ogg stream never ends (no end-of-stream page: cut short, or a live "
            "capture that was never closed)",
        )
