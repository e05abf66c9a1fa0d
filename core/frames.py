"""Decoded frames as the analyst sees them: RGB arrays, shrunk if asked, and upright.

A phone stores a portrait video as landscape pixels plus a display rotation, and a camera JPEG its
orientation in EXIF; players and viewers apply it, so the analyst looks at the upright picture.
Detectors, face boxes and heatmaps must describe that same picture, so every frame Verity analyses
or shows passes through :func:`frame_rgb`.

Colour conversion gives the same pixels on every computer. FFmpeg chooses vector code for the
CPU it runs on, and its fast YUV-to-RGB converter rounds differently from one instruction set to
the next: forced to SSE2, this machine's frames of a 4:2:0 video or a JPEG differed in their low
bits from its own (SSSE3 and up), and `visual.eyes_teeth` moved by 0.30, `visual.spectrum` by
0.29 and `visual.blend` by 0.14 (bench/cpu_reproducibility.py), so `verity reproduce` on another
computer would have reported differences the evidence does not have. :data:`EXACT` gave
identical frames at every instruction-set level FFmpeg could be forced to here, and a JPEG's
pixels lie closer to Pillow's (0.52 grey levels on average, against 0.76 with the fast path).
Interpolating chroma to every pixel as well (``FULL_CHR_H_INT``, 0.28 from Pillow) was tried and
dropped: it broke the HDR conversion (tests/test_media.py, errors of 50-64 grey levels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from av.video.reformatter import Interpolation
from PIL import Image, UnidentifiedImageError

# swscale flags for every conversion of a frame's colours or size: bilinear (FFmpeg's default),
# with the accurate-rounding, bit-exact code instead of the CPU-specific fast one.
EXACT = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT


def frame_rgb(frame: Any, max_side: int | None = None, orientation: int = 0) -> np.ndarray:
    """A decoded frame's RGB pixels (H×W×3), shrunk to ``max_side`` and upright.

    ``orientation`` is a still picture's EXIF orientation (1–8, see :func:`exif_orientation`),
    which also says whether to mirror; without it the frame's display rotation is applied.
    """
    rgb = _to_rgb(frame, max_side)
    if orientation in _EXIF_TO_UPRIGHT:
        return np.ascontiguousarray(_EXIF_TO_UPRIGHT[orientation](rgb))
    turns = display_quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


# EXIF orientation -> the transform that shows the stored pixels upright (as Pillow's
# ImageOps.exif_transpose does); 2, 4, 5 and 7 mirror, which a display rotation cannot express.
_EXIF_TO_UPRIGHT: dict[int, Any] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, k=1),
}


# EXIF orientation -> (mirrored left-right first, then counter-clockwise degrees), for reporting.
EXIF_DISPLAY: dict[int, tuple[bool, int]] = {
    1: (False, 0),
    2: (True, 0),
    3: (False, 180),
    4: (True, 180),
    5: (True, 90),
    6: (False, 270),
    7: (True, 270),
    8: (False, 90),
}


def exif_orientation(path: Path) -> int:
    """The EXIF orientation (1–8) of a picture file, 0 when it has none or Pillow cannot read it."""
    try:
        with Image.open(path) as image:  # lazy: reads the header and EXIF only
            value = image.getexif().get(0x0112, 0)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return 0
    return int(value) if isinstance(value, int) and value in _EXIF_TO_UPRIGHT else 0


def display_quarter_turns(frame: Any) -> int:
    """Counter-clockwise quarter turns (0–3) the frame's display rotation asks for."""
    try:
        degrees = float(frame.rotation or 0)
    except (AttributeError, ValueError, TypeError):  # side data PyAV cannot name
        return 0
    turns = round(degrees / 90)
    return turns % 4 if abs(degrees - 90 * turns) < 1 else 0


def _to_rgb(frame: Any, max_side: int | None) -> np.ndarray:
    width, height = frame.width, frame.height
    if max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width = max(2, round(width * scale))
        height = max(2, round(height * scale))
    if getattr(frame, "color_trc", None) in HDR_TRANSFERS:
        return _hdr_to_sdr(frame, width, height)
    if getattr(frame, "interlaced_frame", False) and frame.height >= 4:
        return _one_field(frame, width, height)
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation=EXACT)
    return np.ascontiguousarray(rgb.to_ndarray())


