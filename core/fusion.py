"""Fusion: many detectors' evidence into one verdict.

Rule ``weighted-llr-sum-v2`` (or ``lr-fusion-v1:<model>`` when a fusion model fitted by ``verity
calibrate --fusion`` covers the detectors, see core.fusion_model): each detector whose evidence is
within its domain contributes ``w · LLR``, with ``w = spec.fusion_weight / n`` for calibrated
detectors, ``n`` being the number of calibrated detectors of its modality in this result, and
``w = spec.fusion_weight · uncalibrated_weight`` for detectors whose LLR is an expert prior.

Why ``/ n``: detectors of one modality look at the same signal, so their errors are correlated;
adding their LLRs (naive Bayes) would count three views of one soundtrack as three independent
witnesses and claim far more certainty than the evidence holds (v1 did: with three calibrated
audio detectors it called a quarter of real speech "manipulated"). Within a modality the
calibrated LLRs are therefore averaged; different modalities (picture, sound, their sync) are
taken as independent and add. A learned fusion model replaces both assumptions with fitted
weights. ``p_fake = sigmoid(LLR)`` at even prior odds, with a 95% interval propagated from the
calibrations' bootstrap intervals.

The verdict is ``manipulated`` at or above ``manipulated_at`` and ``authentic`` at or below
``authentic_at``, and ``inconclusive`` when p_fake lies between them, when its interval straddles
the threshold it passed, when strong detectors disagree, when no evidence is within its
detector's domain, or when only uncalibrated evidence argues for authenticity (clean metadata
cannot establish that a file is authentic, only fail to find a problem). Every inconclusive
verdict says why.
"""

from __future__ import annotations

import math
from collections import Counter
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from core.config import FusionSettings
from core.detector import DetectorSpec, Evidence, sigmoid
from core.fusion_model import FusionModel

RULE = "weighted-llr-sum-v2"
LEARNED_RULE = "lr-fusion-v1"


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
    p_fake_interval: tuple[float, float] | None
    contributions: tuple[Contribution, ...]
    reasons: tuple[str, ...]


def detector_weight(
    spec: DetectorSpec,
    evidence: Evidence,
    settings: FusionSettings,
    model: FusionModel | None = None,
    calibrated_in_modality: int = 1,
) -> float:
    """The learned weight when a fusion model covers this calibration, else the default rule's."""
    if model is not None and evidence.calibrated:
        learned = model.weight(spec.modality.value, spec.name, evidence.calibration_version)
        if learned is not None:
            return learned
    if evidence.calibrated:
        return spec.fusion_weight / max(1, calibrated_in_modality)
    return spec.fusion_weight * settings.uncalibrated_weight


def fuse(
    items: list[tuple[DetectorSpec, Evidence]],
    settings: FusionSettings,
    model: FusionModel | None = None,
) -> FusionResult:
    """Fuse evidence into a verdict; ``model`` supplies learned weights (core.fusion_model)."""
    rule = RULE if model is None else f"{LEARNED_RULE}:{model.version}"
    if not items:
        return _no_evidence(rule, ("no detector produced evidence for this media",))
    reasons: list[str] = []
    usable = []
    for spec, evidence in items:
        if evidence.out_of_domain:
            reasons.append(f"{spec.name} left out: {evidence.out_of_domain}")
        else:
            usable.append((spec, evidence))
    if not usable:
        return _no_evidence(rule, (*reasons, "no detector's evidence is within its domain"))
    calibrated_per_modality = Counter(spec.modality for spec, ev in usable if ev.calibrated)
    contributions = tuple(
        Contribution(
            detector=spec.name,
            llr=evidence.llr,
            weight=detector_weight(
                spec, evidence, settings, model, calibrated_per_modality[spec.modality]
            ),
            calibrated=evidence.calibrated,
        )
        for spec, evidence in usable
    )
    llr = sum(c.weight * c.llr for c in contributions)
    p_fake = sigmoid(llr)
    interval = _interval(usable, contributions, llr)
    verdict = _decide(p_fake, interval, contributions, settings, reasons)
    if not any(c.calibrated for c in contributions):
        reasons.append("only uncalibrated detectors applied; their evidence is down-weighted")
    return FusionResult(
        rule=rule,
        verdict=verdict,
        llr=llr,
        p_fake=p_fake,
        p_fake_interval=interval,
        contributions=contributions,
        reasons=tuple(reasons),
    )


def _no_evidence(rule: str, reasons: tuple[str, ...]) -> FusionResult:
    return FusionResult(
        rule=rule,
        verdict=Verdict.INCONCLUSIVE,
        llr=None,
        p_fake=None,
        p_fake_interval=None,
        contributions=(),
        reasons=reasons,
    )


def _interval(
    usable: list[tuple[DetectorSpec, Evidence]], contributions: tuple[Contribution, ...], llr: float
) -> tuple[float, float] | None:
    """95% interval of p_fake from the detectors' calibration intervals.

    Each detector's LLR interval is read as ±1.96 standard errors; errors of different detectors
    are taken as independent and add in quadrature after weighting. Uncalibrated detectors have no
    interval, so a result resting only on them has none either.
    """
    variance = 0.0
    known = False
    for (_spec, evidence), contribution in zip(usable, contributions, strict=True):
        if evidence.llr_interval is not None:
            low, high = evidence.llr_interval
            variance += (contribution.weight * (high - low) / (2 * 1.96)) ** 2
            known = True
    if not known:
        return None
    half = 1.96 * math.sqrt(variance)
    return (sigmoid(llr - half), sigmoid(llr + half))


STRONG_LLR = 2.0  # a weighted LLR beyond ±2 (odds of about 7:1) counts as a strong opinion


def _decide(
    p_fake: float,
    interval: tuple[float, float] | None,
    contributions: tuple[Contribution, ...],
    settings: FusionSettings,
    reasons: list[str],
) -> Verdict:
    strong_fake = [c.detector for c in contributions if c.weight * c.llr >= STRONG_LLR]
    strong_real = [c.detector for c in contributions if c.weight * c.llr <= -STRONG_LLR]
    if strong_fake and strong_real:
        reasons.append(
            f"strong detectors disagree: {', '.join(strong_fake)} say fake, "
            f"{', '.join(strong_real)} say real"
        )
        return Verdict.INCONCLUSIVE
    if p_fake >= settings.manipulated_at:
        if interval is not None and interval[0] < settings.manipulated_at:
            reasons.append(
                f"95% interval of p_fake [{interval[0]:.3f}, {interval[1]:.3f}] straddles "
                f"the threshold {settings.manipulated_at}"
            )
            return Verdict.INCONCLUSIVE
        return Verdict.MANIPULATED
    if p_fake <= settings.authentic_at:
        if not any(c.calibrated and c.weight > 0 and c.llr < 0 for c in contributions):
            reasons.append("no calibrated detector supports authenticity")
            return Verdict.INCONCLUSIVE
        if interval is not None and interval[1] > settings.authentic_at:
            reasons.append(
                f"95% interval of p_fake [{interval[0]:.3f}, {interval[1]:.3f}] straddles "
                f"the threshold {settings.authentic_at}"
            )
            return Verdict.INCONCLUSIVE
        return Verdict.AUTHENTIC
    reasons.append(
        f"p_fake {p_fake:.3f} lies between the thresholds "
        f"{settings.authentic_at} and {settings.manipulated_at}"
    )
    return Verdict.INCONCLUSIVE
