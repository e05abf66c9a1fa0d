"""How hard a picture was compressed, and when that puts it outside a detector's domain.

Why: ``visual.spectrum`` looks for the high-frequency traces of generative up-sampling; strong
JPEG compression quantises exactly those frequencies away, so on such a file its score means
"nothing left to see", not "authentic". The fusion must then say the input is out of the
detector's domain (issue 3: inconclusive when the input is too compressed) instead of counting
its silence as evidence. The limit is measured, per detector: on held-out lab fakes re-encoded at
JPEG quality 90 … 5, spectrum 1.1.0 (picture spectrum) held to quality 30 and fell towards chance
at 20 and 10; 1.2.0 (NPR residual spectrum) holds 0.85 at 10 and drops to 0.75 at 5, so its limit
sits between them, at 8. ``visual.blend``'s seams survive even quality 10, so blend has no such
limit (docs/benchmarks.md, "Too compressed" and "Up-sampling residual").

The JPEG quality is read from the file's luminance quantisation table, without decoding: the
nearest IJG (libjpeg) quality, whose tables most encoders use or approximate. A table that no
IJG quality fits closely (some cameras' own tables) still gets its nearest quality, and the
finding says how far off it is. Videos: the container's mean bit rate spread over the pixels it
shows per second (bits per pixel, an upper bound on the picture's bits as it includes the
soundtrack: ``visual.spectrum`` reports it), and the picture's own bits per pixel, read from the
video stream's packets without decoding (``visual.eyes_teeth`` reports it and is out of domain
below ``MIN_VIDEO_BITS_PER_PIXEL``: on lab face swaps re-encoded at H.264 CRF 23 … 43 its AUC held
to CRF 33 and fell towards chance at 38 and 43, while ``visual.blend`` held at 43;
docs/benchmarks.md, "Too compressed: videos").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.detector import Finding, MediaInput
from core.media import MediaKind

# ITU-T T.81 Annex K.1 luminance table (quality 50 in the IJG scaling), row-major order
IJG_LUMA = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.float64,
)  # fmt: skip
MIN_JPEG_QUALITY = 8  # below it visual.spectrum 1.2.0 is out of domain (docs/benchmarks.md)
# below it visual.eyes_teeth is out of domain on videos: between CRF 33 (0.0073 on the lab's
# 360×288 clips) and CRF 38 (0.0053), where its evidence was gone (docs/benchmarks.md)
MIN_VIDEO_BITS_PER_PIXEL = 0.006


def ijg_table(quality: int) -> np.ndarray:
    """The luminance table libjpeg writes for ``quality`` (1-100), baseline (≤ 255)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((IJG_LUMA * scale + 50) / 100), 1, 255)


@dataclass(frozen=True)
class JpegQuality:
    quality: int  # nearest IJG quality
    mismatch: float  # mean |difference| per coefficient from that quality's table

    @property
    def exact(self) -> bool:
        return self.mismatch < 0.5


def jpeg_quality(path: Path) -> JpegQuality | None:
    """The nearest IJG quality of a JPEG file's luminance table; None for other formats or a
    file without a readable table."""
    try:
        with Image.open(path) as image:
            if image.format != "JPEG":
                return None
            tables = getattr(image, "quantization", None) or {}
    except (OSError, ValueError):
        return None
    luma = tables.get(0)
    if luma is None or len(luma) != 64:
        return None
    actual = np.asarray(list(luma), dtype=np.float64)
    errors = [float(np.mean(np.abs(ijg_table(q) - actual))) for q in range(1, 101)]
    best = int(np.argmin(errors))
    return JpegQuality(quality=best + 1, mismatch=errors[best])


def video_bits_per_pixel(media: MediaInput) -> float | None:
    """Container bits per second over the pixels shown per second; None when unknown."""
    info, video = media.info, media.info.video
    if video is None or not info.duration_s or not video.fps or video.width * video.height == 0:
        return None
    bits_per_second = 8 * info.size_bytes / info.duration_s
    return bits_per_second / (video.width * video.height * video.fps)


def compression_findings(media: MediaInput) -> tuple[tuple[Finding, ...], str | None]:
    """What the file's compression tells about this input, and the out-of-domain reason when a
    picture is compressed too hard for spectral traces to survive."""
    if media.kind is MediaKind.IMAGE:
        found = jpeg_quality(media.path)
        if found is None:
            return (), None
        approx = "" if found.exact else f" (nearest IJG table, off by {found.mismatch:.1f})"
        finding = Finding(
            code="jpeg_quality",
            value=found.quality,
            message=f"JPEG quality ≈ {found.quality}{approx}",
        )
        if found.quality < MIN_JPEG_QUALITY:
            return (finding,), (
                f"too compressed: JPEG quality ≈ {found.quality} (below {MIN_JPEG_QUALITY}, "
                "fine detail is quantised away)"
            )
        return (finding,), None
    bpp = video_bits_per_pixel(media) if media.kind is MediaKind.VIDEO else None
    if bpp is None:
        return (), None
    finding = Finding(
        code="bits_per_pixel",
        value=round(bpp, 4),
        message=f"{bpp:.3f} bits per pixel (container rate, soundtrack included)",
    )
    return (finding,), None


def video_stream_bits_per_pixel(path: Path) -> float | None:
    """The picture's own bits per pixel: the video stream's packet bytes over the pixels of the
    frames they hold, soundtrack excluded, read by demuxing (no decoding). None when unknown."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            pixels = stream.codec_context.width * stream.codec_context.height
            total = frames = 0
            for packet in container.demux(stream):
                if packet.size:
                    total += packet.size
                    frames += 1
    except (av.FFmpegError, OSError, ValueError):
        return None
    if not frames or not pixels:
        return None
    return 8 * total / (frames * pixels)


def video_compression_limit(media: MediaInput) -> tuple[Finding | None, str | None]:
    """A video's picture bits per pixel as a finding, and the out-of-domain reason below the
    limit measured for fine facial detail (eyes, teeth)."""
    if media.kind is not MediaKind.VIDEO:
        return None, None
    bpp = video_stream_bits_per_pixel(media.path)
    if bpp is None:
        return None, None
    finding = Finding(
        code="video_bits_per_pixel",
        value=round(bpp, 5),
        message=f"{bpp:.4f} bits per pixel in the video stream (soundtrack excluded)",
    )
    if bpp < MIN_VIDEO_BITS_PER_PIXEL:
        return finding, (
            f"too compressed: {bpp:.4f} bits per pixel in the video stream (below "
            f"{MIN_VIDEO_BITS_PER_PIXEL:g}, fine facial detail is quantised away)"
        )
    return finding, None
