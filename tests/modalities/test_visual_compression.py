"""A picture compressed too hard for spectral traces is out of visual.spectrum's domain."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.config import FusionSettings, MediaLimits
from core.detector import MediaInput
from core.fusion import Verdict, fuse
from core.media import probe
from core.store import sha256_file
from modalities.visual import blend, compression, spectrum
from tests.modalities.test_visual_spectrum import photo_like
from tests.modalities.visual_faces_media import astronaut, face_video


def media(path: Path) -> MediaInput:
    return MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))


def jpeg(path: Path, rgb: np.ndarray, quality: int) -> Path:
    Image.fromarray(rgb).save(path, "JPEG", quality=quality)
    return path


def test_quality_50_is_the_annex_k_table_and_scaling_is_monotone() -> None:
    np.testing.assert_array_equal(compression.ijg_table(50), compression.IJG_LUMA)
    assert compression.ijg_table(100).max() == 1  # every coefficient kept
    steps = [compression.ijg_table(q).sum() for q in range(1, 101)]
    assert all(a >= b for a, b in itertools.pairwise(steps))


@pytest.mark.parametrize("quality", [5, 20, 29, 30, 55, 75, 90, 98])
def test_quality_is_read_back_from_the_file(tmp_path: Path, quality: int) -> None:
    found = compression.jpeg_quality(jpeg(tmp_path / "x.jpg", photo_like(64), quality))
    assert found is not None and found.exact
    assert found.quality == quality or (  # qualities 99/100 and 1-3 share tables at 8 bits
        (compression.ijg_table(found.quality) == compression.ijg_table(quality)).all()
    )


def test_other_formats_and_broken_files_have_no_quality(tmp_path: Path) -> None:
    png = tmp_path / "x.png"
    Image.fromarray(photo_like(64)).save(png)
    assert compression.jpeg_quality(png) is None
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert compression.jpeg_quality(broken) is None
    # a camera-like table (no IJG scaling) still gets its nearest quality, marked inexact
    custom = tmp_path / "custom.jpg"
    table = list(range(2, 66))
    Image.fromarray(photo_like(64)).save(custom, "JPEG", qtables=[table, table])
    found = compression.jpeg_quality(custom)
    assert found is not None and not found.exact and 1 <= found.quality <= 100


def test_findings_and_the_domain_limit(tmp_path: Path) -> None:
    fine = media(jpeg(tmp_path / "fine.jpg", photo_like(200), 80))
    found, reason = compression.compression_findings(fine)
    assert reason is None and [(f.code, f.value) for f in found] == [("jpeg_quality", 80)]
    crushed = media(jpeg(tmp_path / "crushed.jpg", photo_like(200), 5))
    found, reason = compression.compression_findings(crushed)
    assert found[0].value == 5 and reason is not None and "too compressed" in reason
    limit = compression.MIN_JPEG_QUALITY
    at_limit = media(jpeg(tmp_path / "limit.jpg", photo_like(200), limit))
    assert compression.compression_findings(at_limit)[1] is None


def test_video_reports_bits_per_pixel(tmp_path: Path) -> None:
    frames = [np.full((96, 128, 3), 40 + 10 * i, np.uint8) for i in range(10)]
    given = media(face_video(tmp_path / "flat.mp4", frames, fps=5))
    (finding,), reason = compression.compression_findings(given)
    info = given.info
    expected = 8 * info.size_bytes / info.duration_s / (128 * 96 * 5)
    assert reason is None and finding.code == "bits_per_pixel"
    assert finding.value == pytest.approx(expected, rel=1e-3)


def test_spectrum_leaves_a_crushed_jpeg_out_and_fusion_says_why(home: Path, tmp_path: Path) -> None:
    crushed = media(jpeg(tmp_path / "face.jpg", astronaut(), 5))
    evidence = spectrum.build().analyze(crushed)
    assert evidence.out_of_domain is not None and "JPEG quality ≈ 5" in evidence.out_of_domain
    assert [(f.code, f.value) for f in evidence.findings] == [("jpeg_quality", 5)]
    seams = blend.build(save_heatmaps=False).analyze(crushed)  # measured robust: no limit
    assert seams.out_of_domain is None
    result = fuse([(spectrum.SPEC, evidence), (blend.SPEC, seams)], FusionSettings())
    assert result.verdict is Verdict.INCONCLUSIVE
    assert any("visual.spectrum left out: too compressed" in r for r in result.reasons)
    alone = fuse([(spectrum.SPEC, evidence)], FusionSettings())
    assert alone.p_fake is None and "no detector's evidence is within its domain" in alone.reasons


def test_a_fine_jpeg_is_scored_and_carries_its_quality(home: Path, tmp_path: Path) -> None:
    fine = media(jpeg(tmp_path / "photo.jpg", photo_like(200), 85))
    evidence = spectrum.build().analyze(fine)
    assert evidence.out_of_domain is None and np.isfinite(evidence.raw_score)
    assert ("jpeg_quality", 85) in [(f.code, f.value) for f in evidence.findings]


def test_video_stream_bits_leave_the_soundtrack_out(tmp_path: Path) -> None:
    """The picture's own bits per pixel are the video packets' bytes over the frames' pixels."""
    import av

    frames = [np.full((96, 128, 3), 40 + 10 * i, np.uint8) for i in range(10)]
    path = face_video(tmp_path / "flat.mp4", frames, fps=5)
    with av.open(str(path)) as container:
        packets = [p.size for p in container.demux(container.streams.video[0]) if p.size]
    expected = 8 * sum(packets) / (len(packets) * 128 * 96)
    assert compression.video_stream_bits_per_pixel(path) == pytest.approx(expected)
    picture = media(jpeg(tmp_path / "x.jpg", photo_like(64), 80))
    assert compression.video_compression_limit(picture) == (None, None)  # videos only
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    assert compression.video_stream_bits_per_pixel(broken) is None


def test_eyes_teeth_leaves_a_crushed_video_out_and_scores_a_fine_one(tmp_path: Path) -> None:
    """Below the measured limit the face's fine detail is gone: out of domain, with the rate
    named; a face video encoded well is scored and carries its rate as a finding."""
    from modalities.visual import eyes_teeth
    from tests.modalities.visual_faces_media import drifting_face_frames

    frames = drifting_face_frames(n=1, size=448) * 100  # a still face, 4 s: x264 spends little
    coarse = media(face_video(tmp_path / "coarse.mp4", frames, fps=25, crf=51))
    crushed = eyes_teeth.build().analyze(coarse)
    assert crushed.out_of_domain is not None and "too compressed" in crushed.out_of_domain
    (rate,) = crushed.findings
    assert rate.code == "video_bits_per_pixel" and rate.value < compression.MIN_VIDEO_BITS_PER_PIXEL
    face = media(face_video(tmp_path / "face.mp4", frames, fps=25, crf=18))
    scored = eyes_teeth.build().analyze(face)
    assert scored.out_of_domain is None, scored.out_of_domain
    rates = [f.value for f in scored.findings if f.code == "video_bits_per_pixel"]
    assert len(rates) == 1 and rates[0] >= compression.MIN_VIDEO_BITS_PER_PIXEL
