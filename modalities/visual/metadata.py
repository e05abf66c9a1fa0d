"""``visual.metadata``: what the file says about itself.

Reads container tags (PyAV), EXIF, PNG text chunks and XMP, and looks for the signatures generators
and editors leave: Stable Diffusion's ``parameters`` chunk, ComfyUI workflows, IPTC's
``trainedAlgorithmicMedia`` source type, encoder tags of face-swap tools, editing software, and
creation times that contradict each other. Each finding carries an expert-assigned log-likelihood
ratio, not one fitted on data, so the detector is marked uncalibrated and fusion down-weights it.

Metadata is easy to strip and easy to forge. A generator's own signature is strong evidence that a
file was synthesised; the absence of signatures, or a camera's tags, says very little, which is why
the negative LLRs here are small and an ``authentic`` verdict can never rest on this detector alone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
from PIL import Image

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality
from core.media import MediaKind

SPEC = DetectorSpec(
    name="visual.metadata",
    modality=Modality.VISUAL,
    version="1.0.0",
    summary="Container, EXIF, PNG-text and XMP metadata: generator signatures, editors, times",
    media_kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}),
    resolution="clip",
    calibration_version="expert-prior-1",
    calibrated=False,
    fusion_weight=0.6,
    licence="Apache-2.0",
)

# Expert-prior log-likelihood ratios (natural log, fake vs. real) per finding.
LLR_GENERATOR = 8.0  # the file names the generator that made it
LLR_DECLARED_AI = 8.0  # IPTC digital source type says "trained algorithmic media"
LLR_EDITOR = 0.5  # an editing program wrote the file: edited, not necessarily fabricated
LLR_TIME_FUTURE = 0.7
LLR_TIME_MISMATCH = 0.4
LLR_NO_CAMERA = 0.2
LLR_CAMERA = -0.3
LLR_CLAMP = (-1.0, 8.0)

GENERATORS = (
    "stable diffusion",
    "stable-diffusion",
    "stablediffusion",
    "sdxl",
    "midjourney",
    "dall-e",
    "dall·e",
    "dalle",
    "novelai",
    "adobe firefly",
    "imagen",
    "comfyui",
    "automatic1111",
    "invokeai",
    "diffusers",
    "stylegan",
    "progan",
    "biggan",
    "runwayml",
    "runway gen",
    "leonardo.ai",
    "ideogram",
    "black forest labs",
    "deepfacelab",
    "faceswap",
    "roop",
    "facefusion",
    "simswap",
    "deep-live-cam",
    "sora",
    "pika labs",
    "heygen",
    "synthesia",
    "d-id",
    "wav2lip",
    "sadtalker",
    "liveportrait",
)
EDITORS = (
    "photoshop",
    "gimp",
    "lightroom",
    "affinity",
    "pixelmator",
    "snapseed",
    "canva",
    "paint.net",
    "premiere",
    "final cut",
    "davinci resolve",
    "capcut",
    "imovie",
    "after effects",
    "kdenlive",
    "shotcut",
    "vegas",
)
# PNG text keys written by diffusion front ends with the generation settings.
GENERATOR_PNG_KEYS = (
    "parameters",
    "prompt",
    "workflow",
    "dream",
    "sd-metadata",
    "invokeai_metadata",
)
CAMERA_TAGS = ("com.apple.quicktime.make", "com.apple.quicktime.model", "com.android.version")
AI_SOURCE_MARKERS = (b"trainedAlgorithmicMedia", b"compositeWithTrainedAlgorithmicMedia")
SCAN_BYTES = 4 * 1024 * 1024

_WORD = {
    name: re.compile(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])")
    for name in GENERATORS + EDITORS
}


def _mentions(text: str, names: tuple[str, ...]) -> str | None:
    lowered = text.lower()
    for name in names:
        if _WORD[name].search(lowered):
            return name
    return None


class MetadataDetector:
    """Inspects metadata; no weights, deterministic, cheap."""

    spec = SPEC

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now

    def analyze(self, media: MediaInput) -> Evidence:
        tags = _image_tags(media.path) if media.kind is MediaKind.IMAGE else _video_tags(media.path)
        findings = _findings(tags, media.path, self._now or datetime.now(UTC), media.kind)
        raw = sum(f.llr for f in findings)
        llr = min(max(raw, LLR_CLAMP[0]), LLR_CLAMP[1])
        strong = [f for f in findings if f.llr >= LLR_GENERATOR]
        summary = (
            strong[0].message
            if strong
            else f"{len(findings)} metadata observation(s); none names a generator"
        )
        return Evidence.from_llr(
            SPEC, raw_score=raw, llr=llr, findings=tuple(findings), summary=summary
        )


def _image_tags(path: Path) -> dict[str, str]:
    tags: dict[str, str] = {}
    with Image.open(path) as image:
        for key, value in image.info.items():
            if isinstance(value, str | bytes) and key not in {"icc_profile", "exif"}:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                tags[f"info:{key}"] = text[:4000]
        exif = image.getexif()
        for tag_id, name in (
            (271, "Make"),
            (272, "Model"),
            (305, "Software"),
            (306, "DateTime"),
            (270, "ImageDescription"),
            (315, "Artist"),
        ):
            if tag_id in exif:
                tags[f"exif:{name}"] = str(exif[tag_id])[:4000]
        for key in ("xmp", "XML:com.adobe.xmp"):
            xmp = tags.get(f"info:{key}", "")
            match = re.search(r"CreatorTool(?:>|=\")([^<\"]{1,200})", xmp)
            if match:
                tags["xmp:CreatorTool"] = match.group(1)
        sub = exif.get_ifd(0x8769)
        for tag_id, name in ((36867, "DateTimeOriginal"), (36868, "DateTimeDigitized")):
            if tag_id in sub:
                tags[f"exif:{name}"] = str(sub[tag_id])
    return tags


def _video_tags(path: Path) -> dict[str, str]:
    tags: dict[str, str] = {}
    with av.open(str(path), metadata_errors="replace") as container:
        for key, value in container.metadata.items():
            tags[f"format:{key}"] = str(value)[:4000]
        for stream in container.streams:
            for key, value in stream.metadata.items():
                tags[f"stream{stream.index}:{key}"] = str(value)[:4000]
    return tags


def _scan_markers(path: Path) -> tuple[bool, bool]:
    """Look for XMP/C2PA markers at the head and tail of the file (where writers put them)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(SCAN_BYTES)
        tail = b""
        if size > SCAN_BYTES:
            handle.seek(max(SCAN_BYTES, size - SCAN_BYTES))
            tail = handle.read()
    blob = head + tail
    declared_ai = any(marker in blob for marker in AI_SOURCE_MARKERS)
    c2pa = b"c2pa" in blob and b"jumb" in blob
    return declared_ai, c2pa


