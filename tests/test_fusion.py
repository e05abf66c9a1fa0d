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
