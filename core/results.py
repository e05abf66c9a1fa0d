"""The JSON form of an analysis: the ``verity analyze --json`` / ``show --json`` contract.

Tools outside Verity parse this, so fields are only ever added, never renamed or removed. Required
since schema 1: ``analysis_id``, ``case_id``, ``media.sha256``, ``media.kind``,
``media.duration_s``, ``verdict``, ``p_fake`` and ``detectors[]`` with ``name``, ``modality``,
``version``, ``status``, ``raw_score``, ``p_fake``, ``reason``.
"""

from __future__ import annotations

from typing import Any

from core.db import Analysis, MediaItem

RESULT_SCHEMA = 1


def media_json(media: MediaItem, original_name: str) -> dict[str, Any]:
    probe = media.probe or {}
    video = probe.get("video") or {}
    audio = probe.get("audio") or {}
    return {
        "id": media.id,
        "sha256": media.sha256,
        "kind": media.kind,
        "duration_s": media.duration_s,
        "size_bytes": media.size_bytes,
        "original_name": original_name,
        "container": probe.get("container"),
        "width": video.get("width"),
        "height": video.get("height"),
        "fps": video.get("fps"),
        "frame_count": video.get("frame_count"),
        "display_rotation": video.get("display_rotation", 0) if video else None,
        "display_mirrored": video.get("display_mirrored", False) if video else None,
        "interlaced": video.get("interlaced", False) if video else None,
        "hdr": video.get("hdr") if video else None,
        "video_codec": video.get("codec"),
        "audio_codec": audio.get("codec"),
        "sample_rate": audio.get("sample_rate"),
        "channels": audio.get("channels"),
        "c2pa_state": (media.c2pa or {}).get("state"),
        "c2pa_failures": list((media.c2pa or {}).get("failure_codes", [])),
    }


def analysis_json(analysis: Analysis, media: MediaItem, original_name: str) -> dict[str, Any]:
    details = analysis.fusion_details or {}
    return {
        "schema_version": RESULT_SCHEMA,
        "analysis_id": analysis.id,
        "case_id": analysis.case_id,
        "media": media_json(media, original_name),
        "verdict": analysis.verdict,
        "p_fake": analysis.p_fake,
        "p_fake_interval": details.get("p_fake_interval"),
        "llr": analysis.llr,
        "inconclusive_reasons": details.get("reasons", [])
        if analysis.verdict == "inconclusive"
        else [],
        "contributions": details.get("contributions", []),
        "fusion": {
            "rule": analysis.fusion_rule,
            "reasons": details.get("reasons", []),
            "thresholds": details.get("thresholds", {}),
        },
        "detectors": [
            {
                "name": r.detector,
                "modality": r.modality,
                "version": r.version,
                "status": r.status,
                "raw_score": r.raw_score,
                "llr": r.llr,
                "p_fake": r.p_fake,
                "llr_interval": (r.evidence or {}).get("llr_interval"),
                "out_of_domain": (r.evidence or {}).get("out_of_domain"),
                "calibrated": r.calibrated,
                "calibration_version": r.calibration_version,
                "weights_sha256": r.weights_sha256,
                "card_sha256": (r.evidence or {}).get("card_sha256"),
                "options": (r.evidence or {}).get("options", {}),
                "fusion_weight": r.fusion_weight,
                "reason": r.reason,
                "elapsed_s": r.elapsed_s,
                "summary": (r.evidence or {}).get("summary", ""),
                "findings": (r.evidence or {}).get("findings", []),
                "series": (r.evidence or {}).get("series", []),
                "artifacts": (r.evidence or {}).get("artifacts", []),
            }
            for r in sorted(analysis.results, key=lambda r: r.position)
        ],
        "engine_version": analysis.engine_version,
        "actor": analysis.actor,
        "started_at": analysis.started_at.isoformat(),
        "finished_at": analysis.finished_at.isoformat(),
    }