def _findings(tags: dict[str, str], path: Path, now: datetime, kind: MediaKind) -> list[Finding]:
    findings: list[Finding] = []
    for key, value in sorted(tags.items()):
        name = _mentions(value, GENERATORS)
        if name:
            findings.append(
                Finding(
                    code="generator_signature",
                    llr=LLR_GENERATOR,
                    message=f"metadata {key} names generator '{name}'",
                    value=value[:200],
                )
            )
            continue
        editor = _mentions(value, EDITORS)
        if editor and _is_software_tag(key):
            findings.append(
                Finding(
                    code="editing_software",
                    llr=LLR_EDITOR,
                    message=f"written by editing software '{editor}' ({key})",
                    value=value[:200],
                )
            )
        elif "lavf" in value.lower() and key.endswith("encoder"):
            findings.append(
                Finding(
                    code="ffmpeg_encoder",
                    llr=0.0,
                    message=f"re-encoded with FFmpeg ({key})",
                    value=value[:200],
                )
            )
    png_keys = [k for k in tags if k.startswith("info:") and k[5:].lower() in GENERATOR_PNG_KEYS]
    if png_keys and not any(f.code == "generator_signature" for f in findings):
        findings.append(
            Finding(
                code="generator_settings",
                llr=LLR_GENERATOR,
                message="PNG text chunk holds diffusion generation settings",
                value=", ".join(sorted(k[5:] for k in png_keys)),
            )
        )
    declared_ai, c2pa = _scan_markers(path)
    if declared_ai:
        findings.append(
            Finding(
                code="declared_ai_source",
                llr=LLR_DECLARED_AI,
                message="XMP/C2PA declares an AI digital source type",
                value="trainedAlgorithmicMedia",
            )
        )
    if c2pa:
        findings.append(
            Finding(
                code="c2pa_manifest",
                llr=0.0,
                message="file carries a C2PA manifest (not yet validated)",
            )
        )
    findings.extend(_time_findings(tags, now))
    has_camera = any(k in tags for k in ("exif:Make", "exif:Model")) or any(
        k.split(":", 1)[1] in CAMERA_TAGS for k in tags
    )
    if has_camera:
        camera = " ".join(tags.get(k, "") for k in ("exif:Make", "exif:Model")).strip()
        findings.append(
            Finding(
                code="camera_metadata",
                llr=LLR_CAMERA,
                message="camera make/model present (easily forged)",
                value=camera or "device tags",
            )
        )
    elif kind is MediaKind.IMAGE or not any("creation_time" in k for k in tags):
        findings.append(
            Finding(
                code="no_camera_metadata",
                llr=LLR_NO_CAMERA,
                message="no camera make, model or capture time",
            )
        )
    return findings


def _is_software_tag(key: str) -> bool:
    field = key.split(":", 1)[-1].lower()
    known = {"software", "encoder", "handler_name", "creator", "creatortool", "comment"}
    return field in known or "software" in field or "encoder" in field


def _parse_time(value: str) -> datetime | None:
    text = value.strip().rstrip("\x00")
    for fmt in (
        "%Y:%m:%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S.%fZ",
        "%Y-%m-%dT%H:%M:%SZ",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S",
    ):
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _time_findings(tags: dict[str, str], now: datetime) -> list[Finding]:
    times: dict[str, datetime] = {}
    for key, value in tags.items():
        if key.endswith(("DateTime", "DateTimeOriginal", "DateTimeDigitized", "creation_time")):
            moment = _parse_time(value)
            if moment is not None:
                times[key] = moment
    findings: list[Finding] = []
    future = {k: t for k, t in times.items() if t > now + timedelta(days=1)}
    for key, moment in sorted(future.items()):
        findings.append(
            Finding(
                code="time_in_future",
                llr=LLR_TIME_FUTURE,
                message=f"{key} lies in the future",
                value=moment.isoformat(),
            )
        )
    if len(times) >= 2:
        earliest, latest = min(times.values()), max(times.values())
        spread = (latest - earliest).total_seconds()
        # EXIF times carry no zone: up to 14 h of difference can be a zone, not an edit.
        if spread > 14 * 3600 + 60:
            findings.append(
                Finding(
                    code="time_mismatch",
                    llr=LLR_TIME_MISMATCH,
                    message="creation/modification times disagree",
                    value=f"{spread / 3600:.1f} h apart",
                )
            )
    return findings


def build(**overrides: Any) -> MetadataDetector:
    return MetadataDetector(**overrides)
