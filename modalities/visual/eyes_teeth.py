"""``visual.eyes_teeth``: the hand-crafted cues of Matern, Riess & Stamminger (WACVW 2019).

Generated and swapped faces often get the small things wrong: the two irises differ in colour,
the specular reflections in the two eyes do not agree (one eye has a highlight, the other not, or
they sit in different places), and open mouths show teeth as a smooth white band without the
edges between teeth. Each cue is measured on the largest face of a few frames, in an aligned
256-px crop, and reported as a named finding with its value. The raw score is the largest robust
z-score against real photos (``REFERENCE``, measured on train-corpus colour photos by
bench/visual_eyes_teeth_reference.py); it is not calibrated.

Out of domain: no face, eyes narrower than ``MIN_EYE_PX`` in the original picture, videos whose
picture has fewer bits per pixel than ``compression.MIN_VIDEO_BITS_PER_PIXEL`` (too compressed:
measured, its evidence was gone from H.264 CRF 38 on), grayscale pictures (iris colour is then
unmeasurable; reflections and teeth are still measured). A picture in which no face was found is
looked at again, larger (``sampling.finer_picture``); a video, on the few frames spread over it
that ``second_look`` decodes at full size, whose faces are measured instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality, out_of_domain
from core.media import MediaKind, VideoFrame
from modalities.visual import compression, faces, sampling, second_look

NAME = "visual.eyes_teeth"
# 1.1.0: a video with too few bits per pixel is out of domain
# 1.1.1: a picture larger than 1280 px whose face was not found, or found with eyes too narrow,
# is looked at again, larger (sampling.finer_picture)
# 1.1.2: so is a picture of 641-1280 px whose face was not found on the 640-px copy the first
# look sought it on: faces of ~40-64 px there are sought on the whole picture
# 1.1.3: a video in whose sampled frames no face was found is looked at again (second_look.py):
# the faces found on a few frames spread over it at full size are measured, or named too narrow
VERSION = "1.1.3"
POLICY = faces.SamplingPolicy(fps=1.0, max_frames=4, max_side=1280)
CROP = 256
MIN_EYE_PX = 12.0  # eye width in the frame looked at
MOUTH_OPEN = 0.03  # inner-mouth area over the squared inter-ocular distance
# Median and robust spread (1.4826 × MAD; the standard deviation where the MAD is 0) on 281 real
# colour face photos of train-corpus (manifest sha256 d0b91fd3…67d3e5; teeth: the 36 with an open
# mouth); "sign" says which direction is suspicious (+1: larger, -1: smaller).
REFERENCE: dict[str, dict[str, float]] = {
    "iris_colour_difference": {"median": 5.0553, "scale": 3.5199, "sign": 1.0},
    "specular_inconsistency": {"median": 0.0, "scale": 0.3076, "sign": 1.0},
    "teeth_structure": {"median": 133.7476, "scale": 31.5031, "sign": -1.0},
}

SPEC = DetectorSpec(
    name=NAME,
    modality=Modality.VISUAL,
    version=VERSION,
    summary="Iris colour, specular reflections between the eyes, structure of the teeth",
    media_kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}),
    resolution="frame",
    input_size=CROP,
    input_fps=POLICY.fps,
    licence=f"code Apache-2.0; {faces.LANDMARK_LICENCE}",
    paper="Matern, Riess & Stamminger, Exploiting Visual Artifacts to Expose Deepfakes and Face "
    "Manipulations, WACV Workshops 2019",
)


def _polygon_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


@dataclass(frozen=True)
class EyeStats:
    iris_lab: np.ndarray | None  # mean L, a, b of the darker half of the eye opening
    highlight: np.ndarray | None  # highlight centroid relative to the eye centre, eye widths


def eye_stats(lab: np.ndarray, eye: np.ndarray) -> EyeStats:
    mask = _polygon_mask(eye, lab.shape[:2])
    pixels = lab[mask].astype(np.float64)
    if len(pixels) < 12:
        return EyeStats(None, None)
    lightness = pixels[:, 0]
    iris = pixels[lightness <= np.median(lightness)]
    ys, xs = np.nonzero(mask)
    bright = lightness > max(200.0, float(np.percentile(lightness, 97)))
    width = float(np.linalg.norm(eye[0] - eye[3])) or 1.0
    highlight = None
    if bright.sum() >= 2:
        centre = eye.mean(axis=0)
        spot = np.array([xs[bright].mean(), ys[bright].mean()])
        highlight = (spot - centre) / width
    return EyeStats(iris.mean(axis=0), highlight)


def specular_inconsistency(left: EyeStats, right: EyeStats) -> float:
    """0 when both eyes reflect alike (or neither reflects), 1 when only one does."""
    if left.highlight is None and right.highlight is None:
        return 0.0
    if left.highlight is None or right.highlight is None:
        return 1.0
    return min(1.0, float(np.linalg.norm(left.highlight - right.highlight)))


def teeth_structure(lab: np.ndarray, mouth: np.ndarray, iod: float) -> float | None:
    """Mean gradient magnitude over the bright, colourless pixels of an open mouth (teeth)."""
    mask = _polygon_mask(mouth, lab.shape[:2])
    if mask.sum() < MOUTH_OPEN * iod * iod:
        return None
    lightness = lab[..., 0].astype(np.float32)
    chroma = np.hypot(lab[..., 1].astype(np.float32) - 128, lab[..., 2].astype(np.float32) - 128)
    teeth = mask & (lightness > 140) & (chroma < 25)
    if teeth.sum() < 0.15 * mask.sum() or teeth.sum() < 20:
        return None
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.hypot(gx, gy)[teeth].mean())


def measure(rgb: np.ndarray, face: faces.Face) -> dict[str, float]:
    """The cues measured on one face (only those that could be measured)."""
    matrix = faces.crop_transform(face, CROP)
    crop = cv2.warpAffine(
        faces.as_rgb(rgb),
        matrix,
        (CROP, CROP),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT,
    )
    marks = faces.transform_points(face.landmarks, matrix)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)
    left, right = eye_stats(lab, marks[36:42]), eye_stats(lab, marks[42:48])
    out: dict[str, float] = {"specular_inconsistency": specular_inconsistency(left, right)}
    if not faces.is_grayscale(crop) and left.iris_lab is not None and right.iris_lab is not None:
        out["iris_colour_difference"] = float(np.linalg.norm(left.iris_lab - right.iris_lab))
    iod = float(np.linalg.norm(marks[36:42].mean(axis=0) - marks[42:48].mean(axis=0)))
    teeth = teeth_structure(lab, marks[60:68], iod)
    if teeth is not None:
        out["teeth_structure"] = teeth
    return out


def z_score(cue: str, value: float) -> float:
    ref = REFERENCE[cue]
    return ref["sign"] * (value - ref["median"]) / ref["scale"]


class EyesTeethDetector:
    spec = SPEC

    def analyze(self, media: MediaInput) -> Evidence:
        rate, too_compressed = compression.video_compression_limit(media)
        if too_compressed is not None:
            return out_of_domain(self.spec, too_compressed, findings=[rate] if rate else [])
        if media.kind is MediaKind.IMAGE:
            frames = list(media.frames(max_frames=1, max_side=POLICY.max_side))
        else:
            frames = list(faces.sample_frames(media.path, POLICY, media.info.duration_s))
        looks = [_look(frame, faces.ROTATIONS) for frame in frames]
        measured = [m for _, m in looks if m is not None]
        findings: list[Finding] = []
        finer = (
            None
            if measured or not frames
            else sampling.finer_picture(media, frames[0], faces.DETECT_MAX_SIDE)
        )
        if finer is frames[0] and any(face is not None for face, _ in looks):
            finer = None  # the same pixels give the same eyes: only a missed face is sought
        if media.kind is MediaKind.VIDEO and not any(face is not None for face, _ in looks):
            look = second_look.second_look(media)  # shared with the other face detectors
            if look is not None:
                # its frames, spread over the video at full size, are measured instead
                for frame, found in zip(look.frames, look.found, strict=True):
                    face = found[0] if found else None
                    m = _cues(frame, face) if face is not None else None
                    looks.append((face, m))
                    measured += [m] if m is not None else []
                findings += look.findings(
                    f"on {faces.DETECT_MAX_SIDE}-px copies of the {len(frames)} sampled frame(s)"
                )
        if finer is not None:
            # upright only (and at the rotation a face was found at): cost stays one detection
            rotation = next((face.rotation for face, _ in looks if face is not None), 0)
            face, m = _look(finer, (rotation,), sampling.FINER_DETECT_SIDE)
            looks.append((face, m))
            measured += [m] if m is not None else []
            side = max(finer.rgb.shape[:2])
            findings.append(
                Finding(
                    code="picture_looked_again",
                    value=side,
                    message=f"no face with eyes of {MIN_EYE_PX:g} px in the picture at "
                    f"{max(frames[0].rgb.shape[:2])} px (faces sought on a "
                    f"{faces.DETECT_MAX_SIDE}-px copy): looked again at {side} px (faces sought "
                    f"on a {min(side, sampling.FINER_DETECT_SIDE)}-px copy), "
                    f"{'measured' if m is not None else 'nothing to measure'}",
                )
            )
        if not measured:
            seen = any(face is not None for face, _ in looks)
            reason = "no face found" if not seen else f"eyes narrower than {MIN_EYE_PX:g} px"
            return out_of_domain(self.spec, reason, findings=findings)
        zs = []
        for cue in REFERENCE:
            values = [m[cue] for m in measured if cue in m]
            if not values:
                continue
            value = float(np.median(values))
            z = z_score(cue, value)
            zs.append(z)
            findings.append(
                Finding(
                    code=cue,
                    value=round(value, 4),
                    message=f"{cue.replace('_', ' ')} {value:.3f} (real photos: median "
                    f"{REFERENCE[cue]['median']:g}; robust z {z:+.1f}) over {len(values)} frame(s)",
                )
            )
        if "teeth_structure" not in {f.code for f in findings}:
            findings.append(
                Finding(code="teeth_not_visible", value=True, message="mouth closed or no teeth")
            )
        if rate is not None:
            findings.append(rate)
        raw = float(max(zs))
        return Evidence.from_llr(
            self.spec,
            raw_score=raw,
            llr=0.0,
            findings=tuple(findings),
            summary=f"largest eye/teeth anomaly z {raw:+.1f}",
        )


def _look(
    frame: VideoFrame, rotations: tuple[int, ...], detect_side: int = faces.DETECT_MAX_SIDE
) -> tuple[faces.Face | None, dict[str, float] | None]:
    """The largest face of ``frame`` (None: none found) and its cues (None: eyes too narrow)."""
    found = faces.detect_faces(frame.rgb, rotations=rotations, detect_side=detect_side)
    if not found:
        return None, None
    return found[0], _cues(frame, found[0])


def _cues(frame: VideoFrame, face: faces.Face) -> dict[str, float] | None:
    """The cues of ``face`` (None: its eyes are too narrow to measure)."""
    if float(np.linalg.norm(face.landmarks[36] - face.landmarks[39])) < MIN_EYE_PX:
        return None
    return measure(frame.rgb, face)


def build(**overrides: Any) -> EyesTeethDetector:
    if overrides:
        raise TypeError(f"visual.eyes_teeth takes no options, got {sorted(overrides)}")
    return EyesTeethDetector()
