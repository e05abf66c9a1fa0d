"""modalities.visual.metadata on files with the metadata generators, editors and cameras write."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from core import services
from core.app import Verity
from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.visual.metadata import LLR_GENERATOR, MetadataDetector

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def analyze(path: Path):
    media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
    return MetadataDetector(now=NOW).analyze(media)


def codes(evidence) -> set[str]:
    return {f.code for f in evidence.findings}


def image(size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8))


def jpeg_with_exif(path: Path, **tags: str) -> Path:
    exif = Image.Exif()
    ids = {"Make": 271, "Model": 272, "Software": 305, "DateTime": 306}
    for name, value in tags.items():
        if name in ids:
            exif[ids[name]] = value
    if "DateTimeOriginal" in tags:
        exif.get_ifd(0x8769)[36867] = tags["DateTimeOriginal"]
    image().save(path, format="JPEG", exif=exif)
    return path


def test_stable_diffusion_png_is_flagged(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a portrait photo\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7")
    path = tmp_path / "sd.png"
    image().save(path, pnginfo=info)
    evidence = analyze(path)
    assert "generator_settings" in codes(evidence)
    assert evidence.raw_score == pytest.approx(LLR_GENERATOR + 0.2)  # + no camera metadata
    assert evidence.llr == pytest.approx(LLR_GENERATOR)  # clamped
    assert evidence.calibrated is False and evidence.p_fake > 0.99


def test_generator_named_in_software_tag(tmp_path: Path) -> None:
    evidence = analyze(jpeg_with_exif(tmp_path / "mj.jpg", Software="Midjourney v6"))
    (finding,) = [f for f in evidence.findings if f.code == "generator_signature"]
    assert "midjourney" in finding.message and finding.value == "Midjourney v6"


def test_camera_photo_gives_weak_negative_evidence(tmp_path: Path) -> None:
    path = jpeg_with_exif(
        tmp_path / "cam.jpg",
        Make="Canon",
        Model="EOS 5D",
        DateTime="2024:05:01 10:00:00",
        DateTimeOriginal="2024:05:01 10:00:00",
    )
    evidence = analyze(path)
    assert codes(evidence) == {"camera_metadata"}
    assert -1.0 <= evidence.llr < 0 and 0.4 < evidence.p_fake < 0.5


def test_editor_and_inconsistent_times(tmp_path: Path) -> None:
    path = jpeg_with_exif(
        tmp_path / "ed.jpg",
        Make="Nikon",
        Software="Adobe Photoshop 25.0",
        DateTime="2025:02:01 10:00:00",
        DateTimeOriginal="2024:05:01 10:00:00",
    )
    assert {"editing_software", "time_mismatch", "camera_metadata"} <= codes(analyze(path))
    future = jpeg_with_exif(tmp_path / "fut.jpg", DateTimeOriginal="2031:01:01 00:00:00")
    assert "time_in_future" in codes(analyze(future))


def test_word_boundaries_avoid_false_generator_hits(tmp_path: Path) -> None:
    path = jpeg_with_exif(tmp_path / "x.jpg", Software="Pseudorandom Photos Inc")  # has "dorand"
    evidence = analyze(jpeg_with_exif(tmp_path / "y.jpg", Software="Soraya Camera App"))
    assert "generator_signature" not in codes(evidence) | codes(analyze(path))


def test_declared_ai_source_in_xmp(tmp_path: Path) -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        b'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
        b'trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>'
    )
    path = tmp_path / "ai.jpg"
    image().save(path, format="JPEG", xmp=xmp)
    assert "declared_ai_source" in codes(analyze(path))


def test_video_tags_are_read(tmp_path: Path) -> None:
    path = tmp_path / "swap.mp4"
    with av.open(str(path), "w") as container:
        container.metadata["comment"] = "rendered with FaceFusion 3.0"
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), i * 40, np.uint8), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    evidence = analyze(path)
    assert "generator_signature" in codes(evidence)
    assert "ffmpeg_encoder" in codes(evidence)


def test_generator_signature_reaches_a_manipulated_verdict(verity: Verity, tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", '{"nodes": []}')
    path = tmp_path / "comfy.png"
    image().save(path, pnginfo=info)
    result = services.analyze(verity, path, None)
    assert result["verdict"] == "manipulated"
    det = next(d for d in result["detectors"] if d["name"] == "visual.metadata")
    spectrum = next(d for d in result["detectors"] if d["name"] == "visual.spectrum")
    assert spectrum["out_of_domain"]  # 64×48 is below the spectral detector's 128 px
    assert det["calibrated"] is False and det["calibration_version"] == "expert-prior-1"
    assert any(f["code"] == "generator_settings" for f in det["findings"])
