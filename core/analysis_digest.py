"""A digest of an analysis as stored, recorded in its custody event.

If anyone later edits the verdict, a score or a detector's result in the database, the digest no
longer matches the one the custody chain vouches for, and ``verity custody verify`` says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.canonical import sha256_canonical
from core.db import Analysis


def iso(moment: datetime) -> str:
    """Microsecond UTC time; PostgreSQL and SQLite both keep microseconds exactly."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def analysis_record(analysis: Analysis) -> dict[str, Any]:
    return {
        "id": analysis.id,
        "case_id": analysis.case_id,
        "media_id": analysis.media_id,
        "started_at": iso(analysis.started_at),
        "finished_at": iso(analysis.finished_at),
        "status": analysis.status,
        "verdict": analysis.verdict,
        "p_fake": analysis.p_fake,
        "llr": analysis.llr,
        "fusion_rule": analysis.fusion_rule,
        "fusion_details": analysis.fusion_details,
        "engine_version": analysis.engine_version,
        "results": [
            {
                "position": r.position,
                "detector": r.detector,
                "modality": r.modality,
                "version": r.version,
                "weights_sha256": r.weights_sha256,
                "calibration_version": r.calibration_version,
                "calibrated": r.calibrated,
                "status": r.status,
                "reason": r.reason,
                "raw_score": r.raw_score,
                "llr": r.llr,
                "p_fake": r.p_fake,
                "fusion_weight": r.fusion_weight,
                "evidence": r.evidence,
            }
            for r in sorted(analysis.results, key=lambda r: r.position)
        ],
    }


def analysis_digest(analysis: Analysis) -> str:
    return sha256_canonical(analysis_record(analysis))
