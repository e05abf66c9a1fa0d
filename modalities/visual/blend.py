"""``visual.blend``: blending boundaries of pasted faces, learnt from self-blended pseudo-fakes.

Each sampled frame goes through the face pipeline (faces.py); every reliable face is scored by a
small CNN trained only on real faces and the same faces blended into themselves (Self-Blended
Images, synthesis/self_blend.py), so it looks for what every face swap must leave: the seam
between two pictures of a face. Per-face scores are aggregated per track, then per clip
(aggregate.py); the heatmap is the network's predicted blending boundary on the deciding face.

Out of domain (reported, left out of fusion): no face, or only faces smaller than
``faces.MIN_RELIABLE_SIDE`` pixels. A picture or video in which the first look found no reliable
face is looked at again, larger (``sampling.finer_picture``, ``second_look``). Fully synthetic
pictures (GAN, diffusion) have no seam: this detector is not meant to see them (visual.spectrum
is).

References: Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022;
Li et al., "Face X-ray for More General Face Forgery Detection", CVPR 2020.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from core.attacks import InputAttack
from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality, SeriesPoint
from core.media import MediaKind
from core.weights import verified_weights, weights_ref
from modalities.visual import aggregate, blend_net, faces, sampling, second_look

NAME = "visual.blend"
# 1.0.1: the network runs in double precision, the same on every CPU (same weights; its 1.0.0
# scores had moved by up to 3.6e-7 with PyTorch's, oneDNN's and MKL's kernels for older CPUs)
# 1.0.2: a picture larger than 1280 px in which no reliable face was found is looked at again,
# larger (sampling.finer_picture): faces down to ~64 px of a 4096-px photograph are scored
# 1.0.3: so is a picture of 641-1280 px: its faces were sought on a 640-px copy only, so the
# 40-60 px faces of a 1024-px picture were "no face found"; on the whole picture they are found
# and named too small to score (faces of 64 px or more were found on the copy already)
# 1.0.4: so is a video whose sampled frames show no reliable face (second_look.py): its faces of
# 64 px or more at full size are scored there, smaller ones named too small ("no face found")
VERSION = "1.0.4"
WEIGHTS_DIR = Path(__file__).parent / "weights" / f"blend-{VERSION}"
POLICY = faces.SamplingPolicy(fps=2.0, max_frames=24, max_side=1280)


def _spec(folder: Path) -> DetectorSpec:
    return DetectorSpec(
        name=NAME,
        modality=Modality.VISUAL,
        version=VERSION,
        summary="Blending boundary of pasted faces (CNN on aligned faces, self-blended training)",
        media_kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}),
        resolution="frame",
        input_size=blend_net.INPUT_SIZE,
        input_fps=POLICY.fps,
        weights=weights_ref(folder),
        licence=f"code Apache-2.0; weights trained on train-corpus faces (research use); "
        f"{faces.LANDMARK_LICENCE}",
        paper="Shiohara & Yamasaki, CVPR 2022; Li et al., CVPR 2020",
    )


SPEC = _spec(WEIGHTS_DIR)


def heatmap_png(crop: np.ndarray, boundary: np.ndarray) -> bytes:
    """The face crop with the predicted boundary probability laid over it in red."""
    from PIL import Image

    size = crop.shape[0]
    heat = cv2.resize(boundary.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    heat = np.clip(heat, 0.0, 1.0)[..., None]
    red = np.zeros_like(crop, dtype=np.float32)
    red[..., 0] = 255.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None].astype(np.float32)
    base = np.repeat(grey, 3, axis=2) * 0.8
    out = np.clip(base * (1 - 0.8 * heat) + red * 0.8 * heat, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


class BlendDetector:
    def __init__(
        self,
        weights_dir: Path | None = None,
        *,
        detector: faces.DetectorKind = "hog",
        policy: faces.SamplingPolicy = POLICY,
        device: str | None = None,
        save_heatmaps: bool = True,
    ) -> None:
        folder = weights_dir or WEIGHTS_DIR
        path = verified_weights(NAME, folder)
        self.spec = SPEC if weights_dir is None else _spec(folder)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # Double precision: each CPU's vector code (PyTorch's kernels, oneDNN's convolutions, MKL's
        # products) rounds single-precision sums in its own order, so an auditor's older computer
        # would get another score in the last digits (bench/cpu_reproducibility.py). The weights
        # stay as trained, in single precision; only the arithmetic is widened.
        self.model = blend_net.load(path, self.device, torch.float64)
        self.face_detector: faces.DetectorKind = detector
        self.policy = policy
        self.save_heatmaps = save_heatmaps
        # ``verity eval --attack pgd``: perturbs the aligned crops the network sees (core.attacks)
        self.adversary: InputAttack | None = None

    def _scan(self, media: MediaInput) -> tuple[faces.FaceScan, list[Finding], bool]:
        """The face scan; findings on a second, larger look when the first found no reliable face;
        and whether that look saw faces too small to score that the scan does not hold."""
        if media.kind is not MediaKind.IMAGE:
            return self._video_scan(media)
        first = list(media.frames(max_frames=1, max_side=self.policy.max_side))
        scan = self._track(first, pad_retry=True)
        if not first or _reliable(scan):
            return scan, [], False
        finer = sampling.finer_picture(media, first[0], faces.DETECT_MAX_SIDE)
        if finer is None:
            return scan, [], False
        # upright only: a sideways picture holding only small faces stays "no face"
        again = self._track([finer], detect_side=sampling.FINER_DETECT_SIDE, try_rotations=False)
        side = max(finer.rgb.shape[:2])
        note = Finding(
            code="picture_looked_again",
            value=side,
            message=f"no reliable face in the picture at {max(first[0].rgb.shape[:2])} px "
            f"(faces sought on a {faces.DETECT_MAX_SIDE}-px copy): looked again at {side} px "
            f"(faces sought on a {min(side, sampling.FINER_DETECT_SIDE)}-px copy), "
            f"{len(again.tracks)} face(s) found",
        )
        return (again if again.tracks else scan), [note], False

    def _video_scan(self, media: MediaInput) -> tuple[faces.FaceScan, list[Finding], bool]:
        """A video's sampled frames; without a reliable face there, the shared second look
        (second_look.py), and with a reliable face there the same frames at its size, faces
        sought on the whole frame (upright: the look found them so)."""
        frames = faces.sample_frames(media.path, self.policy, media.info.duration_s)
        scan = self._track(frames)
        look = None if _reliable(scan) else second_look.second_look(media)
        if look is None:
            return scan, [], False
        notes = look.findings(f"on {faces.DETECT_MAX_SIDE}-px copies of the sampled frames")
        if look.reliable:
            policy = replace(self.policy, max_side=look.side)
            frames = faces.sample_frames(media.path, policy, media.info.duration_s)
            again = self._track(frames, detect_side=look.side, try_rotations=False)
            scan = again if again.tracks else scan
        return scan, notes, look.reason == second_look.SMALL_FACES

    def _track(self, frames: Any, **options: Any) -> faces.FaceScan:
        return faces.track_faces(
            frames,
            detector=self.face_detector,
            upsample=1,
            crop_size=blend_net.CROP_SIZE,
            crop_zoom=blend_net.CROP_ZOOM,
            **options,
        )

    def analyze(self, media: MediaInput) -> Evidence:
        scan, looked_again, small_seen = self._scan(media)
        flags = scan.flags
        keys = [
            (t.track_id, pos)
            for t in scan.tracks
            for pos, face in enumerate(t.faces)
            if not face.tiny
        ]
        base = [
            Finding(
                code="frames_analysed",
                value=scan.frames_scanned,
                message=f"{scan.frames_scanned} frame(s) sampled, "
                f"{scan.frames_with_face} with a face",
            ),
            Finding(
                code="faces_tracked",
                value=len(scan.tracks),
                message=f"{len(scan.tracks)} face track(s)",
            ),
        ] + [
            Finding(
                code=f"flag_{flag}", value=True, message=_FLAG_TEXT.get(flag.split("_")[0], flag)
            )
            for flag in flags
        ]
        base += looked_again
        if not keys:
            reason = (
                "no face found"
                if not scan.tracks and not small_seen
                else f"only faces smaller than {faces.MIN_RELIABLE_SIDE} px"
            )
            return Evidence.from_llr(
                self.spec,
                raw_score=0.0,
                llr=0.0,
                out_of_domain=reason,
                findings=tuple(base),
                summary=reason,
            )
        crops = np.stack([blend_net.centre(scan.crops[k]) for k in keys])
        if self.adversary is not None:
            weight = next(self.model.parameters())
            crops = self.adversary(
                lambda x: self.model(x.permute(0, 3, 1, 2).to(weight.device, weight.dtype))[0],
                crops.astype(np.float32),
                scale=255.0,
                low=0.0,
                high=255.0,
            )
        logits, maps = blend_net.predict(self.model, crops)
        by_key = {k: i for i, k in enumerate(keys)}
        track_scores, track_lengths, track_ids = [], [], []
        for track in scan.tracks:
            idx = [
                by_key[(track.track_id, p)]
                for p in range(len(track.faces))
                if (track.track_id, p) in by_key
            ]
            if idx:
                track_scores.append(aggregate.top_k_mean(logits[idx]))
                track_lengths.append(len(idx))
                track_ids.append(track.track_id)
        raw, best = aggregate.clip_score(track_scores, track_lengths)
        findings = base + [
            Finding(
                code=f"track_{tid}_score",
                value=round(score, 4),
                message=f"face track {tid}: {n} face(s), top-half mean logit {score:+.2f}",
            )
            for tid, score, n in zip(track_ids, track_scores, track_lengths, strict=True)
        ]
        series = self._series(media, scan, keys, logits)
        artifacts: tuple[Any, ...] = ()
        if self.save_heatmaps:
            deciding = [i for i, k in enumerate(keys) if k[0] == track_ids[best]]
            top = max(deciding, key=lambda i: logits[i])
            png = heatmap_png(crops[top], maps[top])
            artifacts = (media.artifacts.put("heatmap.blend_boundary", png, "image/png"),)
        return Evidence.from_llr(
            self.spec,
            raw_score=raw,
            llr=0.0,
            findings=tuple(findings),
            series=series,
            artifacts=artifacts,
            summary=f"blend logit {raw:+.2f} on {len(track_scores)} face track(s)",
        )

    def _series(
        self,
        media: MediaInput,
        scan: faces.FaceScan,
        keys: list[tuple[int, int]],
        logits: np.ndarray,
    ) -> tuple[SeriesPoint, ...]:
        """Per sampled frame, the highest face score (videos only)."""
        if media.kind is not MediaKind.VIDEO:
            return ()
        step = 1.0 / self.policy.effective_fps(media.info.duration_s)
        per_time: dict[float, float] = {}
        tracks = {t.track_id: t for t in scan.tracks}
        for (tid, pos), logit in zip(keys, logits, strict=True):
            t = tracks[tid].faces[pos].time_s
            per_time[t] = max(per_time.get(t, -np.inf), float(logit))
        return tuple(
            SeriesPoint(start_s=t, end_s=t + step, score=s) for t, s in sorted(per_time.items())
        )


def _reliable(scan: faces.FaceScan) -> bool:
    return any(not face.tiny for track in scan.tracks for face in track.faces)


_FLAG_TEXT = {
    "no": "no face found in the sampled frames",
    "several": "several faces: the clip score is the most suspicious long-enough track",
    "tiny": "faces below the reliable size were not scored",
    "grayscale": "grayscale picture: colour cues unavailable",
    "rotated": "faces were found only in the rotated picture",
}


def build(**overrides: Any) -> BlendDetector:
    return BlendDetector(**overrides)
