"""Fusion: many detectors' evidence into one verdict.

Rule ``weighted-llr-sum-v1`` (an interim rule until calibrated fusion lands): each detector that
produced evidence contributes ``w · LLR`` with ``w = spec.fusion_weight`` for calibrated detectors
and ``w = spec.fusion_weight · uncalibrated_weight`` for detectors whose LLR is an expert prior.
The sum is the fused LLR; ``p_fake = sigmoid(LLR)`` at even prior odds. The verdict is
``manipulated`` at or above ``manipulated_at``, ``authentic`` at or below ``authentic_at`` and
``inconclusive`` between them. An ``authentic`` verdict additionally needs a calibrated detector
that supports it: uncalibrated evidence such as clean metadata cannot establish authenticity, only
fail to find a problem.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from core.config import FusionSettings
from core.detector import DetectorSpec, Evidence, sigmoid

RULE = "weighted-llr-sum-v1"


class Verdict(StrEnum):
    AUTHENTIC = "authentic"
    MANIPULATED = "manipulated"
    INCONCLUSIVE = "inconclusive"


class Contribution(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    detector: str
    llr: float
    weight: float
    calibrated: bool


class FusionResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    verdict: Verdict
    llr: float | None
    p_fake: float | None
    contributions: tuple[Contribution, ...]
    reasons: tuple[str, ...]


def detector_weight(spec: DetectorSpec, evidence: Evidence, settings: FusionSettings) -> float:
    factor = 1.0 if evidence.calibrated else settings.uncalibrated_weight
    return spec.fusion_weight * factor


def fuse(items: list[tuple[DetectorSpec, Evidence]], settings: FusionSettings) -> FusionResult:
    if not items:
        return FusionResult(
            rule=RULE,
            verdict=Verdict.INCONCLUSIVE,
            llr=None,
            p_fake=None,
            contributions=(),
            reasons=("no detector produced evidence for this media",),
        )
    contributions = tuple(
        Contribution(
            detector=spec.name,
            llr=evidence.llr,
            weight=detector_weight(spec, evidence, settings),
            calibrated=evidence.calibrated,
        )
        for spec, evidence in items
    )
    llr = sum(c.weight * c.llr for c in contributions)
    p_fake = sigmoid(llr)
    reasons: list[str] = []
    if p_fake >= settings.manipulated_at:
        verdict = Verdict.MANIPULATED
    elif p_fake <= settings.authentic_at:
        if any(c.calibrated and c.weight > 0 and c.llr < 0 for c in contributions):
            verdict = Verdict.AUTHENTIC
        else:
            verdict = Verdict.INCONCLUSIVE
            reasons.append("no calibrated detector supports authenticity")
    else:
        verdict = Verdict.INCONCLUSIVE
        reasons.append(
            f"p_fake {p_fake:.3f} lies between the thresholds "
            f"{settings.authentic_at} and {settings.manipulated_at}"
        )
    if not any(c.calibrated for c in contributions):
        reasons.append("only uncalibrated detectors applied; their evidence is down-weighted")
    return FusionResult(
        rule=RULE,
        verdict=verdict,
        llr=llr,
        p_fake=p_fake,
        contributions=contributions,
        reasons=tuple(reasons),
    )
