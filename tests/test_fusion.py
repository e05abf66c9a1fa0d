"""core.fusion: the interim weighted-LLR rule and its verdicts."""

from __future__ import annotations

import pytest

from core.config import FusionSettings
from core.detector import Evidence
from core.fusion import Verdict, fuse
from tests.test_detector import make_spec

SETTINGS = FusionSettings()


def item(name: str, llr: float, *, calibrated: bool, weight: float = 1.0):
    spec = make_spec(name, calibrated=calibrated, fusion_weight=weight)
    return spec, Evidence.from_llr(spec, raw_score=llr, llr=llr)


def test_nothing_applied_is_inconclusive_without_p() -> None:
    result = fuse([], SETTINGS)
    assert result.verdict is Verdict.INCONCLUSIVE and result.p_fake is None
    assert "no detector" in result.reasons[0]


def test_weighted_sum_and_thresholds() -> None:
    result = fuse(
        [item("visual.a", 4.0, calibrated=True), item("visual.b", 2.0, calibrated=False)], SETTINGS
    )
    assert result.llr == pytest.approx(4.0 + 0.5 * 2.0)
    assert result.verdict is Verdict.MANIPULATED and result.p_fake > 0.99
    assert [c.weight for c in result.contributions] == [1.0, 0.5]


def test_calibrated_detectors_of_one_modality_are_averaged_modalities_add() -> None:
    same = fuse(
        [
            item("audio.a", 3.0, calibrated=True),
            item("audio.b", 1.0, calibrated=True),
            item("audio.c", 2.0, calibrated=True),
        ],
        SETTINGS,
    )
    assert same.llr == pytest.approx(2.0)  # one soundtrack seen three ways: one witness
    assert [c.weight for c in same.contributions] == pytest.approx([1 / 3] * 3)
    across = fuse(
        [item("audio.a", 2.0, calibrated=True), item("visual.a", 2.0, calibrated=True)], SETTINGS
    )
    assert across.llr == pytest.approx(4.0)  # picture and sound: independent witnesses


def test_authentic_needs_calibrated_support() -> None:
    uncalibrated = fuse([item("visual.a", -6.0, calibrated=False)], SETTINGS)
    assert uncalibrated.p_fake is not None and uncalibrated.p_fake < SETTINGS.authentic_at
    assert uncalibrated.verdict is Verdict.INCONCLUSIVE
    assert "no calibrated detector supports authenticity" in uncalibrated.reasons
    calibrated = fuse([item("visual.a", -6.0, calibrated=True)], SETTINGS)
    assert calibrated.verdict is Verdict.AUTHENTIC


def test_between_thresholds_is_inconclusive_with_reason() -> None:
    result = fuse([item("visual.a", 0.5, calibrated=True)], SETTINGS)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "between the thresholds" in result.reasons[0]


def test_zero_weight_detector_does_not_count() -> None:
    result = fuse([item("visual.a", 9.0, calibrated=True, weight=0.0)], SETTINGS)
    assert result.llr == 0.0 and result.verdict is Verdict.INCONCLUSIVE


def test_interval_straddling_the_threshold_is_inconclusive() -> None:
    spec = make_spec("visual.a", calibrated=True)
    sure = Evidence.from_llr(spec, raw_score=4, llr=4.0).model_copy(
        update={"llr_interval": (3.5, 4.5), "calibrated": True}
    )
    unsure = sure.model_copy(update={"llr_interval": (0.0, 8.0)})
    assert fuse([(spec, sure)], SETTINGS).verdict is Verdict.MANIPULATED
    result = fuse([(spec, unsure)], SETTINGS)
    assert result.verdict is Verdict.INCONCLUSIVE and "straddles" in result.reasons[0]
    low, high = result.p_fake_interval
    assert low < SETTINGS.manipulated_at < high


def test_strong_disagreement_is_inconclusive() -> None:
    result = fuse(
        [item("visual.a", 6.0, calibrated=True), item("audio.b", -5.0, calibrated=True)], SETTINGS
    )
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "disagree" in result.reasons[0]


def test_out_of_domain_evidence_is_left_out() -> None:
    spec, evidence = item("visual.a", 6.0, calibrated=True)
    away = evidence.model_copy(update={"out_of_domain": "no face found"})
    result = fuse([(spec, away)], SETTINGS)
    assert result.p_fake is None and result.verdict is Verdict.INCONCLUSIVE
    assert "no face found" in result.reasons[0]
    kept = fuse([(spec, away), item("visual.b", -6.0, calibrated=True)], SETTINGS)
    assert [c.detector for c in kept.contributions] == ["visual.b"]
    assert kept.verdict is Verdict.AUTHENTIC
