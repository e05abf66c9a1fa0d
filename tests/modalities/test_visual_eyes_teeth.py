"""visual.eyes_teeth: iris colour, specular reflections and teeth structure on a real face."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.store import sha256_file
from modalities.visual import eyes_teeth, faces
from tests.modalities.visual_faces_media import (
    astronaut,
    face_video,
    group_picture,
    small_face_frames,
)


@pytest.fixture(scope="module")
def face() -> faces.Face:
    return faces.detect_faces(astronaut())[0]


def _eye_mask(face: faces.Face, eye: slice) -> np.ndarray:
    return eyes_teeth._polygon_mask(face.landmarks[eye], astronaut().shape[:2])


def test_cues_on_the_real_photo(face: faces.Face) -> None:
    cues = eyes_teeth.measure(astronaut(), face)
    assert set(cues) == set(eyes_teeth.REFERENCE)  # she smiles: teeth are visible
    assert all(np.isfinite(v) for v in cues.values())
    assert cues["iris_colour_difference"] < 15


def test_a_tinted_iris_raises_the_colour_difference(face: faces.Face) -> None:
    img = astronaut().copy()
    mask = _eye_mask(face, slice(42, 48))
    dark = mask & (img.mean(axis=2) < np.median(img[mask].mean(axis=1)))
    tint = np.array([0, 60, -40])
    img[dark] = np.clip(img[dark].astype(int) + tint, 0, 255).astype(np.uint8)
    before = eyes_teeth.measure(astronaut(), face)["iris_colour_difference"]
    after = eyes_teeth.measure(img, face)["iris_colour_difference"]
    assert after > before + 10


def test_a_highlight_in_one_eye_only_is_inconsistent(face: faces.Face) -> None:
    img = astronaut().copy()
    centre = face.landmarks[36:42].mean(axis=0).round().astype(int)
    cv2.circle(img, (int(centre[0]), int(centre[1])), 2, (255, 255, 255), -1)
    assert eyes_teeth.measure(img, face)["specular_inconsistency"] == 1.0


def test_smoothed_teeth_lose_structure(face: faces.Face) -> None:
    img = astronaut().copy()
    x0, y0 = face.landmarks[48:68].min(axis=0).astype(int) - 3
    x1, y1 = face.landmarks[48:68].max(axis=0).astype(int) + 3
    img[y0:y1, x0:x1] = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), 4)
    before = eyes_teeth.measure(astronaut(), face)["teeth_structure"]
    after = eyes_teeth.measure(img, face).get("teeth_structure", 0.0)
    assert after < 0.6 * before


def test_detector_reports_named_findings_and_out_of_domain(tmp_path: Path) -> None:
    def media(path: Path) -> MediaInput:
        return MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))

    photo, blank, grey = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "g.png"
    Image.fromarray(astronaut()).save(photo)
    Image.fromarray(np.full((120, 160, 3), 200, np.uint8)).save(blank)
    Image.fromarray(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY)).save(grey)
    detector = eyes_teeth.build()
    evidence = detector.analyze(media(photo))
    codes = {f.code for f in evidence.findings}
    assert codes == set(eyes_teeth.REFERENCE) and np.isfinite(evidence.raw_score)
    assert detector.analyze(media(blank)).out_of_domain == "no face found"
    grey_codes = {f.code for f in detector.analyze(media(grey)).findings}
    assert "iris_colour_difference" not in grey_codes and "specular_inconsistency" in grey_codes


def test_a_small_face_in_a_large_picture_is_looked_at_again(tmp_path: Path) -> None:
    """The 89-px face of a 2048-px picture is not found once the picture is shrunk to 1280 px for
    the first look; it is measured on the second, larger look, which the evidence names. The
    43-px face of a 1024-px picture, lost on the 640-px copy the first look sought faces on, is
    found on the whole picture, and its eyes are named as too narrow to measure ("no face found"
    before); a picture of 640 px or less was seen whole the first time."""
    paths = {}
    for name, width, side in (("big", 2048, 80), ("small", 1024, 40), ("whole", 640, 20)):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(group_picture(width, side)).save(paths[name])
    detector = eyes_teeth.build()

    def analyze(name: str) -> Any:
        path = paths[name]
        return detector.analyze(MediaInput(path, sha256_file(path), probe(path, MediaLimits())))

    evidence = analyze("big")
    codes = {f.code: f.value for f in evidence.findings}
    assert evidence.out_of_domain is None and codes["picture_looked_again"] == 2048
    assert set(eyes_teeth.REFERENCE) - {"teeth_structure"} <= set(codes)
    narrow = analyze("small")
    assert narrow.out_of_domain == f"eyes narrower than {eyes_teeth.MIN_EYE_PX:g} px"
    assert {f.code: f.value for f in narrow.findings}["picture_looked_again"] == 1024
    missed = analyze("whole")
    assert missed.out_of_domain == "no face found"
    assert "picture_looked_again" not in {f.code for f in missed.findings}


def test_a_small_face_in_a_large_video_is_looked_at_again(tmp_path: Path) -> None:
    """A 40-px face in a 720p video, missed on the 640-px copies, is found on the second look at
    full size, and its eyes are named too narrow (it was "no face found"); a 70-px face in a
    1080p video is measured on the frames of that look."""
    detector = eyes_teeth.build()

    def analyze(path: Path) -> Any:
        return detector.analyze(MediaInput(path, sha256_file(path), probe(path, MediaLimits())))

    small = analyze(face_video(tmp_path / "small.mp4", small_face_frames(1280, 720, 40), fps=2))
    codes = {f.code: f.value for f in small.findings}
    assert small.out_of_domain == f"eyes narrower than {eyes_teeth.MIN_EYE_PX:g} px"
    assert codes["video_looked_again"] == 1280 and codes["largest_face_px"] < 64
    hd = analyze(face_video(tmp_path / "hd.mp4", small_face_frames(1920, 1080, 70), fps=2))
    codes = {f.code: f.value for f in hd.findings}
    assert hd.out_of_domain is None and codes["video_looked_again"] == 1920
    assert "specular_inconsistency" in codes