def encoder_frame(rgb: np.ndarray, pix_fmt: str = "yuv420p") -> Any:
    """An RGB picture as the ``pix_fmt`` frame an encoder takes, converted with :data:`EXACT`.

    Handed RGB, PyAV converts it with swscale's fast code, whose output differs between
    instruction sets (forced to SSE2 and to plain C on one machine, the same pictures gave two
    H.264 files), so the lab's fakes, the attack copies and the samples Verity writes would hold
    other pictures on another computer. Converted here, they are the same at every level (x264
    itself is bit-exact across instruction sets).
    """
    import av

    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(format=pix_fmt, interpolation=EXACT)


def _one_field(frame: Any, width: int, height: int) -> np.ndarray:
    """An interlaced frame as its top field alone, stretched back to the frame's height.

    The two fields of an interlaced frame (broadcast, camcorders, 1080i) were taken 1/50 or 1/60 s
    apart; woven together, anything that moves has comb-teeth edges, which the visual detectors
    read as artifacts (on a woven copy of a real interview `visual.spectrum` moved +1.5 towards
    fake, `visual.blend` −0.8). One field is one instant: it costs half the vertical detail and
    keeps no state between frames, so seeking, sampling and chunks give the same pictures.
    """
    import cv2

    field = frame.to_ndarray(format="rgb24", interpolation=EXACT)[0::2]
    return np.ascontiguousarray(cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR))


# Transfer characteristics (ISO/IEC 23091-2): 16 = SMPTE ST 2084 (PQ), 18 = ARIB STD-B67 (HLG).
_PQ, _HLG = 16, 18
HDR_TRANSFERS = {_PQ: "pq", _HLG: "hlg"}  # the names the probe records
_BT2020_PRIMARIES, _BT2020_MATRICES = 9, (9, 10)
_SDR_WHITE_NITS = 203.0  # HDR reference white (ITU-R BT.2408) becomes SDR white
# Linear BT.2020 RGB to linear BT.709 RGB (ITU-R BT.2087 inverse)
_BT2020_TO_709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]],
    dtype=np.float32,
)


def _hdr_to_sdr(frame: Any, width: int, height: int) -> np.ndarray:
    """A PQ or HLG frame (phones film HDR by default) as the SDR picture a viewer would be shown.

    Decoded as plain 8-bit RGB, an HDR frame comes out flat, dim and desaturated (PQ and BT.2020
    code values read as if they were BT.709): on PQ and HLG copies of a real interview
    `visual.blend` moved −0.34 and `visual.eyes_teeth` +2.84 (bench/hdr.py). Here the signal is
    decoded to light (PQ: ST 2084 EOTF; HLG: inverse OETF and the BT.2100 OOTF for a 1000-nit
    display), reference white (203 nits, BT.2408) becomes SDR white, BT.2020 primaries become
    BT.709, highlights above white are clipped and the BT.709 / BT.1886 gamma is applied. An
    interlaced HDR frame gives its top field, as :func:`_one_field` does.
    """
    colorspace = "bt2020" if getattr(frame, "colorspace", None) in _BT2020_MATRICES else None
    if getattr(frame, "interlaced_frame", False) and frame.height >= 4:
        import cv2

        full = frame.reformat(
            format="rgb48le", src_colorspace=colorspace, interpolation=EXACT
        ).to_ndarray()
        coded = cv2.resize(full[0::2], (width, height), interpolation=cv2.INTER_LINEAR)
    else:
        coded = frame.reformat(
            width=width,
            height=height,
            format="rgb48le",
            src_colorspace=colorspace,
            interpolation=EXACT,
        ).to_ndarray()
    signal = coded.astype(np.float32) / 65535.0
    if frame.color_trc == _PQ:
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        power = np.power(signal, 1.0 / m2)
        nits = 10000.0 * np.power(np.maximum(power - c1, 0.0) / (c2 - c3 * power), 1.0 / m1)
    else:
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        scene = np.where(signal <= 0.5, signal**2 / 3.0, (np.exp((signal - c) / a) + b) / 12.0)
        luma = scene @ np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)
        nits = 1000.0 * scene * np.power(np.maximum(luma, 1e-6), 0.2)[..., None]
    light = nits / _SDR_WHITE_NITS
    if getattr(frame, "color_primaries", None) == _BT2020_PRIMARIES:
        light = light @ _BT2020_TO_709.T
    sdr = np.power(np.clip(light, 0.0, 1.0), 1.0 / 2.4)
    return np.ascontiguousarray(np.round(sdr * 255.0).astype(np.uint8))
